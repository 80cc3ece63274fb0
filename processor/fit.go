package processor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"

	"github.com/forecastd/forecastd/forecast"
	"github.com/forecastd/forecastd/messages"
	"github.com/forecastd/forecastd/store"
)

func (p *Processor) handleFit(msg *message.Message) error {
	var cmd messages.FitCommand
	if err := decode(msg, &cmd); err != nil {
		return err
	}
	if cmd.Kind == messages.KindBacktest {
		return p.handleBacktest(msg)
	}
	if cmd.JobID == "" || messages.ValidModelName(cmd.Model) != "" || cmd.Generation < 1 {
		return fmt.Errorf("%w: fit command needs job_id, a valid model and generation ≥ 1", errMalformed)
	}
	ctx := msg.Context()
	log := p.log.With("model", cmd.Model, "generation", cmd.Generation, "job_id", cmd.JobID)
	job := store.Job{ID: cmd.JobID, Kind: messages.KindFit, Model: cmd.Model, Generation: cmd.Generation, CreatedAt: cmd.AcceptedAt}

	// The lease is held by this attempt, not by the processor: a processor runs several
	// consumers, and a command redelivered to another of them (after a broker restart, while the
	// first attempt still runs) must wait for that attempt like any other processor would.
	attempt := p.id + "/" + uuid.NewString()[:8]
	// Another job's generation (cmd's acceptance lost in a failover) is not claimed: its fit
	// may be running under its own command.
	if rec, err := p.store.Fit(ctx, cmd.Model, cmd.Generation); err == nil && rec.OfAnotherJob(cmd.JobID) {
		return p.answerLostAcceptance(ctx, cmd, job, rec, attempt, log)
	}
	rec, err := p.claim(ctx, cmd.Model, cmd.Generation, attempt, log)
	if errors.Is(err, store.ErrNoFit) {
		return p.answerUnrecordedFit(ctx, cmd, job, log)
	}
	if err != nil {
		return err
	}
	if rec.OfAnotherJob(cmd.JobID) { // accepted again between the two reads
		return p.answerLostAcceptance(ctx, cmd, job, rec, attempt, log)
	}
	if rec.Status.Terminal() {
		return p.answerEndedFit(ctx, cmd, job, rec, log)
	}
	// This processor holds the fit now. If the attempt ends without an outcome (an error to be
	// retried, shutdown, or a panic on its way to the recoverer), let another processor take
	// the redelivered command at once instead of waiting out this lease.
	settled := false
	defer func() {
		if settled {
			return
		}
		if err := p.store.ReleaseFit(context.WithoutCancel(ctx), cmd.Model, cmd.Generation, attempt); err != nil {
			log.Warn("release fit", "err", err)
		}
	}()

	if cmd.QueueLeaseMS > 0 {
		// Delivered, so in the queue: the fit keeps its queue lease whatever the gateway could
		// record (it waits a queue lease for its redelivery if this processor dies).
		if err := p.store.QueueFit(ctx, cmd.Model, cmd.Generation, time.Duration(cmd.QueueLeaseMS)*time.Millisecond); err != nil {
			log.Warn("record the fit's queue lease", "err", err)
		}
	}
	prev, answered, err := p.start(ctx, job, cmd.ReplyTo)
	if err != nil {
		return err
	}
	if answered {
		// The fit's answer was recorded but the fit not ended: its processor died between the
		// two (failFit records the answer first). End the fit with that answer.
		settled = true
		return p.endAnsweredFit(ctx, cmd, prev, log)
	}
	log.Info("fit started", "method", cmd.Method, "n", len(cmd.Values))

	fitCtx, cancel := context.WithTimeout(ctx, p.cfg.FitTimeout)
	defer cancel()
	stopRenew, lost := p.keepLease(fitCtx, cancel, cmd.Model, cmd.Generation, attempt, log)
	start := p.now()
	model, err := p.fit(fitCtx, cmd.Values, forecast.Spec{
		Method: cmd.Method, SeasonLength: cmd.SeasonLength, Options: cmd.Options,
	}, p.progressReporter(ctx, cmd, job))
	stopRenew()
	if lost() {
		settled = true
		if fr, err := p.store.Fit(ctx, cmd.Model, cmd.Generation); err == nil && fr.Status.Terminal() {
			return p.answerEndedFit(ctx, cmd, job, fr, log) // ended by another party, which answered it
		}
		// Another processor took the fit over after this one could not renew its lease; it
		// finishes and answers. Acknowledge without touching the fit.
		log.Warn("fit lease lost to another processor; leaving the fit to it")
		return nil
	}
	elapsed := p.now().Sub(start)
	p.metrics.fitSeconds.WithLabelValues(cmd.Method).Observe(elapsed.Seconds())
	outcome := "succeeded"
	if err != nil {
		outcome = "failed"
	}
	p.metrics.fits.WithLabelValues(cmd.Method, outcome).Inc()

	if err != nil {
		if ctx.Err() != nil {
			// Shutting down: leave the command unacknowledged so another processor takes it.
			return fmt.Errorf("fit interrupted: %w", ctx.Err())
		}
		log.Info("fit failed", "err", err, "duration_ms", elapsed.Milliseconds())
		// Unless both its answer and its end were recorded, the fit is released to the retry.
		err = p.failFit(ctx, cmd, job, fitFailure(err, p.cfg.FitTimeout, messages.ValuesField(cmd.API)))
		settled = err == nil
		return err
	}

	summary := p.summarize(cmd, model, elapsed)
	blob, err := forecast.Encode(model)
	if err != nil {
		err = p.failFit(ctx, cmd, job, messages.Errorf(messages.CodeInternal, err, "cannot encode the fitted model"))
		settled = err == nil
		return err
	}
	summary.Current = true // as stored: the record is read back only while it is current
	current, err := p.store.CompleteFit(ctx, modelRecord(cmd, summary, blob))
	if errors.Is(err, store.ErrFitEnded) {
		// It ended meanwhile (expired, or failed by another party): answer as it ended.
		settled = true
		fr, err := p.store.Fit(ctx, cmd.Model, cmd.Generation)
		if err != nil {
			return fmt.Errorf("read ended fit: %w", err)
		}
		return p.answerEndedFit(ctx, cmd, job, fr, log)
	}
	if err != nil {
		return fmt.Errorf("complete fit: %w", err)
	}
	// Completed by this call, current or (a newer generation finished first) not. Its record is
	// not read back: newer fits may have pruned it from the history already.
	settled = true
	summary.Current = current
	p.cache.put(cmd.Model, cmd.Generation, cmd.JobID, cachedModel{model: model, summary: summary})
	log.Info("fit succeeded", "method", summary.Method, "current", current, "duration_ms", elapsed.Milliseconds())
	return p.succeed(ctx, job, cmd.ReplyTo, fitSuccess(cmd, summary))
}

// modelRecord is the model fit cmd made, as the store keeps it.
func modelRecord(cmd messages.FitCommand, summary messages.FitSummary, blob []byte) store.ModelRecord {
	return store.ModelRecord{
		Model: cmd.Model, Generation: cmd.Generation, JobID: cmd.JobID, Method: summary.Method,
		FittedAt: summary.FittedAt, Summary: messages.JSON(summary), Blob: blob,
		History: messages.JSON(messages.NewHistory(cmd.Values, cmd.HistoryTimestamps)),
	}
}

// failFit records a failed fit and answers it. The fit record keeps what its client is told
// (it is shown with the model and in fit_failed events), not the cause. The answer is recorded
// before the fit is failed: a processor dying between the two leaves a pending fit whose
// redelivered command finds the answer and ends the fit with it (endAnsweredFit), where the
// other order would leave an ended fit with no answer, rebuilt without the client's 4xx.
// Its client is told once both are recorded, so what it reads next (the model, say) agrees.
func (p *Processor) failFit(ctx context.Context, cmd messages.FitCommand, job store.Job, f *messages.Failure) error {
	job, rep, jsend := p.failed(job, f)
	rep, err := p.record(ctx, job, rep, jsend)
	if err != nil {
		return err
	}
	if _, err := p.store.FailFit(ctx, cmd.Model, cmd.Generation, f.Describe()); err != nil {
		return fmt.Errorf("record failed fit: %w", err)
	}
	p.reply(cmd.ReplyTo, rep)
	return nil
}

// endAnsweredFit ends a pending fit whose job was answered, as that answer says, and replays it.
func (p *Processor) endAnsweredFit(ctx context.Context, cmd messages.FitCommand, answer store.Job, log *slog.Logger) error {
	log.Info("fit answered before it ended; ending it so", "status", answer.Status)
	rep := replayReply(answer)
	if rep.Failure != nil {
		if _, err := p.store.FailFit(ctx, cmd.Model, cmd.Generation, rep.Failure.Describe()); err != nil {
			return fmt.Errorf("record failed fit: %w", err)
		}
	}
	p.reply(cmd.ReplyTo, rep)
	return nil
}

// answerEndedFit answers a fit command whose fit already ended: a redelivery after success or
// failure replays the recorded outcome; an expired lease is reported as such.
func (p *Processor) answerEndedFit(ctx context.Context, cmd messages.FitCommand, job store.Job, rec store.FitRecord, log *slog.Logger) error {
	// A fit ended by CompleteFit, or by a gateway that gave up on its command, has its job record
	// written just after the fit record: a copy of the command arriving in between waits for it
	// a moment rather than rebuild a coarser answer over the real one.
	for wait := 20 * time.Millisecond; ; wait *= 2 {
		if prev, err := p.store.GetJob(ctx, cmd.JobID); err == nil && prev.Status.Answered() {
			log.Info("fit already ended; replaying its outcome", "status", prev.Status)
			p.reply(cmd.ReplyTo, replayReply(prev))
			return nil
		}
		if wait > time.Second || rec.Status == store.FitExpired {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
	// The fit ended but its job record was never written (the processor that ended it died or
	// lost the store just after): rebuild the answer from the fit record.
	switch rec.Status {
	case store.FitSucceeded:
		summary := messages.FitSummary{Model: cmd.Model, Generation: cmd.Generation, JobID: cmd.JobID, Params: map[string]float64{}}
		if cur, err := p.store.Current(ctx, cmd.Model); err == nil && cur.Generation == cmd.Generation {
			_ = decodeRaw(cur.Summary, &summary)
		}
		summary.Current = summary.Method != "" // only the current model's summary is stored
		log.Info("fit had already succeeded; answering from the store")
		return p.succeed(ctx, job, cmd.ReplyTo, fitSuccess(cmd, summary))
	case store.FitFailed:
		log.Info("fit had already failed; answering from the store", "reason", rec.Error)
		return p.fail(ctx, job, cmd.ReplyTo, messages.Errorf(messages.CodeInternal, nil, "the fit failed: %s", rec.Error).WithJob(cmd.JobID))
	}
	log.Warn("fit expired before a processor finished it", "reason", rec.Error)
	job.Status = store.JobExpired
	return p.fail(ctx, job, cmd.ReplyTo, messages.Errorf(messages.CodeUnavailable, nil,
		"fit generation %d expired before it finished (%s); fit again", cmd.Generation, rec.Error).WithJob(cmd.JobID))
}

// replayReply rebuilds the result reply of a finished job from its record.
func replayReply(job store.Job) messages.Reply {
	r := messages.Reply{JobID: job.ID, Kind: job.Kind, Model: job.Model, Type: messages.ReplyResult}
	if job.Status == store.JobSucceeded {
		r.Result = job.Result
		return r
	}
	// A record of an earlier version holds an HTTP status and body instead of a code: passed on
	// as it is, the gateway reads either.
	var failed messages.Failure
	if err := decodeRaw(job.Error, &failed); err != nil || (failed.Code == "" && failed.Status == 0) {
		failed = messages.Failure{Code: messages.CodeInternal, Message: "job failed"}
	}
	r.Failure = &failed
	return r
}

// fitSuccess is the data of a successful fit, in the shape of the API that asked for it.
func fitSuccess(cmd messages.FitCommand, summary messages.FitSummary) any {
	if cmd.API == messages.APIOriginal {
		return messages.OriginalFit{Message: messages.OriginalFitMessage, FitSummary: summary}
	}
	return summary
}

// fitFailure is what the client of a failed fit is told. The engine's errors about the input
// are written for users, and reported under the field that held it (valuesField for the
// series); anything else is the service's failure, and its text stays in the logs.
func fitFailure(err error, timeout time.Duration, valuesField string) *messages.Failure {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		// The fit has ended (failed), so internal rather than timeout, which promises a job
		// that goes on.
		return messages.Errorf(messages.CodeInternal, err, "the fit did not finish within the %s limit; try a simpler method or a shorter series", timeout)
	case errors.Is(err, forecast.ErrTooFewObservations), errors.Is(err, forecast.ErrInvalidData):
		return messages.FailField(messages.CodeInvalid, valuesField, "%s", forecast.Explain(err))
	case errors.Is(err, forecast.ErrInvalidSpec):
		return messages.FailField(messages.CodeInvalid, "options", "%s", forecast.Explain(err))
	case errors.Is(err, forecast.ErrUnsupported):
		return messages.FailField(messages.CodeInvalid, "method", "%s", forecast.Explain(err))
	}
	return messages.Errorf(messages.CodeInternal, err, "the fit failed")
}

func (p *Processor) summarize(cmd messages.FitCommand, m forecast.Model, elapsed time.Duration) messages.FitSummary {
	s := m.Summary()
	out := messages.FitSummary{
		Model: cmd.Model, Generation: cmd.Generation, JobID: cmd.JobID, Method: s.Method,
		Params: s.Params, AICc: finiteOrNil(s.AICc), Sigma2: finiteOrNil(s.Sigma2), LogLik: finiteOrNil(s.LogLik),
		N: s.N, Missing: s.Missing, Gaps: cmd.Gaps, DurationMS: float64(elapsed.Microseconds()) / 1000,
		FittedAt: p.now().UTC(), Timestamps: cmd.Timestamps,
	}
	if m.Kind() == forecast.KindBaseline || s.Sigma2 == 0 {
		// Baselines are not fitted by likelihood, and a perfect fit (a constant or exactly linear
		// series) has an unbounded one: any number given for either would mislead, so say none.
		out.AICc, out.LogLik = nil, nil
	}
	return out
}

// keepLease renews attempt's lease on the fit until stop is called. If another attempt holds
// the fit (this one failed to renew in time and the lease ran out), it cancels the fit through
// cancelFit, and lost reports true.
func (p *Processor) keepLease(ctx context.Context, cancelFit context.CancelFunc, model string, gen int64, attempt string, log *slog.Logger) (stop func(), lost func() bool) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var gone atomic.Bool
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(p.cfg.FitLease / 3)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				rec, err := p.store.RenewFit(ctx, model, gen, attempt, p.cfg.FitLease)
				switch {
				case err != nil && ctx.Err() == nil:
					log.Warn("renew fit lease", "err", err)
				case err == nil && (rec.Status.Terminal() || rec.Owner != attempt):
					// Taken over, or ended by another party (a gateway that gave up on its
					// command, a processor that gave up on it): this attempt's work is moot.
					gone.Store(true)
					cancelFit()
					return
				}
			}
		}
	}()
	return func() { cancel(); wg.Wait() }, gone.Load
}

// claimWait is the longest claim waits for another attempt holding the fit: a whole fit, and a
// lease on either side of it.
func (c Config) claimWait() time.Duration { return c.FitTimeout + 2*c.FitLease }

// errStillHeld is claim's error when another attempt held the fit for longer than a fit can
// take: the delivery is handed back rather than retried at once, which would wait as long again.
var errStillHeld = errors.New("fit still held")

// answerUnrecordedFit answers a fit command whose fit the store has no record of. Pruned from
// the model's history after it ended (newer fits followed), its job's recorded answer is
// replayed; lost (the job is recorded but unanswered: the fit's acceptance was lost in a store
// failover), it is answered failed, so that its client fits again; never accepted at all (no
// job either), the command is malformed.
func (p *Processor) answerUnrecordedFit(ctx context.Context, cmd messages.FitCommand, job store.Job, log *slog.Logger) error {
	prev, err := p.store.GetJob(ctx, cmd.JobID)
	switch {
	case errors.Is(err, store.ErrNoJob):
		return fmt.Errorf("%w: generation %d of %s was never accepted", errMalformed, cmd.Generation, cmd.Model)
	case err != nil:
		return fmt.Errorf("read job of an unrecorded fit: %w", err)
	case prev.Status.Answered():
		p.reply(cmd.ReplyTo, replayReply(prev))
		return nil
	}
	log.Error("no record of the fit of a recorded job: its acceptance was lost by the store")
	return p.fail(ctx, job, cmd.ReplyTo, messages.Errorf(messages.CodeUnavailable, nil,
		"the store lost this fit's acceptance (a failover); fit again").WithJob(cmd.JobID))
}

// answerLostAcceptance answers cmd, whose generation belongs to another job (rec's): the
// store lost the write that accepted cmd (a failover to a replica that did not have it) and
// gave the generation again to the next fit of the model. That fit is left to its own command;
// cmd is answered failed, so that its client fits again, and its values are never fitted
// under another job's generation.
func (p *Processor) answerLostAcceptance(ctx context.Context, cmd messages.FitCommand, job store.Job, rec store.FitRecord, attempt string, log *slog.Logger) error {
	log.Error("fit's generation belongs to another job: its acceptance was lost by the store", "other_job_id", rec.JobID)
	if rec.Owner == attempt {
		if err := p.store.ReleaseFit(context.WithoutCancel(ctx), cmd.Model, cmd.Generation, attempt); err != nil {
			log.Warn("release fit", "err", err)
		}
	}
	return p.fail(ctx, job, cmd.ReplyTo, messages.Errorf(messages.CodeUnavailable, nil,
		"the store lost this fit's acceptance (a failover) and gave its generation %d to another fit; fit again", cmd.Generation).WithJob(cmd.JobID))
}

// claim takes the fit for attempt. If another attempt holds it with a live lease (the command
// was redelivered after a broker connection dropped, while that attempt, on this processor or
// another, still runs it), it waits for that fit to end, or for its lease to run out (its
// processor died) and then takes it over. It returns the fit record as it stands: terminal, or
// held by attempt.
func (p *Processor) claim(ctx context.Context, model string, gen int64, attempt string, log *slog.Logger) (store.FitRecord, error) {
	deadline := p.now().Add(p.cfg.claimWait())
	waiting := false
	for {
		rec, err := p.store.RenewFit(ctx, model, gen, attempt, p.cfg.FitLease)
		if err != nil {
			if errors.Is(err, store.ErrNoFit) {
				return rec, err
			}
			return rec, fmt.Errorf("claim fit: %w", err)
		}
		if rec.Status.Terminal() || rec.Owner == attempt {
			return rec, nil
		}
		if !waiting {
			log.Info("fit held by another processor; waiting for it", "owner", rec.Owner, "lease_until", rec.LeaseUntil)
			waiting = true
		}
		if !p.now().Before(deadline) {
			return rec, fmt.Errorf("%w: by %s after %s", errStillHeld, rec.Owner, p.cfg.claimWait())
		}
		select {
		case <-ctx.Done():
			return rec, ctx.Err()
		case <-time.After(min(max(p.cfg.FitLease/12, 10*time.Millisecond), 500*time.Millisecond)):
		}
	}
}

// progressReporter forwards engine progress to the requesting gateway and the event feed, at
// most once per ProgressInterval.
func (p *Processor) progressReporter(ctx context.Context, cmd messages.FitCommand, job store.Job) forecast.ProgressFunc {
	var mu sync.Mutex
	var last time.Time
	return func(pr forecast.Progress) {
		mu.Lock()
		now := p.now()
		if now.Sub(last) < p.cfg.ProgressInterval {
			mu.Unlock()
			return
		}
		last = now
		mu.Unlock()
		p.reply(cmd.ReplyTo, messages.Reply{JobID: cmd.JobID, Kind: messages.KindFit, Model: cmd.Model, Type: messages.ReplyProgress, Progress: &pr})
		p.recordProgress(ctx, job, pr.Percent)
		if _, err := p.store.Emit(ctx, store.Event{
			Type: store.EventFitProgress, Model: cmd.Model, Generation: cmd.Generation, JobID: cmd.JobID, Data: messages.JSON(pr),
		}); err != nil {
			p.log.Debug("emit progress", "job_id", cmd.JobID, "err", err)
		}
	}
}
