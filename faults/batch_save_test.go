package faults

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/forecastd/forecastd/internal/testenv"
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
	body, _ := json.Marshal(map[string]any{"series": series, "method": "auto", "horizon": 4, "save_models": true})
	resp, err := http.Post(c.base+"/v1/batches", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var acc struct {
		Data struct {
			BatchID string `json:"batch_id"`
		}
	}
	_ = json.NewDecoder(resp.Body).Decode(&acc)
	resp.Body.Close()
	id := acc.Data.BatchID
	if resp.StatusCode != http.StatusAccepted || id == "" {
		t.Fatalf("POST /v1/batches: %d", resp.StatusCode)
	}

	victim, victimOps := c.procs[0], c.ops[0]
	err = testenv.Poll(60*time.Second, func() error {
		if b := c.batch(t, id); b.Done < n/4 || batchSeriesDone(t, victimOps) == 0 {
			return fmt.Errorf("%d of %d series done, the victim's share not begun", b.Done, n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	victim.Kill9(t)

	var b batchState
	err = testenv.Poll(120*time.Second, func() error {
		if b = c.batch(t, id); b.Status == "queued" || b.Status == "running" {
			return fmt.Errorf("batch %s: %d of %d done", b.Status, b.Done, n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
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
