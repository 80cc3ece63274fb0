package gateway_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/forecastd/forecastd/gateway"
	"github.com/forecastd/forecastd/internal/stack"
	"github.com/forecastd/forecastd/store"
)

// A hijacked SSE stream starts with its status line even when events and heartbeats are
// flowing while it opens.
func TestEventsStreamStartsWithStatusLineUnderTraffic(t *testing.T) {
	e := newLiveEnv(t, func(c *gateway.Config) { c.Heartbeat = time.Millisecond })
	addr := strings.TrimPrefix(e.srv.URL, "http://")
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			_, _ = e.store.Emit(context.Background(), store.Event{Type: "fit_progress", Model: "m", Generation: int64(i), Data: []byte(`{}`)})
		}
	}()
	defer func() { close(stop); <-done }()
	for i := range 500 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "GET /v1/events HTTP/1.1\r\nHost: x\r\n\r\n")
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		line, _ := bufio.NewReader(c).ReadString('\n')
		c.Close()
		if !strings.HasPrefix(line, "HTTP/1.1 200") {
			t.Fatalf("connection %d began with %q, not the status line", i, line)
		}
	}
}

// A WebSocket session whose command takes a while to be accepted still answers pings, so the
// heartbeat does not end it.
func TestWSSlowAcceptDoesNotTimeOutPings(t *testing.T) {
	s := newAPIServer(t, apiOption{
		wrap: func(st store.Store) store.Store { return verySlowAccept{st} },
		cfg:  func(c *gateway.Config) { c.Heartbeat, c.WriteTimeout = 100*time.Millisecond, 300*time.Millisecond },
	})
	c, _, err := websocket.Dial(t.Context(), "ws"+strings.TrimPrefix(s.url, "http")+"/v1/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	writeWS(t, c, map[string]any{"type": "fit", "id": "f", "model": "m", "values": testSeries(1, 12), "method": "drift"})
	if m, _ := readUntil(t, c, func(m wsMsg) bool { return m.Type == "result" }); m.Status != "success" {
		t.Fatalf("fit result %s %s", m.Status, m.Message)
	}
}

type verySlowAccept struct{ store.Store }

func (s verySlowAccept) AcceptFit(ctx context.Context, model, jobID string, lease time.Duration) (int64, error) {
	time.Sleep(time.Second)
	return s.Store.AcceptFit(ctx, model, jobID, lease)
}

// Sessions that end while they change their subscriptions leave the hub all the same.
func TestEndedSessionsLeaveTheHub(t *testing.T) {
	e := newLiveEnv(t, func(c *gateway.Config) { c.SendQueue = 1 })
	for range 30 {
		c := e.dial(t.Context())
		for j := range 50 {
			ctx, cancel := context.WithTimeout(t.Context(), time.Second)
			err := c.Write(ctx, websocket.MessageText, fmt.Appendf(nil, `{"type":"subscribe","id":1,"models":["m%d"]}`, j))
			cancel()
			if err != nil {
				break
			}
		}
		c.CloseNow()
	}
	waitFor(t, "every ended session to leave the hub", func() bool { return gateway.HubSessions(e.gw) == 0 })
}

// Subscribing by name with last_event_id while already following every model replays
// nothing: those events were delivered live already.
func TestWSSubscribeWhileFollowingAllDoesNotDuplicate(t *testing.T) {
	e := newLiveEnv(t, nil)
	c := e.dial(t.Context())
	writeWS(t, c, map[string]any{"type": "subscribe", "id": "s1", "models": []string{}})
	readUntil(t, c, func(m wsMsg) bool { return m.Type == "result" })
	first := emit(t, e.store, "m", 1)
	emit(t, e.store, "m", 2)
	emit(t, e.store, "m", 3)
	var got []string
	for len(got) < 3 {
		if m := readWS(t, c); m.Type == "event" {
			got = append(got, m.EventID)
		}
	}
	writeWS(t, c, map[string]any{"type": "subscribe", "id": "s2", "models": []string{"m"}, "last_event_id": first.ID})
	writeWS(t, c, map[string]any{"type": "ping", "id": "p"})
	_, before := readUntil(t, c, func(m wsMsg) bool { return m.Type == "pong" })
	for _, m := range before {
		if m.Type == "event" {
			got = append(got, m.EventID)
		}
	}
	if len(got) != 3 {
		t.Fatalf("events received %v: want each of the three once", got)
	}
}

// Until the gateway has read where the event feed stands (the store may be down at start), it
// opens no event stream: the client is told to retry instead of silently missing events.
func TestEventsUnavailableUntilTheFeedIsRead(t *testing.T) {
	// Not started: the feed position is unknown.
	srv := stack.New(t, stack.Config{}).AddGateway(stack.GatewayOptions{Unstarted: true})
	code, env := (&apiServer{url: srv.URL}).send(t, "GET", "/v1/events", "", nil)
	if code != http.StatusServiceUnavailable || env.Status != "error" {
		t.Fatalf("GET /v1/events before the feed is read: %d %+v; want a JSend 503", code, env)
	}
}
