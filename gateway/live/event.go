package live

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/forecastd/forecastd/messages"
	"github.com/forecastd/forecastd/store"
)

// EventID is a parsed event ID, "<ms>-<seq>"; the store defines their order.
type EventID = store.EventID

// ParseEventID parses an event ID as sent to clients.
func ParseEventID(s string) (EventID, bool) {
	id, err := store.ParseEventID(s)
	return id, err == nil
}

// A Format is one transport's encoding of events (an SSE frame, a WebSocket message). Each
// event is encoded at most once per format, however many sessions get it.
type Format struct {
	Encode func(id, name string, data []byte) []byte
}

// Event is one model event as sessions get it.
type Event struct {
	store.Event
	id EventID
	// from is the ID the event is sent with: its own, or for a reset the point to go on from.
	from    string
	subject string          // what sessions follow it by (Subject)
	data    json.RawMessage // the public JSON
	lingers bool            // it tells of work under way (see Config.Linger)

	mu     sync.Mutex
	frames []frame
}

type frame struct {
	f *Format
	b []byte
}

// NewEvent is ev as sessions get it.
func NewEvent(ev store.Event) *Event {
	id, _ := ParseEventID(ev.ID)
	return &Event{Event: ev, id: id, from: ev.ID, subject: Subject(ev), data: eventData(ev), lingers: lingers(ev.Type)}
}

// lingers reports whether events of type typ tell of work under way, which the event that
// ends it will follow.
func lingers(typ string) bool {
	switch typ {
	case store.EventFitAccepted, store.EventFitProgress, store.EventBatchProgress:
		return true
	}
	return false
}

// Subject is what sessions follow an event by: its model's name, or for a batch event
// BatchSubject of its batch.
func Subject(ev store.Event) string {
	if ev.Batch != "" {
		return BatchSubject(ev.Batch)
	}
	return ev.Model
}

// BatchSubject is the subject of batch id's events. Model names have no colon, so it is never
// a model's.
func BatchSubject(id string) string { return "batch:" + id }

// Subjects are the subjects of the events a client follows: the models and batches it names.
// A bad name fails naming its field, modelField or batchField as the client called it.
func Subjects(models, batches []string, modelField, batchField string) ([]string, error) {
	subjects := make([]string, 0, len(models)+len(batches))
	for _, m := range models {
		if p := messages.ValidModelName(m); p != "" {
			return nil, messages.Invalid(modelField, "%q %s", m, p)
		}
		subjects = append(subjects, m)
	}
	for _, b := range batches {
		if p := messages.ValidBatchID(b); p != "" {
			return nil, messages.Invalid(batchField, "%q %s", b, p)
		}
		subjects = append(subjects, BatchSubject(b))
	}
	return subjects, nil
}

// BatchOf is the batch a subject is of, if it is a batch's.
func BatchOf(subject string) (string, bool) { return strings.CutPrefix(subject, "batch:") }

// Frame is the event encoded in f.
func (ev *Event) Frame(f *Format) []byte {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	for _, fr := range ev.frames {
		if fr.f == f {
			return fr.b
		}
	}
	b := f.Encode(ev.from, ev.Type, ev.data)
	ev.frames = append(ev.frames, frame{f, b})
	return b
}

// EventReset is the type of the event that tells a session events were lost (resetEvent).
const EventReset = "reset"

// resetEvent tells a session that the events after lastID cannot be sent (they are no longer
// retained, or lastID is from no log the store has, reason says which); oldest is the oldest
// event retained ("" when none is).
//
// Its id (SSE id:, WebSocket event_id) is from, the point the stream goes on from, so a client
// reconnecting after it resumes there instead of being reset again.
func resetEvent(from, lastID, oldest, reason string) *Event {
	data := messages.JSON(map[string]any{"last_event_id": lastID, "oldest_event_id": oldest, "reason": reason})
	return &Event{Event: store.Event{Type: EventReset}, from: from, data: data}
}

// eventData is the public JSON of an event: model, generation, type, time and job_id (a batch
// event: batch_id, type and time), plus the fields of the event's own data (method, error,
// progress, counts…).
func eventData(ev store.Event) json.RawMessage {
	fields := map[string]any{}
	if len(ev.Data) > 0 {
		var extra map[string]json.RawMessage
		if json.Unmarshal(ev.Data, &extra) == nil {
			for k, v := range extra {
				fields[k] = v
			}
		} else {
			fields["detail"] = ev.Data
		}
	}
	fields["type"], fields["time"] = ev.Type, ev.Time
	if ev.Batch != "" {
		fields["batch_id"] = ev.Batch
		return messages.JSON(fields)
	}
	fields["model"], fields["generation"] = ev.Model, ev.Generation
	if ev.JobID != "" {
		fields["job_id"] = ev.JobID
	}
	return messages.JSON(fields)
}

// Reasons a resuming session is reset: its resume point is older than the retained history, or
// newer than every stored event (the event log was flushed or is new, or a failover lost its
// newest events), so waiting for the events after it would miss every one until then.
const (
	goneReason   = "events after last_event_id are no longer retained; reload state, then follow from here"
	futureReason = "last_event_id is newer than every stored event (the event log was reset, or lost its newest events); reload state, then follow from here"
)

// Resume writes, directly through the transport, what the session resuming after last missed:
// the stored events after it up to cursor (the hub's position when the session attached, after
// which live events take over) whose Subject is in want (nil: all). It returns the newest ID
// the client then has. A resume point the store does not have, too old or in the future, gets
// a reset event instead.
func (s *Session) Resume(last, cursor string, want func(string) bool) (EventID, error) {
	h := s.hub
	ctx, cancel := context.WithTimeout(h.root, h.cfg.ReplayTimeout)
	defer cancel()
	sent, _ := ParseEventID(last)
	end, ok := ParseEventID(cursor)
	if ok && end.After(sent) {
		return s.replay(ctx, last, end, want)
	}
	// Nothing was fanned out after last yet: live events cover the rest, if the store has last.
	// Past the hub's cursor, last may be from a gateway ahead of this one; past the store's
	// newest event, it is from no log the store has, and the client would miss every event
	// until the log caught up with it.
	if !ok || sent.After(end) {
		newest, err := h.feed.LastEventID(ctx)
		if err != nil {
			return sent, fmt.Errorf("check resume point %s: %w", last, err)
		}
		if n, stored := ParseEventID(newest); !stored || sent.After(n) {
			return s.reset(ctx, last, cursor, futureReason)
		}
	}
	_, err := h.feed.Events(ctx, last, 1)
	switch {
	case errors.Is(err, store.ErrEventsGone):
		return s.reset(ctx, last, cursor, goneReason)
	case err != nil:
		return sent, fmt.Errorf("check resume point %s: %w", last, err) // the client retries
	}
	return sent, nil
}

// reset writes a reset event to a resuming session whose resume point last the store does not
// have, and returns the ID it goes on from: the newest event's (cursor, the hub's position, when
// the store has none). The client reloads state, so live events up to last no longer duplicate
// anything it has (see Gate); the newest ID is read after they stop being dropped as such, so
// that none dropped before is newer than the point it goes on from.
func (s *Session) reset(ctx context.Context, last, cursor, reason string) (EventID, error) {
	h := s.hub
	s.mu.Lock()
	s.skipUntil, s.skipModels = nil, nil
	s.mu.Unlock()
	from := cursor
	if newest, err := h.feed.LastEventID(ctx); err == nil && newest != "" {
		from = newest
	}
	id, _ := ParseEventID(from)
	return id, s.writeEvents(resetEvent(from, last, h.oldestEventID(ctx), reason))
}

// replay writes, a page at a time, the stored events after last up to end whose Subject is in
// want (nil: all), and returns the newest ID passed. A resume point older than the retained
// history gets a reset event instead.
func (s *Session) replay(ctx context.Context, last string, end EventID, want func(string) bool) (EventID, error) {
	h := s.hub
	sent, _ := ParseEventID(last)
	after := last
	for range 10_000 { // bounded: 5M events
		evs, err := h.feed.Events(ctx, after, eventPage)
		if errors.Is(err, store.ErrEventsGone) {
			return end, s.writeEvents(resetEvent(end.String(), last, h.oldestEventID(ctx), goneReason))
		}
		if err != nil {
			return sent, fmt.Errorf("replay events after %s: %w", after, err)
		}
		done := len(evs) < eventPage
		var page []*Event
		for _, ev := range evs {
			id, _ := ParseEventID(ev.ID)
			if id.After(end) {
				done = true
				break
			}
			after, sent = ev.ID, id
			if want == nil || want(Subject(ev)) {
				page = append(page, NewEvent(ev))
			}
		}
		if err := s.writeEvents(page...); err != nil {
			return sent, err
		}
		if done {
			break
		}
	}
	return sent, nil
}

// writeEvents writes events now, bypassing the queue (see Gate).
func (s *Session) writeEvents(evs ...*Event) error {
	if len(evs) == 0 {
		return nil
	}
	msgs := make([][]byte, len(evs))
	for i, ev := range evs {
		msgs[i] = ev.Frame(s.t.Format())
	}
	return s.t.WriteBatch(msgs, false)
}

// ModelSet is models (or subjects) as a set, nil when there are none.
func ModelSet(models []string) map[string]bool {
	if len(models) == 0 {
		return nil
	}
	set := make(map[string]bool, len(models))
	for _, m := range models {
		set[m] = true
	}
	return set
}
