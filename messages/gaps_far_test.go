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

// A gap of more than about 292 years that is a whole number of the step is read as that many
// steps, so the series is refused for having too many of them, not for a gap that is "not a
// whole number of the series' step" when it is one.
func TestFillGapsCountsTheStepsOfAGapOfCenturies(t *testing.T) {
	ts := []time.Time{
		time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2020, 1, 2, 0, 0, 0, 0, time.UTC),
		time.Date(2020, 1, 3, 0, 0, 0, 0, time.UTC), time.Date(2313, 1, 4, 0, 0, 0, 0, time.UTC),
	}
	_, err := FillGaps(ts, Values{1, 2, 3, 4})
	if err == nil || strings.Contains(err.Error(), "not a whole number") || !strings.Contains(err.Error(), "more than 100000 steps of 1 day") {
		t.Errorf("FillGaps: %v; want the span refused as more than 100000 steps of 1 day", err)
	}
	if n := stepsBetween(ts[2], ts[3], 24*time.Hour); n != MaxValues+1 {
		t.Errorf("stepsBetween = %d; want the cap, %d", n, MaxValues+1)
	}
	// 400 Gregorian years are 146097 days, 20871 weeks.
	a, b := time.Date(1500, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)
	if n := stepsBetween(a, b, 7*24*time.Hour); n != 20871 {
		t.Errorf("stepsBetween(400 years, 1 week) = %d; want 20871", n)
	}
	if n := stepsBetween(a, b.Add(time.Hour), 7*24*time.Hour); n != 0 {
		t.Errorf("stepsBetween(400 years and an hour, 1 week) = %d; want 0", n)
	}
}

// In a series too short for one gap to be the most common, the step is the gap that divides
// the most others, then the first: a time off its step is named, not the entry before it.
func TestFillGapsNamesTheEntryOffTheStepOfAShortSeries(t *testing.T) {
	day := func(d, h int) time.Time { return time.Date(2020, 1, d, h, 0, 0, 0, time.UTC) }
	tests := []struct {
		name string
		ts   []time.Time
		want string
	}{
		{"one entry off", []time.Time{day(1, 0), day(2, 0), day(3, 5), day(4, 0)}, "entry 2 ("},
		{"a missing day first", []time.Time{day(1, 0), day(3, 0), day(4, 0), day(5, 7)}, "entry 3 ("},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := FillGaps(tc.ts, Values{1, 2, 3, 4})
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) || !strings.Contains(err.Error(), "step, 1 day") {
				t.Errorf("FillGaps: %v; want %q… of the step 1 day", err, tc.want)
			}
		})
	}
}
