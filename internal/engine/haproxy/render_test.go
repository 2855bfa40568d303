package haproxy

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// goldenConfig exercises every construct the renderer writes. Certificates are
// placeholders: rendering does not parse them (Validate does), it names files after them.
func goldenConfig() *dataplane.Config {
	cert := func(n string) dataplane.Certificate {
		return dataplane.Certificate{ID: n, CertPEM: "-----BEGIN CERTIFICATE-----\n" + n + "\n-----END CERTIFICATE-----", KeyPEM: "-----BEGIN PRIVATE KEY-----\n" + n + "\n-----END PRIVATE KEY-----"}
	}
	def, sni, client := cert("default"), cert("sni"), cert("client")
	age := int64(300)
	member := func(id, addr string, port int) dataplane.Member {
		return dataplane.Member{ID: id, Address: addr, ProtocolPort: port, Weight: 1, AdminStateUp: true}
	}
	web := httpListener("3f1d2c1a-0000-4000-8000-000000000001", 80, "pool-web")
	web.LoadBalancerID = "lb-1"
	web.Addresses = []string{"192.0.2.10", "2001:db8::10"}
	web.ConnectionLimit = 1000
	web.AllowedCIDRs = []string{"10.0.0.0/8", "2001:db8::/32"}
	web.InsertHeaders = map[string]string{"X-Forwarded-For": "true", "X-Forwarded-Port": "true", "X-Forwarded-Proto": "true", "X-Real-IP": "false"}
	web.L7Policies = []dataplane.L7Policy{
		{ID: "deny", Position: 2, Action: dataplane.ActionReject, Rules: []dataplane.L7Rule{
			{ID: "r1", Type: dataplane.RulePath, CompareType: dataplane.CompareStartsWith, Value: "/admin"},
			{ID: "r2", Type: dataplane.RuleHeader, CompareType: dataplane.CompareEqualTo, Key: "X-Internal", Value: "1", Invert: true},
		}},
		{ID: "api", Position: 1, Action: dataplane.ActionRedirectToPool, RedirectPoolID: "pool-api", Rules: []dataplane.L7Rule{
			{ID: "r3", Type: dataplane.RuleHostName, CompareType: dataplane.CompareEqualTo, Value: "API.example.com"},
			{ID: "r4", Type: dataplane.RuleFileType, CompareType: dataplane.CompareRegex, Value: `^(json|xml)$`},
			{ID: "r5", Type: dataplane.RuleCookie, CompareType: dataplane.CompareContains, Key: "env", Value: `"it's"`},
		}},
		{ID: "moved", Position: 3, Action: dataplane.ActionRedirectToURL, RedirectURL: "https://example.com/100%", RedirectHTTPCode: 301, Rules: []dataplane.L7Rule{
			{ID: "r6", Type: dataplane.RulePath, CompareType: dataplane.CompareEqualTo, Value: "/old"}}},
		{ID: "prefix", Position: 4, Action: dataplane.ActionRedirectPrefix, RedirectPrefix: "https://example.com", Rules: []dataplane.L7Rule{
			{ID: "r7", Type: dataplane.RulePath, CompareType: dataplane.CompareEndsWith, Value: ".php"}}},
	}
	tlsL := httpListener("listener-tls", 443, "pool-web")
	tlsL.LoadBalancerID = "lb-1"
	tlsL.Protocol = dataplane.ProtocolTerminatedHTTPS
	tlsL.Addresses = []string{"192.0.2.10"}
	tlsL.TLS = &dataplane.ListenerTLS{DefaultCertificate: &def, SNICertificates: []dataplane.Certificate{sni}, ClientCA: "CA", ClientAuthentication: "OPTIONAL",
		ClientCRL: "CRL", Versions: []string{"TLSv1.2", "TLSv1.3"}, Ciphers: "ECDHE-ECDSA-AES128-GCM-SHA256", ALPNProtocols: []string{"h2", "http/1.1"},
		HSTSMaxAge: &age, HSTSIncludeSubdomains: true, HSTSPreload: true}
	tlsL.InsertHeaders = map[string]string{"X-SSL-Client-CN": "true", "X-SSL-Client-Verify": "true"}
	tlsL.L7Policies = []dataplane.L7Policy{{ID: "dn", Position: 1, Action: dataplane.ActionRedirectToPool, RedirectPoolID: "pool-api",
		Rules: []dataplane.L7Rule{{ID: "r8", Type: dataplane.RuleSSLDNField, CompareType: dataplane.CompareEqualTo, Key: "OU", Value: "ops"},
			{ID: "r9", Type: dataplane.RuleSSLVerifyResult, CompareType: dataplane.CompareEqualTo, Value: "0"},
			{ID: "r10", Type: dataplane.RuleSSLConnHasCert, CompareType: dataplane.CompareEqualTo, Value: "true"}}}}
	tcp := tcpListener("listener-tcp", dataplane.ProtocolTCP, 5432, "pool-db")
	tcp.LoadBalancerID = "lb-2"
	tcp.TimeoutClientData = 0
	pass := tcpListener("listener-passthrough", dataplane.ProtocolHTTPS, 8443, "pool-proxy")
	pass.LoadBalancerID = "lb-2"
	prom := httpListener("listener-prom", 9100, "")
	prom.LoadBalancerID = "lb-1"
	prom.Protocol = dataplane.ProtocolPrometheus

	webPool := pool("pool-web", dataplane.ProtocolHTTP, dataplane.RoundRobin, member("m-1", "10.0.0.1", 8080), member("m-2", "10.0.0.2", 8080),
		member("m-3", "10.0.0.3", 8080), member("m-backup", "10.0.0.9", 8080))
	webPool.Members[1].Weight = 0
	webPool.Members[2].AdminStateUp = false
	webPool.Members[3].Backup = true
	webPool.Members[0].MonitorAddress, webPool.Members[0].MonitorPort = "10.0.1.1", 9000
	webPool.SessionPersistence = &dataplane.SessionPersistence{Type: dataplane.PersistHTTPCookie}
	webPool.HealthMonitor = &dataplane.HealthMonitor{ID: "hm", Type: dataplane.MonitorHTTP, Delay: 5, Timeout: 2, MaxRetries: 2, MaxRetriesDown: 3,
		HTTPMethod: "HEAD", URLPath: "/health", ExpectedCodes: "200-202", HTTPVersion: "1.1", AdminStateUp: true}
	apiPool := pool("pool-api", dataplane.ProtocolHTTP, dataplane.LeastConnections, member("m-api", "10.0.2.1", 443))
	apiPool.SessionPersistence = &dataplane.SessionPersistence{Type: dataplane.PersistAppCookie, CookieName: "JSESSIONID", PersistenceTimeout: 600}
	apiPool.TLS = &dataplane.PoolTLS{ClientCertificate: &client, CA: "MEMBER-CA", CRL: "MEMBER-CRL", Versions: []string{"TLSv1.3"}, ALPNProtocols: []string{"http/1.1"}}
	apiPool.HealthMonitor = &dataplane.HealthMonitor{ID: "hm2", Type: dataplane.MonitorHTTPS, Delay: 10, Timeout: 0, MaxRetries: 1, MaxRetriesDown: 1,
		DomainName: "api.example.com", HTTPVersion: "1.1", AdminStateUp: true}
	dbPool := pool("pool-db", dataplane.ProtocolTCP, dataplane.SourceIP, member("m-db", "2001:db8::20", 5432))
	dbPool.SessionPersistence = &dataplane.SessionPersistence{Type: dataplane.PersistSourceIP, PersistenceGranularity: "255.255.255.0"}
	dbPool.HealthMonitor = &dataplane.HealthMonitor{ID: "hm3", Type: dataplane.MonitorTCP, Delay: 3, Timeout: 1, MaxRetries: 3, MaxRetriesDown: 3, AdminStateUp: true}
	proxyPool := pool("pool-proxy", dataplane.ProtocolProxyV2, dataplane.SourceIPPort, member("m-p", "10.0.3.1", 8443))
	proxyPool.HealthMonitor = &dataplane.HealthMonitor{ID: "hm4", Type: dataplane.MonitorTLSHello, Delay: 1, Timeout: 1, MaxRetries: 1, MaxRetriesDown: 1, AdminStateUp: true}
	lonePool := pool("pool-unused", dataplane.ProtocolHTTP, dataplane.RoundRobin, member("m-lone", "10.0.4.1", 80))
	return &dataplane.Config{Version: 42, Listeners: []dataplane.Listener{web, tlsL, tcp, pass, prom},
		Pools: []dataplane.Pool{webPool, apiPool, dbPool, proxyPool, lonePool}}
}

// TestRenderGolden pins the rendered haproxy.cfg and the map part of the Lua script
// (go test -run TestRenderGolden -update rewrites them).
func TestRenderGolden(t *testing.T) {
	cfg := goldenConfig()
	if err := refuse(cfg); err != nil {
		t.Fatal(err)
	}
	r, err := render(cfg, settings{Dir: "/var/lib/fulcrum/haproxy", Threads: 2, MaxConn: 100000, FreeBind: true,
		Bases: bases{listeners: map[string]counters{"listener-prom": {total: 7}}, members: map[string]counters{}}})
	if err != nil {
		t.Fatal(err)
	}
	var lua []byte
	for n, b := range r.files {
		if strings.HasSuffix(n, ".lua") {
			lua = b[:bytes.Index(b, []byte("\nlocal function unreserved"))]
		}
	}
	for _, g := range []struct {
		file string
		got  []byte
	}{{"golden.cfg", r.text}, {"golden-map.lua", lua}} {
		path := filepath.Join("testdata", g.file)
		if *update {
			if err := os.WriteFile(path, g.got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(g.got, want) {
			t.Errorf("%s differs (run with -update and review the diff):\n%s", path, g.got)
		}
	}
	if len(r.lines) != bytes.Count(r.text, []byte("\n")) {
		t.Fatalf("%d line paths for %d lines", len(r.lines), bytes.Count(r.text, []byte("\n")))
	}
}

// TestRenderedConfigLoads has HAProxy itself parse the golden config's rendering with real
// files: every construct the renderer writes is one HAProxy 2.6 accepts.
func TestRenderedConfigLoads(t *testing.T) {
	cfg := goldenConfig()
	ca := newTestCA(t, "ca")
	for _, c := range []**dataplane.Certificate{&cfg.Listeners[1].TLS.DefaultCertificate, &cfg.Pools[1].TLS.ClientCertificate} {
		real, _ := ca.issue(t, "x", "x.example.test")
		*c = &real
	}
	real, _ := ca.issue(t, "sni", "sni.example.test")
	cfg.Listeners[1].TLS.SNICertificates = []dataplane.Certificate{real}
	cfg.Listeners[1].TLS.ClientCA, cfg.Listeners[1].TLS.ClientCRL = ca.pem(), ca.crl(t)
	cfg.Pools[1].TLS.CA, cfg.Pools[1].TLS.CRL = ca.pem(), ca.crl(t)
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	dir := testDir(t)
	r, err := render(cfg, settings{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(dir, filesDir), 0o700)
	for n, b := range r.files {
		if err := writeFile(filepath.Join(dir, filesDir, n), b); err != nil {
			t.Fatal(err)
		}
	}
	if err := ticketKeys(filepath.Join(dir, ticketsFile)); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, configFile)
	if err := writeFile(path, r.text); err != nil {
		t.Fatal(err)
	}
	bin, err := FindBinary("")
	if err != nil {
		t.Fatal(err)
	}
	e := &Engine{bin: bin}
	if err := e.check(t.Context(), path, r); err != nil {
		t.Fatalf("haproxy -c refuses the rendering: %v\n%s", err, r.text)
	}
	// Every file is private.
	ents, _ := os.ReadDir(filepath.Join(dir, filesDir))
	for _, ent := range ents {
		st, _ := os.Stat(filepath.Join(dir, filesDir, ent.Name()))
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", ent.Name(), st.Mode().Perm())
		}
	}
}
