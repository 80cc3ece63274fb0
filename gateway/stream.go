package gateway

import (
	"net/http"
	"time"

	"github.com/forecastd/forecastd/gateway/sse"
)

// streamRun streams a command's steps as SSE: accepted, progress…, (held, released), then
// succeeded or failed carrying the same body as the JSON response, and ends.
func (g *Gateway) streamRun(w http.ResponseWriter, r *http.Request, run *run) {
	g.metrics.sessions.WithLabelValues("sse_command").Inc()
	defer g.metrics.sessions.WithLabelValues("sse_command").Dec()
	s := sse.Start(w)
	heartbeat := time.NewTicker(15 * time.Second)
	defer heartbeat.Stop()
	for {
		select {
		case u := <-run.updates:
			if err := s.Event("", u.Type, u.Data); err != nil {
				return
			}
		case <-run.done:
			// Drain steps that arrived before the outcome, so the order stays true.
			for {
				select {
				case u := <-run.updates:
					if err := s.Event("", u.Type, u.Data); err != nil {
						return
					}
					continue
				default:
				}
				break
			}
			name := streamSucceeded
			if run.outcome.Body.Status != "success" {
				name = streamFailed
			}
			_ = s.Event("", name, map[string]any{"http_status": run.outcome.Status, "body": run.outcome.Body})
			return
		case <-heartbeat.C:
			if err := s.Comment("keep-alive"); err != nil {
				return
			}
		case <-g.root.Done():
			status, body := g.answerError(shuttingDown(run.id))
			_ = s.Event("", streamFailed, map[string]any{"http_status": status, "body": body})
			return
		case <-r.Context().Done():
			return
		}
	}
}
