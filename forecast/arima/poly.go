package arima

import (
	"math"
	"math/cmplx"

	"gonum.org/v1/gonum/mat"
)

// expand multiplies the non-seasonal and seasonal lag polynomials into the full AR and MA
// coefficient vectors of the ARMA part:
//
//	φ(B)Φ(B^m) = 1 − Σ phi_i B^i,   θ(B)Θ(B^m) = 1 + Σ theta_i B^i.
func expand(ar, ma, sar, sma []float64, m int) (phi, theta []float64) {
	phi = make([]float64, len(ar)+m*len(sar))
	copy(phi, ar)
	for j, s := range sar {
		k := (j + 1) * m
		phi[k-1] += s
		for i, a := range ar {
			phi[k+i] -= a * s
		}
	}
	theta = make([]float64, len(ma)+m*len(sma))
	copy(theta, ma)
	for j, s := range sma {
		k := (j + 1) * m
		theta[k-1] += s
		for i, a := range ma {
			theta[k+i] += a * s
		}
	}
	return phi, theta
}

// pacfToAR maps partial autocorrelations in (−1, 1) to the coefficients of a stationary AR
// polynomial by the Durbin–Levinson recursion (Barndorff-Nielsen & Schou 1973).
func pacfToAR(pacf []float64) []float64 {
	p := len(pacf)
	ar := make([]float64, p)
	prev := make([]float64, p)
	for k := 0; k < p; k++ {
		copy(prev, ar[:k])
		a := pacf[k]
		for j := 0; j < k; j++ {
			ar[j] = prev[j] - a*prev[k-1-j]
		}
		ar[k] = a
	}
	return ar
}

// arToPACF inverts pacfToAR. ok is false when the polynomial is not stationary (some partial
// autocorrelation has modulus ≥ 1).
func arToPACF(ar []float64) (pacf []float64, ok bool) {
	p := len(ar)
	pacf = make([]float64, p)
	cur := append([]float64(nil), ar...)
	next := make([]float64, p)
	for k := p - 1; k >= 0; k-- {
		a := cur[k]
		pacf[k] = a
		if !(math.Abs(a) < 1) {
			return pacf, false
		}
		den := 1 - a*a
		for j := 0; j < k; j++ {
			next[j] = (cur[j] + a*cur[k-1-j]) / den
		}
		copy(cur, next[:k])
	}
	return pacf, true
}

// transformAR maps unconstrained reals to a stationary AR polynomial: tanh gives partial
// autocorrelations, Durbin–Levinson the coefficients (the reparametrisation of Jones 1980 that
// stats::arima uses with transform.pars).
func transformAR(raw []float64) []float64 {
	pacf := make([]float64, len(raw))
	for i, u := range raw {
		pacf[i] = math.Tanh(u)
	}
	return pacfToAR(pacf)
}

// untransformAR inverts transformAR; ok is false for a non-stationary polynomial.
func untransformAR(ar []float64) (raw []float64, ok bool) {
	pacf, ok := arToPACF(ar)
	if !ok {
		return nil, false
	}
	for i, a := range pacf {
		pacf[i] = math.Atanh(a)
	}
	return pacf, true
}

// trimZeros drops trailing coefficients whose modulus is at most tol.
func trimZeros(c []float64, tol float64) []float64 {
	n := len(c)
	for n > 0 && math.Abs(c[n-1]) <= tol {
		n--
	}
	return c[:n]
}

// rootsOutside reports whether every root of 1 − Σ ar_i z^i has modulus greater than rmin.
// Scaling z by rmin turns the question into stationarity, which the Durbin–Levinson inverse
// answers without computing roots.
func rootsOutside(ar []float64, rmin float64) bool {
	ar = trimZeros(ar, 0)
	if len(ar) == 0 {
		return true
	}
	s := make([]float64, len(ar))
	f := 1.0
	for i, a := range ar {
		f *= rmin
		s[i] = a * f
		if math.IsNaN(s[i]) || math.IsInf(s[i], 0) {
			return false
		}
	}
	_, ok := arToPACF(s)
	return ok
}

// arStationary is stats::arima's arCheck: all roots of 1 − Σ ar_i z^i outside the unit circle.
func arStationary(ar []float64) bool { return rootsOutside(ar, 1) }

// polyRoots returns the roots of c[0] + c[1] z + … + c[n] z^n (c[n] ≠ 0) as the eigenvalues
// of its companion matrix.
func polyRoots(c []float64) []complex128 {
	n := len(c) - 1
	if n < 1 {
		return nil
	}
	if n == 1 {
		return []complex128{complex(-c[0]/c[1], 0)}
	}
	comp := mat.NewDense(n, n, nil)
	for j := 0; j < n; j++ {
		comp.Set(0, j, -c[n-1-j]/c[n])
	}
	for i := 1; i < n; i++ {
		comp.Set(i, i-1, 1)
	}
	var eig mat.Eigen
	if !eig.Factorize(comp, mat.EigenNone) {
		return nil
	}
	return eig.Values(nil)
}

// maInvert reflects the roots of 1 + Σ ma_i z^i that lie inside the unit circle to their
// reciprocals, giving the invertible MA polynomial with the same autocorrelations.
func maInvert(ma []float64) []float64 {
	q0 := len(trimZeros(ma, 0))
	if q0 == 0 {
		return ma
	}
	c := make([]float64, q0+1)
	c[0] = 1
	copy(c[1:], ma[:q0])
	roots := polyRoots(c)
	if len(roots) != q0 {
		return ma
	}
	inside := false
	for _, r := range roots {
		if cmplx.Abs(r) < 1 {
			inside = true
		}
	}
	if !inside {
		return ma
	}
	out := make([]float64, len(ma))
	if q0 == 1 {
		out[0] = 1 / ma[0]
		return out
	}
	// Rebuild Π(1 − z/r) with the reflected roots.
	poly := []complex128{1}
	for _, r := range roots {
		if cmplx.Abs(r) < 1 {
			r = 1 / r
		}
		next := make([]complex128, len(poly)+1)
		for i, v := range poly {
			next[i] += v
			next[i+1] -= v / r
		}
		poly = next
	}
	for i := 0; i < q0; i++ {
		out[i] = real(poly[i+1])
	}
	return out
}

// differencePoly returns δ with (1−B)^d (1−B^m)^D = 1 − Σ δ_i B^i.
func differencePoly(d, sd, m int) []float64 {
	poly := []float64{1}
	mul := func(lag int) {
		next := make([]float64, len(poly)+lag)
		for i, v := range poly {
			next[i] += v
			next[i+lag] -= v
		}
		poly = next
	}
	for i := 0; i < d; i++ {
		mul(1)
	}
	for i := 0; i < sd; i++ {
		mul(m)
	}
	delta := make([]float64, len(poly)-1)
	for i := range delta {
		delta[i] = -poly[i+1]
	}
	return delta
}

// difference applies (1−B)^d (1−B^m)^D to x, returning the len(x) − d − D·m differenced values.
func difference(x []float64, d, sd, m int) []float64 {
	w := append([]float64(nil), x...)
	for i := 0; i < d; i++ {
		if len(w) < 1 {
			return nil
		}
		for t := len(w) - 1; t >= 1; t-- {
			w[t] -= w[t-1]
		}
		w = w[1:]
	}
	for i := 0; i < sd; i++ {
		if len(w) < m {
			return nil
		}
		for t := len(w) - 1; t >= m; t-- {
			w[t] -= w[t-m]
		}
		w = w[m:]
	}
	return w
}
