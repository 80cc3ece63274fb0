package gateway

import (
	"context"
	"encoding/json"
	"time"

	"github.com/forecastd/forecastd/gateway/ws"
	"github.com/forecastd/forecastd/messages"
)

// wsCommands is the API core as WebSocket sessions use it (ws.Commands).
type wsCommands struct{ g *Gateway }

func (c wsCommands) Allow(client string) error {
	g := c.g
	if g.limit == nil {
		return nil
	}
	if ok, wait := g.limit.allow(client, g.now()); !ok {
		return messages.FailField(messages.CodeRateLimited, "rate", "too many fits and forecasts from this client; retry in %s", wait.Round(time.Millisecond))
	}
	return nil
}

func (c wsCommands) Fit(model string, req messages.FitRequest) (ws.Wait, error) {
	return startFor(c.g, model, req, c.g.startFit)
}

func (c wsCommands) Forecast(model string, req messages.ForecastRequest) (ws.Wait, error) {
	return startFor(c.g, model, req, c.g.startForecast)
}

// startFor validates req and starts its job within the request timeout, for a session to
// follow with the returned ws.Wait.
func startFor[R any, PR validating[R]](g *Gateway, model string, req R, start func(context.Context, string, R) (*run, Accepted, error)) (ws.Wait, error) {
	if err := PR(&req).Validate(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(g.root, g.cfg.RequestTimeout)
	defer cancel()
	r, _, err := start(ctx, model, req)
	if err != nil {
		return nil, err
	}
	return func(stop <-chan struct{}, step func(string, json.RawMessage)) (int, messages.Envelope, bool) {
		return g.relay(r, stop, step)
	}, nil
}

// relay reports a run's steps until its outcome, or until the request timeout (the job goes on
// and stays pollable), which it answers; false when stop closed first.
func (g *Gateway) relay(r *run, stop <-chan struct{}, step func(string, json.RawMessage)) (int, messages.Envelope, bool) {
	t := time.NewTimer(g.cfg.RequestTimeout)
	defer t.Stop()
	for {
		select {
		case u := <-r.updates:
			step(u.Type, u.Data)
		case <-r.done:
			for drained := false; !drained; {
				select {
				case u := <-r.updates:
					step(u.Type, u.Data)
				default:
					drained = true
				}
			}
			return r.outcome.Status, r.outcome.Body, true
		case <-t.C:
			status, body := g.answerError(g.notAnswered(r.id), "transport", "ws")
			return status, body, true
		case <-stop:
			return 0, messages.Envelope{}, false
		}
	}
}
