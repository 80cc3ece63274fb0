package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/forecastd/forecastd/gateway"
	"github.com/forecastd/forecastd/gateway/auth"
	"github.com/forecastd/forecastd/processor"
)

func TestParseConfig(t *testing.T) {
	env := func(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }
	tests := []struct {
		name, cmd string
		args      []string
		env       map[string]string
		check     func(config) bool
		wantErr   string
	}{
		{name: "embedded defaults", cmd: "all", check: func(c config) bool {
			return c.Gateway.Addr == ":8080" && c.AMQPURL == "" && c.RedisURL == "" && c.Gateway.RequestTimeout == time.Minute && c.Gateway.BodyTimeout == 30*time.Second
		}},
		{name: "body timeout", cmd: "all", args: []string{"--body-timeout", "5s"}, env: map[string]string{"FORECASTD_BODY_TIMEOUT": "7s"},
			check: func(c config) bool { return c.Gateway.BodyTimeout == 5*time.Second }},
		{name: "body timeout from the environment", cmd: "all", env: map[string]string{"FORECASTD_BODY_TIMEOUT": "7s"},
			check: func(c config) bool { return c.Gateway.BodyTimeout == 7*time.Second }},
		{name: "batch upload limits", cmd: "all", args: []string{"--batch-upload-max-bytes", "1000"}, env: map[string]string{"FORECASTD_BATCH_UPLOAD_MIN_RATE": "10"},
			check: func(c config) bool {
				return c.Gateway.BatchUploadMaxBytes == 1000 && c.Gateway.BatchUploadMinRate == 10
			}},
		{name: "batch upload limit defaults", cmd: "all",
			check: func(c config) bool {
				return c.Gateway.BatchUploadMaxBytes == 256<<20 && c.Gateway.BatchUploadMinRate == 256<<10
			}},
		{name: "zero batch upload rate", cmd: "all", args: []string{"--batch-upload-min-rate", "0"}, wantErr: "batch-upload-min-rate"},
		{name: "bundles by default", cmd: "processor", env: map[string]string{"FORECASTD_AMQP_URL": "amqp://x", "FORECASTD_REDIS_URL": "redis://x"},
			check: func(c config) bool { return c.AMQPBundleMax == 64 }},
		{name: "bundles off for a rolling upgrade", cmd: "gateway", env: map[string]string{"FORECASTD_AMQP_URL": "amqp://x", "FORECASTD_REDIS_URL": "redis://x", "FORECASTD_AMQP_BUNDLE_MAX": "1"},
			check: func(c config) bool { return c.AMQPBundleMax == 1 }},
		{name: "zero bundle", cmd: "all", args: []string{"--amqp-bundle-max", "0"}, wantErr: "amqp-bundle-max must be 1 to 1024"},
		{name: "zero body timeout", cmd: "all", args: []string{"--body-timeout", "0s"}, wantErr: "body-timeout"},
		{name: "environment", cmd: "all", env: map[string]string{"FORECASTD_HTTP_ADDR": ":9999", "FORECASTD_FIT_TIMEOUT": "3s"},
			check: func(c config) bool { return c.Gateway.Addr == ":9999" && c.Processor.FitTimeout == 3*time.Second }},
		{name: "flag beats environment", cmd: "all", args: []string{"--http-addr", ":7777"}, env: map[string]string{"FORECASTD_HTTP_ADDR": ":9999"},
			check: func(c config) bool { return c.Gateway.Addr == ":7777" }},
		{name: "gateway needs urls", cmd: "gateway", wantErr: "needs both"},
		{name: "half configured", cmd: "all", env: map[string]string{"FORECASTD_AMQP_URL": "amqp://x"}, wantErr: "set both"},
		{name: "bad duration", cmd: "all", env: map[string]string{"FORECASTD_HOLD_TIMEOUT": "soon"}, wantErr: "FORECASTD_HOLD_TIMEOUT"},
		{name: "bad role", cmd: "all", args: []string{"--role", "boss"}, wantErr: "role"},
		{name: "negative timeout", cmd: "all", args: []string{"--request-timeout", "-1s"}, wantErr: "request-timeout"},
		{name: "token file", cmd: "all", env: map[string]string{"FORECASTD_AUTH_TOKENS": "testdata/tokens"}, check: func(c config) bool {
			return len(c.Gateway.Tokens) == 2 && c.Gateway.Tokens[0].Scope == auth.ScopeRead && c.Gateway.Tokens[1].Scope == auth.ScopeWrite
		}},
		{name: "missing token file", cmd: "all", args: []string{"--auth-tokens", "testdata/nope"}, wantErr: "auth-tokens testdata/nope"},
		{name: "bad token file", cmd: "all", args: []string{"--auth-tokens", "config_test.go"}, wantErr: "line 1"},
		// An environment shared by every container may name the token file; processors ignore it.
		{name: "processors do not read the token file", cmd: "processor",
			env:   map[string]string{"FORECASTD_AMQP_URL": "amqp://x", "FORECASTD_REDIS_URL": "redis://x", "FORECASTD_AUTH_TOKENS": "testdata/nope"},
			check: func(c config) bool { return c.Gateway.Tokens == nil }},
		{name: "processors have no gateway flags", cmd: "processor", args: []string{"--auth-tokens", "testdata/tokens"},
			env: map[string]string{"FORECASTD_AMQP_URL": "amqp://x", "FORECASTD_REDIS_URL": "redis://x"}, wantErr: "-auth-tokens"},
		{name: "gateways have no processor flags", cmd: "gateway", args: []string{"--role", "fit"},
			env: map[string]string{"FORECASTD_AMQP_URL": "amqp://x", "FORECASTD_REDIS_URL": "redis://x"}, wantErr: "-role"},
		{name: "processor ops address", cmd: "processor", env: map[string]string{"FORECASTD_AMQP_URL": "amqp://x", "FORECASTD_REDIS_URL": "redis://x"},
			check: func(c config) bool { return c.OpsAddr == ":9090" && c.OpsAddr != gateway.DefaultConfig().Addr }},
		{name: "processor ops address from the environment", cmd: "processor",
			env:   map[string]string{"FORECASTD_AMQP_URL": "amqp://x", "FORECASTD_REDIS_URL": "redis://x", "FORECASTD_HTTP_ADDR": ":9191"},
			check: func(c config) bool { return c.OpsAddr == ":9191" }},
		{name: "one job ttl for gateway and processors", cmd: "all", args: []string{"--job-ttl", "1h"}, env: map[string]string{"FORECASTD_JOB_TTL": "2h"},
			check: func(c config) bool { return c.Gateway.JobTTL == time.Hour && c.Processor.JobTTL == time.Hour }},
		{name: "shutdown timeout reaches the gateway", cmd: "all", env: map[string]string{"FORECASTD_SHUTDOWN_TIMEOUT": "3s"},
			check: func(c config) bool {
				return c.ShutdownTimeout == 3*time.Second && c.Gateway.ShutdownTimeout == 3*time.Second
			}},
		{name: "allowed origins", cmd: "all", env: map[string]string{"FORECASTD_ALLOWED_ORIGINS": "a.example,*.b.example"},
			check: func(c config) bool {
				return slices.Equal(c.Gateway.AllowedOrigins, []string{"a.example", "*.b.example"})
			}},
		{name: "pprof off by default", cmd: "all", check: func(c config) bool { return !c.Pprof }},
		{name: "pprof from the environment", cmd: "processor",
			env:   map[string]string{"FORECASTD_AMQP_URL": "amqp://x", "FORECASTD_REDIS_URL": "redis://x", "FORECASTD_PPROF": "true"},
			check: func(c config) bool { return c.Pprof }},
		{name: "pprof flag", cmd: "gateway", args: []string{"--pprof"},
			env:   map[string]string{"FORECASTD_AMQP_URL": "amqp://x", "FORECASTD_REDIS_URL": "redis://x"},
			check: func(c config) bool { return c.Pprof }},
		{name: "bad pprof", cmd: "all", env: map[string]string{"FORECASTD_PPROF": "maybe"}, wantErr: "FORECASTD_PPROF"},
		{name: "a cluster's nodes", cmd: "processor",
			env:   map[string]string{"FORECASTD_AMQP_URL": "amqp://u:p@r1:5672/,amqp://u:p@r2:5672/,amqp://u:p@r3:5672/", "FORECASTD_REDIS_URL": "redis://x"},
			check: func(c config) bool { return strings.Count(c.AMQPURL, "amqp://") == 3 }},
		{name: "nodes with other credentials", cmd: "processor",
			env:     map[string]string{"FORECASTD_AMQP_URL": "amqp://u:p@r1/,amqp://v:p@r2/", "FORECASTD_REDIS_URL": "redis://x"},
			wantErr: "FORECASTD_AMQP_URL: amqp url amqp://v:xxxxx@r2/: every node's URL must have the same"},
		{name: "sentinel", cmd: "gateway",
			env: map[string]string{"FORECASTD_AMQP_URL": "amqp://x", "FORECASTD_REDIS_URL": "redis://s1:26379/0?master_name=fd&addr=s2:26379&addr=s3:26379"},
			check: func(c config) bool {
				tg, err := parseRedisURL(c.RedisURL)
				return err == nil && tg.failover != nil && tg.failover.MasterName == "fd" && len(tg.failover.SentinelAddrs) == 3
			}},
		{name: "plain redis url", cmd: "gateway", env: map[string]string{"FORECASTD_AMQP_URL": "amqp://x", "FORECASTD_REDIS_URL": "redis://h:6380/2"},
			check: func(c config) bool {
				tg, err := parseRedisURL(c.RedisURL)
				return err == nil && tg.failover == nil && tg.single.Addr == "h:6380" && tg.single.DB == 2
			}},
		{name: "sentinel url with an unknown option", cmd: "gateway",
			env:     map[string]string{"FORECASTD_AMQP_URL": "amqp://x", "FORECASTD_REDIS_URL": "redis://s1:26379/0?master_name=fd&colour=blue"},
			wantErr: "FORECASTD_REDIS_URL: redis: unexpected option: colour"},
		{name: "redis url asking for retries", cmd: "gateway",
			env:     map[string]string{"FORECASTD_AMQP_URL": "amqp://x", "FORECASTD_REDIS_URL": "redis://h:6380/2?max_retries=3"},
			wantErr: "FORECASTD_REDIS_URL: max_retries: forecastd sends each Redis command once"},
		{name: "batch uploads at once", cmd: "all", args: []string{"--batch-uploads", "4"}, check: func(c config) bool { return c.Gateway.BatchUploads == 4 }},
		{name: "no batch uploads at all", cmd: "all", args: []string{"--batch-uploads", "0"}, wantErr: "batch-uploads must be at least 1"},
		{name: "replica wait defaults", cmd: "all", check: func(c config) bool {
			return c.RedisWaitTimeout == 500*time.Millisecond && c.RedisReplicaDown == "proceed"
		}},
		{name: "refuse unreplicated writes", cmd: "all", env: map[string]string{"FORECASTD_REDIS_REPLICA_DOWN": "refuse", "FORECASTD_REDIS_WAIT_TIMEOUT": "1s"},
			check: func(c config) bool { return c.RedisWaitTimeout == time.Second && c.RedisReplicaDown == "refuse" }},
		{name: "bad replica-down", cmd: "all", args: []string{"--redis-replica-down", "maybe"}, wantErr: "redis-replica-down must be proceed or refuse"},
		{name: "wait longer than a redis read", cmd: "all", args: []string{"--redis-wait-timeout", "5s"}, wantErr: "redis-wait-timeout must be 0 to 2s"},
		{name: "defaults are the packages'", cmd: "all", check: func(c config) bool {
			return reflect.DeepEqual(c.Gateway, gateway.DefaultConfig()) && reflect.DeepEqual(c.Processor, processor.DefaultConfig())
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseConfig(tc.cmd, tc.args, env(tc.env), io.Discard)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one mentioning %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || !tc.check(c) {
				t.Fatalf("config = %+v, err = %v", c, err)
			}
		})
	}
}

func TestSecretsAreMasked(t *testing.T) {
	got := maskURL("amqp://user:s3cret@host:5672/")
	if strings.Contains(got, "s3cret") || !strings.Contains(got, "user") {
		t.Fatalf("maskURL = %q", got)
	}
	for _, raw := range []string{
		"amqp://user:s3cret@r1:5672/,amqp://user:s3cret@r2:5672/, amqp://user:s3cret@r3:5672/",
		"redis://sentineluser:s3cret@s1:26379/0?master_name=fd&addr=s2:26379&password=s3cret",
	} {
		got := maskURL(raw)
		if strings.Contains(got, "s3cret") || strings.Count(got, "xxxxx") != strings.Count(raw, "s3cret") {
			t.Errorf("maskURL(%q) = %q", raw, got)
		}
	}
	nodes, err := parseConfig("processor", nil, func(k string) string {
		return map[string]string{"FORECASTD_AMQP_URL": "amqp://u:s3cret@r1/,amqp://u:s3cret@r2/", "FORECASTD_REDIS_URL": "redis://:s3cret@h:6379/0"}[k]
	}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var logged strings.Builder
	slog.New(slog.NewTextHandler(&logged, nil)).Info("config", "config", nodes)
	if strings.Contains(logged.String(), "s3cret") || !strings.Contains(logged.String(), "r2") {
		t.Errorf("logged config: %s", logged.String())
	}
	c, err := parseConfig("all", []string{"--auth-tokens", "testdata/tokens"}, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var buf strings.Builder
	slog.New(slog.NewTextHandler(&buf, nil)).Info("config", "config", c)
	if strings.Contains(buf.String(), c.Gateway.Tokens[0].Secret) || !strings.Contains(buf.String(), "tokens=2") {
		t.Fatalf("logged config shows a token or not their count: %s", buf.String())
	}
}

// Each command's --help lists the flags of the parts it runs and the shared ones, no others.
func TestHelpListsTheCommandsFlags(t *testing.T) {
	shared := []string{"-http-addr", "-amqp-url", "-redis-url", "-redis-wait-timeout", "-redis-replica-down", "-log-level", "-log-format", "-job-ttl", "-shutdown-timeout"}
	gatewayOnly := []string{"-gateway-id", "-request-timeout", "-body-timeout", "-batch-upload-max-bytes", "-batch-upload-min-rate", "-hold-timeout", "-fit-queue-lease", "-batch-send-lease",
		"-allowed-origins", "-auth-tokens", "-heartbeat", "-send-queue", "-rate-limit", "-rate-burst"}
	processorOnly := []string{"-role", "-concurrency", "-fit-timeout", "-fit-lease"}
	tests := []struct {
		cmd        string
		want, omit []string
	}{
		{cmd: "processor", want: append(slices.Clone(shared), processorOnly...), omit: gatewayOnly},
		{cmd: "gateway", want: append(slices.Clone(shared), gatewayOnly...), omit: processorOnly},
		{cmd: "all", want: append(append(slices.Clone(shared), gatewayOnly...), processorOnly...)},
	}
	for _, tc := range tests {
		t.Run(tc.cmd, func(t *testing.T) {
			var out strings.Builder
			if err := dispatch([]string{tc.cmd, "--help"}, func(string) string { return "" }, io.Discard, &out); !errors.Is(err, flag.ErrHelp) {
				t.Fatalf("--help: %v", err)
			}
			defined := map[string]bool{}
			for _, line := range strings.Split(out.String(), "\n") {
				if f, ok := strings.CutPrefix(line, "  -"); ok {
					defined["-"+strings.Fields(f)[0]] = true
				}
			}
			for _, f := range tc.want {
				if !defined[f] {
					t.Errorf("forecastd %s --help omits %s:\n%s", tc.cmd, f, out.String())
				}
			}
			for _, f := range tc.omit {
				if defined[f] {
					t.Errorf("forecastd %s --help lists %s", tc.cmd, f)
				}
			}
		})
	}
	// The help tells each command's own default address.
	for cmd, addr := range map[string]string{"processor": defaultOpsAddr, "gateway": gateway.DefaultConfig().Addr} {
		var out strings.Builder
		_ = dispatch([]string{cmd, "--help"}, func(string) string { return "" }, io.Discard, &out)
		if !strings.Contains(out.String(), fmt.Sprintf("(default %q)", addr)) {
			t.Errorf("forecastd %s --help does not show the default address %s:\n%s", cmd, addr, out.String())
		}
	}
	if defaultOpsAddr == gateway.DefaultConfig().Addr {
		t.Errorf("a processor's default address %s is the gateway's", defaultOpsAddr)
	}
}
