package live

import "time"

// Deadline keeps a connection's write deadline between half and all of its timeout ahead,
// moving it only when it has come closer than half: a session written to many times a second
// does not reset a runtime timer for every write. A write is then bounded by at least half the
// timeout and at most all of it. Its user serialises the calls (the connection's write lock).
type Deadline struct {
	Set     func(time.Time) error // the connection's SetWriteDeadline
	Timeout time.Duration
	at      time.Time
}

// Extend makes sure the deadline is at least half the timeout away.
func (d *Deadline) Extend() {
	now := time.Now()
	if d.at.Sub(now) >= d.Timeout/2 {
		return
	}
	d.at = now.Add(d.Timeout)
	_ = d.Set(d.at)
}
