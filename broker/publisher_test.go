package broker

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wamqp "github.com/ThreeDotsLabs/watermill-amqp/v3/pkg/amqp"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"
)

// publisherRig is a confirmPublisher on a topology of the test's own: the command exchange and
// the fit topic's queue, declared with args, deleted when the test ends.
type publisherRig struct {
	pub   *confirmPublisher
	ch    *amqp.Channel
	queue string
}

func newPublisherRig(t *testing.T, args amqp.Table) publisherRig {
	t.Helper()
	conn := dialRabbitMQ(t)
	t.Cleanup(func() { conn.Close() })
	topo := Topology{Prefix: "fdtest-pub-" + uuid.NewString()[:8]}
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	exchange, queue := topo.Exchange("fit"), topo.Queue("fit")
	t.Cleanup(func() {
		ch, err := conn.Channel()
		if err != nil {
			t.Errorf("channel to delete %s: %v", queue, err)
			return
		}
		if _, err := ch.QueueDelete(queue, false, false, false); err != nil {
			t.Errorf("delete %s: %v", queue, err)
		}
		if err := ch.ExchangeDelete(exchange, false, false); err != nil {
			t.Errorf("delete %s: %v", exchange, err)
		}
	})
	if err := ch.ExchangeDeclare(exchange, "topic", true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := ch.QueueDeclare(queue, true, false, false, false, args); err != nil {
		t.Fatal(err)
	}
	if err := ch.QueueBind(queue, topo.RoutingKey("fit"), exchange, false, nil); err != nil {
		t.Fatal(err)
	}
	pubConn, err := wamqp.NewConnection(wamqp.ConnectionConfig{AmqpURI: amqpURL, Reconnect: wamqp.DefaultReconnectConfig()}, watermill.NopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	pub := newConfirmPublisher(pubConn, topo, 2)
	t.Cleanup(func() { pub.Close(); pubConn.Close() })
	return publisherRig{pub: pub, ch: ch, queue: queue}
}

// publishAll publishes n messages to topic from n goroutines at once and returns each one's
// error by its index.
func (r publisherRig) publishAll(topic string, n int) []error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = r.pub.Publish(topic, message.NewMessage(fmt.Sprint(i), []byte(fmt.Sprintf(`{"i":%d}`, i))))
		}()
	}
	wg.Wait()
	return errs
}

func (r publisherRig) depth(t *testing.T) int {
	t.Helper()
	// Confirmed means enqueued; the count may lag a moment behind on a quorum queue.
	var q amqp.Queue
	var err error
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if q, err = r.ch.QueueDeclarePassive(r.queue, true, false, false, false, nil); err != nil {
			t.Fatal(err)
		}
		if q.Messages > 0 {
			break
		}
	}
	return q.Messages
}

// Many callers at once, a few channels: every Publish returns only after its message is
// confirmed, and every message is in the queue, persistent.
func TestPublisherConfirmsEveryMessage(t *testing.T) {
	r := newPublisherRig(t, amqp.Table{"x-queue-type": "quorum"})
	const n = 500
	for i, err := range r.publishAll("fit", n) {
		if err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
	}
	if got := r.depth(t); got != n {
		t.Fatalf("queue holds %d messages, want %d", got, n)
	}
	d, ok, err := r.ch.Get(r.queue, true)
	if err != nil || !ok || d.DeliveryMode != amqp.Persistent {
		t.Fatalf("first message: ok %v, delivery mode %d, err %v; want a persistent message", ok, d.DeliveryMode, err)
	}
}

// A queue that rejects publishes when full nacks every message but the first: exactly the
// callers whose messages were nacked get an error, and the one that got in gets nil.
func TestPublisherNackFailsItsCaller(t *testing.T) {
	r := newPublisherRig(t, amqp.Table{"x-max-length": int64(1), "x-overflow": "reject-publish"})
	const n = 40
	ok, nacked := 0, 0
	for i, err := range r.publishAll("fit", n) {
		switch {
		case err == nil:
			ok++
		case strings.Contains(err.Error(), "nacked"):
			nacked++
		default:
			t.Fatalf("publish %d: %v, want nil or a nack", i, err)
		}
	}
	if ok != 1 || nacked != n-1 {
		t.Fatalf("%d confirmed and %d nacked, want 1 and %d", ok, nacked, n-1)
	}
	if got := r.depth(t); got != 1 {
		t.Fatalf("queue holds %d messages, want the 1 confirmed", got)
	}
}

// A channel the broker closes (a publish to a missing exchange) fails the Publish that was
// waiting on it; the next Publish opens a new channel and is confirmed.
func TestPublisherClosedChannelFailsThenRecovers(t *testing.T) {
	r := newPublisherRig(t, amqp.Table{"x-queue-type": "quorum"})
	r.pub.topo.Prefix += "-missing" // every topic maps to an exchange that does not exist
	for range 2 {                   // one channel after the other gets closed
		if err := r.pub.Publish("fit", message.NewMessage("lost", []byte("{}"))); err == nil {
			t.Fatal("publish to a missing exchange succeeded")
		}
	}
	r.pub.topo.Prefix = strings.TrimSuffix(r.pub.topo.Prefix, "-missing")
	for i, err := range r.publishAll("fit", 10) {
		if err != nil {
			t.Fatalf("publish %d after the channels closed: %v", i, err)
		}
	}
	if got := r.depth(t); got != 10 {
		t.Fatalf("queue holds %d messages, want 10", got)
	}
}

// After Close, Publish fails instead of opening channels again.
func TestPublisherClosed(t *testing.T) {
	r := newPublisherRig(t, nil)
	if err := r.pub.Publish("fit", message.NewMessage("a", []byte("{}"))); err != nil {
		t.Fatal(err)
	}
	if err := r.pub.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.pub.Publish("fit", message.NewMessage("b", []byte("{}"))); err == nil {
		t.Fatal("publish after Close succeeded")
	}
}
