// Package sse serves model events as Server-Sent Events (GET /v1/events): headers, the
// reconnection hint, Last-Event-ID resumes and the stream itself, written by a live.Session.
// Writer also serves the gateway's command streams.
package sse

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/forecastd/forecastd/gateway/live"
	"github.com/forecastd/forecastd/messages"
)

// Format is the SSE encoding of events: one whole frame each.
var Format = &live.Format{Encode: frame}

// Handler serves event streams.
type Handler struct {
	cfg  Config
	hub  *live.Hub
	fail func(http.ResponseWriter, *http.Request, error)
	log  *slog.Logger
}

// New builds the handler; fail answers a request refused before its stream starts.
func New(cfg Config, hub *live.Hub, fail func(http.ResponseWriter, *http.Request, error), log *slog.Logger) *Handler {
	return &Handler{cfg: cfg.withDefaults(), hub: hub, fail: fail, log: log}
}

// ServeHTTP streams model events. Each event carries its store ID; a client that reconnects
// with Last-Event-ID (or ?last_event_id=) gets every event it missed once, in order, replayed
// from the store, then the live ones, or an explicit reset event when its ID is older than the
// retained history or newer than every stored event.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	subjects, err := live.Subjects(q["model"], q["batch"], "model", "batch")
	if err != nil {
		h.fail(w, r, err)
		return
	}
	last := r.Header.Get("Last-Event-ID")
	if last == "" {
		last = q.Get("last_event_id")
	}
	var lastID live.EventID
	if last != "" {
		var ok bool
		if lastID, ok = live.ParseEventID(last); !ok {
			h.fail(w, r, messages.Invalid("last_event_id", "must be an event id as sent in the stream's id: lines, like 1718000000000-0"))
			return
		}
	}
	if !h.hub.Ready() {
		h.fail(w, r, messages.Errorf(messages.CodeUnavailable, nil, "the event feed is not reachable yet; retry shortly"))
		return
	}
	if r.Method == http.MethodHead {
		Start(w) // the head a stream would have, and no stream: nothing would read it
		return
	}
	t := &stream{name: "sse", timeout: h.cfg.WriteTimeout}
	// Without heartbeats to write, keep the handler, which sees the request end, instead.
	if h.cfg.Heartbeats {
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			t.conn = conn
			t.deadline = live.Deadline{Set: conn.SetWriteDeadline, Timeout: h.cfg.WriteTimeout}
		}
	}
	if t.conn == nil {
		t.w, t.rc = w, http.NewResponseController(w)
	}
	s := h.hub.NewSession(t)
	var wake <-chan struct{}
	if t.conn == nil {
		wake = s.WrittenByCaller()
	}
	// Live events wait until the response head (and any replay) is written. The head is
	// written once the session follows the feed, so a client that has it misses no event
	// after it.
	s.Gate(lastID, nil)
	cursor := s.Open(len(subjects) == 0, subjects)
	// A new session's first block also says where it starts (an id: without data, which sets
	// the client's last event id and is no event): a client cut off before its first event (a
	// slow consumer in a burst) resumes from there instead of from nothing, missing what came.
	start := ""
	if last == "" {
		start = cursor
	}
	if t.conn != nil {
		err = t.writeHead(header(h.cfg.Retry, start))
	} else {
		err = Start(w).RetryFrom(h.cfg.Retry, start)
	}
	if err != nil {
		s.End(live.EndClient)
		return
	}
	sent := lastID
	if last != "" {
		if sent, err = s.Resume(last, cursor, subjectFilter(subjects)); err != nil {
			h.log.Debug("sse replay failed", "err", err)
			s.End(live.EndReplayFailed)
			return
		}
	}
	s.Ungate(sent)
	if t.conn != nil {
		return // the session lives on without this goroutine
	}
	for {
		select {
		case <-wake:
			s.FlushOnce()
		case <-s.Done():
			return
		case <-r.Context().Done():
			s.End(live.EndClient)
			return
		}
	}
}

// stream is the transport of a GET /v1/events session. The handler hijacks the connection and
// writes the stream itself (HTTP/1.1, delimited by the connection's end), so an idle stream
// needs no goroutine and no net/http buffers. Without hijacking (e.g. HTTP/2) the handler's
// goroutine stays and writes through the ResponseWriter.
type stream struct {
	name    string
	conn    net.Conn                 // hijacked; nil when writing through the ResponseWriter
	w       http.ResponseWriter      // otherwise
	rc      *http.ResponseController // otherwise
	timeout time.Duration
	// deadline bounds the writes to conn; only the session's one writer at a time writes.
	deadline live.Deadline

	// A session ended (a flood cut it off, say) before the handler wrote the response head
	// leaves the connection open until the head is out: the client is answered, then the
	// stream ends.
	headMu     sync.Mutex
	headDone   bool
	closeAsked bool
}

// writeHead writes the response head of a hijacked stream, then closes the connection if the
// session ended meanwhile.
func (t *stream) writeHead(b []byte) error {
	err := t.write(b)
	t.headMu.Lock()
	t.headDone = true
	closeNow := t.closeAsked
	t.headMu.Unlock()
	if closeNow {
		_ = t.conn.Close()
		return net.ErrClosed
	}
	return err
}

// NewStream is a transport writing events through w from the handler's goroutine (see
// live.Session.WrittenByCaller), which starts the response (Start) before any event is
// written: a command stream that follows events. name labels its metrics.
func NewStream(w http.ResponseWriter, name string, timeout time.Duration) live.Transport {
	return &stream{name: name, w: w, rc: http.NewResponseController(w), timeout: timeout}
}

func (t *stream) Name() string         { return t.name }
func (t *stream) Format() *live.Format { return Format }

func (t *stream) WriteBatch(msgs [][]byte, ping bool) error {
	var buf []byte
	if len(msgs) == 1 && !ping {
		buf = msgs[0]
	} else {
		for _, m := range msgs {
			buf = append(buf, m...)
		}
		if ping {
			buf = append(buf, ": keep-alive\n\n"...)
		}
	}
	return t.write(buf)
}

func (t *stream) write(b []byte) error {
	if t.conn != nil {
		t.deadline.Extend()
		_, err := t.conn.Write(b)
		return err
	}
	_ = t.rc.SetWriteDeadline(time.Now().Add(t.timeout))
	if _, err := t.w.Write(b); err != nil {
		return err
	}
	return t.rc.Flush()
}

// Close ends the stream. A stuck write (slow consumer) fails at once; a stream that has
// written its last event (live.EndDone, by the handler's goroutine, which writes no more) is
// left for the handler to finish.
func (t *stream) Close(reason string) {
	if t.conn != nil {
		t.headMu.Lock()
		wait := !t.headDone
		t.closeAsked = true
		t.headMu.Unlock()
		if !wait {
			_ = t.conn.Close()
		}
		return
	}
	if reason != live.EndDone {
		_ = t.rc.SetWriteDeadline(time.Now())
	}
}

// header starts a hijacked stream: the response head, then the reconnection hint.
func header(retry time.Duration, start string) []byte {
	return fmt.Appendf(nil, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-store\r\n"+
		"X-Accel-Buffering: no\r\nConnection: close\r\n\r\n%s", retryBlock(retry, start))
}

// subjectFilter accepts the named subjects, or every event when none is named.
func subjectFilter(subjects []string) func(string) bool {
	set := live.ModelSet(subjects)
	if set == nil {
		return nil
	}
	return func(subject string) bool { return set[subject] }
}
