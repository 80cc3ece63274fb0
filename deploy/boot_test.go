package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/forecastd/forecastd/internal/testenv"
)

// TestComposeBoot runs the compose deployment without Docker: a RabbitMQ node booted from the
// very rabbitmq.conf and definitions.json the compose file mounts (only the definitions' path
// rewritten), a Redis from its redis.conf, and the gateway, fit and forecast services as OS
// processes with the commands and environment compose resolves from .env (host names and
// ports mapped to this test's). They must take a fit and a forecast, and the compose
// healthchecks must pass, and fail for the forecastd services once Redis is gone.
func TestComposeBoot(t *testing.T) {
	t.Parallel()
	testenv.Required(t, "rabbitmq-server", "rabbitmqctl", "rabbitmq-diagnostics", "redis-server")
	p := loadCompose(t)

	rabbitSvc := service(t, p, "rabbitmq")
	conf, err := os.ReadFile(mountSource(t, rabbitSvc, "/etc/rabbitmq/rabbitmq.conf"))
	if err != nil {
		t.Fatal(err)
	}
	defsLine := regexp.MustCompile(`(?m)^definitions\.local\.path\s*=\s*(\S+)$`)
	m := defsLine.FindSubmatch(conf)
	if m == nil {
		t.Fatal("rabbitmq.conf sets no definitions.local.path")
	}
	defs, err := os.ReadFile(mountSource(t, rabbitSvc, string(m[1])))
	if err != nil {
		t.Fatal(err)
	}
	defsCopy := filepath.Join(t.TempDir(), "definitions.json")
	if err := os.WriteFile(defsCopy, defs, 0o644); err != nil {
		t.Fatal(err)
	}
	conf = defsLine.ReplaceAll(conf, []byte("definitions.local.path = "+defsCopy))
	rabbit := testenv.StartRabbit(t, string(conf))
	rabbitHealth(t, rabbitSvc, rabbit)

	redisSvc := service(t, p, "redis")
	redisSrv := testenv.StartRedis(t, mountSource(t, redisSvc, redisSvc.Command[1]))

	hosts := map[string]string{
		"rabbitmq:5672": fmt.Sprintf("127.0.0.1:%d", rabbit.Port),
		"redis:6379":    fmt.Sprintf("127.0.0.1:%d", redisSrv.Port),
	}
	bin := testenv.Forecastd(t)
	healthchecks := map[string][]string{}
	var gatewayURL string
	for _, name := range forecastdServices {
		s := service(t, p, name)
		port := testenv.FreePort(t)
		args := setFlag(t, s.Command, "--http-addr", fmt.Sprintf("127.0.0.1:%d", port))
		proc := testenv.Start(t, name, bin, composeEnv(t, s, hosts), args...)
		// The healthcheck as compose runs it, on this test's binary and port.
		check := slices.Clone(s.HealthCheck.Test[2:]) // after CMD /forecastd
		u, _ := url.Parse(flagValue(check, "--url"))
		u.Host = net.JoinHostPort(u.Hostname(), strconv.Itoa(port))
		healthchecks[name] = setFlag(t, check, "--url", u.String())
		proc.WaitReady(t, u.String(), 60*time.Second)
		if name == "gateway" {
			gatewayURL = fmt.Sprintf("http://127.0.0.1:%d", port)
		}
	}
	for name, args := range healthchecks {
		if code, out := runHealth(t, bin, args); code != 0 {
			t.Errorf("%s healthcheck: exit %d: %s", name, code, out)
		}
	}

	values := []float64{112, 118, 132, 129, 121, 135, 148, 148, 136, 119, 104, 118}
	var fit struct{ Generation int64 }
	post(t, gatewayURL+"/v1/models/compose-boot/fit", map[string]any{"values": values, "method": "naive"}, &fit)
	var fc struct {
		Generation int64
		Point      []float64
	}
	post(t, gatewayURL+"/v1/models/compose-boot/forecast", map[string]any{"horizon": 3}, &fc)
	if fit.Generation != 1 || fc.Generation != 1 || !slices.Equal(fc.Point, []float64{118, 118, 118}) {
		t.Errorf("fit generation %d, forecast generation %d point %v; want 1, 1 and the naive forecast [118 118 118]", fit.Generation, fc.Generation, fc.Point)
	}
	deadLetter(t, rabbit)

	redisSrv.Shutdown(t)
	for name, args := range healthchecks {
		var code int
		var out string
		err := testenv.Poll(15*time.Second, func() error {
			if code, out = runHealth(t, bin, args); code == 0 {
				return errors.New("still healthy")
			}
			return nil
		})
		if err != nil || code != 1 || !strings.Contains(out, "redis") {
			t.Errorf("%s healthcheck with Redis stopped: exit %d: %q; want exit 1 naming redis", name, code, out)
		}
	}
}

// deadLetter publishes a malformed fit command (as admin) and waits until a processor has moved
// it to the dead-letter queue, which takes the services' write permission on forecastd.dlx.
func deadLetter(t *testing.T, r *testenv.Rabbit) {
	t.Helper()
	conn, err := amqp.Dial(r.URL("admin", adminPassword))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.Publish("forecastd.commands", "fit", false, false, amqp.Publishing{Body: []byte("not json")}); err != nil {
		t.Fatal(err)
	}
	err = testenv.Poll(20*time.Second, func() error {
		q, err := ch.QueueDeclarePassive("forecastd.dead", true, false, false, false, nil)
		if err != nil {
			return err
		}
		if q.Messages != 1 {
			return fmt.Errorf("%d messages in forecastd.dead", q.Messages)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("a malformed command did not reach the dead-letter queue: %v", err)
	}
	// With the reason: the processor put it there, not the broker after the delivery limit.
	d, ok, err := ch.Get("forecastd.dead", true)
	if err != nil || !ok {
		t.Fatalf("get the dead letter: %v", err)
	}
	if reason, _ := d.Headers["reason_poisoned"].(string); !strings.Contains(reason, "malformed") {
		t.Errorf("dead letter %q has no reason (headers %v): the processor could not publish to forecastd.dlx", d.Body, d.Headers)
	}
}

// rabbitHealth runs the compose healthcheck of the rabbitmq service against the test's node: it
// fails, with the reason, when the node lacks the services' user.
func rabbitHealth(t *testing.T, s types.ServiceConfig, r *testenv.Rabbit) {
	t.Helper()
	test := s.HealthCheck.Test
	if len(test) != 2 || test[0] != "CMD-SHELL" {
		t.Fatalf("rabbitmq healthcheck %q: want CMD-SHELL and one command", test)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-c", test[1])
	// The CLI tools address the node by RABBITMQ_NODENAME; the scripts outside /usr/sbin run as
	// this user, with the cookie the test's node uses.
	cmd.Env = append(os.Environ(), "RABBITMQ_NODENAME="+r.Name, "PATH=/usr/lib/rabbitmq/bin:"+os.Getenv("PATH"))
	for k, v := range environ(s) {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the rabbitmq healthcheck fails on a node booted from the compose files (%v): %s\nusers: %s",
			err, bytes.TrimSpace(out), r.Ctl(t, "list_users"))
	}
}

// composeEnv is the environment compose gives s, with its broker and Redis addresses replaced
// by this test's.
func composeEnv(t *testing.T, s types.ServiceConfig, hosts map[string]string) []string {
	t.Helper()
	var env []string
	for k, v := range environ(s) {
		if k == "FORECASTD_AMQP_URL" || k == "FORECASTD_REDIS_URL" {
			u, err := url.Parse(v)
			if err != nil || hosts[u.Host] == "" {
				t.Fatalf("%s: %s=%q names no host of the deployment", s.Name, k, v)
			}
			u.Host = hosts[u.Host]
			v = u.String()
		}
		env = append(env, k+"="+v)
	}
	return env
}

// setFlag returns args with the value of flag name replaced.
func setFlag(t *testing.T, args []string, name, value string) []string {
	t.Helper()
	i := slices.Index(args, name)
	if i < 0 || i+1 >= len(args) {
		t.Fatalf("%q has no %s", args, name)
	}
	args = slices.Clone(args)
	args[i+1] = value
	return args
}

// runHealth runs 'forecastd health' and returns its exit code and output.
func runHealth(t *testing.T, bin string, args []string) (int, string) {
	t.Helper()
	out, err := exec.Command(bin, args...).CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, string(out)
	case errors.As(err, &exit):
		return exit.ExitCode(), strings.TrimSpace(string(out))
	}
	t.Fatalf("run forecastd health: %v", err)
	return 0, ""
}

// post sends body as JSON and decodes the data of a JSend success into data.
func post(t *testing.T, url string, body, data any) {
	t.Helper()
	raw, _ := json.Marshal(body)
	resp, err := http.Post(url, "application/json", bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var env struct {
		Status string
		Data   json.RawMessage
	}
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil || resp.StatusCode != http.StatusOK || env.Status != "success" {
		t.Fatalf("POST %s: %d %s %s (%v)", url, resp.StatusCode, env.Status, env.Data, err)
	}
	if err := json.Unmarshal(env.Data, data); err != nil {
		t.Fatal(err)
	}
}

// .ci/run imports the definitions into a broker that booted with its default guest user: the
// import adds the services' user and keeps guest.
func TestDefinitionsImportIntoARunningBroker(t *testing.T) {
	t.Parallel()
	r := testenv.StartRabbit(t, "loopback_users = none\n")
	path, err := filepath.Abs(filepath.Join("rabbitmq", "definitions.json"))
	if err != nil {
		t.Fatal(err)
	}
	r.Ctl(t, "import_definitions", path)
	env := dotEnv(t)
	for _, creds := range [][2]string{{"guest", "guest"}, {env["FORECASTD_RABBITMQ_USER"], env["FORECASTD_RABBITMQ_PASSWORD"]}} {
		conn, err := amqp.Dial(r.URL(creds[0], creds[1]))
		if err != nil {
			t.Errorf("%s after import_definitions: %v", creds[0], err)
			continue
		}
		conn.Close()
	}
	out := r.Ctl(t, "list_queues", "name")
	for _, q := range []string{"forecastd.fit", "forecastd.forecast", "forecastd.batch", "forecastd.dead", "forecastd.dead-lettered"} {
		if !strings.Contains(out, q+"\n") {
			t.Errorf("no queue %s after import_definitions: %q", q, out)
		}
	}
}
