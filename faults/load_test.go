package faults

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fitKind is what a fit is made of, and so how it must end.
type fitKind string

const (
	fitSlow    fitKind = "slow"    // auto on 240 seasonal points: one to two seconds
	fitFast    fitKind = "fast"    // snaive on 48 points
	fitFailing fitKind = "failing" // multiplicative ETS on data with a zero: the engine fails it (400)
	fitVictim  fitKind = "victim"  // auto on 3,000 points: long enough to kill its processor mid-fit
	fitInitial fitKind = "initial" // the synchronous fit that gives a model its first generation
)

// series is a trending monthly-seasonal series with noise, the same for the same seed.
func series(n int, seed uint64) []float64 {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	out := make([]float64, n)
	for i := range out {
		v := 100 + 0.2*float64(i) + 10*math.Sin(2*math.Pi*float64(i)/12) + 2*rng.NormFloat64()
		out[i] = math.Round(v*1000) / 1000
	}
	return out
}

func fitBody(kind fitKind, seed uint64) []byte {
	req := map[string]any{"season_length": 12}
	switch kind {
	case fitSlow:
		req["values"], req["method"] = series(240, seed), "auto"
	case fitFast, fitInitial:
		req["values"], req["method"] = series(48, seed), "snaive"
	case fitFailing:
		v := series(60, seed)
		v[30] = 0 // valid input, but a multiplicative error needs strictly positive data
		req["values"], req["method"], req["options"] = v, "ets", map[string]any{"spec": "MAM"}
	case fitVictim:
		req["values"], req["method"] = series(3000, seed), "auto"
	}
	b, _ := json.Marshal(req)
	return b
}

// call is one request and what came of it.
type call struct {
	kind  string  // "fit" or "forecast"
	model string  // the model it names
	fit   fitKind // a fit's kind
	held  bool    // a forecast sent on purpose behind a fit whose processor was killed

	sent, done time.Time
	code       int   // HTTP status; 0: no answer before the client's timeout
	err        error // why there was no answer

	// An accepted fit (202, or 200 for the initial one): its job and generation, and, once
	// settled, how its job ended.
	jobID     string
	gen       int64
	final     string // succeeded, failed, expired; "missing" when the job record is gone; "" never ended
	finalCode int    // the job's http_status when it failed
	finalGen  int64  // the generation in the fit's summary
	fitMS     float64
	ended     time.Time // the job record's updated_at

	// An answered forecast (200): the generation it was computed with.
	fgen     int64
	fallback bool
}

func (c *call) accepted() bool { return c.jobID != "" }

// load keeps fits and forecasts going on several models and records every call.
type load struct {
	t      *testing.T
	base   string
	client *http.Client
	models []string
	seed   atomic.Uint64

	stopping chan struct{}
	wg       sync.WaitGroup
	start    time.Time
	stopped  time.Time

	mu     sync.Mutex
	calls  []*call
	faults []fault
}

// fault is one injected fault and when it began.
type fault struct {
	name string
	at   time.Time
}

const (
	fitEvery     = 1500 * time.Millisecond // per model
	forecasters  = 2                       // per model
	forecastTick = 150 * time.Millisecond
)

// startLoad gives each of n models a first generation, then keeps async fits (slow, fast and
// made to fail) and synchronous forecasts going on all of them until finish.
func startLoad(t *testing.T, c *cluster, n int) *load {
	t.Helper()
	l := &load{
		t: t, base: c.base, stopping: make(chan struct{}),
		client: &http.Client{Timeout: clientTimeout, Transport: &http.Transport{MaxIdleConnsPerHost: 64}},
	}
	for i := range n {
		m := fmt.Sprintf("m%d", i)
		l.models = append(l.models, m)
		if r := l.fitSync(m); r.code != http.StatusOK {
			t.Fatalf("first fit of %s: %d %v", m, r.code, r.err)
		}
	}
	l.start = time.Now()
	for i, m := range l.models {
		l.wg.Add(1)
		go l.fitter(m, i)
		for j := range forecasters {
			l.wg.Add(1)
			go l.forecaster(m, i*forecasters+j)
		}
	}
	return l
}

// sleep waits d unless the load is stopping; it reports whether to go on.
func (l *load) sleep(d time.Duration) bool {
	select {
	case <-l.stopping:
		return false
	case <-time.After(d):
		return true
	}
}

func (l *load) fitter(model string, n int) {
	defer l.wg.Done()
	kinds := []fitKind{fitSlow, fitFast, fitSlow, fitFailing}
	for i := n; l.sleep(fitEvery); i++ {
		l.fitAsync(model, kinds[i%len(kinds)])
	}
}

func (l *load) forecaster(model string, n int) {
	defer l.wg.Done()
	for i := n; l.sleep(forecastTick); i++ {
		l.forecast(model, false, i)
	}
}

// flood adds n callers forecasting back to back, with no pause: enough at once for the gateway
// to send forecasts to the processors in bundles (broker/bundle.go).
func (l *load) flood(n int) {
	for i := range n {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for j := i; l.sleep(0); j += n {
				l.forecast(l.models[j%len(l.models)], false, j)
			}
		}()
	}
}

// run lets the load go on for d.
func (l *load) run(d time.Duration) { time.Sleep(d) }

// fault records that a fault named name was injected at at.
func (l *load) fault(name string, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.faults = append(l.faults, fault{name, at})
}

// lastFault is when the newest fault was injected.
func (l *load) lastFault() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.faults[len(l.faults)-1].at
}

// envelope is a JSend response with the fields the suite reads.
type envelope struct {
	Status string `json:"status"`
	Data   struct {
		JobID      string          `json:"job_id"`
		Generation int64           `json:"generation"`
		Status     string          `json:"status"`
		HTTPStatus int             `json:"http_status"`
		Fallback   json.RawMessage `json:"fallback"`
		UpdatedAt  time.Time       `json:"updated_at"`
		Result     struct {
			Generation int64   `json:"generation"`
			DurationMS float64 `json:"duration_ms"`
		} `json:"result"`
	} `json:"data"`
}

// do sends one request and records it as c.
func (l *load) do(c *call, path string, body []byte, header ...string) (*call, envelope) {
	var env envelope
	req, _ := http.NewRequest(http.MethodPost, l.base+path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	c.sent = time.Now()
	resp, err := l.client.Do(req)
	if err == nil {
		c.code = resp.StatusCode
		err = json.NewDecoder(resp.Body).Decode(&env)
		resp.Body.Close()
		if err != nil {
			err = fmt.Errorf("status %d with a body that is not JSend: %w", c.code, err)
		}
	} else {
		c.err = err
	}
	c.done = time.Now()
	l.mu.Lock()
	l.calls = append(l.calls, c)
	l.mu.Unlock()
	if err != nil && c.code != 0 {
		l.t.Errorf("%s %s: %v", c.kind, c.model, err)
	}
	return c, env
}

func (l *load) fitSync(model string) *call {
	c, env := l.do(&call{kind: "fit", model: model, fit: fitInitial}, "/v1/models/"+model+"/fit", fitBody(fitInitial, l.seed.Add(1)))
	if c.code == http.StatusOK {
		c.jobID, c.gen = env.Data.JobID, env.Data.Generation
	}
	return c
}

func (l *load) fitAsync(model string, kind fitKind) *call {
	c, env := l.do(&call{kind: "fit", model: model, fit: kind}, "/v1/models/"+model+"/fit", fitBody(kind, l.seed.Add(1)),
		"Prefer", "respond-async")
	if c.code == http.StatusAccepted {
		c.jobID, c.gen = env.Data.JobID, env.Data.Generation
	}
	return c
}

// forecast asks for a synchronous forecast, its horizon and levels varying with n.
func (l *load) forecast(model string, held bool, n int) *call {
	levels := [][]float64{{80, 95}, {50}, {99}, {60, 70, 80, 90}}[n%4]
	body, _ := json.Marshal(map[string]any{"horizon": 1 + (n*7)%36, "levels": levels})
	c, env := l.do(&call{kind: "forecast", model: model, held: held}, "/v1/models/"+model+"/forecast", body)
	if c.code == http.StatusOK {
		c.fgen, c.fallback = env.Data.Generation, len(env.Data.Fallback) > 0
	}
	return c
}

// job reads a job record; ok is false when the gateway did not answer with one.
func (l *load) job(id string) (envelope, int, error) {
	var env envelope
	resp, err := l.client.Get(l.base + "/v1/jobs/" + id)
	if err != nil {
		return env, 0, err
	}
	defer resp.Body.Close()
	return env, resp.StatusCode, json.NewDecoder(resp.Body).Decode(&env)
}

func terminal(status string) bool {
	return status == "succeeded" || status == "failed" || status == "expired"
}

// settle polls every accepted fit's job until it has ended, for at most wait.
func (l *load) settle(wait time.Duration) {
	deadline := time.Now().Add(wait)
	for {
		open := 0
		for _, c := range l.snapshot() {
			if !c.accepted() || c.final != "" {
				continue
			}
			env, code, err := l.job(c.jobID)
			switch {
			case err == nil && code == http.StatusOK && terminal(env.Data.Status):
				c.final, c.finalCode, c.ended = env.Data.Status, env.Data.HTTPStatus, env.Data.UpdatedAt
				c.finalGen, c.fitMS = env.Data.Result.Generation, env.Data.Result.DurationMS
			case err == nil && code == http.StatusNotFound:
				c.final = "missing"
			default:
				open++
			}
		}
		if open == 0 || time.Now().After(deadline) {
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func (l *load) snapshot() []*call {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]*call(nil), l.calls...)
}

// finish stops the load, waits for the calls in flight and settles every accepted fit.
func (l *load) finish() verdict {
	l.stopped = time.Now()
	close(l.stopping)
	l.wg.Wait()
	l.settle(60 * time.Second)
	l.t.Logf("load stopped; the calls in flight ended and the fits settled %s later", round(time.Since(l.stopped)))
	return judge(l.snapshot(), l.faults, l.models, l.stopped.Sub(l.start))
}
