package messages

import (
	"strings"
	"testing"
)

// A time axis whose forecast times would pass year 9999 is refused naming timestamps, for a
// fit (one step), a batch (its horizon) and a backtest alike; one that leaves room is accepted.
func TestTimestampsMustLeaveRoomForTheForecast(t *testing.T) {
	intp := func(n int) *int { return &n }
	late := times(t, "0001-01-01T00:00:00Z", "5000-01-01T00:00:00Z", "9999-01-01T00:00:00Z") // the review's probe
	yearly := times(t, "9996-01-01T00:00:00Z", "9997-01-01T00:00:00Z", "9998-01-01T00:00:00Z")
	values := Values{1, 2, 3}
	check := func(t *testing.T, err error, field string) {
		t.Helper()
		f, _ := err.(*Failure)
		if f == nil || !strings.Contains(f.Problems[field], "after year 9999") {
			t.Errorf("error %v; want %s naming year 9999", err, field)
		}
	}
	t.Run("fit", func(t *testing.T) {
		check(t, (&FitRequest{Values: values, Timestamps: late}).Validate(), "timestamps")
		if err := (&FitRequest{Values: values, Timestamps: yearly}).Validate(); err != nil {
			t.Errorf("a yearly series ending in 9998 leaves room for one step: %v", err)
		}
	})
	t.Run("batch", func(t *testing.T) {
		req := BatchRequest{Horizon: intp(2), Series: []BatchSeries{{Name: "a", Values: values, Timestamps: yearly}}}
		check(t, req.Validate(), "series[0].timestamps")
		req = BatchRequest{Horizon: intp(1), Series: []BatchSeries{{Name: "a", Values: values, Timestamps: yearly}}}
		if err := req.Validate(); err != nil {
			t.Errorf("horizon 1 fits before year 10000: %v", err)
		}
	})
	t.Run("backtest", func(t *testing.T) {
		req := BacktestRequest{Values: Values{1, 2, 3, 4, 5, 6}, Horizon: intp(1),
			Timestamps: times(t, "0001-01-01T00:00:00Z", "2000-01-01T00:00:00Z", "3999-01-01T00:00:00Z", "5998-01-01T00:00:00Z", "7997-01-01T00:00:00Z", "9996-01-01T00:00:00Z")}
		check(t, req.Validate(), "timestamps")
	})
}
