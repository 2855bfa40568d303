package dataplane

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// L7 policy actions (L7Policy.Action).
const (
	ActionRedirectToPool = "REDIRECT_TO_POOL"
	ActionRedirectToURL  = "REDIRECT_TO_URL"
	ActionRedirectPrefix = "REDIRECT_PREFIX"
	ActionReject         = "REJECT"
)

// L7 rule types (L7Rule.Type).
const (
	RuleHostName        = "HOST_NAME"
	RulePath            = "PATH"
	RuleFileType        = "FILE_TYPE"
	RuleHeader          = "HEADER"
	RuleCookie          = "COOKIE"
	RuleSSLConnHasCert  = "SSL_CONN_HAS_CERT"
	RuleSSLVerifyResult = "SSL_VERIFY_RESULT"
	RuleSSLDNField      = "SSL_DN_FIELD"
)

// L7 rule compare types (L7Rule.CompareType).
const (
	CompareRegex      = "REGEX"
	CompareStartsWith = "STARTS_WITH"
	CompareEndsWith   = "ENDS_WITH"
	CompareContains   = "CONTAINS"
	CompareEqualTo    = "EQUAL_TO"
)

// DefaultRedirectCode is the status of REDIRECT_TO_URL and REDIRECT_PREFIX answers when
// the policy names none.
const DefaultRedirectCode = 302

// MatchValue is the text a non-REGEX rule compares against: Value, without the enclosing
// double quotes of Octavia's QUOTED_VALUE form (`"a b"` compares as `a b`, as HAProxy reads
// the quoted word the amphora driver writes). Only one pair of enclosing quotes is removed.
// A REGEX rule's Value is its expression as it is (Octavia applies QUOTED_VALUE to
// non-REGEX values only, and the API compiles the value unchanged): see Regexp.
func (r *L7Rule) MatchValue() string {
	v := r.Value
	if r.CompareType != CompareRegex && len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		return v[1 : len(v)-1]
	}
	return v
}

// Regexp compiles the Value of a REGEX rule. The dialect is Go's RE2 syntax (no
// back-references or look-arounds) with search semantics: the expression may match
// anywhere in the text, as HAProxy's "-m reg"; anchor it with ^ and $ to match the whole.
// HOST_NAME rules match case-insensitively. The result is safe for concurrent use.
func (r *L7Rule) Regexp() (*regexp.Regexp, error) {
	expr := r.Value
	if r.Type == RuleHostName {
		expr = "(?i)" + expr // a flag group: valid in front of any valid expression
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		return nil, fmt.Errorf("invalid regular expression %q: %w", r.Value, err)
	}
	return re, nil
}

// l7Policies checks the L7 policies of listener l at path.
func (v *validator) l7Policies(path string, l *Listener, c *Config, pools map[string]int) {
	if len(l.L7Policies) == 0 {
		return
	}
	switch l.Protocol {
	case ProtocolHTTP, ProtocolTerminatedHTTPS:
	default:
		v.add(path+".l7policies", "L7 policies are only supported on HTTP and TERMINATED_HTTPS listeners, not on a %s listener", l.Protocol)
		return
	}
	ids := map[string]int{}
	for i := range l.L7Policies {
		p := &l.L7Policies[i]
		pp := fmt.Sprintf("%s.l7policies[%d]", path, i)
		if p.ID == "" {
			v.add(pp+".id", "required")
		} else if j, dup := ids[p.ID]; dup {
			v.add(pp+".id", "duplicate id %q (also l7policies[%d])", p.ID, j)
		} else {
			ids[p.ID] = i
		}
		v.l7Action(pp, l, p, c, pools)
		if len(p.Rules) == 0 {
			v.add(pp+".rules", "at least one rule required (a policy without rules never applies)")
		}
		for j := range p.Rules {
			v.l7Rule(fmt.Sprintf("%s.rules[%d]", pp, j), &p.Rules[j])
		}
	}
}

func (v *validator) l7Action(pp string, l *Listener, p *L7Policy, c *Config, pools map[string]int) {
	if p.Action != ActionRedirectToPool && p.RedirectPoolID != "" {
		v.add(pp+".redirect_pool_id", "only valid with action REDIRECT_TO_POOL")
	}
	if p.Action != ActionRedirectToURL && p.RedirectURL != "" {
		v.add(pp+".redirect_url", "only valid with action REDIRECT_TO_URL")
	}
	if p.Action != ActionRedirectPrefix && p.RedirectPrefix != "" {
		v.add(pp+".redirect_prefix", "only valid with action REDIRECT_PREFIX")
	}
	switch p.Action {
	case ActionRedirectToPool:
		if p.RedirectPoolID == "" {
			v.add(pp+".redirect_pool_id", "required for action REDIRECT_TO_POOL")
			return
		}
		j, ok := pools[p.RedirectPoolID]
		if !ok {
			v.add(pp+".redirect_pool_id", "pool %q not found", p.RedirectPoolID)
		} else if pr := c.Pools[j].Protocol; !compatible(l.Protocol, pr) {
			v.add(pp+".redirect_pool_id", "pool protocol %s (pools[%d]) is invalid for a %s listener", pr, j, l.Protocol)
		}
	case ActionRedirectToURL, ActionRedirectPrefix:
		field, u := "redirect_url", p.RedirectURL
		if p.Action == ActionRedirectPrefix {
			field, u = "redirect_prefix", p.RedirectPrefix
		}
		if u == "" {
			v.add(pp+"."+field, "required for action %s", p.Action)
		} else if err := checkRedirectURL(u); err != nil {
			v.add(pp+"."+field, "%v", err)
		}
		switch p.RedirectHTTPCode {
		case 0, 301, 302, 303, 307, 308:
		default:
			v.add(pp+".redirect_http_code", "%d is not a redirect status (want 301, 302, 303, 307 or 308)", p.RedirectHTTPCode)
		}
	case ActionReject:
	case "":
		v.add(pp+".action", "required")
	default:
		v.add(pp+".action", "unknown action %q (want REDIRECT_TO_POOL, REDIRECT_TO_URL, REDIRECT_PREFIX or REJECT)", p.Action)
	}
}

// checkRedirectURL refuses what cannot go into a Location header: an empty or relative
// URL, a scheme other than http/https, a missing host, and control characters or spaces
// (Octavia's URL_BAD_BYTES), which could split the response.
func checkRedirectURL(u string) error {
	if !utf8.ValidString(u) {
		return fmt.Errorf("%q is not valid UTF-8", u)
	}
	for _, r := range u {
		if r <= 0x20 || (r >= 0x7f && r <= 0x9f) {
			return fmt.Errorf("%q holds a space or control character", u)
		}
	}
	lower := strings.ToLower(u)
	rest, ok := strings.CutPrefix(lower, "http://")
	if !ok {
		rest, ok = strings.CutPrefix(lower, "https://")
	}
	if !ok {
		return fmt.Errorf("%q is not an absolute http or https URL", u)
	}
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		rest = rest[:i]
	}
	if i := strings.LastIndexByte(rest, '@'); i >= 0 {
		rest = rest[i+1:]
	}
	if rest == "" || rest[0] == ':' {
		return fmt.Errorf("%q has no host", u)
	}
	return nil
}

func (v *validator) l7Rule(rp string, r *L7Rule) {
	if strings.ContainsAny(r.Key, "\r\n") {
		v.add(rp+".key", "must not hold CR or LF")
	}
	if strings.ContainsAny(r.Value, "\r\n") {
		v.add(rp+".value", "must not hold CR or LF")
	}
	if r.Value == "" {
		v.add(rp+".value", "required")
	}
	switch r.CompareType {
	case CompareRegex, CompareStartsWith, CompareEndsWith, CompareContains, CompareEqualTo:
	case "":
		v.add(rp+".compare_type", "required")
		return
	default:
		v.add(rp+".compare_type", "unknown compare type %q (want REGEX, STARTS_WITH, ENDS_WITH, CONTAINS or EQUAL_TO)", r.CompareType)
		return
	}
	switch r.Type {
	case RuleHostName, RulePath:
		// Key is not used (Octavia keeps one given on create): ignored.
	case RuleFileType:
		if r.CompareType != CompareEqualTo && r.CompareType != CompareRegex {
			v.add(rp+".compare_type", "%s is invalid for rule type FILE_TYPE (want EQUAL_TO or REGEX)", r.CompareType)
		}
	case RuleHeader, RuleCookie:
		if r.Key == "" {
			v.add(rp+".key", "required for rule type %s", r.Type)
		} else if !headerName(r.Key) {
			v.add(rp+".key", "%q is not a valid %s name", r.Key, strings.ToLower(r.Type))
		}
	case RuleSSLConnHasCert, RuleSSLVerifyResult:
		if r.CompareType != CompareEqualTo {
			v.add(rp+".compare_type", "rule type %s only supports EQUAL_TO", r.Type)
		}
		if r.Key != "" {
			v.add(rp+".key", "not used by rule type %s", r.Type)
		}
		if r.Type == RuleSSLConnHasCert && !strings.EqualFold(r.Value, "true") {
			v.add(rp+".value", "must be \"true\" for rule type SSL_CONN_HAS_CERT")
		}
		if r.Type == RuleSSLVerifyResult {
			if n, err := strconv.Atoi(r.Value); err != nil || n < 0 {
				v.add(rp+".value", "must be an integer of 0 or more for rule type SSL_VERIFY_RESULT")
			}
		}
	case RuleSSLDNField:
		if r.Key == "" {
			v.add(rp+".key", "required for rule type SSL_DN_FIELD")
		}
	case "":
		v.add(rp+".type", "required")
		return
	default:
		v.add(rp+".type", "unknown rule type %q (want HOST_NAME, PATH, FILE_TYPE, HEADER, COOKIE, SSL_CONN_HAS_CERT, SSL_VERIFY_RESULT or SSL_DN_FIELD)", r.Type)
		return
	}
	if r.CompareType == CompareRegex && r.Value != "" {
		if _, err := r.Regexp(); err != nil {
			v.add(rp+".value", "%v", err)
		}
	}
}

// headerName reports whether s passes Octavia's HEADER_NAME pattern for rule keys: the
// HTTP token characters (RFC 9110 tchar) and ',', which that pattern admits through a
// character range. A key holding ',' names no header a request can carry: its rule never
// matches (and always matches inverted), as with the amphora driver.
func headerName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~,", c) >= 0:
		default:
			return false
		}
	}
	return true
}
