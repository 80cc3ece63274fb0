package integration

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"

	"github.com/forecastd/forecastd/gateway"
	"github.com/forecastd/forecastd/store"
)

func TestLiveWSFitProgressThenResult(t *testing.T) {
	c := newCluster(t, 0)
	c.addProgressProcessor()
	ws := dialWS(t, c.http.URL)
	sendWS(t, ws, map[string]any{"type": "fit", "id": "f1", "model": "live", "values": series(1, 30), "method": "naive"})
	res, before := recvUntil(t, ws, func(m wsMsg) bool { return m.Type == "result" })
	if res.Status != "success" || string(res.ID) != `"f1"` {
		t.Fatalf("result = %+v %s", res, res.Data)
	}
	var fit fitData
	if err := json.Unmarshal(res.Data, &fit); err != nil || fit.Generation != 1 || fit.Model != "live" {
		t.Fatalf("fit summary %s: %v", res.Data, err)
	}
	if len(before) == 0 || before[0].Type != "accepted" {
		t.Fatalf("first message %+v, want accepted", before)
	}
	progress := 0
	for _, m := range before[1:] {
		if m.Type != "progress" || string(m.ID) != `"f1"` {
			t.Errorf("unexpected message before the result: %+v", m)
		}
		progress++
	}
	if progress < 2 {
		t.Errorf("%d progress messages, want several", progress)
	}

	sendWS(t, ws, map[string]any{"type": "forecast", "id": "fc", "model": "live", "horizon": 4, "levels": []float64{90}})
	res, _ = recvUntil(t, ws, func(m wsMsg) bool { return m.Type == "result" })
	var fc forecastData
	if err := json.Unmarshal(res.Data, &fc); err != nil || res.Status != "success" || fc.Generation != 1 || len(fc.Point) != 4 {
		t.Fatalf("forecast result %+v %s", res, res.Data)
	}
}

func TestLiveSSEFitProgressThenResult(t *testing.T) {
	c := newCluster(t, 0)
	c.addProgressProcessor()
	s := openSSE(t, http.MethodPost, c.http.URL+"/v1/models/livesse/fit", `{"values":[1,2,3,4,5,6,7,8],"method":"naive"}`, "Accept", "text/event-stream")
	var names []string
	var last sseMsg
	for {
		m, ok := s.next(t)
		if !ok {
			break
		}
		names = append(names, m.Event)
		last = m
	}
	if len(names) < 3 || names[0] != "accepted" || last.Event != "succeeded" {
		t.Fatalf("events %v, want accepted, progress…, succeeded", names)
	}
	if !strings.Contains(strings.Join(names, ","), "progress") {
		t.Errorf("no progress event in %v", names)
	}
	var out struct {
		HTTPStatus int `json:"http_status"`
		Body       struct {
			Status string  `json:"status"`
			Data   fitData `json:"data"`
		} `json:"body"`
	}
	if err := json.Unmarshal([]byte(last.Data), &out); err != nil || out.HTTPStatus != 200 || out.Body.Status != "success" || out.Body.Data.Generation != 1 {
		t.Fatalf("succeeded data %s: %v", last.Data, err)
	}
}

func TestLiveWSMalformedMessagesGetErrorsAndSessionSurvives(t *testing.T) {
	c := newCluster(t, 1)
	ws := dialWS(t, c.http.URL)
	ctx := context.Background()
	for _, raw := range []string{`nope`, `{"type":"dance","id":"x"}`, `{"id":"y"}`, `{"type":"fit","id":"z","model":"m","values":"abc"}`} {
		if err := ws.Write(ctx, websocket.MessageText, []byte(raw)); err != nil {
			t.Fatal(err)
		}
		m := recvWS(t, ws)
		if m.Type != "error" && !(m.Type == "result" && m.Status == "fail") {
			t.Fatalf("%s got %+v, want error or a fail result", raw, m)
		}
	}
	sendWS(t, ws, map[string]any{"type": "fit", "id": "ok", "model": "wsok", "values": series(1, 20), "method": "naive"})
	if res, _ := recvUntil(t, ws, func(m wsMsg) bool { return m.Type == "result" }); res.Status != "success" {
		t.Fatalf("fit after bad messages: %+v", res)
	}
	sendWS(t, ws, map[string]any{"type": "ping", "id": 5})
	if m := recvWS(t, ws); m.Type != "pong" || string(m.ID) != "5" {
		t.Fatalf("ping got %+v", m)
	}
}

func TestLiveWSClientLeavingMidFitCanPollTheResult(t *testing.T) {
	c := newCluster(t, 1)
	release, started := c.gates.add(7, false)
	defer release()
	ws := dialWS(t, c.http.URL)
	sendWS(t, ws, map[string]any{"type": "fit", "id": "f", "model": "leaver", "values": series(7, 20), "method": "naive"})
	acc := recvWS(t, ws)
	var a struct {
		JobID string `json:"job_id"`
	}
	if err := json.Unmarshal(acc.Data, &a); err != nil || acc.Type != "accepted" || a.JobID == "" {
		t.Fatalf("accepted = %+v", acc)
	}
	waitClosed(t, started, "the fit to start")
	_ = ws.Close(websocket.StatusNormalClosure, "bye")
	release()
	if j := c.waitJob(a.JobID, "succeeded", "failed"); j.Status != "succeeded" {
		t.Fatalf("job after the client left: %+v", j)
	}
}

// TestLiveEventsResumeAcrossGatewayRestart: a /v1/events client disconnects, misses fits while
// its gateway is replaced by a new one, and resumes there with Last-Event-ID: it gets every
// missed event of its model once, in order, then live ones.
func TestLiveEventsResumeAcrossGatewayRestart(t *testing.T) {
	c := newCluster(t, 1)
	first := c.startGateway(nil)
	s := openSSE(t, http.MethodGet, first.http.URL+"/v1/events?model=resume", "")
	c.fitNow("resume", series(1, 20))
	var last sseMsg
	for {
		m, ok := s.next(t)
		if !ok {
			t.Fatal("stream ended early")
		}
		if d := decodeEvent(t, m.Data); d.Model != "resume" || m.ID == "" {
			t.Fatalf("event %+v on a stream of model resume", m)
		}
		last = m
		if m.Event == store.EventModelReady {
			break
		}
	}
	s.Close()
	first.stop()

	// Missed: two fits of the model (one failing) and one of another model.
	release, _ := c.gates.add(999, true)
	release()
	c.do("POST", "/v1/models/resume/fit", map[string]any{"values": series(1, 20), "method": "naive"})
	c.do("POST", "/v1/models/elsewhere/fit", map[string]any{"values": series(1, 20), "method": "naive"})
	c.do("POST", "/v1/models/resume/fit", map[string]any{"values": series(999, 20), "method": "naive"})
	all, err := c.store.Events(context.Background(), last.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	var want []store.Event
	for _, ev := range all {
		if ev.Model == "resume" {
			want = append(want, ev)
		}
	}
	if len(want) < 4 || want[len(want)-1].Type != store.EventFitFailed {
		t.Fatalf("missed events in the store: %+v", want)
	}

	second := c.startGateway(nil)
	s = openSSE(t, http.MethodGet, second.http.URL+"/v1/events?model=resume", "", "Last-Event-ID", last.ID)
	for i, ev := range want {
		m, ok := s.next(t)
		if !ok || m.ID != ev.ID || m.Event != ev.Type {
			t.Fatalf("resumed event %d = %+v, want %s %s", i, m, ev.ID, ev.Type)
		}
		if d := decodeEvent(t, m.Data); d.Generation != ev.Generation {
			t.Fatalf("event %s generation %d, want %d", m.ID, d.Generation, ev.Generation)
		}
	}
	c.do("POST", "/v1/models/resume/fit", map[string]any{"values": series(1, 20), "method": "naive"})
	m, ok := s.next(t)
	if !ok || m.Event != store.EventFitAccepted || m.ID == want[len(want)-1].ID {
		t.Fatalf("after the replay got %+v, want the new fit_accepted", m)
	}
	s.Close()
}

func TestLiveSlowConsumerIsCutOffWhileFastOneKeepsReceiving(t *testing.T) {
	c := newCluster(t, 0)
	g := c.startGateway(func(cfg *gateway.Config) {
		cfg.SendQueue = 32
		cfg.WriteTimeout = 10 * time.Second
		cfg.RecheckInterval = 20 * time.Millisecond
	})
	subscribe := func(ws *websocket.Conn) {
		sendWS(t, ws, map[string]any{"type": "subscribe", "id": "s", "models": []string{"flood"}})
		if m := recvWS(t, ws); m.Type != "result" || m.Status != "success" {
			t.Fatalf("subscribe: %+v", m)
		}
	}
	slowWS, fastWS := dialWSWith(t, g.http.URL, smallBuffers), dialWS(t, g.http.URL)
	subscribe(slowWS)
	subscribe(fastWS)
	fastSSE := openSSE(t, http.MethodGet, g.http.URL+"/v1/events?model=flood", "")
	req, _ := http.NewRequest(http.MethodGet, g.http.URL+"/v1/events?model=flood", nil)
	slowSSE, err := smallBuffers.Do(req) // never read
	if err != nil {
		t.Fatal(err)
	}
	defer slowSSE.Body.Close()
	deadline := time.Now().Add(10 * time.Second)
	for g.metric(t, "forecastd_sessions", "transport", "sse") != 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}

	const n = 300
	blob := json.RawMessage(`{"pad":"` + strings.Repeat("x", 32<<10) + `"}`)
	var wsGot, sseGot int
	var wg sync.WaitGroup
	wg.Go(func() {
		for wsGot < n {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			var m wsMsg
			err := wsjson.Read(ctx, fastWS, &m)
			cancel()
			if err != nil {
				return
			}
			if m.Type == "event" {
				wsGot++
			}
		}
	})
	wg.Go(func() {
		for sseGot < n {
			m, ok := <-fastSSE.Messages()
			if !ok {
				return
			}
			if m.Event != "" {
				sseGot++
			}
		}
	})
	for i := range n {
		if _, err := c.store.Emit(context.Background(), store.Event{Type: store.EventFitProgress, Model: "flood", Generation: int64(i + 1), Data: blob}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond)
	}
	wg.Wait()
	if wsGot != n || sseGot != n {
		t.Fatalf("fast clients got ws %d, sse %d of %d events", wsGot, sseGot, n)
	}
	waitMetric := func(transport string) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for g.metric(t, "forecastd_sessions_closed_total", "transport", transport, "reason", "slow_consumer") != 1 {
			if time.Now().After(deadline) {
				t.Fatalf("slow %s consumer not cut off", transport)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	// The slow WebSocket client, reading at last, finds its session closed as a slow consumer.
	waitMetric("ws")
	var rerr error
	for range n + 10 {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, _, rerr = slowWS.Read(ctx)
		cancel()
		if rerr != nil {
			break
		}
	}
	if websocket.CloseStatus(rerr) != websocket.StatusPolicyViolation || !strings.Contains(rerr.Error(), "slow consumer") {
		t.Errorf("slow websocket ended with %v, want 1008 slow consumer", rerr)
	}
	waitMetric("sse")
	fastSSE.Close()
}

func TestLiveShutdownClosesSessions(t *testing.T) {
	c := newCluster(t, 0)
	g := c.startGateway(nil)
	var conns []*websocket.Conn
	for range 3 {
		ws := dialWS(t, g.http.URL)
		sendWS(t, ws, map[string]any{"type": "subscribe", "id": 1, "models": []string{}})
		recvWS(t, ws)
		conns = append(conns, ws)
	}
	s := openSSE(t, http.MethodGet, g.http.URL+"/v1/events", "")
	done := make(chan struct{})
	go func() { g.stop(); close(done) }()
	for i, ws := range conns {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, _, err := ws.Read(ctx)
		cancel()
		if websocket.CloseStatus(err) != websocket.StatusGoingAway {
			t.Errorf("session %d ended with %v, want 1001 going away", i, err)
		}
	}
	if _, ok := s.next(t); ok {
		t.Error("SSE stream still delivering after shutdown")
	}
	waitClosed(t, done, "the gateway to stop")
	if n := g.metric(t, "forecastd_sessions", "transport", "ws") + g.metric(t, "forecastd_sessions", "transport", "sse"); n != 0 {
		t.Errorf("%v sessions still counted after shutdown", n)
	}
}
