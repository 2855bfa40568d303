package secrets

import (
	"strings"
	"testing"
)

// FuzzBundle: whatever a secret holds, reading it as a certificate bundle
// returns a certificate or an error, never panics.
func FuzzBundle(f *testing.F) {
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n"))
	f.Add([]byte{0x30, 0x82, 0x01, 0x00, 0x02, 0x01, 0x03})
	f.Add([]byte("MIIKZgIBAzCCChwGCSqGSIb3DQEHAaCCCg0="))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := certificateFromBundle("ref", data)
		if err == nil && (c.Leaf == nil || len(c.KeyPEM) == 0) {
			t.Fatalf("no error and no certificate for %q", data)
		}
	})
}

// FuzzRef: the reference parser accepts only hrefs ending in
// /secrets/<uuid> or /containers/<uuid>, or a bare uuid.
func FuzzRef(f *testing.F) {
	for _, s := range []string{"http://h/key-manager/v1/secrets/0c1f3b4e-7a1d-4b52-9a58-3f2e1a6c9d01", "0c1f3b4e-7a1d-4b52-9a58-3f2e1a6c9d01",
		"http://h/v1/containers/0C1F3B4E-7A1D-4B52-9A58-3F2E1A6C9D01/", "x/secrets/", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, ref string) {
		kind, id, ok := refKind(ref)
		if !ok {
			return
		}
		if !isUUID(id) || id != strings.ToLower(id) || kind != "" && kind != "secrets" && kind != "containers" {
			t.Fatalf("refKind(%q) = %q, %q", ref, kind, id)
		}
		if p := RefPath(ref); !strings.HasSuffix(p, "/"+id) {
			t.Fatalf("RefPath(%q) = %q", ref, p)
		}
	})
}
