package arima

import (
	"context"
	"math"

	"gonum.org/v1/gonum/diff/fd"
	"gonum.org/v1/gonum/optimize"
)

// recorder forwards optimizer iterations to progress and stops on context cancellation.
type recorder struct {
	ctx    context.Context
	report func(int)
}

func (recorder) Init() error { return nil }

func (r recorder) Record(_ *optimize.Location, op optimize.Operation, st *optimize.Stats) error {
	if err := r.ctx.Err(); err != nil {
		return err
	}
	if op == optimize.MajorIteration && r.report != nil {
		r.report(st.MajorIterations)
	}
	return nil
}

// minimize runs BFGS with central-difference gradients from x0. It returns the best point
// found; a line search that cannot improve further counts as convergence. Once ctx ends, f is
// not evaluated again: the optimizer sees +Inf until its recorder stops it, so that a
// cancelled fit does not finish the gradient under way (2 evaluations per coefficient, each a
// pass of the Kalman filter over the series).
func minimize(ctx context.Context, f func([]float64) float64, x0 []float64, maxIter int, report func(int)) ([]float64, float64, error) {
	if len(x0) == 0 {
		return x0, f(x0), nil
	}
	settings := &fd.Settings{Formula: fd.Central, Step: 1e-5}
	live := func(x []float64) float64 {
		if ctx.Err() != nil {
			return math.Inf(1)
		}
		return f(x)
	}
	p := optimize.Problem{
		Func: live,
		Grad: func(grad, x []float64) { fd.Gradient(grad, live, x, settings) },
	}
	s := &optimize.Settings{
		GradientThreshold: 1e-7,
		MajorIterations:   maxIter,
		Converger:         &optimize.FunctionConverge{Absolute: 1e-11, Relative: 1e-11, Iterations: 4},
		Recorder:          recorder{ctx: ctx, report: report},
	}
	res, err := optimize.Minimize(p, x0, s, &optimize.BFGS{})
	if cerr := ctx.Err(); cerr != nil {
		return nil, 0, cerr
	}
	if res == nil {
		return x0, f(x0), err
	}
	x := res.X
	fx := res.F
	for _, v := range x {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return x0, f(x0), err
		}
	}
	if f0 := f(x0); !(fx <= f0) {
		return x0, f0, err
	}
	return x, fx, nil
}
