package gateway

import (
	"context"
	"sync"
	"time"

	"github.com/forecastd/forecastd/store"
)

// hub fans model events out to the held forecasts (and live sessions) that watch them.
type hub struct {
	mu       sync.Mutex
	watchers map[string]map[chan struct{}]struct{} // model → wake-up channels
}

func newHub() *hub { return &hub{watchers: make(map[string]map[chan struct{}]struct{})} }

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

func (h *hub) publish(ev store.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.watchers[ev.Model] {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// followEvents keeps a subscription to the store's model events, resubscribing after failures,
// until ctx ends. ready is closed once the first subscription exists.
func (g *Gateway) followEvents(ctx context.Context, ready chan struct{}) {
	var once sync.Once
	for ctx.Err() == nil {
		events, err := g.deps.Store.Subscribe(ctx)
		if err != nil {
			g.log.Warn("subscribe to model events; retrying", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
			continue
		}
		once.Do(func() { close(ready) })
		for ev := range events {
			g.hub.publish(ev)
		}
	}
}
