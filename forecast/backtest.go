package forecast

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
)

// Plan says where a backtest puts its forecast origins: Windows forecasts of Horizon steps,
// Step observations apart, the last of them ending with the series. Window w (0-based) trains on
// y[:n-Horizon-(Windows-1-w)·Step] and is scored on the Horizon values after that.
type Plan struct {
	Horizon int
	Windows int
	Step    int
	// Fit fits each window; nil means Fit. (A processor passes the fit its tests replace.)
	Fit func(ctx context.Context, y []float64, spec Spec, progress ProgressFunc) (Model, error)
}

// Accuracy is how one method did over a backtest's windows.
type Accuracy struct {
	Method string // the method as asked for (Spec.Method)
	Model  string // the model fitted on the last window, as Summary names it
	// MASE is the mean over the windows of each window's mean absolute error scaled by the
	// in-sample mean absolute error of the seasonal naive forecast on that window's training part
	// (lag the season length, 1 when non-seasonal), as R's forecast::accuracy scales it; NaN
	// when no window has a finite scaled error (a constant training part scales by 0).
	MASE float64
	// SMAPE is the mean over every scored value of 200·|y−f|/(|y|+|f|), 0 where y = f = 0.
	SMAPE float64
	// Coverage is, per level (LevelKey), the share of scored values inside the interval,
	// bounds included; Covered counts them, of Points scored values (missing ones are not).
	Coverage map[string]float64
	Covered  map[string]int
	Points   int
	Windows  []Window
}

// Window is one forecast origin of a backtest: the forecast made after training on the first
// Origin values, and the values that followed (NaN where missing).
type Window struct {
	Origin int
	Actual []float64
	Result
}

// PlanError is a plan the series cannot carry. Field names the plan's parameter to change
// ("windows", "step" or "horizon"); the message says what would fit.
type PlanError struct {
	Field string
	Err   error
}

func (e *PlanError) Error() string { return e.Err.Error() }

// Problem is the error in a client's words: without the ErrTooFewObservations prefix, as the
// field it names (Field) tells the rest.
func (e *PlanError) Problem() string {
	return strings.TrimPrefix(e.Error(), ErrTooFewObservations.Error()+": ")
}
func (e *PlanError) Unwrap() error { return e.Err }

// Backtest evaluates each spec on y by rolling-origin cross-validation: at each window of plan it
// fits the spec on the values before the origin, forecasts plan.Horizon steps with intervals at
// levels, and scores them against the values held out. Every spec must have the same season
// length, which sets the MASE scale's lag. A plan that leaves the first window too little to
// train on is a *PlanError; progress counts the fits done; it stops when ctx ends.
func Backtest(ctx context.Context, y []float64, specs []Spec, plan Plan, levels []float64, progress ProgressFunc) ([]Accuracy, error) {
	if len(specs) == 0 {
		return nil, fmt.Errorf("%w: backtest needs at least one method", ErrInvalidSpec)
	}
	lag := max(specs[0].SeasonLength, 1)
	for _, s := range specs[1:] {
		if max(s.SeasonLength, 1) != lag {
			return nil, fmt.Errorf("%w: every method of a backtest needs the same season length", ErrInvalidSpec)
		}
	}
	if err := checkForecastArgs(plan.Horizon, levels); err != nil {
		return nil, err
	}
	first, err := plan.FirstOrigin(len(y), lag)
	if err != nil {
		return nil, err
	}
	if progress == nil {
		progress = func(Progress) {}
	}
	if plan.Fit == nil {
		plan.Fit = Fit
	}
	out := make([]Accuracy, len(specs))
	fits := float64(len(specs) * plan.Windows)
	for i, spec := range specs {
		acc, err := backtestOne(ctx, y, spec, plan, first, levels, func(done int) {
			progress(Progress{Stage: "backtest", Candidate: i + 1, Candidates: len(specs),
				Percent: 100 * float64(i*plan.Windows+done) / fits})
		})
		if err != nil {
			return nil, err
		}
		out[i] = acc
	}
	return out, nil
}

// FirstOrigin returns how many of n values the first window trains on, or a *PlanError when
// that is fewer than seasonLength+1 (the MASE scale needs a seasonal difference to average):
// the check of a plan against a series' length alone, before any method is fitted.
func (plan Plan) FirstOrigin(n, seasonLength int) (int, error) {
	lag := max(seasonLength, 1)
	if plan.Windows < 1 {
		return 0, &PlanError{"windows", fmt.Errorf("%w: windows must be at least 1, got %d", ErrInvalidSpec, plan.Windows)}
	}
	if plan.Step < 1 {
		return 0, &PlanError{"step", fmt.Errorf("%w: step must be at least 1, got %d", ErrInvalidSpec, plan.Step)}
	}
	minTrain := lag + 1
	if n < minTrain+1 { // not even one value to hold out: no horizon fits
		field := "season_length"
		if lag == 1 {
			field = "values"
		}
		return 0, &PlanError{field, fmt.Errorf("%w: a backtest with season length %d needs at least %d values (season length + 1 to train on, to scale MASE, and 1 to hold out); the series has %d",
			ErrTooFewObservations, lag, minTrain+1, n)}
	}
	room := n - minTrain - plan.Horizon // values left for the origins after the first
	if room < 0 {
		return 0, &PlanError{"horizon", fmt.Errorf("%w: horizon %d leaves %d of the %d values to train on, and the first window needs at least %d (season length + 1, to scale MASE); at most horizon %d fits",
			ErrTooFewObservations, plan.Horizon, max(n-plan.Horizon, 0), n, minTrain, max(n-minTrain, 0))}
	}
	if plan.Windows-1 > room/plan.Step {
		return 0, &PlanError{"windows", fmt.Errorf("%w: %d windows %d apart with horizon %d leave the first window fewer than the %d values it needs (season length + 1, to scale MASE) of %d; at most %d windows fit",
			ErrTooFewObservations, plan.Windows, plan.Step, plan.Horizon, minTrain, n, room/plan.Step+1)}
	}
	return n - plan.Horizon - (plan.Windows-1)*plan.Step, nil
}

// backtestOne runs one spec over every window; done is told how many windows have been fitted.
func backtestOne(ctx context.Context, y []float64, spec Spec, plan Plan, first int, levels []float64, done func(int)) (Accuracy, error) {
	lag := max(spec.SeasonLength, 1)
	acc := Accuracy{Method: spec.Method, Coverage: map[string]float64{}, Covered: map[string]int{}, Windows: make([]Window, plan.Windows)}
	for _, l := range levels {
		acc.Covered[LevelKey(l)] = 0
	}
	var maseSum, smapeSum float64
	var maseWindows int
	for w := range plan.Windows {
		origin := first + w*plan.Step
		m, err := plan.Fit(ctx, y[:origin], spec, nil)
		if err != nil {
			if ctx.Err() != nil {
				return Accuracy{}, ctx.Err()
			}
			if w == 0 && errors.Is(err, ErrTooFewObservations) {
				return Accuracy{}, tooShortToFit(ctx, y, spec, plan, first, err)
			}
			return Accuracy{}, fmt.Errorf("%s, window %d (origin %d): %w", methodName(spec), w+1, origin, err)
		}
		res, err := m.Forecast(plan.Horizon, levels)
		if err != nil {
			return Accuracy{}, fmt.Errorf("%s, window %d (origin %d): %w", methodName(spec), w+1, origin, err)
		}
		actual := y[origin : origin+plan.Horizon]
		acc.Windows[w] = Window{Origin: origin, Actual: actual, Result: res}
		acc.Model = m.Summary().Method
		var absSum float64
		scored := 0
		for j, a := range actual {
			if math.IsNaN(a) {
				continue
			}
			f := res.Point[j]
			scored++
			absSum += math.Abs(a - f)
			smapeSum += SymmetricAPE(a, f)
			for key, iv := range res.Intervals {
				if iv.Lower[j] <= a && a <= iv.Upper[j] {
					acc.Covered[key]++
				}
			}
		}
		acc.Points += scored
		if scaled := absSum / float64(scored) / NaiveScale(y[:origin], lag); scored > 0 && !math.IsNaN(scaled) && !math.IsInf(scaled, 0) {
			maseSum += scaled
			maseWindows++
		}
		done(w + 1)
	}
	acc.MASE, acc.SMAPE = math.NaN(), math.NaN()
	if maseWindows > 0 {
		acc.MASE = maseSum / float64(maseWindows)
	}
	if acc.Points > 0 {
		acc.SMAPE = smapeSum / float64(acc.Points)
		for key, c := range acc.Covered {
			acc.Coverage[key] = float64(c) / float64(acc.Points)
		}
	}
	return acc, nil
}

// tooShortToFit explains a first window too short for the method, naming the fewest windows'
// worth of training that does fit: the later windows train on more, so the first of them that
// the method fits says how many windows would.
func tooShortToFit(ctx context.Context, y []float64, spec Spec, plan Plan, first int, cause error) error {
	field, hint := "horizon", "a shorter horizon"
	if plan.Windows > 1 {
		field, hint = "windows", "fewer windows, a smaller step or a shorter horizon"
		for w := 1; w < plan.Windows && ctx.Err() == nil; w++ {
			if _, err := plan.Fit(ctx, y[:first+w*plan.Step], spec, nil); err == nil {
				hint = fmt.Sprintf("at most %d windows %d apart fit", plan.Windows-w, plan.Step)
				break
			}
		}
	}
	return &PlanError{field, fmt.Errorf("the first window trains on %d values, too few for %s (%w); %s", first, methodName(spec), cause, hint)}
}

func methodName(spec Spec) string {
	if spec.Method == "" {
		return MethodAuto
	}
	return spec.Method
}

// NaiveScale is the in-sample mean absolute error of the lag-step naive forecast on train,
// over the pairs with both values present: MASE's scale (NaN when no pair has both).
func NaiveScale(train []float64, lag int) float64 {
	var sum float64
	k := 0
	for t := lag; t < len(train); t++ {
		d := math.Abs(train[t] - train[t-lag])
		if math.IsNaN(d) {
			continue
		}
		sum += d
		k++
	}
	return sum / float64(k) // NaN when k == 0
}

// SymmetricAPE is 200·|y−f|/(|y|+|f|), the M4 competition's sMAPE term, with 0/0 taken as 0.
func SymmetricAPE(y, f float64) float64 {
	den := math.Abs(y) + math.Abs(f)
	if den == 0 {
		return 0
	}
	return 200 * math.Abs(y-f) / den
}
