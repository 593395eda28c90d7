#!/usr/bin/env bash
# A three-node Redis Cluster on loopback ports, for the Redis store's cluster tests (CI and local):
#   scripts/redis-cluster.sh start   starts it unless it already answers with cluster_state:ok
#   scripts/redis-cluster.sh stop    shuts the nodes down and removes their folder
# Prints the node list the tests read as MEMBERCARD_TEST_REDIS_CLUSTER (host:port,host:port,…).
# Ports: MEMBERCARD_REDIS_CLUSTER_PORTS (default "7101 7102 7103"). Nothing is kept on disk.
set -euo pipefail
PORTS=(${MEMBERCARD_REDIS_CLUSTER_PORTS:-7101 7102 7103})
DIR="${TMPDIR:-/tmp}/membercard-redis-cluster"
NODES=$(printf '127.0.0.1:%s,' "${PORTS[@]}")
NODES="${NODES%,}"

healthy() {
  redis-cli -h 127.0.0.1 -p "${PORTS[0]}" cluster info 2>/dev/null | grep -q '^cluster_state:ok'
}

case "${1:-start}" in
  start)
    if healthy; then
      echo "$NODES"
      exit 0
    fi
    for port in "${PORTS[@]}"; do
      redis-cli -h 127.0.0.1 -p "$port" shutdown nosave >/dev/null 2>&1 || true
    done
    rm -rf "$DIR"
    for port in "${PORTS[@]}"; do
      mkdir -p "$DIR/$port"
      redis-server --port "$port" --bind 127.0.0.1 --cluster-enabled yes \
        --cluster-config-file "$DIR/$port/nodes.conf" --cluster-node-timeout 2000 \
        --save "" --appendonly no --dir "$DIR/$port" --logfile "$DIR/$port/redis.log" --daemonize yes
    done
    for port in "${PORTS[@]}"; do
      for _ in $(seq 1 50); do redis-cli -h 127.0.0.1 -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
    done
    redis-cli --cluster create $(printf '127.0.0.1:%s ' "${PORTS[@]}") --cluster-replicas 0 --cluster-yes >/dev/null
    for _ in $(seq 1 100); do healthy && break; sleep 0.1; done
    healthy || { echo "the Redis Cluster did not come up (logs in $DIR)" >&2; exit 1; }
    echo "$NODES"
    ;;
  stop)
    for port in "${PORTS[@]}"; do
      redis-cli -h 127.0.0.1 -p "$port" shutdown nosave >/dev/null 2>&1 || true
    done
    rm -rf "$DIR"
    ;;
  *)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
