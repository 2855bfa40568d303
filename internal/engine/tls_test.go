package engine

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
)

var testSerial atomic.Int64

type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newTestCA(t testing.TB, name string) *testCA {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(testSerial.Add(1)), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return &testCA{cert: c, key: key}
}

func (a *testCA) pem() string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: a.cert.Raw}))
}

func (a *testCA) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(a.cert)
	return p
}

func (a *testCA) issue(t testing.TB, cn string, dns ...string) (dataplane.Certificate, *x509.Certificate) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(testSerial.Add(1)), Subject: pkix.Name{CommonName: cn, Organization: []string{"Example"}},
		DNSNames: dns, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.cert, &key.PublicKey, a.key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	kd, _ := x509.MarshalPKCS8PrivateKey(key)
	return dataplane.Certificate{ID: cn, CertPEM: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		KeyPEM: string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd}))}, c
}

func (a *testCA) crl(t testing.TB, revoked ...*x509.Certificate) string {
	var entries []x509.RevocationListEntry
	for _, c := range revoked {
		entries = append(entries, x509.RevocationListEntry{SerialNumber: c.SerialNumber, RevocationTime: time.Now()})
	}
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{Number: big.NewInt(testSerial.Add(1)), ThisUpdate: time.Now(),
		NextUpdate: time.Now().Add(time.Hour), RevokedCertificateEntries: entries}, a.cert, a.key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der}))
}

func keyPair(c dataplane.Certificate) tls.Certificate {
	p, err := tls.X509KeyPair([]byte(c.CertPEM), []byte(c.KeyPEM))
	if err != nil {
		panic(err)
	}
	return p
}

func httpsListener(id string, port int, pool string, lt *dataplane.ListenerTLS) dataplane.Listener {
	l := httpListener(id, port, pool)
	l.Protocol = dataplane.ProtocolTerminatedHTTPS
	l.TLS = lt
	return l
}

// tlsClient is an HTTPS client for serverName verifying against roots, with an optional
// client certificate; DisableKeepAlives as asked.
func tlsClient(roots *x509.CertPool, serverName string, cert *tls.Certificate, keepAlive bool) *http.Client {
	cfg := &tls.Config{RootCAs: roots, ServerName: serverName, NextProtos: []string{"h2", "http/1.1"}}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: !keepAlive, ForceAttemptHTTP2: false},
		Timeout: ioWait}
}

// servedLeaf handshakes with addr for sni and returns the certificate served.
func servedLeaf(t *testing.T, addr, sni string) *x509.Certificate {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: ioWait}, "tcp", addr, &tls.Config{ServerName: sni, InsecureSkipVerify: true})
	if err != nil {
		t.Fatalf("handshake for %q: %v", sni, err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0]
}

func TestTLSTerminationSNIAndHeaders(t *testing.T) {
	checkGoroutines(t)
	ca := newTestCA(t, "test CA")
	def, defLeaf := ca.issue(t, "default.example.test", "default.example.test")
	www, wwwLeaf := ca.issue(t, "www.example.test", "www.example.test")
	wild, wildLeaf := ca.issue(t, "wildcard", "*.api.example.test")
	b := startBackend(t, "b1")
	e := newEngine(t, Options{})
	port := freePort(t)
	age := int64(31536000)
	l := httpsListener("l1", port, "p1", &dataplane.ListenerTLS{DefaultCertificate: &def, SNICertificates: []dataplane.Certificate{www, wild},
		HSTSMaxAge: &age, HSTSIncludeSubdomains: true})
	l.InsertHeaders = map[string]string{"X-Forwarded-Proto": "true", "X-Forwarded-For": "true", "X-SSL-Client-Has-Cert": "true"}
	mustApply(t, e, &dataplane.Config{Version: 1, Listeners: []dataplane.Listener{l},
		Pools: []dataplane.Pool{pool("p1", dataplane.ProtocolHTTP, dataplane.RoundRobin, b.member("m1"))}})
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for sni, want := range map[string]*x509.Certificate{"www.example.test": wwwLeaf, "v1.api.example.test": wildLeaf, "other.example.test": defLeaf, "": defLeaf} {
		if got := servedLeaf(t, addr, sni); !got.Equal(want) {
			t.Errorf("SNI %q: served %s, want %s", sni, got.Subject.CommonName, want.Subject.CommonName)
		}
	}
	c := tlsClient(ca.pool(), "www.example.test", nil, true)
	resp, err := c.Get("https://" + addr + "/?hsts=max-age%3D5")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "b1" {
		t.Fatalf("GET: %d %q", resp.StatusCode, body)
	}
	if got := resp.Header.Values("Strict-Transport-Security"); len(got) != 1 || got[0] != "max-age=31536000; includeSubDomains" {
		t.Errorf("HSTS %q (the member's max-age=5 must be replaced)", got)
	}
	if resp.TLS.NegotiatedProtocol != "http/1.1" || resp.TLS.Version != tls.VersionTLS13 {
		t.Errorf("ALPN %q version %x", resp.TLS.NegotiatedProtocol, resp.TLS.Version)
	}
	b.mu.Lock()
	h := b.last
	b.mu.Unlock()
	if h.Get("X-Forwarded-Proto") != "https" || h.Get("X-Forwarded-For") != "127.0.0.1" || h.Get("X-SSL-Client-Has-Cert") != "0" {
		t.Errorf("member saw %v", h)
	}
	c.CloseIdleConnections()
}

func TestTLSClientAuthentication(t *testing.T) {
	checkGoroutines(t)
	ca := newTestCA(t, "server CA")
	clientCA := newTestCA(t, "client CA")
	srv, _ := ca.issue(t, "lb.example.test", "lb.example.test")
	alice, aliceLeaf := clientCA.issue(t, "alice")
	mallory, malloryLeaf := clientCA.issue(t, "mallory")
	b := startBackend(t, "b1")
	e := newEngine(t, Options{})
	port := freePort(t)
	l := httpsListener("l1", port, "p1", &dataplane.ListenerTLS{DefaultCertificate: &srv, ClientAuthentication: "MANDATORY",
		ClientCA: clientCA.pem(), ClientCRL: clientCA.crl(t, malloryLeaf)})
	l.InsertHeaders = map[string]string{}
	for _, k := range dataplane.SSLInsertHeaders {
		l.InsertHeaders[k] = "true"
	}
	mustApply(t, e, &dataplane.Config{Version: 1, Listeners: []dataplane.Listener{l},
		Pools: []dataplane.Pool{pool("p1", dataplane.ProtocolHTTP, dataplane.RoundRobin, b.member("m1"))}})
	url := fmt.Sprintf("https://127.0.0.1:%d/", port)
	aliceCert, malloryCert := keyPair(alice), keyPair(mallory)
	tests := []struct {
		name string
		cert *tls.Certificate
		ok   bool
	}{
		{"no certificate", nil, false},
		{"signed certificate", &aliceCert, true},
		{"revoked certificate", &malloryCert, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := tlsClient(ca.pool(), "lb.example.test", tc.cert, false)
			resp, err := c.Get(url)
			if err == nil {
				resp.Body.Close()
			}
			if (err == nil) != tc.ok {
				t.Fatalf("err %v, want ok=%v", err, tc.ok)
			}
		})
	}
	b.mu.Lock()
	h := b.last
	b.mu.Unlock()
	want := map[string]string{
		"X-SSL-Client-Verify": "0", "X-SSL-Client-Has-Cert": "1", "X-SSL-Client-DN": `"/O=Example/CN=alice"`,
		"X-SSL-Client-CN": `"alice"`, "X-SSL-Issuer": `"/CN=client CA"`,
		"X-SSL-Client-Not-Before": `"` + aliceLeaf.NotBefore.UTC().Format("060102150405Z") + `"`,
		"X-SSL-Client-Not-After":  `"` + aliceLeaf.NotAfter.UTC().Format("060102150405Z") + `"`,
	}
	for k, v := range want {
		if got := h.Get(k); got != v {
			t.Errorf("%s: %q, want %q", k, got, v)
		}
	}
	if sha := h.Get("X-SSL-Client-SHA1"); len(sha) != 42 {
		t.Errorf("X-SSL-Client-SHA1 %q", sha)
	}
	// The engine counts a refused handshake when its side of it ends, which may be just
	// after the client saw the refusal.
	waitUntil(t, "two refused handshakes counted as request errors", func() bool { return e.Stats().Listeners[0].RequestErrors >= 2 })
}

func TestTLSVersionsEnforced(t *testing.T) {
	checkGoroutines(t)
	ca := newTestCA(t, "ca")
	srv, _ := ca.issue(t, "v.example.test", "v.example.test")
	b := startBackend(t, "b1")
	e := newEngine(t, Options{})
	port := freePort(t)
	mustApply(t, e, &dataplane.Config{Version: 1, Listeners: []dataplane.Listener{
		httpsListener("l1", port, "p1", &dataplane.ListenerTLS{DefaultCertificate: &srv, Versions: []string{"TLSv1.3"}})},
		Pools: []dataplane.Pool{pool("p1", dataplane.ProtocolHTTP, dataplane.RoundRobin, b.member("m1"))}})
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	if _, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.pool(), ServerName: "v.example.test", MaxVersion: tls.VersionTLS12}); err == nil {
		t.Error("TLS 1.2 accepted by a TLSv1.3-only listener")
	}
	c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.pool(), ServerName: "v.example.test"})
	if err != nil {
		t.Fatal(err)
	}
	if v := c.ConnectionState().Version; v != tls.VersionTLS13 {
		t.Errorf("version %x", v)
	}
	c.Close()
	// TLSv1.2 only, with one cipher.
	mustApply(t, e, &dataplane.Config{Version: 2, Listeners: []dataplane.Listener{
		httpsListener("l1", port, "p1", &dataplane.ListenerTLS{DefaultCertificate: &srv, Versions: []string{"TLSv1.2"}, Ciphers: "ECDHE-ECDSA-AES256-GCM-SHA384"})},
		Pools: []dataplane.Pool{pool("p1", dataplane.ProtocolHTTP, dataplane.RoundRobin, b.member("m1"))}})
	c, err = tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.pool(), ServerName: "v.example.test"})
	if err != nil {
		t.Fatal(err)
	}
	if cs := c.ConnectionState(); cs.Version != tls.VersionTLS12 || cs.CipherSuite != tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 {
		t.Errorf("version %x suite %s", cs.Version, tls.CipherSuiteName(cs.CipherSuite))
	}
	c.Close()
}

// tlsMember is an HTTPS backend with a certificate of memberCA that requires a client
// certificate of clientCA. The server's error log (failed handshakes) goes to the
// returned recorder and the test log.
func tlsMember(t *testing.T, memberCA, clientCA *testCA, id string) (*serverLog, dataplane.Member) {
	t.Helper()
	cert, _ := memberCA.issue(t, id, "member.example.test")
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s sni=%s client=%s", id, r.TLS.ServerName, r.TLS.PeerCertificates[0].Subject.CommonName)
	}))
	sl := &serverLog{t: t}
	srv.Config.ErrorLog = log.New(sl, "member "+id+": ", 0)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{keyPair(cert)}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: clientCA.pool()}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	ap := srv.Listener.Addr().(*net.TCPAddr)
	return sl, dataplane.Member{ID: id, Address: "127.0.0.1", ProtocolPort: ap.Port, Weight: 1, AdminStateUp: true}
}

// serverLog records what a test server logs, and passes it on to the test log.
type serverLog struct {
	t     *testing.T
	mu    sync.Mutex
	lines []string
}

func (l *serverLog) Write(p []byte) (int, error) {
	line := strings.TrimSpace(string(p))
	l.t.Log(line)
	l.mu.Lock()
	l.lines = append(l.lines, line)
	l.mu.Unlock()
	return len(p), nil
}

// has reports whether a recorded line contains s.
func (l *serverLog) has(s string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range l.lines {
		if strings.Contains(line, s) {
			return true
		}
	}
	return false
}

func TestPoolReencryption(t *testing.T) {
	checkGoroutines(t)
	ca := newTestCA(t, "front CA")
	memberCA := newTestCA(t, "member CA")
	otherCA := newTestCA(t, "other CA")
	lbClientCA := newTestCA(t, "lb client CA")
	front, _ := ca.issue(t, "www.example.test", "www.example.test")
	lbCert, _ := lbClientCA.issue(t, "load balancer")
	memberLog, m := tlsMember(t, memberCA, lbClientCA, "tls-member")
	e := newEngine(t, Options{})
	port := freePort(t)
	apply := func(v uint64, pt *dataplane.PoolTLS) {
		p := pool("p1", dataplane.ProtocolHTTP, dataplane.RoundRobin, m)
		p.TLS = pt
		p.HealthMonitor = &dataplane.HealthMonitor{ID: "hm", Type: dataplane.MonitorHTTP, Delay: 60, Timeout: 30, MaxRetries: 1, MaxRetriesDown: 1,
			HTTPMethod: "GET", URLPath: "/", ExpectedCodes: "200", AdminStateUp: true}
		mustApply(t, e, &dataplane.Config{Version: v, Listeners: []dataplane.Listener{
			httpsListener("l1", port, "p1", &dataplane.ListenerTLS{DefaultCertificate: &front})}, Pools: []dataplane.Pool{p}})
	}
	url := fmt.Sprintf("https://127.0.0.1:%d/", port)
	apply(1, &dataplane.PoolTLS{ClientCertificate: &lbCert, CA: memberCA.pem(), Versions: []string{"TLSv1.2", "TLSv1.3"}, ALPNProtocols: []string{"http/1.1"}})
	// An HTTP monitor of a re-encrypting pool probes over TLS with the pool's
	// client certificate, so the TLS-only member is healthy.
	waitUntil(t, "the member UP by a probe over TLS", func() bool {
		h := e.Health().Members
		return len(h) == 1 && h[0].LastCheckOK && h[0].Status == dataplane.StatusUp
	})
	c := tlsClient(ca.pool(), "www.example.test", nil, true)
	code, body := get(t, c, url)
	if code != 200 || body != "tls-member sni=www.example.test client=load balancer" {
		t.Fatalf("re-encrypted request: %d %q", code, body)
	}
	// A member whose certificate the pool's CA did not sign is refused: 503, and the
	// member sees the engine end the handshake with a bad_certificate alert.
	if memberLog.has("bad certificate") {
		t.Fatalf("the member logged a refused certificate before the pool's CA changed")
	}
	apply(2, &dataplane.PoolTLS{ClientCertificate: &lbCert, CA: otherCA.pem()})
	c.CloseIdleConnections()
	if code, _ := get(t, c, url); code != 503 {
		t.Errorf("member with an unverified certificate: %d, want 503", code)
	}
	waitUntil(t, "the member logs the engine's bad_certificate alert", func() bool { return memberLog.has("remote error: tls: bad certificate") })
	// Without a CA the member is not verified.
	apply(3, &dataplane.PoolTLS{ClientCertificate: &lbCert})
	if code, _ := get(t, c, url); code != 200 {
		t.Errorf("unverified pool: %d", code)
	}
	c.CloseIdleConnections()
}

func TestTLSCertificateReplacedOnReload(t *testing.T) {
	checkGoroutines(t)
	ca := newTestCA(t, "ca")
	old, oldLeaf := ca.issue(t, "old", "www.example.test")
	fresh, freshLeaf := ca.issue(t, "new", "www.example.test")
	b := startBackend(t, "b1")
	e := newEngine(t, Options{})
	port := freePort(t)
	cfg := func(v uint64, cert dataplane.Certificate) *dataplane.Config {
		return &dataplane.Config{Version: v, Listeners: []dataplane.Listener{httpsListener("l1", port, "p1", &dataplane.ListenerTLS{DefaultCertificate: &cert})},
			Pools: []dataplane.Pool{pool("p1", dataplane.ProtocolHTTP, dataplane.RoundRobin, b.member("m1"))}}
	}
	mustApply(t, e, cfg(1, old))
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	// A keep-alive connection opened on the old certificate.
	tc, err := tls.DialWithDialer(&net.Dialer{Timeout: ioWait}, "tcp", addr, &tls.Config{RootCAs: ca.pool(), ServerName: "www.example.test"})
	if err != nil {
		t.Fatal(err)
	}
	kc := newKeepAliveConn(tc)
	defer kc.Close()
	if !tc.ConnectionState().PeerCertificates[0].Equal(oldLeaf) {
		t.Fatalf("first handshake got %s", tc.ConnectionState().PeerCertificates[0].Subject.CommonName)
	}
	if resp, _, err := kc.get("/"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("keep-alive connection before reload: %v %v", resp, err)
	}
	mustApply(t, e, cfg(2, fresh))
	if got := servedLeaf(t, addr, "www.example.test"); !got.Equal(freshLeaf) {
		t.Errorf("new handshakes get %s", got.Subject.CommonName)
	}
	// The old connection goes on, on its old session.
	if resp, body, err := kc.get("/"); err != nil || resp.StatusCode != 200 || body != "b1" {
		t.Errorf("keep-alive connection after reload: %v %q %v", resp, body, err)
	}
}

func TestTLSSessionResumption(t *testing.T) {
	checkGoroutines(t)
	ca := newTestCA(t, "ca")
	srv, _ := ca.issue(t, "r", "r.example.test")
	b := startBackend(t, "b1")
	e := newEngine(t, Options{})
	port := freePort(t)
	cfg := func(v uint64, hsts *int64) *dataplane.Config {
		return &dataplane.Config{Version: v, Listeners: []dataplane.Listener{httpsListener("l1", port, "p1", &dataplane.ListenerTLS{DefaultCertificate: &srv, HSTSMaxAge: hsts})},
			Pools: []dataplane.Pool{pool("p1", dataplane.ProtocolHTTP, dataplane.RoundRobin, b.member("m1"))}}
	}
	mustApply(t, e, cfg(1, nil))
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	ccfg := &tls.Config{RootCAs: ca.pool(), ServerName: "r.example.test", ClientSessionCache: tls.NewLRUClientSessionCache(4)}
	handshake := func() bool {
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: ioWait}, "tcp", addr, ccfg)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(ioWait))
		// TLS 1.3 tickets arrive after the handshake: a request makes sure we read one.
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		io.ReadAll(c)
		return c.ConnectionState().DidResume
	}
	if handshake() {
		t.Error("first handshake resumed")
	}
	if !handshake() {
		t.Error("second handshake not resumed")
	}
	age := int64(60)
	mustApply(t, e, cfg(2, &age)) // a reload with other TLS settings
	if !handshake() {
		t.Error("handshake after a reload not resumed")
	}
}

// TestTLSL7Rules: SSL_* rules on a TERMINATED_HTTPS listener read the client's handshake
// (HAProxy's ssl_c_s_dn, ssl_c_used, ssl_c_verify).
func TestTLSL7Rules(t *testing.T) {
	checkGoroutines(t)
	ca := newTestCA(t, "server CA")
	clientCA := newTestCA(t, "client CA")
	srv, _ := ca.issue(t, "lb.example.test", "lb.example.test")
	alice, _ := clientCA.issue(t, "alice")
	bob, _ := clientCA.issue(t, "bob")
	none, aliceB, certB, verifiedB := startBackend(t, "none"), startBackend(t, "alice"), startBackend(t, "cert"), startBackend(t, "verified")
	e := newEngine(t, Options{})
	port := freePort(t)
	l := httpsListener("l1", port, "p-none", &dataplane.ListenerTLS{DefaultCertificate: &srv, ClientAuthentication: "OPTIONAL", ClientCA: clientCA.pem()})
	l.L7Policies = []dataplane.L7Policy{
		toPool("dn", 1, "p-alice", l7rule(dataplane.RuleSSLDNField, dataplane.CompareEqualTo, "CN", "alice")),
		toPool("has-cert", 2, "p-cert", l7rule(dataplane.RuleSSLConnHasCert, dataplane.CompareEqualTo, "", "TRUE")),
		toPool("verified", 3, "p-verified", l7rule(dataplane.RuleSSLVerifyResult, dataplane.CompareEqualTo, "", "0"),
			l7rule(dataplane.RulePath, dataplane.CompareStartsWith, "", "/verified")),
	}
	mustApply(t, e, &dataplane.Config{Version: 1, Listeners: []dataplane.Listener{l}, Pools: []dataplane.Pool{
		pool("p-none", dataplane.ProtocolHTTP, dataplane.RoundRobin, none.member("m1")),
		pool("p-alice", dataplane.ProtocolHTTP, dataplane.RoundRobin, aliceB.member("m2")),
		pool("p-cert", dataplane.ProtocolHTTP, dataplane.RoundRobin, certB.member("m3")),
		pool("p-verified", dataplane.ProtocolHTTP, dataplane.RoundRobin, verifiedB.member("m4")),
	}})
	aliceCert, bobCert := keyPair(alice), keyPair(bob)
	base := fmt.Sprintf("https://127.0.0.1:%d", port)
	tests := []struct {
		name, path string
		cert       *tls.Certificate
		want       string
	}{
		{"no certificate: default pool", "/", nil, "none"},
		{"CN alice", "/", &aliceCert, "alice"},
		{"another certificate", "/", &bobCert, "cert"},
		{"verify result 0 without a certificate", "/verified", nil, "verified"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := tlsClient(ca.pool(), "lb.example.test", tc.cert, false)
			if code, body := get(t, c, base+tc.path); code != 200 || body != tc.want {
				t.Errorf("got %d %q, want %q", code, body, tc.want)
			}
		})
	}
}
