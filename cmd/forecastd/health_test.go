package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/forecastd/forecastd/broker"
	"github.com/forecastd/forecastd/gateway"
	"github.com/forecastd/forecastd/store"
)

// health runs 'forecastd health' as main would and returns its exit code and error line.
func health(t *testing.T, args ...string) (int, string) {
	t.Helper()
	var stderr strings.Builder
	err := dispatch(append([]string{"health"}, args...), func(string) string { return "" }, io.Discard, &stderr)
	if err == nil {
		return 0, ""
	}
	return exitCode(err), err.Error()
}

// closedAddr is an address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestHealth(t *testing.T) {
	answer := func(status int, body string) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/readyz" {
				http.NotFound(w, r)
				return
			}
			w.WriteHeader(status)
			io.WriteString(w, body)
		}))
		t.Cleanup(srv.Close)
		return srv.URL + "/readyz"
	}
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	t.Cleanup(hang.Close)
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantReason string
	}{
		{"ready", []string{"--url", answer(200, `{"status":"success","data":{"broker":"ok","store":"ok"}}`)}, 0, ""},
		{"nothing listens", []string{"--url", "http://" + closedAddr(t) + "/readyz"}, 1, "connection refused"},
		{"gateway not ready", []string{"--url", answer(503, `{"status":"error","message":"not ready","data":{"broker":"ok","store":"ping redis: dial tcp: connection refused"}}`)},
			1, "answered 503: store: ping redis: dial tcp: connection refused"},
		{"processor not ready", []string{"--url", answer(503, `{"status":"error","message":"ping redis: refused\nrabbitmq: not connected","code":503}`)},
			1, "answered 503: ping redis: refused; rabbitmq: not connected"},
		{"not JSend", []string{"--url", answer(502, "<html>bad gateway</html>")}, 1, "answered 502: <html>bad gateway</html>"},
		{"no answer in time", []string{"--url", hang.URL + "/readyz", "--timeout", "200ms"}, 1, "deadline exceeded"},
		{"bad flag", []string{"--nope"}, 2, "not defined"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, reason := health(t, tc.args...)
			if code != tc.wantCode || !strings.Contains(reason, tc.wantReason) || strings.Contains(reason, "\n") {
				t.Fatalf("exit %d, %q; want exit %d and one line with %q", code, reason, tc.wantCode, tc.wantReason)
			}
		})
	}
}

func TestUsageNamesHealth(t *testing.T) {
	var out strings.Builder
	if err := dispatch([]string{"--help"}, func(string) string { return "" }, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "forecastd health") {
		t.Fatalf("usage does not list health:\n%s", out.String())
	}
}

// deadRedis is a Redis store whose server is not there.
func deadRedis(t *testing.T) store.Store {
	t.Helper()
	client := redis.NewClient(&redis.Options{Addr: closedAddr(t), MaxRetries: -1, DialTimeout: time.Second})
	t.Cleanup(func() { client.Close() })
	st := store.NewRedis(client, store.RedisOptions{})
	t.Cleanup(func() { st.Close() })
	return st
}

// The real readiness handlers, with Redis down, make 'forecastd health' fail.
func TestHealthAgainstRealReadiness(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	t.Run("gateway", func(t *testing.T) {
		gw := gateway.New(gateway.DefaultConfig(), gateway.Deps{Store: deadRedis(t), Log: log})
		srv := httptest.NewServer(gw.Handler())
		t.Cleanup(srv.Close)
		if code, reason := health(t, "--url", srv.URL+"/readyz"); code != 1 || !strings.Contains(reason, "store: ping redis") {
			t.Fatalf("exit %d, %q; want 1 naming the store", code, reason)
		}
	})
	processor := func(t *testing.T, st store.Store) string {
		t.Helper()
		ctx, cancel := context.WithCancel(context.Background())
		br := broker.NewInProcess(watermill.NopLogger{})
		addr := closedAddr(t)
		done := make(chan error, 1)
		go func() { done <- serveOps(ctx, addr, prometheus.NewRegistry(), st, br, nil, log) }()
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				t.Error(err)
			}
			br.Close()
		})
		url := "http://" + addr + "/readyz"
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if resp, err := http.Get("http://" + addr + "/healthz"); err == nil {
				resp.Body.Close()
				return url
			}
		}
		t.Fatal("processor ops server did not start")
		return ""
	}
	t.Run("processor ready", func(t *testing.T) {
		if code, reason := health(t, "--url", processor(t, store.NewMemory())); code != 0 {
			t.Fatalf("exit %d, %q; want 0", code, reason)
		}
	})
	t.Run("processor with redis down", func(t *testing.T) {
		if code, reason := health(t, "--url", processor(t, deadRedis(t))); code != 1 || !strings.Contains(reason, "ping redis") {
			t.Fatalf("exit %d, %q; want 1 naming redis", code, reason)
		}
	})
}
