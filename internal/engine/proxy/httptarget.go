package proxy

import "bytes"

// The request target and the host: what parseRequest accepts in them and the parts it
// records.

// parseTarget validates the request target (first[1]) and records its parts. Accepted:
// origin-form ("/p?q"), absolute-form with an http or https scheme and no user info
// ("http://host:port/p?q"), and "*" for OPTIONS. Every byte must be a visible ASCII
// character other than '#' (a fragment is never sent) and '\' (which some servers read as
// '/'); in the path, '%' must start a %XX escape other than %00.
func (m *message) parseTarget(options bool) bool {
	t0, t1 := int(m.first[1][0]), int(m.first[1][1])
	t := m.head[t0:t1]
	// One pass: the characters, the %-escapes of the path, and where the query starts
	// (an absolute-form authority holds no '%' or '?': validHost refuses them).
	q := len(t)
	for i := 0; i < len(t); i++ {
		c := t[i]
		if inMask(c, plainTargetLo, plainTargetHi) {
			continue
		}
		switch {
		case c <= 0x20 || c >= 0x7f || c == '#' || c == '\\':
			return false
		case c == '?' && q == len(t):
			q = i
		case c == '%' && i < q:
			if i+2 >= len(t) || !isHex(t[i+1]) || !isHex(t[i+2]) || (t[i+1] == '0' && t[i+2] == '0') {
				return false
			}
			i += 2
		}
	}
	switch {
	case t[0] == '/':
		m.pathQuery = span{int32(t0), int32(t1)}
	case len(t) == 1 && t[0] == '*':
		if !options {
			return false
		}
		m.asterisk = true
	default:
		n := schemeLen(t)
		if n == 0 {
			return false
		}
		a0 := t0 + n + 3
		a1 := a0
		for a1 < t1 && m.head[a1] != '/' && m.head[a1] != '?' {
			a1++
		}
		if a1 == a0 || !validHost(m.head[a0:a1], false) {
			return false
		}
		m.absolute = true
		m.hostValue = span{int32(a0), int32(a1)}
		m.pathQuery = span{int32(a1), int32(t1)}
	}
	if m.asterisk {
		m.pathQuery = span{int32(t0), int32(t1)}
	}
	m.path = span{m.pathQuery[0], int32(t0 + q)}
	return true
}

// schemeLen returns the length of an "http" or "https" scheme (any case) that starts t
// and is followed by "://", or 0.
func schemeLen(t []byte) int {
	switch {
	case len(t) > 7 && eq(t[:4], "http") && string(t[4:7]) == "://":
		return 4
	case len(t) > 8 && eq(t[:5], "https") && string(t[5:8]) == "://":
		return 5
	}
	return 0
}

// validHost reports whether h is a host with an optional port (RFC 9110): an IP
// literal in brackets, or a name of letters, digits, '-', '.' and '_' (an IPv4 address
// or a DNS name). The other characters RFC 3986 allows in a reg-name (%-escapes, "!$&'()
// *+,;=~") name no real host and let two readers see different hosts ("a,b" is a list to
// some), so they are refused, as is user info. An empty Host value is allowed where
// emptyOK.
func validHost(h []byte, emptyOK bool) bool {
	if len(h) == 0 {
		return emptyOK
	}
	i := 0
	if h[0] == '[' {
		j := bytes.IndexByte(h, ']')
		if j < 2 {
			return false
		}
		for _, c := range h[1:j] {
			if !(isHex(c) || c == ':' || c == '.' || c == 'v' || c == 'V') {
				return false
			}
		}
		i = j + 1
	} else {
		for i < len(h) && h[i] != ':' {
			if !inMask(h[i], hostNameLo, hostNameHi) {
				return false
			}
			i++
		}
		if i == 0 {
			return false
		}
	}
	if i == len(h) {
		return true
	}
	if h[i] != ':' || len(h)-i-1 > 5 {
		return false
	}
	for _, c := range h[i+1:] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
