package agent

import (
	"net/netip"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
)

func listener(lb, id string, proto dataplane.Protocol, port int, addrs ...string) dataplane.Listener {
	return dataplane.Listener{ID: id, LoadBalancerID: lb, Protocol: proto, ProtocolPort: port, Addresses: addrs}
}

func sock(transport, addr string, port int) socketKey {
	return socketKey{transport, netip.MustParseAddr(addr), port}
}

func TestClashes(t *testing.T) {
	tcp, udp := dataplane.ProtocolTCP, dataplane.ProtocolUDP
	for _, tc := range []struct {
		name      string
		owners    map[socketKey]string
		listeners []dataplane.Listener
		refused   []string // load balancers refused
		reason    string   // fragment of the first refused one's reason
	}{
		{name: "no clash",
			listeners: []dataplane.Listener{listener("a", "la", tcp, 80, "127.0.0.1"), listener("b", "lb", tcp, 80, "127.0.0.2")}},
		{name: "same port, TCP and UDP",
			listeners: []dataplane.Listener{listener("a", "la", tcp, 53, "127.0.0.1"), listener("b", "lb", udp, 53, "127.0.0.1")}},
		{name: "newcomer sorting first loses to the serving owner",
			owners:    map[socketKey]string{sock("tcp", "127.0.0.1", 80): "b"},
			listeners: []dataplane.Listener{listener("a", "la", tcp, 80, "127.0.0.1"), listener("b", "lb", tcp, 80, "127.0.0.1")},
			refused:   []string{"a"}, reason: "listener la: 127.0.0.1:80/tcp is in use by load balancer b"},
		{name: "newcomer sorting last loses to the serving owner",
			owners:    map[socketKey]string{sock("tcp", "127.0.0.1", 80): "a"},
			listeners: []dataplane.Listener{listener("a", "la", tcp, 80, "127.0.0.1"), listener("b", "lb", tcp, 80, "127.0.0.1")},
			refused:   []string{"b"}, reason: "in use by load balancer a"},
		{name: "an extra address of the newcomer",
			owners:    map[socketKey]string{sock("tcp", "127.0.0.1", 80): "b"},
			listeners: []dataplane.Listener{listener("a", "la", tcp, 80, "127.0.0.9", "::ffff:127.0.0.1"), listener("b", "lb", tcp, 80, "127.0.0.1")},
			refused:   []string{"a"}, reason: "in use by load balancer b"},
		{name: "wildcard newcomer over a served address",
			owners:    map[socketKey]string{sock("tcp", "127.0.0.1", 80): "b"},
			listeners: []dataplane.Listener{listener("a", "la", tcp, 80, "0.0.0.0"), listener("b", "lb", tcp, 80, "127.0.0.1")},
			refused:   []string{"a"}, reason: "in use by load balancer b"},
		{name: "IPv6 wildcard covers IPv4",
			owners:    map[socketKey]string{sock("tcp", "::", 80): "b"},
			listeners: []dataplane.Listener{listener("a", "la", tcp, 80, "127.0.0.1"), listener("b", "lb", tcp, 80, "::")},
			refused:   []string{"a"}},
		{name: "IPv4 wildcard does not cover IPv6",
			owners:    map[socketKey]string{sock("tcp", "0.0.0.0", 80): "b"},
			listeners: []dataplane.Listener{listener("a", "la", tcp, 80, "::1"), listener("b", "lb", tcp, 80, "0.0.0.0")}},
		{name: "nobody serves it yet: the smaller id keeps it",
			listeners: []dataplane.Listener{listener("b", "lb", tcp, 80, "127.0.0.1"), listener("a", "la", tcp, 80, "127.0.0.1")},
			refused:   []string{"b"}, reason: "also wanted by load balancer a, which keeps it"},
		{name: "a refused owner still keeps its other socket",
			owners: map[socketKey]string{sock("tcp", "127.0.0.1", 80): "a", sock("tcp", "127.0.0.2", 81): "b"},
			listeners: []dataplane.Listener{listener("a", "la", tcp, 80, "127.0.0.1"), listener("b", "lb1", tcp, 80, "127.0.0.1"),
				listener("b", "lb2", tcp, 81, "127.0.0.2"), listener("c", "lc", tcp, 81, "127.0.0.2")},
			refused: []string{"b", "c"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := &dataplane.Config{Listeners: tc.listeners}
			owners := tc.owners
			if owners == nil {
				owners = map[socketKey]string{}
			}
			got := clashes(owners, cfg)
			var ids []string
			for id := range got {
				ids = append(ids, id)
			}
			sort.Strings(ids)
			if !reflect.DeepEqual(ids, tc.refused) && !(len(ids) == 0 && len(tc.refused) == 0) {
				t.Fatalf("refused %v (%v), want %v", ids, got, tc.refused)
			}
			if tc.reason != "" && !strings.Contains(got[tc.refused[0]], tc.reason) {
				t.Errorf("reason %q, want it to contain %q", got[tc.refused[0]], tc.reason)
			}
		})
	}
}

func TestOwnersFollowTheServersConfig(t *testing.T) {
	a := &Agent{owners: map[socketKey]string{}}
	tcp := dataplane.ProtocolTCP
	a.noteOwners(&dataplane.Config{Listeners: []dataplane.Listener{listener("a", "la", tcp, 80, "127.0.0.1"), listener("b", "lb", tcp, 81, "127.0.0.1")}})
	// a is still in the config (moved to another port), b is gone.
	a.pruneOwners(&dataplane.Config{Listeners: []dataplane.Listener{listener("a", "la", tcp, 82, "127.0.0.1")}})
	if len(a.owners) != 0 {
		t.Fatalf("owners %v, want none: a no longer claims :80 and b is gone", a.owners)
	}
	a.noteOwners(&dataplane.Config{Listeners: []dataplane.Listener{listener("a", "la", tcp, 80, "127.0.0.1")}})
	a.pruneOwners(&dataplane.Config{Listeners: []dataplane.Listener{listener("a", "la", tcp, 80, "127.0.0.1"), listener("c", "lc", tcp, 80, "127.0.0.1")}})
	if a.owners[sock("tcp", "127.0.0.1", 80)] != "a" {
		t.Fatalf("owners %v, want a to keep :80 while it claims it", a.owners)
	}
}
