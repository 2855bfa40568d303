package dataplane

import (
	"errors"
	"fmt"
	"strings"
)

// Data-plane engines: the native engine (internal/engine) and the HAProxy engine
// (internal/engine/haproxy). Both run the same Config; CheckEngine says what one of them
// cannot carry, so that the controller refuses it before publishing and the agent's
// engine refuses it again should it arrive.
const (
	EngineNative  = "native"
	EngineHAProxy = "haproxy"
)

// CapabilityEngineHAProxy is the capability (Heartbeat.Capabilities) of an agent running
// the HAProxy engine. An agent without it runs the native engine (agents built before the
// HAProxy engine advertise nothing).
const CapabilityEngineHAProxy = "engine-haproxy"

// EngineCapability returns the capability an agent running engine advertises, "" for the
// native engine.
func EngineCapability(engine string) string {
	if engine == EngineHAProxy {
		return CapabilityEngineHAProxy
	}
	return ""
}

// CheckEngine returns, as FieldErrors joined, what of c (valid for the contract) the named
// engine cannot carry; nil when it carries all of it. The native engine carries the whole
// contract.
func (c *Config) CheckEngine(engine string) error {
	if engine == EngineHAProxy {
		return refuseHAProxy(c)
	}
	return nil
}

// Engine refusals: what the contract carries and HAProxy 2.6 cannot express. Each is a
// FieldError naming the field, so the agent refuses only the load balancer that
// asked for it; nothing is dropped silently. The reasons are written for the API user who
// reads them in the load balancer's error.
const (
	reasonUDP = "UDP is not supported by the haproxy engine: HAProxy 2.6 proxies TCP only " +
		"(use an agent running the native engine for UDP)"
	reasonPing = "PING health monitors are not supported by the haproxy engine: HAProxy 2.6 has no ICMP probe " +
		"(Octavia's amphora runs an external ping script, which needs fork and a privileged ping binary); use TCP"
	reasonUDPConnect = "UDP-CONNECT health monitors are not supported by the haproxy engine (HAProxy 2.6 has no UDP)"
	reasonQuoteKey   = "the haproxy engine cannot name %s holding %q in a rule (HAProxy fetch arguments cannot quote it)"
)

// refuseHAProxy returns the FieldErrors of cfg (already valid for the contract) that the
// haproxy engine cannot carry, joined, or nil.
func refuseHAProxy(cfg *Config) error {
	var errs []error
	add := func(path, format string, args ...any) {
		if len(errs) < 20 {
			errs = append(errs, &FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
		}
	}
	for i := range cfg.Pools {
		p := &cfg.Pools[i]
		path := fmt.Sprintf("pools[%d]", i)
		if p.Protocol == ProtocolUDP {
			add(path+".protocol", "%s", reasonUDP)
		}
		if hm := p.HealthMonitor; hm != nil {
			switch hm.Type {
			case MonitorPing:
				add(path+".healthmonitor.type", "%s", reasonPing)
			case MonitorUDPConnect:
				add(path+".healthmonitor.type", "%s", reasonUDPConnect)
			}
		}
		if sp := p.SessionPersistence; sp != nil && strings.ContainsAny(sp.CookieName, "'") {
			add(path+".session_persistence.cookie_name", reasonQuoteKey, "a cookie", "'")
		}
		if t := p.TLS; t != nil && controlChar(t.Ciphers) {
			add(path+".tls.ciphers", "must not hold control characters")
		}
	}
	for i := range cfg.Listeners {
		l := &cfg.Listeners[i]
		path := fmt.Sprintf("listeners[%d]", i)
		if l.Protocol == ProtocolUDP {
			add(path+".protocol", "%s", reasonUDP)
		}
		if t := l.TLS; t != nil && controlChar(t.Ciphers) {
			add(path+".tls.ciphers", "must not hold control characters")
		}
		for j := range l.L7Policies {
			p := &l.L7Policies[j]
			for k := range p.Rules {
				r := &p.Rules[k]
				rp := fmt.Sprintf("%s.l7policies[%d].rules[%d]", path, j, k)
				if controlChar(r.Value) {
					add(rp+".value", "the haproxy engine cannot carry control characters in a rule value")
				}
				switch r.Type {
				case RuleHeader, RuleCookie:
					if strings.ContainsRune(r.Key, '\'') {
						add(rp+".key", reasonQuoteKey, "a "+strings.ToLower(r.Type), "'")
					}
				case RuleSSLDNField:
					if !dnKey(r.Key) {
						add(rp+".key", "the haproxy engine takes an attribute name or dotted OID here (letters, digits, '.', '_', '-'), got %q", r.Key)
					}
				}
			}
		}
	}
	return errors.Join(errs...)
}

// controlChar reports whether s holds a control character other than tab (NUL, CR, LF...
// cannot be written into a configuration line).
func controlChar(s string) bool {
	for i := 0; i < len(s); i++ {
		if (s[i] < 0x20 && s[i] != '\t') || s[i] == 0x7f {
			return true
		}
	}
	return false
}

func dnKey(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}
