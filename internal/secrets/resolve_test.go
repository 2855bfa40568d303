package secrets_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	pkcs12 "software.sslmate.com/src/go-pkcs12"

	"github.com/fulcrumlb/fulcrum/internal/policy"
	"github.com/fulcrumlb/fulcrum/internal/secrets"
)

func TestResolveCertificates(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ca, caKey, leaf, key := certPKI(t, "www.example.test")
	p12 := func(enc *pkcs12.Encoder, pass string) []byte {
		b, err := enc.Encode(key, leaf, []*x509.Certificate{ca}, pass)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	binary := func(w who, b []byte) string {
		return e.store(w, map[string]any{"payload": base64.StdEncoding.EncodeToString(b), "payload_content_type": "application/octet-stream", "payload_content_encoding": "base64"})
	}
	text := func(w who, s string) string {
		return e.store(w, map[string]any{"payload": s, "payload_content_type": "text/plain"})
	}
	container := func(w who, refs map[string]string) string {
		var list []any
		for _, n := range []string{"certificate", "private_key", "intermediates", "private_key_passphrase"} {
			if h, ok := refs[n]; ok {
				list = append(list, map[string]any{"name": n, "secret_ref": h})
			}
		}
		r := e.do(w, "POST", "/key-manager/v1/containers", map[string]any{"type": "certificate", "secret_refs": list})
		if r.code != 201 {
			t.Fatalf("container: %d %s", r.code, r.raw)
		}
		return r.body["container_ref"].(string)
	}
	//lint:ignore SA1019 certificate containers may carry legacy-encrypted keys
	encKey, _ := x509.EncryptPEMBlock(rand.Reader, "EC PRIVATE KEY", mustEC(key), []byte("pw"), x509.PEMCipherAES256) //nolint:staticcheck
	_, _, otherLeaf, _ := certPKI(t, "other.example.test")
	a := secrets.Access{ProjectID: "p1"}
	tests := []struct {
		name   string
		ref    string
		access secrets.Access
		chain  int // certificates in CertPEM
		err    string
	}{
		{"PKCS#12 modern, raw", binary(alice, p12(pkcs12.Modern, "")), a, 2, ""},
		{"PKCS#12 legacy RC2", binary(alice, p12(pkcs12.LegacyRC2, "")), a, 2, ""},
		{"PKCS#12 legacy DES", binary(alice, p12(pkcs12.LegacyDES, "")), a, 2, ""},
		{"PKCS#12 as base64 text", text(alice, base64.StdEncoding.EncodeToString(p12(pkcs12.Modern2023, ""))), a, 2, ""},
		{"bare uuid of a PKCS#12 secret", lastPart(binary(alice, p12(pkcs12.Modern, ""))), a, 2, ""},
		{"PKCS#12 with a passphrase", binary(alice, p12(pkcs12.Modern, "pw")), a, 0, "The PKCS12 bundle is unreadable. Please check the PKCS12 bundle validity. In addition, make sure it does not require a pass phrase. Error: "},
		{"not PKCS#12", text(alice, "hello"), a, 0, "The PKCS12 bundle is unreadable."},
		{"PEM certificate and key in one secret", text(alice, string(pemCert(leaf))+string(pemKey(key))), a, 1, ""},
		{"certificate container", container(alice, map[string]string{"certificate": text(alice, string(pemCert(leaf))), "private_key": text(alice, string(pemKey(key)))}), a, 1, ""},
		{"container with intermediates", container(alice, map[string]string{"certificate": text(alice, string(pemCert(leaf))), "private_key": text(alice, string(pemKey(key))),
			"intermediates": text(alice, string(pemCert(ca)))}), a, 2, ""},
		{"container with an encrypted key and its passphrase", container(alice, map[string]string{"certificate": text(alice, string(pemCert(leaf))),
			"private_key": text(alice, string(pem.EncodeToMemory(encKey))), "private_key_passphrase": text(alice, "pw")}), a, 1, ""},
		{"container whose key does not match", container(alice, map[string]string{"certificate": text(alice, string(pemCert(otherLeaf))), "private_key": text(alice, string(pemKey(key)))}), a, 0, "unreadable"},
		{"container without a key", container(alice, map[string]string{"certificate": text(alice, string(pemCert(leaf)))}), a, 0, "unreadable"},
		{"another project's secret", binary(mallet, p12(pkcs12.Modern, "")), a, 0, "unreadable"},
		{"API caller who may not read it", binary(alice, p12(pkcs12.Modern, "")), secrets.Access{ProjectID: "p1", Caller: &policy.Caller{ProjectID: "p2", UserID: "mallet", Roles: []string{"member"}}}, 0, "unreadable"},
		{"no such secret", e.srv.URL + "/key-manager/v1/secrets/00000000-0000-4000-8000-000000000000", a, 0, "unreadable"},
		{"not a reference", "https://example.test/whatever", a, 0, "unreadable"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := e.svc.Certificate(ctx, tc.access, tc.ref)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want one containing %q", err, tc.err)
				}
				var pe *secrets.PKCS12Error
				if strings.HasPrefix(tc.err, "The PKCS12") != errors.As(err, &pe) || tc.err == "unreadable" && !errors.Is(err, secrets.ErrUnreadable) {
					t.Errorf("error kind: %T %v", err, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !c.Leaf.Equal(leaf) {
				t.Errorf("leaf %s, want %s", c.Leaf.Subject, leaf.Subject)
			}
			if n := strings.Count(string(c.CertPEM), "BEGIN CERTIFICATE"); n != tc.chain {
				t.Errorf("%d certificates in the chain, want %d", n, tc.chain)
			}
			if !strings.HasPrefix(string(c.KeyPEM), "-----BEGIN PRIVATE KEY-----") {
				t.Errorf("key not PKCS#8: %.40s", c.KeyPEM)
			}
		})
	}

	// Another project's secret becomes readable for the service with its ACL.
	foreign := binary(mallet, p12(pkcs12.Modern, ""))
	if err := e.svc.GrantService(ctx, "p1", foreign); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Certificate(ctx, a, foreign); err != nil {
		t.Errorf("after GrantService: %v", err)
	}
	if r := e.do(mallet, "GET", e.path(foreign)+"/acl", nil); !strings.Contains(string(r.raw), secrets.ServiceUser) || !strings.Contains(string(r.raw), `"project-access":true`) {
		t.Errorf("service ACL: %s", r.raw)
	}

	// CA bundles and CRLs.
	caRef := text(alice, string(pemCert(ca)))
	if _, certs, err := e.svc.CABundle(ctx, a, caRef); err != nil || len(certs) != 1 || !certs[0].Equal(ca) {
		t.Errorf("CA bundle: %v %v", certs, err)
	}
	if _, _, err := e.svc.CABundle(ctx, a, text(alice, "not pem")); err == nil || errors.Is(err, secrets.ErrUnreadable) {
		t.Errorf("bad CA bundle: %v", err)
	}
	crlDER, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{Number: big.NewInt(1), ThisUpdate: time.Now(), NextUpdate: time.Now().Add(time.Hour),
		RevokedCertificateEntries: []x509.RevocationListEntry{{SerialNumber: leaf.SerialNumber, RevocationTime: time.Now()}}}, ca, caKey)
	if err != nil {
		t.Fatal(err)
	}
	crlRef := text(alice, string(pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: crlDER})))
	if _, crl, err := e.svc.CRL(ctx, a, crlRef); err != nil || crl.CheckSignatureFrom(ca) != nil || len(crl.RevokedCertificateEntries) != 1 {
		t.Errorf("CRL: %v", err)
	}
	if got := secrets.RefPath(caRef); got != "/secrets/"+lastPart(caRef) {
		t.Errorf("RefPath(%s) = %s", caRef, got)
	}
}

func lastPart(href string) string { return href[strings.LastIndex(href, "/")+1:] }

func mustEC(k *ecdsa.PrivateKey) []byte {
	b, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		panic(err)
	}
	return b
}

// TestResolveOpenSSLBundle reads what `openssl pkcs12 -export -passout
// pass:` (OpenSSL 3: PBES2/AES-256 and a SHA-256 MAC) writes, as the
// documented workflow does. The openssl tool is required (.ci/run installs
// it).
func TestResolveOpenSSLBundle(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped under -short: needs openssl; test/run runs it")
	}
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Fatal("openssl is required (apt-get install openssl; .ci/run does)")
	}
	e := newEnv(t)
	ca, _, leaf, key := certPKI(t, "openssl.example.test")
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	out := filepath.Join(dir, "bundle.p12")
	cmd := exec.Command("openssl", "pkcs12", "-export", "-inkey", write("key.pem", pemKey(key)), "-in", write("cert.pem", pemCert(leaf)),
		"-certfile", write("ca.pem", pemCert(ca)), "-passout", "pass:", "-out", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("openssl: %v\n%s", err, b)
	}
	p12, _ := os.ReadFile(out)
	href := e.store(alice, map[string]any{"payload": base64.StdEncoding.EncodeToString(p12), "payload_content_type": "application/octet-stream", "payload_content_encoding": "base64"})
	c, err := e.svc.Certificate(context.Background(), secrets.Access{ProjectID: "p1"}, href)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Leaf.Equal(leaf) || strings.Count(string(c.CertPEM), "BEGIN CERTIFICATE") != 2 {
		t.Errorf("leaf %s, chain %d", c.Leaf.Subject, strings.Count(string(c.CertPEM), "BEGIN CERTIFICATE"))
	}
}

// TestResolveEncryptedPKCS8 reads certificate containers whose private key
// is `BEGIN ENCRYPTED PRIVATE KEY`, as the real `openssl pkcs8 -topk8`
// writes it, with the container's private_key_passphrase, as Octavia does;
// and logs why a certificate is refused (never the key or the passphrase).
func TestResolveEncryptedPKCS8(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped under -short: needs openssl; test/run runs it")
	}
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Fatal("openssl is required (apt-get install openssl; .ci/run does)")
	}
	e := newEnv(t)
	ctx := context.Background()
	ca, caKey, ecLeaf, ecKey := certPKI(t, "enc.example.test")
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(3), Subject: pkix.Name{CommonName: "rsa.example.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &rsaKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	rsaLeaf, _ := x509.ParseCertificate(der)

	dir := t.TempDir()
	const pass = "correct horse battery staple"
	// encrypt runs openssl pkcs8 -topk8 with args on key.
	encrypt := func(key any, args ...string) []byte {
		t.Helper()
		in := filepath.Join(dir, "in.pem")
		out := filepath.Join(dir, "out.pem")
		os.Remove(out)
		if err := os.WriteFile(in, pemKey(key), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("openssl", append([]string{"pkcs8", "-topk8", "-in", in, "-out", out, "-passout", "pass:" + pass}, args...)...)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("openssl pkcs8 -topk8 %v: %v\n%s", args, err, b)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(b), "-----BEGIN ENCRYPTED PRIVATE KEY-----") {
			t.Fatalf("openssl %v wrote %.40q", args, b)
		}
		return b
	}
	text := func(s string) string {
		return e.store(alice, map[string]any{"payload": s, "payload_content_type": "text/plain"})
	}
	container := func(leaf *x509.Certificate, keyPEM []byte, passphrase string) string {
		t.Helper()
		list := []any{
			map[string]any{"name": "certificate", "secret_ref": text(string(pemCert(leaf)))},
			map[string]any{"name": "private_key", "secret_ref": text(string(keyPEM))},
		}
		if passphrase != "" {
			list = append(list, map[string]any{"name": "private_key_passphrase", "secret_ref": text(passphrase)})
		}
		r := e.do(alice, "POST", "/key-manager/v1/containers", map[string]any{"type": "certificate", "secret_refs": list})
		if r.code != 201 {
			t.Fatalf("container: %d %s", r.code, r.raw)
		}
		return r.body["container_ref"].(string)
	}
	a := secrets.Access{ProjectID: "p1"}
	ok := []struct {
		name string
		leaf *x509.Certificate
		key  any
		args []string
	}{
		{"openssl default (PBES2, PBKDF2-SHA256, AES-256-CBC)", ecLeaf, ecKey, nil},
		{"-v2 aes-256-cbc", ecLeaf, ecKey, []string{"-v2", "aes-256-cbc"}},
		{"-v2 aes-128-cbc", ecLeaf, ecKey, []string{"-v2", "aes-128-cbc"}},
		{"-v2 aes-192-cbc -v2prf hmacWithSHA512", ecLeaf, ecKey, []string{"-v2", "aes-192-cbc", "-v2prf", "hmacWithSHA512"}},
		{"-v2 aes-256-cbc -v2prf hmacWithSHA1", ecLeaf, ecKey, []string{"-v2", "aes-256-cbc", "-v2prf", "hmacWithSHA1"}},
		{"-v2 des3", ecLeaf, ecKey, []string{"-v2", "des3"}},
		{"-scrypt", ecLeaf, ecKey, []string{"-scrypt"}},
		{"RSA, -v2 aes-256-cbc", rsaLeaf, rsaKey, []string{"-v2", "aes-256-cbc"}},
	}
	for _, tc := range ok {
		t.Run(tc.name, func(t *testing.T) {
			ref := container(tc.leaf, encrypt(tc.key, tc.args...), pass)
			c, err := e.svc.Certificate(ctx, a, ref)
			if err != nil {
				t.Fatalf("%v\nlog:\n%s", err, e.logs)
			}
			if !c.Leaf.Equal(tc.leaf) {
				t.Errorf("leaf %s, want %s", c.Leaf.Subject, tc.leaf.Subject)
			}
			if string(c.KeyPEM) != string(pemKey(tc.key)) {
				t.Errorf("key is not the original, unencrypted PKCS#8:\n%s", c.KeyPEM)
			}
		})
	}

	enc := encrypt(ecKey, "-v2", "aes-256-cbc")
	v1 := encrypt(ecKey, "-v1", "PBE-SHA1-3DES")
	refused := []struct {
		name, ref, reason string
	}{
		{"wrong passphrase", container(ecLeaf, enc, "Tr0ub4dor&3"), "wrong passphrase"},
		{"no passphrase", container(ecLeaf, enc, ""), "no private_key_passphrase"},
		{"key of another certificate", container(rsaLeaf, enc, pass), "does not match"},
		{"PBES1", container(ecLeaf, v1, pass), "is not supported"},
		{"damaged", container(ecLeaf, []byte(strings.Replace(string(enc), "MI", "MA", 1)), pass), "encrypted private key"},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			e.logs.Reset()
			_, err := e.svc.Certificate(ctx, a, tc.ref)
			if !errors.Is(err, secrets.ErrUnreadable) || !strings.Contains(err.Error(), tc.reason) {
				t.Fatalf("err %v, want ErrUnreadable saying %q", err, tc.reason)
			}
			log := e.logs.String()
			if !strings.Contains(log, "level=WARN") || !strings.Contains(log, "key manager material refused") ||
				!strings.Contains(log, tc.ref) || !strings.Contains(log, tc.reason) {
				t.Errorf("no warning naming %s and %q in the log:\n%s", tc.ref, tc.reason, log)
			}
			for _, secret := range []string{pass, "Tr0ub4dor", "PRIVATE KEY", base64.StdEncoding.EncodeToString(mustEC(ecKey))[:24]} {
				if strings.Contains(log, secret) {
					t.Errorf("the log shows %q:\n%s", secret, log)
				}
			}
		})
	}
}
