package apiserver

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/fulcrumlb/fulcrum/internal/lb"
)

const uuid1 = "6a0a707c-45ef-4758-b533-e55adddba8ce"

func faultOf(err error) string {
	if err == nil {
		return ""
	}
	if ve, ok := err.(*lb.ValidationError); ok {
		return ve.Msg
	}
	return "non-validation error: " + err.Error()
}

// TestScalarConversions covers the WSME coercions every attribute relies
// on: numeric strings, Python int()/float() rules, WSME booleans, UUID
// normalisation, IP and CIDR forms.
func TestScalarConversions(t *testing.T) {
	port := aInt("protocol_port", 1, 65535)
	unbounded := aInt("connection_limit", -1, noMax)
	tests := []struct {
		name  string
		attr  attr
		input string // JSON
		want  any    // converted value, or nil when wantErr
		err   string // reason text
	}{
		{"int from number", port, `80`, int64(80), ""},
		{"int from numeric string", port, `"443"`, int64(443), ""},
		{"int from string with spaces and sign", port, `" +443 "`, int64(443), ""},
		{"int from string with underscores", port, `"4_43"`, int64(443), ""},
		{"int from float truncates", port, `80.9`, int64(80), ""},
		{"int from exponent", port, `1e2`, int64(100), ""},
		{"int from true", port, `true`, int64(1), ""},
		{"int from false is below min", port, `false`, nil, "Value should be greater or equal to 1"},
		{"int not numeric", port, `"abc"`, nil, "invalid literal for int() with base 10: 'abc'"},
		{"int decimal string", port, `"80.5"`, nil, "invalid literal for int() with base 10: '80.5'"},
		{"int double underscore", port, `"4__43"`, nil, "invalid literal for int() with base 10: '4__43'"},
		{"int from list", port, `[1]`, nil, "int() argument must be a string, a bytes-like object or a real number, not 'list'"},
		{"int from object", port, `{}`, nil, "int() argument must be a string, a bytes-like object or a real number, not 'dict'"},
		{"int above max", port, `65536`, nil, "Value should be lower or equal to 65535"},
		{"int huge", port, `123456789012345678901234567890`, nil, "Value should be lower or equal to 65535"},
		{"int huge negative", port, `-123456789012345678901234567890`, nil, "Value should be greater or equal to 1"},
		{"int infinity", port, `1e400`, nil, "cannot convert float infinity to integer"},
		{"int unbounded capped at int32", unbounded, `2147483648`, nil, "Value should be lower or equal to 2147483647"},
		{"int unbounded at int32", unbounded, `2147483647`, int64(2147483647), ""},
		{"bool true", aBool("b"), `true`, true, ""},
		{"bool from 0", aBool("b"), `0`, false, ""},
		{"bool from 2", aBool("b"), `2`, true, ""},
		{"bool from yes", aBool("b"), `"yes"`, true, ""},
		{"bool from off", aBool("b"), `"off"`, false, ""},
		{"bool from t", aBool("b"), `"t"`, true, ""},
		{"bool upper case refused", aBool("b"), `"TRUE"`, nil, "Value not an unambiguous boolean: TRUE"},
		{"bool from float refused", aBool("b"), `1.0`, nil, "Value not an unambiguous boolean: 1.0"},
		{"bool from list refused", aBool("b"), `["a"]`, nil, "Value not an unambiguous boolean: ['a']"},
		{"uuid canonical", aUUID("u"), `"` + uuid1 + `"`, uuid1, ""},
		{"uuid without dashes", aUUID("u"), `"6A0A707C45EF4758B533E55ADDDBA8CE"`, uuid1, ""},
		{"uuid with braces and urn", aUUID("u"), `"urn:uuid:{` + uuid1 + `}"`, uuid1, ""},
		{"uuid too short", aUUID("u"), `"6a0a707c"`, nil, "Value should be UUID format"},
		{"uuid not hex", aUUID("u"), `"6a0a707c-45ef-4758-b533-e55adddba8cz"`, nil, "Value should be UUID format"},
		{"uuid number", aUUID("u"), `7`, nil, "Value should be UUID format"},
		{"ipv4", aIP("a"), `"192.0.2.1"`, "192.0.2.1", ""},
		{"ipv6", aIP("a"), `"2001:db8::1"`, "2001:db8::1", ""},
		{"ipv4 leading zero", aIP("a"), `"192.0.2.01"`, nil, "Value should be IPv4 or IPv6 format"},
		{"ipv6 zone", aIP("a"), `"fe80::1%eth0"`, nil, "Value should be IPv4 or IPv6 format"},
		{"ip number", aIP("a"), `123`, nil, "Value should be IPv4 or IPv6 format"},
		{"cidr host bits zeroed", attr{kind: kCIDR}, `"192.0.2.7/24"`, "192.0.2.0/24", ""},
		{"cidr bare address", attr{kind: kCIDR}, `"192.0.2.7"`, "192.0.2.7/32", ""},
		{"cidr netmask", attr{kind: kCIDR}, `"10.1.2.3/255.255.0.0"`, "10.1.0.0/16", ""},
		{"cidr ipv6", attr{kind: kCIDR}, `"2001:db8::1/64"`, "2001:db8::/64", ""},
		{"cidr bad prefix", attr{kind: kCIDR}, `"10.0.0.0/33"`, nil, "Value should be IPv4 or IPv6 CIDR format"},
		{"string max length", aStr("name", 3), `"abcd"`, nil, "Value should have a maximum character requirement of 3"},
		{"string max length counts runes", aStr("name", 3), `"äöü"`, "äöü", ""},
		{"string from number", aStr("name", 3), `12`, nil, "Value should be string"},
		{"enum", aEnum("p", "A", "B"), `"C"`, nil, "Value should be one of: A, B"},
		{"enum from number", aEnum("p", "A", "B"), `1`, nil, "Value should be one of: A, B"},
		{"float enum from string", attr{kind: kFloatEnum, floats: []float64{1.0, 1.1}}, `"1.1"`, 1.1, ""},
		{"float enum from int", attr{kind: kFloatEnum, floats: []float64{1.0, 1.1}}, `1`, 1.0, ""},
		{"float enum wrong", attr{kind: kFloatEnum, floats: []float64{1.0, 1.1}}, `2`, nil, "Value should be one of: 1.0, 1.1"},
		{"float enum not numeric", attr{kind: kFloatEnum, floats: []float64{1.0, 1.1}}, `"x"`, nil, "could not convert string to float: 'x'"},
		{"url path", aURLPath("url_path"), `"/health?x=1"`, "/health?x=1", ""},
		{"url path with scheme", aURLPath("url_path"), `"http://x/"`, nil, "Value must be a valid URL Path string"},
		{"url path with space", aURLPath("url_path"), `"/a b"`, nil, "Value must be a valid URL Path string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, err := decodeJSON([]byte(tt.input))
			if err != nil {
				t.Fatal(err)
			}
			got, msg := tt.attr.scalar(raw)
			if msg != tt.err || (tt.err == "" && !reflect.DeepEqual(got, tt.want)) {
				t.Errorf("input %s: got (%#v, %q), want (%#v, %q)", tt.input, got, msg, tt.want, tt.err)
			}
		})
	}
}

// TestBodyFaults checks whole bodies against Octavia's faultstrings.
func TestBodyFaults(t *testing.T) {
	s := newSchemas()
	tests := []struct {
		name  string
		body  *body
		input string
		want  string
	}{
		{"not JSON", &s.lbPost, `{`, "Request is not in valid JSON format"},
		{"trailing garbage", &s.lbPost, `{"loadbalancer": {}} x`, "Request is not in valid JSON format"},
		{"empty body", &s.lbPost, ``, "Request is not in valid JSON format"},
		{"top-level list", &s.lbPost, `[]`, "Invalid input for field/attribute load_balancer. Value: '[]'. Value not a valid dict: []"},
		{"wrong wrapper", &s.lbPost, `{"load_balancer": {}}`, "Unknown attribute for argument load_balancer: load_balancer"},
		{"missing wrapper", &s.listenerPost, `{}`, "Invalid input for field/attribute listener. Value: 'None'. Mandatory field missing."},
		{"null wrapper", &s.poolPost, `{"pool": null}`, "Invalid input for field/attribute pool. Value: 'None'. Mandatory field missing."},
		{"wrapper not an object", &s.poolPost, `{"pool": "x"}`, "Invalid input for field/attribute pool. Value: 'x'. Value not a valid dict: x"},
		{"unknown attribute", &s.lbPost, `{"loadbalancer": {"foo": 1}}`, "Unknown attribute for argument load_balancer.loadbalancer: foo"},
		{"unknown attributes sorted", &s.listenerPut, `{"listener": {"zed": 1, "alpha": 2}}`, "Unknown attributes for argument listener_.listener: alpha, zed"},
		{"read-only id is unknown", &s.poolPut, `{"pool": {"id": "x"}}`, "Unknown attribute for argument pool_.pool: id"},
		{"read-only provisioning_status is unknown", &s.memberPut, `{"member": {"provisioning_status": "ACTIVE"}}`, "Unknown attribute for argument member_.member: provisioning_status"},
		{"unknown before mandatory", &s.memberPost, `{"member": {"foo": 1}}`, "Unknown attribute for argument member_.member: foo"},
		{"nested unknown attribute", &s.poolPost, `{"pool": {"protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN", "session_persistence": {"type": "SOURCE_IP", "x": 1}}}`, "Unknown attribute for argument pool_.pool.session_persistence: x"},
		{"nested list unknown attribute", &s.lbPost, `{"loadbalancer": {"additional_vips": [{"subnet_id": "` + uuid1 + `", "y": 1}]}}`, "Unknown attribute for argument load_balancer.loadbalancer.additional_vips: y"},
		{"nested mandatory", &s.poolPost, `{"pool": {"protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN", "session_persistence": {}}}`, "Invalid input for field/attribute type. Value: 'None'. Mandatory field missing."},
		{"mandatory in declaration order", &s.listenerPost, `{"listener": {}}`, "Invalid input for field/attribute protocol. Value: 'None'. Mandatory field missing."},
		{"mandatory null", &s.listenerPost, `{"listener": {"protocol": null}}`, "Invalid input for field/attribute protocol. Value: 'None'. Mandatory field missing."},
		{"hm delay null on create", &s.hmPost, `{"healthmonitor": {"type": "TCP", "delay": null}}`, "None is not a valid option for delay"},
		{"hm delay null on update", &s.hmPut, `{"healthmonitor": {"delay": null}}`, "None is not a valid option for delay"},
		{"hm timeout null on update", &s.hmPut, `{"healthmonitor": {"timeout": null}}`, "None is not a valid option for timeout"},
		{"hm max_retries null on update", &s.hmPut, `{"healthmonitor": {"max_retries": null}}`, "None is not a valid option for max_retries"},
		{"tenant_id not on update", &s.lbPut, `{"loadbalancer": {"tenant_id": "x"}}`, "Unknown attribute for argument load_balancer.loadbalancer: tenant_id"},
		{"loadbalancer_id not on listener update", &s.listenerPut, `{"listener": {"loadbalancer_id": "` + uuid1 + `"}}`, "Unknown attribute for argument listener_.listener: loadbalancer_id"},
		{"protocol not on pool update", &s.poolPut, `{"pool": {"protocol": "HTTP"}}`, "Unknown attribute for argument pool_.pool: protocol"},
		{"address not on member update", &s.memberPut, `{"member": {"address": "192.0.2.1"}}`, "Unknown attribute for argument member_.member: address"},
		{"type not on hm update", &s.hmPut, `{"healthmonitor": {"type": "HTTP"}}`, "Unknown attribute for argument health_monitor_.healthmonitor: type"},
		{"members have no description", &s.memberPost, `{"member": {"address": "192.0.2.1", "protocol_port": 80, "description": "x"}}`, "Unknown attribute for argument member_.member: description"},
		{"tags item not a string", &s.lbPut, `{"loadbalancer": {"tags": ["a", 1]}}`, "Invalid input for field/attribute tags. Value: '['a', 1]'. Value should be string"},
		{"tags not a list", &s.lbPut, `{"loadbalancer": {"tags": "a"}}`, "Invalid input for field/attribute tags. Value: 'a'. Value not a valid list: a"},
		{"insert_headers not a dict", &s.listenerPut, `{"listener": {"insert_headers": ["X"]}}`, "Invalid input for field/attribute insert_headers. Value: '['X']'. Value not a valid dict: ['X']"},
		{"insert_headers value not a string", &s.listenerPut, `{"listener": {"insert_headers": {"X-Forwarded-For": true}}}`, "Invalid input for field/attribute insert_headers. Value: '{'X-Forwarded-For': True}'. Value should be string"},
		{"allowed_cidrs bad", &s.listenerPut, `{"listener": {"allowed_cidrs": ["10.0.0.0/8", "bad"]}}`, "Invalid input for field/attribute allowed_cidrs. Value: '['10.0.0.0/8', 'bad']'. Value should be IPv4 or IPv6 CIDR format"},
		{"alpn bad", &s.listenerPut, `{"listener": {"alpn_protocols": ["h3"]}}`, "Invalid input for field/attribute alpn_protocols. Value: '['h3']'. Value should be a valid ALPN protocol ID"},
		{"tls version too long", &s.poolPut, `{"pool": {"tls_versions": ["` + strings.Repeat("v", 33) + `"]}}`, "Invalid input for field/attribute tls_versions. Value: '['" + strings.Repeat("v", 33) + "']'. Value should have a maximum character requirement of 32"},
		{"expected_codes pattern", &s.hmPut, `{"healthmonitor": {"expected_codes": "2xx"}}`, "Invalid input for field/attribute expected_codes. Value: '2xx'. Value should match the pattern " + expectedCodesPattern},
		{"expected_codes trailing newline", &s.hmPut, `{"healthmonitor": {"expected_codes": "200\n"}}`, "Invalid input for field/attribute expected_codes. Value: '200\n'. Value should match the pattern " + expectedCodesPattern},
		{"domain_name pattern", &s.hmPut, `{"healthmonitor": {"domain_name": "-bad.example"}}`, "Invalid input for field/attribute domain_name. Value: '-bad.example'. Value should match the pattern " + domainNamePattern},
		{"domain_name empty", &s.hmPut, `{"healthmonitor": {"domain_name": ""}}`, "Invalid input for field/attribute domain_name. Value: ''. Value should have a minimum character requirement of 1"},
		{"cookie_name pattern", &s.poolPut, `{"pool": {"session_persistence": {"cookie_name": "a b"}}}`, "Invalid input for field/attribute cookie_name. Value: 'a b'. Value should match the pattern " + cookieNamePattern},
		{"redirect_http_code enum in graph", &s.lbPost, `{"loadbalancer": {"listeners": [{"protocol": "HTTP", "protocol_port": 80, "l7policies": [{"action": "REJECT", "redirect_http_code": 304}]}]}}`, "Invalid input for field/attribute redirect_http_code. Value: '304'. Value should be one of: 301, 302, 303, 307, 308"},
		{"graph listener has no loadbalancer_id", &s.lbPost, `{"loadbalancer": {"listeners": [{"protocol": "HTTP", "protocol_port": 80, "loadbalancer_id": "` + uuid1 + `"}]}}`, "Unknown attribute for argument load_balancer.loadbalancer.listeners: loadbalancer_id"},
		{"graph member has no project_id", &s.lbPost, `{"loadbalancer": {"pools": [{"members": [{"address": "192.0.2.1", "protocol_port": 80, "project_id": "p"}]}]}}`, "Unknown attribute for argument load_balancer.loadbalancer.pools.members: project_id"},
		{"batch members not a list", &s.membersPut, `{"members": {}}`, "Invalid input for field/attribute members. Value: '{}'. Value not a valid list: {}"},
		{"batch member unknown attribute", &s.membersPut, `{"members": [{"address": "192.0.2.1", "protocol_port": 80, "id": "x"}]}`, "Unknown attribute for argument members_.members: id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := tt.body.decode([]byte(tt.input))
			if got := faultOf(err); got != tt.want {
				t.Errorf("input %s\n got: %s\nwant: %s", tt.input, got, tt.want)
			}
		})
	}
}

// baseBodies are minimal valid inner objects of each request type.
func baseBodies(s *schemas) map[string]struct {
	b    *body
	base map[string]any
} {
	return map[string]struct {
		b    *body
		base map[string]any
	}{
		"loadbalancer create":  {&s.lbPost, map[string]any{"vip_subnet_id": uuid1}},
		"loadbalancer update":  {&s.lbPut, map[string]any{}},
		"listener create":      {&s.listenerPost, map[string]any{"loadbalancer_id": uuid1, "protocol": "HTTP", "protocol_port": 80}},
		"listener update":      {&s.listenerPut, map[string]any{}},
		"pool create":          {&s.poolPost, map[string]any{"loadbalancer_id": uuid1, "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}},
		"pool update":          {&s.poolPut, map[string]any{}},
		"member create":        {&s.memberPost, map[string]any{"address": "192.0.2.1", "protocol_port": 80}},
		"member update":        {&s.memberPut, map[string]any{}},
		"healthmonitor create": {&s.hmPost, map[string]any{"pool_id": uuid1, "type": "HTTP", "delay": 5, "timeout": 3, "max_retries": 3}},
		"healthmonitor update": {&s.hmPut, map[string]any{}},
	}
}

// samples returns, for an attribute, a valid value and invalid values with
// the reason Octavia gives.
func samples(a attr) (valid any, invalid map[string]any) {
	invalid = map[string]any{}
	switch a.kind {
	case kString:
		valid = strings.Repeat("a", max(a.minLen, 1))
		if a.name == "expected_codes" {
			valid = "200-204"
		}
		if a.name == "domain_name" {
			valid = "example.com"
		}
		invalid["Value should be string"] = 12
		if a.maxLen > 0 {
			invalid[fmt.Sprintf("Value should have a maximum character requirement of %d", a.maxLen)] = strings.Repeat("a", a.maxLen+1)
		}
	case kUUID:
		valid = uuid1
		invalid["Value should be UUID format"] = "not-a-uuid"
	case kIP:
		valid = "2001:db8::1"
		invalid["Value should be IPv4 or IPv6 format"] = "192.0.2.256"
	case kInt:
		valid = fmt.Sprint(a.min) // numeric string on purpose
		if !a.hasMin {
			valid = "7"
		}
		invalid["invalid literal for int() with base 10: 'x'"] = "x"
		if a.hasMin {
			invalid[fmt.Sprintf("Value should be greater or equal to %d", a.min)] = a.min - 1
		}
		if a.hasMax {
			invalid[fmt.Sprintf("Value should be lower or equal to %d", a.max)] = a.max + 1
		}
	case kBool:
		valid = "on"
		invalid["Value not an unambiguous boolean: maybe"] = "maybe"
	case kEnum:
		valid = a.enum[len(a.enum)-1]
		invalid["Value should be one of: "+strings.Join(a.enum, ", ")] = "NOPE"
	case kFloatEnum:
		valid = 1.1
		invalid["Value should be one of: 1.0, 1.1"] = 2
	case kURLPath:
		valid = "/healthcheck"
		invalid["Value must be a valid URL Path string"] = "health check"
	case kList:
		switch a.item.kind {
		case kObject:
			valid = []any{}
		case kUUID:
			valid = []any{uuid1}
		case kCIDR:
			valid = []any{"192.0.2.0/24"}
		case kALPN:
			valid = []any{"h2"}
		default:
			valid = []any{"x"}
		}
		invalid["Value not a valid list: 5"] = 5
	case kDict:
		valid = map[string]any{"X-Forwarded-For": "true"}
		invalid["Value not a valid dict: 5"] = 5
	case kObject:
		valid = nil
		invalid["Value not a valid dict: 5"] = 5
	}
	return valid, invalid
}

// TestEveryFieldDecodes sends, for every attribute of the create and update
// bodies of the five resources, a valid value, null and each kind of
// invalid value, and checks the outcome names the field and the rule.
func TestEveryFieldDecodes(t *testing.T) {
	s := newSchemas()
	for resource, bb := range baseBodies(s) {
		for _, a := range bb.b.inner.attrs {
			valid, invalid := samples(a)
			send := func(v any, present bool) (*object, error) {
				inner := map[string]any{}
				for k, x := range bb.base {
					inner[k] = x
				}
				if present {
					inner[a.name] = v
				} else {
					delete(inner, a.name)
				}
				data, _ := json.Marshal(map[string]any{bb.b.wrapper: inner})
				o, _, err := bb.b.decode(data)
				return o, err
			}
			t.Run(resource+"/"+a.name+"/valid", func(t *testing.T) {
				o, err := send(valid, true)
				if err != nil {
					t.Fatalf("input %v: got %v, want success", valid, err)
				}
				if !o.has(a.name) {
					t.Fatalf("input %v: attribute not recorded", valid)
				}
			})
			t.Run(resource+"/"+a.name+"/null", func(t *testing.T) {
				o, err := send(nil, true)
				switch {
				case a.nullMsg != "":
					if got := faultOf(err); got != a.nullMsg {
						t.Fatalf("input null: got %q, want %q", got, a.nullMsg)
					}
				case a.mandatory:
					want := "Invalid input for field/attribute " + a.name + ". Value: 'None'. Mandatory field missing."
					if got := faultOf(err); got != want {
						t.Fatalf("input null: got %q, want %q", got, want)
					}
				default:
					if err != nil || !o.isNull(a.name) {
						t.Fatalf("input null: got %v, want a recorded null", err)
					}
				}
			})
			if a.mandatory {
				t.Run(resource+"/"+a.name+"/absent", func(t *testing.T) {
					_, err := send(nil, false)
					want := "Invalid input for field/attribute " + a.name + ". Value: 'None'. Mandatory field missing."
					if got := faultOf(err); got != want {
						t.Fatalf("absent: got %q, want %q", got, want)
					}
				})
			}
			for reason, v := range invalid {
				t.Run(resource+"/"+a.name+"/"+reason, func(t *testing.T) {
					_, err := send(v, true)
					got := faultOf(err)
					prefix := "Invalid input for field/attribute " + a.name + ". Value: '"
					if !strings.HasPrefix(got, prefix) || !strings.HasSuffix(got, "'. "+reason) {
						t.Fatalf("input %#v: got %q, want %q…'. %s", v, got, prefix, reason)
					}
				})
			}
		}
	}
}

// TestTenantIDAlias: tenant_id sets project_id (docs/octavia-behaviour.md, "tenant_id mirrors project_id").
func TestTenantIDAlias(t *testing.T) {
	s := newSchemas()
	o, _, err := s.lbPost.decode([]byte(`{"loadbalancer": {"tenant_id": "t1"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := o.str("project_id"); got != "t1" {
		t.Fatalf("project_id = %q, want t1", got)
	}
}

func TestPyRepr(t *testing.T) {
	tests := []struct{ name, input, want string }{
		{"dict", `{"b": [1, 2.5, true, null], "a": "it's"}`, `{'a': "it's", 'b': [1, 2.5, True, None]}`},
		{"escapes", `"a\nb\\c'"`, `"a\nb\\c'"`},
		{"float integral", `1.0`, `1.0`},
		{"float big", `1e16`, `1e+16`},
		{"float small", `0.00001`, `1e-05`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, err := decodeJSON([]byte(tt.input))
			if err != nil {
				t.Fatal(err)
			}
			if got := pyRepr(raw); got != tt.want {
				t.Errorf("input %s: got %s, want %s", tt.input, got, tt.want)
			}
		})
	}
}
