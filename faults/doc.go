// Package faults is forecastd's fault suite (make test-faults). Each test runs a gateway and
// three processors as OS processes over a RabbitMQ node and a Redis server of its own, keeps
// fits and forecasts going on several models, injects one fault — a processor killed mid-fit,
// the broker or Redis restarted, connections dropped, a poison message, a stalled client — and
// checks from the clients' answers that no accepted fit was lost, no forecast broke the hold
// rule and every request was answered. TestClusterFailover runs deploy/compose.cluster.yml's
// topology instead (3 clustered RabbitMQ nodes, a Redis primary and replica under 3 Sentinels)
// and fails a node of each; TestProcessorKilledMidBatch kills a processor midway through a batch
// and checks that every series ends, once. docs/reliability.md has the measured tables.
package faults
