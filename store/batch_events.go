package store

import "time"

// BatchProgressInterval is the least time between two batch_progress events of one batch, however
// many processors record its series: a batch of thousands of fast series adds a few events a
// second to the feed, not one per series, so it does not push other clients' replay window
// out of the retained history. The counts a coalesced event would have carried are never
// lost: the next one carries newer ones, and batch_done carries the final ones.
const BatchProgressInterval = 250 * time.Millisecond

// BatchProgressData is Event.Data of a batch_progress event: the counts after a series ended
// and the time the rest is expected to take at the pace so far.
type BatchProgressData struct {
	Done   int   `json:"done"`
	Failed int   `json:"failed"`
	Total  int   `json:"total"`
	ETAMs  int64 `json:"eta_ms"`
}

// BatchDoneData is Event.Data of a batch_done event, emitted once when the batch ends in any
// way (its last series recorded, cancelled, failed), with its final counts.
type BatchDoneData struct {
	Status BatchStatus `json:"status"`
	Done   int         `json:"done"`
	Failed int         `json:"failed"`
	Total  int         `json:"total"`
}

// BatchETA is how long, in milliseconds, the series not done yet are expected to take at the
// pace of those done since the batch was created; the Redis script computes the same, and the
// gateway's batch status too.
func BatchETA(created, now time.Time, done, total int) int64 {
	if done <= 0 || done >= total {
		return 0
	}
	elapsed := max(now.Sub(created).Milliseconds(), 0)
	return elapsed * int64(total-done) / int64(done)
}
