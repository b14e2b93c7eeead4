#!/usr/bin/env bash
# Brings up HAProxy in front of two fiberauth instances on one machine, on
# PostgreSQL and Redis, configured as in production, then either waits (Ctrl-C stops
# everything) or runs the command given, with the stack's addresses in its
# environment, and stops everything when it ends:
#
#   deploy/run-local.sh                              # try it: curl the URL it prints
#   deploy/run-local.sh go run ./deploy/loadcheck    # what deploy/test-local.sh does
#
# Each instance runs under a small supervisor that starts it again RESTART_DELAY
# after it stops (as systemd would), so a test can stop one and see it come back.
# Everything it starts is stopped on exit, whatever the exit; the database it made
# is dropped.
#
# Needs: haproxy (Debian's package: installed if missing and apt-get is here),
# psql, go, python3 (for free ports); PostgreSQL at TEST_POSTGRES_URL and Redis at
# TEST_REDIS_URL (the same variables the Go tests read).
set -euo pipefail
cd "$(dirname "$0")/.."

PG_URL="${TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}"
export REDIS_URL="${TEST_REDIS_URL:-redis://127.0.0.1:6379/5}"
RESTART_DELAY="${RESTART_DELAY:-3}"

if ! command -v haproxy >/dev/null; then
  if command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy >/dev/null
  else
    echo "run-local: haproxy is not installed" >&2; exit 1
  fi
fi

RUN_DIR="$(mktemp -d "${TMPDIR:-/tmp}/fiberauth-deploy.XXXXXX")"
export RUN_DIR
DB_NAME="fiberauth_deploy_$$"
SUPERVISORS=()
HAPROXY_PID=""
DB_MADE=""

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  touch "$RUN_DIR/stopping"
  # The instances first (they drain), then their supervisors, then HAProxy.
  for f in "$RUN_DIR"/app*.pid; do
    [ -e "$f" ] && kill -TERM "$(cat "$f")" 2>/dev/null || true
  done
  for p in "${SUPERVISORS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  [ -n "$HAPROXY_PID" ] && kill -TERM "$HAPROXY_PID" 2>/dev/null || true
  # Whatever has not stopped within 6 s is killed.
  for _ in $(seq 60); do
    alive=""
    for f in "$RUN_DIR"/app*.pid; do
      [ -e "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null && alive=1
    done
    [ -n "$HAPROXY_PID" ] && kill -0 "$HAPROXY_PID" 2>/dev/null && alive=1
    [ -z "$alive" ] && break
    sleep 0.1
  done
  for f in "$RUN_DIR"/app*.pid; do
    [ -e "$f" ] && kill -KILL "$(cat "$f")" 2>/dev/null || true
  done
  [ -n "$HAPROXY_PID" ] && kill -KILL "$HAPROXY_PID" 2>/dev/null || true
  for p in "${SUPERVISORS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ -n "$DB_MADE" ]; then
    psql -q "$PG_URL" -c "DROP DATABASE IF EXISTS $DB_NAME WITH (FORCE)" >/dev/null 2>&1 || true
  fi
  if [ "$rc" -ne 0 ]; then
    for log in "$RUN_DIR"/*.log; do
      [ -e "$log" ] && { echo "--- last lines of $log"; tail -n 15 "$log"; }
    done
  fi
  rm -rf "$RUN_DIR"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
FRONT_PORT=$(free_port); STATS_PORT=$(free_port); APP1_PORT=$(free_port); APP2_PORT=$(free_port)
export FRONT_ADDR="127.0.0.1:$FRONT_PORT" STATS_ADDR="127.0.0.1:$STATS_PORT"
export APP1_ADDR="127.0.0.1:$APP1_PORT" APP2_ADDR="127.0.0.1:$APP2_PORT"
export FRONT_URL="http://$FRONT_ADDR" STATS_URL="http://$STATS_ADDR/stats;csv"

# A database of its own, so that nothing else's tables or migrations are in the way.
psql -q "$PG_URL" -c "CREATE DATABASE $DB_NAME" >/dev/null
DB_MADE=1

# Production settings: what these instances share (database, Redis, SECRETS_KEY),
# and the balancer as the one trusted proxy.
export APP_ENV=production
export DATABASE_URL="$(echo "$PG_URL" | sed -E "s#^([a-z]+://[^/]+)/[^?]*#\1/$DB_NAME#")"
export PUBLIC_URL="http://localhost:$FRONT_PORT" # localhost may be http in production
export SECRETS_KEY="$(head -c 32 /dev/urandom | base64)"
export TRUSTED_PROXIES=127.0.0.1/32
export BCRYPT_COST=10 LOGIN_MAX_FAILURES="${LOGIN_MAX_FAILURES:-3}" LOGIN_FAILURE_WINDOW=5m
export RATE_LIMIT_MAX=1000000 RATE_LIMIT_WINDOW=1m SHUTDOWN_TIMEOUT=5s LOG_LEVEL=warn
export ALLOW_REGISTRATION=false

echo "run-local: building"
go build -o "$RUN_DIR/fiberauth" ./app

# One user to log in as, made with the admin CLI (password on stdin).
export DEPLOY_USER="deploy$$" DEPLOY_PASSWORD="$(head -c 18 /dev/urandom | base64 | tr -d '/+=')"
printf '%s\n' "$DEPLOY_PASSWORD" | "$RUN_DIR/fiberauth" users create --username "$DEPLOY_USER" >/dev/null

supervise() { # name addr: run the instance, and again RESTART_DELAY after it stops
  local name=$1 addr=$2
  while [ ! -e "$RUN_DIR/stopping" ]; do
    ADDR="$addr" "$RUN_DIR/fiberauth" >>"$RUN_DIR/$name.log" 2>&1 &
    echo $! >"$RUN_DIR/$name.pid"
    wait $! || true
    echo "$(date +%T.%N) $name stopped" >>"$RUN_DIR/$name.log"
    [ -e "$RUN_DIR/stopping" ] && break
    sleep "$RESTART_DELAY"
  done
}
supervise app1 "$APP1_ADDR" 2>/dev/null & SUPERVISORS+=($!) # no "Killed" notices
supervise app2 "$APP2_ADDR" 2>/dev/null & SUPERVISORS+=($!)

haproxy -W -db -f deploy/haproxy.cfg >>"$RUN_DIR/haproxy.log" 2>&1 &
HAPROXY_PID=$!

# Ready when HAProxy reports both instances UP (its health checks pass).
for i in $(seq 100); do
  ups=$(curl -fsS "$STATS_URL" 2>/dev/null | grep -c '^fiberauth,app[12],.*,UP' || true)
  [ "$ups" = 2 ] && break
  [ "$i" = 100 ] && { echo "run-local: the instances never came up" >&2; exit 1; }
  sleep 0.1
done
echo "run-local: $FRONT_URL -> app1 $APP1_ADDR, app2 $APP2_ADDR (stats: $STATS_URL); user $DEPLOY_USER"

if [ $# -gt 0 ]; then
  "$@"
else
  echo "run-local: Ctrl-C stops everything (password of $DEPLOY_USER: $DEPLOY_PASSWORD)"
  while true; do sleep 3600; done
fi
