package broker

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/forecastd/forecastd/messages"
)

// One job's replies (progress, then the result) reach the gateway in the order they were
// published, as over RabbitMQ: a result overtaken by nothing, a progress never arriving late.
func TestInProcessRepliesArriveInPublishOrder(t *testing.T) {
	b := NewInProcess(watermill.NopLogger{})
	defer b.Close()
	topic := messages.ReplyTopic("gw")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	msgs, err := b.Replies.Subscribe(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	const n = 2000
	go func() {
		for i := range n {
			if err := b.Publisher.Publish(topic, message.NewMessage(strconv.Itoa(i), []byte(strconv.Itoa(i)))); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	timeout := time.After(10 * time.Second)
	for i := range n {
		select {
		case m := <-msgs:
			m.Ack()
			if got := string(m.Payload); got != strconv.Itoa(i) {
				t.Fatalf("reply %d arrived as number %s", i, got)
			}
		case <-timeout:
			t.Fatalf("only %d of %d replies arrived", i, n)
		}
	}
}
