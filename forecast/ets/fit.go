package ets

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"

	"gonum.org/v1/gonum/optimize"
)

// Options control Fit.
type Options struct {
	// Period is the season length; 1 (or less) means non-seasonal.
	Period int
	// AllowMultiplicativeTrend lets "Z" try multiplicative trends, which R excludes by default.
	AllowMultiplicativeTrend bool
	// Progress, when set, is called as candidates are fitted, at most every 50 optimizer
	// iterations; never by two goroutines at once.
	Progress func(Progress)
	// Workers is how many candidates are fitted at once; 0 means GOMAXPROCS. The result does
	// not depend on it.
	Workers int

	crit criterion // what the estimates minimize; the zero value is R's default, likelihood
}

// criterion is what estimation minimizes (R's opt.crit).
type criterion int

const (
	likelihood criterion = iota // -2·log-likelihood up to constants ("lik")
	mse                         // mean squared one-step error ("mse"), which ses() uses
)

// Progress reports how far a fit has got.
type Progress struct {
	Candidate  int // how many candidate models have been started (1-based)
	Candidates int // how many models are tried
	Iteration  int // optimizer iterations so far, over all candidates
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
	models, errs := fitCandidates(ctx, y, cands, period, opt)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var best *Model
	var lastErr error
	for i, mdl := range models {
		if errs[i] != nil {
			lastErr = errs[i]
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

// fitCandidates estimates every candidate, opt.Workers (default GOMAXPROCS) at a time. Each
// estimate is independent of the others, so the results do not depend on the number of
// workers. Progress counts the candidates started and the optimizer iterations of all of them,
// so it only moves forward.
func fitCandidates(ctx context.Context, y []float64, cands []Spec, period int, opt Options) ([]*Model, []error) {
	models := make([]*Model, len(cands))
	errs := make([]error, len(cands))
	var mu sync.Mutex // serializes progress reports
	started, iterations := 0, 0
	var next atomic.Int64
	work := func() {
		for {
			i := int(next.Add(1)) - 1
			if i >= len(cands) || ctx.Err() != nil {
				return
			}
			report := func(int) {}
			if opt.Progress != nil {
				// Reports are checked against ctx under the lock: a fit cancelled from a
				// progress report (or anywhere) reports nothing after, whichever worker
				// was about to.
				func() {
					mu.Lock()
					defer mu.Unlock() // a report that panics leaves the lock to the other workers
					started++
					if ctx.Err() == nil {
						opt.Progress(Progress{Candidate: started, Candidates: len(cands)})
					}
				}()
				report = func(int) { // every progressEvery iterations of this candidate
					mu.Lock()
					defer mu.Unlock()
					iterations += progressEvery
					if ctx.Err() == nil {
						opt.Progress(Progress{Candidate: started, Candidates: len(cands), Iteration: iterations})
					}
				}
			}
			c := setup{spec: cands[i], m: 1}
			if cands[i].Season != None {
				c.m = period
			}
			models[i], errs[i] = c.estimate(ctx, y, opt.crit, report)
		}
	}
	workers := opt.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	// A panic in a worker (an engine bug, or the caller's progress callback) is raised again in
	// the caller's goroutine, where its recover (a processor's) can catch it: left in the worker
	// it would end the process. Either way it is raised once every worker has stopped, so that
	// none goes on fitting, or reporting progress, after Fit has returned.
	var panicked atomic.Pointer[string]
	var wg sync.WaitGroup
	for range min(workers, len(cands)) - 1 {
		wg.Go(func() {
			defer func() {
				if v := recover(); v != nil {
					msg := fmt.Sprintf("ets: a candidate's fit panicked: %v\n%s", v, debug.Stack())
					panicked.CompareAndSwap(nil, &msg)
					next.Store(int64(len(cands))) // the other workers stop after their candidate
				}
			}()
			work()
		})
	}
	func() {
		defer func() {
			if v := recover(); v != nil { // in this goroutine: the others stop and are waited for first
				next.Store(int64(len(cands)))
				wg.Wait()
				panic(v)
			}
		}()
		work()
	}()
	wg.Wait()
	if msg := panicked.Load(); msg != nil {
		panic(*msg)
	}
	return models, errs
}

// errNotEstimable marks a candidate with too many parameters for the series.
var errNotEstimable = errors.New("more parameters than the series supports")

// estimate fits one model by Nelder–Mead over the smoothing parameters and initial states
// jointly, starting from R's initial values.
func (c setup) estimate(ctx context.Context, y []float64, crit criterion, report func(int)) (*Model, error) {
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

	obj := c.objective(y, nsmooth, crit)
	if math.IsInf(obj(start), 1) {
		return nil, fmt.Errorf("%w: %s: starting values are not admissible", ErrNoModel, c.spec)
	}
	x, err := minimize(ctx, obj, start, report)
	if err != nil {
		return nil, err
	}
	return c.finish(y, c.unpack(x), x[nsmooth:])
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

// objective is R's criterion: -2·log-likelihood (up to constants) floored at -1e10 for perfect
// fits, or the mean squared one-step error, and +Inf outside the parameter region or when
// multiplicative seasonal states turn negative. The mean squared error is for additive errors
// only (the errors are then the one-step errors).
func (c setup) objective(y []float64, nsmooth int, crit criterion) func([]float64) float64 {
	var st state
	var buf rootBuf
	var resid []float64
	if crit == mse {
		resid = make([]float64, len(y))
	}
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
		lik, _, ok := c.run(y, full, p, &st, resid)
		switch {
		case !ok || math.IsNaN(lik) || math.IsInf(lik, 1):
			return math.Inf(1)
		case crit == mse:
			return runningMeanSquare(resid)
		case lik < -1e10:
			return -1e10
		}
		return lik
	}
}

// runningMeanSquare is the mean of e² updated one term at a time, as R's etscalc accumulates
// its one-step MSE (the rounding, and so where the optimizer stops, follows R's).
func runningMeanSquare(e []float64) float64 {
	var m float64
	for i, v := range e {
		k := float64(i + 1)
		m = (float64(m*(k-1)) + float64(v*v)) / k // the conversions keep Go from fusing, as R's x86 build does not
	}
	return m
}

// R's settings for the Nelder–Mead search of ets(): at most 2000 evaluations, relative
// tolerance √ε.
const maxEval = 2000

var relTol = math.Sqrt(0x1p-52)

// minimize runs R's Nelder–Mead (see rNelderMead) from start in the model's own coordinates,
// as ets() does: the same start, simplex and stopping rule give the same estimates.
func minimize(ctx context.Context, f func([]float64) float64, start []float64, report func(int)) ([]float64, error) {
	iterations := 0
	settings := &optimize.Settings{
		Converger: optimize.NeverTerminate{},
		Recorder:  &recorder{ctx: ctx, report: report, iter: &iterations},
	}
	res, err := optimize.Minimize(optimize.Problem{Func: f}, start, settings, &rNelderMead{MaxEval: maxEval, RelTol: relTol})
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	return res.X, nil
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
