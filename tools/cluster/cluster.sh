#!/bin/sh
# cluster.sh: a local chunkserve cluster on loopback, for trying scale-out
# and for the tests (tests/cluster/):
#   PostgreSQL (the shared store, tools/cluster/pg_local.sh), Redis (the
#   shared chunk-KV tier, maxmemory-policy allkeys-lru), N `chunkserve serve`
#   replicas on both, and HAProxy in front (tools/cluster/haproxy.cfg:
#   consistent hashing on X-Chunkserve-Affinity, health checks on /health).
#
#   cluster.sh up MODEL.gguf   start everything, print the URLs
#   cluster.sh down            stop everything (data stays in DIR)
#   cluster.sh status          which processes run
#
# Environment: CLUSTER_DIR (default /tmp/chunkserve-cluster), REPLICAS
# (2 or 3, default 3), BASE_PORT (default 18100: balancer BASE_PORT,
# replicas BASE_PORT+1.., PostgreSQL BASE_PORT+10, Redis BASE_PORT+11),
# CHUNKSERVE (default build/chunkserve), THREADS per replica (default 1),
# REDIS_MAXMEMORY (default 1gb), SERVE_ARGS (more `serve` flags).
# DIR/env holds the URLs as shell variables after `up`.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
dir=${CLUSTER_DIR:-/tmp/chunkserve-cluster}
replicas=${REPLICAS:-3}
base=${BASE_PORT:-18100}
chunkserve=${CHUNKSERVE:-$repo/build/chunkserve}
threads=${THREADS:-1}
pg_port=$((base + 10))
redis_port=$((base + 11))

die() { echo "cluster.sh: $*" >&2; exit 1; }

# (sh has no local variables: helpers use names of their own.)
wait_http() {  # URL SECONDS: until it answers 200
  wait_n=0
  while [ "$wait_n" -lt $(($2 * 10)) ]; do
    curl -fs -o /dev/null --max-time 1 "$1" && return 0
    sleep 0.1
    wait_n=$((wait_n + 1))
  done
  return 1
}

stop_pidfile() {  # FILE: SIGTERM, then SIGKILL after 5 s
  [ -f "$1" ] || return 0
  stop_pid=$(cat "$1")
  if kill "$stop_pid" 2>/dev/null; then
    stop_n=0
    while kill -0 "$stop_pid" 2>/dev/null && [ "$stop_n" -lt 50 ]; do sleep 0.1; stop_n=$((stop_n + 1)); done
    kill -9 "$stop_pid" 2>/dev/null || true
  fi
  rm -f "$1"
}

down() {
  stop_pidfile "$dir/haproxy.pid"
  for f in "$dir"/replica-*.pid; do [ -e "$f" ] && stop_pidfile "$f"; done
  stop_pidfile "$dir/redis.pid"
  # A Redis whose pid file went missing still answers on its port.
  redis-cli -h 127.0.0.1 -p "$redis_port" shutdown nosave >/dev/null 2>&1 || true
  "$here/pg_local.sh" stop "$dir/pg"
}

up() {
  model=${1:-}
  [ -n "$model" ] || die "usage: cluster.sh up MODEL.gguf (make cluster MODEL=M.gguf)"
  [ -f "$model" ] || die "no model file '$model'"
  model=$(cd "$(dirname "$model")" && pwd)/$(basename "$model")
  [ -x "$chunkserve" ] || die "no chunkserve binary at $chunkserve (make build, or set CHUNKSERVE)"
  command -v redis-server >/dev/null || die "redis-server is not installed (apt-get install redis-server)"
  command -v haproxy >/dev/null || die "haproxy is not installed (apt-get install haproxy)"
  case "$replicas" in 2|3) ;; *) die "REPLICAS must be 2 or 3" ;; esac
  mkdir -p "$dir"
  down >/dev/null 2>&1 || true

  pg_url=$("$here/pg_local.sh" start "$dir/pg" "$pg_port") || die "PostgreSQL did not start (see $dir/pg/server.log)"
  redis_url="redis://127.0.0.1:$redis_port"
  redis-server --bind 127.0.0.1 --port "$redis_port" --save "" --appendonly no \
    --maxmemory "${REDIS_MAXMEMORY:-1gb}" --maxmemory-policy allkeys-lru \
    --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" --dir "$dir" ||
    die "Redis did not start (see $dir/redis.log)"
  wait_n=0  # daemonized: it may still fail to bind (port taken)
  until [ "$(redis-cli -h 127.0.0.1 -p "$redis_port" ping 2>/dev/null)" = PONG ] && [ -f "$dir/redis.pid" ]; do
    [ "$wait_n" -lt 100 ] || die "Redis does not answer on port $redis_port (see $dir/redis.log)"
    sleep 0.1
    wait_n=$((wait_n + 1))
  done

  i=1
  while [ "$i" -le "$replicas" ]; do
    port=$((base + i))
    # setsid: a replica outlives this script; its pid is the serve process.
    # shellcheck disable=SC2086
    setsid "$chunkserve" serve -m "$model" --db "$pg_url" --chunk-kv "$redis_url" --host 127.0.0.1 \
      --port "$port" --model-id "replica-$i" --threads "$threads" ${SERVE_ARGS:-} \
      >"$dir/replica-$i.log" 2>&1 </dev/null &
    echo $! >"$dir/replica-$i.pid"
    i=$((i + 1))
  done
  i=1
  while [ "$i" -le "$replicas" ]; do
    wait_http "http://127.0.0.1:$((base + i))/health" 120 ||
      die "replica $i did not become healthy (see $dir/replica-$i.log)"
    i=$((i + 1))
  done

  CS_LB_BIND=127.0.0.1:$base CS_REPLICA1=127.0.0.1:$((base + 1)) CS_REPLICA2=127.0.0.1:$((base + 2))
  export CS_LB_BIND CS_REPLICA1 CS_REPLICA2
  if [ "$replicas" = 3 ]; then CS_REPLICA3=127.0.0.1:$((base + 3)); export CS_REPLICA3; fi
  haproxy -D -p "$dir/haproxy.pid" -f "$here/haproxy.cfg" 2>"$dir/haproxy.log" || die "HAProxy did not start (see $dir/haproxy.log)"
  wait_http "http://127.0.0.1:$base/health" 30 || die "the balancer does not answer (see $dir/haproxy.log)"

  {
    echo "CS_LB_URL=http://127.0.0.1:$base"
    echo "CS_PG_URL='$pg_url'"
    echo "CS_REDIS_URL=$redis_url"
    i=1
    while [ "$i" -le "$replicas" ]; do echo "CS_REPLICA${i}_URL=http://127.0.0.1:$((base + i))"; i=$((i + 1)); done
  } >"$dir/env"
  echo "chunkserve cluster up ($replicas replicas of $(basename "$model"), logs in $dir):"
  echo "  balancer:   http://127.0.0.1:$base   (header X-Chunkserve-Affinity: <collection> keeps a collection on one replica)"
  i=1
  while [ "$i" -le "$replicas" ]; do echo "  replica $i:  http://127.0.0.1:$((base + i))"; i=$((i + 1)); done
  echo "  PostgreSQL: $pg_url"
  echo "  Redis:      $redis_url"
  echo "ingest with: $chunkserve ingest DOCS --db '$pg_url' --collection NAME"
  echo "stop with:   make cluster-down   (or $0 down)"
}

status() {
  for f in "$dir"/haproxy.pid "$dir"/replica-*.pid "$dir"/redis.pid "$dir"/pg/data/postmaster.pid; do
    [ -f "$f" ] || continue
    pid=$(head -1 "$f")
    if kill -0 "$pid" 2>/dev/null; then echo "running  $(basename "$f" .pid) (pid $pid)"; else echo "stopped  $(basename "$f" .pid)"; fi
  done
}

case "${1:-}" in
up) shift; up "$@" ;;
down) down; echo "chunkserve cluster down" ;;
status) status ;;
*) die "usage: cluster.sh up MODEL.gguf | down | status" ;;
esac
