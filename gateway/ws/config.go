package ws

import (
	"time"

	"github.com/forecastd/forecastd/messages"
)

// Config tunes WebSocket sessions; zero fields take the defaults noted.
type Config struct {
	// ReadLimit bounds one message from a client, in bytes (messages.MaxBodyBytes).
	ReadLimit int64
	// WriteTimeout bounds one write and the wait for a ping's pong (10 s).
	WriteTimeout time.Duration
	// AllowedOrigins lists host patterns (path.Match syntax, e.g. "*.example.com") of other
	// origins whose browsers may open sessions; same-origin is always allowed.
	AllowedOrigins []string
}

func (c Config) withDefaults() Config {
	if c.ReadLimit <= 0 {
		c.ReadLimit = messages.MaxBodyBytes
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 10 * time.Second
	}
	return c
}

// Limits of one session.
const (
	// maxInFlight bounds the fits and forecasts one session may have running at once.
	maxInFlight = 64
	// maxModels bounds the models one session follows by name.
	maxModels = 1000
	// inboxSize bounds the client messages waiting to be handled, as the read limit bounds
	// their bytes; a client that sends faster than its commands are accepted gets an error for
	// the excess.
	inboxSize = 64
	// readBufferSize sizes a session's read buffer: client messages larger than it are read
	// past it. Client messages are few and small; every byte here is paid by every session.
	readBufferSize = 128
	// writeBufferSize sizes the library's write buffer, which only writes control frames: at
	// most 127 bytes each (a 2-byte header, at most 125 of payload), so each is one Write to
	// the wire and cannot be split around a batch of ours.
	writeBufferSize = 128
)
