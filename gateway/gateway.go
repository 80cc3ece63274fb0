// Package gateway is forecastd's only entry point: the HTTP API, the registry of requests
// waiting for processor replies, reply routing, and the holding of forecasts until the fits they
// depend on have ended. It wires the live hub (gateway/live) and the transports that serve its
// sessions (gateway/sse, gateway/ws), and maps every error to a status once.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/forecastd/forecastd/gateway/auth"
	"github.com/forecastd/forecastd/gateway/live"
	"github.com/forecastd/forecastd/gateway/sse"
	"github.com/forecastd/forecastd/gateway/ws"
	"github.com/forecastd/forecastd/messages"
	"github.com/forecastd/forecastd/store"
)

// Config tunes the gateway.
type Config struct {
	Addr string
	// ID names this gateway's reply queue; empty picks a random one.
	ID string
	// RequestTimeout bounds how long a synchronous request waits before 504 (the job goes on).
	RequestTimeout time.Duration
	// BodyTimeout bounds how long a client may take to send a request body, from the end of its
	// headers (408 after it); zero disables the limit. It does not bound the answer. The default,
	// 30 s, lets the largest body (messages.MaxBodyBytes, 8 MiB) arrive over a link of about
	// 2.2 Mbit/s, and a typical fit's in well under a second, while a client that stalls holds
	// a connection and a goroutine no longer than that.
	BodyTimeout time.Duration
	// BatchUploadMaxBytes bounds a batch uploaded as CSV or NDJSON (413 past it); uploads are
	// read as a stream, so the limit is far above messages.MaxBodyBytes.
	BatchUploadMaxBytes int64
	// BatchUploadMinRate is the throughput, in bytes per second, an upload must keep up on
	// average: it has BodyTimeout plus one second per BatchUploadMinRate bytes received so far
	// (408 past that), so a big upload over a fair link is not cut and a stalled one is.
	BatchUploadMinRate int64
	// BatchUploads bounds how many batch uploads the gateway reads and accepts at once: an
	// upload of BatchUploadMaxBytes takes several times its size in memory (a 256 MiB CSV, 1.1
	// GiB of heap to parse) while it is read and published. One more is answered 503 with Retry-After; JSON batches are not counted
	// (messages.MaxBodyBytes bounds them).
	BatchUploads int
	// HoldTimeout bounds how long a forecast is held waiting for fits it depends on.
	HoldTimeout time.Duration
	// RecheckInterval is how often held forecasts and POST batch streams re-check the store
	// besides pub/sub events.
	RecheckInterval time.Duration
	// FitQueueLease bounds how long an accepted fit may go with no processor holding it (waiting
	// in the queue, or for its command to be redelivered after its processor died) before it is
	// given up (expired), releasing the forecasts waiting for it. It must cover the queue's worst
	// backlog, so it is generous. It starts once the fit's publish is confirmed: until then the
	// fit is accepted for the publish's time only (acceptWindow, 20 s), so that one whose command
	// never reached the queue does not hold its model's forecasts for a whole queue lease.
	FitQueueLease time.Duration
	// BatchSendLease is how long a batch may go, while its series are published, without the
	// gateway renewing its send lease (every third of it) before it is failed as unsent: a
	// gateway that died mid-publish leaves no batch running forever, its remaining series never
	// to come. Every gateway fails such batches, checking every third of the lease.
	BatchSendLease time.Duration
	// LostReplyCheck is how long a waiting request goes without its reply before the gateway
	// reads the job's record instead (then at doubling intervals), so a reply lost with the
	// reply queue in a broker restart still gets its client an answer.
	LostReplyCheck time.Duration
	// JobTTL is how long job records stay pollable.
	JobTTL time.Duration
	// ShutdownTimeout bounds the graceful part of shutdown.
	ShutdownTimeout time.Duration

	// Heartbeat is how often live sessions get a keep-alive (an SSE comment, a WebSocket ping);
	// one ticker serves them all. Zero disables it.
	Heartbeat time.Duration
	// SSERetry is the reconnection delay suggested to SSE clients.
	SSERetry time.Duration
	// SendQueue bounds the messages queued for one live session; a session that falls further
	// behind is disconnected as a slow consumer.
	SendQueue int
	// EventLinger is how long fit_accepted, fit_progress and batch_progress events may wait in
	// a live session's queue for the event that follows them, to reach the client in one write
	// (see live.Config.Linger); zero: no wait.
	EventLinger time.Duration
	// WriteTimeout bounds one write to a live session and the wait for a ping's pong.
	WriteTimeout time.Duration
	// WSReadLimit bounds one WebSocket message from a client, in bytes.
	WSReadLimit int64
	// RateLimit is how many fits and forecasts per second one client address may send, with
	// bursts of RateBurst; 0 disables the limit.
	RateLimit float64
	RateBurst int
	// Tokens, when not empty, turns on authentication: API requests need a bearer token, and
	// fits one with ScopeWrite.
	Tokens []auth.Token
	// AllowedOrigins lists host patterns (path.Match syntax, e.g. "*.example.com") of other
	// origins whose browsers may open WebSocket sessions; same-origin is always allowed.
	AllowedOrigins []string
}

// DefaultConfig returns the defaults used by forecastd.
func DefaultConfig() Config {
	return Config{
		Addr:            ":8080",
		RequestTimeout:  60 * time.Second,
		BodyTimeout:     30 * time.Second,
		HoldTimeout:     10 * time.Minute,
		RecheckInterval: time.Second,
		FitQueueLease:   15 * time.Minute,
		BatchSendLease:  30 * time.Second,
		LostReplyCheck:  2 * time.Second,
		JobTTL:          24 * time.Hour,
		ShutdownTimeout: 10 * time.Second,
		Heartbeat:       15 * time.Second,
		SSERetry:        2 * time.Second,
		SendQueue:       256,
		EventLinger:     live.DefaultLinger,
		WriteTimeout:    10 * time.Second,
		WSReadLimit:     messages.MaxBodyBytes,
		RateLimit:       50,
		RateBurst:       200,

		BatchUploadMaxBytes: 256 << 20,
		BatchUploadMinRate:  256 << 10,
		BatchUploads:        2,
	}
}

// Deps are the gateway's collaborators.
type Deps struct {
	Store     store.Store
	Publisher message.Publisher
	// Replies is subscribed to this gateway's reply topic.
	Replies message.Subscriber
	// Ready checks the broker; nil means always ready.
	Ready    func(context.Context) error
	Log      *slog.Logger
	Registry *prometheus.Registry
	// Web makes the handler of the dashboard's files, which answers a path naming no file with
	// notFound (web.Handler); nil serves none.
	Web func(notFound http.Handler) http.Handler
	// Debug, when not nil, is served under /debug/pprof/ (forecastd --pprof).
	Debug http.Handler
}

// Gateway serves the public API.
type Gateway struct {
	cfg       Config
	deps      Deps
	log       *slog.Logger
	runs      *registry
	hub       *live.Hub
	mux       *http.ServeMux // the routes, without the middleware around them (see serves)
	settle    *settleChecks  // held forecasts' shared re-checks
	events    *sse.Handler
	ws        *ws.Handler
	metrics   *metrics
	limit     *limiter      // nil: no rate limit
	uploads   chan struct{} // a slot per batch upload being read and accepted
	tokens    auth.Tokens   // nil: no authentication
	handler   http.Handler
	endpoints []Endpoint
	// root is the gateway's lifetime: jobs outlive the requests that started them.
	root context.Context
	now  func() time.Time
}

// New builds a gateway. Call Run to serve.
func New(cfg Config, deps Deps) *Gateway {
	if cfg.ID == "" {
		cfg.ID = "gw-" + uuid.NewString()[:8]
	}
	if cfg.BatchSendLease <= 0 { // a batch would be failed as unsent as soon as it was recorded
		cfg.BatchSendLease = DefaultConfig().BatchSendLease
	}
	if deps.Registry == nil {
		deps.Registry = prometheus.NewRegistry()
	}
	g := &Gateway{
		cfg: cfg, deps: deps, log: deps.Log.With("gateway", cfg.ID),
		runs: newRegistry(), metrics: newMetrics(deps.Registry), uploads: make(chan struct{}, max(cfg.BatchUploads, 1)),
		root: context.Background(), now: time.Now,
	}
	g.settle = newSettleChecks(func(ctx context.Context, model string, upTo int64) ([]int64, error) {
		return g.deps.Store.Unsettled(ctx, model, upTo)
	})
	deps.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "forecastd_jobs_in_flight", Help: "Jobs this gateway follows until their replies arrive.",
	}, func() float64 { return float64(g.runs.len()) }))
	g.hub = live.New(live.Config{
		SendQueue: cfg.SendQueue, WriteTimeout: cfg.WriteTimeout, Heartbeat: cfg.Heartbeat,
		RecheckInterval: cfg.RecheckInterval, ReplayTimeout: cfg.RequestTimeout, Linger: cfg.EventLinger,
	}, deps.Store, live.Metrics{
		Sessions: g.metrics.sessions, Closed: g.metrics.sessionsClosed,
		Writes: g.metrics.sessionWrites, Messages: g.metrics.sessionMessages,
	}, g.log)
	g.events = sse.New(sse.Config{Retry: cfg.SSERetry, WriteTimeout: cfg.WriteTimeout, Heartbeats: cfg.Heartbeat > 0}, g.hub, g.writeError, g.log)
	if cfg.RateLimit > 0 {
		g.limit = newLimiter(cfg.RateLimit, cfg.RateBurst)
	}
	g.tokens = auth.NewTokens(cfg.Tokens)
	g.ws = ws.New(ws.Config{ReadLimit: cfg.WSReadLimit, WriteTimeout: cfg.WriteTimeout, AllowedOrigins: cfg.AllowedOrigins}, ws.Deps{
		Hub: g.hub, Commands: wsCommands{g}, Answer: g.answerError, Fail: g.writeError,
		Scope: g.tokens.ScopeOf, Client: clientAddr, Log: g.log,
	})
	g.handler = g.routes()
	return g
}

// ID is the gateway's id, the routing key of its replies.
func (g *Gateway) ID() string { return g.cfg.ID }

// Handler is the gateway's HTTP handler (used directly by tests).
func (g *Gateway) Handler() http.Handler { return g.handler }

// Start begins consuming replies and model events without serving HTTP; Run calls it. It
// returns once the reply subscription exists, so commands published after it get answered.
func (g *Gateway) Start(ctx context.Context, eg *errgroup.Group) error {
	g.root = ctx
	replies, err := g.deps.Replies.Subscribe(ctx, messages.ReplyTopic(g.cfg.ID))
	if err != nil {
		return fmt.Errorf("subscribe to replies: %w", err)
	}
	eg.Go(func() error { g.consumeReplies(replies); return nil })
	ready := make(chan struct{})
	g.hub.Start(ctx, eg, ready)
	if g.limit != nil {
		eg.Go(func() error { g.limit.janitor(ctx); return nil })
	}
	maxAge := g.cfg.HoldTimeout + g.cfg.RequestTimeout
	eg.Go(func() error {
		g.runs.janitor(ctx, maxAge, func(r *run) {
			g.complete(r, nil, messages.Errorf(messages.CodeTimeout, nil, "no answer within %s; poll /v1/jobs/%s for the outcome", maxAge, r.id).WithJob(r.id))
		})
		return nil
	})
	eg.Go(func() error { g.reconcile(ctx); return nil })
	eg.Go(func() error { g.expireUnsentBatches(ctx); return nil })
	select {
	case <-ready:
	case <-time.After(5 * time.Second):
		g.log.Warn("model event subscription not ready yet; held forecasts fall back to periodic re-checks")
	}
	return nil
}

// Run serves HTTP on cfg.Addr until ctx ends, then shuts down: stops accepting, closes live
// sessions, waits for in-flight requests up to ShutdownTimeout.
func (g *Gateway) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", g.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", g.cfg.Addr, err)
	}
	return g.Serve(ctx, ln)
}

// Serve is Run on an existing listener.
func (g *Gateway) Serve(ctx context.Context, ln net.Listener) error {
	eg, ctx := errgroup.WithContext(ctx)
	if err := g.Start(ctx, eg); err != nil {
		return err
	}
	// Requests get a context that outlives ctx until Shutdown has drained them, so a request
	// in flight at shutdown is answered (503, see waitRun) instead of cut off with an empty 200.
	base, cancelBase := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelBase()
	srv := &http.Server{
		Handler:           g.handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		BaseContext:       func(net.Listener) context.Context { return base },
	}
	g.log.Info("gateway listening", "addr", ln.Addr().String())
	eg.Go(func() error {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve http: %w", err)
		}
		return nil
	})
	eg.Go(func() error {
		<-ctx.Done()
		g.log.Info("gateway shutting down")
		sctx, cancel := context.WithTimeout(context.Background(), g.cfg.ShutdownTimeout)
		defer cancel()
		// Shutdown does not end streams; their handlers watch ctx and return. Live sessions
		// (hijacked connections) close themselves as ctx ends: wait for their handshakes.
		err := srv.Shutdown(sctx)
		if errors.Is(err, context.DeadlineExceeded) {
			err = srv.Close()
		}
		if werr := g.hub.Wait(sctx); werr != nil {
			g.log.Warn("shutdown", "err", werr)
		}
		return err
	})
	return eg.Wait()
}
