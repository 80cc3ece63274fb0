package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// Redis replicates asynchronously: a primary that dies a moment after it acknowledged a write
// may take the write with it when a replica is promoted. The writes that acceptance and
// completion rest on (accept, queue, complete and fail a fit; create a batch, record a series' result,
// end a batch) therefore wait for a replica's acknowledgement (WAIT 1 timeout, on the
// connection that wrote) when the primary has replicas.
//
// A primary has replicas once one has connected to it: the store reads INFO replication at most
// once a second and remembers, per replication id (which a promotion changes), the most
// replicas it saw connected. A remembered replica that is no longer connected is down: the
// write does not wait for it, and, like a write no replica confirmed in time, proceeds with a
// warning and forecastd_store_unreplicated_writes_total{outcome="proceeded"} or, with
// RefuseUnreplicated, fails with ErrNotReplicated (outcome="refused"; the gateway answers 503,
// a processor retries).

// ErrNotReplicated: no replica confirmed a write that acceptance or completion rests on, and
// the store is set to refuse such writes. The write is on the primary; an accepted fit it
// refused is marked failed.
var ErrNotReplicated = errors.New("write not confirmed by a replica")

// Durable write operations, the op label of the metric.
const (
	opAccept      = "accept"
	opComplete    = "complete"
	opFail        = "fail"
	opQueue       = "queue"
	opBatchCreate = "batch_create"
	opBatchResult = "batch_result"
	opBatchEnd    = "batch_end"
)

// replicaCheckEvery is how long an INFO replication reading is trusted.
const replicaCheckEvery = time.Second

// replication is what the store knows of the primary's replicas.
type replication struct {
	mu        sync.Mutex
	checked   time.Time
	replID    string
	expected  int // the most replicas seen connected under replID
	connected int

	unreplicated *prometheus.CounterVec
	warned       time.Time // last warning logged, to log at most one a second
}

func newReplication() *replication {
	return &replication{unreplicated: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "forecastd_store_unreplicated_writes_total",
		Help: "Writes that acceptance or completion rest on that no Redis replica confirmed in time though the primary has replicas, by operation and outcome (proceeded or refused).",
	}, []string{"op", "outcome"})}
}

// Collector is the store's Prometheus metric, for the caller's registry.
func (r *Redis) Collector() prometheus.Collector { return r.repl.unreplicated }

// replicas returns how many replicas the primary has and how many are connected and in sync, reading INFO
// replication when the last reading is older than replicaCheckEvery.
func (r *Redis) replicas(ctx context.Context) (expected, connected int) {
	rp := r.repl
	rp.mu.Lock()
	defer rp.mu.Unlock()
	if time.Since(rp.checked) < replicaCheckEvery {
		return rp.expected, rp.connected
	}
	info, err := r.rdb.Info(ctx, "replication").Result()
	if err != nil {
		return rp.expected, rp.connected // the write itself will tell
	}
	rp.checked = time.Now()
	fields := map[string]string{}
	for line := range strings.SplitSeq(info, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok {
			fields[k] = v
		}
	}
	// Replicas still in their first sync (state wait_bgsave, send_bulk) acknowledge nothing yet.
	rp.connected = 0
	n, _ := strconv.Atoi(fields["connected_slaves"])
	for i := range n {
		if strings.Contains(fields["slave"+strconv.Itoa(i)], "state=online") {
			rp.connected++
		}
	}
	if id := fields["master_replid"]; id != rp.replID {
		rp.replID, rp.expected = id, 0 // another primary, or this one restarted
	}
	rp.expected = max(rp.expected, rp.connected)
	return rp.expected, rp.connected
}

// durable runs script as a write that acceptance or completion rests on: pipelined with WAIT
// when the primary has replicas, so that the WAIT counts this write's acknowledgements.
func (r *Redis) durable(ctx context.Context, op string, script *redis.Script, keys []string, args ...any) *redis.Cmd {
	if r.opts.WaitTimeout <= 0 {
		return script.Run(ctx, r.rdb, keys, args...)
	}
	expected, connected := r.replicas(ctx)
	if expected == 0 {
		return script.Run(ctx, r.rdb, keys, args...)
	}
	if connected == 0 { // the replicas are down: waiting would only cost the timeout
		cmd := script.Run(ctx, r.rdb, keys, args...)
		if cmd.Err() == nil {
			r.unreplicated(op, cmd, fmt.Sprintf("none of the primary's %d replicas is connected", expected))
		}
		return cmd
	}
	var cmd *redis.Cmd
	var wait *redis.Cmd
	pipe := func(run func(context.Context, redis.Scripter, []string, ...any) *redis.Cmd) {
		_, _ = r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			cmd = run(ctx, p, keys, args...)
			wait = p.Do(ctx, "WAIT", 1, r.opts.WaitTimeout.Milliseconds())
			return nil
		})
	}
	pipe(script.EvalSha)
	if err := cmd.Err(); err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT") {
		pipe(script.Eval) // nothing ran: send the script itself
	}
	if cmd.Err() != nil {
		return cmd
	}
	if n, err := wait.Int64(); err != nil || n < 1 {
		why := fmt.Sprintf("no replica confirmed the write within %s", r.opts.WaitTimeout)
		if err != nil {
			why = fmt.Sprintf("WAIT failed: %v", err)
		}
		r.unreplicated(op, cmd, why)
		r.repl.mu.Lock()
		r.repl.checked = time.Time{} // a replica may be gone: look again before the next write
		r.repl.mu.Unlock()
	}
	return cmd
}

// unreplicated counts a write no replica confirmed, logs a warning, and with
// RefuseUnreplicated turns cmd into an ErrNotReplicated failure (its value stays readable).
func (r *Redis) unreplicated(op string, cmd *redis.Cmd, why string) {
	outcome := "proceeded"
	if r.opts.RefuseUnreplicated {
		outcome = "refused"
		cmd.SetErr(fmt.Errorf("%w: %s", ErrNotReplicated, why))
	}
	r.repl.unreplicated.WithLabelValues(op, outcome).Inc()
	r.repl.mu.Lock()
	warn := time.Since(r.repl.warned) >= time.Second
	if warn {
		r.repl.warned = time.Now()
	}
	r.repl.mu.Unlock()
	if warn {
		r.opts.Log.Warn("redis write not confirmed by a replica", "op", op, "outcome", outcome, "reason", why)
	}
}

// undoAccept marks failed the fit an accept wrote before its write was refused for want of a
// replica, so that no forecast waits for it; res is the accept script's reply.
func (r *Redis) undoAccept(ctx context.Context, model string, reply any) {
	res, _ := reply.([]any)
	if len(res) == 0 {
		return
	}
	gen, ok := res[0].(int64)
	if !ok {
		return
	}
	if _, err := r.failFit(ctx, model, gen, "not accepted: "+ErrNotReplicated.Error(), false); err != nil {
		r.opts.Log.Error("mark unreplicated fit failed", "model", model, "generation", gen, "err", err)
	}
}
