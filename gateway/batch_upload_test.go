package gateway_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/forecastd/forecastd/gateway"
)

// uploadCSV holds two series, rows of each apart and out of order, one value missing.
const uploadCSV = "series_id,timestamp,value\n" +
	"b,2024-01-03,30\n" +
	"a,2024-01-01,1\n" +
	"b,2024-01-01,10\n" +
	"a,2024-01-02,\n" +
	"a,2024-01-03,3\n" +
	"b,2024-01-02,20\n"

// uploadNDJSON is uploadCSV as NDJSON.
const uploadNDJSON = `{"series_id":"b","timestamp":"2024-01-03","value":30}
{"series_id":"a","timestamp":"2024-01-01T00:00:00Z","value":1}
{"series_id":"b","timestamp":"2024-01-01","value":10}
{"series_id":"a","timestamp":"2024-01-02","value":null}
{"series_id":"a","timestamp":"2024-01-03","value":3}
{"series_id":"b","timestamp":"2024-01-02","value":20}
`

// uploadJSON is the same batch as a JSON body, series in the order they first appear above.
const uploadJSON = `{"method":"naive","horizon":2,"levels":[80],"series":[
	{"name":"b","values":[10,20,30],"timestamps":["2024-01-01T00:00:00Z","2024-01-02T00:00:00Z","2024-01-03T00:00:00Z"]},
	{"name":"a","values":[1,null,3],"timestamps":["2024-01-01T00:00:00Z","2024-01-02T00:00:00Z","2024-01-03T00:00:00Z"]}]}`

// postBatch posts a batch and returns its id, failing unless it is accepted.
func (s *apiServer) postBatch(t *testing.T, path, contentType, body string) string {
	t.Helper()
	code, env := s.send(t, "POST", path, contentType, []byte(body))
	var acc batchAnswer
	decodeData(t, env, &acc)
	if code != http.StatusAccepted || acc.BatchID == "" {
		t.Fatalf("POST %s (%s): %d %+v; want 202", path, contentType, code, env)
	}
	return acc.BatchID
}

// resultsOf reads a batch's results as JSON: their data's results array, raw.
func (s *apiServer) resultsOf(t *testing.T, id string) []json.RawMessage {
	t.Helper()
	code, env := s.send(t, "GET", "/v1/batches/"+id+"/results", "", nil)
	var rs []json.RawMessage
	if err := json.Unmarshal(env.Data["results"], &rs); code != http.StatusOK || err != nil {
		t.Fatalf("results: %d %v %v", code, env, err)
	}
	return rs
}

// sameJSON reports whether a and b are the same JSON value.
func sameJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("%s: %v", a, err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return reflect.DeepEqual(x, y)
}

// An upload, CSV or NDJSON, is the same batch as the JSON body holding its series: the same
// forecasts, the series in the order they first appear, each in timestamp order.
func TestUploadedBatchIsTheBatchOfItsSeries(t *testing.T) {
	s := newAPIServer(t)
	want := s.resultsOf(t, s.waitBatchEnded(t, s.postBatch(t, "/v1/batches", "application/json", uploadJSON)).BatchID)
	if len(want) != 2 || !strings.Contains(string(want[0]), `"point":[30,30]`) || !strings.Contains(string(want[1]), `"2024-01-04T00:00:00Z"`) {
		t.Fatalf("JSON batch results %s; want b's naive forecast 30 and a's timestamps from 2024-01-04", want)
	}
	for _, tc := range []struct{ contentType, body string }{
		{"text/csv", uploadCSV},
		{"text/csv; charset=utf-8", strings.ReplaceAll(uploadCSV, "\n", "\r\n")},
		{"application/x-ndjson", uploadNDJSON},
	} {
		t.Run(tc.contentType, func(t *testing.T) {
			id := s.postBatch(t, "/v1/batches?method=naive&horizon=2&levels=80", tc.contentType, tc.body)
			if b := s.waitBatchEnded(t, id); b.Status != "succeeded" || b.Total != 2 || b.Failed != 0 || b.Method != "naive" || b.Horizon != 2 {
				t.Fatalf("batch %+v; want 2 series of naive, horizon 2, succeeded", b)
			}
			got := s.resultsOf(t, id)
			if len(got) != len(want) {
				t.Fatalf("results %s; want %s", got, want)
			}
			for i := range got {
				if !sameJSON(t, got[i], want[i]) {
					t.Errorf("series %d: %s; want %s", i, got[i], want[i])
				}
			}
		})
	}
}

func TestUploadSeasonLengthAppliesToEverySeries(t *testing.T) {
	s := newAPIServer(t)
	var b strings.Builder
	b.WriteString("unique_id,ds,y\n")
	for _, id := range []string{"x", "y"} {
		for i := range 8 {
			fmt.Fprintf(&b, "%s,%s,%d\n", id, time.Date(2024, time.Month(1+i), 1, 0, 0, 0, 0, time.UTC).Format(time.DateOnly), []int{1, 5, 2, 7, 1, 5, 2, 7}[i])
		}
	}
	id := s.postBatch(t, "/v1/batches?method=snaive&horizon=4&season_length=4", "text/csv", b.String())
	s.waitBatchEnded(t, id)
	for i, r := range s.resultsOf(t, id) {
		if !strings.Contains(string(r), `"point":[1,5,2,7]`) {
			t.Errorf("series %d: %s; want the seasonal naive forecast of season 4, [1,5,2,7]", i, r)
		}
	}
}

func TestBadUploadsGetJSendFailNamingTheProblem(t *testing.T) {
	s := newAPIServer(t)
	const q = "/v1/batches?horizon=2&method=naive"
	tests := []struct {
		name, path, contentType, body string
		code                          int
		field, part                   string
	}{
		{"wrong content type", q, "text/plain", uploadCSV, 415, "Content-Type", "text/csv"},
		{"unparsable content type", q, "text/csv; charset", uploadCSV, 415, "Content-Type", "application/x-ndjson"},
		{"latin-1", q, "text/csv; charset=iso-8859-1", uploadCSV, 415, "Content-Type", "UTF-8"},
		{"no horizon", "/v1/batches?method=naive", "text/csv", uploadCSV, 400, "horizon", "required"},
		{"horizon not a number", "/v1/batches?horizon=two", "text/csv", uploadCSV, 400, "horizon", "integer"},
		{"unknown parameter", q + "&colour=red", "text/csv", uploadCSV, 400, "colour", "not a known"},
		{"bad level", q + "&levels=80,120", "text/csv", uploadCSV, 400, "levels", "between"},
		{"bad season length", q + "&season_length=0", "text/csv", uploadCSV, 400, "season_length", "from 1"},
		{"unknown method", "/v1/batches?horizon=2&method=magic", "text/csv", uploadCSV, 400, "method", "unknown"},
		{"empty", q, "text/csv", "", 400, "header", "empty"},
		{"bad value", q, "text/csv", uploadCSV + "a,2024-01-04,abc\n", 400, "line 8", `value "abc" is not a number`},
		{"duplicate timestamp", q, "text/csv", uploadCSV + "b,2024-01-02,21\n", 400, "line 8", "again (also on line 7)"},
		{"offset of 24 hours", q, "text/csv", uploadCSV + "a,2024-01-05T00:00:00+24:00,4\n", 400, "line 8", "2024-01-05T00:00:00+24:00"},
		{"bad series name", q, "text/csv", uploadCSV + "c d,2024-01-01,1\nc d,2024-01-02,1\n", 400, `series "c d".name`, "must match"},
		{"irregular timestamps", q, "text/csv", uploadCSV + "c,2024-01-01,1\nc,2024-01-02,1\nc,2024-01-03,1\nc,2024-03-09T12:00:00Z,1\n", 400, `series "c".timestamps`, ""},
		{"query parameters of a JSON body", "/v1/batches?horizon=3", "application/json", uploadJSON, 400, "horizon", "query parameter of uploads"},
		{"ndjson unknown key", q, "application/x-ndjson", `{"series_id":"a","timestamp":"2024-01-01","value":1,"v":2}`, 400, "line 1", "v is not a known field"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, env := s.send(t, "POST", tc.path, tc.contentType, []byte(tc.body))
			var problem string
			_ = json.Unmarshal(env.Data[tc.field], &problem)
			if code != tc.code || env.Status != "fail" || !strings.Contains(problem, tc.part) || env.Data[tc.field] == nil {
				t.Errorf("got %d %s %v; want %d fail with %s saying %q", code, env.Status, env.Data, tc.code, tc.field, tc.part)
			}
		})
	}
}

func withUploadLimits(maxBytes, minRate int64) apiOption {
	return apiOption{cfg: func(c *gateway.Config) {
		c.BodyTimeout, c.BatchUploadMaxBytes, c.BatchUploadMinRate = bodyTimeout, maxBytes, minRate
	}}
}

// startUpload opens a raw connection and sends the headers of a CSV upload of declared bytes,
// then sent.
func startUpload(t *testing.T, base string, declared int, sent string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if err := c.SetDeadline(time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	head := fmt.Sprintf("POST /v1/batches?method=naive&horizon=2 HTTP/1.1\r\nHost: gateway\r\nContent-Type: text/csv\r\nContent-Length: %d\r\n\r\n", declared)
	if _, err := io.WriteString(c, head+sent); err != nil {
		t.Fatal(err)
	}
	return c
}

// An upload that stalls is cut once it falls below the minimum rate: after the body timeout
// plus what its bytes so far earned (here 300 ms + 100 bytes at 1000 bytes/s = 0.4 s).
func TestStalledUploadIsAnswered408(t *testing.T) {
	s := newAPIServer(t, withUploadLimits(1<<20, 1000))
	rows := uploadCSV + uploadCSV // the first 100 bytes of it, cut mid-row
	start := time.Now()
	c := startUpload(t, s.url, 100_000, rows[:100])
	res, env := readAnswer(t, c, bufio.NewReader(c))
	if msg := bodyMessage(env); res.StatusCode != http.StatusRequestTimeout || env.Status != "fail" || !strings.Contains(msg, "upload not received in time: 100 bytes") {
		t.Errorf("answer %d %+v; want 408 fail saying 100 bytes arrived", res.StatusCode, env)
	}
	if waited := time.Since(start); waited > bodyTimeout+100*time.Millisecond+slack {
		t.Errorf("answered after %s; the deadline was 0.4 s", waited) // a liveness bound
	}
}

// An upload that keeps up the minimum rate is read whole, although it takes many body timeouts.
func TestSteadyUploadOutlastsTheBodyTimeout(t *testing.T) {
	s := newAPIServer(t, withUploadLimits(1<<20, 1000))
	var b strings.Builder
	b.WriteString("series_id,timestamp,value\n")
	for i := range 300 {
		fmt.Fprintf(&b, "s%d,%s,%d\n", i%3, time.Date(2024, 1, 1+i/3, 0, 0, 0, 0, time.UTC).Format(time.DateOnly), i)
	}
	body := b.String()
	c := startUpload(t, s.url, len(body), "")
	// 400 bytes every 50 ms: 8000 bytes/s, eight times the minimum, for about a second (more
	// than three body timeouts).
	writeSlowly(t, c, []byte(body), 400)
	res, env := readAnswer(t, c, bufio.NewReader(c))
	if res.StatusCode != http.StatusAccepted || env.Status != "success" {
		t.Errorf("answer %d %+v; want 202 success", res.StatusCode, env)
	}
}

// The gateway reads at most Config.BatchUploads uploads at once: one more is answered 503 with
// Retry-After, without its body being read; once an upload has been accepted its slot is free
// again. A JSON batch needs no slot.
func TestUploadsBeyondTheGatewaysShareAreAnswered503(t *testing.T) {
	s := newAPIServer(t, withUploadLimits(1<<20, 1), apiOption{cfg: func(c *gateway.Config) { c.BatchUploads = 1 }})
	body := uploadCSV
	// A first upload, its body held back, takes the slot once its handler runs; a probe sent
	// meanwhile is refused. A probe that got there first took the slot itself: then the first
	// upload is abandoned, and it starts again.
	var first net.Conn
	var code int
	var env jsend
	var retryAfter string
	for attempt := 0; attempt < 50 && code != http.StatusServiceUnavailable; attempt++ {
		first = startUpload(t, s.url, len(body), body[:20]) // the rest is sent below
		time.Sleep(10 * time.Millisecond)
		c := startUpload(t, s.url, len(body), body)
		res, e := readAnswer(t, c, bufio.NewReader(c))
		code, env, retryAfter = res.StatusCode, e, res.Header.Get("Retry-After")
		if code != http.StatusServiceUnavailable {
			first.Close() // refused, or holding the slot since the probe ended: let it go
			time.Sleep(20 * time.Millisecond)
		}
	}
	if code != http.StatusServiceUnavailable || env.Status != "error" || retryAfter == "" ||
		!strings.Contains(env.Message, "as many batch uploads as it takes at once (1)") {
		t.Fatalf("an upload beyond the one the gateway reads at once: %d %+v, Retry-After %q; want 503 error with Retry-After", code, env, retryAfter)
	}
	if code, env := s.send(t, "POST", "/v1/batches", "application/json", []byte(uploadJSON)); code != http.StatusAccepted {
		t.Errorf("a JSON batch while the upload is read: %d %+v; want 202", code, env)
	}
	if _, err := io.WriteString(first, body[20:]); err != nil {
		t.Fatal(err)
	}
	if res, env := readAnswer(t, first, bufio.NewReader(first)); res.StatusCode != http.StatusAccepted {
		t.Fatalf("the first upload: %d %+v; want 202", res.StatusCode, env)
	}
	c := startUpload(t, s.url, len(body), body)
	if res, env := readAnswer(t, c, bufio.NewReader(c)); res.StatusCode != http.StatusAccepted {
		t.Errorf("an upload after the first was accepted: %d %+v; want 202", res.StatusCode, env)
	}
}

func TestOversizeUploadIsAnswered413(t *testing.T) {
	s := newAPIServer(t, withUploadLimits(1000, 1000))
	big := "series_id,timestamp,value\n" + strings.Repeat("a,2024-01-01,1\n", 100)
	t.Run("declared", func(t *testing.T) {
		code, env := s.send(t, "POST", "/v1/batches?horizon=2", "text/csv", []byte(big))
		if msg := bodyMessage(env); code != http.StatusRequestEntityTooLarge || msg != "is larger than the limit of 1000 bytes" {
			t.Errorf("answer %d %+v; want 413 naming the limit", code, env)
		}
	})
	t.Run("chunked", func(t *testing.T) {
		// A body of unknown length is sent chunked: the limit is found while reading it.
		req, _ := http.NewRequest("POST", s.url+"/v1/batches?horizon=2", io.MultiReader(strings.NewReader(big)))
		req.Header.Set("Content-Type", "text/csv")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var env jsend
		_ = json.NewDecoder(res.Body).Decode(&env)
		if req.ContentLength != 0 || res.StatusCode != http.StatusRequestEntityTooLarge || bodyMessage(env) != "is larger than the limit of 1000 bytes" {
			t.Errorf("answer %d %+v (request length %d); want 413 for a chunked body", res.StatusCode, env, req.ContentLength)
		}
	})
	t.Run("the JSON limit does not apply", func(t *testing.T) {
		s := newAPIServer(t, withUploadLimits(16<<20, 1000))
		var b strings.Builder
		b.WriteString("series_id,timestamp,value\n")
		start := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
		for i := 0; b.Len() < 9<<20; i++ { // over the 8 MiB of a JSON body
			fmt.Fprintf(&b, "series-%d,%s,%d.25\n", i/40_000, start.Add(time.Duration(i%40_000)*time.Hour).Format(time.RFC3339), i%97)
		}
		code, env := s.send(t, "POST", "/v1/batches?horizon=1&method=naive", "text/csv", []byte(b.String()))
		if code != http.StatusAccepted {
			t.Errorf("a 9 MiB upload: %d %+v; want 202", code, env)
		}
	})
}

// save_models=true on an upload keeps each series as the model {batch_id}.{series_id}, which
// then forecasts like any model.
func TestUploadWithSaveModelsKeepsEachSeries(t *testing.T) {
	s := newAPIServer(t)
	id := s.postBatch(t, "/v1/batches?method=naive&horizon=2&save_models=true", "text/csv", uploadCSV)
	s.waitBatchEnded(t, id)
	for i, r := range s.resultsOf(t, id) {
		name := []string{"b", "a"}[i]
		if !strings.Contains(string(r), `"model":"`+id+"."+name+`"`) {
			t.Errorf("series %s: %s; want it kept as %s.%s", name, r, id, name)
		}
	}
	code, env := s.send(t, "POST", "/v1/models/"+id+".b/forecast", "application/json", []byte(`{"horizon":1}`))
	if code != http.StatusOK || string(env.Data["point"]) != "[30]" {
		t.Errorf("forecast of the kept series b: %d %v; want its naive forecast [30]", code, env)
	}
}

// A step an upload's series leaves out is a missing value, as in a JSON batch.
func TestUploadGapIsAMissingValue(t *testing.T) {
	s := newAPIServer(t)
	id := s.postBatch(t, "/v1/batches?method=naive&horizon=1", "text/csv",
		"series_id,timestamp,value\ng,2024-01-01,1\ng,2024-01-02,2\ng,2024-01-04,4\ng,2024-01-05,5\n")
	s.waitBatchEnded(t, id)
	if r := string(s.resultsOf(t, id)[0]); !strings.Contains(r, `"gaps":1`) || !strings.Contains(r, `"timestamps":["2024-01-06T00:00:00Z"]`) {
		t.Errorf("result %s; want one gap, the forecast dated 2024-01-06", r)
	}
}

// windows, step and methods on an upload backtest every series, as a JSON batch's backtest
// does; a bad plan is named by its query parameter.
func TestUploadWithABacktest(t *testing.T) {
	s := newAPIServer(t)
	var b strings.Builder
	b.WriteString("series_id,timestamp,value\n")
	for i := range 12 {
		fmt.Fprintf(&b, "line,%s,%d\n", time.Date(2024, 1, 1+i, 0, 0, 0, 0, time.UTC).Format(time.DateOnly), i+1)
	}
	id := s.postBatch(t, "/v1/batches?horizon=2&windows=3&methods=naive,drift", "text/csv", b.String())
	s.waitBatchEnded(t, id)
	_, env := s.send(t, "GET", "/v1/batches/"+id+"/results", "", nil)
	if lb := string(env.Data["leaderboard"]); lb != `["drift","naive"]` {
		t.Errorf("leaderboard %s; want drift before naive on a line", lb)
	}
	if r := string(s.resultsOf(t, id)[0]); !strings.Contains(r, `"backtest":{`) || !strings.Contains(r, `"point":[12,12]`) {
		t.Errorf("series line: %s; want its backtest and the naive forecast (the first method)", r)
	}
	code, env := s.send(t, "POST", "/v1/batches?horizon=2&windows=0", "text/csv", []byte(b.String()))
	if code != http.StatusBadRequest || env.Data["windows"] == nil {
		t.Errorf("windows=0: %d %v; want 400 naming windows", code, env)
	}
}
