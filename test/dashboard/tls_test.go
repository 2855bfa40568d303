package dashboard

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	pkcs12 "software.sslmate.com/src/go-pkcs12"

	"github.com/fulcrumlb/fulcrum/internal/testpki"
)

// TestDashboardWizardTerminatedHTTPS: a member stores a PKCS#12 bundle in
// the key manager; the wizard offers it by name for a TERMINATED_HTTPS
// listener, and once the load balancer is ACTIVE, HTTPS through the VIP
// presents that certificate and reaches the member.
func TestDashboardWizardTerminatedHTTPS(t *testing.T) {
	c := newCloud(t)
	_, pw := c.user(t, "tls", "tina", "member")
	tina := c.login(t, "tina", pw, "tls")
	const host = "www.example.test"
	ca := testpki.NewCA(t, "dashboard CA")
	leaf := ca.Leaf(t, host)
	p12, err := pkcs12.Modern.Encode(leaf.Key, leaf.Cert, []*x509.Certificate{ca.Cert}, "")
	if err != nil {
		t.Fatal(err)
	}
	ref := str(tina.must(t, "POST", "/key-manager/v1/secrets", map[string]any{"name": "www-cert",
		"payload": base64.StdEncoding.EncodeToString(p12), "payload_content_type": "application/octet-stream",
		"payload_content_encoding": "base64"}, 201).body, "secret_ref")
	b := startBackend(t, "127.0.0.1", "secure")
	port := freePort(t)

	p := newPage(t)
	loginUI(t, p, c, "tina", pw, "tls")
	p.goTo("#/wizard")
	p.waitFor("wizard step 1", `document.querySelector("#wizard[data-step='Load balancer'] #f-name")`, 60*time.Second)
	p.fill("#f-name", "secure")
	p.choose("#f-vip_subnet_id", tina.privateSubnet(t))
	p.click(`#wizard button[data-action=next]`)
	p.waitFor("wizard step 2", `document.querySelector("#wizard[data-step='Listener'] #f-default_tls_container_ref")`, 60*time.Second)
	p.fill("#f-name", "https")
	p.choose("#f-protocol", "TERMINATED_HTTPS")
	p.fill("#f-protocol_port", strconv.Itoa(port))
	p.textIs("certificate offered by name", `#f-default_tls_container_ref option[value="`+ref+`"]`, "secret www-cert")
	p.choose("#f-default_tls_container_ref", ref)
	p.click(`#wizard button[data-action=next]`)
	p.waitFor("wizard step 3", `document.querySelector("#wizard[data-step='Pool'] #f-protocol")`, 60*time.Second)
	if got := p.text("#f-protocol option:checked"); got != "HTTP" {
		t.Fatalf("pool protocol proposed for TERMINATED_HTTPS: %q, want HTTP", got)
	}
	p.click(`#wizard button[data-action=next]`)
	p.waitFor("wizard step 4", `document.querySelector("#wizard[data-step='Members'] #f-address")`, 60*time.Second)
	p.fill("#f-address", b.addr)
	p.fill("#f-protocol_port", strconv.Itoa(b.port))
	p.click(`#wizard button[data-action=next]`)
	p.waitFor("member added", `document.querySelectorAll("#added-members tbody tr").length === 1`, 60*time.Second)
	p.click(`#wizard button[data-action=members-done]`)
	p.click(`#wizard button[data-action=skip]`)
	p.waitFor("wizard done", `document.querySelector("#wizard-done")`, 60*time.Second)
	p.click(`a[data-action=open-lb]`)
	p.waitFor("load balancer ACTIVE", `document.querySelector("[data-attr=provisioning_status] [data-status=ACTIVE]")`, 90*time.Second)
	var vip string
	p.eval(`document.querySelector("[data-attr=vip_address] td").textContent`, &vip)
	p.checkConsole("TLS wizard")

	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	addr := net.JoinHostPort(vip, strconv.Itoa(port))
	d := &net.Dialer{Timeout: 2 * time.Second}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		},
		TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: host}, DisableKeepAlives: true}}
	deadline := time.Now().Add(90 * time.Second)
	for {
		resp, err := client.Get("https://" + host + "/")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || string(body) != "secure" || !resp.TLS.PeerCertificates[0].Equal(leaf.Cert) {
				t.Fatalf("HTTPS through the VIP: %d %q", resp.StatusCode, body)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no HTTPS through %s: %v", addr, err)
		}
		time.Sleep(100 * time.Millisecond) // poll interval
	}
}
