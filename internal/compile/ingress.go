package compile

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
	"github.com/fulcrumlb/fulcrum/internal/lb"
)

// Ingress is the client filter of a load balancer's VIP port: the ingress
// rules of its security groups, remote groups already resolved to their
// members' addresses. A nil *Ingress is no filter (no groups, or port
// security off); an Ingress without rules admits nobody.
type Ingress struct {
	Rules []IngressRule
}

// IngressRule is one ingress rule of a security group.
type IngressRule struct {
	// IPv6 is the rule's ethertype: it admits IPv6 clients, else IPv4 ones.
	IPv6 bool
	// Protocol is the IP protocol number the rule admits; -1 is any.
	Protocol int
	// PortMin and PortMax bound the destination port (for TCP, UDP, SCTP
	// and the like); 0 and 0 is every port.
	PortMin, PortMax int
	// Remote lists the client prefixes the rule admits; nil admits every
	// address of its family (no remote prefix nor group). A remote group
	// without members resolves to an empty, non-nil list.
	Remote []netip.Prefix
}

// IP protocol numbers of the listener transports.
const (
	protoTCP  = 6
	protoUDP  = 17
	protoSCTP = 132
)

// transportProtocol is the IP protocol a listener's clients speak.
func transportProtocol(p string) int {
	switch p {
	case lb.ProtocolUDP:
		return protoUDP
	case lb.ProtocolSCTP:
		return protoSCTP
	}
	return protoTCP
}

// ingressFor reduces the VIP filter to what it admits toward listener li:
// the rules whose protocol is the listener's transport (or any) and whose
// port range holds its port, as the union of their client prefixes. Like
// Neutron, it matches by what the packet carries: the family of the
// client's address picks the rules of that ethertype.
func ingressFor(in *Ingress, li *lb.Listener) (*dataplane.Ingress, error) {
	if in == nil {
		return nil, nil
	}
	proto := transportProtocol(li.Protocol)
	var allow []netip.Prefix
	for _, r := range in.Rules {
		if r.Protocol != -1 && r.Protocol != proto {
			continue
		}
		if (r.PortMin != 0 || r.PortMax != 0) && (li.ProtocolPort < r.PortMin || li.ProtocolPort > r.PortMax) {
			continue
		}
		if r.Remote == nil {
			if r.IPv6 {
				allow = append(allow, netip.MustParsePrefix("::/0"))
			} else {
				allow = append(allow, netip.MustParsePrefix("0.0.0.0/0"))
			}
			continue
		}
		for _, p := range r.Remote {
			if p.IsValid() && p.Addr().Is6() == r.IPv6 {
				allow = append(allow, p.Masked())
			}
		}
	}
	allow = aggregate(allow)
	if len(allow) > dataplane.MaxIngressPrefixes {
		return nil, &Unsupported{Object: "listener " + li.ID, What: fmt.Sprintf(
			"the VIP port's security groups admit %d separate client prefixes toward port %d, more than the data plane takes (%d)",
			len(allow), li.ProtocolPort, dataplane.MaxIngressPrefixes)}
	}
	out := &dataplane.Ingress{Allow: make([]string, len(allow))}
	for i, p := range allow {
		out.Allow[i] = p.String()
	}
	return out, nil
}

// aggregate sorts prefixes (IPv4 first, wider first, then by address) and
// drops those another one covers, so that the same groups always compile
// to the same list.
func aggregate(in []netip.Prefix) []netip.Prefix {
	slices.SortFunc(in, func(a, b netip.Prefix) int {
		if a.Addr().Is4() != b.Addr().Is4() {
			if a.Addr().Is4() {
				return -1
			}
			return 1
		}
		if a.Bits() != b.Bits() {
			return a.Bits() - b.Bits()
		}
		return a.Addr().Compare(b.Addr())
	})
	out := in[:0:0]
	// out[family:wider] are the kept prefixes of p's family shorter than p.
	family, wider := 0, 0
	for i, p := range in {
		if i > 0 && p.Addr().Is4() != in[i-1].Addr().Is4() {
			family, wider = len(out), len(out)
		} else if i > 0 && p.Bits() != in[i-1].Bits() {
			wider = len(out)
		}
		if len(out) > family && out[len(out)-1] == p {
			continue
		}
		covered := false
		for _, q := range out[family:wider] {
			if q.Contains(p.Addr()) {
				covered = true
				break
			}
		}
		if !covered {
			out = append(out, p)
		}
	}
	return out
}
