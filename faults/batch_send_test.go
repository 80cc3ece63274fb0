package faults

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/forecastd/forecastd/internal/testenv"
)

// The store's keys (store.Redis, default prefix) the test reads the batch by.
const (
	sendingKey = "forecastd:batches:sending" // the batches being sent
	batchKey   = "forecastd:batch:"          // a batch's record, by id
)

// The gateway killed with SIGKILL while it publishes a batch's series: the batch it had recorded
// would run forever short of the series that never went out. A gateway started in its place
// fails it, with a batch_done, once its send lease has run out, and the series that went out
// are counted once. The client never got its 202, so nothing it was told of is lost; it
// submits again.
func TestGatewayKilledMidBatchPublish(t *testing.T) {
	const lease = 3 * time.Second
	c := newCluster(t, "--batch-send-lease", lease.String())
	rdb := c.redis.Client(t)
	ctx := context.Background()
	const n = 10_000 // messages.MaxBatchSeries: publishing takes long enough to be cut
	series := make([]map[string]any, n)
	for i := range series {
		series[i] = map[string]any{"name": fmt.Sprintf("s%05d", i), "values": []float64{1, 2, 3, float64(i)}}
	}
	body, _ := json.Marshal(map[string]any{"series": series, "method": "naive", "horizon": 2})

	// The kill must land after the record and before the last series is published; a kill that
	// misses (every series out already) is tried again on a new batch.
	var id string
	for attempt := 1; id == "" && attempt <= 3; attempt++ {
		go func() {
			resp, err := http.Post(c.base+"/v1/batches", "application/json", bytes.NewReader(body))
			if err == nil {
				resp.Body.Close()
			}
		}()
		var sending []string
		if err := testenv.Poll(30*time.Second, func() error {
			var err error
			if sending, err = rdb.ZRange(ctx, sendingKey, 0, -1).Result(); err != nil || len(sending) == 0 {
				return fmt.Errorf("no batch being sent: %v", err)
			}
			if done, _ := rdb.HGet(ctx, batchKey+sending[0], "done").Int(); done == 0 {
				return fmt.Errorf("no series of %s done yet", sending[0])
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		c.gw.Kill9(t)
		if left, _ := rdb.ZScore(ctx, sendingKey, sending[0]).Result(); left > 0 {
			id = sending[0]
		} else {
			t.Logf("attempt %d: batch %s was sent before the kill", attempt, sending[0])
		}
		killed := time.Now()
		c.startGateway()
		testenv.WaitReady(t, c.base+"/readyz", 30*time.Second)
		if id == "" {
			continue
		}
		b := c.waitBatchEnded(t, id, n)
		rec, err := rdb.HGetAll(ctx, batchKey+id).Result()
		if err != nil {
			t.Fatal(err)
		}
		if b.Status != "failed" || rec["error"] == "" || b.Done >= n || b.Done < 1 {
			t.Fatalf("batch %+v, error %q; want failed for its unsent series with some of them done", b, rec["error"])
		}
		t.Logf("the batch, %d of %d series done, failed %s after the kill: %s", b.Done, n, time.Since(killed).Round(100*time.Millisecond), rec["error"])
		if since := time.Since(killed); since > lease+10*time.Second {
			t.Errorf("the batch failed %s after the kill; its lease is %s", since.Round(time.Second), lease)
		}
	}
	if id == "" {
		t.Fatal("every kill came after the batch had been sent")
	}

	// The series that got out are counted once, and nothing more is recorded.
	time.Sleep(2 * time.Second)
	settled := c.batch(t, id)
	res := c.batchResults(t, id)
	succeeded := 0
	for _, r := range res {
		if r.Status == "succeeded" {
			succeeded++
		}
	}
	if succeeded != settled.Done {
		t.Errorf("%d results succeeded; the batch counts %d done", succeeded, settled.Done)
	}
	evs, err := rdb.XRange(ctx, "forecastd:events", "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	done := 0
	for _, ev := range evs {
		if ev.Values["batch"] == id && ev.Values["type"] == "batch_done" {
			done++
		}
	}
	if done != 1 {
		t.Errorf("%d batch_done events for the batch, want 1", done)
	}
}
