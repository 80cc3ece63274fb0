package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/forecastd/forecastd/messages"
)

// Batch errors.
var (
	// ErrNoBatch: the batch does not exist or has expired.
	ErrNoBatch = messages.NewSentinel(messages.CodeNotFound, "no such batch")
	// ErrBatchExists: CreateBatch with the id of a batch that exists.
	ErrBatchExists = messages.NewSentinel(messages.CodeInvalid, "batch already exists")
	// ErrBadSeriesIndex: a result for a series the batch does not have.
	ErrBadSeriesIndex = messages.NewSentinel(messages.CodeInvalid, "no such series in the batch")
	// ErrBatchEnded: the batch being sent ended, or failed, before all of it was sent
	// (ExpireUnsentBatches failed it, say).
	ErrBatchEnded = messages.NewSentinel(messages.CodeUnavailable, "the batch ended before all of it was sent")
)

// UnsentReason is the error recorded on a batch whose sender stopped before it had published
// every series (ExpireUnsentBatches).
const UnsentReason = "the gateway stopped before it had sent every series; submit the batch again"

// BatchStatus is where a batch is in its life: queued, running once a series has ended, then
// succeeded (every series ended, each with its forecast or its own error), failed (the batch
// itself could not run) or cancelled. Everything but queued and running is terminal.
type BatchStatus string

const (
	BatchQueued    BatchStatus = "queued"
	BatchRunning   BatchStatus = "running"
	BatchSucceeded BatchStatus = "succeeded"
	BatchFailed    BatchStatus = "failed"
	BatchCancelled BatchStatus = "cancelled"
)

// Terminal reports whether the batch has ended.
func (s BatchStatus) Terminal() bool { return s != BatchQueued && s != BatchRunning }

// Batch is a batch's record. Done counts the series that ended, Failed those of them that ended
// with an error of their own.
type Batch struct {
	ID     string      `json:"batch_id"`
	Status BatchStatus `json:"status"`
	Total  int         `json:"total"`
	Done   int         `json:"done"`
	Failed int         `json:"failed"`
	// Spec is what the series are forecast with (method, horizon, levels): opaque to the store.
	Spec      json.RawMessage `json:"spec,omitempty"`
	Error     string          `json:"error,omitempty"` // why a failed batch could not run
	CreatedAt time.Time       `json:"created_at"`
	UpdatedAt time.Time       `json:"updated_at"`
	// SendLease, given to CreateBatch, records the batch as being sent (its series published)
	// under a send lease of that length; zero creates it sent.
	SendLease time.Duration `json:"-"`
	// SendBy, read back while the batch is being sent, is when its send lease ends (by the
	// store's clock: Redis's own); zero once it was sent.
	SendBy time.Time `json:"-"`
}

// Batches keeps batches: their records, series names and per-series results. A batch and
// everything of it expires ttl after it was created.
type Batches interface {
	// CreateBatch records a new batch, queued, with Total = len(names), kept for ttl (> 0):
	// ErrBatchExists if b.ID is taken. Zero times are now. A positive b.SendLease records it as
	// being sent, under a send lease that ends that long from now: its sender renews the lease
	// while it publishes the series and calls BatchSent when every one was published; a sender
	// that died leaves the lease to run out, and ExpireUnsentBatches fails the batch.
	CreateBatch(ctx context.Context, b Batch, names []string, ttl time.Duration) error
	// RenewBatchSend makes the send lease of a batch being sent end lease (> 0) from now:
	// ErrBatchEnded if the batch has ended or is no longer being sent, ErrNoBatch.
	RenewBatchSend(ctx context.Context, id string, lease time.Duration) error
	// BatchSent ends the send lease of a batch whose series were all published. A batch that
	// has ended meanwhile is sent all the same (its series may all have ended first), unless it
	// failed (its lease ran out first, say): ErrBatchEnded. ErrNoBatch.
	BatchSent(ctx context.Context, id string) error
	// ExpireUnsentBatches fails, with UnsentReason and a batch_done, every batch still being
	// sent whose send lease has ended, and returns their ids.
	ExpireUnsentBatches(ctx context.Context) ([]string, error)
	// GetBatch reads a batch's record, or ErrNoBatch.
	GetBatch(ctx context.Context, id string) (Batch, error)
	// PutBatchResult records the result of series index (failed: it ended with its own error)
	// once: it reports recorded false, changing nothing, when that series already has a result
	// (a redelivered command) or the batch has ended (cancelled, say). The first result makes
	// the batch running and the last one succeeded. coalesced reports that the batch_progress
	// the result would have emitted was not, one having gone out less than
	// BatchProgressInterval ago: the caller then calls FlushBatchProgress once the interval has
	// passed, so that the counts are told without waiting for the next series. ErrNoBatch,
	// ErrBadSeriesIndex.
	PutBatchResult(ctx context.Context, id string, index int, failed bool, result json.RawMessage) (recorded, coalesced bool, err error)
	// FlushBatchProgress emits batch_progress with the batch's counts if, and only if, the batch
	// is running, a series has ended since its last batch_progress and that one went out at
	// least BatchProgressInterval ago; it reports whether it emitted. However many callers
	// flush after one interval, one emits. ErrNoBatch.
	FlushBatchProgress(ctx context.Context, id string) (bool, error)
	// EndBatch ends a batch that has not ended with status (BatchCancelled, or BatchFailed with
	// reason) and returns its record; a batch that has ended is returned as it is. ErrNoBatch.
	EndBatch(ctx context.Context, id string, status BatchStatus, reason string) (Batch, error)
	// BatchResults returns a batch's record, its series names in order and their results by
	// index (nil for a series that has none yet). ErrNoBatch.
	BatchResults(ctx context.Context, id string) (Batch, []string, []json.RawMessage, error)
}

// checkNewBatch checks a batch about to be created.
func checkNewBatch(b Batch, names []string, ttl time.Duration) error {
	switch {
	case b.ID == "":
		return errors.New("create batch: empty id")
	case len(names) == 0:
		return fmt.Errorf("create batch %s: no series", b.ID)
	case ttl <= 0:
		return fmt.Errorf("create batch %s: ttl %v: must be positive", b.ID, ttl)
	}
	return nil
}

// checkEnd checks the status a batch is ended with.
func checkEnd(id string, status BatchStatus) error {
	if status != BatchCancelled && status != BatchFailed {
		return fmt.Errorf("end batch %s: status %q: must be cancelled or failed", id, status)
	}
	return nil
}
