# A validation set kept apart from the benchmark, for choices about auto that must not be made on
# the benchmark (docs/accuracy.md; `go run ./cmd/accuracy -benchmark <this file's output>` scores
# our methods on it): every univariate time series of the installed R packages AER, tseries,
# urca, MASS, strucchange and timeSeries that passes the benchmark's rules (frequency 1–24, two
# seasons, frequency 1: 20 observations, no missing values) and shares no stretch of 12 values
# with a benchmark or fixture series or an earlier validation series. The same last h values are
# held out. Run from the repository root:
#   Rscript forecast/testdata/accuracy/make_validation.R > forecast/testdata/accuracy/validation.json
suppressMessages({library(jsonlite)})

bench <- fromJSON("forecast/testdata/accuracy/benchmark.json", simplifyVector = FALSE)
fixtures <- fromJSON("forecast/testdata/r_forecast_reference.json", simplifyVector = FALSE)
key <- function(v) paste(format(v, digits = 10), collapse = ",")
seen <- c(vapply(bench$series, function(s) key(c(unlist(s$train), unlist(s$test))), ""),
          vapply(fixtures, function(s) key(unlist(s$values)), ""))
overlaps <- function(y) {
  if (length(y) < 12) return(FALSE)
  for (i in seq(1, length(y) - 11, by = 12)) {
    if (any(grepl(key(y[i:(i + 11)]), seen, fixed = TRUE))) return(TRUE)
  }
  FALSE
}

horizon <- function(freq) {
  if (freq == 1) return(6)
  if (freq == 4) return(8)
  if (freq == 12) return(18)
  8
}

series <- list()
for (pkg in c("AER", "tseries", "urca", "MASS", "strucchange", "timeSeries")) {
  if (!requireNamespace(pkg, quietly = TRUE)) next
  for (item in data(package = pkg)$results[, "Item"]) {
    name <- sub(" \\(.*", "", item)
    file <- if (grepl("(", item, fixed = TRUE)) sub(".*\\((.*)\\)", "\\1", item) else name
    env <- new.env()
    loaded <- try(suppressWarnings(data(list = file, package = pkg, envir = env)), silent = TRUE)
    if (inherits(loaded, "try-error") || !exists(name, envir = env)) next
    x <- get(name, envir = env)
    if (!is.ts(x) || NCOL(x) > 1 || anyNA(x)) next
    freq <- frequency(x)
    n <- NROW(x)
    if (freq < 1 || freq > 24 || freq != round(freq)) next
    if ((freq > 1 && n < 2 * freq) || (freq == 1 && n < 20)) next
    y <- as.numeric(x)
    if (overlaps(y)) next
    seen <- c(seen, key(y))
    h <- horizon(freq)
    series[[length(series) + 1]] <- list(name = paste0(pkg, "::", name), frequency = freq, horizon = h,
                                         train = y[1:(n - h)], test = y[(n - h + 1):n])
  }
}
versions <- list()
for (pkg in c("AER", "tseries", "urca", "MASS", "strucchange", "timeSeries")) {
  if (requireNamespace(pkg, quietly = TRUE)) versions[[pkg]] <- as.character(packageVersion(pkg))
}
cat(toJSON(list(made_by = "forecast/testdata/accuracy/make_validation.R", r_version = R.version.string,
                packages = versions, series = series), digits = NA, auto_unbox = TRUE))
