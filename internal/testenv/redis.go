package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is a Redis server of the test's own, on its own port and data directory.
type Redis struct {
	Port int
	Dir  string

	args     []string
	sentinel bool // a Sentinel, which answers PING but no data commands
	proc     *exec.Cmd
	done     chan struct{}
}

// StartRedis runs redis-server with the config file confPath ("" for none) and extra args,
// on a port and directory of its own, and stops it when t ends.
func StartRedis(t testing.TB, confPath string, args ...string) *Redis {
	t.Helper()
	Required(t, "redis-server")
	dir, err := os.MkdirTemp("", "fdtest-redis-")
	if err != nil {
		t.Fatal(err)
	}
	r := &Redis{Port: FreePort(t), Dir: dir}
	if confPath != "" {
		// A copy of its own: a replica Sentinel promotes rewrites its config file (CONFIG REWRITE).
		raw, err := os.ReadFile(confPath)
		if err != nil {
			t.Fatal(err)
		}
		own := filepath.Join(dir, "redis.conf")
		if err := os.WriteFile(own, raw, 0o644); err != nil {
			t.Fatal(err)
		}
		r.args = append(r.args, own)
	}
	r.launch(t, "Redis", args...)
	return r
}

// launch starts the server with its args so far, its own port, address, directory and log file,
// and extra; it kills it, shows its log if t failed, and removes its directory when t ends.
func (r *Redis) launch(t testing.TB, what string, extra ...string) {
	t.Helper()
	r.args = append(r.args, "--port", itoa(r.Port), "--bind", "127.0.0.1", "--dir", r.Dir,
		"--daemonize", "no", "--logfile", filepath.Join(r.Dir, "redis.log"))
	r.args = append(r.args, extra...)
	t.Cleanup(func() {
		r.kill()
		if t.Failed() {
			if log, err := os.ReadFile(filepath.Join(r.Dir, "redis.log")); err == nil {
				t.Logf("--- log of %s on %d (last 30 lines) ---\n%s", what, r.Port, lastLines(string(log), 30))
			}
		}
		os.RemoveAll(r.Dir)
	})
	r.start(t)
}

func (r *Redis) start(t testing.TB) {
	t.Helper()
	bin, _ := lookPath("redis-server")
	r.proc = exec.Command(bin, r.args...)
	r.proc.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := r.proc.Start(); err != nil {
		t.Fatalf("start redis-server: %v", err)
	}
	r.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { _ = cmd.Wait(); close(done) }(r.proc, r.done)
	if err := Poll(30*time.Second, func() error {
		// A client of its own each time: a go-redis pool that failed to dial backs off. PING
		// answers LOADING while an append-only file is read back, so wait for a real command.
		c := r.Client(t)
		defer c.Close()
		if r.sentinel {
			return c.Ping(context.Background()).Err()
		}
		if err := c.Get(context.Background(), "fdtest:probe").Err(); err != redis.Nil {
			return err
		}
		return nil
	}); err != nil {
		t.Fatalf("redis on %d did not start: %v", r.Port, err)
	}
}

// URL is the server's redis:// URL (database 0).
func (r *Redis) URL() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", r.Port) }

// Client is a go-redis client of the server, closed by the caller.
func (r *Redis) Client(t testing.TB) *redis.Client {
	return redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", r.Port)})
}

// Kill9 kills the server with SIGKILL: it writes nothing more.
func (r *Redis) Kill9(t testing.TB) {
	t.Helper()
	r.kill()
}

// Shutdown stops the server cleanly (SHUTDOWN: the append-only file is flushed).
func (r *Redis) Shutdown(t testing.TB) {
	t.Helper()
	c := r.Client(t)
	defer c.Close()
	_ = c.Shutdown(context.Background()).Err() // the connection closing is the answer
	select {
	case <-r.done:
	case <-time.After(20 * time.Second):
		t.Fatalf("redis on %d did not shut down", r.Port)
	}
}

// Restart starts a stopped server again, on the same port and directory (and so with the data
// it persisted).
func (r *Redis) Restart(t testing.TB) {
	t.Helper()
	r.start(t)
}

func (r *Redis) kill() {
	if r.proc == nil {
		return
	}
	select {
	case <-r.done:
		return
	default:
	}
	_ = syscall.Kill(-r.proc.Process.Pid, syscall.SIGKILL)
	<-r.done
}

// StartReplicated runs a primary and one replica of it, each a redis-server of the test's own,
// and returns once the replica acknowledges the primary's writes (WAIT on the connection that
// wrote), so that a test of replicated writes starts from a replica in sync.
func StartReplicated(t testing.TB) (primary, replica *Redis) {
	t.Helper()
	primary = StartRedis(t, "", "--repl-diskless-sync-delay", "0")
	replica = StartRedis(t, "", "--replicaof", "127.0.0.1", fmt.Sprint(primary.Port))
	rdb := primary.Client(t)
	defer rdb.Close()
	if err := Poll(10*time.Second, func() error {
		var wait *redis.Cmd
		if _, err := rdb.Pipelined(context.Background(), func(p redis.Pipeliner) error {
			p.Set(context.Background(), "fdtest:probe", "1", 0)
			wait = p.Do(context.Background(), "WAIT", 1, 100)
			return nil
		}); err != nil {
			return err
		}
		if n, _ := wait.Int64(); n < 1 {
			return fmt.Errorf("replica on port %d not in sync yet", replica.Port)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return primary, replica
}
