package proxy

import "bytes"

// Header fields: parsed line by line, classified (framing, hop-by-hop, Host), marked
// when the engine replaces them, and read for cookies.

// parseFields parses the field lines from i to the empty line. A request's lines must end
// with CRLF.
func (m *message) parseFields(i, maxFields int, request bool) error {
	h := m.head
	for i < len(h) {
		s, e, next, crlf := nextLine(h, i)
		i = next
		if request && !crlf {
			return errBadRequest
		}
		if s == e {
			break // the empty line
		}
		line := h[s:e]
		if line[0] == ' ' || line[0] == '\t' {
			return errBadRequest // obsolete line folding
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 || !isToken(line[:colon]) {
			return errBadRequest
		}
		vs, ve := colon+1, len(line)
		for vs < ve && (line[vs] == ' ' || line[vs] == '\t') {
			vs++
		}
		for ve > vs && (line[ve-1] == ' ' || line[ve-1] == '\t') {
			ve--
		}
		for _, c := range line[vs:ve] {
			if (c < 0x20 && c != '\t') || c == 0x7f {
				return errBadRequest
			}
		}
		if len(m.fields) >= maxFields {
			return errTooManyFields
		}
		f := field{line: span{int32(s), int32(e)}, name: span{int32(s), int32(s + colon)}, value: span{int32(s + vs), int32(s + ve)}}
		if err := m.classify(&f, len(m.fields), request); err != nil {
			return err
		}
		m.fields = append(m.fields, f)
	}
	if m.chunked {
		if m.contentLength >= 0 {
			if request {
				return errBadRequest // both framings: refuse rather than guess (smuggling)
			}
			m.conflict = true // chunked wins (RFC 9112); the member connection is not reused
		}
		m.contentLength = -1
	}
	if len(m.connTokens) > 0 {
		for k := range m.fields {
			name := m.fields[k].name.of(h)
			for _, t := range m.connTokens {
				if bytes.EqualFold(name, t.of(h)) {
					m.fields[k].drop = true
				}
			}
		}
	}
	if m.h2c {
		// An upgrade to cleartext HTTP/2 would hand the client a connection to the member
		// on which the engine sees no more requests (rules, headers): it is not forwarded.
		m.upgrade = -1
	}
	return nil
}

func eq(a []byte, lower string) bool {
	if len(a) != len(lower) {
		return false
	}
	for i := 0; i < len(a); i++ {
		c := a[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// classify records what the forwarder needs from a field and marks the fields it does not
// forward as they are: hop-by-hop fields, and the framing fields and Host, which it writes
// itself from what it parsed.
func (m *message) classify(f *field, idx int, request bool) error {
	name, value := f.name.of(m.head), f.value.of(m.head)
	switch len(name) {
	case 2:
		if eq(name, "te") {
			f.drop = true
		}
	case 4:
		if request && eq(name, "host") {
			m.hosts++
			m.host = idx
			f.drop = true
		}
	case 6:
		if request && eq(name, "cookie") {
			m.cookies = append(m.cookies, idx)
		} else if request && eq(name, "expect") && eq(value, "100-continue") {
			m.expect100 = true
		}
	case 7:
		if eq(name, "upgrade") {
			m.upgrade = idx
			f.drop = true
			if request && hasToken(value, "h2c") {
				m.h2c = true
			}
		} else if eq(name, "trailer") {
			f.drop = true // trailer fields are not forwarded, so none are announced
		}
	case 10:
		if eq(name, "connection") {
			f.drop = true
			m.connectionTokens(f.value)
		} else if eq(name, "keep-alive") {
			f.drop = true
		} else if !request && eq(name, "set-cookie") {
			m.cookies = append(m.cookies, idx)
		}
	case 14:
		if eq(name, "content-length") {
			n, ok := parseLength(value)
			if !ok || (m.contentLength >= 0 && m.contentLength != n) {
				return errBadRequest
			}
			m.contentLength = n
			f.drop = true
		} else if eq(name, "http2-settings") {
			f.drop = true
		}
	case 16:
		if eq(name, "proxy-connection") {
			f.drop = true
		}
	case 17:
		if eq(name, "transfer-encoding") {
			// Only "chunked" alone is accepted: anything else could desynchronise the
			// framing between us and the member (request smuggling).
			if m.chunked || !eq(value, "chunked") {
				return errBadRequest
			}
			m.chunked = true
			f.drop = true
		}
	}
	return nil
}

// hasToken reports whether the comma-separated list v holds tok (case-insensitive).
func hasToken(v []byte, tok string) bool {
	for len(v) > 0 {
		var el []byte
		if k := bytes.IndexByte(v, ','); k >= 0 {
			el, v = v[:k], v[k+1:]
		} else {
			el, v = v, nil
		}
		el = trimOWS(el)
		if k := bytes.IndexByte(el, '/'); k >= 0 {
			el = el[:k] // protocol/version
		}
		if eq(el, tok) {
			return true
		}
	}
	return false
}

func (m *message) connectionTokens(v span) {
	h := m.head
	i := int(v[0])
	for i < int(v[1]) {
		j := i
		for j < int(v[1]) && h[j] != ',' {
			j++
		}
		s, e := i, j
		for s < e && (h[s] == ' ' || h[s] == '\t') {
			s++
		}
		for e > s && (h[e-1] == ' ' || h[e-1] == '\t') {
			e--
		}
		tok := h[s:e]
		switch {
		case eq(tok, "close"):
			m.connClose = true
		case eq(tok, "keep-alive"):
			m.connKeepAlive = true
		case eq(tok, "upgrade"):
			m.connUpgrade = true
		case len(tok) > 0 && len(m.connTokens) < 16:
			m.connTokens = append(m.connTokens, span{int32(s), int32(e)})
		}
		i = j + 1
	}
}

// markInserted marks the client's copies of the headers the frontend inserts (names, lower
// case) as neither forwarded nor seen by L7 rules: the member sees the engine's value
// alone. A name matches whatever its case and with '_' for '-', because CGI-style members
// (WSGI, Rack, PHP) fold both spellings into one variable. With xff, X-Forwarded-For
// stays a list the engine appends to, but its '_' spellings are dropped for the same
// reason.
func (m *message) markInserted(names []string, xff bool) {
	h := m.head
	for i := range m.fields {
		f := &m.fields[i]
		name := f.name.of(h)
		if len(name) < 3 || name[0]|0x20 != 'x' || (name[1] != '-' && name[1] != '_') {
			continue
		}
		for _, n := range names {
			if headerNameIs(name, n) {
				f.drop, f.inserted = true, true
				break
			}
		}
		if xff && !f.inserted && headerNameIs(name, "x-forwarded-for") && bytes.IndexByte(name, '_') >= 0 {
			f.drop, f.inserted = true, true
		}
	}
}

// headerNameIs reports whether name spells lower (a lower-case header name), ignoring case
// and reading '_' as '-'.
func headerNameIs(name []byte, lower string) bool {
	if len(name) != len(lower) {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'A' && c <= 'Z':
			c += 'a' - 'A'
		case c == '_':
			c = '-'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

func parseLength(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// keepAlive reports whether the sender of m wants the connection kept open after it.
func (m *message) keepAlive() bool {
	if m.connClose {
		return false
	}
	return !m.http10 || m.connKeepAlive
}

// cookie returns the value of cookie name in the request's Cookie fields, or nil.
func (m *message) cookie(name string) []byte {
	for _, idx := range m.cookies {
		v := m.fields[idx].value.of(m.head)
		for len(v) > 0 {
			var pair []byte
			if k := bytes.IndexByte(v, ';'); k >= 0 {
				pair, v = v[:k], v[k+1:]
			} else {
				pair, v = v, nil
			}
			pair = bytes.TrimLeft(pair, " \t")
			if len(pair) > len(name) && pair[len(name)] == '=' && string(pair[:len(name)]) == name {
				return bytes.Trim(pair[len(name)+1:], " \t\"")
			}
		}
	}
	return nil
}

// setCookie returns the value the response sets for cookie name, or nil.
func (m *message) setCookie(name string) []byte {
	for _, idx := range m.cookies {
		v := m.fields[idx].value.of(m.head)
		if k := bytes.IndexByte(v, ';'); k >= 0 {
			v = v[:k]
		}
		v = bytes.TrimSpace(v)
		if len(v) > len(name) && v[len(name)] == '=' && string(v[:len(name)]) == name {
			return bytes.Trim(v[len(name)+1:], " \t\"")
		}
	}
	return nil
}
