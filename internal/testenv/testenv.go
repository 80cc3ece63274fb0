// Package testenv runs real servers of a test's own: RabbitMQ nodes and Redis servers on their
// own ports and data directories, and forecastd processes, so that a test may stop, kill or
// restart them without disturbing any other test or the machine's shared services. Everything a
// test starts is stopped when it ends, and a failed test prints the logs.
// A test binary killed by its -timeout runs no cleanup, so every process is started with a
// parent-death signal: it is killed when the test process dies.
package testenv

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Required skips t, or fails it under CI=true, when a server binary the test needs is missing.
func Required(t testing.TB, binaries ...string) {
	t.Helper()
	for _, b := range binaries {
		if _, err := lookPath(b); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is required under CI=true: %v", b, err)
			}
			t.Skipf("skipping: %s not installed (apt-get install rabbitmq-server redis-server)", b)
		}
	}
}

// lookPath finds a server binary. RabbitMQ's scripts are taken from /usr/lib/rabbitmq/bin, not
// the /usr/sbin wrappers, which switch to the rabbitmq user when started as root.
func lookPath(name string) (string, error) {
	if strings.HasPrefix(name, "rabbitmq") {
		p := filepath.Join("/usr/lib/rabbitmq/bin", name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return exec.LookPath(name)
}

// FreePort returns a TCP port on 127.0.0.1 that nothing listens on, for a server a test starts.
//
// It is taken below the kernel's ephemeral range: a port the kernel handed out (port 0) and
// that was closed again can be taken by any outgoing connection before the server, which may
// need seconds to boot (a RabbitMQ node), binds it; below that range only a listener takes a
// port. The ports of the machine's RabbitMQ (5672, its distribution port 25672, 15672) and
// 35672–35682 (rabbitmqctl's) are never returned.
func FreePort(t testing.TB) int {
	t.Helper()
	low := ephemeralLow()
	for range 1000 {
		port := 10000 + rand.IntN(low-10000)
		if reservedPort(port) {
			continue
		}
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			continue // in use
		}
		l.Close()
		return port
	}
	t.Fatal("no free port")
	return 0
}

func reservedPort(p int) bool {
	return p == 15672 || p == 25672 || (p >= 35672 && p <= 35682)
}

// ephemeralLow is the lowest port of the kernel's range for outgoing connections (Linux's
// default when it cannot be read).
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 32768
	}
	low, err := strconv.Atoi(f[0])
	if err != nil || low <= 11000 {
		return 32768
	}
	return low
}

// WaitReady waits until url answers 200, failing t after timeout.
func WaitReady(t testing.TB, url string, timeout time.Duration) {
	t.Helper()
	if err := Poll(timeout, func() error { return httpOK(url) }); err != nil {
		t.Fatalf("%s not ready after %s: %v", url, timeout, err)
	}
}

func httpOK(url string) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

// Poll calls f every 50 ms until it returns nil or timeout passes; it returns f's last error.
func Poll(timeout time.Duration, f func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Proc is an OS process of the test's own, in its own process group.
type Proc struct {
	Name string
	cmd  *exec.Cmd
	log  *lockedBuffer
	done chan struct{}
	err  error
}

// Start runs bin with args as a process named name (for logs), with the test process's
// environment less its FORECASTD_* variables, plus env. It is stopped when t ends.
func Start(t testing.TB, name, bin string, env []string, args ...string) *Proc {
	t.Helper()
	p := &Proc{Name: name, log: &lockedBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "FORECASTD_") {
			p.cmd.Env = append(p.cmd.Env, kv)
		}
	}
	p.cmd.Env = append(p.cmd.Env, env...)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.Stop(t)
		if t.Failed() {
			t.Logf("--- log of %s (last 60 lines) ---\n%s", name, lastLines(p.Log(), 60))
		}
	})
	return p
}

// Pid is the process's ID.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Log is everything the process wrote so far.
func (p *Proc) Log() string { return p.log.String() }

// Running reports whether the process is still alive.
func (p *Proc) Running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Kill9 sends SIGKILL to the process group and waits for the process to end.
func (p *Proc) Kill9(t testing.TB) {
	t.Helper()
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s did not die after SIGKILL", p.Name)
	}
}

// Stop sends SIGTERM and waits up to 15 s for the process to end, then kills it.
func (p *Proc) Stop(t testing.TB) {
	t.Helper()
	if !p.Running() {
		return
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		t.Logf("%s ignored SIGTERM for 15 s; killing it", p.Name)
		p.Kill9(t)
	}
}

// WaitReady waits until the process serves 200 at url, failing t after timeout, or at once if
// the process exits (its log follows).
func (p *Proc) WaitReady(t testing.TB, url string, timeout time.Duration) {
	t.Helper()
	err := Poll(timeout, func() error {
		if !p.Running() {
			return nil
		}
		return httpOK(url)
	})
	if !p.Running() {
		t.Fatalf("%s exited before it was ready", p.Name)
	}
	if err != nil {
		t.Fatalf("%s not ready at %s: %v", p.Name, url, err)
	}
}

// WaitLog waits until the process's log contains substr, failing t after timeout.
func (p *Proc) WaitLog(t testing.TB, substr string, timeout time.Duration) {
	t.Helper()
	if err := Poll(timeout, func() error {
		if strings.Contains(p.Log(), substr) {
			return nil
		}
		if !p.Running() {
			return fmt.Errorf("%s exited: %v", p.Name, p.err)
		}
		return fmt.Errorf("no %q in the log of %s", substr, p.Name)
	}); err != nil {
		t.Fatalf("%v (after %s)", err, timeout)
	}
}

var (
	buildOnce sync.Once
	buildBin  string
	buildErr  error
)

// Main runs a package's tests (call it from TestMain) and then removes the forecastd binary
// that Forecastd built for them.
func Main(m *testing.M) int {
	code := m.Run()
	if buildBin != "" {
		os.RemoveAll(filepath.Dir(buildBin))
	}
	return code
}

// Forecastd returns the path of a forecastd binary built from this checkout, once per test
// binary; a package using it removes it by running its tests through Main.
func Forecastd(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "forecastd-bin-")
		if err != nil {
			buildErr = err
			return
		}
		buildBin = filepath.Join(dir, "forecastd")
		cmd := exec.Command("go", "build", "-o", buildBin, "./cmd/forecastd")
		cmd.Dir = moduleRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatalf("build forecastd: %v", buildErr)
	}
	return buildBin
}

// ModuleRoot is the directory of this checkout's go.mod.
func ModuleRoot() string { return moduleRoot() }

func moduleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// run runs a command to its end, with a timeout, returning its combined output.
func run(timeout time.Duration, env []string, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// lockedBuffer collects a process's output; the process writes while the test reads.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func itoa(i int) string { return strconv.Itoa(i) }
