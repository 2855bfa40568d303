package proxy

import (
	"bytes"
	"fmt"
	"regexp"
	"sort"
	"strconv"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
	"github.com/fulcrumlb/fulcrum/internal/engine/balance"
	"github.com/fulcrumlb/fulcrum/internal/engine/tlsterm"
)

// route is where a request goes: a pool and how its requests stick to members. The zero
// route has no pool (503).
type route struct {
	pool       *balance.Pool
	cookieMode dataplane.PersistenceType // persistence acting on HTTP (cookie types), else ""
	cookieName string
	proxied    bool // PROXY / PROXYV2 pool: member connections are private to the client
}

func newRoute(p *balance.Pool) route {
	if p == nil {
		return route{}
	}
	r := route{pool: p, proxied: p.Protocol == dataplane.ProtocolProxy || p.Protocol == dataplane.ProtocolProxyV2}
	if sp := p.Persistence; sp != nil {
		switch sp.Type {
		case dataplane.PersistHTTPCookie:
			r.cookieMode, r.cookieName = sp.Type, HTTPCookieName
		case dataplane.PersistAppCookie:
			r.cookieMode, r.cookieName = sp.Type, sp.CookieName
		}
	}
	return r
}

type ruleKind uint8

const (
	ruleHost ruleKind = iota
	rulePath
	ruleFileType
	ruleHeader
	ruleCookie
	// SSL_* rules read the client's TLS handshake; they never match on a clear connection.
	ruleSSLHasCert
	ruleSSLVerify
	ruleSSLDN
)

type cmpKind uint8

const (
	cmpEqual cmpKind = iota
	cmpPrefix
	cmpSuffix
	cmpContains
	cmpRegex
)

type actionKind uint8

const (
	actPool actionKind = iota
	actRedirectURL
	actRedirectPrefix
	actReject
)

// rule is one compiled L7 rule. It is immutable and shared by every connection.
type rule struct {
	kind   ruleKind
	cmp    cmpKind
	key    string // HEADER: lower-case field name; COOKIE: cookie name (case-sensitive); SSL_DN_FIELD: the DN attribute
	verify int    // SSL_VERIFY_RESULT: the verify result to match
	value  []byte // MatchValue, ASCII lower-case for HOST_NAME
	re     *regexp.Regexp
	invert bool
}

// policy is one compiled L7 policy.
type policy struct {
	id     string
	action actionKind
	route  route  // actPool
	head   []byte // answer head up to (not including) the Connection field and the empty line; for actRedirectPrefix it ends with the prefix of the Location value
	body   []byte // answer body (REJECT)
	rules  []rule
}

// pathOverrides are headers that servers behind some frameworks (IIS URL rewriting,
// Symfony, Zend) take as the request's path instead of its target: from a client they
// would let a request reach a path that PATH and FILE_TYPE rules never saw.
var pathOverrides = []string{"x-original-url", "x-rewrite-url"}

// readsPath reports whether a rule of ps reads the request's path.
func readsPath(ps []policy) bool {
	for i := range ps {
		for _, r := range ps[i].rules {
			if r.kind == rulePath || r.kind == ruleFileType {
				return true
			}
		}
	}
	return false
}

// maxDiscard bounds the request body the engine reads and drops after answering a request
// itself (redirect, reject) to keep the connection; a longer body closes it instead.
const maxDiscard = 256 << 10

// rejectBody is the body of REJECT answers.
const rejectBody = "403 Forbidden\n"

// newPolicies compiles the L7 policies of listener l in evaluation order (position, then
// list order). pools holds the runtime pools by id. l must have passed Validate; an error
// means a rule that Validate should have refused.
func newPolicies(l *dataplane.Listener, pools map[string]*balance.Pool) ([]policy, error) {
	if len(l.L7Policies) == 0 {
		return nil, nil
	}
	order := make([]int, len(l.L7Policies))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool {
		return l.L7Policies[order[a]].Position < l.L7Policies[order[b]].Position
	})
	out := make([]policy, 0, len(order))
	for _, i := range order {
		dp := &l.L7Policies[i]
		p := policy{id: dp.ID}
		code := dp.RedirectHTTPCode
		if code == 0 {
			code = dataplane.DefaultRedirectCode
		}
		switch dp.Action {
		case dataplane.ActionRedirectToPool:
			pool := pools[dp.RedirectPoolID]
			if pool == nil {
				return nil, fmt.Errorf("l7 policy %s: pool %q not found", dp.ID, dp.RedirectPoolID)
			}
			p.action, p.route = actPool, newRoute(pool)
		case dataplane.ActionRedirectToURL:
			p.action = actRedirectURL
			p.head = append(redirectHead(code), "Location: "+dp.RedirectURL+"\r\n"...)
		case dataplane.ActionRedirectPrefix:
			p.action = actRedirectPrefix
			p.head = append(redirectHead(code), "Location: "+dp.RedirectPrefix...)
		case dataplane.ActionReject:
			p.action = actReject
			p.head = []byte("HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: " +
				strconv.Itoa(len(rejectBody)) + "\r\nCache-Control: no-cache\r\n")
			p.body = []byte(rejectBody)
		default:
			return nil, fmt.Errorf("l7 policy %s: unknown action %q", dp.ID, dp.Action)
		}
		for j := range dp.Rules {
			r, err := newRule(&dp.Rules[j])
			if err != nil {
				return nil, fmt.Errorf("l7 policy %s rule %s: %w", dp.ID, dp.Rules[j].ID, err)
			}
			p.rules = append(p.rules, r)
		}
		out = append(out, p)
	}
	return out, nil
}

// redirectHead is the start of a redirect answer, as HAProxy writes it: no body, and
// Cache-Control: no-cache on the temporary codes.
func redirectHead(code int) []byte {
	text := map[int]string{301: "Moved Permanently", 302: "Found", 303: "See Other", 307: "Temporary Redirect", 308: "Permanent Redirect"}[code]
	h := "HTTP/1.1 " + strconv.Itoa(code) + " " + text + "\r\nContent-Length: 0\r\n"
	if code == 302 || code == 303 || code == 307 {
		h += "Cache-Control: no-cache\r\n"
	}
	return []byte(h)
}

func newRule(dr *dataplane.L7Rule) (rule, error) {
	r := rule{invert: dr.Invert, value: []byte(dr.MatchValue())}
	switch dr.Type {
	case dataplane.RuleHostName:
		r.kind = ruleHost
		lower(r.value)
	case dataplane.RulePath:
		r.kind = rulePath
	case dataplane.RuleFileType:
		r.kind = ruleFileType
	case dataplane.RuleHeader:
		r.kind, r.key = ruleHeader, string(lower([]byte(dr.Key)))
	case dataplane.RuleCookie:
		r.kind, r.key = ruleCookie, dr.Key
	case dataplane.RuleSSLConnHasCert:
		r.kind = ruleSSLHasCert
	case dataplane.RuleSSLVerifyResult:
		n, err := strconv.Atoi(dr.Value)
		if err != nil {
			return rule{}, fmt.Errorf("SSL_VERIFY_RESULT value %q: %w", dr.Value, err)
		}
		r.kind, r.verify = ruleSSLVerify, n
	case dataplane.RuleSSLDNField:
		r.kind, r.key = ruleSSLDN, dr.Key
	default:
		return rule{}, fmt.Errorf("unknown rule type %q", dr.Type)
	}
	switch dr.CompareType {
	case dataplane.CompareEqualTo:
		r.cmp = cmpEqual
	case dataplane.CompareStartsWith:
		r.cmp = cmpPrefix
	case dataplane.CompareEndsWith:
		r.cmp = cmpSuffix
	case dataplane.CompareContains:
		r.cmp = cmpContains
	case dataplane.CompareRegex:
		r.cmp = cmpRegex
		if r.kind != ruleSSLHasCert && r.kind != ruleSSLVerify {
			re, err := dr.Regexp()
			if err != nil {
				return rule{}, err
			}
			r.re = re
		}
	default:
		return rule{}, fmt.Errorf("unknown compare type %q", dr.CompareType)
	}
	return r, nil
}

// lower folds ASCII letters of b to lower case in place and returns b.
func lower(b []byte) []byte {
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return b
}

// l7view is what L7 rules read from one parsed request: the parts derived from it are
// computed on first use. It is reused from request to request of a connection.
type l7view struct {
	m    *message
	tls  *tlsterm.ConnInfo // the client's handshake on a TERMINATED_HTTPS listener, else nil
	fe   *Frontend         // the frontend serving the request (nil in matcher tests)
	conn *httpConn         // the connection (nil in matcher tests)
	// host: lower-case host without port and trailing dot (in buf); valid when hostSet &&
	// hostOK.
	host    []byte
	hostOK  bool
	hostSet bool
	buf     []byte
	// path: the normalised path (normalizePath; in pbuf or the head); valid when pathSet.
	path    []byte
	pathSet bool
	pbuf    []byte
}

func (v *l7view) reset(m *message) {
	v.m = m
	v.hostSet, v.pathSet = false, false
}

// hostName returns the request's host (the authority of an absolute-form target, else the
// Host value) without its port and a trailing dot, in lower case, and whether the request
// has one. It is the host the member is sent.
func (v *l7view) hostName() ([]byte, bool) {
	if !v.hostSet {
		v.hostSet = true
		m := v.m
		v.hostOK = m.hasHost
		if v.hostOK {
			h := stripPort(m.hostValue.of(m.head))
			if len(h) > 1 && h[len(h)-1] == '.' {
				h = h[:len(h)-1]
			}
			v.buf = append(v.buf[:0], h...)
			v.host = lower(v.buf)
		}
	}
	return v.host, v.hostOK
}

// requestPath returns the path PATH and FILE_TYPE rules read: the target's path without
// the query, normalised (normalizePath); "/" for an absolute-form target without a path.
func (v *l7view) requestPath() []byte {
	if !v.pathSet {
		v.pathSet = true
		m := v.m
		p := m.path.of(m.head)
		switch {
		case len(p) == 0:
			v.path = slashPath
		case m.asterisk:
			v.path = p
		default:
			v.pbuf = normalizePath(v.pbuf[:0], p)
			v.path = v.pbuf
		}
	}
	return v.path
}

// stripPort removes a ":port" suffix from a Host value ("example.com:8080",
// "[::1]:80"); anything else is returned as it is.
func stripPort(h []byte) []byte {
	if len(h) > 0 && h[0] == '[' {
		if i := bytes.IndexByte(h, ']'); i >= 0 {
			return h[:i+1]
		}
		return h
	}
	i := bytes.IndexByte(h, ':')
	if i < 0 || bytes.IndexByte(h[i+1:], ':') >= 0 {
		return h
	}
	for _, c := range h[i+1:] {
		if c < '0' || c > '9' {
			return h
		}
	}
	return h[:i]
}

// Constant values of the L7 view. Read only.
var (
	slashPath  = []byte("/") // the path of an absolute-form target without one
	protoHTTP  = []byte("http")
	protoHTTPS = []byte("https")
)

// normalizePath appends to dst the form of path p (starting with '/', %-escapes valid)
// that PATH rules compare, so that the spellings a member's server reads as one path
// match alike:
//   - %-escapes of unreserved characters (ALPHA DIGIT - . _ ~) and of '/' are decoded,
//     the hex digits of any other escape are upper-cased ("/%61dmin" → "/admin",
//     "/a%2fb" → "/a/b", "%c3%a9" → "%C3%A9");
//   - parameters after ';' in a segment are removed ("/admin;x=1" → "/admin", as servlet
//     containers read it);
//   - runs of '/' become one ("//admin" → "/admin");
//   - "." and ".." segments are resolved as RFC 3986 removes dot segments ("/a/../admin" → "/admin",
//     never above the root).
//
// A path that needs none of it is appended unchanged.
func normalizePath(dst, p []byte) []byte {
	if !needsNormalizing(p) {
		return append(dst, p...)
	}
	// Decode and drop parameters into dst.
	start := len(dst)
	param := false
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c == '%' && i+2 < len(p) {
			d := unhex(p[i+1])<<4 | unhex(p[i+2])
			i += 2
			if d != '/' && !unreserved(d) {
				if !param {
					dst = append(dst, '%', upperHex(p[i-1]), upperHex(p[i]))
				}
				continue
			}
			c = d
		} else if c == ';' {
			param = true
			continue
		}
		if c == '/' {
			param = false
		}
		if !param {
			dst = append(dst, c)
		}
	}
	// Merge slashes and resolve dot segments in place: the output never outruns the input.
	b := dst[start:]
	w, i := 0, 0
	trailing := false
	for i < len(b) {
		if b[i] == '/' {
			i++
			trailing = true
			continue
		}
		j := i
		for j < len(b) && b[j] != '/' {
			j++
		}
		seg := b[i:j]
		trailing = false
		switch {
		case len(seg) == 1 && seg[0] == '.':
			trailing = true
		case len(seg) == 2 && seg[0] == '.' && seg[1] == '.':
			trailing = true
			if k := bytes.LastIndexByte(b[:w], '/'); k > 0 {
				w = k
			} else {
				w = 0
			}
		default:
			b[w] = '/'
			w += 1 + copy(b[w+1:], seg)
		}
		i = j
	}
	if trailing || w == 0 {
		b[w] = '/'
		w++
	}
	return dst[:start+w]
}

// needsNormalizing reports whether normalizePath would change p: it has an escape, a
// ';', an empty segment or a dot segment.
func needsNormalizing(p []byte) bool {
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '%', ';':
			return true
		case '/':
			if i+1 < len(p) {
				switch p[i+1] {
				case '/':
					return true
				case '.':
					if i+2 == len(p) || p[i+2] == '/' || (p[i+2] == '.' && (i+3 == len(p) || p[i+3] == '/')) {
						return true
					}
				}
			}
		}
	}
	return false
}

func unreserved(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return c == '-' || c == '.' || c == '_' || c == '~'
}

func upperHex(c byte) byte {
	if c >= 'a' && c <= 'f' {
		return c - 'a' + 'A'
	}
	return c
}

// fileType returns the extension of the last segment of path, without the dot, and
// whether that segment has one ("/a/b.tar.gz" → "gz"; "/a.d/b" → none).
func fileType(path []byte) ([]byte, bool) {
	seg := path[bytes.LastIndexByte(path, '/')+1:]
	i := bytes.LastIndexByte(seg, '.')
	if i < 0 {
		return nil, false
	}
	return seg[i+1:], true
}

// compare applies the rule's comparison to s.
func (r *rule) compare(s []byte) bool {
	switch r.cmp {
	case cmpEqual:
		return string(s) == string(r.value)
	case cmpPrefix:
		return bytes.HasPrefix(s, r.value)
	case cmpSuffix:
		return bytes.HasSuffix(s, r.value)
	case cmpContains:
		return bytes.Contains(s, r.value)
	case cmpRegex:
		return r.re.Match(s)
	}
	return false
}

// match reports whether the request seen through v satisfies the rule, invert applied.
func (r *rule) match(v *l7view) bool {
	return r.eval(v) != r.invert
}

func (r *rule) eval(v *l7view) bool {
	m := v.m
	switch r.kind {
	case ruleHost:
		h, ok := v.hostName()
		return ok && r.compare(h)
	case rulePath:
		return r.compare(v.requestPath())
	case ruleFileType:
		ext, ok := fileType(v.requestPath())
		return ok && r.compare(ext)
	case ruleHeader:
		return r.matchHeader(v)
	case ruleCookie:
		return r.matchCookie(m)
	}
	// SSL_* rules answer from the handshake, as HAProxy's ssl_c_used, ssl_c_verify and
	// ssl_c_s_dn(<key>); on a clear connection there is no handshake and the fetch fails, so
	// the rule does not match (invert then makes it match).
	t := v.tls
	if t == nil {
		return false
	}
	switch r.kind {
	case ruleSSLHasCert:
		return t.HasCert
	case ruleSSLVerify:
		return t.Verify == r.verify
	case ruleSSLDN:
		val, ok := t.DNField(r.key)
		return ok && r.compare([]byte(val))
	}
	return false
}

// matchHeader reports whether an occurrence of the header matches: like HAProxy's
// req.hdr() in an ACL, every comma-separated element of every field with that name is an
// occurrence, and any one matching is enough. An absent header does not match. The rule
// reads the request as the member gets it: "host" is the request's one host (the
// authority of an absolute-form target), a header the engine inserts has the engine's
// value instead of the client's copies, and X-Forwarded-For ends with the engine's
// element.
func (r *rule) matchHeader(v *l7view) bool {
	m := v.m
	if r.key == "host" {
		return m.hasHost && r.compare(m.hostValue.of(m.head))
	}
	for i := range m.fields {
		f := &m.fields[i]
		if f.inserted || !eq(f.name.of(m.head), r.key) {
			continue
		}
		if r.matchElements(f.value.of(m.head)) {
			return true
		}
	}
	if val, ok := v.insertedValue(r.key); ok {
		return r.matchElements(val)
	}
	return false
}

func (r *rule) matchElements(v []byte) bool {
	for {
		elem, rest, more := nextElement(v)
		if r.compare(elem) {
			return true
		}
		if !more {
			return false
		}
		v = rest
	}
}

// insertedValue returns the value the engine inserts for the header key (lower case) on
// this request, if it inserts one.
func (v *l7view) insertedValue(key string) ([]byte, bool) {
	fe, h := v.fe, v.conn
	if fe == nil || h == nil || len(key) < 9 || key[:2] != "x-" {
		return nil, false
	}
	switch key {
	case "x-forwarded-for":
		return h.ipText, fe.xff
	case "x-real-ip":
		return h.ipText, fe.realIP
	case "x-client-ip":
		return h.ipText, fe.clientIP
	case "x-forwarded-ip":
		return h.ipText, fe.fwdIP
	case "x-forwarded-proto":
		if !fe.xfProto {
			return nil, false
		}
		if fe.TLS != nil {
			return protoHTTPS, true
		}
		return protoHTTP, true
	case "x-forwarded-port":
		if fe.portHeader == nil {
			return nil, false
		}
		return fe.portHeader[len("X-Forwarded-Port: ") : len(fe.portHeader)-2], true
	}
	if !fe.anySSL || h.sslFor != fe {
		return nil, false
	}
	// The X-SSL-* block of this connection: "Name: value\r\n" lines.
	b := h.sslBlock
	for len(b) > 0 {
		end := bytes.IndexByte(b, '\n')
		if end < 0 {
			break
		}
		line := b[:end-1]
		b = b[end+1:]
		if c := bytes.IndexByte(line, ':'); c > 0 && eq(line[:c], key) {
			return line[c+2:], true
		}
	}
	return nil, false
}

// nextElement splits the first element off a comma-separated field value, skipping commas
// inside double-quoted strings, and trims optional whitespace around it.
func nextElement(v []byte) (elem, rest []byte, more bool) {
	quoted, esc := false, false
	end := len(v)
	for i, c := range v {
		switch {
		case esc:
			esc = false
		case quoted && c == '\\':
			esc = true
		case c == '"':
			quoted = !quoted
		case c == ',' && !quoted:
			end, more = i, true
		}
		if more {
			break
		}
	}
	elem = trimOWS(v[:end])
	if more {
		rest = v[end+1:]
	}
	return elem, rest, more
}

func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// matchCookie reports whether a cookie named key in the request's Cookie fields has a
// matching value (any occurrence; the value without enclosing double quotes). An absent
// cookie does not match.
func (r *rule) matchCookie(m *message) bool {
	for _, idx := range m.cookies {
		v := m.fields[idx].value.of(m.head)
		for len(v) > 0 {
			var pair []byte
			if k := bytes.IndexByte(v, ';'); k >= 0 {
				pair, v = v[:k], v[k+1:]
			} else {
				pair, v = v, nil
			}
			pair = trimOWS(pair)
			eqAt := bytes.IndexByte(pair, '=')
			if eqAt < 0 || string(trimOWS(pair[:eqAt])) != r.key {
				continue
			}
			val := trimOWS(pair[eqAt+1:])
			if len(val) >= 2 && val[0] == '"' && val[len(val)-1] == '"' {
				val = val[1 : len(val)-1]
			}
			if r.compare(val) {
				return true
			}
		}
	}
	return false
}

// matchPolicies returns the first policy whose rules all match the request, or nil.
func matchPolicies(ps []policy, v *l7view) *policy {
	for i := range ps {
		p := &ps[i]
		all := true
		for j := range p.rules {
			if !p.rules[j].match(v) {
				all = false
				break
			}
		}
		if all {
			return p
		}
	}
	return nil
}
