package broker

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wamqp "github.com/ThreeDotsLabs/watermill-amqp/v3/pkg/amqp"
	"github.com/ThreeDotsLabs/watermill/message"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/forecastd/forecastd/messages"
)

func testMessages(n int) []*message.Message {
	msgs := make([]*message.Message, n)
	for i := range msgs {
		msgs[i] = message.NewMessage(fmt.Sprint("id-", i), []byte(fmt.Sprintf(`{"i":%d}`, i)))
		msgs[i].Metadata.Set("correlation_id", fmt.Sprint("c", i))
	}
	msgs[0].Payload = nil // an empty payload survives too
	return msgs
}

// A bundle comes apart into its messages as they were, each with the bundle's own metadata
// (what the broker added) under its own.
func TestBundleRoundTrip(t *testing.T) {
	in := testMessages(5)
	b := encodeBundle(in)
	b.Metadata.Set(deliveryCount, "2")
	out, err := decodeBundle(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != len(in) {
		t.Fatalf("%d messages, want %d", len(out), len(in))
	}
	for i, m := range out {
		if m.UUID != in[i].UUID || string(m.Payload) != string(in[i].Payload) ||
			m.Metadata.Get("correlation_id") != in[i].Metadata.Get("correlation_id") ||
			m.Metadata.Get(deliveryCount) != "2" || m.Metadata.Get(bundleHeader) != "" {
			t.Fatalf("message %d: %s %q %v, want %s %q with correlation_id and the delivery count", i, m.UUID, m.Payload, m.Metadata, in[i].UUID, in[i].Payload)
		}
	}
}

const deliveryCount = "x-delivery-count"

// A damaged bundle is an error, never a panic or a short read taken for whole.
func TestDecodeBundleRejectsDamage(t *testing.T) {
	good := encodeBundle(testMessages(3))
	for cut := range len(good.Payload) {
		b := message.NewMessage("b", good.Payload[:cut])
		b.Metadata = good.Metadata
		if _, err := decodeBundle(b); !errors.Is(err, errBadBundle) {
			t.Fatalf("cut at %d of %d: err %v, want errBadBundle", cut, len(good.Payload), err)
		}
	}
	extra := message.NewMessage("b", append(append([]byte{}, good.Payload...), 0))
	extra.Metadata = good.Metadata
	for _, n := range []string{"0", "-1", "x", "4"} {
		b := message.NewMessage("b", good.Payload)
		b.Metadata.Set(bundleHeader, n)
		if _, err := decodeBundle(b); !errors.Is(err, errBadBundle) {
			t.Fatalf("count %s: err %v, want errBadBundle", n, err)
		}
	}
	if _, err := decodeBundle(extra); !errors.Is(err, errBadBundle) {
		t.Fatalf("trailing byte: err %v, want errBadBundle", err)
	}
}

// Bundles hold at most max messages and about bundleMaxBytes, a bigger message alone.
func TestSplitBundles(t *testing.T) {
	big := message.NewMessage("big", make([]byte, bundleMaxBytes+1))
	msgs := append(testMessages(5), big)
	msgs = append(msgs, testMessages(2)...)
	var sizes []int
	for _, run := range splitBundles(msgs, 3) {
		sizes = append(sizes, len(run))
	}
	if fmt.Sprint(sizes) != "[3 2 1 2]" {
		t.Fatalf("bundle sizes %v, want [3 2 1 2]", sizes)
	}
}

// fakeSubscriber delivers what the test sends on in.
type fakeSubscriber struct{ in chan *message.Message }

func (f fakeSubscriber) Subscribe(context.Context, string) (<-chan *message.Message, error) {
	return f.in, nil
}
func (f fakeSubscriber) Close() error { return nil }

// The subscriber hands on a bundle's messages all at once and settles the bundle by them: acked
// when every one is, rejected as soon as one is; a plain message passes through itself.
func TestUnbundlingSettlesByItsMessages(t *testing.T) {
	for _, tc := range []struct {
		name string
		nack int // index of the message rejected; -1: none
	}{{"all acked", -1}, {"one rejected", 1}} {
		t.Run(tc.name, func(t *testing.T) {
			f := fakeSubscriber{in: make(chan *message.Message, 2)}
			out, err := unbundling{f, watermill.NopLogger{}}.Subscribe(t.Context(), "forecast")
			if err != nil {
				t.Fatal(err)
			}
			bundle := encodeBundle(testMessages(3))
			plain := message.NewMessage("plain", []byte(`{}`))
			f.in <- bundle
			f.in <- plain
			var got []*message.Message
			for range 3 {
				got = append(got, <-out) // all three before any is settled
			}
			select {
			case <-bundle.Acked():
				t.Fatal("bundle acked before its messages were")
			case <-bundle.Nacked():
				t.Fatal("bundle rejected before its messages were settled")
			case <-time.After(20 * time.Millisecond):
			}
			for i, m := range got {
				if i == tc.nack {
					m.Nack()
				} else {
					m.Ack()
				}
			}
			want := bundle.Acked()
			if tc.nack >= 0 {
				want = bundle.Nacked()
			}
			select {
			case <-want:
			case <-time.After(5 * time.Second):
				t.Fatal("bundle not settled as its messages were")
			}
			if m := <-out; m != plain {
				t.Fatalf("after the bundle came %s, want the plain message itself", m.UUID)
			}
		})
	}
}

// consumeBundled reads the rig's queue through the subscribers NewAMQPTopology builds (watermill-amqp
// under unbundling) and counts the AMQP deliveries.
func (r publisherRig) consumeBundled(t *testing.T, topic string) (<-chan *message.Message, *atomic.Int32) {
	t.Helper()
	connCfg := wamqp.ConnectionConfig{AmqpURI: amqpURL, Reconnect: wamqp.DefaultReconnectConfig()}
	sub, err := wamqp.NewSubscriber(commandConfig(connCfg, r.topo, 4), watermill.NopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sub.Close() })
	deliveries := new(atomic.Int32)
	counting := countingSubscriber{sub, deliveries}
	out, err := unbundling{counting, watermill.NopLogger{}}.Subscribe(t.Context(), topic)
	if err != nil {
		t.Fatal(err)
	}
	return out, deliveries
}

type countingSubscriber struct {
	message.Subscriber
	n *atomic.Int32
}

func (c countingSubscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	in, err := c.Subscriber.Subscribe(ctx, topic)
	if err != nil {
		return nil, err
	}
	out := make(chan *message.Message)
	go func() {
		defer close(out)
		for m := range in {
			c.n.Add(1)
			out <- m
		}
	}()
	return out, nil
}

// Forecast commands published by many callers at once go out bundled, persistent and
// confirmed: every Publish returns nil, the queue holds fewer AMQP messages than were
// published, and a consumer gets every message exactly once, as it was sent.
func TestConcurrentForecastCommandsAreBundled(t *testing.T) {
	r := newTopicRig(t, messages.TopicForecast, amqp.Table{"x-queue-type": "quorum"})
	const n = 500
	for i, err := range r.publishAll(messages.TopicForecast, n) {
		if err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
	}
	d, ok, err := r.ch.Get(r.queue, false)
	if err != nil || !ok || d.DeliveryMode != amqp.Persistent {
		t.Fatalf("first message: ok %v, delivery mode %d, err %v; want a persistent message", ok, d.DeliveryMode, err)
	}
	if err := d.Nack(false, true); err != nil {
		t.Fatal(err)
	}
	out, deliveries := r.consumeBundled(t, messages.TopicForecast)
	seen := map[string]int{}
	for len(seen) < n {
		select {
		case m := <-out:
			if want := fmt.Sprintf(`{"i":%s}`, m.UUID); string(m.Payload) != want {
				t.Fatalf("message %s carries %q, want %q", m.UUID, m.Payload, want)
			}
			seen[m.UUID]++
			m.Ack()
		case <-time.After(10 * time.Second):
			t.Fatalf("%d of %d messages arrived", len(seen), n)
		}
	}
	select {
	case m := <-out:
		t.Fatalf("message %s arrived again", m.UUID)
	case <-time.After(200 * time.Millisecond):
	}
	if got := deliveries.Load(); got >= n {
		t.Fatalf("%d AMQP deliveries for %d messages: nothing was bundled", got, n)
	}
	t.Logf("%d messages in %d AMQP messages", n, deliveries.Load())
}

// A bundle one of whose messages is rejected comes back whole, each message carrying the
// quorum queue's delivery count, on which the processor's last-delivery handling rests.
func TestRejectedBundleIsRedeliveredWhole(t *testing.T) {
	r := newTopicRig(t, messages.TopicForecast, amqp.Table{"x-queue-type": "quorum"})
	if err := r.pub.write(messages.TopicForecast, []*message.Message{encodeBundle(testMessages(3))}, t.Context()); err != nil {
		t.Fatal(err)
	}
	out, _ := r.consumeBundled(t, messages.TopicForecast)
	next := func() *message.Message {
		select {
		case m := <-out:
			return m
		case <-time.After(10 * time.Second):
			t.Fatal("no message")
			return nil
		}
	}
	first := []*message.Message{next(), next(), next()}
	first[0].Ack()
	first[1].Nack()
	first[2].Ack()
	for i := range 3 {
		m := next()
		if m.UUID != first[i].UUID || m.Metadata.Get(deliveryCount) != "1" {
			t.Fatalf("redelivery %d: %s with delivery count %q, want %s with 1", i, m.UUID, m.Metadata.Get(deliveryCount), first[i].UUID)
		}
		m.Ack()
	}
}
