package testpki

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"testing"
)

func TestLeafVerifiesAgainstItsCAAndCRLRevokesIt(t *testing.T) {
	ca := NewCA(t, "test CA")
	for _, name := range []string{"www.example.test", "127.0.0.1"} {
		leaf := ca.Leaf(t, name)
		roots := x509.NewCertPool()
		roots.AddCert(ca.Cert)
		for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
			if _, err := leaf.Cert.Verify(x509.VerifyOptions{DNSName: name, Roots: roots, KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
				t.Errorf("%s for usage %v: %v", name, usage, err)
			}
		}
		if _, err := tls.X509KeyPair(leaf.CertPEM(), leaf.KeyPEM()); err != nil {
			t.Errorf("%s: PEM pair: %v", name, err)
		}
	}
	a, b := ca.Leaf(t, "a.test"), ca.Leaf(t, "b.test")
	if a.Cert.SerialNumber.Cmp(b.Cert.SerialNumber) == 0 {
		t.Error("two leaves share a serial number")
	}
	block, _ := pem.Decode(ca.CRL(t, a.Cert))
	crl, err := x509.ParseRevocationList(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if err := crl.CheckSignatureFrom(ca.Cert); err != nil {
		t.Error(err)
	}
	if len(crl.RevokedCertificateEntries) != 1 || crl.RevokedCertificateEntries[0].SerialNumber.Cmp(a.Cert.SerialNumber) != 0 {
		t.Errorf("CRL revokes %v, want only %v", crl.RevokedCertificateEntries, a.Cert.SerialNumber)
	}
}
