package faults

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/forecastd/forecastd/store"
)

// A processor killed with SIGKILL while it works through a batch with save_models, whatever it
// was doing (fitting a series, completing its model, recording its result): every series ends
// kept as its model exactly once, one generation each, nothing left pending.
func TestProcessorKilledMidBatchSavesEachModelOnce(t *testing.T) {
	c := newCluster(t)
	const n = 120
	series := make([]map[string]any, n)
	for i := range series {
		y := make([]float64, 40)
		for j := range y {
			y[j] = 50 + float64(i) + float64(j*((i%5)+1)) + float64((i*j)%11)
		}
		series[i] = map[string]any{"name": fmt.Sprintf("s%03d", i), "values": y, "season_length": 4}
	}
	id := c.postBatch(t, map[string]any{"series": series, "method": "auto", "horizon": 4, "save_models": true})
	c.killMidBatch(t, id, n)
	b := c.waitBatchEnded(t, id, n)
	if b.Status != "succeeded" || b.Done != n || b.Failed != 0 {
		t.Fatalf("batch %+v; want succeeded with all %d series done, none failed", b, n)
	}
	// Generations are assigned by the gateway, so a redelivery cannot raise the sequence: what
	// shows one completion per model is one model_ready each, and the result naming generation 1.
	evs, err := store.NewRedis(c.redis.Client(t), store.RedisOptions{}).Events(t.Context(), "", 0)
	if err != nil {
		t.Fatal(err)
	}
	ready := map[string]int{}
	for _, ev := range evs {
		if ev.Type == store.EventModelReady {
			ready[ev.Model]++
		}
	}
	var results struct {
		Data struct {
			Results []struct {
				Name       string `json:"name"`
				Model      string `json:"model"`
				Generation int64  `json:"generation"`
			} `json:"results"`
		}
	}
	getJSON(t, c.base+"/v1/batches/"+id+"/results", &results)
	if len(results.Data.Results) != n {
		t.Fatalf("%d results; want %d", len(results.Data.Results), n)
	}
	for i, res := range results.Data.Results {
		model := fmt.Sprintf("%s.s%03d", id, i)
		if res.Model != model || res.Generation != 1 {
			t.Errorf("result of s%03d names model %q generation %d; want %s generation 1", i, res.Model, res.Generation, model)
		}
		if ready[model] != 1 {
			t.Errorf("%s: %d model_ready events; want one", model, ready[model])
		}
		var env struct {
			Data struct {
				Generation  int64           `json:"generation"`
				PendingFits json.RawMessage `json:"pending_fits"`
			}
		}
		getJSON(t, c.base+"/v1/models/"+model, &env)
		if d := env.Data; d.Generation != 1 || string(d.PendingFits) != "[]" {
			t.Errorf("%s: generation %d, pending %s; want generation 1 current, none pending", model, d.Generation, d.PendingFits)
		}
	}
}
