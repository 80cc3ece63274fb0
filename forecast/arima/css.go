package arima

// cssResiduals computes the conditional-sum-of-squares residuals of the ARMA recursion on the
// differenced series w, conditioning on the first ncond values of the undifferenced series
// (d + D·m of which are lost to differencing). It returns ssq/nu, the residuals (zero for the
// conditioning observations) and nu.
func cssResiduals(w []float64, lost, ncond int, phi, theta []float64, resid []float64) (float64, int) {
	// Seasonal polynomials are mostly zeros: loop over the non-zero lags only.
	type term struct {
		lag int
		c   float64
	}
	var ar, ma []term
	for j, c := range phi {
		if c != 0 {
			ar = append(ar, term{j + 1, c})
		}
	}
	for j, c := range theta {
		if c != 0 {
			ma = append(ma, term{j + 1, c})
		}
	}
	start := ncond - lost // first residual index in w
	ssq := 0.0
	nu := 0
	for t := range resid {
		resid[t] = 0
	}
	for t := start; t < len(w); t++ {
		v := w[t]
		for _, a := range ar {
			v -= a.c * w[t-a.lag]
		}
		for _, b := range ma {
			if b.lag > t-start {
				break
			}
			v -= b.c * resid[t-b.lag]
		}
		resid[t] = v
		ssq += v * v
		nu++
	}
	if nu == 0 {
		return 0, 0
	}
	return ssq / float64(nu), nu
}
