package forecast

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/stat/distuv"

	"github.com/forecastd/forecastd/forecast/arima"
)

const kindARIMA = "arima"

// arimaModel adapts a fitted arima.Model to the engine's Model interface; it is stored as the
// arima.Model's own JSON.
type arimaModel struct {
	m *arima.Model
}

// fitARIMA fits the order in spec.Options, or selects one automatically when Order is nil.
func fitARIMA(ctx context.Context, y []float64, spec Spec, progress ProgressFunc) (Model, error) {
	opts := spec.Options
	if opts.Order == nil {
		if opts.SeasonalOrder != nil {
			return nil, fmt.Errorf("%w: arima: seasonal_order needs order", ErrInvalidSpec)
		}
		report := func(p arima.Progress) {
			pct := 0.0
			if p.Candidates > 0 {
				pct = math.Min(99, 100*float64(p.Candidate-1)/float64(p.Candidates))
			}
			progress(Progress{Stage: "arima", Candidate: p.Candidate, Candidates: p.Candidates, Iteration: p.Iteration, Percent: pct})
		}
		m, err := arima.Auto(ctx, y, spec.SeasonLength, arima.AutoOptions{Constant: opts.IncludeConstant}, report)
		if err != nil {
			return nil, arimaError(err)
		}
		return arimaModel{m: m}, nil
	}
	as, err := arimaSpec(spec)
	if err != nil {
		return nil, err
	}
	report := func(p arima.Progress) {
		progress(Progress{Stage: "arima", Candidate: 1, Candidates: 1, Iteration: p.Iteration,
			Percent: 99 * float64(p.Iteration) / float64(p.Iteration+20)})
	}
	m, err := arima.Fit(ctx, y, as, report)
	if err != nil {
		return nil, arimaError(err)
	}
	return arimaModel{m: m}, nil
}

// arimaSpec translates fixed orders. Without IncludeConstant the model has a mean when it is
// not differenced and no drift otherwise, as forecast::Arima's defaults.
func arimaSpec(spec Spec) (arima.Spec, error) {
	opts := spec.Options
	if len(opts.Order) != 3 {
		return arima.Spec{}, fmt.Errorf("%w: arima: order must be [p, d, q]", ErrInvalidSpec)
	}
	as := arima.Spec{
		Order:  arima.Order{P: opts.Order[0], D: opts.Order[1], Q: opts.Order[2]},
		Period: max(spec.SeasonLength, 1),
	}
	if opts.SeasonalOrder != nil {
		if len(opts.SeasonalOrder) != 3 {
			return arima.Spec{}, fmt.Errorf("%w: arima: seasonal_order must be [P, D, Q]", ErrInvalidSpec)
		}
		as.Seasonal = arima.Order{P: opts.SeasonalOrder[0], D: opts.SeasonalOrder[1], Q: opts.SeasonalOrder[2]}
	}
	if opts.IncludeConstant != nil {
		as.Constant = *opts.IncludeConstant
	} else {
		as.Constant = as.Order.D+as.Seasonal.D == 0
	}
	return as, nil
}

// arimaError maps the arima package's errors to the engine's sentinels.
func arimaError(err error) error {
	switch {
	case errors.Is(err, arima.ErrTooShort):
		return fmt.Errorf("%w: arima: %w", ErrTooFewObservations, err)
	case errors.Is(err, arima.ErrInvalidOrder):
		return fmt.Errorf("%w: arima: %w", ErrInvalidSpec, err)
	case errors.Is(err, arima.ErrNoModel), errors.Is(err, arima.ErrInvalidData):
		return fmt.Errorf("%w: arima: %w", ErrInvalidData, err)
	}
	return err
}

func (a arimaModel) Kind() string { return kindARIMA }

func (a arimaModel) Summary() Summary {
	m := a.m
	return Summary{
		Method: m.Spec.String(),
		Params: m.Params(),
		LogLik: m.LogLik,
		AIC:    m.AIC,
		AICc:   m.AICc,
		BIC:    m.BIC,
		Sigma2: m.Sigma2,
		N:      m.N,
	}
}

// maxARIMAForecastWork bounds the work of one ARIMA forecast, horizon × (state dimension)²,
// which is what propagating the state's covariance costs: a seasonal model of period 400 has a
// state of 800 dimensions or more, and 10,000 steps of it took minutes. About 5 s of one core
// (ARIMA(0,0,0)(0,1,1)[400], 801 dimensions: 400 steps in 2.6 s); models of periods up to 52
// have at most a few hundred dimensions and are not limited below MaxHorizon's 10,000 steps
// in practice.
const maxARIMAForecastWork = 500_000_000

// Forecast gives the Kalman filter's point forecasts with normal intervals, mean ± z·se.
func (a arimaModel) Forecast(h int, levels []float64) (Result, error) {
	if h < 1 {
		return Result{}, fmt.Errorf("%w: horizon %d must be at least 1", ErrInvalidSpec, h)
	}
	for _, l := range levels {
		if !(l > 0 && l < 100) {
			return Result{}, fmt.Errorf("%w: level %v must be in (0, 100)", ErrInvalidSpec, l)
		}
	}
	if dim := len(a.m.State); h*dim*dim > maxARIMAForecastWork {
		spec := a.m.Spec.String()
		return Result{}, &HorizonError{Fits: maxARIMAForecastWork / (dim * dim), kind: ErrInvalidSpec, say: func(fits int) string {
			return fmt.Sprintf("%s has a state of %d dimensions, and a forecast costs horizon × dimensions², at most %d: a horizon of at most %d can be forecast from it",
				spec, dim, maxARIMAForecastWork, fits)
		}}
	}
	mean, se, err := a.m.Forecast(h)
	if err != nil {
		return Result{}, fmt.Errorf("arima forecast: %w", err)
	}
	res := Result{Point: mean, Intervals: make(map[string]Interval, len(levels))}
	for _, l := range levels {
		z := distuv.UnitNormal.Quantile(0.5 + l/200)
		iv := Interval{Lower: make([]float64, h), Upper: make([]float64, h)}
		for i := range mean {
			iv.Lower[i] = mean[i] - z*se[i]
			iv.Upper[i] = mean[i] + z*se[i]
		}
		res.Intervals[LevelKey(l)] = iv
	}
	return finite(res)
}

func (a arimaModel) MarshalJSON() ([]byte, error) { return json.Marshal(a.m) }

func decodeARIMA(b []byte) (Model, error) {
	var m arima.Model
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return arimaModel{m: &m}, nil
}
