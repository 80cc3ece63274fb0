package integration

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/forecastd/forecastd/broker"
	"github.com/forecastd/forecastd/gateway"
	"github.com/forecastd/forecastd/internal/testenv"
	"github.com/forecastd/forecastd/store"
)

// A gateway whose store refuses writes no replica confirms answers a fit 503 once the replica
// is down, and the fit it had begun to accept is failed, not left pending; with the replica up
// the same fit is accepted.
func TestGatewayRefusesFitsWithTheReplicaDown(t *testing.T) {
	requireServices(t)
	primary, replica := testenv.StartReplicated(t)
	rdb := primary.Client(t)
	defer rdb.Close()
	st := store.NewRedis(rdb, store.RedisOptions{WaitTimeout: 200 * time.Millisecond, RefuseUnreplicated: true})
	defer st.Close()

	topo := declareTopology(t, "fdtest-"+uuid.NewString()[:8])
	br, err := broker.NewAMQPTopology(amqpURL, topo, 1, watermill.NopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	defer br.Close()
	gw := gateway.New(gateway.DefaultConfig(), gateway.Deps{
		Store: st, Publisher: br.Publisher, Replies: br.Replies, Ready: br.Ready,
		Log:      slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Registry: prometheus.NewRegistry(),
	})
	ctx, cancel := context.WithCancel(context.Background())
	eg, ctx := errgroup.WithContext(ctx)
	if err := gw.Start(ctx, eg); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gw.Handler())
	defer func() { srv.Close(); cancel(); _ = eg.Wait() }()

	fit := func() (int, string) {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/models/m/fit",
			strings.NewReader(`{"method":"naive","values":[1,2,3,4,5,6]}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Prefer", "respond-async")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var env struct{ Status string }
		_ = json.NewDecoder(resp.Body).Decode(&env)
		return resp.StatusCode, env.Status
	}
	if code, status := fit(); code != http.StatusAccepted {
		t.Fatalf("fit with the replica up: %d %s, want 202", code, status)
	}
	replica.Kill9(t)
	if code, status := fit(); code != http.StatusServiceUnavailable || status != "error" {
		t.Fatalf("fit with the replica down: %d %s, want a 503 JSend error", code, status)
	}
	if un, err := st.Unsettled(t.Context(), "m", 10); err != nil || len(un) != 1 || un[0] != 1 {
		t.Errorf("pending fits %v (%v), want only generation 1 (no processor runs here): the refused fit must be failed", un, err)
	}
}
