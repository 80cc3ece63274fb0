package forecast

import (
	"context"
	"math"
	"testing"
)

// TestAutoAccuracyVersusETS checks the promise of method auto: on data it has not seen, it
// forecasts at least as accurately as automatic ETS alone (which matches R's ets()). Each
// fixture's last h observations are held out; both are fitted on the rest; the score is MASE
// (MAE scaled by the in-sample seasonal naive MAE), averaged over the fixtures.
func TestAutoAccuracyVersusETS(t *testing.T) {
	if testing.Short() {
		t.Skip("fits every fixture twice")
	}
	var sumAuto, sumETS float64
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
		t.Logf("%-20s auto %-28s MASE %.3f | ets %-16s MASE %.3f", f.Name, aName, a, eName, e)
		sumAuto += a
		sumETS += e
		count++
	}
	meanAuto, meanETS := sumAuto/float64(count), sumETS/float64(count)
	t.Logf("mean MASE over %d fixtures: auto %.4f, ets %.4f", count, meanAuto, meanETS)
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
