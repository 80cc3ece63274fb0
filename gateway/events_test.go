package gateway_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/forecastd/forecastd/gateway"
	"github.com/forecastd/forecastd/internal/sse"
	"github.com/forecastd/forecastd/store"
)

// sseMsg is one parsed SSE block: an event, a retry hint or a comment.
type sseMsg = sse.Message

// sseClient is an event stream of a test, closed when the test ends.
type sseClient struct{ *sse.Stream }

// openSSE connects to path with header pairs and parses the stream in the background.
func openSSE(t *testing.T, base, path string, header ...string) *sseClient {
	t.Helper()
	h := http.Header{}
	for i := 0; i+1 < len(header); i += 2 {
		h.Set(header[i], header[i+1])
	}
	s, err := sse.Open(context.Background(), http.DefaultClient, base+path, h)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return &sseClient{s}
}

// next returns the next message, skipping comments and retry hints unless raw.
func (c *sseClient) next(t *testing.T, raw bool) sseMsg {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	next := c.NextEvent
	if raw {
		next = c.Next
	}
	m, err := next(ctx)
	if err != nil {
		t.Fatalf("no SSE message within 10s: %v", err)
	}
	return m
}

// nextEvent returns the next event frame.
func (c *sseClient) nextEvent(t *testing.T) (sseMsg, eventFields) {
	t.Helper()
	m := c.next(t, false)
	var f eventFields
	if err := json.Unmarshal([]byte(m.Data), &f); err != nil {
		t.Fatalf("event data %q: %v", m.Data, err)
	}
	return m, f
}

func emit(t *testing.T, st store.Store, model string, gen int64) store.Event {
	t.Helper()
	ev, err := st.Emit(context.Background(), store.Event{Type: store.EventFitProgress, Model: model, Generation: gen, Data: json.RawMessage(`{"percent":50}`)})
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func TestEventsStreamHeadersRetryAndHeartbeat(t *testing.T) {
	e := newLiveEnv(t, func(c *gateway.Config) { c.Heartbeat = 30 * time.Millisecond; c.SSERetry = 1500 * time.Millisecond })
	c := openSSE(t, e.srv.URL, "/v1/events")
	if ct := c.Response.Header.Get("Content-Type"); ct != "text/event-stream" || c.Response.Header.Get("X-Accel-Buffering") != "no" {
		t.Errorf("headers = %v", c.Response.Header)
	}
	if m := c.next(t, true); m.Retry != "1500" {
		t.Errorf("first message = %+v, want retry: 1500", m)
	}
	if m := c.next(t, true); m.Comment == "" {
		t.Errorf("second message = %+v, want a heartbeat comment", m)
	}
	ev := emit(t, e.store, "m", 1)
	m, f := c.nextEvent(t)
	if m.ID != ev.ID || m.Event != store.EventFitProgress || f.Model != "m" || f.Generation != 1 || f.Type != store.EventFitProgress || !strings.Contains(m.Data, `"percent":50`) {
		t.Errorf("event = %+v %+v, want id %s", m, f, ev.ID)
	}
}

// A bad, unknown or repeated query parameter of a stream endpoint is a fail naming it, not a
// stream of something else than the client asked for (?models=m, a typo, would follow every
// model).
func TestStreamsBadParameters(t *testing.T) {
	e := newLiveEnv(t, nil)
	for path, field := range map[string]string{
		"/v1/events?model=-x":                                    "model",
		"/v1/events?last_event_id=yesterday":                     "last_event_id",
		"/v1/events?models=m":                                    "models",
		"/v1/events?model=m&last_event_id=1-0&last_event_id=2-0": "last_event_id",
		"/v1/events?access_token=a&access_token=b":               "access_token",
		"/v1/ws?model=m":                                         "model",
		"/v1/ws?access_token=a&access_token=b":                   "access_token",
	} {
		resp, err := http.Get(e.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		var body struct {
			Status string
			Data   map[string]string
		}
		_ = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || body.Status != "fail" || body.Data[field] == "" || len(body.Data) != 1 {
			t.Errorf("%s: %d %+v, want 400 fail naming %s alone", path, resp.StatusCode, body, field)
		}
	}
}

// HEAD /v1/events answers the head of a stream and ends, with heartbeats on (the connection is
// hijacked for a stream) or off: no stream body follows, and the connection serves the next
// request.
func TestEventsHeadIsTheHeadOnly(t *testing.T) {
	for _, heartbeat := range []time.Duration{0, 20 * time.Millisecond} {
		e := newLiveEnv(t, func(c *gateway.Config) { c.Heartbeat = heartbeat })
		conn, err := net.Dial("tcp", strings.TrimPrefix(e.srv.URL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprintf(conn, "HEAD /v1/events HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
		br := bufio.NewReader(conn)
		head, err := http.ReadResponse(br, &http.Request{Method: http.MethodHead})
		if err != nil {
			t.Fatalf("heartbeat %v: HEAD: %v", heartbeat, err)
		}
		if head.StatusCode != http.StatusOK || head.Header.Get("Content-Type") != "text/event-stream" {
			t.Errorf("heartbeat %v: HEAD %d %v; want 200 with the stream's content type", heartbeat, head.StatusCode, head.Header)
		}
		next, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("heartbeat %v: the request after HEAD: %v; want it answered on the same connection", heartbeat, err)
		}
		next.Body.Close()
		if next.StatusCode != http.StatusOK {
			t.Errorf("heartbeat %v: GET /healthz after HEAD: %d", heartbeat, next.StatusCode)
		}
	}
}

func TestEventsResumeDeliversMissedEventsOnceInOrder(t *testing.T) {
	e := newLiveEnv(t, nil)
	fit := func(model string) {
		resp, err := http.Post(e.srv.URL+"/v1/models/"+model+"/fit", "application/json", strings.NewReader(`{"values":[1,2,3,4,5,6],"method":"naive"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("fit %s: %d", model, resp.StatusCode)
		}
	}
	c := openSSE(t, e.srv.URL, "/v1/events?model=m")
	fit("m")
	var last sseMsg
	for {
		m, f := c.nextEvent(t)
		if f.Model != "m" {
			t.Fatalf("event of model %q on a stream of m", f.Model)
		}
		last = m
		if m.Event == store.EventModelReady {
			break
		}
	}
	c.Close()

	// Missed while disconnected: two fits of m, one of another model.
	fit("m")
	fit("other")
	fit("m")
	all, err := e.store.Events(context.Background(), last.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, ev := range all {
		if ev.Model == "m" {
			want = append(want, ev.ID)
		}
	}
	if len(want) < 6 {
		t.Fatalf("only %d missed events of m in the store", len(want))
	}

	for _, resume := range []struct{ path, header string }{
		{"/v1/events?model=m", last.ID},
		{"/v1/events?model=m&last_event_id=" + last.ID, ""},
	} {
		var c *sseClient
		if resume.header != "" {
			c = openSSE(t, e.srv.URL, resume.path, "Last-Event-ID", resume.header)
		} else {
			c = openSSE(t, e.srv.URL, resume.path)
		}
		for i, id := range want {
			if m, _ := c.nextEvent(t); m.ID != id {
				t.Fatalf("%s: resumed event %d has id %s, want %s", resume.path, i, m.ID, id)
			}
		}
		// Then live, with nothing repeated.
		live := emit(t, e.store, "m", 99)
		if m, _ := c.nextEvent(t); m.ID != live.ID {
			t.Fatalf("after the replay got %+v, want the live event %s", m, live.ID)
		}
		c.Close()
		want = append(want, live.ID)
	}
}

// TestEventsResumeSeamUnderLoad resumes while events keep arriving: the stream must equal the
// store's feed after the resume point, with no gap and no duplicate where replay meets live.
func TestEventsResumeSeamUnderLoad(t *testing.T) {
	e := newLiveEnv(t, nil)
	start := emit(t, e.store, "m", 0)
	const n = 400
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range n {
			emit(t, e.store, "m", int64(i+1))
			if i%50 == 0 {
				time.Sleep(2 * time.Millisecond)
			}
		}
	})
	time.Sleep(5 * time.Millisecond) // connect mid-stream
	c := openSSE(t, e.srv.URL, "/v1/events", "Last-Event-ID", start.ID)
	wg.Wait()
	all, err := e.store.Events(context.Background(), start.ID, 0)
	if err != nil || len(all) != n {
		t.Fatalf("store has %d events after the start (%v)", len(all), err)
	}
	for i, ev := range all {
		if m, _ := c.nextEvent(t); m.ID != ev.ID {
			t.Fatalf("event %d: got id %s, want %s", i, m.ID, ev.ID)
		}
	}
	select {
	case m := <-c.Messages():
		if m.Event != "" {
			t.Fatalf("extra event after the feed's end: %+v", m)
		}
	case <-time.After(100 * time.Millisecond):
	}
}

func TestEventsResetWhenResumePointIsGone(t *testing.T) {
	e := newLiveEnv(t, nil, store.WithEventsMaxLen(5))
	first := emit(t, e.store, "m", 1)
	for i := range 20 {
		emit(t, e.store, "m", int64(i+2))
	}
	c := openSSE(t, e.srv.URL, "/v1/events", "Last-Event-ID", first.ID)
	m := c.next(t, false)
	var data struct {
		Oldest string `json:"oldest_event_id"`
		Reason string `json:"reason"`
	}
	if err := json.Unmarshal([]byte(m.Data), &data); err != nil || m.Event != "reset" || data.Oldest == "" || data.Reason == "" {
		t.Fatalf("got %+v, want a reset event naming the oldest retained id", m)
	}
	if _, ok := parseID(m.ID); !ok {
		t.Fatalf("reset event id %q: want the id the stream goes on from, so a reconnect resumes there", m.ID)
	}
	// The stream goes on live (after any retained events the hub had not fanned out yet).
	live := emit(t, e.store, "m", 50)
	for range 10 {
		if m, _ := c.nextEvent(t); m.ID == live.ID {
			return
		}
	}
	t.Fatalf("live event %s never arrived after the reset", live.ID)
}

// resetData is the data of a reset event.
type resetData struct {
	Last   string `json:"last_event_id"`
	Reason string `json:"reason"`
}

// nextReset returns the next event, which must be a reset, and its data.
func (c *sseClient) nextReset(t *testing.T) (sseMsg, resetData) {
	t.Helper()
	m := c.next(t, false)
	var data resetData
	if err := json.Unmarshal([]byte(m.Data), &data); err != nil || m.Event != "reset" || data.Reason == "" {
		t.Fatalf("got %+v, want a reset event with a reason", m)
	}
	return m, data
}

// TestEventsResetWhenResumePointIsInTheFuture: a resume point newer than every stored event (a
// client that kept its id across a flushed event log, say) is no point to wait at: the client
// is reset, for a reason of its own, to the newest event, and gets the live events after it.
// The newest event's own id is no such point.
func TestEventsResetWhenResumePointIsInTheFuture(t *testing.T) {
	e := newLiveEnv(t, nil, store.WithEventsMaxLen(5))
	future := strconv.FormatInt(time.Now().Add(time.Hour).UnixMilli(), 10) + "-0"
	// The hub has fanned out what probe got: a stream attaching then has nothing to catch up.
	probe := openSSE(t, e.srv.URL, "/v1/events")
	emitSeen := func() store.Event {
		t.Helper()
		ev := emit(t, e.store, "m", 1)
		for {
			if m, _ := probe.nextEvent(t); m.ID == ev.ID {
				return ev
			}
		}
	}
	liveArrives := func(c *sseClient, what string) store.Event {
		t.Helper()
		live := emitSeen()
		if m, _ := c.nextEvent(t); m.ID != live.ID {
			t.Fatalf("%s: got %+v, want the live event %s", what, m, live.ID)
		}
		return live
	}

	// A fresh event log, with no events at all.
	c := openSSE(t, e.srv.URL, "/v1/events", "Last-Event-ID", future)
	_, fresh := c.nextReset(t)
	if fresh.Last != future {
		t.Errorf("fresh log: reset %+v, want last_event_id %s", fresh, future)
	}
	first := liveArrives(c, "fresh log, after the reset")
	c.Close()

	// A point too old to replay is reset for another reason.
	var newest store.Event
	for range 10 {
		newest = emitSeen()
	}
	_, gone := openSSE(t, e.srv.URL, "/v1/events", "Last-Event-ID", first.ID).nextReset(t)
	if gone.Reason == fresh.Reason {
		t.Errorf("a resume point in the future and one too old are reset for the same reason %q", gone.Reason)
	}

	c = openSSE(t, e.srv.URL, "/v1/events?last_event_id="+future)
	m, ahead := c.nextReset(t)
	if m.ID != newest.ID || ahead.Last != future || ahead.Reason != fresh.Reason {
		t.Errorf("log ahead of the client: reset %+v %+v, want id %s (the newest event), last_event_id %s, reason %q", m, ahead, newest.ID, future, fresh.Reason)
	}
	newest = liveArrives(c, "after the reset")
	c.Close()

	// The newest event is not in the future: no reset, the live events follow.
	liveArrives(openSSE(t, e.srv.URL, "/v1/events", "Last-Event-ID", newest.ID), "resumed at the newest event")
}

func TestEventsSlowConsumerIsCutOffWhileOthersKeepReceiving(t *testing.T) {
	e := newLiveEnv(t, func(c *gateway.Config) { c.SendQueue = 32; c.WriteTimeout = 2 * time.Second })
	fast := openSSE(t, e.srv.URL, "/v1/events")
	// The slow client never reads its body.
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/v1/events", nil)
	slow, err := smallRcvBuf.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Body.Close()
	waitFor(t, "2 sse sessions", func() bool { return e.counter("forecastd_sessions", "transport", "sse") == 2 })

	const n = 400
	blob := json.RawMessage(`{"pad":"` + strings.Repeat("x", 32<<10) + `"}`)
	var got int
	var wg sync.WaitGroup
	wg.Go(func() {
		for m := range fast.Messages() {
			if m.Event != "" {
				if got++; got == n {
					return
				}
			}
		}
	})
	for i := range n {
		if _, err := e.store.Emit(context.Background(), store.Event{Type: store.EventFitProgress, Model: "m", Generation: int64(i + 1), Data: blob}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
	}
	wg.Wait()
	if got != n {
		t.Fatalf("fast client got %d of %d events", got, n)
	}
	waitFor(t, "the slow consumer to be dropped", func() bool {
		return e.counter("forecastd_sessions_closed_total", "transport", "sse", "reason", "slow_consumer") == 1 &&
			e.counter("forecastd_sessions", "transport", "sse") == 1
	})
}

func TestEventsStreamsEndOnShutdown(t *testing.T) {
	e := newLiveEnv(t, nil)
	c := openSSE(t, e.srv.URL, "/v1/events")
	c.next(t, true) // retry hint: the stream is open
	e.stopGW()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case _, ok := <-c.Messages():
			if !ok {
				return
			}
		case <-timeout:
			t.Fatal("stream still open 10s after shutdown")
		}
	}
}

// TestEventsOverHTTP2: where the connection cannot be hijacked (HTTP/2), the stream is written
// by its handler instead, with the same events and ending.
func TestEventsOverHTTP2(t *testing.T) {
	e := newLiveEnv(t, nil)
	srv := httptest.NewUnstartedServer(e.gw.Handler())
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	c, err := sse.Open(context.Background(), srv.Client(), srv.URL+"/v1/events?model=h2", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if resp := c.Response; resp.ProtoMajor != 2 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("proto %s, headers %v", resp.Proto, resp.Header)
	}
	waitFor(t, "the h2 session", func() bool { return e.counter("forecastd_sessions", "transport", "sse") == 1 })
	ev := emit(t, e.store, "h2", 1)
	if m := (&sseClient{c}).next(t, false); m.ID != ev.ID {
		t.Fatalf("got event %+v, want id %s", m, ev.ID)
	}
	_ = c.Close()
	waitFor(t, "the h2 session to end with its client", func() bool { return e.counter("forecastd_sessions", "transport", "sse") == 0 })
}

// TestEventsSurviveLostPubSubMessages: the live feed is at-most-once; the hub reads the events
// themselves from the store, so a stream still gets every event, in order.
func TestEventsSurviveLostPubSubMessages(t *testing.T) {
	// The send queue holds all 300 events, so a reader slowed by a busy machine is not cut off
	// as a slow consumer: this test is about lost pub/sub messages, not about backpressure.
	e := newLiveEnv(t, func(c *gateway.Config) { c.SendQueue = 1024 }, store.WithSubscriberBuffer(1))
	c := openSSE(t, e.srv.URL, "/v1/events")
	c.next(t, true) // the retry hint: attached
	var want []string
	for i := range 300 {
		want = append(want, emit(t, e.store, "m", int64(i)).ID)
	}
	for i, id := range want {
		if m, _ := c.nextEvent(t); m.ID != id {
			t.Fatalf("event %d: got %s, want %s", i, m.ID, id)
		}
	}
}

// parseID reads an event id of the form <ms>-<seq>.
func parseID(id string) ([2]uint64, bool) {
	ms, seq, ok := strings.Cut(id, "-")
	a, err1 := strconv.ParseUint(ms, 10, 64)
	b, err2 := strconv.ParseUint(seq, 10, 64)
	return [2]uint64{a, b}, ok && err1 == nil && err2 == nil
}

// A new stream's first block sets the client's last event id to where it starts, so a client
// cut off before its first event (a slow consumer in a burst of a big batch) resumes from there,
// as EventSource does, instead of reconnecting without Last-Event-ID and missing what came.
func TestEventsStartTellsTheClientWhereItResumes(t *testing.T) {
	e := newLiveEnv(t, nil)
	emit(t, e.store, "m", 1)
	newest := emit(t, e.store, "m", 2)
	c := openSSE(t, e.srv.URL, "/v1/events")
	first := c.next(t, true)
	if first.Retry == "" || first.ID != newest.ID || first.Event != "" || first.Data != "" {
		t.Fatalf("first block %+v; want retry and id %s, and no event", first, newest.ID)
	}
	_ = c.Close() // cut off before any event
	missed := emit(t, e.store, "m", 3)
	again := openSSE(t, e.srv.URL, "/v1/events", "Last-Event-ID", first.ID)
	if m, _ := again.nextEvent(t); m.ID != missed.ID {
		t.Fatalf("resumed with %+v; want the event emitted while away, %s", m, missed.ID)
	}
	// A resuming stream's own id comes from its events.
	if m := openSSE(t, e.srv.URL, "/v1/events", "Last-Event-ID", missed.ID).next(t, true); m.ID != "" {
		t.Errorf("resuming stream's first block %+v; want no id of its own", m)
	}
}
