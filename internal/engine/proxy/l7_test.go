package proxy

import (
	"regexp"
	"strings"
	"testing"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
	"github.com/fulcrumlb/fulcrum/internal/engine/balance"
)

// Requests the matcher table reads.
const (
	reqFull = "GET /api/v1/users.json?x=1&y=/b.png HTTP/1.1\r\n" +
		"Host: WWW.Example.COM:8080\r\n" +
		"X-Env: prod, canary\r\n" +
		"x-env: \"a,b\" , last\r\n" +
		"X-Space: a b\r\n" +
		"X-Empty:\r\n" +
		"Cookie: session=abc123; theme=\"dark\"\r\n" +
		"Cookie: lang=en;broken; =x\r\n" +
		"\r\n"
	reqBare   = "GET /index HTTP/1.0\r\n\r\n"
	reqAbs    = "GET http://other.example/abs/path.tar.gz?q=1 HTTP/1.1\r\nHost: other.example\r\n\r\n"
	reqAbsBar = "GET https://h.example?q=1 HTTP/1.1\r\nHost: h.example\r\n\r\n"
	reqV6     = "GET /a.d/b HTTP/1.1\r\nHost: [::1]:80\r\n\r\n"
	reqHost   = "GET /.hidden HTTP/1.1\r\nHost: a.example:\r\n\r\n"
)

func mustParse(t testing.TB, raw string) *message {
	t.Helper()
	m, n, err := parseHead(t, raw)
	if n < 0 || err != nil {
		t.Fatalf("parse %q: n=%d err=%v", raw, n, err)
	}
	return m
}

func evalRule(t testing.TB, raw string, dr dataplane.L7Rule) bool {
	t.Helper()
	r, err := newRule(&dr)
	if err != nil {
		t.Fatalf("rule %+v: %v", dr, err)
	}
	var v l7view
	v.reset(mustParse(t, raw))
	return r.match(&v)
}

// TestL7RuleMatch runs every rule type with every compare type it allows, on requests
// with and without the part a rule reads; each case also runs inverted.
func TestL7RuleMatch(t *testing.T) {
	const (
		host = dataplane.RuleHostName
		path = dataplane.RulePath
		ft   = dataplane.RuleFileType
		hdr  = dataplane.RuleHeader
		ck   = dataplane.RuleCookie
		eqT  = dataplane.CompareEqualTo
		pre  = dataplane.CompareStartsWith
		suf  = dataplane.CompareEndsWith
		sub  = dataplane.CompareContains
		re   = dataplane.CompareRegex
	)
	for _, tc := range []struct {
		name             string
		req              string
		typ, cmp, key, v string
		want             bool
	}{
		// HOST_NAME: without port, case-insensitive for every compare type.
		{"host equal, port stripped, case folded", reqFull, host, eqT, "", "www.example.com", true},
		{"host equal, value upper case", reqFull, host, eqT, "", "WWW.EXAMPLE.COM", true},
		{"host equal with port never", reqFull, host, eqT, "", "www.example.com:8080", false},
		{"host equal other", reqFull, host, eqT, "", "example.com", false},
		{"host prefix", reqFull, host, pre, "", "www.", true},
		{"host prefix no", reqFull, host, pre, "", "api.", false},
		{"host suffix", reqFull, host, suf, "", "Example.Com", true},
		{"host suffix is not port", reqFull, host, suf, "", "8080", false},
		{"host contains", reqFull, host, sub, "", "EXAMPLE", true},
		{"host contains no", reqFull, host, sub, "", "other", false},
		{"host regex anchored", reqFull, host, re, "", `^www\.example\.com$`, true},
		{"host regex case", reqFull, host, re, "", `EXAMPLE`, true},
		{"host regex no", reqFull, host, re, "", `^example`, false},
		{"host quoted", reqFull, host, eqT, "", `"www.example.com"`, true},
		{"host absent (HTTP/1.0)", reqBare, host, eqT, "", "www.example.com", false},
		{"host absent regex matching anything", reqBare, host, re, "", ".*", false},
		{"host IPv6 literal", reqV6, host, eqT, "", "[::1]", true},
		{"host empty port", reqHost, host, eqT, "", "a.example", true},
		{"host of absolute-form is the Host field", reqAbs, host, eqT, "", "other.example", true},

		// PATH: no query, case-sensitive, not decoded.
		{"path equal without query", reqFull, path, eqT, "", "/api/v1/users.json", true},
		{"path equal case", reqFull, path, eqT, "", "/API/v1/users.json", false},
		{"path equal with query never", reqFull, path, eqT, "", "/api/v1/users.json?x=1&y=/b.png", false},
		{"path prefix", reqFull, path, pre, "", "/api", true},
		{"path prefix quoted", reqFull, path, pre, "", `"/api/"`, true},
		{"path prefix no", reqFull, path, pre, "", "/b.png", false},
		{"path suffix", reqFull, path, suf, "", ".json", true},
		{"path suffix in query no", reqFull, path, suf, "", ".png", false},
		{"path contains", reqFull, path, sub, "", "/v1/", true},
		{"path contains query no", reqFull, path, sub, "", "x=1", false},
		{"path regex search", reqFull, path, re, "", "users", true},
		{"path regex anchored", reqFull, path, re, "", `^/api/v[0-9]+/`, true},
		{"path regex anchored no", reqFull, path, re, "", `^users`, false},
		{"path regex whole", reqFull, path, re, "", `^/api/v1/users\.json$`, true},
		{"path of absolute-form", reqAbs, path, eqT, "", "/abs/path.tar.gz", true},
		{"path of absolute-form without path", reqAbsBar, path, eqT, "", "/", true},
		{"path HTTP/1.0", reqBare, path, eqT, "", "/index", true},

		// FILE_TYPE: extension of the last segment, without the dot, case-sensitive.
		{"file type", reqFull, ft, eqT, "", "json", true},
		{"file type with dot never", reqFull, ft, eqT, "", ".json", false},
		{"file type case", reqFull, ft, eqT, "", "JSON", false},
		{"file type in query no", reqFull, ft, eqT, "", "png", false},
		{"file type regex", reqFull, ft, re, "", `^(json|xml)$`, true},
		{"file type regex no", reqFull, ft, re, "", `^(html|xml)$`, false},
		{"file type last extension", reqAbs, ft, eqT, "", "gz", true},
		{"file type whole double extension no", reqAbs, ft, eqT, "", "tar.gz", false},
		{"file type none", reqBare, ft, eqT, "", "index", false},
		{"file type none regex", reqBare, ft, re, "", ".*", false},
		{"file type dot in directory only", reqV6, ft, eqT, "", "d", false},
		{"file type of hidden file", reqHost, ft, eqT, "", "hidden", true},

		// HEADER: name case-insensitive, every comma-separated element of every field.
		{"header element", reqFull, hdr, eqT, "X-Env", "prod", true},
		{"header second element", reqFull, hdr, eqT, "X-Env", "canary", true},
		{"header second field", reqFull, hdr, eqT, "X-Env", "last", true},
		{"header whole list is no element", reqFull, hdr, eqT, "X-Env", "prod,canary", false},
		{"header name case", reqFull, hdr, eqT, "x-ENV", "prod", true},
		{"header value case", reqFull, hdr, eqT, "X-Env", "PROD", false},
		{"header quoted element keeps its comma", reqFull, hdr, eqT, "X-Env", `""a,b""`, true},
		{"header quoted element not split", reqFull, hdr, eqT, "X-Env", "b", false},
		{"header prefix", reqFull, hdr, pre, "X-Env", "can", true},
		{"header prefix no", reqFull, hdr, pre, "X-Env", "ary", false},
		{"header suffix", reqFull, hdr, suf, "X-Env", "ary", true},
		{"header contains", reqFull, hdr, sub, "X-Env", "a,b", true},
		{"header contains no", reqFull, hdr, sub, "X-Env", "staging", false},
		{"header regex", reqFull, hdr, re, "X-Env", "^prod$", true},
		{"header regex no", reqFull, hdr, re, "X-Env", "^staging$", false},
		{"header quoted value with space", reqFull, hdr, eqT, "X-Space", `"a b"`, true},
		{"header empty value", reqFull, hdr, re, "X-Empty", "^$", true},
		{"header missing", reqFull, hdr, eqT, "X-Missing", "prod", false},
		{"header missing regex matching anything", reqFull, hdr, re, "X-Missing", ".*", false},
		{"header name with comma never", reqFull, hdr, re, "X-Env,", ".*", false},
		{"header host", reqFull, hdr, eqT, "Host", "WWW.Example.COM:8080", true},

		// COOKIE: name case-sensitive, every Cookie field, value without quotes.
		{"cookie", reqFull, ck, eqT, "session", "abc123", true},
		{"cookie quoted value", reqFull, ck, eqT, "theme", "dark", true},
		{"cookie second field", reqFull, ck, eqT, "lang", "en", true},
		{"cookie name case", reqFull, ck, eqT, "Session", "abc123", false},
		{"cookie value case", reqFull, ck, eqT, "session", "ABC123", false},
		{"cookie prefix", reqFull, ck, pre, "session", "abc", true},
		{"cookie prefix no", reqFull, ck, pre, "session", "123", false},
		{"cookie suffix", reqFull, ck, suf, "session", "123", true},
		{"cookie contains", reqFull, ck, sub, "session", "c12", true},
		{"cookie contains no", reqFull, ck, sub, "session", "xyz", false},
		{"cookie regex", reqFull, ck, re, "session", `^abc[0-9]+$`, true},
		{"cookie regex no", reqFull, ck, re, "session", `^[0-9]+$`, false},
		{"cookie without value part", reqFull, ck, re, "broken", ".*", false},
		{"cookie missing", reqFull, ck, eqT, "missing", "x", false},
		{"cookie none at all", reqBare, ck, re, "session", ".*", false},
		{"cookie name is not a value", reqFull, ck, eqT, "abc123", "session", false},

		// SSL_*: no TLS on an HTTP listener, so never true.
		{"ssl has cert", reqFull, dataplane.RuleSSLConnHasCert, eqT, "", "true", false},
		{"ssl verify result", reqFull, dataplane.RuleSSLVerifyResult, eqT, "", "0", false},
		{"ssl dn field", reqFull, dataplane.RuleSSLDNField, sub, "CN", "x", false},
		{"ssl dn field regex", reqFull, dataplane.RuleSSLDNField, re, "CN", ".*", false},
	} {
		for _, invert := range []bool{false, true} {
			name := tc.name
			if invert {
				name += " inverted"
			}
			t.Run(name, func(t *testing.T) {
				dr := dataplane.L7Rule{Type: tc.typ, CompareType: tc.cmp, Key: tc.key, Value: tc.v, Invert: invert}
				c := &dataplane.Config{Listeners: []dataplane.Listener{{ID: "l", LoadBalancerID: "lb", Protocol: dataplane.ProtocolHTTP,
					Addresses: []string{"127.0.0.1"}, ProtocolPort: 80, L7Policies: []dataplane.L7Policy{{ID: "p", Action: dataplane.ActionReject,
						Rules: []dataplane.L7Rule{dr}}}}}}
				if err := c.Validate(); err != nil {
					t.Fatalf("rule %+v refused by Validate: %v", dr, err)
				}
				want := tc.want != invert
				if got := evalRule(t, tc.req, dr); got != want {
					t.Fatalf("request %q\nrule %s %s key=%q value=%q invert=%v: got %v, want %v", tc.req, tc.typ, tc.cmp, tc.key, tc.v, invert, got, want)
				}
			})
		}
	}
}

func TestL7Helpers(t *testing.T) {
	for _, tc := range []struct{ target, pq, path string }{
		{"/a/b?c=d", "/a/b?c=d", "/a/b"},
		{"/", "/", "/"},
		{"/?", "/?", "/"},
		{"http://h/x?y", "/x?y", "/x"},
		{"HTTPS://h:8443", "", "/"},
		{"http://h?q=1", "?q=1", "/"},
		{"http://h/%2e%2E/b//c", "/%2e%2E/b//c", "/b/c"},
	} {
		m := mustParse(t, "GET "+tc.target+" HTTP/1.1\r\nHost: h\r\n\r\n")
		if got := string(m.pathQuery.of(m.head)); got != tc.pq {
			t.Errorf("path and query of %q = %q, want %q", tc.target, got, tc.pq)
		}
		var v l7view
		v.reset(m)
		if got := string(v.requestPath()); got != tc.path {
			t.Errorf("rule path of %q = %q, want %q", tc.target, got, tc.path)
		}
	}
	for in, want := range map[string]string{
		"a.example": "a.example", "a.example:80": "a.example", "a.example:": "a.example", "[::1]:443": "[::1]",
		"[::1]": "[::1]", "::1": "::1", "a:b": "a:b", "[::1": "[::1", "": "",
	} {
		if got := string(stripPort([]byte(in))); got != want {
			t.Errorf("stripPort(%q) = %q, want %q", in, got, want)
		}
	}
	for _, tc := range []struct {
		in, elems string
	}{
		{"a, b ,c", "a|b|c"},
		{`"x,y", z`, `"x,y"|z`},
		{`"x\",y", z`, `"x\",y"|z`},
		{"", ""},
		{",", "|"},
		{"a,,b", "a||b"},
	} {
		var got []string
		v := []byte(tc.in)
		for {
			e, rest, more := nextElement(v)
			got = append(got, string(e))
			if !more {
				break
			}
			v = rest
		}
		if strings.Join(got, "|") != tc.elems {
			t.Errorf("elements of %q = %q, want %q", tc.in, got, tc.elems)
		}
	}
}

func testPool(id string) *balance.Pool {
	return balance.NewPool(&dataplane.Pool{ID: id, Protocol: dataplane.ProtocolHTTP, Algorithm: dataplane.RoundRobin}, nil, nil, nil)
}

// TestL7PolicyOrder checks AND within a policy, first match by position, list order on
// equal positions, and no match.
func TestL7PolicyOrder(t *testing.T) {
	pools := map[string]*balance.Pool{"a": testPool("a"), "b": testPool("b")}
	rule := func(typ, cmp, key, v string) dataplane.L7Rule {
		return dataplane.L7Rule{Type: typ, CompareType: cmp, Key: key, Value: v}
	}
	apiRule := rule(dataplane.RulePath, dataplane.CompareStartsWith, "", "/api")
	canary := rule(dataplane.RuleHeader, dataplane.CompareEqualTo, "X-Canary", "1")
	l := &dataplane.Listener{ID: "l", Protocol: dataplane.ProtocolHTTP, L7Policies: []dataplane.L7Policy{
		{ID: "reject-admin", Position: 9, Action: dataplane.ActionReject, Rules: []dataplane.L7Rule{rule(dataplane.RulePath, dataplane.CompareStartsWith, "", "/")}},
		{ID: "api-canary", Position: 1, Action: dataplane.ActionRedirectToPool, RedirectPoolID: "b", Rules: []dataplane.L7Rule{apiRule, canary}},
		{ID: "api", Position: 2, Action: dataplane.ActionRedirectToPool, RedirectPoolID: "a", Rules: []dataplane.L7Rule{apiRule}},
		{ID: "api-shadowed", Position: 2, Action: dataplane.ActionRedirectToURL, RedirectURL: "http://x/", Rules: []dataplane.L7Rule{apiRule}},
		{ID: "old", Position: 3, Action: dataplane.ActionRedirectPrefix, RedirectPrefix: "https://new.example", Rules: []dataplane.L7Rule{rule(dataplane.RulePath, dataplane.CompareStartsWith, "", "/old")}},
	}}
	ps, err := newPolicies(l, pools)
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, p := range ps {
		order = append(order, p.id)
	}
	if got := strings.Join(order, ","); got != "api-canary,api,api-shadowed,old,reject-admin" {
		t.Fatalf("evaluation order %s", got)
	}
	for _, tc := range []struct{ req, want string }{
		{"GET /api/x HTTP/1.1\r\nHost: h\r\nX-Canary: 1\r\n\r\n", "api-canary"},
		{"GET /api/x HTTP/1.1\r\nHost: h\r\nX-Canary: 2\r\n\r\n", "api"},
		{"GET /api/x HTTP/1.1\r\nHost: h\r\n\r\n", "api"},
		{"GET /old/x HTTP/1.1\r\nHost: h\r\nX-Canary: 1\r\n\r\n", "old"},
		{"GET /other HTTP/1.1\r\nHost: h\r\n\r\n", "reject-admin"},
		{"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", ""},
	} {
		var v l7view
		v.reset(mustParse(t, tc.req))
		got := ""
		if p := matchPolicies(ps, &v); p != nil {
			got = p.id
		}
		if got != tc.want {
			t.Errorf("request %q: policy %q, want %q", tc.req, got, tc.want)
		}
	}
	if ps[0].route.pool != pools["b"] || ps[1].route.pool != pools["a"] {
		t.Errorf("routes: %+v %+v", ps[0].route, ps[1].route)
	}
	if want := "HTTP/1.1 302 Found\r\nContent-Length: 0\r\nCache-Control: no-cache\r\nLocation: https://new.example"; string(ps[3].head) != want {
		t.Errorf("prefix head %q, want %q", ps[3].head, want)
	}
}

func TestRedirectHead(t *testing.T) {
	for code, want := range map[int]string{
		301: "HTTP/1.1 301 Moved Permanently\r\nContent-Length: 0\r\n",
		302: "HTTP/1.1 302 Found\r\nContent-Length: 0\r\nCache-Control: no-cache\r\n",
		303: "HTTP/1.1 303 See Other\r\nContent-Length: 0\r\nCache-Control: no-cache\r\n",
		307: "HTTP/1.1 307 Temporary Redirect\r\nContent-Length: 0\r\nCache-Control: no-cache\r\n",
		308: "HTTP/1.1 308 Permanent Redirect\r\nContent-Length: 0\r\n",
	} {
		if got := string(redirectHead(code)); got != want {
			t.Errorf("redirectHead(%d) = %q, want %q", code, got, want)
		}
	}
}

var fuzzRuleTypes = []string{dataplane.RuleHostName, dataplane.RulePath, dataplane.RuleFileType, dataplane.RuleHeader,
	dataplane.RuleCookie, dataplane.RuleSSLConnHasCert, dataplane.RuleSSLVerifyResult, dataplane.RuleSSLDNField}

// FuzzL7Match evaluates rules of every type on arbitrary request heads. Whatever the head,
// matching must not panic, invert must negate, EQUAL_TO must imply STARTS_WITH, ENDS_WITH
// and CONTAINS, and a REGEX of the quoted value must agree with CONTAINS.
func FuzzL7Match(f *testing.F) {
	for _, s := range []string{reqFull, reqBare, reqAbs, reqAbsBar, reqV6, reqHost} {
		f.Add([]byte(s), uint8(0), "", "example")
		f.Add([]byte(s), uint8(3), "X-Env", "prod")
		f.Add([]byte(s), uint8(4), "session", "abc")
	}
	f.Add([]byte("GET /a.b.c HTTP/1.1\r\nHost: [x]:1\r\nCookie: ;;=;a=\"\r\n\r\n"), uint8(2), "", "c")
	f.Fuzz(func(t *testing.T, data []byte, typ uint8, key, value string) {
		scan := 0
		skip, n, err := findRequestHead(data, &scan)
		if err != nil || n < 0 {
			return
		}
		data = data[skip:]
		var m message
		if err := m.parseRequest(data[:n], 100); err != nil {
			return
		}
		rt := fuzzRuleTypes[int(typ)%len(fuzzRuleTypes)]
		var v l7view
		v.reset(&m)
		eval := func(cmp, val string, invert bool) (bool, bool) {
			r, err := newRule(&dataplane.L7Rule{Type: rt, CompareType: cmp, Key: key, Value: val, Invert: invert})
			if err != nil {
				return false, false
			}
			v.reset(&m) // derived parts are recomputed: the result must not depend on the cache
			return r.match(&v), true
		}
		res := map[string]bool{}
		for _, cmp := range []string{dataplane.CompareEqualTo, dataplane.CompareStartsWith, dataplane.CompareEndsWith, dataplane.CompareContains, dataplane.CompareRegex} {
			got, ok := eval(cmp, value, false)
			if !ok {
				continue
			}
			inv, _ := eval(cmp, value, true)
			if inv == got {
				t.Fatalf("%s %s %q/%q on %q: inverted gives the same result %v", rt, cmp, key, value, data[:n], got)
			}
			res[cmp] = got
		}
		if res[dataplane.CompareEqualTo] && (!res[dataplane.CompareStartsWith] || !res[dataplane.CompareEndsWith] || !res[dataplane.CompareContains]) {
			t.Fatalf("%s %q/%q on %q: EQUAL_TO without STARTS_WITH/ENDS_WITH/CONTAINS: %v", rt, key, value, data[:n], res)
		}
		// Over ASCII values (RE2's (?i) also folds Unicode, and reads invalid UTF-8 as U+FFFD).
		mv := (&dataplane.L7Rule{Value: value}).MatchValue()
		quoted, ok := eval(dataplane.CompareRegex, "(?:"+regexp.QuoteMeta(mv)+")", false)
		if ok && ascii(mv) && quoted != res[dataplane.CompareContains] {
			t.Fatalf("%s %q/%q on %q: REGEX of the quoted value %v, CONTAINS %v", rt, key, value, data[:n], quoted, res[dataplane.CompareContains])
		}
		// Whole policies: evaluation never panics and returns one of them.
		ps, err := newPolicies(&dataplane.Listener{Protocol: dataplane.ProtocolHTTP, L7Policies: []dataplane.L7Policy{
			{ID: "1", Action: dataplane.ActionReject, Rules: []dataplane.L7Rule{{Type: rt, CompareType: dataplane.CompareContains, Key: key, Value: value}}},
			{ID: "2", Action: dataplane.ActionRedirectPrefix, RedirectPrefix: "http://x", Rules: []dataplane.L7Rule{{Type: rt, CompareType: dataplane.CompareEqualTo, Key: key, Value: value, Invert: true}}},
		}}, nil)
		if err != nil {
			// A value Validate refuses (SSL_VERIFY_RESULT "A"): no policy is built, as eval
			// found for the single rules.
			if _, ok := eval(dataplane.CompareContains, value, false); ok {
				t.Fatalf("policies refused a rule the matcher accepts: %v", err)
			}
			return
		}
		v.reset(&m)
		p := matchPolicies(ps, &v)
		if p != nil && p.id != "1" && p.id != "2" {
			t.Fatalf("policy %q", p.id)
		}
		if res[dataplane.CompareContains] && (p == nil || p.id != "1") {
			t.Fatalf("%s %q/%q on %q: CONTAINS matched but the policy did not: %v", rt, key, value, data[:n], p)
		}
	})
}

func ascii(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// BenchmarkL7Match evaluates five policies of different rule types, none matching, on a
// parsed browser request (the per-request cost L7 policies add to forwarding).
func BenchmarkL7Match(b *testing.B) {
	raw := "GET /index.html?user=42 HTTP/1.1\r\nHost: www.example.com\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/120.0\r\nAccept: text/html,application/xhtml+xml\r\nAccept-Language: en-US,en;q=0.5\r\nAccept-Encoding: gzip, deflate\r\nCookie: session=abc; SRV=m1\r\nConnection: keep-alive\r\n\r\n"
	r := func(typ, cmp, key, v string) []dataplane.L7Rule {
		return []dataplane.L7Rule{{Type: typ, CompareType: cmp, Key: key, Value: v}}
	}
	ps, err := newPolicies(&dataplane.Listener{Protocol: dataplane.ProtocolHTTP, L7Policies: []dataplane.L7Policy{
		{ID: "1", Action: dataplane.ActionReject, Rules: r(dataplane.RulePath, dataplane.CompareStartsWith, "", "/admin")},
		{ID: "2", Action: dataplane.ActionReject, Rules: r(dataplane.RuleHostName, dataplane.CompareEqualTo, "", "api.example.com")},
		{ID: "3", Action: dataplane.ActionReject, Rules: r(dataplane.RuleHeader, dataplane.CompareEqualTo, "X-Canary", "1")},
		{ID: "4", Action: dataplane.ActionReject, Rules: r(dataplane.RuleCookie, dataplane.CompareEqualTo, "env", "beta")},
		{ID: "5", Action: dataplane.ActionReject, Rules: r(dataplane.RulePath, dataplane.CompareRegex, "", `^/v[0-9]+/`)},
	}}, nil)
	if err != nil {
		b.Fatal(err)
	}
	m := mustParse(b, raw)
	var v l7view
	b.ReportAllocs()
	for b.Loop() {
		v.reset(m)
		if p := matchPolicies(ps, &v); p != nil {
			b.Fatalf("matched %s", p.id)
		}
	}
}
