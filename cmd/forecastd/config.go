package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/forecastd/forecastd/broker"
	"github.com/forecastd/forecastd/gateway"
	"github.com/forecastd/forecastd/gateway/auth"
	"github.com/forecastd/forecastd/processor"
)

// defaultOpsAddr is where a processor alone serves /metrics, /healthz and /readyz: not the
// gateway's :8080, so a gateway and processors on one host do not collide by default.
const defaultOpsAddr = ":9090"

// config is everything forecastd reads from flags and FORECASTD_* environment variables, read
// once at start. A flag wins over its variable; the variable wins over the default. The
// defaults of the gateway and the processors are their packages' DefaultConfig.
type config struct {
	Command   string           // all, gateway or processor
	Gateway   gateway.Config   // used by all and gateway
	Processor processor.Config // used by all and processor

	// OpsAddr is a processor's address for /metrics, /healthz and /readyz (--http-addr of
	// 'forecastd processor'); with the gateway, the gateway serves them on its own address.
	OpsAddr string
	AMQPURL string // one URL, or a comma-separated list of a cluster's nodes
	// AMQPBundleMax is how many forecast commands or replies one AMQP message may carry
	// (broker.WithBundleMax); 1 sends each alone, as releases before bundles did.
	AMQPBundleMax int
	RedisURL      string // redis://host:port/db, or a Sentinel failover URL (master_name, addr)
	// RedisWaitTimeout is how long the writes that acceptance and completion rest on wait for
	// a Redis replica when the primary has one; 0 never waits.
	RedisWaitTimeout time.Duration
	// RedisReplicaDown is what such a write does when no replica confirms it: proceed (with a
	// warning and a metric) or refuse (the request fails as unavailable).
	RedisReplicaDown string
	// Concurrency is how many fits a processor runs at once (with the embedded broker, also
	// forecasts); ForecastConcurrency how many consumers of the forecast queue with RabbitMQ,
	// each taking a forecast or a bundle of them at a time (processor.Config.MaxForecasts bounds
	// the forecasts running at once). A forecast spends its time waiting on Redis and the
	// broker, not on the CPU, so it gets many more consumers.
	Concurrency         int
	ForecastConcurrency int
	// BatchConcurrency is how many batch series a processor of role fit or all fits at once
	// with RabbitMQ (consumers of the batch queue), beside its fits.
	BatchConcurrency int
	LogLevel         string
	LogFormat        string
	AuthTokens       string // path of the token file, read into Gateway.Tokens; empty: no authentication
	// Pprof serves net/http/pprof under /debug/pprof/ on the ops address (the gateway's own
	// address, or a processor's --http-addr). Off by default: profiles expose internals.
	Pprof           bool
	ShutdownTimeout time.Duration
}

func (c config) runsGateway() bool   { return c.Command == "all" || c.Command == "gateway" }
func (c config) runsProcessor() bool { return c.Command == "all" || c.Command == "processor" }

// parseConfig reads args (after the subcommand cmd) and the environment. It defines only the
// flags of the parts cmd runs, so each command's --help lists what applies to it.
func parseConfig(cmd string, args []string, getenv func(string) string, out io.Writer) (config, error) {
	c := config{
		Command: cmd, Gateway: gateway.DefaultConfig(), Processor: processor.DefaultConfig(),
		OpsAddr: defaultOpsAddr, Concurrency: 2, ForecastConcurrency: 16, BatchConcurrency: 1, LogLevel: "info", LogFormat: "text",
		RedisWaitTimeout: 500 * time.Millisecond, RedisReplicaDown: replicaDownProceed, AMQPBundleMax: broker.DefaultBundleMax,
		ShutdownTimeout: gateway.DefaultConfig().ShutdownTimeout,
	}
	fs := flag.NewFlagSet("forecastd "+cmd, flag.ContinueOnError)
	fs.SetOutput(out)
	b := &binder{fs: fs, getenv: getenv}

	if c.runsGateway() {
		b.str(&c.Gateway.Addr, "http-addr", "gateway listen address (API, dashboard, /metrics, /healthz, /readyz)")
	} else {
		b.str(&c.OpsAddr, "http-addr", "processor address for /metrics, /healthz and /readyz")
	}
	b.str(&c.AMQPURL, "amqp-url", "RabbitMQ URL, or a comma-separated list of the URLs of a cluster's nodes (same user, password, vhost and options; only host:port differ); empty runs the in-process broker (only with 'all')")
	b.num(&c.AMQPBundleMax, "amqp-bundle-max", "most forecast commands or replies sent together in one RabbitMQ message when many are published at once; 1 sends each alone, which a rolling upgrade from a release before 2026-12 needs until every gateway and processor is upgraded")
	b.str(&c.RedisURL, "redis-url", "Redis URL (redis://host:6379/0), or a Sentinel failover URL (redis://sentinel1:26379/0?master_name=NAME&addr=sentinel2:26379&addr=…); empty uses the in-memory store (only with 'all')")
	b.dur(&c.RedisWaitTimeout, "redis-wait-timeout", "how long accepting, completing and failing a fit wait for a Redis replica to confirm the write (WAIT) when the primary has replicas; 0 never waits")
	b.str(&c.RedisReplicaDown, "redis-replica-down", "when no replica confirms such a write in time: proceed (a warning and forecastd_store_unreplicated_writes_total) or refuse (the request fails as unavailable, 503)")
	b.str(&c.LogLevel, "log-level", "debug, info, warn or error")
	b.str(&c.LogFormat, "log-format", "text or json")
	b.boolean(&c.Pprof, "pprof", "serve Go profiles (net/http/pprof) under /debug/pprof/ on the http-addr")
	var jobTTL []*time.Duration // one setting for everything that writes job records
	if c.runsGateway() {
		jobTTL = append(jobTTL, &c.Gateway.JobTTL)
	}
	if c.runsProcessor() {
		jobTTL = append(jobTTL, &c.Processor.JobTTL)
	}
	b.dur(jobTTL[0], "job-ttl", "how long job records stay pollable", jobTTL[1:]...)
	if c.runsGateway() {
		b.dur(&c.ShutdownTimeout, "shutdown-timeout", "graceful shutdown limit", &c.Gateway.ShutdownTimeout)
	} else {
		b.dur(&c.ShutdownTimeout, "shutdown-timeout", "graceful shutdown limit")
	}

	if c.runsProcessor() {
		p := &c.Processor
		b.str(&p.Role, "role", "processor role: fit, forecast or all")
		b.num(&c.Concurrency, "concurrency", "fits processed at once (RabbitMQ: consumers of the fit queue); with the embedded broker also forecasts")
		b.num(&c.ForecastConcurrency, "forecast-concurrency", "consumers of the forecast queue with RabbitMQ, each taking one forecast or one bundle of them (--amqp-bundle-max) at a time; at most 128 forecasts run at once")
		b.num(&c.BatchConcurrency, "batch-concurrency", "batch series processed at once with RabbitMQ by a processor of role fit or all (consumers of the batch queue, beside the fit queue's)")
		b.dur(&p.FitTimeout, "fit-timeout", "time limit of one fit")
		b.dur(&p.FitLease, "fit-lease", "lease of a running fit, renewed every third of it; when it runs out (its processor died) another processor takes the fit over")
		b.dur(&p.StoreOutage, "store-outage", "how long a fit or batch series whose store cannot be reached (Redis restarting or failing over) is retried, keeping its delivery, before it counts as failed; 0: at once")
	}
	if c.runsGateway() {
		g := &c.Gateway
		b.str(&g.ID, "gateway-id", "gateway id, the routing key of its replies; empty picks a random one")
		b.dur(&g.RequestTimeout, "request-timeout", "how long a synchronous request waits before 504")
		b.dur(&g.BodyTimeout, "body-timeout", "how long a client may take to send a request body before 408")
		b.bytes(&g.BatchUploadMaxBytes, "batch-upload-max-bytes", "largest batch upload (CSV or NDJSON body of POST /v1/batches) accepted, in bytes, before 413")
		b.bytes(&g.BatchUploadMinRate, "batch-upload-min-rate", "bytes per second a batch upload must arrive at, and a client must read an answer at, on average: each has body-timeout plus a second per this many bytes (an upload then gets 408; an answer is cut off)")
		b.num(&g.BatchUploads, "batch-uploads", "batch uploads (CSV, NDJSON) read and accepted at once; one more is answered 503 with Retry-After (each takes several times its size in memory)")
		b.dur(&g.HoldTimeout, "hold-timeout", "how long a forecast may be held waiting for fits")
		b.dur(&g.FitQueueLease, "fit-queue-lease", "how long an accepted fit may go with no processor holding it (queued, or awaiting redelivery after its processor died) before it expires; a fit whose command never reached the queue expires 20s after its acceptance")
		b.dur(&g.BatchSendLease, "batch-send-lease", "how long a batch being published may go without its gateway renewing it before any gateway fails it as unsent (its gateway died mid-publish)")
		b.list(&g.AllowedOrigins, "allowed-origins", "comma-separated host `patterns` of other origins allowed to open WebSocket sessions (same origin always is)")
		b.str(&c.AuthTokens, "auth-tokens", "file of API tokens, one \"read|write <token>\" per line; API requests then need Authorization: Bearer <token>")
		b.dur(&g.Heartbeat, "heartbeat", "keep-alive interval of live sessions")
		b.num(&g.SendQueue, "send-queue", "messages queued per live session before it is cut off as a slow consumer")
		b.dur(&g.EventLinger, "event-linger", "how long fit_accepted, fit_progress and batch_progress events may wait for the event that follows them, so that a quick fit's events reach a live session in one write; 0: none")
		b.float(&g.RateLimit, "rate-limit", "fits and forecasts per second allowed to one client address; 0 disables")
		b.num(&g.RateBurst, "rate-burst", "burst allowed above the rate limit")
	}
	if err := b.parse(args); err != nil {
		return c, err
	}
	if err := c.validate(); err != nil {
		return c, err
	}
	if c.AuthTokens != "" && c.runsGateway() { // a processor serves no API
		tokens, err := readTokens(c.AuthTokens)
		if err != nil {
			return c, fmt.Errorf("auth-tokens %s: %w", c.AuthTokens, err)
		}
		c.Gateway.Tokens = tokens
	}
	return c, nil
}

// binder defines flags that default to their FORECASTD_* variable. A flag may set more than
// one field (its mirrors) when the gateway and the processors share a setting.
type binder struct {
	fs      *flag.FlagSet
	getenv  func(string) string
	errs    []string
	mirrors []func()
}

// env returns the value of the variable of flag name, if set.
func (b *binder) env(name string) (string, string, bool) {
	env := envName(name)
	v := b.getenv(env)
	return env, v, v != ""
}

func (b *binder) str(p *string, name, help string) {
	env, v, ok := b.env(name)
	if ok {
		*p = v
	}
	b.fs.StringVar(p, name, *p, fmt.Sprintf("%s (%s)", help, env))
}

// parsed sets *p from name's environment variable, if set, with parse; a value parse rejects is
// noted as not being what want says. It returns the variable's name, for the flag's help.
func parsed[T any](b *binder, p *T, name, want string, parse func(string) (T, error)) string {
	env, v, ok := b.env(name)
	if ok {
		x, err := parse(v)
		if err != nil {
			b.errs = append(b.errs, fmt.Sprintf("%s=%q is not %s", env, v, want))
		}
		*p = x
	}
	return env
}

func (b *binder) num(p *int, name, help string) {
	env := parsed(b, p, name, "an integer", strconv.Atoi)
	b.fs.IntVar(p, name, *p, fmt.Sprintf("%s (%s)", help, env))
}

func (b *binder) bytes(p *int64, name, help string) {
	env := parsed(b, p, name, "an integer", func(v string) (int64, error) { return strconv.ParseInt(v, 10, 64) })
	b.fs.Int64Var(p, name, *p, fmt.Sprintf("%s (%s)", help, env))
}

func (b *binder) float(p *float64, name, help string) {
	env := parsed(b, p, name, "a number", func(v string) (float64, error) { return strconv.ParseFloat(v, 64) })
	b.fs.Float64Var(p, name, *p, fmt.Sprintf("%s (%s)", help, env))
}

func (b *binder) dur(p *time.Duration, name, help string, mirrors ...*time.Duration) {
	env := parsed(b, p, name, "a duration like 30s", time.ParseDuration)
	b.fs.DurationVar(p, name, *p, fmt.Sprintf("%s (%s)", help, env))
	for _, m := range mirrors {
		b.mirrors = append(b.mirrors, func() { *m = *p })
	}
}

func (b *binder) boolean(p *bool, name, help string) {
	env := parsed(b, p, name, "true or false", strconv.ParseBool)
	b.fs.BoolVar(p, name, *p, fmt.Sprintf("%s (%s)", help, env))
}

// list binds a comma-separated flag to a slice.
func (b *binder) list(p *[]string, name, help string) {
	env, v, ok := b.env(name)
	if ok {
		_ = (*listValue)(p).Set(v)
	}
	b.fs.Var((*listValue)(p), name, fmt.Sprintf("%s (%s)", help, env))
}

func (b *binder) parse(args []string) error {
	if err := b.fs.Parse(args); err != nil {
		return err
	}
	if len(b.errs) > 0 {
		return fmt.Errorf("configuration: %s", strings.Join(b.errs, "; "))
	}
	for _, m := range b.mirrors {
		m()
	}
	return nil
}

// listValue is a comma-separated list of strings; empty is the empty list.
type listValue []string

func (l *listValue) String() string {
	if l == nil {
		return ""
	}
	return strings.Join(*l, ",")
}

func (l *listValue) Set(s string) error {
	*l = nil
	if s != "" {
		*l = strings.Split(s, ",")
	}
	return nil
}

func readTokens(path string) ([]auth.Token, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return auth.ParseTokens(f)
}

func envName(flagName string) string {
	return "FORECASTD_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

func (c config) validate() error {
	if c.Command != "all" && (c.AMQPURL == "" || c.RedisURL == "") {
		return fmt.Errorf("'forecastd %s' runs distributed and needs both FORECASTD_AMQP_URL and FORECASTD_REDIS_URL", c.Command)
	}
	if (c.AMQPURL == "") != (c.RedisURL == "") {
		return fmt.Errorf("set both FORECASTD_AMQP_URL and FORECASTD_REDIS_URL, or neither for the embedded mode")
	}
	if c.AMQPBundleMax < 1 || c.AMQPBundleMax > 1024 {
		return fmt.Errorf("amqp-bundle-max must be 1 to 1024, got %d", c.AMQPBundleMax)
	}
	if c.AMQPURL != "" {
		if _, err := broker.ParseNodes(c.AMQPURL); err != nil {
			return fmt.Errorf("FORECASTD_AMQP_URL: %w", err)
		}
	}
	if c.RedisURL != "" {
		if _, err := parseRedisURL(c.RedisURL); err != nil {
			return fmt.Errorf("FORECASTD_REDIS_URL: %w", err)
		}
	}
	if c.RedisReplicaDown != replicaDownProceed && c.RedisReplicaDown != replicaDownRefuse {
		return fmt.Errorf("redis-replica-down must be %s or %s, got %q", replicaDownProceed, replicaDownRefuse, c.RedisReplicaDown)
	}
	// go-redis reads a reply for at most 3 s by default; WAIT must answer well within that.
	if c.RedisWaitTimeout < 0 || c.RedisWaitTimeout > 2*time.Second {
		return fmt.Errorf("redis-wait-timeout must be 0 to 2s, got %s", c.RedisWaitTimeout)
	}
	positive := map[string]time.Duration{"shutdown-timeout": c.ShutdownTimeout}
	if c.runsProcessor() {
		p := c.Processor
		switch p.Role {
		case processor.RoleFit, processor.RoleForecast, processor.RoleAll:
		default:
			return fmt.Errorf("role must be fit, forecast or all, got %q", p.Role)
		}
		if c.Concurrency < 1 || c.Concurrency > 64 {
			return fmt.Errorf("concurrency must be 1 to 64, got %d", c.Concurrency)
		}
		if c.ForecastConcurrency < 1 || c.ForecastConcurrency > 256 {
			return fmt.Errorf("forecast-concurrency must be 1 to 256, got %d", c.ForecastConcurrency)
		}
		if c.BatchConcurrency < 1 || c.BatchConcurrency > 64 {
			return fmt.Errorf("batch-concurrency must be 1 to 64, got %d", c.BatchConcurrency)
		}
		if p.StoreOutage < 0 {
			return fmt.Errorf("store-outage must be ≥ 0, got %s", p.StoreOutage)
		}
		positive["fit-timeout"], positive["fit-lease"], positive["job-ttl"] = p.FitTimeout, p.FitLease, p.JobTTL
	}
	if c.runsGateway() {
		g := c.Gateway
		if g.RateLimit < 0 || g.RateBurst < 1 {
			return fmt.Errorf("rate-limit must be ≥ 0 and rate-burst ≥ 1, got %g and %d", g.RateLimit, g.RateBurst)
		}
		if g.BatchUploadMaxBytes < 1 || g.BatchUploadMinRate < 1 || g.BatchUploads < 1 {
			return fmt.Errorf("batch-upload-max-bytes, batch-upload-min-rate and batch-uploads must be at least 1, got %d, %d and %d", g.BatchUploadMaxBytes, g.BatchUploadMinRate, g.BatchUploads)
		}
		if g.EventLinger < 0 || g.EventLinger > time.Second {
			return fmt.Errorf("event-linger must be 0 to 1s, got %s", g.EventLinger)
		}
		if g.SendQueue < 1 {
			return fmt.Errorf("send-queue must be at least 1, got %d", g.SendQueue)
		}
		for name, d := range map[string]time.Duration{"request-timeout": g.RequestTimeout, "body-timeout": g.BodyTimeout,
			"hold-timeout": g.HoldTimeout, "fit-queue-lease": g.FitQueueLease, "batch-send-lease": g.BatchSendLease, "job-ttl": g.JobTTL, "heartbeat": g.Heartbeat} {
			positive[name] = d
		}
	}
	for name, d := range positive {
		if d <= 0 {
			return fmt.Errorf("%s must be positive, got %s", name, d)
		}
	}
	return nil
}

// LogValue shows the settings of the parts the command runs, secrets masked: URL passwords,
// and of the tokens only their count.
func (c config) LogValue() slog.Value {
	attrs := []slog.Attr{
		slog.String("amqp_url", maskURL(c.AMQPURL)), slog.Int("amqp_bundle_max", c.AMQPBundleMax), slog.String("redis_url", maskURL(c.RedisURL)),
		slog.Duration("redis_wait_timeout", c.RedisWaitTimeout), slog.String("redis_replica_down", c.RedisReplicaDown),
		slog.Duration("shutdown_timeout", c.ShutdownTimeout), slog.Bool("pprof", c.Pprof),
	}
	if c.runsGateway() {
		g := c.Gateway
		attrs = append(attrs, slog.Group("gateway",
			slog.String("http_addr", g.Addr), slog.String("gateway_id", g.ID),
			slog.Duration("request_timeout", g.RequestTimeout), slog.Duration("body_timeout", g.BodyTimeout),
			slog.Int64("batch_upload_max_bytes", g.BatchUploadMaxBytes), slog.Int64("batch_upload_min_rate", g.BatchUploadMinRate), slog.Int("batch_uploads", g.BatchUploads),
			slog.Duration("hold_timeout", g.HoldTimeout), slog.Duration("fit_queue_lease", g.FitQueueLease), slog.Duration("batch_send_lease", g.BatchSendLease),
			slog.Duration("job_ttl", g.JobTTL), slog.String("allowed_origins", strings.Join(g.AllowedOrigins, ",")),
			slog.Duration("heartbeat", g.Heartbeat), slog.Int("send_queue", g.SendQueue), slog.Duration("event_linger", g.EventLinger),
			slog.Float64("rate_limit", g.RateLimit), slog.Int("rate_burst", g.RateBurst),
			slog.String("auth_tokens", c.AuthTokens), slog.Int("tokens", len(g.Tokens)),
		))
	}
	if c.runsProcessor() {
		p := c.Processor
		pattrs := []any{slog.String("role", p.Role), slog.Int("concurrency", c.Concurrency), slog.Int("forecast_concurrency", c.ForecastConcurrency), slog.Int("batch_concurrency", c.BatchConcurrency),
			slog.Duration("fit_timeout", p.FitTimeout), slog.Duration("fit_lease", p.FitLease), slog.Duration("job_ttl", p.JobTTL)}
		if !c.runsGateway() {
			pattrs = append([]any{slog.String("http_addr", c.OpsAddr)}, pattrs...)
		}
		attrs = append(attrs, slog.Group("processor", pattrs...))
	}
	return slog.GroupValue(attrs...)
}

// maskURL masks the passwords of a URL or a comma-separated list of URLs: in the user info,
// and a Sentinel URL's password query parameter (the primary's password).
func maskURL(raw string) string {
	if raw == "" {
		return ""
	}
	var out []string
	for one := range strings.SplitSeq(raw, ",") {
		u, err := url.Parse(strings.TrimSpace(one))
		if err != nil {
			out = append(out, "(unparseable)")
			continue
		}
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
		if q := u.Query(); q.Has("password") {
			q.Set("password", "xxxxx")
			u.RawQuery = q.Encode()
		}
		out = append(out, u.Redacted())
	}
	return strings.Join(out, ",")
}

func newLogger(c config, w io.Writer) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.LogLevel)); err != nil {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
