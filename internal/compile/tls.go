package compile

import (
	"slices"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
	"github.com/fulcrumlb/fulcrum/internal/lb"
)

// TLSMaterial is what a graph's key-manager references stand for, resolved by
// the caller before compiling (compiling itself reads nothing).
type TLSMaterial struct {
	// Certificates are the certificates with their keys, by reference:
	// listeners' default and SNI certificates, pools' client certificates.
	Certificates map[string]dataplane.Certificate
	// PEM are PEM documents by reference: client CA bundles and CRLs of
	// listeners, CA bundles and CRLs of pools.
	PEM map[string]string
	// Errors say why a reference could not be resolved, for the message of the
	// refusal when the graph needs it.
	Errors map[string]string
}

// TLSRefs lists the references whose material Options.TLS must hold for g:
// certificates (with keys) and PEM documents, each once, in graph order.
func TLSRefs(g *lb.Graph) (certificates, pems []string) {
	add := func(list *[]string, ref *string) {
		if ref != nil && *ref != "" && !slices.Contains(*list, *ref) {
			*list = append(*list, *ref)
		}
	}
	for _, l := range g.Listeners {
		if !l.TLSCapable() {
			continue
		}
		add(&certificates, l.DefaultTLSContainerRef)
		for i := range l.SNIContainerRefs {
			add(&certificates, &l.SNIContainerRefs[i])
		}
		add(&pems, l.ClientCATLSContainerRef)
		add(&pems, l.ClientCRLContainerRef)
	}
	for _, p := range g.Pools {
		if !p.TLSEnabled {
			continue
		}
		add(&certificates, p.TLSContainerRef)
		add(&pems, p.CATLSContainerRef)
		add(&pems, p.CRLContainerRef)
	}
	return certificates, pems
}

func (m *TLSMaterial) certificate(object, ref string) (dataplane.Certificate, error) {
	c, ok := m.Certificates[ref]
	if !ok {
		return c, m.missing(object, ref)
	}
	c.ID = ref
	return c, nil
}

func (m *TLSMaterial) pem(object, ref string) (string, error) {
	p, ok := m.PEM[ref]
	if !ok {
		return "", m.missing(object, ref)
	}
	return p, nil
}

func (m *TLSMaterial) missing(object, ref string) error {
	why := m.Errors[ref]
	if why == "" {
		why = "not resolved"
	}
	return &Unsupported{Object: object, What: "could not retrieve " + ref + " from the key manager: " + why}
}

// listenerTLS builds the TLS part of a TERMINATED_HTTPS listener.
func listenerTLS(li *lb.Listener, m *TLSMaterial) (*dataplane.ListenerTLS, error) {
	obj := "listener " + li.ID
	t := &dataplane.ListenerTLS{ClientAuthentication: li.ClientAuthentication, Ciphers: deref(li.TLSCiphers),
		Versions: append([]string(nil), li.TLSVersions...), ALPNProtocols: append([]string(nil), li.ALPNProtocols...),
		HSTSIncludeSubdomains: li.HSTSIncludeSubdomains, HSTSPreload: li.HSTSPreload}
	if t.ClientAuthentication == lb.ClientAuthNone {
		t.ClientAuthentication = ""
	}
	if li.HSTSMaxAge != nil {
		age := int64(*li.HSTSMaxAge)
		t.HSTSMaxAge = &age
	}
	if ref := deref(li.DefaultTLSContainerRef); ref != "" {
		c, err := m.certificate(obj, ref)
		if err != nil {
			return nil, err
		}
		t.DefaultCertificate = &c
	}
	for _, ref := range li.SNIContainerRefs {
		c, err := m.certificate(obj, ref)
		if err != nil {
			return nil, err
		}
		t.SNICertificates = append(t.SNICertificates, c)
	}
	var err error
	if ref := deref(li.ClientCATLSContainerRef); ref != "" {
		if t.ClientCA, err = m.pem(obj, ref); err != nil {
			return nil, err
		}
		if ref := deref(li.ClientCRLContainerRef); ref != "" {
			if t.ClientCRL, err = m.pem(obj, ref); err != nil {
				return nil, err
			}
		}
	}
	return t, nil
}

// poolTLS builds the re-encryption part of a tls_enabled pool.
func poolTLS(p *lb.Pool, m *TLSMaterial) (*dataplane.PoolTLS, error) {
	obj := "pool " + p.ID
	t := &dataplane.PoolTLS{Ciphers: deref(p.TLSCiphers), Versions: append([]string(nil), p.TLSVersions...),
		ALPNProtocols: append([]string(nil), p.ALPNProtocols...)}
	var err error
	if ref := deref(p.TLSContainerRef); ref != "" {
		c, err := m.certificate(obj, ref)
		if err != nil {
			return nil, err
		}
		t.ClientCertificate = &c
	}
	if ref := deref(p.CATLSContainerRef); ref != "" {
		if t.CA, err = m.pem(obj, ref); err != nil {
			return nil, err
		}
		if ref := deref(p.CRLContainerRef); ref != "" {
			if t.CRL, err = m.pem(obj, ref); err != nil {
				return nil, err
			}
		}
	}
	return t, nil
}
