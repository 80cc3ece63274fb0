package broker

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/forecastd/forecastd/messages"
)

// Bundles: under load, the messages that callers publish to one topic at the same moment go
// to RabbitMQ as one AMQP message, a bundle, instead of one message each, and the subscribers
// take them apart again. RabbitMQ's work, the publisher confirm and a consumer's delivery and
// ack are then paid once per bundle instead of once per message: on a small machine, where
// the broker's work per message bounds the rate of forecast round trips, a bundle of n costs
// little more than one message. A message published alone goes as itself.
//
// A bundle is delivered as a bundle once. Its messages are handed to the handlers together;
// once all are settled, the bundle is acknowledged, after the ones that were rejected have
// been published again on their own. A bundle delivered again (its consumer died, or the
// connection dropped, before it was settled) is not handled: its messages are published again
// on their own and the bundle acknowledged. From there each message has its own delivery count
// for the queue's delivery limit and the processor's last-delivery answer, and a command that
// keeps failing is dead-lettered alone, as without bundles; a rejected message gets one
// delivery more than it would have had alone. Handlers of bundled topics must be idempotent
// (forecast commands replay their job record; a gateway drops a second reply to a job).

// bundleHeader marks a bundle and says how many messages it holds.
const bundleHeader = "x-forecastd-bundle"

// Bundle limits: a bundle holds at most bundleMaxBytes of payloads and metadata unless one
// message alone is bigger (it then goes alone).
const (
	DefaultBundleMax = 64
	bundleMaxBytes   = 1 << 20
)

var errBadBundle = errors.New("malformed bundle")

// encodeBundle packs msgs into one message: for each, its UUID, its metadata and its payload,
// each length-prefixed.
func encodeBundle(msgs []*message.Message) *message.Message {
	size := 0
	for _, m := range msgs {
		size += len(m.UUID) + len(m.Payload) + 16
		for k, v := range m.Metadata {
			size += len(k) + len(v) + 4
		}
	}
	b := make([]byte, 0, size)
	put := func(s []byte) []byte { return append(binary.AppendUvarint(b, uint64(len(s))), s...) }
	for _, m := range msgs {
		b = put([]byte(m.UUID))
		b = binary.AppendUvarint(b, uint64(len(m.Metadata)))
		for k, v := range m.Metadata {
			b = put([]byte(k))
			b = put([]byte(v))
		}
		b = put(m.Payload)
	}
	out := message.NewMessage(watermill.NewUUID(), b)
	out.Metadata.Set(bundleHeader, strconv.Itoa(len(msgs)))
	return out
}

// decodeBundle takes a bundle apart. Each message gets the bundle's own metadata (what the
// broker added) under its own, but not the bundle's delivery count, which is not its own.
func decodeBundle(bundle *message.Message) ([]*message.Message, error) {
	n, err := strconv.Atoi(bundle.Metadata.Get(bundleHeader))
	if err != nil || n < 1 {
		return nil, fmt.Errorf("%w: header %s=%q", errBadBundle, bundleHeader, bundle.Metadata.Get(bundleHeader))
	}
	b := bundle.Payload
	next := func() ([]byte, error) {
		l, w := binary.Uvarint(b)
		if w <= 0 || l > uint64(len(b)-w) {
			return nil, fmt.Errorf("%w: truncated", errBadBundle)
		}
		s := b[w : w+int(l)]
		b = b[w+int(l):]
		return s, nil
	}
	msgs := make([]*message.Message, 0, min(n, DefaultBundleMax*4))
	for range n {
		id, err := next()
		if err != nil {
			return nil, err
		}
		count, w := binary.Uvarint(b)
		if w <= 0 || count > uint64(len(b)) {
			return nil, fmt.Errorf("%w: truncated", errBadBundle)
		}
		b = b[w:]
		meta := make(message.Metadata, len(bundle.Metadata)+int(count))
		for k, v := range bundle.Metadata {
			if k != bundleHeader && k != messages.DeliveryCountHeader {
				meta[k] = v
			}
		}
		for range count {
			k, err := next()
			if err != nil {
				return nil, err
			}
			v, err := next()
			if err != nil {
				return nil, err
			}
			meta[string(k)] = string(v)
		}
		payload, err := next()
		if err != nil {
			return nil, err
		}
		m := message.NewMessage(string(id), payload)
		m.Metadata = meta
		msgs = append(msgs, m)
	}
	if len(b) != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the last message", errBadBundle, len(b))
	}
	return msgs, nil
}

// splitBundles cuts msgs into runs of at most max messages and about bundleMaxBytes.
func splitBundles(msgs []*message.Message, max int) [][]*message.Message {
	var out [][]*message.Message
	start, bytes := 0, 0
	for i, m := range msgs {
		size := bundledSize(m)
		if i > start && (i-start >= max || bytes+size > bundleMaxBytes) {
			out = append(out, msgs[start:i])
			start, bytes = i, 0
		}
		bytes += size
	}
	if start < len(msgs) {
		out = append(out, msgs[start:])
	}
	return out
}

// bundledSize is about what m takes in a bundle: its payload and its metadata (a reply's
// header, messages.ReplyHeader, among them).
func bundledSize(m *message.Message) int {
	n := len(m.Payload)
	for k, v := range m.Metadata {
		n += len(k) + len(v)
	}
	return n
}

// unbundling is a subscriber that takes the bundles its subscriber delivers apart; other
// messages pass through as they are. resend publishes messages on their own, confirmed, to the
// topic they came from; without it (replies, which are never rejected) a bundle is requeued
// whole when one of its messages is rejected.
type unbundling struct {
	message.Subscriber
	log    watermill.LoggerAdapter
	resend func(ctx context.Context, topic string, msgs []*message.Message) error
}

func (u unbundling) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	in, err := u.Subscriber.Subscribe(ctx, topic)
	if err != nil {
		return nil, err
	}
	out := make(chan *message.Message)
	go func() {
		defer close(out)
		for msg := range in {
			if msg.Metadata.Get(bundleHeader) == "" {
				if !forward(ctx, out, msg) {
					return
				}
				continue
			}
			if !u.handle(ctx, topic, msg, out) {
				return
			}
		}
	}()
	return out, nil
}

// handle takes one bundle apart, hands its messages on and settles it; false when ctx ended
// first (the bundle, unsettled, is redelivered to a consumer once this one is closed).
func (u unbundling) handle(ctx context.Context, topic string, bundle *message.Message, out chan<- *message.Message) bool {
	fields := watermill.LogFields{"topic": topic, "uuid": bundle.UUID}
	msgs, err := decodeBundle(bundle)
	if err != nil {
		// Requeued until the queue's delivery limit dead-letters it, for inspection.
		u.log.Error("cannot take a bundle apart", err, fields)
		bundle.Nack()
		return true
	}
	if u.resend != nil && redelivered(bundle) {
		fields["messages"] = len(msgs)
		u.log.Info("bundle delivered again: publishing its messages on their own", fields)
		for _, m := range msgs {
			m.Metadata.Set(messages.ResentHeader, "true")
		}
		u.settle(ctx, topic, bundle, msgs, fields)
		return true
	}
	// The handlers' context is the subscription's: settling the bundle (watermill-amqp then
	// cancels its context) must not cancel the messages of it that still run.
	for _, m := range msgs {
		m.SetContext(ctx)
		if !forward(ctx, out, m) {
			return false
		}
	}
	var rejected []*message.Message
	for _, m := range msgs {
		select {
		case <-m.Acked():
		case <-m.Nacked():
			rejected = append(rejected, m)
		case <-ctx.Done():
			return false
		}
	}
	u.settle(ctx, topic, bundle, rejected, fields)
	return true
}

// settle publishes msgs again on their own, if any, and acknowledges bundle; if they cannot be
// published, or there is no resend, it requeues the bundle.
func (u unbundling) settle(ctx context.Context, topic string, bundle *message.Message, msgs []*message.Message, fields watermill.LogFields) {
	if len(msgs) == 0 {
		bundle.Ack()
		return
	}
	if u.resend == nil {
		bundle.Nack()
		return
	}
	if err := u.resend(ctx, topic, msgs); err != nil {
		u.log.Error("cannot publish a bundle's messages on their own; requeueing it", err, fields)
		bundle.Nack()
		return
	}
	bundle.Ack()
}

// redelivered tells a delivery that RabbitMQ made before: a quorum queue counts them.
func redelivered(msg *message.Message) bool { return messages.DeliveryCount(msg.Metadata) > 0 }

func forward(ctx context.Context, out chan<- *message.Message, msg *message.Message) bool {
	select {
	case out <- msg:
		return true
	case <-ctx.Done():
		return false
	}
}
