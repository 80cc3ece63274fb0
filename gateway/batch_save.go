package gateway

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/forecastd/forecastd/messages"
)

// batchIDEncoding writes batch ids in lowercase letters and digits: 10 random bytes (80 bits)
// are messages.BatchIDLength characters.
var batchIDEncoding = base32.NewEncoding(strings.ToLower("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")).WithPadding(base32.NoPadding)

// newBatchID is a random batch id, shorter than a UUID so that the models of a batch that saves
// them ({batch_id}.{name}) leave their series' names most of a model name's 64 characters.
func newBatchID() string {
	var b [10]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return batchIDEncoding.EncodeToString(b[:])
}

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
