package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/forecastd/forecastd/forecast"
	"github.com/forecastd/forecastd/messages"
	"github.com/forecastd/forecastd/processor"
)

// batchAnswer is the data of a batch answer, results included when asked for.
type batchAnswer struct {
	BatchID string `json:"batch_id"`
	Status  string `json:"status"`
	Total   int    `json:"total"`
	Done    int    `json:"done"`
	Failed  int    `json:"failed"`
	Method  string `json:"method"`
	Horizon int    `json:"horizon"`
	Results []struct {
		Index      int                          `json:"index"`
		Name       string                       `json:"name"`
		Status     string                       `json:"status"`
		Method     string                       `json:"method"`
		Point      []float64                    `json:"point"`
		Intervals  map[string]messages.Interval `json:"intervals"`
		Timestamps []time.Time                  `json:"timestamps"`
		HTTPStatus int                          `json:"http_status"`
		Error      *messages.Envelope           `json:"error"`
	} `json:"results"`
}

func decodeData(t *testing.T, env jsend, v any) {
	t.Helper()
	b, _ := json.Marshal(env.Data)
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("data %s: %v", b, err)
	}
}

// waitBatchEnded polls a batch until it has ended.
func (s *apiServer) waitBatchEnded(t *testing.T, id string) batchAnswer {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, env := s.send(t, "GET", "/v1/batches/"+id, "", nil)
		var b batchAnswer
		decodeData(t, env, &b)
		if code != http.StatusOK {
			t.Fatalf("GET batch: %d %v", code, env)
		}
		if b.Status != "queued" && b.Status != "running" {
			return b
		}
		if time.Now().After(deadline) {
			t.Fatalf("batch still %s after 20s: %+v", b.Status, b)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestBatchForecastsEverySeriesAndKeepsGoingPastABadOne(t *testing.T) {
	s := newAPIServer(t)
	body := `{"method":"naive","horizon":3,"levels":[80],"series":[
		{"name":"a","values":[1,2,3,4]},
		{"name":"gap","values":[1,null,3,5]},
		{"name":"dated","values":[1,2,3],"timestamps":["2024-01-31T00:00:00Z","2024-02-29T00:00:00Z","2024-03-31T00:00:00Z"]},
		{"name":"short","values":[null,null,5]}]}`
	req, _ := http.NewRequest("POST", s.url+"/v1/batches", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var env jsend
	if err := json.NewDecoder(res.Body).Decode(&env); err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	var acc batchAnswer
	decodeData(t, env, &acc)
	if res.StatusCode != http.StatusAccepted || acc.BatchID == "" || acc.Total != 4 || res.Header.Get("Location") != "/v1/batches/"+acc.BatchID {
		t.Fatalf("POST /v1/batches: %d, Location %q, %+v; want 202 naming the batch of 4", res.StatusCode, res.Header.Get("Location"), acc)
	}

	b := s.waitBatchEnded(t, acc.BatchID)
	if b.Status != "succeeded" || b.Done != 4 || b.Failed != 1 || b.Method != "naive" || b.Horizon != 3 {
		t.Fatalf("batch %+v; want succeeded, 4 done, 1 failed", b)
	}
	code, env := s.send(t, "GET", "/v1/batches/"+acc.BatchID+"/results", "", nil)
	var r batchAnswer
	decodeData(t, env, &r)
	if code != http.StatusOK || len(r.Results) != 4 {
		t.Fatalf("results: %d %+v", code, r)
	}
	a, gap, dated, short := r.Results[0], r.Results[1], r.Results[2], r.Results[3]
	if a.Name != "a" || a.Status != "succeeded" || !strings.EqualFold(a.Method, "naive") || fmt.Sprint(a.Point) != "[4 4 4]" || len(a.Intervals["80"].Upper) != 3 {
		t.Errorf("series a: %+v; want the naive forecast [4 4 4] with 80%% intervals", a)
	}
	if gap.Status != "succeeded" || fmt.Sprint(gap.Point) != "[5 5 5]" {
		t.Errorf("series gap: %+v", gap)
	}
	if len(dated.Timestamps) != 3 || !dated.Timestamps[0].Equal(time.Date(2024, 4, 30, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("series dated: timestamps %v; want the month ends from 2024-04-30", dated.Timestamps)
	}
	if short.Status != "failed" || short.HTTPStatus != http.StatusBadRequest || short.Error == nil || short.Error.Status != "fail" ||
		!strings.Contains(string(short.Error.Data), `"values"`) || len(short.Point) != 0 {
		t.Errorf("series short: %+v, error %+v; want failed with a 400 fail naming values", short, short.Error)
	}

	// Cancelling an ended batch changes nothing.
	code, env = s.send(t, "DELETE", "/v1/batches/"+acc.BatchID, "", nil)
	decodeData(t, env, &b)
	if code != http.StatusOK || b.Status != "succeeded" {
		t.Fatalf("DELETE of a succeeded batch: %d %+v", code, b)
	}
}

func TestBadBatchesGetJSendFailNamingTheSeries(t *testing.T) {
	s := newAPIServer(t)
	const js = "application/json"
	many := `{"horizon":1,"series":[` + strings.Repeat(`{"name":"x","values":[1]},`, messages.MaxBatchSeries) + `{"name":"y","values":[1]}]}`
	tests := []struct {
		name, method, path, body string
		code                     int
		field                    string
	}{
		{"no series", "POST", "/v1/batches", `{"horizon":3}`, 400, "series"},
		{"no horizon", "POST", "/v1/batches", `{"series":[{"name":"a","values":[1]}]}`, 400, "horizon"},
		{"bad values", "POST", "/v1/batches", `{"horizon":3,"series":[{"name":"a","values":[1]},{"name":"b","values":[]}]}`, 400, "series[1].values"},
		{"value wrong type", "POST", "/v1/batches", `{"horizon":3,"series":[{"name":"a","values":[1]},{"name":"b","values":["x"]}]}`, 400, "series[1].values[0]"},
		{"duplicate names", "POST", "/v1/batches", `{"horizon":3,"series":[{"name":"a","values":[1]},{"name":"a","values":[2]}]}`, 400, "series[1].name"},
		{"bad name", "POST", "/v1/batches", `{"horizon":3,"series":[{"name":"a b","values":[1]}]}`, 400, "series[0].name"},
		{"unknown field", "POST", "/v1/batches", `{"horizon":3,"series":[{"name":"a","values":[1]},{"name":"b","values":[1],"colour":"red"}]}`, 400, "series[1].colour"},
		{"unknown method", "POST", "/v1/batches", `{"horizon":3,"method":"magic","series":[{"name":"a","values":[1]}]}`, 400, "method"},
		{"too many series", "POST", "/v1/batches", many, 400, "series"},
		{"unknown batch", "GET", "/v1/batches/nope", ``, 404, "batch_id"},
		{"unknown batch results", "GET", "/v1/batches/nope/results", ``, 404, "batch_id"},
		{"cancel unknown batch", "DELETE", "/v1/batches/nope", ``, 404, "batch_id"},
		{"wrong method", "PUT", "/v1/batches/nope", ``, 405, "method"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, env := s.send(t, tc.method, tc.path, js, []byte(tc.body))
			if code != tc.code || env.Status != "fail" {
				t.Fatalf("got %d %q %v, want %d fail", code, env.Status, env.Data, tc.code)
			}
			if _, ok := env.Data[tc.field]; !ok {
				t.Fatalf("fail data %v does not name field %q", env.Data, tc.field)
			}
		})
	}
}

func TestCancelledBatchStopsItsOutstandingSeries(t *testing.T) {
	release, started := make(chan struct{}), make(chan struct{}, 64)
	var fits atomic.Int32
	s := newAPIServer(t, apiOption{
		// One series at a time, as forecastd all runs them with --concurrency 1.
		proc: func(c *processor.Config) { c.Parallel = 1 },
		fit: func(ctx context.Context, y []float64, spec forecast.Spec, p forecast.ProgressFunc) (forecast.Model, error) {
			fits.Add(1)
			started <- struct{}{}
			<-release
			return forecast.Fit(ctx, y, spec, p)
		},
	})
	var series []string
	for i := range 20 {
		series = append(series, fmt.Sprintf(`{"name":"s%d","values":[1,2,3]}`, i))
	}
	code, env := s.send(t, "POST", "/v1/batches", "application/json", []byte(`{"method":"naive","horizon":2,"series":[`+strings.Join(series, ",")+`]}`))
	var acc batchAnswer
	decodeData(t, env, &acc)
	if code != http.StatusAccepted {
		t.Fatalf("POST: %d %v", code, env)
	}
	<-started // a series is being fitted when the batch is cancelled
	code, env = s.send(t, "DELETE", "/v1/batches/"+acc.BatchID, "", nil)
	var b batchAnswer
	decodeData(t, env, &b)
	if code != http.StatusOK || b.Status != "cancelled" {
		t.Fatalf("DELETE: %d %+v", code, b)
	}
	close(release)
	// The series wait for the one slot in order: once a later batch has ended, every series of
	// the cancelled one has been handled.
	_, env = s.send(t, "POST", "/v1/batches", "application/json", []byte(`{"method":"naive","horizon":2,"series":[{"name":"later","values":[1,2]}]}`))
	var later batchAnswer
	decodeData(t, env, &later)
	if b := s.waitBatchEnded(t, later.BatchID); b.Status != "succeeded" {
		t.Fatalf("later batch: %+v", b)
	}
	if n := fits.Load(); n != 2 {
		t.Errorf("%d series fitted; want 2: the one in flight when the batch was cancelled, and the later batch's", n)
	}
	code, env = s.send(t, "GET", "/v1/batches/"+acc.BatchID+"/results", "", nil)
	decodeData(t, env, &b)
	skipped := 0
	for _, r := range b.Results {
		if r.Status == "skipped" {
			skipped++
		}
	}
	if code != http.StatusOK || b.Status != "cancelled" || b.Done != 0 || skipped != 20 {
		t.Fatalf("after cancel: %d, status %s, %d done, %d of 20 skipped; want cancelled, none done (results of series in flight dropped), all skipped", code, b.Status, b.Done, skipped)
	}
}
