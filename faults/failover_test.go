package faults

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/forecastd/forecastd/internal/testenv"
)

// recoveryGoal is how soon after each failure a forecast must get a 2xx again.
const recoveryGoal = 10 * time.Second

// sentinelName is the primary's name in deploy/redis/sentinel.conf.
const sentinelName = "forecastd"

// The deployment of deploy/compose.cluster.yml on one machine: three RabbitMQ nodes in one
// cluster with the definitions' quorum queues on all three, a Redis primary and replica under
// three Sentinels with deploy/redis/sentinel.conf's settings, a gateway and two processors given
// every node. Under load, the node leading forecastd.fit's quorum queue is stopped; later the
// Redis primary is killed with SIGKILL and Sentinel promotes the replica. No accepted fit may
// be lost, no forecast may break the hold rule, and forecasts must succeed again within
// recoveryGoal of each failure.
func TestClusterFailover(t *testing.T) {
	testenv.Required(t, "rabbitmq-server", "rabbitmqctl", "rabbitmq-queues", "redis-server")
	root := testenv.ModuleRoot()
	c := &cluster{t: t, bin: testenv.Forecastd(t)}
	begin := time.Now()

	nodes := testenv.StartRabbitCluster(t, 3, "")
	clustered := time.Now()
	// What rabbitmq-init does in deploy/compose.cluster.yml: the definitions imported once the
	// nodes have joined, every quorum queue grown to all three, and checked.
	var names []string
	for _, n := range nodes {
		names = append(names, n.Name)
	}
	out := testenv.RabbitScript(t, filepath.Join(root, "deploy", "rabbitmq", "cluster-init.sh"),
		append([]string{filepath.Join(root, "deploy", "rabbitmq", "definitions.json")}, names...)...)
	t.Logf("cluster-init.sh:\n%s", strings.TrimSpace(out))
	for _, q := range []string{"forecastd.fit", "forecastd.forecast", "forecastd.batch", "forecastd.dead", "forecastd.dead-lettered"} {
		if m := nodes[0].QuorumStatus(t, q); len(m) != 3 {
			t.Fatalf("quorum queue %s has %d members, want 3: %+v", q, len(m), m)
		}
	}
	c.rabbit = nodes[0]

	conf := filepath.Join(root, "deploy", "redis", "redis.conf")
	primary := testenv.StartRedis(t, conf)
	replica := testenv.StartRedis(t, conf, "--replicaof", "127.0.0.1", fmt.Sprint(primary.Port))
	var sentinels []*testenv.Redis
	for range 3 {
		sentinels = append(sentinels, testenv.StartSentinel(t, filepath.Join(root, "deploy", "redis", "sentinel.conf"), sentinelName, primary, 2))
	}
	waitSentinelsReady(t, sentinels)
	c.redis = primary
	t.Logf("3 rabbitmq nodes clustered %s after start, redis primary+replica+3 sentinels ready %s",
		round(clustered.Sub(begin)), round(time.Since(begin)))

	var amqpURLs []string
	for _, n := range nodes {
		amqpURLs = append(amqpURLs, n.URL("guest", "guest"))
	}
	redisURL := fmt.Sprintf("redis://127.0.0.1:%d/0?master_name=%s&addr=127.0.0.1:%d&addr=127.0.0.1:%d",
		sentinels[0].Port, sentinelName, sentinels[1].Port, sentinels[2].Port)
	c.env = []string{
		"FORECASTD_AMQP_URL=" + strings.Join(amqpURLs, ","),
		"FORECASTD_REDIS_URL=" + redisURL,
		"FORECASTD_LOG_FORMAT=json",
	}
	c.startProcesses(2)
	t.Logf("deployment ready %s after start", round(time.Since(begin)))

	l := startLoad(t, c, 3)
	l.run(4 * time.Second)

	// The node leading forecastd.fit's queue, stopped.
	var leader *testenv.Rabbit
	for _, m := range nodes[0].QuorumStatus(t, "forecastd.fit") {
		for _, n := range nodes {
			if m.State == "leader" && m.Node == n.Name {
				leader = n
			}
		}
	}
	if leader == nil {
		t.Fatalf("no leader of forecastd.fit among the nodes: %+v", nodes[0].QuorumStatus(t, "forecastd.fit"))
	}
	stopBegin := time.Now()
	leader.Stop(t)
	l.fault("rabbitmq node stop (leader of forecastd.fit)", time.Now())
	t.Logf("stopped %s, leader of forecastd.fit, in %s", leader.Name, round(time.Since(stopBegin)))
	var live *testenv.Rabbit
	for _, n := range nodes {
		if n != leader {
			live = n
		}
	}
	if err := testenv.Poll(15*time.Second, func() error {
		for _, m := range live.QuorumStatus(t, "forecastd.fit") {
			if m.State == "leader" && m.Node != leader.Name {
				return nil
			}
		}
		return fmt.Errorf("forecastd.fit has no new leader")
	}); err != nil {
		t.Error(err)
	}
	t.Logf("forecastd.fit led by another node %s after the stop", round(time.Since(l.lastFault())))
	l.run(8 * time.Second)

	// The Redis primary, killed; Sentinel promotes the replica.
	primary.Kill9(t)
	l.fault("redis primary kill -9", time.Now())
	want := fmt.Sprintf("127.0.0.1:%d", replica.Port)
	if err := testenv.Poll(30*time.Second, func() error {
		addr, err := testenv.SentinelPrimary(t.Context(), sentinels[0], sentinelName)
		if err == nil && addr != want {
			err = fmt.Errorf("sentinel names %s as primary", addr)
		}
		return err
	}); err != nil {
		t.Errorf("replica not promoted: %v", err)
	}
	promoted := time.Since(l.lastFault())
	t.Logf("sentinel promoted the replica %s after the kill", round(promoted))
	l.run(10 * time.Second)

	v := l.finish()
	v.extra = append(v.extra, fmt.Sprintf("redis replica promoted %s after the primary's kill -9", round(promoted)))
	v.check(t, "3-node rabbitmq: fit-queue leader stopped; redis primary kill -9 under 3 sentinels")
	for i, d := range v.recoveryAfter {
		if d < 0 || d > recoveryGoal {
			t.Errorf("fault %q: first 2xx forecast %s after it, want within %s", l.faults[i].name, v.recoveries[i], recoveryGoal)
		}
	}
}

// waitSentinelsReady waits until every sentinel knows the replica and the two other sentinels:
// before that a failover could not be agreed on.
func waitSentinelsReady(t *testing.T, sentinels []*testenv.Redis) {
	t.Helper()
	for _, s := range sentinels {
		sc := redis.NewSentinelClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", s.Port)})
		err := testenv.Poll(30*time.Second, func() error {
			replicas, err := sc.Replicas(t.Context(), sentinelName).Result()
			if err != nil {
				return err
			}
			peers, err := sc.Sentinels(t.Context(), sentinelName).Result()
			if err != nil {
				return err
			}
			if len(replicas) != 1 || len(peers) != len(sentinels)-1 {
				return fmt.Errorf("sentinel on %d knows %d replicas and %d other sentinels", s.Port, len(replicas), len(peers))
			}
			return nil
		})
		sc.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
}
