// Package ws serves GET /v1/ws: the upgrade, the read loop, client and server messages (one
// JSON text message each, decoded strictly like the HTTP bodies, which wsjson cannot do), and
// the dispatch of fits, forecasts and subscriptions. Jobs go to the gateway's API core through
// Commands; events come from a live.Session.
package ws

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"strings"

	"github.com/coder/websocket"

	"github.com/forecastd/forecastd/gateway/auth"
	"github.com/forecastd/forecastd/gateway/live"
	"github.com/forecastd/forecastd/messages"
)

// Commands is what sessions need of the API core: fits and forecasts started as the HTTP API
// starts them.
type Commands interface {
	// Allow takes one fit or forecast from client's rate limit.
	Allow(client string) error
	// Fit and Forecast validate req and start the job, in the order called (a forecast sent
	// after a fit must see the fit's generation as its barrier).
	Fit(model string, req messages.FitRequest) (Wait, error)
	Forecast(model string, req messages.ForecastRequest) (Wait, error)
}

// Wait follows an accepted job: it reports the job's steps to step and returns the outcome as
// HTTP would answer it, or ok false when stop closed first.
type Wait func(stop <-chan struct{}, step func(kind string, data json.RawMessage)) (status int, body messages.Envelope, ok bool)

// Deps are the handler's collaborators.
type Deps struct {
	Hub      *live.Hub
	Commands Commands
	// Answer maps an error to the status and JSend body HTTP would answer with.
	Answer func(err error, attrs ...any) (int, messages.Envelope)
	// Fail answers a request refused before the upgrade.
	Fail func(http.ResponseWriter, *http.Request, error)
	// Scope is what the request's token allows; Client the address its rate limit counts by.
	Scope  func(context.Context) auth.Scope
	Client func(*http.Request) string
	Log    *slog.Logger
}

// Handler serves WebSocket sessions.
type Handler struct {
	cfg  Config
	deps Deps
}

// New builds the handler.
func New(cfg Config, deps Deps) *Handler { return &Handler{cfg: cfg.withDefaults(), deps: deps} }

// ServeHTTP serves one WebSocket session: fits and forecasts answered with accepted,
// progress, held and result messages, and model events for the models the client subscribes to.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !headerHasToken(r.Header, "Connection", "upgrade") || !headerHasToken(r.Header, "Upgrade", "websocket") {
		w.Header().Set("Upgrade", "websocket")
		h.deps.Fail(w, r, messages.FailField(messages.CodeUpgradeRequired, "Upgrade", "this endpoint speaks WebSocket only; send Connection: Upgrade and Upgrade: websocket"))
		return
	}
	if err := checkOrigin(r, h.cfg.AllowedOrigins); err != nil {
		h.deps.Fail(w, r, err)
		return
	}
	// The origin is checked above so that a refusal is a JSend body, not plain text.
	hj := &hijacker{ResponseWriter: w, timeout: h.cfg.WriteTimeout}
	c, err := websocket.Accept(hj, r, &websocket.AcceptOptions{
		InsecureSkipVerify: true,
		// Messages are framed once for every session (textFrame): never compressed.
		CompressionMode: websocket.CompressionDisabled,
	})
	if err != nil {
		h.deps.Log.Debug("websocket accept", "err", err)
		return
	}
	c.SetReadLimit(h.cfg.ReadLimit)
	t := &conn{conn: c, wire: hj.wire, timeout: h.cfg.WriteTimeout}
	s := &session{Session: h.deps.Hub.NewSession(t), h: h, t: t, client: h.deps.Client(r), scope: h.deps.Scope(r.Context())}
	s.Open(false, nil)
	// A fresh goroutine reads, so that this one and the request it served can be released.
	go s.read()
}

// checkOrigin allows requests without Origin (non-browsers), same-origin requests and origins
// whose host matches one of the allowed patterns.
func checkOrigin(r *http.Request, allowed []string) error {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return nil
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return messages.FailField(messages.CodeForbidden, "Origin", "%q is not a valid origin", origin)
	}
	if strings.EqualFold(u.Host, r.Host) {
		return nil
	}
	for _, p := range allowed {
		target := u.Host
		if strings.Contains(p, "://") {
			target = u.Scheme + "://" + u.Host
		}
		if ok, _ := path.Match(strings.ToLower(p), strings.ToLower(target)); ok {
			return nil
		}
	}
	return messages.FailField(messages.CodeForbidden, "Origin", "origin %q may not open sessions on %q; add it to the allowed origins", u.Host, r.Host)
}

func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}
