// Package live is the gateway's live side: the hub that fans the store's model events out, in
// order and each exactly once, to held forecasts and to sessions, and the sessions themselves
// (bounded send queues, replay on resume, the slow-consumer cut-off). Transports (gateway/sse,
// gateway/ws) plug in through Transport; the hub knows nothing of HTTP.
package live

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/forecastd/forecastd/store"
)

// Feed is where the hub reads model events: the store's event log and its wake-ups.
type Feed interface {
	// LastEventID is the newest event's ID, "" when there is none.
	LastEventID(ctx context.Context) (string, error)
	// Subscribe wakes the hub whenever events are appended.
	Subscribe(ctx context.Context) (<-chan store.Event, error)
	// Events returns up to limit events after afterID, store.ErrEventsGone when afterID is
	// older than the retained history.
	Events(ctx context.Context, afterID string, limit int) ([]store.Event, error)
}

// Metrics are the hub's instruments; the gateway registers them.
type Metrics struct {
	Sessions *prometheus.GaugeVec   // open sessions by transport
	Closed   *prometheus.CounterVec // ended sessions by transport and reason
	// Writes and Messages, when set, count the writes to sessions and the messages they
	// carried, by transport.
	Writes, Messages *prometheus.CounterVec
}

// Hub fans model events out, in store order and each exactly once, to the held forecasts and
// the live sessions (SSE streams, WebSocket subscriptions) that follow them.
//
// Pub/sub only wakes the hub: Start's loop reads the events themselves from the feed after a
// cursor, so a message lost by pub/sub delays an event instead of dropping it, and every
// session sees one gap-free sequence. The cursor is read under the same lock that registers a
// session, which gives a resuming session its exact seam between replay and live. Offering an
// event to a session never blocks (see Session.offer).
type Hub struct {
	cfg     Config
	feed    Feed
	metrics Metrics
	log     *slog.Logger
	// root is the hub's lifetime: sessions end with it.
	root context.Context

	mu       sync.Mutex
	watchers map[string]map[chan struct{}]struct{} // model → wake-up channels of held forecasts
	sessions map[*Session][]string                 // every session → the subjects it follows by name
	all      map[*Session]struct{}                 // sessions following every event
	byModel  map[string]map[*Session]struct{}      // subject (model, BatchSubject) → sessions following it
	cursor   string                                // ID of the newest event fanned out
	placed   bool                                  // cursor has been read from the feed once
	// lingering are the sessions whose queued events wait for the linger (Config.Linger) that
	// started when the first of them was queued.
	lingering []*Session
	live      atomic.Int64 // sessions not yet ended
	opened    atomic.Int64 // sessions made, for their heartbeat slots
}

// New builds a hub reading feed. Call Start to follow it.
func New(cfg Config, feed Feed, metrics Metrics, log *slog.Logger) *Hub {
	return &Hub{
		cfg: cfg.withDefaults(), feed: feed, metrics: metrics, log: log, root: context.Background(),
		watchers: make(map[string]map[chan struct{}]struct{}),
		sessions: make(map[*Session][]string),
		all:      make(map[*Session]struct{}),
		byModel:  make(map[string]map[*Session]struct{}),
	}
}

// Start follows the feed under eg until ctx ends; sessions end with ctx. ready is closed once
// the first subscription to the feed exists.
func (h *Hub) Start(ctx context.Context, eg *errgroup.Group, ready chan struct{}) {
	h.root = ctx
	context.AfterFunc(ctx, h.endAll)
	eg.Go(func() error { h.follow(ctx, ready); return nil })
}

// endAll ends every session once the hub's context has ended, each on a goroutine of its own
// (a WebSocket's closing handshake waits for its client). A session opened meanwhile, after
// the sessions were listed, sees the context ended and ends itself (Session.Open). One hook
// for the hub, not one per session: a context.AfterFunc costs a session about 170 bytes.
func (h *Hub) endAll() {
	h.mu.Lock()
	sessions := make([]*Session, 0, len(h.sessions))
	for s := range h.sessions {
		sessions = append(sessions, s)
	}
	h.mu.Unlock()
	for _, s := range sessions {
		go s.End(EndShutdown)
	}
}

// Watch returns a channel that is signalled (coalesced) whenever an event of model (a Subject)
// arrives.
func (h *Hub) Watch(model string) chan struct{} {
	ch := make(chan struct{}, 1)
	h.mu.Lock()
	if h.watchers[model] == nil {
		h.watchers[model] = make(map[chan struct{}]struct{})
	}
	h.watchers[model][ch] = struct{}{}
	h.mu.Unlock()
	return ch
}

// Unwatch stops signalling ch.
func (h *Hub) Unwatch(model string, ch chan struct{}) {
	h.mu.Lock()
	delete(h.watchers[model], ch)
	if len(h.watchers[model]) == 0 {
		delete(h.watchers, model)
	}
	h.mu.Unlock()
}

// subscribe changes which events a session receives: every event (all) or not, plus added and
// minus removed subjects (model names, BatchSubject). It returns the ID of the newest event
// already fanned out: the session receives exactly the events after it (replaying older ones
// is up to the session).
func (h *Hub) subscribe(s *Session, all bool, add, remove []string) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if s.ended() {
		// End marks the session closing before it detaches: a subscribe racing with it must
		// not register it again, or it would stay in the hub forever.
		return h.cursor
	}
	names := h.sessions[s]
	if all {
		h.all[s] = struct{}{}
	} else {
		delete(h.all, s)
	}
	for _, m := range add {
		set := h.byModel[m]
		if set == nil {
			set = make(map[*Session]struct{})
			h.byModel[m] = set
		}
		if _, ok := set[s]; !ok {
			set[s] = struct{}{}
			names = append(names, m)
		}
	}
	for _, m := range remove {
		h.removeModel(s, m)
		names = slices.DeleteFunc(names, func(n string) bool { return n == m })
	}
	h.sessions[s] = names
	return h.cursor
}

// detach forgets a session entirely.
func (h *Hub) detach(s *Session) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, m := range h.sessions[s] {
		h.removeModel(s, m)
	}
	delete(h.sessions, s)
	delete(h.all, s)
}

func (h *Hub) removeModel(s *Session, m string) {
	if set := h.byModel[m]; set != nil {
		delete(set, s)
		if len(set) == 0 {
			delete(h.byModel, m)
		}
	}
}

// publish fans one event out and advances the cursor. A session following both every model
// and this one gets it once.
func (h *Hub) publish(ev *Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.watchers[ev.subject] {
		signal(ch)
	}
	for s := range h.all {
		s.offer(ev)
	}
	for s := range h.byModel[ev.subject] {
		if _, dup := h.all[s]; !dup {
			s.offer(ev)
		}
	}
	if ev.ID != "" {
		h.cursor = ev.ID
	}
}

// reset tells every session that events were lost (the feed was trimmed past the hub's cursor,
// or the store lost it), and moves the cursor to cursor.
func (h *Hub) reset(ev *Event, cursor string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.sessions {
		s.offer(ev)
	}
	for _, set := range h.watchers {
		for ch := range set {
			signal(ch)
		}
	}
	h.cursor = cursor
}

// lingerLocked has s's queue written when the linger started by the first of the sessions
// now lingering is over. The hub is locked.
func (h *Hub) lingerLocked(s *Session) {
	h.lingering = append(h.lingering, s)
	if len(h.lingering) == 1 {
		time.AfterFunc(h.cfg.Linger, h.release)
	}
}

// release writes what lingers in every session's queue.
func (h *Hub) release() {
	h.mu.Lock()
	sessions := h.lingering
	h.lingering = nil
	h.mu.Unlock()
	for _, s := range sessions {
		s.release()
	}
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

func (h *Hub) setCursor(id string) {
	h.mu.Lock()
	h.cursor, h.placed = id, true
	h.mu.Unlock()
}

// Ready reports whether the hub knows where the event feed stands. Until it does (the store
// was unreachable at start), a session could not be told which events it has, so none opens.
func (h *Hub) Ready() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.placed
}

// Sessions is how many sessions the hub holds.
func (h *Hub) Sessions() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.sessions)
}

// beat asks the sessions of one heartbeat slot for a keep-alive.
func (h *Hub) beat(slot int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.sessions {
		if s.beatSlot == slot {
			s.beat()
		}
	}
}

// Wait waits until every session has ended (they end with the hub's context, closing
// WebSockets with a handshake) or ctx ends.
func (h *Hub) Wait(ctx context.Context) error {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for h.live.Load() > 0 {
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d live sessions still closing: %w", h.live.Load(), ctx.Err())
		case <-t.C:
		}
	}
	return nil
}

// eventPage is how many events one read of the feed returns at most.
const eventPage = 500

// follow keeps the hub fed with the feed's events until ctx ends: it subscribes to the live
// feed (resubscribing after failures) and, on every wake-up and on a timer, reads the events
// after its cursor. ready is closed once the first subscription exists. It also drives the
// sessions' shared heartbeat.
func (h *Hub) follow(ctx context.Context, ready chan struct{}) {
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { h.heartbeat(ctx) })

	for ctx.Err() == nil {
		id, err := h.feed.LastEventID(ctx)
		if err == nil {
			h.setCursor(id)
			break
		}
		h.log.Warn("read newest event id; retrying", "err", err)
		sleepCtx(ctx, time.Second)
	}
	var once sync.Once
	poll := time.NewTicker(h.cfg.RecheckInterval)
	defer poll.Stop()
	for ctx.Err() == nil {
		events, err := h.feed.Subscribe(ctx)
		if err != nil {
			h.log.Warn("subscribe to model events; retrying", "err", err)
			sleepCtx(ctx, time.Second)
			continue
		}
		once.Do(func() { close(ready) })
		h.catchUp(ctx) // whatever happened while not subscribed
	live:
		for {
			select {
			case _, ok := <-events:
				if !ok {
					break live
				}
				// Coalesce a burst into one read of the feed.
				for drained := false; !drained; {
					select {
					case _, ok := <-events:
						if !ok {
							drained = true
						}
					default:
						drained = true
					}
				}
				h.catchUp(ctx)
			case <-poll.C:
				h.catchUp(ctx)
			case <-ctx.Done():
				return
			}
		}
	}
}

// catchUp fans out every event after the hub's cursor.
func (h *Hub) catchUp(ctx context.Context) {
	for range 1000 { // bounded: at most 500k events per wake-up, the rest on the next one
		h.mu.Lock()
		cursor := h.cursor
		h.mu.Unlock()
		evs, err := h.feed.Events(ctx, cursor, eventPage)
		if errors.Is(err, store.ErrEventsGone) {
			newest, lerr := h.feed.LastEventID(ctx)
			if lerr != nil {
				h.log.Warn("read newest event id after losing the feed", "err", lerr)
				return
			}
			h.log.Warn("model event feed lost events past the gateway's cursor; sessions are told to reload", "cursor", cursor, "newest", newest)
			oldest := h.oldestEventID(ctx)
			h.reset(resetEvent(newest, cursor, oldest, "the gateway fell behind the retained event history; reload state"), newest)
			return
		}
		if err != nil {
			if ctx.Err() == nil {
				h.log.Warn("read model events", "after", cursor, "err", err)
			}
			return
		}
		for i := range evs {
			h.publish(NewEvent(evs[i]))
		}
		if len(evs) < eventPage {
			return
		}
	}
}

// oldestEventID is the oldest retained event's ID, "" if none or unknown.
func (h *Hub) oldestEventID(ctx context.Context) string {
	evs, err := h.feed.Events(ctx, "", 1)
	if err != nil || len(evs) == 0 {
		return ""
	}
	return evs[0].ID
}

// heartbeat asks every session for a keep-alive each Heartbeat, from one ticker for all of
// them. The sessions are spread over beatSlots slots, one slot a tick, so that many sessions
// do not all write (and a WebSocket's pong come back) in the same instant, in the way of the
// events fanned out then.
func (h *Hub) heartbeat(ctx context.Context) {
	if h.cfg.Heartbeat <= 0 {
		return
	}
	slots := h.beatSlots()
	t := time.NewTicker(h.cfg.Heartbeat / time.Duration(slots))
	defer t.Stop()
	for slot := 0; ; slot = (slot + 1) % slots {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			h.beat(slot)
		}
	}
}

// maxBeatSlots is how many slots the heartbeat spreads sessions over, for heartbeats of at
// least minBeatSlot each; a shorter heartbeat (tests) has one slot.
const (
	maxBeatSlots = 16
	minBeatSlot  = 10 * time.Millisecond
)

func (h *Hub) beatSlots() int {
	if h.cfg.Heartbeat < maxBeatSlots*minBeatSlot {
		return 1
	}
	return maxBeatSlots
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
