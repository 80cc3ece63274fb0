package arima

import (
	"math"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/lapack/lapack64"
)

// The ARMA part is written in Harvey's state-space form (Durbin & Koopman 2012, §3.4): with
// r = max(p, q+1), state α_t ∈ R^r, y_t = α_t[0] and
//
//	α_{t+1}[i] = φ_{i+1} α_t[0] + α_t[i+1] + θ_i ε_{t+1}   (θ_0 = 1, α_t[r] = 0),
//
// all variances in units of σ², which is concentrated out of the likelihood.

// armaState holds φ and θ zero-padded to the state dimension r.
type armaState struct {
	r          int
	phi, theta []float64 // phi[i] = φ_{i+1}, i < r; theta[i] = θ_i with theta[0] = 1
}

func newARMAState(phi, theta []float64) armaState {
	r := max(len(phi), len(theta)+1)
	s := armaState{r: r, phi: make([]float64, r), theta: make([]float64, r)}
	copy(s.phi, phi)
	s.theta[0] = 1
	copy(s.theta[1:], theta)
	return s
}

// stationaryCov returns the stationary covariance P0 (r×r, row-major) of the state, the
// solution of P = T P T' + R R' that Gardner, Harvey & Phillips (1980) compute. Its first row
// follows from the autocovariances and ψ-weights of the ARMA process; the rest from the
// recursion P_ij = φ_{i+1}φ_{j+1}P_00 + φ_{i+1}P_{0,j+1} + φ_{j+1}P_{i+1,0} + P_{i+1,j+1} + θ_iθ_j
// run backwards from the last row. ok is false when the AR part is not stationary.
func (s armaState) stationaryCov(phiFull []float64) (P []float64, ok bool) {
	r := s.r
	p := len(phiFull)
	// ψ-weights up to r.
	psi := make([]float64, r+1)
	psi[0] = 1
	for j := 1; j <= r; j++ {
		v := 0.0
		if j < r {
			v = s.theta[j]
		}
		for i := 1; i <= min(j, p); i++ {
			v += phiFull[i-1] * psi[j-i]
		}
		psi[j] = v
	}
	// c_k = Σ_{j≥k} θ_j ψ_{j−k}.
	q := r - 1
	c := make([]float64, r+1)
	for k := 0; k <= q; k++ {
		v := 0.0
		for j := k; j <= q; j++ {
			v += s.theta[j] * psi[j-k]
		}
		c[k] = v
	}
	gamma := make([]float64, r+1)
	if p == 0 {
		copy(gamma, c)
	} else {
		// γ(k) − Σ φ_i γ(|k−i|) = c_k for k = 0..p, solved by LU (no condition estimate:
		// this runs at every likelihood evaluation).
		a := blas64.General{Rows: p + 1, Cols: p + 1, Stride: p + 1, Data: make([]float64, (p+1)*(p+1))}
		b := blas64.General{Rows: p + 1, Cols: 1, Stride: 1, Data: make([]float64, p+1)}
		for k := 0; k <= p; k++ {
			a.Data[k*(p+1)+k] += 1
			for i := 1; i <= p; i++ {
				l := k - i
				if l < 0 {
					l = -l
				}
				a.Data[k*(p+1)+l] -= phiFull[i-1]
			}
			b.Data[k] = c[k]
		}
		ipiv := make([]int, p+1)
		if !lapack64.Getrf(a, ipiv) {
			return nil, false
		}
		lapack64.Getrs(blas.NoTrans, a, b, ipiv)
		g := b.Data
		for k := 0; k <= min(p, r); k++ {
			gamma[k] = g[k]
		}
		for k := p + 1; k <= r; k++ {
			v := c[k]
			for i := 1; i <= p; i++ {
				v += phiFull[i-1] * gamma[k-i]
			}
			gamma[k] = v
		}
	}
	if !(gamma[0] > 0) || math.IsInf(gamma[0], 0) {
		return nil, false
	}
	P = make([]float64, r*r)
	P[0] = gamma[0]
	for j := 1; j < r; j++ {
		v := 0.0
		for k := j + 1; k <= r; k++ {
			v += s.phi[k-1] * gamma[k-j]
		}
		for k := j; k < r; k++ {
			v += s.theta[k] * psi[k-j]
		}
		P[j] = v
		P[j*r] = v
	}
	at := func(i, j int) float64 {
		if i >= r || j >= r {
			return 0
		}
		return P[i*r+j]
	}
	phiAt := func(i int) float64 { // φ_{i+1}
		if i >= r {
			return 0
		}
		return s.phi[i]
	}
	for i := r - 1; i >= 1; i-- {
		for j := r - 1; j >= i; j-- {
			v := phiAt(i)*phiAt(j)*P[0] + phiAt(i)*at(0, j+1) + phiAt(j)*at(i+1, 0) + at(i+1, j+1) + s.theta[i]*s.theta[j]
			P[i*r+j] = v
			P[j*r+i] = v
		}
	}
	for _, v := range P {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, false
		}
	}
	return P, true
}

// likelihood runs the Kalman filter on the differenced, mean-corrected series w from the
// stationary covariance P0 and returns the sum of squared standardised innovations, the sum of
// log innovation variances and the number of innovations. The covariance is propagated by the
// Chandrasekhar recursions (Morf, Sidhu & Kailath 1974): started from the stationary
// covariance, P_{t+1} − P_t has rank one, L D L', so each step costs O(r) instead of the
// Riccati update's O(r²) and gives the same innovations.
type likWork struct {
	a, anew, m, l, tl []float64
}

func (s armaState) likelihood(w []float64, P0 []float64, wk *likWork) (ssq, sumlog float64, nu int) {
	r := s.r
	if len(wk.a) != r {
		wk.a = make([]float64, r)
		wk.anew = make([]float64, r)
		wk.m = make([]float64, r)
		wk.l = make([]float64, r)
		wk.tl = make([]float64, r)
	}
	a, anew, M, L, TL := wk.a, wk.anew, wk.m, wk.l, wk.tl
	phi := s.phi
	// T x for the companion-like transition.
	apply := func(out, x []float64) {
		x0 := x[0]
		for i := 0; i < r-1; i++ {
			out[i] = phi[i]*x0 + x[i+1]
		}
		out[r-1] = phi[r-1] * x0
	}
	for i := range a {
		a[i] = 0
		anew[i] = P0[i*r] // column 0 of P0
	}
	F := P0[0]
	apply(M, anew) // M = T P Z'
	copy(L, M)
	D := -1 / F
	lastF, logF := math.NaN(), 0.0
	for _, y := range w {
		if !(F > 0) {
			return math.NaN(), math.NaN(), 0
		}
		v := y - a[0]
		nu++
		ssq += v * v / F
		if F != lastF { // F settles to its steady state; skip recomputing its log
			lastF, logF = F, math.Log(F)
		}
		sumlog += logF
		// a ← T a + M v / F.
		apply(anew, a)
		for i := range a {
			a[i] = anew[i] + M[i]*v/F
		}
		zl := L[0]
		Fn := F + D*zl*zl
		apply(TL, L)
		for i := range M {
			mi := M[i]
			M[i] = mi + TL[i]*D*zl
			L[i] = TL[i] - mi*zl/F
		}
		if Fn > 0 {
			D -= D * D * zl * zl / Fn
		}
		F = Fn
	}
	return ssq, sumlog, nu
}

// fullModel is the state-space form of the whole ARIMA model as stats::arima builds it: the
// ARMA state followed by the last len(delta) values of the series, these with a vague prior
// of variance kappa.
type fullModel struct {
	arma  armaState
	delta []float64
}

const kappa = 1e6

func (f fullModel) dim() int { return f.arma.r + len(f.delta) }

// predict maps a state vector x through the transition: out = T x.
func (f fullModel) predict(out, x []float64) {
	r, nd := f.arma.r, len(f.delta)
	a0 := x[0]
	for i := 0; i < r-1; i++ {
		out[i] = f.arma.phi[i]*a0 + x[i+1]
	}
	out[r-1] = f.arma.phi[r-1] * a0
	if nd > 0 {
		v := a0
		for k, d := range f.delta {
			v += d * x[r+k]
		}
		for k := nd - 1; k >= 1; k-- {
			out[r+k] = x[r+k-1]
		}
		out[r] = v
	}
}

// observe returns Z x, the observation implied by state x.
func (f fullModel) observe(x []float64) float64 {
	v := x[0]
	for k, d := range f.delta {
		v += d * x[f.arma.r+k]
	}
	return v
}

// propagate returns T P T' + V for the rd×rd covariance P (row-major), using work space m.
func (f fullModel) propagate(out, P, m []float64) {
	rd := f.dim()
	col := make([]float64, rd)
	tmp := make([]float64, rd)
	// m = T P (column by column), stored row-major.
	for j := 0; j < rd; j++ {
		for i := 0; i < rd; i++ {
			col[i] = P[i*rd+j]
		}
		f.predict(tmp, col)
		for i := 0; i < rd; i++ {
			m[i*rd+j] = tmp[i]
		}
	}
	// out = T m' = T P T' (P symmetric).
	for j := 0; j < rd; j++ {
		for i := 0; i < rd; i++ {
			col[i] = m[j*rd+i]
		}
		f.predict(tmp, col)
		for i := 0; i < rd; i++ {
			out[i*rd+j] = tmp[i]
		}
	}
	r := f.arma.r
	th := f.arma.theta
	for i := 0; i < r; i++ {
		for j := 0; j < r; j++ {
			out[i*rd+j] += th[i] * th[j]
		}
	}
}

// filterResult is what a pass of the full filter yields.
type filterResult struct {
	ssq, sumlog float64
	nu          int
	resid       []float64 // standardised as stats::arima reports them (in units of y)
	a, P        []float64 // filtered state and covariance after the last observation
}

// filter runs the full filter over x (the series with any regression term removed), started
// from the stationary ARMA covariance P0 and the vague prior on the differencing states.
func (f fullModel) filter(x, P0 []float64) filterResult {
	r, rd := f.arma.r, f.dim()
	a := make([]float64, rd)
	anew := make([]float64, rd)
	P := make([]float64, rd*rd)
	Pnew := make([]float64, rd*rd)
	work := make([]float64, rd*rd)
	M := make([]float64, rd)
	for i := 0; i < r; i++ {
		copy(Pnew[i*rd:i*rd+r], P0[i*r:(i+1)*r])
	}
	for k := r; k < rd; k++ {
		Pnew[k*rd+k] = kappa
	}
	res := filterResult{resid: make([]float64, len(x))}
	for t, y := range x {
		if t > 0 {
			f.predict(anew, a)
			f.propagate(Pnew, P, work)
		}
		// M = Pnew Z'.
		for i := 0; i < rd; i++ {
			row := Pnew[i*rd : (i+1)*rd]
			v := row[0]
			for k, d := range f.delta {
				v += d * row[r+k]
			}
			M[i] = v
		}
		F := f.observe(M)
		v := y - f.observe(anew)
		if F < 1e4 {
			res.nu++
			res.ssq += v * v / F
			res.sumlog += math.Log(F)
		}
		res.resid[t] = v / math.Sqrt(F)
		for i := 0; i < rd; i++ {
			a[i] = anew[i] + M[i]*v/F
		}
		for i := 0; i < rd; i++ {
			for j := 0; j < rd; j++ {
				P[i*rd+j] = Pnew[i*rd+j] - M[i]*M[j]/F
			}
		}
	}
	res.a, res.P = a, P
	return res
}

// forecast returns h-step point forecasts and variances (in units of σ²) from the filtered
// state a, P.
func (f fullModel) forecast(a, P []float64, h int) (mean, variance []float64) {
	rd := f.dim()
	x := append([]float64(nil), a...)
	xn := make([]float64, rd)
	Pc := append([]float64(nil), P...)
	Pn := make([]float64, rd*rd)
	work := make([]float64, rd*rd)
	zp := make([]float64, rd)
	mean = make([]float64, h)
	variance = make([]float64, h)
	for s := 0; s < h; s++ {
		f.predict(xn, x)
		f.propagate(Pn, Pc, work)
		x, xn = xn, x
		Pc, Pn = Pn, Pc
		mean[s] = f.observe(x)
		for i := 0; i < rd; i++ {
			zp[i] = f.observe(Pc[i*rd : (i+1)*rd])
		}
		variance[s] = math.Max(f.observe(zp), 0)
	}
	return mean, variance
}
