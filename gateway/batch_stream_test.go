package gateway_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/forecastd/forecastd/gateway"
	"github.com/forecastd/forecastd/internal/sse"
	"github.com/forecastd/forecastd/internal/stack"
	"github.com/forecastd/forecastd/store"
	"github.com/forecastd/forecastd/store/storetest"
)

// batchStreamRequest is a POST of the JSON batch body asking for its SSE stream.
func batchStreamRequest(ctx context.Context, base, body string) *http.Request {
	req, _ := http.NewRequestWithContext(ctx, "POST", base+"/v1/batches", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	return req
}

// losesBatchDone is a store whose event feed, as the gateway reads it, never has a batch_done:
// as for a hub that fell behind the trimmed feed and jumped past it.
type losesBatchDone struct{ store.Store }

func isBatchDone(ev store.Event) bool { return ev.Type == store.EventBatchDone }

func (s losesBatchDone) Events(ctx context.Context, after string, limit int) ([]store.Event, error) {
	evs, err := s.Store.Events(ctx, after, limit)
	return slices.DeleteFunc(evs, isBatchDone), err
}

func (s losesBatchDone) Subscribe(ctx context.Context) (<-chan store.Event, error) {
	in, err := s.Store.Subscribe(ctx)
	if err != nil {
		return nil, err
	}
	return storetest.Relay(in, func(ev store.Event) bool { return !isBatchDone(ev) }), nil
}

// The POST stream of a batch ends when the batch has ended even if its batch_done never reaches
// the gateway's feed: it rechecks the batch and writes batch_done from it.
func TestBatchPostStreamEndsWhenBatchDoneIsLost(t *testing.T) {
	s := stack.New(t, stack.Config{})
	s.AddProcessor(stack.ProcessorOptions{})
	g := s.AddGateway(stack.GatewayOptions{
		Config:    func(c *gateway.Config) { c.RecheckInterval = 20 * time.Millisecond; c.Heartbeat = 0 },
		WrapStore: func(st store.Store) store.Store { return losesBatchDone{st} },
	})
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(batchStreamRequest(ctx, g.URL, batchBody(3)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var events []sse.Message
	if err := sse.Read(resp.Body, func(m sse.Message) { events = append(events, m) }); err != nil {
		t.Fatalf("stream: %v after %+v; want it to end by itself after batch_done", err, events)
	}
	if len(events) < 2 || events[0].Event != "accepted" || events[len(events)-1].Event != store.EventBatchDone {
		t.Fatalf("events = %+v; want accepted … batch_done", events)
	}
	var acc batchAnswer
	if err := json.Unmarshal([]byte(events[0].Data), &acc); err != nil {
		t.Fatal(err)
	}
	last := events[len(events)-1]
	var done batchEventData
	if err := json.Unmarshal([]byte(last.Data), &done); err != nil || last.ID != "" {
		t.Fatalf("batch_done %+v (%v); want one without id:, as it is not the feed's", last, err)
	}
	if done.BatchID != acc.BatchID || done.Status != "succeeded" || done.Done != 3 || done.Failed != 1 || done.Total != 3 {
		t.Fatalf("batch_done = %+v; want batch %s succeeded, 3 done, 1 failed", done, acc.BatchID)
	}
}
