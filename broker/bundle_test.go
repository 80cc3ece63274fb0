package broker

import (
	"context"
	"errors"
	"fmt"
	"sync"
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
// (what the broker added) under its own, except the bundle's delivery count.
func TestBundleRoundTrip(t *testing.T) {
	in := testMessages(5)
	b := encodeBundle(in)
	b.Metadata.Set(messages.DeliveryCountHeader, "2")
	b.Metadata.Set("x-first-death-queue", "q")
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
			m.Metadata.Get("x-first-death-queue") != "q" || m.Metadata.Get(messages.DeliveryCountHeader) != "" || m.Metadata.Get(bundleHeader) != "" {
			t.Fatalf("message %d: %s %q %v, want %s %q with correlation_id and the broker's header but not the delivery count", i, m.UUID, m.Payload, m.Metadata, in[i].UUID, in[i].Payload)
		}
	}
}

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
	// Metadata counts too: two messages whose headers fill a bundle go in two.
	headed := testMessages(2)
	for _, m := range headed {
		m.Metadata.Set("x-big", string(make([]byte, bundleMaxBytes/2+1)))
	}
	if runs := splitBundles(headed, 3); len(runs) != 2 {
		t.Errorf("two messages of more than half a bundle's bytes of metadata went in %d bundles, want 2", len(runs))
	}
}

// fakeSubscriber delivers what the test sends on in.
type fakeSubscriber struct{ in chan *message.Message }

func (f fakeSubscriber) Subscribe(context.Context, string) (<-chan *message.Message, error) {
	return f.in, nil
}
func (f fakeSubscriber) Close() error { return nil }

// resender records what an unbundling subscriber publishes again on its own.
type resender struct {
	mu     sync.Mutex
	sent   []string
	marked int // of them, marked as resent (messages.ResentHeader)
	fail   bool
}

func (r *resender) resend(_ context.Context, _ string, msgs []*message.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail {
		return errors.New("broker down")
	}
	for _, m := range msgs {
		r.sent = append(r.sent, m.UUID)
		if m.Metadata.Get(messages.ResentHeader) != "" {
			r.marked++
		}
	}
	return nil
}

// The subscriber hands on a bundle's messages all at once, in contexts that settling the
// bundle does not cancel, and settles the bundle once all of them are: acked, after the
// rejected ones were published again on their own; requeued when that fails, or when there
// is no resend (replies). A plain message passes through as itself.
func TestUnbundlingSettlesByItsMessages(t *testing.T) {
	for _, tc := range []struct {
		name      string
		nack      int // index of the message rejected; -1: none
		noResend  bool
		resendErr bool
		wantAck   bool
		wantSent  string
	}{
		{name: "all acked", nack: -1, wantAck: true, wantSent: "[]"},
		{name: "one rejected: sent again alone", nack: 2, wantAck: true, wantSent: "[id-2]"},
		{name: "one rejected, resend fails: requeued", nack: 0, resendErr: true, wantSent: "[]"},
		{name: "one rejected, no resend: requeued", nack: 1, noResend: true, wantSent: "[]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := fakeSubscriber{in: make(chan *message.Message, 2)}
			r := &resender{fail: tc.resendErr}
			u := unbundling{Subscriber: f, log: watermill.NopLogger{}, resend: r.resend}
			if tc.noResend {
				u.resend = nil
			}
			out, err := u.Subscribe(t.Context(), "forecast")
			if err != nil {
				t.Fatal(err)
			}
			bundle := encodeBundle(testMessages(3))
			bctx, cancelBundle := context.WithCancel(context.Background())
			defer cancelBundle()
			bundle.SetContext(bctx)
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
			// Settled in reverse, the rejected one first: the bundle waits for all.
			for i := len(got) - 1; i >= 0; i-- {
				if i == tc.nack {
					got[i].Nack()
					cancelBundle() // as watermill-amqp does once the bundle is settled
				} else {
					if err := got[i].Context().Err(); err != nil {
						t.Fatalf("message %d's context ended with its bundle's: %v", i, err)
					}
					got[i].Ack()
				}
			}
			want, other := bundle.Acked(), bundle.Nacked()
			if !tc.wantAck {
				want, other = other, want
			}
			select {
			case <-want:
			case <-other:
				t.Fatalf("bundle settled the other way (want ack %v)", tc.wantAck)
			case <-time.After(5 * time.Second):
				t.Fatal("bundle not settled")
			}
			if m := <-out; m != plain {
				t.Fatalf("after the bundle came %s, want the plain message itself", m.UUID)
			}
			r.mu.Lock()
			defer r.mu.Unlock()
			if fmt.Sprint(r.sent) != tc.wantSent {
				t.Fatalf("sent again %v, want %s", r.sent, tc.wantSent)
			}
		})
	}
}

// A bundle delivered again is not handled: its messages are published again on their own,
// each to be counted alone from there, and the bundle is acked.
func TestRedeliveredBundleIsSplit(t *testing.T) {
	f := fakeSubscriber{in: make(chan *message.Message, 2)}
	r := &resender{}
	out, err := unbundling{Subscriber: f, log: watermill.NopLogger{}, resend: r.resend}.Subscribe(t.Context(), "forecast")
	if err != nil {
		t.Fatal(err)
	}
	bundle := encodeBundle(testMessages(3))
	bundle.Metadata.Set(messages.DeliveryCountHeader, "1")
	f.in <- bundle
	select {
	case <-bundle.Acked():
	case m := <-out:
		t.Fatalf("message %s of a redelivered bundle was handed on", m.UUID)
	case <-time.After(5 * time.Second):
		t.Fatal("redelivered bundle not settled")
	}
	if fmt.Sprint(r.sent) != "[id-0 id-1 id-2]" {
		t.Fatalf("sent again %v, want all three", r.sent)
	}
	// Each may have been answered already: the processor must be able to tell.
	if r.marked != 3 {
		t.Errorf("%d of the 3 messages sent again are marked as resent, want all", r.marked)
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
	out, err := unbundling{Subscriber: counting, log: watermill.NopLogger{}, resend: r.pub.resend}.Subscribe(t.Context(), topic)
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
			if seen[m.UUID]++; seen[m.UUID] > 1 {
				t.Fatalf("message %s arrived twice", m.UUID)
			}
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

// On the real broker: a bundle that RabbitMQ redelivers (here: rejected by a bare consumer)
// comes back as its messages, each once; a bundle's rejected message comes back alone, as a
// message of its own whose deliveries RabbitMQ counts, and its acked siblings do not come back.
func TestBundleFailuresComeBackAlone(t *testing.T) {
	r := newTopicRig(t, messages.TopicForecast, amqp.Table{"x-queue-type": "quorum"})
	if err := r.pub.write(t.Context(), messages.TopicForecast, []*message.Message{encodeBundle(testMessages(3))}); err != nil {
		t.Fatal(err)
	}
	d, ok, err := r.ch.Get(r.queue, false)
	if err != nil || !ok {
		t.Fatalf("get the bundle: ok %v, err %v", ok, err)
	}
	if err := d.Nack(false, true); err != nil {
		t.Fatal(err)
	}
	out, deliveries := r.consumeBundled(t, messages.TopicForecast)
	next := func() *message.Message {
		select {
		case m := <-out:
			return m
		case <-time.After(10 * time.Second):
			t.Fatal("no message")
			return nil
		}
	}
	quiet := func() {
		select {
		case m := <-out:
			t.Fatalf("message %s came again", m.UUID)
		case <-time.After(300 * time.Millisecond):
		}
	}
	seen := map[string]int{}
	for range 3 {
		m := next()
		seen[m.UUID]++
		m.Ack()
	}
	quiet()
	if len(seen) != 3 || deliveries.Load() != 4 {
		t.Fatalf("messages of the redelivered bundle: %v in %d deliveries, want id-0, id-1 and id-2 once each, in 4 (the bundle, then each alone)", seen, deliveries.Load())
	}

	if err := r.pub.write(t.Context(), messages.TopicForecast, []*message.Message{encodeBundle(testMessages(3))}); err != nil {
		t.Fatal(err)
	}
	first := []*message.Message{next(), next(), next()}
	first[0].Ack()
	first[1].Nack()
	first[2].Ack()
	again := next()
	if again.UUID != first[1].UUID || again.Metadata.Get(messages.DeliveryCountHeader) != "" {
		t.Fatalf("after the rejection came %s with delivery count %q, want %s, new", again.UUID, again.Metadata.Get(messages.DeliveryCountHeader), first[1].UUID)
	}
	again.Nack() // now a message of its own: RabbitMQ counts its deliveries
	if m := next(); m.UUID != first[1].UUID || m.Metadata.Get(messages.DeliveryCountHeader) != "1" {
		t.Fatalf("its redelivery: %s with delivery count %q, want %s with 1", m.UUID, m.Metadata.Get(messages.DeliveryCountHeader), first[1].UUID)
	} else {
		m.Ack()
	}
	quiet()
	if got := deliveries.Load(); got != 7 {
		t.Fatalf("%d AMQP deliveries, want 7: 4 before, then the bundle, the rejected message alone and its redelivery", got)
	}
}
