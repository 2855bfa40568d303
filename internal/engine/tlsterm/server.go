package tlsterm

import (
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/fulcrumlb/fulcrum/internal/certpem"
	"github.com/fulcrumlb/fulcrum/internal/dataplane"
)

// Server is the TLS side of one TERMINATED_HTTPS listener. It is
// immutable; connections keep the Server they were accepted with.
type Server struct {
	// Config is handed to tls.Server for every connection.
	Config *tls.Config
	// HSTS is the Strict-Transport-Security value, "" when none.
	HSTS  string
	certs *certIndex
}

// ServerOptions are engine-wide settings.
type ServerOptions struct {
	// TicketKeys, if set, encrypt session tickets. The engine passes the
	// same keys to every listener and every version of its config, so a
	// session survives a reload.
	TicketKeys [][32]byte
}

// NewServer builds the server side of a TERMINATED_HTTPS listener. The
// error names what is wrong (a certificate, a version, a cipher list, the
// client CA or CRL).
func NewServer(lt *dataplane.ListenerTLS, opts ServerOptions) (*Server, error) {
	idx, err := newCertIndex(lt)
	if err != nil {
		return nil, err
	}
	lo, hi, err := versionRange(lt.Versions)
	if err != nil {
		return nil, fmt.Errorf("versions: %w", err)
	}
	suites, err := ciphers(lt.Ciphers, hi)
	if err != nil {
		return nil, fmt.Errorf("ciphers: %w", err)
	}
	protos := DefaultALPN
	if lt.ALPNProtocols != nil {
		protos = serverALPN(lt.ALPNProtocols)
	}
	s := &Server{certs: idx}
	cfg := &tls.Config{
		MinVersion:     lo,
		MaxVersion:     hi,
		CipherSuites:   suites,
		NextProtos:     protos,
		GetCertificate: idx.get,
	}
	if len(opts.TicketKeys) > 0 {
		cfg.SetSessionTicketKeys(opts.TicketKeys)
	}
	switch lt.ClientAuthentication {
	case "", "NONE":
	case "OPTIONAL", "MANDATORY":
		cas, err := certpem.Parse([]byte(lt.ClientCA))
		if err != nil {
			return nil, fmt.Errorf("client_ca: %w", err)
		}
		pool := x509.NewCertPool()
		for _, c := range cas {
			pool.AddCert(c)
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
		if lt.ClientAuthentication == "MANDATORY" {
			cfg.ClientAuth = tls.RequireAndVerifyClientCert
		}
		rev, err := newRevocations(lt.ClientCRL, cas)
		if err != nil {
			return nil, fmt.Errorf("client_crl: %w", err)
		}
		if rev != nil {
			cfg.VerifyPeerCertificate = func(_ [][]byte, chains [][]*x509.Certificate) error { return rev.check(chains) }
		}
	default:
		return nil, fmt.Errorf("client_authentication: unknown value %q", lt.ClientAuthentication)
	}
	if lt.HSTSMaxAge != nil {
		s.HSTS = "max-age=" + strconv.FormatInt(*lt.HSTSMaxAge, 10)
		if lt.HSTSIncludeSubdomains {
			s.HSTS += "; includeSubDomains"
		}
		if lt.HSTSPreload {
			s.HSTS += "; preload"
		}
	}
	s.Config = cfg
	return s, nil
}

// Select returns the certificate served for a ClientHello naming
// serverName ("" when the client sent no SNI).
func (s *Server) Select(serverName string) *tls.Certificate { return s.certs.lookup(serverName) }

// certIndex picks a certificate by server name: an exact name of a
// certificate first, then a wildcard name covering the first label, else
// the default certificate (the first SNI certificate when there is no
// default). Names come from the certificates' DNS SANs, or their CN when
// they have none. The default certificate's names count, and among
// certificates claiming one name the first wins (default, then SNI
// certificates in order), as in HAProxy's crt-list.
type certIndex struct {
	def      *tls.Certificate
	exact    map[string]*tls.Certificate
	wildcard map[string]*tls.Certificate // "example.com" for "*.example.com"
}

func newCertIndex(lt *dataplane.ListenerTLS) (*certIndex, error) {
	idx := &certIndex{exact: map[string]*tls.Certificate{}, wildcard: map[string]*tls.Certificate{}}
	add := func(path string, c *dataplane.Certificate) error {
		pair, err := keyPair(c)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		p := &pair
		if idx.def == nil {
			idx.def = p
		}
		names := pair.Leaf.DNSNames
		if len(names) == 0 && pair.Leaf.Subject.CommonName != "" {
			names = []string{pair.Leaf.Subject.CommonName}
		}
		for _, n := range names {
			n = normalizeName(n)
			if rest, ok := strings.CutPrefix(n, "*."); ok {
				if _, dup := idx.wildcard[rest]; !dup {
					idx.wildcard[rest] = p
				}
			} else if _, dup := idx.exact[n]; !dup {
				idx.exact[n] = p
			}
		}
		return nil
	}
	if lt.DefaultCertificate != nil {
		if err := add("default_certificate", lt.DefaultCertificate); err != nil {
			return nil, err
		}
	}
	for i := range lt.SNICertificates {
		if err := add(fmt.Sprintf("sni_certificates[%d]", i), &lt.SNICertificates[i]); err != nil {
			return nil, err
		}
	}
	if idx.def == nil {
		return nil, fmt.Errorf("no certificate")
	}
	return idx, nil
}

// normalizeName lower-cases a DNS name and drops a trailing dot.
func normalizeName(n string) string {
	n = strings.TrimSuffix(n, ".")
	for i := 0; i < len(n); i++ {
		if c := n[i]; c >= 'A' && c <= 'Z' {
			return strings.ToLower(n)
		}
	}
	return n
}

func (idx *certIndex) lookup(serverName string) *tls.Certificate {
	if serverName == "" {
		return idx.def
	}
	n := normalizeName(serverName)
	if c, ok := idx.exact[n]; ok {
		return c
	}
	if _, rest, ok := strings.Cut(n, "."); ok && rest != "" {
		if c, ok := idx.wildcard[rest]; ok {
			return c
		}
	}
	return idx.def
}

func (idx *certIndex) get(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	return idx.lookup(hello.ServerName), nil
}

// ConnInfo is what a finished handshake tells the X-SSL-* headers and the
// SSL_* L7 rules, in HAProxy's formats (ssl_c_used, ssl_c_verify,
// ssl_c_s_dn, ssl_c_i_dn, ssl_c_sha1, ssl_c_notbefore, ssl_c_notafter).
// It is computed once per connection.
type ConnInfo struct {
	// ServerName is the SNI the client sent.
	ServerName string
	// HasCert: the client presented a certificate (it was verified, or the
	// handshake would have failed).
	HasCert bool
	// Verify is the X509 verification result: 0 is OK.
	Verify int
	// SubjectDN and IssuerDN are in OpenSSL's one-line form,
	// "/C=US/O=Example/CN=client".
	SubjectDN, IssuerDN string
	// SHA1 is the certificate's SHA-1 fingerprint in upper-case hex.
	SHA1 string
	// NotBefore and NotAfter are ASN.1 UTCTime strings, "YYMMDDhhmmssZ".
	NotBefore, NotAfter string
	subject             pkix.RDNSequence
}

// Info reads a connection state.
func Info(cs *tls.ConnectionState) *ConnInfo {
	ci := &ConnInfo{ServerName: cs.ServerName}
	if len(cs.PeerCertificates) == 0 {
		return ci
	}
	c := cs.PeerCertificates[0]
	ci.HasCert = true
	var subj, iss pkix.RDNSequence
	_, _ = asn1.Unmarshal(c.RawSubject, &subj)
	_, _ = asn1.Unmarshal(c.RawIssuer, &iss)
	ci.subject = subj
	ci.SubjectDN, ci.IssuerDN = oneline(subj), oneline(iss)
	sum := sha1.Sum(c.Raw)
	ci.SHA1 = strings.ToUpper(hex.EncodeToString(sum[:]))
	ci.NotBefore = c.NotBefore.UTC().Format("060102150405Z")
	ci.NotAfter = c.NotAfter.UTC().Format("060102150405Z")
	return ci
}

// shortNames are OpenSSL's short names of the usual DN attributes.
var shortNames = map[string]string{
	"2.5.4.3": "CN", "2.5.4.6": "C", "2.5.4.7": "L", "2.5.4.8": "ST", "2.5.4.10": "O", "2.5.4.11": "OU",
	"2.5.4.5": "serialNumber", "2.5.4.9": "street", "2.5.4.17": "postalCode", "2.5.4.4": "SN", "2.5.4.42": "GN",
	"2.5.4.12": "title", "2.5.4.46": "dnQualifier", "0.9.2342.19200300.100.1.25": "DC",
	"0.9.2342.19200300.100.1.1": "UID", "1.2.840.113549.1.9.1": "emailAddress",
}

func attrName(oid asn1.ObjectIdentifier) string {
	if n, ok := shortNames[oid.String()]; ok {
		return n
	}
	return oid.String()
}

// oneline renders a DN as OpenSSL's X509_NAME_oneline: "/K=V" per
// attribute in certificate order.
func oneline(dn pkix.RDNSequence) string {
	var b strings.Builder
	for _, rdn := range dn {
		for _, a := range rdn {
			b.WriteByte('/')
			b.WriteString(attrName(a.Type))
			b.WriteByte('=')
			fmt.Fprint(&b, a.Value)
		}
	}
	return b.String()
}

// DNField returns the last value of the subject attribute named key (its
// short name, e.g. "CN", "OU", or a dotted OID), as HAProxy's
// ssl_c_s_dn(<key>).
func (ci *ConnInfo) DNField(key string) (string, bool) {
	var v string
	found := false
	for _, rdn := range ci.subject {
		for _, a := range rdn {
			if n := attrName(a.Type); n == key || a.Type.String() == key {
				v, found = fmt.Sprint(a.Value), true
			}
		}
	}
	return v, found
}

// SSLHeaders are the TERMINATED_HTTPS insert_headers keys, in the order the
// engine writes them.
var SSLHeaders = []string{"X-SSL-Client-Verify", "X-SSL-Client-Has-Cert", "X-SSL-Client-DN", "X-SSL-Client-CN",
	"X-SSL-Issuer", "X-SSL-Client-SHA1", "X-SSL-Client-Not-Before", "X-SSL-Client-Not-After"}

// HeaderValue is the value of one X-SSL-* header as the amphora's HAProxy
// sets it: numbers bare, strings in double quotes (%{+Q}); "" values of a
// connection without a client certificate are sent as "". Inside the quotes
// '"' and '\' are escaped with a backslash and control characters are
// written as \xHH: a certificate's subject cannot end the value, add a
// header line or forge another header.
func (ci *ConnInfo) HeaderValue(name string) string {
	q := quote
	switch name {
	case "X-SSL-Client-Verify":
		return strconv.Itoa(ci.Verify)
	case "X-SSL-Client-Has-Cert":
		if ci.HasCert {
			return "1"
		}
		return "0"
	case "X-SSL-Client-DN":
		return q(ci.SubjectDN)
	case "X-SSL-Client-CN":
		cn, _ := ci.DNField("CN")
		return q(cn)
	case "X-SSL-Issuer":
		return q(ci.IssuerDN)
	case "X-SSL-Client-SHA1":
		return q(ci.SHA1)
	case "X-SSL-Client-Not-Before":
		return q(ci.NotBefore)
	case "X-SSL-Client-Not-After":
		return q(ci.NotAfter)
	}
	return ""
}

// quote puts s in double quotes, escaped as HeaderValue says.
func quote(s string) string {
	const hex = "0123456789ABCDEF"
	b := make([]byte, 0, len(s)+2)
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20 || c == 0x7f:
			b = append(b, '\\', 'x', hex[c>>4], hex[c&15])
		default:
			b = append(b, c)
		}
	}
	return string(append(b, '"'))
}

// AppendHeaders appends "Name: value\r\n" for each enabled X-SSL-* header
// (enabled[i] for SSLHeaders[i]).
func (ci *ConnInfo) AppendHeaders(dst []byte, enabled *[8]bool) []byte {
	for i, name := range SSLHeaders {
		if enabled[i] {
			dst = append(dst, name...)
			dst = append(dst, ": "...)
			dst = append(dst, ci.HeaderValue(name)...)
			dst = append(dst, "\r\n"...)
		}
	}
	return dst
}
