package broker

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	wamqp "github.com/ThreeDotsLabs/watermill-amqp/v3/pkg/amqp"
	"github.com/ThreeDotsLabs/watermill/message"
	amqp "github.com/rabbitmq/amqp091-go"
)

// publisherChannels is how many confirming channels a publisher spreads its messages over.
// Confirms are pipelined on each, so this is not a bound on messages in flight.
const publisherChannels = 4

var (
	errPublisherClosed = errors.New("amqp publisher closed")
	errNotConnected    = errors.New("amqp publisher: not connected to rabbitmq")
)

// confirmPublisher publishes each message persistent (by the marshaler) and returns once
// RabbitMQ has confirmed it, like watermill-amqp's publisher with ConfirmDelivery; but it does
// not hold a channel while it waits. Each Publish sends with PublishWithDeferredConfirm and waits
// for its own confirm, so many callers' messages are in flight on a channel at once instead of
// one confirm after another. A nack, or a channel closed before the confirm came, fails the
// Publish that sent the message; a closed channel is replaced by the next Publish.
type confirmPublisher struct {
	conn      *wamqp.ConnectionWrapper
	topo      Topology
	marshaler wamqp.Marshaler
	slots     []*pubChannel
	next      atomic.Uint32
	closed    atomic.Bool
}

// pubChannel is one confirming channel, reopened when it closes.
type pubChannel struct {
	mu     sync.Mutex
	ch     *amqp.Channel
	closed bool // the publisher is closed: open no more
}

func newConfirmPublisher(conn *wamqp.ConnectionWrapper, topo Topology, channels int) *confirmPublisher {
	p := &confirmPublisher{conn: conn, topo: topo, marshaler: marshaler{}}
	for range max(channels, 1) {
		p.slots = append(p.slots, &pubChannel{})
	}
	return p
}

// channel returns an open confirming channel of s, opening one if needed.
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
	if err := ch.Confirm(false); err != nil {
		_ = ch.Close()
		return nil, fmt.Errorf("confirm mode: %w", err)
	}
	s.ch = ch
	return ch, nil
}

// Publish sends msgs to topic's exchange, in order, and waits for every confirm.
func (p *confirmPublisher) Publish(topic string, msgs ...*message.Message) error {
	if p.closed.Load() {
		return errPublisherClosed
	}
	if !p.conn.IsConnected() {
		return errNotConnected
	}
	slot := p.slots[int(p.next.Add(1))%len(p.slots)]
	ch, err := slot.channel(p.conn.Connection())
	if err != nil {
		return fmt.Errorf("amqp publisher: %w", err)
	}
	exchange, key := p.topo.Exchange(topic), p.topo.RoutingKey(topic)
	pending := make([]*amqp.DeferredConfirmation, 0, len(msgs))
	for _, msg := range msgs {
		pub, err := p.marshaler.Marshal(msg)
		if err != nil {
			return fmt.Errorf("marshal message %s: %w", msg.UUID, err)
		}
		dc, err := ch.PublishWithDeferredConfirm(exchange, key, false, false, pub)
		if err != nil {
			return fmt.Errorf("publish message %s: %w", msg.UUID, err)
		}
		pending = append(pending, dc)
	}
	for i, dc := range pending {
		ok, err := dc.WaitContext(msgs[i].Context())
		switch {
		case err != nil:
			return fmt.Errorf("confirm of message %s: %w", msgs[i].UUID, err)
		case ok:
		case ch.IsClosed():
			return fmt.Errorf("message %s not confirmed: channel closed", msgs[i].UUID)
		default:
			return fmt.Errorf("message %s nacked by rabbitmq", msgs[i].UUID)
		}
	}
	return nil
}

// Close refuses new messages and closes the channels, which fails the Publish calls still
// waiting for confirms (they would otherwise wait on a broker that may never answer).
func (p *confirmPublisher) Close() error {
	if p.closed.Swap(true) {
		return nil
	}
	var errs []error
	for _, s := range p.slots {
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
