# R's ets() on each reference series with its last h observations held out: the accuracy that
# method "auto" must match or beat (forecast/accuracy/fixtures_test.go). Run from the repository root:
#   Rscript forecast/testdata/r_ets_holdout.R > forecast/testdata/r_ets_holdout.json
suppressMessages({library(forecast); library(jsonlite)})
ref <- fromJSON("forecast/testdata/r_forecast_reference.json", simplifyVector = FALSE)
out <- lapply(ref, function(s) {
  y <- unlist(s$values); n <- length(y); h <- s$h
  train <- ts(y[1:(n - h)], frequency = s$period)
  fit <- ets(train)
  fc <- forecast(fit, h = h)
  list(name = s$name, method = fit$method, mean = as.numeric(fc$mean))
})
cat(toJSON(out, digits = NA, auto_unbox = TRUE))
