package faults

import (
	"bufio"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/forecastd/forecastd/internal/testenv"
)

// requestTimeout is the gateway's --request-timeout in every case; clients give up a few
// seconds after it, so a request still unanswered then was left hanging by the service.
const (
	requestTimeout = 30 * time.Second
	clientTimeout  = requestTimeout + 5*time.Second
)

// cluster is one case's deployment: its own RabbitMQ node and Redis server, one gateway and
// three processors, each an OS process of its own.
type cluster struct {
	t      *testing.T
	rabbit *testenv.Rabbit
	redis  *testenv.Redis
	bin    string
	env    []string
	gw     *testenv.Proc
	base   string // the gateway's URL
	procs  []*testenv.Proc
	ops    []string // each processor's base URL (metrics, health), as procs
	gwArgs []string // the gateway's arguments
}

// newCluster boots the nodes with the topology and Redis settings of deploy/, then the
// gateway (with gatewayArgs added) and three processors, and waits until all are ready.
func newCluster(t *testing.T, gatewayArgs ...string) *cluster {
	t.Helper()
	testenv.Required(t, "rabbitmq-server", "rabbitmqctl", "redis-server")
	root := testenv.ModuleRoot()
	c := &cluster{t: t, bin: testenv.Forecastd(t)}
	start := time.Now()
	c.rabbit = testenv.StartRabbit(t, "") // RabbitMQ's defaults: the guest user exists
	c.rabbit.Ctl(t, "import_definitions", filepath.Join(root, "deploy", "rabbitmq", "definitions.json"))
	c.redis = testenv.StartRedis(t, filepath.Join(root, "deploy", "redis", "redis.conf"))
	c.env = []string{
		"FORECASTD_AMQP_URL=" + c.rabbit.URL("guest", "guest"),
		"FORECASTD_REDIS_URL=" + c.redis.URL(),
		"FORECASTD_LOG_FORMAT=json",
	}
	c.startProcesses(3, gatewayArgs...)
	t.Logf("cluster ready after %s", time.Since(start).Round(100*time.Millisecond))
	return c
}

// startProcesses starts the gateway (with gatewayArgs added) and n processors on c.env, waits
// until all are ready, and stops them when the test ends.
func (c *cluster) startProcesses(n int, gatewayArgs ...string) {
	t := c.t
	t.Helper()
	c.gwArgs = gatewayArgs
	c.startGateway()
	var ready []string
	for i := range n {
		port := testenv.FreePort(t)
		c.procs = append(c.procs, testenv.Start(t, fmt.Sprintf("processor-%d", i+1), c.bin, c.env,
			"processor", "--role", "all", "--http-addr", fmt.Sprintf("127.0.0.1:%d", port)))
		c.ops = append(c.ops, fmt.Sprintf("http://127.0.0.1:%d", port))
		ready = append(ready, fmt.Sprintf("http://127.0.0.1:%d/readyz", port))
	}
	testenv.WaitReady(t, c.base+"/readyz", 30*time.Second)
	for _, u := range ready {
		testenv.WaitReady(t, u, 30*time.Second)
	}
	t.Cleanup(func() {
		begin := time.Now()
		for _, p := range append([]*testenv.Proc{c.gw}, c.procs...) {
			p.Stop(t)
		}
		t.Logf("processes stopped in %s", time.Since(begin).Round(100*time.Millisecond))
	})
}

// startGateway starts a gateway on a port of its own, with c.gwArgs added, as c.gw; it is
// ready once c.base+"/readyz" answers 200.
func (c *cluster) startGateway() {
	t := c.t
	t.Helper()
	port := testenv.FreePort(t)
	c.base = fmt.Sprintf("http://127.0.0.1:%d", port)
	args := append([]string{"gateway", "--http-addr", fmt.Sprintf("127.0.0.1:%d", port),
		"--rate-limit", "0", "--request-timeout", requestTimeout.String()}, c.gwArgs...)
	c.gw = testenv.Start(t, "gateway", c.bin, c.env, args...)
}

// runnerOf is the live processor whose log says it started the fit of job id, or nil.
func (c *cluster) runnerOf(jobID string) *testenv.Proc {
	for _, p := range c.procs {
		if !p.Running() {
			continue
		}
		sc := bufio.NewScanner(strings.NewReader(p.Log()))
		sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
		for sc.Scan() {
			var line struct {
				Msg   string `json:"msg"`
				JobID string `json:"job_id"`
			}
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "fit started" && line.JobID == jobID {
				return p
			}
		}
	}
	return nil
}
