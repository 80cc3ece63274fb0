package main

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/forecastd/forecastd/broker"
	"github.com/forecastd/forecastd/messages"
	"github.com/forecastd/forecastd/store"
)

// serveOps serves /healthz, /readyz and /metrics for a processor that runs without a gateway,
// and debug (when not nil) under /debug/pprof/.
func serveOps(ctx context.Context, addr string, reg *prometheus.Registry, st store.Store, br *broker.Broker, debug http.Handler, log *slog.Logger) error {
	mux := http.NewServeMux()
	write := func(w http.ResponseWriter, status int, body messages.Envelope) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(body)
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		write(w, http.StatusOK, messages.Envelope{Status: messages.StatusSuccess, Data: messages.JSON(map[string]string{"status": "ok"})})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		if err := errors.Join(st.Ping(ctx), br.Ready(ctx)); err != nil {
			write(w, http.StatusServiceUnavailable, messages.Envelope{Status: messages.StatusError, Message: err.Error(), Code: http.StatusServiceUnavailable})
			return
		}
		write(w, http.StatusOK, messages.Envelope{Status: messages.StatusSuccess, Data: messages.JSON(map[string]string{"status": "ready"})})
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	if debug != nil {
		mux.Handle("/debug/pprof/", debug)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		write(w, http.StatusNotFound, messages.Envelope{Status: messages.StatusFail, Data: messages.JSON(map[string]string{"path": "a processor serves only /healthz, /readyz and /metrics"})})
	})
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	log.Info("processor ops endpoints listening", "addr", addr)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
