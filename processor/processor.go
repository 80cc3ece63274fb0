// Package processor fits models and computes forecasts for commands read from the broker. It is
// stateless apart from a cache of decoded models keyed by generation, so any number of processors
// can compete for the same queues.
package processor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/forecastd/forecastd/forecast"
	"github.com/forecastd/forecastd/messages"
	"github.com/forecastd/forecastd/store"
)

// Roles a processor can take. A processor of role fit also takes batch series; RoleBatch
// names their consumers for RegisterRole.
const (
	RoleFit      = "fit"
	RoleForecast = "forecast"
	RoleBatch    = "batch"
	RoleAll      = "all"
)

// Config tunes a processor.
type Config struct {
	Role string
	// FitTimeout bounds one fit; FitLease is how long a running fit's lease is extended each
	// renewal (renewed every FitLease/3). When a processor dies, its fit's redelivered command
	// waits for that lease to run out before another processor takes the fit over, so a short
	// lease makes a quick takeover; a processor that cannot renew in time (Redis unreachable for
	// a whole lease) may be taken over while it still runs, and then stops that fit.
	FitTimeout time.Duration
	FitLease   time.Duration
	// ForecastWait bounds how long a forecast command waits for its barrier when it arrives
	// before the fits it depends on have settled (normally the gateway has already waited).
	ForecastWait time.Duration
	// JobTTL is how long job records stay pollable.
	JobTTL time.Duration
	// ProgressInterval throttles progress replies.
	ProgressInterval time.Duration
	// MaxRetries bounds in-process retries of a failing handler before the message is nacked.
	MaxRetries int
	// StoreOutage is how long a fit or batch series whose handler fails because the store
	// cannot be reached (store.Unavailable: Redis restarting or failing over) is retried in the
	// processor, backing off to 5 s, keeping its delivery: an outage shorter than this does not
	// use up the command's delivery limit, so the fit is neither given up on nor dead-lettered.
	// 0: such failures count as any other. Keep it below RabbitMQ's consumer timeout (30 min).
	// Forecasts are not held so: their clients are waiting.
	StoreOutage time.Duration
	// DeliveryLimit is the command queues' x-delivery-limit (deploy/rabbitmq/definitions.json):
	// when a delivery that RabbitMQ will not repeat fails too, the job is answered as failed
	// before the broker dead-letters the command. 0 means the transport never redelivers (the
	// in-process GoChannel), so the job is answered as failed after the in-process retries.
	DeliveryLimit int
	// Parallel, when positive, bounds how many commands of each kind run at once. The
	// in-process GoChannel delivers every message at once, with no prefetch limit, so a burst
	// of fits would all run together on two cores; with RabbitMQ the prefetch count and the
	// number of consumers bound it instead, and this stays 0.
	Parallel int
	// MaxForecasts, when positive, bounds the forecast commands a processor runs at once over
	// all its consumers. With RabbitMQ a consumer hands on every forecast of a bundle at once
	// (broker/bundle.go), so consumers × bundle size would be the only bound.
	MaxForecasts int
	// CacheSize bounds the decoded-model cache.
	CacheSize int
}

// DefaultConfig returns the defaults used by forecastd.
func DefaultConfig() Config {
	return Config{
		Role:             RoleAll,
		FitTimeout:       5 * time.Minute,
		FitLease:         6 * time.Second,
		ForecastWait:     30 * time.Second,
		JobTTL:           24 * time.Hour,
		ProgressInterval: 250 * time.Millisecond,
		MaxRetries:       3,
		StoreOutage:      10 * time.Minute,
		DeliveryLimit:    5,
		MaxForecasts:     128,
		CacheSize:        256,
	}
}

// Processor handles fit and forecast commands.
type Processor struct {
	cfg     Config
	store   store.Store
	pub     message.Publisher
	log     *slog.Logger
	cache   *modelCache
	id      string // this processor instance: the owner of the fit leases it holds
	fit     FitFunc
	metrics *metrics
	now     func() time.Time
	flushes progressFlushes
	// forecastSlots bounds the forecasts running at once (Config.MaxForecasts), over every
	// consumer RegisterRole adds.
	forecastSlots message.HandlerMiddleware
}

// FitFunc fits a model; forecast.Fit unless replaced (tests slow it down or make it fail).
type FitFunc func(ctx context.Context, y []float64, spec forecast.Spec, progress forecast.ProgressFunc) (forecast.Model, error)

// Option adjusts a processor.
type Option func(*Processor)

// WithFitFunc replaces the engine's fit.
func WithFitFunc(f FitFunc) Option { return func(p *Processor) { p.fit = f } }

// WithMetrics registers the processor's metrics with reg.
func WithMetrics(reg prometheus.Registerer) Option {
	return func(p *Processor) {
		p.metrics = newMetrics()
		reg.MustRegister(p.metrics.fits, p.metrics.fitSeconds, p.metrics.forecasts, p.metrics.batchSeries)
	}
}

// metrics of a processor; without WithMetrics they count into an unregistered set.
type metrics struct {
	fits       *prometheus.CounterVec
	fitSeconds *prometheus.HistogramVec
	forecasts  *prometheus.CounterVec
	// batchSeries counts batch series by outcome: succeeded, failed (their own error),
	// duplicate (a redelivery whose result was there already) and skipped (the batch had ended).
	batchSeries *prometheus.CounterVec
}

func newMetrics() *metrics {
	return &metrics{
		fits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "forecastd_fits_total", Help: "Fits processed, by method and outcome.",
		}, []string{"method", "outcome"}),
		fitSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "forecastd_fit_seconds", Help: "Time spent fitting, by requested method.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 3, 14),
		}, []string{"method"}),
		forecasts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "forecastd_forecasts_total", Help: "Forecasts processed, by outcome.",
		}, []string{"outcome"}),
		batchSeries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "forecastd_batch_series_total", Help: "Batch series processed, by outcome (succeeded, failed, duplicate, skipped).",
		}, []string{"outcome"}),
	}
}

// New returns a processor that reads and writes st and answers through pub.
func New(cfg Config, st store.Store, pub message.Publisher, log *slog.Logger, opts ...Option) *Processor {
	p := &Processor{cfg: cfg, store: st, pub: pub, log: log, cache: newModelCache(cfg.CacheSize), fit: forecast.Fit, metrics: newMetrics(), now: time.Now,
		id: "proc-" + uuid.NewString()[:8]}
	for _, o := range opts {
		o(p)
	}
	if cfg.MaxForecasts > 0 {
		p.forecastSlots = limit(cfg.MaxForecasts)
	}
	// A delivery is held longest by an attempt begun just before StoreOutage ran out: a claim
	// waiting out another attempt and a whole fit, then, on a last delivery, giving up's claim.
	if held := cfg.StoreOutage + cfg.claimWait() + cfg.FitTimeout + cfg.claimWait(); cfg.StoreOutage > 0 && cfg.DeliveryLimit > 0 && held >= rabbitConsumerTimeout {
		log.Warn("a fit waiting out a store outage may hold its delivery past RabbitMQ's default consumer timeout (30 min), which requeues it; lower --store-outage or --fit-timeout, or raise consumer_timeout",
			"store_outage", cfg.StoreOutage, "fit_timeout", cfg.FitTimeout, "held_up_to", held)
	}
	return p
}

// rabbitConsumerTimeout is RabbitMQ's default consumer_timeout: a delivery unacknowledged for
// that long closes its channel, and the broker requeues it.
const rabbitConsumerTimeout = 30 * time.Minute

// errMalformed marks a command that can never be processed; it goes to the dead-letter topic
// instead of being retried.
var errMalformed = errors.New("malformed command")

// Register adds the processor's handlers for its role to router, each reading sub, with the
// standard middleware: correlation id, poison queue for malformed commands, giving up on a last
// delivery, waiting out a store outage (fits and batch series), bounded retry, panic recovery;
// with a transport that dead-letters (DeliveryLimit > 0), the dead-letter
// handler too. suffix makes handler names unique when several consumers share a router.
func (p *Processor) Register(router *message.Router, sub message.Subscriber, suffix string) error {
	if p.cfg.DeliveryLimit > 0 {
		p.RegisterDeadLetters(router, sub, suffix)
	}
	return p.RegisterRole(router, sub, suffix, RoleAll)
}

// RegisterRole is Register for only the handlers of role (fit, forecast, batch or all) that the
// processor's own role includes, so that a processor can run more forecast consumers (short,
// waiting mostly on the store and the broker) than fit consumers (long, on the CPU), and batch
// series consumers of their own beside both.
func (p *Processor) RegisterRole(router *message.Router, sub message.Subscriber, suffix, role string) error {
	poison, err := middleware.PoisonQueueWithFilter(p.pub, messages.TopicDead, func(err error) bool {
		return errors.Is(err, errMalformed)
	})
	if err != nil {
		return fmt.Errorf("poison queue middleware: %w", err)
	}
	// retry retries a failing handler a few times at once; waitsOut says a store outage is
	// storeDown's to wait out, at its own pace, rather than retry's.
	retry := func(waitsOut bool) middleware.Retry {
		return middleware.Retry{
			MaxRetries:      p.cfg.MaxRetries,
			InitialInterval: 100 * time.Millisecond,
			MaxInterval:     2 * time.Second,
			Multiplier:      2,
			ShouldRetry: func(params middleware.RetryParams) bool {
				return !errors.Is(params.Err, errMalformed) && !errors.Is(params.Err, errStillHeld) &&
					!(waitsOut && store.Unavailable(params.Err))
			},
		}
	}
	add := func(name, topic string, h message.NoPublishHandlerFunc) {
		hd := router.AddConsumerHandler(name+suffix, topic, sub, h)
		hd.AddMiddleware(middleware.CorrelationID)
		if p.cfg.Parallel > 0 {
			hd.AddMiddleware(limit(p.cfg.Parallel))
		}
		if topic == messages.TopicForecast && p.forecastSlots != nil {
			hd.AddMiddleware(p.forecastSlots)
		}
		hd.AddMiddleware(poison, p.giveUp(topic))
		if topic == messages.TopicForecast {
			hd.AddMiddleware(p.forecastStoreDown)
		}
		waitsOut := topic != messages.TopicForecast && p.cfg.StoreOutage > 0
		if waitsOut {
			hd.AddMiddleware(p.storeDown().Middleware)
		}
		hd.AddMiddleware(retry(waitsOut).Middleware, middleware.Recoverer)
	}
	has := func(r, want string) bool { return r == want || r == RoleAll }
	if has(p.cfg.Role, RoleFit) && has(role, RoleFit) {
		add("fit", messages.TopicFit, p.handleFit)
	}
	if has(p.cfg.Role, RoleForecast) && has(role, RoleForecast) {
		add("forecast", messages.TopicForecast, p.handleForecast)
	}
	if has(p.cfg.Role, RoleFit) && has(role, RoleBatch) {
		add("batch", messages.TopicBatch, p.handleBatch)
	}
	return nil
}

// storeDown retries a handler that failed because the store could not be reached, backing off
// to 5 s, keeping the message's delivery. No attempt starts after StoreOutage; one started
// before may run a whole fit (FitTimeout, after a claim waiting up to FitTimeout + 2 FitLease),
// so New warns when the sum could pass RabbitMQ's default consumer timeout.
func (p *Processor) storeDown() middleware.Retry {
	return middleware.Retry{
		MaxRetries:      math.MaxInt32,
		MaxElapsedTime:  p.cfg.StoreOutage,
		InitialInterval: 250 * time.Millisecond,
		MaxInterval:     5 * time.Second,
		Multiplier:      2,
		ShouldRetry: func(params middleware.RetryParams) bool {
			if store.Unavailable(params.Err) {
				p.log.Warn("store unavailable; the command is tried again while the outage lasts, up to --store-outage", "attempt", params.RetryNum+1, "err", params.Err)
				return true
			}
			return false
		},
	}
}

// limit lets at most n messages through the handler at once; the router runs each message on
// its own goroutine.
func limit(n int) message.HandlerMiddleware {
	slots := make(chan struct{}, n)
	return func(h message.HandlerFunc) message.HandlerFunc {
		return func(msg *message.Message) ([]*message.Message, error) {
			select {
			case slots <- struct{}{}:
			case <-msg.Context().Done():
				return nil, msg.Context().Err()
			}
			defer func() { <-slots }()
			return h(msg)
		}
	}
}

func decode(msg *message.Message, v any) error {
	if err := json.Unmarshal(msg.Payload, v); err != nil {
		return fmt.Errorf("%w: %v", errMalformed, err)
	}
	return nil
}

// reply sends r to the gateway named in replyTo. Replies are best effort: the job record in the
// store is the durable outcome, so a lost reply costs latency, not data.
func (p *Processor) reply(replyTo string, r messages.Reply) {
	if replyTo == "" {
		return
	}
	head, payload, err := messages.EncodeReply(r)
	if err != nil {
		p.log.Error("marshal reply", "job_id", r.JobID, "err", err)
		return
	}
	msg := message.NewMessage(r.JobID+"."+r.Type, payload)
	if head != "" {
		msg.Metadata.Set(messages.ReplyHeader, head)
	}
	if err := p.pub.Publish(messages.ReplyTopic(replyTo), msg); err != nil {
		p.log.Warn("publish reply", "job_id", r.JobID, "type", r.Type, "err", err)
	}
}

// succeed records a job's result and replies with it.
func (p *Processor) succeed(ctx context.Context, job store.Job, replyTo string, data any) error {
	b, err := json.Marshal(data)
	if err != nil { // a NaN that slipped through
		return p.fail(ctx, job, replyTo, messages.Errorf(messages.CodeInternal, err, "the result cannot be encoded"))
	}
	job.Status, job.Result = store.JobSucceeded, b
	return p.finish(ctx, job, replyTo, messages.Reply{Result: b}, messages.StatusSuccess)
}

// fail records a job's failure and replies with it.
func (p *Processor) fail(ctx context.Context, job store.Job, replyTo string, f *messages.Failure) error {
	job, rep, jsend := p.failed(job, f)
	return p.finish(ctx, job, replyTo, rep, jsend)
}

// failed is job failed with f, the reply that tells it and its JSend status. The job is failed
// unless the caller marked it expired; the cause is logged, and stays here.
func (p *Processor) failed(job store.Job, f *messages.Failure) (store.Job, messages.Reply, string) {
	if job.Status != store.JobExpired {
		job.Status = store.JobFailed
	}
	job.Error = messages.JSON(f)
	status := messages.StatusError
	if f.Code.ClientFault() {
		status = messages.StatusFail
	}
	p.log.Info("job failed", "job_id", job.ID, "kind", job.Kind, "model", job.Model, "code", f.Code, "failure", f.Message, "problems", f.Problems, "err", f.Cause)
	return job, messages.Reply{Failure: f}, status
}

// finish records the outcome of a job and sends rep, its result, to the gateway; jsend is
// the JSend status the client gets, for the metrics.
func (p *Processor) finish(ctx context.Context, job store.Job, replyTo string, rep messages.Reply, jsend string) error {
	rep, err := p.record(ctx, job, rep, jsend)
	if err != nil {
		return err
	}
	p.reply(replyTo, rep)
	return nil
}

// resultReply is rep, the outcome of job, addressed as job's result.
func resultReply(job store.Job, rep messages.Reply) messages.Reply {
	rep.JobID, rep.Kind, rep.Model, rep.Type = job.ID, job.Kind, job.Model, messages.ReplyResult
	return rep
}

// record records the outcome of a job and returns the reply that tells it: rep, or, if the
// job's record holds an answer already (a command delivered a second time; or one the gateway
// answered as not published), that answer. An answer once given is never overwritten.
func (p *Processor) record(ctx context.Context, job store.Job, rep messages.Reply, jsend string) (messages.Reply, error) {
	job.UpdatedAt = p.now()
	prev, written, err := p.store.PutUnlessAnswered(ctx, job, p.cfg.JobTTL)
	if err != nil {
		return messages.Reply{}, fmt.Errorf("record job %s: %w", job.ID, err)
	}
	if !written {
		return replayReply(prev), nil
	}
	if job.Kind == messages.KindForecast {
		p.metrics.forecasts.WithLabelValues(jsend).Inc()
	}
	return resultReply(job, rep), nil
}

// start records job as running and tells its gateway, unless the job's record holds an answer
// already: then it returns that record and true, for the caller to replay, and writes nothing.
func (p *Processor) start(ctx context.Context, job store.Job, replyTo string) (store.Job, bool, error) {
	job.Status, job.UpdatedAt = store.JobRunning, p.now()
	prev, written, err := p.store.PutUnlessAnswered(ctx, job, p.cfg.JobTTL)
	if err != nil {
		return store.Job{}, false, fmt.Errorf("record job: %w", err)
	}
	if !written {
		return prev, true, nil
	}
	p.reply(replyTo, messages.Reply{JobID: job.ID, Kind: job.Kind, Model: job.Model, Type: messages.ReplyRunning})
	return store.Job{}, false, nil
}

// recordProgress records a running job's progress, unless the job has been answered meanwhile.
func (p *Processor) recordProgress(ctx context.Context, job store.Job, percent float64) {
	job.Status, job.UpdatedAt, job.Progress = store.JobRunning, p.now(), &percent
	if _, _, err := p.store.PutUnlessAnswered(ctx, job, p.cfg.JobTTL); err != nil {
		p.log.Debug("record progress", "job_id", job.ID, "err", err)
	}
}

// modelCache keeps decoded models by model, generation and the job of the fit that made them:
// a generation alone does not name one model for good, since a failover that loses a fit's
// completion gives its generation to the next fit.
type modelCache struct {
	mu    sync.Mutex
	size  int
	items map[cacheKey]cachedModel
	order []cacheKey
}

type cacheKey struct {
	model  string
	gen    int64
	fitJob string
}

func newModelCache(size int) *modelCache {
	if size < 1 {
		size = 1
	}
	return &modelCache{size: size, items: make(map[cacheKey]cachedModel)}
}

func (c *modelCache) get(model string, gen int64, fitJob string) (cachedModel, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m, ok := c.items[cacheKey{model, gen, fitJob}]
	return m, ok
}

func (c *modelCache) has(model string, gen int64, fitJob string) bool {
	_, ok := c.get(model, gen, fitJob)
	return ok
}

func (c *modelCache) put(model string, gen int64, fitJob string, m cachedModel) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := cacheKey{model, gen, fitJob}
	if _, ok := c.items[k]; ok {
		return
	}
	if len(c.order) >= c.size {
		delete(c.items, c.order[0])
		c.order = c.order[1:]
	}
	c.items[k] = m
	c.order = append(c.order, k)
}
