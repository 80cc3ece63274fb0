package arima

import "math"

// kpssStat is the KPSS level-stationarity statistic (Kwiatkowski et al. 1992) with a Bartlett
// long-run variance of lag trunc(3√n/13), as forecast::ndiffs computes it.
func kpssStat(x []float64) float64 {
	n := len(x)
	mean := 0.0
	for _, v := range x {
		mean += v
	}
	mean /= float64(n)
	e := make([]float64, n)
	for i, v := range x {
		e[i] = v - mean
	}
	s, eta := 0.0, 0.0
	for _, v := range e {
		s += v
		eta += s * s
	}
	fn := float64(n)
	eta /= fn * fn
	lag := int(3 * math.Sqrt(fn) / 13)
	s2 := 0.0
	for _, v := range e {
		s2 += v * v
	}
	for i := 1; i <= lag && i < n; i++ {
		c := 0.0
		for t := i; t < n; t++ {
			c += e[t] * e[t-i]
		}
		s2 += 2 * (1 - float64(i)/float64(lag+1)) * c
	}
	s2 /= fn
	if !(s2 > 0) {
		return math.NaN()
	}
	return eta / s2
}

// kpssPValue interpolates the p-value linearly between the tabulated critical values of the
// level test (0.347, 0.463, 0.574, 0.739 at 10%, 5%, 2.5%, 1%), clamped at both ends, as
// forecast does with approx(..., rule = 2).
func kpssPValue(stat float64) float64 {
	cv := []float64{0.347, 0.463, 0.574, 0.739}
	pv := []float64{0.10, 0.05, 0.025, 0.01}
	if stat <= cv[0] {
		return pv[0]
	}
	for i := 1; i < len(cv); i++ {
		if stat <= cv[i] {
			f := (stat - cv[i-1]) / (cv[i] - cv[i-1])
			return pv[i-1] + f*(pv[i]-pv[i-1])
		}
	}
	return pv[len(pv)-1]
}

func isConstant(x []float64) bool {
	for _, v := range x {
		if v != x[0] {
			return false
		}
	}
	return true
}

// ndiffs is forecast::ndiffs(x, test = "kpss", alpha = 0.05): difference while the KPSS test
// rejects level stationarity, at most maxD times.
func ndiffs(x []float64, maxD int) int {
	d := 0
	if len(x) < 2 || isConstant(x) {
		return 0
	}
	reject := func(x []float64) (bool, bool) {
		s := kpssStat(x)
		if math.IsNaN(s) {
			return false, false
		}
		return kpssPValue(s) < 0.05, true
	}
	doDiff, ok := reject(x)
	if !ok {
		return 0
	}
	for doDiff && d < maxD {
		d++
		x = difference(x, 1, 0, 1)
		if len(x) < 2 || isConstant(x) {
			return d
		}
		doDiff, ok = reject(x)
		if !ok {
			return d - 1
		}
	}
	return d
}

// nsdiffs is forecast::nsdiffs(x, m, test = "seas") with max.D = 1: one seasonal difference
// when the STL seasonal strength exceeds 0.64.
func nsdiffs(x []float64, m int) int {
	if m < 2 || isConstant(x) || len(x) <= 2*m {
		return 0
	}
	if seasonalStrength(x, m) > 0.64 {
		return 1
	}
	return 0
}
