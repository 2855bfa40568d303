package dataplane

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"
)

type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  string
}

func newTestCA(t *testing.T) *testCA {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ca"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return &testCA{cert: c, key: key, pem: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))}
}

func (ca *testCA) issue(t *testing.T, name string) *Certificate {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kd, _ := x509.MarshalPKCS8PrivateKey(key)
	return &Certificate{ID: name, CertPEM: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		KeyPEM: string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd}))}
}

func (ca *testCA) crl(t *testing.T) string {
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{Number: big.NewInt(1), ThisUpdate: time.Now(), NextUpdate: time.Now().Add(time.Hour)}, ca.cert, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der}))
}

func TestValidateTLS(t *testing.T) {
	ca, other := newTestCA(t), newTestCA(t)
	cert := ca.issue(t, "www.example.test")
	bad := &Certificate{CertPEM: cert.CertPEM, KeyPEM: other.issue(t, "x").KeyPEM}
	terminated := func(c *Config) {
		c.Listeners[0].Protocol = ProtocolTerminatedHTTPS
		c.Listeners[0].TLS = &ListenerTLS{DefaultCertificate: cert}
		c.Listeners[0].InsertHeaders = map[string]string{"X-Forwarded-Proto": "true", "X-SSL-Client-CN": "true"}
	}
	tests := []struct {
		name   string
		change func(c *Config)
		want   string // "" = valid
	}{
		{"TERMINATED_HTTPS with a default certificate", terminated, ""},
		{"SNI certificates only", func(c *Config) {
			terminated(c)
			c.Listeners[0].TLS = &ListenerTLS{SNICertificates: []Certificate{*cert, *ca.issue(t, "api.example.test")}}
		}, ""},
		{"client authentication with CA and CRL, versions, ALPN, HSTS", func(c *Config) {
			terminated(c)
			age := int64(100)
			c.Listeners[0].TLS = &ListenerTLS{DefaultCertificate: cert, ClientAuthentication: ClientAuthMandatory, ClientCA: ca.pem, ClientCRL: ca.crl(t),
				Versions: []string{"TLSv1.2", "TLSv1.3"}, ALPNProtocols: []string{"h2", "http/1.1"}, Ciphers: "ECDHE-RSA-AES128-GCM-SHA256", HSTSMaxAge: &age}
		}, ""},
		{"key of another certificate", func(c *Config) { terminated(c); c.Listeners[0].TLS.DefaultCertificate = bad }, "listeners[0].tls.default_certificate: unusable certificate and key"},
		{"broken SNI certificate", func(c *Config) {
			terminated(c)
			c.Listeners[0].TLS.SNICertificates = []Certificate{{CertPEM: "x", KeyPEM: "y"}}
		}, "listeners[0].tls.sni_certificates[0]: unusable certificate and key"},
		{"client authentication without CA", func(c *Config) { terminated(c); c.Listeners[0].TLS.ClientAuthentication = ClientAuthOptional }, "listeners[0].tls.client_ca: required with client_authentication OPTIONAL"},
		{"unknown client authentication", func(c *Config) { terminated(c); c.Listeners[0].TLS.ClientAuthentication = "ALWAYS" }, `listeners[0].tls.client_authentication: unknown value "ALWAYS"`},
		{"CRL without CA", func(c *Config) { terminated(c); c.Listeners[0].TLS.ClientCRL = ca.crl(t) }, "listeners[0].tls.client_crl: needs a CA"},
		{"CRL of another CA", func(c *Config) {
			terminated(c)
			c.Listeners[0].TLS.ClientCA, c.Listeners[0].TLS.ClientCRL = ca.pem, other.crl(t)
		}, "listeners[0].tls.client_crl: not signed by the CA"},
		{"CA not PEM", func(c *Config) {
			terminated(c)
			c.Listeners[0].TLS.ClientAuthentication, c.Listeners[0].TLS.ClientCA = ClientAuthOptional, "nope"
		}, "listeners[0].tls.client_ca: no PEM certificate"},
		{"unknown version", func(c *Config) { terminated(c); c.Listeners[0].TLS.Versions = []string{"TLSv2"} }, `listeners[0].tls.versions[0]: unknown TLS version "TLSv2"`},
		{"SSLv3 only", func(c *Config) { terminated(c); c.Listeners[0].TLS.Versions = []string{"SSLv3"} }, "listeners[0].tls.versions: no supported TLS version"},
		{"unknown ALPN", func(c *Config) { terminated(c); c.Listeners[0].TLS.ALPNProtocols = []string{"spdy/3"} }, `listeners[0].tls.alpn_protocols[0]: unknown ALPN protocol "spdy/3"`},
		{"X-SSL header on HTTP", func(c *Config) { c.Listeners[0].InsertHeaders = map[string]string{"X-SSL-Client-DN": "true"} }, `listeners[0].insert_headers: "X-SSL-Client-DN" is only valid on TERMINATED_HTTPS listeners`},
		{"pool re-encryption", func(c *Config) {
			c.Pools[0].TLS = &PoolTLS{ClientCertificate: cert, CA: ca.pem, CRL: ca.crl(t), Versions: []string{"TLSv1.3"}, ALPNProtocols: []string{"http/1.1"}}
		}, ""},
		{"pool CRL without CA", func(c *Config) { c.Pools[0].TLS = &PoolTLS{CRL: ca.crl(t)} }, "pools[0].tls.crl: needs a CA"},
		{"pool re-encryption on UDP", func(c *Config) { c.Pools[1].TLS = &PoolTLS{} }, "pools[1].tls: re-encryption is not valid on UDP pools"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := validConfig()
			tc.change(c)
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("want valid, got %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("got %v, want error containing %q", err, tc.want)
			}
		})
	}
}
