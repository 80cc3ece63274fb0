package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"
)

// errUnhealthy marks a health check that ran and found the service not ready; main exits 1 for
// it, the code Docker reads as unhealthy (2 is reserved there).
var errUnhealthy = errors.New("not ready")

// runHealth asks a running gateway or processor whether it is ready: its /readyz checks RabbitMQ
// and Redis. It is the container healthcheck, since the distroless image has no curl.
func runHealth(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("forecastd health", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", "http://127.0.0.1:8080/readyz", "readiness URL of the gateway or processor (a processor's --http-addr)")
	timeout := fs.Duration("timeout", 5*time.Second, "how long to wait for the answer")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: forecastd health [--url URL] [--timeout 5s]

Exits 0 when the service at URL answers 200 (RabbitMQ and Redis reachable), 1 with the reason
otherwise. For container healthchecks.

Flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("health: unexpected argument %q", fs.Arg(0))
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, *url, nil)
	if err != nil {
		return fmt.Errorf("health: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %w", errUnhealthy, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%w: %s answered %d: %s", errUnhealthy, *url, resp.StatusCode, readinessReason(body))
	}
	return nil
}

// readinessReason makes one line of a /readyz JSend error: the gateway names each failed check
// in data, a processor joins them in message.
func readinessReason(body []byte) string {
	var env struct {
		Message string `json:"message"`
		Data    any    `json:"data"`
	}
	if json.Unmarshal(body, &env) != nil {
		return oneLine(string(body))
	}
	var failed []string
	if checks, ok := env.Data.(map[string]any); ok {
		for name, v := range checks {
			if s, _ := v.(string); s != "ok" {
				failed = append(failed, fmt.Sprintf("%s: %v", name, v))
			}
		}
		sort.Strings(failed)
	}
	if len(failed) == 0 {
		return oneLine(env.Message)
	}
	return oneLine(strings.Join(failed, "; "))
}

func oneLine(s string) string {
	return strings.Join(strings.FieldsFunc(strings.TrimSpace(s), func(r rune) bool { return r == '\n' || r == '\r' }), "; ")
}
