package store

import (
	"context"

	"github.com/redis/go-redis/v9"

	"github.com/forecastd/forecastd/internal/coalesce"
)

// batcher sends the commands of concurrent callers to Redis together, as one pipeline per
// flight of a coalesce.Group: under load a job record write or read then costs a share of one
// round trip (one write and one read on each side) instead of one of its own; alone, a caller
// sends at once and waits no longer than with a plain command. Each caller's commands keep
// their own results and errors.
type batcher struct {
	group *coalesce.Group[func(redis.Pipeliner)]
}

// One pipeline is in flight at a time: Redis runs commands one after another anyway, and a
// second pipeline in flight only splits the callers queued behind the first into smaller ones,
// each a write and a read on both sides (64 callers' forecast round trips: about 15% more a
// second with one than with two or four, docs/benchmarks.md).
const (
	maxFlights = 1
	maxBatch   = 256 // callers' commands in one pipeline
)

func newBatcher(rdb redis.UniversalClient) *batcher {
	return &batcher{group: coalesce.New(maxFlights, maxBatch, func(queued []func(redis.Pipeliner)) {
		// Each command carries its own error; the client's timeouts bound the round trip, not
		// any one caller's context, since the pipeline is everybody's.
		_, _ = rdb.Pipelined(context.Background(), func(p redis.Pipeliner) error {
			for _, queue := range queued {
				queue(p)
			}
			return nil
		})
	})}
}

// do runs the commands queue adds, in a pipeline shared with other callers, and returns once
// they ran (their results are then in the commands) or ctx ended (then they may still run).
func (b *batcher) do(ctx context.Context, queue func(redis.Pipeliner)) error {
	return b.group.Do(ctx, queue)
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
