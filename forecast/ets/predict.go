package ets

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/stat/distuv"
)

// Forecast holds point forecasts and, per requested level, interval bounds.
type Forecast struct {
	Mean  []float64
	Lower [][]float64 // Lower[i] belongs to levels[i]
	Upper [][]float64
}

// Simulation settings for models without analytic intervals. The seed is fixed so a model
// forecasts identically every time it is asked.
const (
	simPaths = 5000
	simSeed  = 20080601
)

// Forecast returns h steps ahead with intervals at each level (percent, in (0, 100)). Models of
// Hyndman et al.'s classes 1–3 (linear; multiplicative error with linear components;
// multiplicative error and season with a linear trend) get the analytic mean and variance of
// chapter 6; the others get the point forecast and quantiles of simulated sample paths.
func (m *Model) Forecast(h int, levels []float64) (Forecast, error) {
	if h < 1 {
		return Forecast{}, fmt.Errorf("%w: horizon %d, want at least 1", ErrInvalidSpec, h)
	}
	for _, l := range levels {
		if !(l > 0 && l < 100) {
			return Forecast{}, fmt.Errorf("%w: interval level %v, want 0 < level < 100", ErrInvalidSpec, l)
		}
	}
	c, err := m.setup()
	if err != nil {
		return Forecast{}, err
	}
	s := m.Spec
	linear := s.Trend != Multiplicative && s.Season != Multiplicative
	var mu, v []float64
	switch {
	case s.Error == Additive && linear:
		mu, v, _ = c.class1(m.Final, c.gain(m.Params), m.Params.Phi, m.Sigma2, h)
	case s.Error == Multiplicative && linear:
		mu, v = c.class2(m.Final, c.gain(m.Params), m.Params.Phi, m.Sigma2, h)
	case s.Error == Multiplicative && s.Season == Multiplicative && s.Trend != Multiplicative:
		mu, v = c.class3(m.Final, m.Params, m.Sigma2, h)
	default:
		return c.simulate(m.Final, m.Params, m.Sigma2, h, levels), nil
	}
	return normalIntervals(mu, v, levels), nil
}

// normalIntervals are μ ± z·√v at each level.
func normalIntervals(mu, v []float64, levels []float64) Forecast {
	h := len(mu)
	f := Forecast{Mean: mu, Lower: make([][]float64, len(levels)), Upper: make([][]float64, len(levels))}
	for i, l := range levels {
		z := distuv.UnitNormal.Quantile(0.5 + l/200)
		lo, up := make([]float64, h), make([]float64, h)
		for j := range h {
			w := z * math.Sqrt(math.Max(v[j], 0))
			lo[j], up[j] = mu[j]-w, mu[j]+w
		}
		f.Lower[i], f.Upper[i] = lo, up
	}
	return f
}

// setup checks a (possibly decoded) model and returns its recursion setup.
func (m *Model) setup() (setup, error) {
	c := setup{spec: m.Spec, m: 1}
	if m.Spec.Season != None {
		if m.Period < 2 || m.Period > MaxPeriod {
			return c, fmt.Errorf("%w: seasonal model with period %d", ErrInvalidSpec, m.Period)
		}
		c.m = m.Period
	}
	n := 1
	if m.Spec.Trend != None {
		n++
	}
	if m.Spec.Season != None {
		n += c.m
	}
	if len(m.Final) != n || len(m.Init) != n {
		return c, fmt.Errorf("%w: %s needs %d states, model has %d", ErrInvalidSpec, m.Spec, n, len(m.Final))
	}
	return c, nil
}

// applyF multiplies a state vector (l, b, s1..sm; s1 most recent) by the transition matrix F
// of the linear model: l + φb, φb, and the seasonal values shifted by one with the oldest
// becoming the newest.
func (c setup) applyF(x []float64, phi float64) {
	hasB := c.spec.Trend != None
	if hasB {
		x[0] += phi * x[1]
		x[1] *= phi
	}
	if c.spec.Season != None {
		s := x[len(x)-c.m:]
		last := s[c.m-1]
		copy(s[1:], s[:c.m-1])
		s[0] = last
	}
}

// dotW is w'x for the linear model: l + φb + s_m.
func (c setup) dotW(x []float64, phi float64) float64 {
	v := x[0]
	if c.spec.Trend != None {
		v += phi * x[1]
	}
	if c.spec.Season != None {
		v += x[len(x)-1]
	}
	return v
}

// gain is the persistence vector g of the linear model: α for the level, β for the slope and
// γ for the newest seasonal state.
func (c setup) gain(p Params) []float64 {
	n := 1
	if c.spec.Trend != None {
		n++
	}
	if c.spec.Season != None {
		n += c.m
	}
	g := make([]float64, n)
	g[0] = p.Alpha
	i := 1
	if c.spec.Trend != None {
		g[1] = p.Beta
		i = 2
	}
	if c.spec.Season != None {
		g[i] = p.Gamma
	}
	return g
}

// class1 is the linear homoscedastic case: μ_h = w'F^{h-1}x_n and
// v_h = σ²(1 + Σ_{j<h} c_j²) with c_j = w'F^{j-1}g. It also returns the c_j.
// (R's class1 puts γ in the third state even without a trend, which shifts the seasonal
// term of c_j by one step for ETS(·,N,A); this follows the book.)
func (c setup) class1(last, g []float64, phi, sigma2 float64, h int) (mu, v, cj []float64) {
	x := append([]float64(nil), last...)
	g = append([]float64(nil), g...)
	mu, v, cj = make([]float64, h), make([]float64, h), make([]float64, h)
	acc := 1.0
	for j := range h {
		mu[j] = c.dotW(x, phi)
		v[j] = sigma2 * acc
		cj[j] = c.dotW(g, phi)
		acc += cj[j] * cj[j]
		c.applyF(x, phi)
		c.applyF(g, phi)
	}
	return mu, v, cj
}

// class2 is multiplicative error with linear components: θ_1 = μ_1²,
// θ_h = μ_h² + σ² Σ_{j<h} c_j² θ_{h-j}, v_h = (1+σ²)θ_h − μ_h².
func (c setup) class2(last, g []float64, phi, sigma2 float64, h int) (mu, v []float64) {
	mu, _, cj := c.class1(last, g, phi, sigma2, h)
	theta := make([]float64, h)
	v = make([]float64, h)
	for j := range h {
		theta[j] = mu[j] * mu[j]
		for k := 1; k <= j; k++ {
			theta[j] += sigma2 * cj[k-1] * cj[k-1] * theta[j-k]
		}
		v[j] = (1+sigma2)*theta[j] - mu[j]*mu[j]
	}
	return mu, v
}

// class3 is multiplicative error and season with a linear trend. With x the level/slope part
// and z the seasonal part, M = x z' evolves as M' = F1 M F2' + e (G1 M F2' + F1 M G2') +
// e² G1 M G2'; the mean of M and the covariance V of vec M give μ_h and v_h exactly
// (Hyndman et al. 2008, §6.3). A damped trend enters F1, G1 and H1 through φ (R's class3
// leaves φ out of the level row, which undamps its M,Ad,M means).
func (c setup) class3(last []float64, p Params, sigma2 float64, h int) (mu, v []float64) {
	m := c.m
	q := 1
	if c.spec.Trend != None {
		q = 2
	}
	phi := p.Phi
	var F1, G1 *mat.Dense
	var H1 []float64
	if q == 1 {
		F1, G1, H1 = mat.NewDense(1, 1, []float64{1}), mat.NewDense(1, 1, []float64{p.Alpha}), []float64{1}
	} else {
		F1 = mat.NewDense(2, 2, []float64{1, phi, 0, phi})
		G1 = mat.NewDense(2, 2, []float64{p.Alpha, p.Alpha * phi, p.Beta, p.Beta * phi})
		H1 = []float64{1, phi}
	}
	F2 := mat.NewDense(m, m, nil)
	F2.Set(0, m-1, 1)
	for i := 1; i < m; i++ {
		F2.Set(i, i-1, 1)
	}
	G2 := mat.NewDense(m, m, nil)
	G2.Set(0, m-1, p.Gamma)
	var F21, G21, K, tmp mat.Dense
	F21.Kronecker(F2, F1)
	G21.Kronecker(G2, G1)
	K.Kronecker(G2, F1)
	tmp.Kronecker(F2, G1)
	K.Add(&K, &tmp)
	d := q * m
	M := mat.NewDense(q, m, nil)
	for i := range q {
		for j := range m {
			M.Set(i, j, last[i]*last[q+j])
		}
	}
	V := mat.NewDense(d, d, nil)
	// H2 ⊗ H1 picks the last seasonal column of M.
	H21 := mat.NewVecDense(d, nil)
	for i := range q {
		H21.SetVec((m-1)*q+i, H1[i])
	}
	mu, v = make([]float64, h), make([]float64, h)
	vec := mat.NewVecDense(d, nil)
	var mm, S, a, b, acc, next mat.Dense
	for step := range h {
		for i := range q {
			mu[step] += H1[i] * M.At(i, m-1)
		}
		v[step] = (1+sigma2)*mat.Inner(H21, V, H21) + sigma2*mu[step]*mu[step]
		for j := range m {
			for i := range q {
				vec.SetVec(j*q+i, M.At(i, j))
			}
		}
		mm.Outer(1, vec, vec)
		// V' = F V F' + σ²(F V G' + G V F' + K (V + mm') K' + σ² G (3V + 2mm') G')
		a.Product(&F21, V, G21.T())
		acc.Scale(1, &a)
		a.Product(&G21, V, F21.T())
		acc.Add(&acc, &a)
		S.Add(V, &mm)
		a.Product(&K, &S, K.T())
		acc.Add(&acc, &a)
		S.Scale(3, V)
		b.Scale(2, &mm)
		S.Add(&S, &b)
		a.Product(&G21, &S, G21.T())
		a.Scale(sigma2, &a)
		acc.Add(&acc, &a)
		next.Product(&F21, V, F21.T())
		acc.Scale(sigma2, &acc)
		next.Add(&next, &acc)
		V = mat.DenseCopyOf(&next)
		var m1, m2 mat.Dense
		m1.Product(F1, M, F2.T())
		m2.Product(G1, M, G2.T())
		m2.Scale(sigma2, &m2)
		m1.Add(&m1, &m2)
		M = &m1
	}
	return mu, v
}

// simulate draws simPaths future sample paths with Gaussian errors of variance σ² and returns
// the point forecasts with type-8 sample quantiles as interval bounds, as R does for models
// without analytic intervals.
func (c setup) simulate(last []float64, p Params, sigma2 float64, h int, levels []float64) Forecast {
	n := 0 // the ring is rebuilt from the final state, so time restarts at 0
	var st state
	init := append([]float64(nil), last...)
	var base state
	c.newState(init, &base)
	f := Forecast{Mean: c.pointForecasts(&base, p, n, h)}
	rng := rand.New(rand.NewPCG(simSeed, uint64(h)))
	sd := math.Sqrt(sigma2)
	paths := make([][]float64, h)
	for j := range paths {
		paths[j] = make([]float64, 0, simPaths)
	}
	for range simPaths {
		c.newState(init, &st)
		for j := range h {
			t := n + j + 1
			fc, q, s := c.onestep(&st, p, t)
			e := rng.NormFloat64() * sd
			y := fc + e
			if c.spec.Error == Multiplicative {
				y = fc * (1 + e)
			}
			if math.IsNaN(y) || math.IsInf(y, 0) {
				break
			}
			paths[j] = append(paths[j], y)
			c.update(&st, p, t, y, q, s)
		}
	}
	f.Lower = make([][]float64, len(levels))
	f.Upper = make([][]float64, len(levels))
	for i := range levels {
		f.Lower[i] = make([]float64, h)
		f.Upper[i] = make([]float64, h)
	}
	for j := range h {
		sort.Float64s(paths[j])
		for i, l := range levels {
			f.Lower[i][j] = quantile8(paths[j], 0.5-l/200)
			f.Upper[i][j] = quantile8(paths[j], 0.5+l/200)
		}
	}
	return f
}

// quantile8 is Hyndman & Fan's type-8 sample quantile of sorted x (R's choice for ETS paths).
func quantile8(x []float64, p float64) float64 {
	n := len(x)
	if n == 0 {
		return math.NaN()
	}
	h := (float64(n)+1.0/3)*p + 1.0/3
	switch {
	case h <= 1:
		return x[0]
	case h >= float64(n):
		return x[n-1]
	}
	lo := math.Floor(h)
	i := int(lo) - 1
	return x[i] + (h-lo)*(x[i+1]-x[i])
}
