package processor_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/forecastd/forecastd/messages"
	"github.com/forecastd/forecastd/processor"
	"github.com/forecastd/forecastd/store"
)

// completeFails is a store whose CompleteFit always fails: a saved series' command keeps failing.
type completeFails struct{ store.Store }

func (completeFails) CompleteFit(context.Context, store.ModelRecord) (bool, error) {
	return false, errors.New("the test's store refuses completions")
}

// A saved series given up on (its command failed on its last delivery) fails its model's fit
// as well as the series, so forecasts held for the model are released instead of waiting out
// the fit's queue lease.
func TestGivenUpSavedSeriesFailsItsFit(t *testing.T) {
	r := newRigOver(t, 1, func(*processor.Config) {}, func(m *store.Memory) store.Store { return completeFails{m} })
	cmd := r.savedBatch(t, "b", map[string][]float64{"a": {1, 2, 3}}, "a")[0]
	r.publish(t, messages.TopicBatch, cmd)
	if b := waitBatch(t, r.st, "b", 1); b.Failed != 1 {
		t.Fatalf("batch %+v; want its series failed", b)
	}
	if fr := r.waitFitEnded(t, "b.a", 1); fr.Status != store.FitFailed || !strings.Contains(fr.Error, "failed repeatedly") {
		t.Fatalf("fit of the given-up series: %+v; want failed, saying why", fr)
	}
}
