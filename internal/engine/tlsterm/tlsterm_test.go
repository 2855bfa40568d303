package tlsterm

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
)

var serial atomic.Int64

// ca is a test certificate authority.
type ca struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

// ioWait bounds one handshake or exchange of a test; far beyond any pause of a loaded CI
// machine running -race, so reaching it means something is stuck.
const ioWait = 30 * time.Second

func newCA(t testing.TB, name string) *ca {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial.Add(1)), Subject: pkix.Name{CommonName: name, Organization: []string{"fulcrum tests"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return &ca{cert: c, key: key}
}

func (a *ca) pem() string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: a.cert.Raw}))
}

// issue makes a certificate for cn with the DNS names (none: CN only).
func (a *ca) issue(t testing.TB, cn string, dns ...string) (dataplane.Certificate, *x509.Certificate) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial.Add(1)), Subject: pkix.Name{CommonName: cn, Organization: []string{"Example"}, Country: []string{"US"}},
		DNSNames: dns, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.cert, &key.PublicKey, a.key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	kd, _ := x509.MarshalPKCS8PrivateKey(key)
	return dataplane.Certificate{ID: cn,
		CertPEM: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		KeyPEM:  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd}))}, c
}

func (a *ca) crl(t testing.TB, revoked ...*x509.Certificate) string {
	t.Helper()
	var entries []x509.RevocationListEntry
	for _, c := range revoked {
		entries = append(entries, x509.RevocationListEntry{SerialNumber: c.SerialNumber, RevocationTime: time.Now()})
	}
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{Number: big.NewInt(serial.Add(1)), ThisUpdate: time.Now(),
		NextUpdate: time.Now().Add(time.Hour), RevokedCertificateEntries: entries}, a.cert, a.key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der}))
}

func clientCert(c dataplane.Certificate) tls.Certificate {
	p, err := tls.X509KeyPair([]byte(c.CertPEM), []byte(c.KeyPEM))
	if err != nil {
		panic(err)
	}
	return p
}

// serve runs a TLS echo-less server on loopback: it completes the
// handshake, records the ConnInfo, writes "ok" and closes.
func serve(t *testing.T, s *Server) (addr string, infos <-chan *ConnInfo) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan *ConnInfo, 16)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				tc := tls.Server(c, s.Config)
				tc.SetDeadline(time.Now().Add(ioWait))
				if err := tc.Handshake(); err != nil {
					return
				}
				cs := tc.ConnectionState()
				ch <- Info(&cs)
				io.WriteString(tc, "ok")
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return ln.Addr().String(), ch
}

// dial handshakes with cfg and reads the "ok".
func dial(addr string, cfg *tls.Config) (tls.ConnectionState, error) {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: ioWait}, "tcp", addr, cfg)
	if err != nil {
		return tls.ConnectionState{}, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(ioWait))
	b, err := io.ReadAll(c)
	if err != nil {
		return c.ConnectionState(), err
	}
	if string(b) != "ok" {
		return c.ConnectionState(), errors.New("no ok: " + string(b))
	}
	return c.ConnectionState(), nil
}

func TestSNISelection(t *testing.T) {
	a := newCA(t, "ca")
	def, defLeaf := a.issue(t, "default.example.test", "default.example.test")
	www, wwwLeaf := a.issue(t, "www.example.test", "www.example.test", "example.test")
	wild, wildLeaf := a.issue(t, "wildcard", "*.example.test")
	cnOnly, cnLeaf := a.issue(t, "legacy.example.org")
	dup, _ := a.issue(t, "second www", "www.example.test")
	s, err := NewServer(&dataplane.ListenerTLS{DefaultCertificate: &def, SNICertificates: []dataplane.Certificate{www, wild, cnOnly, dup}}, ServerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	addr, _ := serve(t, s)
	roots := x509.NewCertPool()
	roots.AddCert(a.cert)
	tests := []struct {
		sni  string
		want *x509.Certificate
	}{
		{"www.example.test", wwwLeaf},
		{"WWW.Example.Test.", wwwLeaf},
		{"example.test", wwwLeaf},
		{"api.example.test", wildLeaf},
		{"a.b.example.test", defLeaf}, // a wildcard covers one label
		{"legacy.example.org", cnLeaf},
		{"default.example.test", defLeaf},
		{"unknown.example.net", defLeaf},
		{"", defLeaf},
	}
	for _, tc := range tests {
		t.Run("sni="+tc.sni, func(t *testing.T) {
			cs, err := dial(addr, &tls.Config{ServerName: tc.sni, InsecureSkipVerify: true})
			if err != nil {
				t.Fatal(err)
			}
			if got := cs.PeerCertificates[0]; !got.Equal(tc.want) {
				t.Errorf("served %s %v, want %s %v", got.Subject.CommonName, got.DNSNames, tc.want.Subject.CommonName, tc.want.DNSNames)
			}
		})
	}
	// A verifying client accepts the selected certificate for its name.
	if _, err := dial(addr, &tls.Config{ServerName: "api.example.test", RootCAs: roots}); err != nil {
		t.Errorf("verified handshake: %v", err)
	}
	// Without a default certificate the first SNI certificate is the fallback.
	s2, err := NewServer(&dataplane.ListenerTLS{SNICertificates: []dataplane.Certificate{www, wild}}, ServerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := s2.Select("nothing.example.net"); !got.Leaf.Equal(wwwLeaf) {
		t.Errorf("fallback %s", got.Leaf.Subject.CommonName)
	}
}

func TestVersionsCiphersALPN(t *testing.T) {
	a := newCA(t, "ca")
	cert, _ := a.issue(t, "v.example.test", "v.example.test")
	tests := []struct {
		name   string
		lt     dataplane.ListenerTLS
		client *tls.Config
		ok     bool
		check  func(t *testing.T, cs tls.ConnectionState)
	}{
		{"default allows 1.3", dataplane.ListenerTLS{}, &tls.Config{}, true, func(t *testing.T, cs tls.ConnectionState) {
			if cs.Version != tls.VersionTLS13 {
				t.Errorf("version %x", cs.Version)
			}
		}},
		{"default refuses 1.1", dataplane.ListenerTLS{}, &tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}, false, nil},
		{"1.3 only refuses 1.2", dataplane.ListenerTLS{Versions: []string{"TLSv1.3"}}, &tls.Config{MaxVersion: tls.VersionTLS12}, false, nil},
		{"1.2 only", dataplane.ListenerTLS{Versions: []string{"TLSv1.2"}}, &tls.Config{}, true, func(t *testing.T, cs tls.ConnectionState) {
			if cs.Version != tls.VersionTLS12 {
				t.Errorf("version %x", cs.Version)
			}
		}},
		{"old versions when asked", dataplane.ListenerTLS{Versions: []string{"TLSv1", "TLSv1.1"}}, &tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}, true, nil},
		{"one cipher", dataplane.ListenerTLS{Versions: []string{"TLSv1.2"}, Ciphers: "DHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305"}, &tls.Config{}, true,
			func(t *testing.T, cs tls.ConnectionState) {
				if cs.CipherSuite != tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256 {
					t.Errorf("suite %s", tls.CipherSuiteName(cs.CipherSuite))
				}
			}},
		{"client without the cipher", dataplane.ListenerTLS{Versions: []string{"TLSv1.2"}, Ciphers: "ECDHE-ECDSA-CHACHA20-POLY1305"},
			&tls.Config{CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}}, false, nil},
		{"ALPN: h2 offered when listed", dataplane.ListenerTLS{ALPNProtocols: []string{"h2", "http/1.1"}}, &tls.Config{NextProtos: []string{"h2", "http/1.1"}}, true,
			func(t *testing.T, cs tls.ConnectionState) {
				if cs.NegotiatedProtocol != "h2" {
					t.Errorf("ALPN %q", cs.NegotiatedProtocol)
				}
			}},
		{"ALPN h2 only", dataplane.ListenerTLS{ALPNProtocols: []string{"h2"}}, &tls.Config{NextProtos: []string{"h2"}}, true,
			func(t *testing.T, cs tls.ConnectionState) {
				if cs.NegotiatedProtocol != "h2" {
					t.Errorf("ALPN %q", cs.NegotiatedProtocol)
				}
			}},
		{"ALPN: the listener's order wins", dataplane.ListenerTLS{ALPNProtocols: []string{"http/1.1", "h2"}}, &tls.Config{NextProtos: []string{"h2", "http/1.1"}}, true,
			func(t *testing.T, cs tls.ConnectionState) {
				if cs.NegotiatedProtocol != "http/1.1" {
					t.Errorf("ALPN %q", cs.NegotiatedProtocol)
				}
			}},
		{"ALPN: no list, no h2", dataplane.ListenerTLS{}, &tls.Config{NextProtos: []string{"h2", "http/1.1"}}, true,
			func(t *testing.T, cs tls.ConnectionState) {
				if cs.NegotiatedProtocol != "http/1.1" {
					t.Errorf("ALPN %q", cs.NegotiatedProtocol)
				}
			}},
		{"ALPN: a list without h2", dataplane.ListenerTLS{ALPNProtocols: []string{"http/1.1", "http/1.0"}}, &tls.Config{NextProtos: []string{"h2", "http/1.1"}}, true,
			func(t *testing.T, cs tls.ConnectionState) {
				if cs.NegotiatedProtocol != "http/1.1" {
					t.Errorf("ALPN %q", cs.NegotiatedProtocol)
				}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			lt := tc.lt
			lt.DefaultCertificate = &cert
			s, err := NewServer(&lt, ServerOptions{})
			if err != nil {
				t.Fatal(err)
			}
			addr, _ := serve(t, s)
			cfg := tc.client.Clone()
			cfg.InsecureSkipVerify = true
			cs, err := dial(addr, cfg)
			if (err == nil) != tc.ok {
				t.Fatalf("handshake error %v, want ok=%v", err, tc.ok)
			}
			if tc.check != nil && err == nil {
				tc.check(t, cs)
			}
		})
	}
	for _, bad := range []dataplane.ListenerTLS{
		{DefaultCertificate: &cert, Versions: []string{"SSLv3"}},
		{DefaultCertificate: &cert, Versions: []string{"TLSv9"}},
		{DefaultCertificate: &cert, Versions: []string{"TLSv1.2"}, Ciphers: "DHE-RSA-AES128-GCM-SHA256"},
		{DefaultCertificate: &dataplane.Certificate{CertPEM: cert.CertPEM, KeyPEM: "nope"}},
		{},
	} {
		if _, err := NewServer(&bad, ServerOptions{}); err == nil {
			t.Errorf("NewServer accepted %+v", bad)
		}
	}
	if _, err := NewServer(&dataplane.ListenerTLS{DefaultCertificate: &cert, Versions: []string{"TLSv1.3"}, Ciphers: "DHE-RSA-AES128-GCM-SHA256"}, ServerOptions{}); err != nil {
		t.Errorf("TLS 1.3 only ignores the cipher list: %v", err)
	}
}

func TestClientAuthentication(t *testing.T) {
	a := newCA(t, "client ca")
	other := newCA(t, "other ca")
	srv, _ := a.issue(t, "server.example.test", "server.example.test")
	good, goodLeaf := a.issue(t, "alice")
	revoked, revokedLeaf := a.issue(t, "mallory")
	stranger, _ := other.issue(t, "stranger")
	mandatory, err := NewServer(&dataplane.ListenerTLS{DefaultCertificate: &srv, ClientAuthentication: "MANDATORY", ClientCA: a.pem(),
		ClientCRL: a.crl(t, revokedLeaf)}, ServerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	optional, err := NewServer(&dataplane.ListenerTLS{DefaultCertificate: &srv, ClientAuthentication: "OPTIONAL", ClientCA: a.pem()}, ServerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mAddr, mInfos := serve(t, mandatory)
	oAddr, oInfos := serve(t, optional)
	cfg := func(c *dataplane.Certificate) *tls.Config {
		x := &tls.Config{InsecureSkipVerify: true, ServerName: "server.example.test"}
		if c != nil {
			// Always send it, even when its issuer is not one the server names.
			cc := clientCert(*c)
			x.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cc, nil }
		}
		return x
	}
	tests := []struct {
		name string
		addr string
		cert *dataplane.Certificate
		ok   bool
	}{
		{"mandatory without a certificate", mAddr, nil, false},
		{"mandatory with a signed certificate", mAddr, &good, true},
		{"mandatory with a revoked certificate", mAddr, &revoked, false},
		{"mandatory with another CA's certificate", mAddr, &stranger, false},
		{"optional without a certificate", oAddr, nil, true},
		{"optional with a signed certificate", oAddr, &good, true},
		{"optional with another CA's certificate", oAddr, &stranger, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := dial(tc.addr, cfg(tc.cert))
			if (err == nil) != tc.ok {
				t.Errorf("error %v, want ok=%v", err, tc.ok)
			}
		})
	}
	// What the headers and SSL rules see.
	var ci *ConnInfo
	for ci == nil || !ci.HasCert {
		select {
		case ci = <-mInfos:
		case <-time.After(ioWait):
			t.Fatal("no connection info")
		}
	}
	if ci.SubjectDN != "/C=US/O=Example/CN=alice" || ci.IssuerDN != "/O=fulcrum tests/CN=client ca" || ci.Verify != 0 || ci.ServerName != "server.example.test" {
		t.Errorf("info %+v", ci)
	}
	if cn, ok := ci.DNField("CN"); !ok || cn != "alice" {
		t.Errorf("CN %q %v", cn, ok)
	}
	if o, ok := ci.DNField("2.5.4.10"); !ok || o != "Example" {
		t.Errorf("O by OID %q %v", o, ok)
	}
	if _, ok := ci.DNField("OU"); ok {
		t.Error("OU found")
	}
	var enabled [8]bool
	for i := range enabled {
		enabled[i] = true
	}
	got := string(ci.AppendHeaders(nil, &enabled))
	want := "X-SSL-Client-Verify: 0\r\nX-SSL-Client-Has-Cert: 1\r\nX-SSL-Client-DN: \"/C=US/O=Example/CN=alice\"\r\nX-SSL-Client-CN: \"alice\"\r\n" +
		"X-SSL-Issuer: \"/O=fulcrum tests/CN=client ca\"\r\nX-SSL-Client-SHA1: \"" + ci.SHA1 + "\"\r\n" +
		"X-SSL-Client-Not-Before: \"" + goodLeaf.NotBefore.UTC().Format("060102150405Z") + "\"\r\nX-SSL-Client-Not-After: \"" + goodLeaf.NotAfter.UTC().Format("060102150405Z") + "\"\r\n"
	if got != want {
		t.Errorf("headers:\n%s\nwant:\n%s", got, want)
	}
	if len(ci.SHA1) != 40 || strings.ToUpper(ci.SHA1) != ci.SHA1 {
		t.Errorf("sha1 %q", ci.SHA1)
	}
	for {
		select {
		case oi := <-oInfos:
			if !oi.HasCert {
				if v := oi.HeaderValue("X-SSL-Client-Has-Cert"); v != "0" {
					t.Errorf("has-cert without a certificate: %q", v)
				}
				return
			}
		case <-time.After(ioWait):
			t.Fatal("no optional connection without a certificate")
		}
	}
}

func TestClientAuthenticationErrors(t *testing.T) {
	a := newCA(t, "ca")
	other := newCA(t, "other")
	srv, _ := a.issue(t, "s", "s")
	for name, lt := range map[string]dataplane.ListenerTLS{
		"no CA":              {DefaultCertificate: &srv, ClientAuthentication: "MANDATORY"},
		"CRL of another CA":  {DefaultCertificate: &srv, ClientAuthentication: "MANDATORY", ClientCA: a.pem(), ClientCRL: other.crl(t)},
		"CRL not PEM":        {DefaultCertificate: &srv, ClientAuthentication: "OPTIONAL", ClientCA: a.pem(), ClientCRL: "x"},
		"unknown mode":       {DefaultCertificate: &srv, ClientAuthentication: "SOMETIMES", ClientCA: a.pem()},
		"CA not certificate": {DefaultCertificate: &srv, ClientAuthentication: "OPTIONAL", ClientCA: srv.KeyPEM},
	} {
		if _, err := NewServer(&lt, ServerOptions{}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestSessionResumptionAcrossReload(t *testing.T) {
	a := newCA(t, "ca")
	cert, _ := a.issue(t, "r.example.test", "r.example.test")
	var key [32]byte
	rand.Read(key[:])
	opts := ServerOptions{TicketKeys: [][32]byte{key}}
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		s1, _ := NewServer(&dataplane.ListenerTLS{DefaultCertificate: &cert}, opts)
		s2, _ := NewServer(&dataplane.ListenerTLS{DefaultCertificate: &cert, HSTSMaxAge: new(int64)}, opts) // a reload
		addr1, _ := serve(t, s1)
		addr2, _ := serve(t, s2)
		cache := tls.NewLRUClientSessionCache(4)
		cfg := &tls.Config{InsecureSkipVerify: true, ServerName: "r.example.test", ClientSessionCache: cache, MaxVersion: v}
		if cs, err := dial(addr1, cfg); err != nil || cs.DidResume {
			t.Fatalf("first handshake: %v resumed=%v", err, cs.DidResume)
		}
		// The same name on the reloaded listener (same port in real life).
		cs, err := dial(addr2, cfg)
		if err != nil || !cs.DidResume {
			t.Errorf("version %x: handshake after reload: %v, resumed=%v", v, err, cs.DidResume)
		}
	}
}

func TestHSTS(t *testing.T) {
	a := newCA(t, "ca")
	cert, _ := a.issue(t, "h", "h")
	age := int64(31536000)
	for _, tc := range []struct {
		sub, preload bool
		want         string
	}{{false, false, "max-age=31536000"}, {true, false, "max-age=31536000; includeSubDomains"}, {true, true, "max-age=31536000; includeSubDomains; preload"}} {
		s, err := NewServer(&dataplane.ListenerTLS{DefaultCertificate: &cert, HSTSMaxAge: &age, HSTSIncludeSubdomains: tc.sub, HSTSPreload: tc.preload}, ServerOptions{})
		if err != nil || s.HSTS != tc.want {
			t.Errorf("HSTS %q %v, want %q", s.HSTS, err, tc.want)
		}
	}
	if s, _ := NewServer(&dataplane.ListenerTLS{DefaultCertificate: &cert}, ServerOptions{}); s.HSTS != "" {
		t.Errorf("HSTS without max age: %q", s.HSTS)
	}
}

func TestPoolClient(t *testing.T) {
	memberCA := newCA(t, "member ca")
	otherCA := newCA(t, "other")
	clientCA := newCA(t, "lb client ca")
	memberCert, memberLeaf := memberCA.issue(t, "member", "10.0.0.1.example")
	otherCert, _ := otherCA.issue(t, "impostor")
	lbCert, _ := clientCA.issue(t, "load balancer")
	// Members that require the load balancer's client certificate.
	member := func(cert dataplane.Certificate) string {
		s, err := NewServer(&dataplane.ListenerTLS{DefaultCertificate: &cert, ClientAuthentication: "MANDATORY", ClientCA: clientCA.pem()}, ServerOptions{})
		if err != nil {
			t.Fatal(err)
		}
		addr, _ := serve(t, s)
		return addr
	}
	good, impostor := member(memberCert), member(otherCert)
	tests := []struct {
		name string
		pt   dataplane.PoolTLS
		addr string
		ok   bool
	}{
		{"verified against the CA", dataplane.PoolTLS{CA: memberCA.pem(), ClientCertificate: &lbCert}, good, true},
		{"another CA's member refused", dataplane.PoolTLS{CA: memberCA.pem(), ClientCertificate: &lbCert}, impostor, false},
		{"no CA: not verified", dataplane.PoolTLS{ClientCertificate: &lbCert}, impostor, true},
		{"no client certificate refused by the member", dataplane.PoolTLS{CA: memberCA.pem()}, good, false},
		{"revoked member refused", dataplane.PoolTLS{CA: memberCA.pem(), CRL: memberCA.crl(t, memberLeaf), ClientCertificate: &lbCert}, good, false},
		{"member version too old for the pool", dataplane.PoolTLS{ClientCertificate: &lbCert, Versions: []string{"TLSv1.1"}}, good, false},
		{"TLS 1.2 with a cipher", dataplane.PoolTLS{ClientCertificate: &lbCert, Versions: []string{"TLSv1.2"}, Ciphers: "ECDHE-ECDSA-AES256-GCM-SHA384"}, good, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := NewClient(&tc.pt)
			if err != nil {
				t.Fatal(err)
			}
			_, err = dial(tc.addr, c.Config("member.example.test"))
			if (err == nil) != tc.ok {
				t.Errorf("error %v, want ok=%v", err, tc.ok)
			}
		})
	}
	// Resumption toward members.
	c, _ := NewClient(&dataplane.PoolTLS{CA: memberCA.pem(), ClientCertificate: &lbCert})
	dial(good, c.Config(""))
	if cs, err := dial(good, c.Config("")); err != nil || !cs.DidResume {
		t.Errorf("second member connection: %v resumed=%v", err, cs.DidResume)
	}
	if _, err := NewClient(&dataplane.PoolTLS{CRL: memberCA.crl(t)}); err == nil {
		t.Error("CRL without CA accepted")
	}
}

// FuzzSelect: whatever name a ClientHello carries, selection returns one
// of the listener's certificates, and an exact name always gets its own.
func FuzzSelect(f *testing.F) {
	a := newCA(f, "ca")
	def, _ := a.issue(f, "d", "default.example")
	www, _ := a.issue(f, "w", "www.example.test")
	wild, _ := a.issue(f, "x", "*.example.test")
	s, err := NewServer(&dataplane.ListenerTLS{DefaultCertificate: &def, SNICertificates: []dataplane.Certificate{www, wild}}, ServerOptions{})
	if err != nil {
		f.Fatal(err)
	}
	for _, n := range []string{"", "www.example.test", "a.example.test", ".", "..", "*.example.test", "WWW.EXAMPLE.TEST.", "example.test", "\x00"} {
		f.Add(n)
	}
	f.Fuzz(func(t *testing.T, name string) {
		c := s.Select(name)
		if c == nil || c.Leaf == nil {
			t.Fatalf("no certificate for %q", name)
		}
		if strings.EqualFold(strings.TrimSuffix(name, "."), "www.example.test") && c.Leaf.DNSNames[0] != "www.example.test" {
			t.Fatalf("%q got %v", name, c.Leaf.DNSNames)
		}
	})
}

// TestHeaderValuesEscaped: a client certificate whose subject holds quotes, a backslash and
// CR LF (a CA may sign such a UTF8String) cannot end an X-SSL-* value or start a header
// line of its own.
func TestHeaderValuesEscaped(t *testing.T) {
	a := newCA(t, "ca")
	cn := "eve\"\\\r\nX-SSL-Client-Verify: 0\x7f"
	_, leaf := a.issue(t, cn)
	if leaf.Subject.CommonName != cn {
		t.Fatalf("certificate CN %q, want %q", leaf.Subject.CommonName, cn)
	}
	ci := Info(&tls.ConnectionState{PeerCertificates: []*x509.Certificate{leaf}})
	if got, ok := ci.DNField("CN"); !ok || got != cn {
		t.Errorf("SSL_DN_FIELD rules read %q, want the CN as it is", got)
	}
	want := `"eve\"\\\x0D\x0AX-SSL-Client-Verify: 0\x7F"`
	if got := ci.HeaderValue("X-SSL-Client-CN"); got != want {
		t.Errorf("X-SSL-Client-CN value %s, want %s", got, want)
	}
	var enabled [8]bool
	for i := range enabled {
		enabled[i] = true
	}
	block := string(ci.AppendHeaders(nil, &enabled))
	if lines := strings.Split(strings.TrimSuffix(block, "\r\n"), "\r\n"); len(lines) != len(SSLHeaders) {
		t.Fatalf("%d header lines, want %d:\n%s", len(lines), len(SSLHeaders), block)
	}
	for _, c := range strings.TrimSuffix(block, "\r\n") {
		if c == '\n' || (c == '\r') {
			continue
		}
		if c < 0x20 || c == 0x7f {
			t.Fatalf("control character %q in %q", c, block)
		}
	}
	if strings.Count(block, "\r") != len(SSLHeaders) || strings.Count(block, "\n") != len(SSLHeaders) {
		t.Fatalf("stray line ends in %q", block)
	}
}
