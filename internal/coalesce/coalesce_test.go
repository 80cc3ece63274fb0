package coalesce_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

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
	var inFlight, most atomic.Int32
	g := coalesce.New(flights, batch, func(items []int) {
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
	for g.Queued() < n-flights {
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
	// The first flights carried one caller each; the rest of the 200 (and the cancelled
	// caller's item, which may still be sent) went in flights of at most 50.
	if len(sizes) > flights+(n-flights+1+batch-1)/batch {
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
