package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/forecastd/forecastd/messages"
	"github.com/forecastd/forecastd/store"
)

// eventID is a parsed store event ID, "<ms>-<seq>"; IDs increase along the feed.
// eventID is a parsed event ID; the store defines their order.
type eventID = store.EventID

func parseEventID(s string) (eventID, bool) {
	id, err := store.ParseEventID(s)
	return id, err == nil
}

// hubEvent is one model event, encoded once for every session that gets it.
type hubEvent struct {
	store.Event
	id  eventID
	sse []byte // the whole SSE frame: id, event, data
	ws  []byte // the whole WebSocket message
}

func newHubEvent(ev store.Event) *hubEvent {
	id, _ := parseEventID(ev.ID)
	data := eventData(ev)
	return &hubEvent{Event: ev, id: id, sse: sseFrame(ev.ID, ev.Type, data), ws: wsEventMessage(ev.ID, ev.Type, data)}
}

// resetEvent tells a session that events after lastID are no longer retained; oldest is the
// oldest one that is ("" when none is).
//
// Its id (SSE id:, WebSocket event_id) is from, the point the stream goes on from, so a client
// reconnecting after it resumes there instead of being reset again.
func resetEvent(from, lastID, oldest, reason string) *hubEvent {
	data := messages.JSON(map[string]any{"last_event_id": lastID, "oldest_event_id": oldest, "reason": reason})
	return &hubEvent{Event: store.Event{Type: "reset"}, sse: sseFrame(from, "reset", data), ws: wsEventMessage(from, "reset", data)}
}

// eventData is the public JSON of an event: model, generation, type, time and job_id, plus the
// fields of the event's own data (method, error, progress…).
func eventData(ev store.Event) json.RawMessage {
	fields := map[string]any{}
	if len(ev.Data) > 0 {
		var extra map[string]json.RawMessage
		if json.Unmarshal(ev.Data, &extra) == nil {
			for k, v := range extra {
				fields[k] = v
			}
		} else {
			fields["detail"] = ev.Data
		}
	}
	fields["model"], fields["generation"], fields["type"], fields["time"] = ev.Model, ev.Generation, ev.Type, ev.Time
	if ev.JobID != "" {
		fields["job_id"] = ev.JobID
	}
	return messages.JSON(fields)
}

func sseFrame(id, name string, data []byte) []byte {
	b := make([]byte, 0, len(data)+len(id)+len(name)+24)
	if id != "" {
		b = append(append(append(b, "id: "...), id...), '\n')
	}
	b = append(append(append(b, "event: "...), name...), '\n')
	b = append(append(append(b, "data: "...), data...), "\n\n"...)
	return b
}

// sseStream is the transport of a GET /v1/events session. The gateway hijacks the connection
// and writes the stream itself (HTTP/1.1, delimited by the connection's end), so an idle stream
// needs no goroutine and no net/http buffers. Without hijacking (e.g. HTTP/2) the handler's
// goroutine stays and writes through the ResponseWriter.
type sseStream struct {
	conn    net.Conn                 // hijacked; nil when writing through the ResponseWriter
	w       http.ResponseWriter      // otherwise
	rc      *http.ResponseController // otherwise
	timeout time.Duration
}

func (t *sseStream) name() string               { return "sse" }
func (t *sseStream) encode(ev *hubEvent) []byte { return ev.sse }

func (t *sseStream) writeBatch(msgs [][]byte, ping bool) error {
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

func (t *sseStream) write(b []byte) error {
	deadline := time.Now().Add(t.timeout)
	if t.conn != nil {
		_ = t.conn.SetWriteDeadline(deadline)
		_, err := t.conn.Write(b)
		return err
	}
	_ = t.rc.SetWriteDeadline(deadline)
	if _, err := t.w.Write(b); err != nil {
		return err
	}
	return t.rc.Flush()
}

// closeConn ends the stream. A stuck write (slow consumer) fails at once.
func (t *sseStream) closeConn(string) {
	if t.conn != nil {
		_ = t.conn.Close()
		return
	}
	_ = t.rc.SetWriteDeadline(time.Now())
}

// sseHeader starts a hijacked stream: the response head, then the reconnection hint.
func sseHeader(retry time.Duration) []byte {
	return fmt.Appendf(nil, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-store\r\n"+
		"X-Accel-Buffering: no\r\nConnection: close\r\n\r\nretry: %d\n\n", retry.Milliseconds())
}

// handleEvents streams model events as SSE. Each event carries its store ID; a client that
// reconnects with Last-Event-ID (or ?last_event_id=) gets every event it missed once, in order,
// replayed from the store, then the live ones, or an explicit reset event when its ID is older
// than the retained history.
func (g *Gateway) handleEvents(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	models := q["model"]
	for _, m := range models {
		if p := messages.ValidModelName(m); p != "" {
			g.writeError(w, r, messages.Invalid("model", "%q %s", m, p))
			return
		}
	}
	last := r.Header.Get("Last-Event-ID")
	if last == "" {
		last = q.Get("last_event_id")
	}
	var lastID eventID
	if last != "" {
		var ok bool
		if lastID, ok = parseEventID(last); !ok {
			g.writeError(w, r, messages.Invalid("last_event_id", "must be an event id as sent in the stream's id: lines, like 1718000000000-0"))
			return
		}
	}
	if !g.hub.ready() {
		g.writeError(w, r, messages.Errorf(messages.CodeUnavailable, nil, "the event feed is not reachable yet; retry shortly"))
		return
	}
	retry := orDefault(g.cfg.SSERetry, 2*time.Second)
	t := &sseStream{timeout: orDefault(g.cfg.WriteTimeout, 10*time.Second)}
	// A hijacked stream has no goroutine reading it, so only writes notice a client that left:
	// without heartbeats to write, keep the handler, which sees the request end, instead.
	if g.cfg.Heartbeat > 0 {
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			t.conn = conn
		}
	}
	if t.conn == nil {
		t.w, t.rc = w, http.NewResponseController(w)
	}
	s := g.newSession(t)
	if t.conn == nil {
		s.wake = make(chan struct{}, 1)
	}
	// Live events wait until the response head (and any replay) is written.
	s.gate(lastID, nil)
	cursor := s.open(len(models) == 0, models)

	var err error
	if t.conn != nil {
		err = t.write(sseHeader(retry))
	} else {
		sw := startSSE(w)
		err = sw.retry(retry)
	}
	if err != nil {
		s.end(endClient)
		return
	}
	sent := lastID
	if last != "" {
		if sent, err = g.resume(g.root, last, cursor, modelFilter(models), t); err != nil {
			g.log.Debug("sse replay failed", "err", err)
			s.end(endReplayFailed)
			return
		}
	}
	s.ungate(sent)
	if t.conn != nil {
		return // the session lives on without this goroutine
	}
	for {
		select {
		case <-s.wake:
			s.flushOnce()
		case <-s.done:
			return
		case <-r.Context().Done():
			s.end(endClient)
			return
		}
	}
}

// resume writes what a session resuming after last missed: the stored events after it up to
// cursor (the hub's position when the session attached, after which live events take over) of
// the models in want (nil: all). It returns the newest ID the client then has. A resume point
// the store no longer retains gets a reset event instead.
func (g *Gateway) resume(ctx context.Context, last, cursor string, want func(string) bool, t transport) (eventID, error) {
	ctx, cancel := context.WithTimeout(ctx, orDefault(g.cfg.RequestTimeout, time.Minute))
	defer cancel()
	sent, _ := parseEventID(last)
	end, ok := parseEventID(cursor)
	if ok && end.After(sent) {
		return g.replay(ctx, last, end, want, t)
	}
	// Nothing was fanned out after last yet: live events cover the rest, if last is retained.
	_, err := g.deps.Store.Events(ctx, last, 1)
	switch {
	case errors.Is(err, store.ErrEventsGone):
		// The hub's cursor is no older than last here (or not known yet, just after start):
		// the point to go on from is the newest event the store has.
		from := cursor
		if newest, err := g.deps.Store.LastEventID(ctx); err == nil && newest != "" {
			from = newest
		}
		ev := resetEvent(from, last, g.oldestEventID(ctx), "events after last_event_id are no longer retained; reload state, then follow from here")
		return sent, t.writeBatch([][]byte{t.encode(ev)}, false)
	case err != nil:
		return sent, fmt.Errorf("check resume point %s: %w", last, err) // the client retries
	}
	return sent, nil
}

// replay writes through t, a page at a time, the stored events after last up to end whose
// model is in want (nil: all), and returns the newest ID passed. A resume point older than the
// retained history gets a reset event instead.
func (g *Gateway) replay(ctx context.Context, last string, end eventID, want func(string) bool, t transport) (eventID, error) {
	sent, _ := parseEventID(last)
	after := last
	for range 10_000 { // bounded: 5M events
		evs, err := g.deps.Store.Events(ctx, after, eventPage)
		if errors.Is(err, store.ErrEventsGone) {
			ev := resetEvent(end.String(), last, g.oldestEventID(ctx), "events after last_event_id are no longer retained; reload state, then follow from here")
			return end, t.writeBatch([][]byte{t.encode(ev)}, false)
		}
		if err != nil {
			return sent, fmt.Errorf("replay events after %s: %w", after, err)
		}
		done := len(evs) < eventPage
		var page [][]byte
		for _, ev := range evs {
			id, _ := parseEventID(ev.ID)
			if id.After(end) {
				done = true
				break
			}
			after, sent = ev.ID, id
			if want == nil || want(ev.Model) {
				page = append(page, t.encode(newHubEvent(ev)))
			}
		}
		if len(page) > 0 {
			if err := t.writeBatch(page, false); err != nil {
				return sent, err
			}
		}
		if done {
			break
		}
	}
	return sent, nil
}

// sessionClosed counts an ended live session by reason.
func (g *Gateway) sessionClosed(transport, reason string) {
	g.metrics.sessionsClosed.WithLabelValues(transport, reason).Inc()
}

// modelFilter accepts the named models, or every model when none is named.
func modelFilter(models []string) func(string) bool {
	if len(models) == 0 {
		return nil
	}
	set := modelSet(models)
	return func(model string) bool { return set[model] }
}

func modelSet(models []string) map[string]bool {
	if len(models) == 0 {
		return nil
	}
	set := make(map[string]bool, len(models))
	for _, m := range models {
		set[m] = true
	}
	return set
}
