package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/forecastd/forecastd/gateway/auth"
	"github.com/forecastd/forecastd/messages"
	"github.com/forecastd/forecastd/store"
)

// methods maps HTTP methods to handlers for one path.
type methods map[string]http.HandlerFunc

// dispatch serves m; other methods get a JSend 405.
func (g *Gateway) dispatch(m methods) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h, ok := m[r.Method]; ok {
			h(w, r)
			return
		}
		if r.Method == http.MethodHead {
			if h, ok := m[http.MethodGet]; ok {
				h(w, r)
				return
			}
		}
		allowed := slices.Sorted(maps.Keys(m))
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		g.writeError(w, r, messages.FailField(messages.CodeMethodNotAllowed, "method", "%s is not allowed here; use %s", r.Method, strings.Join(allowed, " or ")))
	})
}

func (g *Gateway) routes() http.Handler {
	mux := http.NewServeMux()
	handle := func(pattern string, m methods) {
		mux.Handle(pattern, g.instrument(pattern, g.dispatch(m)))
		for method := range m {
			g.endpoints = append(g.endpoints, Endpoint{Method: method, Path: pattern})
		}
	}

	// With tokens configured, fitting needs a write token and the rest of the API a read one;
	// the service's own pages (docs, health, metrics, dashboard) stay open.
	write := func(h http.HandlerFunc) http.HandlerFunc {
		return g.tokens.Require(auth.ScopeWrite, false, g.writeError, h)
	}
	read := func(h http.HandlerFunc) http.HandlerFunc {
		return g.tokens.Require(auth.ScopeRead, false, g.writeError, h)
	}
	stream := func(h http.HandlerFunc) http.HandlerFunc {
		return g.tokens.Require(auth.ScopeRead, true, g.writeError, h)
	}
	handle("/v1/models/{model}/fit", methods{http.MethodPost: write(g.limited(command(g, g.startFit)))})
	handle("/v1/models/{model}/forecast", methods{http.MethodPost: read(g.limited(command(g, g.startForecast)))})
	handle("/v1/models/{model}/backtest", methods{http.MethodPost: write(g.limited(command(g, g.startBacktest)))})
	handle("/v1/models/{model}", methods{http.MethodGet: read(g.handleModel)})
	handle("/v1/models", methods{http.MethodGet: read(g.handleModels)})
	handle("/v1/jobs/{id}", methods{http.MethodGet: read(g.handleJob)})
	handle("/v1/batches", methods{http.MethodPost: write(g.limited(g.handleCreateBatch))})
	handle("/v1/batches/{id}", methods{http.MethodGet: read(g.handleBatch), http.MethodDelete: write(g.handleCancelBatch)})
	handle("/v1/batches/{id}/results", methods{http.MethodGet: read(g.handleBatchResults)})
	handle("/api/fit_model", methods{http.MethodPost: write(g.limited(g.handleLegacyFit))})
	handle("/api/forecast", methods{http.MethodPost: read(g.limited(g.handleLegacyForecast))})
	handle("/v1/events", methods{http.MethodGet: stream(g.noBody(g.queryParams([]string{"model", "batch"}, []string{"last_event_id", "access_token"}, g.events.ServeHTTP)))})
	handle("/v1/ws", methods{http.MethodGet: stream(g.noBody(g.queryParams(nil, []string{"access_token"}, g.ws.ServeHTTP)))})
	handle("/openapi.json", methods{http.MethodGet: g.handleOpenAPI})
	handle("/docs", methods{http.MethodGet: g.handleDocs})
	handle("/healthz", methods{http.MethodGet: g.handleHealth})
	handle("/readyz", methods{http.MethodGet: g.handleReady})
	mux.Handle("/metrics", promhttp.HandlerFor(g.deps.Registry, promhttp.HandlerOpts{}))
	if g.deps.Debug != nil {
		mux.Handle("/debug/pprof/", g.deps.Debug)
	}
	notFound := http.HandlerFunc(g.handleUnknownPath)
	unknown := g.instrument("unknown", notFound)
	if g.deps.Web != nil {
		// Every method is routed here, so that one other than GET gets the JSend 405, as on
		// the API's paths, rather than the catch-all's 404.
		web := g.instrument("dashboard", g.dispatch(methods{http.MethodGet: g.deps.Web(notFound).ServeHTTP}))
		mux.Handle("/{$}", web)
		mux.Handle("/static/{file}", web)
	}
	mux.Handle("/", unknown)
	g.mux = mux
	return g.recoverPanics(g.bodyDeadline(g.wellFormedQueries(cleanPathsOnly(mux, unknown))))
}

// wellFormedQueries refuses a request whose query string cannot be read whole: net/http's
// Request.URL.Query drops a parameter with a malformed %-escape or a ';' separator without a
// word, so a filter (model=…) or an upload's level would silently be ignored.
func (g *Gateway) wellFormedQueries(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := url.ParseQuery(r.URL.RawQuery); err != nil {
			problem := "has a malformed %-escape; escape % as %25"
			if strings.Contains(r.URL.RawQuery, ";") {
				problem = "separates parameters with ';'; use '&' (and escape a ';' in a value as %3B)"
			}
			g.writeError(w, r, messages.Invalid("query", "%s", problem))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// cleanPathsOnly hands a path that is not clean to unknown before mux sees it: ServeMux would
// redirect it to the clean path, an answer the API does not document, with a body that is
// not JSend, and a POST sent on to the redirect loses its body.
func cleanPathsOnly(mux, unknown http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := r.URL.EscapedPath(); cleanPath(p) != p {
			unknown.ServeHTTP(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// cleanPath is p, an escaped path, as ServeMux cleans it: rooted, without empty, . or ..
// segments, a trailing slash kept.
func cleanPath(p string) string {
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	clean := path.Clean(p) // p itself when it is clean: no allocation on the common path
	if strings.HasSuffix(p, "/") && clean != "/" {
		clean += "/"
	}
	return clean
}

// handleUnknownPath answers a path no endpoint serves, saying so when the path is not clean.
func (g *Gateway) handleUnknownPath(w http.ResponseWriter, r *http.Request) {
	p := r.URL.EscapedPath()
	if clean := cleanPath(p); clean != p {
		hint := "see /openapi.json"
		if g.serves(r, clean) {
			hint = "did you mean " + clean + "?"
		}
		g.writeError(w, r, messages.FailField(messages.CodeNotFound, "path", "no endpoint at %s: the path is not clean (it has an empty, . or .. segment); %s", p, hint))
		return
	}
	g.writeError(w, r, messages.FailField(messages.CodeNotFound, "path", "no endpoint at %s; see /openapi.json", p))
}

// serves reports whether an endpoint (not the catch-all) serves r's method at path, an
// escaped path.
func (g *Gateway) serves(r *http.Request, escaped string) bool {
	unescaped, err := url.PathUnescape(escaped)
	if err != nil {
		return false
	}
	at := r.Clone(r.Context())
	at.URL.Path, at.URL.RawPath = unescaped, escaped
	_, pattern := g.mux.Handler(at)
	return pattern != "" && pattern != "/"
}

// recoverPanics turns a handler panic into a JSend 500 instead of a dropped connection.
func (g *Gateway) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				g.writeError(w, r, messages.Errorf(messages.CodeInternal, fmt.Errorf("handler panic: %v", v), "internal error"))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// writeJSend writes a JSend body with status.
func (g *Gateway) writeJSend(w http.ResponseWriter, status int, body messages.Envelope) {
	if body.Status == messages.StatusError && body.Code == 0 {
		body.Code = status
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	data := body.Data
	body.Data = nil
	b, err := messages.MarshalWithRaw(body, "data", data)
	if err != nil { // cannot happen: an Envelope is an object
		b = []byte(`{"status":"error","message":"the response cannot be encoded","code":500}`)
		status = http.StatusInternalServerError
	}
	b = append(b, '\n')
	// Its length, so that net/http keeps the connection alive (it could not tell it once part
	// of the body has gone out) and does not chunk it.
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	if len(b) <= unpacedAnswer {
		_, _ = w.Write(b)
		return
	}
	_, _ = g.paced(w).Write(b)
}

// unpacedAnswer is the largest answer written without a deadline: the socket's buffers take it
// whether its client reads or not, so a stalled reader holds nothing. (A deadline would also
// cut the answer to a request whose body was never read: net/http reads the rest of the body,
// up to its own deadline, before it writes the answer.)
const unpacedAnswer = 64 << 10

// pacedWriter writes a response under a deadline that grows with what it has written:
// BodyTimeout from the first write and a second more per BatchUploadMinRate bytes, the pace a
// body is read at. A client that stops reading an answer (a large batch's results, say) is cut
// off then, and its handler ends, instead of holding the answer in memory for good. net/http
// clears the deadline once the response is finished (what it buffered written under it), so it
// does not outlive the answer on a kept-alive connection.
type pacedWriter struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	start   time.Time
	grace   time.Duration
	rate    int64 // bytes per second; 0 writes without deadlines
	written int64
}

func (g *Gateway) paced(w http.ResponseWriter) *pacedWriter {
	p := &pacedWriter{w: w, rc: http.NewResponseController(w), start: time.Now(), grace: g.cfg.BodyTimeout, rate: g.cfg.BatchUploadMinRate}
	if p.grace <= 0 {
		p.rate = 0
	}
	return p
}

func (p *pacedWriter) Write(b []byte) (int, error) {
	if p.rate > 0 {
		p.written += int64(len(b))
		// Only a writer without deadlines (none in net/http's servers) refuses.
		_ = p.rc.SetWriteDeadline(p.start.Add(p.grace + time.Duration(p.written*int64(time.Second)/p.rate)))
	}
	return p.w.Write(b)
}

// writeSuccess writes data in a JSend success body with status; data that cannot be encoded
// is an error.
func (g *Gateway) writeSuccess(w http.ResponseWriter, r *http.Request, status int, data any) {
	body, err := messages.Success(data)
	if err != nil {
		g.writeError(w, r, err)
		return
	}
	g.writeJSend(w, status, body)
}

// readJSON enforces the content type and the body's size and time limits, then decodes strictly
// into v.
func (g *Gateway) readJSON(w http.ResponseWriter, r *http.Request, v any) error {
	if err := identityEncoded(r); err != nil {
		return err
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, params, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return messages.FailField(messages.CodeUnsupportedMedia, "Content-Type", "must be application/json, got %q", messages.Clip(ct))
		}
		if err := utf8Charset(params); err != nil {
			return err
		}
	}
	body, err := g.readBody(w, r)
	if err != nil {
		return err
	}
	return messages.DecodeRequest(body, v)
}

// identityEncoded refuses a body sent compressed (Content-Encoding: gzip…), which would
// otherwise be read as it came, and refused as malformed JSON or CSV at its first byte.
func identityEncoded(r *http.Request) error {
	for _, ce := range r.Header.Values("Content-Encoding") {
		if ce = strings.TrimSpace(ce); ce != "" && !strings.EqualFold(ce, "identity") {
			return messages.FailField(messages.CodeUnsupportedMedia, "Content-Encoding", "%q is not accepted; send the body uncompressed", messages.Clip(ce))
		}
	}
	return nil
}

// modelParam validates the {model} path segment.
func modelParam(r *http.Request) (string, error) {
	name := r.PathValue("model")
	if p := messages.ValidModelName(name); p != "" {
		return "", messages.Invalid("model", "%s", p)
	}
	return name, nil
}

// Endpoint is one routed method and path pattern; the OpenAPI test checks them all.
type Endpoint struct{ Method, Path string }

// Endpoints lists every routed API endpoint.
func (g *Gateway) Endpoints() []Endpoint { return slices.Clone(g.endpoints) }

// mode is how a client wants a command answered.
type mode int

const (
	modeWait   mode = iota // block until the result (or 504)
	modeAsync              // 202 + Location, poll /v1/jobs/{id}
	modeStream             // SSE until the result
)

// modeOf is the answer r asks for: a stream when its Accept names text/event-stream (media
// types match regardless of case) with a quality above 0 and not below that of JSON; else
// waiting, or 202 with Prefer: respond-async.
func modeOf(r *http.Request) mode {
	accepted := acceptedTypes(r)
	if q := qualityOf(accepted, "text/event-stream", false); q > 0 && q >= qualityOf(accepted, "application/json", true) {
		return modeStream
	}
	for _, p := range r.Header.Values("Prefer") {
		for _, pref := range strings.Split(p, ",") {
			// A preference is a token, maybe "=" a value, then ";"-separated parameters (RFC
			// 7240); respond-async is named by its token.
			token, _, _ := strings.Cut(pref, ";")
			token, _, _ = strings.Cut(token, "=")
			if strings.EqualFold(strings.TrimSpace(token), "respond-async") {
				return modeAsync
			}
		}
	}
	return modeWait
}

// validating is a pointer to a command body that validates itself and fills in its defaults.
type validating[R any] interface {
	*R
	Validate() error
}

// command handles POST /v1/models/{model}/<command>: validate the name and the body, start the
// job, answer in the mode the client asked for.
func command[R any, PR validating[R]](g *Gateway, start func(context.Context, string, R) (*run, Accepted, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		model, err := modelParam(r)
		if err != nil {
			g.writeError(w, r, err)
			return
		}
		if err := noQuery(r, bodyFields); err != nil {
			g.writeError(w, r, err)
			return
		}
		var req R
		if err := g.readJSON(w, r, &req); err != nil {
			g.writeError(w, r, err)
			return
		}
		if err := PR(&req).Validate(); err != nil {
			g.writeError(w, r, err)
			return
		}
		run, acc, err := start(r.Context(), model, req)
		if err != nil {
			g.writeError(w, r, err)
			return
		}
		g.answer(w, r, run, acc)
	}
}

// bodyFields is the problem of a query parameter given to an endpoint that reads a JSON body.
const bodyFields = "is not read here: the request's fields go in its JSON body"

// noQuery refuses a request with query parameters where none is read, naming the first with
// problem, rather than ignore what the client thought it asked for (?method=drift).
func noQuery(r *http.Request, problem string) error {
	if q := r.URL.Query(); len(q) > 0 {
		return messages.Invalid(slices.Sorted(maps.Keys(q))[0], "%s", problem)
	}
	return nil
}

// queryParams refuses a request whose query names a parameter the endpoint does not read, or
// gives one it reads once (once) more than once, so that a typo (?models=m) is not taken for no
// filter at all and two resume points are not resolved by a guess.
func (g *Gateway) queryParams(many, once []string, next http.HandlerFunc) http.HandlerFunc {
	known := slices.Concat(many, once)
	return func(w http.ResponseWriter, r *http.Request) {
		p := messages.Problems{}
		for k, v := range r.URL.Query() {
			switch {
			case !slices.Contains(known, k):
				p.Add(k, "is not a query parameter of %s, which takes %s", r.URL.Path, strings.Join(known, ", "))
			case len(v) > 1 && slices.Contains(once, k):
				p.Add(k, "is given %d times; give it once", len(v))
			}
		}
		if err := p.Err(); err != nil {
			g.writeError(w, r, err)
			return
		}
		next(w, r)
	}
}

// answer responds to an accepted command in the mode the client asked for.
func (g *Gateway) answer(w http.ResponseWriter, r *http.Request, run *run, acc Accepted) {
	switch modeOf(r) {
	case modeAsync:
		w.Header().Set("Location", "/v1/jobs/"+acc.JobID)
		g.writeSuccess(w, r, http.StatusAccepted, acc)
	case modeStream:
		g.streamRun(w, r, run)
	default:
		g.waitRun(w, r, run)
	}
}

// lastReadTimeout bounds the reading of a job's record when its request times out.
const lastReadTimeout = time.Second

// waitRun blocks until the run's outcome, the request timeout (then the job's record is read
// once more; without an outcome there, 504: the job goes on and stays pollable) or the client
// leaving.
func (g *Gateway) waitRun(w http.ResponseWriter, r *http.Request, run *run) {
	t := time.NewTimer(g.cfg.RequestTimeout)
	defer t.Stop()
	select {
	case <-run.done:
		g.writeJSend(w, run.outcome.Status, run.outcome.Body)
	case <-t.C:
		// The record is read once more, so that a job whose reply was lost and that ended
		// since its last reading (reconcile reads at growing intervals) is still answered.
		ctx, cancel := context.WithTimeout(r.Context(), lastReadTimeout)
		g.answerFromRecord(ctx, run)
		cancel()
		select {
		case <-run.done:
			g.writeJSend(w, run.outcome.Status, run.outcome.Body)
			return
		default:
		}
		w.Header().Set("Location", "/v1/jobs/"+run.id)
		g.writeError(w, r, g.notAnswered(run.id))
	case <-g.root.Done():
		w.Header().Set("Location", "/v1/jobs/"+run.id)
		g.writeError(w, r, shuttingDown(run.id))
	case <-r.Context().Done():
	}
}

func (g *Gateway) handleJob(w http.ResponseWriter, r *http.Request) {
	job, err := g.deps.Store.GetJob(r.Context(), r.PathValue("id"))
	if err != nil {
		if batchID, index, saved := messages.SavedFitOf(r.PathValue("id")); errors.Is(err, store.ErrNoJob) && saved && g.batchExists(r.Context(), batchID) {
			// The job id of a model fitted by a batch: its outcome is the batch's to tell.
			err = messages.FailField(messages.CodeNotFound, "job_id", "is the fit of series %d of batch %s, which has no job record of its own; see /v1/batches/%s/results", index, batchID, batchID)
		} else if errors.Is(err, store.ErrNoJob) {
			err = messages.FailField(messages.CodeNotFound, "job_id", "no such job (job records expire)")
		} else {
			err = unavailable("read job", err)
		}
		g.writeError(w, r, err)
		return
	}
	if view, ok := g.overdue(r.Context(), job); ok {
		job = view
	}
	g.writeSuccess(w, r, http.StatusOK, g.jobView(job))
}

// batchExists reports whether batch id is recorded (false too when that cannot be read).
func (g *Gateway) batchExists(ctx context.Context, id string) bool {
	_, err := g.deps.Store.GetBatch(ctx, id)
	return err == nil
}

// overdue is job as it stands when its answer can no longer come, or false: a forecast still
// unanswered long after any gateway would have answered it (the one holding it went away; a
// processor answers one reaching it past its deadline expired too), or a fit whose fit expired
// before a processor ran it. It is shown expired with the 503 its client would have got (a fit
// job whose fit failed long ago without its answer recorded, failed with the fit's reason);
// the record is left as it is.
func (g *Gateway) overdue(ctx context.Context, job store.Job) (store.Job, bool) {
	if job.Status.Answered() || job.Status == store.JobExpired {
		return job, false
	}
	var f *messages.Failure
	switch job.Kind {
	case messages.KindForecast:
		// Held at most HoldTimeout, then published within PublishTimeout; its processor then
		// answers within RequestTimeout (the command's deadline); one more for the reply.
		limit := g.cfg.HoldTimeout + messages.PublishTimeout + 2*g.cfg.RequestTimeout
		if g.now().Sub(job.CreatedAt) < limit {
			return job, false
		}
		f = messages.Errorf(messages.CodeUnavailable, nil, "the forecast was not answered within %s (the gateway holding it went away, or it reached a processor past its deadline); ask again", limit)
	case messages.KindFit:
		fit, err := g.deps.Store.Fit(ctx, job.Model, job.Generation)
		if err != nil {
			return job, false
		}
		if fit.Status == store.FitPending && !fit.ExpiresAt.IsZero() && g.now().After(fit.ExpiresAt) {
			// A pending fit past its expiry is marked expired only when something waits for it,
			// in one step with the check (Unsettled): as a forecast would, so that no processor
			// can still take it over after it was shown expired.
			if _, err := g.deps.Store.Unsettled(ctx, job.Model, job.Generation); err != nil {
				return job, false
			}
			if fit, err = g.deps.Store.Fit(ctx, job.Model, job.Generation); err != nil {
				return job, false
			}
		}
		switch {
		case fit.Status == store.FitFailed && g.now().Sub(fit.FinishedAt) > messages.PublishTimeout+g.cfg.RequestTimeout:
			// Failed long ago, its answer never recorded (a gateway died between failing a fit
			// it could not publish and answering it): told as a processor would rebuild it.
			job.Status, job.Error = store.JobFailed, messages.JSON(messages.Errorf(messages.CodeInternal, nil, "the fit failed: %s", fit.Error).WithJob(job.ID))
			return job, true
		case fit.Status != store.FitExpired:
			return job, false
		}
		f = messages.Errorf(messages.CodeUnavailable, nil, "fit generation %d expired before a processor ran it (%s); fit again", job.Generation, fit.Error)
	default:
		return job, false
	}
	job.Status, job.Error = store.JobExpired, messages.JSON(f.WithJob(job.ID))
	return job, true
}

// jobView is the public shape of a job: its error is the JSend body the client would have got.
func (g *Gateway) jobView(j store.Job) map[string]any {
	v := map[string]any{
		"job_id": j.ID, "kind": j.Kind, "model": j.Model, "status": j.Status,
		"created_at": j.CreatedAt, "updated_at": j.UpdatedAt,
	}
	if j.Generation > 0 {
		v["generation"] = j.Generation
	}
	switch {
	case j.Progress != nil:
		v["progress"] = *j.Progress
	case j.Kind != messages.KindForecast && (j.Status == store.JobQueued || j.Status == store.JobHeld || j.Status == store.JobRunning):
		v["progress"] = 0.0 // a fit or backtest that has not reported any yet: none of it is done
	}
	if len(j.Result) > 0 {
		v["result"] = j.Result
	}
	if len(j.Error) > 0 {
		if f, ok := recordedFailure(j); ok {
			v["http_status"], v["error"] = g.answerError(f, "job_id", j.ID, "from", "job record")
		} else {
			v["error"] = j.Error
		}
	}
	return v
}

// modelView is the public shape of a model.
type modelView struct {
	Model      string          `json:"model"`
	Generation int64           `json:"generation"`
	Sequence   int64           `json:"sequence"`
	Method     string          `json:"method,omitempty"`
	FittedAt   *time.Time      `json:"fitted_at,omitempty"`
	Summary    json.RawMessage `json:"summary,omitempty"`
	// History, the tail of the fitted series, only in GET /v1/models/{model}: the store's List
	// leaves it out.
	History json.RawMessage   `json:"history,omitempty"`
	Pending []store.FitRecord `json:"pending_fits"`
	Recent  []store.FitRecord `json:"recent_generations"`
}

func newModelView(info store.ModelInfo) modelView {
	v := modelView{Model: info.Model, Sequence: info.Sequence, Pending: info.Pending, Recent: info.Recent}
	if v.Pending == nil {
		v.Pending = []store.FitRecord{}
	}
	if v.Recent == nil {
		v.Recent = []store.FitRecord{}
	}
	if c := info.Current; c != nil {
		v.Generation, v.Method, v.Summary, v.History = c.Generation, c.Method, c.Summary, c.History
		t := c.FittedAt
		v.FittedAt = &t
	}
	return v
}

func (g *Gateway) handleModel(w http.ResponseWriter, r *http.Request) {
	model, err := modelParam(r)
	if err != nil {
		g.writeError(w, r, err)
		return
	}
	info, err := g.deps.Store.Info(r.Context(), model)
	if err != nil {
		if errors.Is(err, store.ErrNoModel) {
			err = noModel(model)
		} else {
			err = unavailable("read model", err)
		}
		g.writeError(w, r, err)
		return
	}
	g.writeSuccess(w, r, http.StatusOK, newModelView(info))
}

func (g *Gateway) handleModels(w http.ResponseWriter, r *http.Request) {
	infos, err := g.deps.Store.List(r.Context())
	if err != nil {
		g.writeError(w, r, unavailable("list models", err))
		return
	}
	views := make([]modelView, len(infos))
	for i, info := range infos {
		views[i] = newModelView(info)
	}
	g.writeSuccess(w, r, http.StatusOK, map[string]any{"models": views})
}

func (g *Gateway) handleHealth(w http.ResponseWriter, r *http.Request) {
	g.writeSuccess(w, r, http.StatusOK, map[string]any{"status": "ok", "gateway": g.cfg.ID})
}

func (g *Gateway) handleReady(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	checks := map[string]string{"store": "ok", "broker": "ok"}
	ready := true
	// Readiness is for operators and orchestrators: it names what failed, in the failure's own
	// words ('forecastd health' prints them).
	if err := g.deps.Store.Ping(ctx); err != nil {
		checks["store"], ready = err.Error(), false
	}
	if g.deps.Ready != nil {
		if err := g.deps.Ready(ctx); err != nil {
			checks["broker"], ready = err.Error(), false
		}
	}
	if !ready {
		f := messages.Errorf(messages.CodeUnavailable, nil, "not ready")
		f.Data = map[string]any{"store": checks["store"], "broker": checks["broker"]}
		g.writeError(w, r, f)
		return
	}
	g.writeSuccess(w, r, http.StatusOK, checks)
}
