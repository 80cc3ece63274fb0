package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/forecastd/forecastd/forecast"
	"github.com/forecastd/forecastd/messages"
	"github.com/forecastd/forecastd/store"
)

// Update is one step of a job as clients see it: accepted, held, released, running, progress,
// and finally result.
type Update struct {
	Type string `json:"type"`
	// Data is the step's payload; for a result, the JSend body's data.
	Data json.RawMessage `json:"data,omitempty"`
}

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
// with a 504, so no stream or session waits for them forever; the job goes on and its record
// in the store will hold the outcome.
func (g *registry) janitor(ctx context.Context, maxAge time.Duration) {
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
				r.finish(Outcome{Status: http.StatusGatewayTimeout, Body: messages.Error(
					fmt.Sprintf("no answer within %s; poll /v1/jobs/%s for the outcome", maxAge, r.id), http.StatusGatewayTimeout,
					map[string]any{"job_id": r.id})})
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
	first := orDefault(g.cfg.LostReplyCheck, 2*time.Second)
	t := time.NewTicker(max(first/2, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, r := range g.runs.due(g.now(), first) {
			job, err := g.deps.Store.GetJob(ctx, r.id)
			if err != nil {
				continue // not recorded yet, expired, or the store is away: the janitor bounds the wait
			}
			if o, ok := outcomeOf(job); ok && g.complete(r, o) {
				g.log.Info("reply lost, outcome read from the job record", "job_id", r.id)
				g.metrics.lostReplies.Inc()
			}
		}
	}
}

// outcomeOf is the answer a terminal job record stands for.
func outcomeOf(j store.Job) (Outcome, bool) {
	switch j.Status {
	case store.JobSucceeded:
		return Outcome{Status: http.StatusOK, Body: messages.Envelope{Status: messages.StatusSuccess, Data: j.Result}}, true
	case store.JobFailed, store.JobExpired:
		var f messages.Failure
		if err := json.Unmarshal(j.Error, &f); err != nil || f.Body.Status == "" {
			return Outcome{Status: http.StatusInternalServerError, Body: messages.Error("job "+string(j.Status)+" without a recorded answer", 0, nil)}, true
		}
		return Outcome{Status: f.Status, Body: f.Body}, true
	}
	return Outcome{}, false
}

// consumeReplies routes processor replies to the runs waiting for them.
func (g *Gateway) consumeReplies(msgs <-chan *message.Message) {
	for msg := range msgs {
		var rep messages.Reply
		if err := json.Unmarshal(msg.Payload, &rep); err != nil {
			g.log.Warn("malformed reply dropped", "err", err)
			msg.Ack()
			continue
		}
		msg.Ack()
		r := g.runs.get(rep.JobID)
		if r == nil {
			continue // an async job, or one whose client gave up; the store has the outcome
		}
		switch rep.Type {
		case messages.ReplyResult:
			if rep.Body == nil {
				rep.Body = &messages.Envelope{Status: messages.StatusError, Message: "empty reply from processor"}
			}
			g.complete(r, Outcome{Status: rep.Status, Body: *rep.Body})
		case messages.ReplyProgress:
			r.step("progress", rep.Progress)
		case messages.ReplyRunning:
			// The contract knows no "running" step: a processor taking the job is progress at 0%.
			r.step("progress", forecast.Progress{Stage: "started"})
		}
	}
}

// complete ends a run with its outcome, unless it has ended already; it reports whether this
// call ended it.
func (g *Gateway) complete(r *run, o Outcome) bool {
	if !r.finish(o) {
		return false
	}
	g.runs.remove(r.id)
	g.metrics.jobs.WithLabelValues(r.kind, o.Body.Status).Inc()
	return true
}
