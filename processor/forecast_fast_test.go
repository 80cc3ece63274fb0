package processor_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/forecastd/forecastd/forecast"
	"github.com/forecastd/forecastd/messages"
	"github.com/forecastd/forecastd/processor"
	"github.com/forecastd/forecastd/store"
	"github.com/forecastd/forecastd/store/storetest"
)

// publishWith publishes v with metadata md.
func (r *rig) publishWith(t *testing.T, topic string, v any, md map[string]string) {
	t.Helper()
	b, _ := json.Marshal(v)
	m := message.NewMessage(watermill.NewUUID(), b)
	for k, val := range md {
		m.Metadata.Set(k, val)
	}
	if err := r.ps.Publish(topic, m); err != nil {
		t.Fatal(err)
	}
}

// forecastOf is the result of a forecast reply.
func forecastOf(t *testing.T, rep messages.Reply) messages.ForecastResult {
	t.Helper()
	if rep.Failure != nil {
		t.Fatalf("forecast failed: %+v", rep.Failure)
	}
	var res messages.ForecastResult
	if err := json.Unmarshal(rep.Result, &res); err != nil {
		t.Fatal(err)
	}
	return res
}

// A forecast whose gateway found the model it may use (Generation, nothing pending) is
// answered without reading the store once that generation is decoded here, with the answer
// the store's reading gives and the gateway's time of acceptance on its record; delivered
// again, or published again out of a redelivered bundle, it is answered from its record.
func TestForecastOfAGenerationHeldDecodedReadsNoStore(t *testing.T) {
	var reads *storetest.Reads
	r := newRigOver(t, 1, func(*processor.Config) {}, func(m *store.Memory) store.Store {
		reads = &storetest.Reads{Store: m}
		return reads
	})
	fit := r.fitted(t, "m", "fit-1")
	accepted := time.Date(2026, 12, 3, 7, 0, 0, 0, time.UTC)
	cmd := func(id string) messages.ForecastCommand {
		return messages.ForecastCommand{JobID: id, Model: "m", Barrier: fit.Generation, ReplyTo: "gw", Horizon: 3,
			Levels: []float64{80}, CurrentGeneration: fit.Generation, CurrentFitJob: "fit-1", AcceptedAt: accepted}
	}
	// The same forecast the long way (no Generation: the store is read) to compare with.
	long := cmd("f-1")
	long.CurrentGeneration = 0
	r.publish(t, messages.TopicForecast, long)
	first := forecastOf(t, r.result(t))
	if reads.Count() == 0 {
		t.Fatal("a forecast without the gateway's generation read nothing from the store")
	}
	// The fit's processor holds the generation decoded.
	before := reads.Count()
	r.publish(t, messages.TopicForecast, cmd("f-2"))
	second := forecastOf(t, r.result(t))
	if n := reads.Count() - before; n != 0 {
		t.Errorf("a forecast of a generation held decoded read the store %d times, want none", n)
	}
	if second.Generation != fit.Generation || second.JobID != "f-2" || string(messages.JSON(second.Point)) != string(messages.JSON(first.Point)) ||
		string(messages.JSON(second.Intervals)) != string(messages.JSON(first.Intervals)) {
		t.Errorf("answered without reading: %+v; want the answer of the reading one, %+v", second, first)
	}
	recorded, err := r.st.GetJob(t.Context(), "f-2")
	if err != nil || recorded.Status != store.JobSucceeded || recorded.Generation != fit.Generation || !recorded.CreatedAt.Equal(accepted) {
		t.Fatalf("job record %+v, %v; want succeeded on generation %d, created at %v", recorded, err, fit.Generation, accepted)
	}
	for _, md := range []map[string]string{{"x-delivery-count": "1"}, {messages.ResentHeader: "true"}} {
		before := reads.Count()
		r.publishWith(t, messages.TopicForecast, cmd("f-2"), md)
		again := r.result(t)
		if reads.Count() == before || string(again.Result) != string(recorded.Result) {
			t.Errorf("%v: delivered again, answered %s (after %d reads); want its record's answer %s", md, again.Result, reads.Count()-before, recorded.Result)
		}
		if after, _ := r.st.GetJob(t.Context(), "f-2"); !after.UpdatedAt.Equal(recorded.UpdatedAt) {
			t.Errorf("%v: delivered again, the forecast was computed again (record updated %v, first %v)", md, after.UpdatedAt, recorded.UpdatedAt)
		}
	}
}

// A forecast the gateway has answered already (it could not confirm the command's publishing,
// but RabbitMQ had it) keeps that answer when it is computed all the same: its record is not
// overwritten and the processor replies with the recorded answer.
func TestForecastAnsweredByTheGatewayKeepsItsAnswer(t *testing.T) {
	r := newRig(t)
	fit := r.fitted(t, "m", "fit-1")
	failed := messages.Errorf(messages.CodeUnavailable, nil, "the broker is unavailable; retry shortly")
	answered := store.Job{ID: "f-1", Kind: messages.KindForecast, Model: "m", Status: store.JobFailed,
		Error: messages.JSON(failed), CreatedAt: time.Now(), UpdatedAt: time.Now()}
	if err := r.st.PutJob(t.Context(), answered, time.Minute); err != nil {
		t.Fatal(err)
	}
	for _, long := range []bool{false, true} {
		cmd := messages.ForecastCommand{JobID: "f-1", Model: "m", Barrier: fit.Generation, ReplyTo: "gw", Horizon: 2, CurrentGeneration: fit.Generation}
		if long {
			cmd.CurrentGeneration = 0
		}
		r.publish(t, messages.TopicForecast, cmd)
		rep := r.result(t)
		if rep.Failure == nil || rep.Failure.Code != messages.CodeUnavailable {
			t.Errorf("long way %v: reply %+v; want the recorded failure", long, rep)
		}
		if got, _ := r.st.GetJob(t.Context(), "f-1"); got.Status != store.JobFailed || !got.UpdatedAt.Equal(answered.UpdatedAt) {
			t.Errorf("long way %v: record %+v; want the gateway's answer untouched", long, got)
		}
	}
}

// A forecast command that reaches a processor after its deadline (a queue backed up that long)
// is answered expired, not computed: no gateway waits for it any more, and its job was shown
// expired already. One answered before replays that answer.
func TestForecastPastItsDeadlineIsExpired(t *testing.T) {
	r := newRig(t)
	fit := r.fitted(t, "m", "fit-1")
	late := messages.ForecastCommand{JobID: "late", Model: "m", Barrier: fit.Generation, ReplyTo: "gw", Horizon: 2,
		CurrentGeneration: fit.Generation, Deadline: time.Now().Add(-time.Minute)}
	r.publish(t, messages.TopicForecast, late)
	if rep := r.result(t); rep.Failure == nil || rep.Failure.Code != messages.CodeUnavailable {
		t.Fatalf("late forecast: failure %+v, result %s; want unavailable", rep.Failure, rep.Result)
	}
	if job, err := r.st.GetJob(t.Context(), "late"); err != nil || job.Status != store.JobExpired {
		t.Fatalf("late forecast's job %+v, %v; want expired", job, err)
	}

	answered := late
	answered.JobID, answered.Deadline = "answered", time.Now().Add(time.Minute)
	r.publish(t, messages.TopicForecast, answered)
	first := r.result(t)
	if first.Failure != nil {
		t.Fatalf("forecast failed: %+v", first.Failure)
	}
	answered.Deadline = time.Now().Add(-time.Minute) // delivered again, late
	r.publish(t, messages.TopicForecast, answered)
	if again := r.result(t); again.Failure != nil || string(again.Result) != string(first.Result) {
		t.Fatalf("late redelivery: failure %+v, result %s; want the answer %s", again.Failure, again.Result, first.Result)
	}
}

// lostWrites is a store whose backing memory store can be replaced, as a Redis failover to a
// replica that had not received the last writes replaces the primary: the methods a processor
// fitting and forecasting calls go to the current one.
type lostWrites struct {
	store.Store
	cur *atomic.Pointer[store.Memory]
}

func (s lostWrites) m() *store.Memory { return s.cur.Load() }
func (s lostWrites) Fit(ctx context.Context, model string, gen int64) (store.FitRecord, error) {
	return s.m().Fit(ctx, model, gen)
}
func (s lostWrites) RenewFit(ctx context.Context, model string, gen int64, owner string, lease time.Duration) (store.FitRecord, error) {
	return s.m().RenewFit(ctx, model, gen, owner, lease)
}
func (s lostWrites) ReleaseFit(ctx context.Context, model string, gen int64, owner string) error {
	return s.m().ReleaseFit(ctx, model, gen, owner)
}
func (s lostWrites) CompleteFit(ctx context.Context, rec store.ModelRecord) (bool, error) {
	return s.m().CompleteFit(ctx, rec)
}
func (s lostWrites) PutUnlessAnswered(ctx context.Context, j store.Job, ttl time.Duration) (store.Job, bool, error) {
	return s.m().PutUnlessAnswered(ctx, j, ttl)
}
func (s lostWrites) GetJob(ctx context.Context, id string) (store.Job, error) {
	return s.m().GetJob(ctx, id)
}
func (s lostWrites) Emit(ctx context.Context, ev store.Event) (store.Event, error) {
	return s.m().Emit(ctx, ev)
}
func (s lostWrites) ReadForecast(ctx context.Context, model, id string) (store.ForecastView, error) {
	return s.m().ReadForecast(ctx, model, id)
}
func (s lostWrites) Current(ctx context.Context, model string) (store.ModelRecord, error) {
	return s.m().Current(ctx, model)
}
func (s lostWrites) CurrentGeneration(ctx context.Context, model string) (int64, string, error) {
	return s.m().CurrentGeneration(ctx, model)
}
func (s lostWrites) Unsettled(ctx context.Context, model string, upTo int64) ([]int64, error) {
	return s.m().Unsettled(ctx, model, upTo)
}

// A generation a failover gave to another fit, after losing the completion of the one this
// processor made and holds decoded, is forecast with the store's model of it, not the one held:
// the held model is known by the fit's job as well as its generation. Both ways a forecast
// comes: with the gateway's generation and fit job, and without (the store is read).
func TestAGenerationReusedAfterAFailoverIsNotForecastFromTheModelHeld(t *testing.T) {
	var cur atomic.Pointer[store.Memory]
	r := newRigOver(t, 1, func(*processor.Config) {}, func(m *store.Memory) store.Store { cur.Store(m); return lostWrites{m, &cur} })
	ctx := t.Context()
	gen, err := cur.Load().AcceptFit(ctx, "m", "fit-lost", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	r.publish(t, messages.TopicFit, messages.FitCommand{JobID: "fit-lost", Model: "m", Generation: gen, ReplyTo: "gw",
		Values: []float64{1, 2, 3}, SeasonLength: 1, Method: "naive"}) // forecasts 3
	if rep := r.result(t); rep.Failure != nil {
		t.Fatalf("fit: %+v", rep.Failure)
	}

	// The new primary never had that fit: its generation goes to the next one, whose model
	// (made by another processor) forecasts 30.
	promoted := store.NewMemory()
	cur.Store(promoted)
	if again, err := promoted.AcceptFit(ctx, "m", "fit-next", time.Hour); err != nil || again != gen {
		t.Fatalf("generation %d, %v; want %d again", again, err, gen)
	}
	next, err := forecast.Fit(ctx, []float64{10, 20, 30}, forecast.Spec{Method: forecast.MethodNaive, SeasonLength: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	blob, _ := forecast.Encode(next)
	if _, err := promoted.CompleteFit(ctx, store.ModelRecord{Model: "m", Generation: gen, Method: "naive", Blob: blob,
		Summary: messages.JSON(messages.FitSummary{Model: "m", Generation: gen, Method: "naive"})}); err != nil {
		t.Fatal(err)
	}

	for _, fromGateway := range []bool{true, false} {
		id := fmt.Sprintf("fc-%v", fromGateway)
		a, err := promoted.AcceptForecast(ctx, "m", store.Job{ID: id, Kind: messages.KindForecast, Model: "m", Status: store.JobQueued}, time.Hour)
		if err != nil || a.FitJob != "fit-next" {
			t.Fatalf("accept forecast: %+v, %v", a, err)
		}
		cmd := messages.ForecastCommand{JobID: id, Model: "m", Barrier: a.Barrier, ReplyTo: "gw", Horizon: 1}
		if fromGateway {
			cmd.CurrentGeneration, cmd.CurrentFitJob = a.Generation, a.FitJob
		}
		r.publish(t, messages.TopicForecast, cmd)
		if res := forecastOf(t, r.result(t)); res.Generation != gen || len(res.Point) != 1 || res.Point[0] != 30 {
			t.Errorf("with the gateway's generation %v: generation %d point %v; want generation %d's model in the store, forecasting 30", fromGateway, res.Generation, res.Point, gen)
		}
	}
}
