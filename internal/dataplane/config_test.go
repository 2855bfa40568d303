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
		{"tls not yet", func(c *Config) { c.Listeners[0].TLS = &ListenerTLS{} }, "listeners[0].tls: TLS termination is not supported by this engine yet"},
		{"l7 not yet", func(c *Config) { c.Listeners[0].L7Policies = []L7Policy{{ID: "x"}} }, "listeners[0].l7policies: L7 policies are not supported"},
		{"terminated not yet", func(c *Config) { c.Listeners[0].Protocol = ProtocolTerminatedHTTPS }, "listeners[0].protocol: protocol TERMINATED_HTTPS is not supported by this engine yet"},
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
