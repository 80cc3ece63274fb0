package faults

import (
	"encoding/json"
	"fmt"
	"testing"
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
	for i := range series {
		model := fmt.Sprintf("%s.s%03d", id, i)
		var env struct {
			Data struct {
				Generation  int64           `json:"generation"`
				Sequence    int64           `json:"sequence"`
				PendingFits json.RawMessage `json:"pending_fits"`
			}
		}
		getJSON(t, c.base+"/v1/models/"+model, &env)
		if d := env.Data; d.Generation != 1 || d.Sequence != 1 || string(d.PendingFits) != "[]" {
			t.Errorf("%s: generation %d, sequence %d, pending %s; want one generation, current, none pending", model, d.Generation, d.Sequence, d.PendingFits)
		}
	}
}
