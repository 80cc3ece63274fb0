package gateway

import (
	"time"

	"github.com/forecastd/forecastd/store"
)

// batchETA is eta_ms of batch b's status: store.BatchETA, the estimate batch_progress events
// carry, at now; nil while no series has ended (there is no rate yet) and once the batch has
// ended.
func batchETA(b store.Batch, now time.Time) *int64 {
	if b.Status.Terminal() || b.Done <= 0 || b.Done >= b.Total || !now.After(b.CreatedAt) {
		return nil
	}
	eta := store.BatchETA(b.CreatedAt, now, b.Done, b.Total)
	return &eta
}
