package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/forecastd/forecastd/forecast"
	"github.com/forecastd/forecastd/messages"
	"github.com/forecastd/forecastd/store"
)

// Update is one step of a job as clients see it (its Type one of the step names below).
type Update struct {
	Type string `json:"type"`
	// Data is the step's payload.
	Data json.RawMessage `json:"data,omitempty"`
}

// The names of a job's steps, and of the events that end a command's SSE stream with its
// outcome. commandStreamEvents lists every event a command stream sends.
const (
	stepAccepted = "accepted"
	stepHeld     = "held"     // a forecast waits for fits accepted before it
	stepReleased = "released" // and no longer does
	stepProgress = "progress" // also the processor taking the job (stage "started")

	streamSucceeded = "succeeded"
	streamFailed    = "failed"
)

var commandStreamEvents = []string{stepAccepted, stepHeld, stepReleased, stepProgress, streamSucceeded, streamFailed}

// Outcome is a job's final answer: the HTTP status and JSend body a synchronous client gets.
type Outcome struct {
	Status int
	Body   messages.Envelope
}

// run is a job this gateway started and still follows.
type run struct {
	id, kind, model string
	started         time.Time
	updates         chan Update // progress steps; dropped when nobody keeps up
	done            chan struct{}
	once            sync.Once
	outcome         Outcome
	// heldFor is how long the forecast was held; written before publish, read after done.
	heldFor time.Duration
	// nextCheck is when reconcile next reads the job's record; guarded by the registry.
	nextCheck time.Time
}

func newRun(id, kind, model string, now time.Time) *run {
	return &run{id: id, kind: kind, model: model, started: now, updates: make(chan Update, 64), done: make(chan struct{})}
}

// step publishes a progress step without ever blocking the job.
func (r *run) step(typ string, data any) {
	u := Update{Type: typ}
	if data != nil {
		u.Data, _ = json.Marshal(data)
	}
	select {
	case r.updates <- u:
	default:
	}
}

// finish records the outcome once; later calls are ignored.
func (r *run) finish(o Outcome) bool {
	first := false
	r.once.Do(func() {
		r.outcome = o
		close(r.done)
		first = true
	})
	return first
}

// registry maps job ids to the runs waiting for their replies.
type registry struct {
	mu   sync.Mutex
	runs map[string]*run
}

func newRegistry() *registry { return &registry{runs: make(map[string]*run)} }

func (g *registry) add(r *run) {
	g.mu.Lock()
	g.runs[r.id] = r
	g.mu.Unlock()
}

func (g *registry) get(id string) *run {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.runs[id]
}

func (g *registry) remove(id string) {
	g.mu.Lock()
	delete(g.runs, id)
	g.mu.Unlock()
}

func (g *registry) len() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.runs)
}

// janitor ends runs older than maxAge whose reply never came (lost with a broker restart, say)
// through expire, so no stream or session waits for them forever; the job goes on and its
// record in the store will hold the outcome.
func (g *registry) janitor(ctx context.Context, maxAge time.Duration, expire func(*run)) {
	t := time.NewTicker(max(maxAge/4, time.Second))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			g.mu.Lock()
			var stale []*run
			for id, r := range g.runs {
				if now.Sub(r.started) > maxAge {
					delete(g.runs, id)
					stale = append(stale, r)
				}
			}
			g.mu.Unlock()
			for _, r := range stale {
				expire(r)
			}
		}
	}
}

// Reconciliation: a reply can be lost (a broker restart deletes the gateway's transient reply
// queue with what was in it), but a processor records a job's outcome in the store before it
// replies. So a run still waiting after a while reads its job's record, first after
// Config.LostReplyCheck, then at doubling intervals up to maxCheckGap; a terminal record ends
// the run with the answer the reply would have brought.
const maxCheckGap = 30 * time.Second

// due returns the runs whose record should be read now and schedules their next reading.
func (g *registry) due(now time.Time, firstCheck time.Duration) []*run {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []*run
	for _, r := range g.runs {
		if r.nextCheck.IsZero() {
			r.nextCheck = r.started.Add(firstCheck)
		}
		if now.Before(r.nextCheck) {
			continue
		}
		out = append(out, r)
		r.nextCheck = now.Add(min(max(now.Sub(r.started), firstCheck), maxCheckGap))
	}
	return out
}

// reconcile ends runs whose replies were lost, from their job records.
func (g *Gateway) reconcile(ctx context.Context) {
	first := g.cfg.LostReplyCheck
	if first <= 0 {
		first = 2 * time.Second
	}
	t := time.NewTicker(max(first/2, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, r := range g.runs.due(g.now(), first) {
			g.answerFromRecord(ctx, r)
		}
	}
}

// answerFromRecord reads r's job record and, if it holds the outcome, ends r with it. Not
// recorded yet, expired, or the store away: r goes on waiting (the janitor bounds the wait).
func (g *Gateway) answerFromRecord(ctx context.Context, r *run) {
	job, err := g.deps.Store.GetJob(ctx, r.id)
	if err != nil {
		return
	}
	if result, err, ok := outcomeOf(job); ok && g.complete(r, result, err) {
		g.log.Info("reply lost, outcome read from the job record", "job_id", r.id)
		g.metrics.lostReplies.Inc()
	}
}

// outcomeOf is the answer a terminal job record stands for: its result, or its failure.
func outcomeOf(j store.Job) (json.RawMessage, error, bool) {
	switch j.Status {
	case store.JobSucceeded:
		return j.Result, nil, true
	case store.JobFailed, store.JobExpired:
		if f, ok := recordedFailure(j); ok {
			return nil, f, true
		}
		return nil, messages.Errorf(messages.CodeInternal, nil, "job %s without a recorded answer", j.Status), true
	}
	return nil, nil, false
}

// recordedFailure reads a job record's failure: a code and what the client is told, or, from
// an earlier version, the HTTP status and JSend body.
func recordedFailure(j store.Job) (*messages.Failure, bool) {
	var f messages.Failure
	if json.Unmarshal(j.Error, &f) != nil || (f.Code == "" && (f.Body == nil || f.Body.Status == "")) {
		return nil, false
	}
	return &f, true
}

// consumeReplies routes processor replies to the runs waiting for them.
func (g *Gateway) consumeReplies(msgs <-chan *message.Message) {
	for msg := range msgs {
		// Acked first (replies are best effort: the job record is the outcome), so that a
		// publisher waiting for the ack (the in-process broker) does not wait for the decoding
		// too; one reply at a time keeps them in order. Never nacked.
		msg.Ack()
		rep, err := messages.DecodeReply(msg.Metadata.Get(messages.ReplyHeader), msg.Payload)
		if err != nil {
			g.log.Warn("malformed reply dropped", "err", err)
			continue
		}
		r := g.runs.get(rep.JobID)
		if r == nil {
			continue // an async job, or one whose client gave up; the store has the outcome
		}
		switch rep.Type {
		case messages.ReplyResult:
			result, err := resultOf(rep)
			g.complete(r, result, err)
		case messages.ReplyProgress:
			r.step(stepProgress, rep.Progress)
		case messages.ReplyRunning:
			// The contract knows no "running" step: a processor taking the job is progress at 0%.
			r.step(stepProgress, forecast.Progress{Stage: "started"})
		}
	}
}

// resultOf is the result a reply carries: its data, or its failure. A processor of an earlier
// version sends the HTTP status and JSend body instead.
func resultOf(rep messages.Reply) (json.RawMessage, error) {
	switch {
	case rep.Failure != nil:
		return nil, rep.Failure
	case len(rep.Result) > 0:
		return rep.Result, nil
	case rep.Body != nil && rep.Body.Status == messages.StatusSuccess:
		return rep.Body.Data, nil
	case rep.Body != nil && rep.Status != 0:
		return nil, &messages.Failure{Status: rep.Status, Body: rep.Body}
	}
	return nil, messages.Errorf(messages.CodeInternal, nil, "empty reply from processor")
}

// complete ends a run with its result or failure, unless it has ended already; it reports
// whether this call ended it.
func (g *Gateway) complete(r *run, result json.RawMessage, err error) bool {
	o := Outcome{Status: http.StatusOK, Body: messages.Envelope{Status: messages.StatusSuccess, Data: result}}
	if err != nil {
		o.Status, o.Body = g.answerError(err, "job_id", r.id, "kind", r.kind, "model", r.model)
	}
	if !r.finish(o) {
		return false
	}
	g.runs.remove(r.id)
	g.metrics.jobs.WithLabelValues(r.kind, o.Body.Status).Inc()
	return true
}
