package pki

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var now = time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)

func TestCAIsCreatedOnceAndKeysArePrivate(t *testing.T) {
	dir := t.TempDir()
	ca1, err := LoadOrCreateCA(dir, now)
	if err != nil {
		t.Fatal(err)
	}
	ca2, err := LoadOrCreateCA(dir, now)
	if err != nil {
		t.Fatal(err)
	}
	if ca1.Fingerprint() != ca2.Fingerprint() {
		t.Fatal("second load created a new CA")
	}
	st, err := os.Stat(filepath.Join(dir, "ca.key"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("ca.key mode %v, %v", st.Mode(), err)
	}
}

// TestMutualTLS runs a real TLS handshake: server cert from the CA, agent cert
// signed from a CSR, each side verifying the other against the CA only.
func TestMutualTLS(t *testing.T) {
	dir := t.TempDir()
	ca, err := LoadOrCreateCA(dir, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	serverCert, err := ca.ServerCertificate(dir, []string{"127.0.0.1", "localhost"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	key, _ := NewKey()
	csr, _ := CSR(key, "ignored")
	certPEM, serial, err := ca.SignAgent(csr, "agent-1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if serial == "" {
		t.Fatal("no serial")
	}
	agentKeyPath := filepath.Join(dir, "agent.key")
	WriteKey(agentKeyPath, key)
	os.WriteFile(filepath.Join(dir, "agent.crt"), certPEM, 0o644)
	agentCert, err := tls.LoadX509KeyPair(filepath.Join(dir, "agent.crt"), agentKeyPath)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{serverCert}, ClientCAs: ca.Pool(), ClientAuth: tls.RequireAndVerifyClientCert})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- "accept: " + err.Error()
			return
		}
		defer c.Close()
		tc := c.(*tls.Conn)
		if err := tc.Handshake(); err != nil {
			got <- "handshake: " + err.Error()
			return
		}
		got <- tc.ConnectionState().PeerCertificates[0].Subject.CommonName
		io.Copy(io.Discard, c)
	}()
	conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1", Certificates: []tls.Certificate{agentCert}})
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
	if cn := <-got; cn != "agent-1" {
		t.Fatalf("server saw %q, want agent-1", cn)
	}
	// A client without a certificate is refused.
	ln2, _ := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{serverCert}, ClientCAs: ca.Pool(), ClientAuth: tls.RequireAndVerifyClientCert})
	defer ln2.Close()
	go func() {
		c, err := ln2.Accept()
		if err == nil {
			c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	c2, err := tls.Dial("tcp", ln2.Addr().String(), &tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1"})
	if err == nil {
		_, err = c2.Read(make([]byte, 1))
		c2.Close()
	}
	if err == nil {
		t.Fatal("handshake without a client certificate succeeded")
	}
	// A certificate from another CA does not verify.
	other, _ := LoadOrCreateCA(t.TempDir(), time.Now())
	if _, err := agentCert.Leaf.Verify(x509.VerifyOptions{Roots: other.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err == nil {
		t.Fatal("agent certificate verified against a foreign CA")
	}
}

func TestServerCertificateRenewal(t *testing.T) {
	dir := t.TempDir()
	ca, _ := LoadOrCreateCA(dir, now)
	a, _ := ca.ServerCertificate(dir, []string{"127.0.0.1"}, now)
	b, _ := ca.ServerCertificate(dir, []string{"127.0.0.1"}, now.Add(24*time.Hour))
	if a.Leaf.SerialNumber.Cmp(b.Leaf.SerialNumber) != 0 {
		t.Error("valid certificate was reissued")
	}
	c, _ := ca.ServerCertificate(dir, []string{"127.0.0.1", "fulcrum.example"}, now)
	if c.Leaf.VerifyHostname("fulcrum.example") != nil {
		t.Error("new host name not covered after reissue")
	}
	d, _ := ca.ServerCertificate(dir, []string{"127.0.0.1", "fulcrum.example"}, now.Add(ServerLifetime-24*time.Hour))
	if d.Leaf.SerialNumber.Cmp(c.Leaf.SerialNumber) == 0 {
		t.Error("certificate near expiry was not renewed")
	}
}

func TestJoinTokens(t *testing.T) {
	ca, _ := LoadOrCreateCA(t.TempDir(), now)
	tok := ca.NewJoinToken()
	parsed, err := ParseJoinToken(tok.String())
	if err != nil || parsed != tok {
		t.Fatalf("round trip: %+v, %v", parsed, err)
	}
	if !CheckSecret(tok.Secret, tok.SecretHash()) || CheckSecret("wrong", tok.SecretHash()) {
		t.Fatal("CheckSecret")
	}
	for _, bad := range []string{"", "fjt1.a.b", "fjt2.a.b." + tok.CAFingerprint, "fjt1..b." + tok.CAFingerprint, "fjt1.a.b.zz"} {
		if _, err := ParseJoinToken(bad); err == nil {
			t.Errorf("ParseJoinToken(%q) accepted", bad)
		}
	}
}

func TestKeysReadableByOthersAreRefused(t *testing.T) {
	dir := t.TempDir()
	ca, err := LoadOrCreateCA(dir, now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ca.ServerCertificate(dir, []string{"127.0.0.1"}, now); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		file string
		load func() error
	}{
		{"ca.key", func() error { _, err := LoadOrCreateCA(dir, now); return err }},
		{"server.key", func() error { _, err := ca.ServerCertificate(dir, []string{"127.0.0.1"}, now); return err }},
	} {
		for _, mode := range []os.FileMode{0o640, 0o604, 0o644, 0o660} {
			path := filepath.Join(dir, tc.file)
			if err := os.Chmod(path, mode); err != nil {
				t.Fatal(err)
			}
			err := tc.load()
			if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "chmod 600") {
				t.Errorf("%s with mode %04o: %v; want a refusal naming the file and the fix", tc.file, mode, err)
			}
		}
		if err := os.Chmod(filepath.Join(dir, tc.file), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := tc.load(); err != nil {
			t.Errorf("%s with mode 0600: %v", tc.file, err)
		}
	}
}

func TestCheckAgentName(t *testing.T) {
	for _, name := range []string{"a", "node-1", "Node_2.example.com", "0", strings.Repeat("x", 64)} {
		if err := CheckAgentName(name); err != nil {
			t.Errorf("CheckAgentName(%q): %v", name, err)
		}
	}
	for _, name := range []string{"", strings.Repeat("x", 65), "-a", ".a", "_a", "a b", "a/b", `a\b`, "a\nb", "a\x00", "née", "a:b", "a=b"} {
		if err := CheckAgentName(name); err == nil {
			t.Errorf("CheckAgentName(%q) accepted", name)
		}
	}
	ca, err := LoadOrCreateCA(t.TempDir(), now)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := NewKey()
	csr, _ := CSR(key, "x")
	if _, _, err := ca.SignAgent(csr, "bad name", now); err == nil {
		t.Error("SignAgent signed a certificate for a bad name")
	}
}

func TestParseJoinTokenBounds(t *testing.T) {
	fp := strings.Repeat("ab", 32)
	for _, s := range []string{"fjt1.id.secret." + fp, " fjt1.id.secret." + fp + "\n"} {
		if _, err := ParseJoinToken(s); err != nil {
			t.Errorf("ParseJoinToken(%q): %v", s, err)
		}
	}
	for _, s := range []string{"", "fjt1..secret." + fp, "fjt1.id.." + fp, "fjt2.id.secret." + fp, "fjt1.id.secret." + fp[:62],
		"fjt1.id.secret." + strings.Repeat("zz", 32), "fjt1." + strings.Repeat("i", 65) + ".secret." + fp, "fjt1.id.se cret." + fp,
		"fjt1.id.secret." + fp + ".x"} {
		if _, err := ParseJoinToken(s); err == nil {
			t.Errorf("ParseJoinToken(%q) accepted", s)
		}
	}
}

func TestCAPEMRoundTrip(t *testing.T) {
	now := time.Now()
	blob, err := NewCAPEM(now)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := ParseCA(blob)
	if err != nil {
		t.Fatal(err)
	}
	again, err := ParseCA(blob)
	if err != nil || again.Fingerprint() != ca.Fingerprint() {
		t.Fatalf("parsed twice: %v, fingerprints %s %s", err, again.Fingerprint(), ca.Fingerprint())
	}
	// What it signs chains to it.
	key, _ := NewKey()
	csr, _ := CSR(key, "node-1")
	certPEM, _, err := ca.SignAgent(csr, "node-1", now)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := ParseCert(certPEM)
	if err := leaf.CheckSignatureFrom(ca.Cert); err != nil {
		t.Fatalf("agent certificate does not chain to the parsed CA: %v", err)
	}
	other, _ := NewCAPEM(now)
	otherCA, _ := ParseCA(other)
	mixed := append(append([]byte{}, otherCA.PEM()...), blob[len(ca.PEM()):]...)
	for name, data := range map[string][]byte{"key of another CA": mixed, "certificate only": ca.PEM(), "empty": nil} {
		if _, err := ParseCA(data); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
	// The files LoadOrCreateCA writes read back as the same CA.
	dir := t.TempDir()
	fileCA, err := LoadOrCreateCA(dir, now)
	if err != nil {
		t.Fatal(err)
	}
	data, err := ReadCAFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := ParseCA(data); err != nil || got.Fingerprint() != fileCA.Fingerprint() {
		t.Fatalf("CA files: %v", err)
	}
}
