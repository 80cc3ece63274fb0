package gateway

import (
	"fmt"
	"net/http"

	"github.com/forecastd/forecastd/messages"
)

// Owned by the live-sessions work (issue 4).

// handleWS serves one WebSocket session.
func (g *Gateway) handleWS(w http.ResponseWriter, r *http.Request) {
	writeJSend(w, http.StatusNotImplemented, messages.Error(fmt.Sprintf("%s is not implemented yet", r.URL.Path), 0, nil))
}
