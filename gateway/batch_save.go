package gateway

import (
	"context"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/forecastd/forecastd/messages"
)

// acceptTimeout bounds one AcceptSavedFit of a batch's series.
const acceptTimeout = 10 * time.Second

// acceptSavedFits accepts the fit of every series of a batch that saves its models, as a fit is
// accepted: the next generation of its model, pending, which holds forecasts of that model until
// the series has ended. The fit may wait in the batch queue as long as the batch lives. Each
// command gets its generation; on an error, every other one accepted has its own.
//
// After the first error no other accept is started (the store is likely down: the batch fails
// at once rather than after one timeout per series), but none in flight is cut short, and the
// request's end does not cut them either (each has its own bound, acceptTimeout): an accept
// cancelled after the store ran it would leave a generation pending that its command does not
// know, so that failSavedFits could not release it.
func (g *Gateway) acceptSavedFits(ctx context.Context, cmds []messages.BatchCommand) error {
	ctx = context.WithoutCancel(ctx)
	eg, failed := errgroup.WithContext(ctx) // failed is done once an accept has failed
	eg.SetLimit(publishParallel)
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
			c.Generation = gen
			return err
		})
	}
	return eg.Wait()
}

// failSavedFits marks failed the accepted fits of a batch that could not run, releasing any
// forecast held for them.
func (g *Gateway) failSavedFits(ctx context.Context, cmds []messages.BatchCommand, reason string) {
	ctx = context.WithoutCancel(ctx)
	eg := new(errgroup.Group)
	eg.SetLimit(publishParallel)
	for _, c := range cmds {
		if !c.Saves() {
			continue
		}
		eg.Go(func() error {
			if _, err := g.deps.Store.FailFit(ctx, c.Model(), c.Generation, reason); err != nil {
				g.log.Error("mark the fit of an unrun batch series failed", "model", c.Model(), "generation", c.Generation, "err", err)
			}
			return nil
		})
	}
	_ = eg.Wait()
}
