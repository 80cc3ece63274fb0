package processor_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/forecastd/forecastd/forecast"
	"github.com/forecastd/forecastd/messages"
	"github.com/forecastd/forecastd/processor"
	"github.com/forecastd/forecastd/store"
)

// savedBatch records a batch of the given series names and accepts each one's fit as the
// gateway does for a batch with save_models; it returns their commands.
func (r *rig) savedBatch(t *testing.T, id string, values map[string][]float64, names ...string) []messages.BatchCommand {
	t.Helper()
	ctx := t.Context()
	if err := r.st.CreateBatch(ctx, store.Batch{ID: id}, names, time.Hour); err != nil {
		t.Fatal(err)
	}
	cmds := make([]messages.BatchCommand, len(names))
	for i, name := range names {
		cmds[i] = batchCommand(id, i, name, values[name]...)
		gen, err := r.st.AcceptSavedFit(ctx, cmds[i].Model(), messages.SavedFitJob(id, i), time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		cmds[i].Generation = gen
	}
	return cmds
}

func (r *rig) seriesResult(t *testing.T, id string, index int) messages.BatchSeriesResult {
	t.Helper()
	_, _, results, err := r.st.BatchResults(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	var res messages.BatchSeriesResult
	if err := json.Unmarshal(results[index], &res); err != nil {
		t.Fatal(err)
	}
	return res
}

// waitFitEnded polls until fit gen of model has ended and returns its record.
func (r *rig) waitFitEnded(t *testing.T, model string, gen int64) store.FitRecord {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		fr, err := r.st.Fit(t.Context(), model, gen)
		if err != nil {
			t.Fatal(err)
		}
		if fr.Status.Terminal() {
			return fr
		}
		if time.Now().After(deadline) {
			t.Fatalf("fit %s/%d is still pending", model, gen)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// eventTypes are the types of the retained events of model, oldest first.
func (r *rig) eventTypes(t *testing.T, model string) []string {
	t.Helper()
	evs, err := r.st.Events(t.Context(), "", 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, ev := range evs {
		if ev.Model == model {
			out = append(out, ev.Type)
		}
	}
	return out
}

// A series of a batch that saves its models ends its accepted fit as a fit does: the model
// becomes current with model_ready, or the fit fails with fit_failed; the result names the model.
func TestSavedBatchSeriesCompleteTheirFits(t *testing.T) {
	r := newRig(t)
	ctx := t.Context()
	cmds := r.savedBatch(t, "b", map[string][]float64{"good": {1, 2, 3}}, "good", "short")
	for _, c := range cmds {
		r.publish(t, messages.TopicBatch, c)
	}
	if b := waitBatch(t, r.st, "b", 2); b.Status != store.BatchSucceeded || b.Failed != 1 {
		t.Fatalf("batch %+v; want succeeded, 1 failed", b)
	}
	good := r.seriesResult(t, "b", 0)
	if good.Failure != nil || good.Model != "b.good" || good.Generation != 1 || len(good.Point) != 2 || good.Point[0] != 3 {
		t.Errorf("good series: %+v; want the naive forecast [3 3] kept as b.good generation 1", good)
	}
	cur, err := r.st.Current(ctx, "b.good")
	if err != nil || cur.Generation != 1 || cur.JobID != "b.0" || len(cur.Blob) == 0 || !strings.Contains(string(cur.History), `"values":[1,2,3]`) {
		t.Fatalf("b.good: %+v, %v; want generation 1 of job b.0 with its blob and history", cur, err)
	}
	var summary messages.FitSummary
	if err := json.Unmarshal(cur.Summary, &summary); err != nil || summary.Model != "b.good" || summary.N != 3 || !summary.Current {
		t.Errorf("b.good's summary %s: %v", cur.Summary, err)
	}
	if got := strings.Join(r.eventTypes(t, "b.good"), " "); got != "model_ready" {
		t.Errorf("b.good's events: %s; want model_ready alone (its fit was accepted with the batch)", got)
	}
	short := r.seriesResult(t, "b", 1)
	if short.Failure == nil || short.Model != "" {
		t.Errorf("short series: %+v; want its failure and no model", short)
	}
	if fr, err := r.st.Fit(ctx, "b.short", 1); err != nil || fr.Status != store.FitFailed || fr.Error == "" {
		t.Errorf("b.short's fit: %+v, %v; want failed with a reason", fr, err)
	}
	if got := strings.Join(r.eventTypes(t, "b.short"), " "); got != "fit_failed" {
		t.Errorf("b.short's events: %s; want fit_failed alone", got)
	}
}

// keptByADeadProcessor does what a processor that died after keeping a saved series did: it
// fits values naively and completes generation 1 of model with it.
func (r *rig) keptByADeadProcessor(t *testing.T, model string, values ...float64) {
	t.Helper()
	m, err := forecast.Fit(t.Context(), values, forecast.Spec{Method: forecast.MethodNaive}, nil)
	if err != nil {
		t.Fatal(err)
	}
	blob, _ := forecast.Encode(m)
	if ok, err := r.st.CompleteFit(t.Context(), store.ModelRecord{Model: model, Generation: 1, Method: "Naive", Blob: blob}); !ok || err != nil {
		t.Fatalf("complete: %v %v", ok, err)
	}
}

// A processor that dies after completing a saved series' fit and before recording its result
// leaves the fit succeeded and the result missing: the redelivered command records the result
// without fitting a second generation or completing the fit again, however often it arrives.
func TestRedeliveredSavedSeriesMakesOneGeneration(t *testing.T) {
	r := newRig(t)
	cmd := r.savedBatch(t, "b", map[string][]float64{"a": {1, 2, 5}}, "a")[0]
	r.keptByADeadProcessor(t, "b.a", 1, 2, 5)
	r.publish(t, messages.TopicBatch, cmd) // redelivered
	r.publish(t, messages.TopicBatch, cmd) // and again
	if b := waitBatch(t, r.st, "b", 1); b.Status != store.BatchSucceeded || b.Failed != 0 {
		t.Fatalf("batch %+v; want succeeded", b)
	}
	if res := r.seriesResult(t, "b", 0); res.Failure != nil || res.Model != "b.a" || res.Generation != 1 || len(res.Point) != 2 || res.Point[0] != 5 {
		t.Errorf("result %+v; want the forecast [5 5] of b.a generation 1", res)
	}
	// Both copies have been handled once a later series of the one consumer has ended.
	later := r.savedBatch(t, "later", map[string][]float64{"z": {1, 2}}, "z")[0]
	r.publish(t, messages.TopicBatch, later)
	waitBatch(t, r.st, "later", 1)
	if got := strings.Join(r.eventTypes(t, "b.a"), " "); got != "model_ready" {
		t.Errorf("b.a's events: %s; want the one model_ready of the dead processor's completion", got)
	}
}

// A saved series redelivered after its model was kept is forecast from that model, not fitted
// again: a second fit that fails (a timeout on a loaded processor, say) must not leave a
// series shown failed whose model is current.
func TestRedeliveredSavedSeriesUsesTheModelItKept(t *testing.T) {
	var fits atomic.Int32
	r := newRig(t, processor.WithFitFunc(func(ctx context.Context, y []float64, spec forecast.Spec, p forecast.ProgressFunc) (forecast.Model, error) {
		fits.Add(1)
		return nil, context.DeadlineExceeded // any fit now fails
	}))
	cmd := r.savedBatch(t, "b", map[string][]float64{"a": {1, 2, 5}}, "a")[0]
	r.keptByADeadProcessor(t, "b.a", 1, 2, 5)
	r.publish(t, messages.TopicBatch, cmd) // redelivered
	if b := waitBatch(t, r.st, "b", 1); b.Status != store.BatchSucceeded || b.Failed != 0 {
		t.Fatalf("batch %+v; want succeeded", b)
	}
	if res := r.seriesResult(t, "b", 0); res.Failure != nil || res.Model != "b.a" || res.Generation != 1 || len(res.Point) != 2 || res.Point[0] != 5 {
		t.Errorf("result %+v; want the forecast [5 5] of the kept b.a generation 1", res)
	}
	if n := fits.Load(); n != 0 {
		t.Errorf("the redelivered series was fitted %d times; want its kept model used", n)
	}
}

// The series of a cancelled batch are skipped and their accepted fits failed, so forecasts
// held for those models are released rather than held for the batch's lifetime.
func TestSkippedSavedSeriesFailTheirFits(t *testing.T) {
	var fits atomic.Int32
	r := newRig(t, processor.WithFitFunc(func(ctx context.Context, y []float64, spec forecast.Spec, p forecast.ProgressFunc) (forecast.Model, error) {
		fits.Add(1)
		return forecast.Fit(ctx, y, spec, p)
	}))
	ctx := t.Context()
	cmd := r.savedBatch(t, "b", map[string][]float64{"a": {1, 2}}, "a")[0]
	if _, err := r.st.EndBatch(ctx, "b", store.BatchCancelled, ""); err != nil {
		t.Fatal(err)
	}
	r.publish(t, messages.TopicBatch, cmd)
	if fr := r.waitFitEnded(t, "b.a", 1); fr.Status != store.FitFailed || !strings.Contains(fr.Error, "cancelled") {
		t.Fatalf("fit of the skipped series: %+v; want failed, naming the cancel", fr)
	}
	if n := fits.Load(); n != 0 {
		t.Errorf("%d fits of a cancelled batch's series", n)
	}
}

// A saved series whose backtest fails keeps no model: the series fails and so does its fit,
// whether the plan is too long for the series (checked before fitting) or the method cannot
// fit the first window (found by the backtest).
func TestSavedSeriesWhoseBacktestFailsKeepsNoModel(t *testing.T) {
	full := []float64{1, 2, 3, 4, 5, 6, 7, 8}
	r := newRig(t, processor.WithFitFunc(func(ctx context.Context, y []float64, spec forecast.Spec, p forecast.ProgressFunc) (forecast.Model, error) {
		if len(y) > 3 && len(y) < len(full) {
			return nil, forecast.ErrTooFewObservations // the windows' training sets are too short for the method
		}
		return forecast.Fit(ctx, y, spec, p)
	}))
	ctx := t.Context()
	cmds := r.savedBatch(t, "b", map[string][]float64{"short": {1, 2, 3}, "unfit": full}, "short", "unfit")
	for _, c := range cmds {
		c.Backtest = &messages.Backtest{Methods: []string{forecast.MethodNaive}, Windows: 3, Step: 1}
		r.publish(t, messages.TopicBatch, c)
	}
	if b := waitBatch(t, r.st, "b", 2); b.Failed != 2 {
		t.Fatalf("batch %+v; want both series failed", b)
	}
	for i, name := range []string{"short", "unfit"} {
		res := r.seriesResult(t, "b", i)
		// A plan the batch's own horizon makes too long for the series names its values.
		if res.Failure == nil || res.Model != "" || res.Failure.Problems["backtest.windows"] == "" && res.Failure.Problems["values"] == "" {
			t.Errorf("%s: %+v; want a failure naming the plan and no model", name, res)
		}
		if fr, err := r.st.Fit(ctx, "b."+name, 1); err != nil || fr.Status != store.FitFailed {
			t.Errorf("b.%s's fit: %+v, %v; want failed", name, fr, err)
		}
		if _, err := r.st.Current(ctx, "b."+name); err == nil {
			t.Errorf("b.%s kept as a model though its series failed", name)
		}
	}
}

// A batch cancelled while one of its saved series is fitting keeps no model of it: the series
// is skipped, as its result shows, so its fit fails rather than completing.
func TestSavedSeriesOfBatchCancelledMidFitKeepsNoModel(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	r := newRig(t, processor.WithFitFunc(func(ctx context.Context, y []float64, spec forecast.Spec, p forecast.ProgressFunc) (forecast.Model, error) {
		close(started)
		<-release
		return forecast.Fit(ctx, y, spec, p)
	}))
	ctx := t.Context()
	cmd := r.savedBatch(t, "b", map[string][]float64{"a": {1, 2, 3}}, "a", "never")[0]
	r.publish(t, messages.TopicBatch, cmd)
	<-started
	if _, err := r.st.EndBatch(ctx, "b", store.BatchCancelled, ""); err != nil {
		t.Fatal(err)
	}
	close(release)
	if fr := r.waitFitEnded(t, "b.a", 1); fr.Status != store.FitFailed || !strings.Contains(fr.Error, "cancelled") {
		t.Fatalf("fit of the series fitting when its batch was cancelled: %+v; want failed, naming the cancel", fr)
	}
	if _, err := r.st.Current(ctx, "b.a"); err == nil {
		t.Error("b.a kept as a model though its batch was cancelled and its series skipped")
	}
	if got := strings.Join(r.eventTypes(t, "b.a"), " "); got != "fit_failed" {
		t.Errorf("b.a's events: %s; want fit_failed alone", got)
	}
}
