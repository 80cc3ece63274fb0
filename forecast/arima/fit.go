package arima

import (
	"context"
	"errors"
	"fmt"
	"math"
)

// errNonStationaryCSS: the CSS estimates have a non-stationary AR part, so ML cannot start
// from them (stats::arima stops with "non-stationary AR part from CSS").
var errNonStationaryCSS = errors.New("non-stationary AR part from CSS")

// penalty is returned by the objective where the likelihood cannot be evaluated; finite so
// that line searches step back instead of failing.
const penalty = 1e10

// Fit estimates a model of the given spec on y (no missing values).
func Fit(ctx context.Context, y []float64, spec Spec, progress ProgressFunc) (*Model, error) {
	if err := spec.validate(); err != nil {
		return nil, err
	}
	if spec.Method == "" {
		spec.Method = CSSML
	}
	if need := spec.MinObservations(); len(y) < need {
		return nil, fmt.Errorf("%w: %s needs at least %d observations, got %d", ErrTooShort, spec, need, len(y))
	}
	if err := checkFinite(y); err != nil {
		return nil, err
	}
	report := func(it int) {
		if progress != nil {
			progress(Progress{Candidate: 1, Candidates: 1, Iteration: it})
		}
	}
	return estimate(ctx, y, spec, fitOptions{restart: true}, report)
}

func checkFinite(y []float64) error {
	for i, v := range y {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("%w: y[%d] = %v", ErrInvalidData, i, v)
		}
	}
	return nil
}

// fitOptions tune estimate.
type fitOptions struct {
	// strict fails the fit when the CSS estimates have a non-stationary AR part, as
	// stats::arima does (auto.arima then skips the model); otherwise ML starts with those AR
	// coefficients at zero.
	strict bool
	// restart also runs ML from the zero start and keeps the better optimum: ARMA likelihoods
	// are multimodal and the CSS start can lead to a worse local maximum.
	restart bool
	// light skips the filter pass for a CSS fit: the model can be ranked but not forecast.
	light bool
}

// problem holds what every objective evaluation of one model needs.
type problem struct {
	spec  Spec
	y     []float64
	m     int
	lost  int       // d + D·m
	ncond int       // observations the CSS recursion conditions on
	dy    []float64 // differenced y
	dz    []float64 // differenced regression column
	scale float64   // parameter scale of the regression coefficient
	beta0 float64
	narma int
	work  likWork
	resid []float64
}

func newProblem(y []float64, spec Spec) *problem {
	m := spec.period()
	o, so := spec.Order, spec.Seasonal
	pr := &problem{spec: spec, y: y, m: m, lost: o.D + so.D*m}
	pr.ncond = pr.lost + o.P + so.P*m
	pr.narma = o.P + o.Q + so.P + so.Q
	pr.dy = difference(y, o.D, so.D, m)
	pr.scale = 1
	if spec.hasMean() || spec.hasDrift() {
		z := make([]float64, len(y))
		for t := range y {
			z[t] = spec.regressor(t)
		}
		pr.dz = difference(z, o.D, so.D, m)
		// Least squares on the differenced data gives the start and, as in stats::arima, a
		// parameter scale of ten standard errors.
		x, zz := pr.dy, pr.dz
		sxz, szz := 0.0, 0.0
		for i := range x {
			sxz += x[i] * zz[i]
			szz += zz[i] * zz[i]
		}
		if szz > 0 {
			pr.beta0 = sxz / szz
			rss := 0.0
			for i := range x {
				e := x[i] - pr.beta0*zz[i]
				rss += e * e
			}
			if len(x) > 1 {
				se := math.Sqrt(rss / float64(len(x)-1) / szz)
				if se > 0 && !math.IsInf(se, 0) {
					pr.scale = 10 * se
				}
			}
		}
	}
	pr.resid = make([]float64, len(pr.dy))
	return pr
}

// adjusted returns the differenced series with the regression term removed.
func (pr *problem) adjusted(beta float64, buf []float64) []float64 {
	if pr.dz == nil {
		return pr.dy
	}
	for i := range pr.dy {
		buf[i] = pr.dy[i] - beta*pr.dz[i]
	}
	return buf
}

// cssObjective is 0.5·log(σ̂²) of the conditional sum of squares; u holds the coefficients
// with the regression coefficient divided by its scale.
func (pr *problem) cssObjective(u []float64, buf []float64) float64 {
	coef := pr.coefFromRaw(u, false)
	ar, ma, sar, sma, beta := pr.spec.parts(coef)
	phi, theta := expand(ar, ma, sar, sma, pr.m)
	w := pr.adjusted(beta, buf)
	s2, nu := cssResiduals(w, pr.lost, pr.ncond, phi, theta, pr.resid)
	if nu == 0 || !(s2 > 0) || math.IsInf(s2, 0) {
		if s2 == 0 && nu > 0 {
			return 0.5 * math.Log(1e-300)
		}
		return penalty
	}
	return 0.5 * math.Log(s2)
}

// mlObjective is stats::arima's concentrated exact negative log-likelihood per observation,
// 0.5·(log σ̂² + Σ log F_t / ν), evaluated on the differenced series.
func (pr *problem) mlObjective(u []float64, buf []float64) float64 {
	coef := pr.coefFromRaw(u, true)
	ar, ma, sar, sma, beta := pr.spec.parts(coef)
	phi, theta := expand(ar, ma, sar, sma, pr.m)
	st := newARMAState(phi, theta)
	P0, ok := st.stationaryCov(phi)
	if !ok {
		return penalty
	}
	w := pr.adjusted(beta, buf)
	ssq, sumlog, nu := st.likelihood(w, P0, &pr.work)
	if nu == 0 || math.IsNaN(ssq) || math.IsInf(ssq, 0) || math.IsNaN(sumlog) {
		return penalty
	}
	s2 := math.Max(ssq/float64(nu), 1e-300)
	v := 0.5 * (math.Log(s2) + sumlog/float64(nu))
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return penalty
	}
	return v
}

// coefFromRaw maps optimizer coordinates to coefficients: AR parts through the stationary
// transform when trans is set, the regression coefficient times its scale.
func (pr *problem) coefFromRaw(u []float64, trans bool) []float64 {
	o, so := pr.spec.Order, pr.spec.Seasonal
	coef := make([]float64, len(u))
	copy(coef, u)
	if trans {
		if o.P > 0 {
			copy(coef[:o.P], transformAR(u[:o.P]))
		}
		if so.P > 0 {
			i := o.P + o.Q
			copy(coef[i:i+so.P], transformAR(u[i:i+so.P]))
		}
	}
	if len(u) > pr.narma {
		coef[pr.narma] = u[pr.narma] * pr.scale
	}
	return coef
}

// rawFromCoef inverts coefFromRaw; ok is false when an AR part is not stationary.
func (pr *problem) rawFromCoef(coef []float64, trans bool) ([]float64, bool) {
	o, so := pr.spec.Order, pr.spec.Seasonal
	u := append([]float64(nil), coef...)
	if trans {
		if o.P > 0 {
			r, ok := untransformAR(coef[:o.P])
			if !ok {
				return nil, false
			}
			copy(u[:o.P], r)
		}
		if so.P > 0 {
			i := o.P + o.Q
			r, ok := untransformAR(coef[i : i+so.P])
			if !ok {
				return nil, false
			}
			copy(u[i:i+so.P], r)
		}
	}
	if len(u) > pr.narma {
		u[pr.narma] = coef[pr.narma] / pr.scale
	}
	return u, true
}

// invertMA makes both MA parts of coef invertible, in place.
func (pr *problem) invertMA(coef []float64) {
	o, so := pr.spec.Order, pr.spec.Seasonal
	if o.Q > 0 {
		copy(coef[o.P:o.P+o.Q], maInvert(coef[o.P:o.P+o.Q]))
	}
	if so.Q > 0 {
		i := o.P + o.Q + so.P
		copy(coef[i:i+so.Q], maInvert(coef[i:i+so.Q]))
	}
}

// estimate fits spec by its method.
func estimate(ctx context.Context, y []float64, spec Spec, opts fitOptions, report func(int)) (*Model, error) {
	pr := newProblem(y, spec)
	buf := make([]float64, len(pr.dy))
	k := spec.ncoef()
	init := make([]float64, k)
	if k > pr.narma {
		init[pr.narma] = pr.beta0 / pr.scale
	}
	it := 0
	step := func(int) {
		it++
		if report != nil {
			report(it)
		}
	}
	css := func(u []float64) float64 { return pr.cssObjective(u, buf) }
	coef := pr.coefFromRaw(init, false)
	if k > 0 && spec.Method != ML {
		u, _, err := minimize(ctx, css, init, 100, step)
		if err != nil {
			return nil, err
		}
		coef = pr.coefFromRaw(u, false)
	}
	if spec.Method == CSS {
		if opts.light {
			return pr.cssModel(coef), nil
		}
		return pr.finish(coef, true)
	}
	o, so := spec.Order, spec.Seasonal
	if !arStationary(coef[:o.P]) || !arStationary(coef[o.P+o.Q:o.P+o.Q+so.P]) {
		if opts.strict {
			return nil, errNonStationaryCSS
		}
		for i := 0; i < o.P; i++ {
			coef[i] = 0
		}
		for i := 0; i < so.P; i++ {
			coef[o.P+o.Q+i] = 0
		}
	}
	pr.invertMA(coef)
	u0, ok := pr.rawFromCoef(coef, true)
	if !ok {
		return nil, errNonStationaryCSS
	}
	ml := func(u []float64) float64 { return pr.mlObjective(u, buf) }
	u, fu, err := minimize(ctx, ml, u0, 100, step)
	if err != nil {
		return nil, err
	}
	if opts.restart && pr.narma > 0 {
		z := make([]float64, len(u0))
		if len(z) > pr.narma {
			z[pr.narma] = pr.beta0 / pr.scale
		}
		uz, fz, err := minimize(ctx, ml, z, 100, step)
		if err != nil {
			return nil, err
		}
		if fz < fu {
			u = uz
		}
	}
	coef = pr.coefFromRaw(u, true)
	pr.invertMA(coef)
	return pr.finish(coef, false)
}

// finish computes the reported statistics and the forecasting state for the coefficients.
func (pr *problem) finish(coef []float64, cssOnly bool) (*Model, error) {
	spec := pr.spec
	full, phi := spec.stateSpace(coef)
	P0, ok := full.arma.stationaryCov(phi)
	if !ok {
		return nil, errNonStationaryCSS
	}
	_, _, _, _, beta := spec.parts(coef)
	x := make([]float64, len(pr.y))
	for t, v := range pr.y {
		x[t] = v - beta*spec.regressor(t)
	}
	fr := full.filter(x, P0)
	n := len(pr.y)
	nUsed := n - len(full.delta)
	if fr.nu == 0 || !(fr.ssq >= 0) {
		return nil, fmt.Errorf("%w: likelihood not computable", ErrNoModel)
	}
	nu := float64(fr.nu)
	fu := float64(nUsed)
	var loglik, cssSigma2 float64
	resid := fr.resid
	if cssOnly {
		ar, ma, sar, sma, _ := spec.parts(coef)
		phi, theta := expand(ar, ma, sar, sma, pr.m)
		buf := make([]float64, len(pr.dy))
		s2, _ := cssResiduals(pr.adjusted(beta, buf), pr.lost, pr.ncond, phi, theta, pr.resid)
		loglik = -0.5 * (fu*math.Log(math.Max(s2, 1e-300)) + fu + fu*math.Log(2*math.Pi))
		resid = pr.resid
		cssSigma2 = s2
	} else {
		s2 := math.Max(fr.ssq/nu, 1e-300)
		obj := 0.5 * (math.Log(s2) + fr.sumlog/nu)
		loglik = -0.5 * (2*fu*obj + fu + fu*math.Log(2*math.Pi))
	}
	npar := float64(spec.ncoef() + 1)
	aic := -2*loglik + 2*npar
	nstar := float64(nUsed)
	ssr := 0.0
	for _, e := range resid {
		ssr += e * e
	}
	mdl := &Model{
		Spec:     spec,
		Coef:     coef,
		Sigma2:   ssr / (nstar - npar + 1),
		LogLik:   loglik,
		AIC:      aic,
		AICc:     aic + 2*npar*(npar+1)/(nstar-npar-1),
		BIC:      aic + npar*(math.Log(nstar)-2),
		N:        n,
		NUsed:    nUsed,
		State:    fr.a,
		StateCov: fr.P,

		cssSigma2: cssSigma2,
	}
	if !mdl.finite() {
		return nil, fmt.Errorf("%w: non-finite fit", ErrNoModel)
	}
	return mdl, nil
}

// cssModel is a CSS fit with only what ranking it needs: coefficients and σ̂²_CSS.
func (pr *problem) cssModel(coef []float64) *Model {
	_, _, _, _, beta := pr.spec.parts(coef)
	ar, ma, sar, sma, _ := pr.spec.parts(coef)
	phi, theta := expand(ar, ma, sar, sma, pr.m)
	buf := make([]float64, len(pr.dy))
	s2, _ := cssResiduals(pr.adjusted(beta, buf), pr.lost, pr.ncond, phi, theta, pr.resid)
	return &Model{Spec: pr.spec, Coef: coef, N: len(pr.y), NUsed: len(pr.y) - pr.lost, cssSigma2: s2}
}

// finite reports whether every number in the model is finite (JSON cannot carry others).
func (m *Model) finite() bool {
	ok := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	for _, v := range []float64{m.Sigma2, m.LogLik, m.AIC, m.AICc, m.BIC} {
		if !ok(v) {
			return false
		}
	}
	for _, s := range [][]float64{m.Coef, m.State, m.StateCov} {
		for _, v := range s {
			if !ok(v) {
				return false
			}
		}
	}
	return true
}
