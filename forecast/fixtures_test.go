package forecast

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/forecastd/forecastd/forecast/internal/rref"
)

// rForecast is one R forecast object: point forecasts and 80/95% intervals.
type rForecast struct{ rref.Forecast }

// rFixture is one series of testdata/r_forecast_reference.json, computed with R forecast 8.20.
// The ETS and ARIMA entries are kept raw for the tests that own those models.
type rFixture struct {
	rref.Series
	Naive     rForecast       `json:"naive"`
	SNaive    rForecast       `json:"snaive"`
	Drift     rForecast       `json:"drift"`
	Theta     rForecast       `json:"theta"`
	ETSAuto   json.RawMessage `json:"ets_auto"`
	ETSFixed  json.RawMessage `json:"ets_fixed"`
	ARIMA711  json.RawMessage `json:"arima711"`
	AutoARIMA json.RawMessage `json:"auto_arima"`
}

// loadRFixtures reads the R reference fixtures.
func loadRFixtures(t testing.TB) []rFixture { return rref.Load[rFixture](t) }

// intervals returns the fixture's intervals keyed like Result.Intervals.
func (f rForecast) intervals() map[string]Interval {
	return map[string]Interval{
		"80": {Lower: f.Lower80, Upper: f.Upper80},
		"95": {Lower: f.Lower95, Upper: f.Upper95},
	}
}

// assertClose fails unless got and want have the same length and agree to relative tolerance tol
// (absolute where want is 0).
func assertClose(t *testing.T, what string, got, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d values, want %d", what, len(got), len(want))
	}
	for i := range want {
		scale := math.Abs(want[i])
		if scale == 0 {
			scale = 1
		}
		if d := math.Abs(got[i] - want[i]); !(d <= tol*scale) {
			t.Errorf("%s[%d] = %.15g, want %.15g (diff %.3g)", what, i, got[i], want[i], d)
		}
	}
}

// assertResult compares a Result with an R forecast at levels 80 and 95.
func assertResult(t *testing.T, got Result, want rForecast, tol float64) {
	t.Helper()
	assertClose(t, "point", got.Point, want.Mean, tol)
	for key, iv := range want.intervals() {
		g, ok := got.Intervals[key]
		if !ok {
			t.Fatalf("no %s%% interval in %v", key, got.Intervals)
		}
		assertClose(t, "lower"+key, g.Lower, iv.Lower, tol)
		assertClose(t, "upper"+key, g.Upper, iv.Upper, tol)
	}
}
