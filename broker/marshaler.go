package broker

import (
	"fmt"

	wamqp "github.com/ThreeDotsLabs/watermill-amqp/v3/pkg/amqp"
	"github.com/ThreeDotsLabs/watermill/message"
	amqp "github.com/rabbitmq/amqp091-go"
)

// marshaler is watermill-amqp's default marshaler made to accept the non-string headers that
// RabbitMQ itself adds, such as a quorum queue's integer x-delivery-count on redelivery (the
// default marshaler rejects those, which would turn every redelivery into a failure).
type marshaler struct{ wamqp.DefaultMarshaler }

func (m marshaler) Unmarshal(d amqp.Delivery) (*message.Message, error) {
	if len(d.Headers) > 0 {
		headers := make(amqp.Table, len(d.Headers))
		for k, v := range d.Headers {
			if s, ok := v.(string); ok {
				headers[k] = s
			} else {
				headers[k] = fmt.Sprint(v)
			}
		}
		d.Headers = headers
	}
	return m.DefaultMarshaler.Unmarshal(d)
}
