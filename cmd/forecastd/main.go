// Command forecastd runs the forecasting service: the gateway, the processors, or both in one
// process, and offline batch forecasting.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"syscall"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"github.com/forecastd/forecastd/broker"
	"github.com/forecastd/forecastd/gateway"
	"github.com/forecastd/forecastd/processor"
	"github.com/forecastd/forecastd/store"
	"github.com/forecastd/forecastd/web"
)

const usage = `forecastd — fit time-series models and get forecasts pushed live.

Usage:
  forecastd all        gateway and processors in one process (embedded broker and store
                       unless FORECASTD_AMQP_URL and FORECASTD_REDIS_URL are set)
  forecastd gateway    the HTTP/WebSocket/SSE gateway (needs RabbitMQ and Redis)
  forecastd processor  fit and forecast workers (needs RabbitMQ and Redis; --role fit|forecast|all)
  forecastd batch      forecast many series from a JSON file offline (--input, --output)
  forecastd health     exit 0 if the gateway or processor at --url is ready (RabbitMQ and
                       Redis reachable), 1 otherwise; the container healthcheck

Run 'forecastd <command> --help' for the flags; each flag also reads FORECASTD_<FLAG>.
`

func main() {
	err := dispatch(os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	if code := exitCode(err); code != 0 {
		fmt.Fprintln(os.Stderr, "forecastd:", err)
		os.Exit(code)
	}
}

// exitCode is 0 on success or help, 1 for a service found not ready, 2 for any other failure.
func exitCode(err error) int {
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUnhealthy):
		return 1
	}
	return 2
}

func dispatch(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, usage)
		if len(args) == 0 {
			fmt.Fprintln(stdout)
			_, _ = parseConfig("all", []string{"--help"}, getenv, stdout)
		}
		return nil
	}
	cmd := args[0]
	if cmd == "batch" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		return runBatch(ctx, args[1:], stdout, stderr)
	}
	if cmd == "health" {
		return runHealth(context.Background(), args[1:], stderr)
	}
	switch cmd {
	case "all", "gateway", "processor":
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", cmd)
	}
	cfg, err := parseConfig(cmd, args[1:], getenv, stderr)
	if err != nil {
		return err
	}
	log := newLogger(cfg, stderr)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log.Info("forecastd starting", "command", cmd, "config", cfg)
	if err := run(ctx, cfg, log); err != nil {
		log.Error("forecastd stopped", "err", err)
		return err
	}
	log.Info("forecastd stopped")
	return nil
}

// run wires the parts cfg.Command needs and runs them until ctx ends.
func run(ctx context.Context, cfg config, log *slog.Logger) error {
	wlog := watermill.NewSlogLogger(log.With("component", "watermill"))
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	st, closeStore, err := openStore(ctx, cfg, reg, log.With("component", "store"))
	if err != nil {
		return err
	}
	defer closeStore()
	br, err := openBroker(cfg, wlog)
	if err != nil {
		return err
	}
	defer br.Close()

	eg, ctx := errgroup.WithContext(ctx)

	if cfg.runsProcessor() {
		router, err := message.NewRouter(message.RouterConfig{CloseTimeout: cfg.ShutdownTimeout}, wlog)
		if err != nil {
			return fmt.Errorf("watermill router: %w", err)
		}
		pcfg := cfg.Processor
		if cfg.AMQPURL == "" {
			pcfg.DeliveryLimit = 0 // GoChannel never redelivers a failed command
			pcfg.Parallel = cfg.Concurrency
		}
		proc := processor.New(pcfg, st, br.Publisher, log.With("component", "processor"), processor.WithMetrics(reg))
		// GoChannel fans a topic out to every subscriber, so the embedded broker gets one consumer
		// per queue; RabbitMQ shares a queue among competing consumers.
		consumers := map[string]int{processor.RoleFit: 1, processor.RoleForecast: 1, processor.RoleBatch: 1}
		if cfg.AMQPURL != "" {
			consumers = map[string]int{processor.RoleFit: cfg.Concurrency, processor.RoleForecast: cfg.ForecastConcurrency, processor.RoleBatch: cfg.BatchConcurrency}
		}
		for role, n := range consumers {
			for i := range n {
				if err := proc.RegisterRole(router, br.Commands, fmt.Sprintf("-%d", i), role); err != nil {
					return err
				}
			}
		}
		if cfg.AMQPURL != "" { // RabbitMQ dead-letters commands past their delivery limit
			proc.RegisterDeadLetters(router, br.Commands, "")
		}
		routerErr := make(chan error, 1)
		eg.Go(func() error { err := router.Run(ctx); routerErr <- err; return err })
		eg.Go(func() error { <-ctx.Done(); return router.Close() })
		select { // a router that fails to start never reports running
		case <-router.Running():
		case err := <-routerErr:
			return fmt.Errorf("processor router: %w", err)
		case <-ctx.Done():
			return eg.Wait()
		}
	}
	var debug http.Handler
	if cfg.Pprof {
		debug = pprofHandler()
	}
	if cfg.runsGateway() {
		gw := gateway.New(cfg.Gateway, gateway.Deps{
			Store: st, Publisher: br.Publisher, Replies: br.Replies, Ready: br.Ready,
			Log: log.With("component", "gateway"), Registry: reg, Web: web.Handler, Debug: debug,
		})
		eg.Go(func() error { return gw.Run(ctx) })
	} else {
		// A processor alone still exposes health and metrics on its own address.
		eg.Go(func() error { return serveOps(ctx, cfg.OpsAddr, reg, st, br, debug, log) })
	}
	return eg.Wait()
}

// redisPoolSize is the Redis connection pool of a process, unless the URL sets pool_size.
const redisPoolSize = 128

// openStore returns the configured store and a function that closes it and its client.
func openStore(ctx context.Context, cfg config, reg prometheus.Registerer, log *slog.Logger) (store.Store, func(), error) {
	if cfg.RedisURL == "" {
		st := store.NewMemory()
		return st, func() { st.Close() }, nil
	}
	target, err := parseRedisURL(cfg.RedisURL)
	if err != nil {
		return nil, nil, fmt.Errorf("FORECASTD_REDIS_URL: %w", err)
	}
	client := target.client()
	if err := client.Ping(ctx).Err(); err != nil {
		client.Close()
		return nil, nil, fmt.Errorf("connect to redis: %w", err)
	}
	st := store.NewRedis(client, store.RedisOptions{
		WaitTimeout: cfg.RedisWaitTimeout, RefuseUnreplicated: cfg.RedisReplicaDown == replicaDownRefuse, Log: log,
	})
	reg.MustRegister(st.Collector())
	return st, func() { st.Close(); client.Close() }, nil
}

// What a write that acceptance or completion rests on does when no replica confirms it.
const (
	replicaDownProceed = "proceed"
	replicaDownRefuse  = "refuse"
)

// redisTarget is what FORECASTD_REDIS_URL names: one server, or a primary found through Sentinel.
type redisTarget struct {
	single   *redis.Options
	failover *redis.FailoverOptions
}

// parseRedisURL reads a plain Redis URL, or a go-redis failover URL: the host and each addr
// parameter a Sentinel, master_name the primary they watch, username and password parameters
// the primary's credentials (the user info is the Sentinels').
func parseRedisURL(raw string) (redisTarget, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return redisTarget{}, errors.New("not a URL") // url's error would show the password
	}
	if n := u.Query().Get("max_retries"); n != "" && n != "0" && n != "-1" {
		return redisTarget{}, errors.New("max_retries: forecastd sends each Redis command once (a script retried after its reply was lost would run twice); leave it out")
	}
	if !u.Query().Has("master_name") {
		o, err := redis.ParseURL(raw)
		return redisTarget{single: o}, err
	}
	o, err := redis.ParseFailoverURL(raw)
	if err != nil {
		return redisTarget{}, err
	}
	if o.MasterName == "" {
		return redisTarget{}, errors.New("master_name is empty")
	}
	return redisTarget{failover: o}, nil
}

// client opens the target. A pool size the URL leaves unset is redisPoolSize: go-redis's
// default, 10 per CPU, makes forecasts queue for connections on a small machine, where a
// gateway has a round trip per forecast in flight and a processor two.
//
// Commands are never retried by the client: go-redis would send a command again when its
// reply did not come (a dropped connection, a read timeout), after the server ran it, and the
// store's scripts must run once per call (an accept run twice hands out two generations for
// one fit). Only the retries that are safe are made (store.RetryUnsent: no connection, or a
// server that refused the command without running it, as a replica does during a failover).
// Any other failed call is the caller's to handle, as every store error already is: the
// gateway answers 503, a processor keeps the command's delivery and tries again.
func (t redisTarget) client() *redis.Client {
	var c *redis.Client
	if t.failover != nil {
		if t.failover.PoolSize == 0 {
			t.failover.PoolSize = redisPoolSize
		}
		t.failover.MaxRetries = -1
		c = redis.NewFailoverClient(t.failover)
	} else {
		if t.single.PoolSize == 0 {
			t.single.PoolSize = redisPoolSize
		}
		t.single.MaxRetries = -1
		c = redis.NewClient(t.single)
	}
	c.AddHook(store.RetryUnsent{})
	return c
}

func openBroker(cfg config, log watermill.LoggerAdapter) (*broker.Broker, error) {
	if cfg.AMQPURL == "" {
		return broker.NewInProcess(log), nil
	}
	return broker.NewAMQP(cfg.AMQPURL, 1, log, broker.WithBundleMax(cfg.AMQPBundleMax))
}
