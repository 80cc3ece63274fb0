package messages

import (
	"math"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestBatchRequestValidation(t *testing.T) {
	intp := func(i int) *int { return &i }
	one := func(name string, v ...float64) BatchSeries { return BatchSeries{Name: name, Values: v} }
	many := make([]BatchSeries, MaxBatchSeries+1)
	tests := []struct {
		name   string
		req    BatchRequest
		fields []string // none = valid
	}{
		{"minimal", BatchRequest{Series: []BatchSeries{one("a", 1, 2, 3)}, Horizon: intp(3)}, nil},
		{"no series", BatchRequest{Horizon: intp(3)}, []string{"series"}},
		{"empty series", BatchRequest{Series: []BatchSeries{}, Horizon: intp(3)}, []string{"series"}},
		{"too many series", BatchRequest{Series: many, Horizon: intp(3)}, []string{"series"}},
		{"no horizon", BatchRequest{Series: []BatchSeries{one("a", 1)}}, []string{"horizon"}},
		{"bad levels", BatchRequest{Series: []BatchSeries{one("a", 1)}, Horizon: intp(3), Levels: []float64{0.8, 95}}, []string{"levels"}},
		{"bad method", BatchRequest{Series: []BatchSeries{one("a", 1), one("b", 2)}, Horizon: intp(3), Method: "magic"}, []string{"method"}},
		{"bad values", BatchRequest{Series: []BatchSeries{one("a", 1), one("b"), one("c", math.Inf(1))}, Horizon: intp(3)},
			[]string{"series[1].values", "series[2].values"}},
		{"bad name", BatchRequest{Series: []BatchSeries{one("", 1), one("-x", 1)}, Horizon: intp(3)},
			[]string{"series[0].name", "series[1].name"}},
		{"duplicate name", BatchRequest{Series: []BatchSeries{one("a", 1), one("b", 1), one("a", 2)}, Horizon: intp(3)},
			[]string{"series[2].name"}},
		{"bad season", BatchRequest{Series: []BatchSeries{{Name: "a", Values: Values{1}, SeasonLength: intp(0)}}, Horizon: intp(3)},
			[]string{"series[0].season_length"}},
		{"names that fit a saved model", BatchRequest{Series: []BatchSeries{one(strings.Repeat("n", MaxSavedSeriesName), 1)}, Horizon: intp(3), SaveModels: true}, nil},
		{"a name too long for a saved model", BatchRequest{Series: []BatchSeries{one("a", 1), one(strings.Repeat("n", MaxSavedSeriesName+1), 1)}, Horizon: intp(3), SaveModels: true},
			[]string{"series[1].name"}},
		{"a long name, no saved model", BatchRequest{Series: []BatchSeries{one(strings.Repeat("n", 64), 1)}, Horizon: intp(3)}, nil},
		{"bad timestamps", BatchRequest{Series: []BatchSeries{{Name: "a", Values: Values{1, 2}, Timestamps: []time.Time{{}}}}, Horizon: intp(3)},
			[]string{"series[0].timestamps"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.req.Validate()
			if len(tc.fields) == 0 {
				if err != nil {
					t.Fatalf("unexpected %v", err)
				}
				if tc.req.Method != "auto" || len(tc.req.Levels) != 2 || *tc.req.Series[0].SeasonLength != 1 {
					t.Fatalf("defaults not filled: %+v", tc.req)
				}
				return
			}
			problems := problemsOf(t, err)
			for _, f := range tc.fields {
				if _, ok := problems[f]; !ok {
					t.Errorf("problems %v do not name %q", problems, f)
				}
			}
			if len(problems) != len(tc.fields) {
				t.Errorf("problems %v; want only %v", problems, tc.fields)
			}
		})
	}
}

// A batch of thousands of bad series gets a few examples back, not thousands of lines.
func TestBatchProblemsAreBounded(t *testing.T) {
	h := 3
	req := BatchRequest{Horizon: &h}
	for range 5000 {
		req.Series = append(req.Series, BatchSeries{Name: "x"})
	}
	problems := problemsOf(t, req.Validate())
	if len(problems) > maxBatchProblems+1 || len(problems) < maxBatchProblems {
		t.Fatalf("%d problems; want about %d", len(problems), maxBatchProblems)
	}
	if !strings.Contains(problems["series[1].name"], "series[0]") {
		t.Fatalf("duplicate name problem %q does not name the first", problems["series[1].name"])
	}
}

// A batch's results are bounded: series × horizon × (1 + 2 × levels), one more per step with
// timestamps, up to MaxBatchForecastValues, and past it the fail names horizon with the
// largest that fits.
func TestBatchResultsAreBounded(t *testing.T) {
	batch := func(n, horizon int, stamped bool) BatchRequest {
		r := BatchRequest{Horizon: &horizon, Method: "naive"}
		t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
		for i := range n {
			s := BatchSeries{Name: "s" + strconv.Itoa(i), Values: Values{1, 2, 3}}
			if stamped {
				s.Timestamps = Times{t0, t0.AddDate(0, 0, 1), t0.AddDate(0, 0, 2)}
			}
			r.Series = append(r.Series, s)
		}
		return r
	}
	// Two levels: 5 values a step, 6 with timestamps.
	for _, tc := range []struct {
		n, horizon int
		stamped    bool
		says       string // "" = valid
	}{
		{MaxBatchSeries, 100, false, ""},
		{MaxBatchSeries, 101, false, "a horizon of at most 100,"},
		{MaxBatchSeries, 100, true, "a horizon of at most 83,"},
		{20, MaxHorizon, false, ""},
	} {
		r := batch(tc.n, tc.horizon, tc.stamped)
		err := r.Validate()
		if tc.says == "" {
			if err != nil {
				t.Errorf("%d series, horizon %d: %v; want valid", tc.n, tc.horizon, err)
			}
			continue
		}
		problems := problemsOf(t, err)
		if !strings.Contains(problems["horizon"], tc.says) || len(problems) != 1 {
			t.Errorf("%d series, horizon %d, timestamps %v: problems %v; want only horizon saying %q", tc.n, tc.horizon, tc.stamped, problems, tc.says)
		}
	}
}
