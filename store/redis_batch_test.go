package store_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/forecastd/forecastd/store"
)

// A batch event in the Redis stream has every field a model event has (model and job empty,
// generation 0) besides its batch, so that a gateway of a version that knows no batch events
// still reads the feed past it instead of failing on it.
func TestRedisBatchEventsKeepTheModelEventFields(t *testing.T) {
	s, client, prefix := newRedisStore(t)
	ctx := t.Context()
	if err := s.CreateBatch(ctx, store.Batch{ID: "b"}, []string{"s0"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutBatchResult(ctx, "b", 0, false, json.RawMessage(`{}`)); err != nil {
		t.Fatal(err)
	}
	msgs, err := client.XRange(ctx, prefix+":events", "-", "+").Result()
	if err != nil || len(msgs) != 1 {
		t.Fatalf("stream: %v, %v; want the batch_done", msgs, err)
	}
	v := msgs[0].Values
	if v["type"] != store.EventBatchDone || v["batch"] != "b" || v["model"] != "" || v["gen"] != "0" || v["job"] != "" || v["ts"] == nil {
		t.Fatalf("stream entry %v; want a batch_done of b with empty model fields", v)
	}
}
