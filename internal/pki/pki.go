// Package pki is fulcrum's internal certificate authority: it creates the
// CA and keeps it in the server's data directory (or hands it as PEM to
// whoever keeps it elsewhere: servers sharing a database keep it in the
// database, see NewCAPEM and ParseCA), issues the server certificate
// the agent API is served with, signs agent certificates from their
// certificate requests, and mints and parses join tokens that let a new
// agent enroll once and pin the CA while doing so.
//
// Keys are ECDSA P-256. Private keys are written with mode 0600, and a key
// file that group or others may read is refused when loaded (CheckKeyFile):
// whoever can read the CA key can mint agents.
package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/atomicfile"
	"github.com/fulcrumlb/fulcrum/internal/certpem"
)

// Lifetimes of what the CA issues.
const (
	CALifetime     = 10 * 365 * 24 * time.Hour
	ServerLifetime = 365 * 24 * time.Hour
	AgentLifetime  = 365 * 24 * time.Hour
	renewBefore    = 30 * 24 * time.Hour
)

// CA is a loaded certificate authority.
type CA struct {
	Cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

// LoadOrCreateCA loads dir/ca.crt and dir/ca.key, creating them (and dir)
// on first use.
func LoadOrCreateCA(dir string, now time.Time) (*CA, error) {
	certPath, keyPath := filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key")
	if _, err := os.Stat(certPath); err == nil {
		return loadCA(certPath, keyPath)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create ca: %w", err)
	}
	certPEM, key, err := newCA(now)
	if err != nil {
		return nil, err
	}
	if err := WriteKey(keyPath, key); err != nil {
		return nil, fmt.Errorf("create ca: %w", err)
	}
	if err := atomicfile.Write(certPath, certPEM, 0o644); err != nil {
		return nil, fmt.Errorf("create ca: %w", err)
	}
	return loadCA(certPath, keyPath)
}

func newCA(now time.Time) ([]byte, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("create ca: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               pkix.Name{CommonName: "fulcrum internal CA", Organization: []string{"fulcrum"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(CALifetime),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("create ca: %w", err)
	}
	return pemCert(der), key, nil
}

// NewCAPEM creates a CA and returns it as PEM: its certificate, then its
// private key (PKCS#8). It is how the CA is kept where it is not files of a
// data directory (the key ring servers share); ParseCA reads it back.
func NewCAPEM(now time.Time) ([]byte, error) {
	certPEM, key, err := newCA(now)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("create ca: %w", err)
	}
	return append(certPEM, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})...), nil
}

// ParseCA reads a CA from PEM holding its certificate and its PKCS#8
// ECDSA private key, in either order (NewCAPEM's form, or ca.crt and
// ca.key one after the other). The key must be the certificate's.
func ParseCA(data []byte) (*CA, error) {
	var certPEM []byte
	var key *ecdsa.PrivateKey
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		switch block.Type {
		case "CERTIFICATE":
			if certPEM == nil {
				certPEM = pem.EncodeToMemory(block)
			}
		case "PRIVATE KEY":
			k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("parse ca key: %w", err)
			}
			ek, ok := k.(*ecdsa.PrivateKey)
			if !ok {
				return nil, errors.New("parse ca key: not an ECDSA key")
			}
			key = ek
		}
	}
	if certPEM == nil || key == nil {
		return nil, errors.New("parse ca: want a PEM certificate and its PEM private key")
	}
	cert, err := ParseCert(certPEM)
	if err != nil {
		return nil, fmt.Errorf("parse ca: %w", err)
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		return nil, errors.New("parse ca: the private key is not the certificate's")
	}
	return &CA{Cert: cert, key: key, pem: certPEM}, nil
}

func loadCA(certPath, keyPath string) (*CA, error) {
	if err := CheckKeyFile(keyPath); err != nil {
		return nil, fmt.Errorf("load ca: %w", err)
	}
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return nil, fmt.Errorf("load ca: %w", err)
	}
	cert, err := ParseCert(certPEM)
	if err != nil {
		return nil, fmt.Errorf("load ca: %w", err)
	}
	key, err := ReadKey(keyPath)
	if err != nil {
		return nil, fmt.Errorf("load ca: %w", err)
	}
	return &CA{Cert: cert, key: key, pem: certPEM}, nil
}

// ReadCAFiles returns dir/ca.crt and dir/ca.key one after the other (for
// ParseCA), checking the key file's mode; os.ErrNotExist when either is
// missing.
func ReadCAFiles(dir string) ([]byte, error) {
	certPath, keyPath := filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key")
	if err := CheckKeyFile(keyPath); err != nil {
		return nil, err
	}
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return nil, err
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, err
	}
	return append(append(certPEM, '\n'), keyPEM...), nil
}

// PEM returns the CA certificate in PEM form.
func (c *CA) PEM() []byte { return append([]byte(nil), c.pem...) }

// Pool returns a pool holding only the CA.
func (c *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(c.Cert)
	return p
}

// Fingerprint is the hex SHA-256 of the CA certificate (DER).
func (c *CA) Fingerprint() string { return Fingerprint(c.Cert) }

// Fingerprint is the hex SHA-256 of a certificate's DER.
func Fingerprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return hex.EncodeToString(sum[:])
}

// ServerCertificate returns the certificate for the agent API, from dir
// (server.crt/server.key), issuing or renewing it when missing, expiring
// within 30 days, or not covering every name in hosts (DNS names or IPs).
func (c *CA) ServerCertificate(dir string, hosts []string, now time.Time) (tls.Certificate, error) {
	certPath, keyPath := filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key")
	if err := CheckKeyFile(keyPath); err != nil && !errors.Is(err, os.ErrNotExist) {
		return tls.Certificate{}, fmt.Errorf("server certificate: %w", err)
	}
	if pair, err := tls.LoadX509KeyPair(certPath, keyPath); err == nil && pair.Leaf != nil {
		if pair.Leaf.NotAfter.Sub(now) > renewBefore && covers(pair.Leaf, hosts) && pair.Leaf.CheckSignatureFrom(c.Cert) == nil {
			return pair, nil
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("issue server certificate: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: randomSerial(),
		Subject:      pkix.Name{CommonName: "fulcrum server", Organization: []string{"fulcrum"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(ServerLifetime),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if h != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.Cert, &key.PublicKey, c.key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("issue server certificate: %w", err)
	}
	if err := WriteKey(keyPath, key); err != nil {
		return tls.Certificate{}, fmt.Errorf("issue server certificate: %w", err)
	}
	// The chain carries the CA so that enrolling agents can pin it by
	// fingerprint during the handshake.
	if err := atomicfile.Write(certPath, append(pemCert(der), c.pem...), 0o644); err != nil {
		return tls.Certificate{}, fmt.Errorf("issue server certificate: %w", err)
	}
	return tls.LoadX509KeyPair(certPath, keyPath)
}

func covers(cert *x509.Certificate, hosts []string) bool {
	for _, h := range hosts {
		if h != "" && cert.VerifyHostname(h) != nil {
			return false
		}
	}
	return true
}

// SignAgent signs an agent's certificate request for agent name. The
// certificate's common name is the name; it is valid for client
// authentication only. It returns the PEM certificate and its serial (hex).
func (c *CA) SignAgent(csrPEM []byte, name string, now time.Time) (certPEM []byte, serial string, err error) {
	if err := CheckAgentName(name); err != nil {
		return nil, "", fmt.Errorf("sign agent certificate: %w", err)
	}
	block, _ := pem.Decode(csrPEM)
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		return nil, "", errors.New("sign agent certificate: not a PEM certificate request")
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, "", fmt.Errorf("sign agent certificate: %w", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, "", fmt.Errorf("sign agent certificate: %w", err)
	}
	sn := randomSerial()
	tmpl := &x509.Certificate{
		SerialNumber: sn,
		Subject:      pkix.Name{CommonName: name, Organization: []string{"fulcrum agents"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(AgentLifetime),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.Cert, csr.PublicKey, c.key)
	if err != nil {
		return nil, "", fmt.Errorf("sign agent certificate: %w", err)
	}
	return pemCert(der), SerialHex(sn), nil
}

// MaxAgentName is the longest agent name, in bytes.
const MaxAgentName = 64

var tokenPartRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

var agentNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// CheckAgentName reports whether name may name an agent: 1 to 64 ASCII
// letters, digits, '.', '_' or '-', starting with a letter or digit (a host
// name fits). The name is the common name of the agent's certificate and
// appears in logs and the amphora API, hence the narrow alphabet.
func CheckAgentName(name string) error {
	if len(name) == 0 || len(name) > MaxAgentName || !agentNameRE.MatchString(name) {
		return fmt.Errorf("agent name %q: want 1-%d ASCII letters, digits, '.', '_' or '-', starting with a letter or digit", name, MaxAgentName)
	}
	return nil
}

// SerialHex renders a certificate serial as lowercase hex.
func SerialHex(n *big.Int) string { return hex.EncodeToString(n.Bytes()) }

// NewKey returns a new P-256 private key.
func NewKey() (*ecdsa.PrivateKey, error) { return ecdsa.GenerateKey(elliptic.P256(), rand.Reader) }

// CSR returns a PEM certificate request for key with common name name.
func CSR(key *ecdsa.PrivateKey, name string) ([]byte, error) {
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: name}}, key)
	if err != nil {
		return nil, fmt.Errorf("certificate request: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), nil
}

// WriteKey writes key as PKCS#8 PEM with mode 0600.
func WriteKey(path string, key *ecdsa.PrivateKey) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	return atomicfile.Write(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
}

// CheckKeyFile refuses a private key file that group or others may access
// (any of the mode bits 0077), with an error naming the file and the fix.
// A missing file is an error wrapping os.ErrNotExist.
func CheckKeyFile(path string) error {
	info, err := os.Stat(path)
	if err != nil {
		return err
	}
	if perm := info.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("private key %s has mode %04o: group or others may read it; run chmod 600 %s", path, perm, path)
	}
	return nil
}

// ReadKey reads a PKCS#8 PEM ECDSA key.
func ReadKey(path string) (*ecdsa.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("%s: no PEM block", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	ek, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: not an ECDSA key", path)
	}
	return ek, nil
}

// ParseCert parses the first PEM certificate in data.
func ParseCert(data []byte) (*x509.Certificate, error) {
	return certpem.First(data)
}

func pemCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func randomSerial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic("pki: crypto/rand failed: " + err.Error())
	}
	return n.Add(n, big.NewInt(1))
}

// JoinToken lets one agent enroll. Its string form is
// "fjt1.<id>.<secret>.<ca fingerprint>": the server stores only the id and a
// hash of the secret; the agent uses the fingerprint to pin the CA of the
// server it enrolls with before it trusts anything the server says.
type JoinToken struct {
	ID            string
	Secret        string
	CAFingerprint string
}

// NewJoinToken returns a random token bound to the CA.
func (c *CA) NewJoinToken() JoinToken {
	return JoinToken{ID: randomText(6), Secret: randomText(24), CAFingerprint: c.Fingerprint()}
}

func (t JoinToken) String() string {
	return "fjt1." + t.ID + "." + t.Secret + "." + t.CAFingerprint
}

// SecretHash is what the server stores to check the secret later.
func (t JoinToken) SecretHash() string {
	sum := sha256.Sum256([]byte(t.Secret))
	return hex.EncodeToString(sum[:])
}

// CheckSecret reports, in constant time, whether secret matches hash.
func CheckSecret(secret, hash string) bool {
	sum := sha256.Sum256([]byte(secret))
	return subtle.ConstantTimeCompare([]byte(hex.EncodeToString(sum[:])), []byte(hash)) == 1
}

// ParseJoinToken parses the string form.
func ParseJoinToken(s string) (JoinToken, error) {
	parts := strings.Split(strings.TrimSpace(s), ".")
	if len(parts) != 4 || parts[0] != "fjt1" || parts[1] == "" || parts[2] == "" || len(parts[3]) != 64 {
		return JoinToken{}, errors.New("join token: want fjt1.<id>.<secret>.<ca sha256>")
	}
	if _, err := hex.DecodeString(parts[3]); err != nil {
		return JoinToken{}, errors.New("join token: bad CA fingerprint")
	}
	if !tokenPartRE.MatchString(parts[1]) || !tokenPartRE.MatchString(parts[2]) {
		return JoinToken{}, errors.New("join token: id and secret must be 1-64 characters of base64url")
	}
	return JoinToken{ID: parts[1], Secret: parts[2], CAFingerprint: parts[3]}, nil
}

func randomText(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("pki: crypto/rand failed: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b)
}
