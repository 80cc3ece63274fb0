package messages

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

// times parses RFC 3339 times.
func times(t *testing.T, ts ...string) []time.Time {
	t.Helper()
	out := make([]time.Time, len(ts))
	for i, x := range ts {
		var err error
		if out[i], err = time.Parse(time.RFC3339, x); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// count is 1, 2, …, n as values.
func count(n int) Values {
	v := make(Values, n)
	for i := range v {
		v[i] = float64(i + 1)
	}
	return v
}

func TestFillGapsPutsMissingStepsAsMissingValues(t *testing.T) {
	tests := []struct {
		name   string
		ts     []string
		values Values   // as filled, NaN at gaps; nil: the input's own
		times  []string // as filled; nil: the input's own
		next   string   // the axis' next time
	}{
		{name: "regular daily",
			ts:   []string{"2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z", "2024-01-03T00:00:00Z"},
			next: "2024-01-04T00:00:00Z"},
		{name: "a day missing",
			ts:     []string{"2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z", "2024-01-04T00:00:00Z", "2024-01-05T00:00:00Z"},
			values: Values{1, 2, math.NaN(), 3, 4},
			times:  []string{"2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z", "2024-01-03T00:00:00Z", "2024-01-04T00:00:00Z", "2024-01-05T00:00:00Z"},
			next:   "2024-01-06T00:00:00Z"},
		{name: "two months missing",
			ts:     []string{"2024-01-01T00:00:00Z", "2024-02-01T00:00:00Z", "2024-05-01T00:00:00Z", "2024-06-01T00:00:00Z"},
			values: Values{1, 2, math.NaN(), math.NaN(), 3, 4},
			times:  []string{"2024-01-01T00:00:00Z", "2024-02-01T00:00:00Z", "2024-03-01T00:00:00Z", "2024-04-01T00:00:00Z", "2024-05-01T00:00:00Z", "2024-06-01T00:00:00Z"},
			next:   "2024-07-01T00:00:00Z"},
		{name: "a quarter missing",
			ts:     []string{"2023-01-15T00:00:00Z", "2023-04-15T00:00:00Z", "2023-10-15T00:00:00Z", "2024-01-15T00:00:00Z"},
			values: Values{1, 2, math.NaN(), 3, 4},
			times:  []string{"2023-01-15T00:00:00Z", "2023-04-15T00:00:00Z", "2023-07-15T00:00:00Z", "2023-10-15T00:00:00Z", "2024-01-15T00:00:00Z"},
			next:   "2024-04-15T00:00:00Z"},
		{name: "a month end missing",
			ts:     []string{"2024-01-31T00:00:00Z", "2024-03-31T00:00:00Z", "2024-04-30T00:00:00Z", "2024-05-31T00:00:00Z"},
			values: Values{1, math.NaN(), 2, 3, 4},
			times:  []string{"2024-01-31T00:00:00Z", "2024-02-29T00:00:00Z", "2024-03-31T00:00:00Z", "2024-04-30T00:00:00Z", "2024-05-31T00:00:00Z"},
			next:   "2024-06-30T00:00:00Z"},
		{name: "a year missing",
			ts:     []string{"2019-01-01T00:00:00Z", "2020-01-01T00:00:00Z", "2022-01-01T00:00:00Z", "2023-01-01T00:00:00Z"},
			values: Values{1, 2, math.NaN(), 3, 4},
			times:  []string{"2019-01-01T00:00:00Z", "2020-01-01T00:00:00Z", "2021-01-01T00:00:00Z", "2022-01-01T00:00:00Z", "2023-01-01T00:00:00Z"},
			next:   "2024-01-01T00:00:00Z"},
		{name: "hours missing",
			ts:     []string{"2024-01-01T00:00:00Z", "2024-01-01T01:00:00Z", "2024-01-01T04:00:00Z", "2024-01-01T05:00:00Z", "2024-01-01T06:00:00Z"},
			values: Values{1, 2, math.NaN(), math.NaN(), 3, 4, 5},
			times:  []string{"2024-01-01T00:00:00Z", "2024-01-01T01:00:00Z", "2024-01-01T02:00:00Z", "2024-01-01T03:00:00Z", "2024-01-01T04:00:00Z", "2024-01-01T05:00:00Z", "2024-01-01T06:00:00Z"},
			next:   "2024-01-01T07:00:00Z"},
		{name: "hourly across a daylight saving night, an hour missing",
			ts:     []string{"2024-03-31T00:00:00+01:00", "2024-03-31T01:00:00+01:00", "2024-03-31T03:00:00+02:00", "2024-03-31T04:00:00+02:00", "2024-03-31T05:00:00+02:00", "2024-03-31T07:00:00+02:00"},
			values: Values{1, 2, 3, 4, 5, math.NaN(), 6},
			times:  []string{"2024-03-31T00:00:00+01:00", "2024-03-31T01:00:00+01:00", "2024-03-31T03:00:00+02:00", "2024-03-31T04:00:00+02:00", "2024-03-31T05:00:00+02:00", "2024-03-31T06:00:00+02:00", "2024-03-31T07:00:00+02:00"},
			next:   "2024-03-31T08:00:00+02:00"},
		{name: "daily across a daylight saving day, a day missing",
			ts:     []string{"2024-03-29T00:00:00+01:00", "2024-03-30T00:00:00+01:00", "2024-04-01T00:00:00+02:00", "2024-04-02T00:00:00+02:00"},
			values: Values{1, 2, math.NaN(), 3, 4},
			times:  []string{"2024-03-29T00:00:00+01:00", "2024-03-30T00:00:00+01:00", "2024-03-31T00:00:00+01:00", "2024-04-01T00:00:00+02:00", "2024-04-02T00:00:00+02:00"},
			next:   "2024-04-03T00:00:00+02:00"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := count(len(tc.ts))
			in[0] = math.NaN() // a null given as such stays one, and is no gap
			r, err := FillGaps(times(t, tc.ts...), in)
			if err != nil {
				t.Fatal(err)
			}
			want, wantTimes := tc.values, tc.times
			if want == nil {
				want, wantTimes = count(len(tc.ts)), tc.ts
			}
			want = slices.Clone(want)
			want[0] = math.NaN()
			same := func(a, b float64) bool { return a == b || math.IsNaN(a) && math.IsNaN(b) }
			if !slices.EqualFunc(r.Values, want, same) {
				t.Errorf("values = %v; want %v", r.Values, want)
			}
			var got []string
			for _, x := range r.Times {
				got = append(got, x.Format(time.RFC3339))
			}
			if !slices.Equal(got, wantTimes) {
				t.Errorf("times = %v; want %v", got, wantTimes)
			}
			if g := len(wantTimes) - len(tc.ts); r.Gaps != g {
				t.Errorf("gaps = %d; want %d", r.Gaps, g)
			}
			if next := r.Axis.Next(1)[0].Format(time.RFC3339); next != tc.next {
				t.Errorf("next time = %s; want %s (axis %+v)", next, tc.next, r.Axis)
			}
		})
	}
}

func TestFillGapsRejectsTimesOffTheStep(t *testing.T) {
	daily := func(days ...int) []string {
		var out []string
		for _, d := range days {
			out = append(out, time.Date(2024, 1, d, 0, 0, 0, 0, time.UTC).Format(time.RFC3339))
		}
		return out
	}
	tests := []struct {
		name    string
		ts      []string
		mention []string
	}{
		{"an hour off", []string{"2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z", "2024-01-03T01:00:00Z", "2024-01-04T00:00:00Z", "2024-01-05T00:00:00Z"},
			[]string{"entry 2 (2024-01-03T01:00:00Z) is 25h0m0s after entry 1", "not a whole number", "1 day"}},
		{"a step that changes from 2 to 3 days", daily(1, 3, 5, 7, 9, 12, 15),
			[]string{"entry 5 (2024-01-12T00:00:00Z) is 3 days after entry 4", "2 days"}},
		{"a step that changes from daily to weekly", daily(1, 2, 3, 4, 11, 18, 25),
			[]string{"leave out 18 steps of 1 day, more than the 7 observations", "entry 4 (2024-01-11T00:00:00Z) is 7 days after entry 3"}},
		{"monthly, one off its day", []string{"2024-01-01T00:00:00Z", "2024-02-01T00:00:00Z", "2024-03-05T00:00:00Z", "2024-04-01T00:00:00Z", "2024-05-01T00:00:00Z"},
			[]string{"entry 2 (2024-03-05T00:00:00Z)", "1 month"}},
		{"a duplicate", daily(1, 2, 2, 3),
			[]string{"entry 2 repeats the time of entry 1 (2024-01-02T00:00:00Z)"}},
		{"unsorted", daily(1, 3, 2, 4),
			[]string{"entry 2 (2024-01-02T00:00:00Z) is before entry 1 (2024-01-03T00:00:00Z)", "sort"}},
		{"one time", daily(1), []string{"at least 2"}},
		{"too long a span", []string{"2024-01-01T00:00:00Z", "2024-01-01T00:00:01Z", "2024-01-03T00:00:00Z"},
			[]string{"more than 100000 steps of 1s"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := FillGaps(times(t, tc.ts...), count(len(tc.ts)))
			if err == nil {
				t.Fatalf("accepted as %d values, axis %+v", len(r.Values), r.Axis)
			}
			for _, m := range tc.mention {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("%q does not mention %q", err, m)
				}
			}
		})
	}
	if _, err := FillGaps(times(t, daily(1, 2, 3)...), count(2)); err == nil || !strings.Contains(err.Error(), "has 3 entries but values has 2") {
		t.Errorf("timestamps and values of different lengths: %v", err)
	}
}
