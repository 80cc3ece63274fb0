package forecast

import (
	"context"
	"errors"
	"testing"
)

// TestAutoProgressAndCancel checks that auto reports its progress over the families it compares,
// never backwards and ending at 100%, and that a cancelled context stops the choice.
func TestAutoProgressAndCancel(t *testing.T) {
	y := benchSeries(60)
	var reports []Progress
	fitSpecProgress := func(ctx context.Context, progress ProgressFunc) error {
		_, err := Fit(ctx, y, Spec{Method: MethodAuto, SeasonLength: 12}, progress)
		return err
	}
	if err := fitSpecProgress(context.Background(), func(p Progress) { reports = append(reports, p) }); err != nil {
		t.Fatal(err)
	}
	stages := map[string]bool{}
	last := 0.0
	for _, p := range reports {
		if p.Percent < last || p.Percent > 100 {
			t.Fatalf("progress went from %v%% to %v%%", last, p.Percent)
		}
		last = p.Percent
		stages[p.Stage] = true
	}
	if last != 100 || !stages[MethodETS] || !stages[MethodARIMA] || !stages[MethodTheta] {
		t.Errorf("progress ended at %v%% over stages %v, want 100%% over ets, arima and theta", last, stages)
	}

	// Cancelled while ARIMA fits, after ETS has: the fit stops with the context's error.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	err := fitSpecProgress(ctx, func(p Progress) {
		if p.Stage == MethodARIMA {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled fit: err = %v, want context.Canceled", err)
	}
}
