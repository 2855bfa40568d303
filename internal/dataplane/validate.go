package dataplane

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// ErrInvalid is matched (errors.Is) by every error Validate returns.
var ErrInvalid = errors.New("invalid data-plane config")

// FieldError is one rule a Config breaks, at a field path such as
// "listeners[2].protocol_port".
type FieldError struct {
	Path string
	Msg  string
}

func (e *FieldError) Error() string { return e.Path + ": " + e.Msg }

// Is reports whether target is ErrInvalid.
func (e *FieldError) Is(target error) bool { return target == ErrInvalid }

// maxErrors bounds how many field errors one Validate call reports.
const maxErrors = 20

type validator struct {
	errs []error
}

func (v *validator) add(path, format string, args ...any) {
	if len(v.errs) < maxErrors {
		v.errs = append(v.errs, &FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
	}
}

// Validate checks the whole config and returns nil or an error joining one *FieldError per
// broken rule (at most 20), each naming the field path. Features that are part of the
// contract but not carried by the engine yet (SCTP) are refused here with a clear
// message; a PROMETHEUS listener takes no default pool, L7 policies or TLS. L7 policies
// are checked in full: only on HTTP (and TERMINATED_HTTPS) listeners, actions and their
// arguments, pool references and their protocols, compare types per rule type, and every
// REGEX value must compile. TLS material (certificates and keys, CA bundles, CRLs signed
// by their CA) is parsed here, so an engine never meets a certificate it cannot load.
func (c *Config) Validate() error {
	if c == nil {
		return &FieldError{Path: "config", Msg: "missing"}
	}
	v := &validator{}
	if c.Contract < 0 || c.Contract > ContractVersion {
		v.add("contract", "contract version %d is not supported (this build knows up to %d)", c.Contract, ContractVersion)
	}
	pools := make(map[string]int, len(c.Pools))
	for i := range c.Pools {
		p := &c.Pools[i]
		path := fmt.Sprintf("pools[%d]", i)
		if p.ID == "" {
			v.add(path+".id", "required")
		} else if j, dup := pools[p.ID]; dup {
			v.add(path+".id", "duplicate id %q (also pools[%d])", p.ID, j)
		} else {
			pools[p.ID] = i
		}
		v.pool(path, p)
	}
	type bindKey struct {
		transport string
		addr      netip.Addr
		port      int
	}
	binds := map[bindKey]int{}
	listenerIDs := map[string]int{}
	for i := range c.Listeners {
		l := &c.Listeners[i]
		path := fmt.Sprintf("listeners[%d]", i)
		if l.ID == "" {
			v.add(path+".id", "required")
		} else if j, dup := listenerIDs[l.ID]; dup {
			v.add(path+".id", "duplicate id %q (also listeners[%d])", l.ID, j)
		} else {
			listenerIDs[l.ID] = i
		}
		if l.LoadBalancerID == "" {
			v.add(path+".loadbalancer_id", "required")
		}
		v.listenerProtocol(path, l)
		if l.ProtocolPort < 1 || l.ProtocolPort > 65535 {
			v.add(path+".protocol_port", "port %d out of range 1-65535", l.ProtocolPort)
		}
		if len(l.Addresses) == 0 {
			v.add(path+".addresses", "at least one address required")
		}
		for j, a := range l.Addresses {
			ap := fmt.Sprintf("%s.addresses[%d]", path, j)
			ip, err := parseIP(a)
			if err != nil {
				v.add(ap, "%v", err)
				continue
			}
			if l.ProtocolPort < 1 || l.ProtocolPort > 65535 {
				continue
			}
			k := bindKey{l.Protocol.Transport(), ip, l.ProtocolPort}
			if prev, used := binds[k]; used {
				if prev == i {
					v.add(ap, "address %s listed twice", ip)
				} else {
					v.add(path+".protocol_port", "port %d on %s already used by listeners[%d]", l.ProtocolPort, ip, prev)
				}
				continue
			}
			binds[k] = i
		}
		if l.ConnectionLimit < -1 {
			v.add(path+".connection_limit", "must be -1 (unlimited) or more, got %d", l.ConnectionLimit)
		}
		for name, t := range map[string]int64{
			"timeout_client_data": l.TimeoutClientData, "timeout_member_connect": l.TimeoutMemberConnect,
			"timeout_member_data": l.TimeoutMemberData, "timeout_tcp_inspect": l.TimeoutTCPInspect,
		} {
			if t < 0 || t > MaxTimeout {
				v.add(path+"."+name, "%d ms out of range 0-%d", t, MaxTimeout)
			}
		}
		for j, s := range l.AllowedCIDRs {
			if _, err := netip.ParsePrefix(s); err != nil {
				v.add(fmt.Sprintf("%s.allowed_cidrs[%d]", path, j), "invalid CIDR %q", s)
			}
		}
		v.ingress(path, l)
		v.insertHeaders(path, l)
		v.listenerTLS(path, l)
		v.l7Policies(path, l, c, pools)
		if l.DefaultPoolID != "" {
			j, ok := pools[l.DefaultPoolID]
			if !ok {
				v.add(path+".default_pool_id", "pool %q not found", l.DefaultPoolID)
			} else if p := c.Pools[j]; !compatible(l.Protocol, p.Protocol) {
				v.add(path+".default_pool_id", "pool protocol %s (pools[%d]) is invalid for a %s listener", p.Protocol, j, l.Protocol)
			}
		}
	}
	v.vrrp(c)
	if len(v.errs) == 0 {
		return nil
	}
	return errors.Join(v.errs...)
}

func (v *validator) listenerProtocol(path string, l *Listener) {
	switch l.Protocol {
	case ProtocolTCP, ProtocolHTTP, ProtocolHTTPS, ProtocolTerminatedHTTPS, ProtocolUDP, ProtocolPrometheus:
	case ProtocolSCTP:
		v.add(path+".protocol", "protocol %s is not supported by this engine yet", l.Protocol)
	case "":
		v.add(path+".protocol", "required")
	default:
		v.add(path+".protocol", "unknown protocol %q (want TCP, HTTP, HTTPS, TERMINATED_HTTPS, UDP or PROMETHEUS)", l.Protocol)
	}
}

// insertHeaderKeys are the insert_headers keys an HTTP listener accepts.
func insertHeaderAllowed(k string) bool {
	switch k {
	case "X-Forwarded-For", "X-Forwarded-Port", "X-Forwarded-Proto", "X-Forwarded-IP", "X-Real-IP", "X-Client-IP":
		return true
	}
	return false
}

func (v *validator) insertHeaders(path string, l *Listener) {
	if len(l.InsertHeaders) == 0 {
		return
	}
	if l.Protocol != ProtocolHTTP && l.Protocol != ProtocolTerminatedHTTPS {
		v.add(path+".insert_headers", "not a valid option for a %s listener", l.Protocol)
		return
	}
	for k, val := range l.InsertHeaders {
		switch {
		case insertHeaderAllowed(k):
		case slices.Contains(SSLInsertHeaders, k):
			if l.Protocol != ProtocolTerminatedHTTPS {
				v.add(path+".insert_headers", "%q is only valid on TERMINATED_HTTPS listeners", k)
			}
		default:
			v.add(path+".insert_headers", "%q is not a valid option (want X-Forwarded-For, X-Forwarded-Port, X-Forwarded-Proto, X-Forwarded-IP, X-Real-IP, X-Client-IP or, with TERMINATED_HTTPS, X-SSL-*)", k)
		}
		if len(val) > 255 {
			v.add(path+".insert_headers", "value of %q longer than 255", k)
		}
	}
}

// compatible is Octavia's listener-protocol × pool-protocol matrix.
func compatible(l, p Protocol) bool {
	switch l {
	case ProtocolHTTP, ProtocolTerminatedHTTPS:
		return p == ProtocolHTTP || p == ProtocolProxy || p == ProtocolProxyV2
	case ProtocolHTTPS:
		return p == ProtocolHTTPS || p == ProtocolTCP || p == ProtocolProxy || p == ProtocolProxyV2
	case ProtocolTCP:
		return p == ProtocolHTTP || p == ProtocolHTTPS || p == ProtocolTCP || p == ProtocolProxy || p == ProtocolProxyV2
	case ProtocolUDP:
		return p == ProtocolUDP
	case ProtocolSCTP:
		return p == ProtocolSCTP
	}
	return false
}

func (v *validator) pool(path string, p *Pool) {
	switch p.Protocol {
	case ProtocolTCP, ProtocolHTTP, ProtocolHTTPS, ProtocolUDP, ProtocolProxy, ProtocolProxyV2:
	case ProtocolSCTP:
		v.add(path+".protocol", "pool protocol %s is not supported by this engine yet", p.Protocol)
	case "":
		v.add(path+".protocol", "required")
	default:
		v.add(path+".protocol", "unknown pool protocol %q", p.Protocol)
	}
	switch p.Algorithm {
	case RoundRobin, LeastConnections, SourceIP, SourceIPPort:
	case "":
		v.add(path+".lb_algorithm", "required")
	default:
		v.add(path+".lb_algorithm", "unknown algorithm %q (want ROUND_ROBIN, LEAST_CONNECTIONS, SOURCE_IP or SOURCE_IP_PORT)", p.Algorithm)
	}
	v.poolTLS(path, p)
	if sp := p.SessionPersistence; sp != nil {
		sppath := path + ".session_persistence"
		switch sp.Type {
		case PersistSourceIP, PersistHTTPCookie:
			if sp.CookieName != "" {
				v.add(sppath+".cookie_name", "only valid with type APP_COOKIE")
			}
		case PersistAppCookie:
			if sp.CookieName == "" {
				v.add(sppath+".cookie_name", "required for type APP_COOKIE")
			} else if !validCookieName(sp.CookieName) {
				v.add(sppath+".cookie_name", "invalid cookie name %q", sp.CookieName)
			}
		default:
			v.add(sppath+".type", "unknown session persistence type %q (want SOURCE_IP, HTTP_COOKIE or APP_COOKIE)", sp.Type)
		}
		if p.Protocol == ProtocolUDP && sp.Type != PersistSourceIP && sp.Type != "" {
			v.add(sppath+".type", "type %s is not supported for UDP pools", sp.Type)
		}
		if sp.PersistenceTimeout < 0 {
			v.add(sppath+".persistence_timeout", "must be 0 or more seconds, got %d", sp.PersistenceTimeout)
		}
		if sp.PersistenceGranularity != "" {
			if _, err := ParseGranularity(sp.PersistenceGranularity); err != nil {
				v.add(sppath+".persistence_granularity", "%v", err)
			}
		}
	}
	ids := map[string]int{}
	type ap struct {
		a    netip.Addr
		port int
	}
	addrs := map[ap]int{}
	for j := range p.Members {
		m := &p.Members[j]
		mp := fmt.Sprintf("%s.members[%d]", path, j)
		if m.ID == "" {
			v.add(mp+".id", "required")
		} else if k, dup := ids[m.ID]; dup {
			v.add(mp+".id", "duplicate id %q (also members[%d])", m.ID, k)
		} else {
			ids[m.ID] = j
		}
		ip, err := parseIP(m.Address)
		if err != nil {
			v.add(mp+".address", "%v", err)
		}
		if m.ProtocolPort < 1 || m.ProtocolPort > 65535 {
			v.add(mp+".protocol_port", "port %d out of range 1-65535", m.ProtocolPort)
		} else if err == nil {
			if k, dup := addrs[ap{ip, m.ProtocolPort}]; dup {
				v.add(mp+".protocol_port", "%s port %d already used by members[%d]", ip, m.ProtocolPort, k)
			}
			addrs[ap{ip, m.ProtocolPort}] = j
		}
		if m.Weight < 0 || m.Weight > 256 {
			v.add(mp+".weight", "weight %d out of range 0-256", m.Weight)
		}
		if m.MonitorAddress != "" {
			if _, err := parseIP(m.MonitorAddress); err != nil {
				v.add(mp+".monitor_address", "%v", err)
			}
		}
		if m.MonitorPort < 0 || m.MonitorPort > 65535 {
			v.add(mp+".monitor_port", "port %d out of range 1-65535", m.MonitorPort)
		}
	}
	if hm := p.HealthMonitor; hm != nil {
		v.monitor(path+".healthmonitor", p, hm)
	}
}

func (v *validator) monitor(path string, p *Pool, hm *HealthMonitor) {
	switch hm.Type {
	case MonitorHTTP, MonitorHTTPS, MonitorTCP, MonitorPing, MonitorTLSHello:
		if p.Protocol == ProtocolUDP && hm.Type != MonitorHTTP && hm.Type != MonitorTCP {
			v.add(path+".type", "the pool protocol is UDP, so only a UDP-CONNECT, TCP or HTTP health monitor is supported")
		}
	case MonitorUDPConnect:
		if p.Protocol != ProtocolUDP {
			v.add(path+".type", "UDP-CONNECT is only supported for UDP pools")
		}
	case MonitorSCTP:
		v.add(path+".type", "SCTP health monitors are not supported by this engine yet")
	case "":
		v.add(path+".type", "required")
	default:
		v.add(path+".type", "unknown health monitor type %q", hm.Type)
	}
	if hm.Delay < 0 {
		v.add(path+".delay", "must be 0 or more seconds, got %d", hm.Delay)
	}
	if hm.Timeout < 0 {
		v.add(path+".timeout", "must be 0 or more seconds, got %d", hm.Timeout)
	}
	if hm.MaxRetries < 1 || hm.MaxRetries > 10 {
		v.add(path+".max_retries", "%d out of range 1-10", hm.MaxRetries)
	}
	if hm.MaxRetriesDown < 1 || hm.MaxRetriesDown > 10 {
		v.add(path+".max_retries_down", "%d out of range 1-10", hm.MaxRetriesDown)
	}
	isHTTP := hm.Type == MonitorHTTP || hm.Type == MonitorHTTPS
	if !isHTTP {
		for name, val := range map[string]string{"http_method": hm.HTTPMethod, "url_path": hm.URLPath, "expected_codes": hm.ExpectedCodes} {
			if val != "" {
				v.add(path+"."+name, "not a valid option for health monitors of type %s", hm.Type)
			}
		}
	}
	switch hm.HTTPMethod {
	case "", "GET", "HEAD", "POST", "PUT", "DELETE", "TRACE", "OPTIONS", "CONNECT", "PATCH":
	default:
		v.add(path+".http_method", "unknown method %q", hm.HTTPMethod)
	}
	if hm.URLPath != "" && !validURLPath(hm.URLPath) {
		v.add(path+".url_path", "%q is not a valid URL path (must start with / and hold no whitespace)", hm.URLPath)
	}
	if hm.ExpectedCodes != "" {
		if _, err := ParseExpectedCodes(hm.ExpectedCodes); err != nil {
			v.add(path+".expected_codes", "%v", err)
		}
	}
	switch hm.HTTPVersion {
	case "", "1.0", "1.1":
	default:
		v.add(path+".http_version", "must be 1.0 or 1.1, got %q", hm.HTTPVersion)
	}
	if hm.DomainName != "" {
		if !ValidDomainName(hm.DomainName) {
			v.add(path+".domain_name", "%q is not a valid domain name", hm.DomainName)
		}
		if hm.HTTPVersion != "1.1" {
			v.add(path+".domain_name", "requires http_version 1.1")
		}
	}
}

func parseIP(s string) (netip.Addr, error) {
	if s == "" {
		return netip.Addr{}, errors.New("address required")
	}
	ip, err := netip.ParseAddr(s)
	if err != nil || ip.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("invalid IP address %q", s)
	}
	return ip.Unmap(), nil
}

func validCookieName(s string) bool {
	if len(s) > 255 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= 0x20 || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

func validURLPath(s string) bool {
	if !strings.HasPrefix(s, "/") || strings.HasPrefix(s, "//") {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= 0x20 || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

// ValidDomainName implements Octavia's DOMAIN_NAME rule by hand (it uses look-arounds RE2
// lacks): 1–253 characters plus an optional trailing dot, dot-separated labels of 1–63
// characters from [A-Za-z0-9_-], no label starting or ending with '-', '_' only as a
// label's first character.
func ValidDomainName(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if len(s) < 1 || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if len(label) < 1 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			switch {
			case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-':
			case c == '_' && i == 0:
			default:
				return false
			}
		}
	}
	return true
}

// CodeRange is an inclusive range of HTTP status codes.
type CodeRange struct{ Lo, Hi int }

// ExpectedCodes is a parsed expected_codes value.
type ExpectedCodes []CodeRange

// Match reports whether code is expected.
func (e ExpectedCodes) Match(code int) bool {
	for _, r := range e {
		if code >= r.Lo && code <= r.Hi {
			return true
		}
	}
	return false
}

// ParseExpectedCodes parses Octavia's expected_codes: one code ("200"), a comma list
// ("200, 202") or a range ("200-204"); codes are three digits. Empty means "200".
func ParseExpectedCodes(s string) (ExpectedCodes, error) {
	if s == "" {
		return ExpectedCodes{{200, 200}}, nil
	}
	code := func(t string) (int, bool) {
		if len(t) != 3 {
			return 0, false
		}
		n, err := strconv.Atoi(t)
		return n, err == nil && t[0] >= '0' && t[0] <= '9'
	}
	if lo, hi, ok := strings.Cut(s, "-"); ok {
		a, ok1 := code(lo)
		b, ok2 := code(hi)
		if !ok1 || !ok2 || a > b {
			return nil, fmt.Errorf("invalid expected_codes %q (want 200, 200-204 or 200,202)", s)
		}
		return ExpectedCodes{{a, b}}, nil
	}
	var out ExpectedCodes
	for _, part := range strings.Split(s, ",") {
		n, ok := code(strings.Trim(part, " \t"))
		if !ok {
			return nil, fmt.Errorf("invalid expected_codes %q (want 200, 200-204 or 200,202)", s)
		}
		out = append(out, CodeRange{n, n})
	}
	return out, nil
}

// ParseGranularity parses persistence_granularity, a netmask written as an address
// (255.255.255.0, or an IPv6 mask), into a prefix length. Empty means a full-length mask.
func ParseGranularity(s string) (netip.Addr, error) {
	ip, err := netip.ParseAddr(s)
	if err != nil || ip.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("invalid netmask %q", s)
	}
	b := ip.AsSlice()
	seenZero := false
	for _, by := range b {
		for bit := 7; bit >= 0; bit-- {
			one := by&(1<<bit) != 0
			if one && seenZero {
				return netip.Addr{}, fmt.Errorf("netmask %q is not contiguous", s)
			}
			if !one {
				seenZero = true
			}
		}
	}
	return ip, nil
}

// MaskBits returns the number of leading one bits of a netmask parsed by ParseGranularity.
func MaskBits(mask netip.Addr) int {
	n := 0
	for _, by := range mask.AsSlice() {
		for bit := 7; bit >= 0; bit-- {
			if by&(1<<bit) == 0 {
				return n
			}
			n++
		}
	}
	return n
}

// ingress checks a listener's security-group filter: valid CIDRs, at most
// MaxIngressPrefixes, and a contract that carries it.
func (v *validator) ingress(path string, l *Listener) {
	if l.Ingress == nil {
		return
	}
	if len(l.Ingress.Allow) > MaxIngressPrefixes {
		v.add(path+".ingress.allow", "%d prefixes, at most %d", len(l.Ingress.Allow), MaxIngressPrefixes)
		return
	}
	for j, s := range l.Ingress.Allow {
		if _, err := netip.ParsePrefix(s); err != nil {
			v.add(fmt.Sprintf("%s.ingress.allow[%d]", path, j), "invalid CIDR %q", s)
		}
	}
}

// LoadBalancerError is an engine's refusal of one load balancer's fragment
// in an incremental apply: the agent leaves that load balancer out and
// reports Err as the reason. Err's field paths are within the fragment.
type LoadBalancerError struct {
	ID  string
	Err error
}

func (e *LoadBalancerError) Error() string { return "load balancer " + e.ID + ": " + e.Err.Error() }
func (e *LoadBalancerError) Unwrap() error { return e.Err }
