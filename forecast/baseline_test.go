package forecast

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
)

func fitSpec(t *testing.T, y []float64, spec Spec) Model {
	t.Helper()
	m, err := Fit(context.Background(), y, spec, nil)
	if err != nil {
		t.Fatalf("Fit(%+v): %v", spec, err)
	}
	return m
}

func forecastOf(t *testing.T, m Model, h int, levels ...float64) Result {
	t.Helper()
	r, err := m.Forecast(h, levels)
	if err != nil {
		t.Fatalf("Forecast(%d, %v): %v", h, levels, err)
	}
	return r
}

// TestBaselinesMatchR checks naive, snaive and rwf(drift=TRUE) against R forecast 8.20.
func TestBaselinesMatchR(t *testing.T) {
	for _, f := range loadRFixtures(t) {
		for _, tc := range []struct {
			method string
			want   rForecast
		}{
			{MethodNaive, f.Naive},
			{MethodSNaive, f.SNaive},
			{MethodDrift, f.Drift},
		} {
			t.Run(f.Name+"/"+tc.method, func(t *testing.T) {
				m := fitSpec(t, f.Values, Spec{Method: tc.method, SeasonLength: f.Period})
				if m.Kind() != kindBaseline {
					t.Errorf("Kind() = %q, want %q", m.Kind(), kindBaseline)
				}
				if s := m.Summary(); s.N != len(f.Values) || s.Missing != 0 {
					t.Errorf("Summary n=%d missing=%d, want n=%d missing=0", s.N, s.Missing, len(f.Values))
				}
				assertResult(t, forecastOf(t, m, f.H, 80, 95), tc.want, 1e-9)
			})
		}
	}
}

// tQuantile4 is the closed-form Student-t quantile with 4 degrees of freedom, for p > 0.5.
func tQuantile4(p float64) float64 {
	a := 4 * p * (1 - p)
	return 2 * math.Sqrt(math.Cos(math.Acos(math.Sqrt(a))/3)/math.Sqrt(a)-1)
}

func TestMeanByHand(t *testing.T) {
	tests := []struct {
		name string
		y    []float64
		mean float64
		sd   float64
		// q(level) is the Student-t quantile with n-1 degrees of freedom, in closed form.
		q func(level float64) float64
	}{
		{"n=2 (Cauchy)", []float64{1, 4}, 2.5, 3 / math.Sqrt2,
			func(l float64) float64 { return math.Tan(math.Pi * l / 200) }},
		{"n=3", []float64{2, 4, 9}, 5, math.Sqrt(13),
			func(l float64) float64 { p := 0.5 + l/200; return (2*p - 1) / math.Sqrt(2*p*(1-p)) }},
		{"n=5", []float64{3, 1, 4, 1, 5}, 2.8, math.Sqrt(3.2),
			func(l float64) float64 { return tQuantile4(0.5 + l/200) }},
		{"constant", []float64{7, 7, 7, 7, 7}, 7, 0,
			func(float64) float64 { return 0 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := fitSpec(t, tc.y, Spec{Method: MethodMean})
			s := m.Summary()
			if s.Method != "Mean" || s.N != len(tc.y) {
				t.Errorf("Summary = %+v", s)
			}
			assertClose(t, "mean param", []float64{s.Params["mean"]}, []float64{tc.mean}, 1e-12)
			assertClose(t, "sigma2", []float64{s.Sigma2}, []float64{tc.sd * tc.sd}, 1e-12)
			const h = 3
			r := forecastOf(t, m, h, 80, 95)
			want := Result{Point: []float64{tc.mean, tc.mean, tc.mean}, Intervals: map[string]Interval{}}
			n := float64(len(tc.y))
			for _, l := range []float64{80, 95} {
				w := tc.q(l) * tc.sd * math.Sqrt(1+1/n)
				iv := Interval{}
				for range h {
					iv.Lower = append(iv.Lower, tc.mean-w)
					iv.Upper = append(iv.Upper, tc.mean+w)
				}
				want.Intervals[LevelKey(l)] = iv
			}
			assertClose(t, "point", r.Point, want.Point, 1e-12)
			for k, iv := range want.Intervals {
				assertClose(t, "lower"+k, r.Intervals[k].Lower, iv.Lower, 1e-9)
				assertClose(t, "upper"+k, r.Intervals[k].Upper, iv.Upper, 1e-9)
			}
		})
	}
}

// TestLagWalkByHand pins the lag-walk formulas on a series small enough to compute on paper.
func TestLagWalkByHand(t *testing.T) {
	y := []float64{1, 3, 2, 6, 5}
	// Differences 2, -1, 4, -1: naive mse = (4+1+16+1)/4 = 5.5. Drift b = 1, centred squares
	// 1+4+9+4 = 18, sigma2 = 6, se(b) = sqrt(6/4), mse = 18/3 = 6.
	z80 := 1.2815515655446004
	tests := []struct {
		method     string
		m          int
		wantMethod string
		point      []float64
		se         []float64
		params     map[string]float64
		sigma2     float64
	}{
		{MethodNaive, 1, "Naive", []float64{5, 5, 5},
			[]float64{math.Sqrt(5.5), math.Sqrt(11), math.Sqrt(16.5)}, map[string]float64{}, 5.5},
		{MethodDrift, 1, "Random walk with drift", []float64{6, 7, 8},
			[]float64{math.Sqrt(6 + 1.5), math.Sqrt(12 + 6), math.Sqrt(18 + 13.5)},
			map[string]float64{"drift": 1, "drift_se": math.Sqrt(1.5)}, 6},
		// m=2: differences 1, 3, 3; mse = 19/3; steps 1, 1, 2 and the season repeats 6, 5, 6.
		{MethodSNaive, 2, "Seasonal naive", []float64{6, 5, 6},
			[]float64{math.Sqrt(19.0 / 3), math.Sqrt(19.0 / 3), math.Sqrt(38.0 / 3)},
			map[string]float64{"season_length": 2}, 19.0 / 3},
	}
	for _, tc := range tests {
		t.Run(tc.method, func(t *testing.T) {
			m := fitSpec(t, y, Spec{Method: tc.method, SeasonLength: tc.m})
			s := m.Summary()
			if s.Method != tc.wantMethod || s.N != len(y) || len(s.Params) != len(tc.params) {
				t.Errorf("Summary = %+v", s)
			}
			for k, v := range tc.params {
				assertClose(t, k, []float64{s.Params[k]}, []float64{v}, 1e-12)
			}
			assertClose(t, "sigma2", []float64{s.Sigma2}, []float64{tc.sigma2}, 1e-12)
			r := forecastOf(t, m, 3, 80)
			assertClose(t, "point", r.Point, tc.point, 1e-12)
			var lo, hi []float64
			for i, p := range tc.point {
				lo = append(lo, p-z80*tc.se[i])
				hi = append(hi, p+z80*tc.se[i])
			}
			assertClose(t, "lower80", r.Intervals["80"].Lower, lo, 1e-12)
			assertClose(t, "upper80", r.Intervals["80"].Upper, hi, 1e-12)
		})
	}
}

func TestSNaiveSeasonOneIsNaive(t *testing.T) {
	y := []float64{4, 8, 3, 9, 1, 7}
	naive := forecastOf(t, fitSpec(t, y, Spec{Method: MethodNaive}), 5, 80, 95)
	for _, m := range []int{0, 1} {
		sn := forecastOf(t, fitSpec(t, y, Spec{Method: MethodSNaive, SeasonLength: m}), 5, 80, 95)
		assertClose(t, "point", sn.Point, naive.Point, 0)
		for k, iv := range naive.Intervals {
			assertClose(t, "lower"+k, sn.Intervals[k].Lower, iv.Lower, 0)
			assertClose(t, "upper"+k, sn.Intervals[k].Upper, iv.Upper, 0)
		}
	}
}

func TestConstantSeries(t *testing.T) {
	y := []float64{3, 3, 3, 3, 3, 3, 3, 3}
	for _, method := range []string{MethodNaive, MethodSNaive, MethodDrift, MethodMean, MethodAuto} {
		t.Run(method, func(t *testing.T) {
			m := fitSpec(t, y, Spec{Method: method, SeasonLength: 2})
			r := forecastOf(t, m, 4, 80, 95)
			for _, v := range append(append([]float64{}, r.Point...), append(r.Intervals["95"].Lower, r.Intervals["95"].Upper...)...) {
				if v != 3 {
					t.Fatalf("constant series forecast %v, want all 3", r)
				}
			}
		})
	}
}

func TestTooFewObservations(t *testing.T) {
	tests := []struct {
		method  string
		m       int
		n       int
		message string
	}{
		{MethodNaive, 1, 1, "naive needs at least 2 observations, got 1"},
		{MethodSNaive, 12, 5, "snaive needs at least m+1 = 13 observations, got 5"},
		{MethodSNaive, 12, 12, "snaive needs at least m+1 = 13 observations, got 12"},
		{MethodDrift, 1, 2, "drift needs at least 3 observations, got 2"},
		{MethodMean, 1, 1, "mean needs at least 2 observations, got 1"},
		{MethodAuto, 12, 1, "naive needs at least 2 observations, got 1"},
		{MethodSNaive, math.MaxInt, 3, "snaive needs at least m+1 = 9223372036854775808 observations, got 3"},
	}
	for _, tc := range tests {
		t.Run(tc.message, func(t *testing.T) {
			y := make([]float64, tc.n)
			_, err := Fit(context.Background(), y, Spec{Method: tc.method, SeasonLength: tc.m}, nil)
			if !errors.Is(err, ErrTooFewObservations) || !strings.Contains(err.Error(), tc.message) {
				t.Fatalf("err = %v, want ErrTooFewObservations with %q", err, tc.message)
			}
		})
	}
	// The minimum itself fits.
	for _, tc := range []struct {
		method string
		m, n   int
	}{{MethodNaive, 1, 2}, {MethodSNaive, 12, 13}, {MethodDrift, 1, 3}, {MethodMean, 1, 2}} {
		y := make([]float64, tc.n)
		for i := range y {
			y[i] = float64(i * i)
		}
		m := fitSpec(t, y, Spec{Method: tc.method, SeasonLength: tc.m})
		forecastOf(t, m, 30, 50, 99)
	}
}

func TestAutoFallsBackToBaselineWhenTooShort(t *testing.T) {
	// Too short for any ETS model (R's ets needs more observations than parameters): auto must
	// still answer, with the baseline that fits the data.
	tests := []struct {
		name string
		y    []float64
		m    int
		want string
	}{
		{"two points", []float64{3, 5}, 1, "Naive"},
		{"huge season", []float64{1, 2}, math.MaxInt, "Naive"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := fitSpec(t, tc.y, Spec{Method: MethodAuto, SeasonLength: tc.m})
			if got := m.Summary().Method; got != tc.want {
				t.Errorf("auto chose %q, want %q", got, tc.want)
			}
		})
	}
}

func TestForecastArgs(t *testing.T) {
	m := fitSpec(t, []float64{1, 2, 4, 3, 5}, Spec{Method: MethodDrift})
	for _, tc := range []struct {
		h      int
		levels []float64
	}{
		{0, nil}, {-1, []float64{80}}, {MaxHorizon + 1, nil}, {math.MaxInt, nil}, {math.MinInt, nil},
		{3, []float64{0}}, {3, []float64{100}}, {3, []float64{80, -5}}, {3, []float64{math.NaN()}},
		{3, []float64{math.Inf(1)}}, {3, []float64{0.8, 101}},
	} {
		if _, err := m.Forecast(tc.h, tc.levels); !errors.Is(err, ErrInvalidSpec) {
			t.Errorf("Forecast(%d, %v) err = %v, want ErrInvalidSpec", tc.h, tc.levels, err)
		}
	}
	r := forecastOf(t, m, 1, 99.5, 50)
	if _, ok := r.Intervals["99.5"]; !ok || len(r.Intervals) != 2 {
		t.Errorf("interval keys %v, want 99.5 and 50", r.Intervals)
	}
	if r := forecastOf(t, m, 2); len(r.Intervals) != 0 || r.Intervals == nil {
		t.Errorf("no levels: intervals %#v, want an empty map", r.Intervals)
	}
	if r := forecastOf(t, m, MaxHorizon, 80); len(r.Point) != MaxHorizon || !allFinite(r.Intervals["80"].Upper) {
		t.Errorf("MaxHorizon forecast has %d points", len(r.Point))
	}
}

func TestHugeValuesErrorInsteadOfInf(t *testing.T) {
	for _, method := range []string{MethodNaive, MethodSNaive, MethodDrift, MethodMean} {
		_, err := Fit(context.Background(), []float64{1e308, -1e308, -1e308, 1e308}, Spec{Method: method, SeasonLength: 2}, nil)
		if !errors.Is(err, ErrInvalidData) {
			t.Errorf("%s: err = %v, want ErrInvalidData", method, err)
		}
	}
	// Fits, but the drift carries the forecast out of range.
	m := fitSpec(t, []float64{0, 1e307, 2e307}, Spec{Method: MethodDrift})
	if _, err := m.Forecast(100, nil); !errors.Is(err, ErrInvalidData) {
		t.Errorf("overflowing forecast err = %v, want ErrInvalidData", err)
	}
}

func TestFitReportsProgressAndCancel(t *testing.T) {
	var got []Progress
	if _, err := Fit(context.Background(), []float64{1, 2, 3}, Spec{Method: MethodNaive}, func(p Progress) { got = append(got, p) }); err != nil {
		t.Fatal(err)
	}
	if len(got) == 0 || got[len(got)-1].Percent != 100 {
		t.Errorf("progress %+v, want a final 100%%", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Fit(ctx, []float64{1, 2, 3}, Spec{Method: MethodNaive}, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled fit err = %v", err)
	}
	if _, err := Fit(context.Background(), []float64{1, 2, 3}, Spec{Method: "prophet"}, nil); !errors.Is(err, ErrInvalidSpec) {
		t.Errorf("unknown method err = %v", err)
	}
}

// TestDriftExactlyZero pins R's quirk: forecast.lagwalk divides the squared residuals by
// k - (drift != 0), so a drift of exactly 0 uses k while lm's sigma2 uses k-1.
func TestDriftExactlyZero(t *testing.T) {
	m := fitSpec(t, []float64{0, 2, 0}, Spec{Method: MethodDrift}) // differences 2, -2
	s := m.Summary()
	assertClose(t, "drift, drift_se, sigma2", []float64{s.Params["drift"], s.Params["drift_se"], s.Sigma2}, []float64{0, 2, 8}, 1e-15)
	r := forecastOf(t, m, 2, 95)
	z := 1.959963984540054
	// se = sqrt(mse·s + (s·drift_se)²) with mse = 8/2.
	assertClose(t, "upper95", r.Intervals["95"].Upper, []float64{z * math.Sqrt(4+4), z * math.Sqrt(8+16)}, 1e-12)
}
