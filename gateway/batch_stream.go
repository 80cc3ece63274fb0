package gateway

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/forecastd/forecastd/gateway/live"
	"github.com/forecastd/forecastd/gateway/sse"
	"github.com/forecastd/forecastd/messages"
	"github.com/forecastd/forecastd/store"
)

// batchStream is the answer of POST /v1/batches with Accept: text/event-stream: a live session
// following the batch's events, opened before its series are published so that none of them
// is missed, which ends once it has written batch_done. The batch does not depend on it: a
// client that leaves can follow the batch on /v1/events?batch= instead.
//
// The batch's batch_done can miss the session: the hub, fallen behind the trimmed feed, resets
// and jumps past it. So after a reset, and every RecheckInterval, the stream reads the batch:
// once it has ended, the stream writes a batch_done of its own from the record (without id:,
// as it is not the feed's) and ends.
type batchStream struct {
	g      *Gateway
	id     string
	s      *live.Session
	w      http.ResponseWriter
	wake   <-chan struct{}
	done   atomic.Bool // batch_done is queued
	reset  atomic.Bool // a reset is queued, not yet followed by a recheck
	reason string      // why the session ends (see end)
}

// followBatch opens the stream of batch id if the client asked for one (nil if not). Events
// wait until the stream's accepted event is written. The caller ends it.
func (g *Gateway) followBatch(w http.ResponseWriter, r *http.Request, id string) (*batchStream, error) {
	if modeOf(r) != modeStream {
		return nil, nil
	}
	if !g.hub.Ready() {
		return nil, messages.Errorf(messages.CodeUnavailable, nil, "the event feed is not reachable yet; retry shortly")
	}
	f := &batchStream{g: g, id: id, w: w, reason: live.EndDone}
	f.s = g.hub.NewSession(sse.NewStream(w, "sse_batch", g.cfg.WriteTimeout))
	f.wake = f.s.WrittenByCaller()
	f.s.OnQueued(func(ev *live.Event) {
		switch ev.Type {
		case store.EventBatchDone:
			f.done.Store(true)
		case live.EventReset:
			f.reset.Store(true)
		}
	})
	f.s.Gate(live.EventID{}, nil)
	f.s.Open(false, []string{live.BatchSubject(id)})
	return f, nil
}

// stream answers with accepted (the 202 body's data), the batch's batch_progress events and
// its batch_done, then ends; or ends early when the client leaves or the gateway stops.
func (f *batchStream) stream(r *http.Request, accepted batchView) {
	if err := sse.Start(f.w).Event("", "accepted", accepted); err != nil {
		return
	}
	f.s.Ungate(live.EventID{})
	tick := time.NewTicker(f.g.cfg.RecheckInterval)
	defer tick.Stop()
	for {
		select {
		case <-f.wake:
			f.s.FlushOnce()
			if f.reset.Swap(false) {
				f.recheck(r.Context())
			}
			if f.done.Load() {
				for f.s.FlushOnce() { // what was queued with batch_done
				}
				return
			}
		case <-tick.C:
			if f.recheck(r.Context()) {
				for f.s.FlushOnce() {
				}
				return
			}
		case <-f.s.Done():
			return
		case <-r.Context().Done():
			f.reason = live.EndClient
			return
		}
	}
}

// recheck reads the batch and, once it has ended and no batch_done is queued, queues one made
// from its record, and the feed's is no longer taken. It reports whether batch_done is queued. A batch that has expired ends the
// stream too (there is nothing left to follow); an error of the store waits for the next try.
func (f *batchStream) recheck(ctx context.Context) bool {
	if f.done.Load() {
		return true
	}
	b, err := f.g.deps.Store.GetBatch(ctx, f.id)
	switch {
	case errors.Is(err, store.ErrNoBatch):
		f.done.Store(true)
		return true
	case err != nil:
		f.g.log.Warn("recheck a streamed batch", "batch_id", f.id, "err", err)
		return false
	case !b.Status.Terminal():
		return false
	}
	// Stop following the batch first: once the hub has let the session go, the feed's
	// batch_done either is queued already (done says so) or never will be, so at most one
	// batch_done is written.
	f.s.Follow(false, nil, []string{live.BatchSubject(f.id)})
	if f.done.Swap(true) {
		return true
	}
	data := store.BatchDoneData{Status: b.Status, Done: b.Done, Failed: b.Failed, Total: b.Total}
	ev := live.NewEvent(store.Event{Type: store.EventBatchDone, Batch: b.ID, Time: b.UpdatedAt, Data: messages.JSON(data)})
	f.s.Send(ev.Frame(sse.Format))
	return true
}

// end leaves the hub, counted as done unless the client left first; nil (no stream asked
// for) does nothing.
func (f *batchStream) end() {
	if f != nil {
		f.s.End(f.reason)
	}
}
