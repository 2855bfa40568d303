package engine

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
)

// h2specBinary finds h2spec (github.com/summerwind/h2spec, the HTTP/2 conformance suite),
// which test/install installs with `go install`: $FULCRUM_H2SPEC, the PATH, or the Go
// binary directory.
func h2specBinary(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("FULCRUM_H2SPEC"); bin != "" {
		return bin
	}
	if bin, err := exec.LookPath("h2spec"); err == nil {
		return bin
	}
	var dirs []string
	if out, err := exec.Command("go", "env", "GOBIN", "GOPATH").Output(); err == nil {
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if len(lines) == 2 {
			if lines[0] != "" {
				dirs = append(dirs, lines[0])
			}
			for _, p := range filepath.SplitList(lines[1]) {
				dirs = append(dirs, filepath.Join(p, "bin"))
			}
		}
	}
	for _, d := range dirs {
		if bin := filepath.Join(d, "h2spec"); fileExists(bin) {
			return bin
		}
	}
	t.Fatalf("h2spec not found (looked in $FULCRUM_H2SPEC, PATH, %v): test/install installs it", dirs)
	return ""
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// TestH2Spec runs h2spec against an h2c (HTTP) and a TERMINATED_HTTPS listener: every
// case must pass. On the HTTP listener the connection-preface section (RFC 9113 §3.4) is
// left out: a connection that does not start with the HTTP/2 preface is HTTP/1.1 there,
// and gets an HTTP/1.1 answer where h2spec wants the connection closed.
func TestH2Spec(t *testing.T) {
	bin := h2specBinary(t)
	ca := newTestCA(t, "h2spec CA")
	cert, _ := ca.issue(t, "h2.example.test", "h2.example.test")
	b := startBackend(t, "b1")
	e := newEngine(t, Options{})
	plain, tlsPort := freePort(t), freePort(t)
	mustApply(t, e, &dataplane.Config{Version: 1, Listeners: []dataplane.Listener{httpListener("l2", plain, "p1"),
		h2Listener(tlsPort, "p1", &cert, []string{"h2", "http/1.1"})},
		Pools: []dataplane.Pool{pool("p1", dataplane.ProtocolHTTP, dataplane.RoundRobin, b.member("m1"))}})
	for _, run := range []struct {
		name string
		args []string
	}{
		{"h2c", []string{"-p", fmt.Sprint(plain), "generic", "hpack", "http2/4", "http2/5", "http2/6", "http2/7", "http2/8"}},
		{"tls", []string{"-p", fmt.Sprint(tlsPort), "-t", "-k"}},
	} {
		// h2spec's own timeout per case: generous, the machine may be busy.
		out, err := exec.Command(bin, append(run.args, "-h", "127.0.0.1", "-o", "10")...).CombinedOutput()
		if err != nil || !strings.Contains(string(out), " 0 failed") {
			t.Errorf("h2spec %s: %v\n%s", run.name, err, out)
		}
	}
}
