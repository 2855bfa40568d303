package change

import "github.com/fulcrumlb/fulcrum/internal/lb"

// Key-manager references are checked when they are set, as Octavia asks
// Barbican: all of a new object's, and on an update only those the request
// sends (even unchanged).

// checkRefs asks the key manager about references; nothing to ask is a
// no-op.
func (t *txn) checkRefs(project string, certs []string, ca, crl string) error {
	if t.w.keys == nil || len(certs) == 0 && ca == "" {
		return nil
	}
	return t.w.keys.CheckRefs(t.ctx, t.tx, project, certs, ca, crl)
}

func refValue(r *string) string {
	if r == nil {
		return ""
	}
	return *r
}

// checkListenerRefs checks a new listener's references (SNI, then default:
// Octavia's order).
func (t *txn) checkListenerRefs(l *lb.Listener) error {
	certs := append([]string(nil), l.SNIContainerRefs...)
	if r := refValue(l.DefaultTLSContainerRef); r != "" {
		certs = append(certs, r)
	}
	return t.checkRefs(l.ProjectID, certs, refValue(l.ClientCATLSContainerRef), refValue(l.ClientCRLContainerRef))
}

// checkListenerUpdateRefs checks the references a listener update sends.
func (t *txn) checkListenerUpdateRefs(l *lb.Listener, sent Sent) error {
	var certs []string
	if sent.has("sni_container_refs") {
		certs = append(certs, l.SNIContainerRefs...)
	}
	if sent.has("default_tls_container_ref") && refValue(l.DefaultTLSContainerRef) != "" {
		certs = append(certs, *l.DefaultTLSContainerRef)
	}
	ca, crl := "", ""
	if sent.has("client_ca_tls_container_ref") || sent.has("client_crl_container_ref") {
		ca, crl = refValue(l.ClientCATLSContainerRef), refValue(l.ClientCRLContainerRef)
	}
	return t.checkRefs(l.ProjectID, certs, ca, crl)
}

// checkPoolRefs checks a new pool's references.
func (t *txn) checkPoolRefs(p *lb.Pool) error {
	var certs []string
	if r := refValue(p.TLSContainerRef); r != "" {
		certs = []string{r}
	}
	return t.checkRefs(p.ProjectID, certs, refValue(p.CATLSContainerRef), refValue(p.CRLContainerRef))
}

// checkPoolUpdateRefs checks the references a pool update sends.
func (t *txn) checkPoolUpdateRefs(p *lb.Pool, sent Sent) error {
	var certs []string
	if sent.has("tls_container_ref") && refValue(p.TLSContainerRef) != "" {
		certs = []string{*p.TLSContainerRef}
	}
	ca, crl := "", ""
	if sent.has("ca_tls_container_ref") || sent.has("crl_container_ref") {
		ca, crl = refValue(p.CATLSContainerRef), refValue(p.CRLContainerRef)
	}
	return t.checkRefs(p.ProjectID, certs, ca, crl)
}
