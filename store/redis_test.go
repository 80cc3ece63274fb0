package store_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/forecastd/forecastd/store"
	"github.com/forecastd/forecastd/store/storetest"
)

// redisClient connects to the test Redis (FORECASTD_TEST_REDIS_URL, default local), skipping
// the test when it is unreachable unless CI=true.
func redisClient(t *testing.T, name string) *redis.Client {
	t.Helper()
	url := os.Getenv("FORECASTD_TEST_REDIS_URL")
	if url == "" {
		url = "redis://127.0.0.1:6379/0"
	}
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatalf("FORECASTD_TEST_REDIS_URL: %v", err)
	}
	opts.ClientName = name
	opts.MaxRetries = -1 // fail fast when Redis is absent
	client := redis.NewClient(opts)
	t.Cleanup(func() { _ = client.Close() })
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	if err := client.Ping(ctx).Err(); err != nil {
		msg := "redis at " + url + " unreachable (set FORECASTD_TEST_REDIS_URL): " + err.Error()
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	opts.MaxRetries = 0 // the default, for the test itself
	client = redis.NewClient(opts)
	t.Cleanup(func() { _ = client.Close() })
	return client
}

func randomName(t *testing.T) string {
	t.Helper()
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return "forecastd-test-" + hex.EncodeToString(b)
}

// newRedisStore returns a store under a fresh random prefix whose keys are deleted afterwards.
func newRedisStore(t *testing.T) (*store.Redis, *redis.Client, string) {
	t.Helper()
	prefix := randomName(t)
	client := redisClient(t, prefix)
	t.Cleanup(func() {
		ctx := context.WithoutCancel(t.Context())
		iter := client.Scan(ctx, 0, prefix+":*", 500).Iterator()
		for iter.Next(ctx) {
			client.Del(ctx, iter.Val())
		}
		if err := iter.Err(); err != nil {
			t.Errorf("clean up %s: %v", prefix, err)
		}
	})
	s := store.NewRedis(client, store.RedisOptions{Prefix: prefix, EventsMaxLen: 200, RecentFits: 10})
	return s, client, prefix
}

func TestRedisContract(t *testing.T) {
	redisClient(t, "forecastd-test") // skip the whole suite at once when Redis is absent
	storetest.Run(t, func(t *testing.T) store.Store {
		s, _, _ := newRedisStore(t)
		return s
	})
}

func TestRedisKeyLayout(t *testing.T) {
	s, client, p := newRedisStore(t)
	ctx := t.Context()
	gen, err := s.AcceptFit(ctx, "m", "j", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AcceptFit(ctx, "m", "j2", time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CompleteFit(ctx, store.ModelRecord{Model: "m", Generation: gen, Blob: []byte("b")}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutJob(ctx, store.Job{ID: "j"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	for key, typ := range map[string]string{
		p + ":seq:m": "string", p + ":fits:m": "hash", p + ":pending:m": "zset", p + ":model:m": "hash",
		p + ":models": "set", p + ":job:j": "string", p + ":events": "stream",
	} {
		if got := client.Type(ctx, key).Val(); got != typ {
			t.Errorf("%s is a %q, want %s", key, got, typ)
		}
	}
	if ttl := client.PTTL(ctx, p+":job:j").Val(); ttl <= 0 || ttl > time.Hour {
		t.Errorf("job ttl = %v, want within an hour", ttl)
	}
	if blob := client.HGet(ctx, p+":model:m", "blob").Val(); blob != "b" {
		t.Errorf("stored blob = %q", blob)
	}
}

// TestRedisSubscribeSurvivesReconnect kills this test's own pub/sub connection and checks that
// the subscription resumes delivering.
func TestRedisSubscribeSurvivesReconnect(t *testing.T) {
	s, client, name := newRedisStore(t)
	ctx := t.Context()
	ch, err := s.Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var id string
	for line := range strings.Lines(client.ClientList(ctx).Val()) {
		if strings.Contains(line, " name="+name+" ") && strings.Contains(line, " sub=1 ") {
			id, _, _ = strings.Cut(strings.TrimPrefix(line, "id="), " ")
		}
	}
	if id == "" {
		t.Fatal("subscription connection not found in CLIENT LIST")
	}
	if n, err := client.ClientKillByFilter(ctx, "ID", id).Result(); err != nil || n != 1 {
		t.Fatalf("CLIENT KILL ID %s = %d, %v", id, n, err)
	}
	emitted := map[string]bool{}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		ev, err := s.Emit(ctx, store.Event{Type: store.EventFitProgress, Model: "m"})
		if err != nil {
			t.Fatal(err)
		}
		emitted[ev.ID] = true
		select {
		case got, ok := <-ch:
			if !ok {
				t.Fatal("subscription closed after the connection was killed")
			}
			if emitted[got.ID] {
				return
			}
		case <-time.After(200 * time.Millisecond):
		}
	}
	t.Fatal("no event delivered within 30s of the connection being killed")
}

// TestRedisLeasesIgnoreHostClocks: a processor whose clock runs an hour behind the gateway's
// must not have its fit's lease expire the moment the gateway checks it. Leases are set and
// read by the Redis server's clock.
func TestRedisLeasesIgnoreHostClocks(t *testing.T) {
	gateway, client, prefix := newRedisStore(t)
	behind := store.NewRedis(client, store.RedisOptions{Prefix: prefix, EventsMaxLen: 200, RecentFits: 10,
		Now: func() time.Time { return time.Now().Add(-time.Hour) }})
	ctx := t.Context()
	gen, err := behind.AcceptFit(ctx, "m", "job", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := behind.RenewFit(ctx, "m", gen, "p1", time.Minute); err != nil {
		t.Fatal(err)
	}
	pending, err := gateway.Unsettled(ctx, "m", gen)
	if err != nil || len(pending) != 1 || pending[0] != gen {
		t.Fatalf("Unsettled = %v (%v): a live lease set by a host whose clock is behind was expired", pending, err)
	}
}

// A fit record written before fits kept an expiry of their own (during a rolling upgrade) keeps
// the queue lease it was accepted with once a processor claims it: renewed past that first
// deadline and then left to lapse, it is handed over, not expired.
func TestRedisFitRecordOfOlderVersionIsHandedOver(t *testing.T) {
	s, client, p := newRedisStore(t)
	ctx := t.Context()
	const queueLease = 400 * time.Millisecond
	gen, err := s.AcceptFit(ctx, "m", "j", queueLease)
	if err != nil {
		t.Fatal(err)
	}
	// The record as the previous version wrote it: leased for the queue lease from acceptance.
	acc := time.Now().UnixMilli()
	old := fmt.Sprintf(`{"gen":"%d","job":"j","st":"pending","acc":"%d","lease":"%d","fin":"","err":""}`, gen, acc, acc+queueLease.Milliseconds())
	if err := client.HSet(ctx, p+":fits:m", strconv.FormatInt(gen, 10), old).Err(); err != nil {
		t.Fatal(err)
	}
	if held, err := s.RenewFit(ctx, "m", gen, "a", 100*time.Millisecond); err != nil || held.Owner != "a" {
		t.Fatalf("claim of an old record = %+v, %v", held, err)
	}
	time.Sleep(300 * time.Millisecond)
	held, err := s.RenewFit(ctx, "m", gen, "a", 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	waitUntil := time.UnixMilli(acc).Add(queueLease + 100*time.Millisecond)
	time.Sleep(time.Until(waitUntil)) // past the old record's deadline and the holder's lease
	if u, err := s.Unsettled(ctx, "m", gen); err != nil || len(u) != 1 {
		t.Fatalf("unsettled past the old deadline = %v, %v; want the fit still pending (expires %v)", u, err, held.ExpiresAt)
	}
}
