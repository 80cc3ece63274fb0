package gateway_test

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/forecastd/forecastd/forecast"
	"github.com/forecastd/forecastd/store"
	"github.com/forecastd/forecastd/store/storetest"
)

// A forecast with no fit to wait for carries the generation the gateway found, and the
// processor that holds it decoded answers without reading the store; after a refit that
// failed, the forecast goes the long way and is told of the fallback.
func TestForecastWithNothingToWaitForNeedsNoProcessorRead(t *testing.T) {
	reads := &storetest.Reads{Store: store.NewMemory()}
	t.Cleanup(func() { reads.Close() })
	var fits atomic.Int32
	s := newAPIServer(t, apiOption{store: reads, fit: func(ctx context.Context, y []float64, spec forecast.Spec, p forecast.ProgressFunc) (forecast.Model, error) {
		if fits.Add(1) == 2 {
			return nil, errors.New("the second fit fails")
		}
		return forecast.Fit(ctx, y, spec, p)
	}})
	fit := []byte(`{"values":[1,2,3,4,5,6,7,8,9,10],"method":"naive"}`)
	if code, env := s.send(t, "POST", "/v1/models/m/fit", "application/json", fit); code != http.StatusOK {
		t.Fatalf("fit: %d %+v", code, env)
	}
	before := reads.Count()
	code, env := s.send(t, "POST", "/v1/models/m/forecast", "application/json", []byte(`{"horizon":2}`))
	if code != http.StatusOK || string(env.Data["generation"]) != "1" {
		t.Fatalf("forecast: %d %+v; want 200 on generation 1", code, env)
	}
	if n := reads.Count() - before; n != 0 {
		t.Errorf("the forecast read the store %d times, want none", n)
	}
	if code, _ := s.send(t, "POST", "/v1/models/m/fit", "application/json", fit); code == http.StatusOK {
		t.Fatalf("second fit: %d, want it to fail", code)
	}
	before = reads.Count()
	code, env = s.send(t, "POST", "/v1/models/m/forecast", "application/json", []byte(`{"horizon":2}`))
	if code != http.StatusOK || string(env.Data["generation"]) != "1" || len(env.Data["fallback"]) == 0 {
		t.Fatalf("forecast after a failed refit: %d %+v; want 200 on generation 1 with a fallback", code, env)
	}
	if reads.Count() == before {
		t.Error("the forecast after a failed refit did not read the store")
	}
}
