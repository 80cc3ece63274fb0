package broker

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
)

// Bundles: under load, the messages that callers publish to one topic at the same moment go
// to RabbitMQ as one AMQP message, a bundle, instead of one message each, and the subscribers
// take them apart again. RabbitMQ's work, the publisher confirm and a consumer's delivery and
// ack are then paid once per bundle instead of once per message: on a small machine, where
// the broker's work per message bounds the rate of forecast round trips, a bundle of n costs
// little more than one message. A message published alone goes as itself.
//
// A bundle is acknowledged once every message in it was; if any is rejected, the whole bundle
// is requeued, and its redelivery carries the broker's delivery count to each message in it.
// Handlers of bundled topics must therefore be idempotent (forecast commands replay their job
// record; a gateway drops a second reply to a job). A bundle RabbitMQ dead-letters keeps its
// bundleHeader, so a tool reading the dead-letter queue can take it apart with decodeBundle.

// bundleHeader marks a bundle and says how many messages it holds.
const bundleHeader = "x-forecastd-bundle"

// Bundle limits: a bundle holds at most bundleMaxBytes of payload unless one message alone is
// bigger (it then goes alone).
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
// broker added, such as the delivery count) under its own, and the bundle's context.
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
			if k != bundleHeader {
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
		m.SetContext(bundle.Context())
		msgs = append(msgs, m)
	}
	if len(b) != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the last message", errBadBundle, len(b))
	}
	return msgs, nil
}

// splitBundles cuts msgs into runs of at most max messages and about bundleMaxBytes of payload.
func splitBundles(msgs []*message.Message, max int) [][]*message.Message {
	var out [][]*message.Message
	start, bytes := 0, 0
	for i, m := range msgs {
		if i > start && (i-start >= max || bytes+len(m.Payload) > bundleMaxBytes) {
			out = append(out, msgs[start:i])
			start, bytes = i, 0
		}
		bytes += len(m.Payload)
	}
	if start < len(msgs) {
		out = append(out, msgs[start:])
	}
	return out
}

// unbundling is a subscriber that takes the bundles its subscriber delivers apart; other
// messages pass through as they are.
type unbundling struct {
	message.Subscriber
	log watermill.LoggerAdapter
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
			msgs, err := decodeBundle(msg)
			if err != nil {
				// Requeued until the queue's delivery limit dead-letters it, for inspection.
				u.log.Error("cannot take a bundle apart", err, watermill.LogFields{"topic": topic, "uuid": msg.UUID})
				msg.Nack()
				continue
			}
			for _, m := range msgs {
				if !forward(ctx, out, m) {
					return
				}
			}
			// The subscriber delivers the next message once this one is settled.
			settle(ctx, msg, msgs)
		}
	}()
	return out, nil
}

func forward(ctx context.Context, out chan<- *message.Message, msg *message.Message) bool {
	select {
	case out <- msg:
		return true
	case <-ctx.Done():
		return false
	}
}

// settle acknowledges bundle once all of msgs are, or rejects it as soon as one is.
func settle(ctx context.Context, bundle *message.Message, msgs []*message.Message) {
	for _, m := range msgs {
		select {
		case <-m.Acked():
		case <-m.Nacked():
			bundle.Nack()
			return
		case <-ctx.Done():
			return // closing: the unsettled bundle is redelivered
		case <-bundle.Context().Done():
			return
		}
	}
	bundle.Ack()
}
