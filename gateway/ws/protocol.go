package ws

import (
	"encoding/binary"
	"encoding/json"
	"math"

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

// Format is the WebSocket encoding of events: an event message each, as a whole frame.
var Format = &live.Format{Encode: func(id, name string, data []byte) []byte {
	return textFrame(messages.JSON(struct {
		Type    string          `json:"type"`
		Event   string          `json:"event"`
		EventID string          `json:"event_id,omitempty"`
		Data    json.RawMessage `json:"data"`
	}{"event", name, id, data}))
}}

// textFrame is msg as one unmasked, uncompressed text frame from server to client (RFC 6455
// section 5.2). Sessions write frames made once, an event's for all of them, instead of
// having the library frame, lock and flush every message of every session.
func textFrame(msg []byte) []byte {
	const finText = 0x80 | 0x1
	n := len(msg)
	var b []byte
	switch {
	case n < 126:
		b = append(make([]byte, 0, 2+n), finText, byte(n))
	case n <= math.MaxUint16:
		b = binary.BigEndian.AppendUint16(append(make([]byte, 0, 4+n), finText, 126), uint16(n))
	default:
		b = binary.BigEndian.AppendUint64(append(make([]byte, 0, 10+n), finText, 127), uint64(n))
	}
	return append(b, msg...)
}

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
		Batches     []string        `json:"batches,omitempty"`
		LastEventID string          `json:"last_event_id,omitempty"`
	}
	unsubscribeMessage struct {
		Type    string          `json:"type"`
		ID      json.RawMessage `json:"id"`
		Models  []string        `json:"models"`
		Batches []string        `json:"batches,omitempty"`
	}
	pingMessage struct {
		Type string          `json:"type"`
		ID   json.RawMessage `json:"id"`
	}
)
