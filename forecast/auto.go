package forecast

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
)

// Method "auto" combines automatic ETS (AICc over R's model space), automatic ARIMA
// (Hyndman–Khandakar) and Theta, each fitted on the whole series: the point forecast is the mean
// of the members' point forecasts, and each interval runs from the lowest member lower bound to
// the highest member upper bound. The equal-weight combination of these three is the simple,
// robust benchmark of the M3 and M4 competitions; the envelope of the members' intervals is
// forecastHybrid's default, chosen because each member's own intervals are too narrow out of
// sample (they ignore the uncertainty of the model choice, which is what the members' disagreement
// shows). A member that cannot fit the series is left out; ETS alone is kept, but a series that
// only ARIMA fits, or none, gets seasonal naive or naive.

const kindAuto = "auto"

type member struct {
	name string
	fit  fitter
}

var autoMembers = []member{
	{MethodETS, fitETS},
	{MethodARIMA, fitARIMA},
	{MethodTheta, fitTheta},
}

func init() {
	// Registered here, not in the decoders literal: decodeAuto decodes its members through
	// Decode, which reads decoders.
	decoders[kindAuto] = decodeAuto
}

func fitAuto(ctx context.Context, y []float64, spec Spec, progress ProgressFunc) (Model, error) {
	if m, err := fitCombination(ctx, y, spec, progress); err == nil || ctx.Err() != nil {
		return m, err
	}
	// No smoothing or ARIMA model fits this series: fall back to a baseline.
	if m := spec.SeasonLength; m > 1 && len(y)/2 >= m {
		return fitSNaive(ctx, y, spec, progress)
	}
	return fitNaive(ctx, y, spec, progress)
}

func fitCombination(ctx context.Context, y []float64, spec Spec, progress ProgressFunc) (Model, error) {
	var members []Model
	var errs []error
	share := 100.0 / float64(len(autoMembers))
	for i, c := range autoMembers {
		mdl, err := c.fit(ctx, y, Spec{SeasonLength: spec.SeasonLength}, scaled(progress, float64(i)*share, share))
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			errs = append(errs, fmt.Errorf("%s: %w", c.name, err))
			continue
		}
		members = append(members, mdl)
	}
	switch {
	case len(members) > 1:
		return &autoModel{members: members}, nil
	case len(members) == 1 && members[0].Kind() == kindETS:
		return members[0], nil
	}
	// ARIMA alone on a series too short for ETS and Theta (under 7 observations) is mostly a
	// constant mean fitted to a handful of points: the baseline is the more honest answer.
	return nil, errors.Join(errs...)
}

// scaled maps a member's own 0–100% progress into [from, from+span] of the whole.
func scaled(progress ProgressFunc, from, span float64) ProgressFunc {
	return func(p Progress) {
		p.Percent = from + span*p.Percent/100
		progress(p)
	}
}

// autoModel is the combination of two or more fitted members.
type autoModel struct {
	members []Model
}

func (a *autoModel) Kind() string { return kindAuto }

// Summary names the members, as "auto(ETS(M,A,M)+ARIMA(0,1,1)(0,1,1)[12]+Theta)", and reports
// their parameters prefixed by their family. A combination has no likelihood of its own, so its
// criteria and residual variance are NaN (reported as absent).
func (a *autoModel) Summary() Summary {
	names := make([]string, len(a.members))
	params := map[string]float64{}
	n := 0
	for i, m := range a.members {
		s := m.Summary()
		names[i] = s.Method
		for k, v := range s.Params {
			params[m.Kind()+"."+k] = v
		}
		n = max(n, s.N)
	}
	nan := math.NaN()
	return Summary{
		Method: "auto(" + strings.Join(names, "+") + ")", Params: params,
		LogLik: nan, AIC: nan, AICc: nan, BIC: nan, Sigma2: nan, N: n,
	}
}

// Forecast averages the members' point forecasts and takes the envelope of their intervals.
func (a *autoModel) Forecast(h int, levels []float64) (Result, error) {
	if err := checkForecastArgs(h, levels); err != nil {
		return Result{}, err
	}
	res := Result{Point: make([]float64, h), Intervals: make(map[string]Interval, len(levels))}
	for _, l := range levels {
		iv := Interval{Lower: make([]float64, h), Upper: make([]float64, h)}
		for i := range h {
			iv.Lower[i], iv.Upper[i] = math.Inf(1), math.Inf(-1)
		}
		res.Intervals[LevelKey(l)] = iv
	}
	for _, m := range a.members {
		r, err := m.Forecast(h, levels)
		if err != nil {
			return Result{}, err
		}
		for i, p := range r.Point {
			res.Point[i] += p / float64(len(a.members))
		}
		for k, iv := range res.Intervals {
			for i := range h {
				iv.Lower[i] = math.Min(iv.Lower[i], r.Intervals[k].Lower[i])
				iv.Upper[i] = math.Max(iv.Upper[i], r.Intervals[k].Upper[i])
			}
		}
	}
	if !allFinite(res.Point) {
		return Result{}, fmt.Errorf("%w: forecast exceeds the float64 range at horizon %d", ErrInvalidData, h)
	}
	return res, nil
}

// MarshalJSON stores the members in their own envelopes.
func (a *autoModel) MarshalJSON() ([]byte, error) {
	members := make([]json.RawMessage, len(a.members))
	for i, m := range a.members {
		b, err := Encode(m)
		if err != nil {
			return nil, err
		}
		members[i] = b
	}
	return json.Marshal(struct {
		Members []json.RawMessage `json:"members"`
	}{members})
}

func decodeAuto(b []byte) (Model, error) {
	var stored struct {
		Members []json.RawMessage `json:"members"`
	}
	if err := json.Unmarshal(b, &stored); err != nil {
		return nil, err
	}
	if len(stored.Members) < 2 {
		return nil, fmt.Errorf("a combination needs at least 2 members, got %d", len(stored.Members))
	}
	a := &autoModel{members: make([]Model, len(stored.Members))}
	for i, raw := range stored.Members {
		m, err := Decode(raw)
		if err != nil {
			return nil, fmt.Errorf("member %d: %w", i+1, err)
		}
		if m.Kind() == kindAuto {
			return nil, fmt.Errorf("member %d is itself a combination", i+1)
		}
		a.members[i] = m
	}
	return a, nil
}
