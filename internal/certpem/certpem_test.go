package certpem_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/certpem"
)

func newCert(t *testing.T, cn string) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func TestParse(t *testing.T) {
	a, b := newCert(t, "a"), newCert(t, "b")
	key := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1, 2, 3}})
	bad := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{0x30, 0}})
	tests := []struct {
		name string
		data string
		cns  []string
		err  string
	}{
		{"one", string(a), []string{"a"}, ""},
		{"chain in order", string(a) + string(b), []string{"a", "b"}, ""},
		{"text and other blocks skipped", "subject=a\n" + string(key) + string(b) + "trailing\n" + string(a), []string{"b", "a"}, ""},
		{"empty", "", nil, "no PEM certificate"},
		{"only a key", string(key), nil, "no PEM certificate"},
		{"not PEM", "hello", nil, "no PEM certificate"},
		{"a bad certificate after a good one", string(a) + string(bad), nil, "certificate 2: "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := certpem.Parse([]byte(tc.data))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				if tc.err == "no PEM certificate" && !errors.Is(err, certpem.ErrNoCertificate) {
					t.Errorf("err %v is not ErrNoCertificate", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var cns []string
			for _, c := range got {
				cns = append(cns, c.Subject.CommonName)
			}
			if strings.Join(cns, ",") != strings.Join(tc.cns, ",") {
				t.Errorf("got %v, want %v", cns, tc.cns)
			}
			first, err := certpem.First([]byte(tc.data))
			if err != nil || first.Subject.CommonName != tc.cns[0] {
				t.Errorf("First: %v, %v", first, err)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n"))
	f.Add([]byte("text"))
	f.Fuzz(func(t *testing.T, data []byte) {
		certs, err := certpem.Parse(data)
		if err == nil && len(certs) == 0 {
			t.Fatal("no error and no certificate")
		}
	})
}
