# R's auto.arima on further public R datasets, for a wider order-agreement check.
# Writes r_auto_extra.json (series, R's order and AICc, fastest of `reps` timings).
#   Rscript forecast/arima/testdata/extra.R [reps] [out.json]
suppressMessages({library(jsonlite); library(forecast)})
series <- list(AirPassengers=AirPassengers, logAirPassengers=log(AirPassengers), lynx=lynx, Nile=Nile,
  LakeHuron=LakeHuron, UKgas=UKgas, USAccDeaths=USAccDeaths, WWWusage=WWWusage, austres=austres,
  nottem=nottem, ldeaths=ldeaths, mdeaths=mdeaths, fdeaths=fdeaths, sunspot.year=sunspot.year,
  airmiles=airmiles, JohnsonJohnson=JohnsonJohnson, UKDriverDeaths=UKDriverDeaths, uspop=uspop,
  discoveries=discoveries, nhtemp=nhtemp, lh=lh, BJsales=BJsales, wineind=wineind, woolyrnq=woolyrnq,
  gas=gas, co2=co2, Seatbelts.kms=Seatbelts[, "kms"], Seatbelts.rear=Seatbelts[, "rear"])
args <- commandArgs(trailingOnly = TRUE)
reps <- if (length(args) >= 1) as.integer(args[1]) else 1
outfile <- if (length(args) >= 2) args[2] else "r_auto_extra.json"
out <- list()
for (nm in names(series)) {
  x <- series[[nm]]
  t <- Inf
  for (i in seq_len(reps)) t <- min(t, system.time(f <- auto.arima(x))[["elapsed"]])
  out[[length(out) + 1]] <- list(name=nm, period=frequency(x), values=as.numeric(x),
    arma=f$arma, aicc=f$aicc, order=forecast:::arima.string(f, padding=FALSE), seconds=t)
  cat(nm, forecast:::arima.string(f, padding=FALSE), t, "\n")
}
write(toJSON(out, auto_unbox=TRUE, digits=NA), outfile)
