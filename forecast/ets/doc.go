// Package ets fits exponential smoothing state-space models (ETS) and the Theta method the way
// R's forecast package (8.20) does: same model space, likelihood, parameter bounds, starting
// values, optimizer (R's Nelder–Mead, so estimates equal R's), information criteria and
// prediction-interval formulas (Hyndman, Koehler, Ord & Snyder 2008, "Forecasting
// with Exponential Smoothing"). It depends only on gonum and knows nothing of the service.
package ets
