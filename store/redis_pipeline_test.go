package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/forecastd/forecastd/internal/testenv"
	"github.com/forecastd/forecastd/store"
)

// gatedClient holds every pipeline, once its commands are queued, until gate is closed, and
// counts pipelines and the commands in them.
type gatedClient struct {
	*redis.Client
	gate      chan struct{}
	pipelines atomic.Int32
	cmds      atomic.Int32
}

func (c *gatedClient) Pipelined(ctx context.Context, fn func(redis.Pipeliner) error) ([]redis.Cmder, error) {
	c.pipelines.Add(1)
	return c.Client.Pipelined(ctx, func(p redis.Pipeliner) error {
		err := fn(p)
		c.cmds.Add(int32(p.Len()))
		<-c.gate
		return err
	})
}

// Job records written and read by many callers at once share pipelines: while the first
// pipelines are held, every other caller queues, and once they are let go the queued ones go
// out in a few pipelines; each caller gets its own result, a failing command fails only its
// caller, and a caller whose context ends stops waiting.
func TestRedisBatchesConcurrentJobRecords(t *testing.T) {
	_, client, prefix := newRedisStore(t)
	gated := &gatedClient{Client: client, gate: make(chan struct{})}
	s := store.NewRedis(gated, store.RedisOptions{Prefix: prefix})
	ctx := t.Context()
	// A job key holding a hash: reading it as a job fails with WRONGTYPE.
	if err := client.HSet(ctx, prefix+":job:bad", "x", "1").Err(); err != nil {
		t.Fatal(err)
	}
	const n = 300
	errs := make([]error, n+1)
	var wg sync.WaitGroup
	put := func(i int) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.PutJob(ctx, store.Job{ID: fmt.Sprint("j", i), Kind: "forecast", Model: "m", Status: store.JobQueued, Generation: int64(i)}, time.Hour)
		}()
	}
	// One caller at a time until every flight is held: each sends its own pipeline.
	const flights = store.PipelineFlights
	for i := range flights {
		put(i)
		for int(gated.pipelines.Load()) < i+1 {
			time.Sleep(time.Millisecond)
		}
	}
	// Then everybody else queues.
	for i := flights; i < n; i++ {
		put(i)
	}
	wg.Add(1)
	go func() { defer wg.Done(); _, errs[n] = s.GetJob(ctx, "bad") }()
	for store.PipelineQueued(s) < n+1-flights {
		time.Sleep(time.Millisecond)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.PutJob(cancelled, store.Job{ID: "gone", Status: store.JobQueued}, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("PutJob with a cancelled context while pipelines are held: %v, want context.Canceled", err)
	}
	if got := gated.pipelines.Load(); got != flights {
		t.Fatalf("%d pipelines sent while %d were held", got, flights)
	}
	close(gated.gate)
	wg.Wait()
	// The queued callers (and the cancelled one's command) in pipelines of at most 256.
	if got := gated.pipelines.Load(); got > flights+2 {
		t.Fatalf("%d queued callers sent %d pipelines, want at most 2", n+2-flights, got-flights)
	}
	for i, err := range errs[:n] {
		if err != nil {
			t.Fatalf("PutJob %d: %v", i, err)
		}
	}
	if err := errs[n]; err == nil || errors.Is(err, store.ErrNoJob) {
		t.Fatalf("GetJob of a key of the wrong type: %v, want its own error", err)
	}
	for i := range n {
		job, err := s.GetJob(ctx, fmt.Sprint("j", i))
		if err != nil || job.Generation != int64(i) {
			t.Fatalf("job %d: %+v, %v", i, job, err)
		}
	}
}

// Scripts sent in shared pipelines still run on a Redis that lost them (restarted, or SCRIPT
// FLUSH): the NOSCRIPT answer makes the caller load the script.
func TestRedisBatchedScriptsSurviveAScriptFlush(t *testing.T) {
	own := testenv.StartRedis(t, "")
	client := own.Client(t)
	defer client.Close()
	s := store.NewRedis(client, store.RedisOptions{})
	defer s.Close()
	ctx := t.Context()
	gen, err := s.AcceptFit(ctx, "m", "fit-1", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for round := range 2 {
		if err := client.ScriptFlush(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		job := store.Job{ID: fmt.Sprint("f", round), Kind: "forecast", Model: "m", Status: store.JobQueued}
		a, err := s.AcceptForecast(ctx, "m", job, time.Hour)
		if err != nil || a.Barrier != gen || len(a.Pending) != 1 || a.Pending[0] != gen {
			t.Fatalf("AcceptForecast after SCRIPT FLUSH: %+v, %v; want barrier %d, pending [%d]", a, err, gen, gen)
		}
		if err := client.ScriptFlush(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		if pending, err := s.Unsettled(ctx, "m", gen); err != nil || len(pending) != 1 {
			t.Fatalf("Unsettled after SCRIPT FLUSH: %v, %v; want [%d]", pending, err, gen)
		}
	}
}
