package tlsterm

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"

	"github.com/fulcrumlb/fulcrum/internal/certpem"
	"github.com/fulcrumlb/fulcrum/internal/dataplane"
)

// Client is the TLS side of a re-encrypting pool (tls_enabled). It is
// immutable and safe for concurrent use.
type Client struct {
	config *tls.Config
	// h2 is config offering the pool's whole ALPN list, h2 included, when the list names
	// it (nil otherwise): used for the requests of HTTP/2 clients (docs/http2.md).
	h2 *tls.Config
}

// NewClient builds the client side of a pool. With a CA the member's chain
// is verified against it (and the CRL) — the chain only, not the host
// name, as the amphora's "verify required" without "verifyhost"; without a
// CA nothing is verified ("verify none").
func NewClient(pt *dataplane.PoolTLS) (*Client, error) {
	lo, hi, err := versionRange(pt.Versions)
	if err != nil {
		return nil, fmt.Errorf("versions: %w", err)
	}
	suites, err := ciphers(pt.Ciphers, hi)
	if err != nil {
		return nil, fmt.Errorf("ciphers: %w", err)
	}
	cfg := &tls.Config{
		MinVersion:         lo,
		MaxVersion:         hi,
		CipherSuites:       suites,
		NextProtos:         alpn(pt.ALPNProtocols),
		InsecureSkipVerify: true, // the chain is verified below, without the host name
		ClientSessionCache: tls.NewLRUClientSessionCache(256),
	}
	if pt.ClientCertificate != nil {
		pair, err := keyPair(pt.ClientCertificate)
		if err != nil {
			return nil, fmt.Errorf("client_certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	if pt.CA != "" {
		cas, err := certpem.Parse([]byte(pt.CA))
		if err != nil {
			return nil, fmt.Errorf("ca: %w", err)
		}
		roots := x509.NewCertPool()
		for _, c := range cas {
			roots.AddCert(c)
		}
		rev, err := newRevocations(pt.CRL, cas)
		if err != nil {
			return nil, fmt.Errorf("crl: %w", err)
		}
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("member presented no certificate")
			}
			inter := x509.NewCertPool()
			for _, c := range cs.PeerCertificates[1:] {
				inter.AddCert(c)
			}
			chains, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter,
				KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
			if err != nil {
				return err
			}
			return rev.check(chains)
		}
	} else if pt.CRL != "" {
		return nil, errors.New("crl: needs a ca")
	}
	c := &Client{config: cfg}
	if slices.Contains(pt.ALPNProtocols, "h2") {
		c.h2 = cfg.Clone()
		c.h2.NextProtos = serverALPN(pt.ALPNProtocols) // the pool's list, h2 kept
		c.h2.ClientSessionCache = tls.NewLRUClientSessionCache(256)
	}
	return c, nil
}

// H2 reports whether the pool's ALPN list names h2.
func (c *Client) H2() bool { return c.h2 != nil }

// H2Config is Config for a member connection of an HTTP/2 client's request: ALPN offers
// the pool's list with h2 in it; nil when the list does not name h2.
func (c *Client) H2Config(serverName string) *tls.Config {
	if c.h2 == nil || serverName == "" {
		return c.h2
	}
	cfg := c.h2.Clone()
	cfg.ServerName = serverName
	return cfg
}

// Certificates returns the client certificates presented to members (shared,
// not to be modified).
func (c *Client) Certificates() []tls.Certificate { return c.config.Certificates }

// Config returns the configuration of one member connection: serverName is
// sent as SNI (the client's SNI on a TERMINATED_HTTPS listener, as the
// amphora's "sni ssl_fc_sni"; "" sends none). The returned value is shared
// when serverName is "" and must not be modified.
func (c *Client) Config(serverName string) *tls.Config {
	if serverName == "" {
		return c.config
	}
	cfg := c.config.Clone()
	cfg.ServerName = serverName
	return cfg
}
