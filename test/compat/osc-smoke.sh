#!/usr/bin/env bash
# Drives Debian's python3-openstackclient + python3-octaviaclient through a
# load balancer's life against a running fulcrum server: create, listener,
# pool, member, health monitor, stats, status, cascade delete.
#
# MODE=password  Keystone password auth, endpoints from the catalog
#                (OS_AUTH_URL, OS_PASSWORD, ...; or OS_CLOUD + OS_CLIENT_CONFIG_FILE).
# MODE=none      --os-auth-type none --os-endpoint ENDPOINT: every service,
#                including the subnet lookups, goes to ENDPOINT without a token
#                (needs a server started with --auth noauth).
# SUBNET_ID      subnet name or id for the VIP and the member (required).
# WAIT=1         add --wait to the create calls.
set -uo pipefail

MODE=${MODE:-password}
ENDPOINT=${ENDPOINT:-http://127.0.0.1:9876}
: "${SUBNET_ID:?set SUBNET_ID to an existing subnet id or name}"
command -v openstack >/dev/null || { echo "osc-smoke: the openstack CLI is not installed (apt-get install python3-openstackclient python3-octaviaclient)" >&2; exit 1; }
wait=()
[ "${WAIT:-0}" = 1 ] && wait=(--wait)

case "$MODE" in
password)
	if [ -z "${OS_CLOUD:-}" ]; then
		export OS_AUTH_URL=${OS_AUTH_URL:-http://127.0.0.1:9876/identity/v3}
		export OS_IDENTITY_API_VERSION=3 OS_AUTH_TYPE=password OS_INTERFACE=${OS_INTERFACE:-public}
		export OS_USERNAME=${OS_USERNAME:-admin} OS_PROJECT_NAME=${OS_PROJECT_NAME:-admin}
		export OS_USER_DOMAIN_NAME=${OS_USER_DOMAIN_NAME:-Default} OS_PROJECT_DOMAIN_NAME=${OS_PROJECT_DOMAIN_NAME:-Default}
		export OS_REGION_NAME=${OS_REGION_NAME:-RegionOne}
		: "${OS_PASSWORD:?set OS_PASSWORD or OS_CLOUD}"
	fi
	osc=(openstack)
	;;
none)
	unset OS_AUTH_URL OS_CLOUD OS_TOKEN
	osc=(openstack --os-auth-type none --os-endpoint "$ENDPOINT")
	;;
*)
	echo "MODE must be password or none" >&2
	exit 2
	;;
esac

fail=0
run() {
	echo "+ openstack $*" >&2
	"${osc[@]}" "$@" || { echo "!! failed: openstack $*" >&2; fail=$((fail + 1)); }
}

run loadbalancer list -f value
run loadbalancer create --name smoke-lb --vip-subnet-id "$SUBNET_ID" "${wait[@]}" -f json
run loadbalancer show smoke-lb -f json
run loadbalancer listener create --name smoke-listener --protocol HTTP --protocol-port "${LISTENER_PORT:-80}" "${wait[@]}" smoke-lb -f json
run loadbalancer pool create --name smoke-pool --listener smoke-listener --protocol HTTP --lb-algorithm ROUND_ROBIN "${wait[@]}" -f json
run loadbalancer member create --name smoke-member --address 127.0.0.10 --protocol-port 8080 --subnet-id "$SUBNET_ID" "${wait[@]}" smoke-pool -f json
run loadbalancer healthmonitor create --name smoke-hm --delay 5 --timeout 3 --max-retries 3 --type HTTP --url-path /healthz "${wait[@]}" smoke-pool -f json
if [ "${CHECK_TRAFFIC:-0}" = 1 ]; then
	# A backend listens on the member address: requests through the VIP must reach it.
	vip=$("${osc[@]}" loadbalancer show smoke-lb -f value -c vip_address)
	ok=0
	for _ in $(seq 100); do
		if curl -fsS -m 1 "http://$vip:${LISTENER_PORT:-80}/" >/dev/null 2>&1; then ok=1; break; fi
		sleep 0.1
	done
	if [ "$ok" = 1 ]; then
		echo "traffic: http://$vip:${LISTENER_PORT:-80}/ answered through the load balancer" >&2
		for _ in 1 2 3 4 5; do curl -fsS -m 1 "http://$vip:${LISTENER_PORT:-80}/" >/dev/null || fail=$((fail + 1)); done
	else
		echo "!! failed: no answer from http://$vip:${LISTENER_PORT:-80}/" >&2
		fail=$((fail + 1))
	fi
fi
run loadbalancer stats show smoke-lb -f json
run loadbalancer status show smoke-lb
run loadbalancer list -f value
run loadbalancer delete --cascade "${wait[@]}" smoke-lb
echo "osc-smoke ($MODE): $fail command(s) failed" >&2
exit $((fail > 0))
