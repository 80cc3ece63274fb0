package gateway

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// transport is how a session's messages reach its client: an SSE stream or a WebSocket.
type transport interface {
	// name labels metrics: "sse" or "ws".
	name() string
	// encode picks the transport's encoding of a hub event.
	encode(ev *hubEvent) []byte
	// writeBatch sends messages (and a keep-alive if ping) within the write timeout. Only one
	// goroutine calls it at a time.
	writeBatch(msgs [][]byte, ping bool) error
	// closeConn ends the connection, telling the client why where the transport can.
	closeConn(reason string)
}

// Reasons a session ends, as counted by forecastd_sessions_closed_total.
const (
	endClient       = "client"        // the client closed the connection, or reading from it failed
	endSlowConsumer = "slow_consumer" // its send queue overflowed
	endWriteFailed  = "write_failed"  // a write failed or timed out
	endPingTimeout  = "ping_timeout"  // a WebSocket ping got no pong in time
	endShutdown     = "shutdown"      // the gateway is stopping
	endReplayFailed = "replay_failed" // reading missed events from the store failed
)

var errPingTimeout = errors.New("ping got no pong in time")

// session is what SSE and WebSocket sessions share: the hub registration, a bounded send queue
// drained by a writer goroutine that exists only while there is something to send, and the
// one way a session ends. Idle, a session costs this struct and its connection: an SSE
// session has no goroutine at all, a WebSocket session only the one reading client messages.
type session struct {
	g *Gateway
	t transport

	mu      sync.Mutex
	queue   [][]byte
	max     int
	ping    bool // a keep-alive is due
	writing bool // a writer goroutine is running
	closing bool // no more messages are taken
	// While a resuming session replays missed events, live events wait in deferred and no
	// writer starts.
	gated    bool
	deferred [][]byte
	// Live events up to skipUntil of skipModels (nil: any) duplicate the replay.
	skipUntil  *eventID
	skipModels map[string]bool
	// wake, when set, is signalled instead of starting writer goroutines: the handler
	// goroutine writes itself (SSE without hijacking).
	wake chan struct{}

	done         chan struct{} // closed when the session ends
	endOnce      sync.Once
	stopShutdown func() bool // unregisters the shutdown hook
}

func (g *Gateway) newSession(t transport) *session {
	return &session{g: g, t: t, max: orDefault(g.cfg.SendQueue, 256), done: make(chan struct{}), stopShutdown: func() bool { return false }}
}

// open registers the session with the hub and the metrics, and ends it when the gateway stops.
// It returns the hub's cursor (see hub.attach).
func (s *session) open(all bool, models []string) string {
	s.g.hub.live.Add(1)
	cursor := s.g.hub.attach(s, all, models)
	s.g.metrics.sessions.WithLabelValues(s.t.name()).Inc()
	stop := context.AfterFunc(s.g.root, func() { s.end(endShutdown) })
	s.mu.Lock()
	s.stopShutdown = stop
	s.mu.Unlock()
	return cursor
}

// ended reports whether the session is ending (no more messages are taken).
func (s *session) ended() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// offer queues one hub event. It is called with the hub locked and never blocks.
func (s *session) offer(ev *hubEvent) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return
	}
	if ev.ID == "" {
		s.skipUntil = nil // a reset: earlier IDs order nothing any more
	} else if s.skipUntil != nil {
		if !ev.id.After(*s.skipUntil) {
			if s.skipModels == nil || s.skipModels[ev.Model] {
				return
			}
		} else {
			s.skipUntil, s.skipModels = nil, nil // the feed is ordered: nothing later repeats
		}
	}
	s.pushLocked(s.t.encode(ev), s.gated)
}

// send queues a message of the session's own (a WebSocket reply).
func (s *session) send(msg []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closing {
		s.pushLocked(msg, false)
	}
}

func (s *session) beat() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closing {
		s.ping = true
		s.kickLocked()
	}
}

// pushLocked queues msg, or ends the session as a slow consumer when its queue is full.
func (s *session) pushLocked(msg []byte, deferred bool) {
	if len(s.queue)+len(s.deferred) >= s.max {
		s.closing, s.queue, s.deferred = true, nil, nil
		go s.end(endSlowConsumer)
		return
	}
	if deferred {
		s.deferred = append(s.deferred, msg)
		return
	}
	s.queue = append(s.queue, msg)
	s.kickLocked()
}

// kickLocked gets the queue written: by a new writer goroutine, or by the handler's.
func (s *session) kickLocked() {
	if s.gated || s.closing || (len(s.queue) == 0 && !s.ping) {
		return
	}
	if s.wake != nil {
		select {
		case s.wake <- struct{}{}:
		default:
		}
		return
	}
	if !s.writing {
		s.writing = true
		go s.flush()
	}
}

// gate holds live events back while a resuming session replays what it missed. Messages
// queued before it are written first (bounded by the write timeout), so that the replay, written
// directly, does not overtake them.
func (s *session) gate(after eventID, models map[string]bool) {
	s.mu.Lock()
	s.gated = true
	s.skipUntil, s.skipModels = &after, models
	if len(s.queue) > 0 && !s.writing && s.wake == nil && !s.closing {
		s.writing = true
		go s.flush()
	}
	s.mu.Unlock()
	deadline := time.Now().Add(orDefault(s.g.cfg.WriteTimeout, 10*time.Second))
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

// ungate releases the live events held back; those up to sent duplicate the replay.
func (s *session) ungate(sent eventID) {
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
func (s *session) flush() {
	for s.flushOnce() {
	}
}

// flushOnce writes what is queued; false when there was nothing or the session ended.
func (s *session) flushOnce() bool {
	s.mu.Lock()
	if s.closing || (len(s.queue) == 0 && !s.ping) {
		s.writing = false
		s.mu.Unlock()
		return false
	}
	msgs, ping := s.queue, s.ping
	s.queue, s.ping = nil, false
	s.mu.Unlock()
	if err := s.t.writeBatch(msgs, ping); err != nil {
		reason := endWriteFailed
		if errors.Is(err, errPingTimeout) {
			reason = endPingTimeout
		}
		s.end(reason)
		return false
	}
	return true
}

// end ends the session once: it leaves the hub, closes the connection and counts why.
func (s *session) end(reason string) {
	s.endOnce.Do(func() {
		s.mu.Lock()
		s.closing, s.queue, s.deferred = true, nil, nil
		stop := s.stopShutdown
		s.mu.Unlock()
		stop()
		s.g.hub.detach(s)
		s.g.metrics.sessions.WithLabelValues(s.t.name()).Dec()
		s.g.sessionClosed(s.t.name(), reason)
		if reason == endSlowConsumer {
			s.g.log.Info("live session dropped: slow consumer", "transport", s.t.name())
		}
		// The connection is closed before done is: a handler that returns on done must not
		// leave its response writer to be touched by closeConn afterwards.
		s.t.closeConn(reason)
		close(s.done)
		s.g.hub.live.Add(-1)
	})
}

// waitSessions waits until every session has ended (they end with the gateway's root
// context, closing WebSockets with a handshake) or ctx ends.
func (g *Gateway) waitSessions(ctx context.Context) error {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for g.hub.live.Load() > 0 {
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d live sessions still closing: %w", g.hub.live.Load(), ctx.Err())
		case <-t.C:
		}
	}
	return nil
}
