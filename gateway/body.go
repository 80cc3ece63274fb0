package gateway

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/forecastd/forecastd/messages"
)

// Request bodies have Config.BodyTimeout to arrive, counted from the end of the headers. The
// read deadline is set on the connection for every request that carries a body and cleared once
// the body is read, so the answer (a synchronous fit that computes for minutes, an SSE stream)
// has no time limit of its own. A handler that answers without reading the body (401, 429, 404…)
// leaves the deadline in place: net/http then drains the unread body before reusing the
// connection, and the deadline bounds that drain as well.

// bodyDeadline gives every request that carries a body BodyTimeout to send it.
func (g *Gateway) bodyDeadline(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g.cfg.BodyTimeout > 0 && hasBody(r) {
			// Only a writer without deadlines (none in net/http's servers) refuses; the body
			// is then read without a time limit, as it was before.
			_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(g.cfg.BodyTimeout))
		}
		next.ServeHTTP(w, r)
	})
}

func hasBody(r *http.Request) bool {
	return r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0
}

// noBody guards the stream endpoints, which read no body: the body deadline would stay set on
// the connection and cut the stream.
func (g *Gateway) noBody(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if hasBody(r) {
			g.writeError(w, r, messages.Invalid("body", "must be empty: this endpoint reads no request body"))
			return
		}
		next(w, r)
	}
}

// readBody reads the whole body, at most messages.MaxBodyBytes of it, and clears the read
// deadline bodyDeadline set (net/http's HTTP/1 server happens to clear it too when a body ends;
// the answer's lifetime should not rest on that). On an error the deadline stays, so that
// net/http's drain of the rest fails at once and the connection is closed.
func (g *Gateway) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, messages.MaxBodyBytes))
	if err != nil {
		return nil, bodyFailure(err, int64(len(b)), fmt.Sprintf("request body not received within %s", g.cfg.BodyTimeout))
	}
	_ = http.NewResponseController(w).SetReadDeadline(time.Time{})
	return b, nil
}

// bodyFailure is the failure of a request body whose reading failed with err after n bytes;
// late is what a client that ran out of time is told.
func bodyFailure(err error, n int64, late string) error {
	var tooLarge *http.MaxBytesError
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		return messages.FailField(messages.CodeBodyTimeout, "body", "%s", late)
	case errors.As(err, &tooLarge):
		return messages.FailField(messages.CodeTooLarge, "body", "is larger than the limit of %d bytes", tooLarge.Limit)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return messages.Invalid("body", "ended after %d bytes, before all of it arrived (the connection closed mid-body)", n)
	default:
		return &messages.Failure{Code: messages.CodeInvalid, Problems: messages.Problems{"body": "could not be read"}, Cause: err}
	}
}
