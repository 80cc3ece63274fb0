package gateway

import (
	"net/http"

	"github.com/forecastd/forecastd/forecast"
	"github.com/forecastd/forecastd/messages"
)

// The original service's API, kept working on model "default". Its answers carry the original's
// fields (data.message after a fit, data.forecast after a forecast; see messages.APIOriginal)
// and its problems name the original's fields (data, num_steps).

const legacyModel = "default"

type legacyFitRequest struct {
	Data messages.Values `json:"data"`
}

type legacyForecastRequest struct {
	NumSteps *int `json:"num_steps"`
}

// handleLegacyFit fits the original ARIMA(7,1,1) to {"data": [...]}.
func (g *Gateway) handleLegacyFit(w http.ResponseWriter, r *http.Request) {
	var body legacyFitRequest
	if err := noQuery(r, bodyFields); err != nil {
		g.writeError(w, r, err)
		return
	}
	if err := g.readJSON(w, r, &body); err != nil {
		g.writeError(w, r, err)
		return
	}
	one := 1
	req := messages.FitRequest{
		Values: body.Data, SeasonLength: &one, Method: forecast.MethodARIMA,
		Options: forecast.Options{Order: []int{7, 1, 1}},
	}
	if err := req.Validate(); err != nil {
		g.writeError(w, r, messages.RenameField(err, "values", messages.ValuesField(messages.APIOriginal)))
		return
	}
	run, acc, err := g.startFitFor(r.Context(), messages.APIOriginal, legacyModel, req)
	if err != nil {
		g.writeError(w, r, err)
		return
	}
	g.answer(w, r, run, acc)
}

// handleLegacyForecast forecasts {"num_steps": N} levels (not differences) from model "default".
func (g *Gateway) handleLegacyForecast(w http.ResponseWriter, r *http.Request) {
	var body legacyForecastRequest
	if err := noQuery(r, bodyFields); err != nil {
		g.writeError(w, r, err)
		return
	}
	if err := g.readJSON(w, r, &body); err != nil {
		g.writeError(w, r, err)
		return
	}
	req := messages.ForecastRequest{Horizon: body.NumSteps}
	if err := req.Validate(); err != nil {
		g.writeError(w, r, messages.RenameField(err, "horizon", messages.HorizonField(messages.APIOriginal)))
		return
	}
	run, acc, err := g.startForecastFor(r.Context(), messages.APIOriginal, legacyModel, req)
	if err != nil {
		g.writeError(w, r, err)
		return
	}
	g.answer(w, r, run, acc)
}
