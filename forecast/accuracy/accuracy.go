// Package accuracy scores forecasts on held-out data: MASE, sMAPE and interval coverage, and
// runs the engine's methods on the benchmark of testdata/accuracy/benchmark.json (R's datasets
// and forecast series with R's own ets, auto.arima and thetaf forecasts) for docs/accuracy.md.
package accuracy

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"strings"

	"github.com/forecastd/forecastd/forecast"
)

// Levels are the interval levels the benchmark holds R's intervals for.
var Levels = []float64{80, 95}

// Benchmark is the file written by forecast/testdata/accuracy/make_benchmark.R.
type Benchmark struct {
	RVersion        string   `json:"r_version"`
	ForecastVersion string   `json:"forecast_version"`
	Series          []Series `json:"series"`
}

// Series is one benchmark series: the training part, the held-out part and R's forecasts of it
// keyed by R function ("ets", "arima", "theta").
type Series struct {
	Name      string               `json:"name"`
	Package   string               `json:"package"`
	Frequency int                  `json:"frequency"`
	Horizon   int                  `json:"horizon"`
	Train     []float64            `json:"train"`
	Test      []float64            `json:"test"`
	R         map[string]RForecast `json:"r"`
}

// RForecast is one of R's forecasts of a held-out part.
type RForecast struct {
	Method    string                       `json:"method"`
	Point     []float64                    `json:"point"`
	Intervals map[string]forecast.Interval `json:"intervals"`
}

// Load reads a benchmark file and checks that every series is complete.
func Load(path string) (Benchmark, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return Benchmark{}, err
	}
	var b Benchmark
	if err := json.Unmarshal(raw, &b); err != nil {
		return Benchmark{}, fmt.Errorf("%s: %w", path, err)
	}
	if len(b.Series) == 0 {
		return Benchmark{}, fmt.Errorf("%s: no series", path)
	}
	for _, s := range b.Series {
		if len(s.Test) != s.Horizon || len(s.Train) <= s.Frequency {
			return Benchmark{}, fmt.Errorf("%s: series %s: %d held out for horizon %d, %d training values for frequency %d",
				path, s.Name, len(s.Test), s.Horizon, len(s.Train), s.Frequency)
		}
		for fn, f := range s.R {
			if err := checkResult(f.Result(), s.Horizon); err != nil {
				return Benchmark{}, fmt.Errorf("%s: series %s: R %s: %w", path, s.Name, fn, err)
			}
		}
	}
	return b, nil
}

// Result is the R forecast as the engine's Result.
func (f RForecast) Result() forecast.Result {
	return forecast.Result{Point: f.Point, Intervals: f.Intervals}
}

func checkResult(r forecast.Result, h int) error {
	if len(r.Point) != h {
		return fmt.Errorf("%d point forecasts, want %d", len(r.Point), h)
	}
	for _, l := range Levels {
		iv, ok := r.Intervals[forecast.LevelKey(l)]
		if !ok || len(iv.Lower) != h || len(iv.Upper) != h {
			return fmt.Errorf("no %v%% interval of length %d", l, h)
		}
	}
	return nil
}

// MASE is the mean absolute error of point on test, scaled by the in-sample mean absolute error
// of the seasonal naive forecast (lag m; 1 when the training part has no full season beyond the
// first) on train.
func MASE(train, test, point []float64, m int) float64 {
	if m < 1 || len(train) <= m {
		m = 1
	}
	var sum float64
	for i, v := range test {
		sum += math.Abs(v - point[i])
	}
	return sum / float64(len(test)) / forecast.NaiveScale(train, m)
}

// SMAPE is the symmetric mean absolute percentage error as the M4 competition defines it:
// the mean of 200·|y − f| / (|y| + |f|), in percent; a step where both are 0 counts as 0.
func SMAPE(test, point []float64) float64 {
	var sum float64
	for i, v := range test {
		sum += forecast.SymmetricAPE(v, point[i])
	}
	return sum / float64(len(test))
}

// Covered counts the values of test inside [lower, upper], bounds included.
func Covered(test []float64, iv forecast.Interval) int {
	n := 0
	for i, v := range test {
		if iv.Lower[i] <= v && v <= iv.Upper[i] {
			n++
		}
	}
	return n
}

// Score accumulates one forecaster's accuracy over series.
type Score struct {
	Name     string
	Series   int
	sumMASE  float64
	sumSMAPE float64
	covered  map[string]int
	values   int
}

// Add scores the forecast r of s.Test.
func (sc *Score) Add(s Series, r forecast.Result) {
	if sc.covered == nil {
		sc.covered = map[string]int{}
	}
	sc.Series++
	sc.sumMASE += MASE(s.Train, s.Test, r.Point, s.Frequency)
	sc.sumSMAPE += SMAPE(s.Test, r.Point)
	for _, l := range Levels {
		k := forecast.LevelKey(l)
		sc.covered[k] += Covered(s.Test, r.Intervals[k])
	}
	sc.values += len(s.Test)
}

// MeanMASE is the mean over series of their MASE.
func (sc *Score) MeanMASE() float64 { return sc.sumMASE / float64(sc.Series) }

// MeanSMAPE is the mean over series of their sMAPE, in percent.
func (sc *Score) MeanSMAPE() float64 { return sc.sumSMAPE / float64(sc.Series) }

// Coverage is the share of held-out values, over all series, inside the interval at level, in
// percent.
func (sc *Score) Coverage(level float64) float64 {
	return 100 * float64(sc.covered[forecast.LevelKey(level)]) / float64(sc.values)
}

// Methods are the engine's methods the report runs: auto, and the families it chooses from for
// reference.
var Methods = []string{forecast.MethodAuto, forecast.MethodETS, forecast.MethodARIMA, forecast.MethodTheta}

// rFunctions names R's forecasts in the report, in the benchmark file's keys.
var rFunctions = []struct{ key, name string }{
	{"ets", "R ets()"}, {"arima", "R auto.arima()"}, {"theta", "R thetaf()"},
}

// Report is the outcome of running the benchmark.
type Report struct {
	Scores []*Score // ours (in Methods order), then R's
}

// Score returns the score named name, or nil.
func (r Report) Score(name string) *Score {
	for _, s := range r.Scores {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// Run fits each of methods on every training part, forecasts the held-out part and scores it
// next to R's forecasts, when the first series has them (then every series must). verbose, when
// not nil, gets one line per series and method.
func Run(ctx context.Context, b Benchmark, methods []string, verbose io.Writer) (Report, error) {
	var rep Report
	ours := make([]*Score, len(methods))
	for i, m := range methods {
		ours[i] = &Score{Name: m}
	}
	// A set without R's forecasts (the validation set) is scored for ours alone.
	withR := len(b.Series[0].R) > 0
	var theirs []*Score
	for _, f := range rFunctions {
		if withR {
			theirs = append(theirs, &Score{Name: f.name})
		}
	}
	for _, s := range b.Series {
		for i, method := range methods {
			m, err := forecast.Fit(ctx, s.Train, forecast.Spec{Method: method, SeasonLength: s.Frequency}, nil)
			if err != nil {
				return Report{}, fmt.Errorf("%s: %s: %w", s.Name, method, err)
			}
			r, err := m.Forecast(s.Horizon, Levels)
			if err != nil {
				return Report{}, fmt.Errorf("%s: %s forecast: %w", s.Name, method, err)
			}
			ours[i].Add(s, r)
			if verbose != nil {
				fmt.Fprintf(verbose, "%-14s %-7s MASE %6.3f sMAPE %6.2f  %s\n", s.Name, method,
					MASE(s.Train, s.Test, r.Point, s.Frequency), SMAPE(s.Test, r.Point), m.Summary().Method)
			}
		}
		for i, f := range theirs {
			rf, ok := s.R[rFunctions[i].key]
			if !ok {
				return Report{}, fmt.Errorf("%s: no R %s forecast", s.Name, rFunctions[i].key)
			}
			f.Add(s, rf.Result())
		}
	}
	rep.Scores = append(ours, theirs...)
	return rep, nil
}

// Markdown writes the report as a table: one row per forecaster.
func (r Report) Markdown(w io.Writer) error {
	var sb strings.Builder
	sb.WriteString("| method | mean MASE | mean sMAPE (%) | 80% coverage (%) | 95% coverage (%) |\n")
	sb.WriteString("|---|---:|---:|---:|---:|\n")
	for _, s := range r.Scores {
		fmt.Fprintf(&sb, "| %s | %.4f | %.3f | %.1f | %.1f |\n", s.Name, s.MeanMASE(), s.MeanSMAPE(), s.Coverage(80), s.Coverage(95))
	}
	_, err := io.WriteString(w, sb.String())
	return err
}
