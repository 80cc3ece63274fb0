package store_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/forecastd/forecastd/store"
	"github.com/forecastd/forecastd/store/storetest"
)

func TestMemoryContract(t *testing.T) {
	storetest.Run(t, func(*testing.T) store.Store {
		return store.NewMemory(store.WithEventsMaxLen(200), store.WithRecentFits(10))
	})
}

// fakeClock is a clock the test moves by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// A fit expires exactly a queue lease after acceptance, or after the end of the last lease a
// processor held on it; not when that lease ends.
func TestMemoryFitExpiresAtDeadline(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
	s := store.NewMemory(store.WithClock(clock.Now))
	ctx := t.Context()
	gen, err := s.AcceptFit(ctx, "m", "j", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	clock.Add(time.Minute - time.Millisecond)
	if u, err := s.Unsettled(ctx, "m", gen); err != nil || len(u) != 1 {
		t.Fatalf("a millisecond before the deadline: unsettled = %v, %v; want [1]", u, err)
	}
	if _, err := s.RenewFit(ctx, "m", gen, "p1", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	clock.Add(10 * time.Second) // the holder's lease has run out: it may be taken over
	if u, _ := s.Unsettled(ctx, "m", gen); len(u) != 1 {
		t.Fatalf("fit expired when its holder's lease ran out: unsettled = %v", u)
	}
	clock.Add(time.Minute - time.Millisecond)
	if u, _ := s.Unsettled(ctx, "m", gen); len(u) != 1 {
		t.Fatalf("fit expired before a queue lease after its lease: unsettled = %v", u)
	}
	clock.Add(time.Millisecond)
	if u, _ := s.Unsettled(ctx, "m", gen); len(u) != 0 {
		t.Fatalf("at the deadline: unsettled = %v, want none", u)
	}
	if f, _ := s.Fit(ctx, "m", gen); f.Status != store.FitExpired {
		t.Fatalf("fit status = %s, want expired", f.Status)
	}
}

func TestMemoryJobExpiresWithClock(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
	s := store.NewMemory(store.WithClock(clock.Now))
	ctx := t.Context()
	if err := s.PutJob(ctx, store.Job{ID: "j"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	clock.Add(time.Hour - time.Nanosecond)
	if _, err := s.GetJob(ctx, "j"); err != nil {
		t.Fatalf("job gone before its ttl: %v", err)
	}
	clock.Add(time.Nanosecond)
	if _, err := s.GetJob(ctx, "j"); !errors.Is(err, store.ErrNoJob) {
		t.Fatalf("job after its ttl: err = %v, want ErrNoJob", err)
	}
}

func TestMemoryEventIDsIncreaseWhenClockGoesBack(t *testing.T) {
	clock := &fakeClock{now: time.UnixMilli(5000)}
	s := store.NewMemory(store.WithClock(clock.Now))
	ctx := t.Context()
	var ids []string
	for _, step := range []time.Duration{0, 0, -time.Second, time.Hour} {
		clock.Add(step)
		ev, err := s.Emit(ctx, store.Event{Type: store.EventFitProgress, Model: "m"})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, ev.ID)
	}
	want := []string{"5000-0", "5000-1", "5000-2", "3604000-0"}
	for i := range want {
		if ids[i] != want[i] {
			t.Fatalf("ids = %v, want %v", ids, want)
		}
	}
}
