package forecast

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
)

// TestAutoCombinesMembers checks what auto forecasts: the mean of automatic ETS, ARIMA and
// Theta fitted on the same series, with each interval the envelope of theirs, at any horizon
// and level.
func TestAutoCombinesMembers(t *testing.T) {
	y := benchSeries(60)
	spec := Spec{Method: MethodAuto, SeasonLength: 12}
	auto := fitSpec(t, y, spec)
	var names []string
	var members []Result
	levels := []float64{50, 80, 95, 99.5}
	const h = 30
	for _, method := range []string{MethodETS, MethodARIMA, MethodTheta} {
		m := fitSpec(t, y, Spec{Method: method, SeasonLength: 12})
		names = append(names, m.Summary().Method)
		members = append(members, forecastOf(t, m, h, levels...))
	}
	if got, want := auto.Summary().Method, "auto("+strings.Join(names, "+")+")"; got != want {
		t.Fatalf("auto fitted %q, want %q", got, want)
	}
	got := forecastOf(t, auto, h, levels...)
	for i := range h {
		mean := (members[0].Point[i] + members[1].Point[i] + members[2].Point[i]) / 3
		if math.Abs(got.Point[i]-mean) > 1e-9*math.Abs(mean) {
			t.Errorf("point[%d] = %v, want the members' mean %v", i, got.Point[i], mean)
		}
		for _, l := range levels {
			k := LevelKey(l)
			lo, hi := math.Inf(1), math.Inf(-1)
			for _, r := range members {
				lo, hi = math.Min(lo, r.Intervals[k].Lower[i]), math.Max(hi, r.Intervals[k].Upper[i])
			}
			if g := got.Intervals[k]; g.Lower[i] != lo || g.Upper[i] != hi {
				t.Errorf("%s%% interval at step %d = [%v, %v], want the members' envelope [%v, %v]", k, i, g.Lower[i], g.Upper[i], lo, hi)
			}
		}
	}
	s := auto.Summary()
	if s.N != len(y) || !math.IsNaN(s.AICc) || !math.IsNaN(s.Sigma2) || s.Params["ets.alpha"] == 0 || s.Params["theta.drift"] == 0 {
		t.Errorf("summary %+v: want n = %d, no criteria, and the members' parameters by family", s, len(y))
	}
}

func TestAutoTooShortForTwoMembers(t *testing.T) {
	// Only ARIMA fits fewer than 7 observations: a mean of five points is no better than naive.
	m := fitSpec(t, []float64{3, 1, 4, 1, 5}, Spec{Method: MethodAuto})
	if got := m.Summary().Method; got != "Naive" {
		t.Errorf("auto on 5 observations fitted %q, want Naive", got)
	}
}

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

func TestAutoDecodeRejects(t *testing.T) {
	member := func(method string) string {
		b, err := Encode(fitSpec(t, benchSeries(40), Spec{Method: method, SeasonLength: 12}))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	ets, theta := member(MethodETS), member(MethodTheta)
	auto := member(MethodAuto)
	for name, in := range map[string]string{
		"one member":    `{"v":1,"kind":"auto","model":{"members":[` + ets + `]}}`,
		"no members":    `{"v":1,"kind":"auto","model":{}}`,
		"bad member":    `{"v":1,"kind":"auto","model":{"members":[` + ets + `,{"v":1,"kind":"ets","model":{}}]}}`,
		"nested":        `{"v":1,"kind":"auto","model":{"members":[` + ets + `,` + auto + `]}}`,
		"not an object": `{"v":1,"kind":"auto","model":[` + ets + `,` + theta + `]}`,
	} {
		if m, err := Decode([]byte(in)); !errors.Is(err, ErrBadEncoding) {
			t.Errorf("%s: Decode = %v, %v; want ErrBadEncoding", name, m, err)
		}
	}
	// Two valid members do decode, and forecast as the combination that was stored.
	m, err := Decode([]byte(auto))
	if err != nil {
		t.Fatal(err)
	}
	assertRoundTrip(t, m, 40, 80, 95)
}
