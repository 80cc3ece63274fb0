package gateway

import (
	"context"

	"github.com/google/uuid"

	"github.com/forecastd/forecastd/messages"
	"github.com/forecastd/forecastd/store"
)

// startBacktest accepts a validated backtest: records its job and publishes its command to the
// fit queue, the series put on its step as a fit's is (a step left out is a missing value). It takes no generation and holds nothing: a backtest reads only its own series, so
// it waits for no fit and no forecast waits for it. The returned run delivers the outcome; a
// lost reply is recovered from the job record as a fit's is.
func (g *Gateway) startBacktest(ctx context.Context, model string, req messages.BacktestRequest) (*run, Accepted, error) {
	values := req.Values
	if req.Timestamps != nil {
		series, err := messages.FillGaps(req.Timestamps, req.Values)
		if err != nil {
			return nil, Accepted{}, messages.Invalid("timestamps", "%v", err) // Validate has said so already
		}
		values = series.Values
	}
	jobID := uuid.NewString()
	now := g.now()
	job := store.Job{ID: jobID, Kind: messages.KindBacktest, Model: model, Status: store.JobQueued, CreatedAt: now, UpdatedAt: now}
	if err := g.deps.Store.PutJob(ctx, job, g.cfg.JobTTL); err != nil {
		return nil, Accepted{}, unavailable("record job", err)
	}
	cmd := messages.BacktestCommand{
		Kind: messages.KindBacktest, JobID: jobID, Model: model, ReplyTo: g.cfg.ID,
		Values: values, SeasonLength: *req.SeasonLength, Method: req.Method, Options: req.Options,
		Backtest: req.Plan(), Horizon: *req.Horizon, Levels: req.Levels, AcceptedAt: now,
	}
	r := newRun(jobID, messages.KindBacktest, model, now)
	g.runs.add(r)
	// Queued first: the processor's first progress may come back before Publish returns.
	acc := Accepted{JobID: jobID, Status: string(store.JobQueued), Model: model}
	r.step(stepAccepted, acc)
	if err := g.publish(cmd.Topic(), jobID, cmd); err != nil {
		if !g.recordFailure(ctx, r, job, store.JobFailed, messages.Errorf(messages.CodeUnavailable, nil, "the broker did not take the backtest")) {
			return r, acc, nil // it took it: the backtest ended, and r has its outcome
		}
		g.runs.remove(jobID)
		return nil, Accepted{}, unavailable("publish backtest", err)
	}
	g.log.Info("backtest accepted", "model", model, "job_id", jobID, "n", len(values), "methods", cmd.Methods, "windows", cmd.Windows)
	return r, acc, nil
}

// sumUpBacktests adds the overall accuracy of each method over the series that have ended, and
// the leaderboard, to the results of a batch with a backtest.
func (v *batchResultsView) sumUpBacktests() {
	if v.Backtest == nil {
		return
	}
	series := make([]map[string]messages.Accuracy, len(v.Results))
	for i, s := range v.Results {
		series[i] = s.Backtest
	}
	v.Overall, v.Leaderboard = messages.Overall(v.Backtest.Methods, series)
}
