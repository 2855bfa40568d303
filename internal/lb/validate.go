package lb

import (
	"net/netip"
	"strconv"
	"strings"
)

// Settings are the deployment options that change what validation accepts
// (Octavia's [api_settings] and [networking] knobs).
type Settings struct {
	AllowTLSTerminated   bool
	AllowPrometheus      bool
	AllowPing            bool
	MinUDPConnectDelay   int      // negative: no minimum
	MinTLSVersion        string   // "" for none
	ProhibitedTLSCiphers []string // cipher names refused in tls_ciphers
	// ReservedMemberIPs are addresses members may not use ([networking]
	// reserved_ips).
	ReservedMemberIPs []string
	// MemberAddresses is the deployment's allow/deny list of member (and
	// monitor) addresses; the zero value allows everything.
	MemberAddresses MemberAddressPolicy
}

// DefaultSettings returns Octavia's defaults.
func DefaultSettings() Settings {
	return Settings{AllowTLSTerminated: true, AllowPrometheus: true, AllowPing: true, MinUDPConnectDelay: MinUDPConnectDelay,
		ReservedMemberIPs: []string{"169.254.169.254"}}
}

// CheckMemberAddress refuses a member address listed in reserved (compared
// as IP addresses): "<ip> is not a valid option for member address", the
// address shown as Octavia shows it (IPv6 expanded, upper case).
func CheckMemberAddress(address string, reserved []string) error {
	a, err := netip.ParseAddr(address)
	if err != nil {
		return InvalidField("address", address, "Value should be IPv4 or IPv6 format")
	}
	for _, r := range reserved {
		if b, err := netip.ParseAddr(r); err == nil && a.Unmap() == b.Unmap() {
			shown := a.String()
			if a.Is6() {
				shown = strings.ToUpper(a.StringExpanded())
			}
			return InvalidOption(shown, "member address")
		}
	}
	return nil
}

// TLSCapable reports whether a listener terminates TLS: TERMINATED_HTTPS, or
// PROMETHEUS with a certificate.
func (l *Listener) TLSCapable() bool {
	return l.Protocol == ProtocolTerminatedHTTPS ||
		(l.Protocol == ProtocolPrometheus && (l.DefaultTLSContainerRef != nil || len(l.SNIContainerRefs) > 0))
}

func (l *Listener) hasCert() bool {
	return (l.DefaultTLSContainerRef != nil && *l.DefaultTLSContainerRef != "") || len(l.SNIContainerRefs) > 0
}

// Validate checks a listener as a whole against Octavia's listener rules
// (docs/octavia-behaviour.md, "TLS and listener settings"). vipAddrs are the load balancer's VIP addresses (for allowed_cidrs
// families); update selects the PUT wording of some messages.
func (l *Listener) Validate(s Settings, vipAddrs []string, update bool) error {
	switch l.Protocol {
	case ProtocolTerminatedHTTPS:
		if !s.AllowTLSTerminated {
			return NotAllowed("protocol", ProtocolTerminatedHTTPS)
		}
	case ProtocolPrometheus:
		if !s.AllowPrometheus {
			return NotAllowed("protocol", ProtocolPrometheus)
		}
		if l.hasCert() && !s.AllowTLSTerminated {
			return NotAllowed("protocol", "PROMETHEUS with TLS")
		}
		if l.DefaultPoolID != "" {
			return ErrPrometheusChildren
		}
	}
	anyRef := l.hasCert() || l.ClientCATLSContainerRef != nil || l.ClientCRLContainerRef != nil
	if IsUDPFamily(l.Protocol) && (anyRef || len(l.InsertHeaders) > 0) {
		if update {
			return Invalid("%s protocol listener does not support TLS or header insertion.", l.Protocol)
		}
		return Invalid("%s protocol listener does not support TLS.", l.Protocol)
	}
	if err := CheckInsertHeaders(l.Protocol, l.InsertHeaders); err != nil {
		return err
	}
	tls := l.TLSCapable()
	if !tls && anyRef {
		return Invalid("Certificate container references are not allowed on %s protocol listeners.", l.Protocol)
	}
	if l.ClientCATLSContainerRef != nil && !l.hasCert() {
		return Invalid("An SNI or default certificate container reference must be provided with a client CA container reference.")
	}
	if l.Protocol == ProtocolTerminatedHTTPS && !l.hasCert() {
		return Invalid("An SNI or default certificate container reference must be provided for TERMINATED_HTTPS protocol listeners.")
	}
	if l.ClientAuthentication != "" && l.ClientAuthentication != ClientAuthNone && l.ClientCATLSContainerRef == nil {
		return Invalid("Client authentication setting %s requires a client CA container reference.", l.ClientAuthentication)
	}
	if l.ClientCRLContainerRef != nil && l.ClientCATLSContainerRef == nil {
		return Invalid("A client authentication CA reference is required to specify a client authentication revocation list.")
	}
	if l.HSTSMaxAge != nil && l.Protocol != ProtocolTerminatedHTTPS {
		return Invalid("The HSTS feature can only be used for listeners using the TERMINATED_HTTPS protocol.")
	}
	if (l.HSTSIncludeSubdomains || l.HSTSPreload) && l.HSTSMaxAge == nil {
		if update {
			return Invalid("Cannot enable hsts_include_subdomains or hsts_preload if hsts_max_age was not set as well.")
		}
		return Invalid("hsts_include_subdomains and hsts_preload only make sense if hsts_max_age is set as well.")
	}
	if tls {
		if l.TLSCiphers != nil {
			if err := CheckTLSCiphers(*l.TLSCiphers, s.ProhibitedTLSCiphers); err != nil {
				return err
			}
		}
		if err := CheckTLSVersions(l.TLSVersions, s.MinTLSVersion); err != nil {
			return err
		}
		if err := CheckALPN(l.ALPNProtocols); err != nil {
			return err
		}
	}
	return CheckAllowedCIDRs(l.AllowedCIDRs, vipAddrs)
}

// CheckAllowedCIDRs requires every CIDR's family to match at least one VIP.
func CheckAllowedCIDRs(cidrs, vipAddrs []string) error {
	if len(cidrs) == 0 || len(vipAddrs) == 0 {
		return nil
	}
	var v4, v6 bool
	for _, a := range vipAddrs {
		if ip, err := netip.ParseAddr(a); err == nil {
			v4 = v4 || ip.Unmap().Is4()
			v6 = v6 || (ip.Is6() && !ip.Is4In6())
		}
	}
	for _, c := range cidrs {
		p, err := netip.ParsePrefix(c)
		if err != nil {
			return InvalidField("allowed_cidrs", c, "Value should be IPv4 or IPv6 CIDR format")
		}
		if p.Addr().Is4() && !v4 {
			return Invalid("CIDR %s IP version incompatible with all VIPs %s IP version.", c, pyList(vipAddrs))
		}
		if p.Addr().Is6() && !v6 {
			return Invalid("CIDR %s IP version incompatible with all VIPs %s IP version.", c, pyList(vipAddrs))
		}
	}
	return nil
}

// ValidateFor checks a listener against its load balancer: no
// allowed_cidrs with custom VIP security groups, a protocol the provider
// carries, then Validate with the load balancer's VIP addresses.
func (l *Listener) ValidateFor(parent *LoadBalancer, s Settings, update bool) error {
	if len(l.AllowedCIDRs) > 0 && len(parent.VIP.SGIDs) > 0 {
		return Invalid("Allowed CIDRs are not allowed when using custom VIP Security Groups.")
	}
	if err := CheckProviderProtocol(parent.Provider, l.Protocol); err != nil {
		return err
	}
	vips := []string{parent.VIP.Address}
	for _, a := range parent.AdditionalVIPs {
		vips = append(vips, a.IPAddress)
	}
	return l.Validate(s, vips, update)
}

// ValidateNew checks a new member's address (reserved addresses, the
// deployment's member address policy) and refuses SR-IOV ports, which no
// flavor of fulcrum offers.
func (m *Member) ValidateNew(s Settings) error {
	if err := CheckMemberAddress(m.Address, s.ReservedMemberIPs); err != nil {
		return err
	}
	if err := s.MemberAddresses.Check(m); err != nil {
		return err
	}
	if m.VNICType == VNICDirect {
		return Errorf("The load balancer flavor does not allow SR-IOV member ports.")
	}
	return nil
}

// ApplyTLSDefaults fills the TLS defaults of a TLS-capable listener whose
// ciphers, versions or ALPN list are unset.
func (l *Listener) ApplyTLSDefaults() {
	if !l.TLSCapable() {
		return
	}
	if l.TLSCiphers == nil {
		c := DefaultTLSCiphers
		l.TLSCiphers = &c
	}
	if l.TLSVersions == nil {
		l.TLSVersions = append([]string(nil), DefaultTLSVersions...)
	}
	if l.ALPNProtocols == nil {
		l.ALPNProtocols = append([]string(nil), DefaultALPNProtocols...)
	}
}

// ApplyTLSDefaults fills a TLS-enabled pool's unset ciphers, versions and ALPN list.
func (p *Pool) ApplyTLSDefaults() {
	if !p.TLSEnabled {
		return
	}
	if p.TLSCiphers == nil {
		c := DefaultTLSCiphers
		p.TLSCiphers = &c
	}
	if p.TLSVersions == nil {
		p.TLSVersions = append([]string(nil), DefaultTLSVersions...)
	}
	if p.ALPNProtocols == nil {
		p.ALPNProtocols = append([]string(nil), DefaultALPNProtocols...)
	}
}

// Validate checks a pool as a whole (docs/octavia-behaviour.md, "Session persistence", "TLS and listener settings").
func (p *Pool) Validate(s Settings, update bool) error {
	if err := CheckSessionPersistence(p.Protocol, p.SessionPersistence, update); err != nil {
		return err
	}
	if p.CRLContainerRef != nil && p.CATLSContainerRef == nil {
		if update {
			return Invalid("A CA reference is required to specify a certificate revocation list.")
		}
		return Invalid("A CA certificate reference is required to specify a revocation list.")
	}
	if p.TLSCiphers != nil {
		if err := CheckTLSCiphers(*p.TLSCiphers, s.ProhibitedTLSCiphers); err != nil {
			return err
		}
	}
	if p.TLSEnabled || update {
		if err := CheckTLSVersions(p.TLSVersions, s.MinTLSVersion); err != nil {
			return err
		}
		if err := CheckALPN(p.ALPNProtocols); err != nil {
			return err
		}
	}
	return nil
}

// ApplyTypeDefaults fills the HTTP-only defaults of HTTP and HTTPS monitors
// and clears them for every other type.
func (h *HealthMonitor) ApplyTypeDefaults() {
	if !IsHTTPMonitor(h.Type) {
		h.HTTPMethod, h.URLPath, h.ExpectedCodes = nil, nil, nil
		return
	}
	if h.HTTPMethod == nil {
		m := DefaultHTTPMethod
		h.HTTPMethod = &m
	}
	if h.URLPath == nil {
		p := DefaultURLPath
		h.URLPath = &p
	}
	if h.ExpectedCodes == nil {
		c := DefaultExpectedCodes
		h.ExpectedCodes = &c
	}
}

// CheckTypeFields refuses the HTTP-only attributes (http_method, url_path,
// expected_codes) on a new monitor of another type.
func (h *HealthMonitor) CheckTypeFields() error {
	if IsHTTPMonitor(h.Type) {
		return nil
	}
	for _, f := range []struct {
		name string
		v    *string
	}{{"http_method", h.HTTPMethod}, {"url_path", h.URLPath}, {"expected_codes", h.ExpectedCodes}} {
		if f.v != nil {
			return InvalidOption(f.name, "health monitors of type "+h.Type)
		}
	}
	return nil
}

// Validate checks a health monitor as a whole against its pool's protocol (docs/octavia-behaviour.md, "Health monitors").
func (h *HealthMonitor) Validate(s Settings, poolProtocol string) error {
	if h.Type == MonitorPing && !s.AllowPing {
		return NotAllowed("type", MonitorPing)
	}
	if err := CheckMonitorType(poolProtocol, h.Type, h.Delay, s.MinUDPConnectDelay); err != nil {
		return err
	}
	if h.DomainName != nil {
		if h.HTTPVersion == nil {
			return Invalid("'http_version' must be specified when 'domain_name' is provided.")
		}
		if *h.HTTPVersion != 1.1 {
			return Errorf("http_version %s is not a valid option for health monitors HTTP 1.1 domain name health check", strconv.FormatFloat(*h.HTTPVersion, 'f', 1, 64))
		}
	}
	return nil
}
