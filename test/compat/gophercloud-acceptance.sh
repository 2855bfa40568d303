#!/usr/bin/env bash
# Runs gophercloud v2's own acceptance tests (by default the load-balancer
# ones, internal/acceptance/openstack/loadbalancer/v2) against a running
# fulcrum server. The tests are in an internal package of the gophercloud module, so
# they are built from a writable copy of the module fetched through the Go
# module proxy.
#
# Environment (defaults: a local server on 127.0.0.1:9876 with its clouds.yaml
# admin credentials exported by the caller):
#   OS_AUTH_URL OS_USERNAME OS_PASSWORD OS_PROJECT_NAME OS_DOMAIN_NAME OS_REGION_NAME
#   GC_VERSION  gophercloud module version (default v2.16.0, pinned for repeatable CI)
#   GC_PKG      acceptance package, relative to the module (default the load-balancer one)
#   GC_RUN      go test -run regexp (default ^Test)
#   GC_SKIP     go test -skip regexp (default none)
#   GC_WORK     scratch directory (default: mktemp)
set -euo pipefail

GC_VERSION=${GC_VERSION:-v2.16.0}
GC_PKG=${GC_PKG:-./internal/acceptance/openstack/loadbalancer/v2/}
GC_RUN=${GC_RUN:-'^Test'}
GC_SKIP=${GC_SKIP:-}
export OS_AUTH_URL=${OS_AUTH_URL:-http://127.0.0.1:9876/identity/v3}
export OS_USERNAME=${OS_USERNAME:-admin}
: "${OS_PASSWORD:?set OS_PASSWORD (the admin password from clouds.yaml)}"
export OS_PROJECT_NAME=${OS_PROJECT_NAME:-admin}
export OS_DOMAIN_NAME=${OS_DOMAIN_NAME:-Default}
export OS_REGION_NAME=${OS_REGION_NAME:-RegionOne}
# Several tests stop early unless a branch is named; admin enables the
# admin-only ones.
export OS_BRANCH=${OS_BRANCH:-master}

work=${GC_WORK:-$(mktemp -d /tmp/fulcrum-gc.XXXXXX)}
mkdir -p "$work"
# Outside any module, so `go mod download` edits no go.mod.
dir=$(cd "$work" && GOFLAGS=-mod=mod go mod download -json "github.com/gophercloud/gophercloud/v2@${GC_VERSION}" |
	sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
if [ ! -d "$dir" ]; then
	echo "gophercloud-acceptance: could not fetch gophercloud ${GC_VERSION} from the Go module proxy" >&2
	exit 1
fi
src="$work/gophercloud"
if [ ! -d "$src" ]; then
	cp -r "$dir" "$src"
	chmod -R u+w "$src"
fi
cd "$src"
skip=()
[ -n "$GC_SKIP" ] && skip=(-skip "$GC_SKIP")
exec go test -v -count=1 -p 1 -tags acceptance -timeout 30m -run "$GC_RUN" "${skip[@]}" "$GC_PKG"
