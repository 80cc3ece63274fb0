package broker

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	wamqp "github.com/ThreeDotsLabs/watermill-amqp/v3/pkg/amqp"
	amqp "github.com/rabbitmq/amqp091-go"
)

// nodeDialTimeout bounds the TCP (and TLS) connect to one node, so that an unreachable node
// costs the rotation a few seconds, not amqp091's 30.
const nodeDialTimeout = 5 * time.Second

// Nodes is a RabbitMQ cluster as forecastd reaches it: the URLs of its nodes, which share
// credentials, vhost and options, so that any node serves the same connection.
type Nodes struct {
	URLs  []string
	addrs []string // host:port of each URL
	tls   bool     // amqps
}

// ParseNodes reads a comma-separated list of AMQP URLs, one per node of a cluster. Each
// connection dials the nodes in turn until one answers, so every URL must name the same user,
// password, vhost and query options: only the host and port may differ.
func ParseNodes(list string) (Nodes, error) {
	var n Nodes
	var first *url.URL
	for raw := range strings.SplitSeq(list, ",") {
		raw = strings.TrimSpace(raw)
		if raw == "" {
			return Nodes{}, errors.New("amqp url list: empty entry")
		}
		uri, err := amqp.ParseURI(raw)
		if err != nil {
			return Nodes{}, fmt.Errorf("amqp url %s: %w", redact(raw), err)
		}
		u, _ := url.Parse(raw) // ParseURI accepted it
		if first == nil {
			first = u
		} else if u.Scheme != first.Scheme || u.User.String() != first.User.String() || u.Path != first.Path || u.RawQuery != first.RawQuery {
			return Nodes{}, fmt.Errorf("amqp url %s: every node's URL must have the same scheme, credentials, vhost and options as the first (%s); only host and port may differ",
				redact(raw), redact(first.String()))
		}
		n.URLs = append(n.URLs, raw)
		n.addrs = append(n.addrs, net.JoinHostPort(uri.Host, fmt.Sprint(uri.Port)))
	}
	n.tls = first.Scheme == "amqps"
	if n.tls && len(n.URLs) > 1 && first.RawQuery != "" {
		// With several nodes the dialer does the TLS handshake itself (with each node's own
		// server name), and amqp091's certificate file options are not seen by it.
		return Nodes{}, errors.New("amqp url list: amqps with several nodes takes no query options (certfile, keyfile, cacertfile, server_name_indication); use a single URL, or trust the nodes' certificates system-wide")
	}
	return n, nil
}

// Redacted is the list with passwords masked, for logs.
func (n Nodes) Redacted() string {
	out := make([]string, len(n.URLs))
	for i, u := range n.URLs {
		out[i] = redact(u)
	}
	return strings.Join(out, ",")
}

func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable)"
	}
	return u.Redacted()
}

// connectionConfig is the watermill-amqp connection of the nodes. One node: amqp091 dials its
// URL. Several: a dialer that tries the nodes in turn, starting after the node it last reached,
// so a connection lost with its node is made again to another one.
func (n Nodes) connectionConfig() wamqp.ConnectionConfig {
	cfg := wamqp.ConnectionConfig{AmqpURI: n.URLs[0], Reconnect: wamqp.DefaultReconnectConfig()}
	if len(n.URLs) == 1 {
		return cfg
	}
	uri := n.URLs[0]
	if n.tls { // the rotating dialer does TLS itself; amqp091 must not do it again
		uri = "amqp" + strings.TrimPrefix(uri, "amqps")
	}
	cfg.AmqpURI = uri
	cfg.AmqpConfig = &amqp.Config{
		Heartbeat: 10 * time.Second, Locale: "en_US", // amqp.Dial's defaults
		Dial: (&rotation{addrs: n.addrs, tls: n.tls}).dial,
	}
	return cfg
}

// rotation dials the nodes of a cluster in turn.
type rotation struct {
	addrs []string
	tls   bool

	mu   sync.Mutex
	next int
}

// dial connects to the first node that answers, starting with the one after the node it last
// reached; addr (the first URL's) is ignored.
func (r *rotation) dial(network, _ string) (net.Conn, error) {
	r.mu.Lock()
	start := r.next
	r.mu.Unlock()
	var errs []error
	for i := range r.addrs {
		k := (start + i) % len(r.addrs)
		conn, err := r.dialNode(network, r.addrs[k])
		if err == nil {
			r.mu.Lock()
			r.next = (k + 1) % len(r.addrs)
			r.mu.Unlock()
			return conn, nil
		}
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("no rabbitmq node reachable: %w", errors.Join(errs...))
}

func (r *rotation) dialNode(network, addr string) (net.Conn, error) {
	conn, err := amqp.DefaultDial(nodeDialTimeout)(network, addr)
	if err != nil || !r.tls {
		return conn, err
	}
	host, _, _ := net.SplitHostPort(addr)
	tc := tls.Client(conn, &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12})
	if err := tc.Handshake(); err != nil {
		conn.Close()
		return nil, fmt.Errorf("tls %s: %w", addr, err)
	}
	return tc, nil
}
