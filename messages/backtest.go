package messages

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/forecastd/forecastd/forecast"
)

// Limits of a backtest: every window of every method is a fit.
const (
	MaxBacktestWindows = 100
	MaxBacktestMethods = 4
	// MaxBacktestValues bounds the values of a backtest's windows in its answer: windows ×
	// methods × horizon × (2 + 2 × levels) (each step's point, actual value and bounds).
	MaxBacktestValues = 1_000_000
)

// KindBacktest is the job kind of POST /v1/models/{model}/backtest. Its command travels on the
// fit topic (it is a fit's work, without a model to keep), told from a fit by its kind.
const KindBacktest = "backtest"

// BacktestRequest is the body of POST /v1/models/{model}/backtest: a fit's fields (not embedded,
// so that decoding errors name them as the client wrote them), the plan of the windows and the
// methods to compare. Options apply to Method, which Methods, if given, must list.
type BacktestRequest struct {
	Values       Values           `json:"values"`
	SeasonLength *int             `json:"season_length,omitempty"`
	Method       string           `json:"method,omitempty"`
	Timestamps   Times            `json:"timestamps,omitempty"`
	Options      forecast.Options `json:"options,omitzero"`
	Horizon      *int             `json:"horizon"`
	Windows      *int             `json:"windows"`
	Step         *int             `json:"step,omitempty"`
	Methods      []string         `json:"methods,omitempty"`
	Levels       []float64        `json:"levels,omitempty"`
}

// BacktestPlan is the "backtest" object of a batch: every series is evaluated at Windows
// origins Step apart, over the batch's horizon.
type BacktestPlan struct {
	Windows *int `json:"windows"`
	Step    *int `json:"step,omitempty"`
}

// Backtest is what a processor is asked to evaluate: the methods and the windows (the horizon
// and levels travel with the command).
type Backtest struct {
	Methods []string `json:"methods"`
	Windows int      `json:"windows"`
	Step    int      `json:"step"`
}

// Validate checks the request as a fit, a forecast's horizon and levels, and the plan; it fills
// in the defaults (those of a fit but method methods[0] when methods is given, step 1, methods
// [method]) and rejects a plan the series, put on its step, is too short for, naming windows,
// step or horizon with what would fit.
func (r *BacktestRequest) Validate() error {
	p := Problems{}
	if r.Method == "" && len(r.Methods) > 0 && slices.Contains(forecast.Methods, r.Methods[0]) {
		r.Method = r.Methods[0] // the first method compared, as in a batch
	}
	fit := FitRequest{Values: r.Values, SeasonLength: r.SeasonLength, Method: r.Method, Timestamps: r.Timestamps, Options: r.Options}
	if err := fit.Validate(); err != nil {
		addProblems(p, err)
	}
	r.SeasonLength, r.Method = fit.SeasonLength, fit.Method
	fc := ForecastRequest{Horizon: r.Horizon, Levels: r.Levels}
	if err := fc.Validate(); err != nil {
		addProblems(p, err)
	}
	r.Levels = fc.Levels
	r.Methods = validateMethods(p, r.Methods, r.Method)
	o := r.Options
	if (o.ETSSpec != "" || o.Order != nil || o.SeasonalOrder != nil || o.IncludeConstant != nil) && !slices.Contains(r.Methods, r.Method) {
		p.Add("options", "apply to method %q, which methods does not list", Clip(r.Method))
	}
	r.Step = validatePlan(p, "", r.Windows, r.Step)
	if len(p) == 0 {
		n := len(r.Values)
		if r.Timestamps != nil {
			series, _ := FillGaps(r.Timestamps, r.Values) // fit.Validate has checked them
			n = len(series.Values)
		}
		plan := forecast.Plan{Horizon: *r.Horizon, Windows: *r.Windows, Step: *r.Step}
		if _, err := plan.FirstOrigin(n, *r.SeasonLength); err != nil {
			if pe, ok := err.(*forecast.PlanError); ok {
				p.Add(pe.Field, "%s", pe.Problem())
			}
		}
	}
	if len(p) == 0 {
		perStep := *r.Windows * len(r.Methods) * (2 + 2*len(r.Levels))
		if values := perStep * *r.Horizon; values > MaxBacktestValues {
			p.Add("horizon", "with %d windows, %d methods and %d levels, a horizon of %d asks for %d values in the windows answered; a backtest answers at most %d (windows × methods × horizon × (2 + 2 × levels)): a horizon of at most %d, or fewer windows, methods or levels",
				*r.Windows, len(r.Methods), len(r.Levels), *r.Horizon, values, MaxBacktestValues, max(MaxBacktestValues/perStep, 1))
		}
	}
	return p.Err()
}

// Plan is the validated request's plan.
func (r *BacktestRequest) Plan() Backtest {
	return Backtest{Methods: r.Methods, Windows: *r.Windows, Step: *r.Step}
}

// validateBacktest checks a batch's backtest (its fields named under "backtest.") and the
// methods it compares, and fills in their defaults (step 1, methods [method]).
func (r *BatchRequest) validateBacktest(p Problems) {
	if r.Backtest == nil {
		if r.Methods != nil {
			p.Add("methods", "applies only to a batch with a backtest: add \"backtest\": {\"windows\": k}")
		}
		return
	}
	r.Methods = validateMethods(p, r.Methods, r.Method)
	r.Backtest.Step = validatePlan(p, "backtest.", r.Backtest.Windows, r.Backtest.Step)
}

// BacktestOf is the backtest of a validated batch, nil when it asks for none.
func (r *BatchRequest) BacktestOf() *Backtest {
	if r.Backtest == nil {
		return nil
	}
	return &Backtest{Methods: r.Methods, Windows: *r.Backtest.Windows, Step: *r.Backtest.Step}
}

// addProblems adds a Failure's problems to p.
func addProblems(p Problems, err error) {
	if f, ok := err.(*Failure); ok {
		for k, v := range f.Problems {
			p.Add(k, "%s", v)
		}
	}
}

// validatePlan checks windows and step (fields under prefix) and returns step with its default.
func validatePlan(p Problems, prefix string, windows, step *int) *int {
	switch {
	case windows == nil:
		p.Add(prefix+"windows", "is required: how many forecast origins to evaluate (1 to %d)", MaxBacktestWindows)
	case *windows < 1 || *windows > MaxBacktestWindows:
		p.Add(prefix+"windows", "must be an integer from 1 to %d, got %d", MaxBacktestWindows, *windows)
	}
	if step == nil {
		one := 1
		return &one
	}
	if *step < 1 || *step > MaxValues {
		p.Add(prefix+"step", "must be an integer from 1 to %d (observations between origins), got %d", MaxValues, *step)
	}
	return step
}

// validateMethods checks the methods compared, naming each bad one by its index, and returns
// them, or [method] when none are given.
func validateMethods(p Problems, methods []string, method string) []string {
	switch {
	case methods == nil:
		return []string{method}
	case len(methods) == 0:
		p.Add("methods", "must not be empty; leave it out to evaluate method alone")
	case len(methods) > MaxBacktestMethods:
		p.Add("methods", "has %d methods; at most %d are compared at once", len(methods), MaxBacktestMethods)
	}
	for i, m := range methods {
		field := fmt.Sprintf("methods[%d]", i)
		if !slices.Contains(forecast.Methods, m) {
			p.Add(field, "unknown method %q; use one of %s", Clip(m), strings.Join(forecast.Methods, ", "))
		} else if j := slices.Index(methods, m); j < i {
			p.Add(field, "%q is also methods[%d]; give each method once", Clip(m), j)
		}
	}
	return methods
}

// BacktestCommand asks a processor to backtest one series. It goes to the fit queue, with Kind
// KindBacktest; it saves no model and takes no generation.
type BacktestCommand struct {
	Kind         string           `json:"kind"`
	JobID        string           `json:"job_id"`
	Model        string           `json:"model"`
	ReplyTo      string           `json:"reply_to"`
	Values       Values           `json:"values"`
	SeasonLength int              `json:"season_length"`
	Method       string           `json:"method"`
	Options      forecast.Options `json:"options,omitzero"`
	Backtest
	Horizon    int       `json:"horizon"`
	Levels     []float64 `json:"levels"`
	AcceptedAt time.Time `json:"accepted_at"`
}

// Topic routes backtest commands: to the fit queue.
func (BacktestCommand) Topic() string { return TopicFit }

// Accuracy is how one method did in a backtest: MASE and sMAPE (null where undefined, as MASE
// is when every training part is constant), the share of Points held-out values inside each
// level's interval, and, for a single series' backtest, its windows.
type Accuracy struct {
	Model    string             `json:"model,omitempty"`
	MASE     *float64           `json:"mase"`
	SMAPE    *float64           `json:"smape"`
	Coverage map[string]float64 `json:"coverage"`
	Points   int                `json:"points"`
	Windows  []BacktestWindow   `json:"windows,omitempty"`
}

// BacktestWindow is one forecast origin: the forecast after training on the first Origin values
// and the values held out after them.
type BacktestWindow struct {
	Origin    int                 `json:"origin"`
	Point     Values              `json:"point"`
	Actual    Values              `json:"actual"`
	Intervals map[string]Interval `json:"intervals"`
}

// BacktestResult is the data of a successful POST /v1/models/{model}/backtest: the accuracy of
// each method, and the methods ordered by it.
type BacktestResult struct {
	Model       string              `json:"model"`
	JobID       string              `json:"job_id"`
	N           int                 `json:"n"`
	Horizon     int                 `json:"horizon"`
	Windows     int                 `json:"windows"`
	Step        int                 `json:"step"`
	Levels      []float64           `json:"levels"`
	Accuracy    map[string]Accuracy `json:"accuracy"`
	Leaderboard []string            `json:"leaderboard"`
	DurationMS  float64             `json:"duration_ms"`
}

// OverallAccuracy is how one method did over the series of a batch: the mean of the series'
// MASE and sMAPE (over those where it is defined) and the coverage pooled over every held-out
// value of every series.
type OverallAccuracy struct {
	MASE     *float64           `json:"mase"`
	SMAPE    *float64           `json:"smape"`
	Coverage map[string]float64 `json:"coverage"`
	Series   int                `json:"series"`
	Points   int                `json:"points"`
}

// NewAccuracy is a method's accuracy on the wire, with its windows or without.
func NewAccuracy(a forecast.Accuracy, withWindows bool) Accuracy {
	out := Accuracy{Model: a.Model, MASE: finite(a.MASE), SMAPE: finite(a.SMAPE), Coverage: a.Coverage, Points: a.Points}
	if withWindows {
		out.Windows = make([]BacktestWindow, len(a.Windows))
		for i, w := range a.Windows {
			iv := make(map[string]Interval, len(w.Intervals))
			for k, v := range w.Intervals {
				iv[k] = Interval{Lower: v.Lower, Upper: v.Upper}
			}
			out.Windows[i] = BacktestWindow{Origin: w.Origin, Point: w.Point, Actual: w.Actual, Intervals: iv}
		}
	}
	return out
}

func finite(x float64) *float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return nil
	}
	return &x
}

// Leaderboard orders methods best first: by MASE, then sMAPE, undefined last, ties in the
// order given.
func Leaderboard(methods []string, mase, smape func(string) *float64) []string {
	undefinedLast := func(a, b *float64) int {
		switch {
		case a == nil && b == nil:
			return 0
		case a == nil:
			return 1
		case b == nil:
			return -1
		}
		return cmp.Compare(*a, *b)
	}
	out := slices.Clone(methods)
	slices.SortStableFunc(out, func(a, b string) int {
		return cmp.Or(undefinedLast(mase(a), mase(b)), undefinedLast(smape(a), smape(b)))
	})
	return out
}

// Overall sums up the backtests of a batch's series (nil for a series without one) per method
// of methods, and orders methods by it.
func Overall(methods []string, series []map[string]Accuracy) (map[string]OverallAccuracy, []string) {
	out := make(map[string]OverallAccuracy, len(methods))
	for _, m := range methods {
		var maseSum, smapeSum float64
		var maseN, smapeN int
		o := OverallAccuracy{Coverage: map[string]float64{}}
		covered := map[string]float64{}
		for _, s := range series {
			a, ok := s[m]
			if !ok {
				continue
			}
			o.Series++
			o.Points += a.Points
			if a.MASE != nil {
				maseSum += *a.MASE
				maseN++
			}
			if a.SMAPE != nil {
				smapeSum += *a.SMAPE
				smapeN++
			}
			for level, c := range a.Coverage {
				covered[level] += math.Round(c * float64(a.Points))
			}
		}
		if maseN > 0 {
			o.MASE = finite(maseSum / float64(maseN))
		}
		if smapeN > 0 {
			o.SMAPE = finite(smapeSum / float64(smapeN))
		}
		if o.Points > 0 {
			for level, c := range covered {
				o.Coverage[level] = c / float64(o.Points)
			}
		}
		out[m] = o
	}
	board := Leaderboard(methods, func(m string) *float64 { return out[m].MASE }, func(m string) *float64 { return out[m].SMAPE })
	return out, board
}
