package storetest

import (
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/forecastd/forecastd/store"
)

func createBatch(t *testing.T, s store.Store, id string, names ...string) {
	t.Helper()
	err := s.CreateBatch(t.Context(), store.Batch{ID: id, Spec: json.RawMessage(`{"method":"naive","horizon":3}`)}, names, hour)
	if err != nil {
		t.Fatal(err)
	}
}

func putResult(t *testing.T, s store.Store, id string, index int, failed bool) bool {
	t.Helper()
	recorded, _ := putResultCoalesced(t, s, id, index, failed)
	return recorded
}

// putResultCoalesced is putResult also reporting whether its batch_progress was coalesced.
func putResultCoalesced(t *testing.T, s store.Store, id string, index int, failed bool) (recorded, coalesced bool) {
	t.Helper()
	recorded, coalesced, err := s.PutBatchResult(t.Context(), id, index, failed, json.RawMessage(fmt.Sprintf(`{"index":%d}`, index)))
	if err != nil {
		t.Fatal(err)
	}
	return recorded, coalesced
}

// wantBatch checks a batch's status and counts.
func wantBatch(t *testing.T, b store.Batch, status store.BatchStatus, done, failed, total int) {
	t.Helper()
	if b.Status != status || b.Done != done || b.Failed != failed || b.Total != total {
		t.Fatalf("batch %s: status %s, done %d, failed %d, total %d; want %s, %d, %d, %d",
			b.ID, b.Status, b.Done, b.Failed, b.Total, status, done, failed, total)
	}
}

func testBatchCreate(t *testing.T, s store.Store) {
	ctx := t.Context()
	before := time.Now().Add(-time.Millisecond)
	createBatch(t, s, "b1", "a", "b", "c")
	b := try(s.GetBatch(ctx, "b1")).must(t)
	wantBatch(t, b, store.BatchQueued, 0, 0, 3)
	jsonEqual(t, "spec", b.Spec, []byte(`{"method":"naive","horizon":3}`))
	if b.ID != "b1" || b.CreatedAt.Before(before) || b.CreatedAt.After(time.Now()) || !b.UpdatedAt.Equal(b.CreatedAt) {
		t.Fatalf("batch = %+v; want id b1 created now, updated when created", b)
	}
	wantErr(t, s.CreateBatch(ctx, store.Batch{ID: "b1"}, []string{"x"}, hour), store.ErrBatchExists)
	if b := try(s.GetBatch(ctx, "b1")).must(t); b.Total != 3 {
		t.Fatalf("a refused CreateBatch changed the batch: %+v", b)
	}
	_, err := s.GetBatch(ctx, "nope")
	wantErr(t, err, store.ErrNoBatch)
	_, _, _, err = s.BatchResults(ctx, "nope")
	wantErr(t, err, store.ErrNoBatch)
	_, _, err = s.PutBatchResult(ctx, "nope", 0, false, json.RawMessage(`{}`))
	wantErr(t, err, store.ErrNoBatch)
	_, err = s.FlushBatchProgress(ctx, "nope")
	wantErr(t, err, store.ErrNoBatch)
	_, err = s.EndBatch(ctx, "nope", store.BatchCancelled, "")
	wantErr(t, err, store.ErrNoBatch)
	for _, bad := range []struct {
		b     store.Batch
		names []string
		ttl   time.Duration
	}{{store.Batch{}, []string{"a"}, hour}, {store.Batch{ID: "x"}, nil, hour}, {store.Batch{ID: "y"}, []string{"a"}, 0}} {
		if err := s.CreateBatch(ctx, bad.b, bad.names, bad.ttl); err == nil {
			t.Errorf("CreateBatch(%+v, %v, %v) succeeded", bad.b, bad.names, bad.ttl)
		}
	}
}

func testBatchResultsOnce(t *testing.T, s store.Store) {
	ctx := t.Context()
	createBatch(t, s, "b", "s0", "s1", "s2")
	if !putResult(t, s, "b", 1, false) {
		t.Fatal("the first result of series 1 was not recorded")
	}
	wantBatch(t, try(s.GetBatch(ctx, "b")).must(t), store.BatchRunning, 1, 0, 3)
	if putResult(t, s, "b", 1, true) {
		t.Fatal("a second result of series 1 was recorded")
	}
	wantBatch(t, try(s.GetBatch(ctx, "b")).must(t), store.BatchRunning, 1, 0, 3)
	for _, bad := range []int{-1, 3} {
		_, _, err := s.PutBatchResult(ctx, "b", bad, false, json.RawMessage(`{}`))
		wantErr(t, err, store.ErrBadSeriesIndex)
	}
	putResult(t, s, "b", 0, true)
	b, names, results := try3(s.BatchResults(ctx, "b")).must(t)
	wantBatch(t, b, store.BatchRunning, 2, 1, 3)
	if !slices.Equal(names, []string{"s0", "s1", "s2"}) || len(results) != 3 || results[2] != nil {
		t.Fatalf("results: names %v, %d results, the third %s; want the names in order and no result for s2", names, len(results), results[2])
	}
	jsonEqual(t, "result 0", results[0], []byte(`{"index":0}`))
	jsonEqual(t, "result 1", results[1], []byte(`{"index":1}`))
	putResult(t, s, "b", 2, false)
	b = try(s.GetBatch(ctx, "b")).must(t)
	wantBatch(t, b, store.BatchSucceeded, 3, 1, 3)
	if b.UpdatedAt.Before(b.CreatedAt) {
		t.Fatalf("updated %v before created %v", b.UpdatedAt, b.CreatedAt)
	}
}

func testBatchEnd(t *testing.T, s store.Store) {
	ctx := t.Context()
	createBatch(t, s, "c", "s0", "s1", "s2")
	putResult(t, s, "c", 0, false)
	b := try(s.EndBatch(ctx, "c", store.BatchCancelled, "")).must(t)
	wantBatch(t, b, store.BatchCancelled, 1, 0, 3)
	if putResult(t, s, "c", 1, false) {
		t.Fatal("a result was recorded for a cancelled batch")
	}
	b = try(s.EndBatch(ctx, "c", store.BatchFailed, "too late")).must(t)
	wantBatch(t, b, store.BatchCancelled, 1, 0, 3)
	if b.Error != "" {
		t.Fatalf("a cancelled batch got error %q", b.Error)
	}
	if _, _, results := try3(s.BatchResults(ctx, "c")).must(t); results[0] == nil || results[1] != nil {
		t.Fatalf("results of a cancelled batch: %q; want series 0's only", results)
	}

	createBatch(t, s, "f", "s0")
	b = try(s.EndBatch(ctx, "f", store.BatchFailed, "the broker did not take it")).must(t)
	if b.Status != store.BatchFailed || b.Error != "the broker did not take it" {
		t.Fatalf("failed batch = %+v", b)
	}
	createBatch(t, s, "done", "s0")
	putResult(t, s, "done", 0, false)
	if b := try(s.EndBatch(ctx, "done", store.BatchCancelled, "")).must(t); b.Status != store.BatchSucceeded {
		t.Fatalf("cancelling a succeeded batch made it %s", b.Status)
	}
	if _, err := s.EndBatch(ctx, "done", store.BatchRunning, ""); err == nil {
		t.Fatal("EndBatch took status running")
	}
}

// Redelivered commands race their first delivery: each series is counted once.
func testBatchConcurrentResults(t *testing.T, s store.Store) {
	const n = 40
	createBatch(t, s, "race", seriesNames(n)...)
	var wg sync.WaitGroup
	var mu sync.Mutex
	recorded := 0
	for range 3 {
		for i := range n {
			wg.Go(func() {
				ok, _, err := s.PutBatchResult(t.Context(), "race", i, i%4 == 0, json.RawMessage(`{}`))
				if err != nil {
					t.Error(err)
				}
				if ok {
					mu.Lock()
					recorded++
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	if recorded != n {
		t.Errorf("%d results recorded, want %d", recorded, n)
	}
	wantBatch(t, try(s.GetBatch(t.Context(), "race")).must(t), store.BatchSucceeded, n, n/4, n)
}

func testBatchExpire(t *testing.T, s store.Store) {
	ctx := t.Context()
	start := time.Now()
	if err := s.CreateBatch(ctx, store.Batch{ID: "short"}, []string{"a", "b"}, 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	putResult(t, s, "short", 0, false)
	waitPast(start.Add(60 * time.Millisecond))
	_, err := s.GetBatch(ctx, "short")
	wantErr(t, err, store.ErrNoBatch)
	_, _, _, err = s.BatchResults(ctx, "short")
	wantErr(t, err, store.ErrNoBatch)
	if err := s.CreateBatch(ctx, store.Batch{ID: "short"}, []string{"a"}, hour); err != nil {
		t.Fatalf("the id of an expired batch cannot be reused: %v", err)
	}
	if _, _, results := try3(s.BatchResults(ctx, "short")).must(t); results[0] != nil {
		t.Fatalf("a new batch with an expired one's id has its result %s", results[0])
	}
}

type result3[A, B, C any] struct {
	a   A
	b   B
	c   C
	err error
}

func try3[A, B, C any](a A, b B, c C, err error) result3[A, B, C] {
	return result3[A, B, C]{a, b, c, err}
}

func (r result3[A, B, C]) must(t *testing.T) (A, B, C) {
	t.Helper()
	if r.err != nil {
		t.Fatal(r.err)
	}
	return r.a, r.b, r.c
}

// createSending creates batch id as being sent under a send lease of lease.
func createSending(t *testing.T, s store.Store, id string, lease time.Duration, names ...string) {
	t.Helper()
	if err := s.CreateBatch(t.Context(), store.Batch{ID: id, SendLease: lease}, names, hour); err != nil {
		t.Fatal(err)
	}
}

// A batch whose sender died (its send lease ran out before BatchSent) is failed by
// ExpireUnsentBatches, once, with UnsentReason and a batch_done; a batch sent, renewed, ended or
// created sent is left as it is. A batch whose series all ended before its sender called
// BatchSent was sent all the same.
func testBatchSendLease(t *testing.T, s store.Store) {
	ctx := t.Context()
	const short = 20 * time.Millisecond
	createSending(t, s, "orphan", short, "s0", "s1")
	putResult(t, s, "orphan", 0, false) // a series that got out ran
	createSending(t, s, "sent", short, "s0")
	createSending(t, s, "renewed", short, "s0")
	createSending(t, s, "sending", hour, "s0")
	createSending(t, s, "cancelled", short, "s0")
	createSending(t, s, "quick", short, "s0")
	createBatch(t, s, "plain", "s0")

	b := try(s.GetBatch(ctx, "sending")).must(t)
	if until := time.Until(b.SendBy); until < hour-time.Minute || until > hour+time.Minute {
		t.Fatalf("send_by = %v, %v from now; want an hour from now", b.SendBy, until)
	}
	if b := try(s.GetBatch(ctx, "plain")).must(t); !b.SendBy.IsZero() {
		t.Fatalf("a batch created sent has send_by %v", b.SendBy)
	}
	if err := s.BatchSent(ctx, "sent"); err != nil {
		t.Fatal(err)
	}
	if b := try(s.GetBatch(ctx, "sent")).must(t); !b.SendBy.IsZero() {
		t.Fatalf("a sent batch keeps send_by %v", b.SendBy)
	}
	if err := s.RenewBatchSend(ctx, "renewed", hour); err != nil {
		t.Fatal(err)
	}
	try(s.EndBatch(ctx, "cancelled", store.BatchCancelled, "")).must(t)
	// Its only series ended before the publish was confirmed: the batch was sent.
	putResult(t, s, "quick", 0, false)
	if err := s.BatchSent(ctx, "quick"); err != nil {
		t.Fatalf("BatchSent of a batch whose series have all ended: %v", err)
	}
	time.Sleep(2 * short)

	ended := try(s.ExpireUnsentBatches(ctx)).must(t)
	if !slices.Equal(ended, []string{"orphan"}) {
		t.Fatalf("ExpireUnsentBatches ended %q, want [orphan]", ended)
	}
	b = try(s.GetBatch(ctx, "orphan")).must(t)
	wantBatch(t, b, store.BatchFailed, 1, 0, 2)
	if b.Error != store.UnsentReason || !b.SendBy.IsZero() {
		t.Fatalf("expired batch: error %q, send_by %v; want %q, none", b.Error, b.SendBy, store.UnsentReason)
	}
	wantDone(t, batchEvents(t, s, "orphan"), store.BatchFailed, 1, 0, 2)
	if putResult(t, s, "orphan", 1, false) {
		t.Fatal("a result was recorded for a batch failed unsent")
	}
	for _, id := range []string{"sent", "renewed", "sending", "plain"} {
		wantBatch(t, try(s.GetBatch(ctx, id)).must(t), store.BatchQueued, 0, 0, 1)
	}
	wantBatch(t, try(s.GetBatch(ctx, "quick")).must(t), store.BatchSucceeded, 1, 0, 1)
	wantBatch(t, try(s.GetBatch(ctx, "cancelled")).must(t), store.BatchCancelled, 0, 0, 1)
	wantDone(t, batchEvents(t, s, "cancelled"), store.BatchCancelled, 0, 0, 1)
	if again := try(s.ExpireUnsentBatches(ctx)).must(t); len(again) != 0 {
		t.Fatalf("a second ExpireUnsentBatches ended %q", again)
	}
	wantDone(t, batchEvents(t, s, "orphan"), store.BatchFailed, 1, 0, 2)

	// Its lease ended, the sender learns the batch failed under it; a cancelled batch was sent.
	wantErr(t, s.BatchSent(ctx, "orphan"), store.ErrBatchEnded)
	wantErr(t, s.RenewBatchSend(ctx, "orphan", hour), store.ErrBatchEnded)
	wantErr(t, s.RenewBatchSend(ctx, "cancelled", hour), store.ErrBatchEnded)
	wantErr(t, s.RenewBatchSend(ctx, "plain", hour), store.ErrBatchEnded)
	if err := s.BatchSent(ctx, "cancelled"); err != nil {
		t.Fatalf("BatchSent of a cancelled batch: %v", err)
	}
	wantErr(t, s.BatchSent(ctx, "nope"), store.ErrNoBatch)
	wantErr(t, s.RenewBatchSend(ctx, "nope", hour), store.ErrNoBatch)
	if err := s.RenewBatchSend(ctx, "renewed", 0); err == nil {
		t.Fatal("RenewBatchSend took a lease of 0")
	}

	// A lease renewed short ends at the first sweep after it.
	if err := s.RenewBatchSend(ctx, "renewed", short); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * short)
	if ended := try(s.ExpireUnsentBatches(ctx)).must(t); !slices.Equal(ended, []string{"renewed"}) {
		t.Fatalf("ExpireUnsentBatches ended %q, want [renewed]", ended)
	}
}
