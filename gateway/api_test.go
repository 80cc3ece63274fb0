package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/forecastd/forecastd/broker"
	"github.com/forecastd/forecastd/gateway"
	"github.com/forecastd/forecastd/internal/sse"
	"github.com/forecastd/forecastd/internal/stack"
	"github.com/forecastd/forecastd/messages"
	"github.com/forecastd/forecastd/processor"
	"github.com/forecastd/forecastd/store"
)

// apiServer runs the whole service in process: gateway, processor, GoChannel, memory store.
type apiServer struct {
	url   string
	store store.Store
}

// apiOption adjusts the gateway newAPIServer starts.
type apiOption struct {
	wrap    func(store.Store) store.Store // decorates the store the gateway sees
	cfg     func(*gateway.Config)
	procPub func(message.Publisher) message.Publisher // decorates the processor's publisher
	fit     processor.FitFunc                         // replaces the processor's fit
	proc    func(*processor.Config)                   // adjusts the processor's config
	store   store.Store                               // the parts' store, if not a memory store of their own
	gwPub   func(message.Publisher) message.Publisher // decorates the gateway's publisher
	procSt  func(store.Store) store.Store             // decorates the store the processor sees
}

// newAPIServer starts the service.
func newAPIServer(t *testing.T, opts ...apiOption) *apiServer {
	t.Helper()
	var cfg stack.Config
	for _, o := range opts {
		if o.store != nil {
			cfg.Store = o.store
		}
	}
	s := stack.New(t, cfg)
	var popts stack.ProcessorOptions
	for _, o := range opts {
		if o.fit != nil {
			popts.Options = append(popts.Options, processor.WithFitFunc(o.fit))
		}
		if o.proc != nil {
			popts.Config = o.proc
		}
	}
	popts.WrapPublisher = func(p message.Publisher) message.Publisher {
		for _, o := range opts {
			if o.procPub != nil {
				p = o.procPub(p)
			}
		}
		return p
	}
	popts.WrapStore = func(st store.Store) store.Store {
		for _, o := range opts {
			if o.procSt != nil {
				st = o.procSt(st)
			}
		}
		return st
	}
	s.AddProcessor(popts)
	gopts := stack.GatewayOptions{
		Config: func(c *gateway.Config) {
			c.RequestTimeout = 10 * time.Second
			for _, o := range opts {
				if o.cfg != nil {
					o.cfg(c)
				}
			}
		},
		WrapStore: func(st store.Store) store.Store {
			for _, o := range opts {
				if o.wrap != nil {
					st = o.wrap(st)
				}
			}
			return st
		},
		WrapPublisher: func(p message.Publisher) message.Publisher {
			for _, o := range opts {
				if o.gwPub != nil {
					p = o.gwPub(p)
				}
			}
			return p
		},
	}
	return &apiServer{url: s.AddGateway(gopts).URL, store: s.Store()}
}

type jsend struct {
	Status  string                     `json:"status"`
	Data    map[string]json.RawMessage `json:"data"`
	Message string                     `json:"message"`
}

func (s *apiServer) send(t *testing.T, method, path, contentType string, body []byte) (int, jsend) {
	t.Helper()
	return s.sendWith(t, method, path, contentType, body)
}

// sendWith is send with headers, given as name, value, name, value…
func (s *apiServer) sendWith(t *testing.T, method, path, contentType string, body []byte, header ...string) (int, jsend) {
	t.Helper()
	req, err := http.NewRequest(method, s.url+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("%s %s: Content-Type %q, want JSON", method, path, ct)
	}
	raw, _ := io.ReadAll(res.Body)
	var env jsend
	if err := json.Unmarshal(raw, &env); err != nil {
		t.Fatalf("%s %s: body is not JSend: %v: %s", method, path, err, raw)
	}
	return res.StatusCode, env
}

func TestBadInputGetsJSendFailNamingTheField(t *testing.T) {
	s := newAPIServer(t)
	huge := make([]float64, 100_001)
	hugeBody, _ := json.Marshal(map[string]any{"values": huge})
	oversize := append([]byte(`{"values":[`), bytes.Repeat([]byte("1,"), 5_000_000)...)
	oversize = append(oversize, []byte("1]}")...)

	const fit, fc = "/v1/models/m/fit", "/v1/models/m/forecast"
	const js = "application/json"
	tests := []struct {
		name, method, path, ctype, body string
		raw                             []byte
		code                            int
		field                           string
	}{
		{"malformed JSON", "POST", fit, js, `{"values":[1,2`, nil, 400, "body"},
		{"not an object", "POST", fit, js, `[1,2,3]`, nil, 400, "body"},
		{"empty body", "POST", fit, js, ``, nil, 400, "body"},
		{"trailing data", "POST", fit, js, `{"values":[1,2,3]} {}`, nil, 400, "body"},
		{"values wrong type", "POST", fit, js, `{"values":"abc"}`, nil, 400, "values"},
		{"value wrong type", "POST", fit, js, `{"values":[1,"x",3]}`, nil, 400, "values[1]"},
		{"values missing", "POST", fit, js, `{"method":"naive"}`, nil, 400, "values"},
		{"values empty", "POST", fit, js, `{"values":[]}`, nil, 400, "values"},
		{"all null", "POST", fit, js, `{"values":[null,null]}`, nil, 400, "values"},
		{"number overflows float64", "POST", fit, js, `{"values":[1e400,2]}`, nil, 400, "values[0]"},
		{"absurd magnitude", "POST", fit, js, `{"values":[1e200,2]}`, nil, 400, "values"},
		{"too many values", "POST", fit, js, "", hugeBody, 400, "values"},
		{"negative season", "POST", fit, js, `{"values":[1,2,3],"season_length":-4}`, nil, 400, "season_length"},
		{"absurd season", "POST", fit, js, `{"values":[1,2,3],"season_length":1000000}`, nil, 400, "season_length"},
		{"fractional season", "POST", fit, js, `{"values":[1,2,3],"season_length":2.5}`, nil, 400, "season_length"},
		{"unknown method", "POST", fit, js, `{"values":[1,2,3],"method":"prophet"}`, nil, 400, "method"},
		{"unknown field", "POST", fit, js, `{"values":[1,2,3],"colour":"red"}`, nil, 400, "colour"},
		{"bad ets spec", "POST", fit, js, `{"values":[1,2,3],"method":"ets","options":{"spec":"XYZ"}}`, nil, 400, "options.spec"},
		{"bad arima order", "POST", fit, js, `{"values":[1,2,3],"method":"arima","options":{"order":[1,2]}}`, nil, 400, "options.order"},
		{"timestamps mismatch", "POST", fit, js, `{"values":[1,2,3],"timestamps":["2024-01-01T00:00:00Z"]}`, nil, 400, "timestamps"},
		{"too few for snaive", "POST", fit, js, `{"values":[1,2,3],"method":"snaive","season_length":12}`, nil, 400, "values"},
		{"bad model name", "POST", "/v1/models/-bad/fit", js, `{"values":[1,2,3]}`, nil, 400, "model"},
		{"model name too long", "POST", "/v1/models/" + strings.Repeat("a", 65) + "/fit", js, `{"values":[1,2,3]}`, nil, 400, "model"},
		{"wrong content type", "POST", fit, "text/plain", `{"values":[1,2,3]}`, nil, 415, "Content-Type"},
		{"a charset other than UTF-8", "POST", fit, "application/json; charset=latin1", `{"values":[1,2,3]}`, nil, 415, "Content-Type"},
		{"oversize body", "POST", fit, js, "", oversize, 413, "body"},
		{"wrong method", "GET", fit, "", ``, nil, 405, "method"},
		{"unknown path", "GET", "/v1/nothing", "", ``, nil, 404, "path"},
		{"horizon missing", "POST", fc, js, `{}`, nil, 400, "horizon"},
		{"horizon zero", "POST", fc, js, `{"horizon":0}`, nil, 400, "horizon"},
		{"horizon 1e9", "POST", fc, js, `{"horizon":1000000000}`, nil, 400, "horizon"},
		{"horizon float", "POST", fc, js, `{"horizon":2.5}`, nil, 400, "horizon"},
		{"level 100", "POST", fc, js, `{"horizon":3,"levels":[80,100]}`, nil, 400, "levels"},
		{"level negative", "POST", fc, js, `{"horizon":3,"levels":[-5]}`, nil, 400, "levels"},
		{"no model yet", "POST", "/v1/models/never/forecast", js, `{"horizon":3}`, nil, 404, "model"},
		{"unknown job", "GET", "/v1/jobs/nope", "", ``, nil, 404, "job_id"},
		{"unknown model info", "GET", "/v1/models/never", "", ``, nil, 404, "model"},
		{"legacy bad data", "POST", "/api/fit_model", js, `{"data":"x"}`, nil, 400, "data"},
		{"legacy bad steps", "POST", "/api/forecast", js, `{"num_steps":0}`, nil, 400, "num_steps"},
		{"duplicate key", "POST", fc, js, `{"horizon":3,"horizon":5}`, nil, 400, "horizon"},
		{"duplicate key in options", "POST", fit, js, `{"values":[1,2,3],"method":"ets","options":{"spec":"ANN","spec":"MNN"}}`, nil, 400, "options.spec"},
		{"legacy duplicate data", "POST", "/api/fit_model", js, `{"data":[1],"data":[` + strings.Repeat("5,7,6,", 10) + `8]}`, nil, 400, "data"},
		{"legacy duplicate steps", "POST", "/api/forecast", js, `{"num_steps":1,"num_steps":2}`, nil, 400, "num_steps"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body := tc.raw
			if body == nil {
				body = []byte(tc.body)
			}
			code, env := s.send(t, tc.method, tc.path, tc.ctype, body)
			if code != tc.code || env.Status != "fail" {
				t.Fatalf("got %d %q %v, want %d fail", code, env.Status, env.Data, tc.code)
			}
			if _, ok := env.Data[tc.field]; !ok {
				t.Fatalf("fail data %v does not name field %q", env.Data, tc.field)
			}
		})
	}

	// The service keeps serving, and no failed request left a model or pending fit behind.
	code, env := s.send(t, "POST", fit, js, []byte(`{"values":[1,2,3,4,5],"method":"naive"}`))
	if code != 200 || env.Status != "success" {
		t.Fatalf("valid fit after bad input: %d %v", code, env)
	}
	info, err := s.store.Info(t.Context(), "m")
	if err != nil || len(info.Pending) != 0 {
		t.Fatalf("model m after bad input: %+v %v", info, err)
	}
}

func TestConcurrentFitsAndForecasts(t *testing.T) {
	s := newAPIServer(t)
	if code, env := s.send(t, "POST", "/v1/models/c/fit", "application/json", []byte(`{"values":[1,2,3,4,5],"method":"naive"}`)); code != 200 {
		t.Fatalf("first fit: %d %v", code, env)
	}
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for i := range 16 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			body, _ := json.Marshal(map[string]any{"values": []float64{1, 2, 3, float64(i)}, "method": "drift"})
			if code, env := s.send(t, "POST", "/v1/models/c/fit", "application/json", body); code != 200 {
				errs <- "fit: " + env.Status
			}
		}()
		go func() {
			defer wg.Done()
			code, env := s.send(t, "POST", "/v1/models/c/forecast", "application/json", []byte(`{"horizon":4}`))
			if code != 200 {
				errs <- "forecast: " + env.Status
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	info, err := s.store.Info(t.Context(), "c")
	if err != nil || info.Sequence != 17 || info.Current == nil || info.Current.Generation != 17 || len(info.Pending) != 0 {
		t.Fatalf("after 17 fits: sequence %d, current %+v, pending %v (%v)", info.Sequence, info.Current, info.Pending, err)
	}
}

func TestAsyncFitIsPollable(t *testing.T) {
	s := newAPIServer(t)
	req, _ := http.NewRequest("POST", s.url+"/v1/models/a/fit", strings.NewReader(`{"values":[3,4,5,6],"method":"naive"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Prefer", "respond-async")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var env struct {
		Data struct {
			JobID      string `json:"job_id"`
			Generation int64  `json:"generation"`
			Status     string `json:"status"`
		} `json:"data"`
	}
	_ = json.NewDecoder(res.Body).Decode(&env)
	if res.StatusCode != 202 || env.Data.Generation != 1 || env.Data.JobID == "" {
		t.Fatalf("async fit: %d %+v", res.StatusCode, env.Data)
	}
	if loc := res.Header.Get("Location"); loc != "/v1/jobs/"+env.Data.JobID {
		t.Fatalf("Location = %q", loc)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		code, job := s.send(t, "GET", "/v1/jobs/"+env.Data.JobID, "", nil)
		if code == 200 && string(job.Data["status"]) == `"succeeded"` {
			if string(job.Data["kind"]) != `"fit"` || job.Data["result"] == nil {
				t.Fatalf("job = %v", job.Data)
			}
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("async fit never succeeded")
}

func TestCommandOverSSE(t *testing.T) {
	s := newAPIServer(t)
	req, _ := http.NewRequest("POST", s.url+"/v1/models/sse/fit", strings.NewReader(`{"values":[3,4,5,6],"method":"naive"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if ct := res.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type = %q", ct)
	}
	var events []sse.Message
	if err := sse.Read(res.Body, func(m sse.Message) { events = append(events, m) }); err != nil { // the stream ends after the outcome
		t.Fatal(err)
	}
	if len(events) < 2 || events[0].Event != "accepted" || events[len(events)-1].Event != "succeeded" {
		t.Fatalf("events = %+v; want accepted … succeeded", events)
	}
	if last := events[len(events)-1]; !strings.Contains(last.Data, `"generation":1`) {
		t.Fatalf("succeeded event lacks the fit summary: %+v", last)
	}
}

func TestLegacyAPIFitsARIMA711AndForecastsLevels(t *testing.T) {
	s := newAPIServer(t)
	y := make([]float64, 80)
	level := 500.0
	for i := range y {
		level += 3 + 5*float64((i*7919)%11-5)/5 // a deterministic wiggly upward walk
		y[i] = level
	}
	body, _ := json.Marshal(map[string]any{"data": y})
	code, env := s.send(t, "POST", "/api/fit_model", "application/json", body)
	if code != 200 || env.Status != "success" {
		t.Fatalf("fit_model: %d %v %s", code, env.Data, env.Message)
	}
	if got := string(env.Data["method"]); got != `"ARIMA(7,1,1)"` {
		t.Fatalf("method = %s, want ARIMA(7,1,1)", got)
	}
	code, env = s.send(t, "POST", "/api/forecast", "application/json", []byte(`{"num_steps":5}`))
	if code != 200 || env.Status != "success" {
		t.Fatalf("forecast: %d %v %s", code, env.Data, env.Message)
	}
	var point []float64
	if err := json.Unmarshal(env.Data["point"], &point); err != nil || len(point) != 5 {
		t.Fatalf("point = %s (%v)", env.Data["point"], err)
	}
	last := y[len(y)-1]
	for i, p := range point {
		// Levels continue the series; differences would sit near the drift, far below it.
		if p < 0.9*last || p > 1.2*last {
			t.Errorf("step %d forecast %v is not a level near the last value %v", i+1, p, last)
		}
	}
	if string(env.Data["model"]) != `"default"` {
		t.Errorf("model = %s, want default", env.Data["model"])
	}
}

// The original service's clients read data.message after a fit and data.forecast after a
// forecast, and find problems with their series under data, whoever finds them.
func TestLegacyAPIAnswersWithTheOriginalFields(t *testing.T) {
	s := newAPIServer(t)
	fails := []struct{ name, body string }{
		{"too few for ARIMA(7,1,1) (found by the processor)", `{"data":[1,2,3,4,5]}`},
		{"empty", `{"data":[]}`},
		{"missing", `{}`},
		{"all null", `{"data":[null,null,null]}`},
		{"out of range", `{"data":[1,2,1e200]}`},
	}
	for _, tc := range fails {
		t.Run(tc.name, func(t *testing.T) {
			code, env := s.send(t, "POST", "/api/fit_model", "application/json", []byte(tc.body))
			if code != 400 || env.Status != "fail" {
				t.Fatalf("got %d %q %v; want 400 fail", code, env.Status, env.Data)
			}
			if _, ok := env.Data["data"]; !ok || len(env.Data) != 1 {
				t.Fatalf("fail data %v; want the problem under \"data\" alone", env.Data)
			}
		})
	}

	y := make([]float64, 60)
	for i := range y {
		y[i] = 100 + float64(i) + float64((i*37)%7)
	}
	body, _ := json.Marshal(map[string]any{"data": y})
	code, env := s.send(t, "POST", "/api/fit_model", "application/json", body)
	if code != 200 || env.Status != "success" {
		t.Fatalf("fit_model: %d %v %s", code, env.Data, env.Message)
	}
	if got := string(env.Data["message"]); got != `"Successfully fitted and persisted model."` {
		t.Errorf("fit_model data.message = %s; want the original's message (data %v)", got, env.Data)
	}
	code, env = s.send(t, "POST", "/api/forecast", "application/json", []byte(`{"num_steps":4}`))
	if code != 200 || env.Status != "success" {
		t.Fatalf("forecast: %d %v %s", code, env.Data, env.Message)
	}
	var fc, point []float64
	if err := json.Unmarshal(env.Data["forecast"], &fc); err != nil || len(fc) != 4 {
		t.Errorf("forecast data.forecast = %s (%v); want 4 point forecasts", env.Data["forecast"], err)
	}
	if err := json.Unmarshal(env.Data["point"], &point); err != nil || !slices.Equal(fc, point) {
		t.Errorf("data.forecast %v differs from data.point %s", fc, env.Data["point"])
	}

}

func TestShutdownAnswersWaitingRequests(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	br := broker.NewInProcess(watermill.NopLogger{})
	defer br.Close()
	st := store.NewMemory()
	// No processor: the fit is accepted and then waits for an answer that never comes.
	gw := gateway.New(gateway.DefaultConfig(), gateway.Deps{Store: st, Publisher: br.Publisher, Replies: br.Replies, Log: log})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- gw.Serve(ctx, ln) }()

	type answer struct {
		code int
		body jsend
		err  error
	}
	got := make(chan answer, 1)
	go func() {
		res, err := http.Post("http://"+ln.Addr().String()+"/v1/models/s/fit", "application/json", strings.NewReader(`{"values":[1,2,3]}`))
		if err != nil {
			got <- answer{err: err}
			return
		}
		defer res.Body.Close()
		var env jsend
		err = json.NewDecoder(res.Body).Decode(&env)
		got <- answer{code: res.StatusCode, body: env, err: err}
	}()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if seq, _ := st.Sequence(context.Background(), "s"); seq == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the fit was never accepted")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	a := <-got
	if a.err != nil || a.code != http.StatusServiceUnavailable || a.body.Status != "error" || a.body.Data["job_id"] == nil {
		t.Fatalf("answer at shutdown = %d %+v (%v); want a 503 JSend error naming the job", a.code, a.body, a.err)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve returned %v", err)
	}
}

func TestCommandsAreRateLimitedPerClient(t *testing.T) {
	srv := stack.New(t, stack.Config{}).AddGateway(stack.GatewayOptions{
		Config:    func(c *gateway.Config) { c.RateLimit, c.RateBurst = 0.5, 2 },
		Unstarted: true, // accepting is enough: no replies needed
	})
	post := func() *http.Response {
		req, _ := http.NewRequest("POST", srv.URL+"/v1/models/r/fit", strings.NewReader(`{"values":[1,2,3]}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Prefer", "respond-async")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	for i := range 2 {
		if res := post(); res.StatusCode != http.StatusAccepted {
			t.Fatalf("request %d within the burst: %d", i+1, res.StatusCode)
		}
	}
	res := post()
	defer res.Body.Close()
	var env jsend
	_ = json.NewDecoder(res.Body).Decode(&env)
	var rate string
	_ = json.Unmarshal(env.Data["rate"], &rate)
	if res.StatusCode != http.StatusTooManyRequests || env.Status != "fail" || !strings.Contains(rate, "retry in") || res.Header.Get("Retry-After") == "" {
		t.Fatalf("request over the limit: %d %+v Retry-After %q; want a JSend 429 fail naming the rate, with Retry-After", res.StatusCode, env, res.Header.Get("Retry-After"))
	}
	// Reads are never limited.
	if code, _ := (&apiServer{url: srv.URL}).send(t, "GET", "/v1/models", "", nil); code != http.StatusOK {
		t.Fatalf("GET /v1/models after the limit: %d", code)
	}
}

// GET /v1/models/{model} carries the tail of the fitted series (nulls kept, with timestamps
// when the fit had them); the fit's answer and the model list do not.
func TestModelInfoCarriesTheSeriesHistory(t *testing.T) {
	s := newAPIServer(t)
	n := messages.MaxHistory + 500
	values := make([]any, n)
	stamps := make([]string, n)
	t0 := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range values {
		values[i] = float64(i % 7)
		stamps[i] = t0.Add(time.Duration(i) * time.Hour).Format(time.RFC3339)
	}
	values[n-3] = nil
	body, _ := json.Marshal(map[string]any{"values": values, "timestamps": stamps, "method": "naive"})
	code, env := s.send(t, "POST", "/v1/models/h/fit", "application/json", body)
	if code != 200 {
		t.Fatalf("fit: %d %v", code, env)
	}
	if _, ok := env.Data["history"]; ok {
		t.Error("the fit's answer carries the history; only the model info should")
	}
	code, env = s.send(t, "GET", "/v1/models/h", "", nil)
	if code != 200 {
		t.Fatalf("model info: %d %v", code, env)
	}
	var hist struct {
		Values     []*float64  `json:"values"`
		Timestamps []time.Time `json:"timestamps"`
		Start      int         `json:"start"`
		Truncated  bool        `json:"truncated"`
	}
	if err := json.Unmarshal(env.Data["history"], &hist); err != nil {
		t.Fatalf("history %s: %v", env.Data["history"], err)
	}
	if len(hist.Values) != messages.MaxHistory || hist.Start != n-messages.MaxHistory || !hist.Truncated {
		t.Fatalf("history has %d values from %d (truncated %v), want the last %d from %d", len(hist.Values), hist.Start, hist.Truncated, messages.MaxHistory, n-messages.MaxHistory)
	}
	if hist.Values[len(hist.Values)-3] != nil || hist.Values[0] == nil || *hist.Values[0] != float64(hist.Start%7) {
		t.Errorf("history values do not match the tail of the series (missing kept as null)")
	}
	if len(hist.Timestamps) != len(hist.Values) || !hist.Timestamps[0].Equal(t0.Add(time.Duration(hist.Start)*time.Hour)) ||
		!hist.Timestamps[len(hist.Timestamps)-1].Equal(t0.Add(time.Duration(n-1)*time.Hour)) {
		t.Errorf("history timestamps = %d from %v, want %d from the %dth", len(hist.Timestamps), hist.Timestamps[:1], len(hist.Values), hist.Start)
	}

	code, env = s.send(t, "GET", "/v1/models", "", nil)
	if code != 200 || bytes.Contains(env.Data["models"], []byte(`"history"`)) {
		t.Fatalf("model list: %d, carries a history: %v", code, bytes.Contains(env.Data["models"], []byte(`"history"`)))
	}
}

// Forecast timestamps continue the series' calendar from its last supplied timestamp, and a
// series whose steps do not follow one calendar step is refused, naming the first odd gap.
func TestForecastTimestampsFollowTheCalendar(t *testing.T) {
	s := newAPIServer(t)
	type forecastData struct {
		Point      []float64   `json:"point"`
		Timestamps []time.Time `json:"timestamps"`
	}
	fitThenForecast := func(t *testing.T, model, fitBody string, horizon int) (jsend, forecastData) {
		t.Helper()
		code, fit := s.send(t, "POST", "/v1/models/"+model+"/fit", "application/json", []byte(fitBody))
		if code != 200 {
			t.Fatalf("fit: %d %v", code, fit)
		}
		code, env := s.send(t, "POST", "/v1/models/"+model+"/forecast", "application/json", []byte(`{"horizon":`+strconv.Itoa(horizon)+`}`))
		if code != 200 {
			t.Fatalf("forecast: %d %v", code, env)
		}
		var fc forecastData
		b, _ := json.Marshal(env.Data)
		_ = json.Unmarshal(b, &fc)
		return fit, fc
	}
	day := func(d int) string { return time.Date(2024, 1, d, 0, 0, 0, 0, time.UTC).Format(time.RFC3339) }
	days := func(ds ...int) string {
		q := make([]string, len(ds))
		for i, d := range ds {
			q[i] = `"` + day(d) + `"`
		}
		return "[" + strings.Join(q, ",") + "]"
	}
	near := func(t *testing.T, got, want []float64) {
		t.Helper()
		for i := range want {
			if len(got) != len(want) || math.Abs(got[i]-want[i]) > 1e-9 {
				t.Fatalf("point = %v; want %v", got, want)
			}
		}
	}

	t.Run("missing tail", func(t *testing.T) {
		fit, fc := fitThenForecast(t, "tail", `{"values":[10,21,29,40,null,null,null],"method":"drift","timestamps":`+days(1, 2, 3, 4, 5, 6, 7)+`}`, 2)
		if string(fit.Data["missing"]) != "3" {
			t.Errorf("missing = %s; want 3", fit.Data["missing"])
		}
		near(t, fc.Point, []float64{80, 90}) // the drift's steps 8 and 9
		if len(fc.Timestamps) != 2 || fc.Timestamps[0].Format(time.RFC3339) != day(8) || fc.Timestamps[1].Format(time.RFC3339) != day(9) {
			t.Errorf("timestamps = %v; want Jan 8 and Jan 9", fc.Timestamps)
		}
		_, fc = fitThenForecast(t, "tail-untimed", `{"values":[10,21,29,40,null,null,null],"method":"drift"}`, 2)
		near(t, fc.Point, []float64{80, 90})
	})

	t.Run("month ends", func(t *testing.T) {
		_, fc := fitThenForecast(t, "eom", `{"values":[1,2,3,4],"method":"naive","timestamps":["2024-01-31T00:00:00Z","2024-02-29T00:00:00Z","2024-03-31T00:00:00Z","2024-04-30T00:00:00Z"]}`, 3)
		var got []string
		for _, ts := range fc.Timestamps {
			got = append(got, ts.Format(time.DateOnly))
		}
		if strings.Join(got, " ") != "2024-05-31 2024-06-30 2024-07-31" {
			t.Errorf("timestamps = %v; want the ends of May, June and July", got)
		}
	})

	t.Run("gap marked by null", func(t *testing.T) {
		_, fc := fitThenForecast(t, "nullgap", `{"values":[1,2,null,4],"method":"naive","timestamps":`+days(1, 2, 3, 4)+`}`, 1)
		if len(fc.Timestamps) != 1 || fc.Timestamps[0].Format(time.RFC3339) != day(5) {
			t.Errorf("timestamps = %v; want Jan 5", fc.Timestamps)
		}
	})

	t.Run("daylight saving day", func(t *testing.T) {
		_, fc := fitThenForecast(t, "dst", `{"values":[1,2,3,4],"method":"naive","timestamps":["2024-03-29T00:00:00+01:00","2024-03-30T00:00:00+01:00","2024-03-31T00:00:00+02:00","2024-04-01T00:00:00+02:00"]}`, 1)
		if len(fc.Timestamps) != 1 || fc.Timestamps[0].Format(time.RFC3339) != "2024-04-02T00:00:00+02:00" {
			t.Errorf("timestamps = %v; want 2024-04-02T00:00:00+02:00", fc.Timestamps)
		}
	})

	t.Run("missing day", func(t *testing.T) {
		fit, fc := fitThenForecast(t, "gap", `{"values":[1,2,3,4,5],"method":"naive","timestamps":`+days(1, 2, 3, 5, 6)+`}`, 1)
		if string(fit.Data["missing"]) != "1" || string(fit.Data["gaps"]) != "1" {
			t.Errorf("missing = %s, gaps = %s; want the day left out as 1 missing value, a gap", fit.Data["missing"], fit.Data["gaps"])
		}
		if len(fc.Timestamps) != 1 || fc.Timestamps[0].Format(time.RFC3339) != day(7) {
			t.Errorf("timestamps = %v; want Jan 7", fc.Timestamps)
		}
	})

	t.Run("a time off the step", func(t *testing.T) {
		off := strings.Replace(days(1, 2, 3, 4, 5), day(4), "2024-01-04T12:00:00Z", 1)
		code, env := s.send(t, "POST", "/v1/models/offstep/fit", "application/json", []byte(`{"values":[1,2,3,4,5],"method":"naive","timestamps":`+off+`}`))
		var problem string
		_ = json.Unmarshal(env.Data["timestamps"], &problem)
		if code != 400 || env.Status != "fail" || !strings.Contains(problem, "entry 3") || !strings.Contains(problem, day(3)) || !strings.Contains(problem, "2024-01-04T12:00:00Z") {
			t.Errorf("got %d %s %q; want a 400 fail naming entry 3 and its timestamps under timestamps", code, env.Status, problem)
		}
	})
}
