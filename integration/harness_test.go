package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/redis/go-redis/v9"

	"github.com/forecastd/forecastd/broker"
	"github.com/forecastd/forecastd/forecast"
	"github.com/forecastd/forecastd/gateway"
	"github.com/forecastd/forecastd/internal/stack"
	"github.com/forecastd/forecastd/processor"
	"github.com/forecastd/forecastd/store"
)

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

var (
	amqpURL  = env("FORECASTD_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
	redisURL = env("FORECASTD_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
)

// requireServices skips (or under CI=true fails) when RabbitMQ or Redis is not reachable, and
// when the broker lacks the topology of deploy/rabbitmq/definitions.json.
func requireServices(t *testing.T) {
	t.Helper()
	missing := func(format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		if os.Getenv("CI") == "true" {
			t.Fatalf("integration services required under CI=true: %s", msg)
		}
		t.Skipf("skipping integration test: %s (start them, or run .ci/run)", msg)
	}
	opts, err := redis.ParseURL(redisURL)
	if err != nil {
		t.Fatalf("FORECASTD_TEST_REDIS_URL: %v", err)
	}
	rc := redis.NewClient(opts)
	defer rc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := rc.Ping(ctx).Err(); err != nil {
		missing("redis at %s: %v", redisURL, err)
	}
	conn, err := amqp.Dial(amqpURL)
	if err != nil {
		missing("rabbitmq at %s: %v", amqpURL, err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		missing("rabbitmq channel: %v", err)
	}
	defer ch.Close()
	for _, q := range []string{"forecastd.fit", "forecastd.forecast"} {
		if _, err := ch.QueueDeclarePassive(q, true, false, false, false, nil); err != nil {
			missing("queue %s missing; run: rabbitmqctl import_definitions deploy/rabbitmq/definitions.json", q)
		}
	}
}

// gates makes fits controllable: a fit whose first value is a registered key waits until the
// gate opens, then fails if asked to. Other fits run the real engine.
type gates struct {
	mu      sync.Mutex
	open    map[float64]chan struct{}
	fail    map[float64]bool
	started map[float64]chan struct{}
	runs    map[float64]int // how many times a gated fit has started
}

func newGates() *gates {
	return &gates{open: map[float64]chan struct{}{}, fail: map[float64]bool{}, started: map[float64]chan struct{}{}, runs: map[float64]int{}}
}

// add registers key; the returned release opens the gate, and started is closed when a
// processor begins the fit.
func (g *gates) add(key float64, fail bool) (release func(), started <-chan struct{}) {
	g.mu.Lock()
	defer g.mu.Unlock()
	ch, st := make(chan struct{}), make(chan struct{})
	g.open[key], g.fail[key], g.started[key] = ch, fail, st
	var once sync.Once
	return func() { once.Do(func() { close(ch) }) }, st
}

// crashKey as a series' first value makes every processor that fits it panic.
const crashKey = 666

func (g *gates) fit(ctx context.Context, y []float64, spec forecast.Spec, progress forecast.ProgressFunc) (forecast.Model, error) {
	if len(y) > 0 && y[0] == crashKey {
		panic("the test's poison series crashed the engine")
	}
	if len(y) > 0 {
		g.mu.Lock()
		gate, fail, st := g.open[y[0]], g.fail[y[0]], g.started[y[0]]
		g.runs[y[0]]++
		g.mu.Unlock()
		if gate != nil {
			select {
			case <-st:
			default:
				close(st)
			}
			select {
			case <-gate:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			if fail {
				return nil, fmt.Errorf("%w: the test made this fit fail", forecast.ErrInvalidData)
			}
		}
	}
	return forecast.Fit(ctx, y, spec, progress)
}

// cluster is one gateway and some processors over the real broker and a Redis key prefix of
// their own.
type cluster struct {
	t          *testing.T
	prefix     string
	topo       broker.Topology // RabbitMQ objects of this cluster alone
	clientName string          // Redis CLIENT SETNAME of this cluster's connections
	store      store.Store
	rdb        *redis.Client
	stack      *stack.Stack
	gw         *gateway.Gateway
	http       *httptest.Server
	reg        *prometheus.Registry // the gateway's metrics
	gates      *gates
	log        *slog.Logger
}

// proc is a processor of the cluster.
type proc = stack.Processor

func newCluster(t *testing.T, processors int) *cluster {
	t.Helper()
	requireServices(t)
	id := uuid.NewString()[:8]
	opts, _ := redis.ParseURL(redisURL)
	opts.ClientName = "fdtest-" + id
	rdb := redis.NewClient(opts)
	c := &cluster{
		t: t, prefix: "fdtest:" + id, clientName: opts.ClientName, rdb: rdb, gates: newGates(),
		log: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	c.store = store.NewRedis(rdb, store.RedisOptions{Prefix: c.prefix})
	c.topo = declareTopology(t, "fdtest-"+id)
	t.Cleanup(func() {
		ctx := context.Background()
		iter := rdb.Scan(ctx, 0, c.prefix+":*", 1000).Iterator()
		for iter.Next(ctx) {
			rdb.Del(ctx, iter.Val())
		}
		c.store.Close()
		rdb.Close()
	})
	c.stack = stack.New(t, stack.Config{Store: c.store, Connect: c.newBroker, Log: c.log})
	for range processors {
		c.addProcessor()
	}
	lg := c.startGateway(nil)
	c.gw, c.http, c.reg = lg.gw, lg.http, lg.reg
	return c
}

// newBroker connects to RabbitMQ with this cluster's own topology.
func (c *cluster) newBroker(log watermill.LoggerAdapter) (*broker.Broker, error) {
	return broker.NewAMQPTopology(amqpURL, c.topo, 1, log)
}

// declareTopology declares a private copy of deploy/rabbitmq/definitions.json, every
// "forecastd." name renamed to prefix, so that tests running at the same time (or leftovers of
// earlier runs) never take each other's commands. It is deleted when the test ends.
func declareTopology(t *testing.T, prefix string) broker.Topology {
	t.Helper()
	raw, err := os.ReadFile("../deploy/rabbitmq/definitions.json")
	if err != nil {
		t.Fatalf("read definitions: %v", err)
	}
	var defs struct {
		Exchanges []struct {
			Name, Type string
			Durable    bool
		}
		Queues []struct {
			Name      string
			Durable   bool
			Arguments map[string]any
		}
		Bindings []struct {
			Source, Destination string
			RoutingKey          string `json:"routing_key"`
		}
	}
	if err := json.Unmarshal(raw, &defs); err != nil {
		t.Fatalf("parse definitions: %v", err)
	}
	rename := func(name string) string {
		if rest, ok := strings.CutPrefix(name, broker.DefaultPrefix+"."); ok {
			return prefix + "." + rest
		}
		return name
	}
	var queues, exchanges []string
	for _, q := range defs.Queues {
		queues = append(queues, rename(q.Name))
	}
	for _, e := range defs.Exchanges {
		exchanges = append(exchanges, rename(e.Name))
	}
	// Registered before anything is declared, so that whatever part of it exists is deleted
	// even when declaring fails half-way.
	t.Cleanup(func() { deleteTopology(t, queues, exchanges) })

	conn, err := amqp.Dial(amqpURL)
	if err != nil {
		t.Fatalf("rabbitmq: %v", err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatalf("rabbitmq channel: %v", err)
	}
	for _, e := range defs.Exchanges {
		if err := ch.ExchangeDeclare(rename(e.Name), e.Type, e.Durable, false, false, false, nil); err != nil {
			t.Fatalf("declare exchange %s: %v", rename(e.Name), err)
		}
	}
	for _, q := range defs.Queues {
		args := amqp.Table{}
		for k, v := range q.Arguments {
			if s, ok := v.(string); ok {
				v = rename(s)
			}
			if f, ok := v.(float64); ok {
				v = int64(f)
			}
			args[k] = v
		}
		if _, err := ch.QueueDeclare(rename(q.Name), q.Durable, false, false, false, args); err != nil {
			t.Fatalf("declare queue %s: %v", rename(q.Name), err)
		}
	}
	for _, b := range defs.Bindings {
		if err := ch.QueueBind(rename(b.Destination), b.RoutingKey, rename(b.Source), false, nil); err != nil {
			t.Fatalf("bind %s: %v", rename(b.Destination), err)
		}
	}
	return broker.Topology{Prefix: prefix}
}

// deleteTopology deletes a test's queues and exchanges on a connection of its own: the one
// that declared them is long closed, and the test may have had the broker drop every
// connection. Deleting what does not exist succeeds; any other failure is the test's error,
// since it leaves objects behind in the shared broker.
func deleteTopology(t *testing.T, queues, exchanges []string) {
	conn, err := amqp.Dial(amqpURL)
	if err != nil {
		t.Errorf("rabbitmq, to delete %v and %v: %v", queues, exchanges, err)
		return
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Errorf("rabbitmq channel, to delete %v and %v: %v", queues, exchanges, err)
		return
	}
	for _, q := range queues {
		if _, err := ch.QueueDelete(q, false, false, false); err != nil {
			t.Errorf("delete queue %s: %v", q, err)
			return // the channel is closed after an error
		}
	}
	for _, e := range exchanges {
		if err := ch.ExchangeDelete(e, false, false); err != nil {
			t.Errorf("delete exchange %s: %v", e, err)
			return
		}
	}
	// Something still running (a reconnecting consumer, say) could declare them again.
	gone := func(name string, declare func(*amqp.Channel) error) {
		check, err := conn.Channel()
		if err != nil {
			t.Errorf("rabbitmq channel, to check %s is gone: %v", name, err)
			return
		}
		defer check.Close()
		if err, ok := declare(check).(*amqp.Error); !ok || err.Code != amqp.NotFound {
			t.Errorf("%s is still there after the test deleted it (passive declare: %v)", name, err)
		}
	}
	for _, q := range queues {
		gone(q, func(ch *amqp.Channel) error {
			_, err := ch.QueueDeclarePassive(q, true, false, false, false, nil)
			return err
		})
	}
	for _, e := range exchanges {
		gone(e, func(ch *amqp.Channel) error {
			return ch.ExchangeDeclarePassive(e, "topic", true, false, false, false, nil)
		})
	}
}

// addProcessor starts one processor with its own connection and router, fitting through the
// cluster's gates.
func (c *cluster) addProcessor() *proc {
	c.t.Helper()
	return c.startProcessor(c.gates.fit, func(*processor.Config) {})
}

// startProcessor starts a processor that fits with fit, its config adjusted by mod.
func (c *cluster) startProcessor(fit processor.FitFunc, mod func(*processor.Config)) *proc {
	c.t.Helper()
	return c.stack.AddProcessor(stack.ProcessorOptions{
		Config: func(cfg *processor.Config) {
			cfg.FitLease = 3 * time.Second
			cfg.MaxRetries = 1 // redeliveries, not in-process retries, are what these tests exercise
			mod(cfg)
		},
		Options: []processor.Option{processor.WithFitFunc(fit)},
	})
}

// runsOf is how many times fits of series key have started.
func (g *gates) runsOf(key float64) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.runs[key]
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

// response is a decoded JSend response.
type response struct {
	Code    int
	Status  string          `json:"status"`
	Data    json.RawMessage `json:"data"`
	Message string          `json:"message"`
	Header  http.Header
}

func (c *cluster) do(method, path string, body any, header ...string) response {
	c.t.Helper()
	r := c.doAt(c.http.URL, method, path, body, header...)
	if r.Code == 0 {
		c.t.FailNow() // doAt reported why
	}
	return r
}

// doAt is do against the gateway at base. Safe on any goroutine: a transport failure is
// reported with Errorf and gives a response with Code 0.
func (c *cluster) doAt(base, method, path string, body any, header ...string) response {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, base+path, rd)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Errorf("%s %s: %v", method, path, err)
		return response{}
	}
	defer res.Body.Close()
	var r response
	if err := json.NewDecoder(res.Body).Decode(&r); err != nil {
		c.t.Errorf("%s %s: body is not JSON: %v", method, path, err)
		return response{}
	}
	r.Code, r.Header = res.StatusCode, res.Header
	return r
}

// decodeInto decodes the data; usable off the test's goroutine.
func (r response) decodeInto(v any) error { return json.Unmarshal(r.Data, v) }

func (r response) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Data, v); err != nil {
		t.Fatalf("decode data %s: %v", r.Data, err)
	}
}

// series returns n observations starting with key (the gate key) then a gentle trend.
func series(key float64, n int) []float64 {
	y := make([]float64, n)
	y[0] = key
	for i := 1; i < n; i++ {
		y[i] = 100 + float64(i) + 3*math.Sin(float64(i))
	}
	return y
}

type fitData struct {
	Model      string `json:"model"`
	Generation int64  `json:"generation"`
	JobID      string `json:"job_id"`
	Method     string `json:"method"`
	Current    bool   `json:"current"`
}

type forecastData struct {
	Model      string    `json:"model"`
	Generation int64     `json:"generation"`
	Point      []float64 `json:"point"`
	Intervals  map[string]struct {
		Lower []float64 `json:"lower"`
		Upper []float64 `json:"upper"`
	} `json:"intervals"`
	HeldMS   float64 `json:"held_ms"`
	Fallback *struct {
		AwaitedGeneration int64  `json:"awaited_generation"`
		Reason            string `json:"reason"`
	} `json:"fallback"`
}

type jobData struct {
	JobID      string          `json:"job_id"`
	Status     string          `json:"status"`
	Generation int64           `json:"generation"`
	Result     json.RawMessage `json:"result"`
}

// fitAsync accepts a fit and returns its job id and generation.
func (c *cluster) fitAsync(model string, y []float64) (string, int64) {
	c.t.Helper()
	r := c.do("POST", "/v1/models/"+model+"/fit", map[string]any{"values": y, "method": "naive"}, "Prefer", "respond-async")
	if r.Code != http.StatusAccepted {
		c.t.Fatalf("async fit: %d %s %s", r.Code, r.Data, r.Message)
	}
	var acc struct {
		JobID      string `json:"job_id"`
		Generation int64  `json:"generation"`
	}
	r.decode(c.t, &acc)
	return acc.JobID, acc.Generation
}

// amqpChannel opens a channel on a connection of its own; closeConn closes both.
func (c *cluster) amqpChannel() (ch *amqp.Channel, closeConn func()) {
	c.t.Helper()
	conn, err := amqp.Dial(amqpURL)
	if err != nil {
		c.t.Fatal(err)
	}
	ch, err = conn.Channel()
	if err != nil {
		_ = conn.Close()
		c.t.Fatal(err)
	}
	return ch, func() { _ = conn.Close() }
}

// publishCommand puts body on the cluster's commands exchange under topic, bypassing the
// gateway (a duplicate, or a malformed command).
func (c *cluster) publishCommand(topic string, body []byte) {
	c.t.Helper()
	ch, closeConn := c.amqpChannel()
	defer closeConn()
	if err := ch.Publish(c.topo.Exchange(topic), c.topo.RoutingKey(topic), false, false, amqp.Publishing{Body: body}); err != nil {
		c.t.Fatal(err)
	}
}

// forecastAsync accepts a forecast and returns its job id.
func (c *cluster) forecastAsync(model string, horizon int) string {
	c.t.Helper()
	r := c.do("POST", "/v1/models/"+model+"/forecast", map[string]any{"horizon": horizon}, "Prefer", "respond-async")
	if r.Code != http.StatusAccepted {
		c.t.Fatalf("async forecast: %d %s %s", r.Code, r.Data, r.Message)
	}
	var acc struct {
		JobID string `json:"job_id"`
	}
	r.decode(c.t, &acc)
	return acc.JobID
}

// fitNow fits model synchronously (naive, so it is quick unless y[0] is a gate key) and
// requires success.
func (c *cluster) fitNow(model string, y []float64) fitData {
	c.t.Helper()
	r := c.do("POST", "/v1/models/"+model+"/fit", map[string]any{"values": y, "method": "naive"})
	if r.Code != http.StatusOK {
		c.t.Fatalf("fit %s: %d %s %s", model, r.Code, r.Data, r.Message)
	}
	var fit fitData
	r.decode(c.t, &fit)
	return fit
}

// forecastOf waits for a forecast job to succeed and returns its result.
func (c *cluster) forecastOf(id string) forecastData {
	c.t.Helper()
	var fc forecastData
	if err := jsonUnmarshal(c.waitJob(id, "succeeded").Result, &fc); err != nil {
		c.t.Fatal(err)
	}
	return fc
}

// waitJob polls a job until its status is one of want.
func (c *cluster) waitJob(id string, want ...string) jobData {
	c.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var j jobData
	for time.Now().Before(deadline) {
		r := c.do("GET", "/v1/jobs/"+id, nil)
		if r.Code == http.StatusOK {
			r.decode(c.t, &j)
			for _, w := range want {
				if j.Status == w {
					return j
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.t.Fatalf("job %s never reached %v; last status %q", id, want, j.Status)
	return j
}

func waitClosed(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(20 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}
