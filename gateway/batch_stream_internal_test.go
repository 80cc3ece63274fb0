package gateway

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/forecastd/forecastd/gateway/live"
	"github.com/forecastd/forecastd/store"
	"github.com/forecastd/forecastd/store/storetest"
)

// heldBatchDone is a store whose feed, as the gateway reads it, holds every batch_done back
// until release is closed: the feed's batch_done reaches the hub only after a recheck has read
// the batch's end.
type heldBatchDone struct {
	store.Store
	release chan struct{}
}

func (s heldBatchDone) Subscribe(ctx context.Context) (<-chan store.Event, error) {
	in, err := s.Store.Subscribe(ctx)
	if err != nil {
		return nil, err
	}
	return storetest.Relay(in, func(ev store.Event) bool {
		if ev.Type == store.EventBatchDone {
			<-s.release
		}
		return true
	}), nil
}

// A stream that wrote a batch_done of its own from the record, on a recheck, writes no second
// one when the feed's batch_done of the same batch arrives before the stream has ended.
func TestBatchStreamWritesOneBatchDone(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	mem := store.NewMemory()
	st := heldBatchDone{mem, make(chan struct{})}
	var released bool
	defer func() {
		if !released {
			close(st.release)
		}
	}()
	cfg := DefaultConfig()
	cfg.Heartbeat, cfg.RecheckInterval = 0, time.Hour
	g := New(cfg, Deps{Store: st, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	eg := new(errgroup.Group)
	defer func() { cancel(); _ = eg.Wait() }()
	ready := make(chan struct{})
	g.hub.Start(ctx, eg, ready)
	<-ready

	const id = "b-one-done"
	if err := mem.CreateBatch(ctx, store.Batch{ID: id, CreatedAt: time.Now()}, []string{"a"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	r := httptest.NewRequestWithContext(ctx, "POST", "/v1/batches", nil)
	r.Header.Set("Accept", "text/event-stream")
	f, err := g.followBatch(w, r, id)
	if err != nil || f == nil {
		t.Fatalf("followBatch: %v, %v", f, err)
	}
	defer f.end()
	f.s.Ungate(live.EventID{})
	if _, err := mem.EndBatch(ctx, id, store.BatchCancelled, ""); err != nil {
		t.Fatal(err)
	}
	evs, err := mem.Events(ctx, "", 100)
	if err != nil || len(evs) == 0 || evs[len(evs)-1].Type != store.EventBatchDone {
		t.Fatalf("feed %+v (%v); want it to end with batch_done", evs, err)
	}
	doneID := evs[len(evs)-1].ID

	if !f.recheck(ctx) {
		t.Fatal("recheck of an ended batch did not queue batch_done")
	}
	close(st.release)
	released = true
	for deadline := time.Now().Add(5 * time.Second); f.s.Follow(false, nil, nil) != doneID; {
		if time.Now().After(deadline) {
			t.Fatal("the hub did not fan out the feed's batch_done")
		}
		time.Sleep(time.Millisecond)
	}
	for f.s.FlushOnce() {
	}
	if n := strings.Count(w.Body.String(), "event: batch_done\n"); n != 1 {
		t.Fatalf("stream wrote batch_done %d times; want once:\n%s", n, w.Body.String())
	}
}
