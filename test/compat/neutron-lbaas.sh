#!/usr/bin/env bash
# The seeds' load-balancing flows with the stock neutron CLI
# (python3-neutronclient 8.x, its lbaas-* and lb-* commands), as written for
# Neutron, against the network endpoint of the cloud in clouds.yaml
# (OS_CLOUD, OS_CLIENT_CONFIG_FILE): seed 002's Neutron-LBaaS v2 flow
# (load balancer, listener, pool, members, health monitor, L7 policy and
# rule, updates, a security group on the VIP port, status, stats, quotas)
# and seed 001's LBaaS v1 flow (pool,
# members, shared health monitor, VIP, stats), each in two phases so that
# the caller can send traffic through the VIP in between. Only names,
# addresses and ports differ from the seeds.
#
# Usage: neutron-lbaas.sh v2-create|v2-delete|v1-create|v1-delete
# Environment:
#   SUBNET          VIP and member subnet (default private-subnet)
#   MEMBER_PORT     port the backends listen on (default 8080)
#   V2_MEMBERS      backend addresses of the v2 pool (two)
#   V1_MEMBERS      backend addresses of the v1 pool (two)
#   V2_PORT V1_PORT listener / VIP ports (defaults 18091, 18092)
#   V1_VIP_ADDRESS  the v1 VIP's address (lb-vip-create --address)
#   V2_CLIENT       the one client address the v2 VIP's security group lets in
# Prints VIP=<address>:<port> once a create phase's VIP is ACTIVE.
set -euo pipefail

SUBNET=${SUBNET:-private-subnet}
MEMBER_PORT=${MEMBER_PORT:-8080}
V2_PORT=${V2_PORT:-18091}
V1_PORT=${V1_PORT:-18092}
read -r -a v2_members <<<"${V2_MEMBERS:?set V2_MEMBERS}"
read -r -a v1_members <<<"${V1_MEMBERS:?set V1_MEMBERS}"

# n runs one neutron command, echoed; neutronclient's deprecation notice is
# dropped.
n() {
	echo "+ neutron $*" >&2
	neutron "$@" 2> >(grep -v 'CLI is deprecated' >&2)
}
# value prints one column of a show or create.
value() {
	local col=$1
	shift
	neutron "$@" -f value -c "$col" 2> >(grep -v 'CLI is deprecated' >&2)
}
# wait_for polls a show command's column until it reads want (60 s).
wait_for() {
	local want=$1 col=$2
	shift 2
	local got=""
	for _ in $(seq 1 120); do
		got=$(value "$col" "$@")
		[ "$got" = "$want" ] && return 0
		sleep 0.5
	done
	echo "neutron $*: $col is '$got', never '$want'" >&2
	return 1
}
# wait_gone polls a list command until it prints nothing (60 s).
wait_gone() {
	for _ in $(seq 1 120); do
		[ -z "$(neutron "$@" -f value -c id 2>/dev/null)" ] && return 0
		sleep 0.5
	done
	echo "neutron $*: still lists objects" >&2
	return 1
}
# refused runs a command that must fail, and shows its message.
refused() {
	echo "+ neutron $* (must be refused)" >&2
	if out=$(neutron "$@" 2>&1); then
		echo "neutron $*: accepted, want a refusal" >&2
		return 1
	fi
	echo "$out" | grep -v 'CLI is deprecated' >&2
}

case "${1:-}" in
v2-create)
	n lbaas-loadbalancer-create --name lb1 "$SUBNET"
	wait_for ACTIVE provisioning_status lbaas-loadbalancer-show lb1
	n lbaas-loadbalancer-list
	n lbaas-listener-create --loadbalancer lb1 --protocol HTTP --protocol-port "$V2_PORT" --name listener1
	n lbaas-listener-list
	n lbaas-pool-create --lb-algorithm ROUND_ROBIN --listener listener1 --protocol HTTP --name pool1
	n lbaas-pool-list
	for a in "${v2_members[@]}"; do
		n lbaas-member-create --subnet "$SUBNET" --address "$a" --protocol-port "$MEMBER_PORT" pool1
	done
	n lbaas-member-list pool1
	n lbaas-healthmonitor-create --delay 2 --max-retries 2 --timeout 1 --type HTTP --pool pool1 --name hm1
	n lbaas-healthmonitor-list
	n lbaas-l7policy-create --action REJECT --listener listener1 --name deny-admin
	n lbaas-l7rule-create --type PATH --compare-type STARTS_WITH --value /admin deny-admin
	n lbaas-l7policy-list
	n lbaas-l7rule-list deny-admin
	n lbaas-loadbalancer-update --description "web tier" lb1
	n lbaas-listener-update --connection-limit 1000 listener1
	n lbaas-pool-update --description "web servers" pool1
	n lbaas-member-update --weight 2 "$(neutron lbaas-member-list pool1 -f value -c id 2>/dev/null | head -1)" pool1
	n lbaas-healthmonitor-update --max-retries 3 hm1
	n lbaas-l7policy-update --name deny-admin-paths deny-admin
	n lbaas-loadbalancer-show lb1
	n lbaas-listener-show listener1
	n lbaas-pool-show pool1
	n lbaas-healthmonitor-show hm1
	# Seed 002 puts a security group on the VIP port: only the web tier's
	# clients reach the listener.
	n security-group-create --description "web clients" lb-sg
	n security-group-rule-create --direction ingress --protocol tcp --port-range-min "$V2_PORT" --port-range-max "$V2_PORT" \
		--remote-ip-prefix "${V2_CLIENT:?set V2_CLIENT}/32" lb-sg
	n port-update --security-group lb-sg "$(value vip_port_id lbaas-loadbalancer-show lb1)"
	n port-show "$(value vip_port_id lbaas-loadbalancer-show lb1)"
	n quota-update --loadbalancer 25 --pool 50
	n quota-show
	wait_for ACTIVE provisioning_status lbaas-loadbalancer-show lb1
	n lbaas-loadbalancer-status lb1
	n lbaas-loadbalancer-stats lb1
	echo "VIP=$(value vip_address lbaas-loadbalancer-show lb1):$V2_PORT"
	;;
v2-delete)
	n lbaas-l7rule-delete "$(neutron lbaas-l7rule-list deny-admin-paths -f value -c id 2>/dev/null)" deny-admin-paths
	n lbaas-l7policy-delete deny-admin-paths
	n lbaas-healthmonitor-delete hm1
	for m in $(neutron lbaas-member-list pool1 -f value -c id 2>/dev/null); do
		n lbaas-member-delete "$m" pool1
	done
	n lbaas-pool-delete pool1
	n lbaas-listener-delete listener1
	n lbaas-loadbalancer-delete lb1
	wait_gone lbaas-loadbalancer-list
	# The group goes once the VIP port that carried it has.
	for _ in $(seq 1 120); do
		neutron security-group-delete lb-sg >/dev/null 2>&1 && break
		sleep 0.5
	done
	[ -z "$(neutron security-group-list -f value -c name 2>/dev/null | grep -x lb-sg)" ] || {
		echo "security group lb-sg is still there" >&2
		exit 1
	}
	;;
v1-create)
	n lb-pool-create --lb-method ROUND_ROBIN --name mypool --protocol HTTP --subnet-id "$SUBNET"
	for a in "${v1_members[@]}"; do
		n lb-member-create --address "$a" --protocol-port "$MEMBER_PORT" mypool
	done
	hm=$(value id lb-healthmonitor-create --delay 2 --type HTTP --max-retries 2 --timeout 1)
	n lb-healthmonitor-associate "$hm" mypool
	address=()
	[ -n "${V1_VIP_ADDRESS:-}" ] && address=(--address "$V1_VIP_ADDRESS")
	n lb-vip-create --name myvip --protocol-port "$V1_PORT" --protocol HTTP --subnet-id "$SUBNET" "${address[@]}" mypool
	refused lb-vip-create --name othervip --protocol-port "$((V1_PORT + 1))" --protocol HTTP --subnet-id "$SUBNET" mypool
	n lb-pool-list
	n lb-pool-show mypool
	n lb-vip-list
	n lb-member-list
	n lb-healthmonitor-list
	n lb-healthmonitor-show "$hm"
	n lb-pool-update mypool --description "web servers"
	n lb-vip-update myvip --connection-limit 1000
	n lb-healthmonitor-update "$hm" --max-retries 3
	wait_for ACTIVE status lb-vip-show myvip
	n lb-pool-stats mypool
	echo "VIP=$(value address lb-vip-show myvip):$V1_PORT"
	;;
v1-delete)
	hm=$(neutron lb-healthmonitor-list -f value -c id 2>/dev/null)
	# A pool with a VIP cannot be deleted (v1's rule).
	refused lb-pool-delete mypool
	n lb-healthmonitor-disassociate "$hm" mypool
	n lb-vip-delete myvip
	for m in $(neutron lb-member-list -f value -c id 2>/dev/null); do
		n lb-member-delete "$m"
	done
	n lb-pool-delete mypool
	n lb-healthmonitor-delete "$hm"
	wait_gone lb-pool-list
	n lb-vip-list
	;;
*)
	echo "usage: $0 v2-create|v2-delete|v1-create|v1-delete" >&2
	exit 2
	;;
esac
