package gateway_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/forecastd/forecastd/broker"
	"github.com/forecastd/forecastd/forecast"
	"github.com/forecastd/forecastd/gateway"
	"github.com/forecastd/forecastd/internal/promtest"
	"github.com/forecastd/forecastd/internal/stack"
	"github.com/forecastd/forecastd/internal/wsclient"
	"github.com/forecastd/forecastd/messages"
	"github.com/forecastd/forecastd/processor"
	"github.com/forecastd/forecastd/store"
)

// liveEnv is a gateway with one processor on the in-process broker and the memory store, for
// tests of live sessions.
type liveEnv struct {
	t      testing.TB
	gw     *gateway.Gateway
	srv    *httptest.Server
	store  *store.Memory
	reg    *prometheus.Registry
	stopGW func() // ends the gateway's lifetime, then its server
}

// slowFit reports progress a few times before fitting, so progress replies get through the
// processor's throttle; fits of series starting with 999 fail.
func slowFit(ctx context.Context, y []float64, spec forecast.Spec, progress forecast.ProgressFunc) (forecast.Model, error) {
	for i := 1; i <= 3; i++ {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if progress != nil {
			progress(forecast.Progress{Stage: "test", Percent: float64(25 * i)})
		}
	}
	if len(y) > 0 && y[0] == 999 {
		return nil, fmt.Errorf("%w: the test made this fit fail", forecast.ErrInvalidData)
	}
	return forecast.Fit(ctx, y, spec, progress)
}

func newLiveEnv(t testing.TB, mod func(*gateway.Config), opts ...store.MemoryOption) *liveEnv {
	t.Helper()
	st := store.NewMemory(opts...)
	t.Cleanup(func() { _ = st.Close() })
	s := stack.New(t, stack.Config{Store: st})
	s.AddProcessor(stack.ProcessorOptions{
		Config:  func(c *processor.Config) { c.ProgressInterval = time.Millisecond },
		Options: []processor.Option{processor.WithFitFunc(slowFit)},
	})
	g := s.AddGateway(stack.GatewayOptions{Config: func(c *gateway.Config) {
		c.RequestTimeout = 10 * time.Second
		c.RecheckInterval = 50 * time.Millisecond
		c.Heartbeat = 0
		if mod != nil {
			mod(c)
		}
	}})
	return &liveEnv{t: t, gw: g.Gateway, srv: g.Server, store: st, reg: g.Registry, stopGW: g.Stop}
}

// smallRcvBuf is an HTTP client whose sockets have a small receive buffer that never grows, so
// that a client that stops reading backs up into the gateway at once.
var smallRcvBuf = &http.Client{Transport: &http.Transport{DialContext: (&net.Dialer{
	Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		return errors.Join(err, serr)
	},
}).DialContext}}

func (e *liveEnv) dial(ctx context.Context) *websocket.Conn { return e.dialWith(ctx, nil) }

func (e *liveEnv) dialWith(ctx context.Context, client *http.Client) *websocket.Conn {
	e.t.Helper()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(e.srv.URL, "http")+"/v1/ws", &websocket.DialOptions{HTTPClient: client})
	if err != nil {
		e.t.Fatalf("dial: %v", err)
	}
	c.SetReadLimit(1 << 20)
	e.t.Cleanup(func() { _ = c.CloseNow() })
	return c
}

// counter reads a counter or gauge of the gateway's registry; labels are name=value pairs.
func (e *liveEnv) counter(name string, labels ...string) float64 {
	return promtest.Value(e.t, e.reg, name, labels...)
}

// wsMsg is any server message.
type wsMsg = wsclient.Msg

type eventFields struct {
	Model      string `json:"model"`
	Generation int64  `json:"generation"`
	Type       string `json:"type"`
	JobID      string `json:"job_id"`
}

func readWS(t *testing.T, c *websocket.Conn) wsMsg {
	t.Helper()
	return wsclient.Read(t, c, 10*time.Second)
}

// readUntil reads messages until one satisfies ok, returning it and those before it.
func readUntil(t *testing.T, c *websocket.Conn, ok func(wsMsg) bool) (wsMsg, []wsMsg) {
	t.Helper()
	return wsclient.Until(t, c, 10*time.Second, 1000, ok)
}

func writeWS(t *testing.T, c *websocket.Conn, v any) { t.Helper(); wsclient.Write(t, c, v) }

func testSeries(first float64, n int) []float64 {
	y := make([]float64, n)
	y[0] = first
	for i := 1; i < n; i++ {
		y[i] = 10 + float64(i%7)
	}
	return y
}

func TestWSFitSendsAcceptedProgressThenResult(t *testing.T) {
	e := newLiveEnv(t, nil)
	c := e.dial(context.Background())
	writeWS(t, c, map[string]any{"type": "fit", "id": "f1", "model": "m", "values": testSeries(1, 20), "method": "naive"})
	res, before := readUntil(t, c, func(m wsMsg) bool { return m.Type == "result" })
	if string(res.ID) != `"f1"` || res.Status != "success" {
		t.Fatalf("result = %+v", res)
	}
	var fit struct {
		Model      string `json:"model"`
		Generation int64  `json:"generation"`
		JobID      string `json:"job_id"`
	}
	if err := json.Unmarshal(res.Data, &fit); err != nil || fit.Model != "m" || fit.Generation != 1 || fit.JobID == "" {
		t.Fatalf("result data = %s (%v)", res.Data, err)
	}
	if len(before) < 2 || before[0].Type != "accepted" {
		t.Fatalf("before the result: %+v; want accepted then progress", before)
	}
	progress := 0
	for _, m := range before {
		if string(m.ID) != `"f1"` {
			t.Errorf("message %s does not echo the id: %s", m.Type, m.ID)
		}
		if m.Type == "progress" {
			progress++
		}
	}
	if progress == 0 {
		t.Errorf("no progress message before the result: %+v", before)
	}

	// A forecast on the same session uses the new model.
	writeWS(t, c, map[string]any{"type": "forecast", "id": 7, "model": "m", "horizon": 3, "levels": []float64{80}})
	res, _ = readUntil(t, c, func(m wsMsg) bool { return m.Type == "result" })
	var fc struct {
		Generation int64     `json:"generation"`
		Point      []float64 `json:"point"`
	}
	if err := json.Unmarshal(res.Data, &fc); err != nil || string(res.ID) != "7" || res.Status != "success" || fc.Generation != 1 || len(fc.Point) != 3 {
		t.Fatalf("forecast result = %+v", res)
	}
}

func TestWSValidationMatchesHTTP(t *testing.T) {
	e := newLiveEnv(t, nil)
	c := e.dial(context.Background())
	body := map[string]any{"values": []any{}, "method": "nope", "season_length": -1}
	msg := map[string]any{"type": "fit", "id": "bad", "model": "m"}
	for k, v := range body {
		msg[k] = v
	}
	writeWS(t, c, msg)
	res := readWS(t, c)
	if res.Type != "result" || res.Status != "fail" || string(res.ID) != `"bad"` {
		t.Fatalf("invalid fit answered %+v", res)
	}
	b, _ := json.Marshal(body)
	resp, err := http.Post(e.srv.URL+"/v1/models/m/fit", "application/json", strings.NewReader(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var httpBody struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&httpBody); err != nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("http: %d %v", resp.StatusCode, err)
	}
	if !reflect.DeepEqual(decodeAny(t, res.Data), decodeAny(t, httpBody.Data)) {
		t.Errorf("websocket fail data %s differs from HTTP %s", res.Data, httpBody.Data)
	}

	// No model yet: the same 404 fail as HTTP.
	writeWS(t, c, map[string]any{"type": "forecast", "id": "nf", "model": "none", "horizon": 2})
	res = readWS(t, c)
	if res.Type != "result" || res.Status != "fail" || !strings.Contains(string(res.Data), "no fitted model") {
		t.Fatalf("forecast of a missing model answered %+v", res)
	}
}

func decodeAny(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return v
}

func TestWSMalformedMessagesGetErrorsAndSessionGoesOn(t *testing.T) {
	e := newLiveEnv(t, nil)
	c := e.dial(context.Background())
	ctx := context.Background()
	cases := []struct {
		name, raw string
		binary    bool
		want      string // message type
	}{
		{"not json", `{"type":`, false, "error"},
		{"no type", `{"id":"x"}`, false, "error"},
		{"unknown type", `{"type":"launch","id":"x"}`, false, "error"},
		{"array", `[1,2]`, false, "error"},
		{"binary", `{"type":"ping"}`, true, "error"},
		{"unknown field", `{"type":"ping","id":"x","extra":1}`, false, "result"},
		{"bad model", `{"type":"fit","id":"x","model":"-bad","values":[1,2,3]}`, false, "result"},
		{"bad models", `{"type":"subscribe","id":"x","models":["a b"]}`, false, "result"},
		{"bad last id", `{"type":"subscribe","id":"x","models":["a"],"last_event_id":"yesterday"}`, false, "result"},
		{"null model", `{"type":"subscribe","id":"x","models":[null]}`, false, "result"},
		{"no id", `{"type":"ping"}`, false, "error"},
		{"trailing comma", `{"type":"ping","id":"x",}`, false, "error"},
		{"fit with NaN", `{"type":"fit","id":"x","model":"m","values":[1,NaN]}`, false, "error"},
		{"null id", `{"type":"forecast","id":null,"model":"m","horizon":1}`, false, "error"},
		{"object id", `{"type":"ping","id":{"n":1}}`, false, "error"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			typ := websocket.MessageText
			if tc.binary {
				typ = websocket.MessageBinary
			}
			if err := c.Write(ctx, typ, []byte(tc.raw)); err != nil {
				t.Fatal(err)
			}
			m := readWS(t, c)
			if m.Type != tc.want || (m.Type == "result" && m.Status != "fail") {
				t.Fatalf("got %+v, want a %s", m, tc.want)
			}
			if m.Type == "error" && m.Message == "" {
				t.Errorf("error without a message: %+v", m)
			}
			// A message has no body: its problems are not named as an HTTP body's.
			if text := m.Message + string(m.Data); strings.Contains(text, "body") {
				t.Errorf("answer %+v speaks of a body", m)
			}
			// A JSON array once answered "json: cannot unmarshal array into Go value of
			// type gateway.wsHeader".
			text := m.Message + string(m.Data)
			for _, leak := range []string{"json:", "Go value", "gateway.", "unmarshal"} {
				if strings.Contains(text, leak) {
					t.Errorf("answer %+v shows Go's error text (%q)", m, leak)
				}
			}
		})
	}
	writeWS(t, c, map[string]any{"type": "ping", "id": "p1"})
	if m := readWS(t, c); m.Type != "pong" || string(m.ID) != `"p1"` {
		t.Fatalf("after the bad messages, ping got %+v", m)
	}
}

// A message whose id holds bytes that are not UTF-8 is answered with the id made valid
// (U+FFFD for the bad bytes), as every other string of it is read: echoed as sent, the reply
// would be a text message that is not UTF-8, which browsers answer by closing the session.
func TestWSRepliesAreUTF8WhateverTheIDHolds(t *testing.T) {
	e := newLiveEnv(t, nil)
	c := e.dial(context.Background())
	ctx := context.Background()
	for _, raw := range []string{"{\"type\":\"ping\",\"id\":\"a\xffb\"}", "{\"type\":\"launch\",\"id\":\"a\xffb\"}", "{\"type\":\"ping\",\"id\":\"a\xffb\",\"x\":1}"} {
		if err := c.Write(ctx, websocket.MessageText, []byte(raw)); err != nil {
			t.Fatal(err)
		}
		_, b, err := c.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !utf8.Valid(b) {
			t.Fatalf("%q answered with a text message that is not UTF-8: %q", raw, b)
		}
		var m wsMsg
		if err := json.Unmarshal(b, &m); err != nil || string(m.ID) != `"a\ufffdb"` && string(m.ID) != "\"a\uFFFDb\"" && string(m.ID) != "\"a\xef\xbf\xbdb\"" {
			t.Fatalf("%q answered %s (%v); want the id as \"a\ufffdb\"", raw, b, err)
		}
	}
}

func TestWSSubscribeDeliversModelEventsOfChosenModels(t *testing.T) {
	e := newLiveEnv(t, nil)
	c := e.dial(context.Background())
	writeWS(t, c, map[string]any{"type": "subscribe", "id": "s", "models": []string{"a"}})
	if m := readWS(t, c); m.Type != "result" || m.Status != "success" || string(m.ID) != `"s"` {
		t.Fatalf("subscribe answered %+v", m)
	}
	other := e.dial(context.Background())
	writeWS(t, other, map[string]any{"type": "fit", "id": 1, "model": "b", "values": testSeries(1, 10), "method": "naive"})
	readUntil(t, other, func(m wsMsg) bool { return m.Type == "result" })
	writeWS(t, other, map[string]any{"type": "fit", "id": 2, "model": "a", "values": testSeries(1, 10), "method": "naive"})
	readUntil(t, other, func(m wsMsg) bool { return m.Type == "result" })

	ready, before := readUntil(t, c, func(m wsMsg) bool { return m.Type == "event" && m.Event == "model_ready" })
	var f eventFields
	if err := json.Unmarshal(ready.Data, &f); err != nil || f.Model != "a" || f.Generation != 1 || f.JobID == "" || ready.EventID == "" {
		t.Fatalf("model_ready = %+v %s", ready, ready.Data)
	}
	for _, m := range before {
		var f eventFields
		_ = json.Unmarshal(m.Data, &f)
		if m.Type != "event" || f.Model != "a" || m.EventID == "" {
			t.Errorf("unexpected message before model_ready: %+v", m)
		}
	}

	// After unsubscribing, no more events.
	writeWS(t, c, map[string]any{"type": "unsubscribe", "id": "u", "models": []string{"a"}})
	readUntil(t, c, func(m wsMsg) bool { return m.Type == "result" && string(m.ID) == `"u"` })
	writeWS(t, other, map[string]any{"type": "fit", "id": 3, "model": "a", "values": testSeries(1, 10), "method": "naive"})
	readUntil(t, other, func(m wsMsg) bool { return m.Type == "result" })
	writeWS(t, c, map[string]any{"type": "ping", "id": "p"})
	if m := readWS(t, c); m.Type != "pong" {
		t.Fatalf("after unsubscribe got %+v, want only the pong", m)
	}
}

func TestWSSubscribeWithLastEventIDReplaysMissedEvents(t *testing.T) {
	e := newLiveEnv(t, nil)
	ctx := context.Background()
	first, err := e.store.Emit(ctx, store.Event{Type: store.EventFitProgress, Model: "a", Generation: 1, Data: json.RawMessage(`{"percent":1}`)})
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for i := range 5 {
		ev, err := e.store.Emit(ctx, store.Event{Type: store.EventFitProgress, Model: "a", Generation: int64(i + 2), Data: json.RawMessage(`{"percent":2}`)})
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, ev.ID)
		if _, err := e.store.Emit(ctx, store.Event{Type: store.EventFitProgress, Model: "b", Generation: 1}); err != nil {
			t.Fatal(err)
		}
	}
	c := e.dial(ctx)
	writeWS(t, c, map[string]any{"type": "subscribe", "id": "s", "models": []string{"a"}, "last_event_id": first.ID})
	if m := readWS(t, c); m.Type != "result" || m.Status != "success" {
		t.Fatalf("subscribe answered %+v", m)
	}
	// A live event after the replay.
	live, err := e.store.Emit(ctx, store.Event{Type: store.EventFitProgress, Model: "a", Generation: 9})
	if err != nil {
		t.Fatal(err)
	}
	want = append(want, live.ID)
	for i, id := range want {
		m := readWS(t, c)
		if m.Type != "event" || m.EventID != id {
			t.Fatalf("message %d = %+v, want event %s", i, m, id)
		}
	}
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestWSSlowConsumerIsCutOffWhileOthersKeepReceiving(t *testing.T) {
	e := newLiveEnv(t, func(c *gateway.Config) { c.SendQueue = 32; c.WriteTimeout = 10 * time.Second })
	ctx := context.Background()
	subscribe := func(c *websocket.Conn) {
		writeWS(t, c, map[string]any{"type": "subscribe", "id": "s", "models": []string{"big"}})
		if m := readWS(t, c); m.Type != "result" {
			t.Fatalf("subscribe answered %+v", m)
		}
	}
	slow, fast := e.dialWith(ctx, smallRcvBuf), e.dial(ctx)
	subscribe(slow)
	subscribe(fast)

	// The fast client reads everything; the slow one reads nothing until it has been cut off.
	const n = 400
	blob := json.RawMessage(`{"pad":"` + strings.Repeat("x", 32<<10) + `"}`)
	var got int
	var wg sync.WaitGroup
	wg.Go(func() {
		for got < n {
			var m wsMsg
			rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err := wsjson.Read(rctx, fast, &m)
			cancel()
			if err != nil {
				return
			}
			if m.Type == "event" {
				got++
			}
		}
	})
	for i := range n {
		if _, err := e.store.Emit(ctx, store.Event{Type: store.EventFitProgress, Model: "big", Generation: int64(i + 1), Data: blob}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond) // a steady stream a healthy client keeps up with
	}
	wg.Wait()
	if got != n {
		t.Fatalf("fast client got %d of %d events", got, n)
	}
	waitFor(t, "the slow consumer to be dropped", func() bool {
		return e.counter("forecastd_sessions_closed_total", "transport", "ws", "reason", "slow_consumer") == 1
	})
	// Now drain the slow client: it ends with the close reason.
	var err error
	for range n + 10 {
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, _, err = slow.Read(rctx)
		cancel()
		if err != nil {
			break
		}
	}
	if websocket.CloseStatus(err) != websocket.StatusPolicyViolation {
		t.Logf("slow client ended with %v (the close frame may not fit a full socket)", err)
	} else if !strings.Contains(err.Error(), "slow consumer") {
		t.Errorf("close reason = %v, want slow consumer", err)
	}
	if err == nil {
		t.Fatal("slow client was not disconnected")
	}
}

func TestWSSessionsCloseOnShutdown(t *testing.T) {
	e := newLiveEnv(t, nil)
	ctx := context.Background()
	conns := []*websocket.Conn{e.dial(ctx), e.dial(ctx), e.dial(ctx)}
	for _, c := range conns {
		writeWS(t, c, map[string]any{"type": "ping", "id": 1})
		readWS(t, c)
	}
	waitFor(t, "3 ws sessions", func() bool { return e.counter("forecastd_sessions", "transport", "ws") == 3 })
	e.stopGW()
	for i, c := range conns {
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, _, err := c.Read(rctx)
		cancel()
		if websocket.CloseStatus(err) != websocket.StatusGoingAway {
			t.Errorf("session %d ended with %v, want close status going away", i, err)
		}
	}
	waitFor(t, "no ws sessions", func() bool { return e.counter("forecastd_sessions", "transport", "ws") == 0 })
}

func TestWSOriginCheck(t *testing.T) {
	e := newLiveEnv(t, func(c *gateway.Config) { c.AllowedOrigins = []string{"*.example.com"} })
	url := "ws" + strings.TrimPrefix(e.srv.URL, "http") + "/v1/ws"
	for _, tc := range []struct {
		origin string
		ok     bool
	}{
		{"", true},
		{e.srv.URL, true},
		{"https://app.example.com", true},
		{"https://evil.test", false},
	} {
		h := http.Header{}
		if tc.origin != "" {
			h.Set("Origin", tc.origin)
		}
		c, resp, err := websocket.Dial(context.Background(), url, &websocket.DialOptions{HTTPHeader: h})
		if tc.ok {
			if err != nil {
				t.Errorf("origin %q refused: %v", tc.origin, err)
				continue
			}
			c.CloseNow()
			continue
		}
		if err == nil {
			c.CloseNow()
			t.Errorf("origin %q accepted", tc.origin)
			continue
		}
		if resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Errorf("origin %q: %v, want 403", tc.origin, err)
		}
	}
	// A plain GET gets a JSend answer, not a bare text.
	resp, err := http.Get(e.srv.URL + "/v1/ws")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct{ Status string }
	if err := json.NewDecoder(bufio.NewReader(resp.Body)).Decode(&body); err != nil || resp.StatusCode != http.StatusUpgradeRequired || body.Status != "fail" {
		t.Errorf("plain GET /v1/ws: %d %+v %v", resp.StatusCode, body, err)
	}
}

// TestWSMessageSentWithTheHandshakeIsNotLost: a client may send its first frame right behind
// the upgrade request; the gateway's own connection buffers must keep it.
func TestWSMessageSentWithTheHandshakeIsNotLost(t *testing.T) {
	e := newLiveEnv(t, nil)
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	payload := []byte(`{"type":"ping","id":"early"}`)
	mask := []byte{1, 2, 3, 4}
	frame := append([]byte{0x81, 0x80 | byte(len(payload))}, mask...)
	for i, b := range payload {
		frame = append(frame, b^mask[i%4])
	}
	req := "GET /v1/ws HTTP/1.1\r\nHost: " + conn.RemoteAddr().String() + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := conn.Write(append([]byte(req), frame...)); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: %v %v", resp, err)
	}
	head := make([]byte, 2)
	if _, err := io.ReadFull(br, head); err != nil {
		t.Fatal(err)
	}
	body := make([]byte, head[1]&0x7f)
	if _, err := io.ReadFull(br, body); err != nil {
		t.Fatal(err)
	}
	var m wsMsg
	if err := json.Unmarshal(body, &m); err != nil || m.Type != "pong" || string(m.ID) != `"early"` {
		t.Fatalf("answer to the early ping: %s (%v)", body, err)
	}
}

// TestServeClosesSessionsBeforeReturning: Serve's shutdown ends live sessions (hijacked, so
// http.Server.Shutdown does not see them) with a close handshake, and waits for it.
func TestServeClosesSessionsBeforeReturning(t *testing.T) {
	st := store.NewMemory()
	defer st.Close()
	br := broker.NewInProcess(watermill.NopLogger{})
	defer br.Close()
	cfg := gateway.DefaultConfig()
	cfg.ShutdownTimeout = 5 * time.Second
	gw := gateway.New(cfg, gateway.Deps{Store: st, Publisher: br.Publisher, Replies: br.Replies, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- gw.Serve(ctx, ln) }()
	base := "http://" + ln.Addr().String()

	ws, _, err := websocket.Dial(context.Background(), "ws://"+ln.Addr().String()+"/v1/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	writeWS(t, ws, map[string]any{"type": "subscribe", "id": 1, "models": []string{}})
	readWS(t, ws)
	sse := openSSE(t, base, "/v1/events")
	sse.next(t, true)

	// The client answers the close handshake only while it reads.
	closed := make(chan error, 1)
	go func() {
		_, _, err := ws.Read(context.Background())
		closed <- err
	}()
	cancel()
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return")
	}
	if err := <-closed; websocket.CloseStatus(err) != websocket.StatusGoingAway {
		t.Errorf("websocket ended with %v, want 1001", err)
	}
	for {
		select {
		case _, ok := <-sse.Messages():
			if !ok {
				return
			}
		case <-time.After(5 * time.Second):
			t.Fatal("SSE stream still open after Serve returned")
		}
	}
}

// slowAccept makes accepting a fit slow, as a remote store is, widening any window in which a
// later command could overtake it.
type slowAccept struct{ store.Store }

func (s slowAccept) AcceptFit(ctx context.Context, model, jobID string, lease time.Duration) (int64, error) {
	time.Sleep(30 * time.Millisecond)
	return s.Store.AcceptFit(ctx, model, jobID, lease)
}

// TestWSCommandsAreAcceptedInOrder: a forecast sent right after a fit on the same session waits
// for that fit and answers with its generation (as in the README's example).
func TestWSCommandsAreAcceptedInOrder(t *testing.T) {
	s := newAPIServer(t, apiOption{wrap: func(st store.Store) store.Store { return slowAccept{st} }})
	c, _, err := websocket.Dial(t.Context(), "ws"+strings.TrimPrefix(s.url, "http")+"/v1/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	for round := 1; round <= 3; round++ {
		writeWS(t, c, map[string]any{"type": "fit", "id": "f", "model": "order", "values": testSeries(float64(round), 12), "method": "drift"})
		writeWS(t, c, map[string]any{"type": "forecast", "id": "p", "model": "order", "horizon": 3})
		m, _ := readUntil(t, c, func(m wsMsg) bool { return m.Type == "result" && string(m.ID) == `"p"` })
		var data struct {
			Generation int64 `json:"generation"`
		}
		if m.Status != "success" || json.Unmarshal(m.Data, &data) != nil || data.Generation != int64(round) {
			t.Fatalf("round %d: forecast result %s %s; want success with generation %d", round, m.Status, m.Data, round)
		}
	}
}

// levels: [0.95] is R's way of asking for 95% intervals, over HTTP and WebSocket alike.
func TestLevelsGivenAsFractionsArePercentages(t *testing.T) {
	e := newLiveEnv(t, nil)
	c := e.dial(context.Background())
	writeWS(t, c, map[string]any{"type": "fit", "id": "f", "model": "lv", "values": testSeries(1, 20), "method": "naive"})
	if res, _ := readUntil(t, c, func(m wsMsg) bool { return m.Type == "result" }); res.Status != "success" {
		t.Fatalf("fit: %+v", res)
	}
	type intervals map[string]struct{ Lower, Upper []float64 }
	post := func(body string) (int, intervals, string) {
		t.Helper()
		resp, err := http.Post(e.srv.URL+"/v1/models/lv/forecast", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var env struct {
			Data struct {
				Intervals intervals `json:"intervals"`
			} `json:"data"`
		}
		_ = json.Unmarshal(raw, &env)
		return resp.StatusCode, env.Data.Intervals, string(raw)
	}
	_, pct, _ := post(`{"horizon":3,"levels":[95]}`)
	code, frac, raw := post(`{"horizon":3,"levels":[0.95]}`)
	if code != http.StatusOK || len(frac) != 1 || !reflect.DeepEqual(frac["95"], pct["95"]) {
		t.Errorf("HTTP levels [0.95]: %d %s; want the 95%% interval %v under \"95\"", code, raw, pct["95"])
	}
	if code, _, raw := post(`{"horizon":3,"levels":[0.8,95]}`); code != http.StatusBadRequest || !strings.Contains(raw, `"levels"`) {
		t.Errorf("HTTP levels [0.8,95]: %d %s; want a 400 fail naming levels", code, raw)
	}

	writeWS(t, c, map[string]any{"type": "forecast", "id": "p", "model": "lv", "horizon": 3, "levels": []float64{0.95}})
	res, _ := readUntil(t, c, func(m wsMsg) bool { return m.Type == "result" })
	var fc struct {
		Intervals intervals `json:"intervals"`
	}
	if err := json.Unmarshal(res.Data, &fc); err != nil || res.Status != "success" || len(fc.Intervals) != 1 || !reflect.DeepEqual(fc.Intervals["95"], pct["95"]) {
		t.Errorf("WebSocket levels [0.95]: %s %s; want the 95%% interval under \"95\"", res.Status, res.Data)
	}
	writeWS(t, c, map[string]any{"type": "forecast", "id": "q", "model": "lv", "horizon": 3, "levels": []float64{0.8, 95}})
	res, _ = readUntil(t, c, func(m wsMsg) bool { return m.Type == "result" })
	if res.Status != "fail" || !strings.Contains(string(res.Data), `"levels"`) {
		t.Errorf("WebSocket levels [0.8,95]: %s %s; want a fail naming levels", res.Status, res.Data)
	}
}

func TestWSDuplicateKeysGetAFailNamingTheKey(t *testing.T) {
	e := newLiveEnv(t, nil)
	c := e.dial(context.Background())
	tests := []struct{ msg, field string }{
		{`{"type":"forecast","id":"d1","model":"none","horizon":3,"horizon":5}`, "horizon"},
		{`{"type":"fit","id":"d2","model":"m","values":[1,2,3],"method":"ets","options":{"spec":"ANN","spec":"MNN"}}`, "options.spec"},
		{`{"type":"subscribe","id":"d3","models":["a"],"models":["b"]}`, "models"},
		{`{"type":"ping","id":"d4","id":"d4"}`, "id"},
	}
	for _, tc := range tests {
		if err := c.Write(t.Context(), websocket.MessageText, []byte(tc.msg)); err != nil {
			t.Fatal(err)
		}
		res := readWS(t, c)
		var problems map[string]string
		_ = json.Unmarshal(res.Data, &problems)
		if res.Type != "result" || res.Status != "fail" || !strings.Contains(problems[tc.field], "more than once") {
			t.Errorf("%s answered %+v; want a fail naming %q", tc.msg, res, tc.field)
		}
	}
}

// TestWSAnswersEchoTheIDAndUnsubscribeIsStrict: whatever a client message gets back (an error
// for a message that cannot be handled, a fail for bad fields, an acknowledgement) echoes its
// id, as far as the id can be read; and unsubscribe takes only its own fields.
func TestWSAnswersEchoTheIDAndUnsubscribeIsStrict(t *testing.T) {
	e := newLiveEnv(t, nil)
	c := e.dial(context.Background())
	cases := []struct {
		name, raw string
		binary    bool
		id        string // the id the answer must echo, as JSON
		typ       string // the answer's type
		field     string // for a fail: the field it must name
	}{
		{"unknown type", `{"type":"launch","id":"e1"}`, false, `"e1"`, "error", ""},
		{"no type", `{"id":42}`, false, `42`, "error", ""},
		{"type not a string", `{"type":5,"id":"e2"}`, false, `"e2"`, "error", ""},
		{"id before a bad type", `{"id":"e3","type":["ping"]}`, false, `"e3"`, "error", ""},
		{"binary", `{"type":"ping","id":"e4"}`, true, `"e4"`, "error", ""},
		{"unknown field", `{"type":"ping","id":"e5","extra":1}`, false, `"e5"`, "result", "extra"},
		{"subscribe, wrong type", `{"type":"subscribe","id":"s1","models":"a"}`, false, `"s1"`, "result", "models"},
		{"unsubscribe, unknown field", `{"type":"unsubscribe","id":"u1","models":["a"],"bogus":true}`, false, `"u1"`, "result", "bogus"},
		{"unsubscribe, subscribe's field", `{"type":"unsubscribe","id":"u2","models":["a"],"last_event_id":"1-0"}`, false, `"u2"`, "result", "last_event_id"},
		{"unsubscribe, wrong type", `{"type":"unsubscribe","id":"u3","models":"a"}`, false, `"u3"`, "result", "models"},
		{"unsubscribe, wrong item type", `{"type":"unsubscribe","id":"u4","batches":[1]}`, false, `"u4"`, "result", "batches"},
		{"unsubscribe, bad model", `{"type":"unsubscribe","id":"u5","models":["a b"]}`, false, `"u5"`, "result", "models"},
		{"unsubscribe", `{"type":"unsubscribe","id":"u6","models":["a"],"batches":[]}`, false, `"u6"`, "result", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			typ := websocket.MessageText
			if tc.binary {
				typ = websocket.MessageBinary
			}
			if err := c.Write(t.Context(), typ, []byte(tc.raw)); err != nil {
				t.Fatal(err)
			}
			m := readWS(t, c)
			if m.Type != tc.typ || string(m.ID) != tc.id {
				t.Fatalf("%s answered %+v; want type %s echoing the id %s", tc.raw, m, tc.typ, tc.id)
			}
			if tc.typ != "result" {
				return
			}
			var problems map[string]string
			_ = json.Unmarshal(m.Data, &problems)
			switch {
			case tc.field == "" && m.Status != "success":
				t.Errorf("%s answered %+v; want success", tc.raw, m)
			case tc.field != "" && (m.Status != "fail" || problems[tc.field] == ""):
				t.Errorf("%s answered %+v; want a fail naming %q", tc.raw, m, tc.field)
			}
		})
	}
}

// TestWSResumeFromTheFutureIsReset: a subscribe resuming after an id newer than every stored
// event is acknowledged, then reset to the newest event, and gets the live events after it; one
// resuming at the newest event is not reset.
func TestWSResumeFromTheFutureIsReset(t *testing.T) {
	e := newLiveEnv(t, nil)
	ctx := context.Background()
	// Once probe has the events, the hub has fanned them out: a subscribe then has nothing to
	// catch up.
	probe := openSSE(t, e.srv.URL, "/v1/events")
	var newest string
	for i := range 3 {
		newest = emit(t, e.store, "a", int64(i+1)).ID
	}
	for {
		if m, _ := probe.nextEvent(t); m.ID == newest {
			break
		}
	}
	future := strconv.FormatInt(time.Now().Add(time.Hour).UnixMilli(), 10) + "-0"
	subscribe := func(last string) *websocket.Conn {
		t.Helper()
		c := e.dial(ctx)
		writeWS(t, c, map[string]any{"type": "subscribe", "id": "s", "models": []string{"a"}, "last_event_id": last})
		if m := readWS(t, c); m.Type != "result" || m.Status != "success" || string(m.ID) != `"s"` {
			t.Fatalf("subscribe after %s answered %+v", last, m)
		}
		return c
	}
	ahead, atNewest := subscribe(future), subscribe(newest)

	m := readWS(t, ahead)
	var reset resetData
	if err := json.Unmarshal(m.Data, &reset); err != nil || m.Type != "event" || m.Event != "reset" || m.EventID != newest || reset.Last != future || reset.Reason == "" {
		t.Fatalf("after subscribing from %s got %+v %s; want a reset event with event_id %s", future, m, m.Data, newest)
	}
	live := emit(t, e.store, "a", 9)
	for _, c := range []*websocket.Conn{ahead, atNewest} {
		if m := readWS(t, c); m.Type != "event" || m.EventID != live.ID {
			t.Errorf("got %+v, want the live event %s", m, live.ID)
		}
	}
}

// heldAccept holds every AcceptFit until release is closed, telling started of the first.
type heldAccept struct {
	store.Store
	started chan struct{}
	once    *sync.Once
	release chan struct{}
}

func (s heldAccept) AcceptFit(ctx context.Context, model, jobID string, lease time.Duration) (int64, error) {
	s.once.Do(func() { close(s.started) })
	<-s.release
	return s.Store.AcceptFit(ctx, model, jobID, lease)
}

// A session keeps at most the read limit's worth of client messages waiting (8 MiB), not
// inboxSize (64) messages of up to 8 MiB each: while a fit is being accepted, of six 3 MiB
// messages sent behind it two wait and four are dropped, each with an error echoing its id,
// and the two are handled once the fit is.
func TestWSMessagesWaitingAreBoundedInBytes(t *testing.T) {
	held := heldAccept{started: make(chan struct{}), once: new(sync.Once), release: make(chan struct{})}
	s := newAPIServer(t, apiOption{wrap: func(st store.Store) store.Store { held.Store = st; return held }})
	c, _, err := websocket.Dial(t.Context(), "ws"+strings.TrimPrefix(s.url, "http")+"/v1/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	writeWS(t, c, map[string]any{"type": "fit", "id": "first", "model": "m", "values": testSeries(1, 12), "method": "drift"})
	<-held.started
	big := `,"model":"m","values":[` + strings.Repeat("1.5,", 3<<20/4) + `1]}`
	for i := range 6 {
		if err := c.Write(t.Context(), websocket.MessageText, []byte(fmt.Sprintf(`{"type":"fit","id":"big%d"`, i)+big)); err != nil {
			t.Fatal(err)
		}
	}
	dropped := map[string]bool{}
	for len(dropped) < 4 {
		m := readWS(t, c)
		if m.Type != "error" || !strings.Contains(m.Message, "this one was dropped") {
			t.Fatalf("got %s %s %s while the first fit is held; want four errors for the messages dropped", m.Type, m.ID, m.Message)
		}
		dropped[string(m.ID)] = true
	}
	if want := map[string]bool{`"big2"`: true, `"big3"`: true, `"big4"`: true, `"big5"`: true}; !maps.Equal(dropped, want) {
		t.Errorf("dropped %v; want big2 to big5", dropped)
	}
	close(held.release)
	results := map[string]string{}
	for len(results) < 3 {
		m, _ := readUntil(t, c, func(m wsMsg) bool { return m.Type == "result" || m.Type == "error" })
		results[string(m.ID)] = m.Type + " " + m.Status
	}
	if want := map[string]string{`"first"`: "result success", `"big0"`: "result fail", `"big1"`: "result fail"}; !maps.Equal(results, want) {
		t.Errorf("answers %v; want the first fit's success and the two waiting messages' fails (too many values)", results)
	}
}

// A message over the read limit (the body limit, 8 MiB) ends the session with 1009, as the
// API description says.
func TestWSMessageOverTheLimitClosesWith1009(t *testing.T) {
	e := newLiveEnv(t, nil)
	c := e.dial(t.Context())
	msg := `{"type":"fit","id":"huge","model":"m","values":[` + strings.Repeat("1,", messages.MaxBodyBytes/2) + `1]}`
	if err := c.Write(t.Context(), websocket.MessageText, []byte(msg)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	_, _, err := c.Read(ctx)
	if got := websocket.CloseStatus(err); got != websocket.StatusMessageTooBig {
		t.Fatalf("read after a message of %d bytes: %v (close status %d); want the session closed with 1009", len(msg), err, got)
	}
}
