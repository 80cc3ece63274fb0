package arima

import (
	"context"
	"errors"
	"testing"
)

// A minimization whose context ends evaluates the objective no more, even in the middle of a
// gradient (2 evaluations per coefficient, each a Kalman filter pass for a fit), and returns
// the context's error.
func TestMinimizeEvaluatesNothingOnceCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	calls, afterCancel := 0, 0
	f := func(x []float64) float64 {
		if ctx.Err() != nil {
			afterCancel++
		}
		calls++
		if calls == 3 { // inside the first gradient of 10 coefficients
			cancel()
		}
		s := 0.0
		for i, v := range x {
			s += float64(i+1) * (v - 1) * (v - 1)
		}
		return s
	}
	_, _, err := minimize(ctx, f, make([]float64, 10), 100, nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("minimize: %v; want context.Canceled", err)
	}
	if afterCancel != 0 {
		t.Errorf("%d evaluations after the context ended (of %d); want none", afterCancel, calls)
	}
}
