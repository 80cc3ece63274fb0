package store

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/forecastd/forecastd/messages"
)

type memBatch struct {
	rec     Batch
	names   []string
	results map[int]json.RawMessage
	expires time.Time
	emitted time.Time // when the last batch_progress was emitted
	// emittedDone is the count of series done that it carried.
	emittedDone int
}

// batch returns a batch that has not expired; the caller holds m.mu.
func (m *Memory) batch(id string) (*memBatch, error) {
	b, ok := m.batches[id]
	if ok && !m.now().Before(b.expires) {
		delete(m.batches, id)
		ok = false
	}
	if !ok {
		return nil, fmt.Errorf("batch %s: %w", id, ErrNoBatch)
	}
	return b, nil
}

func (m *Memory) CreateBatch(_ context.Context, b Batch, names []string, ttl time.Duration) error {
	if err := checkNewBatch(b, names, ttl); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	for id, old := range m.batches { // few batches live at once
		if !now.Before(old.expires) {
			delete(m.batches, id)
		}
	}
	if _, ok := m.batches[b.ID]; ok {
		return fmt.Errorf("batch %s: %w", b.ID, ErrBatchExists)
	}
	b.Status, b.Total, b.Done, b.Failed, b.Error = BatchQueued, len(names), 0, 0, ""
	b.SendBy = time.Time{}
	if b.SendLease > 0 {
		b.SendBy = msTime(now.Add(b.SendLease))
	}
	b.SendLease = 0
	if b.CreatedAt.IsZero() {
		b.CreatedAt = now
	}
	if b.UpdatedAt.IsZero() {
		b.UpdatedAt = b.CreatedAt
	}
	b.CreatedAt, b.UpdatedAt = msTime(b.CreatedAt), msTime(b.UpdatedAt)
	b.Spec = cloneBytes(b.Spec)
	m.batches[b.ID] = &memBatch{rec: b, names: slices.Clone(names), results: map[int]json.RawMessage{}, expires: now.Add(ttl)}
	return nil
}

func (m *Memory) GetBatch(_ context.Context, id string) (Batch, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, err := m.batch(id)
	if err != nil {
		return Batch{}, err
	}
	return copyBatch(b.rec), nil
}

func (m *Memory) PutBatchResult(_ context.Context, id string, index int, failed bool, result json.RawMessage) (bool, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, err := m.batch(id)
	if err != nil {
		return false, false, err
	}
	if index < 0 || index >= b.rec.Total {
		return false, false, fmt.Errorf("batch %s series %d: %w", id, index, ErrBadSeriesIndex)
	}
	if _, ok := b.results[index]; ok || b.rec.Status.Terminal() {
		return false, false, nil
	}
	b.results[index] = cloneBytes(result)
	b.rec.Done++
	if failed {
		b.rec.Failed++
	}
	b.rec.Status = BatchRunning
	if b.rec.Done == b.rec.Total {
		b.rec.Status = BatchSucceeded
	}
	b.rec.UpdatedAt = m.clock()
	switch {
	case b.rec.Status == BatchSucceeded:
		m.emitBatchDone(b.rec)
	case !m.emitProgress(b):
		return true, true, nil
	}
	return true, false, nil
}

func (m *Memory) FlushBatchProgress(_ context.Context, id string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, err := m.batch(id)
	if err != nil {
		return false, err
	}
	if b.rec.Status != BatchRunning || b.rec.Done <= b.emittedDone {
		return false, nil
	}
	return m.emitProgress(b), nil
}

// emitProgress emits batch_progress unless one went out less than BatchProgressInterval ago, and
// reports whether it did; the caller holds m.mu.
func (m *Memory) emitProgress(b *memBatch) bool {
	now := m.now()
	if now.Sub(b.emitted) < BatchProgressInterval {
		return false
	}
	b.emitted, b.emittedDone = now, b.rec.Done
	rec := b.rec
	rec.UpdatedAt = m.clock() // the event's time
	m.emitBatch(rec, EventBatchProgress, BatchProgressData{Done: rec.Done, Failed: rec.Failed,
		Total: rec.Total, ETAMs: BatchETA(rec.CreatedAt, rec.UpdatedAt, rec.Done, rec.Total)})
	return true
}

// emitBatch appends a batch event; the caller holds m.mu.
func (m *Memory) emitBatch(b Batch, typ string, data any) {
	m.append(Event{Type: typ, Batch: b.ID, Time: b.UpdatedAt, Data: messages.JSON(data)})
}

func (m *Memory) emitBatchDone(b Batch) {
	m.emitBatch(b, EventBatchDone, BatchDoneData{Status: b.Status, Done: b.Done, Failed: b.Failed, Total: b.Total})
}

func (m *Memory) EndBatch(_ context.Context, id string, status BatchStatus, reason string) (Batch, error) {
	if err := checkEnd(id, status); err != nil {
		return Batch{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	b, err := m.batch(id)
	if err != nil {
		return Batch{}, err
	}
	if !b.rec.Status.Terminal() {
		b.rec.Status, b.rec.UpdatedAt = status, m.clock()
		if status == BatchFailed {
			b.rec.Error = reason
		}
		m.emitBatchDone(b.rec)
	}
	return copyBatch(b.rec), nil
}

// sending returns batch id if it is being sent; the caller holds m.mu.
func (m *Memory) sending(id string) (*memBatch, error) {
	b, err := m.batch(id)
	if err != nil {
		return nil, err
	}
	if b.rec.SendBy.IsZero() || b.rec.Status.Terminal() {
		return nil, fmt.Errorf("batch %s: %w", id, ErrBatchEnded)
	}
	return b, nil
}

func (m *Memory) RenewBatchSend(_ context.Context, id string, lease time.Duration) error {
	if lease <= 0 {
		return fmt.Errorf("renew send lease of batch %s: lease %v: must be positive", id, lease)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	b, err := m.sending(id)
	if err == nil {
		b.rec.SendBy = msTime(m.now().Add(lease))
	}
	return err
}

func (m *Memory) BatchSent(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, err := m.batch(id)
	if err != nil {
		return err
	}
	b.rec.SendBy = time.Time{}
	if b.rec.Status == BatchFailed {
		return fmt.Errorf("batch %s: %w", id, ErrBatchEnded)
	}
	return nil
}

func (m *Memory) ExpireUnsentBatches(context.Context) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var ended []string
	now := m.now()
	for id := range m.batches {
		b, err := m.sending(id)
		if err != nil || b.rec.SendBy.After(now) {
			continue
		}
		b.rec.Status, b.rec.Error, b.rec.SendBy, b.rec.UpdatedAt = BatchFailed, UnsentReason, time.Time{}, m.clock()
		m.emitBatchDone(b.rec)
		ended = append(ended, id)
	}
	slices.Sort(ended)
	return ended, nil
}

func (m *Memory) BatchResults(_ context.Context, id string) (Batch, []string, []json.RawMessage, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, err := m.batch(id)
	if err != nil {
		return Batch{}, nil, nil, err
	}
	results := make([]json.RawMessage, b.rec.Total)
	for i, r := range b.results {
		results[i] = cloneBytes(r)
	}
	return copyBatch(b.rec), slices.Clone(b.names), results, nil
}

func copyBatch(b Batch) Batch {
	b.Spec = cloneBytes(b.Spec)
	return b
}
