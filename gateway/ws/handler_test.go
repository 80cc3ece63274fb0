package ws

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
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

// serveWS serves WebSocket sessions over the hijacker as the handler does, with serve taking
// each accepted connection.
func serveWS(t *testing.T, serve func(r *http.Request, c *websocket.Conn, hj *hijacker)) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hj := &hijacker{ResponseWriter: w, timeout: 5 * time.Second}
		c, err := websocket.Accept(hj, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		serve(r, c, hj)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// rawHandshake is a client's WebSocket handshake, written by hand.
const rawHandshake = "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
	"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"

// dialRaw connects to srv, writes the handshake followed by extra in one write and reads the
// server's answer to it: the connection and its reader, to read frames from.
func dialRaw(t *testing.T, srv *httptest.Server, extra []byte) (net.Conn, *bufio.Reader) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Write(append([]byte(rawHandshake), extra...)); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: %v %v", resp, err)
	}
	return conn, br
}

// maskedFrame is a client's frame (FIN and opcode op) of a short payload: a client masks its
// frames.
func maskedFrame(op byte, s string) []byte {
	key := []byte{1, 2, 3, 4}
	b := append([]byte{0x80 | op, 0x80 | byte(len(s))}, key...)
	for i := range len(s) {
		b = append(b, s[i]^key[i%4])
	}
	return b
}

// TestFramesWrittenWholeReadAsMessages: messages framed once by textFrame and written through
// the wire read back, at every length encoding, as the client library reads them.
func TestFramesWrittenWholeReadAsMessages(t *testing.T) {
	sizes := []int{0, 1, 125, 126, 1000, 65535, 65536, 70000}
	srv := serveWS(t, func(r *http.Request, c *websocket.Conn, hj *hijacker) {
		var frames [][]byte
		for _, n := range sizes {
			frames = append(frames, textFrame(bytes.Repeat([]byte{'a' + byte(n%26)}, n)))
		}
		_ = hj.wire.writeFrames(frames[:1])
		_ = hj.wire.writeFrames(frames[1:])
		_, _, _ = c.Read(r.Context()) // until the client leaves
	})
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

const (
	opText = 0x1
	opPing = 0x9
	opPong = 0xA
)

// A client may send its first message in the same packet as its handshake: the bytes net/http
// had already buffered are read first, then the connection. Both cases: a message in the
// handshake's write, and one sent after it.
func TestMessagesSentWithTheHandshakeAreRead(t *testing.T) {
	for _, together := range []bool{true, false} {
		got := make(chan string, 2)
		srv := serveWS(t, func(r *http.Request, c *websocket.Conn, _ *hijacker) {
			for range 2 {
				_, msg, err := c.Read(r.Context())
				if err != nil {
					return
				}
				got <- string(msg)
			}
		})
		first, second := maskedFrame(opText, "first"), maskedFrame(opText, "second")
		var conn net.Conn
		if together {
			conn, _ = dialRaw(t, srv, first)
		} else {
			conn, _ = dialRaw(t, srv, nil)
			if _, err := conn.Write(first); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := conn.Write(second); err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"first", "second"} {
			select {
			case msg := <-got:
				if msg != want {
					t.Errorf("together=%v: read %q, want %q", together, msg, want)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("together=%v: %q never read", together, want)
			}
		}
	}
}

// The largest control frame the library writes (a pong to a ping of 125 bytes, the most a
// control frame carries) goes out through its small write buffer in one write to the wire, as
// the library writes it (header, payload, flush), and reaches the client whole.
func TestLargestPongIsOneWrite(t *testing.T) {
	var w countWrites
	bw := bufio.NewWriterSize(&w, writeBufferSize)
	_, _ = bw.Write([]byte{0x80 | opPong, 125})
	_, _ = bw.Write(bytes.Repeat([]byte{'p'}, 125))
	if err := bw.Flush(); err != nil || w.n != 1 {
		t.Errorf("a 127-byte frame took %d writes (err %v), want 1", w.n, err)
	}
	var onWire atomic.Int32
	srv := serveWS(t, func(r *http.Request, c *websocket.Conn, hj *hijacker) {
		// Nothing has been written through the wire yet: the pong is the first write.
		hj.wire.Conn = &countedConn{Conn: hj.wire.Conn, n: &onWire}
		_, _, _ = c.Read(r.Context()) // answers pings until the client leaves
	})
	payload := strings.Repeat("p", 125)
	_, br := dialRaw(t, srv, maskedFrame(opPing, payload))
	pong := make([]byte, 2+len(payload))
	if _, err := io.ReadFull(br, pong); err != nil {
		t.Fatal(err)
	}
	if pong[0] != 0x80|opPong || pong[1] != byte(len(payload)) || string(pong[2:]) != payload {
		t.Errorf("pong frame % x…, want 8a 7d and the ping's payload", pong[:4])
	}
	// The whole pong has arrived, so every write it took has returned.
	if n := onWire.Load(); n != 1 {
		t.Errorf("the pong took %d writes to the socket, want 1", n)
	}
}

type countWrites struct{ n int }

func (c *countWrites) Write(p []byte) (int, error) { c.n++; return len(p), nil }

// countedConn counts the writes to its connection.
type countedConn struct {
	net.Conn
	n *atomic.Int32
}

func (c *countedConn) Write(p []byte) (int, error) { c.n.Add(1); return c.Conn.Write(p) }
