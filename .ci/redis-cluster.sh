#!/usr/bin/env bash
# A throw-away local Redis Cluster for the store tests: six redis-server
# processes on 127.0.0.1 (three primaries, three replicas), no persistence,
# data in a temporary directory.
#
#   .ci/redis-cluster.sh start    start (or restart) the nodes, create the
#                                 cluster once, wait for cluster_state:ok
#   .ci/redis-cluster.sh stop     shut every node down, remove the data
#   .ci/redis-cluster.sh status   exit 0 when every node is up and ok
#
# Every command is idempotent. Ports: REDIS_CLUSTER_PORTS (default
# "7000 7001 7002 7003 7004 7005"); data: REDIS_CLUSTER_DIR (default
# $TMPDIR/sessionkit-redis-cluster). The tests find the cluster through
# REDIS_CLUSTER_NODES (default redis://127.0.0.1:7000,...,:7005).
set -euo pipefail

read -r -a PORTS <<<"${REDIS_CLUSTER_PORTS:-7000 7001 7002 7003 7004 7005}"
DIR="${REDIS_CLUSTER_DIR:-${TMPDIR:-/tmp}/sessionkit-redis-cluster}"

cli() { redis-cli -h 127.0.0.1 -p "$1" "${@:2}"; }
up() { cli "$1" ping >/dev/null 2>&1; }
info_field() { cli "$1" cluster info 2>/dev/null | tr -d '\r' | sed -n "s/^$2://p"; }

start_node() {
    local port=$1
    up "$port" && return 0
    mkdir -p "$DIR/$port"
    # A short node timeout makes failovers in the tests quick; a validity
    # factor of 0 lets a replica take over however long it was cut off.
    redis-server --port "$port" --bind 127.0.0.1 --daemonize yes \
        --dir "$DIR/$port" --pidfile "$DIR/$port/redis.pid" \
        --logfile "$DIR/$port/redis.log" \
        --cluster-enabled yes --cluster-config-file nodes.conf \
        --cluster-node-timeout 2000 --cluster-replica-validity-factor 0 \
        --save "" --appendonly no --enable-debug-command local
}

all_ok() {
    local port
    for port in "${PORTS[@]}"; do
        [ "$(info_field "$port" cluster_state)" = ok ] || return 1
        [ "$(info_field "$port" cluster_known_nodes)" = "${#PORTS[@]}" ] || return 1
    done
    redis-cli --cluster check "127.0.0.1:${PORTS[0]}" >/dev/null 2>&1
}

status() {
    local port
    for port in "${PORTS[@]}"; do
        if up "$port"; then
            echo "127.0.0.1:$port $(cli "$port" role | head -1) cluster_state:$(info_field "$port" cluster_state)"
        else
            echo "127.0.0.1:$port down"
        fi
    done
    all_ok
}

start() {
    command -v redis-server >/dev/null || { echo "redis-server is not installed" >&2; exit 1; }
    local port
    for port in "${PORTS[@]}"; do start_node "$port"; done
    for port in "${PORTS[@]}"; do
        for _ in $(seq 1 50); do up "$port" && break; sleep 0.1; done
        up "$port" || { echo "node $port does not answer" >&2; exit 1; }
    done
    # Create the cluster once: when no node knows another yet.
    if [ "$(info_field "${PORTS[0]}" cluster_known_nodes)" = 1 ] \
        && [ "$(info_field "${PORTS[0]}" cluster_slots_assigned)" = 0 ]; then
        local nodes=()
        for port in "${PORTS[@]}"; do nodes+=("127.0.0.1:$port"); done
        redis-cli --cluster create "${nodes[@]}" --cluster-replicas 1 --cluster-yes >/dev/null
    fi
    for _ in $(seq 1 120); do
        all_ok && { echo "redis cluster ok on 127.0.0.1:${PORTS[0]}-${PORTS[-1]}"; return 0; }
        sleep 0.5
    done
    # A slot left open by an interrupted migration: close it.
    redis-cli --cluster fix "127.0.0.1:${PORTS[0]}" --cluster-yes >/dev/null 2>&1 || true
    for _ in $(seq 1 60); do
        all_ok && { echo "redis cluster ok on 127.0.0.1:${PORTS[0]}-${PORTS[-1]}"; return 0; }
        sleep 0.5
    done
    status >&2 || true
    echo "the redis cluster did not reach cluster_state:ok" >&2
    exit 1
}

stop() {
    local port
    for port in "${PORTS[@]}"; do
        if up "$port"; then
            cli "$port" shutdown nosave >/dev/null 2>&1 || true
        elif [ -f "$DIR/$port/redis.pid" ]; then
            kill "$(cat "$DIR/$port/redis.pid")" 2>/dev/null || true
        fi
    done
    for port in "${PORTS[@]}"; do
        for _ in $(seq 1 50); do up "$port" || break; sleep 0.1; done
    done
    rm -rf "$DIR"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
