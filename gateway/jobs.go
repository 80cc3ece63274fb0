package gateway

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/google/uuid"

	"github.com/forecastd/forecastd/messages"
	"github.com/forecastd/forecastd/store"
)

// Accepted is what the client learns when a job is accepted.
type Accepted struct {
	JobID      string `json:"job_id"`
	Status     string `json:"status"`
	Model      string `json:"model"`
	Generation int64  `json:"generation,omitempty"`
}

// startFit accepts a validated fit: assigns its generation, records the job and publishes the
// command. The returned run delivers the outcome.
func (g *Gateway) startFit(ctx context.Context, model string, req messages.FitRequest) (*run, Accepted, error) {
	return g.startFitFor(ctx, "", model, req)
}

// startFitFor is startFit for a fit asked for through api (messages.APIOriginal or "").
func (g *Gateway) startFitFor(ctx context.Context, api, model string, req messages.FitRequest) (*run, Accepted, error) {
	series := messages.Regular{Values: req.Values}
	if req.Timestamps != nil {
		var err error
		if series, err = messages.FillGaps(req.Timestamps, req.Values); err != nil {
			return nil, Accepted{}, messages.Invalid("timestamps", "%v", err) // Validate has said so already
		}
	}
	jobID := uuid.NewString()
	// Accepted for as long as the publish may take; once the command is in the queue it gets
	// its whole queue lease (QueueFit). A fit whose command never got there (this gateway died,
	// or the store went away, before the publish was confirmed) expires within acceptWindow,
	// releasing the forecasts held behind it, not a whole queue lease later.
	gen, err := g.deps.Store.AcceptFit(ctx, model, jobID, min(acceptWindow, g.cfg.FitQueueLease))
	if err != nil {
		return nil, Accepted{}, unavailable("accept fit", err)
	}
	now := g.now()
	job := store.Job{ID: jobID, Kind: messages.KindFit, Model: model, Status: store.JobQueued, Generation: gen, CreatedAt: now, UpdatedAt: now}
	r := newRun(jobID, messages.KindFit, model, now)
	acc := Accepted{JobID: jobID, Status: string(store.JobQueued), Model: model, Generation: gen}
	cmd := messages.FitCommand{
		JobID: jobID, Model: model, Generation: gen, ReplyTo: g.cfg.ID, Values: series.Values,
		SeasonLength: *req.SeasonLength, Method: req.Method, Options: req.Options, AcceptedAt: now, API: api,
		Timestamps: series.Axis, Gaps: series.Gaps, QueueLeaseMS: g.cfg.FitQueueLease.Milliseconds(),
	}
	if series.Times != nil {
		cmd.HistoryTimestamps = messages.HistoryTimes(series.Times)
	}
	if err := g.deps.Store.PutJob(ctx, job, g.cfg.JobTTL); err != nil {
		g.endUnpublishedFit(ctx, model, gen)
		return nil, Accepted{}, unavailable("record job", err)
	}
	g.runs.add(r)
	r.step(stepAccepted, acc) // queued first: the processor's first progress may come back before Publish returns
	if err := g.publish(cmd.Topic(), jobID, cmd); err != nil {
		// The command may have reached the queue all the same (its confirm never came), and a
		// processor may be running it. Whoever ends the fit answers it: the gateway, with a
		// 503, only if it is the one that ends it here; if a processor ended it first, its
		// answer comes as any fit's does.
		if !g.endUnpublishedFit(ctx, model, gen) {
			g.log.Warn("fit ended by a processor although its publish was not confirmed", "model", model, "generation", gen, "job_id", jobID)
			g.queueFit(ctx, model, gen, jobID) // the command is in the queue after all
			return r, acc, nil
		}
		if !g.recordFailure(ctx, r, job, store.JobFailed, messages.Errorf(messages.CodeUnavailable, nil, "the broker did not take the fit")) {
			return r, acc, nil // a processor recorded its answer first, and r has it
		}
		g.runs.remove(jobID)
		return nil, Accepted{}, unavailable("publish fit", err)
	}
	g.queueFit(ctx, model, gen, jobID)
	g.log.Info("fit accepted", "model", model, "generation", gen, "job_id", jobID, "n", len(series.Values), "method", req.Method)
	return r, acc, nil
}

// queueFit gives a fit whose command is in the queue its queue lease (store.QueueFit). If the
// store cannot be reached, it tries again in the background for half the accept window; the
// processor that claims the fit gives it the lease too (FitCommand.QueueLeaseMS).
func (g *Gateway) queueFit(ctx context.Context, model string, gen int64, jobID string) {
	ctx = context.WithoutCancel(ctx)
	err := g.deps.Store.QueueFit(ctx, model, gen, g.cfg.FitQueueLease)
	if err == nil {
		return
	}
	log := g.log.With("model", model, "generation", gen, "job_id", jobID)
	log.Warn("queue lease of a published fit not recorded; trying again", "err", err)
	go func() {
		for range queueFitTries {
			select {
			case <-g.root.Done():
				return
			case <-time.After(time.Second):
			}
			if err = g.deps.Store.QueueFit(ctx, model, gen, g.cfg.FitQueueLease); err == nil {
				return
			}
		}
		log.Error("queue lease of a published fit not recorded: it expires unless a processor takes it within "+acceptWindow.String(), "err", err)
	}()
}

// queueFitTries is how many times a second queueFit tries again, within half the accept window.
const queueFitTries = int(acceptWindow / time.Second / 2)

// acceptWindow is how long a fit is accepted for before its command is confirmed in the queue:
// the job record's write and the publish, bounded by messages.PublishTimeout, with room.
const acceptWindow = 2 * messages.PublishTimeout

// endUnpublishedFit marks a fit whose command was not published failed, releasing any forecast
// that would wait for it, and reports whether it ended the fit. When the store cannot say, the
// fit's record decides: unless a processor completed it or holds it, the gateway answers the
// fit as failed, and the fit, if still pending, expires at the end of its accept window.
func (g *Gateway) endUnpublishedFit(ctx context.Context, model string, gen int64) bool {
	ctx = context.WithoutCancel(ctx)
	ended, err := g.deps.Store.FailFit(ctx, model, gen, "the broker did not take the fit")
	if err == nil || ended {
		return ended
	}
	g.log.Error("mark unpublished fit failed", "model", model, "generation", gen, "err", err)
	fit, ferr := g.deps.Store.Fit(ctx, model, gen)
	switch {
	case ferr != nil:
		return true
	case fit.Status == store.FitPending:
		// A processor holding it will answer it; one that held it and died leaves it to expire.
		return fit.Owner == "" || !g.now().Before(fit.LeaseUntil)
	}
	return fit.Status != store.FitSucceeded
}

// startForecast accepts a validated forecast. It reads the barrier now, so the forecast waits
// for exactly the fits accepted before it, then holds it in the gateway (no processor blocked)
// until they have all ended and publishes it.
func (g *Gateway) startForecast(ctx context.Context, model string, req messages.ForecastRequest) (*run, Accepted, error) {
	return g.startForecastFor(ctx, "", model, req)
}

// startForecastFor is startForecast for a forecast asked for through api.
func (g *Gateway) startForecastFor(ctx context.Context, api, model string, req messages.ForecastRequest) (*run, Accepted, error) {
	jobID := uuid.NewString()
	now := g.now()
	job := store.Job{ID: jobID, Kind: messages.KindForecast, Model: model, Status: store.JobQueued, CreatedAt: now, UpdatedAt: now}
	// Watched before the pending fits are read, so that no model event between the two is missed.
	wake := g.hub.Watch(model)
	// The barrier, the job record, the fits it waits for and the current generation, in one
	// round trip to the store.
	found, err := g.deps.Store.AcceptForecast(ctx, model, job, g.cfg.JobTTL)
	barrier, pending := found.Barrier, found.Pending
	if err != nil || barrier == 0 {
		g.hub.Unwatch(model, wake)
		if err != nil {
			return nil, Accepted{}, unavailable("accept forecast", err)
		}
		return nil, Accepted{}, noModel(model)
	}
	r := newRun(jobID, messages.KindForecast, model, now)
	g.runs.add(r)
	acc := Accepted{JobID: jobID, Status: string(store.JobQueued), Model: model}
	r.step(stepAccepted, acc)
	cmd := messages.ForecastCommand{
		JobID: jobID, Model: model, Barrier: barrier, ReplyTo: g.cfg.ID,
		Horizon: *req.Horizon, Levels: req.Levels, Deadline: now.Add(g.cfg.HoldTimeout + g.cfg.RequestTimeout), API: api,
		AcceptedAt: now,
	}
	var payload []byte
	if len(pending) == 0 {
		if found.Generation >= barrier {
			cmd.CurrentGeneration, cmd.CurrentFitJob = found.Generation, found.FitJob // else the awaited fit failed: the processor says so
		}
		// Encoded here, as it will be published: on this goroutine, whose stack has grown
		// already, not on holdAndPublish's fresh one, which encoding floats made grow (copied)
		// for every forecast.
		payload = messages.JSON(cmd)
	}
	go g.holdAndPublish(r, job, cmd, payload, wake, pending)
	return r, acc, nil
}

// holdAndPublish waits until every fit up to the barrier has ended, then publishes the forecast:
// payload, cmd encoded, unless it is nil (the forecast had fits to wait for, so it is encoded
// after them, with its held_ms). pending is what the store said when the forecast was accepted,
// after wake was watched.
func (g *Gateway) holdAndPublish(r *run, job store.Job, cmd messages.ForecastCommand, payload []byte, wake chan struct{}, pending []int64) {
	ctx, cancel := context.WithTimeout(g.root, g.cfg.HoldTimeout)
	defer cancel()
	log := g.log.With("model", cmd.Model, "barrier", cmd.Barrier, "job_id", cmd.JobID)
	start := g.now()
	held, err := g.waitSettled(ctx, cmd.Model, cmd.Barrier, wake, pending, func(pending []int64) {
		log.Info("forecast held", "pending", pending)
		r.step(stepHeld, map[string]any{"job_id": cmd.JobID, "waiting_for": pending})
		job.Status, job.UpdatedAt = store.JobHeld, g.now()
		if err := g.deps.Store.PutJob(ctx, job, g.cfg.JobTTL); err != nil {
			log.Warn("record held job", "err", err)
		}
	})
	r.heldFor = g.now().Sub(start)
	if err != nil {
		log.Warn("forecast hold ended without release", "err", err)
		// The job ends here, so unavailable rather than timeout (which promises a job that
		// goes on).
		var f *messages.Failure
		switch {
		case g.root.Err() != nil:
			f = messages.Errorf(messages.CodeUnavailable, err, "the gateway is shutting down")
		case !errors.As(err, &f):
			f = messages.Errorf(messages.CodeUnavailable, err, "the fits this forecast waits for did not end within %s", g.cfg.HoldTimeout)
		}
		f.WithJob(cmd.JobID)
		g.recordFailure(ctx, r, job, store.JobExpired, f)
		g.complete(r, nil, f)
		return
	}
	if held {
		cmd.HeldMS = float64(r.heldFor.Microseconds()) / 1000
		g.metrics.heldSeconds.Observe(r.heldFor.Seconds())
		r.step(stepReleased, map[string]any{"job_id": cmd.JobID, "held_ms": cmd.HeldMS})
	}
	if payload == nil {
		payload = messages.JSON(cmd)
	}
	if err := g.publishPayload(cmd.Topic(), cmd.JobID, payload); err != nil {
		f := messages.Errorf(messages.CodeUnavailable, err, "the broker is unavailable; retry shortly").WithJob(cmd.JobID)
		g.recordFailure(ctx, r, job, store.JobFailed, f) // or the processor's answer, if it had one
		g.complete(r, nil, f)
	}
}

// recordFailure writes the failed outcome of a job the gateway ended itself into its record,
// unless the record holds an answer already: a processor had the command after all (a publish
// whose confirm never came may still have reached the queue). Then r is answered with that
// record's outcome, and recordFailure returns false. Best effort: with a store error the
// failure stands (it is logged).
func (g *Gateway) recordFailure(ctx context.Context, r *run, job store.Job, jobStatus store.JobStatus, f *messages.Failure) bool {
	job.Status, job.UpdatedAt = jobStatus, g.now()
	job.Error = messages.JSON(f)
	prev, written, err := g.deps.Store.PutUnlessAnswered(context.WithoutCancel(ctx), job, g.cfg.JobTTL)
	if err != nil {
		g.log.Warn("record failed job", "job_id", job.ID, "err", err)
		return true
	}
	if written {
		return true
	}
	if result, rerr, ok := outcomeOf(prev); ok {
		g.complete(r, result, rerr)
	}
	return false
}

// waitSettled returns once no fit of model with generation ≤ barrier is pending, starting from
// pending, read after wake (the model's events) was watched; it unwatches wake when it returns.
// It wakes on model events and re-checks on a timer, since pub/sub may lose events; the
// forecasts held on a model that re-check at the same time share one read (settleChecks).
// onHeld is called once, the first time the forecast has to wait. It reports whether it waited.
func (g *Gateway) waitSettled(ctx context.Context, model string, barrier int64, wake chan struct{}, pending []int64, onHeld func([]int64)) (bool, error) {
	defer g.hub.Unwatch(model, wake)
	if len(pending) == 0 {
		return false, nil
	}
	tick := time.NewTicker(g.cfg.RecheckInterval)
	defer tick.Stop()
	held := false
	defer func() {
		if held {
			g.metrics.held.Dec()
		}
	}()
	var failingSince time.Time
	var err error
	for checked := true; ; checked = false {
		if !checked {
			pending, err = g.settle.unsettled(ctx, model, barrier)
		}
		if err == nil {
			failingSince = time.Time{}
		}
		switch {
		case err == nil && len(pending) == 0:
			return held, nil
		case err != nil:
			g.log.Warn("check pending fits", "model", model, "err", err)
			if failingSince.IsZero() {
				failingSince = g.now()
			} else if g.now().Sub(failingSince) > storeOutageLimit {
				return held, unavailable("check pending fits", err)
			}
		case !held:
			held = true
			g.metrics.held.Inc()
			onHeld(pending)
		}
		select {
		case <-ctx.Done():
			return held, ctx.Err()
		case <-wake:
		case <-tick.C:
		}
	}
}

// storeOutageLimit is how long a held forecast tolerates a store it cannot read before it is
// answered 503 instead of waiting out the hold timeout.
const storeOutageLimit = 10 * time.Second

func (g *Gateway) publish(topic, id string, v any) error {
	return g.publishPayload(topic, id, messages.JSON(v))
}

// publishPayload is publish of a command already encoded.
func (g *Gateway) publishPayload(topic, id string, payload []byte) error {
	msg := message.NewMessage(id, message.Payload(payload))
	middleware.SetCorrelationID(id, msg)
	// The context ends the wait for the confirm (and takes the command out of a bundle not
	// yet sent); the timer below also covers a publish blocked before it.
	ctx, cancel := context.WithTimeout(context.Background(), messages.PublishTimeout)
	defer cancel()
	msg.SetContext(ctx)
	done := make(chan error, 1)
	go func() { done <- g.deps.Publisher.Publish(topic, msg) }()
	select {
	case err := <-done:
		return err
	case <-time.After(messages.PublishTimeout):
		return fmt.Errorf("broker did not confirm the command within %s", messages.PublishTimeout)
	}
}
