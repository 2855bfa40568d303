package dataplane

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"slices"

	"github.com/fulcrumlb/fulcrum/internal/certpem"
)

// TLS versions and ALPN protocols of the contract (Octavia's names).
var (
	TLSVersions   = []string{"SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"}
	ALPNProtocols = []string{"h2", "http/1.1", "http/1.0"}
)

// ClientAuthentication values of ListenerTLS.
const (
	ClientAuthNone      = "NONE"
	ClientAuthOptional  = "OPTIONAL"
	ClientAuthMandatory = "MANDATORY"
)

// SSLInsertHeaders are the insert_headers keys only TERMINATED_HTTPS
// listeners accept.
var SSLInsertHeaders = []string{"X-SSL-Client-Verify", "X-SSL-Client-Has-Cert", "X-SSL-Client-DN", "X-SSL-Client-CN",
	"X-SSL-Issuer", "X-SSL-Client-SHA1", "X-SSL-Client-Not-Before", "X-SSL-Client-Not-After"}

func (v *validator) certificate(path string, c *Certificate) {
	pair, err := tls.X509KeyPair([]byte(c.CertPEM), []byte(c.KeyPEM))
	if err != nil {
		v.add(path, "unusable certificate and key: %v", err)
		return
	}
	if pair.Leaf == nil {
		if _, err := x509.ParseCertificate(pair.Certificate[0]); err != nil {
			v.add(path+".cert_pem", "%v", err)
		}
	}
}

// caAndCRL checks a CA bundle and an optional CRL signed by one of its
// certificates.
func (v *validator) caAndCRL(caPath, ca, crlPath, crl string) {
	if ca == "" {
		if crl != "" {
			v.add(crlPath, "needs a CA")
		}
		return
	}
	cas, err := certpem.Parse([]byte(ca))
	if err != nil {
		v.add(caPath, "%v", err)
		return
	}
	if crl == "" {
		return
	}
	rest := []byte(crl)
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			v.add(crlPath, "no PEM X509 CRL")
			return
		}
		if b.Type != "X509 CRL" {
			continue
		}
		l, err := x509.ParseRevocationList(b.Bytes)
		if err != nil {
			v.add(crlPath, "%v", err)
			return
		}
		for _, c := range cas {
			if l.CheckSignatureFrom(c) == nil {
				return
			}
		}
		v.add(crlPath, "not signed by the CA")
		return
	}
}

func (v *validator) tlsParams(path string, versions []string, alpn []string) {
	supported := false
	for i, ver := range versions {
		if !slices.Contains(TLSVersions, ver) {
			v.add(fmt.Sprintf("%s.versions[%d]", path, i), "unknown TLS version %q", ver)
		} else if ver != "SSLv3" {
			supported = true
		}
	}
	if len(versions) > 0 && !supported {
		v.add(path+".versions", "no supported TLS version (SSLv3 is not implemented)")
	}
	for i, p := range alpn {
		if !slices.Contains(ALPNProtocols, p) {
			v.add(fmt.Sprintf("%s.alpn_protocols[%d]", path, i), "unknown ALPN protocol %q", p)
		}
	}
}

// listenerTLS checks the TLS part of a TERMINATED_HTTPS listener.
func (v *validator) listenerTLS(path string, l *Listener) {
	if l.Protocol != ProtocolTerminatedHTTPS {
		if l.TLS != nil {
			v.add(path+".tls", "only valid on TERMINATED_HTTPS listeners")
		}
		return
	}
	t := l.TLS
	if t == nil || t.DefaultCertificate == nil && len(t.SNICertificates) == 0 {
		v.add(path+".tls", "a TERMINATED_HTTPS listener needs a default or SNI certificate")
		return
	}
	path += ".tls"
	if t.DefaultCertificate != nil {
		v.certificate(path+".default_certificate", t.DefaultCertificate)
	}
	for i := range t.SNICertificates {
		v.certificate(fmt.Sprintf("%s.sni_certificates[%d]", path, i), &t.SNICertificates[i])
	}
	switch t.ClientAuthentication {
	case "", ClientAuthNone:
	case ClientAuthOptional, ClientAuthMandatory:
		if t.ClientCA == "" {
			v.add(path+".client_ca", "required with client_authentication %s", t.ClientAuthentication)
		}
	default:
		v.add(path+".client_authentication", "unknown value %q (want NONE, OPTIONAL or MANDATORY)", t.ClientAuthentication)
	}
	v.caAndCRL(path+".client_ca", t.ClientCA, path+".client_crl", t.ClientCRL)
	v.tlsParams(path, t.Versions, t.ALPNProtocols)
	if t.HSTSMaxAge != nil && *t.HSTSMaxAge < 0 {
		v.add(path+".hsts_max_age", "must be 0 or more")
	}
}

// poolTLS checks the re-encryption part of a pool.
func (v *validator) poolTLS(path string, p *Pool) {
	t := p.TLS
	if t == nil {
		return
	}
	path += ".tls"
	if p.Protocol == ProtocolUDP || p.Protocol == ProtocolSCTP {
		v.add(path, "re-encryption is not valid on %s pools", p.Protocol)
	}
	if t.ClientCertificate != nil {
		v.certificate(path+".client_certificate", t.ClientCertificate)
	}
	v.caAndCRL(path+".ca", t.CA, path+".crl", t.CRL)
	v.tlsParams(path, t.Versions, t.ALPNProtocols)
}
