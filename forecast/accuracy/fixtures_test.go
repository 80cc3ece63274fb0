package accuracy

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/forecastd/forecastd/forecast"
	"github.com/forecastd/forecastd/forecast/internal/rref"
)

// fixture is a series of the R reference fixtures; only the series is needed here.
type fixture struct{ rref.Series }

// heldOut is the fixture with its last h values held out.
func (f fixture) heldOut() Series {
	n := len(f.Values)
	return Series{Name: f.Name, Frequency: f.Period, Horizon: f.H, Train: f.Values[:n-f.H], Test: f.Values[n-f.H:]}
}

// rHoldout is R's ets() fitted on a reference series without its last h observations
// (forecast/testdata/r_ets_holdout.json, made by forecast/testdata/r_ets_holdout.R with
// forecast 8.20).
type rHoldout struct {
	Name   string    `json:"name"`
	Method string    `json:"method"`
	Mean   []float64 `json:"mean"`
}

// TestAutoAccuracyVersusETS checks the promise of method auto on the fixtures: on data it has
// not seen, it forecasts at least as accurately as R's ets() alone (and as our automatic ETS,
// which matches it). Each fixture's last h observations are held out and everything is fitted on
// the rest; the score is the mean MASE over the fixtures.
func TestAutoAccuracyVersusETS(t *testing.T) {
	if testing.Short() {
		t.Skip("fits every fixture twice")
	}
	raw, err := os.ReadFile(filepath.Join("..", "testdata", "r_ets_holdout.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rets []rHoldout
	if err := json.Unmarshal(raw, &rets); err != nil {
		t.Fatal(err)
	}
	rByName := map[string]rHoldout{}
	for _, r := range rets {
		rByName[r.Name] = r
	}
	auto, ets, sumR := &Score{}, &Score{}, 0.0
	for _, f := range rref.Load[fixture](t) {
		s := f.heldOut()
		score := func(method string, sc *Score) string {
			m, err := forecast.Fit(context.Background(), s.Train, forecast.Spec{Method: method, SeasonLength: s.Frequency}, nil)
			if err != nil {
				t.Fatalf("%s: %s: %v", s.Name, method, err)
			}
			res, err := m.Forecast(s.Horizon, Levels)
			if err != nil {
				t.Fatalf("%s: %s forecast: %v", s.Name, method, err)
			}
			sc.Add(s, res)
			return m.Summary().Method
		}
		aName, eName := score(forecast.MethodAuto, auto), score(forecast.MethodETS, ets)
		rf, ok := rByName[s.Name]
		if !ok || len(rf.Mean) != s.Horizon {
			t.Fatalf("%s: no R hold-out forecast of length %d", s.Name, s.Horizon)
		}
		r := MASE(s.Train, s.Test, rf.Mean, s.Frequency)
		t.Logf("%-20s auto %-50s | ets %-12s | R ets() %-12s %.3f", s.Name, aName, eName, rf.Method, r)
		sumR += r
	}
	meanR := sumR / float64(auto.Series)
	t.Logf("mean MASE over %d fixtures: auto %.4f, our ets %.4f, R ets() %.4f", auto.Series, auto.MeanMASE(), ets.MeanMASE(), meanR)
	if auto.MeanMASE() > meanR {
		t.Errorf("auto is less accurate than R's ets() on held-out data: MASE %.4f > %.4f", auto.MeanMASE(), meanR)
	}
	if auto.MeanMASE() > ets.MeanMASE() {
		t.Errorf("auto is less accurate than ETS alone on held-out data: MASE %.4f > %.4f", auto.MeanMASE(), ets.MeanMASE())
	}
}
