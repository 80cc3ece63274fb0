package store_test

import (
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/forecastd/forecastd/internal/promtest"
	"github.com/forecastd/forecastd/internal/testenv"
	"github.com/forecastd/forecastd/store"
)

// replicated is a primary with one replica, each a redis-server of the test's own, and a store
// on the primary that waits for the replica.
type replicated struct {
	primary, replica *testenv.Redis
	store            *store.Redis
	reg              *prometheus.Registry
	log              *logBuffer
}

func startReplicated(t *testing.T, refuse bool) *replicated {
	t.Helper()
	primary, replica := testenv.StartReplicated(t)
	pc := primary.Client(t)
	t.Cleanup(func() { pc.Close() })
	return newReplicatedStore(t, primary, replica, pc, refuse)
}

func newReplicatedStore(t *testing.T, primary, replica *testenv.Redis, pc *redis.Client, refuse bool) *replicated {
	lb := &logBuffer{}
	s := store.NewRedis(pc, store.RedisOptions{
		WaitTimeout: 200 * time.Millisecond, RefuseUnreplicated: refuse,
		Log: slog.New(slog.NewTextHandler(lb, nil)),
	})
	t.Cleanup(func() { s.Close() })
	reg := prometheus.NewRegistry()
	reg.MustRegister(s.Collector())
	return &replicated{primary: primary, replica: replica, store: s, reg: reg, log: lb}
}

func (r *replicated) unreplicated(t *testing.T, op, outcome string) float64 {
	return promtest.Value(t, r.reg, "forecastd_store_unreplicated_writes_total", "op", op, "outcome", outcome)
}

// With the replica up, an accepted fit is on the replica by the time AcceptFit returns.
func TestAcceptWaitsForTheReplica(t *testing.T) {
	r := startReplicated(t, true)
	rc := r.replica.Client(t)
	defer rc.Close()
	ctx := t.Context()
	for i := range 20 {
		gen, err := r.store.AcceptFit(ctx, "m", "job-"+strconv.Itoa(i), time.Minute)
		if err != nil {
			t.Fatalf("accept %d: %v", i, err)
		}
		// No sleep, no poll: WAIT returned only once the replica had the write.
		got, err := rc.Get(ctx, "forecastd:seq:m").Int64()
		if err != nil || got != gen {
			t.Fatalf("replica has seq %d (%v) right after accepting generation %d", got, err, gen)
		}
	}
	for _, op := range []string{"accept", "complete", "fail"} {
		if n := r.unreplicated(t, op, "refused") + r.unreplicated(t, op, "proceeded"); n != 0 {
			t.Errorf("%s: %v writes counted unreplicated with the replica up", op, n)
		}
	}
}

// The replica killed, set to proceed: writes succeed, each one counted, with a warning.
func TestReplicaDownProceeds(t *testing.T) {
	r := startReplicated(t, false)
	ctx := t.Context()
	if _, err := r.store.AcceptFit(ctx, "m", "job-0", time.Minute); err != nil {
		t.Fatal(err)
	}
	r.replica.Kill9(t)
	start := time.Now()
	gen, err := r.store.AcceptFit(ctx, "m", "job-1", time.Minute)
	if err != nil {
		t.Fatalf("accept with the replica down, set to proceed: %v", err)
	}
	if _, err := r.store.CompleteFit(ctx, store.ModelRecord{Model: "m", Generation: gen, JobID: "job-1", Method: "naive", Summary: []byte(`{}`), Blob: []byte("b")}); err != nil {
		t.Fatalf("complete: %v", err)
	}
	if _, err := r.store.FailFit(ctx, "m", 1, "test"); err != nil {
		t.Fatalf("fail: %v", err)
	}
	for _, op := range []string{"accept", "complete", "fail"} {
		if n := r.unreplicated(t, op, "proceeded"); n != 1 {
			t.Errorf("%s: %v counted as proceeded, want 1", op, n)
		}
	}
	if !strings.Contains(r.log.String(), "redis write not confirmed by a replica") {
		t.Errorf("no warning logged: %q", r.log.String())
	}
	// A replica known down is not waited for on every write.
	if d := time.Since(start); d > time.Second {
		t.Errorf("three writes took %s with the replica down", d)
	}
	if f, err := r.store.Fit(ctx, "m", gen); err != nil || f.Status != store.FitSucceeded {
		t.Errorf("fit %d: %+v %v", gen, f, err)
	}
}

// The replica killed, set to refuse: accepting fails with ErrNotReplicated and leaves no fit
// pending (a forecast would wait for it); completing and failing fail too, so the processor
// retries. Once the replica is back, writes go through again.
func TestReplicaDownRefuses(t *testing.T) {
	r := startReplicated(t, true)
	ctx := t.Context()
	gen1, err := r.store.AcceptFit(ctx, "m", "job-0", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	r.replica.Kill9(t)
	gen2, err := r.store.AcceptFit(ctx, "m", "job-1", time.Minute)
	if !errors.Is(err, store.ErrNotReplicated) {
		t.Fatalf("accept with the replica down, set to refuse: gen %d, err %v; want ErrNotReplicated", gen2, err)
	}
	if un, err := r.store.Unsettled(ctx, "m", 10); err != nil || len(un) != 1 || un[0] != gen1 {
		t.Errorf("unsettled fits %v (%v), want only %d: the refused fit must not stay pending", un, err, gen1)
	}
	if f, err := r.store.Fit(ctx, "m", gen1+1); err != nil || f.Status != store.FitFailed {
		t.Errorf("refused fit %d: %+v %v, want failed", gen1+1, f, err)
	}
	_, err = r.store.CompleteFit(ctx, store.ModelRecord{Model: "m", Generation: gen1, JobID: "job-0", Method: "naive", Summary: []byte(`{}`), Blob: []byte("b")})
	if !errors.Is(err, store.ErrNotReplicated) {
		t.Errorf("complete with the replica down: %v, want ErrNotReplicated", err)
	}
	if n := r.unreplicated(t, "accept", "refused"); n != 1 {
		t.Errorf("accept: %v refused, want 1", n)
	}
	if n := r.unreplicated(t, "complete", "refused"); n != 1 {
		t.Errorf("complete: %v refused, want 1", n)
	}

	r.replica.Restart(t)
	if err := testenv.Poll(15*time.Second, func() error {
		_, err := r.store.AcceptFit(ctx, "m", "job-2", time.Minute)
		return err
	}); err != nil {
		t.Fatalf("accept after the replica came back: %v", err)
	}
}

// A primary that never had a replica does not wait: a single Redis works as before.
func TestNoReplicaNoWait(t *testing.T) {
	primary := testenv.StartRedis(t, "")
	pc := primary.Client(t)
	defer pc.Close()
	r := newReplicatedStore(t, primary, nil, pc, true)
	start := time.Now()
	for i := range 5 {
		if _, err := r.store.AcceptFit(t.Context(), "m", "job-"+strconv.Itoa(i), time.Minute); err != nil {
			t.Fatalf("accept on a lone primary: %v", err)
		}
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("five accepts took %s on a lone primary", d)
	}
	if n := r.unreplicated(t, "accept", "refused"); n != 0 {
		t.Errorf("%v accepts refused on a lone primary", n)
	}
}

// A batch's writes wait for the replica like a fit's: created, a series' result and its end are
// on the replica by the time each call returns. With the replica down and the store set to
// refuse, each is refused (a processor then keeps the series' delivery and tries again), and a
// batch whose creation was refused is failed, so that none of its series runs.
func TestBatchWritesWaitForTheReplica(t *testing.T) {
	r := startReplicated(t, true)
	rc := r.replica.Client(t)
	defer rc.Close()
	ctx := t.Context()
	onReplica := func(key, field string) string {
		t.Helper()
		v, err := rc.HGet(ctx, key, field).Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			t.Fatalf("replica: HGET %s %s: %v", key, field, err)
		}
		return v
	}
	for i := range 10 {
		id := "b" + strconv.Itoa(i)
		if err := r.store.CreateBatch(ctx, store.Batch{ID: id}, []string{"s0", "s1"}, time.Hour); err != nil {
			t.Fatalf("create %s: %v", id, err)
		}
		if st := onReplica("forecastd:batch:"+id, "status"); st != "queued" {
			t.Fatalf("replica has batch %s %q right after it was created, want queued", id, st)
		}
		if _, _, err := r.store.PutBatchResult(ctx, id, 0, false, []byte(`{"point":[1]}`)); err != nil {
			t.Fatalf("result of %s: %v", id, err)
		}
		if res := onReplica("forecastd:batch:"+id+":results", "0"); res == "" {
			t.Fatalf("replica has no result of %s series 0 right after it was recorded", id)
		}
		if _, err := r.store.EndBatch(ctx, id, store.BatchCancelled, ""); err != nil {
			t.Fatalf("cancel %s: %v", id, err)
		}
		if st := onReplica("forecastd:batch:"+id, "status"); st != "cancelled" {
			t.Fatalf("replica has batch %s %q right after it was cancelled", id, st)
		}
	}
	if err := r.store.CreateBatch(ctx, store.Batch{ID: "running"}, []string{"s0", "s1"}, time.Hour); err != nil {
		t.Fatal(err)
	}

	r.replica.Kill9(t)
	if err := r.store.CreateBatch(ctx, store.Batch{ID: "refused"}, []string{"s0"}, time.Hour); !errors.Is(err, store.ErrNotReplicated) {
		t.Fatalf("create with the replica down, set to refuse: %v, want ErrNotReplicated", err)
	}
	if b, err := r.store.GetBatch(ctx, "refused"); err != nil || b.Status != store.BatchFailed {
		t.Errorf("batch whose creation was refused: %+v %v, want failed", b, err)
	}
	for range 2 { // the second time the result is there already, and still not on a replica
		if _, _, err := r.store.PutBatchResult(ctx, "running", 0, false, []byte(`{"point":[1]}`)); !errors.Is(err, store.ErrNotReplicated) {
			t.Fatalf("result with the replica down: %v, want ErrNotReplicated", err)
		}
	}
	if _, err := r.store.EndBatch(ctx, "running", store.BatchCancelled, ""); !errors.Is(err, store.ErrNotReplicated) {
		t.Errorf("cancel with the replica down: %v, want ErrNotReplicated", err)
	}
	for op, want := range map[string]float64{"batch_create": 1, "batch_result": 2, "batch_end": 2} {
		if n := r.unreplicated(t, op, "refused"); n != want {
			t.Errorf("%s: %v refused, want %v", op, n, want)
		}
	}
}

type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
