package live_test

import (
	"testing"
	"time"

	"github.com/forecastd/forecastd/gateway/live"
)

func TestDeadlineMovesOnlyWhenLessThanHalfTheTimeoutIsLeft(t *testing.T) {
	var set []time.Time
	record := func(at time.Time) error { set = append(set, at); return nil }

	long := live.Deadline{Set: record, Timeout: time.Hour}
	before := time.Now()
	long.Extend()
	long.Extend()
	if len(set) != 1 || set[0].Before(before.Add(time.Hour)) {
		t.Fatalf("deadlines set %v; want one, an hour from the first write", set)
	}

	set = nil
	short := live.Deadline{Set: record, Timeout: 2 * time.Millisecond}
	short.Extend()
	time.Sleep(5 * time.Millisecond) // past the deadline: the next write needs a new one
	short.Extend()
	if len(set) != 2 || !set[1].After(set[0]) {
		t.Fatalf("deadlines set %v; want a later one for the second write", set)
	}
}
