package broker

import (
	"maps"
	"testing"

	wamqp "github.com/ThreeDotsLabs/watermill-amqp/v3/pkg/amqp"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	amqp "github.com/rabbitmq/amqp091-go"
)

// deliver is what the broker hands a consumer for a publishing, with extra headers added by
// RabbitMQ on the way.
func deliver(p amqp.Publishing, added amqp.Table) amqp.Delivery {
	h := maps.Clone(p.Headers)
	maps.Copy(h, added)
	return amqp.Delivery{Headers: h, Body: p.Body, DeliveryMode: p.DeliveryMode, CorrelationId: p.CorrelationId}
}

func TestMarshalerRoundTrip(t *testing.T) {
	msg := message.NewMessage("0b7d6a4e-uuid", []byte(`{"job_id":"j1","model":"m"}`))
	middleware.SetCorrelationID("corr-42", msg)
	msg.Metadata.Set("reply_to", "gw-1")

	var m marshaler
	p, err := m.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	if p.DeliveryMode != amqp.Persistent {
		t.Errorf("delivery mode %d, want persistent (%d): commands must survive a broker restart", p.DeliveryMode, amqp.Persistent)
	}
	if p.Headers[wamqp.DefaultMessageUUIDHeaderKey] != msg.UUID {
		t.Errorf("uuid header %v, want %q", p.Headers[wamqp.DefaultMessageUUIDHeaderKey], msg.UUID)
	}

	for name, added := range map[string]amqp.Table{
		"first delivery": nil,
		// A quorum queue counts redeliveries in an integer header (and RabbitMQ may add
		// others, such as x-death's table); they reach the handler as strings.
		"redelivery": {"x-delivery-count": int64(2), "x-first-death-queue": "forecastd.fit"},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := m.Unmarshal(deliver(p, added))
			if err != nil {
				t.Fatal(err)
			}
			if got.UUID != msg.UUID || string(got.Payload) != string(msg.Payload) {
				t.Errorf("got uuid %q payload %s, want %q %s", got.UUID, got.Payload, msg.UUID, msg.Payload)
			}
			if id := middleware.MessageCorrelationID(got); id != "corr-42" {
				t.Errorf("correlation id %q, want corr-42", id)
			}
			want := maps.Clone(msg.Metadata)
			if added != nil {
				want["x-delivery-count"] = "2"
				want["x-first-death-queue"] = "forecastd.fit"
			}
			if !maps.Equal(got.Metadata, want) {
				t.Errorf("metadata %v, want %v (the uuid header is not metadata)", got.Metadata, want)
			}
		})
	}
}

// The default marshaler fails on the header our marshaler exists for; if watermill-amqp ever
// accepts it, the wrapper can go.
func TestDefaultMarshalerRejectsDeliveryCount(t *testing.T) {
	d := amqp.Delivery{Headers: amqp.Table{wamqp.DefaultMessageUUIDHeaderKey: "u", "x-delivery-count": int64(1)}}
	if _, err := (wamqp.DefaultMarshaler{}).Unmarshal(d); err == nil {
		t.Error("watermill-amqp's DefaultMarshaler now accepts integer headers: marshaler is no longer needed")
	}
	if _, err := (marshaler{}).Unmarshal(d); err != nil {
		t.Errorf("marshaler: %v", err)
	}
}
