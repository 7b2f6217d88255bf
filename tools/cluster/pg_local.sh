#!/bin/sh
# pg_local.sh start|stop|url DIR [PORT]: a throwaway PostgreSQL 15 server in DIR
# (initdb on first start), listening on a unix socket in DIR (and on
# 127.0.0.1:PORT when PORT is given), trust authentication, fsync off.
# Used by the tests (a ctest fixture) and by `make cluster`.
#
# PostgreSQL refuses to run as root: as root, the server runs as the
# `postgres` user (runuser) and DIR is handed to it. `start` prints the
# connection URI (database "postgres") and writes it to DIR/url; it exits 3
# with a message when PostgreSQL is not installed.
set -eu
cmd=${1:?usage: pg_local.sh start|stop|url DIR [PORT]}
dir=${2:?usage: pg_local.sh start|stop|url DIR [PORT]}
port=${3:-}
bin=${PG_BIN:-/usr/lib/postgresql/15/bin}

as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "$cmd" in
start)
  rm -f "$dir/url"
  if [ ! -x "$bin/initdb" ] || [ ! -x "$bin/pg_ctl" ]; then
    echo "pg_local.sh: PostgreSQL binaries not found in $bin (apt-get install postgresql)" >&2
    exit 3
  fi
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  [ "$(id -u)" = 0 ] && chown postgres "$dir"
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    as_pg "$bin/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 --locale=C >"$dir/initdb.log" 2>&1 ||
      { cat "$dir/initdb.log" >&2; exit 1; }
  fi
  # A server left over from a killed run is stopped first.
  as_pg "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1 && as_pg "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
  listen="''"
  [ -n "$port" ] && listen=127.0.0.1
  as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-k $dir -c listen_addresses=$listen ${port:+-p $port} -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
    start >/dev/null || { cat "$dir/server.log" >&2; exit 1; }
  sock_port=${port:-5432}
  if [ -n "$port" ]; then
    url="postgresql://postgres@127.0.0.1:$port/postgres"
  else
    url="postgresql://postgres@/postgres?host=$dir&port=$sock_port"
  fi
  echo "$url" >"$dir/url"
  echo "$url"
  ;;
stop)
  [ -d "$dir/data" ] || exit 0
  as_pg "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
  ;;
url)
  cat "$dir/url"
  ;;
*)
  echo "usage: pg_local.sh start|stop|url DIR [PORT]" >&2
  exit 2
  ;;
esac
