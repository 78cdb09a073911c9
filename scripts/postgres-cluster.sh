# shellcheck shell=bash
# Source this file, then `start_pg` starts a throwaway PostgreSQL 15 cluster on a free loopback port (as the
# `postgres` user when run as root) and exports PG_URL, PG_DATA_DIR, PG_BIN, PG_PORT, PG_CTL_AS (the command
# prefix to run pg_ctl as the cluster's owner); `stop_pg` stops it by its PID and removes it.
# Used by .ci/run, scripts/with-postgres.sh (benchmarks, fault tests).

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}

start_pg () {
  if [ ! -x "$PG_BIN/initdb" ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-15 >/dev/null
  fi
  PG_ROOT=$(mktemp -d /tmp/inboxgate-pg.XXXXXX)
  if [ "$(id -u)" = 0 ]; then
    chown postgres "$PG_ROOT"
    PG_CTL_AS="runuser -u postgres --"
  else
    PG_CTL_AS=""
  fi
  PG_PORT=$(node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")
  PG_DATA_DIR="$PG_ROOT/data"
  $PG_CTL_AS "$PG_BIN/initdb" -D "$PG_DATA_DIR" -U postgres --auth=trust >/dev/null
  $PG_CTL_AS "$PG_BIN/pg_ctl" -D "$PG_DATA_DIR" -l "$PG_ROOT/log" \
    -o "-p $PG_PORT -k $PG_ROOT -c listen_addresses=127.0.0.1 -c max_connections=200" -w start >/dev/null
  PG_PID=$(head -1 "$PG_DATA_DIR/postmaster.pid")
  PG_URL="postgresql://postgres@127.0.0.1:$PG_PORT/postgres"
  export PG_URL PG_DATA_DIR PG_BIN PG_PORT PG_CTL_AS PG_ROOT
  echo "PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') on port $PG_PORT (pid $PG_PID, data $PG_DATA_DIR)"
}

stop_pg () {
  [ -n "${PG_DATA_DIR:-}" ] || return 0
  # The postmaster may have been restarted (fault tests): read its current PID.
  local pid
  pid=$(head -1 "$PG_DATA_DIR/postmaster.pid" 2>/dev/null || echo "${PG_PID:-}")
  if [ -n "$pid" ]; then
    kill -INT "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  fi
  rm -rf "$PG_ROOT"
  PG_DATA_DIR=
}
