package ets

import (
	"math"
	"testing"
	"time"

	"gonum.org/v1/gonum/optimize"
)

// TestNelderMeadIsROptim: on two problems the search takes R's steps exactly: R 4.2.2's
// optim(method = "Nelder-Mead") results (parameters printed to 17 digits, evaluation counts,
// convergence code) are reproduced.
func TestNelderMeadIsROptim(t *testing.T) {
	rosenbrock := func(x []float64) float64 {
		return 100*(x[1]-x[0]*x[0])*(x[1]-x[0]*x[0]) + (1-x[0])*(1-x[0])
	}
	walled := func(x []float64) float64 { // infinite beyond x₁ > 0.5, as outside ETS's bounds
		if x[0] > 0.5 {
			return math.Inf(1)
		}
		return (x[0]-0.3)*(x[0]-0.3) + (x[1]+2)*(x[1]+2) + (x[2]-5)*(x[2]-5)
	}
	for _, tc := range []struct {
		name    string
		f       func([]float64) float64
		start   []float64
		maxEval int
		// R: optim(start, f, control = list(maxit = maxEval))
		par    []float64
		value  float64
		evals  int
		status optimize.Status // R's convergence 0 or 1
	}{
		{"rosenbrock", rosenbrock, []float64{-1.2, 1}, 500,
			[]float64{1.0002601387256695, 1.0005059993037650}, 8.8252410967227472e-08, 195, optimize.MethodConverge},
		{"walled, out of budget", walled, []float64{0.1, 1, 1}, 60,
			[]float64{0.31704389574759628, -1.78772290809327083, 4.54469307270234246}, 0.25265645617586729, 62, optimize.FunctionEvaluationLimit},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := optimize.Minimize(optimize.Problem{Func: tc.f}, tc.start,
				&optimize.Settings{Converger: optimize.NeverTerminate{}}, &rNelderMead{MaxEval: tc.maxEval, RelTol: relTol})
			if err != nil {
				t.Fatal(err)
			}
			for i, want := range tc.par {
				if e := relErr(res.X[i], want); e > 1e-15 {
					t.Errorf("x[%d] = %.17g, R %.17g", i, res.X[i], want)
				}
			}
			if e := relErr(res.F, tc.value); e > 1e-14 {
				t.Errorf("f = %.17g, R %.17g", res.F, tc.value)
			}
			if res.Stats.FuncEvaluations != tc.evals || res.Status != tc.status {
				t.Errorf("%d evaluations, status %v; R %d, %v", res.Stats.FuncEvaluations, res.Status, tc.evals, tc.status)
			}
		})
	}
}

// A start that is not finite, or where the objective is not, is an error at once.
func TestNelderMeadRejectsBadStarts(t *testing.T) {
	for _, start := range [][]float64{{math.Inf(1), 1}, {math.NaN(), 1}, {2, 1}} {
		done := make(chan error, 1)
		go func() {
			_, err := optimize.Minimize(optimize.Problem{Func: func(x []float64) float64 {
				if x[0] > 1 {
					return math.Inf(1)
				}
				return x[0]*x[0] + x[1]*x[1]
			}}, start, &optimize.Settings{Converger: optimize.NeverTerminate{}}, &rNelderMead{MaxEval: 100, RelTol: relTol})
			done <- err
		}()
		select {
		case err := <-done:
			if err == nil {
				t.Errorf("start %v: no error", start)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("start %v: no answer in 10 s", start)
		}
	}
}
