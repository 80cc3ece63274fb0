package arima

import "math"

// STL decomposition (Cleveland, Cleveland, McRae & Terpenning 1990) without robustness
// iterations, with the defaults of R's stl(x, s.window) that forecast::mstl uses. It is here
// only for the seasonal-strength heuristic that chooses D.

// loessAt estimates a local (degree 0 or 1) tricube-weighted regression of y at position xs
// (1-based positions), using the points nleft..nright and window q. ok is false when every
// weight is zero.
func loessAt(y []float64, q, degree int, xs float64, nleft, nright int, w []float64) (float64, bool) {
	n := len(y)
	h := math.Max(xs-float64(nleft), float64(nright)-xs)
	if q > n {
		h += float64((q - n) / 2)
	}
	hHi, hLo := 0.999*h, 0.001*h
	sum := 0.0
	for j := nleft; j <= nright; j++ {
		r := math.Abs(float64(j) - xs)
		w[j-1] = 0
		if r <= hHi {
			if r <= hLo {
				w[j-1] = 1
			} else {
				u := r / h
				u = 1 - u*u*u
				w[j-1] = u * u * u
			}
			sum += w[j-1]
		}
	}
	if sum <= 0 {
		return 0, false
	}
	for j := nleft; j <= nright; j++ {
		w[j-1] /= sum
	}
	if h > 0 && degree > 0 {
		a := 0.0
		for j := nleft; j <= nright; j++ {
			a += w[j-1] * float64(j)
		}
		b := xs - a
		c := 0.0
		for j := nleft; j <= nright; j++ {
			d := float64(j) - a
			c += w[j-1] * d * d
		}
		if math.Sqrt(c) > 0.001*float64(n-1) {
			b /= c
			for j := nleft; j <= nright; j++ {
				w[j-1] *= b*(float64(j)-a) + 1
			}
		}
	}
	v := 0.0
	for j := nleft; j <= nright; j++ {
		v += w[j-1] * y[j-1]
	}
	return v, true
}

// loessSmooth smooths y with window q at every jump-th point (and the last), interpolating
// linearly in between.
func loessSmooth(y []float64, q, degree, jump int) []float64 {
	n := len(y)
	out := make([]float64, n)
	if n < 2 {
		copy(out, y)
		return out
	}
	w := make([]float64, n)
	step := min(jump, n-1)
	window := func(i int) (int, int) {
		if q >= n {
			return 1, n
		}
		half := (q + 1) / 2
		switch {
		case i < half:
			return 1, q
		case i >= n-half+1:
			return n - q + 1, n
		default:
			return i - half + 1, q + i - half
		}
	}
	est := func(i int) {
		l, r := window(i)
		v, ok := loessAt(y, q, degree, float64(i), l, r, w)
		if !ok {
			v = y[i-1]
		}
		out[i-1] = v
	}
	for i := 1; i <= n; i += step {
		est(i)
	}
	if step == 1 {
		return out
	}
	for i := 1; i <= n-step; i += step {
		d := (out[i+step-1] - out[i-1]) / float64(step)
		for j := 1; j < step; j++ {
			out[i+j-1] = out[i-1] + d*float64(j)
		}
	}
	k := ((n-1)/step)*step + 1
	if k != n {
		est(n)
		if k != n-1 {
			d := (out[n-1] - out[k-1]) / float64(n-k)
			for j := k + 1; j < n; j++ {
				out[j-1] = out[k-1] + d*float64(j-k)
			}
		}
	}
	return out
}

// movingAverage returns the len(x)−k+1 means of k consecutive values.
func movingAverage(x []float64, k int) []float64 {
	out := make([]float64, len(x)-k+1)
	s := 0.0
	for i := 0; i < k; i++ {
		s += x[i]
	}
	out[0] = s / float64(k)
	for i := 1; i < len(out); i++ {
		s += x[i+k-1] - x[i-1]
		out[i] = s / float64(k)
	}
	return out
}

func nextOdd(x float64) int {
	n := int(math.Round(x))
	if n%2 == 0 {
		n++
	}
	return n
}

// stl returns the seasonal and trend components of x with period np (len(x) > 2·np) and
// seasonal window sWindow, two inner iterations and no robustness weights.
func stl(x []float64, np, sWindow int) (seasonal, trend []float64) {
	n := len(x)
	ns := sWindow
	nt := nextOdd(math.Ceil(1.5 * float64(np) / (1 - 1.5/float64(ns))))
	nl := nextOdd(float64(np))
	sJump := int(math.Ceil(float64(ns) / 10))
	tJump := int(math.Ceil(float64(nt) / 10))
	lJump := int(math.Ceil(float64(nl) / 10))
	trend = make([]float64, n)
	seasonal = make([]float64, n)
	detr := make([]float64, n)
	cyc := make([]float64, n+2*np)
	for iter := 0; iter < 2; iter++ {
		for i := range x {
			detr[i] = x[i] - trend[i]
		}
		// Smooth each cycle-subseries, extended by one period at both ends.
		for j := 0; j < np; j++ {
			var sub []float64
			for i := j; i < n; i += np {
				sub = append(sub, detr[i])
			}
			k := len(sub)
			sm := loessSmooth(sub, ns, 0, sJump)
			w := make([]float64, k)
			first, ok := loessAt(sub, ns, 0, 0, 1, min(ns, k), w)
			if !ok {
				first = sm[0]
			}
			last, ok := loessAt(sub, ns, 0, float64(k+1), max(1, k-ns+1), k, w)
			if !ok {
				last = sm[k-1]
			}
			cyc[j] = first
			for i, v := range sm {
				cyc[(i+1)*np+j] = v
			}
			cyc[(k+1)*np+j] = last
		}
		// Low-pass filter of the cycle-subseries: MA(np), MA(np), MA(3), loess.
		low := movingAverage(movingAverage(movingAverage(cyc, np), np), 3)
		low = loessSmooth(low, nl, 1, lJump)
		for i := 0; i < n; i++ {
			seasonal[i] = cyc[np+i] - low[i]
			detr[i] = x[i] - seasonal[i]
		}
		trend = loessSmooth(detr, nt, 1, tJump)
	}
	return seasonal, trend
}

// seasonalStrength is forecast's seas.heuristic: max(0, 1 − Var(R)/Var(S+R)) from an STL
// decomposition with s.window = 11 (mstl's first default window).
func seasonalStrength(x []float64, m int) float64 {
	s, t := stl(x, m, 11)
	rem := make([]float64, len(x))
	sr := make([]float64, len(x))
	for i := range x {
		rem[i] = x[i] - s[i] - t[i]
		sr[i] = rem[i] + s[i]
	}
	vr, vsr := variance(rem), variance(sr)
	if !(vsr > 0) {
		return 0
	}
	return math.Max(0, math.Min(1, 1-vr/vsr))
}

func variance(x []float64) float64 {
	mean := 0.0
	for _, v := range x {
		mean += v
	}
	mean /= float64(len(x))
	s := 0.0
	for _, v := range x {
		s += (v - mean) * (v - mean)
	}
	return s / float64(len(x)-1)
}
