package processor_test

import (
	"context"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/forecastd/forecastd/messages"
	"github.com/forecastd/forecastd/processor"
	"github.com/forecastd/forecastd/store"
)

// unreachable is a store that cannot be reached until a moment passes: every call a fit makes
// fails as a refused connection does.
type unreachable struct {
	store.Store
	until time.Time
}

func (u unreachable) down() error {
	if time.Now().Before(u.until) {
		return &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	}
	return nil
}

func (u unreachable) RenewFit(ctx context.Context, model string, gen int64, owner string, lease time.Duration) (store.FitRecord, error) {
	if err := u.down(); err != nil {
		return store.FitRecord{}, err
	}
	return u.Store.RenewFit(ctx, model, gen, owner, lease)
}

func (u unreachable) PutUnlessAnswered(ctx context.Context, job store.Job, ttl time.Duration) (store.Job, bool, error) {
	if err := u.down(); err != nil {
		return store.Job{}, false, err
	}
	return u.Store.PutUnlessAnswered(ctx, job, ttl)
}

func (u unreachable) FailFit(ctx context.Context, model string, gen int64, reason string) (bool, error) {
	if err := u.down(); err != nil {
		return false, err
	}
	return u.Store.FailFit(ctx, model, gen, reason)
}

// A fit whose store cannot be reached for a while (Redis restarting, failing over) waits it out
// in the processor and succeeds, instead of using up its deliveries and being given up on: with
// no redelivery here (DeliveryLimit 0), a command failing past its in-process retries is given
// up at once, as it is on its last delivery with RabbitMQ. With StoreOutage 0 it would be.
func TestFitOutwaitsAnUnreachableStore(t *testing.T) {
	r := newRigOver(t, 1, func(c *processor.Config) { c.StoreOutage = time.Minute }, func(m *store.Memory) store.Store {
		return unreachable{Store: m, until: time.Now().Add(2 * time.Second)}
	})
	r.publish(t, messages.TopicFit, r.naiveFit(t, "m", "fit-1"))
	if rep := r.resultWithin(t, 20*time.Second); rep.Failure != nil {
		t.Fatalf("the fit failed: %+v", rep.Failure)
	}
	if cur, err := r.st.Current(t.Context(), "m"); err != nil || cur.Generation != 1 {
		t.Fatalf("current model %d, %v; want generation 1", cur.Generation, err)
	}
}
