package integration

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/forecastd/forecastd/forecast"
	"github.com/forecastd/forecastd/gateway"
	"github.com/forecastd/forecastd/internal/promtest"
	"github.com/forecastd/forecastd/internal/sse"
	"github.com/forecastd/forecastd/internal/stack"
	"github.com/forecastd/forecastd/internal/wsclient"
	"github.com/forecastd/forecastd/processor"
)

// liveGateway is a gateway over the cluster's broker and store, with its own config, reply
// queue and lifetime (several gateways may run side by side).
type liveGateway struct {
	gw   *gateway.Gateway
	http *httptest.Server
	reg  *prometheus.Registry
	stop func() // ends the gateway's lifetime, then its server
}

func (c *cluster) startGateway(mod func(*gateway.Config)) *liveGateway {
	c.t.Helper()
	g := c.stack.AddGateway(stack.GatewayOptions{Config: func(cfg *gateway.Config) {
		cfg.RequestTimeout = 20 * time.Second
		cfg.RecheckInterval = 200 * time.Millisecond
		if mod != nil {
			mod(cfg)
		}
	}})
	return &liveGateway{gw: g.Gateway, http: g.Server, reg: g.Registry, stop: g.Stop}
}

// metric reads a counter or gauge from the gateway's registry; labels are name=value pairs.
func (lg *liveGateway) metric(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	return promtest.Value(t, lg.reg, name, labels...)
}

// addProgressProcessor starts a processor whose fits report progress several times before
// fitting (the baselines fit at once), with the progress throttle nearly off.
func (c *cluster) addProgressProcessor() {
	c.t.Helper()
	fit := func(ctx context.Context, y []float64, spec forecast.Spec, progress forecast.ProgressFunc) (forecast.Model, error) {
		for i := 1; i <= 4; i++ {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(30 * time.Millisecond):
			}
			progress(forecast.Progress{Stage: "test", Percent: float64(20 * i)})
		}
		return c.gates.fit(ctx, y, spec, progress)
	}
	c.startProcessor(fit, func(cfg *processor.Config) { cfg.ProgressInterval = 5 * time.Millisecond })
}

// wsMsg is any server message of a WebSocket session.
type wsMsg = wsclient.Msg

// smallBuffers is an HTTP client whose sockets have a small receive buffer that never grows,
// so that a client that stops reading backs up into the gateway at once.
var smallBuffers = &http.Client{Transport: &http.Transport{DialContext: (&net.Dialer{
	Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		return errors.Join(err, serr)
	},
}).DialContext}}

func dialWS(t *testing.T, base string) *websocket.Conn { return dialWSWith(t, base, nil) }

func dialWSWith(t *testing.T, base string, client *http.Client) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"/v1/ws", &websocket.DialOptions{HTTPClient: client})
	if err != nil {
		t.Fatalf("dial websocket: %v", err)
	}
	conn.SetReadLimit(1 << 20)
	t.Cleanup(func() { _ = conn.CloseNow() })
	return conn
}

func sendWS(t *testing.T, conn *websocket.Conn, v any) { t.Helper(); wsclient.Write(t, conn, v) }

func recvWS(t *testing.T, conn *websocket.Conn) wsMsg {
	t.Helper()
	return wsclient.Read(t, conn, 20*time.Second)
}

// recvUntil reads until ok holds, returning that message and the ones before it.
func recvUntil(t *testing.T, conn *websocket.Conn, ok func(wsMsg) bool) (wsMsg, []wsMsg) {
	t.Helper()
	return wsclient.Until(t, conn, 20*time.Second, 10_000, ok)
}

// sseMsg is one parsed SSE block.
type sseMsg = sse.Message

// sseStream is an event stream of a test, closed when the test ends.
type sseStream struct{ *sse.Stream }

// openSSE sends a request and parses the SSE response in the background. Close it before the
// test ends: the harness's server waits for open streams.
func openSSE(t *testing.T, method, url, body string, header ...string) *sseStream {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	s, err := sse.Do(http.DefaultClient, req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return &sseStream{s}
}

// next returns the next event (comments and retry hints skipped); ok is false at the end.
func (s *sseStream) next(t *testing.T) (sseMsg, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	m, err := s.NextEvent(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		t.Fatal("no SSE event within 20s")
	}
	return m, err == nil
}

type eventData struct {
	Model      string `json:"model"`
	Generation int64  `json:"generation"`
	Type       string `json:"type"`
	JobID      string `json:"job_id"`
}

func decodeEvent(t *testing.T, data string) eventData {
	t.Helper()
	var d eventData
	if err := json.Unmarshal([]byte(data), &d); err != nil {
		t.Fatalf("event data %q: %v", data, err)
	}
	return d
}
