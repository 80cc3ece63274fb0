package forecast

import (
	"context"
	"fmt"
)

// Owned by the ETS work (issue 3): replace these stubs.

const (
	kindETS   = "ets"
	kindTheta = "theta"
)

func fitETS(ctx context.Context, y []float64, spec Spec, progress ProgressFunc) (Model, error) {
	return nil, fmt.Errorf("%w: ets", ErrUnsupported)
}

func fitTheta(ctx context.Context, y []float64, spec Spec, progress ProgressFunc) (Model, error) {
	return nil, fmt.Errorf("%w: theta", ErrUnsupported)
}

func decodeETS(b []byte) (Model, error)   { return nil, fmt.Errorf("%w: ets", ErrUnsupported) }
func decodeTheta(b []byte) (Model, error) { return nil, fmt.Errorf("%w: theta", ErrUnsupported) }
