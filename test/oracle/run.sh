#!/usr/bin/env bash
# Differential harness: starts real Octavia 11 on loopback (octavia/start.sh,
# first run installs Debian's octavia-api, MariaDB and RabbitMQ), resets its
# database, runs the same request sequence against it and a fresh
# `fulcrum server --provider noop`, and writes test/oracle/report.md.
# Fails loudly when Octavia cannot start or a difference is unexplained.
#
# Environment:
#   OCTAVIA_ORACLE_PORT   Octavia's port on 127.0.0.1 (default 29876)
#   OCTAVIA_ORACLE_STATE  its state directory (default /tmp/octavia-oracle-fulcrum)
#   ORACLE_KEEP=1         leave Octavia running afterwards (default: stop it)
#   ORACLE_REPORT         where to write the report (default test/oracle/report.md)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
export OCTAVIA_ORACLE_PORT="${OCTAVIA_ORACLE_PORT:-29876}"
export OCTAVIA_ORACLE_STATE="${OCTAVIA_ORACLE_STATE:-/tmp/octavia-oracle-fulcrum}"
export OCTAVIA_ORACLE_AMQP_PORT="${OCTAVIA_ORACLE_AMQP_PORT:-35872}"
export OCTAVIA_ORACLE_EPMD_PORT="${OCTAVIA_ORACLE_EPMD_PORT:-34569}"

"$here/octavia/stop.sh" >/dev/null 2>&1 || true
if (exec 3<>"/dev/tcp/127.0.0.1/$OCTAVIA_ORACLE_PORT") 2>/dev/null; then
	echo "oracle: 127.0.0.1:$OCTAVIA_ORACLE_PORT is taken by another process; set OCTAVIA_ORACLE_PORT" >&2
	exit 1
fi
if ! OCTAVIA_ORACLE_RESET=1 "$here/octavia/start.sh"; then
	echo "oracle: Octavia did not start (see $OCTAVIA_ORACLE_STATE/log)" >&2
	exit 1
fi
if [ "${ORACLE_KEEP:-0}" != 1 ]; then
	trap '"$here/octavia/stop.sh" >/dev/null' EXIT
fi
export OCTAVIA_URL="http://127.0.0.1:$OCTAVIA_ORACLE_PORT"
cd "$root"
log="${TMPDIR:-/tmp}/fulcrum-oracle-run.log"
set +e
go test -tags oracle -count=1 -timeout 60m -v -run '^TestOracle$' ./test/oracle/ > "$log" 2>&1
rc=$?
set -e
grep -E '^(--- |ok|FAIL)|request pairs|unexplained difference' "$log" || tail -40 "$log"
echo "full log: $log; report: ${ORACLE_REPORT:-test/oracle/report.md}"
exit $rc
