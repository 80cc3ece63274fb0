package integration

import (
	"net/http"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/forecastd/forecastd/messages"
	"github.com/forecastd/forecastd/store"
)

// deadLetters returns what has arrived in the cluster's dead-letter queue so far.
func (c *cluster) deadLetters() []amqp.Delivery {
	c.t.Helper()
	ch, closeConn := c.amqpChannel()
	defer closeConn()
	var out []amqp.Delivery
	for {
		d, ok, err := ch.Get(c.topo.Queue("dead"), true)
		if err != nil {
			c.t.Fatalf("read dead-letter queue: %v", err)
		}
		if !ok {
			return out
		}
		out = append(out, d)
	}
}

// A command that crashes every processor that takes it is redelivered up to the queue's
// delivery limit, then dead-lettered; the client is told the fit failed, and the fit ends so
// nothing waits for it.
func TestCrashingCommandIsDeadLetteredAndAnswered(t *testing.T) {
	c := newCluster(t, 2)
	r := c.do("POST", "/v1/models/poison/fit", map[string]any{"values": series(crashKey, 20), "method": "naive"})
	if r.Code != http.StatusInternalServerError || r.Status != "error" || !strings.Contains(r.Message, "dead-lettered") {
		t.Fatalf("crashing fit: %d %s %q; want a 500 JSend error saying it was dead-lettered", r.Code, r.Status, r.Message)
	}
	fr, err := c.store.Fit(t.Context(), "poison", 1)
	if err != nil || fr.Status != store.FitFailed {
		t.Fatalf("fit record = %+v (%v), want failed", fr, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	var dead []amqp.Delivery
	for len(dead) == 0 && time.Now().Before(deadline) {
		dead = c.deadLetters()
		time.Sleep(100 * time.Millisecond)
	}
	if len(dead) != 1 || !strings.Contains(string(dead[0].Body), `"model":"poison"`) {
		t.Fatalf("dead-letter queue holds %d messages; want the one fit command", len(dead))
	}
	// The service goes on.
	c.fitNow("poison", series(1, 20))
}

// A malformed command never reaches a handler twice: the poison-queue middleware moves it to the
// dead-letter queue with the reason.
func TestMalformedCommandIsDeadLetteredWithReason(t *testing.T) {
	c := newCluster(t, 1)
	c.publishCommand(messages.TopicFit, []byte("not json at all"))
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if dead := c.deadLetters(); len(dead) > 0 {
			reason, _ := dead[0].Headers["reason_poisoned"].(string)
			if string(dead[0].Body) != "not json at all" || !strings.Contains(reason, "malformed") {
				t.Fatalf("dead letter %q with reason %q", dead[0].Body, reason)
			}
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("the malformed command never reached the dead-letter queue")
}

// A fit whose every delivery ended unanswered (its processor killed each time; here a consumer
// that hands every delivery back) is dead-lettered by RabbitMQ after the delivery limit, and a
// processor answers it from there: the client learns the fit failed, and the fit ends,
// releasing the forecast held behind it, instead of staying pending until its queue lease runs
// out (15 min). The command stays in the dead-letter queue for inspection.
func TestFitDeadLetteredUnansweredIsAnswered(t *testing.T) {
	c := newCluster(t, 0)
	fitID, _ := c.fitAsync("m", series(1, 20))
	r := c.do("POST", "/v1/models/m/forecast", map[string]any{"horizon": 3}, "Prefer", "respond-async")
	if r.Code != http.StatusAccepted {
		t.Fatalf("async forecast: %d %s", r.Code, r.Message)
	}
	var fc jobData
	r.decode(t, &fc)

	ch, closeConn := c.amqpChannel()
	deliveries, err := ch.Consume(c.topo.Queue(messages.TopicFit), "", false, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	handedBack := 0
	for done := false; !done; {
		select {
		case d := <-deliveries:
			handedBack++
			if err := d.Nack(false, true); err != nil {
				t.Fatal(err)
			}
		case <-time.After(2 * time.Second):
			done = true
		}
	}
	closeConn()
	if handedBack != 6 {
		t.Errorf("the fit command was delivered %d times; want 6 (the queue's delivery limit is 5)", handedBack)
	}

	c.addProcessor()
	if j := c.waitJob(fitID, "failed"); j.Status != "failed" {
		t.Fatalf("fit job %+v; want failed", j)
	}
	r = c.do("GET", "/v1/jobs/"+fitID, nil)
	if !strings.Contains(string(r.Data), "dead-lettered") {
		t.Errorf("fit job %s; want it to say the fit was dead-lettered", r.Data)
	}
	if fr, err := c.store.Fit(t.Context(), "m", 1); err != nil || fr.Status != store.FitFailed {
		t.Errorf("fit record %+v (%v); want failed", fr, err)
	}
	// Released, the forecast is answered: there is no model to forecast with.
	c.waitJob(fc.JobID, "failed", "succeeded")
	if dead := c.deadLetters(); len(dead) != 1 {
		t.Errorf("dead-letter queue holds %d messages; want the fit command", len(dead))
	}
}
