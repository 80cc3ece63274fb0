package main

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/forecastd/forecastd/internal/testenv"
	"github.com/forecastd/forecastd/store"
)

// replyCutter is a TCP proxy to a Redis server that forwards every command but, the first time
// one contains cut, closes the client's connection once the server has had the command and
// before its reply reaches the client: a reply lost after the command ran.
type replyCutter struct {
	ln  net.Listener
	cut []byte

	mu   sync.Mutex
	done bool // the cut was made
}

func startReplyCutter(t *testing.T, target string, cut []byte) *replyCutter {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &replyCutter{ln: ln, cut: cut}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			go p.pipe(c, s)
		}
	}()
	return p
}

func (p *replyCutter) addr() string { return p.ln.Addr().String() }

// pipe copies the server's replies to the client, and the client's commands to the server
// until the one to cut.
func (p *replyCutter) pipe(c, s net.Conn) {
	var muted sync.Mutex // held while a cut is made: no reply goes through
	go func() {
		buf := make([]byte, 64<<10)
		for {
			n, err := s.Read(buf)
			muted.Lock()
			if n > 0 {
				_, _ = c.Write(buf[:n])
			}
			muted.Unlock()
			if err != nil {
				c.Close()
				return
			}
		}
	}()
	buf := make([]byte, 64<<10)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			p.mu.Lock()
			cutting := !p.done && bytes.Contains(bytes.ToLower(buf[:n]), p.cut)
			p.done = p.done || cutting
			p.mu.Unlock()
			if cutting {
				muted.Lock()
				_, _ = s.Write(buf[:n])
				time.Sleep(100 * time.Millisecond) // the server runs the command, its reply held here
				c.Close()
				s.Close()
				muted.Unlock()
				return
			}
			_, _ = s.Write(buf[:n])
		}
		if err != nil {
			c.Close()
			s.Close()
			return
		}
	}
}

// A script whose reply is lost is not run again: the Redis client forecastd opens does not
// retry commands (go-redis's default retries a command whose reply did not come, after the
// server ran it, and no script of the store can run twice: an accept would hand out a second
// generation and leave the first pending with no command, holding the model's forecasts).
func TestStoreScriptRunsOnceWhenItsReplyIsLost(t *testing.T) {
	rs := testenv.StartRedis(t, "")
	ctx := t.Context()
	direct := store.NewRedis(rs.Client(t), store.RedisOptions{})
	// Loaded once directly, so that the store sends EVALSHA through the proxy.
	if _, err := direct.AcceptFit(ctx, "warm-up", "job-0", time.Minute); err != nil {
		t.Fatal(err)
	}
	cutter := startReplyCutter(t, "127.0.0.1:"+itoa(rs.Port), []byte("evalsha"))
	target, err := parseRedisURL("redis://" + cutter.addr() + "/0")
	if err != nil {
		t.Fatal(err)
	}
	rdb := target.client()
	t.Cleanup(func() { rdb.Close() })
	s := store.NewRedis(rdb, store.RedisOptions{})

	gen, err := s.AcceptFit(ctx, "m", "job-1", time.Minute)
	if err == nil || !(errors.Is(err, io.EOF) || store.Unavailable(err)) {
		t.Errorf("accept whose reply was lost: generation %d, err %v; want the connection's error", gen, err)
	}
	if seq, err := direct.Sequence(ctx, "m"); err != nil || seq != 1 {
		t.Errorf("sequence %d (%v) after one accept, want 1: the accept ran again", seq, err)
	}
	if un, err := direct.Unsettled(ctx, "m", 10); err != nil || len(un) != 1 {
		t.Errorf("pending fits %v (%v), want the one accepted", un, err)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// A write a replica refused without running it (READONLY, as during a failover, before the
// replica is promoted) is sent again, and goes through once the server takes writes.
func TestWriteRefusedByAReplicaIsTriedAgain(t *testing.T) {
	_, replica := testenv.StartReplicated(t)
	target, err := parseRedisURL(replica.URL())
	if err != nil {
		t.Fatal(err)
	}
	rdb := target.client()
	t.Cleanup(func() { rdb.Close() })
	s := store.NewRedis(rdb, store.RedisOptions{})
	rc := replica.Client(t)
	t.Cleanup(func() { rc.Close() })
	promoted := make(chan error, 1)
	go func() {
		time.Sleep(300 * time.Millisecond)
		promoted <- rc.Do(t.Context(), "REPLICAOF", "NO", "ONE").Err()
	}()
	gen, err := s.AcceptFit(t.Context(), "m", "job-1", time.Minute)
	if perr := <-promoted; perr != nil {
		t.Fatal(perr)
	}
	if err != nil || gen != 1 {
		t.Fatalf("accept sent to a replica promoted 300 ms later: generation %d, %v; want 1, tried again once promoted", gen, err)
	}
	if seq, err := store.NewRedis(rc, store.RedisOptions{}).Sequence(t.Context(), "m"); err != nil || seq != 1 {
		t.Errorf("sequence %d (%v); want 1: the accept ran once", seq, err)
	}
}
