package gateway_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/forecastd/forecastd/forecast"
)

// getResults reads a batch's results with Accept: accept (none when empty).
func (s *apiServer) getResults(t *testing.T, id, accept string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", s.url+"/v1/batches/"+id+"/results", nil)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK {
		t.Fatalf("results (Accept %q): %d %s", accept, res.StatusCode, body)
	}
	return res, body
}

// mixedBatch has two series with timestamps and one the engine cannot fit.
const mixedBatch = `{"method":"naive","horizon":3,"levels":[80,95],"series":[
	{"name":"a","values":[1,2,3,4],"timestamps":["2024-01-31T00:00:00Z","2024-02-29T00:00:00Z","2024-03-31T00:00:00Z","2024-04-30T00:00:00Z"]},
	{"name":"short","values":[null,null,5]},
	{"name":"b","values":[7,8.5]}]}`

func TestBatchResultsAsNDJSONAreTheJSONResultsALineEach(t *testing.T) {
	s := newAPIServer(t)
	id := s.postBatch(t, "/v1/batches", "application/json", mixedBatch)
	s.waitBatchEnded(t, id)
	want := s.resultsOf(t, id)
	res, body := s.getResults(t, id, "application/x-ndjson")
	if ct := res.Header.Get("Content-Type"); ct != "application/x-ndjson" {
		t.Fatalf("Content-Type %q", ct)
	}
	lines := strings.Split(strings.TrimSuffix(string(body), "\n"), "\n")
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d: %s", len(lines), len(want), body)
	}
	for i, line := range lines {
		if !sameJSON(t, []byte(line), want[i]) {
			t.Errorf("line %d: %s; want %s", i+1, line, want[i])
		}
	}
}

func TestBatchResultsAsCSVAreInLongFormat(t *testing.T) {
	s := newAPIServer(t)
	id := s.postBatch(t, "/v1/batches", "application/json", mixedBatch)
	s.waitBatchEnded(t, id)
	var js batchAnswer
	_, env := s.send(t, "GET", "/v1/batches/"+id+"/results", "", nil)
	decodeData(t, env, &js)

	res, body := s.getResults(t, id, "text/csv")
	if ct := res.Header.Get("Content-Type"); ct != "text/csv" {
		t.Fatalf("Content-Type %q", ct)
	}
	rows, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	if got := strings.Join(rows[0], ","); got != "series_id,step,timestamp,point,lo_80,hi_80,lo_95,hi_95,error" {
		t.Fatalf("header %s", got)
	}
	num := func(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
	var want [][]string
	for _, r := range js.Results {
		if r.Status != "succeeded" {
			want = append(want, []string{r.Name, "", "", "", "", "", "", "", "values: "})
			continue
		}
		for k, p := range r.Point {
			ts := ""
			if r.Timestamps != nil {
				ts = r.Timestamps[k].Format(time.RFC3339)
			}
			want = append(want, []string{r.Name, strconv.Itoa(k + 1), ts, num(p),
				num(r.Intervals["80"].Lower[k]), num(r.Intervals["80"].Upper[k]), num(r.Intervals["95"].Lower[k]), num(r.Intervals["95"].Upper[k]), ""})
		}
	}
	if len(rows)-1 != 3+1+3 || len(want) != len(rows)-1 {
		t.Fatalf("%d rows; want 7 (3 steps of a and b, one row for short): %s", len(rows)-1, body)
	}
	for i, w := range want {
		got := rows[i+1]
		last := len(w) - 1
		if strings.Join(got[:last], ",") != strings.Join(w[:last], ",") || !strings.HasPrefix(got[last], w[last]) {
			t.Errorf("row %d: %q; want %q", i+1, got, w)
		}
	}
	if rows[1][2] != "2024-05-31T00:00:00Z" || rows[1][3] != "4" {
		t.Errorf("a's first step %q; want the naive forecast 4 at the month end after 2024-04-30", rows[1])
	}
}

func TestBatchResultsFormatFollowsAccept(t *testing.T) {
	s := newAPIServer(t)
	id := s.postBatch(t, "/v1/batches", "application/json", `{"method":"naive","horizon":1,"series":[{"name":"a","values":[1,2]}]}`)
	s.waitBatchEnded(t, id)
	tests := []struct{ accept, want string }{
		{"", "application/json"},
		{"*/*", "application/json"},
		{"text/html", "application/json"},
		{"application/json", "application/json"},
		{"text/csv", "text/csv"},
		{"application/x-ndjson", "application/x-ndjson"},
		{"text/html, text/csv", "text/csv"},
		{"text/csv;q=0.5, application/x-ndjson", "application/x-ndjson"},
		{"application/json;q=0.1, text/csv", "text/csv"},
		{"text/csv, application/x-ndjson", "text/csv"},
		{"text/csv;q=0", "application/json"},
	}
	for _, tc := range tests {
		res, _ := s.getResults(t, id, tc.accept)
		if ct := res.Header.Get("Content-Type"); ct != tc.want {
			t.Errorf("Accept %q: Content-Type %q; want %q", tc.accept, ct, tc.want)
		}
		if res.Header.Get("Vary") != "Accept" {
			t.Errorf("Accept %q: Vary %q; want Accept", tc.accept, res.Header.Get("Vary"))
		}
	}
}

// etaOf reads eta_ms of an answer's data: nil when null, failing when absent.
func etaOf(t *testing.T, env jsend) *int64 {
	t.Helper()
	raw, ok := env.Data["eta_ms"]
	if !ok {
		t.Fatalf("no eta_ms in %v", env.Data)
	}
	var eta *int64
	if err := json.Unmarshal(raw, &eta); err != nil {
		t.Fatalf("eta_ms %s: %v", raw, err)
	}
	return eta
}

// A batch's eta_ms is null until a series has ended, a number while it runs, null once it ends;
// meanwhile the series that have not ended are pending in every format.
func TestBatchETAAndPendingSeries(t *testing.T) {
	release := make(chan struct{})
	s := newAPIServer(t, apiOption{
		fit: func(ctx context.Context, y []float64, spec forecast.Spec, p forecast.ProgressFunc) (forecast.Model, error) {
			if y[0] == 3 { // series c waits
				select {
				case <-release:
				case <-ctx.Done():
					return nil, ctx.Err()
				}
			}
			return forecast.Fit(ctx, y, spec, p)
		},
	})
	code, env := s.send(t, "POST", "/v1/batches", "application/json",
		[]byte(`{"method":"naive","horizon":1,"levels":[80],"series":[{"name":"a","values":[1,2]},{"name":"b","values":[2,3]},{"name":"c","values":[3,4]}]}`))
	var acc batchAnswer
	decodeData(t, env, &acc)
	if code != http.StatusAccepted || etaOf(t, env) != nil {
		t.Fatalf("POST: %d %v; want 202 with eta_ms null", code, env)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, env = s.send(t, "GET", "/v1/batches/"+acc.BatchID, "", nil)
		var b batchAnswer
		decodeData(t, env, &b)
		if b.Done == 2 {
			if eta := etaOf(t, env); b.Status != "running" || eta == nil || *eta < 0 {
				t.Fatalf("batch %+v, eta_ms %v; want running with an estimate", b, eta)
			}
			break
		}
		if eta := etaOf(t, env); b.Done == 0 && eta != nil {
			t.Fatalf("batch %+v with nothing done: eta_ms %d; want null", b, *eta)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no series done after 20s: %+v", b)
		}
		time.Sleep(10 * time.Millisecond)
	}
	_, body := s.getResults(t, acc.BatchID, "text/csv")
	if want := "series_id,step,timestamp,point,lo_80,hi_80,error\na,1,,2,"; !strings.HasPrefix(string(body), want) ||
		!strings.Contains(string(body), "\nb,1,,3,") || !strings.HasSuffix(string(body), "\nc,,,,,,pending: the series has not ended yet\n") {
		t.Errorf("CSV of the running batch:\n%s\nwant forecasts of a and b, then c pending", body)
	}
	_, body = s.getResults(t, acc.BatchID, "application/x-ndjson")
	sc := bufio.NewScanner(bytes.NewReader(body))
	var statuses []string
	for sc.Scan() {
		var line struct{ Status string }
		_ = json.Unmarshal(sc.Bytes(), &line)
		statuses = append(statuses, line.Status)
	}
	if fmt.Sprint(statuses) != "[succeeded succeeded pending]" {
		t.Errorf("NDJSON statuses %v; want [succeeded succeeded pending]", statuses)
	}
	close(release)
	s.waitBatchEnded(t, acc.BatchID)
	_, env = s.send(t, "GET", "/v1/batches/"+acc.BatchID, "", nil)
	if eta := etaOf(t, env); eta != nil {
		t.Errorf("ended batch: eta_ms %d; want null", *eta)
	}
	_, env = s.send(t, "GET", "/v1/batches/"+acc.BatchID+"/results", "", nil)
	if eta := etaOf(t, env); eta != nil {
		t.Errorf("ended batch's results: eta_ms %d; want null", *eta)
	}
}
