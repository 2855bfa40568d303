package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	pkcs12 "software.sslmate.com/src/go-pkcs12"
)

// e2eCA issues server certificates for the TLS end-to-end test.
type e2eCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newE2ECA(t *testing.T) *e2eCA {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "e2e CA"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return &e2eCA{cert: c, key: key}
}

// bundle returns a PKCS#12 bundle (no passphrase) of a new certificate for
// name with serial, and the certificate.
func (ca *e2eCA) bundle(t *testing.T, name string, serial int64) ([]byte, *x509.Certificate) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	p12, err := pkcs12.Modern.Encode(key, leaf, []*x509.Certificate{ca.cert}, "")
	if err != nil {
		t.Fatal(err)
	}
	return p12, leaf
}

// storeSecret stores a PKCS#12 bundle through the Barbican subset.
func storeSecret(t *testing.T, a *api, name string, p12 []byte) string {
	t.Helper()
	r := a.must(t, "POST", "/key-manager/v1/secrets", map[string]any{"name": name, "payload": base64.StdEncoding.EncodeToString(p12),
		"payload_content_type": "application/octet-stream", "payload_content_encoding": "base64"}, 201)
	href, _ := r.body["secret_ref"].(string)
	return href
}

// caseTerminatedHTTPS: PKCS#12 secrets through the Barbican API, a TERMINATED_HTTPS
// listener using them (a default certificate and one chosen by SNI), HTTPS through the
// VIP verified against the test CA, X-Forwarded-Proto set by the engine (a client's copy
// replaced), the listener's own stats; then the listener's default_tls_container_ref is
// replaced while clients keep sending requests: new handshakes get the new certificate
// after the hot apply, and no request fails.
func caseTerminatedHTTPS(t *testing.T, s *engineServer) {
	a := s.a
	ca := newE2ECA(t)
	const name, sniName = "www.example.test", "api.example.test"
	p12a, leafA := ca.bundle(t, name, 10)
	p12b, leafB := ca.bundle(t, name, 11)
	p12sni, leafSNI := ca.bundle(t, sniName, 12)
	hrefA, hrefB, hrefSNI := storeSecret(t, a, "cert-a", p12a), storeSecret(t, a, "cert-b", p12b), storeSecret(t, a, "cert-sni", p12sni)
	b := startBackend(t, "member")

	r := a.newLB(t, map[string]any{"name": "tls"})
	lbID, vip := r.id("loadbalancer"), r.field("loadbalancer", "vip_address")
	a.waitStatus(t, lbID, "ACTIVE", 30*time.Second)
	port := freePort(t)
	// An unreadable reference is refused the way Octavia refuses it.
	bad := s.srv.URL + "/key-manager/v1/secrets/00000000-0000-4000-8000-000000000000"
	r = a.must(t, "POST", "/v2/lbaas/listeners", map[string]any{"listener": map[string]any{"loadbalancer_id": lbID,
		"protocol": "TERMINATED_HTTPS", "protocol_port": port, "default_tls_container_ref": bad}}, 400)
	if got := r.body["faultstring"]; got != "Could not retrieve certificate: ['"+bad+"']" {
		t.Errorf("unreadable reference: %v", got)
	}
	listener := a.must(t, "POST", "/v2/lbaas/listeners", map[string]any{"listener": map[string]any{"loadbalancer_id": lbID,
		"protocol": "TERMINATED_HTTPS", "protocol_port": port, "default_tls_container_ref": hrefA, "sni_container_refs": []string{hrefSNI},
		"insert_headers": map[string]string{"X-Forwarded-Proto": "true"}}}, 201).id("listener")
	a.must(t, "POST", "/v2/lbaas/pools", map[string]any{"pool": map[string]any{"listener_id": listener, "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}}, 201)
	pool := a.must(t, "GET", "/v2/lbaas/listeners/"+listener, nil, 200).body["listener"].(map[string]any)["default_pool_id"].(string)
	a.must(t, "POST", "/v2/lbaas/pools/"+pool+"/members", map[string]any{"member": map[string]any{"address": "127.0.0.1", "protocol_port": b.port}}, 201)
	a.waitStatus(t, lbID, "ACTIVE", 30*time.Second)

	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)
	addr := net.JoinHostPort(vip, strconv.Itoa(port))
	// The client names www.example.test and connects to the VIP (curl --resolve).
	newClient := func(keepAlive bool) *http.Client {
		d := &net.Dialer{Timeout: 2 * time.Second}
		return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return d.DialContext(ctx, network, addr)
			},
			TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: name}, DisableKeepAlives: !keepAlive}}
	}
	url := "https://" + name + ":" + strconv.Itoa(port) + "/"
	leafOf := func() *x509.Certificate {
		resp, err := newClient(false).Get(url)
		if err != nil {
			return nil
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || string(body) != "member" {
			t.Errorf("HTTPS through the VIP: %d %q", resp.StatusCode, body)
		}
		return resp.TLS.PeerCertificates[0]
	}
	deadline := time.Now().Add(20 * time.Second)
	var got *x509.Certificate
	for got == nil && time.Now().Before(deadline) {
		if got = leafOf(); got == nil {
			time.Sleep(20 * time.Millisecond)
		}
	}
	if got == nil || !got.Equal(leafA) {
		t.Fatalf("served %v, want certificate A (serial 10)", got)
	}
	// SNI: naming the other name gets its certificate.
	if c, body := hapHTTPS(addr, sniName, roots); c == nil || !c.Equal(leafSNI) || body != "member" {
		t.Fatalf("naming %s: certificate %v, body %q; want the SNI certificate (serial 12)", sniName, c, body)
	}
	// X-Forwarded-Proto is the engine's, whatever the client sent.
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("X-Forwarded-Proto", "http")
	if resp, err := newClient(false).Do(req); err != nil {
		t.Fatal(err)
	} else {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	var got1 []string
	if h := b.last.Load(); h != nil {
		got1 = (*h)["X-Forwarded-Proto"]
	}
	if len(got1) != 1 || got1[0] != "https" {
		t.Errorf("the member got X-Forwarded-Proto %q, want [https] only", got1)
	}
	// The listener's own stats count its connections (at least the three above).
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		st := a.must(t, "GET", "/v2/lbaas/listeners/"+listener+"/stats", nil, 200).body["stats"].(map[string]any)
		if number(st, "total_connections") >= 3 && number(st, "bytes_out") > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("TERMINATED_HTTPS listener stats never counted 3 connections: %v", st)
		}
	}

	// Load during the change: one keep-alive client and one new connection per request.
	var ok, failed atomic.Int64
	var failures sync.Map
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, keep := range []bool{true, false} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := newClient(keep)
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := c.Get(url)
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
				}
				if err != nil {
					failed.Add(1)
					failures.Store(err.Error(), true)
					continue
				}
				ok.Add(1)
			}
		}()
	}
	// waitOK waits until n requests have gone through: the change happens
	// under load, and load goes on after it, however slow the machine.
	waitOK := func(n int64) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); ok.Load() < n; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				close(stop)
				wg.Wait()
				failures.Range(func(k, _ any) bool { t.Errorf("request failed: %v", k); return true })
				t.Fatalf("only %d of %d requests went through in 30s", ok.Load(), n)
			}
		}
	}
	waitOK(10)
	a.must(t, "PUT", "/v2/lbaas/listeners/"+listener, map[string]any{"listener": map[string]any{"default_tls_container_ref": hrefB}}, 200)
	a.waitStatus(t, lbID, "ACTIVE", 30*time.Second)
	swapped := false
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if c := leafOf(); c != nil && c.Equal(leafB) {
			swapped = true
			break
		}
	}
	waitOK(ok.Load() + 10)
	close(stop)
	wg.Wait()
	if !swapped {
		t.Fatal("new handshakes never served certificate B after the update")
	}
	t.Logf("%d requests during the certificate change, %d failed", ok.Load(), failed.Load())
	if failed.Load() > 0 {
		failures.Range(func(k, _ any) bool { t.Errorf("request failed during the change: %v", k); return true })
	}

	// Deleting the secret in use re-publishes the load balancer: it cannot be
	// compiled any more, so it goes ERROR with the reason, while the data
	// plane keeps serving the certificate it has.
	a.must(t, "DELETE", "/key-manager/v1/secrets/"+hrefB[len(hrefB)-36:], nil, 204)
	a.waitStatus(t, lbID, "ERROR", 30*time.Second)
	if c := leafOf(); c == nil || !c.Equal(leafB) {
		t.Errorf("after the secret was deleted the listener serves %v, want certificate B still", c)
	}
}
