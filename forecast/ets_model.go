package forecast

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/forecastd/forecastd/forecast/ets"
)

// ETS and Theta are implemented in package ets; these wrappers adapt them to Model.

const (
	kindETS   = "ets"
	kindTheta = "theta"
)

// etsProgress turns the ets package's progress into Progress reports on the given stage.
func etsProgress(stage string, progress ProgressFunc) func(ets.Progress) {
	if progress == nil {
		return nil
	}
	return func(p ets.Progress) {
		progress(Progress{
			Stage:      stage,
			Candidate:  p.Candidate,
			Candidates: p.Candidates,
			Iteration:  p.Iteration,
			Percent:    100 * float64(p.Candidate-1) / float64(max(p.Candidates, 1)),
		})
	}
}

func fitETS(ctx context.Context, y []float64, spec Spec, progress ProgressFunc) (Model, error) {
	m, err := ets.Fit(ctx, y, spec.Options.ETSSpec, ets.Options{Period: spec.SeasonLength, Progress: etsProgress(kindETS, progress)})
	if err != nil {
		return nil, etsError(err)
	}
	if progress != nil {
		progress(Progress{Stage: kindETS, Percent: 100})
	}
	return etsModel{m}, nil
}

func fitTheta(ctx context.Context, y []float64, spec Spec, progress ProgressFunc) (Model, error) {
	th, err := ets.FitTheta(ctx, y, spec.SeasonLength, etsProgress(kindTheta, progress))
	if err != nil {
		return nil, etsError(err)
	}
	if progress != nil {
		progress(Progress{Stage: kindTheta, Percent: 100})
	}
	return thetaModel{th}, nil
}

func decodeETS(b []byte) (Model, error) {
	var m ets.Model
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return etsModel{&m}, nil
}

func decodeTheta(b []byte) (Model, error) {
	var th ets.Theta
	if err := json.Unmarshal(b, &th); err != nil {
		return nil, err
	}
	if err := th.Validate(); err != nil {
		return nil, err
	}
	return thetaModel{&th}, nil
}

// etsError keeps the ets message and makes the error match this package's sentinel too.
func etsError(err error) error {
	for _, pair := range [][2]error{
		{ets.ErrInvalidSpec, ErrInvalidSpec},
		{ets.ErrTooFewObservations, ErrTooFewObservations},
		{ets.ErrInvalidData, ErrInvalidData},
		{ets.ErrNoModel, ErrInvalidData},
	} {
		if errors.Is(err, pair[0]) {
			return mappedError{err: err, sentinel: pair[1]}
		}
	}
	return err
}

type mappedError struct{ err, sentinel error }

func (e mappedError) Error() string   { return e.err.Error() }
func (e mappedError) Unwrap() []error { return []error{e.err, e.sentinel} }

// etsModel is a fitted ETS model.
type etsModel struct{ m *ets.Model }

func (e etsModel) Kind() string                 { return kindETS }
func (e etsModel) MarshalJSON() ([]byte, error) { return json.Marshal(e.m) }

func (e etsModel) Summary() Summary {
	return Summary{
		Method: e.m.Method(), Params: e.m.ParamMap(),
		LogLik: e.m.LogLik, AIC: e.m.AIC, AICc: e.m.AICc, BIC: e.m.BIC, Sigma2: e.m.Sigma2, N: e.m.N,
	}
}

func (e etsModel) Forecast(h int, levels []float64) (Result, error) {
	f, err := e.m.Forecast(h, levels)
	if err != nil {
		return Result{}, etsError(err)
	}
	return finite(toResult(f, levels))
}

// thetaModel is a fitted Theta method.
type thetaModel struct{ th *ets.Theta }

func (t thetaModel) Kind() string                 { return kindTheta }
func (t thetaModel) MarshalJSON() ([]byte, error) { return json.Marshal(t.th) }

// Summary reports the drift and the SES fit (on the seasonally adjusted series when the data
// were found seasonal); its likelihood and criteria are those of that SES fit.
func (t thetaModel) Summary() Summary {
	s := t.th.SES
	params := map[string]float64{"alpha": s.Params.Alpha, "l": s.Init[0], "drift": t.th.Drift}
	for j, v := range t.th.Seasonal {
		params[fmt.Sprintf("season%d", j+1)] = v
	}
	return Summary{
		Method: "Theta", Params: params,
		LogLik: s.LogLik, AIC: s.AIC, AICc: s.AICc, BIC: s.BIC, Sigma2: s.Sigma2, N: s.N,
	}
}

func (t thetaModel) Forecast(h int, levels []float64) (Result, error) {
	f, err := t.th.Forecast(h, levels)
	if err != nil {
		return Result{}, etsError(err)
	}
	return finite(toResult(f, levels))
}

func toResult(f ets.Forecast, levels []float64) Result {
	r := Result{Point: f.Mean, Intervals: make(map[string]Interval, len(levels))}
	for i, l := range levels {
		r.Intervals[LevelKey(l)] = Interval{Lower: f.Lower[i], Upper: f.Upper[i]}
	}
	return r
}
