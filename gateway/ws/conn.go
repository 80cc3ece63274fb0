package ws

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/forecastd/forecastd/gateway/live"
)

// conn is the transport of a WebSocket session. Its messages are whole frames (see
// textFrame); a batch of them reaches the socket in one write, bounded by the write timeout.
// The library reads, answers pings, pings and closes.
type conn struct {
	conn    *websocket.Conn
	wire    *wire
	timeout time.Duration
}

func (t *conn) Name() string         { return "ws" }
func (t *conn) Format() *live.Format { return Format }

func (t *conn) WriteBatch(frames [][]byte, ping bool) error {
	if err := t.write(frames...); err != nil {
		return err
	}
	if ping {
		ctx, cancel := context.WithTimeout(context.Background(), t.timeout)
		defer cancel()
		if err := t.conn.Ping(ctx); err != nil {
			return fmt.Errorf("%w: %v", live.ErrPingTimeout, err)
		}
	}
	return nil
}

// write sends frames now, in one write to the socket.
func (t *conn) write(frames ...[]byte) error { return t.wire.writeFrames(frames) }

func (t *conn) Close(reason string) {
	t.wire.closing.Store(true) // no message may follow the close frame
	switch reason {
	case live.EndSlowConsumer:
		_ = t.conn.Close(websocket.StatusPolicyViolation, "slow consumer")
	case live.EndShutdown:
		_ = t.conn.Close(websocket.StatusGoingAway, "server shutting down")
	case live.EndReplayFailed:
		_ = t.conn.Close(websocket.StatusInternalError, "reading missed events failed; resubscribe")
	default:
		_ = t.conn.CloseNow()
	}
}

// wire is a session's socket, written by the session's writer (frames of messages) and by
// the library's buffered writer (its control frames: pongs, pings, close frames, each small
// enough to reach the wire in one Write). One lock keeps the two from interleaving.
type wire struct {
	net.Conn
	closing atomic.Bool

	mu       sync.Mutex
	deadline live.Deadline // under mu
}

func newWire(conn net.Conn, timeout time.Duration) *wire {
	return &wire{Conn: conn, deadline: live.Deadline{Set: conn.SetWriteDeadline, Timeout: timeout}}
}

// batches are the buffers of batches being written, shared by all sessions: an idle session
// holds none.
var batches = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

// maxPooledBatch bounds the buffers kept for reuse; a larger one (a big forecast) goes.
const maxPooledBatch = 64 << 10

func (w *wire) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.deadline.Extend()
	return w.Conn.Write(p)
}

func (w *wire) writeFrames(frames [][]byte) error {
	var out []byte
	if len(frames) == 1 {
		out = frames[0]
	} else {
		b := batches.Get().(*[]byte)
		defer func() {
			if cap(*b) <= maxPooledBatch {
				*b = (*b)[:0]
				batches.Put(b)
			}
		}()
		for _, f := range frames {
			*b = append(*b, f...)
		}
		out = *b
	}
	if len(out) == 0 {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	// Checked under the lock: a close frame written meanwhile went out first.
	if w.closing.Load() {
		return net.ErrClosed
	}
	w.deadline.Extend()
	_, err := w.Conn.Write(out)
	return err
}

// hijacker gives websocket.Accept the hijacked connection with small buffers in place of
// net/http's 4 KiB pair, which would otherwise stay with the session for its life, writing
// through the session's wire.
type hijacker struct {
	http.ResponseWriter
	timeout time.Duration
	wire    *wire // set by Hijack
}

func (h *hijacker) Unwrap() http.ResponseWriter { return h.ResponseWriter }

func (h *hijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	// Bytes the client sent right after its handshake are already buffered: keep them first.
	// (websocket.Accept then resets the reader onto a MultiReader of what is buffered and conn
	// whatever is given here, so the condition below spares a copy, not memory.)
	pending, _ := brw.Reader.Peek(brw.Reader.Buffered())
	var src io.Reader = conn
	if len(pending) > 0 {
		src = io.MultiReader(bytes.NewReader(bytes.Clone(pending)), conn)
	}
	r := bufio.NewReaderSize(src, max(readBufferSize, len(pending)))
	if len(pending) > 0 {
		if _, err := r.Peek(len(pending)); err != nil {
			conn.Close()
			return nil, nil, err
		}
	}
	h.wire = newWire(conn, h.timeout)
	return conn, bufio.NewReadWriter(r, bufio.NewWriterSize(h.wire, writeBufferSize)), nil
}
