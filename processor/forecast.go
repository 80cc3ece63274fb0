package processor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/forecastd/forecastd/forecast"
	"github.com/forecastd/forecastd/messages"
	"github.com/forecastd/forecastd/store"
)

// cachedModel is a decoded model with its fit summary.
type cachedModel struct {
	model   forecast.Model
	summary messages.FitSummary
}

func (p *Processor) handleForecast(msg *message.Message) error {
	var cmd messages.ForecastCommand
	if err := decode(msg, &cmd); err != nil {
		return err
	}
	if cmd.JobID == "" || messages.ValidModelName(cmd.Model) != "" || cmd.Barrier < 0 || cmd.Horizon < 1 {
		return fmt.Errorf("%w: forecast command needs job_id, a valid model, barrier ≥ 0 and horizon ≥ 1", errMalformed)
	}
	ctx := msg.Context()
	job := store.Job{ID: cmd.JobID, Kind: messages.KindForecast, Model: cmd.Model, CreatedAt: p.now()}
	if !cmd.AcceptedAt.IsZero() {
		job.CreatedAt = cmd.AcceptedAt
	}
	if cmd.Late(p.now()) {
		// Past its deadline no gateway waits for it any more, and soon the job is shown
		// expired (unless it was answered before: then that answer is replayed).
		job.Status = store.JobExpired
		return p.fail(ctx, job, cmd.ReplyTo, messages.Errorf(messages.CodeUnavailable, nil,
			"the forecast reached a processor after its deadline (%s); ask again", cmd.Deadline.UTC().Format(time.RFC3339)).WithJob(cmd.JobID))
	}
	// The gateway found a model the forecast may use, with nothing to wait for: held decoded
	// here, it is used without reading the store. A delivery made before goes the long way,
	// to be answered from its record if it was answered.
	if cmd.CurrentGeneration > 0 && cmd.CurrentGeneration >= cmd.Barrier && !redelivered(msg) {
		if cm, ok := p.cache.get(cmd.Model, cmd.CurrentGeneration, cmd.CurrentFitJob); ok {
			return p.forecastWith(ctx, job, cmd, store.ModelRecord{Model: cmd.Model, Generation: cmd.CurrentGeneration, JobID: cmd.CurrentFitJob}, cm, nil)
		}
	}
	// The job's record and the current generation in one round trip; if that fails, resolve
	// reads the generation itself.
	view, verr := p.store.ReadForecast(ctx, cmd.Model, cmd.JobID)
	if prev := view.Job; verr == nil && prev != nil {
		if prev.Status.Answered() {
			p.reply(cmd.ReplyTo, replayReply(*prev)) // redelivered after it was answered
			return nil
		}
		job.CreatedAt = prev.CreatedAt
	}
	known := current{gen: -1}
	if verr == nil {
		known = current{view.Generation, view.FitJob}
	}

	rec, fallback, err := p.resolve(ctx, cmd, known)
	switch {
	case errors.Is(err, store.ErrNoModel):
		return p.fail(ctx, job, cmd.ReplyTo, messages.FailField(messages.CodeNotFound, "model", "model %q has no successful fit; fit it first", cmd.Model))
	case errors.As(err, new(*barrierWait)):
		// The job ends here, so unavailable, not timeout (which promises a job that goes on).
		return p.fail(ctx, job, cmd.ReplyTo, messages.Errorf(messages.CodeUnavailable, err, "%s", err.Error()).WithJob(cmd.JobID))
	case err != nil:
		return err
	}
	rec, cm, err := p.decoded(ctx, rec)
	if store.Unavailable(err) {
		return err // answered by forecastStoreDown: the model could not be read, not decoded
	}
	if err != nil {
		job.Generation = rec.Generation
		return p.fail(ctx, job, cmd.ReplyTo, messages.Errorf(messages.CodeInternal, err, "the stored model cannot be decoded"))
	}
	return p.forecastWith(ctx, job, cmd, rec, cm, fallback)
}

// forecastWith answers cmd with cm, the decoded model of rec.
func (p *Processor) forecastWith(ctx context.Context, job store.Job, cmd messages.ForecastCommand, rec store.ModelRecord, cm cachedModel, fallback *messages.Fallback) error {
	job.Generation = rec.Generation
	res, err := cm.model.Forecast(cmd.Horizon, cmd.Levels)
	if err != nil {
		return p.fail(ctx, job, cmd.ReplyTo, messages.FailField(messages.CodeInvalid, messages.HorizonField(cmd.API), "%s", forecast.Explain(err)))
	}
	out := messages.ForecastResult{
		Model: cmd.Model, Generation: rec.Generation, JobID: cmd.JobID, Method: cm.summary.Method,
		Horizon: cmd.Horizon, Point: res.Point, Intervals: wireIntervals(res),
		HeldMS: cmd.HeldMS, Fallback: fallback,
	}
	if ts := cm.summary.Timestamps; ts != nil {
		if problem := ts.HorizonProblem(cmd.Horizon); problem != "" {
			return p.fail(ctx, job, cmd.ReplyTo, messages.FailField(messages.CodeInvalid, messages.HorizonField(cmd.API), "%s", problem))
		}
		out.Timestamps = ts.Next(cmd.Horizon)
	}
	if cmd.API == messages.APIOriginal {
		return p.succeed(ctx, job, cmd.ReplyTo, messages.OriginalForecast{Forecast: out.Point, ForecastResult: out})
	}
	return p.succeed(ctx, job, cmd.ReplyTo, out)
}

// wireIntervals are a forecast's intervals as the wire carries them.
func wireIntervals(res forecast.Result) map[string]messages.Interval {
	out := make(map[string]messages.Interval, len(res.Intervals))
	for k, iv := range res.Intervals {
		out[k] = messages.Interval{Lower: iv.Lower, Upper: iv.Upper}
	}
	return out
}

// current is a model's current generation and the job of the fit that made it.
type current struct {
	gen    int64
	fitJob string
}

// barrierWait is a forecast whose barrier was not met in time; its text is for users.
type barrierWait struct{ pending []int64 }

func (e *barrierWait) Error() string {
	return fmt.Sprintf("timed out waiting for the fits this forecast depends on (generations %v still pending)", e.pending)
}

// resolve finds the model a forecast must use: the current one if its generation reaches the
// barrier; otherwise, once every fit up to the barrier has ended, the newest successful model
// with a note that the awaited fit did not succeed. It waits (bounded) while fits up to the
// barrier are still pending — normally the gateway has already held the request until then.
//
// known, when its generation is not negative, is the current model just read (generation 0:
// none), which the first round uses instead of reading it again.
func (p *Processor) resolve(ctx context.Context, cmd messages.ForecastCommand, known current) (store.ModelRecord, *messages.Fallback, error) {
	wait := p.cfg.ForecastWait
	if !cmd.Deadline.IsZero() {
		wait = min(wait, time.Until(cmd.Deadline))
	}
	deadline := p.now().Add(wait)
	backoff := 50 * time.Millisecond
	for {
		seen, err := known, error(nil)
		if known.gen < 0 {
			seen.gen, seen.fitJob, err = p.store.CurrentGeneration(ctx, cmd.Model)
		}
		known = current{gen: -1}
		if err == nil && seen.gen > 0 && seen.gen >= cmd.Barrier && p.cache.has(cmd.Model, seen.gen, seen.fitJob) {
			// The decoded model is cached: skip reading its blob.
			return store.ModelRecord{Model: cmd.Model, Generation: seen.gen, JobID: seen.fitJob}, nil, nil
		}
		cur, err := p.store.Current(ctx, cmd.Model)
		if err != nil && !errors.Is(err, store.ErrNoModel) {
			return store.ModelRecord{}, nil, fmt.Errorf("read current model: %w", err)
		}
		if err == nil && cur.Generation >= cmd.Barrier {
			return cur, nil, nil
		}
		pending, uerr := p.store.Unsettled(ctx, cmd.Model, cmd.Barrier)
		if uerr != nil {
			return store.ModelRecord{}, nil, fmt.Errorf("check pending fits: %w", uerr)
		}
		if len(pending) == 0 {
			// Every fit up to the barrier has ended, possibly one of them just now, after cur
			// was read: read the current model again before falling back to an older one.
			cur, err = p.store.Current(ctx, cmd.Model)
			if err != nil {
				if errors.Is(err, store.ErrNoModel) {
					return store.ModelRecord{}, nil, err
				}
				return store.ModelRecord{}, nil, fmt.Errorf("read current model: %w", err)
			}
			if cur.Generation >= cmd.Barrier {
				return cur, nil, nil
			}
			return cur, p.fallback(ctx, cmd.Model, cmd.Barrier), nil
		}
		if !p.now().Before(deadline) {
			return store.ModelRecord{}, nil, &barrierWait{pending}
		}
		select {
		case <-ctx.Done():
			return store.ModelRecord{}, nil, ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
	}
}

// fallback explains why the newest fit up to barrier was not used.
func (p *Processor) fallback(ctx context.Context, model string, barrier int64) *messages.Fallback {
	fb := &messages.Fallback{AwaitedGeneration: barrier, Reason: "the awaited fit did not succeed"}
	if fr, err := p.store.Fit(ctx, model, barrier); err == nil {
		fb.Reason = fmt.Sprintf("fit generation %d %s", barrier, fr.Status)
		if fr.Error != "" {
			fb.Reason += ": " + fr.Error
		}
	}
	return fb
}

// decoded returns the decoded model of rec, from the cache when possible. A record without a
// blob (resolve saw its generation cached) whose entry was evicted since is read again: the
// current model can only have moved to a newer generation, which still satisfies the barrier.
func (p *Processor) decoded(ctx context.Context, rec store.ModelRecord) (store.ModelRecord, cachedModel, error) {
	if m, ok := p.cache.get(rec.Model, rec.Generation, rec.JobID); ok {
		return rec, m, nil
	}
	if len(rec.Blob) == 0 {
		var err error
		if rec, err = p.store.Current(ctx, rec.Model); err != nil {
			return rec, cachedModel{}, fmt.Errorf("re-read current model: %w", err)
		}
	}
	m, err := forecast.Decode(rec.Blob)
	if err != nil {
		return rec, cachedModel{}, err
	}
	cm := cachedModel{model: m}
	if err := decodeRaw(rec.Summary, &cm.summary); err != nil {
		return rec, cachedModel{}, fmt.Errorf("fit summary: %w", err)
	}
	p.cache.put(rec.Model, rec.Generation, rec.JobID, cm)
	return rec, cm, nil
}

func decodeRaw(raw json.RawMessage, v any) error {
	if len(raw) == 0 {
		return nil
	}
	return json.Unmarshal(raw, v)
}

func finiteOrNil(x float64) *float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return nil
	}
	return &x
}

// forecastStoreDown answers a forecast whose handler failed, after its retries, because the
// store could not be reached: 503, ask again, and the command is acknowledged. Its client is
// waiting; delivered again, the command would spend its delivery limit on the outage (a Redis
// failover takes seconds) and end dead-lettered, answered as failed repeatedly (500). The
// answer is recorded if the store takes it; the reply goes out either way.
func (p *Processor) forecastStoreDown(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		out, err := h(msg)
		if !store.Unavailable(err) || msg.Context().Err() != nil {
			return out, err
		}
		var cmd messages.ForecastCommand
		if json.Unmarshal(msg.Payload, &cmd) != nil || cmd.JobID == "" {
			return out, err
		}
		job := store.Job{ID: cmd.JobID, Kind: messages.KindForecast, Model: cmd.Model, CreatedAt: cmd.AcceptedAt}
		if job.CreatedAt.IsZero() {
			job.CreatedAt = p.now()
		}
		job, rep, jsend := p.failed(job, messages.Errorf(messages.CodeUnavailable, err, "the store is unavailable; ask again shortly").WithJob(cmd.JobID))
		if recorded, rerr := p.record(context.WithoutCancel(msg.Context()), job, rep, jsend); rerr == nil {
			rep = recorded
		} else {
			rep = resultReply(job, rep) // unrecorded, the store being down: told all the same
		}
		p.reply(cmd.ReplyTo, rep)
		return out, nil
	}
}
