package deploy

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/redis/go-redis/v9"

	"github.com/forecastd/forecastd/broker"
)

// loadClusterCompose loads deploy/compose.cluster.yml as docker compose does, with the
// committed .env and none of this process's environment.
func loadClusterCompose(t *testing.T) *types.Project {
	t.Helper()
	return loadComposeFile(t, filepath.Join("deploy", "compose.cluster.yml"), nil)
}

var (
	rabbitNodes = []string{"rabbitmq-1", "rabbitmq-2", "rabbitmq-3"}
	sentinels   = []string{"redis-sentinel-1", "redis-sentinel-2", "redis-sentinel-3"}
)

func TestClusterComposeServices(t *testing.T) {
	p := loadClusterCompose(t)
	want := append(append(slices.Clone(rabbitNodes), sentinels...), "fit", "forecast", "gateway", "rabbitmq-init", "redis-primary", "redis-replica")
	if got := slices.Sorted(slices.Values(p.ServiceNames())); !slices.Equal(got, slices.Sorted(slices.Values(want))) {
		t.Fatalf("services %v, want %v", got, want)
	}
	for _, s := range p.Services {
		if s.Name == "rabbitmq-init" {
			continue // a one-shot job
		}
		if s.HealthCheck == nil || s.HealthCheck.Disable || len(s.HealthCheck.Test) < 2 {
			t.Errorf("%s: no healthcheck", s.Name)
		}
		if s.Restart != "unless-stopped" {
			t.Errorf("%s: restart %q", s.Name, s.Restart)
		}
		for _, port := range s.Ports {
			if port.HostIP != "127.0.0.1" {
				t.Errorf("%s: port %d published on %q, want 127.0.0.1 by default", s.Name, port.Target, port.HostIP)
			}
		}
	}
}

// The nodes cluster.conf lists are the RabbitMQ services, by host name; rabbitmq-init is given
// all of them and the definitions, and the forecastd services start only once it succeeded.
func TestClusterComposeRabbitMQ(t *testing.T) {
	p := loadClusterCompose(t)
	dir, _ := filepath.Abs(".")
	conf, err := os.ReadFile(filepath.Join("rabbitmq", "cluster.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(conf), "definitions.") {
		t.Error("cluster.conf imports definitions at boot: its quorum queues would get one member")
	}
	var listed, names []string
	for _, m := range regexp.MustCompile(`(?m)^cluster_formation\.classic_config\.nodes\.\d+\s*=\s*(\S+)`).FindAllSubmatch(conf, -1) {
		listed = append(listed, string(m[1]))
	}
	for _, name := range rabbitNodes {
		s := service(t, p, name)
		if got := mountSource(t, s, "/etc/rabbitmq/rabbitmq.conf"); got != filepath.Join(dir, "rabbitmq", "cluster.conf") {
			t.Errorf("%s mounts rabbitmq.conf from %s", name, got)
		}
		names = append(names, "rabbit@"+s.Hostname)
	}
	if !slices.Equal(listed, names) {
		t.Errorf("cluster.conf lists %v, the services are %v", listed, names)
	}
	cookie := environ(service(t, p, rabbitNodes[0]))["RABBITMQ_ERLANG_COOKIE"]
	initSvc := service(t, p, "rabbitmq-init")
	for _, s := range append(slices.Clone(rabbitNodes), "rabbitmq-init") {
		if got := environ(service(t, p, s))["RABBITMQ_ERLANG_COOKIE"]; got == "" || got != cookie {
			t.Errorf("%s: Erlang cookie %q, want the nodes' %q", s, got, cookie)
		}
	}
	ep := initSvc.Entrypoint
	if len(ep) < 3 || mountSource(t, initSvc, ep[1]) != filepath.Join(dir, "rabbitmq", "cluster-init.sh") ||
		mountSource(t, initSvc, ep[2]) != filepath.Join(dir, "rabbitmq", "definitions.json") {
		t.Fatalf("rabbitmq-init entrypoint %q does not run cluster-init.sh on definitions.json", ep)
	}
	if !slices.Equal(ep[3:], names) {
		t.Errorf("rabbitmq-init is given nodes %v, want %v", ep[3:], names)
	}
	for _, n := range rabbitNodes {
		if d, ok := initSvc.DependsOn[n]; !ok || d.Condition != types.ServiceConditionHealthy {
			t.Errorf("rabbitmq-init depends_on %s: %+v", n, d)
		}
	}
	for _, name := range forecastdServices {
		if d, ok := service(t, p, name).DependsOn["rabbitmq-init"]; !ok || d.Condition != types.ServiceConditionCompletedSuccessfully {
			t.Errorf("%s depends_on rabbitmq-init: %+v, want completed successfully", name, d)
		}
	}
}

// Every forecastd service is given every RabbitMQ node, with credentials of the definitions,
// and every Sentinel, watching the primary sentinel.conf names.
func TestClusterComposeForecastdServices(t *testing.T) {
	p := loadClusterCompose(t)
	d := readDefinitions(t)
	sentinelConf, err := os.ReadFile(filepath.Join("redis", "sentinel.conf"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^sentinel monitor (\S+) (\S+) (\d+) (\d+)`).FindSubmatch(sentinelConf)
	if m == nil {
		t.Fatal("sentinel.conf monitors nothing")
	}
	masterName, masterHost := string(m[1]), string(m[2])
	if service(t, p, "redis-primary").Hostname != masterHost {
		t.Errorf("sentinel.conf monitors %s, not the redis-primary service", masterHost)
	}
	if cmd := strings.Join(service(t, p, "redis-replica").Command, " "); !strings.Contains(cmd, "--replicaof "+masterHost+" "+string(m[3])) {
		t.Errorf("redis-replica command %q does not replicate %s:%s", cmd, masterHost, m[3])
	}
	for _, s := range sentinels {
		if got := mountSource(t, service(t, p, s), "/etc/redis/sentinel.conf"); !strings.HasSuffix(got, filepath.Join("deploy", "redis", "sentinel.conf")) {
			t.Errorf("%s mounts sentinel.conf from %s", s, got)
		}
	}
	for _, name := range forecastdServices {
		t.Run(name, func(t *testing.T) {
			env := environ(service(t, p, name))
			nodes, err := broker.ParseNodes(env["FORECASTD_AMQP_URL"])
			if err != nil {
				t.Fatalf("FORECASTD_AMQP_URL: %v", err)
			}
			var hosts []string
			for _, raw := range nodes.URLs {
				u, _ := url.Parse(raw)
				hosts = append(hosts, u.Hostname())
				if raw == nodes.URLs[0] {
					password, _ := u.User.Password()
					ok := false
					for _, du := range d.Users {
						ok = ok || (du.Name == u.User.Username() && checkPassword(du.PasswordHash, password) == nil)
					}
					if !ok {
						t.Errorf("FORECASTD_AMQP_URL's credentials are not a user of definitions.json")
					}
				}
			}
			if !slices.Equal(hosts, rabbitNodes) {
				t.Errorf("AMQP nodes %v, want %v", hosts, rabbitNodes)
			}
			fo, err := redis.ParseFailoverURL(env["FORECASTD_REDIS_URL"])
			if err != nil {
				t.Fatalf("FORECASTD_REDIS_URL: %v", err)
			}
			var want []string
			for _, s := range sentinels {
				want = append(want, fmt.Sprintf("%s:26379", s))
			}
			if fo.MasterName != masterName || !slices.Equal(fo.SentinelAddrs, want) {
				t.Errorf("FORECASTD_REDIS_URL names %q at %v, want %q at %v", fo.MasterName, fo.SentinelAddrs, masterName, want)
			}
			for _, s := range sentinels {
				if d, ok := service(t, p, name).DependsOn[s]; !ok || d.Condition != types.ServiceConditionHealthy {
					t.Errorf("depends_on %s: %+v", s, d)
				}
			}
		})
	}
}
