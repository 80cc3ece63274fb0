package processor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/forecastd/forecastd/forecast"
	"github.com/forecastd/forecastd/messages"
	"github.com/forecastd/forecastd/store"
)

// handleBatch fits and forecasts one series of a batch and records its result, once: a
// redelivered command (its processor died) computes the series again, and the store keeps the
// first result. A series of a batch that has ended (cancelled) or expired is skipped. A series
// the engine cannot fit gets its own error; the batch goes on.
func (p *Processor) handleBatch(msg *message.Message) error {
	var cmd messages.BatchCommand
	if err := decode(msg, &cmd); err != nil {
		return err
	}
	if cmd.BatchID == "" || cmd.Index < 0 || cmd.Horizon < 1 || cmd.Generation < 0 || cmd.Saves() && messages.ValidModelName(cmd.Model()) != "" {
		return fmt.Errorf("%w: batch command needs batch_id, index ≥ 0, horizon ≥ 1 and, to keep the series, a generation ≥ 1 of a valid model", errMalformed)
	}
	ctx := msg.Context()
	log := p.log.With("batch_id", cmd.BatchID, "series", cmd.Name, "index", cmd.Index)
	if ended, err := p.batchEnded(ctx, cmd.BatchID); err != nil || ended != "" {
		if err != nil {
			return err
		}
		p.metrics.batchSeries.WithLabelValues("skipped").Inc()
		log.Debug("series of an ended batch skipped", "why", ended)
		return p.dropSaved(ctx, cmd, ended)
	}
	if f := planFailure(cmd); f != nil {
		// Too short for its backtest: the series fails before anything is fitted or kept.
		if err := p.dropSaved(ctx, cmd, f.Describe()); err != nil {
			return err
		}
		return p.recordSeries(ctx, cmd.BatchID, messages.BatchSeriesResult{Index: cmd.Index, Name: cmd.Name, Failure: f}, log)
	}
	if cmd.Saves() {
		res, record, err := p.saveSeries(ctx, cmd, log)
		switch {
		case err != nil || !record:
			return err
		case ctx.Err() != nil: // the series' fit may have been interrupted: a redelivery redoes it
			return fmt.Errorf("batch series interrupted: %w", ctx.Err())
		}
		return p.recordSeries(ctx, cmd.BatchID, res, log)
	}
	res := p.forecastSeries(ctx, cmd, log)
	if ctx.Err() != nil {
		// Shutting down: leave the command unacknowledged so another processor takes it.
		return fmt.Errorf("batch series interrupted: %w", ctx.Err())
	}
	return p.recordSeries(ctx, cmd.BatchID, res, log)
}

// recordSeries writes a series' result unless it has one already.
func (p *Processor) recordSeries(ctx context.Context, batchID string, res messages.BatchSeriesResult, log *slog.Logger) error {
	blob, err := json.Marshal(res)
	if err != nil {
		// Recorded as the series' failure, not as a success carrying nothing.
		log.Error("batch series result cannot be encoded", "err", err)
		res = messages.BatchSeriesResult{Index: res.Index, Name: res.Name,
			Failure: messages.Errorf(messages.CodeInternal, err, "the series' result cannot be encoded")}
		blob = messages.JSON(res)
	}
	recorded, coalesced, err := p.store.PutBatchResult(ctx, batchID, res.Index, res.Failure != nil, blob)
	switch {
	case errors.Is(err, store.ErrBadSeriesIndex):
		return fmt.Errorf("%w: %v", errMalformed, err)
	case errors.Is(err, store.ErrNoBatch):
		log.Info("result of an expired batch dropped")
		return nil
	case err != nil:
		return fmt.Errorf("record batch series: %w", err)
	}
	if coalesced {
		p.flushProgressLater(batchID)
	}
	outcome := "succeeded"
	switch {
	case !recorded:
		outcome = "duplicate" // redelivered after its result was written, or the batch ended meanwhile
	case res.Failure != nil:
		outcome = "failed"
	}
	p.metrics.batchSeries.WithLabelValues(outcome).Inc()
	return nil
}

// forecastSeries fits one series and forecasts it. Every failure of the series itself,
// an engine panic included, is its result; only an interrupted fit (ctx ended) is not.
func (p *Processor) forecastSeries(ctx context.Context, cmd messages.BatchCommand, log *slog.Logger) messages.BatchSeriesResult {
	model, f := p.fitSeries(ctx, cmd, log)
	if f != nil {
		return messages.BatchSeriesResult{Index: cmd.Index, Name: cmd.Name, Failure: f}
	}
	return p.seriesForecast(ctx, cmd, model, log)
}

// fitSeries fits one series of a batch; a failure of the series, an engine panic included, is
// its Failure.
func (p *Processor) fitSeries(ctx context.Context, cmd messages.BatchCommand, log *slog.Logger) (model forecast.Model, f *messages.Failure) {
	defer func() {
		if v := recover(); v != nil {
			model, f = nil, enginePanic(v, log)
		}
	}()
	fitCtx, cancel := context.WithTimeout(ctx, p.cfg.FitTimeout)
	defer cancel()
	start := p.now()
	model, err := p.fit(fitCtx, cmd.Values, forecast.Spec{Method: cmd.Method, SeasonLength: cmd.SeasonLength}, nil)
	p.metrics.fitSeconds.WithLabelValues(cmd.Method).Observe(p.now().Sub(start).Seconds())
	if err != nil {
		return nil, fitFailure(err, p.cfg.FitTimeout, "values")
	}
	return model, nil
}

// seriesForecast is the result of a series fitted as model: its forecast and, when the batch
// has one, its backtest (bounded by a fit's time limit of its own); or its Failure.
func (p *Processor) seriesForecast(ctx context.Context, cmd messages.BatchCommand, model forecast.Model, log *slog.Logger) (res messages.BatchSeriesResult) {
	res = messages.BatchSeriesResult{Index: cmd.Index, Name: cmd.Name}
	defer func() {
		if v := recover(); v != nil {
			res = messages.BatchSeriesResult{Index: cmd.Index, Name: cmd.Name, Failure: enginePanic(v, log)}
		}
	}()
	fc, err := model.Forecast(cmd.Horizon, cmd.Levels)
	if err != nil {
		res.Failure = messages.FailField(messages.CodeInvalid, "horizon", "%s", forecast.Explain(err))
		return res
	}
	res.Method, res.Missing, res.Gaps = model.Summary().Method, model.Summary().Missing, cmd.Gaps
	res.Point = fc.Point
	res.Intervals = wireIntervals(fc)
	if cmd.Timestamps != nil {
		res.Timestamps = cmd.Timestamps.Next(cmd.Horizon)
	}
	if cmd.Backtest != nil {
		btCtx, cancel := context.WithTimeout(ctx, p.cfg.FitTimeout)
		defer cancel()
		return p.backtestSeries(btCtx, cmd, res)
	}
	return res
}

// planFailure is the failure of a series too short for its batch's backtest plan, or nil.
func planFailure(cmd messages.BatchCommand) *messages.Failure {
	if cmd.Backtest == nil {
		return nil
	}
	plan := forecast.Plan{Horizon: cmd.Horizon, Windows: cmd.Backtest.Windows, Step: cmd.Backtest.Step}
	if _, err := plan.FirstOrigin(len(cmd.Values), max(cmd.SeasonLength, 1)); err != nil {
		return backtestFailure(err, 0, "backtest.")
	}
	return nil
}

// enginePanic is the failure of a series the engine panicked on: it fails the same way on
// every delivery, so it ends the series, not the batch.
func enginePanic(v any, log *slog.Logger) *messages.Failure {
	log.Error("engine panic on a batch series", "panic", v)
	return messages.Errorf(messages.CodeInternal, fmt.Errorf("panic: %v", v), "the engine failed on this series")
}
