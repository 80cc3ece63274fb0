package processor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/google/uuid"

	"github.com/forecastd/forecastd/forecast"
	"github.com/forecastd/forecastd/messages"
	"github.com/forecastd/forecastd/store"
)

// saveSeries fits a series of a batch that saves its models as the fit of its own it is
// (cmd.Fit(), accepted with the batch): claimed and its lease kept while it runs and the series
// is forecast (and backtested), then completed in the store, which makes it the model's current
// generation and emits model_ready, or, if the fit or the forecast failed, failed, which emits
// fit_failed: a series that fails keeps no model. Either way the forecasts held for it are
// released. record is false when another attempt took the fit over: that one records the result.
//
// A redelivered command whose fit has already ended (its processor died after completing the
// fit and before recording the series' result) makes no new generation: the series is forecast
// from the model it kept, or, if that is no longer the model's current one (or the fit
// failed), computed again without keeping it.
func (p *Processor) saveSeries(ctx context.Context, cmd messages.BatchCommand, log *slog.Logger) (res messages.BatchSeriesResult, record bool, err error) {
	fit := cmd.Fit()
	log = log.With("model", fit.Model, "generation", fit.Generation)
	attempt := p.id + "/" + uuid.NewString()[:8]
	rec, err := p.claim(ctx, fit.Model, fit.Generation, attempt, log)
	switch {
	case errors.Is(err, store.ErrNoFit):
		// Pruned from the model's history: it ended long ago, newer fits of the model followed.
		log.Info("fit of a saved batch series no longer recorded; computing the series without keeping it")
		return p.forecastSeries(ctx, cmd, log), true, nil
	case err != nil:
		return res, false, err
	case rec.Status == store.FitSucceeded:
		if cur, err := p.store.Current(ctx, fit.Model); err == nil && cur.Generation == fit.Generation {
			if _, cm, err := p.decoded(ctx, cur); err == nil {
				log.Info("fit of a saved batch series already succeeded; forecasting from the model it kept")
				res = p.seriesForecast(ctx, cmd, cm.model, log)
				if res.Failure == nil {
					res.Model, res.Generation = fit.Model, fit.Generation
				}
				return res, true, nil
			}
		}
		fallthrough
	case rec.Status.Terminal():
		log.Info("fit of a saved batch series already ended; computing the series without keeping it", "status", rec.Status)
		res = p.forecastSeries(ctx, cmd, log)
		if rec.Status == store.FitSucceeded && res.Failure == nil {
			res.Model, res.Generation = fit.Model, fit.Generation
		}
		return res, true, nil
	}
	settled := false
	defer func() {
		if !settled {
			if err := p.store.ReleaseFit(context.WithoutCancel(ctx), fit.Model, fit.Generation, attempt); err != nil {
				log.Warn("release fit", "err", err)
			}
		}
	}()
	fitCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopRenew, lost := p.keepLease(fitCtx, cancel, fit.Model, fit.Generation, attempt, log)
	start := p.now()
	model, failure := p.fitSeries(fitCtx, cmd, log)
	if failure == nil {
		// Forecast (and backtest) before keeping the model: a series that fails keeps none.
		res = p.seriesForecast(fitCtx, cmd, model, log)
		failure = res.Failure
	}
	stopRenew()
	var blob []byte
	switch {
	case lost():
		settled = true
		log.Warn("fit lease lost to another processor; leaving the series to it")
		return messages.BatchSeriesResult{}, false, nil
	case ctx.Err() != nil:
		return messages.BatchSeriesResult{}, false, fmt.Errorf("batch series interrupted: %w", ctx.Err())
	case failure == nil:
		if blob, err = forecast.Encode(model); err != nil {
			failure = messages.Errorf(messages.CodeInternal, err, "cannot encode the fitted model")
		}
	}
	if ended, err := p.batchEnded(ctx, cmd.BatchID); err != nil {
		return messages.BatchSeriesResult{}, false, err
	} else if ended != "" {
		// Its batch ended while the series was fitting: the series is skipped, so it keeps no model.
		log.Info("batch ended while a saved series was fitting; its model is not kept")
		p.metrics.batchSeries.WithLabelValues("skipped").Inc()
		settled = true
		return messages.BatchSeriesResult{}, false, p.dropSaved(ctx, cmd, ended)
	}
	outcome := "succeeded"
	if failure != nil {
		outcome = "failed"
	}
	p.metrics.fits.WithLabelValues(cmd.Method, outcome).Inc()
	if failure != nil {
		if _, err := p.store.FailFit(ctx, fit.Model, fit.Generation, failure.Describe()); err != nil {
			return messages.BatchSeriesResult{}, false, fmt.Errorf("record failed fit: %w", err)
		}
		settled = true
		return messages.BatchSeriesResult{Index: cmd.Index, Name: cmd.Name, Failure: failure}, true, nil
	}
	summary := p.summarize(fit, model, p.now().Sub(start))
	summary.Current = true // as stored: the record is read back only while it is current
	current, err := p.store.CompleteFit(ctx, modelRecord(fit, summary, blob))
	if errors.Is(err, store.ErrFitEnded) {
		// Not kept: the fit ended meanwhile (expired). A newer generation finishing first
		// would leave this one succeeded, and kept.
		settled = true
		log.Warn("fit of a saved batch series ended before it completed")
		return res, true, nil
	}
	if err != nil {
		return messages.BatchSeriesResult{}, false, fmt.Errorf("complete fit: %w", err)
	}
	settled = true
	if current {
		p.cache.put(fit.Model, fit.Generation, fit.JobID, cachedModel{model: model, summary: summary})
	}
	res.Model, res.Generation = fit.Model, fit.Generation
	log.Info("batch series kept as a model", "method", summary.Method, "current", current)
	return res, true, nil
}

// batchEnded says why a batch takes no more results (it ended or expired), or "" while it runs.
func (p *Processor) batchEnded(ctx context.Context, id string) (string, error) {
	b, err := p.store.GetBatch(ctx, id)
	switch {
	case errors.Is(err, store.ErrNoBatch):
		return "the batch expired before this series was fitted", nil
	case err != nil:
		return "", fmt.Errorf("read batch: %w", err)
	case b.Status.Terminal():
		return fmt.Sprintf("the batch was %s before this series was fitted", b.Status), nil
	}
	return "", nil
}

// dropSaved ends the accepted fit of a series that is skipped (its batch ended or expired) or
// given up on (dead-lettered), so forecasts held for its model are released.
func (p *Processor) dropSaved(ctx context.Context, cmd messages.BatchCommand, reason string) error {
	if !cmd.Saves() {
		return nil
	}
	if _, err := p.store.FailFit(ctx, cmd.Model(), cmd.Generation, reason); err != nil && !errors.Is(err, store.ErrNoFit) {
		return fmt.Errorf("record skipped fit: %w", err)
	}
	return nil
}
