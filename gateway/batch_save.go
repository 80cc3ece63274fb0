package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/forecastd/forecastd/messages"
	"github.com/forecastd/forecastd/store"
)

// acceptTimeout bounds one AcceptSavedFit of a batch's series.
const acceptTimeout = 10 * time.Second

// acceptSavedFits accepts the fit of every series of a batch that saves its models, as a fit is
// accepted: the next generation of its model, pending, which holds forecasts of that model until
// the series has ended. The fit may wait in the batch queue as long as the batch lives. Each
// command gets its generation. On an error, every other one accepted has its own, and unknown
// lists the series whose accept failed: the store may have run it all the same (its reply was
// lost), leaving a pending fit their command does not know.
//
// After the first error no other accept is started (the store is likely down: the batch fails
// at once rather than after one timeout per series), but none in flight is cut short, and the
// request's end does not cut them either (each has its own bound, acceptTimeout): an accept
// cancelled after the store ran it would be one more fit of unknown generation.
func (g *Gateway) acceptSavedFits(ctx context.Context, cmds []messages.BatchCommand) (unknown []int, err error) {
	ctx = context.WithoutCancel(ctx)
	eg, failed := errgroup.WithContext(ctx) // failed is done once an accept has failed
	eg.SetLimit(publishParallel)
	var mu sync.Mutex
	for i := range cmds {
		if failed.Err() != nil {
			break
		}
		eg.Go(func() error {
			if failed.Err() != nil {
				return nil
			}
			actx, cancel := context.WithTimeout(ctx, acceptTimeout)
			defer cancel()
			c := &cmds[i]
			gen, err := g.deps.Store.AcceptSavedFit(actx, c.Model(), messages.SavedFitJob(c.BatchID, c.Index), g.cfg.JobTTL)
			if err != nil {
				mu.Lock()
				unknown = append(unknown, i)
				mu.Unlock()
			}
			c.Generation = gen
			return err
		})
	}
	return unknown, eg.Wait()
}

// failSavedFits marks failed the accepted fits of a batch that could not run, releasing any
// forecast held for them: those of the commands that know their generation, and those of the
// series listed in unknown, found in the store.
func (g *Gateway) failSavedFits(ctx context.Context, cmds []messages.BatchCommand, unknown []int, reason string) {
	fits := make([]savedFit, 0, len(cmds))
	for _, c := range cmds {
		if c.Saves() {
			fits = append(fits, savedFit{model: c.Model(), job: messages.SavedFitJob(c.BatchID, c.Index), gen: c.Generation})
		}
	}
	for _, i := range unknown {
		c := cmds[i]
		fits = append(fits, savedFit{model: c.Model(), job: messages.SavedFitJob(c.BatchID, c.Index)})
	}
	g.failFits(ctx, fits, reason)
}

// failUnsentSavedFits marks failed the fits accepted for the series of batch id that have no
// result, when the batch failed because its gateway stopped while it published them: the
// series it never published reach no processor, which would otherwise end their fits.
func (g *Gateway) failUnsentSavedFits(ctx context.Context, id string) {
	b, names, results, err := g.deps.Store.BatchResults(ctx, id)
	if err != nil {
		g.log.Error("read the series of an unsent batch; the fits of those it keeps stay pending until they expire", "batch_id", id, "err", err)
		return
	}
	var spec batchSpec
	if err := json.Unmarshal(b.Spec, &spec); err != nil || !spec.SaveModels {
		return
	}
	var fits []savedFit
	for i, name := range names {
		if results[i] == nil {
			fits = append(fits, savedFit{model: messages.SavedModel(id, name), job: messages.SavedFitJob(id, i)})
		}
	}
	g.failFits(ctx, fits, store.UnsentReason)
}

// savedFit is the fit of a batch series kept as a model; a zero gen is not known, and is
// looked up by the fit's job.
type savedFit struct {
	model, job string
	gen        int64
}

// failFits marks fits failed with reason, in parallel.
func (g *Gateway) failFits(ctx context.Context, fits []savedFit, reason string) {
	ctx = context.WithoutCancel(ctx)
	eg := new(errgroup.Group)
	eg.SetLimit(publishParallel)
	for _, f := range fits {
		eg.Go(func() error {
			if err := g.failFit(ctx, f, reason); err != nil {
				g.log.Error("mark the fit of an unrun batch series failed; it stays pending until it expires", "model", f.model, "generation", f.gen, "err", err)
			}
			return nil
		})
	}
	_ = eg.Wait()
}

// failFit marks one saved fit failed, if it is pending.
func (g *Gateway) failFit(ctx context.Context, f savedFit, reason string) error {
	if f.gen == 0 {
		info, err := g.deps.Store.Info(ctx, f.model)
		switch {
		case errors.Is(err, store.ErrNoModel):
			return nil // never accepted
		case err != nil:
			return err
		}
		for _, p := range info.Pending {
			if p.JobID == f.job {
				f.gen = p.Generation
			}
		}
		if f.gen == 0 {
			return nil // never accepted, or ended
		}
	}
	_, err := g.deps.Store.FailFit(ctx, f.model, f.gen, reason)
	return err
}
