package processor_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/forecastd/forecastd/forecast"
	"github.com/forecastd/forecastd/messages"
	"github.com/forecastd/forecastd/processor"
	"github.com/forecastd/forecastd/store"
)

// completeFails is a store whose CompleteFit always fails: a saved series' command keeps failing.
type completeFails struct{ store.Store }

func (completeFails) CompleteFit(context.Context, store.ModelRecord) (bool, error) {
	return false, errors.New("the test's store refuses completions")
}

// A saved series given up on (its command failed on its last delivery) fails its model's fit
// as well as the series, so forecasts held for the model are released instead of waiting out
// the fit's queue lease.
func TestGivenUpSavedSeriesFailsItsFit(t *testing.T) {
	r := newRigOver(t, 1, func(*processor.Config) {}, func(m *store.Memory) store.Store { return completeFails{m} })
	cmd := r.savedBatch(t, "b", map[string][]float64{"a": {1, 2, 3}}, "a")[0]
	r.publish(t, messages.TopicBatch, cmd)
	if b := waitBatch(t, r.st, "b", 1); b.Failed != 1 {
		t.Fatalf("batch %+v; want its series failed", b)
	}
	if fr := r.waitFitEnded(t, "b.a", 1); fr.Status != store.FitFailed || !strings.Contains(fr.Error, "failed repeatedly") {
		t.Fatalf("fit of the given-up series: %+v; want failed, saying why", fr)
	}
}

// readsFail is a store whose forecast reads always fail: a forecast that must read keeps failing.
type readsFail struct{ store.Store }

func (readsFail) ReadForecast(context.Context, string, string) (store.ForecastView, error) {
	return store.ForecastView{}, errors.New("the test's store refuses reads")
}

func (readsFail) CurrentGeneration(context.Context, string) (int64, string, error) {
	return 0, "", errors.New("the test's store refuses reads")
}

func (readsFail) Current(context.Context, string) (store.ModelRecord, error) {
	return store.ModelRecord{}, errors.New("the test's store refuses reads")
}

// A forecast given up on is answered and recorded as a failed forecast, whatever generations
// its command names: not as a fit (the current generation it carries is no fit's).
func TestGivenUpForecastIsAForecastFailure(t *testing.T) {
	r := newRigOver(t, 1, func(*processor.Config) {}, func(m *store.Memory) store.Store { return readsFail{m} })
	fit := r.fitted(t, "m", "fit-1")
	// Resent: the long way, through the failing reads.
	cmd := messages.ForecastCommand{JobID: "f-1", Model: "m", Barrier: fit.Generation, ReplyTo: "gw", Horizon: 2, CurrentGeneration: fit.Generation}
	r.publishWith(t, messages.TopicForecast, cmd, map[string]string{messages.ResentHeader: "true"})
	rep := r.result(t)
	if rep.Kind != messages.KindForecast || rep.Failure == nil || !strings.Contains(rep.Failure.Message, "forecast failed repeatedly") {
		t.Fatalf("reply %+v (failure %+v); want a forecast's failure", rep, rep.Failure)
	}
	job, err := r.st.GetJob(t.Context(), "f-1")
	if err != nil || job.Kind != messages.KindForecast || job.Status != store.JobFailed {
		t.Fatalf("job record %+v, %v; want a failed forecast", job, err)
	}
	// A forecast command with a field named generation (as one gateway build sent its current
	// generation) is a forecast too: the handler's topic says so.
	r.publishWith(t, messages.TopicForecast, map[string]any{"job_id": "f-2", "model": "m", "barrier": fit.Generation,
		"reply_to": "gw", "horizon": 2, "generation": fit.Generation}, map[string]string{messages.ResentHeader: "true"})
	if rep := r.result(t); rep.Kind != messages.KindForecast || rep.Failure == nil {
		t.Fatalf("reply %+v; want a forecast's failure", rep)
	}
	if fr, err := r.st.Fit(t.Context(), "m", fit.Generation); err != nil || fr.Status != store.FitSucceeded {
		t.Fatalf("fit %d: %+v, %v; want it still succeeded", fit.Generation, fr, err)
	}
}

// failingWrites is a store that fails one write of the rig's choice, once: as a processor dying
// just before it, whose command is then delivered again.
type failingWrites struct {
	store.Store
	fails func(write string, job store.Job) bool // called for each write; true fails it
}

func (f failingWrites) PutJob(ctx context.Context, job store.Job, ttl time.Duration) error {
	if f.fails("job", job) {
		return errors.New("the test's store lost this write")
	}
	return f.Store.PutJob(ctx, job, ttl)
}

func (f failingWrites) PutUnlessAnswered(ctx context.Context, job store.Job, ttl time.Duration) (store.Job, bool, error) {
	if f.fails("job", job) {
		return store.Job{}, false, errors.New("the test's store lost this write")
	}
	return f.Store.PutUnlessAnswered(ctx, job, ttl)
}

func (f failingWrites) FailFit(ctx context.Context, model string, gen int64, reason string) (bool, error) {
	if f.fails("fit", store.Job{Model: model, Generation: gen}) {
		return false, errors.New("the test's store lost this write")
	}
	return f.Store.FailFit(ctx, model, gen, reason)
}

// A fit that completed, but whose answer could not be recorded until its command was given up
// on, is answered as the success it was: not as a failure of a fit that is the current model.
func TestGivenUpFitThatSucceededIsASuccess(t *testing.T) {
	var lost atomic.Int32
	r := newRigOver(t, 1, func(c *processor.Config) { c.MaxRetries = 0 }, func(m *store.Memory) store.Store {
		return failingWrites{Store: m, fails: func(write string, job store.Job) bool {
			return write == "job" && job.Status == store.JobSucceeded && lost.Add(1) == 1
		}}
	})
	r.publish(t, messages.TopicFit, r.naiveFit(t, "m", "fit-1"))
	rep := r.result(t)
	if rep.Failure != nil || len(rep.Result) == 0 {
		t.Fatalf("reply: failure %+v; want the fit's success", rep.Failure)
	}
	job, err := r.st.GetJob(t.Context(), "fit-1")
	if err != nil || job.Status != store.JobSucceeded {
		t.Fatalf("job record %+v, %v; want succeeded", job, err)
	}
	if cur, err := r.st.Current(t.Context(), "m"); err != nil || cur.Generation != 1 {
		t.Fatalf("current model %d, %v; want generation 1", cur.Generation, err)
	}
}

// A rejected fit (its series is too short) whose processor died between recording its failure
// and ending the fit keeps the client's 4xx, naming the field: the delivery after it finds the
// one recorded and ends the fit with it, rather than rebuild an internal error from the fit.
func TestRejectedFitWhoseAnswerWasLostKeepsItsFailure(t *testing.T) {
	var writes atomic.Int32
	r := newRigOver(t, 1, func(*processor.Config) {}, func(m *store.Memory) store.Store {
		return failingWrites{Store: m, fails: func(write string, job store.Job) bool {
			// The fit's two final writes, in whichever order: the second is lost, once.
			if (write == "job" && job.Status == store.JobFailed) || write == "fit" {
				return writes.Add(1) == 2
			}
			return false
		}}
	})
	cmd := r.naiveFit(t, "m", "fit-1")
	cmd.Method, cmd.Values = "ets", messages.Values{1, 2}
	r.publish(t, messages.TopicFit, cmd)
	if rep := r.result(t); rep.Failure == nil || !rep.Failure.Code.ClientFault() || rep.Failure.Problems["values"] == "" {
		t.Fatalf("reply: failure %+v; want the 4xx naming values", rep.Failure)
	}
	job, err := r.st.GetJob(t.Context(), "fit-1")
	var f messages.Failure
	if err == nil {
		err = json.Unmarshal(job.Error, &f)
	}
	if err != nil || job.Status != store.JobFailed || !f.Code.ClientFault() {
		t.Fatalf("job record %s %s (%v); want the 4xx", job.Status, job.Error, err)
	}
	if fr := r.waitFitEnded(t, "m", 1); fr.Status != store.FitFailed {
		t.Fatalf("fit %+v; want failed", fr)
	}
}

// A fit ended by another party while it runs (a gateway that gave up on its command, a
// processor that gave up on a copy of it) stops: the attempt learns it when it renews its
// lease, cancels the fit and answers with the outcome recorded, instead of fitting on for up to
// the fit timeout for nothing.
func TestRunningFitEndedElsewhereStops(t *testing.T) {
	started, stopped := make(chan struct{}), make(chan struct{})
	slow := processor.WithFitFunc(func(ctx context.Context, _ []float64, _ forecast.Spec, _ forecast.ProgressFunc) (forecast.Model, error) {
		close(started)
		<-ctx.Done()
		close(stopped)
		return nil, ctx.Err()
	})
	r := newRigWith(t, func(c *processor.Config) { c.FitLease = 300 * time.Millisecond }, slow)
	r.publish(t, messages.TopicFit, r.naiveFit(t, "m", "fit-1"))
	<-started
	if ended, err := r.st.FailFit(t.Context(), "m", 1, "ended elsewhere"); err != nil || !ended {
		t.Fatalf("FailFit: %v, %v", ended, err)
	}
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("the fit still runs 5 s after it was ended elsewhere")
	}
	if rep := r.result(t); rep.Failure == nil {
		t.Fatalf("reply %+v; want the fit's failure", rep)
	}
}

// failFitRefused is a store that refuses to fail fits (not as an outage: it answers), counting
// the calls.
type failFitRefused struct {
	store.Store
	calls *atomic.Int32
}

func (f failFitRefused) FailFit(context.Context, string, int64, string) (bool, error) {
	f.calls.Add(1)
	return false, errors.New("the test's store refuses to fail fits")
}

// A dead-lettered command that cannot be answered is tried once and then acknowledged, so that
// it cannot circle the dead-lettered queue for ever (it stays in the dead-letter queue).
func TestDeadLetteredCommandIsTriedOnce(t *testing.T) {
	var calls atomic.Int32
	r := newRigOver(t, 1, func(c *processor.Config) { c.DeliveryLimit = 5 }, func(m *store.Memory) store.Store {
		return failFitRefused{Store: m, calls: &calls}
	})
	r.publishWith(t, messages.TopicDeadLettered, r.naiveFit(t, "m", "fit-1"), map[string]string{"x-first-death-queue": "forecastd.fit"})
	deadline := time.Now().Add(5 * time.Second)
	for calls.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(time.Second) // GoChannel hands a nacked message back at once
	if n := calls.Load(); n != 1 {
		t.Fatalf("the dead-lettered command was tried %d times; want once", n)
	}
}

// A dead-lettered fit command whose generation the store gave to another job (its acceptance
// lost in a failover) fails its own job only: the other job's fit is left pending, to its own
// command.
func TestDeadLetteredLostAcceptanceLeavesTheOtherJobsFit(t *testing.T) {
	r := newRigWith(t, func(c *processor.Config) { c.DeliveryLimit = 5 })
	ctx := t.Context()
	if gen, err := r.st.AcceptFit(ctx, "m", "job-2", time.Hour); err != nil || gen != 1 {
		t.Fatalf("accept: %d %v", gen, err)
	}
	lost := messages.FitCommand{JobID: "job-1", Model: "m", Generation: 1, ReplyTo: "gw", Values: messages.Values{1, 2, 3}, SeasonLength: 1, Method: "naive"}
	r.publishWith(t, messages.TopicDeadLettered, lost, map[string]string{"x-first-death-queue": "forecastd.fit"})
	if rep := r.result(t); rep.JobID != "job-1" || rep.Failure == nil {
		t.Fatalf("answer of the dead-lettered command: %+v; want job-1 failed", rep)
	}
	if f, err := r.st.Fit(ctx, "m", 1); err != nil || f.Status != store.FitPending || f.JobID != "job-2" {
		t.Errorf("job-2's fit after job-1's dead-lettered command: %+v %v; want it pending", f, err)
	}
}

// storeDown is a store whose forecast reads fail as an unreachable Redis does (a refused
// connection), while the switch is on.
type storeDown struct {
	store.Store
	down *atomic.Bool
}

func (s storeDown) refused() error {
	return fmt.Errorf("dial tcp 127.0.0.1:6379: %w", syscall.ECONNREFUSED)
}

func (s storeDown) ReadForecast(ctx context.Context, model, id string) (store.ForecastView, error) {
	if s.down.Load() {
		return store.ForecastView{}, s.refused()
	}
	return s.Store.ReadForecast(ctx, model, id)
}

func (s storeDown) CurrentGeneration(ctx context.Context, model string) (int64, string, error) {
	if s.down.Load() {
		return 0, "", s.refused()
	}
	return s.Store.CurrentGeneration(ctx, model)
}

func (s storeDown) Current(ctx context.Context, model string) (store.ModelRecord, error) {
	if s.down.Load() {
		return store.ModelRecord{}, s.refused()
	}
	return s.Store.Current(ctx, model)
}

// A forecast that cannot read the store (Redis failing over) is answered 503, ask again, once
// its handler's retries are spent: not redelivered until its delivery limit dead-letters it and
// it is answered as failed repeatedly (500), as forecasts arriving during a failover were.
func TestForecastWhileTheStoreIsDownIsAnswered503(t *testing.T) {
	var down atomic.Bool
	r := newRigOver(t, 1, func(*processor.Config) {}, func(m *store.Memory) store.Store { return storeDown{m, &down} })
	fit := r.fitted(t, "m", "fit-1")
	down.Store(true)
	r.publish(t, messages.TopicForecast, messages.ForecastCommand{JobID: "f-1", Model: "m", Barrier: fit.Generation, ReplyTo: "gw", Horizon: 2})
	rep := r.result(t)
	if rep.Kind != messages.KindForecast || rep.Failure == nil || rep.Failure.Code != messages.CodeUnavailable || strings.Contains(rep.Failure.Message, "repeatedly") {
		t.Fatalf("reply %+v (failure %+v); want the forecast answered unavailable", rep, rep.Failure)
	}
	job, err := r.st.GetJob(t.Context(), "f-1")
	if err != nil || job.Status != store.JobFailed {
		t.Fatalf("job record %+v, %v; want the failure recorded (the job store is reachable here)", job, err)
	}
}
