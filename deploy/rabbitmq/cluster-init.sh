#!/bin/sh
# Usage: cluster-init.sh DEFINITIONS NODE...
# Run once the nodes are up (deploy/compose.cluster.yml runs it in a one-shot container; the
# fault suite runs it against its own nodes). Waits until every NODE is in the cluster, imports
# the definitions, gives every quorum queue a member on every node (rabbitmq-queues grow: a
# queue declared while a node was missing, or before it was replaced, has none there), and
# fails unless each of forecastd's quorum queues has as many members as there are nodes.
# Importing and growing are idempotent: it runs again on every start.
set -eu
defs=$1
shift
first=$1
count=$#
rabbitmqctl -q -n "$first" await_online_nodes "$count" --timeout 120
rabbitmqctl -q -n "$first" import_definitions "$defs"
for node in "$@"; do
  rabbitmq-queues -q -n "$first" grow "$node" all >/dev/null
done
for queue in forecastd.fit forecastd.forecast forecastd.batch forecastd.dead forecastd.dead-lettered; do
  members=$(rabbitmq-queues -q -n "$first" quorum_status "$queue" --formatter json | grep -o '"Node Name"' | wc -l)
  if [ "$members" -ne "$count" ]; then
    echo "quorum queue $queue has $members members, want $count" >&2
    exit 1
  fi
  echo "quorum queue $queue: $members members"
done
