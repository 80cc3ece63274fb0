package gateway_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/forecastd/forecastd/gateway"
	"github.com/forecastd/forecastd/internal/promtest"
	"github.com/forecastd/forecastd/internal/stack"
	"github.com/forecastd/forecastd/internal/testenv"
	"github.com/forecastd/forecastd/store"
)

// stalledPublisher publishes the first n messages and blocks every later one until release is
// closed, as a gateway that dies mid-publish sends no more.
type stalledPublisher struct {
	message.Publisher
	n       int32
	sent    *atomic.Int32
	release chan struct{}
}

func (p stalledPublisher) Publish(topic string, msgs ...*message.Message) error {
	if p.sent.Add(1) > p.n {
		<-p.release
	}
	return p.Publisher.Publish(topic, msgs...)
}

// postLater posts a batch to the gateway at url in the background; the channel gets the
// answer's status, 0 if there was none.
func postLater(url, body string) <-chan int {
	answered := make(chan int, 1)
	go func() {
		resp, err := http.Post(url+"/v1/batches", "application/json", strings.NewReader(body))
		if err != nil {
			answered <- 0
			return
		}
		resp.Body.Close()
		answered <- resp.StatusCode
	}()
	return answered
}

// wantUnsent waits for the answer to a POST whose gateway lost the batch's send lease: 503.
func wantUnsent(t *testing.T, answered <-chan int) {
	t.Helper()
	select {
	case code := <-answered:
		if code != http.StatusServiceUnavailable {
			t.Errorf("POST to the gateway that lost the batch's lease: %d, want 503", code)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the POST was not answered")
	}
}

// deadRenewals is a store whose send leases are never renewed, as a dead gateway renews none.
type deadRenewals struct{ store.Store }

func (deadRenewals) RenewBatchSend(context.Context, string, time.Duration) error {
	return errors.New("the test's gateway is dead")
}

// waitEnded polls st until batch id has ended, and returns its record.
func waitEnded(t *testing.T, st store.Store, id string) store.Batch {
	t.Helper()
	var b store.Batch
	if err := testenv.Poll(10*time.Second, func() error {
		var err error
		if b, err = st.GetBatch(context.Background(), id); err != nil || !b.Status.Terminal() {
			return fmt.Errorf("batch %s: %+v, %v", id, b, err)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return b
}

// processorOnMemory is a stack over a memory store, with one processor and no gateway yet.
func processorOnMemory(t *testing.T) (*store.Memory, *stack.Stack) {
	st := store.NewMemory()
	t.Cleanup(func() { _ = st.Close() })
	s := stack.New(t, stack.Config{Store: st})
	s.AddProcessor(stack.ProcessorOptions{})
	return st, s
}

// A gateway that stops while it publishes a batch's series leaves the batch to another
// gateway, which fails it once its send lease runs out, with a batch_done, instead of it
// running forever short of the series that never went out; the series that did are kept, those
// sent late are skipped, and the stopped gateway, if it comes back to the request, answers 503.
func TestBatchLeftHalfSentByItsGatewayIsFailed(t *testing.T) {
	const lease = 300 * time.Millisecond
	st, s := processorOnMemory(t)
	release := make(chan struct{})
	var sent atomic.Int32
	dying := s.AddGateway(stack.GatewayOptions{
		Unstarted:     true, // no sweeps of its own: it is the one that died
		Config:        func(c *gateway.Config) { c.BatchSendLease = lease },
		WrapStore:     func(st store.Store) store.Store { return deadRenewals{st} },
		WrapPublisher: func(p message.Publisher) message.Publisher { return stalledPublisher{p, 5, &sent, release} },
	})
	other := s.AddGateway(stack.GatewayOptions{Config: func(c *gateway.Config) { c.BatchSendLease = lease }})

	var series []string
	for i := range 20 {
		series = append(series, fmt.Sprintf(`{"name":"s%d","values":[1,2,3,%d]}`, i, i))
	}
	answered := postLater(dying.URL, `{"method":"naive","horizon":2,"series":[`+strings.Join(series, ",")+`]}`)
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})

	var id string
	if err := testenv.Poll(10*time.Second, func() error {
		evs, err := st.Events(context.Background(), "", 0)
		if err != nil {
			return err
		}
		for _, ev := range evs {
			if ev.Batch != "" {
				id = ev.Batch
				return nil
			}
		}
		return errors.New("no series of the batch has ended")
	}); err != nil {
		t.Fatal(err)
	}
	rec := waitEnded(t, st, id)
	resp, err := http.Get(other.URL + "/v1/batches/" + id)
	if err != nil {
		t.Fatal(err)
	}
	var env jsend
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var b batchAnswer
	decodeData(t, env, &b)
	if resp.StatusCode != http.StatusOK || b.Status != "failed" {
		t.Fatalf("GET batch %s from the other gateway: %d, %+v; want it failed", id, resp.StatusCode, b)
	}
	if rec.Error != store.UnsentReason || rec.Done != 5 || rec.Total != 20 {
		t.Fatalf("batch %+v; want failed with %q, the 5 series sent done", rec, store.UnsentReason)
	}
	done := 0
	evs, _ := st.Events(context.Background(), "", 0)
	for _, ev := range evs {
		if ev.Batch == id && ev.Type == store.EventBatchDone {
			done++
			var d store.BatchDoneData
			if err := json.Unmarshal(ev.Data, &d); err != nil || d.Status != store.BatchFailed || d.Done != 5 {
				t.Errorf("batch_done %s: %+v, %v", ev.Data, d, err)
			}
		}
	}
	if done != 1 {
		t.Errorf("%d batch_done events, want 1", done)
	}
	if n := promtest.Value(t, other.Registry, "forecastd_batches_unsent_total"); n != 1 {
		t.Errorf("forecastd_batches_unsent_total = %v on the gateway that failed the batch, want 1", n)
	}

	// The stopped gateway comes back to the request: the rest goes out, the batch having ended
	// is skipped by the processor, and the client is told the batch did not run.
	close(release)
	wantUnsent(t, answered)
	later := postBatch(t, other.URL, `{"method":"naive","horizon":2,"series":[{"name":"later","values":[1,2]}]}`)
	if b := waitEnded(t, st, later); b.Status != store.BatchSucceeded {
		t.Fatalf("later batch: %+v; want succeeded", b)
	}
	if rec, _ := st.GetBatch(context.Background(), id); rec.Done != 5 || rec.Status != store.BatchFailed {
		t.Errorf("after the rest was sent: %+v; want still failed with 5 done", rec)
	}
}

// slowPublisher publishes one message at a time, each after delay, as a broker slow to confirm.
type slowPublisher struct {
	message.Publisher
	mu    *sync.Mutex
	delay time.Duration
}

func (p slowPublisher) Publish(topic string, msgs ...*message.Message) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	time.Sleep(p.delay)
	return p.Publisher.Publish(topic, msgs...)
}

// A live gateway whose publishing of a batch outlasts the send lease many times over keeps the
// batch: it renews the lease meanwhile, so neither it nor another gateway fails the batch.
func TestBatchPublishedLongerThanItsSendLeaseRuns(t *testing.T) {
	const lease = 150 * time.Millisecond
	st, s := processorOnMemory(t)
	slow := s.AddGateway(stack.GatewayOptions{
		Config: func(c *gateway.Config) { c.BatchSendLease = lease },
		WrapPublisher: func(p message.Publisher) message.Publisher {
			return slowPublisher{p, new(sync.Mutex), 40 * time.Millisecond}
		},
	})
	s.AddGateway(stack.GatewayOptions{Config: func(c *gateway.Config) { c.BatchSendLease = lease }})
	var series []string
	for i := range 25 { // a second's publishing: more than six leases
		series = append(series, fmt.Sprintf(`{"name":"s%d","values":[1,2,3,%d]}`, i, i))
	}
	start := time.Now()
	id := postBatch(t, slow.URL, `{"method":"naive","horizon":2,"series":[`+strings.Join(series, ",")+`]}`)
	t.Logf("published in %s", time.Since(start).Round(time.Millisecond))
	if b := waitEnded(t, st, id); b.Status != store.BatchSucceeded || b.Done != 25 {
		t.Fatalf("batch %+v; want succeeded with its 25 series", b)
	}
}

// lateConfirms publishes each message, then returns only once every batch in the store has
// ended (or after 5 s), as a broker whose confirm comes after the processors are done.
type lateConfirms struct {
	message.Publisher
	st *store.Memory
}

func (p lateConfirms) Publish(topic string, msgs ...*message.Message) error {
	if err := p.Publisher.Publish(topic, msgs...); err != nil {
		return err
	}
	id, _, _ := strings.Cut(msgs[0].UUID, ".") // a series' message is named {batch}.{index}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if b, err := p.st.GetBatch(context.Background(), id); err == nil && b.Status.Terminal() {
			break
		}
	}
	return nil
}

// A batch whose series have all ended by the time the broker confirms their publishes was
// sent: its client gets 202 and the batch stays succeeded, not 503 and a resubmission.
func TestBatchThatEndsBeforeItsConfirmsIsAccepted(t *testing.T) {
	st, s := processorOnMemory(t)
	g := s.AddGateway(stack.GatewayOptions{
		WrapPublisher: func(p message.Publisher) message.Publisher { return lateConfirms{p, st} },
	})
	id := postBatch(t, g.URL, `{"method":"naive","horizon":2,"series":[{"name":"a","values":[1,2,3]}]}`)
	if b, err := st.GetBatch(context.Background(), id); err != nil || b.Status != store.BatchSucceeded {
		t.Fatalf("batch %+v, %v; want succeeded", b, err)
	}
}

// The fits of a save_models batch whose gateway stopped while it published the series end with
// the batch: the gateway that fails the batch fails the fits of the series that have no result,
// those that never reached a processor included, instead of leaving them pending for the
// batch's lifetime, holding every forecast of their models.
func TestSavedFitsOfABatchLeftHalfSentAreFailed(t *testing.T) {
	const lease = 300 * time.Millisecond
	st, s := processorOnMemory(t)
	release := make(chan struct{})
	var releaseOnce sync.Once
	t.Cleanup(func() { releaseOnce.Do(func() { close(release) }) })
	var sent atomic.Int32
	dying := s.AddGateway(stack.GatewayOptions{
		Unstarted:     true,
		Config:        func(c *gateway.Config) { c.BatchSendLease = lease },
		WrapStore:     func(st store.Store) store.Store { return deadRenewals{st} },
		WrapPublisher: func(p message.Publisher) message.Publisher { return stalledPublisher{p, 5, &sent, release} },
	})
	s.AddGateway(stack.GatewayOptions{Config: func(c *gateway.Config) { c.BatchSendLease = lease }})
	answered := postLater(dying.URL, saveModelsBatch(20))

	var id string
	if err := testenv.Poll(10*time.Second, func() error {
		infos, err := st.List(context.Background())
		if err != nil || len(infos) < 20 {
			return fmt.Errorf("%d models, %v", len(infos), err)
		}
		id, _, _ = strings.Cut(infos[0].Model, ".")
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if b := waitEnded(t, st, id); b.Status != store.BatchFailed || b.Done != 5 {
		t.Fatalf("batch %+v; want failed with the 5 series sent done", b)
	}
	if err := testenv.Poll(10*time.Second, func() error {
		infos, err := st.List(context.Background())
		if err != nil {
			return err
		}
		for _, info := range infos {
			if len(info.Pending) > 0 {
				return fmt.Errorf("model %s: fit %+v still pending", info.Model, info.Pending[0])
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	failed := 0
	evs, _ := st.Events(context.Background(), "", 0)
	for _, ev := range evs {
		if ev.Type == store.EventFitFailed && strings.HasPrefix(ev.Model, id+".") {
			failed++
			if !strings.Contains(string(ev.Data), store.UnsentReason) {
				t.Errorf("fit_failed %s: want the reason %q", ev.Data, store.UnsentReason)
			}
		}
	}
	if failed != 15 {
		t.Errorf("%d fit_failed events of the batch's models, want one for each of the 15 series never sent", failed)
	}

	releaseOnce.Do(func() { close(release) })
	wantUnsent(t, answered)
}
