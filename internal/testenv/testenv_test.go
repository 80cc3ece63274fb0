package testenv

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"
)

// A node of the test's own boots from the given config, takes AMQP connections, survives
// stop_app/start_app, and is gone after the test.
func TestRabbitNodeOfItsOwn(t *testing.T) {
	r := StartRabbit(t, "loopback_users = none\n")
	conn, err := amqp.Dial(r.URL("guest", "guest"))
	if err != nil {
		t.Fatalf("dial own node: %v", err)
	}
	conn.Close()
	r.StopApp(t)
	if _, err := amqp.Dial(r.URL("guest", "guest")); err == nil {
		t.Fatal("dial succeeded while the app was stopped")
	}
	r.StartApp(t)
	conn, err = amqp.Dial(r.URL("guest", "guest"))
	if err != nil {
		t.Fatalf("dial after start_app: %v", err)
	}
	conn.Close()
	if out := r.Ctl(t, "list_users"); !strings.Contains(out, "guest") {
		t.Fatalf("list_users: %q", out)
	}
}

// A Redis of the test's own keeps what its append-only file holds across kill -9 when every
// write is fsynced.
func TestRedisRestartKeepsAOF(t *testing.T) {
	r := StartRedis(t, "", "--appendonly", "yes", "--appendfsync", "always", "--save", "")
	c := r.Client(t)
	defer c.Close()
	ctx := context.Background()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	r.Kill9(t)
	r.Restart(t)
	if v, err := c.Get(ctx, "k").Result(); err != nil || v != "v" {
		t.Fatalf("after kill -9 and restart: %q, %v", v, err)
	}
	r.Shutdown(t)
	r.Restart(t)
	if v, err := c.Get(ctx, "k").Result(); err != nil || v != "v" {
		t.Fatalf("after shutdown and restart: %q, %v", v, err)
	}
}

func TestForecastdProcess(t *testing.T) {
	bin := Forecastd(t)
	p := Start(t, "help", bin, nil, "--help")
	p.WaitLog(t, "forecastd all", 30e9)
}

// A port FreePort gives is one no outgoing connection can take before the test's server binds
// it: below the kernel's ephemeral range, and free.
func TestFreePortIsBelowTheEphemeralRange(t *testing.T) {
	low := ephemeralLow()
	for range 50 {
		p := FreePort(t)
		if p >= low || p < 10000 || reservedPort(p) {
			t.Fatalf("FreePort gave %d; want a port in [10000, %d) other than the broker's", p, low)
		}
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			t.Fatalf("FreePort gave %d, which cannot be bound: %v", p, err)
		}
		l.Close()
	}
}
