package faults

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// A processor killed with SIGKILL while it fits: its command goes back to the queue, another
// processor finishes the fit, and the forecasts held behind it are answered.
func TestProcessorKilledMidFit(t *testing.T) {
	c := newCluster(t)
	l := startLoad(t, c, 3)
	l.run(3 * time.Second)
	victim, _ := c.killMidFit(l, "m0")
	l.heldBehind(victim.model, 3)
	l.run(8 * time.Second)
	v := l.finish()
	v.check(t, "processor kill -9 mid-fit")
	if v.held200 != v.heldTotal { // with the broker up, the held forecasts get their answer
		t.Errorf("%d of %d forecasts held behind the killed fit got a 200", v.held200, v.heldTotal)
	}
}

// A processor killed with SIGKILL while forecasts come fast enough to travel in bundles: the
// bundles it held are delivered again to the others, which publish their forecasts again on
// their own, and every forecast is answered. The processor is frozen (SIGSTOP) for a second
// before, as a stalled process is, so that it holds what it took and never settled. Whether
// that includes a bundle, and not only single forecasts, is up to the timing: when the first
// victim's held nothing but singles, a second processor is frozen and killed the same way,
// leaving one.
func TestProcessorKilledHoldingForecastBundles(t *testing.T) {
	c := newCluster(t)
	l := startLoad(t, c, 3)
	l.flood(128)
	l.run(3 * time.Second)
	split := func() int { // bundles delivered again and split, as the processors logged them
		n := 0
		for _, p := range c.procs {
			n += strings.Count(p.Log(), "bundle delivered again")
		}
		return n
	}
	killed := 0
	for _, victim := range c.procs[:2] {
		if err := syscall.Kill(-victim.Pid(), syscall.SIGSTOP); err != nil {
			t.Fatalf("SIGSTOP: %v", err)
		}
		l.fault("processor frozen, then kill -9, under a forecast flood", time.Now())
		time.Sleep(time.Second)
		victim.Kill9(t)
		killed++
		l.run(5 * time.Second)
		if split() > 0 {
			break
		}
		t.Logf("processor %d held no bundle when killed", killed)
	}
	v := l.finish()
	v.check(t, "processor kill -9 holding forecast bundles")
	t.Logf("%d forecasts in all; %d processors killed; %d bundles they held were split by the others", v.forecastsSent, killed, split())
	// A processor stays up and the broker too: nothing the dead ones held may fail.
	if v.n5xx > 0 {
		t.Errorf("%d answers were 5xx (%d of them 503); with a processor alive every forecast must succeed", v.n5xx, v.n503)
	}
	if split() == 0 {
		t.Errorf("no bundle of a killed processor came back to the others: the case did not happen")
	}
}

// RabbitMQ's application stopped and started under load: every connection drops, the
// gateway's transient reply queue goes with it, the quorum queues keep their commands.
func TestBrokerRestart(t *testing.T) {
	c := newCluster(t)
	l := startLoad(t, c, 3)
	l.run(3 * time.Second)
	c.restartBroker(l)
	l.run(6 * time.Second)
	l.finish().check(t, "rabbitmq stop_app + start_app")
}

// Every Redis client connection dropped, the pub/sub ones included, twice.
func TestRedisConnectionsKilled(t *testing.T) {
	c := newCluster(t)
	l := startLoad(t, c, 3)
	rdb := c.redis.Client(t)
	defer rdb.Close()
	for i := range 2 {
		l.run(4 * time.Second)
		for _, typ := range []string{"normal", "pubsub"} {
			n, err := rdb.Do(t.Context(), "CLIENT", "KILL", "TYPE", typ).Int()
			if err != nil {
				t.Fatalf("CLIENT KILL TYPE %s: %v", typ, err)
			}
			t.Logf("CLIENT KILL TYPE %s: %d connections", typ, n)
		}
		l.fault(fmt.Sprintf("redis client kill #%d", i+1), time.Now())
	}
	l.run(6 * time.Second)
	l.finish().check(t, "redis CLIENT KILL (normal, pubsub) ×2")
}

// Redis stopped under load, cleanly and then with SIGKILL, and restarted each time with what
// its append-only file (deploy/redis/redis.conf) kept. A generation handed out twice, or an
// accepted fit whose job is gone, shows an acknowledged write the file did not keep.
func TestRedisRestart(t *testing.T) {
	c := newCluster(t)
	l := startLoad(t, c, 3)
	l.run(3 * time.Second)
	c.redis.Shutdown(t)
	l.fault("redis SHUTDOWN", time.Now())
	c.redis.Restart(t)
	t.Logf("redis back %s after SHUTDOWN", round(time.Since(l.lastFault())))
	l.run(5 * time.Second)
	c.redis.Kill9(t)
	l.fault("redis kill -9", time.Now())
	c.redis.Restart(t)
	t.Logf("redis back %s after kill -9", round(time.Since(l.lastFault())))
	l.run(6 * time.Second)
	l.finish().check(t, "redis SHUTDOWN + restart, kill -9 + restart")
}

// The reported regression: three processors, async fits on three models, one processor killed
// while it fits and, a few seconds later, the broker's application stopped and started.
// Forecasts sent behind the killed fit must be answered.
func TestProcessorKilledThenBrokerRestart(t *testing.T) {
	c := newCluster(t)
	l := startLoad(t, c, 3)
	l.run(3 * time.Second)
	victim, _ := c.killMidFit(l, "m1")
	l.heldBehind(victim.model, 3)
	time.Sleep(3 * time.Second)
	c.restartBroker(l)
	l.run(6 * time.Second)
	l.finish().check(t, "processor kill -9 mid-fit, then rabbitmq stop_app + start_app")
}

// Malformed fit commands published straight to the commands exchange end in the dead-letter
// queue, and the service goes on.
func TestPoisonMessage(t *testing.T) {
	c := newCluster(t)
	l := startLoad(t, c, 3)
	l.run(3 * time.Second)
	poison := []string{
		`this is not JSON`,
		`{"job_id":"","model":"m0","generation":0}`,
		`{"job_id":"no-such-job","model":"m0","generation":999999,"method":"naive","values":[1,2,3]}`,
	}
	conn, err := amqp.Dial(c.rabbit.URL("guest", "guest"))
	if err != nil {
		t.Fatalf("dial own broker: %v", err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatalf("channel: %v", err)
	}
	for _, body := range poison {
		if err := ch.PublishWithContext(t.Context(), "forecastd.commands", "fit", false, false, amqp.Publishing{
			ContentType: "application/json", DeliveryMode: amqp.Persistent, Body: []byte(body),
		}); err != nil {
			t.Fatalf("publish poison: %v", err)
		}
	}
	l.fault("poison fit commands", time.Now())
	dead := map[string]bool{}
	deadline := time.Now().Add(15 * time.Second)
	for len(dead) < len(poison) && time.Now().Before(deadline) {
		d, ok, err := ch.Get("forecastd.dead", true)
		if err != nil {
			t.Fatalf("read forecastd.dead: %v", err)
		}
		if !ok {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		dead[string(d.Body)] = true
	}
	l.run(5 * time.Second)
	v := l.finish()
	for _, p := range poison {
		if !dead[p] {
			v.extra = append(v.extra, "not dead-lettered: "+p)
			t.Errorf("poison command %q did not reach forecastd.dead within 15 s", p)
		}
	}
	v.check(t, "poison fit commands → forecastd.dead")
}

// Clients that send their headers and part of a body, then stall, get a 408 when the body
// timeout runs out; everyone else is served meanwhile.
func TestSlowBody(t *testing.T) {
	const bodyTimeout = 2 * time.Second
	c := newCluster(t, "--body-timeout", bodyTimeout.String())
	l := startLoad(t, c, 3)
	l.run(3 * time.Second)
	start := time.Now()
	l.fault("3 stalled bodies", start)
	type answer struct {
		code  int
		jsend string
		after time.Duration
		err   error
	}
	answers := make(chan answer, 3)
	for range 3 {
		go func() {
			code, jsend, err := stallBody(c.base, bodyTimeout+10*time.Second)
			answers <- answer{code, jsend, time.Since(start), err}
		}()
	}
	var last time.Duration
	for range 3 {
		a := <-answers
		last = max(last, a.after)
		if a.err != nil || a.code != http.StatusRequestTimeout || a.jsend != "fail" {
			t.Errorf("stalled body: got %d %q (%v) after %s, want a 408 JSend fail", a.code, a.jsend, a.err, round(a.after))
		}
	}
	stalled := time.Now()
	l.run(5 * time.Second)
	v := l.finish()
	served := 0
	for _, fc := range l.snapshot() {
		if fc.kind == "forecast" && fc.code == http.StatusOK && fc.done.After(start) && fc.done.Before(stalled) {
			served++
		}
	}
	v.extra = append(v.extra, fmt.Sprintf("stalled bodies answered after %s (body timeout %s); %d forecasts served meanwhile", round(last), bodyTimeout, served))
	if served == 0 {
		t.Error("no forecast was served while the bodies stalled")
	}
	v.check(t, "3 stalled request bodies (--body-timeout 2s)")
}

// stallBody sends a fit's headers and the start of its body, then nothing, and returns the
// status and JSend status the gateway answers with.
func stallBody(base string, wait time.Duration) (int, string, error) {
	host := strings.TrimPrefix(base, "http://")
	conn, err := net.Dial("tcp", host)
	if err != nil {
		return 0, "", err
	}
	defer conn.Close()
	body := `{"method":"naive","values":[1,2,3,`
	if _, err := fmt.Fprintf(conn, "POST /v1/models/m0/fit HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
		host, len(body)+1000, body); err != nil {
		return 0, "", err
	}
	_ = conn.SetReadDeadline(time.Now().Add(wait))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	var env envelope
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		return resp.StatusCode, "", fmt.Errorf("body is not JSend: %w", err)
	}
	return resp.StatusCode, env.Status, nil
}

// restartBroker stops RabbitMQ's application and starts it again. The fault counts from the
// moment the application has stopped.
func (c *cluster) restartBroker(l *load) {
	c.t.Helper()
	begin := time.Now()
	c.rabbit.StopApp(c.t)
	stopped := time.Now()
	l.fault("rabbitmq stop_app", stopped)
	c.rabbit.StartApp(c.t)
	c.t.Logf("rabbitmq stop_app took %s, start_app %s", round(stopped.Sub(begin)), round(time.Since(stopped)))
}

// killMidFit sends a long fit on model, waits until a processor has started it and kills that
// processor with SIGKILL. It returns the fit and the moment of the kill.
func (c *cluster) killMidFit(l *load, model string) (*call, time.Time) {
	c.t.Helper()
	for range 3 {
		victim := l.fitAsync(model, fitVictim)
		if !victim.accepted() {
			continue
		}
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			env, code, err := l.job(victim.jobID)
			if err == nil && code == http.StatusOK && terminal(env.Data.Status) {
				break // it ended before it could be killed: try another
			}
			if err == nil && env.Data.Status == "running" {
				if p := c.runnerOf(victim.jobID); p != nil {
					p.Kill9(c.t)
					at := time.Now()
					l.fault("kill -9 "+p.Name, at)
					c.t.Logf("killed %s (pid %d) fitting %s generation %d (job %s)", p.Name, p.Pid(), model, victim.gen, victim.jobID)
					return victim, at
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	c.t.Fatal("no long fit could be caught running to kill its processor")
	return nil, time.Time{}
}

// heldBehind sends n forecasts on model at once; they wait for the fits accepted before them.
func (l *load) heldBehind(model string, n int) {
	for i := range n {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			l.forecast(model, true, i)
		}()
	}
}
