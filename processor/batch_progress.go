package processor

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/forecastd/forecastd/store"
)

// flushTimeout bounds a trailing batch_progress's store call.
const flushTimeout = 5 * time.Second

// progressFlushes are the batches this processor will flush the progress of once the current
// BatchProgressInterval has passed: one timer per batch, however many of its series end.
type progressFlushes struct {
	mu  sync.Mutex
	due map[string]bool
}

// flushProgressLater is what a processor does when the batch_progress of a series it recorded
// was coalesced: once the interval has passed, it asks the store to emit the counts unless an
// event told them meanwhile. A processor that dies before leaves the next series or batch_done
// to tell them.
func (p *Processor) flushProgressLater(batchID string) {
	f := &p.flushes
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.due[batchID] {
		return
	}
	if f.due == nil {
		f.due = make(map[string]bool)
	}
	f.due[batchID] = true
	time.AfterFunc(store.BatchProgressInterval, func() {
		f.mu.Lock()
		delete(f.due, batchID)
		f.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), flushTimeout)
		defer cancel()
		if _, err := p.store.FlushBatchProgress(ctx, batchID); err != nil && !errors.Is(err, store.ErrNoBatch) {
			p.log.Warn("trailing batch_progress", "batch_id", batchID, "err", err)
		}
	})
}
