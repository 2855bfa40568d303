#!/usr/bin/env bash
# Copied from the project's shared oracle tool (octavia-oracle/start.sh) so the
# differential harness (test/oracle) runs without /work/shared.
# Start a loopback-only OpenStack Octavia 11.0.0 API (Debian bookworm
# packages) as a behavioural/performance oracle.  Idempotent: installs what
# is missing, renders configs, starts only what is not already running.
#
# Environment (all optional):
#   OCTAVIA_ORACLE_STATE   state dir           (default /tmp/octavia-oracle)
#   OCTAVIA_ORACLE_MODE    full | noop         (default full)
#       full: providers "amphora" (default) + "noop_driver"; octavia-worker
#             with noop compute/network/amphora drivers + a private RabbitMQ
#             move objects PENDING_* -> ACTIVE like a real deployment.
#       noop: provider "noop_driver" only; no RabbitMQ, no worker; objects
#             stay PENDING_CREATE forever (see README).
#   OCTAVIA_ORACLE_AUTH    noauth | testing    (default noauth)
#   OCTAVIA_ORACLE_PORT    API port on 127.0.0.1 (default 9876)
#   OCTAVIA_ORACLE_AMQP_PORT  RabbitMQ port on 127.0.0.1 (default 35672)
#   OCTAVIA_ORACLE_API_WORKERS gunicorn sync workers (default 2)
#   OCTAVIA_ORACLE_RESET   1 = drop and re-create the octavia database
#   OCTAVIA_ORACLE_EPMD_PORT  Erlang port mapper on 127.0.0.1 (default 34369)
#
# Octavia 11.0.0's worker leaves the children of a single-call graph create
# PENDING_CREATE for ever (upstream bug, fixed in 12.0.0); the differential
# harness lists that as an Octavia defect.
#
# Prints "<name> pid <PID>" lines; PID files live in $STATE/run.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
STATE="${OCTAVIA_ORACLE_STATE:-/tmp/octavia-oracle}"
MODE="${OCTAVIA_ORACLE_MODE:-full}"
AUTH="${OCTAVIA_ORACLE_AUTH:-noauth}"
PORT="${OCTAVIA_ORACLE_PORT:-9876}"
AMQP_PORT="${OCTAVIA_ORACLE_AMQP_PORT:-35672}"
DIST_PORT=$((AMQP_PORT + 1))
EPMD_PORT="${OCTAVIA_ORACLE_EPMD_PORT:-34369}"
API_WORKERS="${OCTAVIA_ORACLE_API_WORKERS:-2}"
RESET="${OCTAVIA_ORACLE_RESET:-0}"

case "$MODE" in full|noop) ;; *) echo "bad OCTAVIA_ORACLE_MODE=$MODE" >&2; exit 2;; esac
case "$AUTH" in noauth|testing) ;; *) echo "bad OCTAVIA_ORACLE_AUTH=$AUTH" >&2; exit 2;; esac

RUN="$STATE/run"; LOG="$STATE/log"
mkdir -p "$STATE" "$RUN" "$LOG" "$STATE/certs"

log() { echo "[octavia-oracle] $*" >&2; }

# ---------------------------------------------------------------- packages
PKGS=(octavia-api python3-octavia python3-pymysql mariadb-server mariadb-client openssl curl iproute2)
if [ "$MODE" = full ]; then PKGS+=(rabbitmq-server); fi
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing: ${missing[*]}"
  # Never let package maintainer scripts start system-wide services
  # (rabbitmq-server would otherwise listen on all interfaces).
  made_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d; made_policy=1
  fi
  ok=0
  for i in $(seq 1 36); do   # dpkg lock held by someone else: wait up to ~6 min
    if DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" > "$LOG/apt.log" 2>&1; then ok=1; break; fi
    if grep -qE 'Could not get lock|Unable to acquire the dpkg' "$LOG/apt.log"; then sleep 10; continue; fi
    if grep -qE 'Unable to locate package|has no installation candidate' "$LOG/apt.log"; then
      apt-get update > "$LOG/apt-update.log" 2>&1 || true; sleep 2; continue
    fi
    break
  done
  if [ "$made_policy" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
  if [ "$ok" != 1 ]; then log "apt-get install failed, see $LOG/apt.log"; tail -20 "$LOG/apt.log" >&2; exit 1; fi
fi

# ---------------------------------------------------------------- helpers
# alive PIDFILE TOKEN: PID in file is running and its cmdline contains TOKEN
alive() {
  local f="$1" tok="$2" pid
  [ -s "$f" ] || return 1
  pid="$(tr -dc '0-9' < "$f")"; [ -n "$pid" ] || return 1
  [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' ' ' < "/proc/$pid/cmdline" | grep -q -- "$tok"
}
pidof_file() { tr -dc '0-9' < "$1"; }
wait_for() { # wait_for SECONDS CMD...
  local t="$1"; shift; local end=$((SECONDS + t))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -ge $end ] && return 1; sleep 0.3
  done
}
tcp_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

render() { # render SRC DST
  sed -e "s#@STATE@#$STATE#g" -e "s#@PORT@#$PORT#g" -e "s#@AUTH@#$AUTH#g" \
      -e "s#@AMQP_PORT@#$AMQP_PORT#g" -e "s#@PROVIDERS@#$PROVIDERS#g" \
      -e "s#@DEFAULT_PROVIDER@#$DEFAULT_PROVIDER#g" "$1" > "$2.tmp"
  mv "$2.tmp" "$2"
}

if [ "$MODE" = full ]; then
  PROVIDERS='amphora:The Octavia Amphora driver (noop compute/network/amphora backends).,noop_driver:The No-Op driver.'
  DEFAULT_PROVIDER=amphora
else
  PROVIDERS='noop_driver:The No-Op driver.'
  DEFAULT_PROVIDER=noop_driver
fi
CONF="$STATE/octavia.conf"
render "$HERE/conf/octavia.conf.in" "$CONF.new"
if [ -f "$CONF" ] && ! cmp -s "$CONF" "$CONF.new" && \
   { alive "$RUN/api.pid" gunicorn || alive "$RUN/worker.pid" worker; }; then
  rm -f "$CONF.new"
  log "settings changed (mode/auth/port) while the oracle is running: run stop.sh first"
  exit 3
fi
mv "$CONF.new" "$CONF"
render "$HERE/conf/my.cnf.in" "$STATE/my.cnf"
echo "$MODE" > "$STATE/mode"

# CA for the worker's local cert generator (amphora server certs)
if [ ! -s "$STATE/certs/ca.pem" ] || [ ! -s "$STATE/certs/ca.key" ]; then
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$STATE/certs/ca.key" \
    -out "$STATE/certs/ca.pem" -days 3650 -subj /CN=octavia-oracle-ca > /dev/null 2>&1
fi

# ---------------------------------------------------------------- MariaDB
MYCNF="$STATE/my.cnf"
if [ ! -d "$STATE/mysql/mysql" ]; then
  log "initialising MariaDB datadir"
  mkdir -p "$STATE/mysql"
  mariadb-install-db --defaults-file="$MYCNF" --auth-root-authentication-method=socket \
    --skip-test-db > "$LOG/mariadb-install-db.log" 2>&1
fi
if ! alive "$RUN/mysqld.pid" mariadbd; then
  rm -f "$RUN/mysqld.sock"
  log "starting mariadbd (unix socket only)"
  setsid nohup /usr/sbin/mariadbd --defaults-file="$MYCNF" > "$LOG/mysqld.out" 2>&1 < /dev/null &
  echo $! > "$RUN/mysqld.pid"
fi
wait_for 60 mariadb-admin --defaults-file="$MYCNF" -uroot ping || { log "mariadbd did not come up"; exit 1; }
if [ "$RESET" = 1 ]; then
  if alive "$RUN/api.pid" gunicorn || alive "$RUN/worker.pid" worker; then
    log "OCTAVIA_ORACLE_RESET=1 while the API/worker run: run stop.sh first"; exit 3
  fi
  log "dropping octavia database (OCTAVIA_ORACLE_RESET=1)"
  mariadb --defaults-file="$MYCNF" -uroot -e "DROP DATABASE IF EXISTS octavia;"
fi
mariadb --defaults-file="$MYCNF" -uroot -e "CREATE DATABASE IF NOT EXISTS octavia CHARACTER SET utf8mb4; CREATE USER IF NOT EXISTS 'octavia'@'localhost' IDENTIFIED BY 'octavia'; GRANT ALL ON octavia.* TO 'octavia'@'localhost';"
octavia-db-manage --config-file "$CONF" upgrade head > "$LOG/db-manage.log" 2>&1 || { log "db upgrade failed"; tail -20 "$LOG/db-manage.log" >&2; exit 1; }

# ---------------------------------------------------------------- RabbitMQ + worker (mode full)
if [ "$MODE" = full ]; then
  mkdir -p "$STATE/rabbit/home" "$STATE/rabbit/mnesia" "$STATE/rabbit/log"
  render "$HERE/conf/rabbitmq.conf.in" "$STATE/rabbit/rabbitmq.conf"
  if [ ! -f "$STATE/rabbit/enabled_plugins" ]; then echo '[].' > "$STATE/rabbit/enabled_plugins"; fi
  : > "$STATE/rabbit/rabbitmq-env.conf"
  if ! alive "$RUN/rabbit.pid" beam.smp; then
    log "starting RabbitMQ on 127.0.0.1:$AMQP_PORT (dist $DIST_PORT, epmd $EPMD_PORT, loopback only)"
    rm -f "$RUN/rabbit.pid"
    ( export HOME="$STATE/rabbit/home" RABBITMQ_HOME=/usr/lib/rabbitmq \
        RABBITMQ_CONFIG_FILE="$STATE/rabbit/rabbitmq.conf" \
        RABBITMQ_CONF_ENV_FILE="$STATE/rabbit/rabbitmq-env.conf" \
        RABBITMQ_ENABLED_PLUGINS_FILE="$STATE/rabbit/enabled_plugins" \
        RABBITMQ_MNESIA_BASE="$STATE/rabbit/mnesia" RABBITMQ_LOG_BASE="$STATE/rabbit/log" \
        RABBITMQ_NODENAME=octoracle@localhost RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 \
        RABBITMQ_NODE_PORT="$AMQP_PORT" RABBITMQ_DIST_PORT="$DIST_PORT" \
        ERL_EPMD_ADDRESS=127.0.0.1 ERL_EPMD_PORT="$EPMD_PORT" \
        RABBITMQ_PID_FILE="$RUN/rabbit.pid" \
        RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
      cd "$STATE/rabbit"
      setsid nohup /usr/lib/rabbitmq/bin/rabbitmq-server > "$LOG/rabbit.out" 2>&1 < /dev/null &
      echo $! > "$RUN/rabbit.launcher.pid" )
  fi
  wait_for 90 tcp_open "$AMQP_PORT" || { log "RabbitMQ did not open $AMQP_PORT"; tail -20 "$LOG/rabbit.out" >&2; exit 1; }
  # epmd daemonises itself; remember its PID so stop.sh can end it by PID.
  if ! alive "$RUN/epmd.pid" epmd; then
    epid="$(ss -ltnpH "sport = :$EPMD_PORT" 2>/dev/null | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2 || true)"
    if [ -n "$epid" ]; then echo "$epid" > "$RUN/epmd.pid"; fi
  fi
  if ! alive "$RUN/worker.pid" worker; then
    log "starting stock octavia-worker (noop amphora/compute/network drivers)"
    setsid nohup /usr/bin/octavia-worker --config-file "$CONF" > "$LOG/worker.log" 2>&1 < /dev/null &
    echo $! > "$RUN/worker.pid"
  fi
fi

# ---------------------------------------------------------------- API (gunicorn)
if ! alive "$RUN/api.pid" gunicorn; then
  rm -f "$RUN/api.pid"
  log "starting octavia API (gunicorn, $API_WORKERS sync workers) on 127.0.0.1:$PORT"
  ( cd "$STATE"
    OCTAVIA_ORACLE_CONF="$CONF" setsid nohup /usr/bin/python3 -m gunicorn \
      --pythonpath "$HERE/conf" -b "127.0.0.1:$PORT" -w "$API_WORKERS" \
      --timeout 300 --graceful-timeout 20 --pid "$RUN/api.pid" --access-logfile "$LOG/api-access.log" \
      octavia_oracle_wsgi:application > "$LOG/api.log" 2>&1 < /dev/null & )
fi
if ! wait_for 90 curl -sf -o /dev/null "http://127.0.0.1:$PORT/"; then
  log "API did not answer on 127.0.0.1:$PORT"; tail -30 "$LOG/api.log" >&2; exit 1
fi
if [ "$MODE" = full ]; then
  # the worker's RPC consumer must be attached before the first cast, or the
  # first create waits in the queue until it is
  wait_for 60 grep -q 'Starting V2 consumer' "$LOG/worker.log" || log "warning: worker consumer not seen yet"
  sleep 2
fi

echo "mode $MODE auth $AUTH api http://127.0.0.1:$PORT/"
echo "api pid $(pidof_file "$RUN/api.pid")"
echo "mariadbd pid $(pidof_file "$RUN/mysqld.pid")"
if [ "$MODE" = full ]; then
  echo "worker pid $(pidof_file "$RUN/worker.pid")"
  echo "rabbitmq pid $(pidof_file "$RUN/rabbit.pid")"
  if [ -s "$RUN/epmd.pid" ]; then echo "epmd pid $(pidof_file "$RUN/epmd.pid")"; fi
fi
exit 0
