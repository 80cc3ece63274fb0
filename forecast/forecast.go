// Package forecast is the forecasting engine: model fitting, point forecasts and prediction
// intervals in pure Go on gonum, following Hyndman's R forecast package. It does no I/O and knows
// nothing of queues; it reports progress through a callback and stops when its context ends.
package forecast

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/forecastd/forecastd/forecast/arima"
)

// Methods accepted by Fit.
const (
	MethodAuto   = "auto"
	MethodETS    = "ets"
	MethodARIMA  = "arima"
	MethodTheta  = "theta"
	MethodNaive  = "naive"
	MethodSNaive = "snaive"
	MethodDrift  = "drift"
	MethodMean   = "mean"
)

// Methods lists every method name Fit accepts, in documentation order.
var Methods = []string{MethodAuto, MethodETS, MethodARIMA, MethodTheta, MethodNaive, MethodSNaive, MethodDrift, MethodMean}

// Sentinel errors. They are wrapped with a message that names the problem for the client.
var (
	// ErrTooFewObservations: the series is shorter than the method needs.
	ErrTooFewObservations = errors.New("too few observations")
	// ErrInvalidSpec: the method, its options or the season length cannot be used.
	ErrInvalidSpec = errors.New("invalid model specification")
	// ErrInvalidData: the values cannot be fitted (all missing, non-finite, non-positive for a
	// multiplicative model).
	ErrInvalidData = errors.New("invalid data")
	// ErrUnsupported: the method exists in the API but not in this build of the engine.
	ErrUnsupported = errors.New("method not supported")
	// ErrBadEncoding: a stored model could not be decoded.
	ErrBadEncoding = errors.New("bad model encoding")
)

// Explain is err, an error of the engine about its input, as a client is told it: without the
// name of its kind (ErrInvalidSpec, …) and of the family or step that found it ("arima: "),
// which the field the client is pointed at says already. "too few observations: arima: series
// too short: ARIMA(2,1,1) needs at least 12 observations, got 5" is explained as "ARIMA(2,1,1)
// needs at least 12 observations, got 5".
func Explain(err error) string {
	s := err.Error()
	for cut := true; cut; {
		cut = false
		for _, prefix := range explained {
			if rest, ok := strings.CutPrefix(s, prefix); ok && rest != "" {
				s, cut = rest, true
			}
			// Inside a message of its own too: "arima, window 1 (origin 20): too few …".
			if i := strings.Index(s, ": "+prefix); i >= 0 && i+2+len(prefix) < len(s) {
				s, cut = s[:i+2]+s[i+2+len(prefix):], true
			}
		}
	}
	return s
}

// explained are the prefixes Explain takes off.
var explained = []string{
	ErrTooFewObservations.Error() + ": ", ErrInvalidSpec.Error() + ": ", ErrInvalidData.Error() + ": ", ErrUnsupported.Error() + ": ",
	"arima: ", "ets: ", "theta: ",
	arima.ErrTooShort.Error() + ": ", arima.ErrInvalidOrder.Error() + ": ",
}

// Spec says which model to fit.
type Spec struct {
	Method       string  // one of Methods; empty means auto
	SeasonLength int     // observations per season; 1 (or 0) means non-seasonal
	Options      Options // method-specific options
}

// Options are the method-specific fitting options.
type Options struct {
	// ETS model code such as "ANN", "MAdM" or "ZZZ" (error, trend, season; "d" marks damping).
	ETSSpec string `json:"spec,omitempty"`
	// ARIMA non-seasonal order (p, d, q); nil means automatic order selection.
	Order []int `json:"order,omitempty"`
	// ARIMA seasonal order (P, D, Q); nil means automatic (or none when Order is fixed).
	SeasonalOrder []int `json:"seasonal_order,omitempty"`
	// ARIMA: include a drift (d=1) or mean (d=0) term; nil lets the method decide.
	IncludeConstant *bool `json:"include_constant,omitempty"`
}

// Progress is reported while fitting.
type Progress struct {
	Stage      string  `json:"stage"`                // e.g. "ets", "arima", "select"
	Candidate  int     `json:"candidate,omitempty"`  // 1-based index of the model being tried
	Candidates int     `json:"candidates,omitempty"` // how many candidates there are
	Iteration  int     `json:"iteration,omitempty"`  // optimizer iterations so far (ETS: over all candidates started)
	Percent    float64 `json:"percent"`              // 0..100, overall
}

// ProgressFunc receives progress reports; it must be cheap and may be nil.
type ProgressFunc func(Progress)

// Summary describes a fitted model.
type Summary struct {
	Method  string             `json:"method"` // e.g. "ETS(A,Ad,N)", "ARIMA(7,1,1)", "Naive"
	Params  map[string]float64 `json:"params"`
	LogLik  float64            `json:"loglik"`
	AIC     float64            `json:"aic"`
	AICc    float64            `json:"aicc"`
	BIC     float64            `json:"bic"`
	Sigma2  float64            `json:"sigma2"`
	N       int                `json:"n"`       // observations used
	Missing int                `json:"missing"` // missing values interpolated
}

// Interval is a prediction interval at one level.
type Interval struct {
	Lower []float64 `json:"lower"`
	Upper []float64 `json:"upper"`
}

// Result is a forecast: point forecasts and intervals keyed by LevelKey(level).
type Result struct {
	Point     []float64           `json:"point"`
	Intervals map[string]Interval `json:"intervals"`
}

// Model is a fitted model.
type Model interface {
	// Kind is the encoding tag of the model's concrete type ("naive", "ets", "arima", ...).
	Kind() string
	Summary() Summary
	// Forecast returns h point forecasts and intervals at each level in (0, 100).
	Forecast(h int, levels []float64) (Result, error)
}

// MaxHorizon is the longest forecast the engine computes. It bounds memory for any caller; the
// API caps the horizon lower.
const MaxHorizon = 100_000

// LevelKey is the map key of an interval level: 80 → "80", 99.5 → "99.5".
func LevelKey(level float64) string { return strconv.FormatFloat(level, 'f', -1, 64) }

// Fit fits a model of the given spec to y. NaN marks a missing value. It returns an error
// wrapping one of the sentinels above for bad input, or ctx.Err() when cancelled.
func Fit(ctx context.Context, y []float64, spec Spec, progress ProgressFunc) (Model, error) {
	return fit(ctx, y, spec, progress)
}

// checkForecastArgs validates the arguments of Model.Forecast; every model calls it first.
func checkForecastArgs(h int, levels []float64) error {
	if h < 1 || h > MaxHorizon {
		return fmt.Errorf("%w: horizon must be in [1, %d], got %d", ErrInvalidSpec, MaxHorizon, h)
	}
	for _, l := range levels {
		if !(l > 0 && l < 100) { // also rejects NaN
			return fmt.Errorf("%w: level must be in (0, 100), got %v", ErrInvalidSpec, l)
		}
	}
	return nil
}

// symmetricResult builds a Result with intervals point ± q(level)·se, where q(level) is the
// upper (100+level)/200 quantile computed by upper from the tail probability (100-level)/200,
// which keeps levels close to 100 accurate. It fails rather than return non-finite numbers.
func symmetricResult(point, se, levels []float64, upper func(tail float64) float64) (Result, error) {
	res := Result{Point: point, Intervals: make(map[string]Interval, len(levels))}
	if !allFinite(point) || !allFinite(se) {
		return Result{}, fmt.Errorf("%w: forecast exceeds the float64 range at horizon %d", ErrInvalidData, len(point))
	}
	for _, l := range levels {
		q := upper((100 - l) / 200)
		if math.IsNaN(q) || math.IsInf(q, 0) {
			return Result{}, fmt.Errorf("%w: level %v is too close to 100", ErrInvalidSpec, l)
		}
		iv := Interval{Lower: make([]float64, len(point)), Upper: make([]float64, len(point))}
		for i, p := range point {
			w := q * se[i]
			iv.Lower[i], iv.Upper[i] = p-w, p+w
		}
		if !allFinite(iv.Lower) || !allFinite(iv.Upper) {
			return Result{}, fmt.Errorf("%w: %v%% interval exceeds the float64 range", ErrInvalidData, l)
		}
		res.Intervals[LevelKey(l)] = iv
	}
	return res, nil
}

// HorizonError is a forecast refused beyond a horizon: Fits steps can be forecast, not more
// (after them it leaves the float64 range, or it would cost too much). It wraps ErrInvalidData
// or ErrInvalidSpec.
type HorizonError struct {
	Fits int
	kind error
	say  func(fits int) string // the message, for a given Fits
}

func (e *HorizonError) Error() string { return e.kind.Error() + ": " + e.say(e.Fits) }
func (e *HorizonError) Unwrap() error { return e.kind }

// finite is res unless a point or a bound is not finite (a model whose forecast grows past
// the float64 range, as a multiplicative trend does far enough ahead): then a HorizonError
// naming the steps before the first such one.
func finite(res Result) (Result, error) {
	first := -1
	note := func(xs []float64) {
		if i := slices.IndexFunc(xs, func(x float64) bool { return math.IsNaN(x) || math.IsInf(x, 0) }); i >= 0 && (first < 0 || i < first) {
			first = i
		}
	}
	note(res.Point)
	for _, iv := range res.Intervals {
		note(iv.Lower)
		note(iv.Upper)
	}
	if first < 0 {
		return res, nil
	}
	return Result{}, &HorizonError{Fits: first, kind: ErrInvalidData, say: func(fits int) string {
		if fits < 1 {
			return "the forecast exceeds the float64 range at its first step"
		}
		return fmt.Sprintf("the forecast exceeds the float64 range beyond step %d; a horizon of at most %d can be forecast", fits, fits)
	}}
}

func allFinite(xs []float64) bool {
	for _, x := range xs {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return false
		}
	}
	return true
}

// KindBaseline is the Kind of the naive, seasonal naive, drift and mean models, which are not
// fitted by likelihood and so report no log-likelihood or information criteria.
const KindBaseline = kindBaseline
