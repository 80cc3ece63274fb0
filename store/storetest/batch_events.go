package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/forecastd/forecastd/store"
)

// seriesNames are n series names: s0, s1, …
func seriesNames(n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("s%d", i)
	}
	return names
}

// batchEvents are the feed's events of batch id, oldest first.
func batchEvents(t *testing.T, s store.Store, id string) []store.Event {
	t.Helper()
	var out []store.Event
	for _, ev := range allEvents(t, s) {
		if ev.Batch == id {
			out = append(out, ev)
		}
	}
	return out
}

func decodeData[T any](t *testing.T, ev store.Event) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(ev.Data, &v); err != nil {
		t.Fatalf("%s data %s: %v", ev.Type, ev.Data, err)
	}
	return v
}

// wantDone checks that evs end with the batch's one batch_done, carrying these final counts.
func wantDone(t *testing.T, evs []store.Event, status store.BatchStatus, done, failed, total int) {
	t.Helper()
	if n := len(eventsOf(evs, store.EventBatchDone)); n != 1 || evs[len(evs)-1].Type != store.EventBatchDone {
		t.Fatalf("%d batch_done events, last event %+v; want one, last", n, evs[len(evs)-1])
	}
	got := decodeData[store.BatchDoneData](t, evs[len(evs)-1])
	if want := (store.BatchDoneData{Status: status, Done: done, Failed: failed, Total: total}); got != want {
		t.Fatalf("batch_done data = %+v, want %+v", got, want)
	}
}

// A batch's events carry its id instead of a model, reach subscribers like model events, and
// end with one batch_done holding the final counts.
func testBatchEvents(t *testing.T, s store.Store) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	live := try(s.Subscribe(ctx)).must(t)
	createBatch(t, s, "ev", "s0", "s1", "s2")
	putResult(t, s, "ev", 1, true)
	evs := batchEvents(t, s, "ev")
	if len(evs) != 1 || evs[0].Type != store.EventBatchProgress || evs[0].Model != "" || evs[0].Generation != 0 {
		t.Fatalf("events after the first result = %+v; want one batch_progress of the batch", evs)
	}
	if p := decodeData[store.BatchProgressData](t, evs[0]); p.Done != 1 || p.Failed != 1 || p.Total != 3 || p.ETAMs < 0 {
		t.Fatalf("batch_progress data = %+v; want done 1, failed 1, total 3, eta_ms ≥ 0", p)
	}
	putResult(t, s, "ev", 0, false)
	putResult(t, s, "ev", 1, false) // a redelivery: no event
	putResult(t, s, "ev", 2, false)
	evs = batchEvents(t, s, "ev")
	wantDone(t, evs, store.BatchSucceeded, 3, 1, 3)
	for _, ev := range evs {
		sameEvent(t, receive(t, live), ev)
	}
	if b := try(s.GetBatch(ctx, "ev")).must(t); !evs[len(evs)-1].Time.Equal(b.UpdatedAt) {
		t.Fatalf("batch_done at %v, the batch ended at %v", evs[len(evs)-1].Time, b.UpdatedAt)
	}
	resumed := try(s.Events(ctx, evs[0].ID, 0)).must(t)
	if len(resumed) != len(evs)-1 || resumed[len(resumed)-1].ID != evs[len(evs)-1].ID {
		t.Fatalf("events after the first batch event = %+v; want the rest of %+v", resumed, evs)
	}
	putResult(t, s, "ev", 0, false) // the batch has ended: nothing more
	if n := len(batchEvents(t, s, "ev")); n != len(evs) {
		t.Fatalf("%d events after a result of an ended batch, want %d", n, len(evs))
	}
}

// A batch that is cancelled or fails gets its batch_done once, when it ends; ending it again,
// or ending a batch that succeeded, emits nothing.
func testBatchEndEvents(t *testing.T, s store.Store) {
	ctx := t.Context()
	createBatch(t, s, "c", "s0", "s1", "s2")
	putResult(t, s, "c", 0, true)
	try(s.EndBatch(ctx, "c", store.BatchCancelled, "")).must(t)
	try(s.EndBatch(ctx, "c", store.BatchCancelled, "")).must(t)
	putResult(t, s, "c", 1, false)
	wantDone(t, batchEvents(t, s, "c"), store.BatchCancelled, 1, 1, 3)

	createBatch(t, s, "f", "s0")
	try(s.EndBatch(ctx, "f", store.BatchFailed, "the broker did not take it")).must(t)
	evs := batchEvents(t, s, "f")
	if len(evs) != 1 {
		t.Fatalf("events of a failed batch = %+v; want its batch_done only", evs)
	}
	wantDone(t, evs, store.BatchFailed, 0, 0, 1)

	createBatch(t, s, "ok", "s0")
	putResult(t, s, "ok", 0, false)
	try(s.EndBatch(ctx, "ok", store.BatchCancelled, "")).must(t)
	wantDone(t, batchEvents(t, s, "ok"), store.BatchSucceeded, 1, 0, 1)
}

// Recording many series quickly emits at most one batch_progress per BatchProgressInterval,
// yet one after each interval that saw a series end, and batch_done with the final counts.
func testBatchProgressCoalesced(t *testing.T, s store.Store) {
	const n = 150
	createBatch(t, s, "many", seriesNames(n)...)
	start := time.Now()
	for i := range n - 1 {
		putResult(t, s, "many", i, i%10 == 0)
	}
	elapsed := time.Since(start)
	progress := eventsOf(batchEvents(t, s, "many"), store.EventBatchProgress)
	// The stores compare whole milliseconds: two events may be up to a millisecond closer.
	bound := 1 + int(elapsed/(store.BatchProgressInterval-time.Millisecond))
	if len(progress) < 1 || len(progress) > bound {
		t.Fatalf("%d batch_progress events for %d series recorded in %v; want 1 to %d", len(progress), n-1, elapsed, bound)
	}
	last := decodeData[store.BatchProgressData](t, progress[len(progress)-1])
	time.Sleep(store.BatchProgressInterval + 20*time.Millisecond)
	putResult(t, s, "many", n-1, false)
	evs := batchEvents(t, s, "many")
	wantDone(t, evs, store.BatchSucceeded, n, n/10, n)
	if len(eventsOf(evs, store.EventBatchProgress)) != len(progress) {
		t.Fatal("the last series emitted batch_progress besides batch_done")
	}

	// After a quiet interval, the next series that ends is reported.
	createBatch(t, s, "slow", "s0", "s1", "s2")
	putResult(t, s, "slow", 0, false)
	time.Sleep(store.BatchProgressInterval + 20*time.Millisecond)
	putResult(t, s, "slow", 1, false)
	progress = eventsOf(batchEvents(t, s, "slow"), store.EventBatchProgress)
	if len(progress) != 2 {
		t.Fatalf("batch_progress after a quiet interval = %+v; want a second one", progress)
	}
	// Two series took over an interval: the third is expected to take some time too.
	if p := decodeData[store.BatchProgressData](t, progress[1]); p.Done != 2 || p.ETAMs <= 0 {
		t.Fatalf("second batch_progress = %+v; want done 2 and a positive eta_ms", p)
	}
	if last.Done > n-1 || last.Total != n {
		t.Fatalf("last batch_progress of the big batch = %+v", last)
	}
}
