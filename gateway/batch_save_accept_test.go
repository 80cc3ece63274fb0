package gateway_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/forecastd/forecastd/gateway"
	"github.com/forecastd/forecastd/store"
)

// saveModelsBatch is a save_models batch of n naive series.
func saveModelsBatch(n int) string {
	series := make([]string, n)
	for i := range series {
		series[i] = fmt.Sprintf(`{"name":"s%d","values":[1,2,%d]}`, i, i)
	}
	return `{"horizon":2,"method":"naive","save_models":true,"series":[` + strings.Join(series, ",") + `]}`
}

// acceptsDown is a store whose AcceptSavedFit always fails, counting the calls.
type acceptsDown struct {
	store.Store
	calls *atomic.Int64
}

func (s acceptsDown) AcceptSavedFit(context.Context, string, string, time.Duration) (int64, error) {
	s.calls.Add(1)
	return 0, errors.New("i/o timeout")
}

// Once the store has refused one series' fit, the gateway starts no other: a batch of 1,000
// series against a store that is down asks it at most once per accept in flight (64), not once
// per series, before answering 503.
func TestSaveModelsBatchStopsAcceptingAfterTheFirstError(t *testing.T) {
	var calls atomic.Int64
	s := newAPIServer(t, apiOption{wrap: func(st store.Store) store.Store { return acceptsDown{st, &calls} }})
	code, env := s.send(t, "POST", "/v1/batches", "application/json", []byte(saveModelsBatch(1000)))
	if code != http.StatusServiceUnavailable {
		t.Fatalf("%d %+v; want 503", code, env)
	}
	if n := calls.Load(); n < 1 || n > 64 {
		t.Errorf("AcceptSavedFit called %d times for 1000 series; want at most the 64 in flight when the first failed", n)
	}
}

// acceptsAfterRelease holds every AcceptSavedFit until its context is done or release is closed,
// then accepts, and answers the context's error if it is done: as Redis does when the caller
// gives up after the script ran.
type acceptsAfterRelease struct {
	store.Store
	started chan struct{}
	release chan struct{}
	once    *atomic.Bool
}

func (s acceptsAfterRelease) AcceptSavedFit(ctx context.Context, model, job string, lease time.Duration) (int64, error) {
	if s.once.CompareAndSwap(false, true) {
		close(s.started)
	}
	select {
	case <-ctx.Done():
	case <-s.release:
	}
	gen, err := s.Store.AcceptSavedFit(context.WithoutCancel(ctx), model, job, lease)
	if ctx.Err() != nil {
		return 0, ctx.Err()
	}
	return gen, err
}

// A client that leaves while the fits of its save_models batch are being accepted leaves no fit
// pending: the accepts are not cut short by the request's end.
func TestSaveModelsBatchClientLeavingMidAcceptLeavesNoFitPending(t *testing.T) {
	st := acceptsAfterRelease{started: make(chan struct{}), release: make(chan struct{}), once: new(atomic.Bool)}
	s := newAPIServer(t, apiOption{wrap: func(inner store.Store) store.Store { st.Store = inner; return st }})
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "POST", s.url+"/v1/batches", strings.NewReader(saveModelsBatch(3)))
	req.Header.Set("Content-Type", "application/json")
	done := make(chan struct{})
	go func() {
		defer close(done)
		if res, err := http.DefaultClient.Do(req); err == nil {
			res.Body.Close()
		}
	}()
	<-st.started
	cancel()
	<-done
	time.Sleep(300 * time.Millisecond) // time for the gateway to see the client gone, before the accepts go on
	close(st.release)
	deadline := time.Now().Add(10 * time.Second)
	for {
		infos, err := s.store.List(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		var pending []string
		for _, info := range infos {
			if len(info.Pending) > 0 {
				pending = append(pending, info.Model)
			}
		}
		if len(infos) > 0 && len(pending) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("models %d, with a fit pending: %v; want every accepted fit run or failed", len(infos), pending)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// replyLost runs every AcceptSavedFit but answers the one of series s1 with the error of a
// reply lost after the script ran (a read timeout, as go-redis gives when it does not retry).
type replyLost struct{ store.Store }

func (s replyLost) AcceptSavedFit(ctx context.Context, model, job string, lease time.Duration) (int64, error) {
	gen, err := s.Store.AcceptSavedFit(ctx, model, job, lease)
	if err == nil && strings.HasSuffix(model, ".s1") {
		return 0, errors.New("read tcp 127.0.0.1:6379: i/o timeout")
	}
	return gen, err
}

// A save_models batch whose store lost the reply to one series' accept leaves no fit pending:
// the gateway finds that fit by its job and fails it with the others, so a forecast of the
// model is answered 404 at once instead of being held for a fit that will never run.
func TestSaveModelsBatchWhoseAcceptReplyWasLostLeavesNoFitPending(t *testing.T) {
	s := newAPIServer(t, apiOption{
		wrap: func(st store.Store) store.Store { return replyLost{st} },
		cfg:  func(c *gateway.Config) { c.HoldTimeout = 3 * time.Second },
	})
	code, env := s.send(t, "POST", "/v1/batches", "application/json", []byte(saveModelsBatch(3)))
	if code != http.StatusServiceUnavailable {
		t.Fatalf("%d %+v; want 503", code, env)
	}
	infos, err := s.store.List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	lost := ""
	for _, info := range infos {
		if len(info.Pending) > 0 {
			t.Errorf("model %s: fits %+v pending after its batch was refused", info.Model, info.Pending)
		}
		if strings.HasSuffix(info.Model, ".s1") {
			lost = info.Model
		}
	}
	if lost == "" {
		t.Fatalf("models %+v: no fit accepted for s1", infos)
	}
	code, env = s.send(t, "POST", "/v1/models/"+lost+"/forecast", "application/json", []byte(`{"horizon":2}`))
	if code != http.StatusNotFound {
		t.Errorf("forecast of %s: %d %+v; want 404, the model's only fit having failed", lost, code, env)
	}
}
