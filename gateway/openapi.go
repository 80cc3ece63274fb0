package gateway

import (
	"fmt"
	"net/http"

	"github.com/forecastd/forecastd/messages"
)

// Owned by the API-description work (issue 4).

func (g *Gateway) handleOpenAPI(w http.ResponseWriter, r *http.Request) {
	writeJSend(w, http.StatusNotImplemented, messages.Error(fmt.Sprintf("%s is not implemented yet", r.URL.Path), 0, nil))
}

func (g *Gateway) handleDocs(w http.ResponseWriter, r *http.Request) {
	writeJSend(w, http.StatusNotImplemented, messages.Error(fmt.Sprintf("%s is not implemented yet", r.URL.Path), 0, nil))
}
