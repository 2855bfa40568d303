package neutron

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// RuleError is a security group rule Neutron refuses: Type is the name of
// Neutron's exception (the fault's "type"), Msg its complete, user-safe
// message. The API answers it with 400.
type RuleError struct {
	Type string
	Msg  string
}

func (e *RuleError) Error() string { return e.Msg }

// protocolNumbers are the protocol names Neutron accepts in security group
// rules, with their IP protocol numbers.
var protocolNumbers = map[string]int{
	"ah": 51, "dccp": 33, "egp": 8, "esp": 50, "gre": 47, "hopopt": 0, "icmp": 1, "igmp": 2, "ipip": 4,
	"ipv6-encap": 41, "ipv6-frag": 44, "ipv6-icmp": 58, "icmpv6": 58, "ipv6-nonxt": 59, "ipv6-opts": 60,
	"ipv6-route": 43, "ospf": 89, "pgm": 113, "rsvp": 46, "sctp": 132, "tcp": 6, "udp": 17, "udplite": 136, "vrrp": 112,
}

// portProtocols are the protocols whose rules may name a port range.
var portProtocols = []int{33, 132, 6, 17, 136}

// HasPorts reports whether rules of IP protocol proto may name ports.
func HasPorts(proto int) bool { return slices.Contains(portProtocols, proto) }

// ipv6Only are the protocols a rule may use with IPv6 only.
var ipv6Only = []int{41, 44, 58, 59, 60, 43}

// supportedProtocols is how Neutron lists the protocols it accepts.
func supportedProtocols() string {
	names := make([]string, 0, len(protocolNumbers))
	for n := range protocolNumbers {
		names = append(names, "'"+n+"'")
	}
	slices.Sort(names)
	return "[None, " + strings.Join(names, ", ") + "]"
}

// ParseProtocol converts a rule's protocol as a client sends it (a name in
// any case, or a number 0–255) to its stored form: the lower-case name, or
// the number in decimal; "" is any protocol.
func ParseProtocol(p string) (string, error) {
	if p == "" {
		return "", nil
	}
	if n, err := strconv.Atoi(p); err == nil {
		if n >= 0 && n <= 255 {
			return strconv.Itoa(n), nil
		}
	} else if _, ok := protocolNumbers[strings.ToLower(p)]; ok {
		return strings.ToLower(p), nil
	}
	return "", &RuleError{Type: "SecurityGroupRuleInvalidProtocol", Msg: fmt.Sprintf(
		"Security group rule protocol %s not supported. Only protocol values %s and integer representations [0 to 255] are supported.",
		p, supportedProtocols())}
}

// ProtocolNumber is the IP protocol number of a stored protocol, or -1 for
// any protocol.
func ProtocolNumber(p string) int {
	if p == "" {
		return -1
	}
	if n, ok := protocolNumbers[p]; ok {
		return n
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		return -1
	}
	return n
}

// ParseEtherType accepts IPv4 and IPv6 in any case.
func ParseEtherType(e string) (string, error) {
	for _, v := range []string{IPv4, IPv6} {
		if strings.EqualFold(e, v) {
			return v, nil
		}
	}
	return "", &RuleError{Type: "SecurityGroupRuleInvalidEtherType", Msg: fmt.Sprintf(
		"Security group rule for ethertype '%s' not supported. Allowed values are ['IPv4', 'IPv6'].", e)}
}

// ParseRemotePrefix reads a rule's remote_ip_prefix: an address (taken as
// a host prefix) or a CIDR, kept as given (host bits too, as Neutron keeps
// them); "" is none.
func ParseRemotePrefix(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" {
		return netip.PrefixFrom(a, a.BitLen()).String(), nil
	}
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.String(), nil
	}
	return "", &RuleError{Type: "InvalidCIDR", Msg: fmt.Sprintf("Invalid CIDR %s given as IP prefix.", s)}
}

// NormalizedCIDR is the rule's remote prefix without host bits ("" when it
// has none).
func (r *SecurityGroupRule) NormalizedCIDR() string {
	p, err := netip.ParsePrefix(r.RemoteIPPrefix)
	if err != nil {
		return ""
	}
	return p.Masked().String()
}

// CheckRule applies Neutron's checks to a rule whose fields were parsed
// (ParseProtocol, ParseEtherType, ParseRemotePrefix), in Neutron's order,
// and brings it to canonical form: the legacy IPv6 ICMP names become
// ipv6-icmp, the whole port range 1–65535 becomes no range.
func CheckRule(r *SecurityGroupRule) error {
	if r.EtherType == IPv6 {
		switch r.Protocol {
		case "icmp", "icmpv6":
			r.Protocol = "ipv6-icmp"
		case "1":
			r.Protocol = "58"
		}
	}
	if r.PortRangeMin != nil && r.PortRangeMax != nil && *r.PortRangeMin == 1 && *r.PortRangeMax == 65535 {
		r.PortRangeMin, r.PortRangeMax = nil, nil
	}
	if err := checkPortRange(r); err != nil {
		return err
	}
	if r.RemoteIPPrefix != "" {
		p := netip.MustParsePrefix(r.RemoteIPPrefix)
		if p.Addr().Is4() != (r.EtherType == IPv4) {
			return &RuleError{Type: "SecurityGroupRuleParameterConflict", Msg: fmt.Sprintf(
				"Conflicting value ethertype %s for CIDR %s", r.EtherType, r.RemoteIPPrefix)}
		}
	}
	if r.EtherType == IPv4 && slices.Contains(ipv6Only, ProtocolNumber(r.Protocol)) {
		return &RuleError{Type: "SecurityGroupEthertypeConflictWithProtocol", Msg: fmt.Sprintf(
			"Invalid ethertype %s for protocol %s.", r.EtherType, r.Protocol)}
	}
	if r.RemoteIPPrefix != "" && r.RemoteGroupID != "" {
		return &RuleError{Type: "SecurityGroupMultipleRemoteEntites", Msg: "Only one of remote_ip_prefix or remote_group_id or remote_address_group_id may be provided."}
	}
	return nil
}

func checkPortRange(r *SecurityGroupRule) error {
	lo, hi := r.PortRangeMin, r.PortRangeMax
	if lo == nil && hi == nil {
		return nil
	}
	if r.Protocol == "" {
		return &RuleError{Type: "SecurityGroupProtocolRequiredWithPorts", Msg: "Must also specify protocol if port range is given."}
	}
	proto := ProtocolNumber(r.Protocol)
	switch {
	case slices.Contains(portProtocols, proto):
		if lo != nil && *lo == 0 || hi != nil && *hi == 0 {
			return &RuleError{Type: "SecurityGroupInvalidPortValue", Msg: "Invalid value for port 0"}
		}
		if lo == nil || hi == nil || *lo > *hi {
			return &RuleError{Type: "SecurityGroupInvalidPortRange", Msg: "For TCP/UDP protocols, port_range_min must be <= port_range_max"}
		}
	case proto == 1 || proto == 58:
		for _, f := range []struct {
			v           *int
			attr, field string
		}{{lo, "port_range_min", "type"}, {hi, "port_range_max", "code"}} {
			if f.v != nil && (*f.v < 0 || *f.v > 255) {
				return &RuleError{Type: "SecurityGroupInvalidIcmpValue", Msg: fmt.Sprintf(
					"Invalid value for ICMP %s (%s) %d. It must be 0 to 255.", f.field, f.attr, *f.v)}
			}
		}
		if lo == nil && hi != nil {
			return &RuleError{Type: "SecurityGroupMissingIcmpType", Msg: fmt.Sprintf(
				"ICMP code (port-range-max) %d is provided but ICMP type (port-range-min) is missing.", *hi)}
		}
	default:
		return &RuleError{Type: "SecurityGroupInvalidProtocolForPort", Msg: fmt.Sprintf(
			"Ports cannot be specified for protocol %d. Ports are only supported for DCCP, SCTP, TCP, UDP, UDPLITE.", proto)}
	}
	return nil
}

// Key identifies what a rule allows, for Neutron's duplicate check: two
// rules of one group with the same key are the same rule (a prefix of
// everything equals no prefix; a protocol's name equals its number).
func (r *SecurityGroupRule) Key() string {
	opt := func(p *int) string {
		if p == nil {
			return "+"
		}
		return strconv.Itoa(*p)
	}
	prefix := r.RemoteIPPrefix
	if prefix == "" || prefix == "0.0.0.0/0" || prefix == "::/0" {
		prefix = "+"
	}
	proto := "+"
	if n := ProtocolNumber(r.Protocol); n >= 0 {
		proto = strconv.Itoa(n)
	}
	return strings.Join([]string{r.Direction, r.EtherType, opt(r.PortRangeMax), opt(r.PortRangeMin), proto,
		r.RemoteGroupID, prefix, r.SecurityGroupID}, "_")
}
