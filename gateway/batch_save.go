package gateway

import (
	"context"

	"golang.org/x/sync/errgroup"

	"github.com/forecastd/forecastd/messages"
)

// acceptSavedFits accepts the fit of every series of a batch that saves its models, as a fit is
// accepted: the next generation of its model, pending, which holds forecasts of that model until
// the series has ended. The fit may wait in the batch queue as long as the batch lives. Each
// command gets its generation; on an error, every other one accepted has its own. None is
// cancelled on the first error, so that none is accepted without its command knowing it.
func (g *Gateway) acceptSavedFits(ctx context.Context, cmds []messages.BatchCommand) error {
	eg := new(errgroup.Group)
	eg.SetLimit(publishParallel)
	for i := range cmds {
		eg.Go(func() error {
			c := &cmds[i]
			gen, err := g.deps.Store.AcceptFit(ctx, c.Model(), messages.SavedFitJob(c.BatchID, c.Index), g.cfg.JobTTL)
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
			if err := g.deps.Store.FailFit(ctx, c.Model(), c.Generation, reason); err != nil {
				g.log.Error("mark the fit of an unrun batch series failed", "model", c.Model(), "generation", c.Generation, "err", err)
			}
			return nil
		})
	}
	_ = eg.Wait()
}
