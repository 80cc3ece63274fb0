package live_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/forecastd/forecastd/gateway/live"
	"github.com/forecastd/forecastd/internal/promtest"
	"github.com/forecastd/forecastd/store"
)

// format encodes an event as its ID and type, so tests can read what a session got.
var format = &live.Format{Encode: func(id, name string, _ []byte) []byte { return []byte(id + " " + name) }}

// recorder is a transport that keeps what it is sent; block makes its writes wait.
type recorder struct {
	mu      sync.Mutex
	got     []string
	batches [][]string // got, as the writes that sent it
	closed  string
	block   chan struct{} // nil: writes return at once
}

func (r *recorder) Name() string         { return "test" }
func (r *recorder) Format() *live.Format { return format }

func (r *recorder) WriteBatch(msgs [][]byte, _ bool) error {
	if r.block != nil {
		<-r.block
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed != "" {
		return errors.New("closed")
	}
	var batch []string
	for _, m := range msgs {
		batch = append(batch, string(m))
	}
	r.got = append(r.got, batch...)
	if len(batch) > 0 {
		r.batches = append(r.batches, batch)
	}
	return nil
}

func (r *recorder) writes() [][]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.batches)
}

func (r *recorder) Close(reason string) {
	r.mu.Lock()
	r.closed = reason
	r.mu.Unlock()
}

func (r *recorder) messages() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

type env struct {
	hub *live.Hub
	st  *store.Memory
	reg *prometheus.Registry
}

// newEnv starts a hub on a memory store; it stops with the test.
func newEnv(t *testing.T, cfg live.Config, opts ...store.MemoryOption) *env {
	t.Helper()
	st := store.NewMemory(opts...)
	cfg.RecheckInterval = 20 * time.Millisecond
	h, reg := newHub(cfg, st)
	ctx, cancel := context.WithCancel(context.Background())
	eg, ctx := errgroup.WithContext(ctx)
	ready := make(chan struct{})
	h.Start(ctx, eg, ready)
	t.Cleanup(func() { cancel(); _ = eg.Wait(); _ = st.Close() })
	<-ready
	waitFor(t, "the hub to read the feed", h.Ready)
	return &env{hub: h, st: st, reg: reg}
}

// newHub is a hub on st, not started, with its metrics in the registry returned.
func newHub(cfg live.Config, st *store.Memory) (*live.Hub, *prometheus.Registry) {
	reg := prometheus.NewRegistry()
	m := live.Metrics{
		Sessions: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "sessions"}, []string{"transport"}),
		Closed:   prometheus.NewCounterVec(prometheus.CounterOpts{Name: "closed"}, []string{"transport", "reason"}),
		Writes:   prometheus.NewCounterVec(prometheus.CounterOpts{Name: "writes"}, []string{"transport"}),
		Messages: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "messages"}, []string{"transport"}),
	}
	reg.MustRegister(m.Sessions, m.Closed, m.Writes, m.Messages)
	return live.New(cfg, st, m, slog.New(slog.NewTextHandler(io.Discard, nil))), reg
}

func (e *env) emit(t *testing.T, model string) store.Event {
	t.Helper()
	return e.emitType(t, store.EventFitProgress, model)
}

func (e *env) emitType(t *testing.T, typ, model string) store.Event {
	t.Helper()
	ev, err := e.st.Emit(context.Background(), store.Event{Type: typ, Model: model, Data: json.RawMessage(`{"percent":50}`)})
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// follow opens a session writing through tr, following model; it ends with the test.
func (e *env) follow(t *testing.T, tr live.Transport, model string) *live.Session {
	s := e.hub.NewSession(tr)
	s.Open(false, []string{model})
	t.Cleanup(func() { s.End(live.EndClient) })
	return s
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestSessionGetsTheEventsOfTheModelsItFollows(t *testing.T) {
	e := newEnv(t, live.Config{})
	rec := &recorder{}
	s := e.hub.NewSession(rec)
	s.Open(false, []string{"a"})
	e.emit(t, "b")
	want := e.emit(t, "a")
	waitFor(t, "the event of a", func() bool { return len(rec.messages()) == 1 })
	s.Follow(true, nil, nil)
	all := e.emit(t, "b")
	waitFor(t, "two events", func() bool { return len(rec.messages()) == 2 })
	if got := rec.messages(); got[0] != want.ID+" fit_progress" || got[1] != all.ID+" fit_progress" {
		t.Errorf("got %q, want the event of a, then of b once following all", got)
	}
	s.End(live.EndClient)
	if e.hub.Sessions() != 0 {
		t.Errorf("an ended session stays in the hub")
	}
}

func TestResumeReplaysMissedEventsOnceThenLiveOnes(t *testing.T) {
	e := newEnv(t, live.Config{})
	first := e.emit(t, "a")
	missed := []string{e.emit(t, "a").ID, e.emit(t, "b").ID}
	waitFor(t, "the hub to pass the missed events", func() bool {
		probe := e.hub.NewSession(&recorder{})
		defer probe.End(live.EndClient)
		return probe.Open(true, nil) == missed[1]
	})
	rec := &recorder{}
	s := e.hub.NewSession(rec)
	last, _ := live.ParseEventID(first.ID)
	s.Gate(last, nil)
	cursor := s.Open(true, nil)
	live1 := e.emit(t, "a") // arrives while the replay is gated: held, then sent after it
	sent, err := s.Resume(first.ID, cursor, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Ungate(sent)
	waitFor(t, "three events", func() bool { return len(rec.messages()) >= 3 })
	time.Sleep(50 * time.Millisecond) // a duplicate would arrive by now
	want := []string{missed[0] + " fit_progress", missed[1] + " fit_progress", live1.ID + " fit_progress"}
	if got := rec.messages(); !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	s.End(live.EndClient)
}

func TestResumeFromAGoneEventGetsAReset(t *testing.T) {
	e := newEnv(t, live.Config{}, store.WithEventsMaxLen(2))
	gone := e.emit(t, "a")
	e.emit(t, "a")
	e.emit(t, "a")
	newest := e.emit(t, "a")
	waitFor(t, "the hub to pass the events", func() bool {
		probe := e.hub.NewSession(&recorder{})
		defer probe.End(live.EndClient)
		return probe.Open(true, nil) == newest.ID
	})
	rec := &recorder{}
	s := e.hub.NewSession(rec)
	cursor := s.Open(true, nil)
	if _, err := s.Resume(gone.ID, cursor, nil); err != nil {
		t.Fatal(err)
	}
	if got := rec.messages(); len(got) != 1 || got[0] != newest.ID+" reset" {
		t.Errorf("got %q, want one reset going on from %s", got, newest.ID)
	}
	s.End(live.EndClient)
}

func TestSlowConsumerIsCutOffWhileOthersKeepReceiving(t *testing.T) {
	e := newEnv(t, live.Config{SendQueue: 4})
	slow := &recorder{block: make(chan struct{})}
	defer close(slow.block)
	fast := &recorder{}
	ss, fs := e.hub.NewSession(slow), e.hub.NewSession(fast)
	ss.Open(true, nil)
	fs.Open(true, nil)
	for i := range 10 {
		e.emit(t, "a")
		waitFor(t, "the fast session to get the event", func() bool { return len(fast.messages()) == i+1 })
	}
	select {
	case <-ss.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the slow session was not cut off")
	}
	if v := promtest.Value(t, e.reg, "closed", "transport", "test", "reason", live.EndSlowConsumer); v != 1 {
		t.Errorf("slow consumers counted: %v, want 1", v)
	}
	fs.End(live.EndClient)
}

// Every session ends with the hub: those following every event, those following a model, one
// following nothing, and one opened after the hub's context ended.
func TestSessionsEndWithTheHub(t *testing.T) {
	st := store.NewMemory()
	defer st.Close()
	h, _ := newHub(live.Config{}, st)
	ctx, cancel := context.WithCancel(context.Background())
	eg, ctx := errgroup.WithContext(ctx)
	h.Start(ctx, eg, make(chan struct{}))
	recs := []*recorder{{}, {}, {}, {}}
	h.NewSession(recs[0]).Open(true, nil)
	h.NewSession(recs[1]).Open(false, []string{"m"})
	h.NewSession(recs[2]).Open(false, nil)
	cancel()
	wctx, wcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer wcancel()
	if err := h.Wait(wctx); err != nil {
		t.Fatal(err)
	}
	h.NewSession(recs[3]).Open(false, []string{"m"}) // after the hub ended the others
	if err := h.Wait(wctx); err != nil {
		t.Fatal(err)
	}
	_ = eg.Wait()
	for i, rec := range recs {
		rec.mu.Lock()
		if rec.closed != live.EndShutdown {
			t.Errorf("session %d closed for %q, want %q", i, rec.closed, live.EndShutdown)
		}
		rec.mu.Unlock()
	}
}

// A quick fit's fit_accepted and fit_progress wait for its model_ready, and the three reach
// the session in one write, in order.
func TestEventsOfAQuickFitReachASessionInOneWrite(t *testing.T) {
	e := newEnv(t, live.Config{Linger: time.Minute})
	rec := &recorder{}
	e.follow(t, rec, "a")
	accepted := e.emitType(t, store.EventFitAccepted, "a")
	time.Sleep(50 * time.Millisecond) // the hub has fanned it out: without the linger, written
	progress := e.emitType(t, store.EventFitProgress, "a")
	ready := e.emitType(t, store.EventModelReady, "a")
	waitFor(t, "the three events", func() bool { return len(rec.messages()) == 3 })
	want := []string{accepted.ID + " fit_accepted", progress.ID + " fit_progress", ready.ID + " model_ready"}
	if got := rec.writes(); len(got) != 1 || !slices.Equal(got[0], want) {
		t.Fatalf("writes = %q, want one write of %q", got, want)
	}
	writes, msgs := promtest.Value(t, e.reg, "writes", "transport", "test"), promtest.Value(t, e.reg, "messages", "transport", "test")
	if writes != 1 || msgs != 3 {
		t.Fatalf("metrics count %v writes of %v messages, want 1 of 3", writes, msgs)
	}
}

// An event that lingers with nothing after it is written once the linger is over; a reply
// takes whatever lingers with it at once, in order.
func TestLingeringEventsAreWrittenWhenTheLingerEndsOrWithTheNextMessage(t *testing.T) {
	e := newEnv(t, live.Config{Linger: 400 * time.Millisecond})
	rec := &recorder{}
	e.follow(t, rec, "a")
	progress := e.emitType(t, store.EventFitProgress, "a")
	time.Sleep(100 * time.Millisecond) // fanned out (the hub reads the feed every 20 ms), not written
	if got := rec.messages(); len(got) != 0 {
		t.Fatalf("written before the linger was over: %q", got)
	}
	waitFor(t, "the lingering event", func() bool { return len(rec.messages()) == 1 })
	if got := rec.messages(); got[0] != progress.ID+" fit_progress" {
		t.Fatalf("got %q", got)
	}

	e2 := newEnv(t, live.Config{Linger: time.Minute})
	rec2 := &recorder{}
	s2 := e2.follow(t, rec2, "a")
	accepted := e2.emitType(t, store.EventFitAccepted, "a")
	time.Sleep(50 * time.Millisecond)
	s2.Send([]byte("reply"))
	waitFor(t, "the reply", func() bool { return len(rec2.messages()) == 2 })
	want := []string{accepted.ID + " fit_accepted", "reply"}
	if got := rec2.writes(); len(got) != 1 || !slices.Equal(got[0], want) {
		t.Fatalf("writes = %q, want one write of %q", got, want)
	}
}

// With the linger off, every event is written as it comes.
func TestNoLingerWritesEachEventAtOnce(t *testing.T) {
	e := newEnv(t, live.Config{Linger: -1})
	rec := &recorder{}
	e.follow(t, rec, "a")
	e.emitType(t, store.EventFitAccepted, "a")
	waitFor(t, "fit_accepted", func() bool { return len(rec.messages()) == 1 })
	e.emitType(t, store.EventModelReady, "a")
	waitFor(t, "model_ready", func() bool { return len(rec.messages()) == 2 })
	if got := rec.writes(); len(got) != 2 {
		t.Fatalf("writes = %q, want two", got)
	}
}

// A burst of lingering events is written as it comes: it never waits in the queue until the
// session is cut off as a slow consumer.
func TestBurstOfLingeringEventsDoesNotOverflowTheQueue(t *testing.T) {
	e := newEnv(t, live.Config{Linger: time.Minute})
	rec := &recorder{}
	s := e.follow(t, rec, "a")
	const n = 400 // more than the queue holds (256), in bursts the writer keeps up with
	for i := range n {
		e.emitType(t, store.EventFitProgress, "a")
		if i%20 == 0 {
			time.Sleep(2 * time.Millisecond)
		}
	}
	waitFor(t, "all but the last few progress events", func() bool { return len(rec.messages()) >= n-16 })
	select {
	case <-s.Done():
		t.Fatalf("the session ended (%q)", rec.closed)
	default:
	}
}

// pingRecorder is a transport that notes when it was asked for a keep-alive.
type pingRecorder struct {
	recorder
	pings []time.Time
}

func (r *pingRecorder) WriteBatch(msgs [][]byte, ping bool) error {
	if ping {
		r.mu.Lock()
		r.pings = append(r.pings, time.Now())
		r.mu.Unlock()
	}
	return r.recorder.WriteBatch(msgs, false)
}

func (r *pingRecorder) pinged() []time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.pings)
}

// Every session gets its keep-alive each heartbeat, but not all in the same instant: they
// are spread over the interval.
func TestHeartbeatsAreSpreadOverTheInterval(t *testing.T) {
	const heartbeat = 480 * time.Millisecond // 16 slots of 30 ms
	e := newEnv(t, live.Config{Heartbeat: heartbeat})
	recs := make([]*pingRecorder, 64)
	for i := range recs {
		recs[i] = &pingRecorder{}
		e.follow(t, recs[i], "a")
	}
	waitFor(t, "a keep-alive for every session", func() bool {
		return !slices.ContainsFunc(recs, func(r *pingRecorder) bool { return len(r.pinged()) == 0 })
	})
	var first []time.Time
	for _, r := range recs {
		first = append(first, r.pinged()[0])
	}
	earliest, latest := slices.MinFunc(first, time.Time.Compare), slices.MaxFunc(first, time.Time.Compare)
	// In one instant, the span would be a fraction of a millisecond; spread, about 450 ms.
	if span := latest.Sub(earliest); span < heartbeat/4 {
		t.Fatalf("the first keep-alives of 64 sessions came within %s; want them spread over the %s heartbeat", span, heartbeat)
	}
	// And each session still gets one every heartbeat.
	waitFor(t, "a second keep-alive for every session", func() bool {
		return !slices.ContainsFunc(recs, func(r *pingRecorder) bool { return len(r.pinged()) < 2 })
	})
	for i, r := range recs {
		if p := r.pinged(); p[1].Sub(p[0]) > 2*heartbeat {
			t.Fatalf("session %d: keep-alives %s apart, heartbeat %s", i, p[1].Sub(p[0]), heartbeat)
		}
	}
}
