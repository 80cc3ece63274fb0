package forecast

import (
	"errors"
	"strings"
	"testing"
)

// A series with no room for even one held-out value after season length + 1 training values is
// a problem of the season length, which says how many values it needs; a series that has room
// is a problem of the horizon, which says what fits.
func TestFirstOriginNamesWhatDoesNotFit(t *testing.T) {
	for _, tc := range []struct {
		n, seasonLength, horizon int
		field, says              string
	}{
		{12, 12, 2, "season_length", "at least 14 values"},
		{13, 12, 2, "season_length", "at least 14 values"},
		{2, 1, 1, "values", "at least 3 values"},
		{15, 12, 3, "horizon", "at most horizon 2 fits"},
	} {
		_, err := Plan{Horizon: tc.horizon, Windows: 1, Step: 1}.FirstOrigin(tc.n, tc.seasonLength)
		var pe *PlanError
		if !errors.As(err, &pe) || pe.Field != tc.field || !strings.Contains(pe.Error(), tc.says) || !errors.Is(err, ErrTooFewObservations) {
			t.Errorf("%d values, season length %d, horizon %d: %v; want %s saying %q", tc.n, tc.seasonLength, tc.horizon, err, tc.field, tc.says)
		}
		if pe != nil && strings.Contains(pe.Problem(), ErrTooFewObservations.Error()) {
			t.Errorf("problem %q repeats the sentinel", pe.Problem())
		}
	}
}
