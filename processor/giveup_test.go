package processor_test

import (
	"context"
	"errors"
	"strings"
	"testing"

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

func (readsFail) CurrentGeneration(context.Context, string) (int64, error) {
	return 0, errors.New("the test's store refuses reads")
}

func (readsFail) Current(context.Context, string) (store.ModelRecord, error) {
	return store.ModelRecord{}, errors.New("the test's store refuses reads")
}

// A forecast given up on is answered and recorded as a failed forecast, whatever generations
// its command names: not as a fit (the current generation it carries is no fit's).
func TestGivenUpForecastIsAForecastFailure(t *testing.T) {
	r := newRigOver(t, 1, func(*processor.Config) {}, func(m *store.Memory) store.Store { return readsFail{m} })
	fit := r.naiveFit(t, "m", "fit-1")
	r.publish(t, messages.TopicFit, fit)
	if rep := r.result(t); rep.Failure != nil {
		t.Fatalf("fit failed: %+v", rep.Failure)
	}
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
