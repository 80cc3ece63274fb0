package ws

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/forecastd/forecastd/messages"
)

func TestCheckOrigin(t *testing.T) {
	allowed := []string{"*.example.com", "http://localhost:*"}
	for _, tc := range []struct {
		origin string
		ok     bool
	}{
		{"", true},                        // not a browser
		{"https://gw.test", true},         // same origin
		{"https://app.example.com", true}, // a pattern's host
		{"http://localhost:5173", true},   // a pattern with a scheme
		{"https://localhost:5173", false}, // the wrong scheme
		{"https://evil.test", false},
		{"::not a url", false},
	} {
		r := httptest.NewRequest(http.MethodGet, "http://gw.test/v1/ws", nil)
		if tc.origin != "" {
			r.Header.Set("Origin", tc.origin)
		}
		err := checkOrigin(r, allowed)
		var f *messages.Failure
		switch {
		case tc.ok && err != nil:
			t.Errorf("origin %q refused: %v", tc.origin, err)
		case !tc.ok && (!errors.As(err, &f) || f.Code != messages.CodeForbidden):
			t.Errorf("origin %q: %v, want a forbidden failure", tc.origin, err)
		}
	}
}

// TestPlainRequestsGoToTheGatewaysWriter: a request that is no upgrade is refused through the
// error writer the handler was given, with no upgrade attempted.
func TestPlainRequestsGoToTheGatewaysWriter(t *testing.T) {
	var got error
	h := New(Config{}, Deps{Fail: func(_ http.ResponseWriter, _ *http.Request, err error) { got = err }})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/ws", nil))
	var f *messages.Failure
	if !errors.As(got, &f) || f.Code != messages.CodeUpgradeRequired {
		t.Errorf("refused with %v, want upgrade_required", got)
	}
	if rec.Header().Get("Upgrade") != "websocket" {
		t.Errorf("Upgrade header %q, want websocket", rec.Header().Get("Upgrade"))
	}
}

func TestHeaderHasToken(t *testing.T) {
	h := http.Header{"Connection": {"keep-alive, Upgrade"}}
	if !headerHasToken(h, "Connection", "upgrade") || headerHasToken(h, "Connection", "close") {
		t.Errorf("tokens of %q misread", h.Get("Connection"))
	}
}

// TestFramesWrittenWholeReadAsMessages: messages framed once by textFrame and written through
// the wire read back, at every length encoding, as the client library reads them.
func TestFramesWrittenWholeReadAsMessages(t *testing.T) {
	sizes := []int{0, 1, 125, 126, 1000, 65535, 65536, 70000}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hj := &hijacker{ResponseWriter: w, timeout: 5 * time.Second}
		c, err := websocket.Accept(hj, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		var frames [][]byte
		for _, n := range sizes {
			frames = append(frames, textFrame(bytes.Repeat([]byte{'a' + byte(n%26)}, n)))
		}
		_ = hj.wire.writeFrames(frames[:1])
		_ = hj.wire.writeFrames(frames[1:])
		_, _, _ = c.Read(r.Context()) // until the client leaves
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	c.SetReadLimit(1 << 20)
	for _, n := range sizes {
		typ, msg, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("message of %d bytes: %v", n, err)
		}
		if typ != websocket.MessageText || !bytes.Equal(msg, bytes.Repeat([]byte{'a' + byte(n%26)}, n)) {
			t.Errorf("message of %d bytes read as %v of %d bytes", n, typ, len(msg))
		}
	}
}
