package gateway

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/forecastd/forecastd/store"
)

// hub fans model events out, in store order and each exactly once, to the held forecasts and
// the live sessions (SSE streams, WebSocket subscriptions) that follow them.
//
// Pub/sub only wakes the hub: followEvents reads the events themselves from the store's feed
// after a cursor, so a message lost by pub/sub delays an event instead of dropping it, and
// every session sees one gap-free sequence. The cursor is read under the same lock that
// registers a session, which gives a resuming session its exact seam between replay and live.
// Offering an event to a session never blocks (see session.offer).
type hub struct {
	mu       sync.Mutex
	watchers map[string]map[chan struct{}]struct{} // model → wake-up channels of held forecasts
	sessions map[*session][]string                 // every session → the models it follows by name
	all      map[*session]struct{}                 // sessions following every model
	byModel  map[string]map[*session]struct{}      // model → sessions following it by name
	cursor   string                                // ID of the newest event fanned out
	placed   bool                                  // cursor has been read from the store once
	live     atomic.Int64                          // sessions not yet ended
}

func newHub() *hub {
	return &hub{
		watchers: make(map[string]map[chan struct{}]struct{}),
		sessions: make(map[*session][]string),
		all:      make(map[*session]struct{}),
		byModel:  make(map[string]map[*session]struct{}),
	}
}

// watch returns a channel that is signalled (coalesced) whenever an event for model arrives.
func (h *hub) watch(model string) chan struct{} {
	ch := make(chan struct{}, 1)
	h.mu.Lock()
	if h.watchers[model] == nil {
		h.watchers[model] = make(map[chan struct{}]struct{})
	}
	h.watchers[model][ch] = struct{}{}
	h.mu.Unlock()
	return ch
}

func (h *hub) unwatch(model string, ch chan struct{}) {
	h.mu.Lock()
	delete(h.watchers[model], ch)
	if len(h.watchers[model]) == 0 {
		delete(h.watchers, model)
	}
	h.mu.Unlock()
}

// attach registers a session following every model (all) or the given ones, and returns the
// ID of the newest event already fanned out: the session receives exactly the events after it
// (replaying older ones is up to the session).
func (h *hub) attach(s *session, all bool, models []string) string {
	return h.follow(s, all, models, nil)
}

// follow changes which events a registered session receives: every model (all) or not, plus
// added and minus removed model names. It returns the cursor, as attach does.
func (h *hub) follow(s *session, all bool, add, remove []string) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if s.ended() {
		// end() marks the session closing before it detaches: a subscribe racing with it
		// must not register it again, or it would stay in the hub forever.
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
			set = make(map[*session]struct{})
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
func (h *hub) detach(s *session) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, m := range h.sessions[s] {
		h.removeModel(s, m)
	}
	delete(h.sessions, s)
	delete(h.all, s)
}

func (h *hub) removeModel(s *session, m string) {
	if set := h.byModel[m]; set != nil {
		delete(set, s)
		if len(set) == 0 {
			delete(h.byModel, m)
		}
	}
}

// publish fans one event out and advances the cursor. A session following both every model
// and this one gets it once.
func (h *hub) publish(ev *hubEvent) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.watchers[ev.Model] {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	for s := range h.all {
		s.offer(ev)
	}
	for s := range h.byModel[ev.Model] {
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
func (h *hub) reset(ev *hubEvent, cursor string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.sessions {
		s.offer(ev)
	}
	for _, set := range h.watchers {
		for ch := range set {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}
	h.cursor = cursor
}

func (h *hub) setCursor(id string) {
	h.mu.Lock()
	h.cursor, h.placed = id, true
	h.mu.Unlock()
}

// ready reports whether the hub knows where the event feed stands. Until it does (the store
// was unreachable at start), a session could not be told which events it has, so none opens.
func (h *hub) ready() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.placed
}

func (h *hub) beat() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.sessions {
		s.beat()
	}
}

// eventPage is how many events one read of the feed returns at most.
const eventPage = 500

// followEvents keeps the hub fed with the store's model events until ctx ends: it subscribes to
// the live feed (resubscribing after failures) and, on every wake-up and on a timer, reads the
// events after its cursor. ready is closed once the first subscription exists. It also drives
// the sessions' shared heartbeat.
func (g *Gateway) followEvents(ctx context.Context, ready chan struct{}) {
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { g.heartbeat(ctx) })

	for ctx.Err() == nil {
		id, err := g.deps.Store.LastEventID(ctx)
		if err == nil {
			g.hub.setCursor(id)
			break
		}
		g.log.Warn("read newest event id; retrying", "err", err)
		sleepCtx(ctx, time.Second)
	}
	var once sync.Once
	poll := time.NewTicker(g.cfg.RecheckInterval)
	defer poll.Stop()
	for ctx.Err() == nil {
		events, err := g.deps.Store.Subscribe(ctx)
		if err != nil {
			g.log.Warn("subscribe to model events; retrying", "err", err)
			sleepCtx(ctx, time.Second)
			continue
		}
		once.Do(func() { close(ready) })
		g.catchUp(ctx) // whatever happened while not subscribed
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
				g.catchUp(ctx)
			case <-poll.C:
				g.catchUp(ctx)
			case <-ctx.Done():
				return
			}
		}
	}
}

// catchUp fans out every event after the hub's cursor.
func (g *Gateway) catchUp(ctx context.Context) {
	for range 1000 { // bounded: at most 500k events per wake-up, the rest on the next one
		g.hub.mu.Lock()
		cursor := g.hub.cursor
		g.hub.mu.Unlock()
		evs, err := g.deps.Store.Events(ctx, cursor, eventPage)
		if errors.Is(err, store.ErrEventsGone) {
			newest, lerr := g.deps.Store.LastEventID(ctx)
			if lerr != nil {
				g.log.Warn("read newest event id after losing the feed", "err", lerr)
				return
			}
			g.log.Warn("model event feed lost events past the gateway's cursor; sessions are told to reload", "cursor", cursor, "newest", newest)
			oldest := g.oldestEventID(ctx)
			g.hub.reset(resetEvent(newest, cursor, oldest, "the gateway fell behind the retained event history; reload state"), newest)
			return
		}
		if err != nil {
			if ctx.Err() == nil {
				g.log.Warn("read model events", "after", cursor, "err", err)
			}
			return
		}
		for i := range evs {
			g.hub.publish(newHubEvent(evs[i]))
		}
		if len(evs) < eventPage {
			return
		}
	}
}

// oldestEventID is the oldest retained event's ID, "" if none or unknown.
func (g *Gateway) oldestEventID(ctx context.Context) string {
	evs, err := g.deps.Store.Events(ctx, "", 1)
	if err != nil || len(evs) == 0 {
		return ""
	}
	return evs[0].ID
}

// heartbeat asks every session for a keep-alive each Heartbeat: one ticker for all of them.
func (g *Gateway) heartbeat(ctx context.Context) {
	if g.cfg.Heartbeat <= 0 {
		return
	}
	t := time.NewTicker(g.cfg.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			g.hub.beat()
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
