package gateway

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// gatedReads is a store read of pending fits that blocks until gate is closed and records the
// barrier of each read.
type gatedReads struct {
	gate    chan struct{}
	pending []int64
	reads   atomic.Int32
	mu      sync.Mutex
	upTo    []int64
}

func (g *gatedReads) read(_ context.Context, _ string, upTo int64) ([]int64, error) {
	g.reads.Add(1)
	g.mu.Lock()
	g.upTo = append(g.upTo, upTo)
	g.mu.Unlock()
	<-g.gate
	var out []int64
	for _, p := range g.pending {
		if p <= upTo {
			out = append(out, p)
		}
	}
	return out, nil
}

// Held forecasts of one model re-checking at once share reads: while one read is in flight,
// every other caller joins the next one, which reads up to the highest of their barriers; each
// gets the pending generations up to its own barrier.
func TestHeldForecastsShareTheirReChecks(t *testing.T) {
	g := &gatedReads{gate: make(chan struct{}), pending: []int64{3, 5, 8}}
	other := &gatedReads{gate: make(chan struct{}), pending: []int64{1}}
	close(other.gate)
	c := newSettleChecks(func(ctx context.Context, model string, upTo int64) ([]int64, error) {
		if model == "other" {
			return other.read(ctx, model, upTo)
		}
		return g.read(ctx, model, upTo)
	})
	ctx := t.Context()
	first := make(chan []int64, 1)
	go func() { p, _ := c.unsettled(ctx, "m", 4); first <- p }()
	for g.reads.Load() < 1 {
		time.Sleep(time.Millisecond)
	}
	const n = 100
	got := make([][]int64, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			if got[i], err = c.unsettled(ctx, "m", int64(i%10)); err != nil {
				t.Errorf("unsettled: %v", err)
			}
		}()
	}
	for c.joined("m") < n {
		time.Sleep(time.Millisecond)
	}
	// Another model's read does not wait for this one's.
	if p, err := c.unsettled(ctx, "other", 1); err != nil || !slices.Equal(p, []int64{1}) {
		t.Fatalf("other model: %v, %v", p, err)
	}
	close(g.gate)
	wg.Wait()
	if p := <-first; !slices.Equal(p, []int64{3}) {
		t.Fatalf("first caller, barrier 4: %v, want [3]", p)
	}
	for i, p := range got {
		var want []int64
		for _, g := range []int64{3, 5, 8} {
			if g <= int64(i%10) {
				want = append(want, g)
			}
		}
		if !slices.Equal(p, want) {
			t.Fatalf("caller %d, barrier %d: %v, want %v", i, i%10, p, want)
		}
	}
	if reads := g.reads.Load(); reads != 2 {
		t.Fatalf("%d callers made %d reads, want 2: the first, and one shared by the rest", n+1, reads)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if !slices.Equal(g.upTo, []int64{4, 9}) {
		t.Fatalf("reads up to %v, want the first up to 4 and a shared one up to 9", g.upTo)
	}
}

// A caller whose context ends stops waiting for the shared read; the others still get it.
func TestHeldForecastReCheckHonoursItsContext(t *testing.T) {
	g := &gatedReads{gate: make(chan struct{}), pending: []int64{2}}
	c := newSettleChecks(g.read)
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() { _, err := c.unsettled(ctx, "m", 2); errc <- err }()
	for g.reads.Load() < 1 {
		time.Sleep(time.Millisecond)
	}
	rest := make(chan []int64, 1)
	go func() { p, _ := c.unsettled(t.Context(), "m", 2); rest <- p }()
	for c.joined("m") < 1 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-errc; err != context.Canceled {
		t.Fatalf("cancelled caller while its read is held: %v, want context.Canceled", err)
	}
	close(g.gate)
	if p := <-rest; !slices.Equal(p, []int64{2}) {
		t.Fatalf("queued caller: %v, want [2]", p)
	}
}
