// Package store keeps what processors and the gateway share: each model's generation sequence,
// its pending fits with their leases, the current model, job records and the model event feed.
// Redis is the production implementation; Memory has the same semantics for one process. One
// contract suite (storetest) runs against both.
//
// Redis keys, under a prefix p (default "forecastd"):
//
//	p:seq:{model}      INCR counter: the model's newest generation
//	p:fits:{model}     hash gen → fit record (JSON); pending fits plus the newest RecentFits
//	p:pending:{model}  sorted set of pending generations (score = gen)
//	p:model:{model}    hash: the current model (gen, job, method, fitted, summary, blob)
//	p:models           set of model names that ever had a fit accepted
//	p:job:{id}         job record (JSON) with a TTL
//	p:events           stream of model and batch events (XADD MAXLEN ~ N); entry ID = Event.ID
//	p:events:live      pub/sub channel carrying each event as it is appended
//	p:batch:{id}       hash: a batch's status, counts, spec and times (emitted: of its last batch_progress), with a TTL
//	p:batch:{id}:names the batch's series names (JSON array), with the same TTL
//	p:batch:{id}:results hash index → the series' result (JSON), with the same TTL
//
// Every state change is one Lua script, so readers never see it half done. With a prefix
// carrying a hash tag, e.g. "{forecastd}", all keys share one Redis Cluster slot.
package store

import (
	"context"
	"encoding/json"
	"time"

	"github.com/forecastd/forecastd/messages"
)

// The store's errors carry codes (messages.CodeOf); errors that are none of these (a Redis that
// cannot be reached) are for the caller to call unavailable.
var (
	// ErrNoModel: the model has no successful fit yet.
	ErrNoModel = messages.NewSentinel(messages.CodeNotFound, "no model")
	// ErrNoFit: there is no record of that fit: it was never accepted, or it ended long ago
	// and was pruned from the history (only pending fits and the newest ones are kept).
	ErrNoFit = messages.NewSentinel(messages.CodeNotFound, "no such fit")
	// ErrFitEnded: CompleteFit found the fit already ended (succeeded, failed or expired) by
	// another call; the caller did not end it.
	ErrFitEnded = messages.NewSentinel(messages.CodeInternal, "fit already ended")
	// ErrNoJob: the job does not exist or has expired.
	ErrNoJob = messages.NewSentinel(messages.CodeNotFound, "no such job")
	// ErrEventsGone: the resume point is older than the retained event history.
	ErrEventsGone = messages.NewSentinel(messages.CodeGone, "events no longer retained")
	// ErrBadEventID: an event ID that is not of the form "<ms>-<seq>".
	ErrBadEventID = messages.NewSentinel(messages.CodeInvalid, "malformed event id")
)

// FitStatus is where a fit is in its life. Everything but FitPending is terminal.
type FitStatus string

const (
	FitPending   FitStatus = "pending"
	FitSucceeded FitStatus = "succeeded"
	FitFailed    FitStatus = "failed"
	FitExpired   FitStatus = "expired" // no processor held it for a whole queue lease
)

// Terminal reports whether the fit has ended, successfully or not.
func (s FitStatus) Terminal() bool { return s != FitPending }

// JobStatus is where a job is in its life: queued, then held (a forecast waiting for fits) or
// running, and at last succeeded, failed or expired.
type JobStatus string

const (
	JobQueued    JobStatus = "queued"
	JobHeld      JobStatus = "held"
	JobRunning   JobStatus = "running"
	JobSucceeded JobStatus = "succeeded"
	JobFailed    JobStatus = "failed"
	JobExpired   JobStatus = "expired" // its fit expired, or the fits it waited for did not settle in time
)

// Answered reports whether the job has a recorded answer, succeeded or failed, which a
// redelivered command replays instead of computing again.
func (s JobStatus) Answered() bool { return s == JobSucceeded || s == JobFailed }

// Event types on the model event feed.
const (
	EventFitAccepted = "fit_accepted"
	EventFitProgress = "fit_progress"
	EventModelReady  = "model_ready"
	EventFitFailed   = "fit_failed"
	// Batch events carry Batch instead of Model and Generation.
	EventBatchProgress = "batch_progress"
	EventBatchDone     = "batch_done"
)

// Event is one entry of the model event feed. ID is assigned by the store, increases
// monotonically and can be used to resume with Events. A batch event has Batch set and no
// Model.
type Event struct {
	ID         string          `json:"id"`
	Type       string          `json:"type"`
	Model      string          `json:"model"`
	Batch      string          `json:"batch_id,omitempty"`
	Generation int64           `json:"generation"`
	JobID      string          `json:"job_id,omitempty"`
	Time       time.Time       `json:"time"`
	Data       json.RawMessage `json:"data,omitempty"` // type-specific details (method, error, progress)
}

// ModelRecord is a fitted model as stored.
type ModelRecord struct {
	Model      string          `json:"model"`
	Generation int64           `json:"generation"`
	JobID      string          `json:"job_id"`
	Method     string          `json:"method"`
	FittedAt   time.Time       `json:"fitted_at"`
	Summary    json.RawMessage `json:"summary,omitempty"` // the fit summary returned to clients
	// History is a bounded tail of the fitted series for drawing it (JSON; opaque to the store).
	// Current and Info return it; List leaves it out, so listing many models stays small.
	History json.RawMessage `json:"history,omitempty"`
	Blob    []byte          `json:"blob,omitempty"` // forecast.Encode output
}

// FitRecord is one accepted fit.
type FitRecord struct {
	Generation int64     `json:"generation"`
	JobID      string    `json:"job_id"`
	Status     FitStatus `json:"status"`
	AcceptedAt time.Time `json:"accepted_at"`
	LeaseUntil time.Time `json:"lease_until"`     // end of the holder's lease; another processor may take the fit over after it
	ExpiresAt  time.Time `json:"expires_at"`      // the fit expires if no processor holds it by then
	Owner      string    `json:"owner,omitempty"` // the processor holding the lease ("" until one claims it)
	FinishedAt time.Time `json:"finished_at,omitzero"`
	Error      string    `json:"error,omitempty"`
}

// OfAnotherJob reports whether the fit is another job's than jobID: the store lost the write
// that accepted jobID's fit (a failover) and gave its generation to the model's next fit. A
// record of a release before fits named their job belongs to any.
func (f FitRecord) OfAnotherJob(jobID string) bool { return f.JobID != "" && f.JobID != jobID }

// ModelInfo describes a model name: its sequence, current model (without blob), the fits
// still pending and the most recent fits, newest first.
type ModelInfo struct {
	Model    string       `json:"model"`
	Sequence int64        `json:"sequence"`
	Current  *ModelRecord `json:"current,omitempty"`
	Pending  []FitRecord  `json:"pending"`
	Recent   []FitRecord  `json:"recent"`
}

// Job is the pollable record of one client request.
type Job struct {
	ID         string          `json:"job_id"`
	Kind       string          `json:"kind"` // "fit" or "forecast"
	Model      string          `json:"model"`
	Status     JobStatus       `json:"status"`
	Generation int64           `json:"generation,omitempty"`
	Progress   *float64        `json:"progress,omitempty"`
	Result     json.RawMessage `json:"result,omitempty"`
	Error      json.RawMessage `json:"error,omitempty"`
	CreatedAt  time.Time       `json:"created_at"`
	UpdatedAt  time.Time       `json:"updated_at"`
}

// ForecastView is what ReadForecast reads.
type ForecastView struct {
	// Job is the forecast's job record; nil if there is none.
	Job *Job
	// Generation is the model's current generation; 0 if it has no current model. FitJob is
	// the job of the fit that made it (see CurrentGeneration).
	Generation int64
	FitJob     string
}

// Acceptance is what accepting a forecast found, at one moment.
type Acceptance struct {
	// Barrier is the model's newest accepted fit: the forecast must use a generation at least
	// as new, once the fits up to it have ended. 0: the model was never fitted.
	Barrier int64
	// Pending are the generations up to Barrier whose fits are still pending, ascending.
	Pending []int64
	// Generation is the current model's generation (0: none succeeded yet). With nothing
	// pending and Generation ≥ Barrier, it is a model the forecast may use. FitJob is the job
	// of the fit that made it (see CurrentGeneration).
	Generation int64
	FitJob     string
}

// Store is the shared state. All methods are safe for concurrent use.
type Store interface {
	// AcceptFit assigns the model's next generation (1, 2, …) and records a pending fit, held by
	// no processor, that expires unless one holds it within queueLease (> 0): the time its
	// command may wait in the queue. It then emits fit_accepted. Generations are never reused,
	// not even those of failed fits.
	AcceptFit(ctx context.Context, model, jobID string, queueLease time.Duration) (int64, error)
	// QueueFit records that the command of pending fit gen is in the queue: from now on the fit
	// may wait there up to queueLease for a processor, and as long again after each holder's
	// lease. The gateway accepts a fit for only as long as its publish may take, so that a fit
	// whose command never reached the queue (the gateway died, or the store went away, before
	// the publish was confirmed) expires within that, not a whole queue lease later; it then
	// calls QueueFit. On a fit that is no longer pending it does nothing.
	QueueFit(ctx context.Context, model string, gen int64, queueLease time.Duration) error
	// AcceptSavedFit is AcceptFit without the fit_accepted event: the fit of a batch series kept
	// as a model is accepted with its batch, whose events tell it, so that a batch saving
	// thousands of series adds one event per series to the feed (model_ready or fit_failed),
	// not two.
	AcceptSavedFit(ctx context.Context, model, jobID string, queueLease time.Duration) (int64, error)
	// RenewFit claims a pending fit for owner (a processor instance) and extends its lease to
	// now+lease, unless another owner holds a lease that has not run out: then it changes
	// nothing. A holder's lease running out ends nothing: it lets the next processor that has
	// the command take the fit over. Each claim or renewal also moves the fit's expiry to a
	// queue lease after the new lease, so that a fit whose holder died waits a whole queue lease
	// for its redelivered command. Either way it returns the record, whose Owner says who holds
	// the fit now. On a terminal fit it does nothing and returns its record, so a redelivered
	// command can tell the fit has already ended.
	RenewFit(ctx context.Context, model string, gen int64, owner string, lease time.Duration) (FitRecord, error)
	// ReleaseFit gives up owner's hold on a pending fit whose attempt ended without an outcome
	// (a crash the processor survived), so that another processor may take it over at once.
	// The lease is left as it is. On a fit owner does not hold it does nothing.
	ReleaseFit(ctx context.Context, model string, gen int64, owner string) error
	// CompleteFit atomically marks fit rec.Generation succeeded and makes rec the current model
	// if, and only if, its generation is newer than the current one; it then emits model_ready.
	// It reports whether rec became current. A fit that finishes after a newer one is still
	// marked succeeded, but does not become current. Completing an already terminal fit
	// (succeeded, failed or expired) changes nothing and returns ErrFitEnded, so that a nil
	// error always means this call completed the fit (whose record newer fits may prune at once:
	// the caller need not read it back); ErrNoFit if there is no record of it. An empty
	// rec.JobID takes the fit's; a zero rec.FittedAt is now.
	CompleteFit(ctx context.Context, rec ModelRecord) (bool, error)
	// FailFit marks a pending fit failed with reason and emits fit_failed, and reports whether it
	// did: a terminal fit is left as it is (false, nil error), so of two parties ending one fit
	// (a processor that finished it, a gateway that gave up on its command) exactly one learns
	// it ended the fit and answers it. ErrNoFit if there is no record of it. With an error it
	// may still report true: the fit was failed, but the write is not known to be safe (no
	// replica confirmed it).
	FailFit(ctx context.Context, model string, gen int64, reason string) (bool, error)
	// Fit returns one fit's record: ErrNoFit if never accepted, or if it ended and is older
	// than the newest RecentFits generations (pending fits are always kept).
	Fit(ctx context.Context, model string, gen int64) (FitRecord, error)
	// Sequence is the newest generation assigned to model (0 if none): a forecast's barrier.
	Sequence(ctx context.Context, model string) (int64, error)
	// Unsettled returns, ascending, the generations ≤ upTo whose fits are still pending. A
	// pending fit past its expiry (no processor held it for a queue lease) is first marked
	// expired (emitting fit_failed) and is not returned. Fits only expire here: Fit and Info may
	// show an overdue fit as pending.
	Unsettled(ctx context.Context, model string, upTo int64) ([]int64, error)
	// AcceptForecast is what accepting a forecast reads and writes, in one step: the model's
	// Sequence (the forecast's barrier); when it is not 0, job recorded as PutJob does, the
	// Unsettled generations up to the barrier and the current model's generation. With no fit
	// ever accepted it records nothing and returns a zero Acceptance.
	AcceptForecast(ctx context.Context, model string, job Job, ttl time.Duration) (Acceptance, error)
	// Current returns the current model with its blob, or ErrNoModel.
	Current(ctx context.Context, model string) (ModelRecord, error)
	// CurrentGeneration is the current model's generation and the job of the fit that made it,
	// without its blob, or ErrNoModel: enough for a processor whose decoded-model cache already
	// holds that model. The job tells the model apart from another of the same generation: a
	// failover that loses a fit's completion gives its generation to the next fit.
	CurrentGeneration(ctx context.Context, model string) (gen int64, fitJob string, err error)
	// ReadForecast is what a processor reads before it computes a forecast, in one round trip
	// (not atomically): job id's record, if any, and model's current generation (0 if none)
	// with its fit's job.
	ReadForecast(ctx context.Context, model, id string) (ForecastView, error)
	// Info describes one model, or ErrNoModel if no fit was ever accepted for it. Current has no
	// blob but has the history; Pending is ascending; Recent holds the newest RecentFits fits of
	// any status.
	Info(ctx context.Context, model string) (ModelInfo, error)
	// List describes every model, sorted by name, as Info does but without histories.
	List(ctx context.Context) ([]ModelInfo, error)

	// PutJob writes a job record, replacing any previous one, kept for ttl (> 0).
	PutJob(ctx context.Context, job Job, ttl time.Duration) error
	// PutUnlessAnswered is PutJob unless the job's record holds an answer already (Answered):
	// then it writes nothing and returns that record and false. Every write of a job that may
	// race its answer goes through it (a processor's running, progress and answers; the gateway's
	// own failures), so an answer once given (the gateway's, say, that the command could not be
	// published) is never overwritten, by a later answer or by a stale state.
	PutUnlessAnswered(ctx context.Context, job Job, ttl time.Duration) (Job, bool, error)
	// GetJob reads a job record or returns ErrNoJob.
	GetJob(ctx context.Context, id string) (Job, error)

	// Emit appends an event that changes no state (fit_progress) to the feed and returns it
	// with its ID. Type and Model are required, Data must be JSON; a zero Time is now.
	Emit(ctx context.Context, ev Event) (Event, error)
	// Subscribe delivers events emitted from now on until ctx ends, then closes the channel.
	// Delivery is at-most-once: a slow reader misses events (they are dropped, never queued
	// without bound) and so may a reconnecting Redis connection, so readers re-check state.
	// Close also ends every subscription.
	Subscribe(ctx context.Context) (<-chan Event, error)
	// Events returns up to limit retained events after afterID (all retained ones if afterID is
	// empty; limit ≤ 0 means no limit), oldest first. afterID older than the oldest retained
	// event, or any afterID when none is retained, gives ErrEventsGone: the reader must reload
	// state. A malformed afterID gives ErrBadEventID. IDs are "<ms>-<seq>", increasing.
	Events(ctx context.Context, afterID string, limit int) ([]Event, error)
	// LastEventID is the ID of the newest event ("" if none).
	LastEventID(ctx context.Context) (string, error)

	Batches

	// Ping checks that the store is reachable.
	Ping(ctx context.Context) error
	// Close ends every subscription. It does not close a Redis client given to NewRedis.
	Close() error
}
