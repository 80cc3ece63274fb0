package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// amqpConfig is one raw AMQP request/reply run: the reference the service is measured against.
// Requests go persistent, with publisher confirms, through a quorum queue of its own to echo
// workers that do no work but reply; callers wait for the confirm and the reply.
type amqpConfig struct {
	url       string
	callers   int
	duration  time.Duration
	workers   int // worker connections, like processors
	consumers int // consumers per worker
	prefetch  int
	channels  int // requester publishing channels
}

func parseAMQP(fs *flag.FlagSet, c *amqpConfig) {
	fs.StringVar(&c.url, "amqp-url", "amqp://guest:guest@127.0.0.1:5672/", "RabbitMQ URL (loopback only)")
	fs.IntVar(&c.workers, "workers", 2, "echo worker connections (one per processor of the service)")
	fs.IntVar(&c.consumers, "consumers", 4, "consumers per worker")
	fs.IntVar(&c.prefetch, "prefetch", 32, "prefetch per consumer")
	fs.IntVar(&c.channels, "channels", 4, "publishing channels of the requester")
}

func amqpCmd(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("amqp", flag.ContinueOnError)
	var c amqpConfig
	parseAMQP(fs, &c)
	fs.IntVar(&c.callers, "callers", 64, "concurrent callers, each waiting for its reply before the next request")
	fs.DurationVar(&c.duration, "duration", 10*time.Second, "how long to send")
	if err := fs.Parse(args); err != nil {
		return err
	}
	s, err := rawRequestReply(ctx, c)
	if err != nil {
		return err
	}
	fmt.Fprintln(out, s)
	return nil
}

func checkAMQPURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "amqp" || !isLoopback(u.Hostname()) {
		return fmt.Errorf("-amqp-url %q: must be an amqp URL on a loopback address", raw)
	}
	return nil
}

// rawRequestReply declares its own quorum queue (deleted afterwards), starts the echo workers
// and measures request/reply round trips.
func rawRequestReply(ctx context.Context, c amqpConfig) (st stats, err error) {
	if err := checkAMQPURL(c.url); err != nil {
		return st, err
	}
	admin, err := amqp.Dial(c.url)
	if err != nil {
		return st, fmt.Errorf("connect: %w", err)
	}
	defer admin.Close()
	ach, err := admin.Channel()
	if err != nil {
		return st, err
	}
	queue := fmt.Sprintf("loadgen.rr.%d", time.Now().UnixNano())
	if _, err := ach.QueueDeclare(queue, true, false, false, false, amqp.Table{"x-queue-type": "quorum"}); err != nil {
		return st, fmt.Errorf("declare %s: %w", queue, err)
	}
	defer func() { err = errors.Join(err, deleteQueue(c.url, queue)) }()

	wctx, stopWorkers := context.WithCancel(ctx)
	defer stopWorkers()
	for range c.workers {
		conn, err := amqp.Dial(c.url)
		if err != nil {
			return st, err
		}
		defer conn.Close()
		for range c.consumers {
			if err := echo(wctx, conn, queue, c.prefetch); err != nil {
				return st, err
			}
		}
	}

	req, err := newRequester(c.url, queue, c.channels)
	if err != nil {
		return st, err
	}
	defer req.close()
	call := func(ctx context.Context, caller, i int) error { return req.call(ctx, caller) }
	if warm := drive(ctx, "warm-up", c.callers, 300*time.Millisecond, call); warm.ok == 0 {
		return warm, fmt.Errorf("warm-up: no reply: %s", warm.first)
	}
	return drive(ctx, "raw AMQP request/reply", c.callers, c.duration, call), nil
}

// deleteQueue deletes queue on a connection of its own: the run's may have been closed under it.
func deleteQueue(u, queue string) error {
	conn, err := amqp.Dial(u)
	if err != nil {
		return fmt.Errorf("delete %s: %w", queue, err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err == nil {
		_, err = ch.QueueDelete(queue, false, false, false)
	}
	if err != nil {
		return fmt.Errorf("delete %s: %w", queue, err)
	}
	return nil
}

// echo consumes queue on a channel of its own and answers every request with its body.
func echo(ctx context.Context, conn *amqp.Connection, queue string, prefetch int) error {
	ch, err := conn.Channel()
	if err != nil {
		return err
	}
	if err := ch.Qos(prefetch, 0, false); err != nil {
		return err
	}
	deliveries, err := ch.Consume(queue, "", false, false, false, false, nil)
	if err != nil {
		return err
	}
	go func() {
		defer ch.Close()
		for {
			select {
			case <-ctx.Done():
				return
			case d, ok := <-deliveries:
				if !ok {
					return
				}
				_ = ch.PublishWithContext(ctx, "", d.ReplyTo, false, false, amqp.Publishing{CorrelationId: d.CorrelationId, Body: d.Body})
				_ = d.Ack(false)
			}
		}
	}()
	return nil
}

// requester publishes requests on a few confirming channels and routes replies, from its
// exclusive reply queue, to the callers waiting for them.
type requester struct {
	conn    *amqp.Connection
	queue   string
	replyTo string
	chans   []*amqp.Channel
	mu      sync.Mutex
	waiting map[string]chan struct{}
	seq     uint64
}

func newRequester(u, queue string, channels int) (*requester, error) {
	conn, err := amqp.Dial(u)
	if err != nil {
		return nil, err
	}
	r := &requester{conn: conn, queue: queue, waiting: map[string]chan struct{}{}}
	rch, err := conn.Channel()
	if err != nil {
		conn.Close()
		return nil, err
	}
	q, err := rch.QueueDeclare("", false, true, true, false, nil)
	if err != nil {
		conn.Close()
		return nil, err
	}
	r.replyTo = q.Name
	replies, err := rch.Consume(q.Name, "", true, true, false, false, nil)
	if err != nil {
		conn.Close()
		return nil, err
	}
	go func() {
		for d := range replies {
			r.mu.Lock()
			w := r.waiting[d.CorrelationId]
			delete(r.waiting, d.CorrelationId)
			r.mu.Unlock()
			if w != nil {
				close(w)
			}
		}
	}()
	for range max(channels, 1) {
		ch, err := conn.Channel()
		if err == nil {
			err = ch.Confirm(false)
		}
		if err != nil {
			conn.Close()
			return nil, err
		}
		r.chans = append(r.chans, ch)
	}
	return r, nil
}

var requestBody = []byte(`{"job_id":"00000000-0000-0000-0000-000000000000","model":"m","barrier":1,"horizon":12,"levels":[80,95]}`)

func (r *requester) call(ctx context.Context, caller int) error {
	done := make(chan struct{})
	r.mu.Lock()
	r.seq++
	id := strconv.FormatUint(r.seq, 10)
	r.waiting[id] = done
	r.mu.Unlock()
	ch := r.chans[caller%len(r.chans)]
	dc, err := ch.PublishWithDeferredConfirm("", r.queue, false, false, amqp.Publishing{
		DeliveryMode: amqp.Persistent, CorrelationId: id, ReplyTo: r.replyTo, ContentType: "application/json", Body: requestBody,
	})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if ok, err := dc.WaitContext(ctx); err != nil || !ok {
		return fmt.Errorf("not confirmed (%v)", err)
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		r.mu.Lock()
		delete(r.waiting, id)
		r.mu.Unlock()
		return errors.New("no reply within 10s")
	}
}

func (r *requester) close() { r.conn.Close() }
