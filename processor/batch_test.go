package processor_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/forecastd/forecastd/forecast"
	"github.com/forecastd/forecastd/messages"
	"github.com/forecastd/forecastd/processor"
	"github.com/forecastd/forecastd/store"
)

func batchCommand(id string, index int, name string, values ...float64) messages.BatchCommand {
	return messages.BatchCommand{BatchID: id, Index: index, Name: name, Values: values, SeasonLength: 1,
		Method: forecast.MethodNaive, Horizon: 2, Levels: []float64{80}}
}

// waitBatch polls until the batch has done series or the test times out.
func waitBatch(t *testing.T, st store.Store, id string, done int) store.Batch {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, err := st.GetBatch(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		if b.Done >= done {
			return b
		}
		if time.Now().After(deadline) {
			t.Fatalf("batch %s: %d of %d series done, want %d", id, b.Done, b.Total, done)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestBatchSeriesGetTheirOwnOutcome(t *testing.T) {
	r := newRig(t, processor.WithFitFunc(func(ctx context.Context, y []float64, spec forecast.Spec, p forecast.ProgressFunc) (forecast.Model, error) {
		if len(y) > 0 && y[0] == 666 {
			panic("the test's poison series")
		}
		return forecast.Fit(ctx, y, spec, p)
	}))
	ctx := t.Context()
	if err := r.st.CreateBatch(ctx, store.Batch{ID: "b"}, []string{"good", "short", "boom"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	r.publish(t, messages.TopicBatch, batchCommand("b", 0, "good", 1, 2, 3))
	r.publish(t, messages.TopicBatch, batchCommand("b", 1, "short"))
	r.publish(t, messages.TopicBatch, batchCommand("b", 2, "boom", 666, 1))
	b := waitBatch(t, r.st, "b", 3)
	if b.Status != store.BatchSucceeded || b.Failed != 2 {
		t.Fatalf("batch = %+v; want succeeded with 2 failed series", b)
	}
	_, _, results, err := r.st.BatchResults(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	var good, short, boom messages.BatchSeriesResult
	for i, v := range []*messages.BatchSeriesResult{&good, &short, &boom} {
		if err := json.Unmarshal(results[i], v); err != nil {
			t.Fatal(err)
		}
	}
	if good.Name != "good" || good.Failure != nil || len(good.Point) != 2 || good.Point[0] != 3 || len(good.Intervals["80"].Lower) != 2 {
		t.Errorf("good series: %+v; want the naive forecast [3 3] with 80%% intervals", good)
	}
	if short.Failure == nil || short.Failure.Code != messages.CodeInvalid || short.Failure.Problems["values"] == "" {
		t.Errorf("empty series: failure %+v; want invalid, naming values", short.Failure)
	}
	if boom.Failure == nil || boom.Failure.Code != messages.CodeInternal {
		t.Errorf("series the engine panics on: failure %+v; want internal", boom.Failure)
	}
}

func TestBatchSeriesAreCountedOnceAndSkippedOnceCancelled(t *testing.T) {
	fits := make(chan struct{}, 16)
	r := newRig(t, processor.WithFitFunc(func(ctx context.Context, y []float64, spec forecast.Spec, p forecast.ProgressFunc) (forecast.Model, error) {
		fits <- struct{}{}
		return forecast.Fit(ctx, y, spec, p)
	}))
	ctx := t.Context()
	if err := r.st.CreateBatch(ctx, store.Batch{ID: "b"}, []string{"a", "b"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	cmd := batchCommand("b", 0, "a", 1, 2, 3)
	r.publish(t, messages.TopicBatch, cmd)
	r.publish(t, messages.TopicBatch, cmd) // redelivered
	<-fits
	<-fits
	if b := waitBatch(t, r.st, "b", 1); b.Done != 1 || b.Status != store.BatchRunning {
		t.Fatalf("after a series and its redelivery: %+v; want 1 done, running", b)
	}
	if _, err := r.st.EndBatch(ctx, "b", store.BatchCancelled, ""); err != nil {
		t.Fatal(err)
	}
	r.publish(t, messages.TopicBatch, batchCommand("b", 1, "b", 1, 2, 3))
	r.publish(t, messages.TopicBatch, batchCommand("expired", 0, "x", 1, 2, 3))
	// GoChannel delivers in order to the one consumer: a fit would have started by the time a
	// later series of a live batch ends.
	if err := r.st.CreateBatch(ctx, store.Batch{ID: "later"}, []string{"z"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	r.publish(t, messages.TopicBatch, batchCommand("later", 0, "z", 1, 2))
	<-fits
	waitBatch(t, r.st, "later", 1)
	select {
	case <-fits:
		t.Fatal("a series of a cancelled or expired batch was fitted")
	default:
	}
	if b, _ := r.st.GetBatch(ctx, "b"); b.Done != 1 || b.Status != store.BatchCancelled {
		t.Fatalf("cancelled batch: %+v", b)
	}
}

// A series whose result cannot be encoded (forecast times past year 9999, from a command
// accepted before the gateway refused such axes) is recorded as failed, saying so, rather than
// as a success that carries no forecast.
func TestUnencodableSeriesResultIsAFailure(t *testing.T) {
	r := newRig(t)
	if err := r.st.CreateBatch(t.Context(), store.Batch{ID: "b"}, []string{"late"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	cmd := batchCommand("b", 0, "late", 1, 2, 3)
	cmd.Timestamps = &messages.TimeAxis{Last: time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), Months: 12}
	r.publish(t, messages.TopicBatch, cmd)
	if b := waitBatch(t, r.st, "b", 1); b.Failed != 1 {
		t.Fatalf("batch %+v; want its series failed", b)
	}
	if res := r.seriesResult(t, "b", 0); res.Failure == nil || res.Failure.Code != messages.CodeInternal || !strings.Contains(res.Failure.Message, "encoded") {
		t.Errorf("result %+v; want an internal failure saying it cannot be encoded", res)
	}
}

// A series whose batch_progress was coalesced (it ended right after another) is told by a
// trailing batch_progress once the interval has passed, without waiting for the next series.
func TestCoalescedBatchProgressIsEmittedLater(t *testing.T) {
	r := newRig(t)
	if err := r.st.CreateBatch(t.Context(), store.Batch{ID: "b"}, []string{"s0", "s1", "s2"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	r.publish(t, messages.TopicBatch, batchCommand("b", 0, "s0", 1, 2))
	r.publish(t, messages.TopicBatch, batchCommand("b", 1, "s1", 1, 2)) // s2 never comes
	waitBatch(t, r.st, "b", 2)
	deadline := time.Now().Add(5 * time.Second)
	for {
		evs, err := r.st.Events(t.Context(), "", 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range evs {
			var d store.BatchProgressData
			if ev.Type == store.EventBatchProgress && ev.Batch == "b" && json.Unmarshal(ev.Data, &d) == nil && d.Done == 2 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no batch_progress with done 2 among %+v", evs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
