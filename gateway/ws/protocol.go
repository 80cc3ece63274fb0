package ws

import (
	"encoding/json"

	"github.com/forecastd/forecastd/gateway/live"
	"github.com/forecastd/forecastd/messages"
)

// out is a server message: accepted, progress, held, result, error or pong.
type out struct {
	Type    string          `json:"type"`
	ID      json.RawMessage `json:"id,omitempty"`
	Status  string          `json:"status,omitempty"`
	Data    json.RawMessage `json:"data,omitempty"`
	Message string          `json:"message,omitempty"`
	Code    int             `json:"code,omitempty"`
}

// Format is the WebSocket encoding of events: an event message each.
var Format = &live.Format{Encode: func(id, name string, data []byte) []byte {
	return messages.JSON(struct {
		Type    string          `json:"type"`
		Event   string          `json:"event"`
		EventID string          `json:"event_id,omitempty"`
		Data    json.RawMessage `json:"data"`
	}{"event", name, id, data})
}}

// Client messages. Each is decoded strictly, like the HTTP bodies they mirror.
type (
	header struct {
		Type string          `json:"type"`
		ID   json.RawMessage `json:"id"`
	}
	fitMessage struct {
		Type  string          `json:"type"`
		ID    json.RawMessage `json:"id"`
		Model string          `json:"model"`
		messages.FitRequest
	}
	forecastMessage struct {
		Type  string          `json:"type"`
		ID    json.RawMessage `json:"id"`
		Model string          `json:"model"`
		messages.ForecastRequest
	}
	subscribeMessage struct {
		Type        string          `json:"type"`
		ID          json.RawMessage `json:"id"`
		Models      []string        `json:"models"`
		LastEventID string          `json:"last_event_id,omitempty"`
	}
	pingMessage struct {
		Type string          `json:"type"`
		ID   json.RawMessage `json:"id"`
	}
)
