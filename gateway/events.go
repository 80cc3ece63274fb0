package gateway

import (
	"fmt"
	"net/http"

	"github.com/forecastd/forecastd/messages"
)

// Owned by the live-sessions work (issue 4).

// handleEvents streams model events as SSE with resume.
func (g *Gateway) handleEvents(w http.ResponseWriter, r *http.Request) {
	writeJSend(w, http.StatusNotImplemented, messages.Error(fmt.Sprintf("%s is not implemented yet", r.URL.Path), 0, nil))
}
