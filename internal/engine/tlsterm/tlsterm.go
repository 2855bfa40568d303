// Package tlsterm turns the TLS parts of the data-plane contract into
// crypto/tls configurations: the server side of TERMINATED_HTTPS listeners
// (default and SNI certificates, versions, ciphers, ALPN, client
// authentication with a CA and a CRL, HSTS, session resumption) and the
// client side of re-encrypting pools (client certificate, CA verification
// with a CRL, versions, ciphers, ALPN, session resumption). It also reads
// what the X-SSL-* headers and the SSL_* L7 rules need from a finished
// handshake.
//
// It knows only the dataplane contract; the proxy calls it.
package tlsterm

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
)

// versions maps Octavia's TLS version names onto crypto/tls versions. SSLv3
// has no Go implementation and is never offered.
var versions = map[string]uint16{
	"TLSv1":   tls.VersionTLS10,
	"TLSv1.1": tls.VersionTLS11,
	"TLSv1.2": tls.VersionTLS12,
	"TLSv1.3": tls.VersionTLS13,
}

// versionRange is the smallest [min, max] covering the named versions:
// crypto/tls can only bound the range, so a gap ([TLSv1, TLSv1.2]) is
// filled. Empty names mean Octavia's default, TLSv1.2 and TLSv1.3.
func versionRange(names []string) (uint16, uint16, error) {
	if len(names) == 0 {
		return tls.VersionTLS12, tls.VersionTLS13, nil
	}
	var lo, hi uint16
	for _, n := range names {
		v, ok := versions[n]
		if !ok {
			if n == "SSLv3" {
				continue
			}
			return 0, 0, fmt.Errorf("unknown TLS version %q", n)
		}
		if lo == 0 || v < lo {
			lo = v
		}
		hi = max(hi, v)
	}
	if lo == 0 {
		return 0, 0, errors.New("no supported TLS version (SSLv3 is not implemented)")
	}
	return lo, hi, nil
}

// cipherSuites maps OpenSSL cipher names (what Octavia's tls_ciphers
// holds) onto the TLS 1.0–1.2 suites crypto/tls implements. DHE suites,
// PSK, SRP, CAMELLIA, ARIA and the like have no Go implementation and are
// ignored; TLS 1.3 suites (TLS_AES_128_GCM_SHA256, ...) are accepted and
// ignored because crypto/tls does not let them be configured (all three
// are always on).
var cipherSuites = map[string]uint16{
	"ECDHE-ECDSA-AES128-GCM-SHA256": tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	"ECDHE-RSA-AES128-GCM-SHA256":   tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	"ECDHE-ECDSA-AES256-GCM-SHA384": tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	"ECDHE-RSA-AES256-GCM-SHA384":   tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	"ECDHE-ECDSA-CHACHA20-POLY1305": tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	"ECDHE-RSA-CHACHA20-POLY1305":   tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	"ECDHE-ECDSA-AES128-SHA256":     tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256,
	"ECDHE-RSA-AES128-SHA256":       tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256,
	"ECDHE-ECDSA-AES128-SHA":        tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA,
	"ECDHE-RSA-AES128-SHA":          tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA,
	"ECDHE-ECDSA-AES256-SHA":        tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
	"ECDHE-RSA-AES256-SHA":          tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA,
	"ECDHE-RSA-DES-CBC3-SHA":        tls.TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA,
	"ECDHE-ECDSA-RC4-SHA":           tls.TLS_ECDHE_ECDSA_WITH_RC4_128_SHA,
	"ECDHE-RSA-RC4-SHA":             tls.TLS_ECDHE_RSA_WITH_RC4_128_SHA,
	"AES128-GCM-SHA256":             tls.TLS_RSA_WITH_AES_128_GCM_SHA256,
	"AES256-GCM-SHA384":             tls.TLS_RSA_WITH_AES_256_GCM_SHA384,
	"AES128-SHA256":                 tls.TLS_RSA_WITH_AES_128_CBC_SHA256,
	"AES128-SHA":                    tls.TLS_RSA_WITH_AES_128_CBC_SHA,
	"AES256-SHA":                    tls.TLS_RSA_WITH_AES_256_CBC_SHA,
	"DES-CBC3-SHA":                  tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA,
	"RC4-SHA":                       tls.TLS_RSA_WITH_RC4_128_SHA,
}

// OpenSSLCipherNames lists the OpenSSL cipher names that map onto a Go
// cipher suite, for documentation and tests.
func OpenSSLCipherNames() []string {
	names := make([]string, 0, len(cipherSuites))
	for n := range cipherSuites {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// ciphers reads an OpenSSL cipher list: names separated by ':' (or ',' or
// spaces); "!" or "-" before a name removes it, "+" is read as the name.
// Keywords (HIGH, DEFAULT, ...) and names Go does not implement are
// ignored. An empty list means crypto/tls's defaults (nil). A list of which
// no TLS 1.0–1.2 name maps is an error when maxVersion allows TLS 1.2 or
// older, because every such handshake would fail.
func ciphers(list string, maxVersion uint16) ([]uint16, error) {
	if strings.TrimSpace(list) == "" {
		return nil, nil
	}
	var out []uint16
	removed := map[uint16]bool{}
	for _, n := range strings.FieldsFunc(list, func(r rune) bool { return r == ':' || r == ',' || r == ' ' }) {
		neg := strings.HasPrefix(n, "!") || strings.HasPrefix(n, "-")
		n = strings.TrimLeft(n, "!-+")
		id, ok := cipherSuites[n]
		switch {
		case !ok:
		case neg:
			removed[id] = true
		case !slices.Contains(out, id):
			out = append(out, id)
		}
	}
	out = slices.DeleteFunc(out, func(id uint16) bool { return removed[id] })
	if len(out) == 0 && maxVersion < tls.VersionTLS13 {
		return nil, fmt.Errorf("no cipher of %q is implemented for TLS 1.2 and older", list)
	}
	if len(out) == 0 {
		// TLS 1.3 only: its suites are fixed.
		return nil, nil
	}
	return out, nil
}

// alpn keeps the protocols a member connection may speak: http/1.1 and
// http/1.0. h2 is dropped: the engine speaks HTTP/1.1 to members, and
// offering h2 would make a member answer in a protocol the engine does not
// read. nil when nothing is left.
func alpn(protocols []string) []string { return keepALPN(protocols, false) }

// serverALPN keeps the protocols a TERMINATED_HTTPS listener offers, in the
// listener's order (crypto/tls picks the first of them the client offers):
// h2, http/1.1 and http/1.0. nil when nothing is left.
func serverALPN(protocols []string) []string { return keepALPN(protocols, true) }

func keepALPN(protocols []string, h2 bool) []string {
	var out []string
	for _, p := range protocols {
		if (p == "http/1.1" || p == "http/1.0" || (h2 && p == "h2")) && !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

// DefaultALPN is what a listener offers when its contract names none:
// HTTP/1 only. (The API fills Octavia's default, h2 first, into every
// TERMINATED_HTTPS listener it creates; a contract without a list is one
// written by hand.)
var DefaultALPN = []string{"http/1.1", "http/1.0"}

// parseCRL reads the first X509 CRL block of a PEM document.
func parseCRL(doc string) (*x509.RevocationList, error) {
	rest := []byte(doc)
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return nil, errors.New("no PEM X509 CRL")
		}
		if b.Type == "X509 CRL" {
			return x509.ParseRevocationList(b.Bytes)
		}
	}
}

// revocations is a CRL checked against its issuer, as a set of revoked
// serial numbers.
type revocations struct {
	issuer  []byte // raw subject of the issuing CA
	revoked map[string]bool
}

func newRevocations(doc string, cas []*x509.Certificate) (*revocations, error) {
	if doc == "" {
		return nil, nil
	}
	crl, err := parseCRL(doc)
	if err != nil {
		return nil, fmt.Errorf("crl: %w", err)
	}
	signed := false
	for _, ca := range cas {
		if crl.CheckSignatureFrom(ca) == nil {
			signed = true
			break
		}
	}
	if !signed {
		return nil, errors.New("crl: not signed by the CA")
	}
	r := &revocations{issuer: crl.RawIssuer, revoked: map[string]bool{}}
	for _, e := range crl.RevokedCertificateEntries {
		r.revoked[e.SerialNumber.String()] = true
	}
	return r, nil
}

// check refuses a verified chain that contains a certificate this CRL
// revokes.
func (r *revocations) check(chains [][]*x509.Certificate) error {
	if r == nil {
		return nil
	}
	for _, chain := range chains {
		for _, c := range chain {
			if string(c.RawIssuer) == string(r.issuer) && r.revoked[c.SerialNumber.String()] {
				return fmt.Errorf("certificate %s (serial %s) is revoked", c.Subject, c.SerialNumber)
			}
		}
	}
	return nil
}

// keyPair loads a contract certificate, with its leaf parsed once.
func keyPair(c *dataplane.Certificate) (tls.Certificate, error) {
	pair, err := tls.X509KeyPair([]byte(c.CertPEM), []byte(c.KeyPEM))
	if err != nil {
		return tls.Certificate{}, err
	}
	return pair, nil
}
