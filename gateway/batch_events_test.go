package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/forecastd/forecastd/forecast"
	"github.com/forecastd/forecastd/gateway"
	"github.com/forecastd/forecastd/internal/promtest"
	"github.com/forecastd/forecastd/internal/sse"
	"github.com/forecastd/forecastd/internal/stack"
	"github.com/forecastd/forecastd/messages"
	"github.com/forecastd/forecastd/processor"
	"github.com/forecastd/forecastd/store"
)

// batchEventData is the data of a batch event: batch_id instead of model and generation.
type batchEventData struct {
	BatchID string `json:"batch_id"`
	Type    string `json:"type"`
	Status  string `json:"status"`
	Done    int    `json:"done"`
	Failed  int    `json:"failed"`
	Total   int    `json:"total"`
	ETAMs   *int64 `json:"eta_ms"`
}

// batchBody is a batch of n naive series, the first of them one that cannot be fitted.
func batchBody(n int) string {
	series := []string{`{"name":"bad","values":[null,null,5]}`}
	for i := 1; i < n; i++ {
		series = append(series, fmt.Sprintf(`{"name":"s%d","values":[1,2,3,%d]}`, i, i))
	}
	return `{"method":"naive","horizon":2,"series":[` + strings.Join(series, ",") + `]}`
}

// postBatch submits a batch for a 202 and returns its id.
func postBatch(t *testing.T, base, body string) string {
	t.Helper()
	resp, err := http.Post(base+"/v1/batches", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var env struct {
		Data struct {
			BatchID string `json:"batch_id"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST /v1/batches: %d, %v", resp.StatusCode, err)
	}
	return env.Data.BatchID
}

func lastEventID(t *testing.T, st store.Store) string {
	t.Helper()
	id, err := st.LastEventID(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// batchEventOf decodes m as a batch event, failing on any other event.
func batchEventOf(t *testing.T, m sseMsg) batchEventData {
	t.Helper()
	var d batchEventData
	var raw map[string]any
	if err := json.Unmarshal([]byte(m.Data), &d); err != nil || json.Unmarshal([]byte(m.Data), &raw) != nil {
		t.Fatalf("event %+v: %v", m, err)
	}
	if _, ok := raw["model"]; ok || d.BatchID == "" || d.Type != m.Event || m.ID == "" {
		t.Fatalf("event %+v; want a batch event with an id, batch_id and no model", m)
	}
	return d
}

// readBatch reads a stream's events up to batch_done, all of them of batch id, and returns
// the batch_progress ones and batch_done.
func readBatch(t *testing.T, c *sseClient, id string) ([]batchEventData, batchEventData) {
	t.Helper()
	var progress []batchEventData
	for {
		m := c.next(t, false)
		d := batchEventOf(t, m)
		if d.BatchID != id {
			t.Fatalf("event of batch %s on a stream following %s: %+v", d.BatchID, id, m)
		}
		switch m.Event {
		case store.EventBatchProgress:
			if d.ETAMs == nil || d.Total == 0 || d.Status != "" {
				t.Fatalf("batch_progress %s; want counts and eta_ms", m.Data)
			}
			progress = append(progress, d)
		case store.EventBatchDone:
			return progress, d
		default:
			t.Fatalf("event %+v on a batch's stream", m)
		}
	}
}

// Batch events reach the streams following their batch or every event, replayed on resume;
// streams following models, or another batch, do not get them.
func TestEventsDeliverBatchEventsToTheirFollowers(t *testing.T) {
	e := newLiveEnv(t, nil)
	start := lastEventID(t, e.store)
	everything := openSSE(t, e.srv.URL, "/v1/events")
	models := openSSE(t, e.srv.URL, "/v1/events?model=m")
	a := postBatch(t, e.srv.URL, batchBody(4))
	b := postBatch(t, e.srv.URL, batchBody(3))
	// Following a only, from before it was accepted: its events so far are replayed.
	onlyA := openSSE(t, e.srv.URL, "/v1/events?batch="+a, "Last-Event-ID", start)
	progress, done := readBatch(t, onlyA, a)
	if done.Status != "succeeded" || done.Done != 4 || done.Failed != 1 || done.Total != 4 || done.ETAMs != nil {
		t.Fatalf("batch_done of a = %+v; want succeeded, 4 done, 1 failed", done)
	}
	for _, p := range progress {
		if p.Done < 1 || p.Done >= 4 || p.Total != 4 {
			t.Fatalf("batch_progress of a = %+v", p)
		}
	}
	bothDone := map[string]bool{}
	for len(bothDone) < 2 {
		m := everything.next(t, false)
		if d := batchEventOf(t, m); m.Event == store.EventBatchDone {
			bothDone[d.BatchID] = true
		}
	}
	if !bothDone[a] || !bothDone[b] {
		t.Fatalf("the stream of every event ended batches %v; want %s and %s", bothDone, a, b)
	}
	e.waitBatchEnded(t, b)
	// Nothing of either batch reached the stream of model m before this event of m.
	marker := emit(t, e.store, "m", 7)
	if m := models.next(t, false); m.ID != marker.ID {
		t.Fatalf("the stream of model m got %+v before the event of m", m)
	}
}

func (e *liveEnv) waitBatchEnded(t *testing.T, id string) {
	t.Helper()
	waitFor(t, "batch "+id+" to end", func() bool {
		b, err := e.store.GetBatch(context.Background(), id)
		return err == nil && b.Status.Terminal()
	})
}

// POST /v1/batches with Accept: text/event-stream answers accepted, the batch's progress and
// batch_done, then ends.
func TestBatchPostStreamsUntilDone(t *testing.T) {
	e := newLiveEnv(t, nil)
	resp, err := http.DefaultClient.Do(batchStreamRequest(t.Context(), e.srv.URL, batchBody(5)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("answer %d %q; want 200 text/event-stream", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var events []sse.Message
	if err := sse.Read(resp.Body, func(m sse.Message) { events = append(events, m) }); err != nil {
		t.Fatal(err) // it ends by itself after batch_done
	}
	if len(events) < 2 || events[0].Event != "accepted" || events[len(events)-1].Event != store.EventBatchDone {
		t.Fatalf("events = %+v; want accepted … batch_done", events)
	}
	var acc batchAnswer
	if err := json.Unmarshal([]byte(events[0].Data), &acc); err != nil || acc.BatchID == "" || acc.Status != "queued" || acc.Total != 5 {
		t.Fatalf("accepted = %s; want the 202 body's data", events[0].Data)
	}
	if loc := resp.Header.Get("Location"); loc != "/v1/batches/"+acc.BatchID {
		t.Errorf("Location = %q", loc)
	}
	for _, m := range events[1 : len(events)-1] {
		if d := batchEventOf(t, m); m.Event != store.EventBatchProgress || d.BatchID != acc.BatchID {
			t.Fatalf("between accepted and batch_done: %+v", m)
		}
	}
	done := batchEventOf(t, events[len(events)-1])
	if done.BatchID != acc.BatchID || done.Status != "succeeded" || done.Done != 5 || done.Failed != 1 {
		t.Fatalf("batch_done = %+v; want succeeded, 5 done, 1 failed", done)
	}
}

// gatedStack is a gateway and a processor whose fits wait until release is closed, over a
// memory store; the gateway's live sessions get a heartbeat every heartbeat (0: none).
func gatedStack(t *testing.T, heartbeat time.Duration) (*stack.Gateway, *store.Memory, chan struct{}) {
	release := make(chan struct{})
	gatedFit := func(ctx context.Context, y []float64, spec forecast.Spec, progress forecast.ProgressFunc) (forecast.Model, error) {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-release:
		}
		return forecast.Fit(ctx, y, spec, progress)
	}
	st := store.NewMemory()
	t.Cleanup(func() { _ = st.Close() })
	s := stack.New(t, stack.Config{Store: st})
	s.AddProcessor(stack.ProcessorOptions{Options: []processor.Option{processor.WithFitFunc(gatedFit)}})
	g := s.AddGateway(stack.GatewayOptions{Config: func(c *gateway.Config) { c.Heartbeat = heartbeat }})
	return g, st, release
}

// The POST stream of a batch whose series take long writes heartbeats meanwhile, as every
// live stream does, so that proxies keep it open.
func TestBatchPostStreamWritesHeartbeats(t *testing.T) {
	g, _, release := gatedStack(t, 20*time.Millisecond)
	stream, err := sse.Do(http.DefaultClient, batchStreamRequest(t.Context(), g.URL, batchBody(2)))
	if err != nil {
		t.Fatal(err)
	}
	c := &sseClient{stream}
	defer c.Close()
	if m := c.next(t, false); m.Event != "accepted" {
		t.Fatalf("first event %+v", m)
	}
	for {
		m := c.next(t, true)
		if m.Comment != "" {
			break
		}
		if m.Event == store.EventBatchDone {
			t.Fatalf("batch_done %+v before any heartbeat, while every fit waits", m)
		}
	}
	close(release)
	for m := c.next(t, false); m.Event != store.EventBatchDone; m = c.next(t, false) {
	}
}

// A client that leaves the POST stream leaves the batch running: no series can end before the
// gateway has seen the client go (the fits wait for it), and every one ends after.
func TestBatchPostStreamClientLeavesBatchGoesOn(t *testing.T) {
	g, st, release := gatedStack(t, 0)

	stream, err := sse.Do(http.DefaultClient, batchStreamRequest(t.Context(), g.URL, batchBody(4)))
	if err != nil {
		t.Fatal(err)
	}
	c := &sseClient{stream}
	m := c.next(t, false)
	var acc batchAnswer
	if err := json.Unmarshal([]byte(m.Data), &acc); m.Event != "accepted" || err != nil {
		t.Fatalf("first event %+v", m)
	}
	_ = c.Close()
	waitFor(t, "the gateway to see the stream's client leave", func() bool {
		return promtest.Value(t, g.Registry, "forecastd_sessions_closed_total", "transport", "sse_batch", "reason", "client") == 1
	})
	// The series that cannot be fitted fails before fitting; the others wait for release.
	if b, err := st.GetBatch(context.Background(), acc.BatchID); err != nil || b.Status.Terminal() || b.Done-b.Failed != 0 {
		t.Fatalf("batch when its stream's client left: %+v, %v; want no series fitted yet", b, err)
	}
	close(release)
	waitFor(t, "batch "+acc.BatchID+" to end", func() bool {
		b, err := st.GetBatch(context.Background(), acc.BatchID)
		return err == nil && b.Status.Terminal()
	})
	b, err := st.GetBatch(context.Background(), acc.BatchID)
	if err != nil || b.Status != store.BatchSucceeded || b.Done != 4 || b.Failed != 1 {
		t.Fatalf("batch after its stream's client left: %+v, %v; want succeeded with 4 done, 1 failed", b, err)
	}
}

func TestEventsBadBatchParameter(t *testing.T) {
	e := newLiveEnv(t, nil)
	for _, id := range []string{"nope", "9B1DEB4D-3B7D-4BAD-9BDD-2B0D7B3DCB6D", ""} {
		resp, err := http.Get(e.srv.URL + "/v1/events?batch=" + id)
		if err != nil {
			t.Fatal(err)
		}
		var body struct {
			Status string
			Data   map[string]string
		}
		_ = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || body.Status != "fail" || body.Data["batch"] == "" {
			t.Errorf("batch=%q: %d %+v, want 400 fail naming batch", id, resp.StatusCode, body)
		}
	}
}

// A WebSocket session subscribed to a batch gets its events, replayed from last_event_id,
// until batch_done; unsubscribing from it ends them.
func TestWSSubscribeFollowsBatches(t *testing.T) {
	e := newLiveEnv(t, nil)
	start := lastEventID(t, e.store)
	id := postBatch(t, e.srv.URL, batchBody(3))
	c := e.dial(context.Background())
	writeWS(t, c, map[string]any{"type": "subscribe", "id": "bad", "batches": []string{"b1"}})
	if m := readWS(t, c); m.Type != "result" || m.Status != "fail" || !strings.Contains(string(m.Data), `"batches"`) {
		t.Fatalf("subscribe to a malformed batch id answered %+v %s; want a fail naming batches", m, m.Data)
	}
	writeWS(t, c, map[string]any{"type": "subscribe", "id": "s", "batches": []string{id}, "last_event_id": start})
	ack := readWS(t, c)
	var sub struct {
		All     bool     `json:"all_models"`
		Models  []string `json:"models"`
		Batches []string `json:"batches"`
	}
	if err := json.Unmarshal(ack.Data, &sub); err != nil || ack.Status != "success" || sub.All || len(sub.Models) != 0 || len(sub.Batches) != 1 || sub.Batches[0] != id {
		t.Fatalf("subscribe answered %+v %s; want the batch followed, not every model", ack, ack.Data)
	}
	for {
		m := readWS(t, c)
		var d batchEventData
		if err := json.Unmarshal(m.Data, &d); err != nil || m.Type != "event" || d.BatchID != id || m.EventID == "" {
			t.Fatalf("message %+v %s; want events of batch %s", m, m.Data, id)
		}
		if m.Event == store.EventBatchDone {
			if d.Status != "succeeded" || d.Done != 3 || d.Failed != 1 {
				t.Fatalf("batch_done %s", m.Data)
			}
			break
		}
	}
	writeWS(t, c, map[string]any{"type": "unsubscribe", "id": "u", "batches": []string{id}})
	ack = readWS(t, c)
	if err := json.Unmarshal(ack.Data, &sub); err != nil || ack.Status != "success" || len(sub.Batches) != 0 {
		t.Fatalf("unsubscribe answered %+v %s", ack, ack.Data)
	}
}

// A subscription that would follow too many subjects is refused naming the field that tipped
// it over: batches when the batches did, models when the models alone are too many.
func TestWSSubscribeTooManyNamesTheField(t *testing.T) {
	e := newLiveEnv(t, nil)
	c := e.dial(context.Background())
	many := func(n int, name func(int) string) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = name(i)
		}
		return out
	}
	batches := many(1001, func(int) string { return messages.NewBatchID() })
	models := many(1001, func(i int) string { return fmt.Sprintf("m%d", i) })
	for _, tc := range []struct {
		msg   map[string]any
		field string
	}{
		{map[string]any{"type": "subscribe", "id": "b", "batches": batches}, "batches"},
		{map[string]any{"type": "subscribe", "id": "mb", "models": models[:10], "batches": batches[:995]}, "batches"},
		{map[string]any{"type": "subscribe", "id": "m", "models": models, "batches": batches[:1]}, "models"},
	} {
		writeWS(t, c, tc.msg)
		m := readWS(t, c)
		var data map[string]string
		if err := json.Unmarshal(m.Data, &data); err != nil || m.Status != "fail" || data[tc.field] == "" || len(data) != 1 {
			t.Errorf("subscribe %v answered %+v %s; want a fail naming %s", tc.msg["id"], m, m.Data, tc.field)
		}
	}
}
