// Package coalesce sends the work of concurrent callers together (group commit): a caller that
// finds fewer than a group's flights under way sends everything queued so far, its own item
// included, in one flight; callers arriving meanwhile queue for the next one. Under load a
// round trip is shared by many callers; alone, a caller sends at once and waits no longer than
// it would on its own.
package coalesce

import (
	"context"
	"errors"
	"sync"
)

// Group coalesces items of type T into flights sent by one function. Each item carries its
// own result (T is usually a pointer), which send fills in.
type Group[T any] struct {
	send       func([]T)
	maxFlights int
	maxBatch   int
	linger     func()

	mu      sync.Mutex
	queued  []*entry[T]
	flights int
}

type entry[T any] struct {
	v        T
	done     chan struct{}
	panicked bool // send panicked in v's flight: v's result is not set
}

// ErrFlightPanicked is what Do returns when send panicked in the flight that carried its item.
var ErrFlightPanicked = errors.New("coalesce: the flight carrying this item panicked")

// New returns a group that runs send with at most maxBatch items at a time, in at most
// maxFlights calls at once.
func New[T any](maxFlights, maxBatch int, send func([]T)) *Group[T] {
	return &Group[T]{send: send, maxFlights: max(maxFlights, 1), maxBatch: max(maxBatch, 1)}
}

// Linger makes each flight call f before it takes what is queued, such as runtime.Gosched to
// let callers woken at the same moment as the leader queue for its flight.
func (g *Group[T]) Linger(f func()) *Group[T] {
	g.linger = f
	return g
}

// Do sends v in a flight shared with other callers and returns once send returned for it, or
// when ctx ends (v may then still be sent). A panic in send reaches the caller that led the
// flight, and the flight's other callers get ErrFlightPanicked.
func (g *Group[T]) Do(ctx context.Context, v T) error {
	e := &entry[T]{v: v, done: make(chan struct{})}
	g.mu.Lock()
	g.queued = append(g.queued, e)
	lead := g.flights < g.maxFlights
	if lead {
		g.flights++
	}
	g.mu.Unlock()
	if lead && g.fly() {
		// More callers queued while this one's flight ran: a goroutine sends theirs, so that
		// this caller returns now.
		go func() {
			for g.fly() {
			}
		}()
	}
	select {
	case <-e.done:
		if e.panicked {
			return ErrFlightPanicked
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Queued is how many items wait for the next flight.
func (g *Group[T]) Queued() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.queued)
}

// fly sends one flight of what is queued. It reports whether more is queued, in which case the
// caller keeps the flight and must fly again; otherwise the flight has ended.
func (g *Group[T]) fly() bool {
	if g.linger != nil {
		g.linger()
	}
	g.mu.Lock()
	n := min(len(g.queued), g.maxBatch)
	batch := make([]*entry[T], n)
	copy(batch, g.queued)
	g.queued = g.queued[n:]
	if len(g.queued) == 0 {
		g.queued = nil
	}
	g.mu.Unlock()
	if n > 0 {
		items := make([]T, n)
		for i, e := range batch {
			items[i] = e.v
		}
		sent := false
		defer func() {
			if sent {
				return
			}
			// send panicked: release its callers and the flight before the panic goes on, so
			// the group keeps working for the next callers.
			for _, e := range batch {
				e.panicked = true
				close(e.done)
			}
			g.mu.Lock()
			g.flights--
			g.mu.Unlock()
		}()
		g.send(items)
		sent = true
		for _, e := range batch {
			close(e.done)
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.queued) > 0 {
		return true
	}
	g.flights--
	return false
}
