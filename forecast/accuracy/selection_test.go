package accuracy

import (
	"context"
	"math"
	"path/filepath"
	"testing"

	"gonum.org/v1/gonum/stat/distuv"

	"github.com/forecastd/forecastd/forecast"
	"github.com/forecastd/forecastd/forecast/internal/rref"
)

// TestIntervalChoiceOnFixtures records how auto's intervals were chosen without looking at the
// benchmark: on the fixtures' held-out parts (the last h values of each series of
// testdata/r_forecast_reference.json), the envelope of the members' intervals is the candidate
// closest to the nominal coverage, against the mean of the members' bounds, the equal-weight
// mixture of their normal predictive distributions, and a width scaled by the series' own error
// on its last season (one rolling origin). Every candidate is far too narrow there, the
// envelope least.
func TestIntervalChoiceOnFixtures(t *testing.T) {
	if testing.Short() {
		t.Skip("fits every fixture")
	}
	var series []Series
	for _, f := range rref.Load[fixture](t) {
		series = append(series, f.heldOut())
	}
	checkIntervalChoice(t, series, "envelope")
}

// intervalRules are the candidate ways of combining the members' intervals.
var intervalRules = []string{"envelope", "mean of bounds", "mixture", "own-error scaled"}

// checkIntervalChoice scores every rule on the series' held-out parts and fails unless want is
// the closest to nominal coverage (the sum of the distances at 80% and 95%).
func checkIntervalChoice(t *testing.T, series []Series, want string) {
	t.Helper()
	scores := map[string]*Score{"auto": {Name: "auto"}}
	for _, r := range intervalRules {
		scores[r] = &Score{Name: r}
	}
	for _, s := range series {
		members := fitMembers(t, s.Train, s.Frequency, s.Horizon)
		auto, err := forecast.Fit(context.Background(), s.Train, forecast.Spec{Method: forecast.MethodAuto, SeasonLength: s.Frequency}, nil)
		if err != nil {
			t.Fatal(err)
		}
		combined, err := auto.Forecast(s.Horizon, Levels)
		if err != nil {
			t.Fatal(err)
		}
		scores["envelope"].Add(s, envelope(members))
		scores["mean of bounds"].Add(s, meanOfBounds(members))
		scores["mixture"].Add(s, mixture(members))
		scores["own-error scaled"].Add(s, ownErrorScaled(t, s.Train, s.Frequency, s.Horizon, members))
		scores["auto"].Add(s, combined)
	}
	distance := func(sc *Score) float64 { return math.Abs(sc.Coverage(80)-80) + math.Abs(sc.Coverage(95)-95) }
	for _, r := range intervalRules {
		sc := scores[r]
		t.Logf("%-16s 80%%: %5.1f%%  95%%: %5.1f%%  (MASE %.4f)", r, sc.Coverage(80), sc.Coverage(95), sc.MeanMASE())
		if r != want && distance(sc) < distance(scores[want]) {
			t.Errorf("%s (%.1f%%, %.1f%%) is closer to nominal than %s", r, sc.Coverage(80), sc.Coverage(95), want)
		}
	}
	// auto itself forecasts with the chosen rule.
	if a, w := scores["auto"], scores[want]; a.Coverage(80) != w.Coverage(80) || a.Coverage(95) != w.Coverage(95) {
		t.Errorf("auto covers %.1f%% and %.1f%%, %s %.1f%% and %.1f%%: auto does not use it", a.Coverage(80), a.Coverage(95), want, w.Coverage(80), w.Coverage(95))
	}
}

func envelope(members []forecast.Result) forecast.Result {
	return combine(members, func(l float64, i int) (lo, hi float64) {
		lo, hi = math.Inf(1), math.Inf(-1)
		for _, m := range members {
			iv := m.Intervals[forecast.LevelKey(l)]
			lo, hi = math.Min(lo, iv.Lower[i]), math.Max(hi, iv.Upper[i])
		}
		return lo, hi
	})
}

// TestIntervalChoiceOnValidation makes the choice on a validation set of 34 other public series
// (testdata/accuracy/validation.json: AER, tseries, strucchange), apart from the benchmark.
func TestIntervalChoiceOnValidation(t *testing.T) {
	if testing.Short() {
		t.Skip("fits every validation series")
	}
	v, err := Load(filepath.Join("..", "testdata", "accuracy", "validation.json"))
	if err != nil {
		t.Fatal(err)
	}
	checkIntervalChoice(t, v.Series, "envelope")
}

// fitMembers forecasts h steps of y with each of auto's members.
func fitMembers(t *testing.T, y []float64, m, h int) []forecast.Result {
	t.Helper()
	var out []forecast.Result
	for _, method := range []string{forecast.MethodETS, forecast.MethodARIMA, forecast.MethodTheta} {
		mdl, err := forecast.Fit(context.Background(), y, forecast.Spec{Method: method, SeasonLength: m}, nil)
		if err != nil {
			t.Fatal(err)
		}
		r, err := mdl.Forecast(h, Levels)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// combine builds a Result with the members' mean point and bounds from bound(level, step).
func combine(members []forecast.Result, bound func(level float64, i int) (lo, hi float64)) forecast.Result {
	h := len(members[0].Point)
	r := forecast.Result{Point: make([]float64, h), Intervals: map[string]forecast.Interval{}}
	for _, m := range members {
		for i, p := range m.Point {
			r.Point[i] += p / float64(len(members))
		}
	}
	for _, l := range Levels {
		iv := forecast.Interval{Lower: make([]float64, h), Upper: make([]float64, h)}
		for i := range h {
			iv.Lower[i], iv.Upper[i] = bound(l, i)
		}
		r.Intervals[forecast.LevelKey(l)] = iv
	}
	return r
}

func meanOfBounds(members []forecast.Result) forecast.Result {
	return combine(members, func(l float64, i int) (lo, hi float64) {
		for _, m := range members {
			iv := m.Intervals[forecast.LevelKey(l)]
			lo += iv.Lower[i] / float64(len(members))
			hi += iv.Upper[i] / float64(len(members))
		}
		return lo, hi
	})
}

// normals reads each member's interval at level as a normal distribution: centre and sd.
func normals(members []forecast.Result, l float64, i int) (mu, sd []float64) {
	z := distuv.UnitNormal.Quantile(0.5 + l/200)
	for _, m := range members {
		iv := m.Intervals[forecast.LevelKey(l)]
		mu = append(mu, (iv.Lower[i]+iv.Upper[i])/2)
		sd = append(sd, math.Max((iv.Upper[i]-iv.Lower[i])/(2*z), 1e-300))
	}
	return mu, sd
}

func mixture(members []forecast.Result) forecast.Result {
	return combine(members, func(l float64, i int) (lo, hi float64) {
		mu, sd := normals(members, l, i)
		quantile := func(p float64) float64 {
			a, b := math.Inf(1), math.Inf(-1) // the mixture's quantile lies between the members'
			for j := range mu {
				q := distuv.Normal{Mu: mu[j], Sigma: sd[j]}.Quantile(p)
				a, b = math.Min(a, q), math.Max(b, q)
			}
			for range 100 {
				mid, cdf := (a+b)/2, 0.0
				for j := range mu {
					cdf += distuv.Normal{Mu: mu[j], Sigma: sd[j]}.CDF(mid) / float64(len(mu))
				}
				if cdf < p {
					a = mid
				} else {
					b = mid
				}
			}
			return (a + b) / 2
		}
		return quantile(0.5 - l/200), quantile(0.5 + l/200)
	})
}

// ownErrorScaled scales the members' mean standard error by the root mean square of the
// combination's standardised errors on the series' last season (at least 4 values), forecast
// from the rest; without enough data it is the mean of bounds.
func ownErrorScaled(t *testing.T, y []float64, m, h int, members []forecast.Result) forecast.Result {
	n, k := len(y), max(m, 4)
	if n < 5*k || n-k < 2*m+10 {
		return meanOfBounds(members)
	}
	past := meanOfBounds(fitMembers(t, y[:n-k], m, k))
	var ss float64
	for i := range k {
		_, sd := normals([]forecast.Result{past}, 95, i)
		e := (y[n-k+i] - past.Point[i]) / sd[0]
		ss += e * e
	}
	c := math.Sqrt(ss / float64(k))
	now := meanOfBounds(members)
	return combine(members, func(l float64, i int) (lo, hi float64) {
		_, sd := normals([]forecast.Result{now}, 95, i)
		w := distuv.UnitNormal.Quantile(0.5+l/200) * c * sd[0]
		return now.Point[i] - w, now.Point[i] + w
	})
}
