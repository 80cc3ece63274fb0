package forecast

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// The engine's errors about its input are explained without the names of their kind and of
// the family that found them, which are the service's, not the client's, words.
func TestExplainSaysTheProblemOnly(t *testing.T) {
	tests := []struct {
		name string
		y    []float64
		spec Spec
		want string
	}{
		{"fixed ARIMA on too short a series", []float64{1, 2, 3, 4, 5}, Spec{Method: MethodARIMA, Options: Options{Order: []int{2, 1, 1}}}, "needs at least"},
		{"mean of one value", []float64{1}, Spec{Method: MethodMean}, "mean needs at least 2 observations, got 1"},
		{"unknown method", []float64{1, 2, 3}, Spec{Method: "prophet"}, `unknown method "prophet"`},
	}
	// As a backtest says it: the window's words first, the engine's after them.
	_, short := Fit(context.Background(), []float64{1, 2, 3, 4, 5}, Spec{Method: MethodARIMA, Options: Options{Order: []int{2, 1, 1}}}, nil)
	windowed := fmt.Errorf("%s, window %d (origin %d): %w", "arima", 1, 5, short)
	if got := Explain(windowed); !strings.HasPrefix(got, "arima, window 1 (origin 5): ") || strings.Contains(got, "too few observations:") || strings.Contains(got, ": arima:") {
		t.Errorf("Explain(%q) = %q; want the window named and the engine's kinds gone", windowed, got)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Fit(context.Background(), tc.y, tc.spec, nil)
			if err == nil {
				t.Fatal("fitted; want an error")
			}
			got := Explain(err)
			if !strings.HasPrefix(got, tc.want) && !strings.Contains(got, tc.want) {
				t.Errorf("Explain(%q) = %q; want it to say %q", err, got, tc.want)
			}
			for _, name := range []string{"too few observations:", "invalid model specification:", "invalid data:", "arima:", "series too short:", "invalid order:"} {
				if strings.Contains(got, name) {
					t.Errorf("Explain(%q) = %q; still names %q", err, got, name)
				}
			}
		})
	}
}
