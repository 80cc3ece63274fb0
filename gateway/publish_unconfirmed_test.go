package gateway_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/forecastd/forecastd/gateway"
	"github.com/forecastd/forecastd/messages"
	"github.com/forecastd/forecastd/store"
)

// unconfirmed publishes every command and then fails, as a publish fails whose confirm never
// came although RabbitMQ had the message: it returns once until says so of the command's job
// (or after 5 s).
type unconfirmed struct {
	message.Publisher
	until func(jobID string) bool
}

func (u unconfirmed) Publish(topic string, msgs ...*message.Message) error {
	if err := u.Publisher.Publish(topic, msgs...); err != nil {
		return err
	}
	for _, m := range msgs { // a command's message is named by its job
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline) && !u.until(m.UUID); {
			time.Sleep(5 * time.Millisecond)
		}
	}
	return errors.New("the broker's confirm did not come")
}

// answered is an until for unconfirmed: the processor has recorded the job's answer.
func answered(st store.Store) func(string) bool {
	return func(id string) bool {
		j, err := st.GetJob(context.Background(), id)
		return err == nil && j.Status.Answered()
	}
}

// gatewayAnswers tells of each answer the gateway has tried to record, by job, once the store
// has returned, and of each fit it has tried to fail.
type gatewayAnswers struct {
	store.Store
	tried  chan string
	failed func()
	broken bool // FailFit fails, as with a store that cannot be reached, having done nothing
}

func (g gatewayAnswers) PutUnlessAnswered(ctx context.Context, job store.Job, ttl time.Duration) (store.Job, bool, error) {
	prev, written, err := g.Store.PutUnlessAnswered(ctx, job, ttl)
	g.tried <- job.ID
	return prev, written, err
}

func (g gatewayAnswers) FailFit(ctx context.Context, model string, gen int64, reason string) (bool, error) {
	ended, err := false, errors.New("the test's store cannot be reached")
	if !g.broken {
		ended, err = g.Store.FailFit(ctx, model, gen, reason)
	}
	if g.failed != nil {
		g.failed()
	}
	return ended, err
}

// heldWrites holds the processor's writes of a job of one status until release is closed.
type heldWrites struct {
	store.Store
	status  store.JobStatus
	release chan struct{}
}

func (h heldWrites) hold(job store.Job) {
	if job.Status == h.status {
		<-h.release
	}
}

func (h heldWrites) PutJob(ctx context.Context, job store.Job, ttl time.Duration) error {
	h.hold(job)
	return h.Store.PutJob(ctx, job, ttl)
}

func (h heldWrites) PutUnlessAnswered(ctx context.Context, job store.Job, ttl time.Duration) (store.Job, bool, error) {
	h.hold(job)
	return h.Store.PutUnlessAnswered(ctx, job, ttl)
}

// results tells the id of each result the processor replies with.
type results struct {
	message.Publisher
	ids chan string
}

func (r results) Publish(topic string, msgs ...*message.Message) error {
	err := r.Publisher.Publish(topic, msgs...)
	for _, m := range msgs { // a reply's message is named by its job and type
		if id, ok := strings.CutSuffix(m.UUID, "."+messages.ReplyResult); ok {
			r.ids <- id
		}
	}
	return err
}

// A fit or forecast whose publishing failed although a processor had the command keeps the
// processor's answer: the client gets it and the job's record is not overwritten with the
// gateway's failure.
func TestUnconfirmedCommandThatRanKeepsItsAnswer(t *testing.T) {
	st := store.NewMemory()
	t.Cleanup(func() { st.Close() })
	tried := make(chan string, 8)
	s := newAPIServer(t, apiOption{store: st,
		gwPub: func(p message.Publisher) message.Publisher { return unconfirmed{Publisher: p, until: answered(st)} },
		wrap:  func(gw store.Store) store.Store { return gatewayAnswers{Store: gw, tried: tried} },
	})
	for _, c := range []struct {
		path, body   string
		gatewayTries bool // whether the gateway tries to record its failure
	}{
		// The fit has ended when the gateway learns its publish failed, so the gateway leaves
		// its answer to the processor; the forecast's failure the gateway records unless
		// answered.
		{"/v1/models/m/fit", `{"values":[1,2,3,4,5,6,7,8,9,10],"method":"naive"}`, false},
		{"/v1/models/m/forecast", `{"horizon":2}`, true},
	} {
		code, env := s.send(t, "POST", c.path, "application/json", []byte(c.body))
		if code != http.StatusOK || string(env.Data["generation"]) != "1" {
			t.Fatalf("POST %s: %d %+v; want the processor's answer", c.path, code, env)
		}
		id := strings.Trim(string(env.Data["job_id"]), `"`)
		if !c.gatewayTries {
			// The gateway decided before it answered the client.
			select {
			case got := <-tried:
				t.Fatalf("POST %s: the gateway tried to record an answer of job %s", c.path, got)
			default:
			}
			continue
		}
		// The reply may answer the client before the gateway records its failure: wait for it.
		select {
		case got := <-tried:
			if got != id {
				t.Fatalf("POST %s: the gateway recorded an answer of job %s, want %s", c.path, got, id)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("POST %s: the gateway recorded no failure", c.path)
		}
		job, err := st.GetJob(t.Context(), id)
		if err != nil || job.Status != store.JobSucceeded {
			t.Errorf("POST %s: job record %+v, %v; want succeeded", c.path, job, err)
		}
	}
}

// An unconfirmed fit that a processor also had gets one answer, whichever of the two ends it:
// the client's answer, the job record and the fit record all tell the same outcome.
func TestUnconfirmedFitHasOneAnswer(t *testing.T) {
	const fit = `{"values":[1,2,3,4,5,6,7,8,9,10],"method":"naive"}`
	fitOf := func(st store.Store) store.FitRecord {
		t.Helper()
		f, err := st.Fit(t.Context(), "m", 1)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}

	processorFirst := func(t *testing.T, broken bool) {
		// The processor has completed the fit, but not recorded its answer, when the gateway
		// learns that its publish failed.
		st := store.NewMemory()
		t.Cleanup(func() { st.Close() })
		gatewayFailed := make(chan struct{})
		var once sync.Once
		s := newAPIServer(t, apiOption{store: st,
			gwPub: func(p message.Publisher) message.Publisher {
				return unconfirmed{Publisher: p, until: func(string) bool { return fitOf(st).Status == store.FitSucceeded }}
			},
			wrap: func(gw store.Store) store.Store {
				return gatewayAnswers{Store: gw, tried: make(chan string, 8), failed: func() { once.Do(func() { close(gatewayFailed) }) }, broken: broken}
			},
			procSt: func(p store.Store) store.Store {
				return heldWrites{Store: p, status: store.JobSucceeded, release: gatewayFailed}
			},
		})
		code, env := s.send(t, "POST", "/v1/models/m/fit", "application/json", []byte(fit))
		if code != http.StatusOK || string(env.Data["generation"]) != "1" {
			t.Fatalf("POST fit: %d %+v; want the processor's success", code, env)
		}
		job, err := st.GetJob(t.Context(), fitOf(st).JobID)
		if err != nil || job.Status != store.JobSucceeded {
			t.Errorf("job record %+v, %v; want succeeded", job, err)
		}
		if _, err := st.Current(t.Context(), "m"); err != nil {
			t.Errorf("the model has no current generation: %v", err)
		}
	}
	t.Run("the processor ends it first", func(t *testing.T) { processorFirst(t, false) })
	// The gateway's FailFit fails: the fit's record says a processor completed it.
	t.Run("the processor ends it first, the store cannot say", func(t *testing.T) { processorFirst(t, true) })

	t.Run("the gateway ends it first", func(t *testing.T) {
		// A processor has claimed the fit, but not recorded it running, when the gateway learns
		// that its publish failed.
		st := store.NewMemory()
		t.Cleanup(func() { st.Close() })
		gatewayAnswered := make(chan struct{})
		var once sync.Once
		tried := make(chan string, 8)
		replied := make(chan string, 8)
		s := newAPIServer(t, apiOption{store: st,
			gwPub: func(p message.Publisher) message.Publisher {
				return unconfirmed{Publisher: p, until: func(string) bool { return fitOf(st).Owner != "" }}
			},
			wrap: func(gw store.Store) store.Store { return gatewayAnswers{Store: gw, tried: tried} },
			procSt: func(p store.Store) store.Store {
				return heldWrites{Store: p, status: store.JobRunning, release: gatewayAnswered}
			},
			procPub: func(p message.Publisher) message.Publisher { return results{Publisher: p, ids: replied} },
		})
		go func() {
			<-tried
			once.Do(func() { close(gatewayAnswered) })
		}()
		code, env := s.send(t, "POST", "/v1/models/m/fit", "application/json", []byte(fit))
		if code != http.StatusServiceUnavailable {
			t.Fatalf("POST fit: %d %+v; want the gateway's 503", code, env)
		}
		id := fitOf(st).JobID
		// Let the processor finish with the command: it replies with its answer at the end.
		for got := ""; got != id; {
			select {
			case got = <-replied:
			case <-time.After(10 * time.Second):
				t.Fatal("the processor did not answer the fit")
			}
		}
		job, err := st.GetJob(t.Context(), id)
		var f messages.Failure
		if err == nil {
			err = json.Unmarshal(job.Error, &f)
		}
		if err != nil || job.Status != store.JobFailed || f.Code != messages.CodeUnavailable {
			t.Errorf("job record %s %s (%v); want the gateway's failure, unavailable", job.Status, job.Error, err)
		}
		if got := fitOf(st); got.Status != store.FitFailed {
			t.Errorf("fit record %+v; want failed", got)
		}
		if cur, err := st.Current(t.Context(), "m"); err == nil {
			t.Errorf("the model has generation %d current; want none", cur.Generation)
		}
	})
}

// swallowed takes commands without publishing them: fail, the broker refused them; otherwise
// they are confirmed and sit in a queue no processor reads.
type swallowed struct {
	message.Publisher
	fail bool
}

func (s swallowed) Publish(topic string, msgs ...*message.Message) error {
	if messages.GatewayOfReplyTopic(topic) != "" {
		return s.Publisher.Publish(topic, msgs...)
	}
	if s.fail {
		return errors.New("the broker refused the command")
	}
	return nil
}

// A fit whose command never reached the queue expires within the accept window, however its
// ending went: here the broker refused it and the store could not be told (FailFit failed), so
// the fit stays pending, and the forecasts of its model wait for it until it expires. A fit
// whose command is in the queue has its whole queue lease.
func TestUnpublishedFitExpiresWithinTheAcceptWindow(t *testing.T) {
	const fit = `{"values":[1,2,3,4,5,6,7,8,9,10],"method":"naive"}`
	const queueLease = 15 * time.Minute
	for _, tc := range []struct {
		name      string
		refused   bool
		code      int
		expiresIn time.Duration // at most, from acceptance
		atLeast   time.Duration
	}{
		{"refused, the store unreachable", true, http.StatusServiceUnavailable, 2 * messages.PublishTimeout, 0},
		{"in the queue", false, http.StatusAccepted, queueLease + time.Minute, queueLease - time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := store.NewMemory()
			t.Cleanup(func() { st.Close() })
			s := newAPIServer(t, apiOption{store: st,
				cfg:   func(c *gateway.Config) { c.FitQueueLease = queueLease },
				gwPub: func(p message.Publisher) message.Publisher { return swallowed{Publisher: p, fail: tc.refused} },
				wrap: func(gw store.Store) store.Store {
					return gatewayAnswers{Store: gw, tried: make(chan string, 8), broken: true}
				},
			})
			code, env := s.sendWith(t, "POST", "/v1/models/m/fit", "application/json", []byte(fit), "Prefer", "respond-async")
			if code != tc.code {
				t.Fatalf("POST fit: %d %+v; want %d", code, env, tc.code)
			}
			f, err := st.Fit(t.Context(), "m", 1)
			if err != nil || f.Status != store.FitPending {
				t.Fatalf("fit: %+v %v; want it pending", f, err)
			}
			if in := f.ExpiresAt.Sub(f.AcceptedAt); in > tc.expiresIn || in < tc.atLeast {
				t.Errorf("the fit expires %s after its acceptance; want %s to %s", in, tc.atLeast, tc.expiresIn)
			}
		})
	}
}
