// Command loadgen holds many WebSocket and SSE sessions on one forecastd gateway, measures the
// gateway's memory per session and how long model_ready events take to reach every session.
// It only talks to loopback addresses. One process opens at most 10,000 sessions of each kind
// (a process may hold about 20,000 files); run two, with different -src addresses, for more,
// then merge their outputs with `loadgen report`.
//
//	loadgen hold -url http://127.0.0.1:18080 -ws 4500 -sse 4500 -src 127.0.0.2,127.0.0.3 \
//	    -expect 18000 -fits 10 -gateway-pid PID -out a.json
//	loadgen hold -url http://127.0.0.1:18080 -ws 4500 -sse 4500 -src 127.0.0.4,127.0.0.5 \
//	    -events 10 -out b.json
//	loadgen report a.json b.json
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
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/coder/websocket"

	"github.com/forecastd/forecastd/internal/sse"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 {
		return errUsage
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt)
	defer stop()
	switch args[0] {
	case "hold":
		return hold(ctx, args[1:], out)
	case "report":
		return report(args[1:], out)
	case "roundtrip":
		return roundTripCmd(ctx, args[1:], out)
	case "amqp":
		return amqpCmd(ctx, args[1:], out)
	case "burst":
		return burstCmd(ctx, args[1:], out)
	case "system":
		return systemCmd(ctx, args[1:], out)
	case "batchdata":
		return batchDataCmd(args[1:], out)
	case "batchreport":
		return batchReportCmd(args[1:], out)
	}
	return fmt.Errorf("unknown command %q", args[0])
}

// config of one hold run.
type config struct {
	base        *url.URL
	ws, sse     int
	src         []net.IP
	model       string
	fits        int
	interval    time.Duration
	events      int
	expect      int
	gatewayPID  int
	settle      time.Duration
	timeout     time.Duration
	concurrency int
	out         string
	cpuProfile  string
}

func parseHold(args []string) (config, error) {
	fs := flag.NewFlagSet("hold", flag.ContinueOnError)
	var c config
	rawURL := fs.String("url", "http://127.0.0.1:8080", "gateway base URL (loopback only)")
	src := fs.String("src", "127.0.0.1", "comma-separated loopback source addresses to spread connections over")
	fs.IntVar(&c.ws, "ws", 0, "WebSocket sessions to hold (≤ 10000)")
	fs.IntVar(&c.sse, "sse", 0, "SSE /v1/events sessions to hold (≤ 10000)")
	fs.StringVar(&c.model, "model", "loadtest", "model the sessions follow and the fits train")
	fs.IntVar(&c.fits, "fits", 0, "fits to trigger once -expect sessions are open (this process measures)")
	fs.DurationVar(&c.interval, "interval", time.Second, "pause between fits")
	fs.IntVar(&c.events, "events", 0, "model_ready events to wait for per session (default -fits)")
	fs.IntVar(&c.expect, "expect", 0, "gateway-wide sessions to wait for before measuring and triggering")
	fs.IntVar(&c.gatewayPID, "gateway-pid", 0, "gateway process id, to read its VmRSS from /proc")
	fs.DurationVar(&c.settle, "settle", 5*time.Second, "pause after the sessions are open, before measuring")
	fs.DurationVar(&c.timeout, "timeout", 10*time.Minute, "bound on the whole run")
	fs.IntVar(&c.concurrency, "dial-concurrency", 64, "connections opened at once")
	fs.StringVar(&c.out, "out", "", "write the raw results as JSON to this file")
	fs.StringVar(&c.cpuProfile, "cpuprofile", "", "write a CPU profile of this process, from the sessions' opening to the end, to this file")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	u, err := url.Parse(*rawURL)
	if err != nil || !isLoopback(u.Hostname()) {
		return c, fmt.Errorf("-url %q: must be an http URL on a loopback address", *rawURL)
	}
	c.base = u
	for _, s := range strings.Split(*src, ",") {
		ip := net.ParseIP(strings.TrimSpace(s))
		if ip == nil || !ip.IsLoopback() {
			return c, fmt.Errorf("-src %q: not a loopback address", s)
		}
		c.src = append(c.src, ip)
	}
	if c.ws < 0 || c.ws > 10_000 || c.sse < 0 || c.sse > 10_000 {
		return c, errors.New("-ws and -sse must be in [0, 10000]")
	}
	if c.fits < 0 || c.fits > 1000 || c.concurrency < 1 || c.concurrency > 1000 || c.interval < 0 || c.interval > time.Minute {
		return c, errors.New("-fits must be in [0, 1000], -dial-concurrency in [1, 1000], -interval in [0, 1m]")
	}
	if c.events == 0 {
		c.events = c.fits
	}
	return c, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// result is what one hold run writes; report merges several.
type result struct {
	WS              int                `json:"ws"`
	SSE             int                `json:"sse"`
	SSEOpen         int                `json:"sse_open"`
	WSOpen          int                `json:"ws_open"`
	Failed          int                `json:"failed"`
	FirstError      string             `json:"first_error,omitempty"`
	OpenSeconds     float64            `json:"open_seconds"`
	MemBefore       map[string]float64 `json:"mem_before,omitempty"`
	MemAfter        map[string]float64 `json:"mem_after,omitempty"`
	GatewaySessions float64            `json:"gateway_sessions,omitempty"`
	GatewayCPU      float64            `json:"gateway_cpu_seconds,omitempty"`
	LoadgenCPU      float64            `json:"loadgen_cpu_seconds"`
	// Arrivals are, per event id, its generation, the store's time stamp and every session's
	// arrival time, all in Unix microseconds; FitSent is when each generation's fit was sent.
	Arrivals          map[string]*arrivals `json:"arrivals"`
	FitSent           map[int64]int64      `json:"fit_sent_us,omitempty"`
	SessionsCompleted int                  `json:"sessions_completed"`
}

// arrivals are one model_ready's arrivals at the sessions of a process.
type arrivals struct {
	Generation int64   `json:"generation"`
	EventUS    int64   `json:"event_us"`
	AtUS       []int64 `json:"at_us"`
}

// collector gathers model_ready arrivals from every session.
type collector struct {
	mu        sync.Mutex
	arrivals  map[string]*arrivals
	completed atomic.Int64
	want      int
}

// sessionArrivals are one session's model_ready messages as read, decoded only when the
// session ends: while events are fanned out, this process spends its share of the CPUs it
// shares with the gateway on reading, so that what is timed is the gateway.
type sessionArrivals struct {
	col  *collector
	seen int
	got  []arrival
}

type arrival struct {
	id  string // the event's ID; "" when it is in msg (WebSocket)
	msg []byte // the event's data (SSE) or the whole message (WebSocket)
	at  time.Time
}

// arrived keeps msg, read at now, and counts the session complete once it has them all.
func (s *sessionArrivals) arrived(id string, msg []byte, now time.Time) {
	s.got = append(s.got, arrival{id: id, msg: bytes.Clone(msg), at: now})
	if s.seen++; s.seen == s.col.want {
		s.col.completed.Add(1)
	}
}

// record decodes the session's arrivals into the collector.
func (s *sessionArrivals) record() {
	s.col.mu.Lock()
	defer s.col.mu.Unlock()
	for _, a := range s.got {
		id, data := a.id, a.msg
		if id == "" {
			var ev readyEvent
			if json.Unmarshal(a.msg, &ev) != nil || ev.Type != "event" || ev.Event != "model_ready" {
				continue
			}
			id, data = ev.EventID, ev.Data
		}
		var d readyData
		if json.Unmarshal(data, &d) != nil {
			continue
		}
		r := s.col.arrivals[id]
		if r == nil {
			r = &arrivals{Generation: d.Generation, EventUS: d.Time.UnixMicro()}
			s.col.arrivals[id] = r
		}
		r.AtUS = append(r.AtUS, a.at.UnixMicro())
	}
}

func hold(ctx context.Context, args []string, out io.Writer) error {
	cfg, err := parseHold(args)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()
	res := result{WS: cfg.ws, SSE: cfg.sse}
	if cfg.fits > 0 {
		if res.MemBefore, err = sample(ctx, cfg); err != nil {
			return fmt.Errorf("sample gateway memory: %w", err)
		}
		fmt.Fprintf(out, "before: %s\n", fmtMem(res.MemBefore))
	}

	col := &collector{arrivals: map[string]*arrivals{}, want: cfg.events}
	clients := make([]*http.Client, len(cfg.src))
	dialers := make([]*net.Dialer, len(cfg.src))
	for i, ip := range cfg.src {
		dialers[i] = &net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}, Timeout: 10 * time.Second}
		clients[i] = &http.Client{Transport: &http.Transport{DialContext: dialers[i].DialContext, MaxIdleConnsPerHost: 1}}
	}
	var wsOpen, sseOpen, failed atomic.Int64
	var firstErr atomic.Value
	fail := func(err error) {
		failed.Add(1)
		firstErr.CompareAndSwap(nil, err.Error())
	}
	var sessions sync.WaitGroup
	sem := make(chan struct{}, cfg.concurrency)
	start := time.Now()
	sessCtx, endSessions := context.WithCancel(ctx)
	defer endSessions()
	for i := range cfg.ws + cfg.sse {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		opened := make(chan struct{})
		sessions.Go(func() {
			var err error
			if i < cfg.ws {
				err = wsSession(sessCtx, cfg, clients[i%len(clients)], col, func() { wsOpen.Add(1); close(opened) })
			} else {
				err = sseSession(sessCtx, cfg, dialers[i%len(dialers)], col, func() { sseOpen.Add(1); close(opened) })
			}
			select {
			case <-opened:
			default:
				close(opened)
			}
			if err != nil && sessCtx.Err() == nil {
				fail(err)
			}
		})
		go func() { <-opened; <-sem }()
	}
	for range cap(sem) { // wait for the last dials
		sem <- struct{}{}
	}
	res.OpenSeconds = time.Since(start).Seconds()
	fmt.Fprintf(out, "opened %d ws and %d sse sessions in %.1fs (%d failed)\n", wsOpen.Load(), sseOpen.Load(), res.OpenSeconds, failed.Load())

	if cfg.cpuProfile != "" {
		stop, err := startCPUProfile(cfg.cpuProfile)
		if err != nil {
			return err
		}
		defer stop()
	}
	if cfg.expect > 0 {
		if err := waitSessions(ctx, cfg, out); err != nil {
			return err
		}
	}
	if cfg.fits > 0 {
		sleep(ctx, cfg.settle)
		if res.MemAfter, err = sample(ctx, cfg); err != nil {
			return fmt.Errorf("sample gateway memory: %w", err)
		}
		res.GatewaySessions = res.MemAfter["sessions"]
		fmt.Fprintf(out, "after:  %s\n", fmtMem(res.MemAfter))
		printPerSession(out, res.MemBefore, res.MemAfter)
		fitStart := time.Now()
		res.FitSent = map[int64]int64{}
		for i := range cfg.fits {
			sent := time.Now().UnixMicro()
			gen, err := fit(ctx, cfg, i)
			if err != nil {
				return err
			}
			res.FitSent[gen] = sent
			sleep(ctx, cfg.interval)
		}
		if m, err := sample(ctx, cfg); err == nil {
			wall := time.Since(fitStart).Seconds()
			res.GatewayCPU = m["cpu"] - res.MemAfter["cpu"]
			fmt.Fprintf(out, "gateway CPU while fitting and fanning out: %.2fs in %.1fs (%.0f%% of one core)\n", res.GatewayCPU, wall, 100*res.GatewayCPU/wall)
			if w, n := m["writes"]-res.MemAfter["writes"], m["messages"]-res.MemAfter["messages"]; w > 0 {
				fmt.Fprintf(out, "gateway writes to sessions while fitting: %.0f, carrying %.0f messages (%.2f a write)\n", w, n, n/w)
			}
		}
	}
	if cfg.events > 0 {
		total := wsOpen.Load() + sseOpen.Load()
		for col.completed.Load() < total && ctx.Err() == nil {
			sleep(ctx, 100*time.Millisecond)
		}
		fmt.Fprintf(out, "%d of %d sessions received all %d model_ready events\n", col.completed.Load(), total, cfg.events)
	}
	endSessions()
	sessions.Wait()

	res.WSOpen, res.SSEOpen, res.Failed = int(wsOpen.Load()), int(sseOpen.Load()), int(failed.Load())
	if v, ok := firstErr.Load().(string); ok {
		res.FirstError = v
	}
	col.mu.Lock()
	res.Arrivals = col.arrivals
	col.mu.Unlock()
	res.SessionsCompleted = int(col.completed.Load())
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		res.LoadgenCPU = time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
		fmt.Fprintf(out, "loadgen CPU: %.2fs\n", res.LoadgenCPU)
	}
	summarize(out, []result{res})
	if cfg.out != "" {
		b, err := json.Marshal(res)
		if err != nil {
			return err
		}
		return os.WriteFile(cfg.out, b, 0o644)
	}
	return nil
}

// readyEvent is the part of a model event loadgen needs.
type readyEvent struct {
	Type    string          `json:"type"`
	Event   string          `json:"event"`
	EventID string          `json:"event_id"`
	Data    json.RawMessage `json:"data"`
}

type readyData struct {
	Generation int64     `json:"generation"`
	Time       time.Time `json:"time"`
}

func wsSession(ctx context.Context, cfg config, client *http.Client, col *collector, opened func()) error {
	u := *cfg.base
	u.Scheme, u.Path = "ws", "/v1/ws"
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	conn, _, err := websocket.Dial(dctx, u.String(), &websocket.DialOptions{HTTPClient: client})
	cancel()
	if err != nil {
		return err
	}
	defer conn.CloseNow()
	sub, _ := json.Marshal(map[string]any{"type": "subscribe", "id": "s", "models": []string{cfg.model}})
	if err := conn.Write(ctx, websocket.MessageText, sub); err != nil {
		return err
	}
	opened()
	// Reads wait without a context of their own, which would register with ctx for every
	// message, and reuse one buffer: what is timed is the gateway, not this client.
	stop := context.AfterFunc(ctx, func() { conn.Close(websocket.StatusNormalClosure, "done") })
	defer stop()
	arrived := &sessionArrivals{col: col}
	defer arrived.record()
	var buf bytes.Buffer
	for range 1_000_000 {
		_, r, err := conn.Reader(context.Background())
		if err == nil {
			buf.Reset()
			_, err = buf.ReadFrom(r)
		}
		at := time.Now()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		msg := buf.Bytes()
		// Only events name it: the session sends nothing but its subscribe.
		if bytes.Contains(msg, []byte(`"model_ready"`)) {
			arrived.arrived("", msg, at)
		}
	}
	return nil
}

func sseSession(ctx context.Context, cfg config, dialer *net.Dialer, col *collector, opened func()) error {
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	conn, err := dialer.DialContext(dctx, "tcp", cfg.base.Host)
	cancel()
	if err != nil {
		return err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	req, _ := http.NewRequest(http.MethodGet, cfg.base.String()+"/v1/events?model="+url.QueryEscape(cfg.model), nil)
	req.Header.Set("Accept", "text/event-stream")
	if err := req.Write(conn); err != nil {
		return err
	}
	br := bufio.NewReaderSize(conn, 4096)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /v1/events: %s", resp.Status)
	}
	opened()
	arrived := &sessionArrivals{col: col}
	defer arrived.record()
	err = sse.Read(resp.Body, func(m sse.Message) {
		if m.Event == "model_ready" {
			arrived.arrived(m.ID, []byte(m.Data), time.Now())
		}
	})
	if ctx.Err() != nil {
		return nil
	}
	if err != nil {
		return err
	}
	return errors.New("sse stream ended")
}

// waitSessions waits until the gateway counts cfg.expect live sessions.
func waitSessions(ctx context.Context, cfg config, out io.Writer) error {
	for ctx.Err() == nil {
		m, err := sample(ctx, cfg)
		if err == nil && m["sessions"] >= float64(cfg.expect) {
			fmt.Fprintf(out, "gateway holds %.0f sessions\n", m["sessions"])
			return nil
		}
		sleep(ctx, 500*time.Millisecond)
	}
	return fmt.Errorf("gateway never reached %d sessions: %w", cfg.expect, ctx.Err())
}

// fit trains the model with the cheapest fit there is (naive, few observations) and returns
// the generation it made.
func fit(ctx context.Context, cfg config, i int) (int64, error) {
	values := make([]float64, 12)
	for j := range values {
		values[j] = 100 + float64(j) + 5*math.Sin(float64(j+i))
	}
	body, _ := json.Marshal(map[string]any{"values": values, "method": "naive"})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, cfg.base.String()+"/v1/models/"+url.PathEscape(cfg.model)+"/fit", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("fit %d: %w", i, err)
	}
	defer resp.Body.Close()
	var answer struct {
		Data struct {
			Generation int64 `json:"generation"`
		} `json:"data"`
	}
	err = json.NewDecoder(resp.Body).Decode(&answer)
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("fit %d: %s", i, resp.Status)
	}
	if err != nil {
		return 0, fmt.Errorf("fit %d: %w", i, err)
	}
	return answer.Data.Generation, nil
}

// sample reads the gateway's memory figures from /metrics and, with -gateway-pid, /proc.
func sample(ctx context.Context, cfg config) (map[string]float64, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, cfg.base.String()+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	want := map[string]string{
		"go_memstats_heap_inuse_bytes":        "heap_inuse",
		"go_memstats_stack_inuse_bytes":       "stack_inuse",
		"go_memstats_sys_bytes":               "go_sys",
		"process_resident_memory_bytes":       "rss",
		"go_goroutines":                       "goroutines",
		"process_cpu_seconds_total":           "cpu",
		`forecastd_sessions{transport="ws"}`:  "sessions_ws",
		`forecastd_sessions{transport="sse"}`: "sessions_sse",
	}
	for _, tr := range []string{"ws", "sse"} {
		want[`forecastd_session_writes_total{transport="`+tr+`"}`] = "writes_" + tr
		want[`forecastd_session_messages_total{transport="`+tr+`"}`] = "messages_" + tr
	}
	m := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), " ")
		if key, hit := want[name]; ok && hit {
			if v, err := strconv.ParseFloat(strings.TrimSpace(val), 64); err == nil {
				m[key] = v
			}
		}
	}
	m["sessions"] = m["sessions_ws"] + m["sessions_sse"]
	m["writes"], m["messages"] = m["writes_ws"]+m["writes_sse"], m["messages_ws"]+m["messages_sse"]
	if cfg.gatewayPID > 0 {
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", cfg.gatewayPID)); err == nil {
			for _, line := range strings.Split(string(b), "\n") {
				if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
					kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 64)
					m["vmrss"] = kb * 1024
				}
			}
		}
	}
	return m, sc.Err()
}

func fmtMem(m map[string]float64) string {
	return fmt.Sprintf("sessions=%.0f goroutines=%.0f rss=%.1fMB vmrss=%.1fMB heap_inuse=%.1fMB stack_inuse=%.1fMB go_sys=%.1fMB",
		m["sessions"], m["goroutines"], m["rss"]/1e6, m["vmrss"]/1e6, m["heap_inuse"]/1e6, m["stack_inuse"]/1e6, m["go_sys"]/1e6)
}

func printPerSession(out io.Writer, before, after map[string]float64) {
	n := after["sessions"] - before["sessions"]
	if n <= 0 {
		return
	}
	per := func(k string) float64 { return (after[k] - before[k]) / n / 1024 }
	fmt.Fprintf(out, "per session (%.0f): rss %.1f KiB, vmrss %.1f KiB, heap_inuse+stack_inuse %.1f KiB, go_sys %.1f KiB, goroutines %.2f\n",
		n, per("rss"), per("vmrss"), per("heap_inuse")+per("stack_inuse"), per("go_sys"), (after["goroutines"]-before["goroutines"])/n)
}

func report(files []string, out io.Writer) error {
	if len(files) == 0 {
		return errors.New("usage: loadgen report FILE…")
	}
	var all []result
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		var r result
		if err := json.Unmarshal(b, &r); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		all = append(all, r)
	}
	for _, r := range all {
		if r.MemAfter != nil {
			printPerSession(out, r.MemBefore, r.MemAfter)
		}
	}
	summarize(out, all)
	return nil
}

// summarize prints arrival delays: over every (event, session) arrival, and per event the delay
// until the last session had it. Delays are timed from the sending of the fit that caused the
// event when a process sent it, and from the event's time stamp (set by the store when the
// processor finished the fit) in any case; the difference is the fit's trip through the
// processor and the store.
func summarize(out io.Writer, rs []result) {
	merged := map[string]*arrivals{}
	sent := map[int64]int64{}
	open, failed, completed := 0, 0, 0
	for _, r := range rs {
		open += r.WSOpen + r.SSEOpen
		failed += r.Failed
		completed += r.SessionsCompleted
		for g, t := range r.FitSent {
			sent[g] = t
		}
		for id, a := range r.Arrivals {
			m := merged[id]
			if m == nil {
				m = &arrivals{Generation: a.Generation, EventUS: a.EventUS}
				merged[id] = m
			}
			m.AtUS = append(m.AtUS, a.AtUS...)
		}
	}
	ids := make([]string, 0, len(merged))
	for id := range merged {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var fromFit, fromEvent, lastFromFit, lastFromEvent, toEvent []int64
	for _, id := range ids {
		a := merged[id]
		ev := since(a.AtUS, a.EventUS)
		fromEvent = append(fromEvent, ev...)
		lastFromEvent = append(lastFromEvent, slices.Max(ev))
		line := fmt.Sprintf("model_ready %s (generation %d): %d sessions; from its time stamp p50 %s, p99 %s, all %s",
			id, a.Generation, len(ev), us(pct(ev, 50)), us(pct(ev, 99)), us(slices.Max(ev)))
		if t, ok := sent[a.Generation]; ok {
			ff := since(a.AtUS, t)
			fromFit = append(fromFit, ff...)
			lastFromFit = append(lastFromFit, slices.Max(ff))
			toEvent = append(toEvent, a.EventUS-t)
			line += fmt.Sprintf("; from the fit p50 %s, p99 %s, all %s (fit sent → time stamp %s)",
				us(pct(ff, 50)), us(pct(ff, 99)), us(slices.Max(ff)), us(a.EventUS-t))
		}
		fmt.Fprintln(out, line)
	}
	fmt.Fprintf(out, "sessions open %d, failed %d, completed %d; %d events, %d arrivals\n", open, failed, completed, len(ids), len(fromEvent))
	if len(fromFit) > 0 {
		fmt.Fprintf(out, "arrival delay from sending the fit: p50 %s, p99 %s, max %s\n", us(pct(fromFit, 50)), us(pct(fromFit, 99)), us(slices.Max(fromFit)))
		fmt.Fprintf(out, "  of which fit sent → event time stamp: p50 %s, max %s\n", us(pct(toEvent, 50)), us(slices.Max(toEvent)))
		fmt.Fprintf(out, "delay from the fit until every session had the event: p50 %s, p99 %s\n", us(pct(lastFromFit, 50)), us(pct(lastFromFit, 99)))
	}
	if len(fromEvent) > 0 {
		fmt.Fprintf(out, "arrival delay from the event's time stamp: p50 %s, p99 %s, max %s\n", us(pct(fromEvent, 50)), us(pct(fromEvent, 99)), us(slices.Max(fromEvent)))
		fmt.Fprintf(out, "delay from the time stamp until every session had the event: p50 %s, p99 %s\n", us(pct(lastFromEvent, 50)), us(pct(lastFromEvent, 99)))
	}
}

// since is each time in at minus t0 (all Unix microseconds).
func since(at []int64, t0 int64) []int64 {
	d := make([]int64, len(at))
	for i, t := range at {
		d[i] = t - t0
	}
	return d
}

func pct(xs []int64, p float64) int64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	i := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

func us(v int64) string { return (time.Duration(v) * time.Microsecond).String() }

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// startCPUProfile profiles this process into path until the returned function is called.
func startCPUProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}
