package gateway

import (
	"net/http"
	"sync/atomic"

	"github.com/forecastd/forecastd/gateway/live"
	"github.com/forecastd/forecastd/gateway/sse"
	"github.com/forecastd/forecastd/messages"
	"github.com/forecastd/forecastd/store"
)

// batchStream is the answer of POST /v1/batches with Accept: text/event-stream: a live session
// following the batch's events, opened before its series are published so that none of them
// is missed, which ends once it has written batch_done. The batch does not depend on it: a
// client that leaves can follow the batch on /v1/events?batch= instead.
type batchStream struct {
	s      *live.Session
	w      http.ResponseWriter
	wake   <-chan struct{}
	done   atomic.Bool // batch_done is queued
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
	f := &batchStream{w: w, reason: live.EndDone}
	f.s = g.hub.NewSession(sse.NewStream(w, "sse_batch", g.cfg.WriteTimeout))
	f.wake = f.s.WrittenByCaller()
	f.s.OnQueued(func(ev *live.Event) {
		if ev.Type == store.EventBatchDone {
			f.done.Store(true)
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
	for {
		select {
		case <-f.wake:
			f.s.FlushOnce()
			if f.done.Load() {
				for f.s.FlushOnce() { // what was queued with batch_done
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

// end leaves the hub, counted as done unless the client left first; nil (no stream asked
// for) does nothing.
func (f *batchStream) end() {
	if f != nil {
		f.s.End(f.reason)
	}
}
