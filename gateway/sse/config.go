package sse

import "time"

// Config tunes the event streams; zero fields take the defaults noted.
type Config struct {
	// Retry is the reconnection delay suggested to clients (2 s).
	Retry time.Duration
	// WriteTimeout bounds one write to a stream (10 s).
	WriteTimeout time.Duration
	// Heartbeats tells whether the hub sends keep-alives. Only then are streams hijacked: a
	// hijacked stream has no goroutine reading it, so only writes notice a client that left.
	Heartbeats bool
}

func (c Config) withDefaults() Config {
	if c.Retry <= 0 {
		c.Retry = 2 * time.Second
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 10 * time.Second
	}
	return c
}
