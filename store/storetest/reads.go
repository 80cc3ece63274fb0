package storetest

import (
	"context"
	"sync/atomic"

	"github.com/forecastd/forecastd/store"
)

// Reads is a store that counts the reads a forecast can make of it: its job record with the
// current generation, the current model, its generation alone, the pending fits.
type Reads struct {
	store.Store
	n atomic.Int32
}

// Count is how many of those reads there have been.
func (r *Reads) Count() int32 { return r.n.Load() }

func (r *Reads) ReadForecast(ctx context.Context, model, id string) (store.ForecastView, error) {
	r.n.Add(1)
	return r.Store.ReadForecast(ctx, model, id)
}

func (r *Reads) Current(ctx context.Context, model string) (store.ModelRecord, error) {
	r.n.Add(1)
	return r.Store.Current(ctx, model)
}

func (r *Reads) CurrentGeneration(ctx context.Context, model string) (int64, string, error) {
	r.n.Add(1)
	return r.Store.CurrentGeneration(ctx, model)
}

func (r *Reads) Unsettled(ctx context.Context, model string, upTo int64) ([]int64, error) {
	r.n.Add(1)
	return r.Store.Unsettled(ctx, model, upTo)
}
