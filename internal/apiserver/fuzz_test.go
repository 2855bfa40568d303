package apiserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/network"
	"github.com/fulcrumlb/fulcrum/internal/store/sqlstore"
)

// Native fuzz tests of request decoding and validation. The decode targets
// run the decoding layer and the store-free domain rules on arbitrary bytes;
// the API targets drive whole requests through the handler on a real SQLite
// store. Either way: no panic, no 5xx, every refusal a proper fault.

// decodeAndValidate runs a body through decoding and, when it decodes, the
// conversions and domain rules that need no store.
func decodeAndValidate(s *Server, b *body, data []byte) error {
	o, items, err := b.decode(data)
	if err != nil {
		return err
	}
	set := lb.DefaultSettings()
	switch b {
	case &s.schemas.listenerPost:
		l := listenerFromBody(o)
		l.ApplyTLSDefaults()
		return l.Validate(set, []string{"192.0.2.1", "2001:db8::1"}, false)
	case &s.schemas.listenerPut:
		l := &lb.Listener{Protocol: lb.ProtocolTerminatedHTTPS}
		applyListenerUpdate(l, o)
		return l.Validate(set, []string{"192.0.2.1"}, true)
	case &s.schemas.poolPost:
		p := poolFromBody(o)
		p.ApplyTLSDefaults()
		return p.Validate(set, false)
	case &s.schemas.poolPut:
		p := &lb.Pool{Protocol: lb.ProtocolUDP, LBAlgorithm: lb.RoundRobin}
		if err := applyPoolUpdate(p, o); err != nil {
			return err
		}
		return p.Validate(set, true)
	case &s.schemas.memberPost:
		return memberFromBody(o).ValidateNew(set)
	case &s.schemas.memberPut:
		applyMemberUpdate(&lb.Member{}, o)
	case &s.schemas.membersPut:
		for _, it := range items {
			if it != nil {
				memberFromBody(it)
			}
		}
	case &s.schemas.hmPost:
		h := healthMonitorFromBody(o)
		if err := h.CheckTypeFields(); err != nil {
			return err
		}
		h.ApplyTypeDefaults()
		return h.Validate(set, lb.ProtocolHTTP)
	case &s.schemas.hmPut:
		h := &lb.HealthMonitor{Type: lb.MonitorUDPConnect, Delay: 5, Timeout: 3, MaxRetries: 3}
		if err := applyHealthMonitorUpdate(h, o); err != nil {
			return err
		}
		return h.Validate(set, lb.ProtocolUDP)
	}
	return nil
}

func fuzzDecode(f *testing.F, pick func(*schemas) *body, seeds ...string) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	s := New(Options{})
	b := pick(s.schemas)
	f.Fuzz(func(t *testing.T, data []byte) {
		err := decodeAndValidate(s, b, data)
		var ve *lb.ValidationError
		if err != nil && !errors.As(err, &ve) {
			t.Fatalf("input %q: error %v is not a user-facing validation error", data, err)
		}
		if ve != nil && ve.Msg == "" {
			t.Fatalf("input %q: empty fault", data)
		}
	})
}

var (
	lbSeeds = []string{
		`{"loadbalancer": {"name": "a", "vip_subnet_id": "6a0a707c-45ef-4758-b533-e55adddba8ce", "admin_state_up": "yes", "tags": ["x"]}}`,
		`{"loadbalancer": {"vip_port_id": "6a0a707c45ef4758b533e55adddba8ce", "vip_address": "2001:db8::1", "additional_vips": [{"subnet_id": "6a0a707c-45ef-4758-b533-e55adddba8ce"}], "tenant_id": "p"}}`,
		`{"loadbalancer": {"listeners": [{"protocol": "HTTP", "protocol_port": 80, "default_pool": {"name": "p"}}], "pools": [{"name": "p", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN", "members": [{"address": "192.0.2.1", "protocol_port": 80}], "healthmonitor": {"type": "HTTP", "delay": 1, "timeout": 1, "max_retries": 1}}]}}`,
		`{"loadbalancer": {"name": null, "description": 5, "vip_sg_ids": null}}`,
	}
	listenerSeeds = []string{
		`{"listener": {"loadbalancer_id": "6a0a707c-45ef-4758-b533-e55adddba8ce", "protocol": "HTTP", "protocol_port": "80", "insert_headers": {"X-Forwarded-For": "true"}}}`,
		`{"listener": {"loadbalancer_id": "6a0a707c-45ef-4758-b533-e55adddba8ce", "protocol": "TERMINATED_HTTPS", "protocol_port": 443, "default_tls_container_ref": "c", "client_ca_tls_container_ref": "ca", "client_authentication": "MANDATORY", "tls_versions": ["TLSv1.2"], "alpn_protocols": ["h2"], "hsts_max_age": 10, "hsts_preload": true, "allowed_cidrs": ["10.0.0.1/8"]}}`,
		`{"listener": {"connection_limit": null, "timeout_client_data": 1.5, "tls_ciphers": null, "sni_container_refs": ["a"]}}`,
	}
	poolSeeds = []string{
		`{"pool": {"loadbalancer_id": "6a0a707c-45ef-4758-b533-e55adddba8ce", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN", "session_persistence": {"type": "APP_COOKIE", "cookie_name": "c"}}}`,
		`{"pool": {"listener_id": "6a0a707c-45ef-4758-b533-e55adddba8ce", "protocol": "UDP", "lb_algorithm": "SOURCE_IP", "session_persistence": {"type": "SOURCE_IP", "persistence_timeout": 30, "persistence_granularity": "255.255.255.0"}, "tls_enabled": true, "ca_tls_container_ref": "ca", "crl_container_ref": "crl"}}`,
		`{"pool": {"session_persistence": {}, "tls_versions": null, "lb_algorithm": null}}`,
	}
	memberSeeds = []string{
		`{"member": {"address": "192.0.2.1", "protocol_port": 80, "weight": "0", "backup": "on", "monitor_port": 9000, "monitor_address": "::1", "subnet_id": "6a0a707c-45ef-4758-b533-e55adddba8ce"}}`,
		`{"member": {"address": "169.254.169.254", "protocol_port": 80, "request_sriov": true}}`,
		`{"member": {"weight": null, "backup": null, "name": "x", "tags": []}}`,
	}
	membersSeeds = []string{
		`{"members": [{"address": "192.0.2.1", "protocol_port": 80}, {"address": "192.0.2.2", "protocol_port": "80", "weight": 3}]}`,
		`{"members": []}`,
	}
	hmSeeds = []string{
		`{"healthmonitor": {"pool_id": "6a0a707c-45ef-4758-b533-e55adddba8ce", "type": "HTTP", "delay": 5, "timeout": 3, "max_retries": 3, "url_path": "/h", "expected_codes": "200-204", "http_version": 1.1, "domain_name": "example.com"}}`,
		`{"healthmonitor": {"pool_id": "6a0a707c-45ef-4758-b533-e55adddba8ce", "type": "UDP-CONNECT", "delay": "2", "timeout": 1, "max_retries": 10, "max_retries_down": 1}}`,
		`{"healthmonitor": {"delay": null, "http_method": null, "expected_codes": "200, 202"}}`,
	}
)

func FuzzDecodeLoadBalancerCreate(f *testing.F) {
	fuzzDecode(f, func(s *schemas) *body { return &s.lbPost }, lbSeeds...)
}
func FuzzDecodeLoadBalancerUpdate(f *testing.F) {
	fuzzDecode(f, func(s *schemas) *body { return &s.lbPut }, lbSeeds...)
}
func FuzzDecodeListenerCreate(f *testing.F) {
	fuzzDecode(f, func(s *schemas) *body { return &s.listenerPost }, listenerSeeds...)
}
func FuzzDecodeListenerUpdate(f *testing.F) {
	fuzzDecode(f, func(s *schemas) *body { return &s.listenerPut }, listenerSeeds...)
}
func FuzzDecodePoolCreate(f *testing.F) {
	fuzzDecode(f, func(s *schemas) *body { return &s.poolPost }, poolSeeds...)
}
func FuzzDecodePoolUpdate(f *testing.F) {
	fuzzDecode(f, func(s *schemas) *body { return &s.poolPut }, poolSeeds...)
}
func FuzzDecodeMemberCreate(f *testing.F) {
	fuzzDecode(f, func(s *schemas) *body { return &s.memberPost }, memberSeeds...)
}
func FuzzDecodeMemberUpdate(f *testing.F) {
	fuzzDecode(f, func(s *schemas) *body { return &s.memberPut }, memberSeeds...)
}
func FuzzDecodeMembersBatch(f *testing.F) {
	fuzzDecode(f, func(s *schemas) *body { return &s.membersPut }, membersSeeds...)
}
func FuzzDecodeHealthMonitorCreate(f *testing.F) {
	fuzzDecode(f, func(s *schemas) *body { return &s.hmPost }, hmSeeds...)
}
func FuzzDecodeHealthMonitorUpdate(f *testing.F) {
	fuzzDecode(f, func(s *schemas) *body { return &s.hmPut }, hmSeeds...)
}

// apiFixture is a handler on a real store holding one load balancer with an
// HTTP listener, its HTTP pool, a member and a health monitor, a UDP pool,
// an L7 policy with a rule and a flavor profile. Placeholders {lb}
// {listener} {pool} {udppool} {member} {hm} {policy} {rule}
// {flavorprofile} in fuzzed bodies and paths are replaced by their ids.
type apiFixture struct {
	h    http.Handler
	repl *strings.Replacer
}

func newAPIFixture(tb testing.TB) *apiFixture {
	st, err := sqlstore.Open(context.Background(), sqlstore.Options{Path: filepath.Join(tb.TempDir(), "fuzz.db")})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	h := New(Options{Store: st, VIPs: network.NewNoop(), Providers: []string{"noop"}}).Handler()
	ids := map[string]string{}
	create := func(key, path, body string) {
		req := httptest.NewRequest("POST", path, strings.NewReader(body))
		req.Header.Set("X-Project-Id", "p")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var out map[string]map[string]any
		if rec.Code != 201 || json.Unmarshal(rec.Body.Bytes(), &out) != nil {
			tb.Fatalf("fixture %s: %d %s", key, rec.Code, rec.Body)
		}
		for _, v := range out {
			ids[key] = v["id"].(string)
		}
	}
	sub := func(s string) string {
		for k, v := range ids {
			s = strings.ReplaceAll(s, "{"+k+"}", v)
		}
		return s
	}
	create("lb", "/v2/lbaas/loadbalancers", `{"loadbalancer": {"vip_subnet_id": "6a0a707c-45ef-4758-b533-e55adddba8ce"}}`)
	create("listener", "/v2/lbaas/listeners", sub(`{"listener": {"loadbalancer_id": "{lb}", "protocol": "HTTP", "protocol_port": 80}}`))
	create("pool", "/v2/lbaas/pools", sub(`{"pool": {"listener_id": "{listener}", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}}`))
	create("udppool", "/v2/lbaas/pools", sub(`{"pool": {"loadbalancer_id": "{lb}", "protocol": "UDP", "lb_algorithm": "ROUND_ROBIN"}}`))
	create("member", sub("/v2/lbaas/pools/{pool}/members"), `{"member": {"address": "192.0.2.1", "protocol_port": 80}}`)
	create("hm", "/v2/lbaas/healthmonitors", sub(`{"healthmonitor": {"pool_id": "{pool}", "type": "TCP", "delay": 5, "timeout": 3, "max_retries": 3}}`))
	create("policy", "/v2/lbaas/l7policies", sub(`{"l7policy": {"listener_id": "{listener}", "action": "REJECT"}}`))
	create("rule", sub("/v2/lbaas/l7policies/{policy}/rules"), `{"rule": {"type": "PATH", "compare_type": "EQUAL_TO", "value": "/x"}}`)
	create("flavorprofile", "/v2/lbaas/flavorprofiles", `{"flavorprofile": {"name": "fp", "provider_name": "noop", "flavor_data": "{}"}}`)
	var pairs []string
	for k, v := range ids {
		pairs = append(pairs, "{"+k+"}", v)
	}
	return &apiFixture{h: h, repl: strings.NewReplacer(pairs...)}
}

// serve sends one request and checks the answer is not a 5xx and, for
// errors, is a well-formed fault.
func (a *apiFixture) serve(t *testing.T, method, path string, body []byte) {
	req := httptest.NewRequest(method, "http://fulcrum"+a.repl.Replace(path), bytes.NewReader([]byte(a.repl.Replace(string(body)))))
	req.Header.Set("X-Project-Id", "p")
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	a.h.ServeHTTP(rec, req)
	// 501 is Octavia's answer to an option the provider refuses (flavor
	// and zone profile data); any other 5xx is a bug.
	optionRefused := rec.Code == http.StatusNotImplemented && strings.Contains(rec.Body.String(), "does not support a requested option: ")
	if rec.Code >= 500 && !optionRefused {
		t.Fatalf("%s %s %q: %d %s", method, path, body, rec.Code, rec.Body)
	}
	if rec.Code >= 400 && rec.Code < 500 && rec.Code != 406 {
		var fl struct {
			FaultCode   string  `json:"faultcode"`
			FaultString string  `json:"faultstring"`
			DebugInfo   *string `json:"debuginfo"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &fl); err != nil || fl.FaultCode != "Client" || fl.FaultString == "" {
			t.Fatalf("%s %s %q: %d with a malformed fault %s", method, path, body, rec.Code, rec.Body)
		}
	}
}

func fuzzAPI(f *testing.F, method, path string, seeds ...string) {
	for _, s := range seeds {
		f.Add([]byte(strings.NewReplacer("6a0a707c-45ef-4758-b533-e55adddba8ce", "{lb}").Replace(s)))
	}
	a := newAPIFixture(f)
	f.Fuzz(func(t *testing.T, data []byte) { a.serve(t, method, path, data) })
}

func FuzzAPILoadBalancerCreate(f *testing.F) {
	fuzzAPI(f, "POST", "/v2/lbaas/loadbalancers", lbSeeds...)
}
func FuzzAPILoadBalancerUpdate(f *testing.F) {
	fuzzAPI(f, "PUT", "/v2/lbaas/loadbalancers/{lb}", lbSeeds...)
}
func FuzzAPIListenerCreate(f *testing.F) {
	fuzzAPI(f, "POST", "/v2/lbaas/listeners", listenerSeeds...)
}
func FuzzAPIListenerUpdate(f *testing.F) {
	fuzzAPI(f, "PUT", "/v2/lbaas/listeners/{listener}", append(listenerSeeds, `{"listener": {"default_pool_id": "{udppool}"}}`)...)
}
func FuzzAPIPoolCreate(f *testing.F) {
	fuzzAPI(f, "POST", "/v2/lbaas/pools", append(poolSeeds, `{"pool": {"listener_id": "{listener}", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}}`)...)
}
func FuzzAPIPoolUpdate(f *testing.F) {
	fuzzAPI(f, "PUT", "/v2/lbaas/pools/{pool}", poolSeeds...)
}
func FuzzAPIMemberCreate(f *testing.F) {
	fuzzAPI(f, "POST", "/v2/lbaas/pools/{pool}/members", memberSeeds...)
}
func FuzzAPIMemberUpdate(f *testing.F) {
	fuzzAPI(f, "PUT", "/v2/lbaas/pools/{pool}/members/{member}", memberSeeds...)
}
func FuzzAPIMembersBatch(f *testing.F) {
	fuzzAPI(f, "PUT", "/v2/lbaas/pools/{udppool}/members?additive_only=true", membersSeeds...)
}
func FuzzAPIHealthMonitorCreate(f *testing.F) {
	fuzzAPI(f, "POST", "/v2/lbaas/healthmonitors", append(hmSeeds, `{"healthmonitor": {"pool_id": "{udppool}", "type": "UDP-CONNECT", "delay": 5, "timeout": 3, "max_retries": 3}}`)...)
}
func FuzzAPIHealthMonitorUpdate(f *testing.F) {
	fuzzAPI(f, "PUT", "/v2/lbaas/healthmonitors/{hm}", hmSeeds...)
}

// FuzzListQuery fuzzes the query string of every collection.
func FuzzListQuery(f *testing.F) {
	for _, s := range []string{
		"limit=2&marker={lb}&page_reverse=True", "sort=name:desc,created_at", "sort_key=name,id&sort_dir=desc",
		"fields=id&fields=name", "tags=a,b&tags-any=c&not-tags=d&not-tags-any=e", "name=x&admin_state_up=yes",
		"limit=infinite", "limit=-1", "sort=a:b:c", "project_id=p&tenant_id=p", "protocol_port=80&weight=x",
	} {
		f.Add(uint8(0), s)
		f.Add(uint8(3), s)
	}
	a := newAPIFixture(f)
	paths := []string{"/v2/lbaas/loadbalancers", "/v2/lbaas/listeners", "/v2/lbaas/pools", "/v2/lbaas/pools/{pool}/members",
		"/v2/lbaas/healthmonitors", "/v2/lbaas/loadbalancers/{lb}", "/v2/lbaas/pools/{pool}", "/v2/lbaas/l7policies",
		"/v2/lbaas/l7policies/{policy}/rules", "/v2/lbaas/l7policies/{policy}", "/v2/lbaas/flavors", "/v2/lbaas/flavorprofiles",
		"/v2/lbaas/availabilityzones", "/v2/lbaas/availabilityzoneprofiles", "/v2/octavia/amphorae", "/v2/lbaas/providers/noop/flavor_capabilities"}
	f.Fuzz(func(t *testing.T, which uint8, query string) {
		for _, c := range []byte(query) {
			if c <= ' ' || c == 0x7f || c == '#' {
				return // not a query string a client can send
			}
		}
		a.serve(t, "GET", paths[int(which)%len(paths)]+"?"+query, nil)
	})
}
