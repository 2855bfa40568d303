package haproxy

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
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
)

// Certificates made in the test; cases copied from internal/engine/tls_test.go.

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
	return a.issueSubject(t, pkix.Name{CommonName: cn, Organization: []string{"Example"}}, dns...)
}

func (a *testCA) issueSubject(t testing.TB, subject pkix.Name, dns ...string) (dataplane.Certificate, *x509.Certificate) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(testSerial.Add(1)), Subject: subject,
		DNSNames: dns, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.cert, &key.PublicKey, a.key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	kd, _ := x509.MarshalPKCS8PrivateKey(key)
	return dataplane.Certificate{ID: subject.CommonName, CertPEM: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
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
// client certificate.
func tlsClient(roots *x509.CertPool, serverName string, cert *tls.Certificate, keepAlive bool) *http.Client {
	cfg := &tls.Config{RootCAs: roots, ServerName: serverName, NextProtos: []string{"http/1.1"}}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: !keepAlive, ForceAttemptHTTP2: false},
		Timeout: 10 * time.Second}
}

// servedLeaf handshakes with addr for sni and returns the certificate served.
func servedLeaf(t *testing.T, addr, sni string) *x509.Certificate {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, &tls.Config{ServerName: sni, InsecureSkipVerify: true})
	if err != nil {
		t.Fatalf("handshake for %q: %v", sni, err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0]
}

func TestTLSTerminationSNIAndHeaders(t *testing.T) {
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
	h := b.lastHeaders()
	if h.Get("X-Forwarded-Proto") != "https" || h.Get("X-Forwarded-For") != "127.0.0.1" || h.Get("X-SSL-Client-Has-Cert") != "0" {
		t.Errorf("member saw %v", h)
	}
	c.CloseIdleConnections()
	// ALPN: h2 is offered only when configured (HAProxy speaks HTTP/2 to clients).
	l.TLS.ALPNProtocols = []string{"h2", "http/1.1"}
	mustApply(t, e, &dataplane.Config{Version: 2, Listeners: []dataplane.Listener{l},
		Pools: []dataplane.Pool{pool("p1", dataplane.ProtocolHTTP, dataplane.RoundRobin, b.member("m1"))}})
	h2 := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.pool(), ServerName: "www.example.test"}, ForceAttemptHTTP2: true}, Timeout: 10 * time.Second}
	resp, err = h2.Get("https://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 2 || resp.StatusCode != 200 {
		t.Errorf("with ALPN h2: %s %d", resp.Proto, resp.StatusCode)
	}
	h2.CloseIdleConnections()
}

func TestTLSClientAuthentication(t *testing.T) {
	ca := newTestCA(t, "server CA")
	clientCA := newTestCA(t, "client CA")
	srv, _ := ca.issue(t, "lb.example.test", "lb.example.test")
	alice, aliceLeaf := clientCA.issue(t, "alice")
	mallory, malloryLeaf := clientCA.issue(t, "mallory")
	// A subject a CA may sign: a quote, a backslash and CR LF in the CN.
	evil, _ := clientCA.issueSubject(t, pkix.Name{CommonName: "eve\"\\\r\nX-Injected: 1"})
	b := startBackend(t, "b1")
	e := newEngine(t, Options{})
	port := freePort(t)
	for _, mode := range []string{"MANDATORY", "OPTIONAL"} {
		t.Run(mode, func(t *testing.T) {
			l := httpsListener("l1", port, "p1", &dataplane.ListenerTLS{DefaultCertificate: &srv, ClientAuthentication: mode,
				ClientCA: clientCA.pem(), ClientCRL: clientCA.crl(t, malloryLeaf)})
			l.InsertHeaders = map[string]string{}
			for _, k := range dataplane.SSLInsertHeaders {
				l.InsertHeaders[k] = "true"
			}
			v := uint64(1)
			if mode == "OPTIONAL" {
				v = 2
			}
			mustApply(t, e, &dataplane.Config{Version: v, Listeners: []dataplane.Listener{l},
				Pools: []dataplane.Pool{pool("p1", dataplane.ProtocolHTTP, dataplane.RoundRobin, b.member("m1"))}})
			url := fmt.Sprintf("https://127.0.0.1:%d/", port)
			aliceCert, malloryCert, evilCert := keyPair(alice), keyPair(mallory), keyPair(evil)
			tests := []struct {
				name string
				cert *tls.Certificate
				ok   bool
			}{
				{"no certificate", nil, mode == "OPTIONAL"},
				{"revoked certificate", &malloryCert, false},
				{"quotes and CR LF in the subject", &evilCert, true},
				{"signed certificate", &aliceCert, true},
			}
			for _, tc := range tests {
				c := tlsClient(ca.pool(), "lb.example.test", tc.cert, false)
				resp, err := c.Get(url)
				if err == nil {
					resp.Body.Close()
				}
				if (err == nil) != tc.ok {
					t.Fatalf("%s: err %v, want ok=%v", tc.name, err, tc.ok)
				}
				if tc.name == "quotes and CR LF in the subject" {
					h := b.lastHeaders()
					if got, want := h.Get("X-SSL-Client-CN"), `"eve\"\\\x0D\x0AX-Injected: 1"`; got != want || h.Get("X-Injected") != "" {
						t.Errorf("X-SSL-Client-CN %q, want %q (escaped, no header added)", got, want)
					}
				}
			}
			h := b.lastHeaders()
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
			if mode == "OPTIONAL" {
				c := tlsClient(ca.pool(), "lb.example.test", nil, false)
				get(t, c, url)
				h := b.lastHeaders()
				if h.Get("X-SSL-Client-Has-Cert") != "0" || h.Get("X-SSL-Client-DN") != `""` || h.Get("X-SSL-Client-SHA1") != `""` {
					t.Errorf("without a certificate the member saw %v", h)
				}
			}
			eventually(t, 5*time.Second, "refused handshakes counted as request errors", func() bool {
				return e.Stats().Listeners[0].RequestErrors >= 1
			})
		})
	}
}

func TestTLSVersionsEnforced(t *testing.T) {
	ca := newTestCA(t, "ca")
	srv, _ := ca.issue(t, "v.example.test", "v.example.test")
	b := startBackend(t, "b1")
	e := newEngine(t, Options{})
	port := freePort(t)
	mustApply(t, e, &dataplane.Config{Version: 1, Listeners: []dataplane.Listener{
		httpsListener("l1", port, "p1", &dataplane.ListenerTLS{DefaultCertificate: &srv, Versions: []string{"TLSv1.3"}})},
		Pools: []dataplane.Pool{pool("p1", dataplane.ProtocolHTTP, dataplane.RoundRobin, b.member("m1"))}})
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	if c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.pool(), ServerName: "v.example.test", MaxVersion: tls.VersionTLS12}); err == nil {
		c.Close()
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
// certificate of clientCA.
func tlsMember(t *testing.T, memberCA, clientCA *testCA, id string, names ...string) (*httptest.Server, dataplane.Member) {
	t.Helper()
	cert, _ := memberCA.issue(t, id, append([]string{"member.example.test"}, names...)...)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s sni=%s client=%s", id, r.TLS.ServerName, r.TLS.PeerCertificates[0].Subject.CommonName)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{keyPair(cert)}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: clientCA.pool()}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	ap := srv.Listener.Addr().(*net.TCPAddr)
	return srv, dataplane.Member{ID: id, Address: "127.0.0.1", ProtocolPort: ap.Port, Weight: 1, AdminStateUp: true}
}

func TestPoolReencryption(t *testing.T) {
	ca := newTestCA(t, "front CA")
	memberCA := newTestCA(t, "member CA")
	otherCA := newTestCA(t, "other CA")
	lbClientCA := newTestCA(t, "lb client CA")
	front, _ := ca.issue(t, "www.example.test", "www.example.test")
	lbCert, _ := lbClientCA.issue(t, "load balancer")
	_, m := tlsMember(t, memberCA, lbClientCA, "tls-member", "www.example.test")
	_, other := tlsMember(t, memberCA, lbClientCA, "internal-member")
	e := newEngine(t, Options{})
	port := freePort(t)
	apply := func(v uint64, pt *dataplane.PoolTLS, members ...dataplane.Member) {
		if len(members) == 0 {
			members = []dataplane.Member{m}
		}
		p := pool("p1", dataplane.ProtocolHTTP, dataplane.RoundRobin, members...)
		p.TLS = pt
		p.HealthMonitor = &dataplane.HealthMonitor{ID: "hm", Type: dataplane.MonitorHTTP, Delay: 60, Timeout: 2, MaxRetries: 1, MaxRetriesDown: 1,
			HTTPMethod: "GET", URLPath: "/", ExpectedCodes: "200", AdminStateUp: true}
		mustApply(t, e, &dataplane.Config{Version: v, Listeners: []dataplane.Listener{
			httpsListener("l1", port, "p1", &dataplane.ListenerTLS{DefaultCertificate: &front})}, Pools: []dataplane.Pool{p}})
	}
	url := fmt.Sprintf("https://127.0.0.1:%d/", port)
	apply(1, &dataplane.PoolTLS{ClientCertificate: &lbCert, CA: memberCA.pem(), Versions: []string{"TLSv1.2", "TLSv1.3"}, ALPNProtocols: []string{"http/1.1"}})
	// An HTTP monitor of a re-encrypting pool probes over TLS with the pool's client
	// certificate, so the TLS-only member is healthy.
	eventually(t, 10*time.Second, "member healthy over TLS", func() bool {
		h := e.Health().Members
		return len(h) == 1 && h[0].LastCheckOK && h[0].Status == dataplane.StatusUp
	})
	c := tlsClient(ca.pool(), "www.example.test", nil, true)
	code, body := get(t, c, url)
	if code != 200 || body != "tls-member sni=www.example.test client=load balancer" {
		t.Fatalf("re-encrypted request: %d %q", code, body)
	}
	// Where this engine differs from the native one: with a CA, HAProxy 2.6 also matches
	// the member's certificate against the SNI it passes on (the client's), so a member
	// whose certificate does not name it is refused (503); the native engine checks the
	// chain only. Octavia's amphora ("verify required ... sni ssl_fc_sni") does the same.
	apply(4, &dataplane.PoolTLS{ClientCertificate: &lbCert, CA: memberCA.pem()}, other)
	c.CloseIdleConnections()
	if code, _ := get(t, c, url); code != 503 {
		t.Errorf("member certificate not naming the client's SNI: %d, want 503", code)
	}
	c.CloseIdleConnections()
	apply(5, &dataplane.PoolTLS{ClientCertificate: &lbCert, CA: memberCA.pem()})
	// A member whose certificate the pool's CA did not sign is refused: 503.
	apply(6, &dataplane.PoolTLS{ClientCertificate: &lbCert, CA: otherCA.pem()})
	c.CloseIdleConnections()
	if code, _ := get(t, c, url); code != 503 {
		t.Errorf("member with an unverified certificate: %d, want 503", code)
	}
	// Without a CA the member is not verified.
	apply(7, &dataplane.PoolTLS{ClientCertificate: &lbCert})
	c.CloseIdleConnections()
	if code, _ := get(t, c, url); code != 200 {
		t.Errorf("unverified pool: %d", code)
	}
	c.CloseIdleConnections()
}

func TestTLSCertificateReplacedOnReload(t *testing.T) {
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
	c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.pool(), ServerName: "www.example.test"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	if !c.ConnectionState().PeerCertificates[0].Equal(oldLeaf) {
		t.Fatal("first handshake did not get the first certificate")
	}
	// A request in flight across the reload finishes on the old worker.
	io.WriteString(c, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
	eventually(t, 5*time.Second, "the slow request reached the member", func() bool { return b.hits.Load() > 0 })
	mustApply(t, e, cfg(2, fresh))
	if got := servedLeaf(t, addr, "www.example.test"); !got.Equal(freshLeaf) {
		t.Errorf("new handshakes get %s", got.Subject.CommonName)
	}
	if resp, body := readResponse(t, newReader(c), "GET"); resp.StatusCode != 200 || body != "b1" {
		t.Errorf("request in flight across the reload: %d %q", resp.StatusCode, body)
	}
}

func TestTLSSessionResumption(t *testing.T) {
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
		c, err := tls.Dial("tcp", addr, ccfg)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
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
	mustApply(t, e, cfg(2, &age)) // a reload: a new worker
	if !handshake() {
		t.Error("handshake after a reload not resumed (the ticket keys file is shared by every worker)")
	}
}

// TestTLSL7Rules: SSL_* rules on a TERMINATED_HTTPS listener read the client's handshake.
func TestTLSL7Rules(t *testing.T) {
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
