package gateway_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/forecastd/forecastd/store"
)

// unconfirmed publishes every command and then fails, as a publish fails whose confirm never
// came although RabbitMQ had the message: it returns once the processor has recorded the job's
// answer.
type unconfirmed struct {
	message.Publisher
	st store.Store
}

func (u unconfirmed) Publish(topic string, msgs ...*message.Message) error {
	if err := u.Publisher.Publish(topic, msgs...); err != nil {
		return err
	}
	for _, m := range msgs { // a command's message is named by its job
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			if j, err := u.st.GetJob(context.Background(), m.UUID); err == nil && j.Status.Answered() {
				break
			}
		}
	}
	return errors.New("the broker's confirm did not come")
}

// gatewayAnswers tells of each answer the gateway has tried to record, by job, once the store
// has returned.
type gatewayAnswers struct {
	store.Store
	tried chan string
}

func (g gatewayAnswers) PutAnswer(ctx context.Context, job store.Job, ttl time.Duration) (store.Job, bool, error) {
	prev, written, err := g.Store.PutAnswer(ctx, job, ttl)
	g.tried <- job.ID
	return prev, written, err
}

// A fit or forecast whose publishing failed although a processor had the command keeps the
// processor's answer: the client gets it and the job's record is not overwritten with the
// gateway's failure.
func TestUnconfirmedCommandThatRanKeepsItsAnswer(t *testing.T) {
	st := store.NewMemory()
	t.Cleanup(func() { st.Close() })
	tried := make(chan string, 8)
	s := newAPIServer(t, apiOption{store: st,
		gwPub: func(p message.Publisher) message.Publisher { return unconfirmed{Publisher: p, st: st} },
		wrap:  func(gw store.Store) store.Store { return gatewayAnswers{Store: gw, tried: tried} },
	})
	for _, c := range []struct{ path, body string }{
		{"/v1/models/m/fit", `{"values":[1,2,3,4,5,6,7,8,9,10],"method":"naive"}`},
		{"/v1/models/m/forecast", `{"horizon":2}`},
	} {
		code, env := s.send(t, "POST", c.path, "application/json", []byte(c.body))
		if code != http.StatusOK || string(env.Data["generation"]) != "1" {
			t.Fatalf("POST %s: %d %+v; want the processor's answer", c.path, code, env)
		}
		id := strings.Trim(string(env.Data["job_id"]), `"`)
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
