package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// A frequency of business data: its season and the lengths its series typically have.
type frequency struct {
	name           string
	season         int
	minLen, maxLen int
}

var businessFrequencies = []frequency{
	{"yearly", 1, 20, 40},
	{"quarterly", 4, 24, 72},
	{"monthly", 12, 48, 144},
}

// genSeries is one generated series in the input format of 'forecastd batch'.
type genSeries struct {
	Name         string    `json:"name"`
	Values       []float64 `json:"values"`
	SeasonLength int       `json:"season_length"`
	Horizon      int       `json:"horizon"`
}

// generateBatch makes n series, a third of each frequency, from seed: a level with a linear
// trend, a seasonal pattern (multiplicative for a third of the seasonal series, additive for
// the rest) and noise, rounded to cents and kept positive.
func generateBatch(n int, seed uint64, horizon int) []genSeries {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	out := make([]genSeries, n)
	for i := range out {
		f := businessFrequencies[i%len(businessFrequencies)]
		length := f.minLen + rng.IntN(f.maxLen-f.minLen+1)
		level := 50 + 450*rng.Float64()
		slope := level * 0.01 * rng.NormFloat64()
		noise := 0.02 + 0.08*rng.Float64()
		pattern := make([]float64, f.season)
		if f.season > 1 {
			amp := 0.05 + 0.25*rng.Float64()
			var mean float64
			for k := range pattern {
				pattern[k] = amp * (math.Sin(2*math.Pi*float64(k)/float64(f.season)+2*math.Pi*rng.Float64()) + 0.3*rng.NormFloat64())
				mean += pattern[k] / float64(f.season)
			}
			for k := range pattern {
				pattern[k] -= mean
			}
		}
		multiplicative := f.season > 1 && rng.IntN(3) == 0
		values := make([]float64, length)
		for t := range values {
			trend := level + slope*float64(t)
			s := pattern[t%f.season]
			var v float64
			if multiplicative {
				v = trend * (1 + s) * (1 + noise*rng.NormFloat64())
			} else {
				v = trend + level*s + level*noise*rng.NormFloat64()
			}
			values[t] = math.Max(1, math.Round(v*100)/100)
		}
		out[i] = genSeries{Name: fmt.Sprintf("%s-%04d", f.name, i), Values: values, SeasonLength: f.season, Horizon: horizon}
	}
	return out
}

// batchDataCmd writes the generated series as the JSON array 'forecastd batch' reads.
func batchDataCmd(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("batchdata", flag.ContinueOnError)
	n := fs.Int("series", 3000, "series to generate (a third yearly, quarterly, monthly)")
	seed := fs.Uint64("seed", 1, "random seed")
	horizon := fs.Int("horizon", 12, "horizon of every series")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *n < 1 || *horizon < 1 {
		return errors.New("-series and -horizon must be at least 1")
	}
	enc := json.NewEncoder(out)
	if _, err := io.WriteString(out, "[\n"); err != nil {
		return err
	}
	for i, s := range generateBatch(*n, *seed, *horizon) {
		if i > 0 {
			if _, err := io.WriteString(out, ","); err != nil {
				return err
			}
		}
		if err := enc.Encode(s); err != nil {
			return err
		}
	}
	_, err := io.WriteString(out, "]\n")
	return err
}

// batchRun is one timed run of 'forecastd batch': kind offline or service, the consumers
// (offline workers, or batch consumers of all processors), its wall time and its output.
type batchRun struct {
	kind      string
	consumers int
	seconds   float64
	file      string

	ok, failed int
	points     map[string][]float64 // name → point forecasts of the series that succeeded
}

// parseBatchRun reads "kind:consumers:seconds:file".
func parseBatchRun(s string) (batchRun, error) {
	parts := strings.SplitN(s, ":", 4)
	if len(parts) != 4 || (parts[0] != "offline" && parts[0] != "service") {
		return batchRun{}, fmt.Errorf("run %q: want offline|service:CONSUMERS:SECONDS:FILE", s)
	}
	c, err1 := strconv.Atoi(parts[1])
	secs, err2 := strconv.ParseFloat(parts[2], 64)
	if err1 != nil || err2 != nil || c < 1 || !(secs > 0) {
		return batchRun{}, fmt.Errorf("run %q: consumers must be a positive integer and seconds a positive number", s)
	}
	return batchRun{kind: parts[0], consumers: c, seconds: secs, file: parts[3]}, nil
}

// load reads the run's output: the offline array ({name, point} or {name, error}) or the
// service's results ({name, status, point} or {name, status, error}).
func (r *batchRun) load() error {
	b, err := os.ReadFile(r.file)
	if err != nil {
		return err
	}
	var rows []struct {
		Name   string          `json:"name"`
		Status string          `json:"status"`
		Point  []float64       `json:"point"`
		Error  json.RawMessage `json:"error"`
	}
	if err := json.Unmarshal(b, &rows); err != nil {
		return fmt.Errorf("%s: %w", r.file, err)
	}
	r.points = make(map[string][]float64, len(rows))
	for _, row := range rows {
		if _, dup := r.points[row.Name]; dup {
			return fmt.Errorf("%s: series %s twice", r.file, row.Name)
		}
		if len(row.Error) > 0 || (row.Status != "" && row.Status != "succeeded") || len(row.Point) == 0 {
			r.failed++
			r.points[row.Name] = nil
			continue
		}
		r.ok++
		r.points[row.Name] = row.Point
	}
	return nil
}

func (r batchRun) rate() float64 { return float64(r.ok+r.failed) / r.seconds }

// agree counts the series whose point forecasts in a and b match to 1e-6 relative.
func agree(a, b batchRun) (same, compared int) {
	for name, pa := range a.points {
		pb, ok := b.points[name]
		if !ok || pa == nil || pb == nil {
			continue
		}
		compared++
		if len(pa) == len(pb) && closeAll(pa, pb) {
			same++
		}
	}
	return same, compared
}

func closeAll(a, b []float64) bool {
	for i := range a {
		if math.Abs(a[i]-b[i]) > 1e-6*math.Max(1, math.Abs(a[i])) {
			return false
		}
	}
	return true
}

// batchReportCmd prints the table of the batch benchmark: per consumer count, offline and
// service series/s and their ratio against the goal, after checking that every run has every
// series once and that the service forecasts what the offline run does.
func batchReportCmd(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("batchreport", flag.ContinueOnError)
	n := fs.Int("series", 0, "series in the batch; every run must have them all")
	goal := fs.Float64("goal", 0.9, "the service's series/s must reach this fraction of offline's")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var runs []batchRun
	for _, a := range fs.Args() {
		r, err := parseBatchRun(a)
		if err != nil {
			return err
		}
		if err := r.load(); err != nil {
			return err
		}
		if got := r.ok + r.failed; got != *n {
			return fmt.Errorf("%s run with %d consumers has %d series, want %d", r.kind, r.consumers, got, *n)
		}
		runs = append(runs, r)
	}
	find := func(kind string, c int) (batchRun, bool) {
		i := slices.IndexFunc(runs, func(r batchRun) bool { return r.kind == kind && r.consumers == c })
		if i < 0 {
			return batchRun{}, false
		}
		return runs[i], true
	}
	fmt.Fprintf(out, "\n%s, %d series, method auto\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"), *n)
	fmt.Fprintln(out, "| batch consumers (offline workers) | offline `forecastd batch` | service: gateway + processors | ratio | goal | forecasts equal |")
	fmt.Fprintln(out, "|---|---|---|---|---|---|")
	for _, svc := range runs {
		if svc.kind != "service" {
			continue
		}
		off, ok := find("offline", svc.consumers)
		if !ok {
			return fmt.Errorf("no offline run with %d workers to compare the service with", svc.consumers)
		}
		ratio := svc.rate() / off.rate()
		same, compared := agree(off, svc)
		fmt.Fprintf(out, "| %d | %.1f series/s (%.1fs, %d failed) | %.1f series/s (%.1fs, %d failed) | %.2f | ≥ %.2f %s | %d of %d |\n",
			svc.consumers, off.rate(), off.seconds, off.failed, svc.rate(), svc.seconds, svc.failed,
			ratio, *goal, verdict(ratio >= *goal), same, compared)
	}
	return nil
}
