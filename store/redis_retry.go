package store

import (
	"context"
	"errors"
	"net"
	"time"

	"github.com/redis/go-redis/v9"
)

// RetryUnsent is a go-redis hook that sends a command again only when it provably did not run:
// no connection could be made or taken from the pool, or the server refused it without running
// it (loading its data, a replica that does not take writes during a failover, a primary
// without its replicas, too many clients). A client for a Store is made with MaxRetries -1,
// since go-redis's own retry also sends a command again when its reply did not come, after the
// server may have run it, and no script of the store may run twice; this hook gives back the
// retries that are safe. A pipeline is sent again only when none of it was sent.
type RetryUnsent struct{}

// retryUnsentBackoff is the wait before each try again; their number is its length.
var retryUnsentBackoff = []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond}

func (RetryUnsent) DialHook(next redis.DialHook) redis.DialHook { return next }

func (RetryUnsent) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		return retryUnsent(ctx, func() error { return next(ctx, cmd) }, notRun)
	}
}

func (RetryUnsent) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		return retryUnsent(ctx, func() error { return next(ctx, cmds) }, notSent)
	}
}

func retryUnsent(ctx context.Context, try func() error, safe func(error) bool) error {
	err := try()
	for _, wait := range retryUnsentBackoff {
		if err == nil || !safe(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		err = try()
	}
	return err
}

// notSent: the command never left the client.
func notSent(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial" || errors.Is(err, redis.ErrPoolTimeout)
}

// notRun: the command never left the client, or the server refused it before running it.
func notRun(err error) bool {
	return notSent(err) || refusedByServer(err) || redis.IsMaxClientsError(err)
}
