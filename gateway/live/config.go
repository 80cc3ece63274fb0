package live

import "time"

// Config tunes the hub and its sessions; zero fields take the defaults noted.
type Config struct {
	// SendQueue bounds the messages queued for one session (256); a session that falls further
	// behind is disconnected as a slow consumer.
	SendQueue int
	// WriteTimeout bounds one write to a session (10 s).
	WriteTimeout time.Duration
	// Heartbeat is how often sessions get a keep-alive; one ticker serves them all, spread over
	// the interval (see Hub.heartbeat). Zero disables it.
	Heartbeat time.Duration
	// RecheckInterval is how often the hub reads the feed besides its wake-ups (1 s).
	RecheckInterval time.Duration
	// ReplayTimeout bounds one resume's reading of missed events (1 min).
	ReplayTimeout time.Duration
	// Linger is how long an event that tells of work under way (fit_accepted, fit_progress,
	// batch_progress) may wait in a session's queue for more, so that the events of a quick
	// fit reach a client in one write instead of three (zero: no wait; the gateway's default
	// is DefaultLinger). An event that does not linger (model_ready, fit_failed, batch_done, a
	// reply) is written at once, with whatever waits before it; the order never changes.
	Linger time.Duration
}

// DefaultLinger is the gateway's default Config.Linger.
const DefaultLinger = 20 * time.Millisecond

func (c Config) withDefaults() Config {
	c.SendQueue = orDefault(c.SendQueue, 256)
	c.WriteTimeout = orDefault(c.WriteTimeout, 10*time.Second)
	c.RecheckInterval = orDefault(c.RecheckInterval, time.Second)
	c.ReplayTimeout = orDefault(c.ReplayTimeout, time.Minute)
	return c
}

func orDefault[T int | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}
