#!/usr/bin/env bash
# Start throwaway PostgreSQL and Redis servers on loopback and print the env to use them.
# Usage: eval "$(scripts/services.sh start DIR)"   |   scripts/services.sh stop DIR
# TANDEM_PG_OPTIONS adds server settings (benchmarks: "-c shared_buffers=2GB").
set -euo pipefail

cmd=${1:?start|stop}
dir=${2:?state directory}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

pg_bin() {
  local b
  # Resolve symlinks: /usr/local/bin may hold initdb and pg_ctl but not createdb.
  for b in "$(dirname "$(readlink -f "$(command -v initdb 2>/dev/null || echo /nonexistent/x)")")" \
      /usr/lib/postgresql/*/bin; do
    [ -x "$b/initdb" ] && [ -x "$b/pg_ctl" ] && [ -x "$b/createdb" ] && { echo "$b"; return; }
  done
  return 1
}

if [ "$cmd" = start ]; then
  mkdir -p "$dir"
  chmod 755 "$dir"  # the postgres user must reach its data directory inside
  bin=$(pg_bin)
  id postgres >/dev/null 2>&1 || useradd --system --home-dir "$dir" postgres
  pg_port=$(free_port)
  mkdir -p "$dir/pg"
  chown -R postgres "$dir/pg"
  runuser -u postgres -- "$bin/initdb" -D "$dir/pg/data" -U postgres -A trust --no-sync >"$dir/initdb.log" 2>&1
  runuser -u postgres -- "$bin/pg_ctl" -D "$dir/pg/data" -l "$dir/pg/server.log" -w -o \
    "-p $pg_port -k $dir/pg -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200 ${TANDEM_PG_OPTIONS:-}" \
    start >/dev/null
  runuser -u postgres -- "$bin/createdb" -h 127.0.0.1 -p "$pg_port" -U postgres tandem
  redis_port=$(free_port)
  redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no \
    --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" --dir "$dir"
  for _ in $(seq 50); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done
  echo "$pg_port" >"$dir/pg_port"; echo "$redis_port" >"$dir/redis_port"
  echo "export DATABASE_URL=postgres://postgres@127.0.0.1:$pg_port/tandem"
  echo "export REDIS_URL=redis://127.0.0.1:$redis_port/0"
  echo "export TANDEM_REDIS_PORT=$redis_port"
  echo "export TANDEM_SERVICES_DIR=$dir"
elif [ "$cmd" = stop ]; then
  bin=$(pg_bin || true)
  if [ -n "$bin" ] && [ -d "$dir/pg/data" ]; then
    runuser -u postgres -- "$bin/pg_ctl" -D "$dir/pg/data" -m immediate stop >/dev/null 2>&1 || true
  fi
  [ -f "$dir/redis.pid" ] && kill "$(cat "$dir/redis.pid")" 2>/dev/null || true
  rm -rf "$dir"
fi
