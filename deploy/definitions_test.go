package deploy

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/dotenv"

	"github.com/forecastd/forecastd/broker"
	"github.com/forecastd/forecastd/messages"
)

// adminPassword is the documented default password of the definitions' management user.
const adminPassword = "admin-dev"

type definitions struct {
	Users []struct {
		Name             string   `json:"name"`
		PasswordHash     string   `json:"password_hash"`
		HashingAlgorithm string   `json:"hashing_algorithm"`
		Tags             []string `json:"tags"`
	} `json:"users"`
	Permissions []struct {
		User, Vhost, Configure, Write, Read string
	} `json:"permissions"`
	Queues []struct {
		Name      string         `json:"name"`
		Durable   bool           `json:"durable"`
		Arguments map[string]any `json:"arguments"`
	} `json:"queues"`
	Bindings []binding `json:"bindings"`
}

type binding struct {
	Source      string `json:"source"`
	Destination string `json:"destination"`
	RoutingKey  string `json:"routing_key"`
}

func readDefinitions(t *testing.T) definitions {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("rabbitmq", "definitions.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d definitions
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("definitions.json: %v", err)
	}
	return d
}

// dotEnv is the repository's .env, which docker compose reads.
func dotEnv(t *testing.T) map[string]string {
	t.Helper()
	env, err := dotenv.Read(filepath.Join("..", ".env"))
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// checkPassword reports whether hash is RabbitMQ's rabbit_password_hashing_sha256 hash of
// password: base64 of a 4-byte salt followed by SHA-256(salt ‖ password).
func checkPassword(hash, password string) error {
	raw, err := base64.StdEncoding.DecodeString(hash)
	if err != nil {
		return err
	}
	if len(raw) != 4+sha256.Size {
		return errors.New("not a salted SHA-256 hash: wrong length")
	}
	sum := sha256.Sum256(append(raw[:4:4], password...))
	if !bytes.Equal(sum[:], raw[4:]) {
		return errors.New("hash does not match the password")
	}
	return nil
}

func TestDefinitionsHaveTheUsersOfTheDocumentedPasswords(t *testing.T) {
	env := dotEnv(t)
	want := map[string]string{env["FORECASTD_RABBITMQ_USER"]: env["FORECASTD_RABBITMQ_PASSWORD"], "admin": adminPassword}
	d := readDefinitions(t)
	for _, u := range d.Users {
		password, ok := want[u.Name]
		if !ok {
			t.Errorf("user %q is not documented", u.Name)
			continue
		}
		delete(want, u.Name)
		if u.HashingAlgorithm != "rabbit_password_hashing_sha256" {
			t.Errorf("user %s: hashing_algorithm %q", u.Name, u.HashingAlgorithm)
		}
		if err := checkPassword(u.PasswordHash, password); err != nil {
			t.Errorf("user %s: password_hash is not the hash of %q: %v", u.Name, password, err)
		}
	}
	for name := range want {
		t.Errorf("definitions.json has no user %q: a node that imports definitions at boot creates no default user", name)
	}
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{env["FORECASTD_RABBITMQ_PASSWORD"], adminPassword} {
		if !bytes.Contains(readme, []byte(p)) {
			t.Errorf("README does not name the default password %q", p)
		}
	}
}

func TestEveryUserHasPermissionsOnTheVhost(t *testing.T) {
	d := readDefinitions(t)
	for _, u := range d.Users {
		found := false
		for _, p := range d.Permissions {
			found = found || (p.User == u.Name && p.Vhost == "/")
		}
		if !found {
			t.Errorf("user %s has no permissions on vhost /", u.Name)
		}
	}
}

// The documented way to make a hash without rabbitmqctl hash_password (RabbitMQ before 3.13).
func TestHashPasswordScript(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not installed")
	}
	hash := func() string {
		out, err := exec.Command("sh", filepath.Join("rabbitmq", "hash-password.sh"), "s3cret with spaces").Output()
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(out))
	}
	a, b := hash(), hash()
	for _, h := range []string{a, b} {
		if err := checkPassword(h, "s3cret with spaces"); err != nil {
			t.Errorf("hash-password.sh printed %q: %v", h, err)
		}
	}
	if a == b {
		t.Errorf("two hashes of one password are equal (%s): the salt is not random", a)
	}
	if checkPassword(a, "s3cret") == nil {
		t.Error("the hash matches another password")
	}
}

// Every command queue the services consume (fit, forecast, batch) is a durable quorum queue
// with a delivery limit and the dead-letter exchange, bound to the commands exchange by its
// topic, and readable by the services' user.
func TestCommandQueuesAreQuorumWithDeadLetters(t *testing.T) {
	d := readDefinitions(t)
	env := dotEnv(t)
	var read *regexp.Regexp
	for _, p := range d.Permissions {
		if p.User == env["FORECASTD_RABBITMQ_USER"] {
			read = regexp.MustCompile(p.Read)
		}
	}
	if read == nil {
		t.Fatalf("no permissions for %s", env["FORECASTD_RABBITMQ_USER"])
	}
	var topo broker.Topology
	for _, topic := range []string{messages.TopicFit, messages.TopicForecast, messages.TopicBatch} {
		name := topo.Queue(topic)
		found := false
		for _, q := range d.Queues {
			if q.Name != name {
				continue
			}
			found = true
			a := q.Arguments
			if !q.Durable || a["x-queue-type"] != "quorum" || a["x-delivery-limit"] != float64(5) ||
				a["x-dead-letter-exchange"] != topo.Exchange(messages.TopicDead) || a["x-dead-letter-routing-key"] != "dead."+topic {
				t.Errorf("queue %s: durable %v, arguments %v; want a durable quorum queue, delivery limit 5, dead letters to the dlx as dead.%s", name, q.Durable, a, topic)
			}
		}
		if !found {
			t.Errorf("no queue %s", name)
		}
		want := binding{Source: topo.Exchange(topic), Destination: name, RoutingKey: topo.RoutingKey(topic)}
		if !slices.Contains(d.Bindings, want) {
			t.Errorf("queue %s is not bound to %s by %q", name, want.Source, want.RoutingKey)
		}
		if !read.MatchString(name) {
			t.Errorf("the services' user may not read %s (read permission %s)", name, read)
		}
	}
}

// What RabbitMQ dead-letters from the command queues (routing keys dead.<topic>) reaches the
// queue the processors answer it from, as well as the dead-letter queue kept for inspection;
// what the processors move there themselves (malformed, routing key dead) only the latter.
func TestDeadLettersReachTheQueueTheProcessorsAnswer(t *testing.T) {
	d := readDefinitions(t)
	env := dotEnv(t)
	var topo broker.Topology
	dlx, answered := topo.Exchange(messages.TopicDead), topo.Queue(messages.TopicDeadLettered)
	for _, topic := range []string{messages.TopicFit, messages.TopicForecast, messages.TopicBatch} {
		want := binding{Source: dlx, Destination: answered, RoutingKey: "dead." + topic}
		if !slices.Contains(d.Bindings, want) {
			t.Errorf("%s is not bound to %s by %q", answered, dlx, want.RoutingKey)
		}
	}
	for _, b := range d.Bindings {
		if b.Destination == answered && !strings.HasPrefix(b.RoutingKey, "dead.") {
			t.Errorf("%s is bound by %q, which the poison queue's messages match", answered, b.RoutingKey)
		}
	}
	for _, p := range d.Permissions {
		if p.User == env["FORECASTD_RABBITMQ_USER"] && !regexp.MustCompile(p.Read).MatchString(answered) {
			t.Errorf("the services' user may not read %s (read permission %s)", answered, p.Read)
		}
	}
}
