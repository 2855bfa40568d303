package secrets

import (
	"crypto/x509"
	"encoding/base64"
	"testing"
)

// Keys `openssl pkcs8 -topk8 -passout pass:pw -outform DER` wrote (P-256).
var opensslPKCS8 = []string{
	// -v2 aes-128-cbc
	"MIHsMFcGCSqGSIb3DQEFDTBKMCkGCSqGSIb3DQEFDDAcBAgdSfen3rAXVAICCAAwDAYIKoZIhvcNAgkFADAdBglghkgBZQMEAQIEEF71FqTRno9BU1qvBvoVYdQEgZDqimkwHcGtaIjP+JdFRyaRJt9QuykDhbbwvm5zAY10kDq2K6Hsb6vOQwgzwqlWoS1hUGmY0e/3QXo+6clIMFl2UHhtG6od1YWnZl1EvHdddwesx39Hl2js4qEDRe/hp2OlMPJaIWc/cW9+UxalT6GTJrxfERa0IQb4wDd0KmOZv9QX/uMyWl0PBf67/H0E8gg=",
	// -scrypt
	"MIHkME8GCSqGSIb3DQEFDTBCMCEGCSsGAQQB2kcECzAUBAj9BZuk99GFKAICQAACAQgCAQEwHQYJYIZIAWUDBAEqBBAtb5OQH29vD4nQE6oVMY8mBIGQuoGVBLfw/ulgzckalpbQtEuNvSwOmpHVrXilz9W09UdESWQkv+xdt5C4B7nz0xxmfFUY6z/QNWmPFjD+FEpS2W8aFbw2DsMRlliX+TrRVvLjyn6cAugMLbJYwEfp34uy3wSwBnQ4PYJm/99S5jEcqW9EtsxWiOJVAgRg7f5fpy0V6sm5+lqxFcYG5GzqeOZm",
	// -v2 des3
	"MIHjME4GCSqGSIb3DQEFDTBBMCkGCSqGSIb3DQEFDDAcBAgNOicy4KLyowICCAAwDAYIKoZIhvcNAgkFADAUBggqhkiG9w0DBwQI9zXqFme/2TUEgZBXUXFUeoC0/A8ed7f9xci5PakwneDI6z92shd0TWQlCdbLMmCPgkimX64PeJbZtEE2d075fKvW9vVZlVrGmOii8LdRxqrXQNcyvsN+oOHbKWEsiIbpiDuiC8KLwjihasf+LRU7U/ODomUHt9AWHlDMc5gYYmYzS8975N7bowIwsfeE35fQlVCiOUcrLG8DfI0=",
}

func TestDecryptPKCS8Vectors(t *testing.T) {
	for i, b64 := range opensslPKCS8 {
		der, _ := base64.StdEncoding.DecodeString(b64)
		plain, err := decryptPKCS8(der, []byte("pw"))
		if err != nil {
			t.Fatalf("vector %d: %v", i, err)
		}
		if _, err := x509.ParsePKCS8PrivateKey(plain); err != nil {
			t.Errorf("vector %d: decrypted key does not parse: %v", i, err)
		}
		if _, err := decryptPKCS8(der, []byte("pW")); err == nil {
			t.Errorf("vector %d: a wrong passphrase decrypted", i)
		}
	}
}

// FuzzDecryptPKCS8: hostile encrypted keys (a tenant's container) never
// panic and never pass the work limits.
func FuzzDecryptPKCS8(f *testing.F) {
	for _, b64 := range opensslPKCS8 {
		der, _ := base64.StdEncoding.DecodeString(b64)
		f.Add(der, []byte("pw"))
	}
	f.Fuzz(func(t *testing.T, der, passphrase []byte) {
		_, _ = decryptPKCS8(der, passphrase)
	})
}
