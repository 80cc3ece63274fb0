package gateway

import (
	"context"
	"slices"
	"sync"
	"time"
)

// settleChecks shares the re-checks of held forecasts. One model event wakes every forecast
// held on that model, and each would read its pending fits from the store; instead, the
// forecasts of a model that check at the same time share one read, up to the highest barrier
// among them, and each takes the generations up to its own barrier from it. A read is never
// older than the call that uses it: a caller joins only a read that has not started yet, so
// it sees every fit that ended before it asked. At most one read per model is in flight; the
// callers arriving meanwhile share the next one.
type settleChecks struct {
	read func(ctx context.Context, model string, upTo int64) ([]int64, error)

	mu   sync.Mutex
	next map[string]*settleRead // model → the read callers join, not started yet
	busy map[string]bool        // model → a read is in flight
}

// settleRead is one shared read of a model's pending fits up to upTo.
type settleRead struct {
	upTo    int64
	callers int           // callers sharing it
	done    chan struct{} // closed once pending and err are set
	pending []int64
	err     error
}

// settleReadTimeout bounds one shared read: it serves many callers, so none of their
// contexts ends it.
const settleReadTimeout = 10 * time.Second

func newSettleChecks(read func(ctx context.Context, model string, upTo int64) ([]int64, error)) *settleChecks {
	return &settleChecks{read: read, next: make(map[string]*settleRead), busy: make(map[string]bool)}
}

// unsettled returns, ascending, the generations ≤ barrier of model whose fits were still pending
// at some moment after the call began, as store.Unsettled does.
func (c *settleChecks) unsettled(ctx context.Context, model string, barrier int64) ([]int64, error) {
	c.mu.Lock()
	r := c.next[model]
	if r == nil {
		r = &settleRead{done: make(chan struct{})}
		c.next[model] = r
	}
	r.upTo = max(r.upTo, barrier)
	r.callers++
	if !c.busy[model] {
		c.busy[model] = true
		delete(c.next, model)
		go c.run(model, r)
	}
	c.mu.Unlock()
	select {
	case <-r.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if r.err != nil {
		return nil, r.err
	}
	n, _ := slices.BinarySearch(r.pending, barrier+1)
	if n == 0 {
		return nil, nil
	}
	return slices.Clone(r.pending[:n]), nil
}

// run does read r of model, then the read callers queued for meanwhile, if any.
func (c *settleChecks) run(model string, r *settleRead) {
	ctx, cancel := context.WithTimeout(context.Background(), settleReadTimeout)
	r.pending, r.err = c.read(ctx, model, r.upTo)
	cancel()
	close(r.done)
	c.mu.Lock()
	defer c.mu.Unlock()
	next := c.next[model]
	if next == nil {
		delete(c.busy, model)
		return
	}
	delete(c.next, model)
	go c.run(model, next)
}

// joined is how many callers wait for model's next read, not started yet (for tests).
func (c *settleChecks) joined(model string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if r := c.next[model]; r != nil {
		return r.callers
	}
	return 0
}
