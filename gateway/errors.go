package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/forecastd/forecastd/messages"
)

// answerError is the one place where errors become HTTP statuses and JSend bodies, for every
// transport (WebSocket results and SSE events carry the same bodies) and for the failures of
// jobs, however they arrive: from this gateway, in a processor's reply, or read back from a job
// record. It logs each one with its cause.
//
// Clients are told only what was written for them: a Failure's message and problems. The cause
// of a failure, and any error that is not a Failure (a connection, Redis, AMQP or decoding error
// that got this far), stays in the log; its client gets a generic message for its code.
func (g *Gateway) answerError(err error, attrs ...any) (int, messages.Envelope) {
	f := failureOf(err)
	if f.Code == "" {
		// A record or reply of a version before codes: its status and body, as they were.
		body := *f.Body
		if body.Status == messages.StatusError && body.Code == 0 {
			body.Code = f.Status
		}
		g.log.Debug("answered a failure recorded by an earlier version", append(attrs, "status", f.Status, "body", body.Message)...)
		return f.Status, body
	}
	status := statusOf(f.Code)
	level := slog.LevelDebug // the client's doing
	switch f.Code {
	case messages.CodeUnavailable, messages.CodeTimeout:
		level = slog.LevelWarn
	case messages.CodeInternal:
		level = slog.LevelError
	}
	if id, ok := f.Data["job_id"]; ok {
		attrs = append(attrs, "job_id", id)
	}
	g.log.Log(context.Background(), level, "request failed", append(attrs,
		"code", f.Code, "status", status, "message", f.Message, "problems", f.Problems, "err", f.Cause)...)
	return status, envelopeOf(f)
}

// envelopeOf is the JSend body of a failure with a code, without logging it: for failures
// logged where they happened, such as the series of a batch, read back many at a time.
func envelopeOf(f *messages.Failure) messages.Envelope {
	status := statusOf(f.Code)
	if f.Code.ClientFault() {
		problems := f.Problems
		if len(problems) == 0 {
			problems = messages.Problems{"request": genericMessage(f.Code)}
		}
		return messages.Envelope{Status: messages.StatusFail, Data: messages.JSON(problems)}
	}
	body := messages.Envelope{Status: messages.StatusError, Message: f.Message, Code: status}
	if body.Message == "" {
		body.Message = genericMessage(f.Code)
	}
	if len(f.Data) > 0 {
		body.Data = messages.JSON(f.Data)
	}
	return body
}

// failureOf is the Failure err stands for. An error with a code but no words for users (a
// store's sentinel) gets its code's generic message; any other error is internal.
func failureOf(err error) *messages.Failure {
	var f *messages.Failure
	switch {
	case errors.As(err, &f) && (f.Code != "" || (f.Status != 0 && f.Body != nil)):
		return f
	case errors.Is(err, context.DeadlineExceeded):
		return messages.Errorf(messages.CodeTimeout, err, "timed out")
	}
	return &messages.Failure{Code: messages.CodeOf(err), Cause: err}
}

// statusOf is the HTTP status of a code.
func statusOf(c messages.Code) int {
	switch c {
	case messages.CodeInvalid:
		return http.StatusBadRequest
	case messages.CodeUnauthenticated:
		return http.StatusUnauthorized
	case messages.CodeForbidden:
		return http.StatusForbidden
	case messages.CodeNotFound:
		return http.StatusNotFound
	case messages.CodeMethodNotAllowed:
		return http.StatusMethodNotAllowed
	case messages.CodeBodyTimeout:
		return http.StatusRequestTimeout
	case messages.CodeGone:
		return http.StatusGone
	case messages.CodeTooLarge:
		return http.StatusRequestEntityTooLarge
	case messages.CodeUnsupportedMedia:
		return http.StatusUnsupportedMediaType
	case messages.CodeUpgradeRequired:
		return http.StatusUpgradeRequired
	case messages.CodeRateLimited:
		return http.StatusTooManyRequests
	case messages.CodeUnavailable:
		return http.StatusServiceUnavailable
	case messages.CodeTimeout:
		return http.StatusGatewayTimeout
	}
	return http.StatusInternalServerError
}

// genericMessage is what the client of a failure with no words of its own is told.
func genericMessage(c messages.Code) string {
	switch c {
	case messages.CodeNotFound:
		return "not found"
	case messages.CodeUnavailable:
		return "service unavailable; retry shortly"
	case messages.CodeTimeout:
		return "timed out"
	case messages.CodeInternal:
		return "internal error"
	}
	return "cannot be accepted (" + string(c) + ")"
}

// writeError writes the status and JSend body answerError maps err to.
func (g *Gateway) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status, body := g.answerError(err, "method", r.Method, "path", r.URL.Path)
	g.writeJSend(w, status, body)
}

// unavailable is a failure of the broker or the store while doing what; its client gets 503.
func unavailable(what string, err error) *messages.Failure {
	return messages.Errorf(messages.CodeUnavailable, fmt.Errorf("%s: %w", what, err), "service unavailable: could not %s; retry shortly", what)
}

// noModel is the failure of a request for a model that has no fitted model.
func noModel(model string) *messages.Failure {
	return messages.FailField(messages.CodeNotFound, "model", "model %q has no fitted model; fit it first", model)
}

// notAnswered is the failure of a wait for a job's result that ran out; the job goes on.
func (g *Gateway) notAnswered(jobID string) *messages.Failure {
	return messages.Errorf(messages.CodeTimeout, nil, "no result within %s; the job goes on, poll /v1/jobs/%s", g.cfg.RequestTimeout, jobID).WithJob(jobID)
}

// shuttingDown is the failure of a wait for a job's result cut short by shutdown.
func shuttingDown(jobID string) *messages.Failure {
	return messages.Errorf(messages.CodeUnavailable, nil, "the gateway is shutting down; the job goes on, poll /v1/jobs/%s", jobID).WithJob(jobID)
}
