package processor_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"

	"github.com/forecastd/forecastd/forecast"
	"github.com/forecastd/forecastd/messages"
	"github.com/forecastd/forecastd/processor"
	"github.com/forecastd/forecastd/store"
)

type rig struct {
	ps      *gochannel.GoChannel
	st      *store.Memory
	replies <-chan *message.Message
	dead    <-chan *message.Message
}

func newRig(t *testing.T, opts ...processor.Option) *rig {
	t.Helper()
	return newRigWith(t, func(*processor.Config) {}, opts...)
}

// newRigWith is newRig with the processor's config adjusted by mod.
func newRigWith(t *testing.T, mod func(*processor.Config), opts ...processor.Option) *rig {
	t.Helper()
	return newRigOf(t, 1, mod, opts...)
}

// newRigOf is newRigWith with the processor registered as consumers consumers. GoChannel hands
// every message to every subscriber, so each of them gets every command.
func newRigOf(t *testing.T, consumers int, mod func(*processor.Config), opts ...processor.Option) *rig {
	t.Helper()
	return newRigOver(t, consumers, mod, func(m *store.Memory) store.Store { return m }, opts...)
}

// newRigOver is newRigOf with the processor using the store wrap makes of the rig's one.
func newRigOver(t *testing.T, consumers int, mod func(*processor.Config), wrap func(*store.Memory) store.Store, opts ...processor.Option) *rig {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	wlog := watermill.NewSlogLogger(log)
	ps := gochannel.NewGoChannel(gochannel.Config{OutputChannelBuffer: 64}, wlog)
	st := store.NewMemory()
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: time.Second}, wlog)
	if err != nil {
		t.Fatal(err)
	}
	cfg := processor.DefaultConfig()
	cfg.MaxRetries = 1
	cfg.DeliveryLimit = 0 // GoChannel does not redeliver
	mod(&cfg)
	p := processor.New(cfg, wrap(st), ps, log, opts...)
	for i := range consumers {
		if err := p.Register(router, ps, fmt.Sprintf("-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	replies, _ := ps.Subscribe(ctx, messages.ReplyTopic("gw"))
	dead, _ := ps.Subscribe(ctx, messages.TopicDead)
	go func() { _ = router.Run(ctx) }()
	<-router.Running()
	t.Cleanup(func() { cancel(); _ = router.Close(); _ = ps.Close() })
	return &rig{ps: ps, st: st, replies: replies, dead: dead}
}

func (r *rig) publish(t *testing.T, topic string, v any) {
	t.Helper()
	r.publishWith(t, topic, v, nil)
}

// result waits for the next result reply, skipping running/progress ones.
func (r *rig) result(t *testing.T) messages.Reply {
	t.Helper()
	return r.resultWithin(t, 5*time.Second)
}

// resultWithin is result, waiting up to d.
func (r *rig) resultWithin(t *testing.T, d time.Duration) messages.Reply {
	t.Helper()
	timeout := time.After(d)
	for {
		select {
		case m := <-r.replies:
			m.Ack()
			rep, err := messages.DecodeReply(m.Metadata.Get(messages.ReplyHeader), m.Payload)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Type == messages.ReplyResult {
				return rep
			}
		case <-timeout:
			t.Fatal("no result reply")
		}
	}
}

func TestMalformedCommandsGoToDeadLetter(t *testing.T) {
	r := newRig(t)
	for _, tc := range []struct {
		name, topic string
		payload     any
	}{
		{"not JSON", messages.TopicFit, "{{{"},
		{"fit without generation", messages.TopicFit, messages.FitCommand{JobID: "j", Model: "m"}},
		{"fit never accepted", messages.TopicFit, messages.FitCommand{JobID: "j", Model: "m", Generation: 9}},
		{"forecast without horizon", messages.TopicForecast, messages.ForecastCommand{JobID: "j", Model: "m"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if s, ok := tc.payload.(string); ok {
				if err := r.ps.Publish(tc.topic, message.NewMessage(watermill.NewUUID(), []byte(s))); err != nil {
					t.Fatal(err)
				}
			} else {
				r.publish(t, tc.topic, tc.payload)
			}
			select {
			case m := <-r.dead:
				m.Ack()
				if m.Metadata.Get("reason_poisoned") == "" {
					t.Errorf("dead letter without a reason: %v", m.Metadata)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("malformed command did not reach the dead-letter topic")
			}
		})
	}
}

// naiveFit accepts a naive fit of model as job in the rig's store and returns its command.
func (r *rig) naiveFit(t *testing.T, model, job string) messages.FitCommand {
	t.Helper()
	gen, err := r.st.AcceptFit(t.Context(), model, job, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return messages.FitCommand{JobID: job, Model: model, Generation: gen, ReplyTo: "gw", Values: messages.Values{1, 2, 3, 4}, SeasonLength: 1, Method: "naive"}
}

// fitted is naiveFit, published and answered: it fails t unless the fit succeeded.
func (r *rig) fitted(t *testing.T, model, job string) messages.FitCommand {
	t.Helper()
	fit := r.naiveFit(t, model, job)
	r.publish(t, messages.TopicFit, fit)
	if rep := r.result(t); rep.Failure != nil {
		t.Fatalf("fit failed: %+v", rep.Failure)
	}
	return fit
}

func TestFitThenRedeliveryReplaysOutcome(t *testing.T) {
	r := newRig(t)
	ctx := t.Context()
	cmd := r.naiveFit(t, "m", "job-1")
	r.publish(t, messages.TopicFit, cmd)
	first := r.result(t)
	if first.Failure != nil || len(first.Result) == 0 {
		t.Fatalf("fit reply = %+v, want a result", first)
	}
	// The same command again (as after a redelivery) changes nothing and replays the answer.
	r.publish(t, messages.TopicFit, cmd)
	again := r.result(t)
	if again.Failure != nil || string(again.Result) != string(first.Result) {
		t.Fatalf("replayed reply = %+v %s, want %s", again.Failure, again.Result, first.Result)
	}
	if seq, _ := r.st.Sequence(ctx, "m"); seq != 1 {
		t.Fatalf("sequence = %d after a redelivery, want 1", seq)
	}
}

// A forecast command delivered again after it was answered (its job record and the current
// generation are read together) replays the recorded answer instead of computing it again.
func TestForecastRedeliveryReplaysOutcome(t *testing.T) {
	r := newRig(t)
	ctx := t.Context()
	gen := r.fitted(t, "m", "fit-1").Generation
	cmd := messages.ForecastCommand{JobID: "f-1", Model: "m", Barrier: gen, ReplyTo: "gw", Horizon: 3, Levels: []float64{80}}
	r.publish(t, messages.TopicForecast, cmd)
	first := r.result(t)
	if first.Failure != nil || len(first.Result) == 0 {
		t.Fatalf("forecast reply = %+v, want a result", first)
	}
	recorded, err := r.st.GetJob(ctx, "f-1")
	if err != nil || recorded.Status != store.JobSucceeded || recorded.Generation != gen {
		t.Fatalf("job record = %+v, %v; want succeeded on generation %d", recorded, err, gen)
	}
	r.publish(t, messages.TopicForecast, cmd)
	again := r.result(t)
	if again.Failure != nil || string(again.Result) != string(first.Result) {
		t.Fatalf("replayed reply = %+v %s, want %s", again.Failure, again.Result, first.Result)
	}
	if after, _ := r.st.GetJob(ctx, "f-1"); !after.UpdatedAt.Equal(recorded.UpdatedAt) {
		t.Fatalf("the redelivered forecast was computed again: record updated %v, first %v", after.UpdatedAt, recorded.UpdatedAt)
	}
}

func TestForecastWithoutModelIs404(t *testing.T) {
	r := newRig(t)
	r.publish(t, messages.TopicForecast, messages.ForecastCommand{JobID: "f", Model: "none", ReplyTo: "gw", Horizon: 3, Levels: []float64{80}})
	rep := r.result(t)
	if rep.Failure == nil || rep.Failure.Code != messages.CodeNotFound || rep.Failure.Problems["model"] == "" {
		t.Fatalf("reply = %+v, want not_found naming the model", rep.Failure)
	}
}

func TestPerfectFitReportsNoLikelihood(t *testing.T) {
	r := newRig(t)
	gen, err := r.st.AcceptFit(t.Context(), "flat", "job-flat", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	r.publish(t, messages.TopicFit, messages.FitCommand{
		JobID: "job-flat", Model: "flat", Generation: gen, ReplyTo: "gw", SeasonLength: 1, Method: "ets",
		Values: messages.Values{5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5},
	})
	rep := r.result(t)
	if rep.Failure != nil {
		t.Fatalf("constant series fit: %+v", rep.Failure)
	}
	var sum messages.FitSummary
	if err := json.Unmarshal(rep.Result, &sum); err != nil {
		t.Fatal(err)
	}
	if sum.AICc != nil || sum.LogLik != nil {
		t.Fatalf("perfect fit reports aicc %v loglik %v; want neither", sum.AICc != nil, sum.LogLik != nil)
	}
}

func TestCrashingFitIsAnsweredAsFailed(t *testing.T) {
	crashes := 0
	r := newRig(t, processor.WithFitFunc(func(context.Context, []float64, forecast.Spec, forecast.ProgressFunc) (forecast.Model, error) {
		crashes++
		panic("engine bug")
	}))
	gen, err := r.st.AcceptFit(t.Context(), "boom", "job-boom", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	r.publish(t, messages.TopicFit, messages.FitCommand{JobID: "job-boom", Model: "boom", Generation: gen, ReplyTo: "gw", SeasonLength: 1, Method: "naive", Values: messages.Values{1, 2, 3}})
	rep := r.result(t)
	if rep.Failure == nil || rep.Failure.Code != messages.CodeInternal || strings.Contains(rep.Failure.Message, "engine bug") {
		t.Fatalf("reply = %+v, want internal, without the panic's text", rep.Failure)
	}
	fr, err := r.st.Fit(t.Context(), "boom", gen)
	if err != nil || fr.Status != store.FitFailed {
		t.Fatalf("fit record = %+v (%v), want failed so held forecasts are released", fr, err)
	}
	if crashes != 2 {
		t.Errorf("fit ran %d times, want 2 (1 try + 1 bounded retry), then no more", crashes)
	}
}

// TestParallelBoundsConcurrentFits: the in-process transport delivers a burst all at once;
// Parallel keeps at most that many fits running.
func TestParallelBoundsConcurrentFits(t *testing.T) {
	var mu sync.Mutex
	running, most := 0, 0
	release := make(chan struct{})
	slow := func(ctx context.Context, y []float64, spec forecast.Spec, pr forecast.ProgressFunc) (forecast.Model, error) {
		mu.Lock()
		running++
		most = max(most, running)
		mu.Unlock()
		<-release
		mu.Lock()
		running--
		mu.Unlock()
		return forecast.Fit(ctx, y, spec, pr)
	}
	r := newRigWith(t, func(c *processor.Config) { c.Parallel = 2 }, processor.WithFitFunc(slow))
	const fits = 5
	for i := range fits {
		gen, err := r.st.AcceptFit(t.Context(), "p", fmt.Sprintf("job-%d", i), time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		r.publish(t, messages.TopicFit, messages.FitCommand{JobID: fmt.Sprintf("job-%d", i), Model: "p", Generation: gen, ReplyTo: "gw", SeasonLength: 1, Method: "naive", Values: messages.Values{1, 2, 3}})
	}
	time.Sleep(200 * time.Millisecond) // give the burst time to pile up
	close(release)
	for range fits {
		if rep := r.result(t); rep.Failure != nil {
			t.Fatalf("fit %s: %+v", rep.JobID, rep.Failure)
		}
	}
	if most != 2 {
		t.Fatalf("at most %d fits ran at once, want 2", most)
	}
}

// A processor runs several consumers; when one command reaches two of them at once (a
// redelivery after a broker restart while the first copy still runs), the second waits for
// the first attempt instead of running the same fit again beside it.
func TestOneProcessorDoesNotRunAFitTwiceAtOnce(t *testing.T) {
	var calls atomic.Int32
	release := make(chan struct{})
	gated := func(ctx context.Context, y []float64, spec forecast.Spec, pr forecast.ProgressFunc) (forecast.Model, error) {
		calls.Add(1)
		<-release
		return forecast.Fit(ctx, y, spec, pr)
	}
	// Two consumers of one processor both get the command, as two consumers of a RabbitMQ queue
	// do with a redelivered copy.
	r := newRigOf(t, 2, func(*processor.Config) {}, processor.WithFitFunc(gated))
	gen, err := r.st.AcceptFit(t.Context(), "m", "job-1", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	r.publish(t, messages.TopicFit, messages.FitCommand{JobID: "job-1", Model: "m", Generation: gen, ReplyTo: "gw", Values: messages.Values{1, 2, 3, 4}, SeasonLength: 1, Method: "naive"})
	time.Sleep(500 * time.Millisecond) // both consumers have the command by now
	if n := calls.Load(); n != 1 {
		t.Fatalf("the fit started %d times at once, want once", n)
	}
	close(release)
	for range 2 {
		if rep := r.result(t); rep.Failure != nil {
			t.Fatalf("fit reply = %+v", rep.Failure)
		}
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("the fit ran %d times, want once", n)
	}
}

// A forecast whose times would pass year 9999 fails naming horizon: its times cannot be written.
func TestForecastPastYear9999FailsNamingHorizon(t *testing.T) {
	r := newRig(t)
	cmd := r.naiveFit(t, "m", "fit")
	cmd.Timestamps = &messages.TimeAxis{Last: time.Date(9998, 1, 1, 0, 0, 0, 0, time.UTC), Months: 12}
	r.publish(t, messages.TopicFit, cmd)
	if rep := r.result(t); rep.Failure != nil {
		t.Fatalf("fit: %+v", rep.Failure)
	}
	r.publish(t, messages.TopicForecast, messages.ForecastCommand{JobID: "f", Model: "m", ReplyTo: "gw", Horizon: 2, Levels: []float64{80}})
	if rep := r.result(t); rep.Failure == nil || !strings.Contains(rep.Failure.Problems["horizon"], "year 9999") {
		t.Errorf("forecast two years after 9998: %+v; want a failure naming horizon", rep)
	}
}

// gatedReads holds every forecast's store read until release closes, counting how many wait.
type gatedReads struct {
	store.Store
	release       chan struct{}
	mu            sync.Mutex
	running, most int
	done          int
}

func (g *gatedReads) ReadForecast(ctx context.Context, model, jobID string) (store.ForecastView, error) {
	g.mu.Lock()
	g.running++
	g.most = max(g.most, g.running)
	g.mu.Unlock()
	<-g.release
	g.mu.Lock()
	g.running--
	g.done++
	g.mu.Unlock()
	return g.Store.ReadForecast(ctx, model, jobID)
}

// MaxForecasts bounds the forecasts a processor runs at once over all its consumers (each of
// which, with RabbitMQ, hands on a whole bundle at once).
func TestMaxForecastsBoundsAllConsumers(t *testing.T) {
	g := &gatedReads{release: make(chan struct{})}
	r := newRigOver(t, 2, func(c *processor.Config) { c.MaxForecasts = 3 }, func(m *store.Memory) store.Store {
		g.Store = m
		return g
	})
	const forecasts = 5 // each reaches both consumers
	for i := range forecasts {
		r.publish(t, messages.TopicForecast, messages.ForecastCommand{JobID: fmt.Sprintf("f-%d", i), Model: "m", Horizon: 1, ReplyTo: "gw"})
	}
	time.Sleep(200 * time.Millisecond) // give the burst time to pile up
	close(g.release)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		g.mu.Lock()
		done, most := g.done, g.most
		g.mu.Unlock()
		if done == 2*forecasts {
			if most != 3 {
				t.Fatalf("at most %d forecasts ran at once, want 3", most)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d forecasts read the store", done, 2*forecasts)
		}
	}
}

// A fit command whose generation the store gave to another job (its own acceptance was lost in
// a failover, and the generation handed out again) is answered failed, without fitting its
// values under that generation: the other job's command then fits its own, and the model and
// its model_ready are that job's.
func TestFitWhoseGenerationWentToAnotherJobIsAnsweredFailed(t *testing.T) {
	r := newRig(t)
	ctx := t.Context()
	// As after the failover: generation 1 is job-2's; job-1's command (accepted before, as
	// generation 1, on the primary that was lost) is still in the queue.
	gen, err := r.st.AcceptFit(ctx, "m", "job-2", time.Minute)
	if err != nil || gen != 1 {
		t.Fatalf("accept: %d %v", gen, err)
	}
	lost := messages.FitCommand{JobID: "job-1", Model: "m", Generation: 1, ReplyTo: "gw", Values: messages.Values{100, 200, 300}, SeasonLength: 1, Method: "naive"}
	r.publish(t, messages.TopicFit, lost)
	if rep := r.result(t); rep.JobID != "job-1" || rep.Failure == nil || rep.Failure.Code != messages.CodeUnavailable {
		t.Fatalf("reply to the command whose acceptance was lost: %+v; want job-1 unavailable", rep)
	}
	if f, err := r.st.Fit(ctx, "m", 1); err != nil || f.Status != store.FitPending || f.Owner != "" || f.JobID != "job-2" {
		t.Fatalf("generation 1 after job-1's command: %+v %v; want job-2's, pending, held by no one", f, err)
	}
	if j, err := r.st.GetJob(ctx, "job-1"); err != nil || j.Status != store.JobFailed {
		t.Errorf("job-1: %+v %v; want failed", j, err)
	}
	own := messages.FitCommand{JobID: "job-2", Model: "m", Generation: 1, ReplyTo: "gw", Values: messages.Values{1, 2, 3, 4}, SeasonLength: 1, Method: "naive"}
	r.publish(t, messages.TopicFit, own)
	if rep := r.result(t); rep.JobID != "job-2" || rep.Failure != nil {
		t.Fatalf("job-2's own command: %+v; want its fit", rep)
	}
	fc := messages.ForecastCommand{JobID: "fc-1", Model: "m", Barrier: 1, ReplyTo: "gw", Horizon: 1}
	r.publish(t, messages.TopicForecast, fc)
	rep := r.result(t)
	var res messages.ForecastResult
	if err := json.Unmarshal(rep.Result, &res); rep.Failure != nil || err != nil || len(res.Point) != 1 || res.Point[0] != 4 {
		t.Errorf("forecast of the model: %+v %s %v; want the naive forecast of job-2's values, 4", rep.Failure, rep.Result, err)
	}
	evs, err := r.st.Events(ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		if e.Type == store.EventModelReady && e.JobID != "job-2" {
			t.Errorf("model_ready of job %s; want job-2's", e.JobID)
		}
	}
}

// A fit that finishes after more than the kept history of newer fits of its model (the store
// prunes the records of ended fits beyond it) is still answered: with its success, not
// current; and its command delivered again after its record was pruned replays that answer.
func TestFitOvertakenByManyNewerFitsIsAnswered(t *testing.T) {
	r := newRig(t)
	ctx := t.Context()
	slow := r.naiveFit(t, "m", "slow") // generation 1, its command delayed
	for i := range 25 {
		r.fitted(t, "m", fmt.Sprintf("fast-%d", i))
	}
	r.publish(t, messages.TopicFit, slow)
	first := r.result(t)
	var sum messages.FitSummary
	if err := json.Unmarshal(first.Result, &sum); first.JobID != "slow" || first.Failure != nil || err != nil || sum.Generation != 1 || sum.Current {
		t.Fatalf("answer of the overtaken fit: %+v %s (%v); want its success, generation 1, not current", first.Failure, first.Result, err)
	}
	if j, err := r.st.GetJob(ctx, "slow"); err != nil || j.Status != store.JobSucceeded {
		t.Errorf("its job: %+v %v; want succeeded", j, err)
	}
	if _, err := r.st.Fit(ctx, "m", 1); !errors.Is(err, store.ErrNoFit) {
		t.Fatalf("fit 1's record: %v; want it pruned, as this test is about", err)
	}
	r.publish(t, messages.TopicFit, slow) // delivered again
	if again := r.result(t); again.Failure != nil || string(again.Result) != string(first.Result) {
		t.Errorf("the command again: %+v %s; want the recorded answer replayed", again.Failure, again.Result)
	}
}

// A processor that claims a fit gives it the queue lease its command carries: the command was
// delivered, so it is in the queue, and the fit must wait that long for its redelivery should
// this processor die, whether or not the gateway could record the lease after its publish.
func TestClaimedFitHasTheQueueLeaseItsCommandCarries(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	r := newRig(t, processor.WithFitFunc(func(ctx context.Context, y []float64, spec forecast.Spec, p forecast.ProgressFunc) (forecast.Model, error) {
		<-release
		return forecast.Fit(ctx, y, spec, p)
	}))
	ctx := t.Context()
	gen, err := r.st.AcceptFit(ctx, "m", "job-1", 100*time.Millisecond) // as accepted, before its publish was confirmed
	if err != nil {
		t.Fatal(err)
	}
	cmd := messages.FitCommand{JobID: "job-1", Model: "m", Generation: gen, ReplyTo: "gw", Values: messages.Values{1, 2, 3}, SeasonLength: 1, Method: "naive",
		QueueLeaseMS: time.Hour.Milliseconds()}
	r.publish(t, messages.TopicFit, cmd)
	deadline := time.Now().Add(5 * time.Second)
	var f store.FitRecord
	for time.Now().Before(deadline) {
		if f, err = r.st.Fit(ctx, "m", gen); err == nil && f.Owner != "" && f.ExpiresAt.After(f.LeaseUntil.Add(time.Minute)) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if f.Owner == "" || f.ExpiresAt.Before(f.LeaseUntil.Add(time.Hour-time.Minute)) {
		t.Fatalf("the claimed fit: %+v; want it held, expiring an hour after its lease", f)
	}
}

// A malformed command that names its job (one field of it unreadable) is answered failed, and
// its fit failed, before it goes to the dead-letter topic: otherwise its client would wait for
// nothing and its fit hold the model's forecasts until its queue lease ran out.
func TestMalformedCommandNamingItsJobIsAnswered(t *testing.T) {
	r := newRig(t)
	ctx := t.Context()
	gen, err := r.st.AcceptFit(ctx, "m", "job-1", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	payload := fmt.Sprintf(`{"job_id":"job-1","model":"m","generation":%d,"reply_to":"gw","values":"not an array","method":"naive"}`, gen)
	if err := r.ps.Publish(messages.TopicFit, message.NewMessage(watermill.NewUUID(), []byte(payload))); err != nil {
		t.Fatal(err)
	}
	if rep := r.result(t); rep.JobID != "job-1" || rep.Failure == nil {
		t.Fatalf("answer of the malformed command: %+v; want job-1 failed", rep)
	}
	select {
	case m := <-r.dead:
		m.Ack()
	case <-time.After(5 * time.Second):
		t.Fatal("the malformed command did not reach the dead-letter topic")
	}
	if f, err := r.st.Fit(ctx, "m", gen); err != nil || f.Status != store.FitFailed {
		t.Errorf("its fit: %+v %v; want failed, releasing the model's forecasts", f, err)
	}
}
