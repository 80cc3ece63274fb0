package broker

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	wamqp "github.com/ThreeDotsLabs/watermill-amqp/v3/pkg/amqp"
	"github.com/ThreeDotsLabs/watermill/message"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/forecastd/forecastd/internal/coalesce"
	"github.com/forecastd/forecastd/messages"
)

// flightBundles is how many bundles one flight of a bundled topic may send: a burst (a
// thousand held forecasts released at once) goes out as several bundles, published together
// and confirmed together, rather than one bundle per confirm.
const flightBundles = 4

// publisherChannels is how many confirming channels a publisher spreads its messages over.
// Confirms are pipelined on each, so this is not a bound on messages in flight.
const publisherChannels = 4

var (
	errPublisherClosed = errors.New("amqp publisher closed")
	errNotConnected    = errors.New("amqp publisher: not connected to rabbitmq")
)

// confirmPublisher publishes each message persistent (by the marshaler) and returns once
// RabbitMQ has confirmed it, like watermill-amqp's publisher with ConfirmDelivery; but it does
// not hold a channel while it waits. It sends with PublishWithDeferredConfirm and waits for the
// confirm, so many messages are in flight on a channel at once instead of one confirm after
// another; forecast commands published at the same moment go together as bundles (bundle.go).
// A nack, or a channel closed before the confirm came, fails the Publish that sent the message;
// a closed channel is replaced by the next Publish.
//
// Replies (topics of messages.ReplyTopic) are the exception: they go out on a channel of their
// own without confirms, and Publish returns once they are written. A reply is best effort — the
// job record in the store is the durable outcome, which the gateway reads when a reply does not
// come — and waiting for its confirm kept a processor's consumer from its next command for a
// broker round trip. One channel keeps a job's replies (progress, then result) in order.
type confirmPublisher struct {
	conn      *wamqp.ConnectionWrapper
	topo      Topology
	marshaler wamqp.Marshaler
	slots     []*pubChannel
	replies   *pubChannel // not in confirm mode
	next      atomic.Uint32
	closed    atomic.Bool
	bundleMax int // messages in one bundle; below 2, nothing is bundled
	// commands coalesces forecast commands, replyGroup replies to any gateway (bundle.go).
	commands, replyGroup *coalesce.Group[*outgoing]
}

// pubChannel is one channel, reopened when it closes; in confirm mode unless noConfirm.
type pubChannel struct {
	mu        sync.Mutex
	ch        *amqp.Channel
	noConfirm bool
	closed    bool // the publisher is closed: open no more
}

func newConfirmPublisher(conn *wamqp.ConnectionWrapper, topo Topology, channels, bundleMax int) *confirmPublisher {
	p := &confirmPublisher{conn: conn, topo: topo, marshaler: marshaler{}, replies: &pubChannel{noConfirm: true}, bundleMax: bundleMax}
	for range max(channels, 1) {
		p.slots = append(p.slots, &pubChannel{})
	}
	p.newGroups()
	return p
}

// channel returns an open channel of s, opening one if needed.
func (s *pubChannel) channel(conn *amqp.Connection) (*amqp.Channel, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errPublisherClosed
	}
	if s.ch != nil && !s.ch.IsClosed() {
		return s.ch, nil
	}
	ch, err := conn.Channel()
	if err != nil {
		return nil, fmt.Errorf("open channel: %w", err)
	}
	if !s.noConfirm {
		if err := ch.Confirm(false); err != nil {
			_ = ch.Close()
			return nil, fmt.Errorf("confirm mode: %w", err)
		}
	}
	s.ch = ch
	return ch, nil
}

// Publish sends msgs to topic's exchange, in order, and waits for every confirm; replies it
// only sends. Forecast commands and replies are sent together with other callers' (bundle.go).
func (p *confirmPublisher) Publish(topic string, msgs ...*message.Message) error {
	if p.closed.Load() {
		return errPublisherClosed
	}
	if !p.conn.IsConnected() {
		return errNotConnected
	}
	if len(msgs) == 0 {
		return nil
	}
	if g := p.group(topic); g != nil {
		o := &outgoing{topic: topic, msgs: msgs}
		if err := g.Do(msgs[0].Context(), o); err != nil {
			return err // the messages may still be sent
		}
		return o.err
	}
	return p.write(msgs[0].Context(), topic, msgs)
}

// outgoing is one Publish call's messages in a flight of a group, and its outcome.
type outgoing struct {
	topic string
	msgs  []*message.Message
	err   error
}

// group returns the coalescing group of topic, or nil: forecast commands (many, small, each a
// few milliseconds of a processor) and replies (to any gateway) are bundled; fits and batch
// series are not, since each should go to whichever processor is free, on its own.
func (p *confirmPublisher) group(topic string) *coalesce.Group[*outgoing] {
	switch {
	case p.bundleMax < 2:
		return nil
	case topic == messages.TopicForecast:
		return p.commands
	case messages.GatewayOfReplyTopic(topic) != "":
		return p.replyGroup
	}
	return nil
}

// newGroups makes the publisher's two groups. Each flies one flight at a time: what arrives
// while a flight waits for its confirms (or, for replies, is written) goes in the next one,
// which under load holds a confirm's worth of callers; more flights would send smaller bundles
// sooner, for more of the broker's work per message. It also keeps a job's replies in order.
func (p *confirmPublisher) newGroups() {
	p.commands = coalesce.New(1, p.bundleMax*flightBundles, p.flush)
	// A reply is only written, not confirmed, so its flight is too short for others to queue
	// behind it; but a processor's replies come in bursts (the forecasts of one bundle finish
	// together, when their job records' pipeline returns), and a yield lets the rest of the
	// burst join the flight.
	p.replyGroup = coalesce.New(1, p.bundleMax*flightBundles, p.flush).Linger(runtime.Gosched)
}

// flush sends one flight: its messages, by topic, as bundles of at most bundleMax, each caller
// getting the error of the bundles that carried its messages. Callers that stopped waiting
// before the flight began are told so and their messages not sent.
func (p *confirmPublisher) flush(items []*outgoing) {
	// The flight is everybody's: its confirms are awaited until every caller stopped waiting.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var waiting atomic.Int32
	waiting.Store(int32(len(items)))
	type part struct {
		msgs  []*message.Message
		owner []*outgoing
	}
	var topics []string
	parts := map[string]*part{}
	for _, o := range items {
		stop := context.AfterFunc(o.msgs[0].Context(), func() {
			if waiting.Add(-1) == 0 {
				cancel()
			}
		})
		defer stop()
		if err := o.msgs[0].Context().Err(); err != nil {
			o.err = err
			continue
		}
		pt := parts[o.topic]
		if pt == nil {
			pt = &part{}
			parts[o.topic] = pt
			topics = append(topics, o.topic)
		}
		for _, m := range o.msgs {
			pt.msgs = append(pt.msgs, m)
			pt.owner = append(pt.owner, o)
		}
	}
	for _, topic := range topics {
		pt := parts[topic]
		runs := splitBundles(pt.msgs, p.bundleMax)
		wire := make([]*message.Message, len(runs))
		for i, run := range runs {
			wire[i] = run[0]
			if len(run) > 1 {
				wire[i] = encodeBundle(run)
			}
		}
		at := 0
		for i, err := range p.writeEach(ctx, topic, wire) {
			if err != nil {
				for _, o := range pt.owner[at : at+len(runs[i])] {
					o.err = err
				}
			}
			at += len(runs[i])
		}
	}
}

// resendTimeout bounds how long a bundle's messages wait for their confirms when they are
// published again on their own.
const resendTimeout = 30 * time.Second

// resend publishes msgs on their own to topic, confirmed (unbundling.resend).
func (p *confirmPublisher) resend(ctx context.Context, topic string, msgs []*message.Message) error {
	ctx, cancel := context.WithTimeout(ctx, resendTimeout)
	defer cancel()
	return p.write(ctx, topic, msgs)
}

// write publishes msgs to topic: with confirms, waited for until ctx ends, or, for replies,
// without. It returns the first message's error.
func (p *confirmPublisher) write(ctx context.Context, topic string, msgs []*message.Message) error {
	for _, err := range p.writeEach(ctx, topic, msgs) {
		if err != nil {
			return err
		}
	}
	return nil
}

// writeEach is write with each message's own error: all are sent before any confirm is
// awaited, so the confirms of a flight's bundles come back together.
func (p *confirmPublisher) writeEach(ctx context.Context, topic string, msgs []*message.Message) []error {
	errs := make([]error, len(msgs))
	failFrom := func(i int, err error) []error {
		for ; i < len(msgs); i++ {
			errs[i] = err
		}
		return errs
	}
	exchange, key := p.topo.Exchange(topic), p.topo.RoutingKey(topic)
	reply := messages.GatewayOfReplyTopic(topic) != ""
	slot := p.replies
	if !reply {
		slot = p.slots[int(p.next.Add(1))%len(p.slots)]
	}
	ch, err := slot.channel(p.conn.Connection())
	if err != nil {
		return failFrom(0, fmt.Errorf("amqp publisher: %w", err))
	}
	// A message that cannot be sent fails with the rest after it; those sent before it are
	// still waited for, each answered by its own confirm.
	pending := make([]*amqp.DeferredConfirmation, 0, len(msgs))
	for i, msg := range msgs {
		pub, err := p.marshaler.Marshal(msg)
		if err != nil {
			failFrom(i, fmt.Errorf("marshal message %s: %w", msg.UUID, err))
			break
		}
		if reply {
			// Transient: the gateway's reply queue is itself transient (it goes with a broker
			// restart), so persistence would buy nothing, and it costs the broker (p50 about 270
			// against 335 µs a reply, docs/benchmarks.md).
			pub.DeliveryMode = amqp.Transient
			if err := ch.PublishWithContext(msg.Context(), exchange, key, false, false, pub); err != nil {
				failFrom(i, fmt.Errorf("publish message %s: %w", msg.UUID, err))
				break
			}
			continue
		}
		dc, err := ch.PublishWithDeferredConfirm(exchange, key, false, false, pub)
		if err != nil {
			failFrom(i, fmt.Errorf("publish message %s: %w", msg.UUID, err))
			break
		}
		pending = append(pending, dc)
	}
	for i, dc := range pending {
		ok, err := dc.WaitContext(ctx)
		switch {
		case err != nil:
			errs[i] = fmt.Errorf("confirm of message %s: %w", msgs[i].UUID, err)
		case ok:
		case ch.IsClosed():
			errs[i] = fmt.Errorf("message %s not confirmed: channel closed", msgs[i].UUID)
		default:
			errs[i] = fmt.Errorf("message %s nacked by rabbitmq", msgs[i].UUID)
		}
	}
	return errs
}

// Close refuses new messages and closes the channels, which fails the Publish calls still
// waiting for confirms (they would otherwise wait on a broker that may never answer).
func (p *confirmPublisher) Close() error {
	if p.closed.Swap(true) {
		return nil
	}
	var errs []error
	for _, s := range append(p.slots, p.replies) {
		s.mu.Lock()
		s.closed = true
		if s.ch != nil && !s.ch.IsClosed() {
			errs = append(errs, s.ch.Close())
		}
		s.mu.Unlock()
	}
	return errors.Join(errs...)
}

var _ message.Publisher = (*confirmPublisher)(nil)
