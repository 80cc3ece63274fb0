package ets

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"gonum.org/v1/gonum/mat"
)

func TestParseCode(t *testing.T) {
	for _, tc := range []struct {
		code string
		ok   bool
	}{
		{"ANN", true}, {"aadn", true}, {"MAdM", true}, {"ZZZ", true}, {"", true}, {"MMdN", true},
		{"AN", false}, {"ANNN", false}, {"NNN", false}, {"AXN", false}, {"ANdN", false}, {"AAdd", false}, {"ZZdZ", false},
	} {
		_, err := parseCode(tc.code)
		if (err == nil) != tc.ok {
			t.Errorf("parseCode(%q) error %v, want ok=%v", tc.code, err, tc.ok)
		}
	}
}

func TestCandidates(t *testing.T) {
	for _, tc := range []struct {
		code      string
		period    int
		positive  bool
		multTrend bool
		want      int
	}{
		{"ZZZ", 12, true, false, 15}, // R's default seasonal space
		{"ZZZ", 1, true, false, 6},   // non-seasonal
		{"ZZZ", 12, false, false, 6}, // additive only
		{"ZZZ", 1, false, false, 3},  // additive non-seasonal
		{"ZZZ", 25, true, false, 6},  // season too long: ignored, as R does
		{"AZN", 1, true, false, 3},   // N, A, Ad
		{"ZZZ", 12, true, true, 19},  // with multiplicative trends, minus the forbidden M,M*,A
		{"MAdM", 12, true, false, 1},
	} {
		p, err := parseCode(tc.code)
		if err != nil {
			t.Fatal(err)
		}
		got, err := candidates(p, tc.period, tc.positive, tc.multTrend)
		if err != nil || len(got) != tc.want {
			t.Errorf("candidates(%s, m=%d, positive=%v, multTrend=%v) = %d models (%v), want %d", tc.code, tc.period, tc.positive, tc.multTrend, len(got), err, tc.want)
		}
	}
}

func seasonalSeries(n, m int, seed uint64) []float64 {
	r := rand.New(rand.NewPCG(seed, 1))
	y := make([]float64, n)
	for t := range n {
		y[t] = 100 + 0.5*float64(t) + 10*math.Sin(2*math.Pi*float64(t)/float64(m)) + r.NormFloat64()*3
	}
	return y
}

func TestFitErrors(t *testing.T) {
	y := seasonalSeries(40, 4, 1)
	neg := append([]float64(nil), y...)
	neg[3] = -1
	nan := append([]float64(nil), y...)
	nan[5] = math.NaN()
	for _, tc := range []struct {
		name   string
		y      []float64
		code   string
		period int
		want   error
		msg    string
	}{
		{"bad code", y, "AXN", 4, ErrInvalidSpec, "ETS spec"},
		{"forbidden", y, "ANM", 4, ErrInvalidSpec, "forbidden"},
		{"forbidden trend", y, "AMN", 1, ErrInvalidSpec, "forbidden"},
		{"seasonal without season", y, "AAA", 1, ErrInvalidSpec, "non-seasonal"},
		{"season too long", seasonalSeries(100, 25, 1), "ANA", 25, ErrInvalidSpec, "at most 24"},
		{"multiplicative on negative data", neg, "MNN", 1, ErrInvalidData, "positive"},
		{"multiplicative season on negative data", neg, "MNM", 4, ErrInvalidData, "positive"},
		{"only multiplicative models left", neg, "ZNM", 4, ErrInvalidData, "positive"},
		{"non-finite", nan, "ANN", 1, ErrInvalidData, "not finite"},
		{"too short for ANN", y[:6], "ANN", 1, ErrTooFewObservations, "at least 7"},
		{"too short for AAdN", y[:9], "AAdN", 1, ErrTooFewObservations, "at least 10"},
		{"too short for AAA", y[:12], "AAA", 4, ErrTooFewObservations, "at least 13"},
		{"too short for auto", y[:6], "ZZZ", 4, ErrTooFewObservations, "at least 7"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Fit(t.Context(), tc.y, tc.code, Options{Period: tc.period})
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %v, want %v mentioning %q", err, tc.want, tc.msg)
			}
		})
	}
}

func TestMinObservationsIsEnough(t *testing.T) {
	for _, tc := range []struct {
		code   string
		period int
	}{{"ANN", 1}, {"AAN", 1}, {"AAdN", 1}, {"MAdN", 1}, {"ANA", 4}, {"AAA", 4}, {"MAdM", 4}, {"ZZZ", 4}, {"ZZZ", 12}} {
		n, err := MinObservations(tc.code, tc.period)
		if err != nil {
			t.Fatal(err)
		}
		m, err := Fit(t.Context(), seasonalSeries(n, max(tc.period, 2), 3), tc.code, Options{Period: tc.period})
		if err != nil {
			t.Errorf("%s m=%d n=%d: %v", tc.code, tc.period, n, err)
			continue
		}
		if math.IsNaN(m.AICc) || math.IsNaN(m.Sigma2) {
			t.Errorf("%s m=%d n=%d: NaN in %+v", tc.code, tc.period, n, m)
		}
	}
}

func TestCancel(t *testing.T) {
	y := seasonalSeries(120, 12, 2)
	ctx, cancel := context.WithCancel(t.Context())
	calls := 0
	_, err := Fit(ctx, y, "ZZZ", Options{Period: 12, Progress: func(p Progress) {
		calls++
		if p.Iteration >= progressEvery {
			cancel()
		}
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	if calls > 5 {
		t.Errorf("%d progress calls after cancelling in the first candidate", calls)
	}
}

// TestWorkersDoNotChangeTheFit: fitting candidates in parallel gives the sequential result.
func TestWorkersDoNotChangeTheFit(t *testing.T) {
	y := seasonalSeries(60, 4, 4)
	one, err := Fit(t.Context(), y, "ZZZ", Options{Period: 4, Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []int{2, 5, 32} {
		got, err := Fit(t.Context(), y, "ZZZ", Options{Period: 4, Workers: w})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, one) {
			t.Errorf("%d workers: %s %+v, one worker: %s %+v", w, got.Method(), got.Params, one.Method(), one.Params)
		}
	}
}

func TestProgress(t *testing.T) {
	y := seasonalSeries(60, 4, 4)
	var reports []Progress
	if _, err := Fit(t.Context(), y, "ZZZ", Options{Period: 4, Progress: func(p Progress) { reports = append(reports, p) }}); err != nil {
		t.Fatal(err)
	}
	lastCand, lastIter := 0, 0
	sawIter := false
	for _, p := range reports {
		if p.Candidates != 15 || p.Candidate < lastCand || p.Candidate > 15 {
			t.Fatalf("bad report %+v after candidate %d", p, lastCand)
		}
		if p.Candidate > lastCand {
			lastCand, lastIter = p.Candidate, 0
		}
		if p.Iteration%progressEvery != 0 || p.Iteration < lastIter {
			t.Fatalf("bad iteration in %+v", p)
		}
		sawIter = sawIter || p.Iteration > 0
		lastIter = p.Iteration
	}
	if lastCand != 15 || !sawIter {
		t.Errorf("reports reached candidate %d (iterations seen: %v), want all 15 with iteration counts", lastCand, sawIter)
	}
}

// TestSchurCohnMatchesEigenvalues checks the fast root test against the companion matrix.
func TestSchurCohnMatchesEigenvalues(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	agree := 0
	for range 2000 {
		deg := 2 + r.IntN(24)
		c := make([]float64, deg+1)
		for k := range deg {
			c[k] = (r.Float64()*2 - 1) * 1.2 / float64(deg)
		}
		c[deg] = 1
		in, ok := schurCohn(c, 1, &rootBuf{})
		if !ok {
			continue
		}
		comp := mat.NewDense(deg, deg, nil)
		for i := range deg {
			comp.Set(0, i, -c[deg-1-i])
			if i > 0 {
				comp.Set(i, i-1, 1)
			}
		}
		var eig mat.Eigen
		if !eig.Factorize(comp, mat.EigenNone) {
			t.Fatal("eigen failed")
		}
		maxAbs := 0.0
		for _, v := range eig.Values(nil) {
			maxAbs = math.Max(maxAbs, math.Hypot(real(v), imag(v)))
		}
		if math.Abs(maxAbs-1) < 1e-9 {
			continue
		}
		if in != (maxAbs < 1) {
			t.Fatalf("degree %d: Schur–Cohn says inside=%v, max |root| = %v", deg, in, maxAbs)
		}
		agree++
	}
	if agree < 1500 {
		t.Errorf("only %d decided cases", agree)
	}
}

// simulatedMoments are the mean and variance of y_{n+h} over simulated sample paths.
func simulatedMoments(m *Model, h, paths int) (mean, variance []float64) {
	c, _ := m.setup()
	rng := rand.New(rand.NewPCG(11, 13))
	sum, sum2 := make([]float64, h), make([]float64, h)
	var st state
	sd := math.Sqrt(m.Sigma2)
	for range paths {
		c.newState(m.Final, &st)
		for j := range h {
			f, q, s := c.onestep(&st, m.Params, j+1)
			e := rng.NormFloat64() * sd
			y := f + e
			if m.Spec.Error == Multiplicative {
				y = f * (1 + e)
			}
			sum[j] += y
			sum2[j] += y * y
			c.update(&st, m.Params, j+1, y, q, s)
		}
	}
	mean, variance = make([]float64, h), make([]float64, h)
	for j := range h {
		mean[j] = sum[j] / float64(paths)
		variance[j] = sum2[j]/float64(paths) - mean[j]*mean[j]
	}
	return mean, variance
}

// TestAnalyticMomentsMatchSimulation checks the class 1–3 mean and variance formulas,
// including the damped class-3 case that R's class3 gets wrong, against simulated paths.
func TestAnalyticMomentsMatchSimulation(t *testing.T) {
	y := seasonalSeries(96, 12, 5)
	for _, code := range []string{"AAdA", "MAdN", "MAdM", "MNM"} {
		t.Run(code, func(t *testing.T) {
			m, err := Fit(t.Context(), y, code, Options{Period: 12})
			if err != nil {
				t.Fatal(err)
			}
			m.Sigma2 *= 25 // so the variance is not lost in Monte Carlo noise
			c, _ := m.setup()
			var mu, v []float64
			switch {
			case m.Spec.Error == Additive:
				mu, v, _ = c.class1(m.Final, c.gain(m.Params), m.Params.Phi, m.Sigma2, 24)
			case m.Spec.Season == Multiplicative:
				mu, v = c.class3(m.Final, m.Params, m.Sigma2, 24)
			default:
				mu, v = c.class2(m.Final, c.gain(m.Params), m.Params.Phi, m.Sigma2, 24)
			}
			sm, sv := simulatedMoments(m, 24, 20000)
			for j := range 24 {
				if se := math.Sqrt(v[j] / 20000); math.Abs(mu[j]-sm[j]) > 5*se {
					t.Errorf("h=%d mean %v, simulated %v (se %v)", j+1, mu[j], sm[j], se)
				}
				if relErr(v[j], sv[j]) > 0.08 {
					t.Errorf("h=%d variance %v, simulated %v", j+1, v[j], sv[j])
				}
			}
		})
	}
}

func TestSimulatedIntervalsDeterministic(t *testing.T) {
	y := seasonalSeries(60, 4, 6)
	m, err := Fit(t.Context(), y, "MMN", Options{Period: 1})
	if err != nil {
		t.Fatal(err)
	}
	a, err := m.Forecast(8, []float64{80})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := m.Forecast(8, []float64{80})
	for j := range 8 {
		if a.Lower[0][j] != b.Lower[0][j] || !(a.Lower[0][j] < a.Mean[j] && a.Mean[j] < a.Upper[0][j]) {
			t.Fatalf("h=%d: %v < %v < %v, again %v", j+1, a.Lower[0][j], a.Mean[j], a.Upper[0][j], b.Lower[0][j])
		}
	}
}

func FuzzFit(f *testing.F) {
	f.Add([]byte{10, 20, 30, 25, 15, 12, 18, 22, 30, 40, 35, 20}, uint8(4), uint8(0), int8(0))
	f.Add([]byte{1, 1, 1, 1, 1, 1, 1, 1, 1}, uint8(1), uint8(1), int8(0))
	f.Add([]byte{0, 255, 0, 255, 0, 255, 0, 255, 0, 255}, uint8(2), uint8(2), int8(100))
	f.Add([]byte{30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41}, uint8(3), uint8(3), int8(-100))
	codes := []string{"ZZZ", "ANN", "AAdN", "MAM", "MNN", "AAA", "MMdN", "ZZN"}
	f.Fuzz(func(t *testing.T, raw []byte, period, code uint8, exp10 int8) {
		if len(raw) > 80 {
			raw = raw[:80]
		}
		y := make([]float64, len(raw))
		for i, b := range raw {
			y[i] = (float64(b) - 20) * math.Pow(10, float64(exp10)) // up to overflow of Σe²
		}
		spec := codes[int(code)%len(codes)]
		m, err := Fit(t.Context(), y, spec, Options{Period: int(period % 13)})
		if err != nil {
			if !errors.Is(err, ErrInvalidSpec) && !errors.Is(err, ErrInvalidData) && !errors.Is(err, ErrTooFewObservations) && !errors.Is(err, ErrNoModel) {
				t.Fatalf("unclassified error: %v", err)
			}
			return
		}
		for _, v := range []float64{m.LogLik, m.AIC, m.AICc, m.BIC, m.Sigma2} {
			if math.IsNaN(v) {
				t.Fatalf("NaN in %+v", m)
			}
		}
		fc, err := m.Forecast(5, []float64{80, 95})
		if err != nil {
			t.Fatal(err)
		}
		for j, v := range fc.Mean {
			if math.IsNaN(v) || math.IsNaN(fc.Lower[1][j]) || math.IsNaN(fc.Upper[1][j]) {
				t.Fatalf("NaN forecast %+v for %s", fc, m.Method())
			}
		}
	})
}

// TestAdmissibleDeflation: dividing out the unit root of no-trend models leaves the decision
// unchanged.
func TestAdmissibleDeflation(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 5))
	for range 500 {
		m := 2 + r.IntN(23)
		p := Params{Alpha: 0.0001 + 0.9998*r.Float64(), Phi: 1}
		p.Gamma = 0.0001 + (1-p.Alpha-0.0001)*r.Float64()
		with := admissible(Spec{Error: Additive, Trend: None, Season: Additive}, m, p, nil)
		// The same polynomial with β = 0 under an additive trend is not deflated.
		without := admissible(Spec{Error: Additive, Trend: Additive, Season: Additive}, m, p, nil)
		if with != without && without {
			t.Fatalf("m=%d %+v: deflated %v, full %v", m, p, with, without)
		}
	}
}

func TestConstantSeries(t *testing.T) {
	y := []float64{5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5}
	for _, code := range []string{"ZZZ", "ANN", "AAdN", "MNN"} {
		m, err := Fit(t.Context(), y, code, Options{Period: 4})
		if err != nil {
			t.Fatalf("%s: %v", code, err)
		}
		fc, err := m.Forecast(4, []float64{95})
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range []float64{m.LogLik, m.AICc, m.Sigma2, fc.Mean[3], fc.Upper[0][3]} {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				t.Fatalf("%s: non-finite value in %+v / %+v", code, m, fc)
			}
		}
		if math.Abs(fc.Mean[0]-5) > 1e-6 {
			t.Errorf("%s: forecast %v, want 5", code, fc.Mean)
		}
	}
}

// A panic in a worker fitting candidates (here the progress callback's, which runs there) is
// raised in Fit's caller, where a recover can catch it, whichever worker it happened in, once
// every worker has stopped: it neither ends the process, nor leaves the other workers waiting
// on the report lock, nor lets them report progress after Fit has returned.
func TestPanicInAWorkerReachesTheCaller(t *testing.T) {
	y := seasonalSeries(60, 4, 4)
	for range 20 { // the panic lands in the caller's goroutine or the other one, run to run
		var returned, late atomic.Bool
		func() {
			defer func() {
				returned.Store(true)
				if v := recover(); v == nil || !strings.Contains(fmt.Sprint(v), "progress broke") {
					t.Fatalf("recovered %v; want the progress callback's panic", v)
				}
			}()
			_, _ = Fit(t.Context(), y, "ZZZ", Options{Period: 4, Workers: 2, Progress: func(p Progress) {
				if returned.Load() {
					late.Store(true)
				}
				if p.Iteration > 0 { // a report from inside a candidate's fit, in either worker
					panic("progress broke")
				}
			}})
		}()
		time.Sleep(20 * time.Millisecond) // time for a worker left running to report
		if late.Load() {
			t.Fatal("progress was reported after Fit had panicked")
		}
	}
}
