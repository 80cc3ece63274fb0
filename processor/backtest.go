package processor

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/forecastd/forecastd/forecast"
	"github.com/forecastd/forecastd/messages"
	"github.com/forecastd/forecastd/store"
)

// handleBacktest evaluates the methods of a backtest command on its series and answers with the
// accuracy table. It keeps no model and takes no generation: its job record is its only state,
// so a redelivered command whose job has ended replays that outcome, and one that has not runs
// again from the start.
func (p *Processor) handleBacktest(msg *message.Message) error {
	var cmd messages.BacktestCommand
	if err := decode(msg, &cmd); err != nil {
		return err
	}
	if cmd.JobID == "" || messages.ValidModelName(cmd.Model) != "" || cmd.Horizon < 1 || len(cmd.Methods) == 0 {
		return fmt.Errorf("%w: backtest command needs job_id, a valid model, horizon ≥ 1 and methods", errMalformed)
	}
	ctx := msg.Context()
	log := p.log.With("model", cmd.Model, "job_id", cmd.JobID)
	job := store.Job{ID: cmd.JobID, Kind: messages.KindBacktest, Model: cmd.Model, CreatedAt: cmd.AcceptedAt}
	if prev, answered, err := p.start(ctx, job, cmd.ReplyTo); err != nil || answered {
		if answered {
			log.Info("backtest already ended; replaying its outcome", "status", prev.Status)
			p.reply(cmd.ReplyTo, replayReply(prev))
		}
		return err
	}
	log.Info("backtest started", "methods", cmd.Methods, "windows", cmd.Windows, "n", len(cmd.Values))

	runCtx, cancel := context.WithTimeout(ctx, p.cfg.FitTimeout)
	defer cancel()
	start := p.now()
	acc, err := forecast.Backtest(runCtx, cmd.Values, specsOf(cmd.Methods, cmd.SeasonLength, cmd.Method, cmd.Options),
		forecast.Plan{Horizon: cmd.Horizon, Windows: cmd.Windows, Step: cmd.Step, Fit: p.fit}, cmd.Levels, p.backtestProgress(ctx, job, cmd.ReplyTo))
	elapsed := p.now().Sub(start)
	if err != nil {
		if ctx.Err() != nil {
			// Shutting down: leave the command unacknowledged so another processor takes it.
			return fmt.Errorf("backtest interrupted: %w", ctx.Err())
		}
		log.Info("backtest failed", "err", err, "duration_ms", elapsed.Milliseconds())
		return p.fail(ctx, job, cmd.ReplyTo, backtestFailure(err, p.cfg.FitTimeout, ""))
	}
	res := messages.BacktestResult{
		Model: cmd.Model, JobID: cmd.JobID, N: len(cmd.Values), Horizon: cmd.Horizon, Windows: cmd.Windows, Step: cmd.Step,
		Levels: cmd.Levels, DurationMS: float64(elapsed.Microseconds()) / 1000,
	}
	res.Accuracy, res.Leaderboard = accuracyTable(cmd.Methods, acc, true)
	log.Info("backtest succeeded", "leaderboard", res.Leaderboard, "duration_ms", elapsed.Milliseconds())
	return p.succeed(ctx, job, cmd.ReplyTo, res)
}

// specsOf is the engine's spec of each method compared; options apply to the method they were
// given for.
func specsOf(methods []string, seasonLength int, optionsMethod string, options forecast.Options) []forecast.Spec {
	specs := make([]forecast.Spec, len(methods))
	for i, m := range methods {
		specs[i] = forecast.Spec{Method: m, SeasonLength: seasonLength}
		if m == optionsMethod {
			specs[i].Options = options
		}
	}
	return specs
}

// accuracyTable is each method's accuracy on the wire, keyed by method, and the methods best
// first.
func accuracyTable(methods []string, acc []forecast.Accuracy, withWindows bool) (map[string]messages.Accuracy, []string) {
	table := make(map[string]messages.Accuracy, len(acc))
	for i, a := range acc {
		table[methods[i]] = messages.NewAccuracy(a, withWindows)
	}
	board := messages.Leaderboard(methods, func(m string) *float64 { return table[m].MASE }, func(m string) *float64 { return table[m].SMAPE })
	return table, board
}

// backtestFailure is what the client of a failed backtest is told: a plan the series cannot
// carry names its field (windows and step under prefix), and the rest is told as a fit's failure is.
func backtestFailure(err error, timeout time.Duration, prefix string) *messages.Failure {
	if pe := (*forecast.PlanError)(nil); errors.As(err, &pe) {
		field := prefix + pe.Field
		if prefix != "" && (pe.Field == "horizon" || pe.Field == "season_length") {
			field = "values" // a batch's horizon and season lengths hold for every series: this one is too short
		}
		return messages.FailField(messages.CodeInvalid, field, "%s", pe.Problem())
	}
	if he := (*forecast.HorizonError)(nil); errors.As(err, &he) {
		// A window's forecast goes no further: the horizon asked for (a batch's own) is too long.
		return messages.FailField(messages.CodeInvalid, "horizon", "%s", forecast.Explain(err))
	}
	return fitFailure(err, timeout, "values")
}

// backtestProgress forwards the backtest's progress to the requesting gateway and the job
// record, at most once per ProgressInterval.
func (p *Processor) backtestProgress(ctx context.Context, job store.Job, replyTo string) forecast.ProgressFunc {
	var mu sync.Mutex
	var last time.Time
	return func(pr forecast.Progress) {
		mu.Lock()
		now := p.now()
		due := now.Sub(last) >= p.cfg.ProgressInterval
		if due {
			last = now
		}
		mu.Unlock()
		if !due {
			return
		}
		p.reply(replyTo, messages.Reply{JobID: job.ID, Kind: job.Kind, Model: job.Model, Type: messages.ReplyProgress, Progress: &pr})
		p.recordProgress(ctx, job, pr.Percent)
	}
}

// backtestSeries adds the backtest of a batch series to res, its forecast; a series the plan
// does not fit (too short) ends with that as its own error.
func (p *Processor) backtestSeries(ctx context.Context, cmd messages.BatchCommand, res messages.BatchSeriesResult) messages.BatchSeriesResult {
	b := cmd.Backtest
	acc, err := forecast.Backtest(ctx, cmd.Values, specsOf(b.Methods, cmd.SeasonLength, "", forecast.Options{}),
		forecast.Plan{Horizon: cmd.Horizon, Windows: b.Windows, Step: b.Step, Fit: p.fit}, cmd.Levels, nil)
	if err != nil {
		return messages.BatchSeriesResult{Index: cmd.Index, Name: cmd.Name, Failure: backtestFailure(err, p.cfg.FitTimeout, "backtest.")}
	}
	res.Backtest, _ = accuracyTable(b.Methods, acc, false)
	return res
}
