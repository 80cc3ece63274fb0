package integration

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/forecastd/forecastd/forecast"
	"github.com/forecastd/forecastd/processor"
)

// batchData is a batch as the gateway answers it, with its results when asked for them.
type batchData struct {
	BatchID string `json:"batch_id"`
	Status  string `json:"status"`
	Total   int    `json:"total"`
	Done    int    `json:"done"`
	Failed  int    `json:"failed"`
	Results []struct {
		Index      int       `json:"index"`
		Name       string    `json:"name"`
		Status     string    `json:"status"`
		Point      []float64 `json:"point"`
		HTTPStatus int       `json:"http_status"`
	} `json:"results"`
}

// batchSeries is one series of a batch request.
type batchSeries struct {
	Name   string    `json:"name"`
	Values []float64 `json:"values"`
}

// postBatch accepts a naive batch of series and returns its id.
func (c *cluster) postBatch(series []batchSeries) string {
	c.t.Helper()
	r := c.do("POST", "/v1/batches", map[string]any{"series": series, "method": "naive", "horizon": 2, "levels": []float64{80}})
	var b batchData
	r.decode(c.t, &b)
	if r.Code != http.StatusAccepted || b.Total != len(series) || r.Header.Get("Location") != "/v1/batches/"+b.BatchID {
		c.t.Fatalf("POST /v1/batches: %d %s %s, Location %q", r.Code, r.Data, r.Message, r.Header.Get("Location"))
	}
	return b.BatchID
}

// waitBatch polls a batch until it has ended, or until it has done at least done series.
func (c *cluster) waitBatch(id string, done int) batchData {
	c.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var b batchData
	for time.Now().Before(deadline) {
		r := c.do("GET", "/v1/batches/"+id, nil)
		if r.Code != http.StatusOK {
			c.t.Fatalf("GET batch: %d %s", r.Code, r.Data)
		}
		r.decode(c.t, &b)
		if b.Done >= done || (b.Status != "queued" && b.Status != "running") {
			return b
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.t.Fatalf("batch %s: %d of %d series done after 60s, status %s", id, b.Done, b.Total, b.Status)
	return b
}

func (c *cluster) batchResults(id string) batchData {
	c.t.Helper()
	r := c.do("GET", "/v1/batches/"+id+"/results", nil)
	var b batchData
	r.decode(c.t, &b)
	if r.Code != http.StatusOK || len(b.Results) != b.Total {
		c.t.Fatalf("GET results: %d, %d results of %d", r.Code, len(b.Results), b.Total)
	}
	return b
}

// A processor dies midway through a 200-series batch holding a series: RabbitMQ redelivers it
// to the other processor, the batch completes, and every series is counted once, with its
// forecast or, for the two bad series, its own error.
func TestBatchCompletesWithEverySeriesOnceWhenAProcessorDies(t *testing.T) {
	c := newCluster(t, 0)
	const n = 200
	var mu sync.Mutex
	runs := map[float64]int{} // fits started, by first value (the series' key)
	count := func(y []float64) {
		mu.Lock()
		defer mu.Unlock()
		if len(y) > 0 {
			runs[y[0]]++
		}
	}
	// The victim takes series until its 20th, which it holds until it is killed.
	stuck, calls := make(chan struct{}), 0
	victim := c.startProcessor(func(ctx context.Context, y []float64, spec forecast.Spec, p forecast.ProgressFunc) (forecast.Model, error) {
		count(y)
		mu.Lock()
		calls++
		hold := calls == 20
		mu.Unlock()
		if hold {
			close(stuck)
			<-ctx.Done()
			return nil, ctx.Err()
		}
		return c.gates.fit(ctx, y, spec, p)
	}, func(*processor.Config) {})
	c.startProcessor(func(ctx context.Context, y []float64, spec forecast.Spec, p forecast.ProgressFunc) (forecast.Model, error) {
		count(y)
		return c.gates.fit(ctx, y, spec, p)
	}, func(*processor.Config) {})

	in := make([]batchSeries, n)
	for i := range in {
		in[i] = batchSeries{Name: fmt.Sprintf("s%03d", i), Values: series(float64(1000+i), 12)}
	}
	in[37].Values = []float64{1000 + 37} // too short for naive: its own error
	in[111].Values[0] = crashKey         // the engine panics on it: its own error
	id := c.postBatch(in)

	waitClosed(t, stuck, "the victim to hold a series")
	if b := c.waitBatch(id, 60); b.Status != "running" {
		t.Fatalf("batch before the kill: %+v; want running", b)
	}
	victim.Kill()

	b := c.waitBatch(id, n)
	if b.Status != "succeeded" || b.Done != n || b.Failed != 2 {
		t.Fatalf("batch = %s, %d done, %d failed; want succeeded, %d done, 2 failed", b.Status, b.Done, b.Failed, n)
	}
	res := c.batchResults(id)
	for i, r := range res.Results {
		want := "succeeded"
		if i == 37 || i == 111 {
			want = "failed"
		}
		if r.Index != i || r.Name != in[i].Name || r.Status != want {
			t.Errorf("result %d: %+v; want series %s %s", i, r, in[i].Name, want)
		}
		if want == "succeeded" && (len(r.Point) != 2 || r.Point[0] != in[i].Values[len(in[i].Values)-1]) {
			t.Errorf("series %s: point %v; want the naive forecast of its last value", r.Name, r.Point)
		}
	}
	if r := res.Results[37]; r.HTTPStatus != http.StatusBadRequest {
		t.Errorf("too short series: http_status %d, want 400", r.HTTPStatus)
	}
	if r := res.Results[111]; r.HTTPStatus != http.StatusInternalServerError {
		t.Errorf("crashing series: http_status %d, want 500", r.HTTPStatus)
	}
	mu.Lock()
	defer mu.Unlock()
	twice := 0
	for i := range in {
		switch k := runs[in[i].Values[0]]; {
		case k == 2:
			twice++ // the series the victim held, redelivered
		case k != 1:
			t.Errorf("series %s fitted %d times", in[i].Name, k)
		}
	}
	if twice != 1 {
		t.Errorf("%d series fitted twice; want the one the victim held", twice)
	}
}

// Cancelling a batch stops its outstanding series: the processor skips every series it has not
// started, and the result of the one it was fitting is dropped.
func TestCancelledBatchSkipsOutstandingSeries(t *testing.T) {
	c := newCluster(t, 1)
	release, started := c.gates.add(4242, false)
	defer release()
	in := make([]batchSeries, 50)
	for i := range in {
		in[i] = batchSeries{Name: fmt.Sprintf("s%d", i), Values: series(4242, 10)}
	}
	id := c.postBatch(in)
	waitClosed(t, started, "the processor to take a series")
	r := c.do("DELETE", "/v1/batches/"+id, nil)
	var b batchData
	r.decode(t, &b)
	if r.Code != http.StatusOK || b.Status != "cancelled" {
		t.Fatalf("DELETE: %d %s", r.Code, r.Data)
	}
	release()

	// One consumer takes the batch queue in order: once a later batch has ended, every series
	// of the cancelled one has been handled.
	if later := c.waitBatch(c.postBatch([]batchSeries{{Name: "later", Values: series(4343, 10)}}), 1); later.Status != "succeeded" {
		t.Fatalf("later batch: %+v", later)
	}
	if k := c.gates.runsOf(4242); k != 1 {
		t.Errorf("%d series of the cancelled batch fitted; want only the one in flight when it was cancelled", k)
	}
	res := c.batchResults(id)
	skipped := 0
	for _, r := range res.Results {
		if r.Status == "skipped" {
			skipped++
		}
	}
	if res.Status != "cancelled" || res.Done != 0 || skipped != len(in) {
		t.Fatalf("cancelled batch: %s, %d done, %d of %d skipped; want cancelled, none done, all skipped", res.Status, res.Done, skipped, len(in))
	}
}

// A batch lives in the store, not in the gateway that accepted it: with that gateway gone, the
// batch runs to its end and another gateway answers for it.
func TestBatchOutlivesTheGatewayThatAcceptedIt(t *testing.T) {
	c := newCluster(t, 1)
	release, started := c.gates.add(77, false)
	first := c.startGateway(nil)
	in := make([]batchSeries, 20)
	for i := range in {
		in[i] = batchSeries{Name: fmt.Sprintf("s%d", i), Values: series(77, 10)}
	}
	r := c.doAt(first.http.URL, "POST", "/v1/batches", map[string]any{"series": in, "method": "naive", "horizon": 2})
	var acc batchData
	if r.Code != http.StatusAccepted || r.decodeInto(&acc) != nil {
		t.Fatalf("POST /v1/batches: %d %s", r.Code, r.Data)
	}
	waitClosed(t, started, "the processor to take a series")
	first.stop()
	release()
	if b := c.waitBatch(acc.BatchID, len(in)); b.Status != "succeeded" || b.Done != len(in) {
		t.Fatalf("batch after its gateway stopped: %+v", b)
	}
	for _, r := range c.batchResults(acc.BatchID).Results {
		if r.Status != "succeeded" {
			t.Errorf("series %s: %s", r.Name, r.Status)
		}
	}
}
