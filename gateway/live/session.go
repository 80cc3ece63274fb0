package live

import (
	"errors"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Transport is how a session's messages reach its client: an SSE stream or a WebSocket.
type Transport interface {
	// Name labels metrics: "sse" or "ws".
	Name() string
	// Format is the transport's encoding of events.
	Format() *Format
	// WriteBatch sends messages (and a keep-alive if ping) within the write timeout. Only one
	// goroutine calls it at a time.
	WriteBatch(msgs [][]byte, ping bool) error
	// Close ends the connection, telling the client why where the transport can.
	Close(reason string)
}

// Reasons a session ends, as counted by forecastd_sessions_closed_total.
const (
	EndClient       = "client"        // the client closed the connection, or reading from it failed
	EndSlowConsumer = "slow_consumer" // its send queue overflowed
	EndWriteFailed  = "write_failed"  // a write failed or timed out
	EndPingTimeout  = "ping_timeout"  // a WebSocket ping got no pong in time
	EndShutdown     = "shutdown"      // the gateway is stopping
	EndReplayFailed = "replay_failed" // reading missed events from the store failed
	EndDone         = "done"          // a stream that ends at some event wrote it
)

// ErrPingTimeout is what a transport's WriteBatch wraps when a keep-alive got no answer.
var ErrPingTimeout = errors.New("ping got no pong in time")

// Session is what SSE and WebSocket sessions share: the hub registration, a bounded send queue
// drained by a writer goroutine that exists only while there is something to send, and the
// one way a session ends. Idle, a session costs this struct and its connection: an SSE
// session has no goroutine at all, a WebSocket session only the one reading client messages.
type Session struct {
	hub *Hub
	t   Transport

	mu      sync.Mutex
	queue   [][]byte
	ping    bool // a keep-alive is due
	writing bool // a writer goroutine is running
	closing bool // no more messages are taken
	// lingering: messages are queued whose writing waits for the hub's linger (see
	// Config.Linger) or for the next message that does not linger, whichever comes first.
	lingering bool
	// While a resuming session replays missed events, live events wait in deferred and no
	// writer starts.
	gated    bool
	deferred [][]byte
	// Live events up to skipUntil of skipModels (subjects; nil: any) duplicate the replay.
	skipUntil  *EventID
	skipModels map[string]bool
	// wake, when set, is signalled instead of starting writer goroutines: the handler
	// goroutine writes itself (SSE without hijacking).
	wake chan struct{}
	// queued, when set, is told of each event queued for the session (see OnQueued).
	queued func(*Event)

	beatSlot int // the heartbeat tick that pings it (see Hub.heartbeat)
	// writes and messages count what FlushOnce writes; nil without those metrics.
	writes, messages prometheus.Counter

	done    chan struct{} // closed when the session ends
	endOnce sync.Once
}

// NewSession makes a session writing through t; Open registers it.
func (h *Hub) NewSession(t Transport) *Session {
	s := &Session{hub: h, t: t, done: make(chan struct{})}
	s.beatSlot = int(h.opened.Add(1) % int64(h.beatSlots()))
	if h.metrics.Writes != nil && h.metrics.Messages != nil {
		s.writes, s.messages = h.metrics.Writes.WithLabelValues(t.Name()), h.metrics.Messages.WithLabelValues(t.Name())
	}
	return s
}

// WrittenByCaller makes the caller's goroutine the session's writer: it calls FlushOnce
// whenever the returned channel is signalled. Call it before Open.
func (s *Session) WrittenByCaller() <-chan struct{} {
	s.wake = make(chan struct{}, 1)
	return s.wake
}

// Open registers the session with the hub and the metrics, following every event (all) or the
// given subjects (model names, BatchSubject), and ends it when the hub stops. It returns the
// hub's cursor (see Follow).
func (s *Session) Open(all bool, models []string) string {
	h := s.hub
	h.live.Add(1)
	// Counted before it is in the hub, where it may end (and be uncounted) at once.
	h.metrics.Sessions.WithLabelValues(s.t.Name()).Inc()
	cursor := h.subscribe(s, all, models, nil)
	if h.root.Err() != nil {
		// The hub ended before the session was in it (see endAll).
		go s.End(EndShutdown)
	}
	return cursor
}

// Follow changes which events the session receives: every event (all) or not, plus added and
// minus removed subjects (model names, BatchSubject). It returns the ID of the newest event
// already fanned out: the session receives exactly the events after it (replaying older ones
// is up to the session).
func (s *Session) Follow(all bool, add, remove []string) string {
	return s.hub.subscribe(s, all, add, remove)
}

// Done is closed when the session has ended.
func (s *Session) Done() <-chan struct{} { return s.done }

// ended reports whether the session is ending (no more messages are taken).
func (s *Session) ended() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// offer queues one event. It is called with the hub locked and never blocks.
func (s *Session) offer(ev *Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return
	}
	if ev.ID == "" {
		s.skipUntil = nil // a reset: earlier IDs order nothing any more
	} else if s.skipUntil != nil {
		if !ev.id.After(*s.skipUntil) {
			if s.skipModels == nil || s.skipModels[ev.subject] {
				return
			}
		} else {
			s.skipUntil, s.skipModels = nil, nil // the feed is ordered: nothing later repeats
		}
	}
	msg := ev.Frame(s.t.Format())
	switch {
	case s.gated:
		s.pushLocked(msg, true)
	case ev.lingers && s.hub.cfg.Linger > 0 && !s.writing && s.queued == nil && len(s.queue) < s.lingerMax():
		// Written with the next event that does not linger, or when the linger is over.
		if s.queueLocked(msg) && !s.lingering {
			s.lingering = true
			s.hub.lingerLocked(s)
		}
	default:
		s.pushLocked(msg, false)
	}
	if s.queued != nil {
		s.queued(ev)
	}
}

// lingerMax bounds the messages that may linger in the queue: a burst of events is written
// as it comes, never held until the queue overflows.
func (s *Session) lingerMax() int { return min(maxLingering, s.hub.cfg.SendQueue/2) }

// maxLingering is how many messages at most wait for the linger; one write of more saves
// little.
const maxLingering = 16

// release writes what lingers in the queue (see offer).
func (s *Session) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lingering {
		s.lingering = false
		s.kickLocked()
	}
}

// OnQueued has fn told of each event once it is queued for the session, with the hub locked:
// fn must not block. A stream that ends at some event learns it has it to write. Call it
// before Open.
func (s *Session) OnQueued(fn func(ev *Event)) { s.queued = fn }

// Send queues a message of the session's own (a WebSocket reply).
func (s *Session) Send(msg []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closing {
		s.pushLocked(msg, false)
	}
}

func (s *Session) beat() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closing {
		s.ping = true
		s.kickLocked()
	}
}

// pushLocked queues msg and gets the queue written, or ends the session as a slow consumer
// when its queue is full.
func (s *Session) pushLocked(msg []byte, deferred bool) {
	if deferred {
		if s.roomLocked() {
			s.deferred = append(s.deferred, msg)
		}
		return
	}
	if s.queueLocked(msg) {
		s.kickLocked()
	}
}

// queueLocked queues msg without getting it written; false when the session ended instead
// (a slow consumer).
func (s *Session) queueLocked(msg []byte) bool {
	if !s.roomLocked() {
		return false
	}
	s.queue = append(s.queue, msg)
	return true
}

// roomLocked reports whether one more message fits in the session's queues, and ends the
// session as a slow consumer when it does not.
func (s *Session) roomLocked() bool {
	if len(s.queue)+len(s.deferred) >= s.hub.cfg.SendQueue {
		s.closing, s.queue, s.deferred = true, nil, nil
		go s.End(EndSlowConsumer)
		return false
	}
	return true
}

// kickLocked gets the queue written: by a new writer goroutine, or by the caller's.
func (s *Session) kickLocked() {
	if s.gated || s.closing || (len(s.queue) == 0 && !s.ping) {
		return
	}
	s.lingering = false // whatever lingered goes now
	if s.wake != nil {
		signal(s.wake)
		return
	}
	if !s.writing {
		s.writing = true
		go s.flush()
	}
}

// Gate holds live events back while a resuming session replays what it missed (through
// Resume, after writing anything else directly). Messages queued before it are written first
// (bounded by the write timeout), so that the replay does not overtake them.
func (s *Session) Gate(after EventID, models map[string]bool) {
	s.mu.Lock()
	s.gated = true
	s.skipUntil, s.skipModels = &after, models
	if len(s.queue) > 0 && !s.writing && s.wake == nil && !s.closing {
		s.writing = true
		go s.flush()
	}
	s.mu.Unlock()
	deadline := time.Now().Add(s.hub.cfg.WriteTimeout)
	for time.Now().Before(deadline) {
		s.mu.Lock()
		idle := !s.writing || s.closing
		s.mu.Unlock()
		if idle {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// Ungate releases the live events held back; those up to sent duplicate the replay.
func (s *Session) Ungate(sent EventID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gated = false
	if s.skipUntil != nil && sent.After(*s.skipUntil) {
		s.skipUntil = &sent
	}
	// Held events came after the hub's cursor, so after everything replayed.
	held := s.deferred
	s.deferred = nil
	for _, msg := range held {
		if s.closing {
			return
		}
		s.pushLocked(msg, false)
	}
	s.kickLocked()
}

// flush writes until the queue is empty, then the goroutine ends.
func (s *Session) flush() {
	for s.FlushOnce() {
	}
}

// FlushOnce writes what is queued; false when there was nothing or the session ended.
func (s *Session) FlushOnce() bool {
	s.mu.Lock()
	if s.closing || (len(s.queue) == 0 && !s.ping) {
		s.writing = false
		s.mu.Unlock()
		return false
	}
	msgs, ping := s.queue, s.ping
	s.queue, s.ping = nil, false
	s.mu.Unlock()
	if err := s.t.WriteBatch(msgs, ping); err != nil {
		reason := EndWriteFailed
		if errors.Is(err, ErrPingTimeout) {
			reason = EndPingTimeout
		}
		s.End(reason)
		return false
	}
	if s.writes != nil && len(msgs) > 0 {
		s.writes.Inc()
		s.messages.Add(float64(len(msgs)))
	}
	return true
}

// End ends the session once: it leaves the hub, closes the connection and counts why.
func (s *Session) End(reason string) {
	s.endOnce.Do(func() {
		h := s.hub
		s.mu.Lock()
		s.closing, s.queue, s.deferred = true, nil, nil
		s.mu.Unlock()
		h.detach(s)
		h.metrics.Sessions.WithLabelValues(s.t.Name()).Dec()
		h.metrics.Closed.WithLabelValues(s.t.Name(), reason).Inc()
		if reason == EndSlowConsumer {
			h.log.Info("live session dropped: slow consumer", "transport", s.t.Name())
		}
		// The connection is closed before done is: a handler that returns on done must not
		// leave its response writer to be touched by Close afterwards.
		s.t.Close(reason)
		close(s.done)
		h.live.Add(-1)
	})
}
