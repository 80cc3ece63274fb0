package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// eventID is an event ID in Redis stream form, "<ms>-<seq>". IDs compare in the order the
// events were appended, in both implementations.
type eventID struct{ ms, seq uint64 }

func parseEventID(s string) (eventID, error) {
	msPart, seqPart, ok := strings.Cut(s, "-")
	if !ok {
		return eventID{}, fmt.Errorf("%q: %w", s, ErrBadEventID)
	}
	ms, err1 := strconv.ParseUint(msPart, 10, 64)
	seq, err2 := strconv.ParseUint(seqPart, 10, 64)
	if err1 != nil || err2 != nil {
		return eventID{}, fmt.Errorf("%q: %w", s, ErrBadEventID)
	}
	return eventID{ms: ms, seq: seq}, nil
}

func (id eventID) String() string { return fmt.Sprintf("%d-%d", id.ms, id.seq) }

// less reports whether id was appended before o.
func (id eventID) less(o eventID) bool {
	return id.ms < o.ms || id.ms == o.ms && id.seq < o.seq
}

// ModelReadyData is Event.Data of a model_ready event.
type ModelReadyData struct {
	Method  string `json:"method"`
	Current bool   `json:"current"` // whether the fit became the current model
}

// FitFailedData is Event.Data of a fit_failed event.
type FitFailedData struct {
	Error  string    `json:"error"`
	Status FitStatus `json:"status"` // FitFailed or FitExpired
}

// leaseExpiredReason is the error recorded on a fit whose lease ran out.
const leaseExpiredReason = "lease expired"

// Defaults shared by both implementations.
const (
	defaultEventsMaxLen     = 10000
	defaultRecentFits       = 20
	defaultSubscriberBuffer = 256
)

func checkModel(model string) error {
	if model == "" {
		return errors.New("empty model name")
	}
	return nil
}

func checkLease(lease time.Duration) error {
	if lease <= 0 {
		return fmt.Errorf("lease %v: must be positive", lease)
	}
	return nil
}

// msTime is t at the millisecond precision the stores keep, in UTC.
func msTime(t time.Time) time.Time { return time.UnixMilli(t.UnixMilli()).UTC() }

// cloneBytes copies b, keeping nil and empty apart only as nil.
func cloneBytes(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return append([]byte(nil), b...)
}

// checkEvent validates an event given to Emit.
func checkEvent(ev Event) error {
	if ev.Type == "" {
		return errors.New("event without type")
	}
	if err := checkModel(ev.Model); err != nil {
		return err
	}
	if len(ev.Data) > 0 && !json.Valid(ev.Data) {
		return errors.New("event data is not valid json")
	}
	return nil
}
