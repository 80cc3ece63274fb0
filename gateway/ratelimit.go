package gateway

import (
	"context"
	"math"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/forecastd/forecastd/messages"
)

// limiter holds one token bucket per client address for the command endpoints (fit and
// forecast), so one client cannot flood the processors; reads are not limited.
type limiter struct {
	rate    rate.Limit
	burst   int
	mu      sync.Mutex
	clients map[string]*client
}

type client struct {
	bucket *rate.Limiter
	seen   time.Time
}

func newLimiter(perSecond float64, burst int) *limiter {
	return &limiter{rate: rate.Limit(perSecond), burst: max(burst, 1), clients: make(map[string]*client)}
}

// allow takes a token for addr, or says how long until one is free.
func (l *limiter) allow(addr string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.clients[addr]
	if c == nil {
		c = &client{bucket: rate.NewLimiter(l.rate, l.burst)}
		l.clients[addr] = c
	}
	c.seen = now
	r := c.bucket.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// forget drops clients idle for longer than idle, bounding the map.
func (l *limiter) forget(now time.Time, idle time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for addr, c := range l.clients {
		if now.Sub(c.seen) > idle {
			delete(l.clients, addr)
		}
	}
}

func (l *limiter) janitor(ctx context.Context) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			l.forget(now, 5*time.Minute)
		}
	}
}

// clientAddr is the address the rate limit counts by: the peer's IP (proxies' forwarding
// headers are not trusted).
func clientAddr(r *http.Request) string {
	addr, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return addr
}

// limited wraps a command handler with the per-client limit; a client over it gets a JSend 429
// with Retry-After.
func (g *Gateway) limited(next http.HandlerFunc) http.HandlerFunc {
	if g.limit == nil {
		return next
	}
	return func(w http.ResponseWriter, r *http.Request) {
		addr := clientAddr(r)
		if ok, wait := g.limit.allow(addr, g.now()); !ok {
			secs := int(math.Ceil(wait.Seconds()))
			w.Header().Set("Retry-After", strconv.Itoa(secs))
			g.writeError(w, r, messages.FailField(messages.CodeRateLimited, "rate",
				"too many fits and forecasts from %s (limit %g per second, bursts of %d); retry in %ds", addr, float64(g.limit.rate), g.limit.burst, secs))
			return
		}
		next(w, r)
	}
}
