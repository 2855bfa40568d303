package apiserver

import (
	"context"
	"errors"

	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/policy"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// KeyManager checks key-manager references inside the API's transaction, on
// behalf of the caller, for a load balancer of project: certs must name
// readable certificates, ca a PEM CA and crl a PEM CRL signed by it. A
// refusal is an error with a BadRequest() string method (Octavia's 400
// message); other errors are failures.
type KeyManager interface {
	CheckRefs(ctx context.Context, tx store.Tx, c policy.Caller, project string, certs []string, ca, crl string) error
}

// checkRefs asks the key manager about references; nothing to ask is a
// no-op.
func (s *Server) checkRefs(q *request, tx store.Tx, project string, certs []string, ca, crl string) error {
	if s.keys == nil || len(certs) == 0 && ca == "" {
		return nil
	}
	err := s.keys.CheckRefs(q.ctx, tx, q.caller, project, certs, ca, crl)
	var br interface{ BadRequest() string }
	if errors.As(err, &br) {
		return badRequest("%s", br.BadRequest())
	}
	return err
}

func refValue(r *string) string {
	if r == nil {
		return ""
	}
	return *r
}

// listenerCerts are a listener's certificate references in Octavia's order
// (SNI, then default).
func listenerCerts(l *lb.Listener) []string {
	out := append([]string(nil), l.SNIContainerRefs...)
	if r := refValue(l.DefaultTLSContainerRef); r != "" {
		out = append(out, r)
	}
	return out
}

// checkListenerRefs checks a new listener's references.
func (s *Server) checkListenerRefs(q *request, tx store.Tx, l *lb.Listener) error {
	return s.checkRefs(q, tx, l.ProjectID, listenerCerts(l), refValue(l.ClientCATLSContainerRef), refValue(l.ClientCRLContainerRef))
}

// checkListenerUpdateRefs checks the references a listener update sends
// (Octavia checks only those).
func (s *Server) checkListenerUpdateRefs(q *request, tx store.Tx, l *lb.Listener, o *object) error {
	var certs []string
	if o.has("sni_container_refs") {
		certs = append(certs, l.SNIContainerRefs...)
	}
	if o.has("default_tls_container_ref") && refValue(l.DefaultTLSContainerRef) != "" {
		certs = append(certs, *l.DefaultTLSContainerRef)
	}
	ca, crl := "", ""
	if o.has("client_ca_tls_container_ref") || o.has("client_crl_container_ref") {
		ca, crl = refValue(l.ClientCATLSContainerRef), refValue(l.ClientCRLContainerRef)
	}
	return s.checkRefs(q, tx, l.ProjectID, certs, ca, crl)
}

// checkPoolRefs checks a new pool's references.
func (s *Server) checkPoolRefs(q *request, tx store.Tx, p *lb.Pool) error {
	var certs []string
	if r := refValue(p.TLSContainerRef); r != "" {
		certs = []string{r}
	}
	return s.checkRefs(q, tx, p.ProjectID, certs, refValue(p.CATLSContainerRef), refValue(p.CRLContainerRef))
}

// checkPoolUpdateRefs checks the references a pool update sends.
func (s *Server) checkPoolUpdateRefs(q *request, tx store.Tx, p *lb.Pool, o *object) error {
	var certs []string
	if o.has("tls_container_ref") && refValue(p.TLSContainerRef) != "" {
		certs = []string{*p.TLSContainerRef}
	}
	ca, crl := "", ""
	if o.has("ca_tls_container_ref") || o.has("crl_container_ref") {
		ca, crl = refValue(p.CATLSContainerRef), refValue(p.CRLContainerRef)
	}
	return s.checkRefs(q, tx, p.ProjectID, certs, ca, crl)
}
