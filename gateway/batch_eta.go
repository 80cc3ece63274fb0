package gateway

import (
	"time"

	"github.com/forecastd/forecastd/store"
)

// batchETA estimates, in milliseconds, how long batch b has left at the rate it has kept since
// it was accepted (done series over the time since created_at): nil while no series has ended
// (there is no rate yet) and once the batch has ended.
func batchETA(b store.Batch, now time.Time) *int64 {
	elapsed := now.Sub(b.CreatedAt)
	if b.Status.Terminal() || b.Done <= 0 || b.Done >= b.Total || elapsed <= 0 {
		return nil
	}
	eta := elapsed.Milliseconds() * int64(b.Total-b.Done) / int64(b.Done)
	return &eta
}
