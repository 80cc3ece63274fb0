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
	"time"

	"github.com/coder/websocket"

	"github.com/forecastd/forecastd/gateway/live"
)

// conn is the transport of a WebSocket session. The library frames every message; a batch of
// them reaches the socket in one write, bounded by the write timeout (see wire). No message is
// written under a context deadline, which would cost a timer and a context each.
type conn struct {
	conn    *websocket.Conn
	wire    *wire
	timeout time.Duration
}

func (t *conn) Name() string         { return "ws" }
func (t *conn) Format() *live.Format { return Format }

func (t *conn) WriteBatch(msgs [][]byte, ping bool) error {
	if err := t.write(msgs...); err != nil {
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

// write sends msgs now, in one write to the socket.
func (t *conn) write(msgs ...[]byte) error {
	t.wire.cork()
	for _, m := range msgs {
		if err := t.conn.Write(context.Background(), websocket.MessageText, m); err != nil {
			t.wire.uncork(false)
			return err
		}
	}
	return t.wire.uncork(true)
}

func (t *conn) Close(reason string) {
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

// wire is the socket under the library's buffered writer. Corked, it collects what is written,
// so that a batch of messages costs one write system call; uncorked (the frames the library
// writes by itself: pongs, close frames) it writes through, within the write timeout.
type wire struct {
	net.Conn
	timeout time.Duration

	mu    sync.Mutex
	batch *[]byte // non-nil while corked
}

// batches are the buffers of batches being written, shared by all sessions: an idle session
// holds none.
var batches = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

// maxPooledBatch bounds the buffers kept for reuse; a larger one (a big forecast) goes.
const maxPooledBatch = 64 << 10

func (w *wire) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.batch != nil {
		*w.batch = append(*w.batch, p...)
		return len(p), nil
	}
	_ = w.Conn.SetWriteDeadline(time.Now().Add(w.timeout))
	return w.Conn.Write(p)
}

func (w *wire) cork() {
	b := batches.Get().(*[]byte)
	w.mu.Lock()
	w.batch = b
	w.mu.Unlock()
}

// uncork writes what was collected in one write (or drops it, when !send) and writes through
// again.
func (w *wire) uncork(send bool) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	b := w.batch
	w.batch = nil
	defer func() {
		if cap(*b) <= maxPooledBatch {
			*b = (*b)[:0]
			batches.Put(b)
		}
	}()
	if !send || len(*b) == 0 {
		return nil
	}
	_ = w.Conn.SetWriteDeadline(time.Now().Add(w.timeout))
	_, err := w.Conn.Write(*b)
	return err
}

// hijacker gives websocket.Accept the hijacked connection with small buffers in place of
// net/http's 4 KiB pair, which would otherwise stay with the session for its life, and its
// writes going through a wire.
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
	pending, _ := brw.Reader.Peek(brw.Reader.Buffered())
	pending = bytes.Clone(pending)
	r := bufio.NewReaderSize(io.MultiReader(bytes.NewReader(pending), conn), max(readBufferSize, len(pending)))
	if len(pending) > 0 {
		if _, err := r.Peek(len(pending)); err != nil {
			conn.Close()
			return nil, nil, err
		}
	}
	h.wire = &wire{Conn: conn, timeout: h.timeout}
	return conn, bufio.NewReadWriter(r, bufio.NewWriterSize(h.wire, writeBufferSize)), nil
}
