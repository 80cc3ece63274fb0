package coalesce_test

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/forecastd/forecastd/internal/coalesce"
)

// While every flight is held, callers queue; let go, the queued ones go out together in
// flights of at most maxBatch, each item exactly once, never more than maxFlights at once; a
// caller whose context ends stops waiting.
func TestGroupCoalescesQueuedCallers(t *testing.T) {
	const flights, batch, n = 2, 50, 200
	gate := make(chan struct{})
	var mu sync.Mutex
	var sizes []int
	seen := make(map[int]int)
	var inFlight, most, held atomic.Int32
	g := coalesce.New(flights, batch, func(items []int) {
		held.Add(int32(len(items)))
		now := inFlight.Add(1)
		for m := most.Load(); now > m && !most.CompareAndSwap(m, now); m = most.Load() {
		}
		<-gate
		mu.Lock()
		sizes = append(sizes, len(items))
		for _, v := range items {
			seen[v]++
		}
		mu.Unlock()
		inFlight.Add(-1)
	})
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = g.Do(context.Background(), i) }()
	}
	// Every caller is either held in a flight or queued behind them.
	for g.Queued()+int(held.Load()) < n {
		runtime.Gosched()
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := g.Do(ctx, -1); !errors.Is(err, context.Canceled) {
		t.Fatalf("a cancelled caller got %v, want context.Canceled", err)
	}
	close(gate)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("caller %d: %v", i, err)
		}
	}
	for i := range n {
		if seen[i] != 1 {
			t.Fatalf("item %d sent %d times", i, seen[i])
		}
	}
	if most.Load() > flights {
		t.Fatalf("%d flights at once, want at most %d", most.Load(), flights)
	}
	// The first flights carried a caller or two each; the rest of the 200 (and the cancelled
	// caller's item, which may still be sent) went in flights of at most 50.
	if len(sizes) > flights+(n+1+batch-1)/batch {
		t.Fatalf("%d flights for %d callers: %v", len(sizes), n, sizes)
	}
	for _, s := range sizes {
		if s > batch {
			t.Fatalf("a flight of %d items, want at most %d", s, batch)
		}
	}
}

// A lone caller sends at once: its flight is its own.
func TestGroupLoneCallerSendsAlone(t *testing.T) {
	var got [][]string
	g := coalesce.New(1, 10, func(items []string) { got = append(got, items) })
	for _, v := range []string{"a", "b"} {
		if err := g.Do(context.Background(), v); err != nil {
			t.Fatal(err)
		}
	}
	if len(got) != 2 || got[0][0] != "a" || got[1][0] != "b" {
		t.Fatalf("flights %v, want [[a] [b]]", got)
	}
}

// A panicking send reaches the caller that led the flight, releases the flight's other callers
// with ErrFlightPanicked, and leaves the group working.
func TestGroupSurvivesAPanickingSend(t *testing.T) {
	var g *coalesce.Group[string]
	queued := make(chan struct{})
	var lingers atomic.Int32
	g = coalesce.New(1, 10, func(items []string) {
		if len(items) == 2 {
			panic("boom")
		}
	}).Linger(func() {
		if lingers.Add(1) == 1 {
			<-queued // the first flight takes the leader and the caller queued behind it
		}
	})
	led := make(chan any, 1)
	go func() {
		defer func() { led <- recover() }()
		_ = g.Do(context.Background(), "leader")
	}()
	for lingers.Load() == 0 {
		runtime.Gosched()
	}
	follower := make(chan error, 1)
	go func() { follower <- g.Do(context.Background(), "queued") }()
	for g.Queued() < 2 {
		runtime.Gosched()
	}
	close(queued)
	if r := <-led; r != "boom" {
		t.Fatalf("the leader recovered %v, want the panic", r)
	}
	if err := <-follower; !errors.Is(err, coalesce.ErrFlightPanicked) {
		t.Fatalf("the other caller of the flight got %v, want ErrFlightPanicked", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := g.Do(ctx, "after"); err != nil {
		t.Fatalf("a caller after the panic: %v", err)
	}
}
