package secrets

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/pbkdf2"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"hash"

	"golang.org/x/crypto/scrypt"
)

// Encrypted PKCS#8 (RFC 5958 EncryptedPrivateKeyInfo) with PBES2 (RFC 8018):
// what `openssl pkcs8 -topk8` writes (PBKDF2 with HMAC-SHA256 and
// AES-256-CBC by default; -v2 aes-128-cbc, des3, -v2prf, -scrypt), and
// what Octavia's certificate parser accepts with a container's
// private_key_passphrase.

var (
	oidPBES2  = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 13}
	oidPBKDF2 = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 12}
	oidScrypt = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 11591, 4, 11}
)

// pbkdf2PRFs are the PBKDF2 pseudo-random functions by OID.
var pbkdf2PRFs = map[string]struct {
	name string
	h    func() hash.Hash
}{
	"1.2.840.113549.2.7":  {"hmacWithSHA1", sha1.New},
	"1.2.840.113549.2.8":  {"hmacWithSHA224", sha256.New224},
	"1.2.840.113549.2.9":  {"hmacWithSHA256", sha256.New},
	"1.2.840.113549.2.10": {"hmacWithSHA384", sha512.New384},
	"1.2.840.113549.2.11": {"hmacWithSHA512", sha512.New},
}

// pbes2Ciphers are the CBC ciphers of PBES2 by OID.
var pbes2Ciphers = map[string]struct {
	name    string
	keySize int
	block   func(key []byte) (cipher.Block, error)
}{
	"2.16.840.1.101.3.4.1.2":  {"aes-128-cbc", 16, aes.NewCipher},
	"2.16.840.1.101.3.4.1.22": {"aes-192-cbc", 24, aes.NewCipher},
	"2.16.840.1.101.3.4.1.42": {"aes-256-cbc", 32, aes.NewCipher},
	"1.2.840.113549.3.7":      {"des-ede3-cbc", 24, des.NewTripleDESCipher},
}

// Work limits: a key is decrypted at every reconcile of the load balancers
// that use it, and its parameters come from a tenant.
const (
	maxPBKDF2Iterations = 1_000_000
	maxScryptWork       = 1 << 19 // N·r·p: 4 × openssl's default, at most 64 MiB
)

type encryptedPrivateKeyInfo struct {
	Algorithm pkix.AlgorithmIdentifier
	Data      []byte
}

type pbes2Params struct {
	KDF    pkix.AlgorithmIdentifier
	Scheme pkix.AlgorithmIdentifier
}

type pbkdf2Params struct {
	Salt       []byte
	Iterations int
	KeyLength  int                      `asn1:"optional"`
	PRF        pkix.AlgorithmIdentifier `asn1:"optional"`
}

type scryptParams struct {
	Salt      []byte
	N         int
	R         int
	P         int
	KeyLength int `asn1:"optional"`
}

// errWrongPassphrase: the key did not decrypt to a padded PKCS#8 key.
var errWrongPassphrase = errors.New("wrong passphrase (or a damaged key)")

// decryptPKCS8 decrypts the DER of an ENCRYPTED PRIVATE KEY block and
// returns the DER of the PKCS#8 PrivateKeyInfo inside. Its errors say what
// is wrong without any key material.
func decryptPKCS8(der, passphrase []byte) ([]byte, error) {
	var info encryptedPrivateKeyInfo
	if rest, err := asn1.Unmarshal(der, &info); err != nil || len(rest) > 0 {
		return nil, errors.New("not an encrypted PKCS#8 key")
	}
	if !info.Algorithm.Algorithm.Equal(oidPBES2) {
		return nil, fmt.Errorf("encryption %s is not supported (PBES2 is: openssl pkcs8 -topk8 -v2 aes-256-cbc)", info.Algorithm.Algorithm)
	}
	var params pbes2Params
	if rest, err := asn1.Unmarshal(info.Algorithm.Parameters.FullBytes, &params); err != nil || len(rest) > 0 {
		return nil, errors.New("bad PBES2 parameters")
	}
	c, ok := pbes2Ciphers[params.Scheme.Algorithm.String()]
	if !ok {
		return nil, fmt.Errorf("cipher %s is not supported (AES-128/192/256-CBC and DES-EDE3-CBC are)", params.Scheme.Algorithm)
	}
	var iv []byte
	if rest, err := asn1.Unmarshal(params.Scheme.Parameters.FullBytes, &iv); err != nil || len(rest) > 0 {
		return nil, fmt.Errorf("bad %s parameters", c.name)
	}
	key, err := deriveKey(params.KDF, passphrase, c.keySize)
	if err != nil {
		return nil, err
	}
	block, err := c.block(key)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.name, err)
	}
	bs := block.BlockSize()
	if len(iv) != bs {
		return nil, fmt.Errorf("%s: the IV is %d bytes, want %d", c.name, len(iv), bs)
	}
	if len(info.Data) == 0 || len(info.Data)%bs != 0 {
		return nil, fmt.Errorf("%s: encrypted data of %d bytes is not whole blocks", c.name, len(info.Data))
	}
	plain := make([]byte, len(info.Data))
	cipher.NewCBCDecrypter(block, iv).CryptBlocks(plain, info.Data)
	// PKCS#7 padding, checked in full.
	pad := int(plain[len(plain)-1])
	if pad == 0 || pad > bs {
		return nil, errWrongPassphrase
	}
	if !bytes.Equal(plain[len(plain)-pad:], bytes.Repeat([]byte{byte(pad)}, pad)) {
		return nil, errWrongPassphrase
	}
	return plain[:len(plain)-pad], nil
}

// deriveKey runs the PBES2 key derivation function kdf.
func deriveKey(kdf pkix.AlgorithmIdentifier, passphrase []byte, keySize int) ([]byte, error) {
	switch {
	case kdf.Algorithm.Equal(oidPBKDF2):
		var p pbkdf2Params
		if rest, err := asn1.Unmarshal(kdf.Parameters.FullBytes, &p); err != nil || len(rest) > 0 {
			return nil, errors.New("bad PBKDF2 parameters")
		}
		if p.Iterations < 1 || p.Iterations > maxPBKDF2Iterations {
			return nil, fmt.Errorf("PBKDF2 with %d iterations (1 to %d are accepted)", p.Iterations, maxPBKDF2Iterations)
		}
		if p.KeyLength != 0 && p.KeyLength != keySize {
			return nil, fmt.Errorf("PBKDF2 key length %d does not fit the cipher (%d)", p.KeyLength, keySize)
		}
		prf := pbkdf2PRFs["1.2.840.113549.2.7"] // the default: hmacWithSHA1
		if len(p.PRF.Algorithm) > 0 {
			var ok bool
			if prf, ok = pbkdf2PRFs[p.PRF.Algorithm.String()]; !ok {
				return nil, fmt.Errorf("PBKDF2 function %s is not supported (HMAC with SHA-1 or SHA-2 is)", p.PRF.Algorithm)
			}
		}
		key, err := pbkdf2.Key(prf.h, string(passphrase), p.Salt, p.Iterations, keySize)
		if err != nil {
			return nil, fmt.Errorf("PBKDF2 (%s): %w", prf.name, err)
		}
		return key, nil
	case kdf.Algorithm.Equal(oidScrypt):
		var p scryptParams
		if rest, err := asn1.Unmarshal(kdf.Parameters.FullBytes, &p); err != nil || len(rest) > 0 {
			return nil, errors.New("bad scrypt parameters")
		}
		if p.N < 2 || p.R < 1 || p.P < 1 || p.N > maxScryptWork || p.R > maxScryptWork || p.P > maxScryptWork ||
			int64(p.N)*int64(p.R)*int64(p.P) > maxScryptWork {
			return nil, fmt.Errorf("scrypt with N=%d r=%d p=%d is beyond the accepted work (N·r·p ≤ %d)", p.N, p.R, p.P, maxScryptWork)
		}
		if p.KeyLength != 0 && p.KeyLength != keySize {
			return nil, fmt.Errorf("scrypt key length %d does not fit the cipher (%d)", p.KeyLength, keySize)
		}
		key, err := scrypt.Key(passphrase, p.Salt, p.N, p.R, p.P, keySize)
		if err != nil {
			return nil, fmt.Errorf("scrypt: %w", err)
		}
		return key, nil
	}
	return nil, fmt.Errorf("key derivation %s is not supported (PBKDF2 and scrypt are)", kdf.Algorithm)
}
