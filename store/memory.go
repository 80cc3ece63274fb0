package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"
)

// Memory is a Store held in process memory, for a single process (forecastd all) and tests.
// It has the same semantics as Redis, guarded by one mutex.
type Memory struct {
	now        func() time.Time
	maxEvents  int
	recentFits int
	subBuffer  int

	mu        sync.Mutex
	models    map[string]*memModel
	jobs      map[string]memJob
	jobPuts   int // PutJob calls since expired jobs were last swept
	batches   map[string]*memBatch
	events    []memEvent
	evStart   int // ring buffer: index of the oldest of evCount events
	evCount   int
	lastID    EventID
	subs      map[chan Event]struct{}
	closed    bool
	closeOnce sync.Once
	done      chan struct{}
}

type memModel struct {
	seq        int64
	fits       map[int64]FitRecord
	queueLease map[int64]time.Duration // of each pending fit, as accepted
	current    *ModelRecord
}

type memJob struct {
	data    []byte // the job as JSON, as Redis keeps it
	expires time.Time
}

type memEvent struct {
	id EventID
	ev Event
}

// MemoryOption configures NewMemory.
type MemoryOption func(*Memory)

// WithClock sets the clock used for leases, timestamps, job expiry and event IDs.
func WithClock(now func() time.Time) MemoryOption { return func(m *Memory) { m.now = now } }

// WithEventsMaxLen sets how many events are retained for Events (default 10000).
func WithEventsMaxLen(n int) MemoryOption { return func(m *Memory) { m.maxEvents = n } }

// WithRecentFits sets how many of the newest fits are kept and listed by Info (default 20).
func WithRecentFits(n int) MemoryOption { return func(m *Memory) { m.recentFits = n } }

// WithSubscriberBuffer sets each subscriber's channel capacity (default 256).
func WithSubscriberBuffer(n int) MemoryOption { return func(m *Memory) { m.subBuffer = n } }

// NewMemory returns an empty in-memory store.
func NewMemory(opts ...MemoryOption) *Memory {
	m := &Memory{
		now:        time.Now,
		maxEvents:  defaultEventsMaxLen,
		recentFits: defaultRecentFits,
		subBuffer:  defaultSubscriberBuffer,
		models:     make(map[string]*memModel),
		jobs:       make(map[string]memJob),
		batches:    make(map[string]*memBatch),
		subs:       make(map[chan Event]struct{}),
		done:       make(chan struct{}),
	}
	for _, opt := range opts {
		opt(m)
	}
	m.maxEvents = max(m.maxEvents, 1)
	m.recentFits = max(m.recentFits, 1)
	m.subBuffer = max(m.subBuffer, 1)
	m.events = make([]memEvent, m.maxEvents)
	return m
}

var _ Store = (*Memory)(nil)

func (m *Memory) clock() time.Time { return msTime(m.now()) }

func (m *Memory) AcceptFit(_ context.Context, model, jobID string, lease time.Duration) (int64, error) {
	return m.acceptFit(model, jobID, lease, true)
}

func (m *Memory) AcceptSavedFit(_ context.Context, model, jobID string, lease time.Duration) (int64, error) {
	return m.acceptFit(model, jobID, lease, false)
}

// acceptFit is AcceptFit, emitting fit_accepted if emit.
func (m *Memory) acceptFit(model, jobID string, lease time.Duration, emit bool) (int64, error) {
	if err := checkModel(model); err != nil {
		return 0, fmt.Errorf("accept fit: %w", err)
	}
	if err := checkLease(lease); err != nil {
		return 0, fmt.Errorf("accept fit %s: %w", model, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.clock()
	mm := m.models[model]
	if mm == nil {
		mm = &memModel{fits: make(map[int64]FitRecord), queueLease: make(map[int64]time.Duration)}
		m.models[model] = mm
	}
	mm.seq++
	gen := mm.seq
	mm.fits[gen] = FitRecord{
		Generation: gen,
		JobID:      jobID,
		Status:     FitPending,
		AcceptedAt: now,
		LeaseUntil: now, // held by no processor yet
		ExpiresAt:  msTime(now.Add(lease)),
	}
	mm.queueLease[gen] = lease
	m.prune(mm)
	if emit {
		m.append(Event{Type: EventFitAccepted, Model: model, Generation: gen, JobID: jobID, Time: now})
	}
	return gen, nil
}

func (m *Memory) RenewFit(_ context.Context, model string, gen int64, owner string, lease time.Duration) (FitRecord, error) {
	if err := checkLease(lease); err != nil {
		return FitRecord{}, fmt.Errorf("renew fit %s/%d: %w", model, gen, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	mm, f, err := m.fit(model, gen)
	if err != nil {
		return FitRecord{}, fmt.Errorf("renew fit %s/%d: %w", model, gen, err)
	}
	now := m.clock()
	if f.Status == FitPending && (f.Owner == "" || f.Owner == owner || !now.Before(f.LeaseUntil)) {
		f.LeaseUntil, f.Owner = msTime(now.Add(lease)), owner
		f.ExpiresAt = later(f.ExpiresAt, f.LeaseUntil.Add(mm.queueLease[gen]))
		mm.fits[gen] = f
	}
	return f, nil
}

func (m *Memory) QueueFit(_ context.Context, model string, gen int64, queueLease time.Duration) error {
	if err := checkLease(queueLease); err != nil {
		return fmt.Errorf("queue fit %s/%d: %w", model, gen, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	mm, f, err := m.fit(model, gen)
	if err != nil {
		return fmt.Errorf("queue fit %s/%d: %w", model, gen, err)
	}
	if f.Status != FitPending {
		return nil
	}
	exp := msTime(m.clock().Add(queueLease))
	if f.Owner != "" {
		exp = later(exp, msTime(f.LeaseUntil.Add(queueLease)))
	}
	f.ExpiresAt = later(f.ExpiresAt, exp)
	mm.fits[gen] = f
	mm.queueLease[gen] = queueLease
	return nil
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func (m *Memory) ReleaseFit(_ context.Context, model string, gen int64, owner string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	mm, f, err := m.fit(model, gen)
	if err != nil {
		return fmt.Errorf("release fit %s/%d: %w", model, gen, err)
	}
	if f.Status == FitPending && f.Owner == owner {
		f.Owner = ""
		mm.fits[gen] = f
	}
	return nil
}

func (m *Memory) CompleteFit(_ context.Context, rec ModelRecord) (bool, error) {
	if err := checkModel(rec.Model); err != nil {
		return false, fmt.Errorf("complete fit: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	mm, f, err := m.fit(rec.Model, rec.Generation)
	if err != nil {
		return false, fmt.Errorf("complete fit %s/%d: %w", rec.Model, rec.Generation, err)
	}
	if f.Status.Terminal() {
		return false, fmt.Errorf("complete fit %s/%d: %w", rec.Model, rec.Generation, ErrFitEnded)
	}
	now := m.clock()
	f.Status, f.FinishedAt = FitSucceeded, now
	mm.fits[f.Generation] = f
	current := mm.current == nil || rec.Generation > mm.current.Generation
	if current {
		stored := ModelRecord{
			Model:      rec.Model,
			Generation: rec.Generation,
			JobID:      rec.JobID,
			Method:     rec.Method,
			FittedAt:   msTime(rec.FittedAt),
			Summary:    cloneBytes(rec.Summary),
			History:    cloneBytes(rec.History),
			Blob:       cloneBytes(rec.Blob),
		}
		if stored.JobID == "" {
			stored.JobID = f.JobID
		}
		if rec.FittedAt.IsZero() {
			stored.FittedAt = now
		}
		mm.current = &stored
	}
	m.prune(mm)
	data, _ := json.Marshal(ModelReadyData{Method: rec.Method, Current: current})
	m.append(Event{Type: EventModelReady, Model: rec.Model, Generation: f.Generation, JobID: f.JobID, Time: now, Data: data})
	return current, nil
}

func (m *Memory) FailFit(_ context.Context, model string, gen int64, reason string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	mm, f, err := m.fit(model, gen)
	if err != nil {
		return false, fmt.Errorf("fail fit %s/%d: %w", model, gen, err)
	}
	if f.Status.Terminal() {
		return false, nil
	}
	m.finish(model, mm, f, FitFailed, reason)
	m.prune(mm)
	return true, nil
}

// finish ends pending fit f with a failure status and emits fit_failed.
func (m *Memory) finish(model string, mm *memModel, f FitRecord, status FitStatus, reason string) {
	now := m.clock()
	f.Status, f.FinishedAt, f.Error = status, now, reason
	mm.fits[f.Generation] = f
	data, _ := json.Marshal(FitFailedData{Error: reason, Status: status})
	m.append(Event{Type: EventFitFailed, Model: model, Generation: f.Generation, JobID: f.JobID, Time: now, Data: data})
}

// prune drops the records of terminal fits older than the newest recentFits generations.
func (m *Memory) prune(mm *memModel) {
	cutoff := mm.seq - int64(m.recentFits)
	for gen, f := range mm.fits {
		if gen <= cutoff && f.Status.Terminal() {
			delete(mm.fits, gen)
			delete(mm.queueLease, gen)
		}
	}
}

// fit looks up one fit record; the caller holds m.mu.
func (m *Memory) fit(model string, gen int64) (*memModel, FitRecord, error) {
	mm := m.models[model]
	if mm == nil {
		return nil, FitRecord{}, ErrNoFit
	}
	f, ok := mm.fits[gen]
	if !ok {
		return nil, FitRecord{}, ErrNoFit
	}
	return mm, f, nil
}

func (m *Memory) Fit(_ context.Context, model string, gen int64) (FitRecord, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, f, err := m.fit(model, gen)
	if err != nil {
		return FitRecord{}, fmt.Errorf("fit %s/%d: %w", model, gen, err)
	}
	return f, nil
}

func (m *Memory) Sequence(_ context.Context, model string) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if mm := m.models[model]; mm != nil {
		return mm.seq, nil
	}
	return 0, nil
}

func (m *Memory) AcceptForecast(ctx context.Context, model string, job Job, ttl time.Duration) (Acceptance, error) {
	seq, err := m.Sequence(ctx, model)
	if err != nil || seq == 0 {
		return Acceptance{}, err
	}
	if err := m.PutJob(ctx, job, ttl); err != nil {
		return Acceptance{}, err
	}
	pending, err := m.Unsettled(ctx, model, seq)
	if err != nil {
		return Acceptance{}, err
	}
	gen, fitJob, err := m.CurrentGeneration(ctx, model)
	if errors.Is(err, ErrNoModel) {
		gen, err = 0, nil
	}
	return Acceptance{Barrier: seq, Pending: pending, Generation: gen, FitJob: fitJob}, err
}

func (m *Memory) Unsettled(_ context.Context, model string, upTo int64) ([]int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	mm := m.models[model]
	if mm == nil {
		return nil, nil
	}
	var gens []int64
	for gen, f := range mm.fits {
		if gen <= upTo && f.Status == FitPending {
			gens = append(gens, gen)
		}
	}
	slices.Sort(gens)
	now := m.clock()
	unsettled := gens[:0]
	expired := false
	for _, gen := range gens {
		f := mm.fits[gen]
		if !now.Before(f.ExpiresAt) {
			m.finish(model, mm, f, FitExpired, expiredReason)
			expired = true
			continue
		}
		unsettled = append(unsettled, gen)
	}
	if expired {
		m.prune(mm)
	}
	if len(unsettled) == 0 {
		return nil, nil
	}
	return unsettled, nil
}

func (m *Memory) Current(_ context.Context, model string) (ModelRecord, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	mm := m.models[model]
	if mm == nil || mm.current == nil {
		return ModelRecord{}, fmt.Errorf("current %s: %w", model, ErrNoModel)
	}
	rec := *mm.current
	rec.Summary = cloneBytes(rec.Summary)
	rec.History = cloneBytes(rec.History)
	rec.Blob = cloneBytes(rec.Blob)
	return rec, nil
}

func (m *Memory) CurrentGeneration(_ context.Context, model string) (int64, string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	mm := m.models[model]
	if mm == nil || mm.current == nil {
		return 0, "", fmt.Errorf("current %s: %w", model, ErrNoModel)
	}
	return mm.current.Generation, mm.current.JobID, nil
}

func (m *Memory) ReadForecast(ctx context.Context, model, id string) (ForecastView, error) {
	var v ForecastView
	job, err := m.GetJob(ctx, id)
	switch {
	case err == nil:
		v.Job = &job
	case !errors.Is(err, ErrNoJob):
		return ForecastView{}, err
	}
	if gen, fitJob, err := m.CurrentGeneration(ctx, model); err == nil {
		v.Generation, v.FitJob = gen, fitJob
	}
	return v, nil
}

func (m *Memory) Info(_ context.Context, model string) (ModelInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	mm := m.models[model]
	if mm == nil {
		return ModelInfo{}, fmt.Errorf("info %s: %w", model, ErrNoModel)
	}
	return m.info(model, mm, true), nil
}

func (m *Memory) info(model string, mm *memModel, withHistory bool) ModelInfo {
	info := ModelInfo{Model: model, Sequence: mm.seq, Pending: []FitRecord{}, Recent: []FitRecord{}}
	if mm.current != nil {
		cur := *mm.current
		cur.Summary = cloneBytes(cur.Summary)
		cur.History = nil
		if withHistory {
			cur.History = cloneBytes(mm.current.History)
		}
		cur.Blob = nil
		info.Current = &cur
	}
	gens := make([]int64, 0, len(mm.fits))
	for gen := range mm.fits {
		gens = append(gens, gen)
	}
	slices.Sort(gens)
	for _, gen := range gens {
		if f := mm.fits[gen]; f.Status == FitPending {
			info.Pending = append(info.Pending, f)
		}
	}
	for i := len(gens) - 1; i >= 0 && len(info.Recent) < m.recentFits; i-- {
		info.Recent = append(info.Recent, mm.fits[gens[i]])
	}
	return info
}

func (m *Memory) List(_ context.Context) ([]ModelInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	names := make([]string, 0, len(m.models))
	for name := range m.models {
		names = append(names, name)
	}
	slices.Sort(names)
	infos := make([]ModelInfo, 0, len(names))
	for _, name := range names {
		infos = append(infos, m.info(name, m.models[name], false))
	}
	return infos, nil
}

// sweepEvery is how many PutJob calls pass between sweeps of expired jobs.
const sweepEvery = 1024

func (m *Memory) PutJob(_ context.Context, job Job, ttl time.Duration) error {
	data, err := encodeJob(job, ttl)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.putJobLocked(job.ID, data, ttl)
	return nil
}

// putJobLocked stores a job's record; m.mu is held.
func (m *Memory) putJobLocked(id string, data []byte, ttl time.Duration) {
	now := m.now()
	m.jobs[id] = memJob{data: data, expires: now.Add(ttl)}
	if m.jobPuts++; m.jobPuts >= sweepEvery {
		m.jobPuts = 0
		for id, j := range m.jobs {
			if !now.Before(j.expires) {
				delete(m.jobs, id)
			}
		}
	}
}

func (m *Memory) PutUnlessAnswered(_ context.Context, job Job, ttl time.Duration) (Job, bool, error) {
	data, err := encodeJob(job, ttl)
	if err != nil {
		return Job{}, false, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if j, ok := m.jobLocked(job.ID); ok {
		prev, err := decodeJob(job.ID, j.data)
		if err != nil {
			return Job{}, false, err
		}
		if prev.Status.Answered() {
			return prev, false, nil
		}
	}
	m.putJobLocked(job.ID, data, ttl)
	return Job{}, true, nil
}

// jobLocked is the record of job id unless it expired (it is then forgotten); m.mu is held.
func (m *Memory) jobLocked(id string) (memJob, bool) {
	j, ok := m.jobs[id]
	if ok && !m.now().Before(j.expires) {
		delete(m.jobs, id)
		ok = false
	}
	return j, ok
}

func (m *Memory) GetJob(_ context.Context, id string) (Job, error) {
	m.mu.Lock()
	j, ok := m.jobLocked(id)
	m.mu.Unlock()
	if !ok {
		return Job{}, fmt.Errorf("job %s: %w", id, ErrNoJob)
	}
	return decodeJob(id, j.data)
}

func (m *Memory) Emit(_ context.Context, ev Event) (Event, error) {
	if err := checkEvent(ev); err != nil {
		return Event{}, fmt.Errorf("emit: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if ev.Time.IsZero() {
		ev.Time = m.clock()
	}
	ev.Time = msTime(ev.Time)
	ev.Data = cloneBytes(ev.Data)
	return copyEvent(m.append(ev)), nil
}

// append assigns ev the next ID, adds it to the ring buffer and offers it to every subscriber,
// dropping it for those whose buffer is full. The caller holds m.mu.
func (m *Memory) append(ev Event) Event {
	id := EventID{ms: uint64(max(m.now().UnixMilli(), 0))}
	if !m.lastID.less(id) {
		id = EventID{ms: m.lastID.ms, seq: m.lastID.seq + 1}
	}
	m.lastID = id
	ev.ID = id.String()
	if m.evCount < len(m.events) {
		m.events[(m.evStart+m.evCount)%len(m.events)] = memEvent{id: id, ev: ev}
		m.evCount++
	} else {
		m.events[m.evStart] = memEvent{id: id, ev: ev}
		m.evStart = (m.evStart + 1) % len(m.events)
	}
	for ch := range m.subs {
		select {
		case ch <- copyEvent(ev):
		default:
		}
	}
	return ev
}

// at returns the i-th oldest retained event.
func (m *Memory) at(i int) memEvent { return m.events[(m.evStart+i)%len(m.events)] }

func copyEvent(ev Event) Event {
	ev.Data = cloneBytes(ev.Data)
	return ev
}

func (m *Memory) Subscribe(ctx context.Context) (<-chan Event, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, errors.New("subscribe: store closed")
	}
	ch := make(chan Event, m.subBuffer)
	m.subs[ch] = struct{}{}
	go func() {
		select {
		case <-ctx.Done():
		case <-m.done:
		}
		m.mu.Lock()
		defer m.mu.Unlock()
		if _, ok := m.subs[ch]; ok {
			delete(m.subs, ch)
			close(ch)
		}
	}()
	return ch, nil
}

func (m *Memory) Events(_ context.Context, afterID string, limit int) ([]Event, error) {
	var after EventID
	if afterID != "" {
		var err error
		if after, err = ParseEventID(afterID); err != nil {
			return nil, fmt.Errorf("events: %w", err)
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	start := 0
	if afterID != "" {
		if m.evCount == 0 || after.less(m.at(0).id) {
			return nil, fmt.Errorf("events after %s: %w", afterID, ErrEventsGone)
		}
		start = sort.Search(m.evCount, func(i int) bool { return after.less(m.at(i).id) })
	}
	n := m.evCount - start
	if limit > 0 {
		n = min(n, limit)
	}
	evs := make([]Event, 0, n)
	for i := start; i < start+n; i++ {
		evs = append(evs, copyEvent(m.at(i).ev))
	}
	return evs, nil
}

func (m *Memory) LastEventID(_ context.Context) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.evCount == 0 {
		return "", nil
	}
	return m.at(m.evCount - 1).ev.ID, nil
}

func (m *Memory) Ping(context.Context) error { return nil }

// Close ends every subscription, closing its channel. The store stays usable otherwise.
func (m *Memory) Close() error {
	m.closeOnce.Do(func() {
		m.mu.Lock()
		m.closed = true
		for ch := range m.subs {
			delete(m.subs, ch)
			close(ch)
		}
		m.mu.Unlock()
		close(m.done)
	})
	return nil
}
