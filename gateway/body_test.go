package gateway_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/forecastd/forecastd/forecast"
	"github.com/forecastd/forecastd/gateway"
)

// bodyTimeout is the short body limit these tests configure; slack bounds how much later than
// it an answer may come before a test calls the gateway stuck (a liveness bound, not a
// measurement).
const (
	bodyTimeout = 300 * time.Millisecond
	slack       = 5 * time.Second
)

func withBodyTimeout(d time.Duration) apiOption {
	return apiOption{cfg: func(c *gateway.Config) { c.BodyTimeout = d }}
}

// startPost opens a raw connection to the server at base and sends a POST's headers, declaring
// a body of declared bytes, followed by sent (a first part of that body).
func startPost(t *testing.T, base, path string, declared int, sent string) *net.TCPConn {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if err := c.SetDeadline(time.Now().Add(bodyTimeout + slack)); err != nil {
		t.Fatal(err)
	}
	head := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", path, declared)
	if _, err := io.WriteString(c, head+sent); err != nil {
		t.Fatal(err)
	}
	return c.(*net.TCPConn)
}

// readAnswer reads one HTTP response from c and its JSend body.
func readAnswer(t *testing.T, c net.Conn, br *bufio.Reader) (*http.Response, jsend) {
	t.Helper()
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	var env jsend
	if err := json.Unmarshal(raw, &env); err != nil {
		t.Fatalf("answer %d is not JSend: %v: %s", res.StatusCode, err, raw)
	}
	return res, env
}

// wantClosed checks that the gateway closed the connection after answering.
func wantClosed(t *testing.T, br *bufio.Reader) {
	t.Helper()
	if b, err := br.ReadByte(); !errors.Is(err, io.EOF) {
		t.Errorf("the connection stayed open after the answer: read %q, %v", b, err)
	}
}

func bodyMessage(env jsend) string {
	var m string
	_ = json.Unmarshal(env.Data["body"], &m)
	return m
}

func TestStalledBodyIsAnswered408(t *testing.T) {
	s := newAPIServer(t, withBodyTimeout(bodyTimeout))
	for _, path := range []string{"/v1/models/m/fit", "/v1/models/m/forecast", "/api/fit_model", "/api/forecast"} {
		t.Run(path, func(t *testing.T) {
			c := startPost(t, s.url, path, 1000, `{"values":`)
			br := bufio.NewReader(c)
			res, env := readAnswer(t, c, br)
			if want := "request body not received within 300ms"; res.StatusCode != http.StatusRequestTimeout || env.Status != "fail" || bodyMessage(env) != want {
				t.Errorf("answer %d %+v; want 408 fail with body %q", res.StatusCode, env, want)
			}
			wantClosed(t, br)
		})
	}
}

// A request answered without its body being read (here its model name is refused first) is
// answered all the same: net/http's drain of the unread body is bounded too.
func TestStalledBodyOfARefusedRequestIsAnswered(t *testing.T) {
	s := newAPIServer(t, withBodyTimeout(bodyTimeout))
	c := startPost(t, s.url, "/v1/models/-bad/fit", 1000, `{"values":`)
	br := bufio.NewReader(c)
	if res, env := readAnswer(t, c, br); res.StatusCode != http.StatusBadRequest || env.Data["model"] == nil {
		t.Errorf("answer %d %+v; want 400 naming the model", res.StatusCode, env)
	}
	wantClosed(t, br)
}

func TestBodyEndingEarlyIsAnswered400(t *testing.T) {
	s := newAPIServer(t, withBodyTimeout(time.Minute))
	c := startPost(t, s.url, "/v1/models/m/fit", 1000, `{"values":`)
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	res, env := readAnswer(t, c, br)
	if msg := bodyMessage(env); res.StatusCode != http.StatusBadRequest || env.Status != "fail" || !strings.Contains(msg, "before all of it arrived") {
		t.Errorf("answer %d %+v; want 400 fail saying the body ended early", res.StatusCode, env)
	}
}

func TestStalledBodiesLeaveNoGoroutinesOrFiles(t *testing.T) {
	s := newAPIServer(t, withBodyTimeout(bodyTimeout))
	// The baseline is taken once the server has settled: one request served (without keeping
	// its connection), and the goroutine count the same over several samples, since the
	// router's own goroutines may still be starting.
	warm := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	if res, err := warm.Get(s.url + "/healthz"); err == nil {
		res.Body.Close()
	}
	goroutines := settledGoroutines()
	files := openFiles(t)

	const clients = 8
	conns := make([]*net.TCPConn, clients)
	for i := range conns {
		conns[i] = startPost(t, s.url, "/v1/models/m/fit", 1000, `{"values":`)
	}
	for _, c := range conns {
		br := bufio.NewReader(c)
		if res, _ := readAnswer(t, c, br); res.StatusCode != http.StatusRequestTimeout {
			t.Fatalf("answer %d, want 408", res.StatusCode)
		}
		wantClosed(t, br)
		_ = c.Close()
	}

	deadline := time.Now().Add(slack)
	for {
		g, f := runtime.NumGoroutine(), openFiles(t)
		if g <= goroutines && f <= files {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("after %d stalled clients: %d goroutines (%d before), %d open files (%d before)\n%s",
				clients, g, goroutines, f, files, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// settledGoroutines waits until the number of goroutines is the same in five samples 20 ms
// apart (or two seconds pass) and returns it.
func settledGoroutines() int {
	n, same := runtime.NumGoroutine(), 0
	for deadline := time.Now().Add(2 * time.Second); same < 5 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
		if m := runtime.NumGoroutine(); m == n {
			same++
		} else {
			n, same = m, 0
		}
	}
	return n
}

// openFiles counts this process's open file descriptors.
func openFiles(t *testing.T) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot count open files: %v", err)
	}
	return len(fds)
}

func TestSlowSteadyBodyIsRead(t *testing.T) {
	s := newAPIServer(t, withBodyTimeout(2*time.Second))
	body, _ := json.Marshal(map[string]any{"values": testSeries(10, 40), "method": "naive"})
	const pieces = 8
	c := startPost(t, s.url, "/v1/models/steady/fit", len(body), "")
	writeSlowly(t, c, body, (len(body)+pieces-1)/pieces)
	res, env := readAnswer(t, c, bufio.NewReader(c))
	if res.StatusCode != http.StatusOK || env.Status != "success" {
		t.Errorf("answer %d %+v; want 200 success", res.StatusCode, env)
	}
}

// writeSlowly writes body to c piece bytes at a time, 50 ms apart.
func writeSlowly(t *testing.T, c net.Conn, body []byte, piece int) {
	t.Helper()
	for rest := body; len(rest) > 0; {
		n := min(piece, len(rest))
		if _, err := c.Write(rest[:n]); err != nil {
			t.Fatal(err)
		}
		rest = rest[n:]
		time.Sleep(50 * time.Millisecond)
	}
}

// lingeringFit takes several body timeouts to compute.
func lingeringFit(ctx context.Context, y []float64, spec forecast.Spec, progress forecast.ProgressFunc) (forecast.Model, error) {
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(4 * bodyTimeout):
	}
	return forecast.Fit(ctx, y, spec, progress)
}

// The body deadline ends with the body: a fit that computes for longer is still answered, in
// both modes that keep the request open.
func TestAnswerOutlastsTheBodyTimeout(t *testing.T) {
	s := newAPIServer(t, withBodyTimeout(bodyTimeout), apiOption{fit: lingeringFit})
	body, _ := json.Marshal(map[string]any{"values": testSeries(10, 40), "method": "naive"})
	for _, accept := range []string{"application/json", "text/event-stream"} {
		t.Run(accept, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, s.url+"/v1/models/lingering/fit", strings.NewReader(string(body)))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", accept)
			start := time.Now()
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			raw, err := io.ReadAll(res.Body)
			if err != nil {
				t.Fatalf("the answer was cut: %v", err)
			}
			if took := time.Since(start); took < 4*bodyTimeout {
				t.Fatalf("answered after %s, before the fit could have ended", took)
			}
			want := `"status":"success"`
			if accept == "text/event-stream" {
				want = "event: succeeded"
			}
			if res.StatusCode != http.StatusOK || !strings.Contains(string(raw), want) {
				t.Errorf("answer %d %s; want 200 with %s", res.StatusCode, raw, want)
			}
		})
	}
}

func TestEventStreamOutlastsTheBodyTimeout(t *testing.T) {
	s := newAPIServer(t, withBodyTimeout(bodyTimeout))
	c := openSSE(t, s.url, "/v1/events")
	time.Sleep(3 * bodyTimeout)
	ev := emit(t, s.store, "m", 1)
	if m, _ := c.nextEvent(t); m.ID != ev.ID {
		t.Errorf("event %+v, want id %s", m, ev.ID)
	}
}

// The streams read no body, so a request to them that carries one is refused rather than left
// with the body deadline on its connection.
func TestStreamsRefuseABody(t *testing.T) {
	s := newAPIServer(t, withBodyTimeout(bodyTimeout))
	for _, path := range []string{"/v1/events", "/v1/ws"} {
		code, env := s.send(t, http.MethodGet, path, "", []byte("{}"))
		if code != http.StatusBadRequest || env.Data["body"] == nil {
			t.Errorf("GET %s with a body: %d %+v; want 400 naming the body", path, code, env)
		}
	}
}
