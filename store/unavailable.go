package store

import (
	"context"
	"errors"
	"io"
	"net"
	"syscall"

	"github.com/redis/go-redis/v9"
)

// Unavailable reports whether err says the store could not be reached or could not serve just
// now, rather than anything about the data: a connection refused, dropped or timed out, a
// Redis loading its data, a replica not yet promoted (READONLY, MASTERDOWN) or a write no
// replica confirmed in a failover. An operation that failed so may succeed when tried again
// later; the store's own errors (ErrNoFit, …) never are.
func Unavailable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false // the caller's own limit, not the store's (DeadlineExceeded is a net.Error)
	}
	var netErr net.Error
	switch {
	case errors.As(err, &netErr),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, redis.ErrPoolTimeout), errors.Is(err, ErrNotReplicated),
		refusedByServer(err), redis.IsNoReplicasError(err):
		return true
	}
	return false
}

// refusedByServer reports whether the server refused a command, without running it, for a
// state it is in for a while: loading its data, a replica that takes no writes, a primary that
// lost its own, a cluster not ready.
func refusedByServer(err error) bool {
	return redis.IsLoadingError(err) || redis.IsReadOnlyError(err) || redis.IsMasterDownError(err) ||
		redis.IsClusterDownError(err) || redis.IsTryAgainError(err)
}
