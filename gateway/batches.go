package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/forecastd/forecastd/messages"
	"github.com/forecastd/forecastd/store"
)

// batchSpec is what every series of a batch is forecast with, as its record keeps it.
type batchSpec struct {
	Method     string    `json:"method"`
	Horizon    int       `json:"horizon"`
	Levels     []float64 `json:"levels"`
	SaveModels bool      `json:"save_models,omitempty"`
	// Backtest is what every series is also evaluated with, if anything.
	Backtest *messages.Backtest `json:"backtest,omitempty"`
}

// batchView is the public shape of a batch.
type batchView struct {
	BatchID    string    `json:"batch_id"`
	Status     string    `json:"status"`
	Total      int       `json:"total"`
	Done       int       `json:"done"`
	Failed     int       `json:"failed"`
	Method     string    `json:"method,omitempty"`
	Horizon    int       `json:"horizon,omitempty"`
	Levels     []float64 `json:"levels,omitempty"`
	SaveModels bool      `json:"save_models,omitempty"`
	Error      string    `json:"error,omitempty"`
	EtaMS      *int64    `json:"eta_ms"` // null while unknown and once ended (batchETA)
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`

	// Backtest is the batch's backtest, if it has one.
	Backtest *messages.Backtest `json:"backtest,omitempty"`
}

func viewOf(b store.Batch) batchView {
	v := batchView{BatchID: b.ID, Status: string(b.Status), Total: b.Total, Done: b.Done, Failed: b.Failed,
		Error: b.Error, CreatedAt: b.CreatedAt, UpdatedAt: b.UpdatedAt}
	var spec batchSpec
	if json.Unmarshal(b.Spec, &spec) == nil {
		v.Method, v.Horizon, v.Levels, v.SaveModels, v.Backtest = spec.Method, spec.Horizon, spec.Levels, spec.SaveModels, spec.Backtest
	}
	return v
}

// Series statuses in a batch's results.
const (
	seriesSucceeded = "succeeded"
	seriesFailed    = "failed"
	seriesPending   = "pending" // not ended yet; the batch runs
	seriesSkipped   = "skipped" // the batch ended (cancelled, failed) before the series did
)

// seriesView is one series in a batch's results: its forecast, or its own error as the JSend
// body a fit of it alone would have got, with that answer's http_status.
type seriesView struct {
	Index      int                          `json:"index"`
	Name       string                       `json:"name"`
	Status     string                       `json:"status"`
	Method     string                       `json:"method,omitempty"`
	Point      messages.Values              `json:"point,omitempty"`
	Intervals  map[string]messages.Interval `json:"intervals,omitempty"`
	Timestamps []time.Time                  `json:"timestamps,omitempty"`
	Missing    int                          `json:"missing,omitempty"`
	Gaps       int                          `json:"gaps,omitempty"`
	Model      string                       `json:"model,omitempty"`
	Generation int64                        `json:"generation,omitempty"`
	Backtest   map[string]messages.Accuracy `json:"backtest,omitempty"`
	HTTPStatus int                          `json:"http_status,omitempty"`
	Error      *messages.Envelope           `json:"error,omitempty"`
}

// batchResultsView is the answer of GET /v1/batches/{id}/results.
type batchResultsView struct {
	batchView
	Results []seriesView `json:"results"`
	// Overall and Leaderboard sum up the series' backtests, when the batch has one.
	Overall     map[string]messages.OverallAccuracy `json:"overall,omitempty"`
	Leaderboard []string                            `json:"leaderboard,omitempty"`
}

// publishParallel bounds the series commands of one batch in flight to the broker at once:
// confirms are pipelined, so a batch is published in a few round trips, not one per series.
const publishParallel = 64

// handleCreateBatch accepts a batch: records it, queued, then publishes one command per series
// to the batch queue. If the broker does not take every series, the batch is recorded failed
// (processors skip the series that got through) and the client gets 503.
func (g *Gateway) handleCreateBatch(w http.ResponseWriter, r *http.Request) {
	release, err := g.uploadSlot(w, r)
	if err != nil {
		g.writeError(w, r, err)
		return
	}
	// Held until the batch is published, as long as its series are in memory; not while a
	// stream follows it.
	defer release()
	req, err := g.readBatch(w, r)
	if err != nil {
		g.writeError(w, r, err)
		return
	}
	ctx := r.Context()
	cmds := make([]messages.BatchCommand, len(req.Series))
	names := make([]string, len(req.Series))
	now := g.now()
	id := messages.NewBatchID()
	backtest := req.BacktestOf()
	for i, s := range req.Series {
		cmds[i] = messages.BatchCommand{
			BatchID: id, Index: i, Name: s.Name, Values: s.Values, SeasonLength: *s.SeasonLength,
			Method: req.Method, Horizon: *req.Horizon, Levels: req.Levels, Backtest: backtest, AcceptedAt: now,
		}
		if s.Timestamps != nil {
			series, err := messages.FillGaps(s.Timestamps, s.Values)
			if err != nil { // Validate has said so already
				g.writeError(w, r, messages.Invalid(fmt.Sprintf("series[%d].timestamps", i), "%v", err))
				return
			}
			cmds[i].Values, cmds[i].Timestamps, cmds[i].Gaps = series.Values, series.Axis, series.Gaps
			if req.SaveModels {
				cmds[i].HistoryTimestamps = messages.HistoryTimes(series.Times)
			}
		}
		names[i] = s.Name
	}
	spec := messages.JSON(batchSpec{Method: req.Method, Horizon: *req.Horizon, Levels: req.Levels, SaveModels: req.SaveModels, Backtest: backtest})
	b := store.Batch{ID: id, Spec: spec, CreatedAt: now, UpdatedAt: now, SendLease: g.cfg.BatchSendLease}
	follow, err := g.followBatch(w, r, id)
	if err != nil {
		g.writeError(w, r, err)
		return
	}
	defer follow.end()
	if err := g.deps.Store.CreateBatch(ctx, b, names, g.cfg.JobTTL); err != nil {
		g.writeError(w, r, unavailable("record batch", err))
		return
	}
	lease := g.keepSending(ctx, id)
	defer lease.stop()
	var unknown []int // series whose fit may have been accepted without their command knowing
	if req.SaveModels {
		if unknown, err = g.acceptSavedFits(ctx, cmds); err != nil {
			g.failSavedFits(ctx, cmds, unknown, "the batch could not run")
			if _, ferr := g.deps.Store.EndBatch(context.WithoutCancel(ctx), id, store.BatchFailed, "the store did not accept every series' model"); ferr != nil {
				g.log.Error("mark unaccepted batch failed", "batch_id", id, "err", ferr)
			}
			g.writeError(w, r, unavailable("accept batch fits", err))
			return
		}
	}
	if err := g.sendBatch(ctx, lease, id, cmds); err != nil {
		reason := "the broker did not take every series"
		if errors.Is(err, store.ErrBatchEnded) {
			reason = "the batch's send lease ran out before every series was sent"
		}
		g.failSavedFits(ctx, cmds, unknown, reason)
		if _, ferr := g.deps.Store.EndBatch(context.WithoutCancel(ctx), id, store.BatchFailed, reason); ferr != nil {
			g.log.Error("mark unpublished batch failed", "batch_id", id, "err", ferr)
		}
		g.writeError(w, r, unavailable("publish batch", err))
		return
	}
	release()
	g.log.Info("batch accepted", "batch_id", id, "series", len(cmds), "method", req.Method, "horizon", *req.Horizon)
	b.Status, b.Total = store.BatchQueued, len(cmds)
	w.Header().Set("Location", "/v1/batches/"+id)
	if follow != nil {
		follow.stream(r, viewOf(b))
		return
	}
	g.writeSuccess(w, r, http.StatusAccepted, viewOf(b))
}

// sendLease renews the send lease of a batch while the gateway accepts and publishes it.
type sendLease struct {
	ended context.Context // done once the batch ended under it: publishing it is pointless
	stop  func()          // stops the renewals and waits for them; idempotent
}

// keepSending renews batch id's send lease every third of it until stopped.
func (g *Gateway) keepSending(ctx context.Context, id string) *sendLease {
	ctx = context.WithoutCancel(ctx) // a client gone mid-publish does not leave the batch half sent
	ended, end := context.WithCancel(ctx)
	quit, renewed := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(renewed)
		t := time.NewTicker(g.sendCheck())
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
			}
			err := g.deps.Store.RenewBatchSend(ctx, id, g.cfg.BatchSendLease)
			if err == nil {
				continue
			}
			// Ended under it (failed as unsent, cancelled), the batch's remaining series are
			// not sent; else the next tick tries again, within the lease.
			g.log.Warn("renew batch send lease", "batch_id", id, "err", err)
			if errors.Is(err, store.ErrBatchEnded) {
				end()
				return
			}
		}
	}()
	var once sync.Once
	return &sendLease{ended: ended, stop: func() {
		once.Do(func() { close(quit); <-renewed; end() })
	}}
}

// sendBatch publishes every series of batch id to the batch queue under lease and records it
// sent. An error means the batch must not run: the broker did not take a series, or the batch
// failed under the lease (store.ErrBatchEnded), or could not be recorded sent.
func (g *Gateway) sendBatch(ctx context.Context, lease *sendLease, id string, cmds []messages.BatchCommand) error {
	eg := new(errgroup.Group)
	eg.SetLimit(publishParallel)
	for _, cmd := range cmds {
		eg.Go(func() error {
			if lease.ended.Err() != nil {
				return fmt.Errorf("batch %s: %w", id, store.ErrBatchEnded)
			}
			return g.publish(cmd.Topic(), id+"."+strconv.Itoa(cmd.Index), cmd)
		})
	}
	err := eg.Wait()
	lease.stop()
	if err != nil {
		return err
	}
	return g.deps.Store.BatchSent(context.WithoutCancel(ctx), id)
}

// sendCheck is how often a send lease is renewed, and checked for batches whose lease ran out.
func (g *Gateway) sendCheck() time.Duration { return max(g.cfg.BatchSendLease/3, time.Millisecond) }

// expireUnsentBatches fails, every third of the send lease until ctx ends, the batches whose
// send lease ran out: their gateway died while it published their series.
func (g *Gateway) expireUnsentBatches(ctx context.Context) {
	t := time.NewTicker(g.sendCheck())
	defer t.Stop()
	for {
		ended, err := g.deps.Store.ExpireUnsentBatches(ctx)
		if err != nil && ctx.Err() == nil {
			g.log.Warn("expire unsent batches", "err", err)
		}
		for _, id := range ended {
			g.log.Warn("batch failed: its gateway stopped before it had sent every series", "batch_id", id)
			g.failUnsentSavedFits(ctx, id)
		}
		g.metrics.unsentBatches.Add(float64(len(ended)))
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// batchError is the failure of reading or changing batch id.
func batchError(id string, what string, err error) error {
	if errors.Is(err, store.ErrNoBatch) {
		return messages.FailField(messages.CodeNotFound, "batch_id", "no batch %q (batches expire)", id)
	}
	return unavailable(what, err)
}

func (g *Gateway) handleBatch(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	b, err := g.deps.Store.GetBatch(r.Context(), id)
	if err != nil {
		g.writeError(w, r, batchError(id, "read batch", err))
		return
	}
	v := viewOf(b)
	v.EtaMS = batchETA(b, g.now())
	g.writeSuccess(w, r, http.StatusOK, v)
}

// handleCancelBatch cancels a batch: processors skip the series they have not started. A batch
// that has ended is answered as it is.
func (g *Gateway) handleCancelBatch(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	b, err := g.deps.Store.EndBatch(r.Context(), id, store.BatchCancelled, "")
	if err != nil {
		g.writeError(w, r, batchError(id, "cancel batch", err))
		return
	}
	msg := "batch cancelled"
	if b.Status != store.BatchCancelled {
		msg = "cancel of an ended batch" // answered as it is
	}
	g.log.Info(msg, "batch_id", id, "status", b.Status, "done", b.Done, "total", b.Total)
	g.writeSuccess(w, r, http.StatusOK, viewOf(b))
}

func (g *Gateway) handleBatchResults(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	b, names, results, err := g.deps.Store.BatchResults(r.Context(), id)
	if err != nil {
		g.writeError(w, r, batchError(id, "read batch results", err))
		return
	}
	w.Header().Add("Vary", "Accept")
	if format := resultsFormat(r); format != "application/json" {
		g.streamResults(w, format, b, names, results)
		return
	}
	out := batchResultsView{batchView: viewOf(b), Results: make([]seriesView, len(names))}
	out.EtaMS = batchETA(b, g.now())
	for i, name := range names {
		out.Results[i] = g.seriesOf(b, i, name, results[i])
	}
	out.sumUpBacktests()
	g.writeSuccess(w, r, http.StatusOK, out)
}

// seriesOf is series i of batch b, named name, with its result raw (nil: none yet).
func (g *Gateway) seriesOf(b store.Batch, i int, name string, raw json.RawMessage) seriesView {
	v := seriesView{Index: i, Name: name, Status: seriesPending}
	if b.Status.Terminal() {
		v.Status = seriesSkipped
	}
	var res messages.BatchSeriesResult
	switch {
	case raw == nil:
	case json.Unmarshal(raw, &res) != nil:
		g.log.Error("unreadable batch series result", "batch_id", b.ID, "index", i)
		body := envelopeOf(messages.Errorf(messages.CodeInternal, nil, "the result of this series cannot be read"))
		v.Status, v.HTTPStatus, v.Error = seriesFailed, statusOf(messages.CodeInternal), &body
	case res.Failure != nil:
		body := envelopeOf(res.Failure)
		v.Status, v.HTTPStatus, v.Error = seriesFailed, statusOf(res.Failure.Code), &body
	default:
		v.Status, v.Method, v.Point, v.Intervals, v.Timestamps = seriesSucceeded, res.Method, res.Point, res.Intervals, res.Timestamps
		v.Missing, v.Gaps, v.Model, v.Generation = res.Missing, res.Gaps, res.Model, res.Generation
		v.Backtest = res.Backtest
	}
	return v
}
