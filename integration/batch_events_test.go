package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/forecastd/forecastd/forecast"
	"github.com/forecastd/forecastd/processor"
	"github.com/forecastd/forecastd/store"
)

// batchEvent is the data of a batch event.
type batchEvent struct {
	BatchID string `json:"batch_id"`
	Type    string `json:"type"`
	Status  string `json:"status"`
	Done    int    `json:"done"`
	Failed  int    `json:"failed"`
	Total   int    `json:"total"`
}

func decodeBatchEvent(t *testing.T, m sseMsg) batchEvent {
	t.Helper()
	var d batchEvent
	if err := json.Unmarshal([]byte(m.Data), &d); err != nil || d.Type != m.Event || m.ID == "" {
		t.Fatalf("batch event %+v: %v", m, err)
	}
	return d
}

// storedBatchEvents are the IDs of batch id's events in the store's feed after after.
func (c *cluster) storedBatchEvents(id, after string) []string {
	c.t.Helper()
	evs, err := c.store.Events(context.Background(), after, 0)
	if err != nil {
		c.t.Fatal(err)
	}
	var ids []string
	for _, ev := range evs {
		if ev.Batch == id {
			ids = append(ids, ev.ID)
		}
	}
	return ids
}

func (c *cluster) lastEventID() string {
	c.t.Helper()
	id, err := c.store.LastEventID(context.Background())
	if err != nil {
		c.t.Fatal(err)
	}
	return id
}

// A client following a 50-series batch on /v1/events disconnects midway and resumes with
// Last-Event-ID: it gets every event of the batch it missed, once, in order, then the live
// ones, ending with batch_done and the final counts.
func TestBatchEventsResumeAfterADisconnect(t *testing.T) {
	c := newCluster(t, 0)
	const n, gated = 50, 25
	// Each series takes a little while, so that the batch lasts past a few progress intervals;
	// the processor holds the series after the gated-th until released. It takes one at a
	// time: the others wait in the queue meanwhile.
	var mu sync.Mutex
	calls, started, hold := 0, make(chan struct{}), make(chan struct{})
	release := sync.OnceFunc(func() { close(hold) })
	defer release()
	c.startProcessor(func(ctx context.Context, y []float64, spec forecast.Spec, p forecast.ProgressFunc) (forecast.Model, error) {
		mu.Lock()
		calls++
		held := calls == gated+1
		mu.Unlock()
		if held {
			close(started)
			<-hold
		}
		time.Sleep(10 * time.Millisecond)
		return c.gates.fit(ctx, y, spec, p)
	}, func(*processor.Config) {})
	in := make([]batchSeries, n)
	for i := range in {
		in[i] = batchSeries{Name: fmt.Sprintf("s%02d", i), Values: series(float64(9000+i), 8)}
	}
	in[3].Values = []float64{9003} // too short: its own error
	start := c.lastEventID()
	id := c.postBatch(in)

	first := openSSE(t, "GET", c.http.URL+"/v1/events?batch="+id, "", "Last-Event-ID", start)
	waitClosed(t, started, "the processor to reach the held series")
	c.waitBatch(id, gated) // the rest wait behind the held series: the feed stands still
	var last sseMsg
	for last.ID == "" || len(c.storedBatchEvents(id, last.ID)) > 0 { // read all there is
		m, ok := first.next(t)
		if !ok {
			t.Fatal("the stream ended while the batch ran")
		}
		if d := decodeBatchEvent(t, m); d.BatchID != id || m.Event != store.EventBatchProgress {
			t.Fatalf("before the gated series: %+v", m)
		}
		last = m
	}
	_ = first.Close()

	// Events while disconnected: the series after the held one, the first of them reported
	// at once, as the interval since the last report has passed.
	time.Sleep(store.BatchProgressInterval)
	release()
	c.waitBatch(id, gated+10)
	missed := c.storedBatchEvents(id, last.ID)
	if len(missed) == 0 {
		t.Fatal("no batch event while the client was away")
	}
	again := openSSE(t, "GET", c.http.URL+"/v1/events?batch="+id, "", "Last-Event-ID", last.ID)
	var got []string
	var done batchEvent
	for done.Type == "" {
		m, ok := again.next(t)
		if !ok {
			t.Fatal("the resumed stream ended before batch_done")
		}
		d := decodeBatchEvent(t, m)
		if d.BatchID != id {
			t.Fatalf("resumed stream got %+v", m)
		}
		got = append(got, m.ID)
		if m.Event == store.EventBatchDone {
			done = d
		}
	}
	_ = again.Close()
	want := c.storedBatchEvents(id, last.ID)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("resumed events %v; want the feed's events of the batch after %s: %v", got, last.ID, want)
	}
	if done.Status != "succeeded" || done.Done != n || done.Failed != 1 || done.Total != n {
		t.Fatalf("batch_done = %+v; want succeeded, %d done, 1 failed", done, n)
	}
}

// POST /v1/batches with Accept: text/event-stream streams the batch over the real broker:
// accepted, progress, and batch_done with the final counts, then the stream ends.
func TestBatchPostStreamEndsWithBatchDone(t *testing.T) {
	c := newCluster(t, 2)
	in := make([]batchSeries, 30)
	for i := range in {
		in[i] = batchSeries{Name: fmt.Sprintf("s%d", i), Values: series(float64(8000+i), 8)}
	}
	body, _ := json.Marshal(map[string]any{"series": in, "method": "naive", "horizon": 2})
	s := openSSE(t, "POST", c.http.URL+"/v1/batches", string(body), "Accept", "text/event-stream")
	if s.Response.StatusCode != http.StatusOK {
		t.Fatalf("POST stream: %d", s.Response.StatusCode)
	}
	var names []string
	var id string
	var done batchEvent
	for {
		m, ok := s.next(t)
		if !ok {
			break
		}
		names = append(names, m.Event)
		if m.Event == "accepted" {
			var b batchData
			if err := json.Unmarshal([]byte(m.Data), &b); err != nil || b.Total != len(in) {
				t.Fatalf("accepted %s", m.Data)
			}
			id = b.BatchID
			continue
		}
		if d := decodeBatchEvent(t, m); d.BatchID != id {
			t.Fatalf("event of batch %s on the stream of %s", d.BatchID, id)
		} else if m.Event == store.EventBatchDone {
			done = d
		}
	}
	if len(names) < 2 || names[0] != "accepted" || names[len(names)-1] != store.EventBatchDone {
		t.Fatalf("stream events %v; want accepted … batch_done, then its end", names)
	}
	if done.Status != "succeeded" || done.Done != len(in) || done.Failed != 0 {
		t.Fatalf("batch_done = %+v", done)
	}
}

// Many fast series, on two processors: the batch's batch_progress events stay within one per
// BatchProgressInterval across both, far fewer than its series, and batch_done has the final
// counts.
func TestBatchProgressIsCoalescedAcrossProcessors(t *testing.T) {
	c := newCluster(t, 2)
	const n = 1000
	in := make([]batchSeries, n)
	for i := range in {
		in[i] = batchSeries{Name: fmt.Sprintf("s%04d", i), Values: series(float64(10000+i), 6)}
	}
	in[0].Values = []float64{10000} // too short: its own error
	start := c.lastEventID()
	began := time.Now()
	id := c.postBatch(in)
	if b := c.waitBatch(id, n); b.Status != "succeeded" || b.Done != n || b.Failed != 1 {
		t.Fatalf("batch = %+v", b)
	}
	elapsed := time.Since(began)
	evs, err := c.store.Events(context.Background(), start, 0)
	if err != nil {
		t.Fatal(err)
	}
	progress, dones := 0, 0
	var done store.BatchDoneData
	for _, ev := range evs {
		if ev.Batch != id {
			continue
		}
		switch ev.Type {
		case store.EventBatchProgress:
			progress++
		case store.EventBatchDone:
			dones++
			if err := json.Unmarshal(ev.Data, &done); err != nil {
				t.Fatal(err)
			}
		}
	}
	bound := 1 + int(elapsed/(store.BatchProgressInterval-time.Millisecond))
	t.Logf("%d series in %v: %d batch_progress events (bound %d)", n, elapsed, progress, bound)
	if progress < 1 || progress > bound || progress > n/10 {
		t.Fatalf("%d batch_progress events for %d series in %v; want 1 to %d", progress, n, elapsed, min(bound, n/10))
	}
	if dones != 1 || done != (store.BatchDoneData{Status: store.BatchSucceeded, Done: n, Failed: 1, Total: n}) {
		t.Fatalf("%d batch_done events, the last %+v; want one with the final counts", dones, done)
	}
}
