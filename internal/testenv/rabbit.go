package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
)

// Rabbit is a RabbitMQ node of the test's own: its own node name, AMQP and distribution ports
// and data directory, with no plugins enabled.
type Rabbit struct {
	Name     string // node name, e.g. fdtest-1a2b3c4d@localhost
	Port     int    // AMQP port on 127.0.0.1
	DistPort int    // Erlang distribution port
	Dir      string // config, data and logs

	proc *exec.Cmd
	done chan struct{}
}

// StartRabbit boots a node from conf, the text of a rabbitmq.conf ("" for RabbitMQ's
// defaults), waits until it has started, and stops it and removes its data when t ends.
func StartRabbit(t testing.TB, conf string) *Rabbit {
	t.Helper()
	r := newRabbit(t, conf)
	r.start(t)
	return r
}

// newRabbit prepares a node's directory and configuration, and its stop and removal when t
// ends, without booting it.
func newRabbit(t testing.TB, conf string) *Rabbit {
	t.Helper()
	Required(t, "rabbitmq-server", "rabbitmqctl")
	dir, err := os.MkdirTemp("", "fdtest-rabbit-")
	if err != nil {
		t.Fatal(err)
	}
	r := &Rabbit{
		Name: "fdtest-" + uuid.NewString()[:8] + "@localhost",
		Port: FreePort(t), DistPort: FreePort(t), Dir: dir,
	}
	t.Cleanup(func() {
		r.stop(t)
		if t.Failed() {
			if log, err := os.ReadFile(filepath.Join(dir, "log", r.Name+".log")); err == nil {
				t.Logf("--- log of RabbitMQ node %s (last 40 lines) ---\n%s", r.Name, lastLines(string(log), 40))
			}
		}
		os.RemoveAll(dir)
	})
	if err := os.WriteFile(filepath.Join(dir, "rabbitmq.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	// No plugins: the machine's own enabled_plugins may name the management plugin, whose
	// listener would collide with the machine's broker.
	if err := os.WriteFile(filepath.Join(dir, "enabled_plugins"), []byte("[].\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *Rabbit) env() []string {
	home, _ := os.UserHomeDir() // the Erlang cookie rabbitmqctl reads too
	return []string{
		"RABBITMQ_NODENAME=" + r.Name,
		"RABBITMQ_NODE_PORT=" + itoa(r.Port),
		"RABBITMQ_NODE_IP_ADDRESS=127.0.0.1",
		"RABBITMQ_DIST_PORT=" + itoa(r.DistPort),
		"RABBITMQ_MNESIA_BASE=" + filepath.Join(r.Dir, "mnesia"),
		"RABBITMQ_LOG_BASE=" + filepath.Join(r.Dir, "log"),
		"RABBITMQ_CONFIG_FILE=" + filepath.Join(r.Dir, "rabbitmq.conf"),
		"RABBITMQ_ENABLED_PLUGINS_FILE=" + filepath.Join(r.Dir, "enabled_plugins"),
		"RABBITMQ_PID_FILE=" + filepath.Join(r.Dir, "pid"),
		"HOME=" + home,
	}
}

// start runs the node's server and waits for it to finish booting.
func (r *Rabbit) start(t testing.TB) {
	t.Helper()
	if err := r.boot(); err != nil {
		t.Fatal(err)
	}
}

// boot is start without t, for nodes booted side by side.
func (r *Rabbit) boot() error {
	bin, _ := lookPath("rabbitmq-server")
	out, err := os.Create(filepath.Join(r.Dir, "server.out"))
	if err != nil {
		return err
	}
	r.proc = exec.Command(bin)
	r.proc.Env = append(os.Environ(), r.env()...)
	r.proc.Stdout, r.proc.Stderr = out, out
	r.proc.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := r.proc.Start(); err != nil {
		out.Close()
		r.proc = nil
		return fmt.Errorf("start rabbitmq-server: %w", err)
	}
	r.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { _ = cmd.Wait(); out.Close(); close(done) }(r.proc, r.done)
	if _, err := r.ctl(90*time.Second, "wait", "--timeout", "90", filepath.Join(r.Dir, "pid")); err != nil {
		raw, _ := os.ReadFile(filepath.Join(r.Dir, "server.out"))
		return fmt.Errorf("RabbitMQ node %s did not start: %v\n%s", r.Name, err, lastLines(string(raw), 30))
	}
	return nil
}

// Ctl runs rabbitmqctl against the node and returns its output, failing t on error.
func (r *Rabbit) Ctl(t testing.TB, args ...string) string {
	t.Helper()
	out, err := r.ctl(60*time.Second, args...)
	if err != nil {
		t.Fatalf("%v", err)
	}
	return out
}

func (r *Rabbit) ctl(timeout time.Duration, args ...string) (string, error) {
	bin, _ := lookPath("rabbitmqctl")
	return run(timeout, r.env(), bin, append([]string{"-q", "-n", r.Name}, args...)...)
}

// URL is the node's AMQP URL for user and password on the default vhost.
func (r *Rabbit) URL(user, password string) string {
	return fmt.Sprintf("amqp://%s:%s@127.0.0.1:%d/", user, password, r.Port)
}

// StopApp stops RabbitMQ on the node (the Erlang node stays up), closing every connection.
func (r *Rabbit) StopApp(t testing.TB) { t.Helper(); r.Ctl(t, "stop_app") }

// StartApp starts RabbitMQ again after StopApp and waits until it has booted.
func (r *Rabbit) StartApp(t testing.TB) {
	t.Helper()
	r.Ctl(t, "start_app")
	r.Ctl(t, "await_startup")
}

// Stop stops the whole node; Restart boots it again with the same data.
func (r *Rabbit) Stop(t testing.TB) { t.Helper(); r.stop(t) }

// Restart boots a node stopped with Stop again, with its data.
func (r *Rabbit) Restart(t testing.TB) { t.Helper(); r.start(t) }

func (r *Rabbit) stop(t testing.TB) {
	if r.proc == nil {
		return
	}
	select {
	case <-r.done:
		return
	default:
	}
	if _, err := r.ctl(60*time.Second, "stop"); err != nil {
		t.Logf("stop RabbitMQ node %s: %v", r.Name, err)
	}
	select {
	case <-r.done:
	case <-time.After(20 * time.Second):
		_ = syscall.Kill(-r.proc.Process.Pid, syscall.SIGKILL)
		<-r.done
	}
}
