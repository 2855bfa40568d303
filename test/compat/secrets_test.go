package compat_test

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fulcrumlb/fulcrum/internal/testpki"
	pkcs12 "software.sslmate.com/src/go-pkcs12"
)

// testPKI is a CA and a server certificate signed by it.
type testPKI struct {
	caPEM, certPEM, keyPEM []byte
	p12                    []byte
}

func newTestPKI(t *testing.T, name string) *testPKI {
	t.Helper()
	ca := testpki.NewCA(t, "fulcrum test CA")
	leaf := ca.Leaf(t, name)
	p12, err := pkcs12.Modern.Encode(leaf.Key, leaf.Cert, []*x509.Certificate{ca.Cert}, "")
	if err != nil {
		t.Fatal(err)
	}
	return &testPKI{caPEM: ca.CertPEM(), certPEM: leaf.CertPEM(), keyPEM: leaf.KeyPEM(), p12: p12}
}

// TestOpenstackSecretCLI drives Debian's python3-barbicanclient through the
// Barbican subset with Keystone auth: a PKCS#12 secret stored, read back
// byte for byte, listed and deleted; a certificate container; a read ACL
// that lets another project's user read a secret it was refused before.
func TestOpenstackSecretCLI(t *testing.T) {
	needOpenstack(t)
	s := startServer(t, "--auth", "keystone")
	admin := func(args ...string) string {
		t.Helper()
		out, err := run(t, s.cloudEnv(), "openstack", args...)
		if err != nil {
			t.Fatalf("openstack %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(out)
	}
	pki := newTestPKI(t, "www.example.test")
	dir := t.TempDir()

	// PKCS#12 bundle, base64 over the wire as in Octavia's guide.
	href := admin("secret", "store", "--name", "web-cert", "--payload-content-type", "application/octet-stream",
		"--payload-content-encoding", "base64", "--payload", base64.StdEncoding.EncodeToString(pki.p12), "-f", "value", "-c", "Secret href")
	if !strings.HasPrefix(href, s.URL+"/key-manager/v1/secrets/") {
		t.Fatalf("secret href %q, want one under %s/key-manager/v1/secrets/", href, s.URL)
	}
	out := filepath.Join(dir, "back.p12")
	admin("secret", "get", href, "--file", out, "--payload_content_type", "application/octet-stream")
	if got, _ := os.ReadFile(out); !bytes.Equal(got, pki.p12) {
		t.Errorf("payload read back differs: %d bytes, want %d", len(got), len(pki.p12))
	}
	var meta map[string]any
	if err := json.Unmarshal([]byte(admin("secret", "get", href, "-f", "json")), &meta); err != nil {
		t.Fatal(err)
	}
	if meta["Name"] != "web-cert" || meta["Status"] != "ACTIVE" || meta["Secret type"] != "opaque" {
		t.Errorf("secret get: %v", meta)
	}
	if ct, _ := meta["Content types"].(map[string]any); ct["default"] != "application/octet-stream" {
		t.Errorf("content types %v, want default application/octet-stream", meta["Content types"])
	}
	if got := admin("secret", "list", "--name", "web-cert", "-f", "value", "-c", "Secret href"); got != href {
		t.Errorf("secret list --name web-cert: %q, want %q", got, href)
	}

	// A certificate container of PEM secrets.
	certHref := admin("secret", "store", "--name", "cert", "--payload", string(pki.certPEM), "--payload-content-type", "text/plain", "-f", "value", "-c", "Secret href")
	keyHref := admin("secret", "store", "--name", "key", "--payload", string(pki.keyPEM), "--payload-content-type", "text/plain", "-f", "value", "-c", "Secret href")
	if got := admin("secret", "get", certHref, "--payload", "-f", "value"); got != strings.TrimSpace(string(pki.certPEM)) {
		t.Errorf("text payload read back: %q", got)
	}
	cont := admin("secret", "container", "create", "--name", "tls", "--type", "certificate",
		"--secret", "certificate="+certHref, "--secret", "private_key="+keyHref, "-f", "value", "-c", "Container href")
	if !strings.Contains(cont, "/key-manager/v1/containers/") {
		t.Fatalf("container href %q", cont)
	}
	// -f json cannot print a container's datetimes in this client: shell.
	c := shellFields(admin("secret", "container", "get", cont, "-f", "shell"))
	if c["type"] != "certificate" || c["name"] != "tls" || c["status"] != "ACTIVE" || c["certificate"] != certHref || c["private_key"] != keyHref {
		t.Errorf("container get: %v", c)
	}
	if got := admin("secret", "container", "list", "-f", "value", "-c", "Name"); got != "tls" {
		t.Errorf("container list: %q", got)
	}
	// A certificate container needs its certificate.
	if out, err := run(t, s.cloudEnv(), "openstack", "secret", "container", "create", "--type", "certificate", "--secret", "private_key="+keyHref); err == nil ||
		!strings.Contains(out, "The minimum required reference name is 'certificate' for Certificate type") {
		t.Errorf("certificate container without certificate: %v\n%s", err, out)
	}

	// Another project's user: refused, then allowed by a read ACL.
	admin("project", "create", "other")
	admin("user", "create", "--project", "other", "--password", "other-secret", "other-user")
	admin("role", "add", "--project", "other", "--user", "other-user", "member")
	otherID := admin("user", "show", "other-user", "-f", "value", "-c", "id")
	otherEnv := []string{"OS_AUTH_URL=" + s.URL + "/identity/v3", "OS_IDENTITY_API_VERSION=3", "OS_AUTH_TYPE=password",
		"OS_USERNAME=other-user", "OS_PASSWORD=other-secret", "OS_PROJECT_NAME=other", "OS_USER_DOMAIN_NAME=Default",
		"OS_PROJECT_DOMAIN_NAME=Default", "OS_REGION_NAME=RegionOne", "OS_INTERFACE=public"}
	if out, err := run(t, otherEnv, "openstack", "secret", "get", certHref, "--payload"); err == nil || !strings.Contains(out, "Forbidden: ") {
		t.Errorf("other project's user reads the secret without an ACL: %v\n%s", err, out)
	}
	admin("acl", "user", "add", "--user", otherID, certHref)
	var acl []map[string]any
	if err := json.Unmarshal([]byte(admin("acl", "get", certHref, "-f", "json")), &acl); err != nil {
		t.Fatal(err)
	}
	if len(acl) != 1 || acl[0]["Operation Type"] != "read" || acl[0]["Project Access"] != true || len(acl[0]["Users"].([]any)) != 1 || acl[0]["Users"].([]any)[0] != otherID {
		t.Errorf("acl get: %v", acl)
	}
	if out, err := run(t, otherEnv, "openstack", "secret", "get", certHref, "--payload", "-f", "value"); err != nil || strings.TrimSpace(out) != strings.TrimSpace(string(pki.certPEM)) {
		t.Errorf("ACL user reads the secret: %v\n%s", err, out)
	}
	if out, err := run(t, otherEnv, "openstack", "secret", "delete", certHref); err == nil || !strings.Contains(out, "Forbidden: ") {
		t.Errorf("ACL user deletes the secret: %v\n%s", err, out)
	}
	admin("acl", "user", "remove", "--user", otherID, certHref)
	if out, err := run(t, otherEnv, "openstack", "secret", "get", certHref, "--payload"); err == nil || !strings.Contains(out, "Forbidden: ") {
		t.Errorf("after the ACL user is removed: %v\n%s", err, out)
	}

	// Deletes: the container, then the secrets.
	admin("secret", "container", "delete", cont)
	for _, h := range []string{href, certHref, keyHref} {
		admin("secret", "delete", h)
	}
	if got := admin("secret", "list", "-f", "value"); got != "" {
		t.Errorf("secrets left after delete: %q", got)
	}
	if out, err := run(t, s.cloudEnv(), "openstack", "secret", "get", href); err == nil || !strings.Contains(out, "Secret not found") {
		t.Errorf("deleted secret: %v\n%s", err, out)
	}
}

// shellFields parses the CLI's -f shell output (name="value" lines).
func shellFields(out string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		k, v, ok := strings.Cut(line, "=")
		if ok {
			m[k] = strings.Trim(v, `"`)
		}
	}
	return m
}
