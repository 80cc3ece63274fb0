package processor_test

import (
	"context"
	"encoding/json"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/forecastd/forecastd/forecast"
	"github.com/forecastd/forecastd/messages"
	"github.com/forecastd/forecastd/processor"
	"github.com/forecastd/forecastd/store"
)

func backtestCommand(job string, methods ...string) messages.BacktestCommand {
	return messages.BacktestCommand{
		Kind: messages.KindBacktest, JobID: job, Model: "m", ReplyTo: "gw",
		Values: messages.Values{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, SeasonLength: 1, Method: methods[0],
		Backtest: messages.Backtest{Methods: methods, Windows: 3, Step: 1}, Horizon: 2, Levels: []float64{80, 95},
	}
}

// A backtest travels on the fit topic, is answered with the accuracy table and recorded in its
// job, and keeps no model; a redelivery replays the recorded answer.
func TestBacktestOnTheFitQueue(t *testing.T) {
	r := newRig(t)
	r.publish(t, messages.TopicFit, backtestCommand("b1", "naive", "drift"))
	rep := r.result(t)
	if rep.JobID != "b1" || rep.Kind != messages.KindBacktest || rep.Failure != nil {
		t.Fatalf("reply %+v; want the backtest's success", rep)
	}
	var res messages.BacktestResult
	if err := json.Unmarshal(rep.Result, &res); err != nil {
		t.Fatal(err)
	}
	// A line: naive is off by 1.5 scaled errors per window, drift is exact.
	naive, drift := res.Accuracy["naive"], res.Accuracy["drift"]
	if naive.MASE == nil || *naive.MASE != 1.5 || drift.MASE == nil || *drift.MASE > 1e-9 {
		t.Errorf("accuracy %+v; want naive MASE 1.5, drift 0", res.Accuracy)
	}
	if !slices.Equal(res.Leaderboard, []string{"drift", "naive"}) || len(naive.Windows) != 3 || naive.Windows[2].Origin != 10 {
		t.Errorf("leaderboard %v, naive windows %+v", res.Leaderboard, naive.Windows)
	}
	job, err := r.st.GetJob(t.Context(), "b1")
	if err != nil || job.Status != store.JobSucceeded || job.Kind != messages.KindBacktest {
		t.Fatalf("job %+v, %v; want a succeeded backtest", job, err)
	}
	if _, err := r.st.Current(t.Context(), "m"); err == nil {
		t.Error("a backtest saved a model")
	}
	r.publish(t, messages.TopicFit, backtestCommand("b1", "naive", "drift"))
	if again := r.result(t); string(again.Result) != string(rep.Result) {
		t.Errorf("redelivery answered %s, want the recorded %s", again.Result, rep.Result)
	}
}

// A plan the series cannot carry fails naming the field, with what would fit.
func TestBacktestTooShortNamesTheField(t *testing.T) {
	r := newRig(t)
	cmd := backtestCommand("b2", "drift")
	cmd.Values = messages.Values{1, 2, 3, 4, 5}
	r.publish(t, messages.TopicFit, cmd) // the first window trains on 2 values; drift needs 3
	rep := r.result(t)
	if rep.Failure == nil || rep.Failure.Code != messages.CodeInvalid || rep.Failure.Problems["windows"] == "" {
		t.Fatalf("reply %+v; want invalid naming windows", rep)
	}
}

// A window whose forecast leaves the float64 range (an ETS multiplicative trend trained on 12
// values growing 1e8-fold a step, forecast 40 steps) fails the backtest naming the horizon,
// with the one that fits.
func TestBacktestBeyondTheFloat64RangeNamesTheHorizon(t *testing.T) {
	r := newRig(t)
	cmd := backtestCommand("b3", "ets")
	cmd.Values = make(messages.Values, 52)
	for i := range cmd.Values {
		cmd.Values[i] = 1 // held out: what they are does not matter
		if i < 12 {
			cmd.Values[i] = math.Pow(10, 8*float64(i))
		}
	}
	cmd.Options = forecast.Options{ETSSpec: "MMN"}
	cmd.Backtest.Windows, cmd.Horizon = 1, 40
	r.publish(t, messages.TopicFit, cmd)
	rep := r.result(t)
	if rep.Failure == nil || rep.Failure.Code != messages.CodeInvalid || !strings.Contains(rep.Failure.Problems["horizon"], "a horizon of at most") {
		t.Fatalf("reply %+v; want invalid naming horizon", rep)
	}
}

// A batch series with a backtest carries each method's accuracy beside its forecast; one too
// short for the plan ends with its own error naming the batch's backtest field.
func TestBatchSeriesBacktest(t *testing.T) {
	r := newRig(t)
	if err := r.st.CreateBatch(t.Context(), store.Batch{ID: "bt"}, []string{"line", "short"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	plan := &messages.Backtest{Methods: []string{"naive", "drift"}, Windows: 3, Step: 1}
	line := batchCommand("bt", 0, "line", 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12)
	short := batchCommand("bt", 1, "short", 1, 2, 3, 4, 5)
	line.Backtest, short.Backtest = plan, plan
	r.publish(t, messages.TopicBatch, line)
	r.publish(t, messages.TopicBatch, short)
	waitBatch(t, r.st, "bt", 2)
	_, _, results, err := r.st.BatchResults(t.Context(), "bt")
	if err != nil {
		t.Fatal(err)
	}
	var got [2]messages.BatchSeriesResult
	for i := range got {
		if err := json.Unmarshal(results[i], &got[i]); err != nil {
			t.Fatal(err)
		}
	}
	bt := got[0].Backtest
	if got[0].Failure != nil || len(got[0].Point) != 2 || bt["naive"].MASE == nil || *bt["naive"].MASE != 1.5 || bt["drift"].Points != 6 {
		t.Errorf("line: %+v; want its forecast and naive MASE 1.5, drift over 6 points", got[0])
	}
	if bt["naive"].Windows != nil {
		t.Error("a batch series' backtest carries its windows")
	}
	if f := got[1].Failure; f == nil || f.Problems["backtest.windows"] == "" {
		t.Errorf("short: failure %+v; want one naming backtest.windows", f)
	}
}

// A backtest whose engine keeps crashing is answered as a failed backtest, not a forecast.
func TestCrashingBacktestIsAnsweredAsFailed(t *testing.T) {
	r := newRig(t, processor.WithFitFunc(func(context.Context, []float64, forecast.Spec, forecast.ProgressFunc) (forecast.Model, error) {
		panic("engine bug")
	}))
	r.publish(t, messages.TopicFit, backtestCommand("b3", "naive"))
	rep := r.result(t)
	if rep.Failure == nil || rep.Failure.Code != messages.CodeInternal || rep.Kind != messages.KindBacktest {
		t.Fatalf("reply %+v; want an internal failure of the backtest", rep)
	}
	job, err := r.st.GetJob(t.Context(), "b3")
	if err != nil || job.Status != store.JobFailed || job.Kind != messages.KindBacktest {
		t.Errorf("job %+v, %v; want a failed backtest", job, err)
	}
}
