package ets

import (
	"context"
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/optimize"
)

// Options control Fit.
type Options struct {
	// Period is the season length; 1 (or less) means non-seasonal.
	Period int
	// AllowMultiplicativeTrend lets "Z" try multiplicative trends, which R excludes by default.
	AllowMultiplicativeTrend bool
	// Progress, when set, is called as candidates are fitted, at most every 50 optimizer
	// iterations.
	Progress func(Progress)
}

// Progress reports how far a fit has got.
type Progress struct {
	Candidate  int // 1-based index of the model being fitted
	Candidates int // how many models are tried
	Iteration  int // optimizer iterations so far for this candidate
}

// progressEvery is how many optimizer iterations pass between progress reports.
const progressEvery = 50

// MinObservations is the shortest series Fit accepts for code with the given period. It is
// R's threshold below which ets() stops estimating the model and falls back to Holt–Winters
// with fixed starting values (n ≤ npars + 4, npars = 2 for α and l, +2 for a trend, +m for a
// season, +1 for a requested damping); this package rejects such series instead. Components
// given as "Z" count nothing, as in R: each candidate is then tried only if it has fewer
// estimated parameters (smoothing parameters and initial states) than n − 2. (R's limit is
// n − 1, but a candidate at n − 2 has an infinite AICc and is never chosen.)
func MinObservations(code string, period int) (int, error) {
	p, err := parseCode(code)
	if err != nil {
		return 0, err
	}
	npars := 2
	if p.trend == Additive || p.trend == Multiplicative {
		npars += 2
	}
	if (p.season == Additive || p.season == Multiplicative) && period > 1 {
		npars += period
	}
	if p.damped {
		npars++
	}
	return npars + 5, nil
}

// Fit estimates the ETS model code ("ANN", "AAdN", "MAdM", "ZZZ", ...; "" means "ZZZ") on y by
// maximum likelihood. With wildcards it fits every candidate of R's default model space and
// returns the one with the smallest AICc. As in R, a "Z" season is dropped when the period is
// above MaxPeriod or the series is not longer than one season, and a constant series given
// "ZZZ" gets simple exponential smoothing with α = 0.99999 without estimation.
func Fit(ctx context.Context, y []float64, code string, opt Options) (*Model, error) {
	p, err := parseCode(code)
	if err != nil {
		return nil, err
	}
	if err := checkData(y); err != nil {
		return nil, err
	}
	period := max(opt.Period, 1)
	positive := true
	for _, v := range y {
		if v <= 0 {
			positive = false
			break
		}
	}
	if len(y) <= period && p.season == auto {
		period = 1 // R drops the season when there is not one full season of data
	}
	cands, err := candidates(p, period, positive, opt.AllowMultiplicativeTrend)
	if err != nil {
		return nil, err
	}
	minN, _ := MinObservations(code, period)
	if len(y) < minN {
		if code == "" {
			code = "ZZZ"
		}
		return nil, fmt.Errorf("%w: ETS %s needs at least %d observations, got %d", ErrTooFewObservations, code, minN, len(y))
	}
	if (p == pattern{err: auto, trend: auto, season: auto}) && constant(y) {
		// As R: a constant series gets simple exponential smoothing with α = 0.99999 and
		// l = y₁, without estimation.
		c := setup{spec: Spec{Error: Additive, Trend: None, Season: None}, m: 1}
		return c.finish(y, Params{Alpha: 0.99999, Phi: 1}, []float64{y[0]})
	}
	var best *Model
	var lastErr error
	for i, s := range cands {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		report := func(iter int) {}
		if opt.Progress != nil {
			k, n := i+1, len(cands)
			report = func(iter int) { opt.Progress(Progress{Candidate: k, Candidates: n, Iteration: iter}) }
			report(0)
		}
		c := setup{spec: s, m: 1}
		if s.Season != None {
			c.m = period
		}
		mdl, err := c.estimate(ctx, y, report)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			lastErr = err
			continue
		}
		if best == nil || mdl.AICc < best.AICc {
			best = mdl
		}
	}
	if best == nil {
		if lastErr == nil {
			lastErr = ErrNoModel
		}
		if len(cands) == 1 {
			return nil, lastErr
		}
		return nil, fmt.Errorf("%w: %v", ErrNoModel, lastErr)
	}
	return best, nil
}

// errNotEstimable marks a candidate with too many parameters for the series.
var errNotEstimable = errors.New("more parameters than the series supports")

// estimate fits one model by Nelder–Mead over the smoothing parameters and initial states
// jointly, starting from R's initial values.
func (c setup) estimate(ctx context.Context, y []float64, report func(int)) (*Model, error) {
	p0 := initialParams(c.spec, c.m)
	x0, err := initialStates(y, c.spec, c.m)
	if err != nil {
		return nil, err
	}
	nsmooth := 1
	if c.spec.Trend != None {
		nsmooth++
	}
	if c.spec.Season != None {
		nsmooth++
	}
	if c.spec.Damped {
		nsmooth++
	}
	dim := nsmooth + len(x0)
	// R skips a candidate when dim ≥ n-1; at dim = n-2 its AICc is infinite, so it could never
	// be chosen either, and an infinite criterion cannot be reported in JSON.
	if dim >= len(y)-2 {
		return nil, fmt.Errorf("%w: %s has %d parameters, series has %d observations", errNotEstimable, c.spec, dim, len(y))
	}
	start := make([]float64, 0, dim)
	start = append(start, p0.Alpha)
	if c.spec.Trend != None {
		start = append(start, p0.Beta)
	}
	if c.spec.Season != None {
		start = append(start, p0.Gamma)
	}
	if c.spec.Damped {
		start = append(start, p0.Phi)
	}
	start = append(start, x0...)

	obj := c.objective(y, nsmooth)
	if math.IsInf(obj(start), 1) {
		return nil, fmt.Errorf("%w: %s: starting values are not admissible", ErrNoModel, c.spec)
	}
	// The optimizer works in coordinates where the usual region of the smoothing parameters
	// is all of R^k (see box), so it spends no evaluations outside it; the admissibility
	// constraints remain in the objective.
	steps := c.simplexSteps(y, start, nsmooth)
	x := make([]float64, dim)
	u0 := c.toFree(start, nsmooth)
	best, err := minimize(ctx, func(u []float64) float64 { return obj(c.fromFree(u, x, nsmooth)) }, u0, steps, report)
	if err != nil {
		return nil, err
	}
	c.fromFree(best, x, nsmooth)
	p := c.unpack(x)
	return c.finish(y, p, x[nsmooth:])
}

// Each smoothing parameter is a logistic function of a free coordinate placing it within its
// bounds [lo, up]. The coupled constraints β ≤ α and γ ≤ 1-α stay in the objective: folding
// them into the map collapses γ's interval as α nears 1, where optima often lie.

func logistic(u float64) float64 { return 1 / (1 + math.Exp(-u)) }

func logit(p float64) float64 {
	p = math.Min(math.Max(p, 1e-12), 1-1e-12)
	return math.Log(p / (1 - p))
}

// fromFree writes the model vector for free coordinates u into x and returns x.
func (c setup) fromFree(u, x []float64, nsmooth int) []float64 {
	lo, up := lowerBound, upperBound
	copy(x[nsmooth:], u[nsmooth:])
	alpha := lo[0] + (up[0]-lo[0])*logistic(u[0])
	x[0] = alpha
	i := 1
	if c.spec.Trend != None {
		x[i] = lo[1] + (up[1]-lo[1])*logistic(u[i])
		i++
	}
	if c.spec.Season != None {
		x[i] = lo[2] + (up[2]-lo[2])*logistic(u[i])
		i++
	}
	if c.spec.Damped {
		x[i] = lo[3] + (up[3]-lo[3])*logistic(u[i])
	}
	return x
}

// toFree is the inverse of fromFree.
func (c setup) toFree(x []float64, nsmooth int) []float64 {
	lo, up := lowerBound, upperBound
	u := append([]float64(nil), x...)
	u[0] = logit((x[0] - lo[0]) / (up[0] - lo[0]))
	i := 1
	if c.spec.Trend != None {
		u[i] = logit((x[i] - lo[1]) / (up[1] - lo[1]))
		i++
	}
	if c.spec.Season != None {
		u[i] = logit((x[i] - lo[2]) / (up[2] - lo[2]))
		i++
	}
	if c.spec.Damped {
		u[i] = logit((x[i] - lo[3]) / (up[3] - lo[3]))
	}
	return u
}

// unpack reads the smoothing parameters from the head of an optimizer vector.
func (c setup) unpack(x []float64) Params {
	p := Params{Alpha: x[0], Phi: 1}
	i := 1
	if c.spec.Trend != None {
		p.Beta = x[i]
		i++
	}
	if c.spec.Season != None {
		p.Gamma = x[i]
		i++
	}
	if c.spec.Damped {
		p.Phi = x[i]
	}
	return p
}

// objective is R's criterion: -2·log-likelihood (up to constants), +Inf outside the parameter
// region or when multiplicative seasonal states turn negative, floored at -1e10 for perfect fits.
func (c setup) objective(y []float64, nsmooth int) func([]float64) float64 {
	var st state
	var buf rootBuf
	full := make([]float64, 0, 2+c.m)
	return func(x []float64) float64 {
		p := c.unpack(x)
		if !feasible(c.spec, c.m, p, &buf) {
			return math.Inf(1)
		}
		full = append(full[:0], x[nsmooth:]...)
		if c.spec.Season != None {
			first := 1
			if c.spec.Trend != None {
				first = 2
			}
			last := 0.0
			if c.spec.Season == Multiplicative {
				last = float64(c.m)
			}
			for _, v := range full[first:] {
				last -= v
			}
			full = append(full, last)
			if c.spec.Season == Multiplicative {
				for _, v := range full[first:] {
					if v < 0 {
						return math.Inf(1)
					}
				}
			}
		}
		lik, _, ok := c.run(y, full, p, &st, nil)
		switch {
		case !ok || math.IsNaN(lik) || math.IsInf(lik, 1):
			return math.Inf(1)
		case lik < -1e10:
			return -1e10
		}
		return lik
	}
}

// simplexSteps sizes the initial simplex per coordinate: one unit of the free smoothing
// coordinates, and for the states a tenth of their magnitude or about the typical one-step
// change of the data.
func (c setup) simplexSteps(y, x []float64, nsmooth int) []float64 {
	var dy float64
	for i := 1; i < len(y); i++ {
		dy += math.Abs(y[i] - y[i-1])
	}
	if len(y) > 1 {
		dy /= float64(len(y) - 1)
	}
	if dy == 0 {
		ymax := 0.0
		for _, v := range y {
			ymax = math.Max(ymax, math.Abs(v))
		}
		dy = math.Max(1e-3*ymax, 1e-6)
	}
	steps := make([]float64, len(x))
	for i := range nsmooth {
		steps[i] = 1
	}
	i := nsmooth
	steps[i] = dy // level
	i++
	switch c.spec.Trend {
	case Additive:
		steps[i] = math.Max(0.1*math.Abs(x[i]), 0.1*dy)
		i++
	case Multiplicative:
		steps[i] = 0.01
		i++
	}
	for ; i < len(x); i++ {
		if c.spec.Season == Multiplicative {
			steps[i] = 0.02
		} else {
			steps[i] = math.Max(0.1*math.Abs(x[i]), 0.5*dy)
		}
	}
	return steps
}

// Optimizer budget: evaluations per Nelder–Mead run (R's maxit) and restarts from the best
// point.
const (
	maxEvalPerRun = 2000
	maxRestarts   = 3
	restartGain   = 1e-7 // a restart gaining less than this (relative) counts as stale
)

// restartScales resize the simplex of successive runs: a wide one to escape a shallow basin,
// a narrow one to settle on a boundary.
var restartScales = []float64{1, 0.1, 2, 0.5}

// minimize runs gonum's Nelder–Mead in coordinates scaled by steps, restarting from the best
// point with a fresh simplex until a restart no longer improves the criterion.
func minimize(ctx context.Context, f func([]float64) float64, start, steps []float64, report func(int)) ([]float64, error) {
	dim := len(start)
	x := make([]float64, dim)
	toX := func(u []float64, base []float64) []float64 {
		for i := range x {
			x[i] = base[i] + u[i]*steps[i]
		}
		return x
	}
	base := append([]float64(nil), start...)
	bestF := f(base)
	iterations := 0 // major iterations over all runs, for progress reports
	stale := 0
	// Small problems (non-seasonal) converge reliably; seasonal ones get a second chance.
	staleLimit, window := 1, 3
	if dim > 5 {
		staleLimit, window = 2, 4
	}
	for run := 0; run <= maxRestarts && stale < staleLimit; run++ {
		b := append([]float64(nil), base...)
		scale := restartScales[run%len(restartScales)]
		prob := optimize.Problem{Func: func(u []float64) float64 { return f(toX(u, b)) }}
		verts := make([][]float64, dim+1)
		vals := make([]float64, dim+1)
		verts[0] = make([]float64, dim)
		vals[0] = bestF
		for i := 1; i <= dim; i++ {
			verts[i] = make([]float64, dim)
			verts[i][i-1] = scale
			vals[i] = prob.Func(verts[i])
		}
		nm := &optimize.NelderMead{InitialVertices: verts, InitialValues: vals, Reflection: 1, Expansion: 2, Contraction: 0.5, Shrink: 0.5}
		rec := &recorder{ctx: ctx, report: report, iter: &iterations}
		settings := &optimize.Settings{
			FuncEvaluations: maxEvalPerRun,
			// Converged when the best vertex has not improved for window·(dim+1) iterations.
			Converger:  &optimize.FunctionConverge{Absolute: 1e-10, Relative: 1e-12, Iterations: window * (dim + 1)},
			Recorder:   rec,
			InitValues: &optimize.Location{F: bestF},
		}
		res, err := optimize.Minimize(prob, make([]float64, dim), settings, nm)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if res == nil {
				return nil, err
			}
		}
		if res == nil || !(res.F < bestF) {
			stale++
			continue
		}
		gain := bestF - res.F
		copy(base, toX(res.X, b))
		bestF = res.F
		if gain < restartGain*math.Max(1, math.Abs(bestF)) {
			stale++
		} else {
			stale = 0
		}
	}
	return base, nil
}

// recorder stops the optimizer when ctx ends and reports progress.
type recorder struct {
	ctx    context.Context
	report func(int)
	iter   *int
	evals  int
}

func (r *recorder) Init() error { return nil }

func (r *recorder) Record(_ *optimize.Location, op optimize.Operation, _ *optimize.Stats) error {
	switch op {
	case optimize.MajorIteration:
		*r.iter++
		if *r.iter%progressEvery == 0 {
			r.report(*r.iter)
		}
	case optimize.FuncEvaluation:
		r.evals++
		if r.evals%32 == 0 {
			return r.ctx.Err()
		}
	}
	return nil
}
