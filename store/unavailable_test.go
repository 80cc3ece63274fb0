package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/forecastd/forecastd/store"
)

// A store that cannot be reached, over a real connection to a port nobody listens on, is
// unavailable; the store's answers about the data, and a caller's cancellation, are not.
func TestUnavailableTellsOutagesFromAnswers(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: time.Second})
	t.Cleanup(func() { rdb.Close() })
	st := store.NewRedis(rdb, store.RedisOptions{Prefix: "unavailable-test"})
	_, refused := st.Fit(t.Context(), "m", 1)
	if refused == nil || !store.Unavailable(refused) {
		t.Errorf("a refused connection (%v) is not unavailable", refused)
	}
	for _, err := range []error{
		fmt.Errorf("complete fit: %w", store.ErrNoFit), store.ErrNoJob, context.Canceled, context.DeadlineExceeded,
		errors.New("boom"), nil,
	} {
		if store.Unavailable(err) {
			t.Errorf("%v is unavailable", err)
		}
	}
	for _, err := range []error{
		fmt.Errorf("claim fit: %w", store.ErrNotReplicated), redis.ErrPoolTimeout,
	} {
		if !store.Unavailable(err) {
			t.Errorf("%v is not unavailable", err)
		}
	}
}
