package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/forecastd/forecastd/messages"
)

// EventID is a parsed event ID, in Redis stream form "<ms>-<seq>". IDs compare in the order
// the events were appended, in both implementations.
type EventID struct{ ms, seq uint64 }

// ParseEventID parses an Event.ID; a malformed one gives ErrBadEventID.
func ParseEventID(s string) (EventID, error) {
	msPart, seqPart, ok := strings.Cut(s, "-")
	if !ok {
		return EventID{}, fmt.Errorf("%q: %w", s, ErrBadEventID)
	}
	ms, err1 := strconv.ParseUint(msPart, 10, 64)
	seq, err2 := strconv.ParseUint(seqPart, 10, 64)
	if err1 != nil || err2 != nil {
		return EventID{}, fmt.Errorf("%q: %w", s, ErrBadEventID)
	}
	return EventID{ms: ms, seq: seq}, nil
}

func (id EventID) String() string { return fmt.Sprintf("%d-%d", id.ms, id.seq) }

// less reports whether id was appended before o.
func (id EventID) less(o EventID) bool {
	return id.ms < o.ms || id.ms == o.ms && id.seq < o.seq
}

// After reports whether id was appended after o.
func (id EventID) After(o EventID) bool { return o.less(id) }

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

// expiredReason is the error recorded on a fit that no processor held for a queue lease.
const expiredReason = "no processor took the fit up within its queue lease"

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

// encodeJob checks a job record about to be stored and encodes it.
func encodeJob(job Job, ttl time.Duration) ([]byte, error) {
	if job.ID == "" {
		return nil, errors.New("put job: empty job id")
	}
	if ttl <= 0 {
		return nil, fmt.Errorf("put job %s: ttl %v: must be positive", job.ID, ttl)
	}
	result := job.Result
	job.Result = nil
	data, err := messages.MarshalWithRaw(job, "result", result)
	if err != nil {
		return nil, fmt.Errorf("put job %s: %w", job.ID, err)
	}
	return data, nil
}

// decodeJob is the job record of job id that encodeJob made.
func decodeJob(id string, data []byte) (Job, error) {
	var job Job
	if err := json.Unmarshal(data, &job); err != nil {
		return Job{}, fmt.Errorf("job %s: %w", id, err)
	}
	return job, nil
}
