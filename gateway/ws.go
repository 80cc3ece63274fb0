package gateway

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/forecastd/forecastd/gateway/auth"
	"github.com/forecastd/forecastd/gateway/live"
	"github.com/forecastd/forecastd/messages"
)

// wsMaxInFlight bounds the fits and forecasts one WebSocket session may have running at once.
const wsMaxInFlight = 64

// wsConn is the transport of a WebSocket session.
type wsConn struct {
	conn    *websocket.Conn
	timeout time.Duration
}

func (t *wsConn) Name() string         { return "ws" }
func (t *wsConn) Format() *live.Format { return wsFormat }

// wsFormat is the WebSocket encoding of events.
var wsFormat = &live.Format{Encode: wsEventMessage}

func (t *wsConn) WriteBatch(msgs [][]byte, ping bool) error {
	for _, m := range msgs {
		if err := t.write(m); err != nil {
			return err
		}
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

// write sends one message now; on timeout the connection closes.
func (t *wsConn) write(msg []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), t.timeout)
	defer cancel()
	return t.conn.Write(ctx, websocket.MessageText, msg)
}

func (t *wsConn) Close(reason string) {
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

// wsSession is one WebSocket session. A goroutine reads client messages; writes go through the
// session's queue (see session), so an idle session costs that goroutine, the connection's
// buffers and these structs.
type wsSession struct {
	*live.Session
	g        *Gateway
	t        *wsConn
	inFlight atomic.Int32
	client   string     // the client's address, for the per-client rate limit
	scope    auth.Scope // what the session's token allows

	inboxMu sync.Mutex
	inbox   [][]byte // client messages waiting to be handled, in order
	working bool     // a worker goroutine is handling the inbox

	// Subscriptions; only the worker handling client messages (one at a time) touches them.
	all    bool
	models map[string]struct{}
}

// wsOut is a server message: accepted, progress, held, result, error or pong.
type wsOut struct {
	Type    string          `json:"type"`
	ID      json.RawMessage `json:"id,omitempty"`
	Status  string          `json:"status,omitempty"`
	Data    json.RawMessage `json:"data,omitempty"`
	Message string          `json:"message,omitempty"`
	Code    int             `json:"code,omitempty"`
}

// wsEventMessage is a model event as sent to subscribed sessions.
func wsEventMessage(id, name string, data []byte) []byte {
	return messages.JSON(struct {
		Type    string          `json:"type"`
		Event   string          `json:"event"`
		EventID string          `json:"event_id,omitempty"`
		Data    json.RawMessage `json:"data"`
	}{"event", name, id, json.RawMessage(data)})
}

// Client messages. Each is decoded strictly, like the HTTP bodies they mirror.
type (
	wsHeader struct {
		Type string          `json:"type"`
		ID   json.RawMessage `json:"id"`
	}
	wsFit struct {
		Type  string          `json:"type"`
		ID    json.RawMessage `json:"id"`
		Model string          `json:"model"`
		messages.FitRequest
	}
	wsForecast struct {
		Type  string          `json:"type"`
		ID    json.RawMessage `json:"id"`
		Model string          `json:"model"`
		messages.ForecastRequest
	}
	wsSubscribe struct {
		Type        string          `json:"type"`
		ID          json.RawMessage `json:"id"`
		Models      []string        `json:"models"`
		LastEventID string          `json:"last_event_id,omitempty"`
	}
	wsPing struct {
		Type string          `json:"type"`
		ID   json.RawMessage `json:"id"`
	}
)

// handleWS serves one WebSocket session: fits and forecasts answered with accepted, progress,
// held and result messages, and model events for the models the client subscribes to.
func (g *Gateway) handleWS(w http.ResponseWriter, r *http.Request) {
	if !headerHasToken(r.Header, "Connection", "upgrade") || !headerHasToken(r.Header, "Upgrade", "websocket") {
		w.Header().Set("Upgrade", "websocket")
		g.writeError(w, r, messages.FailField(messages.CodeUpgradeRequired, "Upgrade", "this endpoint speaks WebSocket only; send Connection: Upgrade and Upgrade: websocket"))
		return
	}
	if err := checkOrigin(r, g.cfg.AllowedOrigins); err != nil {
		g.writeError(w, r, err)
		return
	}
	// The origin is checked above so that a refusal is a JSend body, not plain text.
	conn, err := websocket.Accept(smallBuffers{w}, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		g.log.Debug("websocket accept", "err", err)
		return
	}
	conn.SetReadLimit(orDefault(g.cfg.WSReadLimit, messages.MaxBodyBytes))
	t := &wsConn{conn: conn, timeout: orDefault(g.cfg.WriteTimeout, 10*time.Second)}
	s := &wsSession{Session: g.hub.NewSession(t), g: g, t: t, client: clientAddr(r), scope: g.tokens.ScopeOf(r.Context())}
	s.Open(false, nil)
	// A fresh goroutine reads, so that this one and the request it served can be released.
	go s.read()
}

// wsMaxModels bounds the models one session follows by name.
const wsMaxModels = 1000

// wsInbox bounds the client messages waiting to be handled; a client that sends faster than
// its commands are accepted gets an error for the excess.
const wsInbox = 64

// read takes client messages until the connection ends. It never waits for one to be handled:
// the library answers pings and takes pongs only while a Read is under way, so a slow command
// must not stall it. Messages are handled in order by a worker goroutine that exists only while
// there are some (decoding and answering need a deep stack; this goroutine keeps a small one).
func (s *wsSession) read() {
	ctx := context.Background()
	for range math.MaxInt {
		typ, msg, err := s.t.conn.Read(ctx)
		if err != nil {
			s.End(live.EndClient)
			return
		}
		if typ != websocket.MessageText {
			s.sendError(nil, "binary messages are not understood; send JSON text messages", nil)
			continue
		}
		s.inboxMu.Lock()
		if len(s.inbox) >= wsInbox {
			s.inboxMu.Unlock()
			s.sendError(nil, fmt.Sprintf("more than %d messages are waiting to be handled; this one was dropped", wsInbox), nil)
			continue
		}
		s.inbox = append(s.inbox, msg)
		start := !s.working
		s.working = true
		s.inboxMu.Unlock()
		if start {
			go s.work()
		}
	}
}

// work handles queued client messages in order, then ends.
func (s *wsSession) work() {
	for {
		s.inboxMu.Lock()
		if len(s.inbox) == 0 {
			s.working = false
			s.inboxMu.Unlock()
			return
		}
		msg := s.inbox[0]
		s.inbox = s.inbox[1:]
		s.inboxMu.Unlock()
		s.handleSafely(msg)
	}
}

// handleSafely handles one message; a panic costs that message an error, not the gateway.
func (s *wsSession) handleSafely(msg []byte) {
	defer func() {
		if v := recover(); v != nil {
			s.g.log.Error("websocket message handler panic", "panic", v)
			s.sendError(nil, "internal error handling the message", nil)
		}
	}()
	s.handle(msg)
}

// handle answers one client message. Nothing a client sends ends the session by itself.
func (s *wsSession) handle(msg []byte) {
	var h wsHeader
	if err := messages.DecodeHeader(msg, &h); err != nil {
		s.sendError(nil, "malformed message: "+failureOf(err).Describe(), nil)
		return
	}
	if len(h.ID) > 0 && !json.Valid(h.ID) {
		h.ID = nil
	}
	switch h.Type {
	case "fit":
		if s.scope < auth.ScopeWrite {
			s.sendFailure(h.ID, auth.ErrScope(s.scope, auth.ScopeWrite))
			return
		}
		var m wsFit
		if err := messages.DecodeJSONBytes(msg, &m); err != nil {
			s.sendFailure(h.ID, err)
			return
		}
		s.startJob(h.ID, m.Model, func(ctx context.Context) (*run, error) {
			if err := m.Validate(); err != nil {
				return nil, err
			}
			r, _, err := s.g.startFit(ctx, m.Model, m.FitRequest)
			return r, err
		})
	case "forecast":
		var m wsForecast
		if err := messages.DecodeJSONBytes(msg, &m); err != nil {
			s.sendFailure(h.ID, err)
			return
		}
		s.startJob(h.ID, m.Model, func(ctx context.Context) (*run, error) {
			if err := m.Validate(); err != nil {
				return nil, err
			}
			r, _, err := s.g.startForecast(ctx, m.Model, m.ForecastRequest)
			return r, err
		})
	case "subscribe", "unsubscribe":
		var m wsSubscribe
		if err := messages.DecodeJSONBytes(msg, &m); err != nil {
			s.sendFailure(h.ID, err)
			return
		}
		if h.Type == "subscribe" {
			s.subscribe(m)
		} else {
			s.unsubscribe(m)
		}
	case "ping":
		var m wsPing
		if err := messages.DecodeJSONBytes(msg, &m); err != nil {
			s.sendFailure(h.ID, err)
			return
		}
		s.reply(wsOut{Type: "pong", ID: h.ID})
	case "":
		s.sendError(h.ID, `message has no "type"; use fit, forecast, subscribe, unsubscribe or ping`, nil)
	default:
		s.sendError(h.ID, fmt.Sprintf("unknown message type %q; use fit, forecast, subscribe, unsubscribe or ping", h.Type), nil)
	}
}

// startJob validates and starts a fit or forecast aside from the read loop, then relays its
// steps and result. A client that leaves mid-job can still read the outcome at /v1/jobs/{id}.
func (s *wsSession) startJob(id json.RawMessage, model string, start func(context.Context) (*run, error)) {
	if p := messages.ValidModelName(model); p != "" {
		s.sendFailure(id, messages.Invalid("model", "%s", p))
		return
	}
	if s.g.limit != nil {
		if ok, wait := s.g.limit.allow(s.client, s.g.now()); !ok {
			s.sendFailure(id, messages.FailField(messages.CodeRateLimited, "rate", "too many fits and forecasts from this client; retry in %s", wait.Round(time.Millisecond)))
			return
		}
	}
	if s.inFlight.Add(1) > wsMaxInFlight {
		s.inFlight.Add(-1)
		s.sendFailure(id, messages.FailField(messages.CodeRateLimited, "rate", "at most %d fits and forecasts may run at once on one session", wsMaxInFlight))
		return
	}
	// Accept in the order the client sent (a forecast sent after a fit must see the fit's
	// generation as its barrier); only the wait for the outcome runs on its own.
	ctx, cancel := context.WithTimeout(s.g.root, s.g.cfg.RequestTimeout)
	r, err := start(ctx)
	cancel()
	if err != nil {
		s.inFlight.Add(-1)
		s.sendFailure(id, err)
		return
	}
	go func() {
		defer s.inFlight.Add(-1)
		s.relay(id, r)
	}()
}

// relay forwards a run's steps and its outcome, like streamRun does for SSE.
func (s *wsSession) relay(id json.RawMessage, r *run) {
	t := time.NewTimer(s.g.cfg.RequestTimeout)
	defer t.Stop()
	step := func(u Update) {
		switch u.Type {
		case "accepted", "progress", "held":
			s.reply(wsOut{Type: u.Type, ID: id, Data: u.Data})
		}
	}
	for {
		select {
		case u := <-r.updates:
			step(u)
		case <-r.done:
			for drained := false; !drained; {
				select {
				case u := <-r.updates:
					step(u)
				default:
					drained = true
				}
			}
			s.sendResult(id, r.outcome.Status, r.outcome.Body)
			return
		case <-t.C:
			s.sendFailure(id, s.g.notAnswered(r.id))
			return
		case <-s.Done():
			return
		}
	}
}

func (s *wsSession) subscribe(m wsSubscribe) {
	if !s.g.hub.Ready() {
		s.sendFailure(m.ID, messages.Errorf(messages.CodeUnavailable, nil, "the event feed is not reachable yet; subscribe again shortly"))
		return
	}
	for _, name := range m.Models {
		if p := messages.ValidModelName(name); p != "" {
			s.sendFailure(m.ID, messages.Invalid("models", "%q %s", name, p))
			return
		}
	}
	var last live.EventID
	if m.LastEventID != "" {
		var ok bool
		if last, ok = live.ParseEventID(m.LastEventID); !ok {
			s.sendFailure(m.ID, messages.Invalid("last_event_id", "must be an event id as sent in event_id, like 1718000000000-0"))
			return
		}
	}
	if len(s.models)+len(m.Models) > wsMaxModels {
		s.sendFailure(m.ID, messages.Invalid("models", "one session may follow at most %d models by name; subscribe with no models to follow all", wsMaxModels))
		return
	}
	wasAll := s.all
	var had map[string]bool // the models followed before, which need no replay
	if len(s.models) > 0 {
		had = make(map[string]bool, len(s.models))
		for name := range s.models {
			had[name] = true
		}
	}
	all := s.all || len(m.Models) == 0
	var added []string
	for _, name := range m.Models {
		if _, ok := s.models[name]; !ok {
			if s.models == nil {
				s.models = make(map[string]struct{})
			}
			s.models[name] = struct{}{}
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
	err := s.t.write(ack)
	if err == nil {
		sent, err = s.Resume(m.LastEventID, cursor, filter)
	}
	s.Ungate(sent)
	if err != nil {
		s.End(live.EndReplayFailed)
	}
}

func (s *wsSession) unsubscribe(m wsSubscribe) {
	var removed []string
	if len(m.Models) == 0 {
		s.all = false
		removed = s.subscribed()
		s.models = nil
	} else {
		for _, name := range m.Models {
			if _, ok := s.models[name]; ok {
				delete(s.models, name)
				removed = append(removed, name)
			}
		}
	}
	cursor := s.Follow(s.all, nil, removed)
	s.Send(s.subscriptionResult(m.ID, cursor))
}

// subscriptionResult acknowledges a subscribe or unsubscribe with the session's subscriptions
// and the newest event ID already sent (events after it will follow).
func (s *wsSession) subscriptionResult(id json.RawMessage, cursor string) []byte {
	models := s.subscribed()
	if models == nil {
		models = []string{}
	}
	return messages.JSON(wsOut{Type: "result", ID: id, Status: messages.StatusSuccess,
		Data: messages.JSON(map[string]any{"all_models": s.all, "models": models, "last_event_id": cursor})})
}

func (s *wsSession) subscribed() []string {
	if len(s.models) == 0 {
		return nil
	}
	names := make([]string, 0, len(s.models))
	for name := range s.models {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// sendResult sends a job's outcome: the JSend body's fields inline.
func (s *wsSession) sendResult(id json.RawMessage, status int, body messages.Envelope) {
	out := wsOut{Type: "result", ID: id, Status: body.Status, Data: body.Data, Message: body.Message, Code: body.Code}
	if body.Status == messages.StatusError && out.Code == 0 {
		out.Code = status
	}
	s.reply(out)
}

// sendFailure answers a request that could not be accepted exactly as HTTP would.
func (s *wsSession) sendFailure(id json.RawMessage, err error) {
	status, body := s.g.answerError(err, "transport", "ws")
	s.sendResult(id, status, body)
}

// sendError reports a message the session could not understand.
func (s *wsSession) sendError(id json.RawMessage, message string, data any) {
	out := wsOut{Type: "error", ID: id, Message: message}
	if data != nil {
		out.Data = messages.JSON(data)
	}
	s.reply(out)
}

func (s *wsSession) reply(out wsOut) { s.Send(messages.JSON(out)) }

// wsBufferSize sizes a session's read and write buffers. Event messages fit in one write;
// larger messages pass the buffers by.
const wsBufferSize = 1024

// smallBuffers gives websocket.Accept the hijacked connection with wsBufferSize buffers in
// place of net/http's 4 KiB pair, which would otherwise stay with the session for its life.
type smallBuffers struct{ http.ResponseWriter }

func (w smallBuffers) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w smallBuffers) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	// Bytes the client sent right after its handshake are already buffered: keep them first.
	pending, _ := brw.Reader.Peek(brw.Reader.Buffered())
	pending = bytes.Clone(pending)
	r := bufio.NewReaderSize(io.MultiReader(bytes.NewReader(pending), conn), max(wsBufferSize, len(pending)))
	if len(pending) > 0 {
		if _, err := r.Peek(len(pending)); err != nil {
			conn.Close()
			return nil, nil, err
		}
	}
	return conn, bufio.NewReadWriter(r, bufio.NewWriterSize(conn, wsBufferSize)), nil
}

// checkOrigin allows requests without Origin (non-browsers), same-origin requests and origins
// whose host matches one of the allowed patterns.
func checkOrigin(r *http.Request, allowed []string) error {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return nil
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return messages.FailField(messages.CodeForbidden, "Origin", "%q is not a valid origin", origin)
	}
	if strings.EqualFold(u.Host, r.Host) {
		return nil
	}
	for _, p := range allowed {
		target := u.Host
		if strings.Contains(p, "://") {
			target = u.Scheme + "://" + u.Host
		}
		if ok, _ := path.Match(strings.ToLower(p), strings.ToLower(target)); ok {
			return nil
		}
	}
	return messages.FailField(messages.CodeForbidden, "Origin", "origin %q may not open sessions on %q; add it to the allowed origins", u.Host, r.Host)
}

func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

func orDefault[T int | int64 | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}
