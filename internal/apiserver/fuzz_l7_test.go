package apiserver

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/fulcrumlb/fulcrum/internal/lb"
)

// FuzzL7RuleValue fuzzes L7 rule validation with arbitrary types, compare
// types, keys and values: it never panics, every refusal is a user-facing
// fault, and what it accepts the data plane can use — REGEX values compile
// as RE2, other values of HOST_NAME, PATH, FILE_TYPE and HEADER rules hold
// no space outside double quotes, header keys are tokens.
func FuzzL7RuleValue(f *testing.F) {
	for _, s := range [][4]string{
		{"PATH", "STARTS_WITH", "", "/api"}, {"HOST_NAME", "REGEX", "", `^(www\.)?example\.com$`},
		{"HEADER", "EQUAL_TO", "X-A", `"a b"`}, {"COOKIE", "CONTAINS", "sess", "a,b"}, {"FILE_TYPE", "EQUAL_TO", "", "jpg"},
		{"SSL_CONN_HAS_CERT", "EQUAL_TO", "", "True"}, {"SSL_VERIFY_RESULT", "EQUAL_TO", "", "0"}, {"SSL_DN_FIELD", "REGEX", "CN", "(a|b"},
		{"PATH", "REGEX", "", "^/(?=api)"}, {"HEADER", "REGEX", "X,Y", `\1`},
	} {
		f.Add(s[0], s[1], s[2], s[3], s[2] != "")
	}
	space := regexp.MustCompile(`\s`)
	f.Fuzz(func(t *testing.T, typ, cmp, key, value string, hasKey bool) {
		r := &lb.L7Rule{Type: typ, CompareType: cmp, Value: value}
		if hasKey {
			r.Key = &key
		}
		err := r.Validate()
		var ve *lb.ValidationError
		if err != nil {
			if !errors.As(err, &ve) || !strings.HasPrefix(ve.Msg, "Error parsing L7Rule: ") {
				t.Fatalf("Validate(%q %q %q %q): %v is not an L7 rule fault", typ, cmp, key, value, err)
			}
			return
		}
		if !lb.Contains(lb.L7RuleTypes, typ) || value == "" {
			t.Fatalf("accepted a %q rule with value %q", typ, value)
		}
		if cmp == lb.CompareRegex {
			if _, err := regexp.Compile(value); err != nil {
				t.Fatalf("accepted REGEX %q that RE2 refuses: %v", value, err)
			}
			return
		}
		switch typ {
		case lb.RuleHostName, lb.RulePath, lb.RuleFileType, lb.RuleHeader:
			if space.MatchString(strings.ReplaceAll(value, " ", "")) && !strings.HasPrefix(value, `"`) {
				t.Fatalf("accepted %s value %q with whitespace outside quotes", typ, value)
			}
			if strings.Contains(value, " ") && !(strings.HasPrefix(value, `"`) && strings.HasSuffix(value, `"`)) {
				t.Fatalf("accepted %s value %q with a space outside quotes", typ, value)
			}
		}
		if (typ == lb.RuleHeader || typ == lb.RuleCookie) && (key == "" || strings.ContainsAny(key, " \t\r\n:;=")) {
			t.Fatalf("accepted %s key %q", typ, key)
		}
	})
}

var (
	l7policySeeds = []string{
		`{"l7policy": {"listener_id": "{listener}", "action": "REDIRECT_TO_POOL", "redirect_pool_id": "{pool}", "position": 1}}`,
		`{"l7policy": {"listener_id": "{listener}", "action": "REJECT", "redirect_prefix": "https://example.com", "redirect_http_code": "308"}}`,
		`{"l7policy": {"listener_id": "{listener}", "action": "REDIRECT_TO_URL", "redirect_url": "http://[::1]:80/x", "rules": [{"type": "HEADER", "key": "X", "compare_type": "REGEX", "value": "^a"}]}}`,
		`{"l7policy": {"action": null, "redirect_pool_id": "{udppool}", "position": "2147483647", "tags": ["b", "a", "b"]}}`,
	}
	ruleSeeds = []string{
		`{"rule": {"type": "PATH", "compare_type": "STARTS_WITH", "value": "/api", "invert": "yes"}}`,
		`{"rule": {"type": "SSL_DN_FIELD", "key": "CN", "compare_type": "REGEX", "value": "(a"}}`,
		`{"rule": {"type": "HEADER", "key": null, "value": null, "invert": null, "admin_state_up": null}}`,
	}
	catalogSeeds = []string{
		`{"flavorprofile": {"name": "x", "provider_name": "amphora", "flavor_data": "{\"loadbalancer_topology\": \"SINGLE\"}"}}`,
		`{"flavorprofile": {"name": "x", "provider_name": "noop", "flavor_data": "{\"engine\": 1, \"z\": []}"}}`,
		`{"flavorprofile": {"name": null, "flavor_data": "[1"}}`,
	}
)

func FuzzDecodeL7PolicyCreate(f *testing.F) {
	fuzzDecode(f, func(s *schemas) *body { return &s.l7policyPost }, l7policySeeds...)
}
func FuzzDecodeL7RuleCreate(f *testing.F) {
	fuzzDecode(f, func(s *schemas) *body { return &s.rulePost }, ruleSeeds...)
}
func FuzzAPIL7PolicyCreate(f *testing.F) {
	fuzzAPI(f, "POST", "/v2/lbaas/l7policies", l7policySeeds...)
}
func FuzzAPIL7PolicyUpdate(f *testing.F) {
	fuzzAPI(f, "PUT", "/v2/lbaas/l7policies/{policy}", l7policySeeds...)
}
func FuzzAPIL7RuleCreate(f *testing.F) {
	fuzzAPI(f, "POST", "/v2/lbaas/l7policies/{policy}/rules", ruleSeeds...)
}
func FuzzAPIL7RuleUpdate(f *testing.F) {
	fuzzAPI(f, "PUT", "/v2/lbaas/l7policies/{policy}/rules/{rule}", ruleSeeds...)
}
func FuzzAPIFlavorProfileCreate(f *testing.F) {
	fuzzAPI(f, "POST", "/v2/lbaas/flavorprofiles", catalogSeeds...)
}
func FuzzAPIFlavorProfileUpdate(f *testing.F) {
	fuzzAPI(f, "PUT", "/v2/lbaas/flavorprofiles/{flavorprofile}", catalogSeeds...)
}
