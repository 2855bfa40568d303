package engine

import (
	"fmt"
	"os"
	"os/exec"
	"testing"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
)

// TestH2Spec runs h2spec (github.com/summerwind/h2spec, the HTTP/2 conformance suite)
// against an h2c (HTTP) and a TERMINATED_HTTPS listener when FULCRUM_H2SPEC names its
// binary (`GOBIN=/tmp go install github.com/summerwind/h2spec/cmd/h2spec@latest`);
// skipped otherwise.
func TestH2Spec(t *testing.T) {
	bin := os.Getenv("FULCRUM_H2SPEC")
	if bin == "" {
		t.Skip("FULCRUM_H2SPEC is not set")
	}
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
	}{{"h2c", []string{"-p", fmt.Sprint(plain)}}, {"tls", []string{"-p", fmt.Sprint(tlsPort), "-t", "-k"}}} {
		out, err := exec.Command(bin, append(run.args, "-h", "127.0.0.1", "-o", "5")...).CombinedOutput()
		t.Logf("%s:\n%s", run.name, out)
		if err != nil {
			t.Errorf("h2spec %s: %v", run.name, err)
		}
	}
}
