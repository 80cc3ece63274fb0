package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisOptions configures NewRedis. Zero values take the defaults.
type RedisOptions struct {
	Prefix           string           // key prefix, default "forecastd"
	EventsMaxLen     int64            // approximate length the event stream is trimmed to, default 10000
	RecentFits       int              // newest fits kept and listed by Info, default 20
	SubscriberBuffer int              // each subscriber's channel capacity, default 256
	Now              func() time.Time // clock for finish and event times, default time.Now; leases use the server clock

	// WaitTimeout is how long a write that acceptance or completion rests on waits for a
	// replica's acknowledgement when the primary has replicas (redis_wait.go); 0 never waits.
	WaitTimeout time.Duration
	// RefuseUnreplicated fails such a write with ErrNotReplicated when no replica confirms it;
	// otherwise it proceeds with a warning.
	RefuseUnreplicated bool
	Log                *slog.Logger // warnings; default discards them
}

// Redis is the Store kept in Redis (≥ 7), shared by the gateway and every processor.
type Redis struct {
	rdb  redis.UniversalClient
	opts RedisOptions
	repl *replication
	// batch pipelines the job record reads and writes and the generation reads of
	// concurrent callers.
	batch *batcher

	closeOnce sync.Once
	done      chan struct{}
}

var _ Store = (*Redis)(nil)

// NewRedis returns a store on client. The client stays the caller's: Close does not close it.
func NewRedis(client redis.UniversalClient, opts RedisOptions) *Redis {
	if opts.Prefix == "" {
		opts.Prefix = "forecastd"
	}
	if opts.EventsMaxLen <= 0 {
		opts.EventsMaxLen = defaultEventsMaxLen
	}
	if opts.RecentFits <= 0 {
		opts.RecentFits = defaultRecentFits
	}
	if opts.SubscriberBuffer <= 0 {
		opts.SubscriberBuffer = defaultSubscriberBuffer
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	return &Redis{rdb: client, opts: opts, repl: newReplication(), batch: newBatcher(client), done: make(chan struct{})}
}

func (r *Redis) seqKey(model string) string     { return r.opts.Prefix + ":seq:" + model }
func (r *Redis) fitsKey(model string) string    { return r.opts.Prefix + ":fits:" + model }
func (r *Redis) pendingKey(model string) string { return r.opts.Prefix + ":pending:" + model }
func (r *Redis) modelKey(model string) string   { return r.opts.Prefix + ":model:" + model }
func (r *Redis) modelsKey() string              { return r.opts.Prefix + ":models" }
func (r *Redis) jobKey(id string) string        { return r.opts.Prefix + ":job:" + id }
func (r *Redis) eventsKey() string              { return r.opts.Prefix + ":events" }
func (r *Redis) liveChannel() string            { return r.opts.Prefix + ":events:live" }

func (r *Redis) nowMs() int64 { return r.opts.Now().UnixMilli() }

func ms(v int64) string { return strconv.FormatInt(v, 10) }

func (r *Redis) AcceptFit(ctx context.Context, model, jobID string, lease time.Duration) (int64, error) {
	return r.acceptFit(ctx, model, jobID, lease, true)
}

func (r *Redis) AcceptSavedFit(ctx context.Context, model, jobID string, lease time.Duration) (int64, error) {
	return r.acceptFit(ctx, model, jobID, lease, false)
}

// acceptFit is AcceptFit, emitting fit_accepted if emit.
func (r *Redis) acceptFit(ctx context.Context, model, jobID string, lease time.Duration, emit bool) (int64, error) {
	quiet := "1"
	if emit {
		quiet = "0"
	}
	if err := checkModel(model); err != nil {
		return 0, fmt.Errorf("accept fit: %w", err)
	}
	if err := checkLease(lease); err != nil {
		return 0, fmt.Errorf("accept fit %s: %w", model, err)
	}
	cmd := r.durable(ctx, opAccept, acceptScript,
		[]string{r.seqKey(model), r.fitsKey(model), r.pendingKey(model), r.modelsKey(), r.eventsKey()},
		model, jobID, lease.Milliseconds(),
		r.opts.EventsMaxLen, r.opts.RecentFits, r.liveChannel(), quiet)
	res, err := cmd.Slice()
	if errors.Is(err, ErrNotReplicated) {
		r.undoAccept(context.WithoutCancel(ctx), model, cmd.Val())
	}
	if err != nil {
		return 0, fmt.Errorf("accept fit %s: %w", model, err)
	}
	gen, ok := res[0].(int64)
	if !ok {
		return 0, fmt.Errorf("accept fit %s: unexpected reply %v", model, res)
	}
	return gen, nil
}

func (r *Redis) RenewFit(ctx context.Context, model string, gen int64, owner string, lease time.Duration) (FitRecord, error) {
	if err := checkLease(lease); err != nil {
		return FitRecord{}, fmt.Errorf("renew fit %s/%d: %w", model, gen, err)
	}
	raw, err := renewScript.Run(ctx, r.rdb, []string{r.fitsKey(model)},
		gen, lease.Milliseconds(), owner).Text()
	if errors.Is(err, redis.Nil) {
		err = ErrNoFit
	}
	if err != nil {
		return FitRecord{}, fmt.Errorf("renew fit %s/%d: %w", model, gen, err)
	}
	f, err := decodeFit(raw)
	if err != nil {
		return FitRecord{}, fmt.Errorf("renew fit %s/%d: %w", model, gen, err)
	}
	return f, nil
}

func (r *Redis) QueueFit(ctx context.Context, model string, gen int64, queueLease time.Duration) error {
	if err := checkLease(queueLease); err != nil {
		return fmt.Errorf("queue fit %s/%d: %w", model, gen, err)
	}
	err := r.durable(ctx, opQueue, queueScript, []string{r.fitsKey(model)}, gen, queueLease.Milliseconds()).Err()
	if errors.Is(err, redis.Nil) {
		err = ErrNoFit
	}
	if err != nil {
		return fmt.Errorf("queue fit %s/%d: %w", model, gen, err)
	}
	return nil
}

func (r *Redis) ReleaseFit(ctx context.Context, model string, gen int64, owner string) error {
	err := releaseScript.Run(ctx, r.rdb, []string{r.fitsKey(model)}, gen, owner).Err()
	if errors.Is(err, redis.Nil) {
		err = ErrNoFit
	}
	if err != nil {
		return fmt.Errorf("release fit %s/%d: %w", model, gen, err)
	}
	return nil
}

func (r *Redis) CompleteFit(ctx context.Context, rec ModelRecord) (bool, error) {
	if err := checkModel(rec.Model); err != nil {
		return false, fmt.Errorf("complete fit: %w", err)
	}
	now := r.nowMs()
	fitted := now
	if !rec.FittedAt.IsZero() {
		fitted = rec.FittedAt.UnixMilli()
	}
	res, err := r.durable(ctx, opComplete, completeScript,
		[]string{r.fitsKey(rec.Model), r.pendingKey(rec.Model), r.modelKey(rec.Model), r.seqKey(rec.Model), r.eventsKey()},
		rec.Model, rec.Generation, ms(now), rec.JobID, rec.Method, ms(fitted), []byte(rec.Summary), rec.Blob,
		r.opts.EventsMaxLen, r.opts.RecentFits, r.liveChannel(), []byte(rec.History)).Slice()
	if err != nil {
		return false, fmt.Errorf("complete fit %s/%d: %w", rec.Model, rec.Generation, err)
	}
	switch code, _ := res[0].(int64); code {
	case 1:
		return true, nil
	case 0:
		if id, _ := res[1].(string); id == "" { // nothing emitted: the fit had ended already
			return false, fmt.Errorf("complete fit %s/%d: %w", rec.Model, rec.Generation, ErrFitEnded)
		}
		return false, nil
	default:
		return false, fmt.Errorf("complete fit %s/%d: %w", rec.Model, rec.Generation, ErrNoFit)
	}
}

func (r *Redis) FailFit(ctx context.Context, model string, gen int64, reason string) (bool, error) {
	return r.failFit(ctx, model, gen, reason, true)
}

// failFit is FailFit, waiting for a replica only if durable.
func (r *Redis) failFit(ctx context.Context, model string, gen int64, reason string, durable bool) (bool, error) {
	run := failScript.Run
	if durable {
		run = func(ctx context.Context, c redis.Scripter, keys []string, args ...any) *redis.Cmd {
			return r.durable(ctx, opFail, failScript, keys, args...)
		}
	}
	cmd := run(ctx, r.rdb,
		[]string{r.fitsKey(model), r.pendingKey(model), r.seqKey(model), r.eventsKey()},
		model, gen, ms(r.nowMs()), reason, r.opts.EventsMaxLen, r.opts.RecentFits, r.liveChannel())
	// A durable write no replica confirmed ran all the same: its code says what it did.
	code, _ := cmd.Val().(int64)
	err := cmd.Err()
	if err == nil && code < 0 {
		err = ErrNoFit
	}
	if err != nil {
		return code == 1, fmt.Errorf("fail fit %s/%d: %w", model, gen, err)
	}
	return code == 1, nil
}

func (r *Redis) Fit(ctx context.Context, model string, gen int64) (FitRecord, error) {
	raw, err := r.rdb.HGet(ctx, r.fitsKey(model), strconv.FormatInt(gen, 10)).Result()
	if errors.Is(err, redis.Nil) {
		err = ErrNoFit
	}
	if err != nil {
		return FitRecord{}, fmt.Errorf("fit %s/%d: %w", model, gen, err)
	}
	f, err := decodeFit(raw)
	if err != nil {
		return FitRecord{}, fmt.Errorf("fit %s/%d: %w", model, gen, err)
	}
	return f, nil
}

func (r *Redis) Sequence(ctx context.Context, model string) (int64, error) {
	seq, err := r.rdb.Get(ctx, r.seqKey(model)).Int64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("sequence %s: %w", model, err)
	}
	return seq, nil
}

func (r *Redis) Unsettled(ctx context.Context, model string, upTo int64) ([]int64, error) {
	if upTo < 1 {
		return nil, nil
	}
	gens, err := r.runBatched(ctx, unsettledScript,
		[]string{r.fitsKey(model), r.pendingKey(model), r.seqKey(model), r.eventsKey()},
		model, upTo, ms(r.nowMs()), r.opts.EventsMaxLen, r.opts.RecentFits, r.liveChannel(), expiredReason).Int64Slice()
	if err != nil {
		return nil, fmt.Errorf("unsettled %s: %w", model, err)
	}
	if len(gens) == 0 {
		return nil, nil
	}
	return gens, nil
}

func (r *Redis) AcceptForecast(ctx context.Context, model string, job Job, ttl time.Duration) (Acceptance, error) {
	data, err := encodeJob(job, ttl)
	if err != nil {
		return Acceptance{}, err
	}
	res, err := r.runBatched(ctx, acceptForecastScript,
		[]string{r.fitsKey(model), r.pendingKey(model), r.seqKey(model), r.eventsKey(), r.jobKey(job.ID), r.modelKey(model)},
		model, 0, ms(r.nowMs()), r.opts.EventsMaxLen, r.opts.RecentFits, r.liveChannel(), expiredReason,
		data, ttl.Milliseconds()).Slice()
	if err != nil {
		return Acceptance{}, fmt.Errorf("accept forecast of %s: %w", model, err)
	}
	if len(res) == 1 && res[0] == int64(0) {
		return Acceptance{}, nil // never fitted: nothing recorded
	}
	a, ok := acceptanceOf(res)
	if !ok {
		return Acceptance{}, fmt.Errorf("accept forecast of %s: unexpected reply %v", model, res)
	}
	return a, nil
}

// acceptanceOf reads acceptForecastScript's reply: {sequence, generation, fit job, pending…}.
func acceptanceOf(res []any) (Acceptance, bool) {
	if len(res) < 3 {
		return Acceptance{}, false
	}
	var a Acceptance
	var ok [3]bool
	a.Barrier, ok[0] = res[0].(int64)
	a.Generation, ok[1] = res[1].(int64)
	a.FitJob, ok[2] = res[2].(string)
	if ok != [3]bool{true, true, true} {
		return Acceptance{}, false
	}
	for _, v := range res[3:] {
		gen, isInt := v.(int64)
		if !isInt {
			return Acceptance{}, false
		}
		a.Pending = append(a.Pending, gen)
	}
	return a, true
}

func (r *Redis) Current(ctx context.Context, model string) (ModelRecord, error) {
	h, err := r.rdb.HGetAll(ctx, r.modelKey(model)).Result()
	if err == nil && len(h) == 0 {
		err = ErrNoModel
	}
	if err != nil {
		return ModelRecord{}, fmt.Errorf("current %s: %w", model, err)
	}
	rec, err := decodeModel(model, h["gen"], h["job"], h["method"], h["fitted"], h["summary"], h["history"])
	if err != nil {
		return ModelRecord{}, fmt.Errorf("current %s: %w", model, err)
	}
	rec.Blob = cloneBytes([]byte(h["blob"]))
	return rec, nil
}

func (r *Redis) CurrentGeneration(ctx context.Context, model string) (int64, string, error) {
	var cmd *redis.SliceCmd
	err := r.batch.do(ctx, func(p redis.Pipeliner) { cmd = p.HMGet(ctx, r.modelKey(model), "gen", "job") })
	var gen int64
	var fitJob string
	if err == nil {
		var vals []any
		if vals, err = cmd.Result(); err == nil {
			gen, fitJob, err = currentOf(vals)
		}
	}
	if err != nil {
		return 0, "", fmt.Errorf("current generation of %s: %w", model, err)
	}
	return gen, fitJob, nil
}

// currentOf reads the generation and fit job HMGET gave of a model's hash: ErrNoModel if it
// has no generation.
func currentOf(vals []any) (int64, string, error) {
	if len(vals) != 2 || vals[0] == nil {
		return 0, "", ErrNoModel
	}
	s, _ := vals[0].(string)
	gen, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, "", fmt.Errorf("generation %q: %w", s, err)
	}
	fitJob, _ := vals[1].(string) // none in records written before models named their job
	return gen, fitJob, nil
}

func (r *Redis) ReadForecast(ctx context.Context, model, id string) (ForecastView, error) {
	var job *redis.StringCmd
	var current *redis.SliceCmd
	if err := r.batch.do(ctx, func(p redis.Pipeliner) {
		job = p.Get(ctx, r.jobKey(id))
		current = p.HMGet(ctx, r.modelKey(model), "gen", "job")
	}); err != nil {
		return ForecastView{}, fmt.Errorf("read forecast %s of %s: %w", id, model, err)
	}
	var v ForecastView
	if data, err := job.Bytes(); err == nil {
		j, err := decodeJob(id, data)
		if err != nil {
			return ForecastView{}, err
		}
		v.Job = &j
	} else if !errors.Is(err, redis.Nil) {
		return ForecastView{}, fmt.Errorf("job %s: %w", id, err)
	}
	vals, err := current.Result()
	if err != nil {
		return ForecastView{}, fmt.Errorf("current generation of %s: %w", model, err)
	}
	if g, fitJob, err := currentOf(vals); err == nil {
		v.Generation, v.FitJob = g, fitJob
	} else if !errors.Is(err, ErrNoModel) {
		return ForecastView{}, fmt.Errorf("current generation of %s: %w", model, err)
	}
	return v, nil
}

// infoReads are the queued reads that make up one ModelInfo.
type infoReads struct {
	model   string
	seq     *redis.StringCmd
	fits    *redis.MapStringStringCmd
	pending *redis.StringSliceCmd
	current *redis.SliceCmd
}

// queueInfo queues the reads of one ModelInfo; the current model's history only withHistory.
func (r *Redis) queueInfo(ctx context.Context, p redis.Pipeliner, model string, withHistory bool) infoReads {
	fields := []string{"gen", "job", "method", "fitted", "summary"}
	if withHistory {
		fields = append(fields, "history")
	}
	return infoReads{
		model:   model,
		seq:     p.Get(ctx, r.seqKey(model)),
		fits:    p.HGetAll(ctx, r.fitsKey(model)),
		pending: p.ZRange(ctx, r.pendingKey(model), 0, -1),
		current: p.HMGet(ctx, r.modelKey(model), fields...),
	}
}

// info assembles a ModelInfo from executed reads; ErrNoModel if no fit was ever accepted.
func (r *Redis) info(q infoReads) (ModelInfo, error) {
	seq, err := q.seq.Int64()
	if errors.Is(err, redis.Nil) {
		return ModelInfo{}, ErrNoModel
	}
	if err != nil {
		return ModelInfo{}, err
	}
	for _, cmd := range []redis.Cmder{q.fits, q.pending, q.current} {
		if err := cmd.Err(); err != nil {
			return ModelInfo{}, err
		}
	}
	info := ModelInfo{Model: q.model, Sequence: seq, Pending: []FitRecord{}, Recent: []FitRecord{}}
	fits := make(map[int64]FitRecord)
	for _, raw := range q.fits.Val() {
		f, err := decodeFit(raw)
		if err != nil {
			return ModelInfo{}, err
		}
		fits[f.Generation] = f
	}
	for _, g := range q.pending.Val() {
		gen, _ := strconv.ParseInt(g, 10, 64)
		if f, ok := fits[gen]; ok {
			info.Pending = append(info.Pending, f)
		}
	}
	gens := make([]int64, 0, len(fits))
	for gen := range fits {
		gens = append(gens, gen)
	}
	slices.Sort(gens)
	for i := len(gens) - 1; i >= 0 && len(info.Recent) < r.opts.RecentFits; i-- {
		info.Recent = append(info.Recent, fits[gens[i]])
	}
	vals := q.current.Val()
	if len(vals) >= 5 && vals[0] != nil {
		str := func(i int) string {
			if i >= len(vals) {
				return ""
			}
			s, _ := vals[i].(string)
			return s
		}
		cur, err := decodeModel(q.model, str(0), str(1), str(2), str(3), str(4), str(5))
		if err != nil {
			return ModelInfo{}, err
		}
		info.Current = &cur
	}
	return info, nil
}

func (r *Redis) Info(ctx context.Context, model string) (ModelInfo, error) {
	var q infoReads
	if _, err := r.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		q = r.queueInfo(ctx, p, model, true)
		return nil
	}); err != nil && !errors.Is(err, redis.Nil) {
		return ModelInfo{}, fmt.Errorf("info %s: %w", model, err)
	}
	info, err := r.info(q)
	if err != nil {
		return ModelInfo{}, fmt.Errorf("info %s: %w", model, err)
	}
	return info, nil
}

func (r *Redis) List(ctx context.Context) ([]ModelInfo, error) {
	names, err := r.rdb.SMembers(ctx, r.modelsKey()).Result()
	if err != nil {
		return nil, fmt.Errorf("list models: %w", err)
	}
	slices.Sort(names)
	reads := make([]infoReads, 0, len(names))
	if _, err := r.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		for _, name := range names {
			reads = append(reads, r.queueInfo(ctx, p, name, false))
		}
		return nil
	}); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("list models: %w", err)
	}
	infos := make([]ModelInfo, 0, len(reads))
	for _, q := range reads {
		info, err := r.info(q)
		if errors.Is(err, ErrNoModel) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("list models: %s: %w", q.model, err)
		}
		infos = append(infos, info)
	}
	return infos, nil
}

func (r *Redis) PutJob(ctx context.Context, job Job, ttl time.Duration) error {
	data, err := encodeJob(job, ttl)
	if err != nil {
		return err
	}
	var cmd *redis.StatusCmd
	err = r.batch.do(ctx, func(p redis.Pipeliner) { cmd = p.Set(ctx, r.jobKey(job.ID), data, ttl) })
	if err == nil {
		err = cmd.Err()
	}
	if err != nil {
		return fmt.Errorf("put job %s: %w", job.ID, err)
	}
	return nil
}

func (r *Redis) PutUnlessAnswered(ctx context.Context, job Job, ttl time.Duration) (Job, bool, error) {
	data, err := encodeJob(job, ttl)
	if err != nil {
		return Job{}, false, err
	}
	prev, err := r.runBatched(ctx, putUnlessAnsweredScript, []string{r.jobKey(job.ID)}, data, ttl.Milliseconds()).Text()
	if errors.Is(err, redis.Nil) {
		return Job{}, true, nil
	}
	if err != nil {
		return Job{}, false, fmt.Errorf("put answer of job %s: %w", job.ID, err)
	}
	answered, err := decodeJob(job.ID, []byte(prev))
	return answered, false, err
}

func (r *Redis) GetJob(ctx context.Context, id string) (Job, error) {
	var cmd *redis.StringCmd
	err := r.batch.do(ctx, func(p redis.Pipeliner) { cmd = p.Get(ctx, r.jobKey(id)) })
	var data []byte
	if err == nil {
		data, err = cmd.Bytes()
	}
	if errors.Is(err, redis.Nil) {
		err = ErrNoJob
	}
	if err != nil {
		return Job{}, fmt.Errorf("job %s: %w", id, err)
	}
	return decodeJob(id, data)
}

func (r *Redis) Emit(ctx context.Context, ev Event) (Event, error) {
	if err := checkEvent(ev); err != nil {
		return Event{}, fmt.Errorf("emit: %w", err)
	}
	if ev.Time.IsZero() {
		ev.Time = r.opts.Now()
	}
	ev.Time = msTime(ev.Time)
	ev.Data = cloneBytes(ev.Data)
	id, err := emitScript.Run(ctx, r.rdb, []string{r.eventsKey()},
		r.opts.EventsMaxLen, r.liveChannel(), ev.Type, ev.Model, ev.Generation, ev.JobID,
		ms(ev.Time.UnixMilli()), []byte(ev.Data)).Text()
	if err != nil {
		return Event{}, fmt.Errorf("emit %s %s: %w", ev.Type, ev.Model, err)
	}
	ev.ID = id
	return ev, nil
}

func (r *Redis) Subscribe(ctx context.Context) (<-chan Event, error) {
	select {
	case <-r.done:
		return nil, errors.New("subscribe: store closed")
	default:
	}
	ps := r.rdb.Subscribe(ctx, r.liveChannel())
	// Wait for the confirmation, so that every event emitted after Subscribe returns is seen.
	if _, err := ps.Receive(ctx); err != nil {
		_ = ps.Close()
		return nil, fmt.Errorf("subscribe: %w", err)
	}
	// go-redis reconnects and resubscribes by itself; its channel stays open until ps.Close.
	msgs := ps.Channel(redis.WithChannelSize(r.opts.SubscriberBuffer))
	out := make(chan Event, r.opts.SubscriberBuffer)
	go func() {
		defer close(out)
		defer ps.Close()
		for {
			select {
			case <-ctx.Done():
				return
			case <-r.done:
				return
			case msg, ok := <-msgs:
				if !ok {
					return
				}
				ev, err := decodeLive(msg.Payload)
				if err != nil {
					continue // not ours to fix; delivery is at-most-once anyway
				}
				select {
				case out <- ev:
				default: // the reader is behind: drop, as Redis pub/sub would
				}
			}
		}
	}()
	return out, nil
}

func (r *Redis) Events(ctx context.Context, afterID string, limit int) ([]Event, error) {
	start := "-"
	var after EventID
	if afterID != "" {
		var err error
		if after, err = ParseEventID(afterID); err != nil {
			return nil, fmt.Errorf("events: %w", err)
		}
		start = "(" + after.String()
	}
	var rng, oldest *redis.XMessageSliceCmd
	if _, err := r.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		if limit > 0 {
			rng = p.XRangeN(ctx, r.eventsKey(), start, "+", int64(limit))
		} else {
			rng = p.XRange(ctx, r.eventsKey(), start, "+")
		}
		oldest = p.XRangeN(ctx, r.eventsKey(), "-", "+", 1)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("events: %w", err)
	}
	if afterID != "" {
		first := oldest.Val()
		if len(first) == 0 {
			return nil, fmt.Errorf("events after %s: %w", afterID, ErrEventsGone)
		}
		firstID, err := ParseEventID(first[0].ID)
		if err != nil {
			return nil, fmt.Errorf("events: %w", err)
		}
		if after.less(firstID) {
			return nil, fmt.Errorf("events after %s: %w", afterID, ErrEventsGone)
		}
	}
	evs := make([]Event, 0, len(rng.Val()))
	for _, msg := range rng.Val() {
		ev, err := decodeStreamEvent(msg)
		if err != nil {
			return nil, fmt.Errorf("events: %s: %w", msg.ID, err)
		}
		evs = append(evs, ev)
	}
	return evs, nil
}

func (r *Redis) LastEventID(ctx context.Context) (string, error) {
	msgs, err := r.rdb.XRevRangeN(ctx, r.eventsKey(), "+", "-", 1).Result()
	if err != nil {
		return "", fmt.Errorf("last event id: %w", err)
	}
	if len(msgs) == 0 {
		return "", nil
	}
	return msgs[0].ID, nil
}

func (r *Redis) Ping(ctx context.Context) error {
	if err := r.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("ping redis: %w", err)
	}
	return nil
}

// Close ends every subscription, closing its channel. It does not close the Redis client.
func (r *Redis) Close() error {
	r.closeOnce.Do(func() { close(r.done) })
	return nil
}

// fitWire is a fit record as the Lua scripts keep it.
type fitWire struct {
	Gen   string `json:"gen"`
	Job   string `json:"job"`
	St    string `json:"st"`
	Acc   string `json:"acc"`
	Lease string `json:"lease"`
	Exp   string `json:"exp"`
	Fin   string `json:"fin"`
	Err   string `json:"err"`
	Owner string `json:"owner"`
}

func decodeFit(raw string) (FitRecord, error) {
	var w fitWire
	if err := json.Unmarshal([]byte(raw), &w); err != nil {
		return FitRecord{}, fmt.Errorf("decode fit: %w", err)
	}
	gen, err := strconv.ParseInt(w.Gen, 10, 64)
	if err != nil {
		return FitRecord{}, fmt.Errorf("decode fit: generation %q: %w", w.Gen, err)
	}
	f := FitRecord{Generation: gen, JobID: w.Job, Status: FitStatus(w.St), Error: w.Err, Owner: w.Owner}
	for _, t := range []struct {
		s   string
		dst *time.Time
	}{{w.Acc, &f.AcceptedAt}, {w.Lease, &f.LeaseUntil}, {w.Exp, &f.ExpiresAt}, {w.Fin, &f.FinishedAt}} {
		if t.s == "" {
			continue
		}
		if *t.dst, err = parseMs(t.s); err != nil {
			return FitRecord{}, fmt.Errorf("decode fit %d: %w", gen, err)
		}
	}
	if f.ExpiresAt.IsZero() {
		f.ExpiresAt = f.LeaseUntil // written before fits had an expiry of their own
	}
	return f, nil
}

func decodeModel(model, gen, job, method, fitted, summary, history string) (ModelRecord, error) {
	g, err := strconv.ParseInt(gen, 10, 64)
	if err != nil {
		return ModelRecord{}, fmt.Errorf("decode model: generation %q: %w", gen, err)
	}
	at, err := parseMs(fitted)
	if err != nil {
		return ModelRecord{}, fmt.Errorf("decode model: %w", err)
	}
	rec := ModelRecord{Model: model, Generation: g, JobID: job, Method: method, FittedAt: at}
	if summary != "" {
		rec.Summary = json.RawMessage(summary)
	}
	if history != "" {
		rec.History = json.RawMessage(history)
	}
	return rec, nil
}

func parseMs(s string) (time.Time, error) {
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("time %q: %w", s, err)
	}
	return time.UnixMilli(v).UTC(), nil
}

// newEvent builds an Event from the fields the scripts store.
func newEvent(id, typ, model, batch, gen, job, ts, data string) (Event, error) {
	ev := Event{ID: id, Type: typ, Model: model, Batch: batch, JobID: job}
	var err error
	if ev.Generation, err = strconv.ParseInt(gen, 10, 64); err != nil {
		return Event{}, fmt.Errorf("generation %q: %w", gen, err)
	}
	if ev.Time, err = parseMs(ts); err != nil {
		return Event{}, err
	}
	if data != "" {
		ev.Data = json.RawMessage(data)
	}
	return ev, nil
}

func decodeStreamEvent(msg redis.XMessage) (Event, error) {
	str := func(k string) string { s, _ := msg.Values[k].(string); return s }
	return newEvent(msg.ID, str("type"), str("model"), str("batch"), str("gen"), str("job"), str("ts"), str("data"))
}

// liveWire is an event as published on the live channel.
type liveWire struct {
	ID    string `json:"id"`
	Type  string `json:"type"`
	Model string `json:"model"`
	Batch string `json:"batch"`
	Gen   string `json:"gen"`
	Job   string `json:"job"`
	TS    string `json:"ts"`
	Data  string `json:"data"`
}

func decodeLive(payload string) (Event, error) {
	var w liveWire
	if err := json.Unmarshal([]byte(payload), &w); err != nil {
		return Event{}, fmt.Errorf("decode live event: %w", err)
	}
	return newEvent(w.ID, w.Type, w.Model, w.Batch, w.Gen, w.Job, w.TS, w.Data)
}
