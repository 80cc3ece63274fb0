package forecast

import (
	"context"
	"errors"
	"math"
	"slices"
	"testing"
)

var nan = math.NaN()

func TestPrepare(t *testing.T) {
	tests := []struct {
		name    string
		y       []float64
		period  int
		want    []float64
		missing int
	}{
		{"clean", []float64{1, 2, 3}, 1, []float64{1, 2, 3}, 0},
		{"single", []float64{5}, 12, []float64{5}, 0},
		{"trim both ends", []float64{nan, nan, 1, 2, nan}, 1, []float64{1, 2}, 0},
		{"trim to one", []float64{nan, 7, nan}, 1, []float64{7}, 0},
		{"inner gap", []float64{1, nan, nan, 4}, 1, []float64{1, 2, 3, 4}, 2},
		{"two gaps", []float64{nan, 2, nan, 6, 8, nan, 4, nan}, 1, []float64{2, 4, 6, 8, 6, 4}, 2},
		// Seasonal, but with no more than two seasons observed: linear, as na.interp does.
		{"huge period is linear", []float64{1, nan, 3}, math.MaxInt, []float64{1, 2, 3}, 1},
		{"short seasonal is linear", []float64{0, 10, nan, 30, 0, 10, 20, 30}, 4, []float64{0, 10, 20, 30, 0, 10, 20, 30}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := slices.Clone(tc.y)
			got, missing, err := prepare(in, tc.period)
			if err != nil {
				t.Fatal(err)
			}
			assertClose(t, "prepared", got, tc.want, 1e-12)
			if missing != tc.missing {
				t.Errorf("missing = %d, want %d", missing, tc.missing)
			}
			if !slices.EqualFunc(in, tc.y, func(a, b float64) bool { return a == b || math.IsNaN(a) && math.IsNaN(b) }) {
				t.Errorf("prepare modified its input: %v", in)
			}
			if len(got) > 0 && len(in) > 0 && &got[0] == &in[0] {
				t.Error("prepare returned its input slice; callers' data would be shared")
			}
		})
	}
}

func TestPrepareRejects(t *testing.T) {
	tests := []struct {
		name string
		y    []float64
		want error
	}{
		{"empty", nil, ErrTooFewObservations},
		{"all missing", []float64{nan, nan, nan}, ErrInvalidData},
		{"+Inf", []float64{1, math.Inf(1), 3}, ErrInvalidData},
		{"-Inf", []float64{1, 2, math.Inf(-1)}, ErrInvalidData},
		{"Inf among trimmed", []float64{math.Inf(1), nan, 1, 2}, ErrInvalidData},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := prepare(tc.y, 1); !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

// TestPrepareSeasonal fills a gap over a seasonal peak. The series is a trend plus a pure
// seasonal wave, so the seasonal method recovers it exactly, where a straight line cuts the peak.
func TestPrepareSeasonal(t *testing.T) {
	const m, n = 12, 60
	truth := make([]float64, n)
	for i := range truth {
		truth[i] = 100 + 0.5*float64(i) + 10*math.Sin(2*math.Pi*float64(i)/m) + 4*math.Cos(4*math.Pi*float64(i)/m)
	}
	y := slices.Clone(truth)
	gap := []int{25, 26, 27, 28, 40}
	for _, i := range gap {
		y[i] = nan
	}
	got, missing, err := prepare(y, m)
	if err != nil {
		t.Fatal(err)
	}
	if missing != len(gap) {
		t.Errorf("missing = %d, want %d", missing, len(gap))
	}
	assertClose(t, "seasonal fill", got, truth, 1e-9)

	linear := slices.Clone(y)
	interpolateLinear(linear)
	if math.Abs(linear[26]-truth[26]) < 1 {
		t.Fatalf("test series too easy: linear fill %v is already close to %v", linear[26], truth[26])
	}
}

// TestPrepareSeasonalStaysInRange covers fills the regression cannot pin down (a seasonal phase
// never observed; a spike next to the gap): every fill stays within the guard range na.interp
// enforces, half the observed range beyond it.
func TestPrepareSeasonalStaysInRange(t *testing.T) {
	phase := make([]float64, 40)
	for i := range phase {
		phase[i] = float64(i % 4)
		if i%4 == 1 {
			phase[i] = nan
		}
	}
	spike := make([]float64, 48)
	for i := range spike {
		spike[i] = float64(i % 4)
	}
	spike[20], spike[21], spike[22] = 1000, nan, nan
	for name, y := range map[string][]float64{"unobserved phase": phase, "spike": spike} {
		t.Run(name, func(t *testing.T) {
			got, missing, err := prepare(y, 4)
			if err != nil || missing == 0 {
				t.Fatalf("missing=%d err=%v", missing, err)
			}
			var obs []float64
			for _, v := range y {
				if !math.IsNaN(v) {
					obs = append(obs, v)
				}
			}
			lo, hi := slices.Min(obs), slices.Max(obs)
			for i, v := range got {
				if !(v >= lo-(hi-lo)/2 && v <= hi+(hi-lo)/2) {
					t.Errorf("fill[%d] = %v outside [%v, %v] ± half the range", i, v, lo, hi)
				}
			}
		})
	}
}

// Missing values at the end of a series are steps that have passed: the first forecast is for
// the step after the last value supplied, so the model forecasts through the missing tail.
// Missing values at either end count as missing, like inner ones.
func TestForecastsStartAfterTheLastSuppliedValue(t *testing.T) {
	y := []float64{10, 21, 29, 40, nan, nan, nan}
	m, err := Fit(context.Background(), y, Spec{Method: MethodDrift}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s := m.Summary(); s.Missing != 3 || s.N != 4 {
		t.Errorf("summary n=%d missing=%d; want n=4 missing=3", s.N, s.Missing)
	}
	res, err := m.Forecast(2, []float64{80})
	if err != nil {
		t.Fatal(err)
	}
	// Observed steps 1-4 drift by 10 a step; steps 5-7 are missing; steps 8 and 9 are forecast.
	assertClose(t, "point", res.Point, []float64{80, 90}, 1e-9)
	observed, err := Fit(context.Background(), y[:4], Spec{Method: MethodDrift}, nil)
	if err != nil {
		t.Fatal(err)
	}
	through, err := observed.Forecast(5, []float64{80})
	if err != nil {
		t.Fatal(err)
	}
	assertClose(t, "lower 80", res.Intervals["80"].Lower, through.Intervals["80"].Lower[3:], 1e-12)
	assertClose(t, "upper 80", res.Intervals["80"].Upper, through.Intervals["80"].Upper[3:], 1e-12)
	d := assertRoundTrip(t, m, 2, 80)
	if got, _ := d.Forecast(1, nil); len(got.Point) != 1 || math.Abs(got.Point[0]-80) > 1e-9 {
		t.Errorf("decoded model forecasts %v; want [80]", got.Point)
	}

	lead, err := Fit(context.Background(), []float64{nan, nan, 10, nan, 30}, Spec{Method: MethodNaive}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s := lead.Summary(); s.Missing != 3 || s.N != 3 {
		t.Errorf("leading gap: summary n=%d missing=%d; want n=3 missing=3", s.N, s.Missing)
	}
	if got, _ := lead.Forecast(1, nil); math.Abs(got.Point[0]-30) > 1e-12 {
		t.Errorf("leading gap: forecast %v; want [30]", got.Point)
	}
}
