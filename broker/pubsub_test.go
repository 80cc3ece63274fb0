package broker

import (
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/ThreeDotsLabs/watermill"
	wamqp "github.com/ThreeDotsLabs/watermill-amqp/v3/pkg/amqp"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/tests"
	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"
)

var amqpURL = func() string {
	if u := os.Getenv("FORECASTD_TEST_AMQP_URL"); u != "" {
		return u
	}
	return "amqp://guest:guest@127.0.0.1:5672/"
}()

// dialRabbitMQ connects to the test broker, or skips (under CI=true: fails) without one.
func dialRabbitMQ(t *testing.T) *amqp.Connection {
	t.Helper()
	conn, err := amqp.Dial(amqpURL)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("rabbitmq required under CI=true: %s: %v", amqpURL, err)
		}
		t.Skipf("skipping: no rabbitmq at %s: %v (start it, or run .ci/run)", amqpURL, err)
	}
	return conn
}

// TestCommandsPassThePubSubSuite runs watermill's universal Pub/Sub suite over the command
// path as NewAMQPTopology builds it: the confirming publisher, commandConfig (our marshaler, the
// topology's topic → exchange, routing key and queue names), on a prefix of the test's own.
// In production the definitions file declares the command queues; here, where the suite
// invents its topics, suiteTopology declares each topic's queue as the definitions declare
// the fit queue, and the test deletes them all at the end.
//
// Features off, and why:
//   - ConsumerGroups: a topic has one queue, whose subscribers compete; that is what command
//     queues are for. There is nothing like a second group receiving every message too.
//   - ExactlyOnceDelivery: RabbitMQ delivers at least once; a processor that dies before its
//     ack gets its command redelivered (the store's generations make that harmless).
//   - NewSubscriberReceivesOldMessages: a consumed message is gone from the queue.
//   - RestartServiceCommand (TestReconnect): restarting the shared local broker would break the
//     other tests using it; integration/recovery_test.go and deploy/ cover reconnects.
//   - ContextPreserved: AMQP carries no Go context.
func TestCommandsPassThePubSubSuite(t *testing.T) {
	conn := dialRabbitMQ(t)
	topo := Topology{Prefix: "fdtest-broker-" + uuid.NewString()[:8]}
	decl := &suiteTopology{topo: topo}
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { decl.deleteAll(t) })
	// The one command exchange, as the definitions declare it.
	if err := ch.ExchangeDeclare(topo.Exchange("any"), "topic", true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	_ = conn.Close()

	connCfg := wamqp.ConnectionConfig{AmqpURI: amqpURL, Reconnect: wamqp.DefaultReconnectConfig()}
	newPubSub := func(t *testing.T) (message.Publisher, message.Subscriber) {
		cfg := commandConfig(connCfg, topo, 1)
		cfg.TopologyBuilder = decl
		log := watermill.NopLogger{}
		pubConn, err := wamqp.NewConnection(connCfg, log)
		if err != nil {
			t.Fatal(err)
		}
		pub := newConfirmPublisher(pubConn, topo, publisherChannels, DefaultBundleMax)
		sub, err := wamqp.NewSubscriber(cfg, log)
		if err != nil {
			t.Fatal(err)
		}
		decl.track(pub, sub, pubConn)
		return pub, sub
	}
	tests.TestPubSub(t, tests.Features{
		GuaranteedOrder:                     true,
		GuaranteedOrderWithSingleSubscriber: true,
		Persistent:                          true,
		// The long variants send many thousands of messages, each publish confirmed and each
		// consumer prefetching one, and take over ten minutes; the short ones take seconds.
		ForceShort: true,
	}, newPubSub, nil)
}

// suiteTopology declares the queue of each topic the suite uses, bound to the command
// exchange by the topology's routing key, and remembers what it declared so that the test
// can delete it. Once deleting has begun it declares nothing more, so that a subscriber still
// reconnecting cannot leave a queue behind.
type suiteTopology struct {
	topo Topology

	mu      sync.Mutex
	queues  map[string]bool
	closers []interface{ Close() error }
	done    bool
}

func (*suiteTopology) ExchangeDeclare(*amqp.Channel, string, wamqp.Config) error { return nil }

func (s *suiteTopology) BuildTopology(ch *amqp.Channel, p wamqp.BuildTopologyParams, _ wamqp.Config, _ watermill.LoggerAdapter) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return fmt.Errorf("test over: not declaring %s", p.QueueName)
	}
	if s.queues == nil {
		s.queues = map[string]bool{}
	}
	s.queues[p.QueueName] = true // before declaring: a half-done declaration is deleted too
	args := amqp.Table{"x-queue-type": "quorum"}
	if _, err := ch.QueueDeclare(p.QueueName, true, false, false, false, args); err != nil {
		return fmt.Errorf("declare %s: %w", p.QueueName, err)
	}
	return ch.QueueBind(p.QueueName, p.RoutingKey, p.ExchangeName, false, nil)
}

func (s *suiteTopology) track(cs ...interface{ Close() error }) {
	s.mu.Lock()
	s.closers = append(s.closers, cs...)
	s.mu.Unlock()
}

// deleteAll closes every publisher and subscriber the suite was given, then deletes the
// queues and the exchange on a connection of its own, and checks they are gone.
func (s *suiteTopology) deleteAll(t *testing.T) {
	s.mu.Lock()
	s.done = true
	closers, queues := s.closers, s.queues
	s.mu.Unlock()
	for _, c := range closers {
		_ = c.Close()
	}
	conn, err := amqp.Dial(amqpURL)
	if err != nil {
		t.Errorf("rabbitmq, to delete the suite's %d queues: %v", len(queues), err)
		return
	}
	defer conn.Close()
	del := func(what, name string, f func(*amqp.Channel) error) {
		ch, err := conn.Channel()
		if err != nil {
			t.Errorf("channel to delete %s %s: %v", what, name, err)
			return
		}
		defer ch.Close()
		if err := f(ch); err != nil {
			t.Errorf("delete %s %s: %v", what, name, err)
		}
	}
	for q := range queues {
		del("queue", q, func(ch *amqp.Channel) error { _, err := ch.QueueDelete(q, false, false, false); return err })
	}
	exchange := s.topo.Exchange("any")
	del("exchange", exchange, func(ch *amqp.Channel) error { return ch.ExchangeDelete(exchange, false, false) })
	for q := range queues {
		ch, err := conn.Channel()
		if err != nil {
			t.Errorf("channel to check %s is gone: %v", q, err)
			return
		}
		if _, err := ch.QueueDeclarePassive(q, true, false, false, false, nil); err == nil {
			t.Errorf("queue %s still exists after the test deleted it", q)
			_ = ch.Close()
		}
	}
}
