package forecast

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// rHoldout is R's ets() fitted on a reference series without its last h observations
// (testdata/r_ets_holdout.json, made by testdata/r_ets_holdout.R with forecast 8.20).
type rHoldout struct {
	Name   string    `json:"name"`
	Method string    `json:"method"`
	Mean   []float64 `json:"mean"`
}

// TestAutoAccuracyVersusETS checks the promise of method auto: on data it has not seen, it
// forecasts at least as accurately as R's ets() alone (and as our automatic ETS, which matches
// it). Each fixture's last h observations are held out and everything is fitted on the rest;
// the score is MASE (MAE scaled by the in-sample seasonal naive MAE), averaged over the fixtures.
func TestAutoAccuracyVersusETS(t *testing.T) {
	if testing.Short() {
		t.Skip("fits every fixture twice")
	}
	raw, err := os.ReadFile(filepath.Join("testdata", "r_ets_holdout.json"))
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
	var sumAuto, sumETS, sumR float64
	count := 0
	for _, f := range loadRFixtures(t) {
		n, h := len(f.Values), f.H
		train, test := f.Values[:n-h], f.Values[n-h:]
		spec := Spec{SeasonLength: f.Period}
		score := func(method string) (float64, string) {
			spec.Method = method
			m, err := Fit(context.Background(), train, spec, nil)
			if err != nil {
				t.Fatalf("%s: %s: %v", f.Name, method, err)
			}
			res, err := m.Forecast(h, nil)
			if err != nil {
				t.Fatalf("%s: %s forecast: %v", f.Name, method, err)
			}
			return mase(train, test, res.Point, f.Period), m.Summary().Method
		}
		a, aName := score(MethodAuto)
		e, eName := score(MethodETS)
		rf, ok := rByName[f.Name]
		if !ok || len(rf.Mean) != h {
			t.Fatalf("%s: no R hold-out forecast of length %d", f.Name, h)
		}
		r := mase(train, test, rf.Mean, f.Period)
		t.Logf("%-20s auto %-40s %.3f | ets %-12s %.3f | R ets() %-12s %.3f", f.Name, aName, a, eName, e, rf.Method, r)
		sumAuto += a
		sumETS += e
		sumR += r
		count++
	}
	meanAuto, meanETS, meanR := sumAuto/float64(count), sumETS/float64(count), sumR/float64(count)
	t.Logf("mean MASE over %d fixtures: auto %.4f, our ets %.4f, R ets() %.4f", count, meanAuto, meanETS, meanR)
	if meanAuto > meanR {
		t.Errorf("auto is less accurate than R's ets() on held-out data: MASE %.4f > %.4f", meanAuto, meanR)
	}
	if meanAuto > meanETS {
		t.Errorf("auto is less accurate than ETS alone on held-out data: MASE %.4f > %.4f", meanAuto, meanETS)
	}
}

func mase(train, test, point []float64, m int) float64 {
	if m < 1 || len(train) <= m {
		m = 1
	}
	var scale float64
	for i := m; i < len(train); i++ {
		scale += math.Abs(train[i] - train[i-m])
	}
	scale /= float64(len(train) - m)
	var mae float64
	for i, v := range test {
		mae += math.Abs(v - point[i])
	}
	return mae / float64(len(test)) / scale
}
