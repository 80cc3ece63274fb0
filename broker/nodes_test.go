package broker

import (
	"net"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/ThreeDotsLabs/watermill"
)

func TestParseNodes(t *testing.T) {
	for _, tc := range []struct {
		name, list string
		addrs      []string
		wantErr    string
	}{
		{name: "one node", list: "amqp://u:p@h1:5672/", addrs: []string{"h1:5672"}},
		{name: "three nodes, default port, spaces", list: "amqp://u:p@h1/vh, amqp://u:p@h2:5673/vh ,amqp://u:p@h3/vh",
			addrs: []string{"h1:5672", "h2:5673", "h3:5672"}},
		{name: "other password", list: "amqp://u:p@h1/,amqp://u:q@h2/", wantErr: "same scheme, credentials, vhost"},
		{name: "other vhost", list: "amqp://u:p@h1/a,amqp://u:p@h2/b", wantErr: "same scheme, credentials, vhost"},
		{name: "other scheme", list: "amqp://u:p@h1/,amqps://u:p@h2/", wantErr: "same scheme"},
		{name: "other options", list: "amqp://u:p@h1/?heartbeat=5,amqp://u:p@h2/", wantErr: "same scheme"},
		{name: "empty entry", list: "amqp://u:p@h1/,", wantErr: "empty entry"},
		{name: "not amqp", list: "http://h1/", wantErr: "amqp url http://h1/"},
		{name: "tls options with several nodes", list: "amqps://u:p@h1/?cacertfile=/ca.pem,amqps://u:p@h2/?cacertfile=/ca.pem", wantErr: "takes no query options"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := ParseNodes(tc.list)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want one containing %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), ":q@") || strings.Contains(err.Error(), ":p@") {
					t.Errorf("error shows a password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(n.addrs, " ") != strings.Join(tc.addrs, " ") {
				t.Errorf("addrs %v, want %v", n.addrs, tc.addrs)
			}
			if strings.Contains(n.Redacted(), ":p@") {
				t.Errorf("Redacted %q shows the password", n.Redacted())
			}
		})
	}
}

// The rotating dialer skips nodes that refuse, and after a node is lost starts with another.
func TestRotationSkipsDeadNodesAndMovesOn(t *testing.T) {
	listen := func() net.Listener {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
		return l
	}
	dead := listen()
	deadAddr := dead.Addr().String()
	dead.Close() // nothing listens there now: connection refused
	a, b := listen(), listen()
	defer a.Close()
	defer b.Close()
	r := &rotation{addrs: []string{deadAddr, a.Addr().String(), b.Addr().String()}}
	reached := func() string {
		t.Helper()
		c, err := r.dial("tcp", "ignored:1")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.RemoteAddr().String()
	}
	if got := reached(); got != a.Addr().String() {
		t.Fatalf("first dial reached %s, want %s past the dead node", got, a.Addr())
	}
	if got := reached(); got != b.Addr().String() {
		t.Fatalf("second dial reached %s, want the next node %s", got, b.Addr())
	}
	b.Close() // the node of the last connection is gone: the next dial goes around to a
	if got := reached(); got != a.Addr().String() {
		t.Fatalf("dial after losing %s reached %s, want %s", b.Addr(), got, a.Addr())
	}
	a.Close()
	if _, err := r.dial("tcp", "ignored:1"); err == nil || !strings.Contains(err.Error(), "no rabbitmq node reachable") {
		t.Fatalf("with every node gone: %v", err)
	}
}

// A list whose first node is down still connects, through the shared test broker.
func TestNewAMQPWithAListConnectsToALiveNode(t *testing.T) {
	dialRabbitMQ(t).Close()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := l.Addr().(*net.TCPAddr).Port
	l.Close()
	u, err := url.Parse(amqpURL)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = net.JoinHostPort(u.Hostname(), strconv.Itoa(dead))
	list := u.String() + "," + amqpURL
	b, err := NewAMQPTopology(list, Topology{Prefix: "fdtest-nodes"}, 1, watermill.NopLogger{})
	if err != nil {
		t.Fatalf("NewAMQPTopology(%s): %v", list, err)
	}
	defer b.Close()
	if !b.conn.IsConnected() || !b.pubConn.IsConnected() {
		t.Fatal("not connected")
	}
}
