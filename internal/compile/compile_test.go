package compile

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
	"github.com/fulcrumlb/fulcrum/internal/lb"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func sp(s string) *string   { return &s }
func ip(i int) *int         { return &i }
func fp(f float64) *float64 { return &f }

const (
	lbID  = "11111111-1111-4111-8111-111111111111"
	lis80 = "22222222-2222-4222-8222-222222222280"
	lis81 = "22222222-2222-4222-8222-222222222281"
	udp53 = "22222222-2222-4222-8222-222222222253"
	poolA = "33333333-3333-4333-8333-33333333333a"
	poolB = "33333333-3333-4333-8333-33333333333b"
	poolU = "33333333-3333-4333-8333-33333333333c"
	poolX = "33333333-3333-4333-8333-33333333333d"
)

func base() *lb.Graph {
	created := lb.Times{CreatedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	return &lb.Graph{
		LoadBalancer: &lb.LoadBalancer{ID: lbID, AdminStateUp: true, VIP: lb.VIP{Address: "127.10.0.5"},
			AdditionalVIPs: []lb.AdditionalVIP{{IPAddress: "::1"}}, Times: created},
		Listeners: []*lb.Listener{
			{ID: lis80, LoadBalancerID: lbID, AdminStateUp: true, Protocol: lb.ProtocolHTTP, ProtocolPort: 80, ConnectionLimit: 1000,
				DefaultPoolID: poolA, InsertHeaders: map[string]string{"X-Forwarded-For": "true", "X-Forwarded-Proto": "true"},
				TimeoutClientData: 50000, TimeoutMemberConnect: 5000, TimeoutMemberData: 50000, AllowedCIDRs: []string{"127.0.0.0/8"}},
			{ID: lis81, LoadBalancerID: lbID, AdminStateUp: true, Protocol: lb.ProtocolTCP, ProtocolPort: 81, ConnectionLimit: -1,
				DefaultPoolID: poolB, TimeoutClientData: 1000, TimeoutMemberConnect: 2000, TimeoutMemberData: 3000, TimeoutTCPInspect: 4},
			{ID: udp53, LoadBalancerID: lbID, AdminStateUp: true, Protocol: lb.ProtocolUDP, ProtocolPort: 53, ConnectionLimit: -1,
				DefaultPoolID: poolU, TimeoutClientData: 50000, TimeoutMemberConnect: 5000, TimeoutMemberData: 50000},
		},
		Pools: []*lb.Pool{
			{ID: poolA, LoadBalancerID: lbID, AdminStateUp: true, Protocol: lb.ProtocolHTTP, LBAlgorithm: lb.RoundRobin,
				SessionPersistence: &lb.SessionPersistence{Type: lb.PersistAppCookie, CookieName: sp("SESSION")}},
			{ID: poolB, LoadBalancerID: lbID, AdminStateUp: true, Protocol: lb.ProtocolTCP, LBAlgorithm: lb.SourceIPPort},
			{ID: poolU, LoadBalancerID: lbID, AdminStateUp: true, Protocol: lb.ProtocolUDP, LBAlgorithm: lb.SourceIP,
				SessionPersistence: &lb.SessionPersistence{Type: lb.PersistSourceIP, PersistenceTimeout: ip(120), PersistenceGranularity: sp("255.255.255.0")}},
			{ID: poolX, LoadBalancerID: lbID, AdminStateUp: true, Protocol: lb.ProtocolHTTP, LBAlgorithm: lb.LeastConnections}, // unreferenced
		},
		Members: []*lb.Member{
			{ID: "m1", PoolID: poolA, AdminStateUp: true, Address: "127.0.0.11", ProtocolPort: 8080, Weight: 3},
			{ID: "m2", PoolID: poolA, AdminStateUp: false, Address: "127.0.0.12", ProtocolPort: 8080, Weight: 1, MonitorAddress: "127.0.0.13", MonitorPort: ip(9090)},
			{ID: "m3", PoolID: poolA, AdminStateUp: true, Address: "::1", ProtocolPort: 8080, Weight: 0, Backup: true},
			{ID: "m4", PoolID: poolB, AdminStateUp: true, Address: "127.0.0.14", ProtocolPort: 22, Weight: 1},
			{ID: "m5", PoolID: poolU, AdminStateUp: true, Address: "127.0.0.15", ProtocolPort: 5353, Weight: 1},
		},
		HealthMonitors: []*lb.HealthMonitor{
			{ID: "h1", PoolID: poolA, AdminStateUp: true, Type: lb.MonitorHTTP, Delay: 2, Timeout: 1, MaxRetries: 2, MaxRetriesDown: 3,
				HTTPMethod: sp("GET"), URLPath: sp("/healthcheck"), ExpectedCodes: sp("200-204"), HTTPVersion: fp(1.1), DomainName: sp("app.example")},
			{ID: "h3", PoolID: poolU, AdminStateUp: false, Type: lb.MonitorUDPConnect, Delay: 3, Timeout: 1, MaxRetries: 1, MaxRetriesDown: 1},
		},
	}
}

func golden(t *testing.T, name string, v any) {
	t.Helper()
	got, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	path := filepath.Join("testdata", name+".json")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs from %s:\n got:\n%s\nwant:\n%s", name, path, got, want)
	}
}

func TestGolden(t *testing.T) {
	cases := []struct {
		name  string
		graph func() *lb.Graph
		opts  Options
	}{
		{"full", base, Options{ExtraAddresses: []string{"127.20.0.9", "127.10.0.5"}}},
		{"loadbalancer-disabled", func() *lb.Graph { g := base(); g.LoadBalancer.AdminStateUp = false; return g }, Options{}},
		{"listener-and-pool-disabled", func() *lb.Graph {
			g := base()
			g.Listeners[1].AdminStateUp = false
			g.Pools[0].AdminStateUp = false // listener 80 keeps listening with no pool
			return g
		}, Options{}},
		{"l7-policies", func() *lb.Graph {
			g := base()
			g.L7Policies = []*lb.L7Policy{
				{ID: "p2", ListenerID: lis80, AdminStateUp: true, Position: 2, Action: lb.ActionRedirectToPool, RedirectPoolID: poolX},
				{ID: "p1", ListenerID: lis80, AdminStateUp: true, Position: 1, Action: lb.ActionRedirectToURL, RedirectURL: sp("https://example.com"), RedirectHTTPCode: ip(301)},
				{ID: "p3", ListenerID: lis80, AdminStateUp: true, Position: 3, Action: lb.ActionReject}, // no rules: ignored
				{ID: "p4", ListenerID: lis80, AdminStateUp: false, Position: 4, Action: lb.ActionReject},
			}
			g.L7Rules = []*lb.L7Rule{
				{ID: "r1", L7PolicyID: "p1", AdminStateUp: true, Type: lb.RulePath, CompareType: lb.CompareStartsWith, Value: "/old"},
				{ID: "r2", L7PolicyID: "p2", AdminStateUp: true, Type: lb.RuleHeader, CompareType: lb.CompareEqualTo, Key: sp("X-Canary"), Value: "1", Invert: true},
				{ID: "r3", L7PolicyID: "p2", AdminStateUp: false, Type: lb.RuleHostName, CompareType: lb.CompareEqualTo, Value: "x"},
				{ID: "r4", L7PolicyID: "p4", AdminStateUp: true, Type: lb.RulePath, CompareType: lb.CompareEqualTo, Value: "/"},
			}
			return g
		}, Options{}},
	}
	cases = append(cases, struct {
		name  string
		graph func() *lb.Graph
		opts  Options
	}{"security-groups", base, Options{Ingress: &Ingress{Rules: []IngressRule{
		{Protocol: 6, PortMin: 80, PortMax: 80, Remote: []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}},
		{Protocol: 17, Remote: []netip.Prefix{netip.MustParsePrefix("127.0.0.3/32")}},
		{IPv6: true, Protocol: -1},
		{Protocol: 6, PortMin: 1000, PortMax: 2000, Remote: []netip.Prefix{netip.MustParsePrefix("127.0.0.5/32"), netip.MustParsePrefix("127.0.0.6/32")}},
		{Protocol: 1},
	}}}})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := tc.graph()
			cfg, err := LoadBalancer(g, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, tc.name, cfg)
			again, _ := LoadBalancer(tc.graph(), tc.opts)
			a, _ := json.Marshal(cfg)
			b, _ := json.Marshal(again)
			if string(a) != string(b) {
				t.Error("compiling the same graph twice gave different fragments")
			}
			cfg.Version = 1
			if err := cfg.Validate(); err != nil {
				t.Errorf("compiled fragment does not validate: %v", err)
			}
		})
	}
}

// testCert is placeholder material: compiling copies it without reading it.
var testCert = dataplane.Certificate{CertPEM: "-----BEGIN CERTIFICATE-----\nplaceholder\n-----END CERTIFICATE-----\n"}

func tlsGraph() (*lb.Graph, Options) {
	g := base()
	l := g.Listeners[0]
	l.Protocol = lb.ProtocolTerminatedHTTPS
	l.ProtocolPort = 443
	l.DefaultTLSContainerRef = sp("http://kms/key-manager/v1/secrets/aaaaaaaa-0000-4000-8000-000000000001")
	l.SNIContainerRefs = []string{"http://kms/key-manager/v1/containers/aaaaaaaa-0000-4000-8000-000000000002"}
	l.ClientCATLSContainerRef = sp("http://kms/key-manager/v1/secrets/aaaaaaaa-0000-4000-8000-000000000003")
	l.ClientAuthentication = lb.ClientAuthOptional
	l.ClientCRLContainerRef = sp("http://kms/key-manager/v1/secrets/aaaaaaaa-0000-4000-8000-000000000004")
	l.TLSCiphers = sp("ECDHE-ECDSA-AES128-GCM-SHA256")
	l.TLSVersions = []string{"TLSv1.2", "TLSv1.3"}
	l.ALPNProtocols = []string{"h2", "http/1.1"}
	l.HSTSMaxAge, l.HSTSPreload = ip(600), true
	l.InsertHeaders["X-SSL-Client-CN"] = "true"
	p := g.Pools[0]
	p.TLSEnabled = true
	p.TLSContainerRef = sp("http://kms/key-manager/v1/secrets/aaaaaaaa-0000-4000-8000-000000000005")
	p.CATLSContainerRef = l.ClientCATLSContainerRef
	p.TLSVersions = []string{"TLSv1.3"}
	certs, pems := TLSRefs(g)
	m := TLSMaterial{Certificates: map[string]dataplane.Certificate{}, PEM: map[string]string{}}
	for i, ref := range certs {
		c := testCert
		c.KeyPEM = fmt.Sprintf("key %d", i)
		m.Certificates[ref] = c
	}
	for i, ref := range pems {
		m.PEM[ref] = fmt.Sprintf("pem %d", i)
	}
	return g, Options{TLS: m}
}

func TestTLS(t *testing.T) {
	g, opts := tlsGraph()
	certs, pems := TLSRefs(g)
	if len(certs) != 3 || len(pems) != 2 {
		t.Errorf("refs %v %v: want 3 certificates and 2 PEM documents (the shared CA once)", certs, pems)
	}
	cfg, err := LoadBalancer(g, opts)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "tls", cfg)
	// A disabled TLS listener and pool need nothing.
	g2, _ := tlsGraph()
	g2.Listeners[0].AdminStateUp = false
	if _, err := LoadBalancer(g2, Options{}); err != nil {
		t.Errorf("disabled TLS listener: %v", err)
	}
	// Missing material: the whole load balancer is unsupported, with the reason.
	g3, opts3 := tlsGraph()
	ref := *g3.Listeners[0].DefaultTLSContainerRef
	delete(opts3.TLS.Certificates, ref)
	opts3.TLS.Errors = map[string]string{ref: "no such secret"}
	_, err = LoadBalancer(g3, opts3)
	var u *Unsupported
	if !errors.As(err, &u) || u.Error() != "listener "+lis80+": could not retrieve "+ref+" from the key manager: no such secret" {
		t.Errorf("missing certificate: %v", err)
	}
}

func TestUnsupported(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(g *lb.Graph)
	}{
		{"terminated https without material", func(g *lb.Graph) {
			g.Listeners[0].Protocol = lb.ProtocolTerminatedHTTPS
			g.Listeners[0].DefaultTLSContainerRef = sp("https://barbican/containers/x")
		}},
		{"pool re-encryption without material", func(g *lb.Graph) { g.Pools[0].TLSEnabled = true; g.Pools[0].CATLSContainerRef = sp("x") }},
		{"no vip", func(g *lb.Graph) { g.LoadBalancer.VIP.Address = ""; g.LoadBalancer.AdditionalVIPs = nil }},
	}
	for _, tc := range cases {
		g := base()
		tc.mutate(g)
		_, err := LoadBalancer(g, Options{})
		var u *Unsupported
		if !errors.As(err, &u) {
			t.Errorf("%s: got %v, want *Unsupported", tc.name, err)
		}
	}
}

// TestPrometheusListener: a PROMETHEUS listener compiles to a listener of that protocol,
// without pool, and the result passes the data plane's validation.
func TestPrometheusListener(t *testing.T) {
	g := base()
	const prom = "22222222-2222-4222-8222-222222229100"
	g.Listeners = append(g.Listeners, &lb.Listener{ID: prom, LoadBalancerID: lbID, AdminStateUp: true, Protocol: lb.ProtocolPrometheus,
		ProtocolPort: 9100, ConnectionLimit: -1, TimeoutClientData: 50000, TimeoutMemberConnect: 5000, TimeoutMemberData: 50000,
		AllowedCIDRs: []string{"127.0.0.0/8"}})
	frag, err := LoadBalancer(g, Options{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := &dataplane.Config{Version: 1, Listeners: frag.Listeners, Pools: frag.Pools}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("compiled config refused: %v", err)
	}
	for _, l := range frag.Listeners {
		if l.ID == prom {
			if l.Protocol != dataplane.ProtocolPrometheus || l.DefaultPoolID != "" || len(l.AllowedCIDRs) != 1 {
				t.Errorf("compiled PROMETHEUS listener: %+v", l)
			}
			return
		}
	}
	t.Errorf("PROMETHEUS listener missing from %+v", frag.Listeners)
}

// TestEveryInsertHeaderTheAPIAcceptsCompilesValid: each insert_headers key the
// API accepts on an HTTP listener (lb.InsertHeadersHTTP) compiles into a
// fragment the data-plane contract accepts, and the TERMINATED_HTTPS-only keys
// are the contract's, so no listener the API took is refused by its agent.
func TestEveryInsertHeaderTheAPIAcceptsCompilesValid(t *testing.T) {
	for _, k := range lb.InsertHeadersHTTP {
		g := base()
		g.Listeners[0].InsertHeaders = map[string]string{k: "true"}
		fr, err := LoadBalancer(g, Options{})
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		if err := (&dataplane.Config{Version: 1, Listeners: fr.Listeners, Pools: fr.Pools}).Validate(); err != nil {
			t.Errorf("%s: %v", k, err)
		}
	}
	api, contract := slices.Sorted(slices.Values(lb.InsertHeadersTLS)), slices.Sorted(slices.Values(dataplane.SSLInsertHeaders))
	if !slices.Equal(api, contract) {
		t.Errorf("TERMINATED_HTTPS insert headers: API %v, contract %v", api, contract)
	}
}
