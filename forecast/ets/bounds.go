package ets

import (
	"math"
	"math/cmplx"

	"gonum.org/v1/gonum/mat"
)

// feasible applies R's bounds = "both": the usual region (lower ≤ α ≤ upper, β ≤ α, γ ≤ 1-α,
// bounds on φ) and the admissible region of the state-space model.
func feasible(spec Spec, m int, p Params, buf *rootBuf) bool {
	lo, up := lowerBound, upperBound
	if p.Alpha < lo[0] || p.Alpha > up[0] {
		return false
	}
	if spec.Trend != None && (p.Beta < lo[1] || p.Beta > p.Alpha || p.Beta > up[1]) {
		return false
	}
	if spec.Damped && (p.Phi < lo[3] || p.Phi > up[3]) {
		return false
	}
	if spec.Season != None && (p.Gamma < lo[2] || p.Gamma > 1-p.Alpha || p.Gamma > up[2]) {
		return false
	}
	return admissible(spec, m, p, buf)
}

// rootBuf is scratch space for the characteristic-polynomial test, reused across objective
// evaluations.
type rootBuf struct{ c, a, b []float64 }

func grow(s []float64, n int) []float64 {
	if cap(s) < n {
		return make([]float64, n)
	}
	return s[:n]
}

// admissible is the forecastability condition of Hyndman et al. (2008, ch. 10): simple
// inequalities, then for seasonal models all roots of the characteristic polynomial within the
// unit circle (up to R's tolerance of 1e-10).
func admissible(spec Spec, m int, p Params, buf *rootBuf) bool {
	phi := p.Phi
	if phi < 0 || phi > 1+1e-8 {
		return false
	}
	if spec.Season == None {
		if p.Alpha < 1-1/phi || p.Alpha > 1+1/phi {
			return false
		}
		if spec.Trend != None && (p.Beta < p.Alpha*(phi-1) || p.Beta > (1+phi)*(2-p.Alpha)) {
			return false
		}
		return true
	}
	if m <= 1 {
		return true
	}
	alpha, beta, gamma := p.Alpha, p.Beta, p.Gamma
	if spec.Trend == None {
		beta = 0
	}
	fm := float64(m)
	if gamma < math.Max(1-1/phi-alpha, 0) || gamma > 1+1/phi-alpha {
		return false
	}
	if alpha < 1-1/phi-gamma*(1-fm+phi+phi*fm)/(2*phi*fm) {
		return false
	}
	if beta < -(1-phi)*(gamma/fm+alpha) {
		return false
	}
	// Characteristic polynomial, coefficients by increasing power (degree m+1, monic).
	if buf == nil {
		buf = &rootBuf{}
	}
	buf.c = grow(buf.c, m+2)
	c := buf.c
	c[0] = phi * (1 - alpha - gamma)
	c[1] = alpha + beta - alpha*phi + gamma - 1
	for k := 2; k < m; k++ {
		c[k] = alpha + beta - alpha*phi
	}
	c[m] = alpha + beta - phi
	c[m+1] = 1
	if spec.Trend == None {
		// Without a trend z = 1 is always a root (the level and the seasonal sum are both
		// persistent); divide it out so the test is not decided on a boundary root.
		// Synthetic division in place: q_m = c_{m+1}, q_{k-1} = c_k + q_k.
		q := c[m+1]
		for k := m; k >= 1; k-- {
			c[k], q = q, c[k]+q
		}
		c[0] = q
		c = c[:m+1]
	}
	return maxRootModulus(c, buf) <= 1+1e-10
}

// maxRootModulus is the largest root modulus of the monic polynomial with coefficients c
// (increasing powers), from the eigenvalues of its companion matrix.
func maxRootModulus(c []float64, buf *rootBuf) float64 {
	if in, ok := schurCohn(c, 1+1e-10, buf); ok {
		if in {
			return 1
		}
		return 2
	}
	deg := len(c) - 1
	comp := mat.NewDense(deg, deg, nil)
	for i := range deg {
		comp.Set(0, i, -c[deg-1-i]/c[deg])
		if i > 0 {
			comp.Set(i, i-1, 1)
		}
	}
	var eig mat.Eigen
	if !eig.Factorize(comp, mat.EigenNone) {
		return math.Inf(1)
	}
	maxAbs := 0.0
	for _, v := range eig.Values(nil) {
		maxAbs = math.Max(maxAbs, cmplx.Abs(v))
	}
	return maxAbs
}

// schurCohn reports whether every root of the polynomial c (increasing powers) lies strictly
// within radius r. ok is false when the recursion passes too close to the boundary to decide.
func schurCohn(c []float64, r float64, buf *rootBuf) (inside, ok bool) {
	deg := len(c) - 1
	buf.a = grow(buf.a, deg+1)
	buf.b = grow(buf.b, deg+1)
	a, b := buf.a, buf.b
	s := 1.0
	for k := range c {
		a[k] = c[k] * s
		s *= r
	}
	for ; deg > 0; deg-- {
		lead, k0 := a[deg], a[0]
		if lead == 0 || math.IsNaN(lead) || math.IsInf(lead, 0) {
			return false, false
		}
		k := k0 / lead
		if math.Abs(math.Abs(k)-1) < 1e-9 {
			return false, false
		}
		if math.Abs(k) > 1 {
			return false, true
		}
		for i := range deg {
			b[i] = (lead*a[i+1] - k0*a[deg-1-i]) / lead
		}
		a, b = b, a
	}
	return true, true
}
