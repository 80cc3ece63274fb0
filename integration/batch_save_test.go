package integration

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/forecastd/forecastd/forecast"
	"github.com/forecastd/forecastd/processor"
)

// A batch with save_models over the real broker: a forecast of {batch}.{series} asked for while
// the series runs is held and answered with the series' model; a processor killed holding a
// saved series leaves it to the other, which makes one generation of its model, not two; the
// models are listed and forecast through the public API.
func TestBatchWithSaveModelsMakesModelsOnceEachThroughTheBroker(t *testing.T) {
	c := newCluster(t, 0)
	const victimKey, gateKey = 5150, 6160
	// The victim holds the first series it takes (the gateway publishes them in any order) until
	// it is killed.
	stuck, once := make(chan struct{}), sync.Once{}
	victim := c.startProcessor(func(ctx context.Context, y []float64, spec forecast.Spec, p forecast.ProgressFunc) (forecast.Model, error) {
		once.Do(func() { close(stuck) })
		<-ctx.Done()
		return nil, ctx.Err()
	}, func(*processor.Config) {})
	release, started := c.gates.add(gateKey, false)
	defer release()

	r := c.do("POST", "/v1/batches", map[string]any{"method": "naive", "horizon": 2, "levels": []float64{80}, "save_models": true,
		"series": []batchSeries{{Name: "held", Values: series(victimKey, 8)}, {Name: "gated", Values: series(gateKey, 8)}, {Name: "plain", Values: series(7, 8)}}})
	var b batchData
	r.decode(t, &b)
	if r.Code != http.StatusAccepted || len(b.BatchID) != 16 {
		t.Fatalf("POST /v1/batches: %d %s", r.Code, r.Data)
	}
	waitClosed(t, stuck, "the victim to take a series")
	gatedModel := b.BatchID + ".gated"
	job := c.forecastAsync(gatedModel, 3)
	c.waitJob(job, "held")

	victim.Kill()
	c.addProcessor() // takes over the victim's series once its lease has run out, then the rest
	waitClosed(t, started, "the second processor to take the gated series")
	if j := c.waitJob(job, "held", "succeeded"); j.Status != "held" {
		t.Fatalf("the forecast of %s ended before the series' fit did: %+v", gatedModel, j)
	}
	release()
	if fc := c.forecastOf(job); fc.Model != gatedModel || fc.Generation != 1 || len(fc.Point) != 3 || fc.Point[0] != series(gateKey, 8)[7] {
		t.Fatalf("held forecast of %s: %+v; want generation 1 and the naive forecast", gatedModel, fc)
	}
	if done := c.waitBatch(b.BatchID, 3); done.Status != "succeeded" || done.Failed != 0 {
		t.Fatalf("batch %+v; want succeeded, none failed", done)
	}
	for _, key := range []float64{victimKey, gateKey, 7} {
		if k := c.gates.runsOf(key); k != 1 {
			t.Errorf("series %v fitted %d times by the processor that took over; want once", key, k)
		}
	}
	for _, name := range []string{"held", "gated", "plain"} {
		model := b.BatchID + "." + name
		info, err := c.store.Info(t.Context(), model)
		if err != nil || info.Sequence != 1 || info.Current == nil || info.Current.Generation != 1 || len(info.Pending) != 0 {
			t.Fatalf("%s: %+v, %v; want one generation, current, nothing pending", model, info, err)
		}
		r := c.do("POST", "/v1/models/"+model+"/forecast", map[string]any{"horizon": 2})
		var fc forecastData
		r.decode(t, &fc)
		if r.Code != http.StatusOK || fc.Generation != 1 || len(fc.Point) != 2 {
			t.Errorf("forecast of %s: %d %s", model, r.Code, r.Data)
		}
	}
	if r := c.do("GET", "/v1/models", nil); r.Code != http.StatusOK || !strings.Contains(string(r.Data), `"model":"`+b.BatchID+`.held"`) {
		t.Errorf("GET /v1/models: %d; want %s.held listed: %s", r.Code, b.BatchID, r.Data)
	}
}
