package ets

import (
	"errors"
	"math"

	"gonum.org/v1/gonum/optimize"
)

// rNelderMead is the Nelder–Mead variant of R's optim() (Nash 1990, Compact Numerical Methods,
// algorithm 19) as a gonum optimize.Method. R's ets() runs it with reflection 1, contraction
// 0.5, expansion 2, relative tolerance √ε and at most 2000 evaluations. It differs from gonum's
// NelderMead in the initial simplex (one step of a tenth of the largest |x₀ᵢ| along each
// axis), in how it contracts, and in stopping when the spread of values across the simplex is
// below the tolerance scaled by |f(x₀)|. Running R's search rather than just any good one
// makes a fit stop where R's does, so estimates reproduce R's and not only its optimum.
type rNelderMead struct {
	MaxEval int     // evaluations after which the search stops (R's maxit)
	RelTol  float64 // relative tolerance on the spread of the simplex values (R's reltol)

	status optimize.Status
	err    error
}

// bigValue stands in for non-finite values of the objective, as in R.
const bigValue = 1e35

func (*rNelderMead) Init(dim, tasks int) int { return 1 }

// Uses needs only function values.
func (*rNelderMead) Uses(optimize.Available) (optimize.Available, error) {
	return optimize.Available{}, nil
}

// Status is MethodConverge when the simplex values agree to the tolerance (or a shrink no
// longer reduces the simplex), FunctionEvaluationLimit when the budget ran out, and Failure
// with an error when the start is not finite or its value is not.
func (nm *rNelderMead) Status() (optimize.Status, error) { return nm.status, nm.err }

// Run searches from tasks[0]'s location, sending one evaluation at a time and the best vertex
// as a major iteration at the start of every iteration (so Minimize's result is R's).
func (nm *rNelderMead) Run(operation chan<- optimize.Task, result <-chan optimize.Task, tasks []optimize.Task) {
	ch := taskChannel{op: operation, res: result, task: tasks[0]}
	if nm.search(&ch, tasks[0].Location) {
		ch.task.Op = optimize.MethodDone
		operation <- ch.task
		<-result // PostIteration
	}
	for range result {
	}
	close(operation)
}

// taskChannel runs one task at a time through Minimize's channels.
type taskChannel struct {
	op   chan<- optimize.Task
	res  <-chan optimize.Task
	task optimize.Task
}

// do runs op at loc and reports whether the optimization goes on.
func (c *taskChannel) do(op optimize.Operation, loc *optimize.Location) bool {
	c.task.Op, c.task.Location = op, loc
	c.op <- c.task
	return (<-c.res).Op != optimize.PostIteration
}

// search runs the algorithm and sets the status; false means Minimize stopped it.
func (nm *rNelderMead) search(ch *taskChannel, start *optimize.Location) bool {
	n := len(start.X)
	for _, v := range start.X {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			nm.status, nm.err = optimize.Failure, errors.New("nelder-mead: the start is not finite")
			return true
		}
	}
	loc := &optimize.Location{X: make([]float64, n)}
	eval := func(x []float64) (float64, bool) {
		copy(loc.X, x)
		if !ch.do(optimize.FuncEvaluation, loc) {
			return 0, false
		}
		if math.IsNaN(loc.F) || math.IsInf(loc.F, 0) {
			return bigValue, true
		}
		return loc.F, true
	}
	x0 := append([]float64(nil), start.X...)
	f0, ok := eval(x0)
	if !ok {
		return false
	}
	if f0 == bigValue {
		nm.status, nm.err = optimize.Failure, errors.New("nelder-mead: the objective cannot be evaluated at the start")
		return true
	}
	evals := 1
	tol := nm.RelTol * (math.Abs(f0) + nm.RelTol)

	// The simplex: vertex 0 is x₀; vertex j moves coordinate j-1 by the step, enlarged tenfold
	// until it changes the coordinate's value.
	verts := make([][]float64, n+1)
	vals := make([]float64, n+1)
	verts[0], vals[0] = x0, f0
	step := 0.0
	for _, v := range x0 {
		step = math.Max(step, 0.1*math.Abs(v))
	}
	if step == 0 {
		step = 0.1
	}
	size := 0.0
	for j := 1; j <= n; j++ {
		v := append([]float64(nil), x0...)
		try := step
		for v[j-1] == x0[j-1] {
			v[j-1] = x0[j-1] + try
			try *= 10
		}
		size += try
		verts[j] = v
	}
	oldSize := size

	best := 0
	centroid := make([]float64, n)
	trial := make([]float64, n)
	reflected := make([]float64, n)
	recompute := true // the values of every vertex but the best are stale
	// As in R, the budget is checked after each step, so the answer is the best vertex
	// before the last step.
	for first := true; first || evals <= nm.MaxEval; first = false {
		if recompute {
			for j := range verts {
				if j == best {
					continue
				}
				f, ok := eval(verts[j])
				if !ok {
					return false
				}
				evals++
				vals[j] = f
			}
			recompute = false
		}
		// Lowest and highest vertex; ties keep the earlier best and the first highest.
		lo, hi := vals[best], vals[best]
		worst := best
		for j, f := range vals {
			if j == best {
				continue
			}
			if f < lo {
				best, lo = j, f
			}
			if f > hi {
				worst, hi = j, f
			}
		}
		loc.F = lo
		copy(loc.X, verts[best])
		if !ch.do(optimize.MajorIteration, loc) {
			return false
		}
		if hi <= lo+tol {
			nm.status = optimize.MethodConverge
			return true
		}

		// Centroid of all vertices but the worst.
		for i := range centroid {
			s := -verts[worst][i]
			for _, v := range verts {
				s += v[i]
			}
			centroid[i] = s / float64(n)
		}
		for i := range trial {
			trial[i] = 2*centroid[i] - verts[worst][i] // reflection, coefficient 1
		}
		fr, ok := eval(trial)
		if !ok {
			return false
		}
		evals++
		if fr < lo {
			// Try expanding twice as far; keep whichever of the two is lower.
			copy(reflected, trial)
			for i := range trial {
				trial[i] = 2*reflected[i] - centroid[i]
			}
			fe, ok := eval(trial)
			if !ok {
				return false
			}
			evals++
			if fe < fr {
				copy(verts[worst], trial)
				vals[worst] = fe
			} else {
				copy(verts[worst], reflected)
				vals[worst] = fr
			}
			continue
		}
		if fr < hi {
			copy(verts[worst], trial)
			vals[worst] = fr
		}
		// Contract the worst vertex halfway towards the centroid.
		for i := range trial {
			trial[i] = 0.5*verts[worst][i] + 0.5*centroid[i]
		}
		fc, ok := eval(trial)
		if !ok {
			return false
		}
		evals++
		if fc < vals[worst] {
			copy(verts[worst], trial)
			vals[worst] = fc
			continue
		}
		if fr < hi {
			continue
		}
		// Shrink every vertex halfway towards the best one, unless that no longer makes the
		// simplex smaller.
		size = 0
		for j, v := range verts {
			if j == best {
				continue
			}
			for i := range v {
				v[i] = 0.5*(v[i]-verts[best][i]) + verts[best][i]
				size += math.Abs(v[i] - verts[best][i])
			}
		}
		if size >= oldSize {
			nm.status = optimize.MethodConverge // R's fail code 10: the simplex is degenerate
			return true
		}
		oldSize = size
		recompute = true
	}
	nm.status = optimize.FunctionEvaluationLimit
	return true
}
