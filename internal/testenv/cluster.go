package testenv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// StartRabbitCluster boots n RabbitMQ nodes side by side, each of its own (StartRabbit), then
// joins every other node to the first with join_cluster and waits until all n are running in
// one cluster. Every node is stopped and its data removed when t ends.
func StartRabbitCluster(t testing.TB, n int, conf string) []*Rabbit {
	t.Helper()
	nodes := make([]*Rabbit, n)
	for i := range nodes {
		nodes[i] = newRabbit(t, conf)
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, r := range nodes {
		wg.Go(func() { errs[i] = r.boot() })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	for _, r := range nodes[1:] {
		r.Ctl(t, "stop_app")
		r.Ctl(t, "join_cluster", nodes[0].Name)
		r.Ctl(t, "start_app")
	}
	nodes[0].Ctl(t, "await_online_nodes", strconv.Itoa(n), "--timeout", "60")
	return nodes
}

// QuorumMember is one member of a quorum queue, as rabbitmq-queues quorum_status shows it.
type QuorumMember struct {
	Node  string    `json:"Node Name"`
	State raftState `json:"Raft State"` // leader, follower, …; for a node that is down, its error
}

type raftState string

func (s *raftState) UnmarshalJSON(b []byte) error {
	var str string
	if json.Unmarshal(b, &str) != nil {
		str = string(b) // a down member's state is an error term, not a string
	}
	*s = raftState(str)
	return nil
}

// QuorumStatus is the membership of quorum queue name, asked of node r.
func (r *Rabbit) QuorumStatus(t testing.TB, queue string) []QuorumMember {
	t.Helper()
	bin, _ := lookPath("rabbitmq-queues")
	out, err := run(60*time.Second, r.env(), bin, "-q", "-n", r.Name, "quorum_status", queue, "--formatter", "json")
	if err != nil {
		t.Fatal(err)
	}
	var members []QuorumMember
	if err := json.Unmarshal([]byte(out), &members); err != nil {
		t.Fatalf("quorum_status %s: %v\n%s", queue, err, out)
	}
	return members
}

// StartSentinel runs a Redis Sentinel (redis-server --sentinel) on a port and directory of its
// own, watching primary under name with the sentinel settings of confPath (the deployment's
// sentinel.conf: every line but its "sentinel monitor" one, which names the primary here). It is
// killed when t ends.
func StartSentinel(t testing.TB, confPath, name string, primary *Redis, quorum int) *Redis {
	t.Helper()
	Required(t, "redis-server")
	raw, err := os.ReadFile(confPath)
	if err != nil {
		t.Fatal(err)
	}
	conf := []string{fmt.Sprintf("sentinel monitor %s 127.0.0.1 %d %d", name, primary.Port, quorum)}
	for line := range strings.SplitSeq(string(raw), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") || (len(f) > 1 && f[0] == "sentinel" && f[1] == "monitor") {
			continue
		}
		if f[0] == "sentinel" && len(f) > 2 && !strings.Contains(f[1], "hostnames") {
			f[2] = name // the deployment's settings, for this test's primary name
		}
		conf = append(conf, strings.Join(f, " "))
	}
	dir, err := os.MkdirTemp("", "fdtest-sentinel-")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "sentinel.conf") // Sentinel rewrites its file: a copy of its own
	if err := os.WriteFile(path, []byte(strings.Join(conf, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := &Redis{Port: FreePort(t), Dir: dir, sentinel: true, args: []string{path, "--sentinel"}}
	s.launch(t, "Sentinel")
	return s
}

// SentinelPrimary is the address of the primary that sentinel s names for name.
func SentinelPrimary(ctx context.Context, s *Redis, name string) (string, error) {
	c := redis.NewSentinelClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", s.Port)})
	defer c.Close()
	addr, err := c.GetMasterAddrByName(ctx, name).Result()
	if err != nil {
		return "", err
	}
	return strings.Join(addr, ":"), nil
}

// RabbitScript runs the shell script path with args, with this machine's RabbitMQ scripts
// (rabbitmqctl, rabbitmq-queues: see lookPath) first on its PATH, and returns its output.
func RabbitScript(t testing.TB, path string, args ...string) string {
	t.Helper()
	ctl, err := lookPath("rabbitmqctl")
	if err != nil {
		t.Fatal(err)
	}
	home, _ := os.UserHomeDir()
	env := []string{"PATH=" + filepath.Dir(ctl) + string(os.PathListSeparator) + os.Getenv("PATH"), "HOME=" + home}
	out, err := run(3*time.Minute, env, "sh", append([]string{path}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
