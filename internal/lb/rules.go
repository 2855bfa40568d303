package lb

import (
	"fmt"
	"net/netip"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// ListenerPoolCompatible reports whether a pool of protocol pool may serve a
// listener of protocol listener (docs/octavia-behaviour.md, "Listener and pool protocols").
func ListenerPoolCompatible(listener, pool string) bool {
	switch listener {
	case ProtocolHTTP, ProtocolTerminatedHTTPS:
		return pool == ProtocolHTTP || pool == ProtocolProxy || pool == ProtocolProxyV2
	case ProtocolHTTPS:
		return pool == ProtocolHTTPS || pool == ProtocolTCP || pool == ProtocolProxy || pool == ProtocolProxyV2
	case ProtocolTCP:
		return pool == ProtocolHTTP || pool == ProtocolHTTPS || pool == ProtocolTCP || pool == ProtocolProxy || pool == ProtocolProxyV2
	case ProtocolUDP:
		return pool == ProtocolUDP
	case ProtocolSCTP:
		return pool == ProtocolSCTP
	}
	return false
}

// CheckListenerPool returns the Octavia error for an incompatible pairing.
func CheckListenerPool(listener, pool string) error {
	if listener == ProtocolPrometheus {
		return ErrPrometheusChildren
	}
	if !ListenerPoolCompatible(listener, pool) {
		return Invalid("The pool protocol '%s' is invalid while the listener protocol is '%s'.", pool, listener)
	}
	return nil
}

// ErrPrometheusChildren is refused pools and policies on PROMETHEUS listeners.
var ErrPrometheusChildren = &ValidationError{Msg: "Protocol PROMETHEUS listeners cannot have child objects."}

// CheckProviderProtocol refuses a listener or pool protocol the provider
// cannot carry: the native engine has no SCTP (Go has no SCTP sockets and
// the kernel module is often absent), and accepting it would only turn the
// load balancer ERROR later.
//
// The haproxy provider runs HAProxy 2.6, which proxies TCP only: UDP and
// SCTP are refused with the reason (docs/dataplane.md, the engines table).
func CheckProviderProtocol(provider, protocol string) error {
	if provider == ProviderFulcrum && protocol == ProtocolSCTP {
		return Unsupported(provider, "The native engine does not support the SCTP protocol.")
	}
	if provider == ProviderHAProxy && IsUDPFamily(protocol) {
		return Unsupported(provider, "protocol "+protocol+": the haproxy engine does not support it (HAProxy 2.6 proxies TCP only); use the fulcrum provider's native engine for "+protocol+".")
	}
	return nil
}

// CheckProviderMonitor refuses a health monitor type the provider cannot
// run: HAProxy 2.6 has no ICMP probe (PING) and no UDP (UDP-CONNECT, SCTP).
func CheckProviderMonitor(provider, monitorType string) error {
	if provider != ProviderHAProxy {
		return nil
	}
	switch monitorType {
	case MonitorPing:
		return Unsupported(provider, "type PING: the haproxy engine has no ICMP probe (HAProxy 2.6); use a TCP health monitor.")
	case MonitorUDPConnect, MonitorSCTP:
		return Unsupported(provider, "type "+monitorType+": the haproxy engine does not support it (HAProxy 2.6 has no UDP or SCTP).")
	}
	return nil
}

// PortGroup returns the transport group a listener protocol shares ports in:
// "TCP", "UDP" or "SCTP" (docs/octavia-behaviour.md, "Listener ports and PROMETHEUS listeners").
func PortGroup(protocol string) string {
	switch protocol {
	case ProtocolUDP:
		return "UDP"
	case ProtocolSCTP:
		return "SCTP"
	}
	return "TCP"
}

// IsUDPFamily reports whether a pool or listener protocol is datagram-like
// (UDP or SCTP), where cookies and L7 do not apply.
func IsUDPFamily(protocol string) bool {
	return protocol == ProtocolUDP || protocol == ProtocolSCTP
}

// CheckMonitorType validates a health monitor type against its pool protocol
// (docs/octavia-behaviour.md, "Health monitors"). minUDPDelay is the configured minimum delay of UDP-CONNECT monitors
// (negative: no minimum).
func CheckMonitorType(poolProtocol, monitorType string, delay, minUDPDelay int) error {
	if IsUDPFamily(poolProtocol) {
		switch monitorType {
		case MonitorUDPConnect, MonitorSCTP, MonitorTCP, MonitorHTTP:
		default:
			return Invalid("The associated pool protocol is %s, so only a UDP-CONNECT/SCTP/TCP/HTTP health monitor is supported.", poolProtocol)
		}
	} else if monitorType == MonitorUDPConnect || monitorType == MonitorSCTP {
		return Invalid("The %s type is only supported for pools of type UDP/SCTP.", monitorType)
	}
	if monitorType == MonitorUDPConnect && minUDPDelay >= 0 && delay < minUDPDelay {
		return Invalid("The request delay value %d should be larger than %d for UDP-CONNECT health monitor type.", delay, minUDPDelay)
	}
	return nil
}

// IsHTTPMonitor reports whether a monitor type takes http_method, url_path
// and expected_codes.
func IsHTTPMonitor(monitorType string) bool {
	return monitorType == MonitorHTTP || monitorType == MonitorHTTPS
}

var cookieNameRE = regexp.MustCompile(`^[^\s,;\\]+$`)

// ValidCookieName reports whether name is an acceptable cookie name (docs/octavia-behaviour.md, "Session persistence").
func ValidCookieName(name string) bool {
	if !cookieNameRE.MatchString(name) {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c <= 0x20, c == 0x7f, c == '"', c == '(', c == ')', c == ',', c == '/',
			c >= ':' && c <= '@', c >= '[' && c <= ']', c == '{', c == '}':
			return false
		}
	}
	return true
}

// CheckSessionPersistence validates sp for a pool of protocol poolProtocol
// (docs/octavia-behaviour.md, "Session persistence"), in Octavia's order. Like Octavia it tests the optional fields for
// truthiness: an empty cookie name or a zero timeout counts as absent.
// update selects the PUT wording of one message.
func CheckSessionPersistence(poolProtocol string, sp *SessionPersistence, update bool) error {
	if sp == nil {
		return nil
	}
	cookie := sp.CookieName != nil && *sp.CookieName != ""
	udpOnly := (sp.PersistenceTimeout != nil && *sp.PersistenceTimeout != 0) ||
		(sp.PersistenceGranularity != nil && *sp.PersistenceGranularity != "")
	if IsUDPFamily(poolProtocol) {
		if sp.Type == PersistSourceIP && cookie {
			return Invalid("session_persistence %s type for UDP and SCTP protocols only accepts: type, persistence_timeout, persistence_granularity.", PersistSourceIP)
		}
		if cookie {
			return Invalid("Cookie names are not supported for UDP/SCTP pools.")
		}
		if sp.Type == PersistHTTPCookie || sp.Type == PersistAppCookie {
			return Invalid("Session persistence of type %s is not supported for UDP/SCTP protocol pools.", sp.Type)
		}
	} else if udpOnly {
		if update {
			return Invalid("persistence_timeout and persistence_granularity is only for UDP protocol pools.")
		}
		return Invalid("persistence_timeout and persistence_granularity is only for UDP and SCTP protocol pools.")
	}
	if cookie {
		if sp.Type != PersistAppCookie {
			return Invalid(`Field "cookie_name" can only be specified with session persistence of type "APP_COOKIE".`)
		}
		if !ValidCookieName(*sp.CookieName) {
			return Invalid(`Supplied "cookie_name" is invalid.`)
		}
	}
	if sp.Type == PersistAppCookie && !cookie {
		return Invalid(`Field "cookie_name" must be specified when using the "APP_COOKIE" session persistence type.`)
	}
	if sp.PersistenceGranularity != nil && *sp.PersistenceGranularity != "" {
		if a, err := netip.ParseAddr(*sp.PersistenceGranularity); err != nil || !isMask(a) {
			return InvalidField("persistence_granularity", *sp.PersistenceGranularity, "Value should be IPv4 or IPv6 format")
		}
	}
	return nil
}

// isMask reports whether a is a contiguous netmask (leading ones).
func isMask(a netip.Addr) bool {
	b := a.AsSlice()
	zero := false
	for _, x := range b {
		for i := 7; i >= 0; i-- {
			one := x&(1<<i) != 0
			if zero && one {
				return false
			}
			if !one {
				zero = true
			}
		}
	}
	return true
}

// CheckInsertHeaders validates a listener's insert_headers for its protocol (docs/octavia-behaviour.md, "TLS and listener settings").
func CheckInsertHeaders(protocol string, headers map[string]string) error {
	if len(headers) == 0 {
		return nil
	}
	if IsUDPFamily(protocol) {
		return Invalid("%s protocol listener does not support TLS.", protocol)
	}
	if protocol != ProtocolHTTP && protocol != ProtocolTerminatedHTTPS {
		return Errorf("insert-headers is not a valid option for a %s protocol listener.", protocol)
	}
	var unknown, ssl []string
	for k := range headers {
		switch {
		case Contains(InsertHeadersHTTP, k):
		case Contains(InsertHeadersTLS, k):
			if protocol != ProtocolTerminatedHTTPS {
				ssl = append(ssl, k)
			}
		default:
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	sort.Strings(ssl)
	if len(unknown) > 0 {
		return Errorf("%s is not a valid option for insert_headers", pyList(unknown))
	}
	if len(ssl) > 0 {
		return Errorf("%s is not a valid option for %s protocol listener.", pyList(ssl), protocol)
	}
	for k, v := range headers {
		if len(v) > MaxNameLen {
			return InvalidField("insert_headers", k, fmt.Sprintf("Value should have a maximum character requirement of %d", MaxNameLen))
		}
	}
	return nil
}

var cipherRE = regexp.MustCompile(`^[A-Za-z0-9\-+!:@=_.]+$`)

// CheckTLSCiphers validates an OpenSSL cipher string against the charset and
// a prohibit list.
func CheckTLSCiphers(ciphers string, prohibited []string) error {
	if !cipherRE.MatchString(ciphers) {
		return Invalid("Invalid characters in cipher string. Only alphanumeric, -, +, !, :, @, =, _, and . are allowed.")
	}
	var bad []string
	for _, c := range strings.Split(ciphers, ":") {
		if Contains(prohibited, c) {
			bad = append(bad, c)
		}
	}
	if len(bad) > 0 {
		return Invalid("The following ciphers have been prohibited by an administrator: %s", strings.Join(bad, ", "))
	}
	return nil
}

// CheckTLSVersions validates a tls_versions list; min is the configured floor
// ("" for none).
func CheckTLSVersions(versions []string, min string) error {
	if versions == nil {
		return nil
	}
	if len(versions) == 0 {
		return Invalid("Empty TLS version list. Either specify at least one TLS version or remove this parameter to use the default.")
	}
	var bad []string
	for _, v := range versions {
		if !Contains(TLSVersions, v) {
			bad = append(bad, v)
		}
	}
	if len(bad) > 0 {
		return Invalid("Invalid TLS versions: %s", strings.Join(bad, ", "))
	}
	if min != "" {
		floor := indexOf(TLSVersions, min)
		var low []string
		for _, v := range versions {
			if indexOf(TLSVersions, v) < floor {
				low = append(low, v)
			}
		}
		if len(low) > 0 {
			return Invalid("Requested TLS versions are less than the minimum: %s < %s", strings.Join(low, ", "), min)
		}
	}
	return nil
}

// CheckALPN validates an alpn_protocols list.
func CheckALPN(protocols []string) error {
	if protocols == nil {
		return nil
	}
	if len(protocols) == 0 {
		return Invalid("Empty ALPN protocol list. Either specify at least one ALPN protocol or remove this parameter to use the default.")
	}
	for _, p := range protocols {
		if !Contains(ALPNProtocols, p) {
			return InvalidField("alpn_protocols", pyList(protocols), "Value should be a valid ALPN protocol ID")
		}
	}
	return nil
}

func indexOf(list []string, v string) int {
	for i, x := range list {
		if x == v {
			return i
		}
	}
	return -1
}

var expectedCodesRE = regexp.MustCompile(`^(\d{3}(\s*,\s*\d{3})*)$|^(\d{3}-\d{3})$`)

// ValidExpectedCodes reports whether s is a valid expected_codes value:
// "200", "200, 202" or "200-204".
func ValidExpectedCodes(s string) bool { return expectedCodesRE.MatchString(s) }

// ValidDomainName reports whether s is an acceptable health-monitor
// domain_name: 1–253 characters plus an optional trailing dot, dot-separated
// labels of 1–63 characters from [A-Za-z0-9_-], no label starting or ending
// with '-', '_' only as a label's first character.
func ValidDomainName(s string) bool {
	if len(s) == 0 || len(s) > 255 {
		return false
	}
	body := strings.TrimSuffix(s, ".")
	if len(body) == 0 || len(body) > 253 {
		return false
	}
	for _, label := range strings.Split(body, ".") {
		if len(label) == 0 || len(label) > 63 {
			return false
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
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

// ValidURLPath reports whether p is an absolute RFC 3986 path with no
// whitespace, scheme, authority or fragment.
func ValidURLPath(p string) bool {
	if p == "" || p[0] != '/' || strings.HasPrefix(p, "//") {
		return false
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("-._~!$&'()*+,;=:@/?", c) >= 0:
		case c == '%':
			if i+2 >= len(p) || !isHex(p[i+1]) || !isHex(p[i+2]) {
				return false
			}
		default:
			return false
		}
	}
	return true
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// ValidRedirectURL reports whether u is an absolute http or https URL with a
// host and no control characters or spaces.
func ValidRedirectURL(u string) bool {
	for _, r := range u {
		if r <= 0x20 || (r >= 0x7f && r <= 0x9f) {
			return false
		}
	}
	rest, ok := strings.CutPrefix(strings.ToLower(u), "http://")
	if !ok {
		rest, ok = strings.CutPrefix(strings.ToLower(u), "https://")
	}
	if !ok {
		return false
	}
	host := rest
	if i := strings.IndexAny(host, "/?#"); i >= 0 {
		host = host[:i]
	}
	if i := strings.LastIndexByte(host, '@'); i >= 0 {
		host = host[i+1:]
	}
	if strings.HasPrefix(host, "[") {
		end := strings.IndexByte(host, ']')
		if end < 0 {
			return false
		}
		if _, err := netip.ParseAddr(host[1:end]); err != nil {
			return false
		}
		host = host[end+1:]
		if host != "" && !validPort(strings.TrimPrefix(host, ":")) {
			return false
		}
		return true
	}
	if i := strings.IndexByte(host, ':'); i >= 0 {
		if !validPort(host[i+1:]) {
			return false
		}
		host = host[:i]
	}
	return host != ""
}

func validPort(s string) bool {
	n, err := strconv.Atoi(s)
	return err == nil && n >= 0 && n <= 65535
}

// NormalizeCIDRs zeroes host bits and removes duplicates, keeping first
// occurrence order. It returns the bad entry on a parse failure.
func NormalizeCIDRs(cidrs []string) ([]string, string, bool) {
	out := make([]string, 0, len(cidrs))
	seen := map[string]bool{}
	for _, c := range cidrs {
		p, err := netip.ParsePrefix(c)
		if err != nil {
			return nil, c, false
		}
		s := p.Masked().String()
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out, "", true
}
