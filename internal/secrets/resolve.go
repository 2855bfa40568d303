package secrets

import (
	"bytes"
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"

	pkcs12 "software.sslmate.com/src/go-pkcs12"

	"github.com/fulcrumlb/fulcrum/internal/certpem"
	"github.com/fulcrumlb/fulcrum/internal/policy"
	"github.com/fulcrumlb/fulcrum/internal/secrets/barbican"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// ServiceUser is the user id the load-balancer service reads secrets as.
// A read ACL naming it lets load balancers of other projects use a
// secret, as Octavia's service ACL does.
const ServiceUser = "fulcrum-load-balancer"

// ErrUnreadable: a reference that does not name a secret or container the
// reader may read, or whose content is not what it must be. The API
// answers Octavia's 400 "Could not retrieve certificate: [<refs>]".
var ErrUnreadable = errors.New("unreadable key manager reference")

// PKCS12Error is a secret whose payload is not a readable PKCS#12 bundle
// without a passphrase. Its Error is Octavia's message.
type PKCS12Error struct{ Err error }

func (e *PKCS12Error) Error() string {
	return "The PKCS12 bundle is unreadable. Please check the PKCS12 bundle validity. In addition, make sure it does not require a pass phrase. Error: " + e.Err.Error()
}

func (e *PKCS12Error) Unwrap() error { return e.Err }

// Access says on whose behalf material is read. The load-balancer service
// reads the secrets and containers of ProjectID (the load balancer's
// project) and those whose read ACL names ServiceUser. When Caller is set
// (the API checking a request), the caller must also be allowed to read
// the object.
type Access struct {
	ProjectID string
	Caller    *policy.Caller
}

func (a Access) allows(o owner) bool {
	if a.Caller != nil && !canRead(*a.Caller, o) {
		return false
	}
	return a.ProjectID == callerScope || o.project == a.ProjectID || o.acl.Grants(ServiceUser)
}

// Certificate is a certificate with its key as the data plane serves it.
type Certificate struct {
	// Ref is the reference it was read from.
	Ref string
	// CertPEM is the leaf followed by the intermediates.
	CertPEM []byte
	// KeyPEM is the private key, PKCS#8, unencrypted.
	KeyPEM []byte
	// Leaf is the parsed leaf certificate.
	Leaf *x509.Certificate
}

// refKind splits a reference: an href ending in /secrets/<uuid> or
// /containers/<uuid>, or a bare uuid (kind "").
func refKind(ref string) (kind, id string, ok bool) {
	r := strings.TrimSuffix(strings.TrimSpace(ref), "/")
	if isUUID(r) {
		return "", strings.ToLower(r), true
	}
	i := strings.LastIndexByte(r, '/')
	if i < 0 || !isUUID(r[i+1:]) {
		return "", "", false
	}
	id = strings.ToLower(r[i+1:])
	switch {
	case strings.HasSuffix(r[:i], "/secrets"):
		return "secrets", id, true
	case strings.HasSuffix(r[:i], "/containers"):
		return "containers", id, true
	}
	return "", "", false
}

// RefPath returns the "/secrets/<id>" or "/containers/<id>" path a
// reference names (matching Options.Changed), or "" when ref is not a
// key-manager reference. A bare uuid gives "/<id>".
func RefPath(ref string) string {
	kind, id, ok := refKind(ref)
	if !ok {
		return ""
	}
	if kind == "" {
		return "/" + id
	}
	return "/" + kind + "/" + id
}

func unreadable(ref, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrUnreadable, ref, fmt.Sprintf(format, args...))
}

// payload opens a secret's payload for a.
func (s *Service) payload(ctx context.Context, tx store.Tx, a Access, ref, id string, checkAccess bool) (*barbican.Secret, []byte, error) {
	sec, err := tx.Secrets().Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) || err == nil && sec.Expired(s.now()) {
		return nil, nil, unreadable(ref, "no such secret")
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read secret %s: %w", id, err)
	}
	if checkAccess && !a.allows(secretOwner(sec)) {
		return nil, nil, unreadable(ref, "not allowed")
	}
	if sec.Payload == nil {
		return nil, nil, unreadable(ref, "secret has no payload")
	}
	plain, err := s.opts.Keys.Open(sec.Payload, []byte(sec.ID))
	if err != nil {
		return nil, nil, fmt.Errorf("read secret %s: %w", id, err)
	}
	return sec, plain, nil
}

// Certificate reads the certificate and key behind ref: a secret holding a
// PKCS#12 bundle without passphrase (raw, or base64 text), or a PEM
// certificate with its key; or a certificate container (certificate,
// private_key, optional intermediates and private_key_passphrase).
func (s *Service) Certificate(ctx context.Context, a Access, ref string) (*Certificate, error) {
	var out *Certificate
	err := s.opts.Store.View(ctx, func(tx store.Tx) error {
		var err error
		out, err = s.CertificateIn(ctx, tx, a, ref)
		return err
	})
	return out, err
}

// CertificateIn is Certificate inside the caller's transaction. A refusal
// (ErrUnreadable, *PKCS12Error) is logged at warn with the reference and
// the reason, never with key material.
func (s *Service) CertificateIn(ctx context.Context, tx store.Tx, a Access, ref string) (*Certificate, error) {
	c, err := s.certificateIn(ctx, tx, a, ref)
	var pe *PKCS12Error
	if errors.Is(err, ErrUnreadable) || errors.As(err, &pe) {
		s.refused(a, ref, err)
	}
	return c, err
}

// refused logs why the material behind ref was refused.
func (s *Service) refused(a Access, ref string, reason error) {
	attrs := []any{"ref", ref, "reason", reason.Error()}
	if a.ProjectID != callerScope {
		attrs = append(attrs, "project", a.ProjectID)
	}
	if a.Caller != nil {
		attrs = append(attrs, "caller_project", a.Caller.ProjectID, "caller_user", a.Caller.UserID)
	}
	s.log.Warn("key manager material refused", attrs...)
}

func (s *Service) certificateIn(ctx context.Context, tx store.Tx, a Access, ref string) (*Certificate, error) {
	kind, id, ok := refKind(ref)
	if !ok {
		return nil, unreadable(ref, "not a key manager reference")
	}
	if kind == "secrets" || kind == "" {
		_, plain, err := s.payload(ctx, tx, a, ref, id, true)
		if err == nil {
			return certificateFromBundle(ref, plain)
		}
		if kind == "secrets" || !errors.Is(err, ErrUnreadable) {
			return nil, err
		}
	}
	return s.certificateFromContainer(ctx, tx, a, ref, id)
}

func certificateFromBundle(ref string, data []byte) (*Certificate, error) {
	if bytes.Contains(data, []byte("-----BEGIN ")) {
		var keys []byte
		for rest := data; ; {
			var b *pem.Block
			b, rest = pem.Decode(rest)
			if b == nil {
				break
			}
			if strings.HasSuffix(b.Type, "PRIVATE KEY") {
				keys = append(keys, pem.EncodeToMemory(b)...)
			}
		}
		certs, err := certpem.Parse(data)
		if err != nil && !errors.Is(err, certpem.ErrNoCertificate) {
			return nil, unreadable(ref, "%v", err)
		}
		if len(certs) > 0 && len(keys) > 0 {
			var certPEM []byte
			for _, c := range certs {
				certPEM = append(certPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
			}
			return buildCertificate(ref, certPEM, keys, nil)
		}
	}
	der := data
	if !isDER(der) {
		if dec, err := decodeBase64(string(data)); err == nil && isDER(dec) {
			der = dec
		}
	}
	key, leaf, cas, err := pkcs12.DecodeChain(der, "")
	if err != nil {
		return nil, &PKCS12Error{Err: err}
	}
	// The leaf is the certificate of the key, wherever it sits.
	all := append([]*x509.Certificate{leaf}, cas...)
	for i, c := range all {
		if pub, ok := key.(interface{ Public() crypto.PublicKey }); ok && publicKeyEqual(c.PublicKey, pub.Public()) {
			all[0], all[i] = all[i], all[0]
			break
		}
	}
	var certPEM []byte
	for _, c := range all {
		certPEM = append(certPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, &PKCS12Error{Err: err}
	}
	return buildCertificate(ref, certPEM, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), nil)
}

func isDER(b []byte) bool { return len(b) > 2 && b[0] == 0x30 }

func publicKeyEqual(a, b crypto.PublicKey) bool {
	ea, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && ea.Equal(b)
}

// buildCertificate checks that the key matches the leaf and normalises the
// key to unencrypted PKCS#8.
func buildCertificate(ref string, certPEM, keyPEM, passphrase []byte) (*Certificate, error) {
	kb, _ := pem.Decode(keyPEM)
	if kb == nil {
		return nil, unreadable(ref, "private key is not PEM")
	}
	if kb.Type == "ENCRYPTED PRIVATE KEY" {
		if len(passphrase) == 0 {
			return nil, unreadable(ref, "private key is encrypted and there is no private_key_passphrase")
		}
		der, err := decryptPKCS8(kb.Bytes, passphrase)
		if err != nil {
			return nil, unreadable(ref, "encrypted private key: %v", err)
		}
		kb = &pem.Block{Type: "PRIVATE KEY", Bytes: der}
	}
	//lint:ignore SA1019 legacy PEM encryption is what Barbican certificate containers carry with private_key_passphrase
	if x509.IsEncryptedPEMBlock(kb) { //nolint:staticcheck
		if len(passphrase) == 0 {
			return nil, unreadable(ref, "private key needs a passphrase")
		}
		//lint:ignore SA1019 legacy PEM encryption is what Barbican certificate containers carry with private_key_passphrase
		der, err := x509.DecryptPEMBlock(kb, passphrase) //nolint:staticcheck
		if err != nil {
			return nil, unreadable(ref, "private key passphrase: %v", err)
		}
		kb = &pem.Block{Type: kb.Type, Bytes: der}
	}
	key, err := parsePrivateKey(kb.Bytes)
	if err != nil {
		return nil, unreadable(ref, "private key: %v", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, unreadable(ref, "private key: %v", err)
	}
	keyOut := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	pair, err := tls.X509KeyPair(certPEM, keyOut)
	if err != nil {
		return nil, unreadable(ref, "certificate and key: %v", err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, unreadable(ref, "certificate: %v", err)
	}
	return &Certificate{Ref: ref, CertPEM: certPEM, KeyPEM: keyOut, Leaf: leaf}, nil
}

func parsePrivateKey(der []byte) (crypto.PrivateKey, error) {
	if k, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		return k, nil
	}
	if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return k, nil
	}
	if k, err := x509.ParseECPrivateKey(der); err == nil {
		return k, nil
	}
	return nil, errors.New("unknown private key format")
}

func (s *Service) certificateFromContainer(ctx context.Context, tx store.Tx, a Access, ref, id string) (*Certificate, error) {
	ct, err := tx.Containers().Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, unreadable(ref, "no such secret or container")
	}
	if err != nil {
		return nil, fmt.Errorf("read container %s: %w", id, err)
	}
	if !a.allows(containerOwner(ct)) {
		return nil, unreadable(ref, "not allowed")
	}
	if ct.Type != barbican.ContainerCertificate {
		return nil, unreadable(ref, "container type %s is not certificate", ct.Type)
	}
	members, err := containerMembers(ctx, tx, ct.ID)
	if err != nil {
		return nil, fmt.Errorf("read container %s: %w", id, err)
	}
	// Each secret of the container must be readable by a itself, as
	// Barbican checks them when Octavia reads a container with the user's
	// token: a container does not lend its secrets (a member's container
	// naming another member's private key, or shared by its ACL with
	// another project, gives nothing the reader could not read).
	parts := map[string][]byte{}
	for _, m := range members[ct.ID] {
		_, plain, err := s.payload(ctx, tx, a, ref, m.SecretID, true)
		if errors.Is(err, ErrUnreadable) {
			return nil, unreadable(ref, "its %s secret %s is not readable", m.Name, m.SecretID)
		}
		if err != nil {
			return nil, err
		}
		parts[m.Name] = plain
	}
	if parts["certificate"] == nil || parts["private_key"] == nil {
		return nil, unreadable(ref, "container lacks a certificate or private_key")
	}
	certPEM := append(bytes.TrimSpace(parts["certificate"]), '\n')
	if in := bytes.TrimSpace(parts["intermediates"]); len(in) > 0 {
		certPEM = append(append(certPEM, in...), '\n')
	}
	return buildCertificate(ref, certPEM, parts["private_key"], bytes.TrimSpace(parts["private_key_passphrase"]))
}

// Secret reads the raw payload of a secret reference (CA bundles and CRLs
// are PEM secrets).
func (s *Service) Secret(ctx context.Context, a Access, ref string) ([]byte, error) {
	var out []byte
	err := s.opts.Store.View(ctx, func(tx store.Tx) error {
		var err error
		out, err = s.SecretIn(ctx, tx, a, ref)
		return err
	})
	return out, err
}

// SecretIn is Secret inside the caller's transaction.
func (s *Service) SecretIn(ctx context.Context, tx store.Tx, a Access, ref string) ([]byte, error) {
	kind, id, ok := refKind(ref)
	if !ok || kind == "containers" {
		return nil, unreadable(ref, "not a secret reference")
	}
	_, out, err := s.payload(ctx, tx, a, ref, id, true)
	return out, err
}

// CABundle reads a PEM bundle of CA certificates (client CA or pool CA).
// Its error is a plain one naming what is wrong when the payload is read
// but is not PEM certificates.
func (s *Service) CABundle(ctx context.Context, a Access, ref string) ([]byte, []*x509.Certificate, error) {
	data, err := s.Secret(ctx, a, ref)
	if err != nil {
		return nil, nil, err
	}
	certs, err := parsePEMCertificates(data)
	if err != nil {
		return nil, nil, err
	}
	return data, certs, nil
}

func parsePEMCertificates(data []byte) ([]*x509.Certificate, error) {
	certs, err := certpem.Parse(data)
	if errors.Is(err, certpem.ErrNoCertificate) {
		return nil, errMalformedPEM
	}
	return certs, err
}

//lint:ignore ST1005 the text is the one Octavia (Python cryptography) answers, kept for parity
var errMalformedPEM = errors.New("Unable to load PEM file. See https://cryptography.io/en/latest/faq/#why-can-t-i-import-my-pem-file for more details. MalformedFraming")

// CRL reads a PEM certificate revocation list.
func (s *Service) CRL(ctx context.Context, a Access, ref string) ([]byte, *x509.RevocationList, error) {
	data, err := s.Secret(ctx, a, ref)
	if err != nil {
		return nil, nil, err
	}
	crl, err := ParseCRL(data)
	if err != nil {
		return nil, nil, err
	}
	return data, crl, nil
}

// ParseCRL parses the first X509 CRL of a PEM document.
func ParseCRL(data []byte) (*x509.RevocationList, error) {
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			//lint:ignore ST1005 the text is the one Octavia (Python cryptography) answers, kept for parity
			return nil, errors.New("Unable to load PEM file. See https://cryptography.io/en/latest/faq/#why-can-t-i-import-my-pem-file for more details. MalformedFraming")
		}
		if b.Type == "X509 CRL" {
			return x509.ParseRevocationList(b.Bytes)
		}
	}
}

// GrantService adds ServiceUser to the read ACL of the secret or container
// ref names (and of a container's secrets), as Octavia does when a
// listener or pool starts using it, so the service can read it whatever
// the load balancer's project. It is a no-op for objects of project.
func (s *Service) GrantService(ctx context.Context, project, ref string) error {
	return s.opts.Store.Update(ctx, func(tx store.Tx) error { return s.GrantServiceIn(ctx, tx, project, ref) })
}

// GrantServiceIn is GrantService inside the caller's read-write
// transaction.
func (s *Service) GrantServiceIn(ctx context.Context, tx store.Tx, project, ref string) error {
	kind, id, ok := refKind(ref)
	if !ok {
		return unreadable(ref, "not a key manager reference")
	}
	now := s.now()
	grant := func(a *barbican.ACL) bool {
		if a.Grants(ServiceUser) {
			return false
		}
		if !a.Set {
			*a = barbican.ACL{Set: true, ProjectAccess: true, CreatedAt: now}
		}
		a.Users, a.UpdatedAt = append(a.Users, ServiceUser), now
		return true
	}
	err := func() error {
		if kind != "containers" {
			sec, err := tx.Secrets().Lock(ctx, id)
			if err == nil {
				if sec.ProjectID == project || !grant(&sec.ACL) {
					return nil
				}
				return tx.Secrets().Update(ctx, sec)
			}
			if kind == "secrets" || !errors.Is(err, store.ErrNotFound) {
				return err
			}
		}
		ct, err := tx.Containers().Lock(ctx, id)
		if err != nil {
			return err
		}
		if ct.ProjectID == project {
			return nil
		}
		if grant(&ct.ACL) {
			if err := tx.Containers().Update(ctx, ct); err != nil {
				return err
			}
		}
		members, err := containerMembers(ctx, tx, ct.ID)
		if err != nil {
			return err
		}
		for _, m := range members[ct.ID] {
			sec, err := tx.Secrets().Lock(ctx, m.SecretID)
			if err != nil {
				return err
			}
			if grant(&sec.ACL) {
				if err := tx.Secrets().Update(ctx, sec); err != nil {
					return err
				}
			}
		}
		return nil
	}()
	if err != nil {
		return fmt.Errorf("grant the load-balancer service access to %s: %w", ref, err)
	}
	return nil
}

// RefProblem is a reference the API refuses with a 400 and Octavia's
// message (BadRequest).
type RefProblem struct{ Msg string }

func (e *RefProblem) Error() string { return e.Msg }

// BadRequest is the message for the API's fault body.
func (e *RefProblem) BadRequest() string { return e.Msg }

// pyList renders refs as Python prints a list of strings.
func pyStrList(refs []string) string {
	parts := make([]string, len(refs))
	for i, r := range refs {
		parts[i] = "'" + strings.ReplaceAll(r, "'", "\\'") + "'"
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// CheckRefs is what Octavia's API asks the key manager when a listener or
// pool is created or changed, inside the API's transaction, on behalf of
// caller for a load balancer of project:
//
//   - every certificate reference must name a certificate the caller may
//     read: 400 "Could not retrieve certificate: ['<ref>', ...]" listing the
//     unreadable ones (a secret that is not a passphrase-less PKCS#12 gives
//     "The PKCS12 bundle is unreadable..." at once);
//   - ca (client or member CA) and crl must be readable (same message),
//     the CA a PEM X509 certificate and the CRL a PEM CRL signed by it
//     ("Validation failure: ...").
//
// The load-balancer service is then granted read access to objects of
// other projects (GrantServiceIn), as Octavia sets its service ACL. Other
// errors are failures of the store.
func (s *Service) CheckRefs(ctx context.Context, tx store.Tx, caller policy.Caller, project string, certs []string, ca, crl string) error {
	a := Access{ProjectID: project, Caller: &caller}
	// The caller's rights decide; the service's own rule is then met by
	// the grant below.
	readable := func(err error) bool { return err == nil }
	var bad []string
	var granted []string
	for _, ref := range certs {
		_, err := s.certificateForCaller(ctx, tx, a, ref)
		var pe *PKCS12Error
		switch {
		case errors.As(err, &pe):
			return &RefProblem{Msg: pe.Error()}
		case errors.Is(err, ErrUnreadable):
			bad = append(bad, ref)
		case err != nil:
			return err
		default:
			granted = append(granted, ref)
		}
	}
	if len(bad) > 0 {
		return &RefProblem{Msg: "Could not retrieve certificate: " + pyStrList(bad)}
	}
	if ca != "" {
		var caPEM, crlPEM []byte
		caPEM, err := s.secretForCaller(ctx, tx, a, ca)
		if !readable(err) {
			if !errors.Is(err, ErrUnreadable) {
				return err
			}
			s.refused(a, ca, err)
			bad = append(bad, ca)
		}
		if crl != "" {
			crlPEM, err = s.secretForCaller(ctx, tx, a, crl)
			if !readable(err) {
				if !errors.Is(err, ErrUnreadable) {
					return err
				}
				s.refused(a, crl, err)
				bad = append(bad, crl)
			}
		}
		if len(bad) > 0 {
			return &RefProblem{Msg: "Could not retrieve certificate: " + pyStrList(bad)}
		}
		caCerts, err := parsePEMCertificates(caPEM)
		if err != nil {
			s.refused(a, ca, err)
			return &RefProblem{Msg: "Validation failure: The client authentication CA certificate is invalid. It must be a valid x509 PEM format certificate. Error: " + err.Error()}
		}
		caCert := caCerts[0]
		granted = append(granted, ca)
		if crl != "" {
			list, err := ParseCRL(crlPEM)
			if err != nil {
				s.refused(a, crl, err)
				return &RefProblem{Msg: "Validation failure: The client authentication certificate revocation list is invalid. It must be a valid x509 PEM format certificate revocation list. Error: " + err.Error()}
			}
			if err := list.CheckSignatureFrom(caCert); err != nil {
				s.refused(a, crl, fmt.Errorf("not signed by the CA %s: %w", ca, err))
				return &RefProblem{Msg: "Validation failure: The CRL specified is not valid for client certificate authority reference supplied."}
			}
			granted = append(granted, crl)
		}
	}
	for _, ref := range granted {
		if err := s.GrantServiceIn(ctx, tx, project, ref); err != nil {
			return err
		}
	}
	return nil
}

// certificateForCaller reads a certificate with the caller's rights only
// (the service grant comes after).
func (s *Service) certificateForCaller(ctx context.Context, tx store.Tx, a Access, ref string) (*Certificate, error) {
	return s.CertificateIn(ctx, tx, Access{ProjectID: callerScope, Caller: a.Caller}, ref)
}

func (s *Service) secretForCaller(ctx context.Context, tx store.Tx, a Access, ref string) ([]byte, error) {
	return s.SecretIn(ctx, tx, Access{ProjectID: callerScope, Caller: a.Caller}, ref)
}

// callerScope marks an Access decided by its caller alone.
const callerScope = "\x00caller"
