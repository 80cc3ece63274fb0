package messages

import (
	"strings"
	"testing"
	"time"
)

// A gap of thousands of years (beyond what a time.Duration holds) is described in days, not as
// the saturated duration 2562047h47m16.854775807s.
func TestFillGapsDescribesAGapOfMillennia(t *testing.T) {
	at := func(s string) time.Time {
		ts, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return ts
	}
	ts := []time.Time{at("2000-01-01T00:00:00Z"), at("2000-01-02T00:00:00Z"), at("2000-01-03T00:00:00Z"), at("9975-01-03T05:00:00Z")}
	_, err := FillGaps(ts, Values{1, 2, 3, 4})
	if err == nil || strings.Contains(err.Error(), "2562047h") || !strings.Contains(err.Error(), "2912809 days") {
		t.Errorf("FillGaps: %v; want the gap in days (2912809 and 5 hours)", err)
	}
}
