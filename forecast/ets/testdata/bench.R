# Times forecast::ets() (automatic selection, defaults) on each fixture series.
#   Rscript forecast/ets/testdata/bench.R [seconds]   (from the repository root)
# Per series: one warm-up fit, then as many fits as fit in `seconds` (default 2) of wall time.
suppressMessages({library(jsonlite); library(forecast)})
d <- fromJSON("forecast/testdata/r_forecast_reference.json", simplifyVector = FALSE)
args <- commandArgs(trailingOnly = TRUE)
budget <- if (length(args)) as.numeric(args[1]) else 2
for (s in d) {
  y <- ts(unlist(s$values), frequency = s$period)
  fit <- ets(y)
  reps <- 0; t0 <- proc.time()[["elapsed"]]
  while ((el <- proc.time()[["elapsed"]] - t0) < budget) { fit <- ets(y); reps <- reps + 1 }
  cat(sprintf("%-20s %-12s %9.2f ms/fit (%d fits) AICc %.4f\n", s$name, fit$method, 1000 * el / reps, reps, fit$aicc))
}
