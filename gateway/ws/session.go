package ws

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/coder/websocket"

	"github.com/forecastd/forecastd/gateway/auth"
	"github.com/forecastd/forecastd/gateway/live"
	"github.com/forecastd/forecastd/messages"
)

// session is one WebSocket session. A goroutine reads client messages; writes go through the
// live session's queue, so an idle session costs that goroutine, the connection's buffers and
// these structs.
type session struct {
	*live.Session
	h        *Handler
	t        *conn
	inFlight atomic.Int32
	client   string     // the client's address, for the per-client rate limit
	scope    auth.Scope // what the session's token allows

	inboxMu    sync.Mutex
	inbox      [][]byte // client messages waiting to be handled, in order
	inboxBytes int      // their sizes together
	working    bool     // a worker goroutine is handling the inbox

	// Subscriptions; only the worker handling client messages (one at a time) touches them.
	all bool
	// models are the subjects followed by name (model names and live.BatchSubject), sorted: a
	// slice, since most sessions follow one or a few and a map would cost each about 200 bytes.
	models []string
}

// read takes client messages until the connection ends. Those waiting to be handled are
// bounded in number (inboxSize) and in bytes (the read limit; one message is always taken): a
// client sending faster than they are handled gets an error for each one dropped, and a session
// holds at most about twice the read limit. It never waits for one to be handled:
// the library answers pings and takes pongs only while a Read is under way, so a slow command
// must not stall it. Messages are handled in order by a worker goroutine that exists only while
// there are some (decoding and answering need a deep stack; this goroutine keeps a small one).
func (s *session) read() {
	ctx := context.Background()
	for range math.MaxInt {
		typ, msg, err := s.t.conn.Read(ctx)
		if err != nil {
			s.End(live.EndClient)
			return
		}
		if typ != websocket.MessageText {
			s.sendError(idOf(msg), "binary messages are not understood; send JSON text messages")
			continue
		}
		s.inboxMu.Lock()
		if len(s.inbox) >= inboxSize || len(s.inbox) > 0 && s.inboxBytes+len(msg) > int(s.h.cfg.ReadLimit) {
			s.inboxMu.Unlock()
			s.sendError(idOf(msg), fmt.Sprintf("%d messages of %d bytes in all are waiting to be handled (at most %d messages, %d bytes); this one was dropped",
				len(s.inbox), s.inboxBytes, inboxSize, s.h.cfg.ReadLimit))
			continue
		}
		s.inbox = append(s.inbox, msg)
		s.inboxBytes += len(msg)
		start := !s.working
		s.working = true
		s.inboxMu.Unlock()
		if start {
			go s.work()
		}
	}
}

// work handles queued client messages in order, then ends.
func (s *session) work() {
	for {
		s.inboxMu.Lock()
		if len(s.inbox) == 0 {
			s.working = false
			s.inboxMu.Unlock()
			return
		}
		msg := s.inbox[0]
		s.inbox[0] = nil // the array outlives the message otherwise
		s.inbox = s.inbox[1:]
		s.inboxBytes -= len(msg)
		s.inboxMu.Unlock()
		s.handleSafely(msg)
	}
}

// handleSafely handles one message; a panic costs that message an error, not the gateway.
func (s *session) handleSafely(msg []byte) {
	defer func() {
		if v := recover(); v != nil {
			s.h.deps.Log.Error("websocket message handler panic", "panic", v)
			s.sendError(idOf(msg), "internal error handling the message")
		}
	}()
	s.handle(msg)
}

// handle answers one client message, echoing its id. Nothing a client sends ends the session
// by itself, but a message over the read limit, which the library answers by closing the
// connection with 1009 (message too big).
func (s *session) handle(msg []byte) {
	var h header
	if err := messages.DecodeHeader(msg, &h); err != nil {
		s.sendError(idOf(msg), "malformed message: "+describe(err))
		return
	}
	id := echoID(h.ID)
	if id == nil {
		s.sendError(nil, idProblem(h.ID))
		return
	}
	h.ID = id
	switch h.Type {
	case "fit":
		if s.scope < auth.ScopeWrite {
			s.sendFailure(h.ID, auth.ErrScope(s.scope, auth.ScopeWrite))
			return
		}
		var m fitMessage
		if decode(s, msg, &m, h.ID) {
			s.startJob(h.ID, m.Model, func() (Wait, error) { return s.h.deps.Commands.Fit(m.Model, m.FitRequest) })
		}
	case "forecast":
		var m forecastMessage
		if decode(s, msg, &m, h.ID) {
			s.startJob(h.ID, m.Model, func() (Wait, error) { return s.h.deps.Commands.Forecast(m.Model, m.ForecastRequest) })
		}
	case "subscribe":
		var m subscribeMessage
		if decode(s, msg, &m, h.ID) {
			s.subscribe(m)
		}
	case "unsubscribe":
		var m unsubscribeMessage
		if decode(s, msg, &m, h.ID) {
			s.unsubscribe(m)
		}
	case "ping":
		var m pingMessage
		if decode(s, msg, &m, h.ID) {
			s.reply(out{Type: "pong", ID: h.ID})
		}
	case "":
		s.sendError(h.ID, `message has no "type"; use fit, forecast, subscribe, unsubscribe or ping`)
	default:
		s.sendError(h.ID, fmt.Sprintf("unknown message type %q; use fit, forecast, subscribe, unsubscribe or ping", h.Type))
	}
}

// idOf is a client message's id as its replies echo it (see echoID), as far as it can be
// read: nil when msg is no JSON object. A field of the wrong type does not keep the id from
// being read.
func idOf(msg []byte) json.RawMessage {
	var h header
	_ = json.Unmarshal(msg, &h)
	return echoID(h.ID)
}

// echoID is a message's id as replies echo it: a number as given, a string encoded again, so
// that bytes of the client's that are not UTF-8 do not make the reply an invalid text message
// (which a browser answers by closing the session); nil for anything else.
func echoID(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 {
		return nil
	}
	switch c := raw[0]; {
	case c == '"':
		var id string
		if json.Unmarshal(raw, &id) != nil {
			return nil
		}
		return messages.JSON(id)
	case c == '-' || '0' <= c && c <= '9':
		return raw
	}
	return nil
}

// idProblem says what is wrong with raw, a message's id that echoID refuses.
func idProblem(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return `message has no "id"; give every message an id (a string or a number), which the replies to it echo`
	}
	return `"id" must be a string or a number`
}

// decode decodes msg strictly into v, like the HTTP bodies it mirrors; a message that does
// not decode is answered as HTTP would answer its body.
func decode(s *session, msg []byte, v any, id json.RawMessage) bool {
	if err := messages.DecodeRequest(msg, v); err != nil {
		s.sendFailure(id, messages.RenameField(err, "body", "message")) // a message has no body
		return false
	}
	return true
}

// describe is a decoding failure in the words written for clients.
func describe(err error) string {
	var f *messages.Failure
	if errors.As(err, &f) {
		if p, ok := f.Problems["body"]; ok && len(f.Problems) == 1 {
			return p // the problem of the whole message
		}
		return f.Describe()
	}
	return "not a JSON object"
}

// startJob starts a fit or forecast aside from the read loop, then relays its steps and
// result. A client that leaves mid-job can still read the outcome at /v1/jobs/{id}.
func (s *session) startJob(id json.RawMessage, model string, start func() (Wait, error)) {
	if p := messages.ValidModelName(model); p != "" {
		s.sendFailure(id, messages.Invalid("model", "%s", p))
		return
	}
	if err := s.h.deps.Commands.Allow(s.client); err != nil {
		s.sendFailure(id, err)
		return
	}
	if s.inFlight.Add(1) > maxInFlight {
		s.inFlight.Add(-1)
		s.sendFailure(id, messages.FailField(messages.CodeRateLimited, "rate", "at most %d fits and forecasts may run at once on one session", maxInFlight))
		return
	}
	// Accept in the order the client sent; only the wait for the outcome runs on its own.
	wait, err := start()
	if err != nil {
		s.inFlight.Add(-1)
		s.sendFailure(id, err)
		return
	}
	go func() {
		defer s.inFlight.Add(-1)
		status, body, ok := wait(s.Done(), func(kind string, data json.RawMessage) {
			switch kind {
			case "accepted", "progress", "held":
				s.reply(out{Type: kind, ID: id, Data: data})
			}
		})
		if ok {
			s.sendResult(id, status, body)
		}
	}()
}

func (s *session) subscribe(m subscribeMessage) {
	if !s.h.deps.Hub.Ready() {
		s.sendFailure(m.ID, messages.Errorf(messages.CodeUnavailable, nil, "the event feed is not reachable yet; subscribe again shortly"))
		return
	}
	subjects, err := subjectsOf(m.Models, m.Batches)
	if err != nil {
		s.sendFailure(m.ID, err)
		return
	}
	var last live.EventID
	if m.LastEventID != "" {
		var ok bool
		if last, ok = live.ParseEventID(m.LastEventID); !ok {
			s.sendFailure(m.ID, messages.Invalid("last_event_id", "must be an event id as sent in event_id, like 1718000000000-0"))
			return
		}
	}
	if len(s.models)+len(subjects) > maxModels {
		field := "batches" // what tipped the count over: the batches, unless the models alone do
		if len(s.models)+len(m.Models) > maxModels {
			field = "models"
		}
		s.sendFailure(m.ID, messages.Invalid(field, "one session may follow at most %d models and batches by name; subscribe with neither to follow all", maxModels))
		return
	}
	wasAll := s.all
	var had map[string]bool // the models followed before, which need no replay
	if len(s.models) > 0 {
		had = make(map[string]bool, len(s.models))
		for _, name := range s.models {
			had[name] = true
		}
	}
	all := s.all || len(subjects) == 0
	var added []string
	for _, name := range subjects {
		if i, ok := slices.BinarySearch(s.models, name); !ok {
			s.models = slices.Insert(s.models, i, name)
			added = append(added, name)
		}
	}
	newAll := all && !wasAll
	s.all = all
	// Replay only what this subscription adds: everything not followed before (newly all), or
	// the newly named models. A session that already followed everything missed nothing.
	var filter func(string) bool
	if newAll {
		filter = func(model string) bool { return !had[model] }
	} else {
		addedSet := live.ModelSet(added)
		filter = func(model string) bool { return addedSet[model] }
	}
	replay := m.LastEventID != "" && !wasAll && (newAll || len(added) > 0)
	if replay {
		var skip map[string]bool // live events of these models up to last duplicate the replay
		if !newAll {
			skip = live.ModelSet(added)
		}
		s.Gate(last, skip)
	}
	cursor := s.Follow(all, added, nil)
	ack := s.subscriptionResult(m.ID, cursor)
	if !replay {
		s.Send(ack)
		return
	}
	// The acknowledgement and the missed events go out directly, ahead of the live events
	// held back meanwhile.
	sent := last
	err = s.t.write(ack)
	if err == nil {
		sent, err = s.Resume(m.LastEventID, cursor, filter)
	}
	s.Ungate(sent)
	if err != nil {
		s.End(live.EndReplayFailed)
	}
}

// subjectsOf are the subjects a subscribe or unsubscribe names: its models and batches.
func subjectsOf(models, batches []string) ([]string, error) {
	return live.Subjects(models, batches, "models", "batches")
}

func (s *session) unsubscribe(m unsubscribeMessage) {
	subjects, err := subjectsOf(m.Models, m.Batches)
	if err != nil {
		s.sendFailure(m.ID, err)
		return
	}
	var removed []string
	if len(subjects) == 0 {
		s.all = false
		removed, s.models = s.models, nil
	} else {
		for _, name := range subjects {
			if i, ok := slices.BinarySearch(s.models, name); ok {
				s.models = slices.Delete(s.models, i, i+1)
				removed = append(removed, name)
			}
		}
	}
	cursor := s.Follow(s.all, nil, removed)
	s.Send(s.subscriptionResult(m.ID, cursor))
}

// subscriptionResult acknowledges a subscribe or unsubscribe, as a frame, with the session's
// subscriptions and the newest event ID already sent (events after it will follow).
func (s *session) subscriptionResult(id json.RawMessage, cursor string) []byte {
	models, batches := []string{}, []string{}
	for _, subject := range s.models {
		if b, ok := live.BatchOf(subject); ok {
			batches = append(batches, b)
		} else {
			models = append(models, subject)
		}
	}
	return textFrame(messages.JSON(out{Type: "result", ID: id, Status: messages.StatusSuccess,
		Data: messages.JSON(map[string]any{"all_models": s.all, "models": models, "batches": batches, "last_event_id": cursor})}))
}

// sendResult sends a job's outcome: the JSend body's fields inline.
func (s *session) sendResult(id json.RawMessage, status int, body messages.Envelope) {
	o := out{Type: "result", ID: id, Status: body.Status, Data: body.Data, Message: body.Message, Code: body.Code}
	if body.Status == messages.StatusError && o.Code == 0 {
		o.Code = status
	}
	s.reply(o)
}

// sendFailure answers a request that could not be accepted exactly as HTTP would.
func (s *session) sendFailure(id json.RawMessage, err error) {
	status, body := s.h.deps.Answer(err, "transport", "ws")
	s.sendResult(id, status, body)
}

// sendError reports a message the session could not understand.
func (s *session) sendError(id json.RawMessage, message string) {
	s.reply(out{Type: "error", ID: id, Message: message})
}

func (s *session) reply(o out) { s.Send(textFrame(messages.JSON(o))) }
