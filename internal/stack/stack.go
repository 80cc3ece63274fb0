// Package stack runs forecastd in a test's own process: processors and gateways over one
// broker and one store, each part with its own lifetime, everything stopped when the test
// ends. Tests that need real processes (kills, restarts of servers) use internal/testenv.
package stack

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/forecastd/forecastd/broker"
	"github.com/forecastd/forecastd/gateway"
	"github.com/forecastd/forecastd/processor"
	"github.com/forecastd/forecastd/store"
)

// Config says what the parts of a stack share. The zero value is an in-process stack: one
// GoChannel broker and a memory store.
type Config struct {
	// Store is the parts' store; nil means a memory store of the stack's own. A store given
	// here stays open when the test ends: its owner closes it.
	Store store.Store
	// Connect gives each part a broker connection of its own (RabbitMQ); nil means every part
	// shares one in-process broker.
	Connect func(watermill.LoggerAdapter) (*broker.Broker, error)
	// Log receives the parts' logs; nil discards them.
	Log *slog.Logger
}

// Stack is the running parts of one test.
type Stack struct {
	t       testing.TB
	store   store.Store
	log     *slog.Logger
	wlog    watermill.LoggerAdapter
	shared  *broker.Broker // nil when each part connects on its own
	connect func(watermill.LoggerAdapter) (*broker.Broker, error)
}

// New returns an empty stack; its parts stop when t ends.
func New(t testing.TB, cfg Config) *Stack {
	t.Helper()
	s := &Stack{t: t, store: cfg.Store, log: cfg.Log, connect: cfg.Connect}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s.wlog = watermill.NewSlogLogger(s.log)
	if s.store == nil {
		st := store.NewMemory()
		s.store = st
		t.Cleanup(func() { _ = st.Close() })
	}
	if s.connect == nil {
		s.shared = broker.NewInProcess(s.wlog)
		t.Cleanup(func() { _ = s.shared.Close() })
	}
	return s
}

// Store is the store every part uses.
func (s *Stack) Store() store.Store { return s.store }

// broker returns a part's broker and whether the part owns it (and closes it).
func (s *Stack) broker() (*broker.Broker, bool) {
	s.t.Helper()
	if s.shared != nil {
		return s.shared, false
	}
	br, err := s.connect(s.wlog)
	if err != nil {
		s.t.Fatalf("connect to the broker: %v", err)
	}
	return br, true
}

// ProcessorOptions adjust a processor; the zero value is processor.DefaultConfig().
type ProcessorOptions struct {
	Config  func(*processor.Config)
	Options []processor.Option
	// WrapPublisher decorates the publisher the processor answers through.
	WrapPublisher func(message.Publisher) message.Publisher
	// WrapStore decorates the store the processor sees.
	WrapStore func(store.Store) store.Store
}

// Processor is a running processor.
type Processor struct {
	broker *broker.Broker
	owned  bool
	router *message.Router
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

// AddProcessor starts a processor consuming the commands; it is running when this returns.
func (s *Stack) AddProcessor(o ProcessorOptions) *Processor {
	s.t.Helper()
	br, owned := s.broker()
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: 2 * time.Second}, s.wlog)
	if err != nil {
		s.t.Fatalf("router: %v", err)
	}
	cfg := processor.DefaultConfig()
	if o.Config != nil {
		o.Config(&cfg)
	}
	var pub message.Publisher = br.Publisher
	if o.WrapPublisher != nil {
		pub = o.WrapPublisher(pub)
	}
	st := s.store
	if o.WrapStore != nil {
		st = o.WrapStore(st)
	}
	proc := processor.New(cfg, st, pub, s.log, o.Options...)
	if err := proc.Register(router, br.Commands, ""); err != nil {
		s.t.Fatalf("register the processor: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Processor{broker: br, owned: owned, router: router, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		_ = router.Run(ctx)
	}()
	<-router.Running()
	s.t.Cleanup(p.Stop)
	return p
}

// Stop stops the processor and waits for it; a second call does nothing.
func (p *Processor) Stop() {
	p.once.Do(func() {
		p.cancel()
		_ = p.router.Close()
		if p.owned {
			_ = p.broker.Close()
		}
		<-p.done
	})
}

// Kill ends the processor as a crash would: its work stops (no more lease renewals) and its
// broker connection drops without acknowledging what it holds, so the broker redelivers it.
// Only a processor with a connection of its own (Config.Connect) can be killed.
func (p *Processor) Kill() {
	if !p.owned {
		panic("stack: Kill needs a processor with a broker connection of its own")
	}
	p.cancel()
	_ = p.broker.Close()
}

// GatewayOptions adjust a gateway; the zero value is a started gateway with
// gateway.DefaultConfig().
type GatewayOptions struct {
	Config func(*gateway.Config)
	// WrapStore decorates the store this gateway sees.
	WrapStore func(store.Store) store.Store
	// WrapPublisher decorates the publisher this gateway sends commands through.
	WrapPublisher func(message.Publisher) message.Publisher
	// Web makes the dashboard's handler (web.Handler).
	Web func(notFound http.Handler) http.Handler
	// Unstarted leaves the gateway routed and served but not started: no replies, no live
	// feed, so commands wait and event streams are refused.
	Unstarted bool
}

// Gateway is a gateway served over HTTP at URL.
type Gateway struct {
	*gateway.Gateway
	URL      string
	Server   *httptest.Server
	Registry *prometheus.Registry // the gateway's metrics
	stop     func()
	once     sync.Once
}

// AddGateway starts a gateway with a reply queue of its own and serves it.
func (s *Stack) AddGateway(o GatewayOptions) *Gateway {
	s.t.Helper()
	br, owned := s.broker()
	cfg := gateway.DefaultConfig()
	if o.Config != nil {
		o.Config(&cfg)
	}
	st := s.store
	if o.WrapStore != nil {
		st = o.WrapStore(st)
	}
	pub := br.Publisher
	if o.WrapPublisher != nil {
		pub = o.WrapPublisher(pub)
	}
	reg := prometheus.NewRegistry()
	gw := gateway.New(cfg, gateway.Deps{
		Store: st, Publisher: pub, Replies: br.Replies, Ready: br.Ready, Log: s.log, Registry: reg, Web: o.Web,
	})
	ctx, cancel := context.WithCancel(context.Background())
	eg, ctx := errgroup.WithContext(ctx)
	if !o.Unstarted {
		if err := gw.Start(ctx, eg); err != nil {
			cancel()
			s.t.Fatalf("start the gateway: %v", err)
		}
	}
	srv := httptest.NewServer(gw.Handler())
	g := &Gateway{Gateway: gw, URL: srv.URL, Server: srv, Registry: reg}
	g.stop = func() {
		cancel() // sessions end with the gateway's lifetime
		_ = eg.Wait()
		srv.Close()
		if owned {
			_ = br.Close()
		}
	}
	s.t.Cleanup(g.Stop)
	return g
}

// Stop ends the gateway's lifetime (its sessions close), then its server; a second call does
// nothing.
func (g *Gateway) Stop() { g.once.Do(g.stop) }
