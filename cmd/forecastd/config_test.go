package main

import (
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/forecastd/forecastd/gateway"
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
			return c.HTTPAddr == ":8080" && c.AMQPURL == "" && c.RedisURL == "" && c.RequestTimeout == time.Minute && c.BodyTimeout == 30*time.Second
		}},
		{name: "body timeout", cmd: "all", args: []string{"--body-timeout", "5s"}, env: map[string]string{"FORECASTD_BODY_TIMEOUT": "7s"},
			check: func(c config) bool { return c.BodyTimeout == 5*time.Second }},
		{name: "body timeout from the environment", cmd: "all", env: map[string]string{"FORECASTD_BODY_TIMEOUT": "7s"},
			check: func(c config) bool { return c.BodyTimeout == 7*time.Second }},
		{name: "zero body timeout", cmd: "all", args: []string{"--body-timeout", "0s"}, wantErr: "body-timeout"},
		{name: "environment", cmd: "all", env: map[string]string{"FORECASTD_HTTP_ADDR": ":9999", "FORECASTD_FIT_TIMEOUT": "3s"},
			check: func(c config) bool { return c.HTTPAddr == ":9999" && c.FitTimeout == 3*time.Second }},
		{name: "flag beats environment", cmd: "all", args: []string{"--http-addr", ":7777"}, env: map[string]string{"FORECASTD_HTTP_ADDR": ":9999"},
			check: func(c config) bool { return c.HTTPAddr == ":7777" }},
		{name: "gateway needs urls", cmd: "gateway", wantErr: "needs both"},
		{name: "half configured", cmd: "all", env: map[string]string{"FORECASTD_AMQP_URL": "amqp://x"}, wantErr: "set both"},
		{name: "bad duration", cmd: "all", env: map[string]string{"FORECASTD_HOLD_TIMEOUT": "soon"}, wantErr: "FORECASTD_HOLD_TIMEOUT"},
		{name: "bad role", cmd: "all", args: []string{"--role", "boss"}, wantErr: "role"},
		{name: "negative timeout", cmd: "all", args: []string{"--request-timeout", "-1s"}, wantErr: "request-timeout"},
		{name: "token file", cmd: "all", env: map[string]string{"FORECASTD_AUTH_TOKENS": "testdata/tokens"}, check: func(c config) bool {
			return len(c.tokens) == 2 && c.tokens[0].Scope == gateway.ScopeRead && c.tokens[1].Scope == gateway.ScopeWrite
		}},
		{name: "missing token file", cmd: "all", args: []string{"--auth-tokens", "testdata/nope"}, wantErr: "auth-tokens testdata/nope"},
		{name: "bad token file", cmd: "all", args: []string{"--auth-tokens", "config_test.go"}, wantErr: "line 1"},
		{name: "processors do not read the token file", cmd: "processor", args: []string{"--auth-tokens", "testdata/nope"},
			env: map[string]string{"FORECASTD_AMQP_URL": "amqp://x", "FORECASTD_REDIS_URL": "redis://x"}, check: func(c config) bool { return c.tokens == nil }},
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
	c, err := parseConfig("all", []string{"--auth-tokens", "testdata/tokens"}, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var buf strings.Builder
	slog.New(slog.NewTextHandler(&buf, nil)).Info("config", "config", c)
	if strings.Contains(buf.String(), c.tokens[0].Secret) || !strings.Contains(buf.String(), "tokens=2") {
		t.Fatalf("logged config shows a token or not their count: %s", buf.String())
	}
}
