package store

import (
	"context"
	"sync"

	"github.com/redis/go-redis/v9"
)

// batcher sends the commands of concurrent callers to Redis together: a caller that finds
// fewer than maxFlights pipelines in flight sends everything queued so far, its own commands
// included, as one pipeline; callers arriving meanwhile queue for the next one. Under load a
// job record write or read then costs a share of one round trip (one write and one read on
// each side) instead of one of its own; alone, a caller sends at once and waits no longer
// than with a plain command. Each caller's commands keep their own results and errors.
type batcher struct {
	rdb redis.UniversalClient

	mu      sync.Mutex
	queued  []*batched
	flights int
}

// batched is one caller's commands: queue adds them to a pipeline; done closes once it ran.
type batched struct {
	queue func(redis.Pipeliner)
	done  chan struct{}
}

const (
	maxFlights = 4   // pipelines in flight at once, each on a connection of the pool
	maxBatch   = 256 // callers' commands in one pipeline
)

func newBatcher(rdb redis.UniversalClient) *batcher { return &batcher{rdb: rdb} }

// do runs the commands queue adds, in a pipeline shared with other callers, and returns once
// they ran (their results are then in the commands) or ctx ended (then they may still run).
func (b *batcher) do(ctx context.Context, queue func(redis.Pipeliner)) error {
	req := &batched{queue: queue, done: make(chan struct{})}
	b.mu.Lock()
	b.queued = append(b.queued, req)
	lead := b.flights < maxFlights
	if lead {
		b.flights++
	}
	b.mu.Unlock()
	if lead && b.fly() {
		// More callers queued while this one's pipeline ran: a goroutine sends theirs, so
		// that this caller returns now.
		go func() {
			for b.fly() {
			}
		}()
	}
	select {
	case <-req.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// fly sends one pipeline of what is queued. It reports whether more is queued, in which case
// the caller keeps the flight and must fly again; otherwise the flight has ended.
func (b *batcher) fly() bool {
	b.mu.Lock()
	n := min(len(b.queued), maxBatch)
	batch := make([]*batched, n)
	copy(batch, b.queued)
	b.queued = b.queued[n:]
	if len(b.queued) == 0 {
		b.queued = nil
	}
	b.mu.Unlock()
	if n > 0 {
		// Each command carries its own error; the client's timeouts bound the round trip, not
		// any one caller's context, since the pipeline is everybody's.
		_, _ = b.rdb.Pipelined(context.Background(), func(p redis.Pipeliner) error {
			for _, r := range batch {
				r.queue(p)
			}
			return nil
		})
		for _, r := range batch {
			close(r.done)
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.queued) > 0 {
		return true
	}
	b.flights--
	return false
}

// runBatched runs script in a pipeline shared with other callers (see batcher). A Redis that
// does not have the script yet (NOSCRIPT: restarted, or flushed) gets it loaded by a call of
// this caller's own.
func (r *Redis) runBatched(ctx context.Context, script *redis.Script, keys []string, args ...any) *redis.Cmd {
	var cmd *redis.Cmd
	if err := r.batch.do(ctx, func(p redis.Pipeliner) { cmd = script.EvalSha(ctx, p, keys, args...) }); err != nil {
		// The pipeline may still run and set cmd: what this caller gets is a command of its own.
		failed := redis.NewCmd(ctx)
		failed.SetErr(err)
		return failed
	}
	if redis.HasErrorPrefix(cmd.Err(), "NOSCRIPT") {
		return script.Run(ctx, r.rdb, keys, args...)
	}
	return cmd
}
