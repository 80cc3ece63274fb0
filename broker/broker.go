// Package broker builds the watermill publisher and subscribers the gateway and processors talk
// through: RabbitMQ (watermill-amqp) when an AMQP URL is configured, or watermill's in-process
// GoChannel otherwise. It maps the topics of package messages onto the exchanges and queues that
// deploy/rabbitmq/definitions.json declares; the services declare none of them, except each
// gateway's own transient reply queue.
package broker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wamqp "github.com/ThreeDotsLabs/watermill-amqp/v3/pkg/amqp"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/forecastd/forecastd/messages"
)

// DefaultPrefix starts the name of every RabbitMQ object, as declared in
// deploy/rabbitmq/definitions.json.
const DefaultPrefix = "forecastd"

// Topology names the RabbitMQ objects for one prefix: <prefix>.commands, <prefix>.replies and
// <prefix>.dlx exchanges; <prefix>.fit, <prefix>.forecast, <prefix>.batch, <prefix>.dead,
// <prefix>.dead-lettered and per-gateway <prefix>.replies.<gateway> queues. Production uses
// DefaultPrefix; tests use their own so that concurrent runs never consume each other's
// commands.
type Topology struct{ Prefix string }

func (t Topology) prefix() string {
	if t.Prefix == "" {
		return DefaultPrefix
	}
	return t.Prefix
}

// Exchange maps a topic to its exchange.
func (t Topology) Exchange(topic string) string {
	switch {
	case messages.GatewayOfReplyTopic(topic) != "":
		return t.prefix() + ".replies"
	case topic == messages.TopicDead:
		return t.prefix() + ".dlx"
	}
	return t.prefix() + ".commands"
}

// RoutingKey maps a topic to its routing key: the gateway id for replies, the topic itself
// for commands.
func (t Topology) RoutingKey(topic string) string {
	if gw := messages.GatewayOfReplyTopic(topic); gw != "" {
		return gw
	}
	return topic
}

// Queue maps a topic to the queue its consumers read.
func (t Topology) Queue(topic string) string {
	if gw := messages.GatewayOfReplyTopic(topic); gw != "" {
		return t.prefix() + ".replies." + gw
	}
	return t.prefix() + "." + topic
}

// Broker holds one publisher and the means to subscribe, over one transport.
type Broker struct {
	Publisher message.Publisher
	// Commands consumes the durable command queues (competing consumers).
	Commands message.Subscriber
	// Replies consumes a gateway's own reply queue.
	Replies message.Subscriber

	conn    *wamqp.ConnectionWrapper // consuming; nil for GoChannel
	pubConn *wamqp.ConnectionWrapper // publishing
	topo    Topology
	close   func() error
}

// NewInProcess returns a broker over watermill's GoChannel: everything in one process.
//
// Replies go through a GoChannel of their own whose Publish returns once the gateway has taken
// the reply: GoChannel hands each message to its subscriber from a goroutine of its own, so
// without that wait a job's progress could overtake its result (and be dropped as late).
// Commands do not wait: their consumers ack only when the work is done.
func NewInProcess(logger watermill.LoggerAdapter) *Broker {
	cmds := gochannel.NewGoChannel(gochannel.Config{OutputChannelBuffer: 256}, logger)
	replies := gochannel.NewGoChannel(gochannel.Config{OutputChannelBuffer: 256, BlockPublishUntilSubscriberAck: true}, logger)
	return &Broker{
		Publisher: inProcessPublisher{commands: cmds, replies: replies}, Commands: cmds, Replies: replies,
		close: func() error { return errors.Join(cmds.Close(), replies.Close()) },
	}
}

// inProcessPublisher publishes replies through one publisher and commands through the other.
type inProcessPublisher struct{ commands, replies message.Publisher }

func (p inProcessPublisher) Publish(topic string, msgs ...*message.Message) error {
	if messages.GatewayOfReplyTopic(topic) != "" {
		return p.replies.Publish(topic, msgs...)
	}
	return p.commands.Publish(topic, msgs...)
}

// Close is the broker's: both publishers are its GoChannels.
func (inProcessPublisher) Close() error { return nil }

// NewAMQP connects to RabbitMQ at url with the default topology: one node's URL, or a
// comma-separated list of a cluster's nodes (see ParseNodes), each connection made to the first
// node that answers. It fails if no node can be reached now; after that each connection
// reconnects by itself, to another node when its own is gone.
func NewAMQP(url string, prefetch int, logger watermill.LoggerAdapter, opts ...Option) (*Broker, error) {
	return NewAMQPTopology(url, Topology{}, prefetch, logger, opts...)
}

// Option adjusts an AMQP broker.
type Option func(*options)

type options struct{ bundleMax int }

// WithBundleMax sets how many forecast commands or replies one AMQP message may carry (see
// bundle.go); 1 sends every message on its own, as releases before bundles did, which a
// rolling upgrade from them needs until every gateway and processor reads bundles.
func WithBundleMax(n int) Option { return func(o *options) { o.bundleMax = n } }

// NewAMQPTopology is NewAMQP with the objects of topo.
func NewAMQPTopology(url string, topo Topology, prefetch int, logger watermill.LoggerAdapter, opts ...Option) (*Broker, error) {
	o := options{bundleMax: DefaultBundleMax}
	for _, opt := range opts {
		opt(&o)
	}
	nodes, err := ParseNodes(url)
	if err != nil {
		return nil, err
	}
	connCfg := nodes.connectionConfig()
	// Publishing and consuming get a connection each: RabbitMQ blocks a publishing connection
	// under memory or disk alarms, which must not stall acks and replies being consumed.
	conn, err := wamqp.NewConnection(connCfg, logger)
	if err != nil {
		return nil, fmt.Errorf("connect to rabbitmq: %w", err)
	}
	pubConn, err := wamqp.NewConnection(connCfg, logger)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("connect to rabbitmq: %w", err), conn.Close())
	}
	base := commandConfig(connCfg, topo, prefetch)
	pub := newConfirmPublisher(pubConn, topo, publisherChannels, o.bundleMax)
	fits, err := wamqp.NewSubscriberWithConnection(base, logger, conn)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("amqp command subscriber: %w", err), conn.Close(), pubConn.Close())
	}
	forecastCfg := base
	forecastCfg.Consume.Qos.PrefetchCount = max(prefetch, forecastPrefetch)
	forecasts, err := wamqp.NewSubscriberWithConnection(forecastCfg, logger, conn)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("amqp command subscriber: %w", err), conn.Close(), pubConn.Close())
	}
	// Batch series have consumers of their own, one series at a time each, so that a batch
	// thousands of series long never delays an interactive fit.
	batchCfg := base
	batchCfg.Consume.Qos.PrefetchCount = max(prefetch, batchPrefetch)
	batches, err := wamqp.NewSubscriberWithConnection(batchCfg, logger, conn)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("amqp command subscriber: %w", err), conn.Close(), pubConn.Close())
	}
	cmds := byTopic{messages.TopicForecast: unbundling{Subscriber: forecasts, log: logger, resend: pub.resend}, messages.TopicFit: fits, messages.TopicBatch: batches,
		messages.TopicDeadLettered: fits}
	replyCfg := base
	// Replies are worth nothing once the gateway that waits for them is gone.
	replyCfg.Queue = wamqp.QueueConfig{GenerateName: topo.Queue, AutoDelete: true, Exclusive: true}
	// A gateway's one consumer handles a reply in microseconds: prefetching one at a time, it
	// would wait a broker round trip between replies.
	replyCfg.Consume.Qos.PrefetchCount = replyPrefetch
	replyCfg.TopologyBuilder = declareReplyQueue{prefix: topo.prefix() + ".replies."}
	replies, err := wamqp.NewSubscriberWithConnection(replyCfg, logger, conn)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("amqp reply subscriber: %w", err), conn.Close(), pubConn.Close())
	}
	return &Broker{
		Publisher: pub, Commands: cmds, Replies: unbundling{Subscriber: replies, log: logger}, conn: conn, pubConn: pubConn, topo: topo,
		close: func() error {
			return errors.Join(pub.Close(), fits.Close(), forecasts.Close(), batches.Close(), replies.Close(), pubConn.Close(), conn.Close())
		},
	}, nil
}

// Prefetch counts beyond the one given to NewAMQP (for fits: a fit waits on its consumer for
// the one before it, so each consumer takes one at a time). A forecast takes a millisecond or
// so, and its consumer should not wait a broker round trip for the next one; nor should a
// batch's, whose series are independent (a processor that dies holding a few unstarted ones
// costs only their redelivery).
const (
	forecastPrefetch = 4
	batchPrefetch    = 4
	replyPrefetch    = 256
)

// byTopic is a subscriber made of one subscriber per topic.
type byTopic map[string]message.Subscriber

func (b byTopic) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	sub, ok := b[topic]
	if !ok {
		return nil, fmt.Errorf("no subscriber for topic %q", topic)
	}
	return sub.Subscribe(ctx, topic)
}

// Close closes nothing: the broker closes the subscribers.
func (b byTopic) Close() error { return nil }

// commandConfig is the watermill-amqp configuration of the publisher and the command
// subscriber: topo's names, our marshaler, publisher confirms, and no declarations.
func commandConfig(connCfg wamqp.ConnectionConfig, topo Topology, prefetch int) wamqp.Config {
	return wamqp.Config{
		Connection: connCfg,
		Marshaler:  marshaler{},
		Exchange:   wamqp.ExchangeConfig{GenerateName: topo.Exchange, Type: "topic", Durable: true},
		Queue:      wamqp.QueueConfig{GenerateName: topo.Queue, Durable: true},
		QueueBind:  wamqp.QueueBindConfig{GenerateRoutingKey: topo.RoutingKey},
		Publish: wamqp.PublishConfig{
			GenerateRoutingKey: topo.RoutingKey,
			ConfirmDelivery:    true, // a command the client was told is accepted is on disk
			ChannelPoolSize:    8,
		},
		Consume: wamqp.ConsumeConfig{
			Qos: wamqp.QosConfig{PrefetchCount: max(prefetch, 1)},
		},
		TopologyBuilder: declareNothing{},
	}
}

// Ready checks the transport: connected, and the command queues declared by the definitions
// file exist (a missing definitions import would otherwise drop every command silently).
func (b *Broker) Ready(ctx context.Context) error {
	if b.conn == nil {
		return nil
	}
	if !b.conn.IsConnected() || !b.pubConn.IsConnected() {
		return errors.New("rabbitmq: not connected")
	}
	done := make(chan error, 1)
	go func() {
		ch, err := b.conn.Connection().Channel()
		if err != nil {
			done <- fmt.Errorf("rabbitmq: open channel: %w", err)
			return
		}
		defer ch.Close()
		for _, topic := range []string{messages.TopicFit, messages.TopicForecast, messages.TopicBatch, messages.TopicDeadLettered} {
			if _, err := ch.QueueDeclarePassive(b.topo.Queue(topic), true, false, false, false, nil); err != nil {
				done <- fmt.Errorf("rabbitmq: queue %s missing (import deploy/rabbitmq/definitions.json): %w", b.topo.Queue(topic), err)
				return
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("rabbitmq: %w", ctx.Err())
	case <-time.After(5 * time.Second):
		return errors.New("rabbitmq: readiness check timed out")
	}
}

// Close closes the publisher, the subscribers and the connection.
func (b *Broker) Close() error { return b.close() }

// declareNothing leaves the topology to the definitions file.
type declareNothing struct{}

func (declareNothing) ExchangeDeclare(*amqp.Channel, string, wamqp.Config) error { return nil }
func (declareNothing) BuildTopology(*amqp.Channel, wamqp.BuildTopologyParams, wamqp.Config, watermill.LoggerAdapter) error {
	return nil
}

// declareReplyQueue declares a gateway's transient reply queue and binds it to the replies
// exchange, which itself comes from the definitions file.
type declareReplyQueue struct{ prefix string }

func (declareReplyQueue) ExchangeDeclare(*amqp.Channel, string, wamqp.Config) error { return nil }
func (d declareReplyQueue) BuildTopology(ch *amqp.Channel, p wamqp.BuildTopologyParams, c wamqp.Config, _ watermill.LoggerAdapter) error {
	if !strings.HasPrefix(p.QueueName, d.prefix) {
		return fmt.Errorf("reply subscriber used for non-reply topic %q", p.Topic)
	}
	if _, err := ch.QueueDeclare(p.QueueName, false, true, true, false, nil); err != nil {
		return fmt.Errorf("declare reply queue: %w", err)
	}
	if err := ch.QueueBind(p.QueueName, p.RoutingKey, p.ExchangeName, false, nil); err != nil {
		return fmt.Errorf("bind reply queue: %w", err)
	}
	return nil
}
