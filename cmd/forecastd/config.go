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

	"github.com/forecastd/forecastd/gateway"
)

// config is everything forecastd reads from flags and FORECASTD_* environment variables, read
// once at start. A flag wins over its variable; the variable wins over the default.
type config struct {
	HTTPAddr        string
	AMQPURL         string
	RedisURL        string
	GatewayID       string
	Role            string
	Concurrency     int
	LogLevel        string
	LogFormat       string
	RequestTimeout  time.Duration
	BodyTimeout     time.Duration
	HoldTimeout     time.Duration
	FitTimeout      time.Duration
	FitLease        time.Duration
	FitQueueLease   time.Duration
	JobTTL          time.Duration
	AllowedOrigins  string
	AuthTokens      string // path of the token file; empty: no authentication
	Heartbeat       time.Duration
	SendQueue       int
	RateLimit       float64
	RateBurst       int
	ShutdownTimeout time.Duration

	tokens []gateway.Token // read from AuthTokens
}

// parseConfig reads args (after the subcommand) and the environment.
func parseConfig(cmd string, args []string, getenv func(string) string, out io.Writer) (config, error) {
	c := config{
		HTTPAddr: ":8080", Role: "all", Concurrency: 2, LogLevel: "info", LogFormat: "text",
		RequestTimeout: 60 * time.Second, BodyTimeout: gateway.DefaultConfig().BodyTimeout, HoldTimeout: 10 * time.Minute, FitTimeout: 5 * time.Minute,
		FitLease: 6 * time.Second, FitQueueLease: 15 * time.Minute, JobTTL: 24 * time.Hour, ShutdownTimeout: 10 * time.Second,
		Heartbeat: 15 * time.Second, SendQueue: 256, RateLimit: 50, RateBurst: 200,
	}
	fs := flag.NewFlagSet("forecastd "+cmd, flag.ContinueOnError)
	fs.SetOutput(out)
	var errs []string
	str := func(p *string, name, help string) {
		env := envName(name)
		if v := getenv(env); v != "" {
			*p = v
		}
		fs.StringVar(p, name, *p, fmt.Sprintf("%s (%s)", help, env))
	}
	num := func(p *int, name, help string) {
		env := envName(name)
		if v := getenv(env); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				errs = append(errs, fmt.Sprintf("%s=%q is not an integer", env, v))
			}
			*p = n
		}
		fs.IntVar(p, name, *p, fmt.Sprintf("%s (%s)", help, env))
	}
	float := func(p *float64, name, help string) {
		env := envName(name)
		if v := getenv(env); v != "" {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				errs = append(errs, fmt.Sprintf("%s=%q is not a number", env, v))
			}
			*p = f
		}
		fs.Float64Var(p, name, *p, fmt.Sprintf("%s (%s)", help, env))
	}
	dur := func(p *time.Duration, name, help string) {
		env := envName(name)
		if v := getenv(env); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil {
				errs = append(errs, fmt.Sprintf("%s=%q is not a duration like 30s", env, v))
			}
			*p = d
		}
		fs.DurationVar(p, name, *p, fmt.Sprintf("%s (%s)", help, env))
	}
	str(&c.HTTPAddr, "http-addr", "gateway listen address")
	str(&c.AMQPURL, "amqp-url", "RabbitMQ URL; empty runs the in-process broker (only with 'all')")
	str(&c.RedisURL, "redis-url", "Redis URL; empty uses the in-memory store (only with 'all')")
	str(&c.GatewayID, "gateway-id", "gateway id, the routing key of its replies; empty picks a random one")
	str(&c.Role, "role", "processor role: fit, forecast or all")
	num(&c.Concurrency, "concurrency", "commands of each kind processed at once (RabbitMQ: consumers per queue)")
	str(&c.LogLevel, "log-level", "debug, info, warn or error")
	str(&c.LogFormat, "log-format", "text or json")
	dur(&c.RequestTimeout, "request-timeout", "how long a synchronous request waits before 504")
	dur(&c.BodyTimeout, "body-timeout", "how long a client may take to send a request body before 408")
	dur(&c.HoldTimeout, "hold-timeout", "how long a forecast may be held waiting for fits")
	dur(&c.FitTimeout, "fit-timeout", "time limit of one fit")
	dur(&c.FitLease, "fit-lease", "lease of a running fit, renewed every third of it; when it runs out (its processor died) another processor takes the fit over")
	dur(&c.FitQueueLease, "fit-queue-lease", "how long an accepted fit may go with no processor holding it (queued, or awaiting redelivery after its processor died) before it expires")
	str(&c.AllowedOrigins, "allowed-origins", "comma-separated host patterns of other origins allowed to open WebSocket sessions (same origin always is)")
	str(&c.AuthTokens, "auth-tokens", "file of API tokens, one \"read|write <token>\" per line; API requests then need Authorization: Bearer <token>")
	dur(&c.Heartbeat, "heartbeat", "keep-alive interval of live sessions")
	num(&c.SendQueue, "send-queue", "messages queued per live session before it is cut off as a slow consumer")
	float(&c.RateLimit, "rate-limit", "fits and forecasts per second allowed to one client address; 0 disables")
	num(&c.RateBurst, "rate-burst", "burst allowed above the rate limit")
	dur(&c.JobTTL, "job-ttl", "how long job records stay pollable")
	dur(&c.ShutdownTimeout, "shutdown-timeout", "graceful shutdown limit")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if len(errs) > 0 {
		return c, fmt.Errorf("configuration: %s", strings.Join(errs, "; "))
	}
	if err := c.validate(cmd); err != nil {
		return c, err
	}
	if c.AuthTokens != "" && cmd != "processor" { // a processor serves no API
		tokens, err := readTokens(c.AuthTokens)
		if err != nil {
			return c, fmt.Errorf("auth-tokens %s: %w", c.AuthTokens, err)
		}
		c.tokens = tokens
	}
	return c, nil
}

func readTokens(path string) ([]gateway.Token, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return gateway.ParseTokens(f)
}

func envName(flagName string) string {
	return "FORECASTD_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

func (c config) validate(cmd string) error {
	switch c.Role {
	case "fit", "forecast", "all":
	default:
		return fmt.Errorf("role must be fit, forecast or all, got %q", c.Role)
	}
	if cmd != "all" && (c.AMQPURL == "" || c.RedisURL == "") {
		return fmt.Errorf("'forecastd %s' runs distributed and needs both FORECASTD_AMQP_URL and FORECASTD_REDIS_URL", cmd)
	}
	if (c.AMQPURL == "") != (c.RedisURL == "") {
		return fmt.Errorf("set both FORECASTD_AMQP_URL and FORECASTD_REDIS_URL, or neither for the embedded mode")
	}
	if c.Concurrency < 1 || c.Concurrency > 64 {
		return fmt.Errorf("concurrency must be 1 to 64, got %d", c.Concurrency)
	}
	if c.RateLimit < 0 || c.RateBurst < 1 {
		return fmt.Errorf("rate-limit must be ≥ 0 and rate-burst ≥ 1, got %g and %d", c.RateLimit, c.RateBurst)
	}
	if c.SendQueue < 1 {
		return fmt.Errorf("send-queue must be at least 1, got %d", c.SendQueue)
	}
	for name, d := range map[string]time.Duration{"request-timeout": c.RequestTimeout, "body-timeout": c.BodyTimeout, "hold-timeout": c.HoldTimeout, "fit-timeout": c.FitTimeout, "fit-lease": c.FitLease, "fit-queue-lease": c.FitQueueLease, "job-ttl": c.JobTTL, "shutdown-timeout": c.ShutdownTimeout, "heartbeat": c.Heartbeat} {
		if d <= 0 {
			return fmt.Errorf("%s must be positive, got %s", name, d)
		}
	}
	return nil
}

// LogValue masks secrets (URL passwords) when the config is logged.
func (c config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("http_addr", c.HTTPAddr), slog.String("amqp_url", maskURL(c.AMQPURL)),
		slog.String("redis_url", maskURL(c.RedisURL)), slog.String("gateway_id", c.GatewayID),
		slog.String("role", c.Role), slog.Int("concurrency", c.Concurrency),
		slog.Duration("request_timeout", c.RequestTimeout), slog.Duration("body_timeout", c.BodyTimeout),
		slog.Duration("hold_timeout", c.HoldTimeout),
		slog.Duration("fit_timeout", c.FitTimeout), slog.Duration("fit_lease", c.FitLease),
		slog.Duration("fit_queue_lease", c.FitQueueLease), slog.Duration("job_ttl", c.JobTTL),
		slog.String("allowed_origins", c.AllowedOrigins), slog.Duration("heartbeat", c.Heartbeat), slog.Int("send_queue", c.SendQueue),
		slog.Float64("rate_limit", c.RateLimit), slog.Int("rate_burst", c.RateBurst),
		slog.String("auth_tokens", c.AuthTokens), slog.Int("tokens", len(c.tokens)),
	)
}

func maskURL(raw string) string {
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable)"
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.Redacted()
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
