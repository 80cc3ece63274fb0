package forecast

import (
	"context"
	"fmt"
)

// Owned by the ARIMA work (issue 3): replace these stubs.

const kindARIMA = "arima"

func fitARIMA(ctx context.Context, y []float64, spec Spec, progress ProgressFunc) (Model, error) {
	return nil, fmt.Errorf("%w: arima", ErrUnsupported)
}

func decodeARIMA(b []byte) (Model, error) { return nil, fmt.Errorf("%w: arima", ErrUnsupported) }
