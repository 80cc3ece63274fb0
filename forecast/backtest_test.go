package forecast

import (
	"context"
	"errors"
	"math"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

func backtest(t *testing.T, y []float64, plan Plan, specs ...Spec) []Accuracy {
	t.Helper()
	acc, err := Backtest(context.Background(), y, specs, plan, []float64{80, 95}, nil)
	if err != nil {
		t.Fatalf("Backtest(%+v): %v", plan, err)
	}
	if len(acc) != len(specs) {
		t.Fatalf("Backtest gave %d accuracies for %d specs", len(acc), len(specs))
	}
	return acc
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-12*math.Max(1, math.Abs(b)) }

func line(n int) []float64 {
	y := make([]float64, n)
	for i := range y {
		y[i] = float64(i + 1)
	}
	return y
}

// Naive on the line 1..10, horizon 2, two windows one step apart: the windows train on 1..7 and
// 1..8 and forecast 7,7 and 8,8 against 8,9 and 9,10. Each window's errors are 1 and 2 (MAE 1.5)
// and its in-sample naive MAE is 1, so MASE is 1.5. The naive variance is 1, so the intervals
// are ±z·√step: step 1 (error 1) lies inside both, step 2 (error 2) inside 95% (1.96·√2 = 2.77)
// but not 80% (1.28·√2 = 1.81).
func TestBacktestNaiveOnALine(t *testing.T) {
	acc := backtest(t, line(10), Plan{Horizon: 2, Windows: 2, Step: 1}, Spec{Method: MethodNaive})[0]
	if !near(acc.MASE, 1.5) {
		t.Errorf("MASE = %v, want 1.5", acc.MASE)
	}
	wantSMAPE := (200.0/15 + 400.0/16 + 200.0/17 + 400.0/18) / 4
	if !near(acc.SMAPE, wantSMAPE) {
		t.Errorf("sMAPE = %v, want %v", acc.SMAPE, wantSMAPE)
	}
	if acc.Points != 4 || acc.Covered["80"] != 2 || acc.Covered["95"] != 4 {
		t.Errorf("points %d, covered %v; want 4 points, 2 inside 80%% and 4 inside 95%%", acc.Points, acc.Covered)
	}
	if acc.Coverage["80"] != 0.5 || acc.Coverage["95"] != 1 {
		t.Errorf("coverage %v, want 80: 0.5, 95: 1", acc.Coverage)
	}
	if acc.Model != "Naive" || acc.Method != MethodNaive {
		t.Errorf("method %q model %q, want naive / Naive", acc.Method, acc.Model)
	}
	if len(acc.Windows) != 2 {
		t.Fatalf("%d windows, want 2", len(acc.Windows))
	}
	for w, want := range []struct {
		origin        int
		point, actual []float64
	}{{7, []float64{7, 7}, []float64{8, 9}}, {8, []float64{8, 8}, []float64{9, 10}}} {
		got := acc.Windows[w]
		if got.Origin != want.origin || !equalFloats(got.Point, want.point) || !equalFloats(got.Actual, want.actual) {
			t.Errorf("window %d: origin %d point %v actual %v, want %d %v %v", w, got.Origin, got.Point, got.Actual, want.origin, want.point, want.actual)
		}
	}
}

func equalFloats(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !near(a[i], b[i]) {
			return false
		}
	}
	return true
}

// The last window ends with the series and the others start step values apart: with 20 values,
// horizon 3 and 4 windows 2 apart the origins are 11, 13, 15, 17.
func TestBacktestOrigins(t *testing.T) {
	acc := backtest(t, line(20), Plan{Horizon: 3, Windows: 4, Step: 2}, Spec{Method: MethodNaive})[0]
	for w, want := range []int{11, 13, 15, 17} {
		if got := acc.Windows[w].Origin; got != want {
			t.Errorf("window %d origin %d, want %d", w, got, want)
		}
	}
	if acc.Points != 12 {
		t.Errorf("points %d, want 12", acc.Points)
	}
}

// The mean on constant data forecasts it exactly: sMAPE 0, every value inside the (zero-width)
// intervals, and MASE undefined, since the training part's naive errors are all 0 (R says NaN).
func TestBacktestMeanOnConstant(t *testing.T) {
	y := []float64{5, 5, 5, 5, 5, 5, 5, 5}
	acc := backtest(t, y, Plan{Horizon: 3, Windows: 2, Step: 1}, Spec{Method: MethodMean})[0]
	if acc.SMAPE != 0 || acc.Coverage["80"] != 1 || acc.Coverage["95"] != 1 {
		t.Errorf("sMAPE %v coverage %v, want 0 and all covered", acc.SMAPE, acc.Coverage)
	}
	if !math.IsNaN(acc.MASE) {
		t.Errorf("MASE = %v, want NaN (scale 0)", acc.MASE)
	}
}

// sMAPE takes 0/0 as 0: naive on zeros forecasts zeros.
func TestBacktestSMAPEOfZeros(t *testing.T) {
	y := []float64{0, 0, 0, 0, 0, 0}
	acc := backtest(t, y, Plan{Horizon: 2, Windows: 1, Step: 1}, Spec{Method: MethodNaive})[0]
	if acc.SMAPE != 0 {
		t.Errorf("sMAPE = %v, want 0", acc.SMAPE)
	}
}

// MASE scales by the seasonal naive error at lag season length: y rises by 1 every two steps
// (lag-2 differences 1), so seasonal naive's errors of 1 give MASE 1; at lag 1 (differences
// 2 and 1) it would be 1/1.6.
func TestBacktestSeasonalScale(t *testing.T) {
	y := []float64{1, 3, 2, 4, 3, 5, 4, 6}
	acc := backtest(t, y, Plan{Horizon: 2, Windows: 1, Step: 1}, Spec{Method: MethodSNaive, SeasonLength: 2})[0]
	if !near(acc.MASE, 1) {
		t.Errorf("MASE = %v, want 1", acc.MASE)
	}
}

// Missing held-out values are not scored; missing training values are the fit's business.
func TestBacktestSkipsMissingActuals(t *testing.T) {
	y := line(10)
	y[8] = math.NaN() // window 0's second value, window 1's first
	acc := backtest(t, y, Plan{Horizon: 2, Windows: 2, Step: 1}, Spec{Method: MethodNaive})[0]
	if acc.Points != 2 {
		t.Errorf("points %d, want 2", acc.Points)
	}
	// Window 0: 1..7 → 7 vs 8: MAE 1. Window 1: 1..8 → 8 vs 10: MAE 2 (scale 1 over the pairs present).
	if !near(acc.MASE, 1.5) {
		t.Errorf("MASE = %v, want 1.5", acc.MASE)
	}
}

// Several methods are scored side by side on the same windows; drift on a line is exact.
func TestBacktestSeveralMethods(t *testing.T) {
	acc := backtest(t, line(12), Plan{Horizon: 2, Windows: 3, Step: 1}, Spec{Method: MethodNaive}, Spec{Method: MethodDrift})
	if acc[0].Method != MethodNaive || acc[1].Method != MethodDrift {
		t.Fatalf("methods %q, %q; want naive, drift in order", acc[0].Method, acc[1].Method)
	}
	if !near(acc[0].MASE, 1.5) || acc[1].MASE > 1e-9 || acc[1].SMAPE > 1e-9 {
		t.Errorf("MASE naive %v drift %v, sMAPE drift %v; want 1.5, 0, 0", acc[0].MASE, acc[1].MASE, acc[1].SMAPE)
	}
}

func TestBacktestPlanErrors(t *testing.T) {
	y := line(10)
	for _, tc := range []struct {
		name  string
		plan  Plan
		spec  Spec
		field string
		says  string
	}{
		{"no windows", Plan{Horizon: 2, Windows: 0, Step: 1}, Spec{Method: MethodNaive}, "windows", "at least 1"},
		{"no step", Plan{Horizon: 2, Windows: 2, Step: 0}, Spec{Method: MethodNaive}, "step", "at least 1"},
		// 10 values, horizon 2, first window ≥ 2 values: origins 2..8, so 7 windows of step 1.
		{"too many windows", Plan{Horizon: 2, Windows: 8, Step: 1}, Spec{Method: MethodNaive}, "windows", "at most 7 windows fit"},
		{"too long a step", Plan{Horizon: 2, Windows: 3, Step: 4}, Spec{Method: MethodNaive}, "windows", "at most 2 windows fit"},
		{"horizon", Plan{Horizon: 9, Windows: 1, Step: 1}, Spec{Method: MethodNaive}, "horizon", "at most horizon 8"},
		{"seasonal scale", Plan{Horizon: 2, Windows: 1, Step: 1}, Spec{Method: MethodSNaive, SeasonLength: 8}, "horizon", "at most horizon 1"},
		// Drift needs 3 values: the first window's 2 do not do, the second's 3 do.
		{"method needs more", Plan{Horizon: 2, Windows: 7, Step: 1}, Spec{Method: MethodDrift}, "windows", "at most 6 windows 1 apart fit"},
		{"method needs more, one window", Plan{Horizon: 8, Windows: 1, Step: 1}, Spec{Method: MethodDrift}, "horizon", "too few for drift"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Backtest(context.Background(), y, []Spec{tc.spec}, tc.plan, []float64{80}, nil)
			var pe *PlanError
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v, want a *PlanError", err)
			}
			if pe.Field != tc.field || !strings.Contains(pe.Error(), tc.says) {
				t.Errorf("field %q, %q; want field %q saying %q", pe.Field, pe.Error(), tc.field, tc.says)
			}
		})
	}
	// The bound of each case above is exact: one window fewer fits.
	if _, err := Backtest(context.Background(), y, []Spec{{Method: MethodNaive}}, Plan{Horizon: 2, Windows: 7, Step: 1}, nil, nil); err != nil {
		t.Errorf("7 windows: %v", err)
	}
	if _, err := Backtest(context.Background(), y, []Spec{{Method: MethodDrift}}, Plan{Horizon: 2, Windows: 6, Step: 1}, nil, nil); err != nil {
		t.Errorf("6 windows of drift: %v", err)
	}
	if _, err := Backtest(context.Background(), y, []Spec{{Method: MethodNaive}, {Method: MethodSNaive, SeasonLength: 2}}, Plan{Horizon: 2, Windows: 1, Step: 1}, nil, nil); !errors.Is(err, ErrInvalidSpec) {
		t.Errorf("different season lengths: err = %v, want ErrInvalidSpec", err)
	}
}

func TestBacktestProgressAndCancel(t *testing.T) {
	var reports []Progress
	_, err := Backtest(context.Background(), line(12), []Spec{{Method: MethodNaive}, {Method: MethodMean}}, Plan{Horizon: 2, Windows: 3, Step: 1}, nil,
		func(p Progress) { reports = append(reports, p) })
	if err != nil {
		t.Fatal(err)
	}
	if len(reports) != 6 || reports[5].Percent != 100 || reports[2].Percent != 50 || reports[3].Candidate != 2 {
		t.Errorf("progress %+v; want 6 reports, half-way after the first method's 3 windows, 100%% last", reports)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Backtest(ctx, line(12), []Spec{{Method: MethodNaive}}, Plan{Horizon: 2, Windows: 3, Step: 1}, nil, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: err = %v, want context.Canceled", err)
	}
}

// rBacktest is the R program that scores a backtest as TestBacktestMatchesRAccuracy does, with
// forecast::accuracy for MASE and the M4 formula for sMAPE, printing "method mase smape" lines.
const rBacktest = `suppressMessages(library(forecast))
y <- ts(c(112,118,132,129,121,135,148,148,136,119,104,118,115,126,141,135,125,149,170,170,158,133,114,140,145,150,178,163), frequency = 4)
h <- 4; k <- 3; s <- 2; n <- length(y)
fits <- list(naive = function(x) naive(x, h), snaive = function(x) snaive(x, h),
             drift = function(x) rwf(x, h, drift = TRUE), mean = function(x) meanf(x, h))
for (m in names(fits)) {
  mase <- c(); terms <- c()
  for (w in 0:(k - 1)) {
    o <- n - h - (k - 1 - w) * s
    train <- window(y, end = time(y)[o]); test <- window(y, start = time(y)[o + 1], end = time(y)[o + h])
    fc <- fits[[m]](train)
    mase <- c(mase, accuracy(fc, test)["Test set", "MASE"])
    f <- as.numeric(fc$mean); a <- as.numeric(test)
    terms <- c(terms, 200 * abs(a - f) / (abs(a) + abs(f)))
  }
  cat(m, sprintf("%.15g", mean(mase)), sprintf("%.15g", mean(terms)), "\n")
}`

// TestBacktestMatchesRAccuracy checks MASE and sMAPE against R's forecast::accuracy on the same
// windows, when R and its forecast package are installed.
func TestBacktestMatchesRAccuracy(t *testing.T) {
	if _, err := exec.LookPath("Rscript"); err != nil {
		t.Skip("Rscript is not installed: the cross-check against R's accuracy() needs R with the forecast package")
	}
	out, err := exec.Command("Rscript", "-e", rBacktest).Output()
	if err != nil {
		t.Skipf("R's forecast package is not usable (%v): the cross-check against its accuracy() needs it", err)
	}
	y := []float64{112, 118, 132, 129, 121, 135, 148, 148, 136, 119, 104, 118, 115, 126, 141, 135, 125, 149, 170, 170, 158, 133, 114, 140, 145, 150, 178, 163}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 4 {
		t.Fatalf("R printed %q, want 4 lines", out)
	}
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) != 3 {
			t.Fatalf("R line %q", l)
		}
		wantMASE, err1 := strconv.ParseFloat(f[1], 64)
		wantSMAPE, err2 := strconv.ParseFloat(f[2], 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("R line %q", l)
		}
		t.Run(f[0], func(t *testing.T) {
			acc := backtest(t, y, Plan{Horizon: 4, Windows: 3, Step: 2}, Spec{Method: f[0], SeasonLength: 4})[0]
			if math.Abs(acc.MASE-wantMASE) > 1e-9 || math.Abs(acc.SMAPE-wantSMAPE) > 1e-9 {
				t.Errorf("MASE %v sMAPE %v, R says %v %v", acc.MASE, acc.SMAPE, wantMASE, wantSMAPE)
			}
		})
	}
}
