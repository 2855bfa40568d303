package dataplane

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func validConfig() *Config {
	return &Config{
		Version: 7,
		NodeID:  "node-1",
		Listeners: []Listener{{
			ID: "l-http", LoadBalancerID: "lb-1", Protocol: ProtocolHTTP,
			Addresses: []string{"127.0.0.5", "::1"}, ProtocolPort: 80, DefaultPoolID: "p-http",
			ConnectionLimit: -1, TimeoutClientData: 50000, TimeoutMemberConnect: 5000, TimeoutMemberData: 50000,
			AllowedCIDRs:  []string{"127.0.0.0/8", "::1/128"},
			InsertHeaders: map[string]string{"X-Forwarded-For": "true"},
			L7Policies: []L7Policy{
				{ID: "pol-1", Position: 1, Action: ActionRedirectToURL, RedirectURL: "https://example.com/new", RedirectHTTPCode: 301,
					Rules: []L7Rule{{ID: "r1", Type: RulePath, CompareType: CompareStartsWith, Value: "/old"}}},
				{ID: "pol-2", Position: 2, Action: ActionRedirectToPool, RedirectPoolID: "p-http",
					Rules: []L7Rule{{ID: "r2", Type: RuleHeader, CompareType: CompareRegex, Key: "X-Canary", Value: "^(1|yes)$", Invert: true},
						{ID: "r3", Type: RuleHostName, CompareType: CompareEqualTo, Value: `"api.example.com"`}}},
				{ID: "pol-3", Position: 3, Action: ActionReject,
					Rules: []L7Rule{{ID: "r4", Type: RuleSSLConnHasCert, CompareType: CompareEqualTo, Value: "TRUE"}}},
			},
		}, {
			ID: "l-udp", LoadBalancerID: "lb-1", Protocol: ProtocolUDP,
			Addresses: []string{"127.0.0.5"}, ProtocolPort: 80, DefaultPoolID: "p-udp", ConnectionLimit: 100,
		}},
		Pools: []Pool{{
			ID: "p-http", Protocol: ProtocolHTTP, Algorithm: RoundRobin,
			SessionPersistence: &SessionPersistence{Type: PersistAppCookie, CookieName: "SESS"},
			Members: []Member{
				{ID: "m1", Address: "127.0.0.1", ProtocolPort: 8080, Weight: 3, AdminStateUp: true},
				{ID: "m2", Address: "127.0.0.1", ProtocolPort: 8081, Weight: 1, Backup: true, AdminStateUp: true, MonitorAddress: "127.0.0.2", MonitorPort: 9000},
			},
			HealthMonitor: &HealthMonitor{ID: "hm", Type: MonitorHTTP, Delay: 5, Timeout: 3, MaxRetries: 2, MaxRetriesDown: 3,
				HTTPMethod: "GET", URLPath: "/healthz", ExpectedCodes: "200-204", HTTPVersion: "1.1", DomainName: "example.com", AdminStateUp: true},
		}, {
			ID: "p-udp", Protocol: ProtocolUDP, Algorithm: SourceIP,
			SessionPersistence: &SessionPersistence{Type: PersistSourceIP, PersistenceTimeout: 60, PersistenceGranularity: "255.255.255.0"},
			Members:            []Member{{ID: "u1", Address: "127.0.0.1", ProtocolPort: 5353, Weight: 1, AdminStateUp: true}},
			HealthMonitor:      &HealthMonitor{Type: MonitorUDPConnect, Delay: 3, Timeout: 1, MaxRetries: 1, MaxRetriesDown: 1, AdminStateUp: true},
		}},
	}
}

func TestRoundTrip(t *testing.T) {
	c := validConfig()
	if err := c.Validate(); err != nil {
		t.Fatalf("valid config refused: %v", err)
	}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(b)
	if err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	if !reflect.DeepEqual(got, c) {
		t.Fatalf("round trip differs:\n got %+v\nwant %+v", got, c)
	}
	if cl := c.Clone(); !reflect.DeepEqual(cl, c) || &cl.Listeners[0] == &c.Listeners[0] {
		t.Fatalf("clone is not a deep copy")
	}
	for _, key := range []string{`"loadbalancer_id"`, `"protocol_port"`, `"lb_algorithm"`, `"session_persistence"`, `"max_retries_down"`, `"timeout_member_connect"`, `"insert_headers"`} {
		if !strings.Contains(string(b), key) {
			t.Errorf("JSON lacks %s: %s", key, b)
		}
	}
}

func TestObservationRoundTrip(t *testing.T) {
	now := time.Date(2026, 11, 22, 6, 0, 0, 0, time.UTC)
	in := []any{
		&Stats{Version: 3, Time: now, Listeners: []ListenerStats{{ListenerID: "l", LoadBalancerID: "lb", ActiveConnections: 1, TotalConnections: 2, BytesIn: 3, BytesOut: 4, RequestErrors: 5}},
			Members: []MemberStats{{PoolID: "p", MemberID: "m", ActiveConnections: 1, TotalConnections: 9, ConnectErrors: 2}}},
		&Health{Version: 3, Time: now, Members: []MemberHealth{{PoolID: "p", MemberID: "m", Status: StatusDown, Since: now, LastCheck: now, LastCheckDetail: "HTTP 500", LastCheckOK: false}}},
		&HealthEvent{Time: now, PoolID: "p", MemberID: "m", Address: "127.0.0.1:80", From: StatusUp, To: StatusDown, Detail: "HTTP 500"},
	}
	for _, v := range in {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		out := reflect.New(reflect.TypeOf(v).Elem()).Interface()
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(out, v) {
			t.Errorf("round trip of %T: got %+v want %+v", v, out, v)
		}
	}
}

func TestDecodeDefaults(t *testing.T) {
	c, err := Decode([]byte(`{"version":1,"listeners":[{"id":"l","loadbalancer_id":"lb","protocol":"TCP","addresses":["127.0.0.1"],"protocol_port":1234,"default_pool_id":"p"}],
	"pools":[{"id":"p","protocol":"TCP","lb_algorithm":"ROUND_ROBIN","members":[{"id":"m","address":"127.0.0.1","protocol_port":1}],
	"healthmonitor":{"type":"TCP","delay":1,"timeout":1,"max_retries":1}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	l := c.Listeners[0]
	if l.ConnectionLimit != -1 || l.TimeoutClientData != 50000 || l.TimeoutMemberConnect != 5000 || l.TimeoutMemberData != 50000 || l.TimeoutTCPInspect != 0 {
		t.Errorf("listener defaults: %+v", l)
	}
	m := c.Pools[0].Members[0]
	if m.Weight != 1 || !m.AdminStateUp {
		t.Errorf("member defaults: %+v", m)
	}
	if hm := c.Pools[0].HealthMonitor; hm.MaxRetriesDown != 3 || !hm.AdminStateUp {
		t.Errorf("monitor defaults: %+v", hm)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("validate: %v", err)
	}
}

func TestDecodeStrict(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"unknown top field", `{"version":1,"bogus":1}`, "bogus"},
		{"unknown member field", `{"pools":[{"id":"p","members":[{"id":"m","adress":"x"}]}]}`, "adress"},
		{"trailing", `{"version":1}{}`, "trailing"},
		{"wrong type", `{"version":"1"}`, "version"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode([]byte(tc.in))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Decode(%s) = %v, want error containing %q", tc.in, err, tc.want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(c *Config)
		want   string
	}{
		{"port clash", func(c *Config) {
			c.Listeners = append(c.Listeners, c.Listeners[0])
			c.Listeners[2].ID = "l3"
			c.Listeners[2].Addresses = []string{"127.0.0.5"}
		}, "listeners[2].protocol_port: port 80 on 127.0.0.5 already used by listeners[0]"},
		{"tcp and udp same port ok", func(c *Config) {}, ""},
		{"unknown algorithm", func(c *Config) { c.Pools[0].Algorithm = "RANDOM" }, `pools[0].lb_algorithm: unknown algorithm "RANDOM"`},
		{"bad cidr", func(c *Config) { c.Listeners[0].AllowedCIDRs = []string{"10.0.0.0/33"} }, `listeners[0].allowed_cidrs[0]: invalid CIDR "10.0.0.0/33"`},
		{"member without address", func(c *Config) { c.Pools[0].Members[1].Address = "" }, "pools[0].members[1].address: address required"},
		{"bad member address", func(c *Config) { c.Pools[0].Members[1].Address = "host.example" }, `pools[0].members[1].address: invalid IP address "host.example"`},
		{"weight", func(c *Config) { c.Pools[0].Members[0].Weight = 257 }, "pools[0].members[0].weight: weight 257 out of range 0-256"},
		{"port range", func(c *Config) { c.Listeners[0].ProtocolPort = 0 }, "listeners[0].protocol_port: port 0 out of range"},
		{"missing pool", func(c *Config) { c.Listeners[0].DefaultPoolID = "nope" }, `listeners[0].default_pool_id: pool "nope" not found`},
		{"incompatible pool", func(c *Config) { c.Listeners[0].DefaultPoolID = "p-udp" }, "listeners[0].default_pool_id: pool protocol UDP (pools[1]) is invalid for a HTTP listener"},
		{"dup listener id", func(c *Config) { c.Listeners[1].ID = "l-http" }, `listeners[1].id: duplicate id "l-http"`},
		{"dup member", func(c *Config) { c.Pools[0].Members[1].ID = "m1" }, `pools[0].members[1].id: duplicate id "m1"`},
		{"dup member addr", func(c *Config) { c.Pools[0].Members[1].ProtocolPort = 8080 }, "pools[0].members[1].protocol_port: 127.0.0.1 port 8080 already used by members[0]"},
		{"tls on an HTTP listener", func(c *Config) { c.Listeners[0].TLS = &ListenerTLS{} }, "listeners[0].tls: only valid on TERMINATED_HTTPS listeners"},
		{"l7 on udp", func(c *Config) { c.Listeners[1].L7Policies = c.Listeners[0].L7Policies },
			"listeners[1].l7policies: L7 policies are only supported on HTTP and TERMINATED_HTTPS listeners, not on a UDP listener"},
		{"l7 on tcp", func(c *Config) {
			c.Listeners[1].Protocol = ProtocolTCP
			c.Listeners[1].DefaultPoolID = ""
			c.Listeners[1].L7Policies = c.Listeners[0].L7Policies
		},
			"listeners[1].l7policies: L7 policies are only supported on HTTP and TERMINATED_HTTPS listeners, not on a TCP listener"},
		{"l7 policy id", func(c *Config) { c.Listeners[0].L7Policies[1].ID = "" }, "listeners[0].l7policies[1].id: required"},
		{"l7 dup policy id", func(c *Config) { c.Listeners[0].L7Policies[1].ID = "pol-1" }, `listeners[0].l7policies[1].id: duplicate id "pol-1" (also l7policies[0])`},
		{"l7 unknown action", func(c *Config) { c.Listeners[0].L7Policies[2].Action = "DROP" }, `listeners[0].l7policies[2].action: unknown action "DROP"`},
		{"l7 missing pool", func(c *Config) { c.Listeners[0].L7Policies[1].RedirectPoolID = "nope" }, `listeners[0].l7policies[1].redirect_pool_id: pool "nope" not found`},
		{"l7 pool required", func(c *Config) { c.Listeners[0].L7Policies[1].RedirectPoolID = "" }, "listeners[0].l7policies[1].redirect_pool_id: required for action REDIRECT_TO_POOL"},
		{"l7 pool protocol", func(c *Config) { c.Listeners[0].L7Policies[1].RedirectPoolID = "p-udp" },
			"listeners[0].l7policies[1].redirect_pool_id: pool protocol UDP (pools[1]) is invalid for a HTTP listener"},
		{"l7 pool on url action", func(c *Config) { c.Listeners[0].L7Policies[0].RedirectPoolID = "p-http" }, "listeners[0].l7policies[0].redirect_pool_id: only valid with action REDIRECT_TO_POOL"},
		{"l7 prefix on url action", func(c *Config) { c.Listeners[0].L7Policies[0].RedirectPrefix = "http://x" }, "listeners[0].l7policies[0].redirect_prefix: only valid with action REDIRECT_PREFIX"},
		{"l7 url required", func(c *Config) { c.Listeners[0].L7Policies[0].RedirectURL = "" }, "listeners[0].l7policies[0].redirect_url: required for action REDIRECT_TO_URL"},
		{"l7 url relative", func(c *Config) { c.Listeners[0].L7Policies[0].RedirectURL = "/new" }, `listeners[0].l7policies[0].redirect_url: "/new" is not an absolute http or https URL`},
		{"l7 url scheme", func(c *Config) { c.Listeners[0].L7Policies[0].RedirectURL = "ftp://x/" }, "is not an absolute http or https URL"},
		{"l7 url no host", func(c *Config) { c.Listeners[0].L7Policies[0].RedirectURL = "http:///a" }, `"http:///a" has no host`},
		{"l7 url header split", func(c *Config) { c.Listeners[0].L7Policies[0].RedirectURL = "http://x/\r\nSet-Cookie: a=b" }, "holds a space or control character"},
		{"l7 url C1 control", func(c *Config) { c.Listeners[0].L7Policies[0].RedirectURL = "http://x/\u0085" }, "holds a space or control character"},
		{"l7 url utf-8 ok", func(c *Config) { c.Listeners[0].L7Policies[0].RedirectURL = "http://bücher.example/ä" }, ""},
		{"l7 prefix", func(c *Config) {
			p := &c.Listeners[0].L7Policies[0]
			p.Action, p.RedirectURL, p.RedirectPrefix = ActionRedirectPrefix, "", "https://new.example"
		}, ""},
		{"l7 prefix required", func(c *Config) {
			p := &c.Listeners[0].L7Policies[0]
			p.Action, p.RedirectURL = ActionRedirectPrefix, ""
		}, "listeners[0].l7policies[0].redirect_prefix: required for action REDIRECT_PREFIX"},
		{"l7 redirect code", func(c *Config) { c.Listeners[0].L7Policies[0].RedirectHTTPCode = 200 }, "listeners[0].l7policies[0].redirect_http_code: 200 is not a redirect status"},
		{"l7 code ignored on reject", func(c *Config) { c.Listeners[0].L7Policies[2].RedirectHTTPCode = 200 }, ""},
		{"l7 no rules", func(c *Config) { c.Listeners[0].L7Policies[2].Rules = nil }, "listeners[0].l7policies[2].rules: at least one rule required"},
		{"l7 bad regex", func(c *Config) { c.Listeners[0].L7Policies[1].Rules[0].Value = "a(b" },
			"listeners[0].l7policies[1].rules[0].value: invalid regular expression \"a(b\""},
		{"l7 perl regex", func(c *Config) { c.Listeners[0].L7Policies[1].Rules[0].Value = "(?<=a)b" }, "listeners[0].l7policies[1].rules[0].value: invalid regular expression"},
		{"l7 quoted regex", func(c *Config) { c.Listeners[0].L7Policies[1].Rules[0].Value = `"^a b$"` }, ""},
		{"l7 regex quoted backslash", func(c *Config) { c.Listeners[0].L7Policies[1].Rules[0].Value = `""` }, ""},
		{"l7 unknown type", func(c *Config) { c.Listeners[0].L7Policies[0].Rules[0].Type = "METHOD" }, `listeners[0].l7policies[0].rules[0].type: unknown rule type "METHOD"`},
		{"l7 unknown compare", func(c *Config) { c.Listeners[0].L7Policies[0].Rules[0].CompareType = "LIKE" }, `listeners[0].l7policies[0].rules[0].compare_type: unknown compare type "LIKE"`},
		{"l7 file type compare", func(c *Config) {
			c.Listeners[0].L7Policies[0].Rules[0] = L7Rule{Type: RuleFileType, CompareType: CompareContains, Value: "jpg"}
		}, "listeners[0].l7policies[0].rules[0].compare_type: CONTAINS is invalid for rule type FILE_TYPE"},
		{"l7 header key", func(c *Config) { c.Listeners[0].L7Policies[1].Rules[0].Key = "" }, "listeners[0].l7policies[1].rules[0].key: required for rule type HEADER"},
		{"l7 header key chars", func(c *Config) { c.Listeners[0].L7Policies[1].Rules[0].Key = "X Canary" }, `listeners[0].l7policies[1].rules[0].key: "X Canary" is not a valid header name`},
		{"l7 cookie key", func(c *Config) {
			c.Listeners[0].L7Policies[1].Rules[0] = L7Rule{Type: RuleCookie, CompareType: CompareEqualTo, Value: "v"}
		}, "listeners[0].l7policies[1].rules[0].key: required for rule type COOKIE"},
		{"l7 value required", func(c *Config) { c.Listeners[0].L7Policies[0].Rules[0].Value = "" }, "listeners[0].l7policies[0].rules[0].value: required"},
		{"l7 value CRLF", func(c *Config) { c.Listeners[0].L7Policies[0].Rules[0].Value = "/a\r\nb" }, "listeners[0].l7policies[0].rules[0].value: must not hold CR or LF"},
		{"l7 host key ignored", func(c *Config) { c.Listeners[0].L7Policies[1].Rules[1].Key = "kept" }, ""},
		{"l7 ssl compare", func(c *Config) { c.Listeners[0].L7Policies[2].Rules[0].CompareType = CompareRegex },
			"listeners[0].l7policies[2].rules[0].compare_type: rule type SSL_CONN_HAS_CERT only supports EQUAL_TO"},
		{"l7 ssl value", func(c *Config) { c.Listeners[0].L7Policies[2].Rules[0].Value = "yes" }, `listeners[0].l7policies[2].rules[0].value: must be "true"`},
		{"l7 ssl key", func(c *Config) { c.Listeners[0].L7Policies[2].Rules[0].Key = "CN" }, "listeners[0].l7policies[2].rules[0].key: not used by rule type SSL_CONN_HAS_CERT"},
		{"l7 ssl verify", func(c *Config) {
			c.Listeners[0].L7Policies[2].Rules[0] = L7Rule{Type: RuleSSLVerifyResult, CompareType: CompareEqualTo, Value: "-1"}
		}, "listeners[0].l7policies[2].rules[0].value: must be an integer of 0 or more"},
		{"l7 ssl dn", func(c *Config) {
			c.Listeners[0].L7Policies[2].Rules[0] = L7Rule{Type: RuleSSLDNField, CompareType: CompareContains, Value: "x"}
		}, "listeners[0].l7policies[2].rules[0].key: required for rule type SSL_DN_FIELD"},
		{"terminated without certificates", func(c *Config) { c.Listeners[0].Protocol = ProtocolTerminatedHTTPS }, "listeners[0].tls: a TERMINATED_HTTPS listener needs a default or SNI certificate"},
		{"proxy pool behind http ok", func(c *Config) { c.Pools[0].Protocol = ProtocolProxy }, ""},
		{"proxy pool behind udp", func(c *Config) { c.Pools[0].Protocol = ProtocolProxyV2; c.Listeners[1].DefaultPoolID = "p-http" }, "listeners[1].default_pool_id: pool protocol PROXYV2 (pools[0]) is invalid for a UDP listener"},
		{"sctp pool not yet", func(c *Config) { c.Pools[1].Protocol = ProtocolSCTP; c.Listeners[1].DefaultPoolID = "" }, "pools[1].protocol: pool protocol SCTP is not supported"},
		{"expected codes", func(c *Config) { c.Pools[0].HealthMonitor.ExpectedCodes = "2xx" }, `pools[0].healthmonitor.expected_codes: invalid expected_codes "2xx"`},
		{"domain without 1.1", func(c *Config) { c.Pools[0].HealthMonitor.HTTPVersion = "1.0" }, "pools[0].healthmonitor.domain_name: requires http_version 1.1"},
		{"bad domain", func(c *Config) { c.Pools[0].HealthMonitor.DomainName = "-bad.example" }, "is not a valid domain name"},
		{"udp-connect on http", func(c *Config) { c.Pools[0].HealthMonitor.Type = MonitorUDPConnect }, "pools[0].healthmonitor.type: UDP-CONNECT is only supported for UDP pools"},
		{"http fields on tcp monitor", func(c *Config) { c.Pools[0].HealthMonitor.Type = MonitorTCP }, "not a valid option for health monitors of type TCP"},
		{"rise range", func(c *Config) { c.Pools[0].HealthMonitor.MaxRetries = 0 }, "pools[0].healthmonitor.max_retries: 0 out of range 1-10"},
		{"cookie name required", func(c *Config) { c.Pools[0].SessionPersistence.CookieName = "" }, "session_persistence.cookie_name: required for type APP_COOKIE"},
		{"cookie on source ip", func(c *Config) { c.Pools[1].SessionPersistence.CookieName = "x" }, "pools[1].session_persistence.cookie_name: only valid with type APP_COOKIE"},
		{"bad granularity", func(c *Config) { c.Pools[1].SessionPersistence.PersistenceGranularity = "255.0.255.0" }, "not contiguous"},
		{"insert headers on tcp", func(c *Config) { c.Listeners[1].InsertHeaders = map[string]string{"X-Forwarded-For": "true"} }, "listeners[1].insert_headers: not a valid option for a UDP listener"},
		{"unknown insert header", func(c *Config) { c.Listeners[0].InsertHeaders = map[string]string{"X-Evil": "true"} }, `"X-Evil" is not a valid option`},
		{"timeout range", func(c *Config) { c.Listeners[0].TimeoutMemberData = -1 }, "listeners[0].timeout_member_data: -1 ms out of range"},
		{"conn limit", func(c *Config) { c.Listeners[0].ConnectionLimit = -2 }, "listeners[0].connection_limit"},
		{"no address", func(c *Config) { c.Listeners[0].Addresses = nil }, "listeners[0].addresses: at least one address required"},
		{"contract", func(c *Config) { c.Contract = 99 }, "contract: contract version 99 is not supported"},
		{"unknown protocol", func(c *Config) { c.Listeners[0].Protocol = "QUIC" }, `listeners[0].protocol: unknown protocol "QUIC"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := validConfig()
			tc.mutate(c)
			err := c.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("got %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want error containing %q", err, tc.want)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v does not match ErrInvalid", err)
			}
		})
	}
}

func TestExpectedCodes(t *testing.T) {
	for _, tc := range []struct {
		in       string
		match    []int
		no       []int
		wantFail bool
	}{
		{in: "200", match: []int{200}, no: []int{201, 404}},
		{in: "200-204", match: []int{200, 202, 204}, no: []int{199, 205}},
		{in: "200,202", match: []int{200, 202}, no: []int{201}},
		{in: "200, 202 ,301", match: []int{200, 202, 301}, no: []int{302}},
		{in: "", match: []int{200}, no: []int{204}},
		{in: "204-200", wantFail: true},
		{in: "20", wantFail: true},
		{in: "200-", wantFail: true},
		{in: "abc", wantFail: true},
		{in: "+20", wantFail: true},
	} {
		ec, err := ParseExpectedCodes(tc.in)
		if (err != nil) != tc.wantFail {
			t.Errorf("ParseExpectedCodes(%q) err = %v, wantFail %v", tc.in, err, tc.wantFail)
			continue
		}
		for _, c := range tc.match {
			if !ec.Match(c) {
				t.Errorf("%q does not match %d", tc.in, c)
			}
		}
		for _, c := range tc.no {
			if ec.Match(c) {
				t.Errorf("%q matches %d", tc.in, c)
			}
		}
	}
}

func TestDomainName(t *testing.T) {
	for in, want := range map[string]bool{
		"example.com": true, "example.com.": true, "_srv.example.com": true, "a": true,
		"-a.com": false, "a-.com": false, "a_b.com": false, "": false, "a..b": false,
		strings.Repeat("a", 64) + ".com": false,
	} {
		if got := ValidDomainName(in); got != want {
			t.Errorf("ValidDomainName(%q) = %v, want %v", in, got, want)
		}
	}
}

func FuzzDecodeValidate(f *testing.F) {
	b, _ := json.Marshal(validConfig())
	f.Add(b)
	f.Add([]byte(`{"version":1,"listeners":[{"id":"l","loadbalancer_id":"lb","protocol":"TCP","addresses":["127.0.0.1"],"protocol_port":1}],"pools":[]}`))
	f.Add([]byte(`{"pools":[{"id":"p","protocol":"HTTP","lb_algorithm":"SOURCE_IP","members":[{"id":"m","address":"::1","protocol_port":1,"weight":0}],"healthmonitor":{"type":"HTTP","delay":1,"timeout":1,"max_retries":1,"expected_codes":"200-204"}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Decode(data)
		if err != nil {
			return
		}
		if err := c.Validate(); err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("validate error does not match ErrInvalid: %v", err)
			}
			return
		}
		// A valid config survives the wire unchanged and stays valid.
		out, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		c2, err := Decode(out)
		if err != nil {
			t.Fatalf("re-decode %s: %v", out, err)
		}
		out2, _ := json.Marshal(c2)
		if string(out) != string(out2) {
			t.Fatalf("round trip differs:\n%s\n%s", out, out2)
		}
		if err := c2.Validate(); err != nil {
			t.Fatalf("re-decoded config invalid: %v", err)
		}
	})
}

func TestL7RuleMatchValue(t *testing.T) {
	for _, tc := range []struct {
		name, typ, value, want string   // want: MatchValue of a non-REGEX rule
		regexIn, regexOut      []string // texts the value as a REGEX matches / does not match
	}{
		{name: "plain", typ: RulePath, value: "/api", want: "/api"},
		{name: "quoted", typ: RuleHeader, value: `"a b"`, want: "a b"},
		{name: "empty quotes", typ: RulePath, value: `""`, want: ""},
		{name: "one quote", typ: RulePath, value: `"`, want: `"`},
		{name: "open quote", typ: RulePath, value: `"a`, want: `"a`},
		{name: "inner quotes kept", typ: RulePath, value: `""a""`, want: `"a"`},
		{name: "regex search", typ: RulePath, value: "api/v[0-9]", want: "api/v[0-9]", regexIn: []string{"/api/v2/x", "api/v1"}, regexOut: []string{"/API/v2", "/api/vx"}},
		{name: "host regex folds case", typ: RuleHostName, value: `^www\.example\.com$`, want: `^www\.example\.com$`, regexIn: []string{"WWW.Example.COM"}, regexOut: []string{"www.example.com.evil"}},
		{name: "regex quotes are literal", typ: RuleHeader, value: `"a b"`, want: "a b", regexIn: []string{`x"a b"y`}, regexOut: []string{"a b"}},
		{name: "regex quoted backslash", typ: RulePath, value: `"\"`, want: `\`, regexIn: []string{`""`}, regexOut: []string{`"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &L7Rule{Type: tc.typ, CompareType: CompareEqualTo, Value: tc.value}
			if got := r.MatchValue(); got != tc.want {
				t.Fatalf("MatchValue(%q) = %q, want %q", tc.value, got, tc.want)
			}
			r.CompareType = CompareRegex
			if got := r.MatchValue(); got != tc.value {
				t.Fatalf("MatchValue of REGEX %q = %q, want the value unchanged", tc.value, got)
			}
			re, err := r.Regexp()
			if err != nil {
				if tc.regexIn == nil && tc.regexOut == nil {
					return
				}
				t.Fatalf("Regexp(%q): %v", tc.value, err)
			}
			for _, s := range tc.regexIn {
				if !re.MatchString(s) {
					t.Errorf("%s rule %q does not match %q", tc.typ, tc.value, s)
				}
			}
			for _, s := range tc.regexOut {
				if re.MatchString(s) {
					t.Errorf("%s rule %q matches %q", tc.typ, tc.value, s)
				}
			}
		})
	}
}
