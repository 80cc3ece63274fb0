package arima

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
)

// AutoOptions bound the automatic search; zero values take forecast::auto.arima's defaults.
type AutoOptions struct {
	MaxP, MaxQ, MaxPS, MaxQS int // 5, 5, 2, 2
	// MaxOrder bounds p+q+P+Q when positive. Zero means no bound: forecast::auto.arima's
	// stepwise search ignores its max.order (only the exhaustive search applies it).
	MaxOrder int
	MaxD     int // 2
	// Diff (d) and SeasonalDiff (D) fix the differencing orders when non-nil; otherwise the
	// KPSS test and the seasonal-strength heuristic choose them.
	Diff, SeasonalDiff *int
	// Constant: nil lets the search decide (intercept when d+D=0, drift when d+D=1), false
	// forbids a constant.
	Constant *bool
	// Approximation: nil means as R, (n > 150 or m > 12): the search ranks models by their
	// conditional-sum-of-squares fit and only the winner is refitted by maximum likelihood.
	Approximation *bool
}

func (o AutoOptions) withDefaults() AutoOptions {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.MaxP, 5)
	def(&o.MaxQ, 5)
	def(&o.MaxPS, 2)
	def(&o.MaxQS, 2)
	def(&o.MaxD, 2)
	return o
}

// candidate is one visited model of the stepwise search.
type candidate struct {
	p, q, sp, sq int
	constant     bool
	ic           float64
	model        *Model
}

// search carries the state of one stepwise search.
type search struct {
	ctx      context.Context
	y        []float64
	m        int
	d, sd    int
	approx   bool
	aic      bool // rank by AIC instead of AICc (series of three observations, as R)
	results  []candidate
	progress ProgressFunc
	estimate int
}

// Auto selects and fits a model by the stepwise algorithm of Hyndman & Khandakar (2008) as
// forecast::auto.arima implements it with its defaults (ic = "aicc", stepwise, KPSS test for d,
// seasonal strength > 0.64 for D). period is the season length m (1 for none).
func Auto(ctx context.Context, y []float64, period int, opts AutoOptions, progress ProgressFunc) (*Model, error) {
	o := opts.withDefaults()
	n := len(y)
	if n < 3 {
		return nil, fmt.Errorf("%w: automatic ARIMA needs at least 3 observations, got %d", ErrTooShort, n)
	}
	if err := checkFinite(y); err != nil {
		return nil, err
	}
	m := max(period, 1)
	if m > MaxPeriod {
		return nil, fmt.Errorf("%w: period %d above %d is not supported", ErrInvalidOrder, m, MaxPeriod)
	}
	allowConst := o.Constant == nil || *o.Constant
	if isConstant(y) {
		return constantModel(y, Spec{Period: 1, Constant: allowConst}, y[0])
	}
	maxP, maxQ := min(o.MaxP, n/3), min(o.MaxQ, n/3)
	maxPS, maxQS := min(o.MaxPS, n/3/m), min(o.MaxQS, n/3/m)
	sd := 0
	switch {
	case m == 1 || n <= 3:
		maxPS, maxQS = 0, 0
	case o.SeasonalDiff != nil:
		sd = *o.SeasonalDiff
	case n > 2*m:
		sd = nsdiffs(y, m)
	}
	dx := y
	if sd > 0 {
		dx = difference(y, 0, sd, m)
	}
	d := 0
	if o.Diff != nil {
		d = *o.Diff
	} else {
		d = ndiffs(dx, o.MaxD)
	}
	if d > 0 {
		dx = difference(dx, d, 0, 1)
	}
	if len(dx) == 0 {
		return nil, fmt.Errorf("%w: nothing left after differencing (d=%d, D=%d)", ErrTooShort, d, sd)
	}
	if isConstant(dx) {
		return constantDiffModel(y, dx, d, sd, m, allowConst)
	}
	if m > 1 {
		if maxPS > 0 {
			maxP = min(maxP, m-1)
		}
		if maxQS > 0 {
			maxQ = min(maxQ, m-1)
		}
	}
	approx := n > 150 || m > 12
	if o.Approximation != nil {
		approx = *o.Approximation
	}
	allowDrift := allowConst && d+sd == 1
	allowMean := allowConst && d+sd == 0
	constant := allowDrift || allowMean

	s := &search{ctx: ctx, y: y, m: m, d: d, sd: sd, approx: approx, progress: progress, estimate: 20, aic: n <= 3}
	startP, startQ, startPS, startQS := 2, 2, 1, 1
	if n < 10 {
		startP, startQ, startPS, startQS = 1, 1, 0, 0
	}
	p, q := min(startP, maxP), min(startQ, maxQ)
	sp, sq := min(startPS, maxPS), min(startQS, maxQS)

	best, err := s.try(p, q, sp, sq, constant)
	if err != nil {
		return nil, err
	}
	consider := func(c candidate, err error, onBetter func()) (bool, error) {
		if err != nil {
			return false, err
		}
		if c.ic < best.ic {
			best = c
			onBetter()
			return true, nil
		}
		return false, nil
	}
	c, err := s.try(0, 0, 0, 0, constant)
	if _, err := consider(c, err, func() { p, q, sp, sq = 0, 0, 0, 0 }); err != nil {
		return nil, err
	}
	if maxP > 0 || maxPS > 0 {
		ap, aps := b2i(maxP > 0), b2i(m > 1 && maxPS > 0)
		c, err := s.try(ap, 0, aps, 0, constant)
		if _, err := consider(c, err, func() { p, sp, q, sq = ap, aps, 0, 0 }); err != nil {
			return nil, err
		}
	}
	if maxQ > 0 || maxQS > 0 {
		aq, aqs := b2i(maxQ > 0), b2i(m > 1 && maxQS > 0)
		c, err := s.try(0, aq, 0, aqs, constant)
		if _, err := consider(c, err, func() { p, sp, q, sq = 0, 0, aq, aqs }); err != nil {
			return nil, err
		}
	}
	if constant {
		// As in R, a better null model without constant moves the orders but leaves the
		// constant in the neighbourhood search.
		c, err := s.try(0, 0, 0, 0, false)
		if _, err := consider(c, err, func() { p, q, sp, sq = 0, 0, 0, 0 }); err != nil {
			return nil, err
		}
	}

	const maxModels = 94
	type move struct{ dp, dq, dsp, dsq int }
	seasonalMoves := []move{{0, 0, -1, 0}, {0, 0, 0, -1}, {0, 0, 1, 0}, {0, 0, 0, 1}, {0, 0, -1, -1}, {0, 0, -1, 1}, {0, 0, 1, -1}, {0, 0, 1, 1}}
	moves := append(seasonalMoves, move{-1, 0, 0, 0}, move{0, -1, 0, 0}, move{1, 0, 0, 0}, move{0, 1, 0, 0},
		move{-1, -1, 0, 0}, move{-1, 1, 0, 0}, move{1, -1, 0, 0}, move{1, 1, 0, 0})
	for improved := true; improved && len(s.results) < maxModels; {
		improved = false
		for _, mv := range moves {
			np, nq, nsp, nsq := p+mv.dp, q+mv.dq, sp+mv.dsp, sq+mv.dsq
			if np < 0 || nq < 0 || nsp < 0 || nsq < 0 || np > maxP || nq > maxQ || nsp > maxPS || nsq > maxQS {
				continue
			}
			if (o.MaxOrder > 0 && np+nq+nsp+nsq > o.MaxOrder) || s.visited(np, nq, nsp, nsq, constant) {
				continue
			}
			if len(s.results) >= maxModels {
				break
			}
			c, err := s.try(np, nq, nsp, nsq, constant)
			better, err := consider(c, err, func() { p, q, sp, sq = np, nq, nsp, nsq })
			if err != nil {
				return nil, err
			}
			if better {
				improved = true
				break
			}
		}
		if !improved && (allowDrift || allowMean) && !s.visited(p, q, sp, sq, !constant) {
			c, err := s.try(p, q, sp, sq, !constant)
			better, err := consider(c, err, func() { constant = !constant })
			if err != nil {
				return nil, err
			}
			improved = better
		}
	}

	if approx {
		// Refit by maximum likelihood, best approximate model first, until one is acceptable.
		order := append([]candidate(nil), s.results...)
		sort.SliceStable(order, func(i, j int) bool { return order[i].ic < order[j].ic })
		s.approx = false
		for _, c := range order {
			fit, err := s.try(c.p, c.q, c.sp, c.sq, c.constant)
			if err != nil {
				return nil, err
			}
			if !math.IsInf(fit.ic, 1) {
				return fit.model, nil
			}
		}
		return nil, fmt.Errorf("%w for the series", ErrNoModel)
	}
	if best.model == nil || math.IsInf(best.ic, 1) {
		return nil, fmt.Errorf("%w for the series", ErrNoModel)
	}
	return best.model, nil
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (s *search) visited(p, q, sp, sq int, constant bool) bool {
	for _, c := range s.results {
		if c.p == p && c.q == q && c.sp == sp && c.sq == sq && c.constant == constant {
			return true
		}
	}
	return false
}

// try fits one candidate as forecast's myarima does and records it. A candidate that cannot
// be fitted, has AR or MA roots within 1.01 of the unit circle, or too few observations for
// its AICc, gets ic = +Inf. Only cancellation is returned as an error.
func (s *search) try(p, q, sp, sq int, constant bool) (candidate, error) {
	c := candidate{p: p, q: q, sp: sp, sq: sq, constant: constant, ic: math.Inf(1)}
	spec := Spec{Order: Order{p, s.d, q}, Seasonal: Order{sp, s.sd, sq}, Period: s.m, Constant: constant, Method: CSSML}
	if s.approx {
		spec.Method = CSS
	}
	if spec.period() == 1 {
		spec.Seasonal = Order{}
		spec.Period = 1
	}
	k := len(s.results) + 1
	if k >= s.estimate {
		s.estimate = k + 4
	}
	report := func(it int) {
		if s.progress != nil {
			s.progress(Progress{Candidate: k, Candidates: s.estimate, Iteration: it})
		}
	}
	report(0)
	if len(s.y) >= spec.MinObservations() {
		model, err := estimate(s.ctx, s.y, spec, fitOptions{strict: true, light: true}, report)
		if err != nil && s.ctx.Err() != nil {
			return c, s.ctx.Err()
		}
		if err == nil {
			c.model = model
			c.ic = candidateIC(model, s.aic)
		}
	}
	s.results = append(s.results, c)
	return c, nil
}

// candidateIC is the AICc of a fitted candidate, +Inf when its roots are too close to the
// unit circle. For a CSS fit it uses n*·log σ̂²_CSS in place of −2 log L, as forecast does
// (without its constant offset, which does not change the ranking).
func candidateIC(m *Model, useAIC bool) float64 {
	spec := m.Spec
	npar := float64(spec.ncoef() + 1)
	nstar := float64(m.NUsed)
	if nstar-npar-1 <= 0 && !useAIC {
		return math.Inf(1)
	}
	aic := m.AIC
	if spec.Method == CSS {
		aic = nstar*math.Log(math.Max(m.cssSigma2, 1e-300)) + 2*npar
	}
	ic := aic
	if !useAIC {
		ic += 2 * npar * (npar + 1) / (nstar - npar - 1)
	}
	ar, ma, sar, sma, _ := spec.parts(m.Coef)
	phi, theta := expand(ar, ma, sar, sma, spec.period())
	negTheta := make([]float64, len(theta))
	for i, v := range theta {
		negTheta[i] = -v
	}
	if !rootsOutside(trimZeros(phi, 1e-8), 1.01) || !rootsOutside(trimZeros(negTheta, 1e-8), 1.01) {
		return math.Inf(1)
	}
	if math.IsNaN(ic) {
		return math.Inf(1)
	}
	return ic
}

// constantModel is the model of a constant series: its mean with zero variance.
func constantModel(y []float64, spec Spec, level float64) (*Model, error) {
	spec.Order, spec.Seasonal = Order{}, Order{}
	if !spec.Constant {
		level = 0
	}
	pr := newProblem(y, spec)
	coef := []float64{}
	if spec.Constant {
		coef = []float64{level}
	}
	return pr.finish(coef, false)
}

// constantDiffModel handles a series that is constant after differencing, as auto.arima
// does: a random walk (with the constant step as drift when d+D = 1), otherwise pure
// differencing.
func constantDiffModel(y, dx []float64, d, sd, m int, allowConst bool) (*Model, error) {
	spec := Spec{Order: Order{0, d, 0}, Seasonal: Order{0, sd, 0}, Period: m, Method: CSSML}
	if spec.period() == 1 {
		spec.Period = 1
	}
	var coef []float64
	if d+sd == 1 && allowConst {
		spec.Constant = true
		step := dx[0]
		if sd == 1 {
			step /= float64(m)
		}
		coef = []float64{step}
	}
	pr := newProblem(y, spec)
	mdl, err := pr.finish(coef, false)
	if err != nil {
		return nil, errors.Join(ErrNoModel, err)
	}
	return mdl, nil
}
