// Package storetest is the contract every store.Store implementation must meet: one suite, run
// against Memory and Redis alike, so that both keep the same semantics.
package storetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/forecastd/forecastd/store"
)

// Run runs the contract suite. newStore must return a new, empty store for each call, using the
// real clock (leases are tested by letting short ones run out), keeping fewer than 60 recent fits
// and retaining between 100 and a few thousand events (so that trimming can be observed).
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	open := func(t *testing.T) store.Store {
		t.Helper()
		s := newStore(t)
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Errorf("close: %v", err)
			}
		})
		return s
	}
	for _, tc := range []struct {
		name string
		test func(t *testing.T, s store.Store)
	}{
		{"Ping", testPing},
		{"AcceptFit/Generations", testGenerations},
		{"AcceptFit/Concurrent", testConcurrentAccept},
		{"AcceptFit/Invalid", testAcceptInvalid},
		{"AcceptFit/Event", testAcceptEvent},
		{"AcceptFit/Saved", testAcceptSavedFit},
		{"CompleteFit/BecomesCurrent", testCompleteCurrent},
		{"CompleteFit/OutOfOrder", testCompleteOutOfOrder},
		{"CompleteFit/TerminalUnchanged", testTerminalUnchanged},
		{"CompleteFit/UnknownFit", testUnknownFit},
		{"FailFit", testFailFit},
		{"AcceptForecast", testAcceptForecast},
		{"Unsettled/Pending", testUnsettled},
		{"Unsettled/ExpiresLeases", testExpire},
		{"RenewFit", testRenew},
		{"RenewFit/Owner", testRenewOwner},
		{"RenewFit/LapsedLeaseHandsOver", testLapsedLease},
		{"QueueFit", testQueueFit},
		{"Current/NoModel", testNoModel},
		{"Info", testInfo},
		{"List", testList},
		{"Current/SeriesHistory", testSeriesHistory},
		{"History/Bounded", testHistory},
		{"Jobs/RoundTrip", testJobs},
		{"Jobs/Expire", testJobExpiry},
		{"Jobs/PutUnlessAnswered", testPutUnlessAnswered},
		{"ReadForecast", testReadForecast},
		{"Emit", testEmit},
		{"Subscribe", testSubscribe},
		{"Subscribe/SlowReader", testSlowSubscriber},
		{"Subscribe/Close", testSubscribeClose},
		{"Events/Resume", testEventsResume},
		{"Events/Empty", testEventsEmpty},
		{"Events/Trimmed", testEventsTrimmed},
		{"Concurrent", testConcurrent},
		{"Batch/Create", testBatchCreate},
		{"Batch/ResultsOnce", testBatchResultsOnce},
		{"Batch/End", testBatchEnd},
		{"Batch/ConcurrentResults", testBatchConcurrentResults},
		{"Batch/Expire", testBatchExpire},
		{"Batch/SendLease", testBatchSendLease},
		{"Batch/Events", testBatchEvents},
		{"Batch/EndEvents", testBatchEndEvents},
		{"Batch/ProgressCoalesced", testBatchProgressCoalesced},
		{"Batch/ProgressFlushed", testBatchProgressFlushed},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.test(t, open(t)) })
	}
}

const hour = time.Hour

// result carries a call's two results to must, which fails the test on error.
type result[T any] struct {
	v   T
	err error
}

func try[T any](v T, err error) result[T] { return result[T]{v, err} }

func (r result[T]) must(t *testing.T) T {
	t.Helper()
	if r.err != nil {
		t.Fatal(r.err)
	}
	return r.v
}

func accept(t *testing.T, s store.Store, model, job string, lease time.Duration) int64 {
	t.Helper()
	return try(s.AcceptFit(t.Context(), model, job, lease)).must(t)
}

func complete(t *testing.T, s store.Store, model string, gen int64, blob string) bool {
	t.Helper()
	return try(s.CompleteFit(t.Context(), store.ModelRecord{
		Model: model, Generation: gen, Method: "ets", Blob: []byte(blob),
		Summary: json.RawMessage(`{"gen":` + strconv.FormatInt(gen, 10) + `}`),
	})).must(t)
}

func fit(t *testing.T, s store.Store, model string, gen int64) store.FitRecord {
	t.Helper()
	return try(s.Fit(t.Context(), model, gen)).must(t)
}

func allEvents(t *testing.T, s store.Store) []store.Event {
	t.Helper()
	return try(s.Events(t.Context(), "", 0)).must(t)
}

// eventsOf returns the events of one type, in feed order.
func eventsOf(evs []store.Event, typ string) []store.Event {
	var out []store.Event
	for _, ev := range evs {
		if ev.Type == typ {
			out = append(out, ev)
		}
	}
	return out
}

func wantErr(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("err = %v, want %v", err, target)
	}
}

func wantGens(t *testing.T, what string, got, want []int64) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("%s = %v, want %v", what, got, want)
	}
}

func gensOf(fits []store.FitRecord) []int64 {
	gens := []int64{}
	for _, f := range fits {
		gens = append(gens, f.Generation)
	}
	return gens
}

func jsonEqual(t *testing.T, what string, got, want []byte) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("%s: %q is not json: %v", what, got, err)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatalf("%s: want %q is not json: %v", what, want, err)
	}
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	if !bytes.Equal(gb, wb) {
		t.Fatalf("%s = %s, want %s", what, got, want)
	}
}

func sameEvent(t *testing.T, got, want store.Event) {
	t.Helper()
	if got.ID != want.ID || got.Type != want.Type || got.Model != want.Model || got.Batch != want.Batch ||
		got.Generation != want.Generation || got.JobID != want.JobID || !got.Time.Equal(want.Time) {
		t.Fatalf("event = %+v, want %+v", got, want)
	}
	if len(got.Data) != 0 || len(want.Data) != 0 {
		jsonEqual(t, "event data", got.Data, want.Data)
	}
}

func idLess(t *testing.T, a, b string) bool {
	t.Helper()
	parse := func(s string) [2]uint64 {
		msPart, seqPart, ok := strings.Cut(s, "-")
		ms, err1 := strconv.ParseUint(msPart, 10, 64)
		seq, err2 := strconv.ParseUint(seqPart, 10, 64)
		if !ok || err1 != nil || err2 != nil {
			t.Fatalf("event id %q is not <ms>-<seq>", s)
		}
		return [2]uint64{ms, seq}
	}
	x, y := parse(a), parse(b)
	return x[0] < y[0] || x[0] == y[0] && x[1] < y[1]
}

func testPing(t *testing.T, s store.Store) {
	if err := s.Ping(t.Context()); err != nil {
		t.Fatal(err)
	}
}

func testGenerations(t *testing.T, s store.Store) {
	ctx := t.Context()
	if seq := try(s.Sequence(ctx, "a")).must(t); seq != 0 {
		t.Fatalf("sequence before any fit = %d, want 0", seq)
	}
	var gens []int64
	for i := range 3 {
		gens = append(gens, accept(t, s, "a", fmt.Sprintf("job-a%d", i), hour))
	}
	wantGens(t, "generations of a", gens, []int64{1, 2, 3})
	if gen := accept(t, s, "b", "job-b", hour); gen != 1 {
		t.Fatalf("first generation of b = %d, want 1 (sequences are per model)", gen)
	}
	// A failed fit still uses up its generation.
	if _, err := s.FailFit(ctx, "a", 3, "boom"); err != nil {
		t.Fatal(err)
	}
	if gen := accept(t, s, "a", "job-a3", hour); gen != 4 {
		t.Fatalf("generation after a failed fit = %d, want 4", gen)
	}
	if seq := try(s.Sequence(ctx, "a")).must(t); seq != 4 {
		t.Fatalf("sequence of a = %d, want 4", seq)
	}

	f := fit(t, s, "a", 2)
	if f.Generation != 2 || f.JobID != "job-a1" || f.Status != store.FitPending || f.Status.Terminal() {
		t.Fatalf("fit a/2 = %+v", f)
	}
	if f.AcceptedAt.IsZero() || f.ExpiresAt.Sub(f.AcceptedAt) != hour || f.Owner != "" || !f.FinishedAt.IsZero() {
		t.Fatalf("fit a/2 = %+v, want no holder and an expiry a queue lease (one hour) from acceptance", f)
	}
	_, err := s.Fit(ctx, "a", 5)
	wantErr(t, err, store.ErrNoFit)
	_, err = s.Fit(ctx, "nope", 1)
	wantErr(t, err, store.ErrNoFit)
}

func testConcurrentAccept(t *testing.T, s store.Store) {
	const workers, each = 16, 25
	var (
		mu   sync.Mutex
		gens []int64
		wg   sync.WaitGroup
	)
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				gen, err := s.AcceptFit(t.Context(), "m", fmt.Sprintf("j%d-%d", w, i), hour)
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				gens = append(gens, gen)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	slices.Sort(gens)
	for i, gen := range gens {
		if gen != int64(i+1) {
			t.Fatalf("generations are not exactly 1..%d without repeats: %v", workers*each, gens)
		}
	}
	if seq := try(s.Sequence(t.Context(), "m")).must(t); seq != workers*each {
		t.Fatalf("sequence = %d, want %d", seq, workers*each)
	}
}

func testAcceptInvalid(t *testing.T, s store.Store) {
	ctx := t.Context()
	if _, err := s.AcceptFit(ctx, "", "j", hour); err == nil {
		t.Error("AcceptFit with an empty model name succeeded")
	}
	if _, err := s.AcceptFit(ctx, "m", "j", 0); err == nil {
		t.Error("AcceptFit with a zero lease succeeded")
	}
	if seq := try(s.Sequence(ctx, "m")).must(t); seq != 0 {
		t.Errorf("a rejected AcceptFit used a generation: sequence = %d", seq)
	}
}

func testAcceptEvent(t *testing.T, s store.Store) {
	gen := accept(t, s, "m", "job-1", hour)
	evs := allEvents(t, s)
	if len(evs) != 1 {
		t.Fatalf("events = %+v, want one fit_accepted", evs)
	}
	ev := evs[0]
	if ev.Type != store.EventFitAccepted || ev.Model != "m" || ev.Generation != gen ||
		ev.JobID != "job-1" || ev.ID == "" || ev.Time.IsZero() {
		t.Fatalf("event = %+v", ev)
	}
}

// A saved fit is accepted as a fit is, the model's next generation and pending, without
// fit_accepted; completing it emits model_ready.
func testAcceptSavedFit(t *testing.T, s store.Store) {
	ctx := t.Context()
	first := accept(t, s, "m", "job-1", hour)
	gen := try(s.AcceptSavedFit(ctx, "m", "b.0", hour)).must(t)
	if gen != first+1 {
		t.Fatalf("saved fit's generation = %d, want %d", gen, first+1)
	}
	if fr := try(s.Fit(ctx, "m", gen)).must(t); fr.Status != store.FitPending || fr.JobID != "b.0" {
		t.Fatalf("saved fit = %+v, want pending, of job b.0", fr)
	}
	if pending := try(s.Unsettled(ctx, "m", gen)).must(t); !slices.Contains(pending, gen) {
		t.Fatalf("unsettled = %v, want the saved fit among them", pending)
	}
	if _, err := s.AcceptSavedFit(ctx, "", "j", hour); err == nil {
		t.Error("AcceptSavedFit with an empty model name succeeded")
	}
	try(s.CompleteFit(ctx, store.ModelRecord{Model: "m", Generation: gen, Method: "Naive"})).must(t)
	var types []string
	for _, ev := range allEvents(t, s) {
		types = append(types, ev.Type)
	}
	if got := strings.Join(types, " "); got != "fit_accepted model_ready" {
		t.Fatalf("events: %s; want fit_accepted (of the first fit only) model_ready", got)
	}
}

func testCompleteCurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	gen := accept(t, s, "m", "job-1", hour)
	_, err := s.Current(ctx, "m")
	wantErr(t, err, store.ErrNoModel)

	fitted := time.Date(2026, 3, 4, 5, 6, 7, 8_000_000, time.UTC)
	rec := store.ModelRecord{
		Model: "m", Generation: gen, JobID: "job-1", Method: "arima", FittedAt: fitted,
		Summary: json.RawMessage(`{"aicc":12.5}`), Blob: []byte{0, 1, 2, 255},
	}
	if !try(s.CompleteFit(ctx, rec)).must(t) {
		t.Fatal("the first successful fit did not become current")
	}
	cur := try(s.Current(ctx, "m")).must(t)
	if cur.Model != "m" || cur.Generation != gen || cur.JobID != "job-1" || cur.Method != "arima" ||
		!cur.FittedAt.Equal(fitted) || !bytes.Equal(cur.Blob, rec.Blob) {
		t.Fatalf("current = %+v, want %+v", cur, rec)
	}
	jsonEqual(t, "summary", cur.Summary, rec.Summary)

	f := fit(t, s, "m", gen)
	if f.Status != store.FitSucceeded || f.FinishedAt.IsZero() || f.Error != "" {
		t.Fatalf("completed fit = %+v", f)
	}
	ready := eventsOf(allEvents(t, s), store.EventModelReady)
	if len(ready) != 1 || ready[0].Generation != gen || ready[0].Model != "m" || ready[0].JobID != "job-1" {
		t.Fatalf("model_ready events = %+v", ready)
	}
	var data store.ModelReadyData
	if err := json.Unmarshal(ready[0].Data, &data); err != nil || !data.Current || data.Method != "arima" {
		t.Fatalf("model_ready data = %s (%v), want method arima and current true", ready[0].Data, err)
	}
}

func testCompleteOutOfOrder(t *testing.T, s store.Store) {
	ctx := t.Context()
	g1 := accept(t, s, "m", "j1", hour)
	g2 := accept(t, s, "m", "j2", hour)
	if !complete(t, s, "m", g2, "two") {
		t.Fatal("gen 2 completing first did not become current")
	}
	if complete(t, s, "m", g1, "one") {
		t.Fatal("gen 1 completing after gen 2 reported it became current")
	}
	cur := try(s.Current(ctx, "m")).must(t)
	if cur.Generation != g2 || string(cur.Blob) != "two" {
		t.Fatalf("current = gen %d blob %q, want gen 2 blob two", cur.Generation, cur.Blob)
	}
	if g, fitJob, err := s.CurrentGeneration(ctx, "m"); err != nil || g != g2 || fitJob != "j2" {
		t.Fatalf("CurrentGeneration = %d, %q, %v; want %d, j2", g, fitJob, err, g2)
	}
	if f := fit(t, s, "m", g1); f.Status != store.FitSucceeded {
		t.Fatalf("older fit that completed late has status %s, want succeeded", f.Status)
	}
	ready := eventsOf(allEvents(t, s), store.EventModelReady)
	if len(ready) != 2 || ready[0].Generation != g2 || ready[1].Generation != g1 {
		t.Fatalf("model_ready events = %+v", ready)
	}
	var data store.ModelReadyData
	if err := json.Unmarshal(ready[1].Data, &data); err != nil || data.Current {
		t.Fatalf("model_ready for the stale fit = %s (%v), want current false", ready[1].Data, err)
	}
}

func testTerminalUnchanged(t *testing.T, s store.Store) {
	ctx := t.Context()
	g1 := accept(t, s, "m", "j1", hour)
	complete(t, s, "m", g1, "first")
	before := fit(t, s, "m", g1)
	last := try(s.LastEventID(ctx)).must(t)

	if cur, err := s.CompleteFit(ctx, store.ModelRecord{Model: "m", Generation: g1, Method: "ets", Blob: []byte("again")}); cur || !errors.Is(err, store.ErrFitEnded) {
		t.Errorf("completing a succeeded fit again: current %v, %v; want false, ErrFitEnded", cur, err)
	}
	if ended, err := s.FailFit(ctx, "m", g1, "late failure"); err != nil || ended {
		t.Errorf("failing a succeeded fit: ended %v, %v; want false, nil", ended, err)
	}
	if cur := try(s.Current(ctx, "m")).must(t); string(cur.Blob) != "first" {
		t.Errorf("current blob = %q after re-completing a terminal fit, want first", cur.Blob)
	}
	if after := fit(t, s, "m", g1); after != before {
		t.Errorf("terminal fit changed: %+v, was %+v", after, before)
	}

	g2 := accept(t, s, "m", "j2", hour)
	if ended, err := s.FailFit(ctx, "m", g2, "bad series"); err != nil || !ended {
		t.Fatalf("failing a pending fit: ended %v, %v; want true, nil", ended, err)
	}
	failed := fit(t, s, "m", g2)
	if cur, err := s.CompleteFit(ctx, store.ModelRecord{Model: "m", Generation: g2, Method: "ets", Blob: []byte("zombie")}); cur || !errors.Is(err, store.ErrFitEnded) {
		t.Errorf("completing a failed fit: current %v, %v; want false, ErrFitEnded", cur, err)
	}
	if ended, err := s.FailFit(ctx, "m", g2, "other reason"); err != nil || ended {
		t.Errorf("failing a failed fit again: ended %v, %v; want false, nil", ended, err)
	}
	if after := fit(t, s, "m", g2); after != failed || after.Error != "bad series" {
		t.Errorf("failed fit changed: %+v, was %+v", after, failed)
	}
	if cur := try(s.Current(ctx, "m")).must(t); cur.Generation != g1 {
		t.Errorf("current = gen %d, want %d", cur.Generation, g1)
	}
	// Only g2's acceptance and failure were added to the feed.
	evs := try(s.Events(ctx, last, 0)).must(t)
	if len(evs) != 2 || evs[0].Type != store.EventFitAccepted || evs[1].Type != store.EventFitFailed {
		t.Errorf("events after the first completion = %+v, want fit_accepted and fit_failed of gen 2", evs)
	}
}

func testUnknownFit(t *testing.T, s store.Store) {
	ctx := t.Context()
	accept(t, s, "m", "j", hour)
	_, err := s.CompleteFit(ctx, store.ModelRecord{Model: "m", Generation: 7})
	wantErr(t, err, store.ErrNoFit)
	_, err = s.FailFit(ctx, "m", 7, "x")
	wantErr(t, err, store.ErrNoFit)
	_, err = s.RenewFit(ctx, "m", 7, "p1", hour)
	wantErr(t, err, store.ErrNoFit)
	_, err = s.CompleteFit(ctx, store.ModelRecord{Model: "other", Generation: 1})
	wantErr(t, err, store.ErrNoFit)
	_, err = s.Current(ctx, "m")
	wantErr(t, err, store.ErrNoModel)
}

func testFailFit(t *testing.T, s store.Store) {
	ctx := t.Context()
	gen := accept(t, s, "m", "job-9", hour)
	if ended, err := s.FailFit(ctx, "m", gen, "too few observations"); err != nil || !ended {
		t.Fatalf("FailFit: ended %v, %v; want true, nil", ended, err)
	}
	f := fit(t, s, "m", gen)
	if f.Status != store.FitFailed || f.Error != "too few observations" || f.FinishedAt.IsZero() {
		t.Fatalf("failed fit = %+v", f)
	}
	failed := eventsOf(allEvents(t, s), store.EventFitFailed)
	if len(failed) != 1 || failed[0].Generation != gen || failed[0].JobID != "job-9" {
		t.Fatalf("fit_failed events = %+v", failed)
	}
	var data store.FitFailedData
	if err := json.Unmarshal(failed[0].Data, &data); err != nil ||
		data.Error != "too few observations" || data.Status != store.FitFailed {
		t.Fatalf("fit_failed data = %s (%v)", failed[0].Data, err)
	}
	wantGens(t, "unsettled", try(s.Unsettled(ctx, "m", gen)).must(t), nil)
}

func testUnsettled(t *testing.T, s store.Store) {
	ctx := t.Context()
	for range 4 {
		accept(t, s, "m", "j", hour)
	}
	complete(t, s, "m", 2, "two")
	if _, err := s.FailFit(ctx, "m", 4, "x"); err != nil {
		t.Fatal(err)
	}
	wantGens(t, "unsettled ≤ 4", try(s.Unsettled(ctx, "m", 4)).must(t), []int64{1, 3})
	wantGens(t, "unsettled ≤ 10", try(s.Unsettled(ctx, "m", 10)).must(t), []int64{1, 3})
	wantGens(t, "unsettled ≤ 2", try(s.Unsettled(ctx, "m", 2)).must(t), []int64{1})
	wantGens(t, "unsettled ≤ 0", try(s.Unsettled(ctx, "m", 0)).must(t), nil)
	wantGens(t, "unsettled of an unknown model", try(s.Unsettled(ctx, "nope", 5)).must(t), nil)
	complete(t, s, "m", 1, "one")
	complete(t, s, "m", 3, "three")
	wantGens(t, "unsettled after all completed", try(s.Unsettled(ctx, "m", 4)).must(t), nil)
	if cur := try(s.Current(ctx, "m")).must(t); cur.Generation != 3 {
		t.Fatalf("current = %d, want 3", cur.Generation)
	}
}

// AcceptForecast is Sequence, PutJob and Unsettled in one: the barrier, the job recorded and
// the fits up to the barrier still pending; for a model never fitted, 0 and nothing recorded.
func testAcceptForecast(t *testing.T, s store.Store) {
	ctx := t.Context()
	job := store.Job{ID: "fc-1", Kind: "forecast", Model: "m", Status: store.JobQueued, CreatedAt: time.Now()}
	if a, err := s.AcceptForecast(ctx, "m", job, hour); err != nil || a.Barrier != 0 || a.Pending != nil || a.Generation != 0 {
		t.Fatalf("never fitted: %+v, err %v; want a zero acceptance", a, err)
	}
	_, err := s.GetJob(ctx, job.ID)
	wantErr(t, err, store.ErrNoJob)

	for i := range 3 {
		accept(t, s, "m", "j"+strconv.Itoa(i+1), hour)
	}
	if a, err := s.AcceptForecast(ctx, "m", job, hour); err != nil || a.Barrier != 3 || a.Generation != 0 || a.FitJob != "" {
		t.Fatalf("nothing succeeded yet: %+v, err %v; want barrier 3, generation 0", a, err)
	}
	complete(t, s, "m", 2, "two")
	a, err := s.AcceptForecast(ctx, "m", job, hour)
	if err != nil || a.Barrier != 3 || a.Generation != 2 || a.FitJob != "j2" {
		t.Fatalf("%+v, err %v; want barrier 3, generation 2 of job j2", a, err)
	}
	wantGens(t, "pending up to the barrier", a.Pending, []int64{1, 3})
	if got := try(s.GetJob(ctx, job.ID)).must(t); got.Status != store.JobQueued || got.Model != "m" {
		t.Fatalf("recorded job = %+v", got)
	}
	complete(t, s, "m", 1, "one")
	complete(t, s, "m", 3, "three")
	accept(t, s, "other", "j", hour) // another model's fits do not hold this one's forecasts
	job.ID = "fc-2"
	if a, err := s.AcceptForecast(ctx, "m", job, hour); err != nil || a.Barrier != 3 || a.Pending != nil || a.Generation != 3 || a.FitJob != "j3" {
		t.Fatalf("all settled: %+v, err %v; want barrier 3, none pending, generation 3 of job j3", a, err)
	}
	if err := s.PutJob(ctx, job, hour); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AcceptForecast(ctx, "m", store.Job{ID: "bad"}, 0); err == nil {
		t.Fatal("AcceptForecast with a zero ttl succeeded")
	}
}

// waitPast sleeps until the wall clock is certainly past deadline.
func waitPast(deadline time.Time) {
	time.Sleep(time.Until(deadline) + 20*time.Millisecond)
}

func testExpire(t *testing.T, s store.Store) {
	ctx := t.Context()
	g1 := accept(t, s, "m", "job-short", time.Millisecond)
	g2 := accept(t, s, "m", "job-long", hour)
	g3 := accept(t, s, "m", "job-short-too", time.Millisecond)
	waitPast(fit(t, s, "m", g3).ExpiresAt)

	// Only gens ≤ upTo are looked at: g3 stays pending for now.
	wantGens(t, "unsettled ≤ 2", try(s.Unsettled(ctx, "m", g2)).must(t), []int64{g2})
	f := fit(t, s, "m", g1)
	if f.Status != store.FitExpired || !f.Status.Terminal() || f.Error == "" || f.FinishedAt.IsZero() {
		t.Fatalf("overdue fit = %+v, want expired", f)
	}
	if f := fit(t, s, "m", g3); f.Status != store.FitPending {
		t.Fatalf("fit 3 (beyond upTo) = %s, want still pending", f.Status)
	}
	wantGens(t, "unsettled ≤ 3", try(s.Unsettled(ctx, "m", g3)).must(t), []int64{g2})
	wantGens(t, "unsettled again", try(s.Unsettled(ctx, "m", g3)).must(t), []int64{g2})

	failed := eventsOf(allEvents(t, s), store.EventFitFailed)
	if len(failed) != 2 || failed[0].Generation != g1 || failed[1].Generation != g3 || failed[0].JobID != "job-short" {
		t.Fatalf("fit_failed events = %+v, want one each for gens 1 and 3", failed)
	}
	var data store.FitFailedData
	if err := json.Unmarshal(failed[0].Data, &data); err != nil || data.Status != store.FitExpired || data.Error == "" {
		t.Fatalf("fit_failed data = %s (%v), want status expired", failed[0].Data, err)
	}
	if cur, err := s.CompleteFit(ctx, store.ModelRecord{Model: "m", Generation: g1, Method: "ets", Blob: []byte("too late")}); cur || !errors.Is(err, store.ErrFitEnded) {
		t.Fatalf("completing an expired fit: current %v, %v; want false, ErrFitEnded", cur, err)
	}
	_, err := s.Current(ctx, "m")
	wantErr(t, err, store.ErrNoModel)
}

func testRenew(t *testing.T, s store.Store) {
	ctx := t.Context()
	gen := accept(t, s, "m", "j", time.Millisecond)
	start := time.Now()
	f := try(s.RenewFit(ctx, "m", gen, "p1", hour)).must(t)
	if f.Status != store.FitPending || f.LeaseUntil.Before(start.Add(hour-time.Minute)) || f.Owner != "p1" {
		t.Fatalf("renewed fit = %+v, want pending, held by p1, with a lease an hour out", f)
	}
	if got := fit(t, s, "m", gen); !got.LeaseUntil.Equal(f.LeaseUntil) {
		t.Fatalf("stored lease %v, RenewFit returned %v", got.LeaseUntil, f.LeaseUntil)
	}
	time.Sleep(20 * time.Millisecond) // past the original lease
	wantGens(t, "unsettled after renewal", try(s.Unsettled(ctx, "m", gen)).must(t), []int64{gen})

	complete(t, s, "m", gen, "done")
	done := fit(t, s, "m", gen)
	after := try(s.RenewFit(ctx, "m", gen, "p1", 2*hour)).must(t)
	if after != done || after.Status != store.FitSucceeded {
		t.Fatalf("RenewFit on a terminal fit = %+v, want it unchanged: %+v", after, done)
	}
	if _, err := s.RenewFit(ctx, "m", gen, "p1", 0); err == nil {
		t.Fatal("RenewFit with a zero lease succeeded")
	}
}

// testQueueFit: a fit accepted for a short window expires after it unless QueueFit gives it its
// queue lease, from now and, for a held fit, after its holder's lease; the queue lease is then
// the one each renewal gives it. On a terminal fit QueueFit changes nothing.
func testQueueFit(t *testing.T, s store.Store) {
	ctx := t.Context()
	orphan := accept(t, s, "m", "orphan", 30*time.Millisecond) // never queued
	queued := accept(t, s, "m", "queued", 30*time.Millisecond)
	start := time.Now()
	if err := s.QueueFit(ctx, "m", queued, hour); err != nil {
		t.Fatal(err)
	}
	if f := fit(t, s, "m", queued); f.ExpiresAt.Before(start.Add(hour - time.Minute)) {
		t.Fatalf("queued fit expires at %v, want an hour out", f.ExpiresAt)
	}
	time.Sleep(50 * time.Millisecond)
	wantGens(t, "unsettled after the accept window", try(s.Unsettled(ctx, "m", queued)).must(t), []int64{queued})
	if f := fit(t, s, "m", orphan); f.Status != store.FitExpired {
		t.Errorf("fit never queued, after its accept window: %+v, want expired", f)
	}

	// Held before it is queued: the queue lease counts from the end of the holder's lease, and
	// each renewal gives the new queue lease.
	held := accept(t, s, "m", "held", 30*time.Millisecond)
	h := try(s.RenewFit(ctx, "m", held, "p", 2*hour)).must(t)
	if err := s.QueueFit(ctx, "m", held, hour); err != nil {
		t.Fatal(err)
	}
	if f := fit(t, s, "m", held); f.ExpiresAt.Before(h.LeaseUntil.Add(hour - time.Minute)) {
		t.Errorf("held fit queued expires at %v, want an hour after its lease (%v)", f.ExpiresAt, h.LeaseUntil)
	}
	// A renewal past the expiry so far: the new expiry is the queue lease after the new lease.
	r := try(s.RenewFit(ctx, "m", held, "p", 4*hour)).must(t)
	if r.ExpiresAt.Before(r.LeaseUntil.Add(hour - time.Minute)) {
		t.Errorf("renewed after queueing: expires at %v, want the queue lease of an hour after the lease (%v)", r.ExpiresAt, r.LeaseUntil)
	}

	complete(t, s, "m", queued, "done")
	done := fit(t, s, "m", queued)
	if err := s.QueueFit(ctx, "m", queued, 2*hour); err != nil {
		t.Fatal(err)
	}
	if f := fit(t, s, "m", queued); f != done {
		t.Errorf("QueueFit on a terminal fit changed it: %+v, was %+v", f, done)
	}
	wantErr(t, s.QueueFit(ctx, "m", 99, hour), store.ErrNoFit)
}

// testRenewOwner: while one processor's lease runs, another cannot take the fit over (it would
// run the same fit twice); once the lease has run out, it can (the holder died).
func testRenewOwner(t *testing.T, s store.Store) {
	ctx := t.Context()
	gen := accept(t, s, "m", "j", hour)
	held := try(s.RenewFit(ctx, "m", gen, "a", 50*time.Millisecond)).must(t)
	if held.Owner != "a" {
		t.Fatalf("first claim = %+v, want owner a", held)
	}
	other := try(s.RenewFit(ctx, "m", gen, "b", hour)).must(t)
	if other.Owner != "a" || !other.LeaseUntil.Equal(held.LeaseUntil) {
		t.Fatalf("claim by b during a's lease = %+v, want a's record unchanged (%+v)", other, held)
	}
	again := try(s.RenewFit(ctx, "m", gen, "a", 50*time.Millisecond)).must(t)
	if again.Owner != "a" || again.LeaseUntil.Before(held.LeaseUntil) {
		t.Fatalf("renewal by the holder = %+v, want a's lease extended", again)
	}
	waitPast(again.LeaseUntil)
	taken := try(s.RenewFit(ctx, "m", gen, "b", hour)).must(t)
	if taken.Owner != "b" || taken.Status != store.FitPending {
		t.Fatalf("claim by b after a's lease ran out = %+v, want b holding it", taken)
	}
	if got := fit(t, s, "m", gen); got.Owner != "b" {
		t.Fatalf("stored owner %q, want b", got.Owner)
	}

	// Release: only the holder can give the fit up; then anyone may take it at once, and the
	// lease (which keeps waiting forecasts waiting) is unchanged.
	if err := s.ReleaseFit(ctx, "m", gen, "a"); err != nil {
		t.Fatal(err)
	}
	if got := fit(t, s, "m", gen); got.Owner != "b" {
		t.Fatalf("release by a non-holder changed the owner to %q", got.Owner)
	}
	if err := s.ReleaseFit(ctx, "m", gen, "b"); err != nil {
		t.Fatal(err)
	}
	released := fit(t, s, "m", gen)
	if released.Owner != "" || !released.LeaseUntil.Equal(taken.LeaseUntil) || released.Status != store.FitPending {
		t.Fatalf("released fit = %+v, want no owner, same lease %v, pending", released, taken.LeaseUntil)
	}
	if c := try(s.RenewFit(ctx, "m", gen, "c", hour)).must(t); c.Owner != "c" {
		t.Fatalf("claim after release = %+v, want c holding it", c)
	}
	wantErr(t, s.ReleaseFit(ctx, "m", 99, "c"), store.ErrNoFit)
}

// testLapsedLease: a holder's lease running out (its processor died) hands the fit over to the
// next processor that has its command; it does not end the fit. Only a whole queue lease with no
// holder does: then no copy of the command is expected any more.
func testLapsedLease(t *testing.T, s store.Store) {
	ctx := t.Context()
	const queueLease = 300 * time.Millisecond
	gen := accept(t, s, "m", "j", queueLease)
	if f := fit(t, s, "m", gen); f.Owner != "" || f.ExpiresAt.Before(f.AcceptedAt.Add(queueLease)) {
		t.Fatalf("accepted fit = %+v, want no holder and an expiry a queue lease out", f)
	}
	held := try(s.RenewFit(ctx, "m", gen, "a", 50*time.Millisecond)).must(t)
	if want := held.LeaseUntil.Add(queueLease); held.ExpiresAt.Before(want) {
		t.Fatalf("held fit expires at %v, want a queue lease after its lease (%v)", held.ExpiresAt, want)
	}
	waitPast(held.LeaseUntil)
	wantGens(t, "unsettled after the holder's lease ran out", try(s.Unsettled(ctx, "m", gen)).must(t), []int64{gen})
	if f := fit(t, s, "m", gen); f.Status != store.FitPending {
		t.Fatalf("fit after its holder's lease ran out = %s, want still pending", f.Status)
	}
	taken := try(s.RenewFit(ctx, "m", gen, "b", 50*time.Millisecond)).must(t)
	if taken.Owner != "b" || !taken.ExpiresAt.After(held.ExpiresAt) {
		t.Fatalf("takeover = %+v, want b holding it with a later expiry than %v", taken, held.ExpiresAt)
	}
	waitPast(taken.LeaseUntil)
	wantGens(t, "unsettled within the queue lease", try(s.Unsettled(ctx, "m", gen)).must(t), []int64{gen})
	waitPast(taken.ExpiresAt)
	wantGens(t, "unsettled after a queue lease with no holder", try(s.Unsettled(ctx, "m", gen)).must(t), nil)
	if f := fit(t, s, "m", gen); f.Status != store.FitExpired {
		t.Fatalf("fit held by nobody for a queue lease = %s, want expired", f.Status)
	}
}

func testNoModel(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, err := s.Current(ctx, "m")
	wantErr(t, err, store.ErrNoModel)
	_, _, err = s.CurrentGeneration(ctx, "m")
	wantErr(t, err, store.ErrNoModel)
	gen := accept(t, s, "m", "j", hour)
	_, err = s.Current(ctx, "m")
	wantErr(t, err, store.ErrNoModel)
	if _, err := s.FailFit(ctx, "m", gen, "x"); err != nil {
		t.Fatal(err)
	}
	_, err = s.Current(ctx, "m")
	wantErr(t, err, store.ErrNoModel)
	_, _, err = s.CurrentGeneration(ctx, "m")
	wantErr(t, err, store.ErrNoModel)
	info := try(s.Info(ctx, "m")).must(t)
	if info.Current != nil || info.Sequence != 1 {
		t.Fatalf("info of a model without success = %+v", info)
	}
}

func testInfo(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, err := s.Info(ctx, "m")
	wantErr(t, err, store.ErrNoModel)
	for range 4 {
		accept(t, s, "m", "j", hour)
	}
	complete(t, s, "m", 2, "blob-two")
	if _, err := s.FailFit(ctx, "m", 4, "x"); err != nil {
		t.Fatal(err)
	}
	info := try(s.Info(ctx, "m")).must(t)
	if info.Model != "m" || info.Sequence != 4 {
		t.Fatalf("info = %+v", info)
	}
	if info.Current == nil || info.Current.Generation != 2 || info.Current.Method != "ets" {
		t.Fatalf("info current = %+v, want gen 2", info.Current)
	}
	if info.Current.Blob != nil {
		t.Fatalf("info current carries the blob (%d bytes); it must not", len(info.Current.Blob))
	}
	jsonEqual(t, "info current summary", info.Current.Summary, []byte(`{"gen":2}`))
	wantGens(t, "pending", gensOf(info.Pending), []int64{1, 3})
	for _, f := range info.Pending {
		if f.Status != store.FitPending {
			t.Fatalf("pending fit %+v", f)
		}
	}
	wantGens(t, "recent", gensOf(info.Recent), []int64{4, 3, 2, 1})
	statuses := []store.FitStatus{}
	for _, f := range info.Recent {
		statuses = append(statuses, f.Status)
	}
	if want := []store.FitStatus{store.FitFailed, store.FitPending, store.FitSucceeded, store.FitPending}; !slices.Equal(statuses, want) {
		t.Fatalf("recent statuses = %v, want %v", statuses, want)
	}
}

func testList(t *testing.T, s store.Store) {
	ctx := t.Context()
	if infos := try(s.List(ctx)).must(t); len(infos) != 0 {
		t.Fatalf("list of an empty store = %+v", infos)
	}
	accept(t, s, "zeta", "j", hour)
	accept(t, s, "alpha", "j", hour)
	accept(t, s, "alpha", "j", hour)
	complete(t, s, "alpha", 1, "a1")
	infos := try(s.List(ctx)).must(t)
	var names []string
	for _, info := range infos {
		names = append(names, info.Model)
	}
	if !slices.Equal(names, []string{"alpha", "zeta"}) {
		t.Fatalf("listed models = %v, want [alpha zeta]", names)
	}
	alpha, zeta := infos[0], infos[1]
	if alpha.Sequence != 2 || alpha.Current == nil || alpha.Current.Generation != 1 || alpha.Current.Blob != nil {
		t.Fatalf("alpha = %+v", alpha)
	}
	wantGens(t, "alpha pending", gensOf(alpha.Pending), []int64{2})
	if zeta.Sequence != 1 || zeta.Current != nil {
		t.Fatalf("zeta = %+v", zeta)
	}
	wantGens(t, "zeta pending", gensOf(zeta.Pending), []int64{1})
}

// The current model's series history comes back from Current and Info, not from List, and a
// newer model replaces it (a model fitted without one clears it).
func testSeriesHistory(t *testing.T, s store.Store) {
	ctx := t.Context()
	hist := json.RawMessage(`{"values":[1,null,3],"truncated":false}`)
	gen := accept(t, s, "m", "j", hour)
	if !try(s.CompleteFit(ctx, store.ModelRecord{Model: "m", Generation: gen, Method: "naive", Summary: json.RawMessage(`{}`), History: hist, Blob: []byte("b")})).must(t) {
		t.Fatal("the fit did not become current")
	}
	jsonEqual(t, "current history", try(s.Current(ctx, "m")).must(t).History, hist)
	info := try(s.Info(ctx, "m")).must(t)
	if info.Current == nil {
		t.Fatal("info has no current model")
	}
	jsonEqual(t, "info history", info.Current.History, hist)
	list := try(s.List(ctx)).must(t)
	if len(list) != 1 || list[0].Current == nil || len(list[0].Current.History) != 0 {
		t.Fatalf("list = %+v, want one model without its history", list)
	}
	accept(t, s, "m", "j", hour)
	complete(t, s, "m", gen+1, "b2")
	if h := try(s.Current(ctx, "m")).must(t).History; len(h) != 0 {
		t.Fatalf("history after a fit without one = %s, want none", h)
	}
}

func testHistory(t *testing.T, s store.Store) {
	ctx := t.Context()
	const n = 60
	for gen := int64(1); gen <= n; gen++ {
		accept(t, s, "m", "j", hour)
		if gen != 5 {
			complete(t, s, "m", gen, "b")
		}
	}
	info := try(s.Info(ctx, "m")).must(t)
	if len(info.Recent) == 0 || len(info.Recent) >= n-1 {
		t.Fatalf("recent has %d fits; want the newest few (the suite needs fewer than %d kept)", len(info.Recent), n-1)
	}
	for i, f := range info.Recent {
		if f.Generation != int64(n-i) {
			t.Fatalf("recent = %v, want the newest generations, newest first", gensOf(info.Recent))
		}
	}
	wantGens(t, "pending", gensOf(info.Pending), []int64{5})
	oldestRecent := info.Recent[len(info.Recent)-1].Generation
	for gen := int64(1); gen <= n; gen++ {
		_, err := s.Fit(ctx, "m", gen)
		kept := gen == 5 || gen >= oldestRecent
		switch {
		case kept && err != nil:
			t.Fatalf("fit %d (pending or recent) is gone: %v", gen, err)
		case !kept && !errors.Is(err, store.ErrNoFit):
			t.Fatalf("fit %d (old and terminal): err = %v, want ErrNoFit", gen, err)
		}
	}
	// The old pending fit can still finish; it is not newer than the current one.
	if complete(t, s, "m", 5, "old") {
		t.Fatal("old pending fit became current")
	}
	_, err := s.Fit(ctx, "m", 5)
	wantErr(t, err, store.ErrNoFit) // now terminal and old: pruned
	if cur := try(s.Current(ctx, "m")).must(t); cur.Generation != n {
		t.Fatalf("current = %d, want %d", cur.Generation, n)
	}
}

func testJobs(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, err := s.GetJob(ctx, "nope")
	wantErr(t, err, store.ErrNoJob)

	progress := 0.25
	created := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	job := store.Job{
		ID: "job-1", Kind: "fit", Model: "m", Status: store.JobRunning, Generation: 3, Progress: &progress,
		Result: json.RawMessage(`{"aicc":1.5}`), Error: json.RawMessage(`{"message":"none"}`),
		CreatedAt: created, UpdatedAt: created.Add(time.Second),
	}
	if err := s.PutJob(ctx, job, hour); err != nil {
		t.Fatal(err)
	}
	got := try(s.GetJob(ctx, "job-1")).must(t)
	if got.ID != job.ID || got.Kind != job.Kind || got.Model != job.Model || got.Status != job.Status ||
		got.Generation != job.Generation || got.Progress == nil || *got.Progress != progress ||
		!got.CreatedAt.Equal(job.CreatedAt) || !got.UpdatedAt.Equal(job.UpdatedAt) {
		t.Fatalf("job = %+v, want %+v", got, job)
	}
	jsonEqual(t, "job result", got.Result, job.Result)
	jsonEqual(t, "job error", got.Error, job.Error)

	job.Status, job.Progress, job.Error = store.JobSucceeded, nil, nil
	if err := s.PutJob(ctx, job, hour); err != nil {
		t.Fatal(err)
	}
	got = try(s.GetJob(ctx, "job-1")).must(t)
	if got.Status != store.JobSucceeded || got.Progress != nil || got.Error != nil {
		t.Fatalf("replaced job = %+v", got)
	}
	if err := s.PutJob(ctx, store.Job{ID: "x"}, 0); err == nil {
		t.Fatal("PutJob with a zero ttl succeeded")
	}
	if err := s.PutJob(ctx, store.Job{}, hour); err == nil {
		t.Fatal("PutJob without an id succeeded")
	}
}

// PutUnlessAnswered writes a job's answer over a record that holds none (or none at all, or an
// expired one), and never over one that holds an answer, which it returns; a long result does
// not hide the record's status.
func testPutUnlessAnswered(t *testing.T, s store.Store) {
	ctx := t.Context()
	answer := func(id string, status store.JobStatus, result string) store.Job {
		return store.Job{ID: id, Kind: "forecast", Model: "m.1_x-y", Status: status, Generation: 2,
			Result: json.RawMessage(result), CreatedAt: time.Date(2026, 12, 3, 7, 0, 0, 0, time.UTC)}
	}
	for _, before := range []store.JobStatus{"", store.JobQueued, store.JobHeld, store.JobRunning, store.JobExpired} {
		id := "pa-" + string(before)
		if before != "" {
			if err := s.PutJob(ctx, answer(id, before, ""), hour); err != nil {
				t.Fatal(err)
			}
		}
		if prev, written, err := s.PutUnlessAnswered(ctx, answer(id, store.JobSucceeded, `{"point":[1]}`), hour); err != nil || !written {
			t.Fatalf("over %q: written %v, prev %+v, %v; want written", before, written, prev, err)
		}
		if got := try(s.GetJob(ctx, id)).must(t); got.Status != store.JobSucceeded {
			t.Fatalf("over %q: record %+v, want the answer", before, got)
		}
	}
	long := `{"point":[` + strings.Repeat("1.5,", 20000) + `1],"status":"running"}`
	for _, first := range []store.JobStatus{store.JobFailed, store.JobSucceeded} {
		id := "pa-answered-" + string(first) + `-with-"quotes"`
		if _, written, err := s.PutUnlessAnswered(ctx, answer(id, first, long), hour); err != nil || !written {
			t.Fatalf("first answer: written %v, %v", written, err)
		}
		prev, written, err := s.PutUnlessAnswered(ctx, answer(id, store.JobSucceeded, `{"point":[2]}`), hour)
		if err != nil || written || prev.Status != first || len(prev.Result) != len(long) {
			t.Fatalf("over %s: written %v, prev status %q (result of %d bytes), %v; want the first answer kept and returned", first, written, prev.Status, len(prev.Result), err)
		}
		if got := try(s.GetJob(ctx, id)).must(t); got.Status != first || len(got.Result) != len(long) {
			t.Fatalf("over %s: record now %q; want the first answer", first, got.Status)
		}
	}
	if _, _, err := s.PutUnlessAnswered(ctx, store.Job{ID: "x"}, 0); err == nil {
		t.Fatal("PutUnlessAnswered with a zero ttl succeeded")
	}
}

func testReadForecast(t *testing.T, s store.Store) {
	ctx := t.Context()
	if v := try(s.ReadForecast(ctx, "m", "job-f")).must(t); v.Job != nil || v.Generation != 0 {
		t.Fatalf("nothing stored: %+v, want no job and generation 0", v)
	}
	g1 := accept(t, s, "m", "fit-1", hour)
	accept(t, s, "m", "fit-2", hour) // pending: not current
	if !try(s.CompleteFit(ctx, store.ModelRecord{Model: "m", Generation: g1, Blob: []byte{1}})).must(t) {
		t.Fatal("the first fit did not become current")
	}
	if v := try(s.ReadForecast(ctx, "m", "job-f")).must(t); v.Job != nil || v.Generation != g1 || v.FitJob != "fit-1" {
		t.Fatalf("no job yet: %+v, want generation %d of job fit-1", v, g1)
	}
	job := store.Job{ID: "job-f", Kind: "forecast", Model: "m", Status: store.JobSucceeded, Generation: g1,
		Result: json.RawMessage(`{"point":[1]}`), CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	if err := s.PutJob(ctx, job, hour); err != nil {
		t.Fatal(err)
	}
	v := try(s.ReadForecast(ctx, "m", "job-f")).must(t)
	if v.Generation != g1 || v.Job == nil || v.Job.ID != job.ID || v.Job.Status != job.Status || !v.Job.CreatedAt.Equal(job.CreatedAt) {
		t.Fatalf("ReadForecast = %+v (job %+v), want generation %d and job %+v", v, v.Job, g1, job)
	}
	jsonEqual(t, "job result", v.Job.Result, job.Result)
	if v := try(s.ReadForecast(ctx, "other", "job-f")).must(t); v.Generation != 0 || v.Job == nil {
		t.Fatalf("another model: %+v, want the job and generation 0", v)
	}
}

func testJobExpiry(t *testing.T, s store.Store) {
	ctx := t.Context()
	start := time.Now()
	if err := s.PutJob(ctx, store.Job{ID: "short", Status: store.JobQueued}, 10*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if err := s.PutJob(ctx, store.Job{ID: "long", Status: store.JobQueued}, hour); err != nil {
		t.Fatal(err)
	}
	waitPast(start.Add(10 * time.Millisecond))
	_, err := s.GetJob(ctx, "short")
	wantErr(t, err, store.ErrNoJob)
	if job := try(s.GetJob(ctx, "long")).must(t); job.Status != store.JobQueued {
		t.Fatalf("long-lived job = %+v", job)
	}
}

func testEmit(t *testing.T, s store.Store) {
	ctx := t.Context()
	ev := try(s.Emit(ctx, store.Event{
		Type: store.EventFitProgress, Model: "m", Generation: 2, JobID: "j",
		Data: json.RawMessage(`{"progress":0.5}`),
	})).must(t)
	if ev.ID == "" || ev.Time.IsZero() || ev.Type != store.EventFitProgress {
		t.Fatalf("emitted event = %+v", ev)
	}
	evs := allEvents(t, s)
	if len(evs) != 1 {
		t.Fatalf("events = %+v", evs)
	}
	sameEvent(t, evs[0], ev)
	if try(s.LastEventID(ctx)).must(t) != ev.ID {
		t.Fatal("LastEventID is not the emitted event's")
	}
	// Emit changes no state.
	if seq := try(s.Sequence(ctx, "m")).must(t); seq != 0 {
		t.Fatalf("sequence after Emit = %d", seq)
	}
	for _, bad := range []store.Event{
		{Model: "m", Type: ""},
		{Model: "", Type: store.EventFitProgress},
		{Model: "m", Type: store.EventFitProgress, Data: json.RawMessage(`{not json`)},
	} {
		if _, err := s.Emit(ctx, bad); err == nil {
			t.Errorf("Emit(%+v) succeeded", bad)
		}
	}
	if n := len(allEvents(t, s)); n != 1 {
		t.Fatalf("rejected events were appended: %d events", n)
	}
}

func receive(t *testing.T, ch <-chan store.Event) store.Event {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatal("subscription closed early")
		}
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10s")
	}
	return store.Event{}
}

func waitClosed(t *testing.T, ch <-chan store.Event) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-deadline:
			t.Fatal("subscription channel not closed within 10s")
		}
	}
}

func testSubscribe(t *testing.T, s store.Store) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	accept(t, s, "m", "before", hour) // emitted before subscribing: not delivered
	ch1 := try(s.Subscribe(ctx)).must(t)
	ch2 := try(s.Subscribe(t.Context())).must(t)

	gen := accept(t, s, "m", "j", hour)
	if _, err := s.Emit(ctx, store.Event{Type: store.EventFitProgress, Model: "m", Generation: gen,
		Data: json.RawMessage(`{"progress":0.5}`)}); err != nil {
		t.Fatal(err)
	}
	complete(t, s, "m", gen, "b")
	want := allEvents(t, s)[1:]
	if len(want) != 3 {
		t.Fatalf("feed = %+v", want)
	}
	for _, ch := range []<-chan store.Event{ch1, ch2} {
		for _, w := range want {
			sameEvent(t, receive(t, ch), w)
		}
	}
	cancel()
	waitClosed(t, ch1)
	// The other subscription is unaffected.
	ev := try(s.Emit(t.Context(), store.Event{Type: store.EventFitProgress, Model: "m", Generation: gen})).must(t)
	sameEvent(t, receive(t, ch2), ev)
}

// testSlowSubscriber checks that a reader who falls behind neither blocks writers nor loses its
// subscription: it misses events (at-most-once) but gets the rest in order.
func testSlowSubscriber(t *testing.T, s store.Store) {
	ctx := t.Context()
	ch := try(s.Subscribe(ctx)).must(t)
	const n = 1000
	emitted := make(map[string]int, n)
	var firstID string
	for i := range n {
		ev := try(s.Emit(ctx, store.Event{Type: store.EventFitProgress, Model: "m", Generation: int64(i)})).must(t)
		emitted[ev.ID] = i
		if i == 0 {
			firstID = ev.ID
		}
	}
	got := 0
	last := -1
	for drained := false; !drained; {
		select {
		case ev, ok := <-ch:
			if !ok {
				t.Fatal("subscription closed after falling behind")
			}
			i, known := emitted[ev.ID]
			if !known || i <= last || ev.Generation != int64(i) {
				t.Fatalf("delivered %+v after #%d: unknown or out of order", ev, last)
			}
			if got == 0 && ev.ID != firstID {
				t.Fatalf("first delivered event %s, want the first emitted %s", ev.ID, firstID)
			}
			last = i
			got++
		case <-time.After(500 * time.Millisecond):
			drained = true // nothing more in flight
		}
	}
	if got == 0 {
		t.Fatal("no event delivered")
	}
	ev := try(s.Emit(ctx, store.Event{Type: store.EventFitProgress, Model: "m", Generation: n})).must(t)
	sameEvent(t, receive(t, ch), ev)
}

func testSubscribeClose(t *testing.T, s store.Store) {
	ch := try(s.Subscribe(t.Context())).must(t)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, ch)
}

func testEventsResume(t *testing.T, s store.Store) {
	ctx := t.Context()
	var emitted []store.Event
	for i := range 10 {
		emitted = append(emitted, try(s.Emit(ctx, store.Event{
			Type: store.EventFitProgress, Model: "m", Generation: int64(i),
			Data: json.RawMessage(fmt.Sprintf(`{"i":%d}`, i)),
		})).must(t))
	}
	all := allEvents(t, s)
	if len(all) != len(emitted) {
		t.Fatalf("%d events retained, want %d", len(all), len(emitted))
	}
	for i := range all {
		sameEvent(t, all[i], emitted[i])
		if i > 0 && !idLess(t, all[i-1].ID, all[i].ID) {
			t.Fatalf("event ids do not increase: %s then %s", all[i-1].ID, all[i].ID)
		}
	}
	for i := range all {
		got := try(s.Events(ctx, all[i].ID, 0)).must(t)
		if len(got) != len(all)-i-1 {
			t.Fatalf("after %s: %d events, want %d", all[i].ID, len(got), len(all)-i-1)
		}
		for j := range got {
			sameEvent(t, got[j], all[i+1+j])
		}
	}
	got := try(s.Events(ctx, all[2].ID, 3)).must(t)
	if len(got) != 3 || got[0].ID != all[3].ID || got[2].ID != all[5].ID {
		t.Fatalf("3 events after the third = %+v", got)
	}
	if got := try(s.Events(ctx, "", 4)).must(t); len(got) != 4 || got[0].ID != all[0].ID {
		t.Fatalf("first 4 events = %+v", got)
	}
	if try(s.LastEventID(ctx)).must(t) != all[9].ID {
		t.Fatal("LastEventID is not the newest event's")
	}
	_, err := s.Events(ctx, "not-an-id", 0)
	wantErr(t, err, store.ErrBadEventID)
}

func testEventsEmpty(t *testing.T, s store.Store) {
	ctx := t.Context()
	if id := try(s.LastEventID(ctx)).must(t); id != "" {
		t.Fatalf("LastEventID of an empty feed = %q", id)
	}
	if evs := allEvents(t, s); len(evs) != 0 {
		t.Fatalf("events of an empty feed = %+v", evs)
	}
	// A resume point with nothing retained cannot be honoured.
	_, err := s.Events(ctx, "1-0", 0)
	wantErr(t, err, store.ErrEventsGone)
}

func testEventsTrimmed(t *testing.T, s store.Store) {
	ctx := t.Context()
	first := try(s.Emit(ctx, store.Event{Type: store.EventFitProgress, Model: "m"})).must(t)
	last := first
	const most = 10000
	trimmed := false
	for n := 1; n < most && !trimmed; n++ {
		last = try(s.Emit(ctx, store.Event{Type: store.EventFitProgress, Model: "m", Generation: int64(n)})).must(t)
		if n%50 == 0 {
			_, err := s.Events(ctx, first.ID, 1)
			if err != nil && !errors.Is(err, store.ErrEventsGone) {
				t.Fatal(err)
			}
			trimmed = err != nil
		}
	}
	if !trimmed {
		t.Fatalf("after %d events the first is still retained", most)
	}
	retained := allEvents(t, s)
	if len(retained) < 2 || retained[len(retained)-1].ID != last.ID {
		t.Fatalf("retained %d events, newest %+v, want the newest to be %s", len(retained), retained[len(retained)-1], last.ID)
	}
	for i := 1; i < len(retained); i++ {
		if retained[i].Generation != retained[i-1].Generation+1 {
			t.Fatalf("retained events are not the newest contiguous run: gen %d then %d",
				retained[i-1].Generation, retained[i].Generation)
		}
	}
	// The oldest retained event is still a valid resume point.
	got := try(s.Events(ctx, retained[0].ID, 0)).must(t)
	if len(got) != len(retained)-1 || got[0].ID != retained[1].ID {
		t.Fatalf("resume from the oldest retained: %d events, want %d", len(got), len(retained)-1)
	}
	_, err := s.Events(ctx, "0-1", 0)
	wantErr(t, err, store.ErrEventsGone)
}

// testConcurrent runs every operation at once, then checks the end state.
func testConcurrent(t *testing.T, s store.Store) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	models := []string{"a", "b", "c"}
	const workers, fits = 6, 15
	var (
		mu        sync.Mutex
		succeeded = map[string][]int64{}
		accepted  = map[string]int{}
		writers   sync.WaitGroup
		readers   sync.WaitGroup
	)
	errs := make(chan error, 64)
	report := func(err error) {
		select {
		case errs <- err:
		default:
		}
	}
	for w := range workers {
		writers.Go(func() {
			model := models[w%len(models)]
			for i := range fits {
				gen, err := s.AcceptFit(ctx, model, fmt.Sprintf("j%d-%d", w, i), hour)
				if err != nil {
					report(err)
					return
				}
				if _, err := s.RenewFit(ctx, model, gen, fmt.Sprintf("p%d", w), hour); err != nil {
					report(err)
				}
				if _, err := s.Emit(ctx, store.Event{Type: store.EventFitProgress, Model: model, Generation: gen}); err != nil {
					report(err)
				}
				if err := s.PutJob(ctx, store.Job{ID: fmt.Sprintf("j%d-%d", w, i), Model: model}, hour); err != nil {
					report(err)
				}
				if (gen+int64(w))%3 == 0 {
					_, err = s.FailFit(ctx, model, gen, "x")
				} else {
					_, err = s.CompleteFit(ctx, store.ModelRecord{Model: model, Generation: gen, Blob: []byte{byte(gen)}})
					mu.Lock()
					succeeded[model] = append(succeeded[model], gen)
					mu.Unlock()
				}
				if err != nil {
					report(err)
				}
				mu.Lock()
				accepted[model]++
				mu.Unlock()
			}
		})
	}
	sub := try(s.Subscribe(ctx)).must(t)
	readers.Go(func() {
		for range sub {
		}
	})
	for _, model := range models {
		readers.Go(func() {
			for ctx.Err() == nil {
				seq, err := s.Sequence(ctx, model)
				if err == nil {
					_, err = s.Unsettled(ctx, model, seq)
				}
				if err == nil {
					_, err = s.Info(ctx, model)
				}
				if err == nil {
					_, err = s.List(ctx)
				}
				if err == nil {
					_, err = s.Events(ctx, "", 20)
				}
				if err == nil {
					_, err = s.Current(ctx, model)
				}
				if err != nil && !errors.Is(err, store.ErrNoModel) && ctx.Err() == nil {
					report(err)
					return
				}
			}
		})
	}
	writers.Wait()
	cancel()
	readers.Wait() // the subscription must close too, or this hangs
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	bg := context.WithoutCancel(t.Context())
	for _, model := range models {
		seq := try(s.Sequence(bg, model)).must(t)
		if seq != int64(accepted[model]) {
			t.Errorf("%s: sequence %d, accepted %d", model, seq, accepted[model])
		}
		if u := try(s.Unsettled(bg, model, seq)).must(t); len(u) != 0 {
			t.Errorf("%s: fits still pending after all ended: %v", model, u)
		}
		cur := try(s.Current(bg, model)).must(t)
		if newest := slices.Max(succeeded[model]); cur.Generation != newest || !bytes.Equal(cur.Blob, []byte{byte(newest)}) {
			t.Errorf("%s: current gen %d, newest succeeded %d", model, cur.Generation, newest)
		}
	}
}
