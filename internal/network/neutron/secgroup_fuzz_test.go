package neutron

import (
	"errors"
	"net/netip"
	"testing"
)

// FuzzRule feeds arbitrary protocols, ethertypes, ports and prefixes to
// the rule parsers and checks: a refusal is always a *RuleError; an
// accepted rule is canonical (a lower-case known name or a number 0–255,
// IPv4 or IPv6, a prefix of the rule's family, ports only where the
// protocol has them, min ≤ max for port protocols) and checking it again
// changes nothing.
func FuzzRule(f *testing.F) {
	f.Add("tcp", "IPv4", 80, 80, true, "127.0.0.2/32")
	f.Add("6", "ipv4", 1, 65535, true, "10.0.0.0/8")
	f.Add("icmp", "IPv6", 8, -1, true, "::/0")
	f.Add("", "IPv4", 0, 0, false, "")
	f.Add("TCP", "IPv5", -1, 70000, true, "1.2.3.4")
	f.Add("ipv6-icmp", "IPv4", 0, 0, false, "fe80::1%eth0")
	f.Fuzz(func(t *testing.T, proto, ether string, lo, hi int, ports bool, prefix string) {
		r := &SecurityGroupRule{Direction: Ingress}
		var err error
		if r.Protocol, err = ParseProtocol(proto); err != nil {
			wantRuleError(t, err)
			return
		}
		if r.EtherType, err = ParseEtherType(ether); err != nil {
			wantRuleError(t, err)
			return
		}
		if r.RemoteIPPrefix, err = ParseRemotePrefix(prefix); err != nil {
			wantRuleError(t, err)
			return
		}
		if ports {
			if lo < 0 || lo > 65535 || hi < 0 || hi > 65535 {
				return // the API refuses these before CheckRule
			}
			r.PortRangeMin, r.PortRangeMax = &lo, &hi
		}
		if err := CheckRule(r); err != nil {
			wantRuleError(t, err)
			return
		}
		n := ProtocolNumber(r.Protocol)
		if r.Protocol != "" && (n < 0 || n > 255) {
			t.Fatalf("accepted protocol %q", r.Protocol)
		}
		if r.EtherType != IPv4 && r.EtherType != IPv6 {
			t.Fatalf("accepted ethertype %q", r.EtherType)
		}
		if r.RemoteIPPrefix != "" {
			p, err := netip.ParsePrefix(r.RemoteIPPrefix)
			if err != nil || p.Addr().Is4() != (r.EtherType == IPv4) {
				t.Fatalf("accepted prefix %q with %s", r.RemoteIPPrefix, r.EtherType)
			}
		}
		if r.PortRangeMin != nil || r.PortRangeMax != nil {
			if r.Protocol == "" {
				t.Fatalf("ports without a protocol: %+v", r)
			}
			if HasPorts(n) && (r.PortRangeMin == nil || r.PortRangeMax == nil || *r.PortRangeMin > *r.PortRangeMax || *r.PortRangeMin == 0) {
				t.Fatalf("accepted port range %v–%v for %s", r.PortRangeMin, r.PortRangeMax, r.Protocol)
			}
		}
		key := r.Key()
		again := *r
		if err := CheckRule(&again); err != nil || again.Key() != key {
			t.Fatalf("checking an accepted rule again: %v, key %q then %q", err, key, again.Key())
		}
	})
}

func wantRuleError(t *testing.T, err error) {
	t.Helper()
	var re *RuleError
	if !errors.As(err, &re) || re.Type == "" || re.Msg == "" {
		t.Fatalf("refusal %v is not a *RuleError with a type and a message", err)
	}
}
