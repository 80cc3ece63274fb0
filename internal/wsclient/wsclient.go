// Package wsclient is the client side of the gateway's WebSocket sessions for tests: the
// server message shape and reading and writing JSON messages with time limits.
package wsclient

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
)

// Msg is any server message of a session.
type Msg struct {
	Type    string          `json:"type"`
	ID      json.RawMessage `json:"id"`
	Status  string          `json:"status"`
	Data    json.RawMessage `json:"data"`
	Message string          `json:"message"`
	Code    int             `json:"code"`
	Event   string          `json:"event"`
	EventID string          `json:"event_id"`
}

// Read reads one message, failing the test if none arrives within timeout.
func Read(tb testing.TB, c *websocket.Conn, timeout time.Duration) Msg {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var m Msg
	if err := wsjson.Read(ctx, c, &m); err != nil {
		tb.Fatalf("read websocket: %v", err)
	}
	return m
}

// Until reads messages (each within timeout, at most limit of them) until one satisfies ok,
// returning it and those before it.
func Until(tb testing.TB, c *websocket.Conn, timeout time.Duration, limit int, ok func(Msg) bool) (Msg, []Msg) {
	tb.Helper()
	var before []Msg
	for range limit {
		m := Read(tb, c, timeout)
		if ok(m) {
			return m, before
		}
		before = append(before, m)
	}
	tb.Fatalf("no matching websocket message in %d", limit)
	return Msg{}, nil
}

// Write sends v as a JSON message, failing the test if it takes more than 5 s.
func Write(tb testing.TB, c *websocket.Conn, v any) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := wsjson.Write(ctx, c, v); err != nil {
		tb.Fatalf("write websocket: %v", err)
	}
}
