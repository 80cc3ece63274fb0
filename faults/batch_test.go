package faults

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/forecastd/forecastd/internal/testenv"
)

// A processor killed with SIGKILL while it works through a batch: the series it held go back to
// the queue, the other processors finish them, and the batch ends with every series counted
// once.
func TestProcessorKilledMidBatch(t *testing.T) {
	c := newCluster(t)
	const n = 200
	series := make([]map[string]any, n)
	for i := range series {
		y := make([]float64, 48)
		for j := range y {
			y[j] = 100 + float64(i) + float64(j) + 10*math.Sin(2*math.Pi*float64(j)/12) + float64((i*j)%7)
		}
		series[i] = map[string]any{"name": fmt.Sprintf("s%03d", i), "values": y, "season_length": 12}
	}
	id := c.postBatch(t, map[string]any{"series": series, "method": "auto", "horizon": 12})
	before := c.killMidBatch(t, id, n)
	b := c.waitBatchEnded(t, id, n)
	if b.Status != "succeeded" || b.Done != n || b.Failed != 0 {
		t.Fatalf("batch %+v; want succeeded with all %d series done, none failed", b, n)
	}
	res := c.batchResults(t, id)
	seen := map[string]bool{}
	for i, r := range res {
		if r.Index != i || r.Status != "succeeded" || len(r.Point) != 12 || seen[r.Name] {
			t.Errorf("result %d: %+v; want series %d succeeded with 12 points, once", i, r, i)
		}
		seen[r.Name] = true
	}
	survivors := 0.0
	for _, u := range c.ops[1:] {
		survivors += batchSeriesDone(t, u)
	}
	// Each processor counts the series it recorded; the victim's are at least those it had
	// recorded when it was read before the kill.
	if total := survivors + before; total > n {
		t.Errorf("processors recorded %v series of %d: some were counted twice", total, n)
	}
}

type batchState struct {
	Status              string
	Total, Done, Failed int
}

// postBatch posts a batch of JSON body and returns its id.
func (c *cluster) postBatch(t *testing.T, body map[string]any) string {
	t.Helper()
	b, _ := json.Marshal(body)
	resp, err := http.Post(c.base+"/v1/batches", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	var acc struct {
		Data struct {
			BatchID string `json:"batch_id"`
		} `json:"data"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&acc)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted || acc.Data.BatchID == "" {
		t.Fatalf("POST /v1/batches: %d", resp.StatusCode)
	}
	return acc.Data.BatchID
}

// killMidBatch kills the first processor with SIGKILL once a quarter of batch id's n series are
// done, some of them by it, and returns how many series it had recorded.
func (c *cluster) killMidBatch(t *testing.T, id string, n int) float64 {
	t.Helper()
	victim, victimOps := c.procs[0], c.ops[0]
	var b batchState
	err := testenv.Poll(60*time.Second, func() error {
		b = c.batch(t, id)
		if b.Done < n/4 || batchSeriesDone(t, victimOps) == 0 {
			return fmt.Errorf("%d of %d series done, the victim's share not begun", b.Done, n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	before := batchSeriesDone(t, victimOps)
	victim.Kill9(t)
	t.Logf("killed %s (pid %d) with %d of %d series done, %v of them by it", victim.Name, victim.Pid(), b.Done, n, before)
	return before
}

// waitBatchEnded polls batch id of n series until it has ended.
func (c *cluster) waitBatchEnded(t *testing.T, id string, n int) batchState {
	t.Helper()
	start := time.Now()
	var b batchState
	err := testenv.Poll(120*time.Second, func() error {
		if b = c.batch(t, id); b.Status == "queued" || b.Status == "running" {
			return fmt.Errorf("batch %s: %d of %d done", b.Status, b.Done, n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("batch ended %s after the kill", time.Since(start).Round(100*time.Millisecond))
	return b
}

func (c *cluster) batch(t *testing.T, id string) batchState {
	t.Helper()
	var env struct{ Data batchState }
	getJSON(t, c.base+"/v1/batches/"+id, &env)
	return env.Data
}

type seriesResult struct {
	Index  int
	Name   string
	Status string
	Point  []float64
}

func (c *cluster) batchResults(t *testing.T, id string) []seriesResult {
	t.Helper()
	var env struct {
		Data struct{ Results []seriesResult }
	}
	getJSON(t, c.base+"/v1/batches/"+id+"/results", &env)
	return env.Data.Results
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d", url, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

// batchSeriesDone is how many batch series the processor at base recorded (its metrics).
func batchSeriesDone(t *testing.T, base string) float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), `forecastd_batch_series_total{outcome="succeeded"} `); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	return 0
}
