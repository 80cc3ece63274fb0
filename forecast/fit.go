package forecast

import (
	"context"
	"fmt"
	"math"
)

// fitter fits one family to a cleaned series (no NaN) of n ≥ 1 observations.
type fitter func(ctx context.Context, y []float64, spec Spec, progress ProgressFunc) (Model, error)

func fitterFor(method string) (fitter, bool) {
	switch method {
	case MethodAuto, "":
		return fitAuto, true
	case MethodETS:
		return fitETS, true
	case MethodARIMA:
		return fitARIMA, true
	case MethodTheta:
		return fitTheta, true
	case MethodNaive:
		return fitNaive, true
	case MethodSNaive:
		return fitSNaive, true
	case MethodDrift:
		return fitDrift, true
	case MethodMean:
		return fitMean, true
	}
	return nil, false
}

func fit(ctx context.Context, y []float64, spec Spec, progress ProgressFunc) (Model, error) {
	f, ok := fitterFor(spec.Method)
	if !ok {
		return nil, fmt.Errorf("%w: unknown method %q", ErrInvalidSpec, spec.Method)
	}
	if spec.SeasonLength <= 0 {
		spec.SeasonLength = 1
	}
	if progress == nil {
		progress = func(Progress) {}
	}
	clean, missing, err := prepare(y, spec.SeasonLength)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m, err := f(ctx, clean, spec, progress)
	if err != nil {
		return nil, err
	}
	lead, tail := missingEnds(y)
	return withMissing(m, missing+lead+tail, tail), nil
}

// missingEnds counts the missing values (NaN) before the first observed value of y and after
// the last; y has at least one observed value.
func missingEnds(y []float64) (lead, tail int) {
	for lead < len(y) && math.IsNaN(y[lead]) {
		lead++
	}
	for tail < len(y)-lead && math.IsNaN(y[len(y)-1-tail]) {
		tail++
	}
	return lead, tail
}
