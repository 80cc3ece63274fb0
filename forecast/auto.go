package forecast

import (
	"context"
	"errors"
	"fmt"
	"math"
)

// Method "auto" chooses a family by how well it forecasts data it has not seen.
//
// Candidates are automatic ETS (AICc over R's model space), automatic ARIMA (Hyndman–Khandakar)
// and Theta. When the series is long enough, the last H observations (one season, at least 4 and
// at most a fifth of the series) are held out; each candidate is fitted on the rest and scored by
// its mean absolute error on the hold-out, and the best is refitted on the whole series. ETS wins
// ties and is what a short series gets: automatic ETS alone is the reference that the choice must
// match or beat. A series too short for ETS gets seasonal naive or naive.

type candidate struct {
	name string
	fit  fitter
}

var autoCandidates = []candidate{
	{MethodETS, fitETS},
	{MethodARIMA, fitARIMA},
	{MethodTheta, fitTheta},
}

// holdout returns how many observations auto holds out, or 0 when the series is too short for
// a meaningful comparison.
func holdout(n, m int) int {
	h := max(m, 4)
	if n < 5*h || n-h < 2*m+10 {
		return 0
	}
	return h
}

func fitAuto(ctx context.Context, y []float64, spec Spec, progress ProgressFunc) (Model, error) {
	if m, err := autoChoose(ctx, y, spec, progress); err == nil || ctx.Err() != nil {
		return m, err
	}
	// No smoothing or ARIMA model fits this series: fall back to a baseline.
	if m := spec.SeasonLength; m > 1 && len(y)/2 >= m {
		return fitSNaive(ctx, y, spec, progress)
	}
	return fitNaive(ctx, y, spec, progress)
}

func autoChoose(ctx context.Context, y []float64, spec Spec, progress ProgressFunc) (Model, error) {
	n, m := len(y), max(spec.SeasonLength, 1)
	h := holdout(n, m)
	if h == 0 {
		return fitETS(ctx, y, spec, scaled(progress, 0, 100))
	}
	train, test := y[:n-h], y[n-h:]
	best, bestMAE := -1, math.Inf(1)
	var errs []error
	for i, c := range autoCandidates {
		share := 70.0 / float64(len(autoCandidates))
		mdl, err := c.fit(ctx, train, spec, scaled(progress, float64(i)*share, share))
		if err == nil {
			var mae float64
			mae, err = holdoutMAE(mdl, test)
			if err == nil && mae < bestMAE {
				best, bestMAE = i, mae
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			errs = append(errs, fmt.Errorf("%s: %w", c.name, err))
		}
	}
	if best < 0 {
		return nil, errors.Join(errs...)
	}
	return autoCandidates[best].fit(ctx, y, spec, scaled(progress, 70, 30))
}

func holdoutMAE(m Model, test []float64) (float64, error) {
	res, err := m.Forecast(len(test), nil)
	if err != nil {
		return 0, err
	}
	var sum float64
	for i, v := range test {
		sum += math.Abs(v - res.Point[i])
	}
	mae := sum / float64(len(test))
	if math.IsNaN(mae) || math.IsInf(mae, 0) {
		return 0, fmt.Errorf("%w: non-finite hold-out error", ErrInvalidData)
	}
	return mae, nil
}

// scaled maps a candidate's own 0–100% progress into [from, from+span] of the whole.
func scaled(progress ProgressFunc, from, span float64) ProgressFunc {
	return func(p Progress) {
		p.Percent = from + span*p.Percent/100
		progress(p)
	}
}
