# The accuracy benchmark of method "auto" (docs/accuracy.md): every univariate time series of R's
# datasets and forecast packages with frequency >= 1, at least two seasons (frequency 1: at least
# 20 observations), frequency at most 24, no missing values, and not one of the fixtures' series; its last h values are
# held out (6 yearly, 8 quarterly, 18 monthly, 8 otherwise) and R's ets(), auto.arima() and
# thetaf() forecast them from the rest. Run from the repository root:
#   Rscript forecast/testdata/accuracy/make_benchmark.R > forecast/testdata/accuracy/benchmark.json
suppressMessages({library(forecast); library(jsonlite)})

# The fixtures' series are named "<dataset>" or "<dataset>.<column or part>" ("Seatbelts.front",
# "sunspot.month.head"); every dataset a fixture was taken from is left out, and so is sunspots,
# which holds the same data as sunspot.month up to 1983. A fixture name that is itself a dataset
# ("BJsales.lead") leaves out that dataset only, not the one its name starts with (BJsales).
fixtures <- fromJSON("forecast/testdata/r_forecast_reference.json", simplifyVector = FALSE)
fixtureNames <- vapply(fixtures, function(s) s$name, "")
excluded <- "sunspots"
datasetNames <- unlist(lapply(c("datasets", "forecast"), function(p) sub(" \\(.*", "", data(package = p)$results[, "Item"])))

fromFixture <- function(name) {
  any(fixtureNames == name | (startsWith(fixtureNames, paste0(name, ".")) & !(fixtureNames %in% datasetNames)))
}

horizon <- function(freq) {
  if (freq == 1) return(6)
  if (freq == 4) return(8)
  if (freq == 12) return(18)
  8
}

intervals <- function(fc) {
  out <- list()
  for (i in seq_along(fc$level)) {
    out[[as.character(fc$level[i])]] <- list(lower = as.numeric(fc$lower[, i]), upper = as.numeric(fc$upper[, i]))
  }
  out
}

method <- function(name, fc) {
  list(method = name, point = as.numeric(fc$mean), intervals = intervals(fc))
}

series <- list()
skipped <- list()
for (pkg in c("datasets", "forecast")) {
  for (item in data(package = pkg)$results[, "Item"]) {
    # An item is "object" or "object (file)" when a data file holds several objects.
    name <- sub(" \\(.*", "", item)
    file <- if (grepl("(", item, fixed = TRUE)) sub(".*\\((.*)\\)", "\\1", item) else name
    env <- new.env()
    data(list = file, package = pkg, envir = env)
    x <- get(name, envir = env)
    if (!is.ts(x)) next
    freq <- frequency(x)
    n <- NROW(x)
    why <- NULL
    if (NCOL(x) > 1) why <- "multivariate"
    else if (freq < 1) why <- "frequency below 1"
    else if (freq > 1 && n < 2 * freq) why <- "fewer than two seasons"
    else if (freq == 1 && n < 20) why <- "fewer than 20 observations"
    else if (freq > 24) why <- "frequency above 24 (no seasonal ets(); auto.arima did not finish in 5 minutes)"
    else if (anyNA(x)) why <- "missing values"
    else if (fromFixture(name) || name %in% excluded) why <- "in the fixtures"
    if (!is.null(why)) {
      skipped[[length(skipped) + 1]] <- list(name = name, package = pkg, reason = why)
      next
    }
    if (freq > 1 && freq != round(freq)) stop(name, ": non-integer frequency ", freq)
    h <- horizon(freq)
    y <- as.numeric(x)
    train <- ts(y[1:(n - h)], frequency = freq)
    test <- y[(n - h + 1):n]
    lv <- c(80, 95)
    series[[length(series) + 1]] <- list(
      name = name, package = pkg, frequency = freq, horizon = h,
      train = as.numeric(train), test = test,
      r = list(
        ets = { fit <- ets(train); method(fit$method, forecast(fit, h = h, level = lv)) },
        arima = { fit <- auto.arima(train); method(forecast:::arima.string(fit, padding = FALSE), forecast(fit, h = h, level = lv)) },
        theta = method("Theta", thetaf(train, h = h, level = lv))
      )
    )
  }
}

cat(toJSON(list(
  r_version = R.version.string,
  forecast_version = as.character(packageVersion("forecast")),
  made_by = "forecast/testdata/accuracy/make_benchmark.R",
  series = series,
  skipped = skipped
), digits = NA, auto_unbox = TRUE, pretty = FALSE))
