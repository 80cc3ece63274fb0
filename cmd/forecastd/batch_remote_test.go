package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/forecastd/forecastd/internal/stack"
	"github.com/forecastd/forecastd/store"
)

// lockedBuffer is stderr read by a test while the run writes it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// remoteService is an in-process stack (memory store, GoChannel broker) with a gateway and,
// unless noProcessor, a processor; wrap, if not nil, stands in front of the gateway.
func remoteService(t *testing.T, noProcessor bool, wrap func(http.Handler) http.Handler) (string, store.Store) {
	t.Helper()
	s := stack.New(t, stack.Config{})
	if !noProcessor {
		s.AddProcessor(stack.ProcessorOptions{})
	}
	gw := s.AddGateway(stack.GatewayOptions{})
	if wrap == nil {
		return gw.URL, s.Store()
	}
	srv := httptest.NewServer(wrap(gw.Handler()))
	t.Cleanup(srv.Close)
	return srv.URL, s.Store()
}

// withoutStream is a service that predates the batch stream: the POST's Accept loses
// text/event-stream, so it answers 202 JSON.
func withoutStream(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Header.Set("Accept", "application/json")
		h.ServeHTTP(w, r)
	})
}

// remoteRun runs 'forecastd batch --url' on the file input (written to a temporary file named
// inputName) and returns the output file's content (nil when none was written), stderr and
// the run's error.
func remoteRun(t *testing.T, ctx context.Context, url, inputName, input, outputName string, stderr *lockedBuffer, flags ...string) ([]byte, error) {
	t.Helper()
	dir := t.TempDir()
	in, out := filepath.Join(dir, inputName), filepath.Join(dir, outputName)
	if err := os.WriteFile(in, []byte(input), 0o644); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"--url", url, "--input", in, "--output", out, "--poll-interval", "20ms"}, flags...)
	err := runBatch(ctx, args, &bytes.Buffer{}, stderr)
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.Name() != inputName && e.Name() != outputName {
			t.Errorf("left behind %s", e.Name())
		}
	}
	b, rerr := os.ReadFile(out)
	if errors.Is(rerr, os.ErrNotExist) {
		return nil, err
	}
	if rerr != nil {
		t.Fatal(rerr)
	}
	return b, err
}

// remoteResult is one element of the JSON results, as GET /v1/batches/{id}/results has it.
type remoteResult struct {
	Name      string    `json:"name"`
	Status    string    `json:"status"`
	Method    string    `json:"method"`
	Point     []float64 `json:"point"`
	Intervals map[string]struct {
		Lower, Upper []float64
	} `json:"intervals"`
	Error json.RawMessage `json:"error"`
}

func decodeResults(t *testing.T, b []byte) []remoteResult {
	t.Helper()
	var rs []remoteResult
	if err := json.Unmarshal(b, &rs); err != nil {
		t.Fatalf("output is not a JSON array of results: %v\n%s", err, b)
	}
	return rs
}

const goodSeries = `[
  {"name": "walk", "values": [1, 2, 3, 4, 5], "horizon": 3},
  {"name": "weekly", "values": [1, 2, 3, 4, 5, 6, 7, 8], "season_length": 4, "horizon": 3},
  {"name": "gaps", "values": [1, null, 3, null, 5, 6], "horizon": 3},
  {"name": "short", "values": [7], "horizon": 3}
]`

// checkGoodResults checks the naive forecasts of goodSeries: one result per series in input
// order, each the last observation, and the one-value series failed on its own.
func checkGoodResults(t *testing.T, rs []remoteResult) {
	t.Helper()
	if len(rs) != 4 {
		t.Fatalf("%d results, want 4: %+v", len(rs), rs)
	}
	for i, want := range []struct {
		name  string
		point float64
	}{{"walk", 5}, {"weekly", 8}, {"gaps", 6}} {
		r := rs[i]
		if r.Name != want.name || r.Status != "succeeded" || r.Method != "Naive" {
			t.Errorf("result %d = %s %s %s, want %s succeeded Naive", i, r.Name, r.Status, r.Method, want.name)
			continue
		}
		near(t, r.Name+" point", r.Point, []float64{want.point, want.point, want.point})
		if iv, ok := r.Intervals["95"]; !ok || len(iv.Lower) != 3 || iv.Lower[0] >= want.point {
			t.Errorf("%s 95%% interval %+v, want 3 lower bounds under the point", r.Name, r.Intervals)
		}
	}
	if short := rs[3]; short.Name != "short" || short.Status != "failed" || len(short.Error) == 0 {
		t.Errorf("short = %+v, want its own error", short)
	}
}

// A JSON input becomes the POST's body; the run follows the batch to its end and writes the
// results in input order, a series the engine cannot fit with its own error. Against main's
// gateway (no batch stream) this follows by polling; with the stream (branch batchev) by the
// stream: either way the results must be the same.
func TestRemoteBatchJSON(t *testing.T) {
	stderr := runGoodSeries(t, nil)
	for _, want := range []string{"accepted, 4 series", "4/4 series", "1 failed"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
}

// runGoodSeries runs goodSeries, method naive, through a service (behind wrap, if not nil),
// checks the results and returns stderr.
func runGoodSeries(t *testing.T, wrap func(http.Handler) http.Handler) string {
	t.Helper()
	url, _ := remoteService(t, false, wrap)
	var stderr lockedBuffer
	b, err := remoteRun(t, t.Context(), url, "in.json", goodSeries, "out.json", &stderr, "--method", "naive")
	if err != nil {
		t.Fatalf("run: %v\nstderr: %s", err, stderr.String())
	}
	checkGoodResults(t, decodeResults(t, b))
	return stderr.String()
}

// A service without the batch stream answers the POST with 202 JSON: the run follows the
// batch by polling its status.
func TestRemoteBatchPollsAServiceWithoutTheStream(t *testing.T) {
	if stderr := runGoodSeries(t, withoutStream); !strings.Contains(stderr, "progress by polling") {
		t.Errorf("stderr does not say it polls:\n%s", stderr)
	}
}

// POST /v1/batches with Accept: text/event-stream streams accepted, batch_progress…,
// batch_done, and the run follows that stream instead of polling.
func TestRemoteBatchFollowsTheStream(t *testing.T) {
	if stderr := runGoodSeries(t, nil); !strings.Contains(stderr, "progress by stream") {
		t.Errorf("the run did not follow the POST's event stream:\n%s", stderr)
	}
}

// The same stream, from a stand-in service speaking the contract's events, so the reading of
// the stream is tested whichever gateway is merged.
func TestRemoteBatchReadsTheContractsStream(t *testing.T) {
	var mu sync.Mutex
	var polled []string
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/batches", func(w http.ResponseWriter, r *http.Request) {
		if !strings.Contains(r.Header.Get("Accept"), "text/event-stream") {
			t.Errorf("POST Accept = %q, want text/event-stream", r.Header.Get("Accept"))
		}
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "event: accepted\ndata: {\"batch_id\":\"b1\",\"status\":\"queued\",\"total\":2}\n\n")
		fmt.Fprint(w, ": keep-alive\n\n")
		fmt.Fprint(w, "id: 1-0\nevent: batch_progress\ndata: {\"batch_id\":\"b1\",\"done\":1,\"failed\":0,\"total\":2,\"eta_ms\":1500}\n\n")
		fmt.Fprint(w, "id: 2-0\nevent: batch_done\ndata: {\"batch_id\":\"b1\",\"status\":\"succeeded\",\"done\":2,\"failed\":1,\"total\":2}\n\n")
	})
	mux.HandleFunc("GET /v1/batches/{id}", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		polled = append(polled, r.PathValue("id"))
		mu.Unlock()
		fmt.Fprint(w, `{"status":"success","data":{"batch_id":"b1","status":"succeeded","total":2,"done":2,"failed":1}}`)
	})
	mux.HandleFunc("GET /v1/batches/{id}/results", func(w http.ResponseWriter, r *http.Request) {
		// Megabytes, as the results of a big batch are.
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"status":"success","data":{"batch_id":"b1","results":[{"name":"a","status":"succeeded","method":"%s"},{"name":"b","status":"failed"}]}}`,
			strings.Repeat("x", 3<<20))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	var stderr lockedBuffer
	b, err := remoteRun(t, t.Context(), srv.URL, "in.json", goodSeries, "out.json", &stderr, "--horizon", "3")
	if err != nil {
		t.Fatalf("run: %v\nstderr: %s", err, stderr.String())
	}
	rs := decodeResults(t, b)
	if len(rs) != 2 || rs[0].Name != "a" || len(rs[0].Method) != 3<<20 || rs[1].Status != "failed" {
		t.Errorf("got %d results, want the service's two, the first with its 3 MiB method", len(rs))
	}
	for _, want := range []string{"batch b1 accepted, 2 series (progress by stream)", "2/2 series", "1 failed"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
		}
	}
	if mu.Lock(); len(polled) != 1 || polled[0] != "b1" {
		t.Errorf("status asked %v, want once for b1 after batch_done", polled)
	}
	mu.Unlock()
}

// A refusal of the whole batch is the run's error, with the service's message naming the
// field; no output is written.
func TestRemoteBatchRefused(t *testing.T) {
	url, _ := remoteService(t, false, nil)
	var stderr lockedBuffer
	input := `[{"name": "bad name", "values": [1, 2, 3], "horizon": 2}, {"name": "ok", "values": [], "horizon": 2}]`
	b, err := remoteRun(t, t.Context(), url, "in.json", input, "out.json", &stderr)
	if err == nil || b != nil {
		t.Fatalf("run = %v with output %q, want a refusal and no output", err, b)
	}
	for _, want := range []string{"400", "series[0].name", "series[1].values: must not be empty"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

// runUntilAccepted starts a run against a service that never ends the batch (no processor),
// waits for the batch to be accepted, and returns the batch id, a stop (Ctrl-C) and the run's
// outcome.
func runUntilAccepted(t *testing.T, url string, flags ...string) (id string, stop func(), result func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	stderr := &lockedBuffer{}
	errc := make(chan error, 1)
	go func() {
		_, err := remoteRun(t, ctx, url, "in.json", goodSeries, "out.json", stderr, append([]string{"--method", "naive"}, flags...)...)
		errc <- err
	}()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if _, rest, ok := strings.Cut(stderr.String(), "batch "); ok {
			if id, _, ok := strings.Cut(rest, " accepted"); ok {
				return id, cancel, func() error { return <-errc }
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	t.Fatalf("no batch accepted within 10s: %v\nstderr: %s", <-errc, stderr.String())
	return "", nil, nil
}

// Ctrl-C with --cancel-on-interrupt cancels the batch in the service; without it the batch goes
// on, and the error says how to follow it.
func TestRemoteBatchInterrupt(t *testing.T) {
	for _, cancelIt := range []bool{true, false} {
		t.Run(fmt.Sprintf("cancel-on-interrupt=%v", cancelIt), func(t *testing.T) {
			url, st := remoteService(t, true, nil)
			var flags []string
			if cancelIt {
				flags = []string{"--cancel-on-interrupt"}
			}
			id, stop, result := runUntilAccepted(t, url, flags...)
			stop()
			err := result()
			b, gerr := st.GetBatch(context.Background(), id)
			if gerr != nil {
				t.Fatal(gerr)
			}
			want, wantErr := store.BatchQueued, "goes on in the service"
			if cancelIt {
				want, wantErr = store.BatchCancelled, "batch "+id+" cancelled"
			}
			if b.Status != want {
				t.Errorf("batch status = %s, want %s", b.Status, want)
			}
			if err == nil || !strings.Contains(err.Error(), wantErr) {
				t.Errorf("run = %v, want an error saying %q", err, wantErr)
			}
		})
	}
}

// A batch cancelled by someone else ends the run with an error and no output.
func TestRemoteBatchCancelledElsewhere(t *testing.T) {
	url, _ := remoteService(t, true, nil)
	id, stop, result := runUntilAccepted(t, url)
	defer stop()
	req, _ := http.NewRequest(http.MethodDelete, url+"/v1/batches/"+id, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if err := result(); err == nil || !strings.Contains(err.Error(), "cancelled") {
		t.Errorf("run = %v, want an error saying the batch was cancelled", err)
	}
}

const longCSV = `series_id,timestamp,value
north,2024-01-01T00:00:00Z,10
north,2024-02-01T00:00:00Z,12
north,2024-03-01T00:00:00Z,11
north,2024-04-01T00:00:00Z,13
south,2024-01-01T00:00:00Z,5
south,2024-02-01T00:00:00Z,4
south,2024-03-01T00:00:00Z,6
`

// A long-format CSV goes as text/csv with the batch's parameters in the query; each series_id
// is a series, forecast from its last timestamp.
func TestRemoteBatchCSVUpload(t *testing.T) {
	url, _ := remoteService(t, false, nil)
	var stderr lockedBuffer
	b, err := remoteRun(t, t.Context(), url, "in.csv", longCSV, "out.json", &stderr, "--method", "naive", "--horizon", "2")
	if err != nil {
		t.Fatalf("run: %v\nstderr: %s", err, stderr.String())
	}
	rs := decodeResults(t, b)
	got := map[string][]float64{}
	for _, r := range rs {
		got[r.Name] = r.Point
	}
	if len(rs) != 2 {
		t.Fatalf("results %+v, want north and south", rs)
	}
	near(t, "north", got["north"], []float64{13, 13})
	near(t, "south", got["south"], []float64{6, 6})
}

// --output x.csv asks for the results as long-format CSV (series_id, step, timestamp, point,
// lo_80, hi_80, …), written as the service sends them.
func TestRemoteBatchCSVResults(t *testing.T) {
	url, _ := remoteService(t, false, nil)
	var stderr lockedBuffer
	b, err := remoteRun(t, t.Context(), url, "in.json", goodSeries, "out.csv", &stderr, "--method", "naive", "--levels", "80")
	if err != nil {
		t.Fatalf("run: %v\nstderr: %s", err, stderr.String())
	}
	rows, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil || len(rows) == 0 {
		t.Fatalf("output is not CSV: %v\n%s", err, b)
	}
	for _, col := range []string{"series_id", "step", "point", "lo_80", "hi_80"} {
		if !strings.Contains(strings.Join(rows[0], ","), col) {
			t.Errorf("header %v lacks %s", rows[0], col)
		}
	}
	walk := 0
	for _, r := range rows[1:] {
		if r[0] == "walk" {
			walk++
		}
	}
	if walk != 3 {
		t.Errorf("%d rows of walk, want its 3 steps:\n%s", walk, b)
	}
}

func TestRemoteBatchFlags(t *testing.T) {
	mixed := `[{"name":"a","values":[1,2],"horizon":2},{"name":"b","values":[1,2],"horizon":3}]`
	for _, tt := range []struct {
		file, input string
		flags       []string
		want        string
	}{
		{"in.json", goodSeries, []string{"--url", "localhost:8080"}, "--url must be"},
		{"in.json", goodSeries, []string{"--url", "http://x", "--format", "xml"}, "--format must be"},
		{"in.json", goodSeries, []string{"--url", "http://x", "--poll-interval", "0s"}, "--poll-interval"},
		{"in.csv", longCSV, []string{"--url", "http://127.0.0.1:1"}, "--horizon is required"},
		{"in.json", mixed, []string{"--url", "http://127.0.0.1:1"}, "series 2 has horizon 3 and series 1 2"},
	} {
		t.Run(tt.want, func(t *testing.T) {
			var stderr lockedBuffer
			_, err := remoteRun(t, t.Context(), "", tt.file, tt.input, "out.json", &stderr, tt.flags...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("run = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}
