package deploy

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// forecastdServices are the services that run the forecastd image.
var forecastdServices = []string{"gateway", "fit", "forecast"}

// loadCompose loads docker-compose.yml as docker compose does, with the committed .env and env
// (KEY=VALUE, like the shell's environment) but none of this process's environment.
func loadCompose(t *testing.T, env ...string) *types.Project {
	t.Helper()
	return loadComposeFile(t, "docker-compose.yml", env, cli.WithName("forecastd"))
}

// loadComposeFile loads the compose file at file (from the repository root) as docker compose
// does, in the file's directory, with the committed .env and env.
func loadComposeFile(t *testing.T, file string, env []string, extra ...cli.ProjectOptionsFn) *types.Project {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(root, file)
	opts, err := cli.NewProjectOptions([]string{path}, append([]cli.ProjectOptionsFn{
		cli.WithWorkingDirectory(filepath.Dir(path)), cli.WithEnv(env),
		cli.WithEnvFiles(filepath.Join(root, ".env")), cli.WithDotEnv}, extra...)...)
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return p
}

func service(t *testing.T, p *types.Project, name string) types.ServiceConfig {
	t.Helper()
	s, err := p.GetService(name)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// environ is a service's environment as KEY=VALUE.
func environ(s types.ServiceConfig) map[string]string {
	env := map[string]string{}
	for k, v := range s.Environment {
		if v != nil {
			env[k] = *v
		}
	}
	return env
}

// mountSource is the host path mounted at target in s.
func mountSource(t *testing.T, s types.ServiceConfig, target string) string {
	t.Helper()
	for _, v := range s.Volumes {
		if v.Target == target {
			return v.Source
		}
	}
	t.Fatalf("service %s mounts nothing at %s", s.Name, target)
	return ""
}

// flagValue is the value after name in args.
func flagValue(args []string, name string) string {
	if i := slices.Index(args, name); i >= 0 && i+1 < len(args) {
		return args[i+1]
	}
	return ""
}

func TestComposeServices(t *testing.T) {
	p := loadCompose(t)
	want := []string{"fit", "forecast", "gateway", "rabbitmq", "redis"}
	if got := p.ServiceNames(); !slices.Equal(slices.Sorted(slices.Values(got)), want) {
		t.Fatalf("services %v, want %v", got, want)
	}
	networks := map[string][]string{
		"rabbitmq": {"backend", "frontend"}, "redis": {"backend"},
		"gateway": {"backend", "frontend"}, "fit": {"backend"}, "forecast": {"backend"},
	}
	for _, s := range p.Services {
		t.Run(s.Name, func(t *testing.T) {
			if s.HealthCheck == nil || s.HealthCheck.Disable || len(s.HealthCheck.Test) < 2 {
				t.Errorf("no healthcheck: %+v", s.HealthCheck)
			}
			if s.Restart != "unless-stopped" && s.Restart != "always" {
				t.Errorf("restart %q: a crashed or rebooted service stays down", s.Restart)
			}
			var got []string
			for n := range s.Networks {
				got = append(got, n)
			}
			if slices.Sort(got); !slices.Equal(got, networks[s.Name]) {
				t.Errorf("networks %v, want %v", got, networks[s.Name])
			}
			for _, port := range s.Ports {
				if port.HostIP != "127.0.0.1" {
					t.Errorf("port %d published on %q, want 127.0.0.1 by default", port.Target, port.HostIP)
				}
			}
		})
	}
	if !p.Networks["backend"].Internal {
		t.Error("the backend network should be internal: Redis and the processors need no route out")
	}
	for name, n := range map[string]int{"fit": 3, "forecast": 2, "gateway": 1} {
		if s := service(t, p, name); s.GetScale() != n {
			t.Errorf("%s: %d replicas, want %d", name, s.GetScale(), n)
		}
	}
}

// Exposing the API exposes the gateway only; the management UI has a bind address of its own.
func TestComposeBindAddressCanBeChanged(t *testing.T) {
	for _, tc := range []struct{ env, exposed, local string }{
		{"FORECASTD_BIND=0.0.0.0", "gateway", "rabbitmq"},
		{"FORECASTD_MANAGEMENT_BIND=0.0.0.0", "rabbitmq", "gateway"},
	} {
		p := loadCompose(t, tc.env)
		if s := service(t, p, tc.exposed); len(s.Ports) == 0 || s.Ports[0].HostIP != "0.0.0.0" {
			t.Errorf("%s ports %+v with %s", tc.exposed, s.Ports, tc.env)
		}
		if s := service(t, p, tc.local); len(s.Ports) == 0 || s.Ports[0].HostIP != "127.0.0.1" {
			t.Errorf("%s ports %+v with %s, want 127.0.0.1", tc.local, s.Ports, tc.env)
		}
	}
}

func TestComposeForecastdServices(t *testing.T) {
	p := loadCompose(t)
	for _, name := range forecastdServices {
		t.Run(name, func(t *testing.T) {
			s := service(t, p, name)
			for _, dep := range []string{"rabbitmq", "redis"} {
				if d, ok := s.DependsOn[dep]; !ok || d.Condition != types.ServiceConditionHealthy {
					t.Errorf("depends_on %s: %+v, want condition service_healthy", dep, d)
				}
			}
			test := s.HealthCheck.Test
			if len(test) < 3 || test[0] != "CMD" || test[1] != "/forecastd" || test[2] != "health" {
				t.Fatalf("healthcheck %q, want [CMD /forecastd health …] (the image has no shell)", test)
			}
			// The healthcheck asks the port the service listens on.
			u, err := url.Parse(flagValue(test, "--url"))
			if err != nil || u.Path != "/readyz" {
				t.Fatalf("healthcheck --url %q", flagValue(test, "--url"))
			}
			if addr := flagValue(s.Command, "--http-addr"); addr == "" || !strings.HasSuffix(addr, ":"+u.Port()) {
				t.Errorf("healthcheck asks port %s, the service listens on %q", u.Port(), addr)
			}
			env := environ(s)
			if r, err := url.Parse(env["FORECASTD_REDIS_URL"]); err != nil || r.Hostname() != "redis" {
				t.Errorf("FORECASTD_REDIS_URL %q", env["FORECASTD_REDIS_URL"])
			}
		})
	}
}

// The services' AMQP credentials, as compose resolves them from .env, are a user of the
// definitions with that password, and RabbitMQ's healthcheck tries the same credentials.
func TestComposeCredentialsMatchTheDefinitions(t *testing.T) {
	p := loadCompose(t)
	d := readDefinitions(t)
	var amqpURL string
	for _, name := range forecastdServices {
		env := environ(service(t, p, name))
		if amqpURL == "" {
			amqpURL = env["FORECASTD_AMQP_URL"]
		}
		if env["FORECASTD_AMQP_URL"] != amqpURL {
			t.Errorf("%s: FORECASTD_AMQP_URL differs from the other services'", name)
		}
	}
	u, err := url.Parse(amqpURL)
	if err != nil || u.Hostname() != "rabbitmq" || u.User == nil {
		t.Fatalf("FORECASTD_AMQP_URL %q", amqpURL)
	}
	user := u.User.Username()
	password, _ := u.User.Password()
	found := false
	for _, du := range d.Users {
		if du.Name == user {
			found = true
			if err := checkPassword(du.PasswordHash, password); err != nil {
				t.Errorf("FORECASTD_AMQP_URL's password for %s: %v", user, err)
			}
		}
	}
	if !found {
		t.Errorf("FORECASTD_AMQP_URL's user %q is not in definitions.json", user)
	}

	rabbit := service(t, p, "rabbitmq")
	env := environ(rabbit)
	if env["FORECASTD_RABBITMQ_USER"] != user || env["FORECASTD_RABBITMQ_PASSWORD"] != password {
		t.Errorf("rabbitmq's healthcheck credentials %q/%q differ from the services'", env["FORECASTD_RABBITMQ_USER"], env["FORECASTD_RABBITMQ_PASSWORD"])
	}
	check := strings.Join(rabbit.HealthCheck.Test, " ")
	for _, want := range []string{"check_running", "check_port_connectivity", "authenticate_user"} {
		if !strings.Contains(check, want) {
			t.Errorf("rabbitmq healthcheck %q does not run %s", check, want)
		}
	}
}

// The files the containers read are the repository's, at the paths the configs name.
func TestComposeMountsTheDeployFiles(t *testing.T) {
	p := loadCompose(t)
	root, _ := filepath.Abs("..")
	rabbit := service(t, p, "rabbitmq")
	if got := mountSource(t, rabbit, "/etc/rabbitmq/rabbitmq.conf"); got != filepath.Join(root, "deploy/rabbitmq/rabbitmq.conf") {
		t.Errorf("rabbitmq.conf mounted from %s", got)
	}
	conf, err := os.ReadFile("rabbitmq/rabbitmq.conf")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^definitions\.local\.path\s*=\s*(\S+)`).FindSubmatch(conf)
	if m == nil {
		t.Fatal("rabbitmq.conf sets no definitions.local.path")
	}
	if got := mountSource(t, rabbit, string(m[1])); got != filepath.Join(root, "deploy/rabbitmq/definitions.json") {
		t.Errorf("%s mounted from %s", m[1], got)
	}
	redis := service(t, p, "redis")
	if len(redis.Command) < 2 {
		t.Fatalf("redis command %q names no config file", redis.Command)
	}
	if got := mountSource(t, redis, redis.Command[1]); got != filepath.Join(root, "deploy/redis/redis.conf") {
		t.Errorf("redis config %s mounted from %s", redis.Command[1], got)
	}
}
