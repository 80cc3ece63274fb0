package gateway_test

import (
	"fmt"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"
)

// days are the RFC 3339 times of the given days of January 2024, as a JSON array.
func days(ds ...int) string {
	var out []string
	for _, d := range ds {
		out = append(out, `"`+time.Date(2024, 1, d, 0, 0, 0, 0, time.UTC).Format(time.RFC3339)+`"`)
	}
	return "[" + strings.Join(out, ",") + "]"
}

// A day left out of a series' timestamps is a missing value: drift through 1, 2, _, 4, 5 is
// fitted on the interpolated 1…5 (slope 1; on 1, 2, 4, 5 as consecutive steps it would be 4/3),
// and the result counts it. A time off the series' step fails the batch naming the series.
func TestBatchSeriesWithTimestampGapsAreFittedWithMissingValues(t *testing.T) {
	s := newAPIServer(t)
	body := `{"method":"drift","horizon":2,"levels":[80],"series":[
		{"name":"gappy","values":[1,2,4,5],"timestamps":` + days(1, 2, 4, 5) + `},
		{"name":"nulls","values":[1,2,null,4,5],"timestamps":` + days(1, 2, 3, 4, 5) + `}]}`
	id := s.postBatch(t, "/v1/batches", "application/json", body)
	s.waitBatchEnded(t, id)
	code, env := s.send(t, "GET", "/v1/batches/"+id+"/results", "", nil)
	var r struct {
		Results []struct {
			Status     string      `json:"status"`
			Point      []float64   `json:"point"`
			Timestamps []time.Time `json:"timestamps"`
			Missing    int         `json:"missing"`
			Gaps       int         `json:"gaps"`
		} `json:"results"`
	}
	decodeData(t, env, &r)
	if code != http.StatusOK || len(r.Results) != 2 {
		t.Fatalf("results: %d %v", code, env)
	}
	for i, want := range []struct{ gaps int }{{1}, {0}} {
		got := r.Results[i]
		if got.Status != "succeeded" || len(got.Point) != 2 || math.Abs(got.Point[0]-6) > 1e-9 || math.Abs(got.Point[1]-7) > 1e-9 {
			t.Errorf("series %d: %+v; want drift's 6, 7 through the filled value", i, got)
		}
		if got.Missing != 1 || got.Gaps != want.gaps {
			t.Errorf("series %d: missing %d, gaps %d; want 1 missing, %d of it a gap", i, got.Missing, got.Gaps, want.gaps)
		}
		if len(got.Timestamps) != 2 || !got.Timestamps[0].Equal(time.Date(2024, 1, 6, 0, 0, 0, 0, time.UTC)) {
			t.Errorf("series %d: timestamps %v; want from 2024-01-06", i, got.Timestamps)
		}
	}

	for _, tc := range []struct{ name, ts, mention string }{
		{"off the step", `["2024-01-01T00:00:00Z","2024-01-02T00:00:00Z","2024-01-03T06:00:00Z","2024-01-04T00:00:00Z"]`, "not a whole number"},
		{"duplicate", days(1, 2, 2, 3), "repeats the time of entry 1"},
		{"unsorted", days(1, 3, 2, 4), "is before entry 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := `{"horizon":2,"series":[{"name":"ok","values":[1,2,3]},{"name":"bad","values":[1,2,3,4],"timestamps":` + tc.ts + `}]}`
			code, env := s.send(t, "POST", "/v1/batches", "application/json", []byte(body))
			if problem := string(env.Data["series[1].timestamps"]); code != http.StatusBadRequest || env.Status != "fail" || !strings.Contains(problem, tc.mention) {
				t.Fatalf("%d %s %v; want a 400 fail naming series[1].timestamps: %s", code, env.Status, env.Data, tc.mention)
			}
		})
	}
}

// A fit takes the same timestamps a batch series does: a month left out is a missing value.
func TestFitWithATimestampGapCountsItMissing(t *testing.T) {
	s := newAPIServer(t)
	var ts []string
	for _, m := range []int{1, 2, 3, 5, 6} {
		ts = append(ts, fmt.Sprintf(`"2024-%02d-01T00:00:00Z"`, m))
	}
	body := `{"method":"drift","values":[1,2,3,5,6],"timestamps":[` + strings.Join(ts, ",") + `]}`
	code, env := s.send(t, "POST", "/v1/models/gappy/fit", "application/json", []byte(body))
	var fit struct {
		N       int `json:"n"`
		Missing int `json:"missing"`
		Gaps    int `json:"gaps"`
	}
	decodeData(t, env, &fit)
	if code != http.StatusOK || fit.Missing != 1 || fit.Gaps != 1 || fit.N != 6 {
		t.Fatalf("fit: %d %v; want 6 observations, 1 missing, a gap", code, env)
	}
	code, env = s.send(t, "POST", "/v1/models/gappy/forecast", "application/json", []byte(`{"horizon":1}`))
	var fc struct {
		Point      []float64   `json:"point"`
		Timestamps []time.Time `json:"timestamps"`
	}
	decodeData(t, env, &fc)
	if code != http.StatusOK || len(fc.Point) != 1 || math.Abs(fc.Point[0]-7) > 1e-9 ||
		len(fc.Timestamps) != 1 || !fc.Timestamps[0].Equal(time.Date(2024, 7, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("forecast: %d %v; want 7 at 2024-07-01", code, env)
	}
}
