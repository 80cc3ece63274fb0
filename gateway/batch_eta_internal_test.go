package gateway

import (
	"testing"
	"time"

	"github.com/forecastd/forecastd/store"
)

func TestBatchETA(t *testing.T) {
	created := time.Date(2026, 1, 31, 12, 0, 0, 0, time.UTC)
	now := created.Add(10 * time.Second)
	tests := []struct {
		name        string
		status      store.BatchStatus
		done, total int
		now         time.Time
		want        int64 // -1: none
	}{
		{"nothing done yet", store.BatchQueued, 0, 100, now, -1},
		{"a quarter done in 10s", store.BatchRunning, 25, 100, now, 30_000},
		{"one of three", store.BatchRunning, 1, 3, now, 20_000},
		{"all but one", store.BatchRunning, 99, 100, now, 101},
		{"every series done", store.BatchRunning, 100, 100, now, -1},
		{"succeeded", store.BatchSucceeded, 100, 100, now, -1},
		{"cancelled", store.BatchCancelled, 10, 100, now, -1},
		{"clock behind created_at", store.BatchRunning, 10, 100, created.Add(-time.Second), -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := store.Batch{Status: tc.status, Done: tc.done, Total: tc.total, CreatedAt: created}
			got := batchETA(b, tc.now)
			switch {
			case tc.want < 0 && got != nil:
				t.Errorf("eta %d ms; want none", *got)
			case tc.want >= 0 && (got == nil || *got != tc.want):
				t.Errorf("eta %v; want %d ms", got, tc.want)
			}
		})
	}
}
