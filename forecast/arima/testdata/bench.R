# Times forecast::auto.arima() and Arima(order = c(7,1,1)) on each fixture series.
#   Rscript forecast/arima/testdata/bench.R [reps]   (from the repository root)
# Reports the minimum and median elapsed time over `reps` runs (the machine is shared).
suppressMessages({library(jsonlite); library(forecast)})
d <- fromJSON("forecast/testdata/r_forecast_reference.json", simplifyVector=FALSE)
args <- commandArgs(trailingOnly = TRUE)
reps <- if (length(args)) as.integer(args[1]) else 5
cat("name\tauto_min_ms\tauto_median_ms\tarima711_min_ms\tarima711_median_ms\tauto_order\tauto_aicc\tarima711_loglik\n")
for (s in d) {
  x <- ts(unlist(s$values), frequency=s$period)
  ta <- numeric(reps); t7 <- numeric(reps); f7 <- NULL
  for (i in seq_len(reps)) {
    ta[i] <- system.time(fa <- auto.arima(x))[["elapsed"]]
    t7[i] <- system.time(f7 <- tryCatch(Arima(x, order=c(7,1,1)), error=function(e) NULL))[["elapsed"]]
  }
  cat(sprintf("%s\t%.0f\t%.0f\t%.0f\t%.0f\t%s\t%.3f\t%s\n", s$name, 1000*min(ta), 1000*median(ta),
      1000*min(t7), 1000*median(t7),
      forecast:::arima.string(fa, padding=FALSE), fa$aicc,
      if (is.null(f7)) "error: non-stationary AR part from CSS" else sprintf("%.4f", f7$loglik)))
}
