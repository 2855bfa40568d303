// Package certpem reads X.509 certificates from PEM: the one way fulcrum
// turns a PEM bundle (a chain, a CA bundle, a CA file) into certificates,
// used by the key manager, the data-plane contract's validation, the engine
// and the internal CA alike.
//
// It imports only the standard library, so any package may use it.
package certpem

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
)

// ErrNoCertificate: the data holds no PEM CERTIFICATE block.
var ErrNoCertificate = errors.New("no PEM certificate")

// Parse returns the certificate of every CERTIFICATE block of data, in
// order. Other blocks (keys, CRLs) and text around the blocks are skipped.
// It fails on the first CERTIFICATE block that does not parse, naming its
// position, and with ErrNoCertificate when there is none.
func Parse(data []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for rest, n := data, 0; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		n++
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", n, err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, ErrNoCertificate
	}
	return out, nil
}

// First returns the first certificate of data (see Parse).
func First(data []byte) (*x509.Certificate, error) {
	certs, err := Parse(data)
	if err != nil {
		return nil, err
	}
	return certs[0], nil
}
