# Regenerates r_thetaf_ses.json: the SES (ETS(A,N,N), opt.crit "mse") fit that R forecast
# 8.20's thetaf() makes for every series of ../../testdata/r_forecast_reference.json, with the
# same seasonality test and adjustment as thetaf.
#   cd forecast/ets/testdata && Rscript r_thetaf_ses.R
suppressMessages({library(forecast); library(jsonlite)})
ref <- fromJSON("../../testdata/r_forecast_reference.json", simplifyVector = FALSE)
out <- lapply(ref, function(s) {
  x <- ts(unlist(s$values), frequency = s$period)
  n <- length(x); m <- frequency(x)
  seasonal <- FALSE
  if (m > 1 && !is.constant(x) && n > 2 * m) {
    r <- as.numeric(acf(x, lag.max = m, plot = FALSE)$acf)[-1]
    seasonal <- abs(r[m]) / sqrt((1 + 2 * sum(r[-m]^2)) / n) > qnorm(0.95)
  }
  if (seasonal) x <- seasadj(decompose(x, type = "multiplicative"))
  fit <- ses(x, h = s$h)$model
  list(name = s$name, seasonal = seasonal, alpha = unname(fit$par["alpha"]),
       l = unname(fit$par["l"]), sigma2 = fit$sigma2, mse = fit$mse, loglik = fit$loglik)
})
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA), "r_thetaf_ses.json")
