package apiserver_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	pkcs12 "software.sslmate.com/src/go-pkcs12"

	"github.com/fulcrumlb/fulcrum/internal/apiserver"
	"github.com/fulcrumlb/fulcrum/internal/policy"
	"github.com/fulcrumlb/fulcrum/internal/secrets"
)

// tlsCallerAuth is a non-admin caller from test headers (X-Project-Id, X-User-Id,
// X-Roles), as Keystone would give.
type tlsCallerAuth struct{}

func (tlsCallerAuth) Authenticate(r *http.Request) (policy.Caller, error) {
	c := policy.Caller{ProjectID: r.Header.Get("X-Project-Id"), UserID: r.Header.Get("X-User-Id")}
	if v := r.Header.Get("X-Roles"); v != "" {
		c.Roles = strings.Split(v, ",")
	}
	return c, nil
}

type pki struct {
	ca    *x509.Certificate
	caKey *ecdsa.PrivateKey
}

func newPKI(t *testing.T) *pki {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ca"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	ca, _ := x509.ParseCertificate(der)
	return &pki{ca: ca, caKey: key}
}

func (p *pki) caPEM() string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.ca.Raw}))
}

func (p *pki) p12(t *testing.T, pass string) []byte {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "www.example.test"}, DNSNames: []string{"www.example.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.caKey)
	leaf, _ := x509.ParseCertificate(der)
	b, err := pkcs12.Modern.Encode(key, leaf, nil, pass)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (p *pki) crl(t *testing.T) string {
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{Number: big.NewInt(1), ThisUpdate: time.Now(), NextUpdate: time.Now().Add(time.Hour)}, p.ca, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der}))
}

// TestListenerAndPoolTLSReferences checks references at create and update
// against the real Barbican subset on the same store, with Octavia's
// messages.
func TestListenerAndPoolTLSReferences(t *testing.T) {
	var svc *secrets.Service
	h := newHarness(t, harnessOpts{tweak: func(o *apiserver.Options) {
		keys, err := secrets.OpenKeyRing(filepath.Join(t.TempDir(), "keys"))
		if err != nil {
			t.Fatal(err)
		}
		svc, err = secrets.New(secrets.Options{Store: o.Store, Keys: keys})
		if err != nil {
			t.Fatal(err)
		}
		o.KeyManager, o.Auth = svc, tlsCallerAuth{}
	}})
	km := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := tlsCallerAuth{}.Authenticate(r)
		svc.ServeHTTP(w, r.WithContext(policy.WithCaller(r.Context(), c)))
	}))
	t.Cleanup(km.Close)
	member := []string{"X-Project-Id", "p1", "X-User-Id", "alice", "X-Roles", "member"}
	store := func(hdr []string, payload, ct string) string {
		body := map[string]any{"payload": payload, "payload_content_type": ct}
		if ct == "application/octet-stream" {
			body["payload_content_encoding"] = "base64"
		}
		data, _ := json.Marshal(body)
		req, _ := http.NewRequest("POST", km.URL+"/key-manager/v1/secrets", strings.NewReader(string(data)))
		req.Header.Set("Content-Type", "application/json")
		for i := 0; i < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil || res.StatusCode != 201 {
			t.Fatalf("store secret: %v %v", res, err)
		}
		defer res.Body.Close()
		var out map[string]string
		json.NewDecoder(res.Body).Decode(&out)
		return out["secret_ref"]
	}
	p := newPKI(t)
	other := newPKI(t)
	good := store(member, base64.StdEncoding.EncodeToString(p.p12(t, "")), "application/octet-stream")
	locked := store(member, base64.StdEncoding.EncodeToString(p.p12(t, "secret")), "application/octet-stream")
	caRef := store(member, p.caPEM(), "text/plain")
	crlRef := store(member, p.crl(t), "text/plain")
	otherCRL := store(member, other.crl(t), "text/plain")
	notPEM := store(member, "not a certificate", "text/plain")
	mallet := []string{"X-Project-Id", "p2", "X-User-Id", "mallet", "X-Roles", "member"}
	foreign := store(mallet, base64.StdEncoding.EncodeToString(p.p12(t, "")), "application/octet-stream")
	missing := km.URL + "/key-manager/v1/secrets/00000000-0000-4000-8000-000000000000"

	lbID := h.must(201, "POST", "/v2/lbaas/loadbalancers", map[string]any{"loadbalancer": map[string]any{
		"vip_subnet_id": "6a0a707c-45ef-4758-b533-e55adddba8ce"}}, member...).obj("loadbalancer")["id"].(string)
	port := 1000
	listener := func(extra map[string]any) map[string]any {
		port++
		l := map[string]any{"loadbalancer_id": lbID, "protocol": "TERMINATED_HTTPS", "protocol_port": port}
		for k, v := range extra {
			l[k] = v
		}
		return map[string]any{"listener": l}
	}
	const pkcs12Msg = "The PKCS12 bundle is unreadable. Please check the PKCS12 bundle validity. In addition, make sure it does not require a pass phrase. Error: "
	tests := []struct {
		name string
		body map[string]any
		code int
		msg  string // exact, or a prefix when it ends with ": "
	}{
		{"missing default certificate", listener(map[string]any{"default_tls_container_ref": missing}), 400, "Could not retrieve certificate: ['" + missing + "']"},
		{"SNI listed before the default", listener(map[string]any{"default_tls_container_ref": missing, "sni_container_refs": []string{good, foreign}}), 400,
			"Could not retrieve certificate: ['" + foreign + "', '" + missing + "']"},
		{"PKCS#12 with a passphrase", listener(map[string]any{"default_tls_container_ref": locked}), 400, pkcs12Msg},
		{"client CA not a certificate", listener(map[string]any{"default_tls_container_ref": good, "client_ca_tls_container_ref": notPEM, "client_authentication": "MANDATORY"}), 400,
			"Validation failure: The client authentication CA certificate is invalid. It must be a valid x509 PEM format certificate. Error: "},
		{"unreadable client CA and CRL", listener(map[string]any{"default_tls_container_ref": good, "client_ca_tls_container_ref": missing, "client_crl_container_ref": foreign}), 400,
			"Could not retrieve certificate: ['" + missing + "', '" + foreign + "']"},
		{"CRL of another CA", listener(map[string]any{"default_tls_container_ref": good, "client_ca_tls_container_ref": caRef, "client_crl_container_ref": otherCRL}), 400,
			"Validation failure: The CRL specified is not valid for client certificate authority reference supplied."},
		{"everything readable", listener(map[string]any{"default_tls_container_ref": good, "sni_container_refs": []string{good},
			"client_ca_tls_container_ref": caRef, "client_crl_container_ref": crlRef, "client_authentication": "OPTIONAL"}), 201, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := h.do("POST", "/v2/lbaas/listeners", tc.body, member...)
			got := r.fault()
			ok := r.status == tc.code && (got == tc.msg || strings.HasSuffix(tc.msg, ": ") && strings.HasPrefix(got, tc.msg))
			if !ok {
				t.Errorf("got %d %q, want %d %q", r.status, got, tc.code, tc.msg)
			}
		})
	}

	// A reference to another project's secret that the caller may read
	// through an ACL is accepted, and the service gets read access too.
	aclReq, _ := http.NewRequest("PUT", foreign+"/acl", strings.NewReader(`{"read": {"users": ["alice"]}}`))
	aclReq.Header.Set("Content-Type", "application/json")
	for i := 0; i < len(mallet); i += 2 {
		aclReq.Header.Set(mallet[i], mallet[i+1])
	}
	if res, err := http.DefaultClient.Do(aclReq); err != nil || res.StatusCode != 200 {
		t.Fatalf("ACL: %v %v", res, err)
	}
	lid := h.must(201, "POST", "/v2/lbaas/listeners", listener(map[string]any{"default_tls_container_ref": foreign}), member...).obj("listener")["id"].(string)
	if _, err := svc.Certificate(t.Context(), secrets.Access{ProjectID: "p1"}, foreign); err != nil {
		t.Errorf("the service cannot read the ACL'd secret after the listener accepted it: %v", err)
	}

	// Updates check the references they send.
	r := h.do("PUT", "/v2/lbaas/listeners/"+lid, map[string]any{"listener": map[string]any{"sni_container_refs": []string{missing}}}, member...)
	if r.status != 400 || r.fault() != "Could not retrieve certificate: ['"+missing+"']" {
		t.Errorf("listener update with a missing SNI reference: %d %s", r.status, r.raw)
	}
	h.must(200, "PUT", "/v2/lbaas/listeners/"+lid, map[string]any{"listener": map[string]any{"name": "renamed"}}, member...)

	// Pools.
	pool := func(extra map[string]any) map[string]any {
		p := map[string]any{"loadbalancer_id": lbID, "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN", "tls_enabled": true}
		for k, v := range extra {
			p[k] = v
		}
		return map[string]any{"pool": p}
	}
	if r := h.do("POST", "/v2/lbaas/pools", pool(map[string]any{"tls_container_ref": missing}), member...); r.status != 400 || r.fault() != "Could not retrieve certificate: ['"+missing+"']" {
		t.Errorf("pool with a missing client certificate: %d %s", r.status, r.raw)
	}
	if r := h.do("POST", "/v2/lbaas/pools", pool(map[string]any{"ca_tls_container_ref": caRef, "crl_container_ref": otherCRL}), member...); r.status != 400 ||
		r.fault() != "Validation failure: The CRL specified is not valid for client certificate authority reference supplied." {
		t.Errorf("pool CRL of another CA: %d %s", r.status, r.raw)
	}
	pid := h.must(201, "POST", "/v2/lbaas/pools", pool(map[string]any{"tls_container_ref": good, "ca_tls_container_ref": caRef, "crl_container_ref": crlRef}), member...).obj("pool")["id"].(string)
	if r := h.do("PUT", "/v2/lbaas/pools/"+pid, map[string]any{"pool": map[string]any{"ca_tls_container_ref": notPEM, "crl_container_ref": nil}}, member...); r.status != 400 ||
		!strings.HasPrefix(r.fault(), "Validation failure: The client authentication CA certificate is invalid.") {
		t.Errorf("pool update with a bad CA: %d %s", r.status, r.raw)
	}
}
