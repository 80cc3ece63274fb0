package gateway

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// sseWriter writes Server-Sent Events and flushes each one.
type sseWriter struct {
	w  io.Writer
	rc *http.ResponseController
}

// startSSE sends the stream's headers. Proxies are told not to buffer.
func startSSE(w http.ResponseWriter) *sseWriter {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("Connection", "keep-alive")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	s := &sseWriter{w: w, rc: http.NewResponseController(w)}
	_ = s.rc.Flush()
	return s
}

// event writes one event; id may be empty. data is JSON-encoded on one line.
func (s *sseWriter) event(id, name string, data any) error {
	b, err := json.Marshal(data)
	if err != nil {
		return err
	}
	if id != "" {
		if _, err := fmt.Fprintf(s.w, "id: %s\n", id); err != nil {
			return err
		}
	}
	if _, err := fmt.Fprintf(s.w, "event: %s\ndata: %s\n\n", name, b); err != nil {
		return err
	}
	return s.rc.Flush()
}

// comment writes a heartbeat comment.
func (s *sseWriter) comment(text string) error {
	if _, err := fmt.Fprintf(s.w, ": %s\n\n", text); err != nil {
		return err
	}
	return s.rc.Flush()
}

// retry tells the client how long to wait before reconnecting.
func (s *sseWriter) retry(d time.Duration) error {
	if _, err := fmt.Fprintf(s.w, "retry: %d\n\n", d.Milliseconds()); err != nil {
		return err
	}
	return s.rc.Flush()
}

// streamRun streams a command's steps as SSE: accepted, progress…, (held, released), then
// succeeded or failed carrying the same body as the JSON response, and ends.
func (g *Gateway) streamRun(w http.ResponseWriter, r *http.Request, run *run) {
	g.metrics.sessions.WithLabelValues("sse_command").Inc()
	defer g.metrics.sessions.WithLabelValues("sse_command").Dec()
	s := startSSE(w)
	heartbeat := time.NewTicker(15 * time.Second)
	defer heartbeat.Stop()
	for {
		select {
		case u := <-run.updates:
			if err := s.event("", u.Type, u.Data); err != nil {
				return
			}
		case <-run.done:
			// Drain steps that arrived before the outcome, so the order stays true.
			for {
				select {
				case u := <-run.updates:
					if err := s.event("", u.Type, u.Data); err != nil {
						return
					}
					continue
				default:
				}
				break
			}
			name := "succeeded"
			if run.outcome.Body.Status != "success" {
				name = "failed"
			}
			_ = s.event("", name, map[string]any{"http_status": run.outcome.Status, "body": run.outcome.Body})
			return
		case <-heartbeat.C:
			if err := s.comment("keep-alive"); err != nil {
				return
			}
		case <-g.root.Done():
			status, body := g.answerError(shuttingDown(run.id))
			_ = s.event("", "failed", map[string]any{"http_status": status, "body": body})
			return
		case <-r.Context().Done():
			return
		}
	}
}
