package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// rtConfig is one HTTP forecast round-trip run: callers each send a forecast, wait for its
// answer and send the next, for duration.
type rtConfig struct {
	base     *url.URL
	callers  int
	duration time.Duration
	models   int    // forecasts spread over this many models, fitted first
	prefix   string // model names: prefix-0, prefix-1, …
}

// stats of one run: completed round trips, errors and latencies in microseconds.
type stats struct {
	name     string
	callers  int
	ok, errs int
	first    string
	elapsed  time.Duration
	lat      []int64
}

func (s stats) rate() float64 { return float64(s.ok) / s.elapsed.Seconds() }

func (s stats) String() string {
	if len(s.lat) == 0 {
		return fmt.Sprintf("%s, %d callers: no answers, %d errors (%s)", s.name, s.callers, s.errs, s.first)
	}
	line := fmt.Sprintf("%s, %d callers: %d in %.1fs = %.0f/s, p50 %s, p90 %s, p99 %s", s.name, s.callers, s.ok,
		s.elapsed.Seconds(), s.rate(), us(pct(s.lat, 50)), us(pct(s.lat, 90)), us(pct(s.lat, 99)))
	if s.errs > 0 {
		line += fmt.Sprintf("; %d errors, first: %s", s.errs, s.first)
	}
	return line
}

// recorder collects the outcomes of concurrent callers.
type recorder struct {
	mu sync.Mutex
	s  stats
}

func (r *recorder) add(d time.Duration, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.s.errs++
		if r.s.first == "" {
			r.s.first = err.Error()
		}
		return
	}
	r.s.ok++
	r.s.lat = append(r.s.lat, d.Microseconds())
}

// drive runs callers goroutines, each calling once until duration has passed, and returns the
// stats of every call.
func drive(ctx context.Context, name string, callers int, duration time.Duration, call func(ctx context.Context, caller, i int) error) stats {
	rec := &recorder{s: stats{name: name, callers: callers}}
	ctx, cancel := context.WithTimeout(ctx, duration)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for c := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				t := time.Now()
				err := call(context.WithoutCancel(ctx), c, i)
				if time.Since(start) > duration {
					return // finished after the end: not counted
				}
				rec.add(time.Since(t), err)
			}
		}()
	}
	wg.Wait()
	rec.s.elapsed = duration
	return rec.s
}

func parseRoundTrip(fs *flag.FlagSet, c *rtConfig) *string {
	rawURL := fs.String("url", "http://127.0.0.1:8080", "gateway base URL (loopback only)")
	fs.IntVar(&c.callers, "callers", 64, "concurrent callers, each waiting for its answer before the next request")
	fs.DurationVar(&c.duration, "duration", 10*time.Second, "how long to send")
	fs.IntVar(&c.models, "models", 8, "models the forecasts are spread over (fitted first)")
	fs.StringVar(&c.prefix, "model-prefix", "loadgen-rt", "model names: PREFIX-0, PREFIX-1, …")
	return rawURL
}

func loopbackURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || !isLoopback(u.Hostname()) {
		return nil, fmt.Errorf("-url %q: must be an http URL on a loopback address", raw)
	}
	return u, nil
}

func roundTripCmd(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("roundtrip", flag.ContinueOnError)
	var c rtConfig
	rawURL := parseRoundTrip(fs, &c)
	return parseAndRun(fs, args, rawURL, out, func(base *url.URL) (stats, error) {
		c.base = base
		return roundTrips(ctx, c)
	})
}

// parseAndRun parses args into fs, checks the gateway URL, and prints what run returns.
func parseAndRun[T fmt.Stringer](fs *flag.FlagSet, args []string, rawURL *string, out io.Writer, run func(base *url.URL) (T, error)) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	u, err := loopbackURL(*rawURL)
	if err != nil {
		return err
	}
	r, err := run(u)
	if err != nil {
		return err
	}
	fmt.Fprintln(out, r)
	return nil
}

func httpClient(conns int) *http.Client {
	return &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{
		MaxIdleConns: conns, MaxIdleConnsPerHost: conns, IdleConnTimeout: time.Minute,
	}}
}

// fitMethods are cheap fits of different kinds, so forecasts use different models.
var fitMethods = []string{"naive", "drift", "mean", "theta", "snaive"}

// setupModels fits c.models models, synchronously.
func setupModels(ctx context.Context, client *http.Client, base *url.URL, prefix string, n int) error {
	for i := range n {
		values := series(48+i, float64(i))
		body := map[string]any{"values": values, "method": fitMethods[i%len(fitMethods)], "season_length": 12}
		if _, err := post(ctx, client, base, fmt.Sprintf("/v1/models/%s-%d/fit", prefix, i), body, nil); err != nil {
			return fmt.Errorf("fit %s-%d: %w", prefix, i, err)
		}
	}
	return nil
}

func series(n int, phase float64) []float64 {
	v := make([]float64, n)
	for j := range v {
		v[j] = 100 + 0.5*float64(j) + 10*math.Sin(2*math.Pi*float64(j)/12+phase) + 3*math.Sin(float64(7*j))
	}
	return v
}

// forecastAnswer is what a round trip reads of a forecast's answer.
type forecastAnswer struct {
	Status string `json:"status"`
	Data   struct {
		Generation int64     `json:"generation"`
		Point      []float64 `json:"point"`
		HeldMS     float64   `json:"held_ms"`
	} `json:"data"`
}

// post sends body as JSON to path and decodes a 2xx answer into v (when not nil).
func post(ctx context.Context, client *http.Client, base *url.URL, path string, body any, v any, header ...string) (int, error) {
	b, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base.String()+path, bytes.NewReader(b))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, err
	}
	if resp.StatusCode/100 != 2 {
		return resp.StatusCode, fmt.Errorf("%s: %.200s", resp.Status, raw)
	}
	if v != nil {
		return resp.StatusCode, json.Unmarshal(raw, v)
	}
	return resp.StatusCode, nil
}

var levelChoices = [][]float64{{80, 95}, {50}, {90}, {80}, {50, 80, 95, 99}, {}}

// forecastOnce asks model for a forecast of a random horizon and levels and checks the answer.
func forecastOnce(ctx context.Context, client *http.Client, base *url.URL, model string, rng *rand.Rand) (forecastAnswer, error) {
	h := 1 + rng.IntN(24)
	body := map[string]any{"horizon": h, "levels": levelChoices[rng.IntN(len(levelChoices))]}
	var a forecastAnswer
	if _, err := post(ctx, client, base, "/v1/models/"+url.PathEscape(model)+"/forecast", body, &a); err != nil {
		return a, err
	}
	if a.Status != "success" || len(a.Data.Point) != h {
		return a, fmt.Errorf("answer %q with %d points, want success with %d", a.Status, len(a.Data.Point), h)
	}
	return a, nil
}

// roundTrips fits the models, then measures forecast round trips.
func roundTrips(ctx context.Context, c rtConfig) (stats, error) {
	client := httpClient(c.callers)
	if err := setupModels(ctx, client, c.base, c.prefix, c.models); err != nil {
		return stats{}, err
	}
	var seed atomic.Uint64
	rngs := make([]*rand.Rand, c.callers)
	for i := range rngs {
		rngs[i] = rand.New(rand.NewPCG(seed.Add(1), 42))
	}
	// A short warm-up fills the connection pools and the processors' model caches.
	warm := drive(ctx, "warm-up", c.callers, 500*time.Millisecond, func(ctx context.Context, caller, i int) error {
		_, err := forecastOnce(ctx, client, c.base, fmt.Sprintf("%s-%d", c.prefix, (caller+i)%c.models), rngs[caller])
		return err
	})
	if warm.ok == 0 {
		return warm, fmt.Errorf("warm-up: no forecast succeeded: %s", warm.first)
	}
	s := drive(ctx, "forecastd HTTP forecast", c.callers, c.duration, func(ctx context.Context, caller, i int) error {
		_, err := forecastOnce(ctx, client, c.base, fmt.Sprintf("%s-%d", c.prefix, (caller+i)%c.models), rngs[caller])
		return err
	})
	return s, nil
}

// burstConfig is one held-burst run: n forecasts sent while one slow fit runs, so all are held
// behind it, each answer timed from the fit's model_ready event.
type burstConfig struct {
	base  *url.URL
	n     int
	fitN  int
	model string
}

type burstResult struct {
	n, held, answered, newGen int
	errs                      int
	first                     string
	sentIn                    time.Duration
	afterReady                []int64 // µs from model_ready to each answer
}

func (b burstResult) String() string {
	if len(b.afterReady) == 0 {
		return fmt.Sprintf("held burst: %d forecasts, none answered after model_ready; %d errors (%s)", b.n, b.errs, b.first)
	}
	line := fmt.Sprintf("held burst: %d forecasts sent in %s, %d held, %d answered with the new generation; after model_ready: first %s, p50 %s, p99 %s, all %s",
		b.n, b.sentIn.Round(time.Millisecond), b.held, b.newGen, us(slices.Min(b.afterReady)), us(pct(b.afterReady, 50)), us(pct(b.afterReady, 99)), us(slices.Max(b.afterReady)))
	if b.errs > 0 {
		line += fmt.Sprintf("; %d errors, first: %s", b.errs, b.first)
	}
	return line
}

func burstCmd(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("burst", flag.ContinueOnError)
	var c burstConfig
	rawURL := fs.String("url", "http://127.0.0.1:8080", "gateway base URL (loopback only)")
	fs.IntVar(&c.n, "n", 1000, "forecasts held behind the fit")
	fs.IntVar(&c.fitN, "fit-n", 3000, "observations of the slow fit (method auto) they wait for")
	fs.StringVar(&c.model, "model", "loadgen-burst", "model name")
	return parseAndRun(fs, args, rawURL, out, func(base *url.URL) (burstResult, error) {
		c.base = base
		return heldBurst(ctx, c)
	})
}

// heldBurst fits the model once (so it exists), follows its events, starts a slow fit, sends
// the burst while that fit runs, and times every answer from the fit's model_ready.
func heldBurst(ctx context.Context, c burstConfig) (burstResult, error) {
	res := burstResult{n: c.n}
	client := httpClient(c.n)
	if _, err := post(ctx, client, c.base, "/v1/models/"+c.model+"/fit", map[string]any{"values": series(48, 0), "method": "naive"}, nil); err != nil {
		return res, fmt.Errorf("first fit: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	readyAt := make(chan map[int64]time.Time, 1)
	events, err := followModel(ctx, c.base, c.model)
	if err != nil {
		return res, err
	}
	var acc struct {
		Data struct {
			Generation int64 `json:"generation"`
		} `json:"data"`
	}
	body := map[string]any{"values": series(c.fitN, 1), "method": "auto", "season_length": 12}
	if _, err := post(ctx, client, c.base, "/v1/models/"+c.model+"/fit", body, &acc, "Prefer", "respond-async"); err != nil {
		return res, fmt.Errorf("slow fit: %w", err)
	}
	gen := acc.Data.Generation
	go func() {
		seen := map[int64]time.Time{}
		for ev := range events {
			seen[ev.gen] = ev.at
			if ev.gen >= gen {
				break
			}
		}
		readyAt <- seen
	}()
	type answer struct {
		at  time.Time
		a   forecastAnswer
		err error
	}
	answers := make(chan answer, c.n)
	start := time.Now()
	var sent sync.WaitGroup
	for i := range c.n {
		sent.Add(1)
		go func() {
			rng := rand.New(rand.NewPCG(uint64(i), 7))
			sent.Done()
			a, err := forecastOnce(ctx, client, c.base, c.model, rng)
			answers <- answer{time.Now(), a, err}
		}()
	}
	sent.Wait()
	res.sentIn = time.Since(start)
	got := make([]answer, 0, c.n)
	for range c.n {
		got = append(got, <-answers)
	}
	var ready time.Time
	select {
	case seen := <-readyAt:
		ready = seen[gen]
	case <-time.After(10 * time.Second):
	}
	if ready.IsZero() {
		return res, fmt.Errorf("no model_ready for generation %d on /v1/events", gen)
	}
	for _, a := range got {
		if a.err != nil {
			res.errs++
			if res.first == "" {
				res.first = a.err.Error()
			}
			continue
		}
		res.answered++
		if a.a.Data.HeldMS > 0 {
			res.held++
		}
		if a.a.Data.Generation == gen {
			res.newGen++
		}
		res.afterReady = append(res.afterReady, a.at.Sub(ready).Microseconds())
	}
	return res, nil
}

type fitReady struct {
	gen int64
	at  time.Time
}

// followModel streams model's model_ready events from /v1/events, each with its arrival time.
func followModel(ctx context.Context, base *url.URL, model string) (<-chan fitReady, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base.String()+"/v1/events?model="+url.QueryEscape(model), nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("follow events: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("follow events: %s", resp.Status)
	}
	out := make(chan fitReady, 16)
	go func() {
		defer close(out)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
		name := ""
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: ") && name == "model_ready":
				at := time.Now()
				var d struct {
					Generation int64 `json:"generation"`
				}
				if json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &d) == nil {
					select {
					case out <- fitReady{d.Generation, at}:
					case <-ctx.Done():
						return
					}
				}
			case line == "":
				name = ""
			}
		}
	}()
	return out, nil
}

var errUsage = errors.New("usage: loadgen hold|report|roundtrip|amqp|burst|system|batchdata|batchreport [flags]")
