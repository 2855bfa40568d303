package ha

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/netlab"
	"github.com/fulcrumlb/fulcrum/internal/vrrp/vrrplab"
)

// The failing run of TestFailingRunLeavesNothing: this test binary started again with these
// variables set.
const (
	failingModeEnv = "FULCRUM_HA_FAILING_MODE"
	failingOutEnv  = "FULCRUM_HA_FAILING_OUT"
)

// TestFailingRunLeavesNothing runs a test that starts a pair and then fails (t.Fatal), panics,
// or is killed outright (as by `go test -timeout`), and checks that no namespace, bridge,
// keepalived or node process of it is left: after a failure or a panic at once (the test's
// cleanup), after a kill once the processes have followed their parent (parent-death
// signals) and the next run's sweep has removed the namespaces.
func TestFailingRunLeavesNothing(t *testing.T) {
	if mode := os.Getenv(failingModeEnv); mode != "" {
		failingRun(t, mode)
		return
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{"fatal", "panic", "kill"} {
		t.Run(mode, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "lab")
			cmd := exec.Command(exe, "-test.run=^TestFailingRunLeavesNothing$", "-test.count=1", "-test.v")
			cmd.Env = append(os.Environ(), failingModeEnv+"="+mode, failingOutEnv+"="+out)
			output, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("the failing run passed:\n%s", output)
			}
			b, rerr := os.ReadFile(out)
			f := strings.Fields(string(b))
			if rerr != nil || len(f) != 2 {
				t.Fatalf("the failing run did not start its lab (%v):\n%s", rerr, output)
			}
			lab, dir := f[0], f[1]
			defer os.RemoveAll(dir) // a killed run cannot remove it
			if mode == "kill" {
				deadline := time.Now().Add(30 * time.Second)
				for processesLeft(lab, dir) {
					if time.Now().After(deadline) {
						t.Fatalf("processes of the killed run survive: %v", vrrplab.Leftovers(lab, dir))
					}
					time.Sleep(20 * time.Millisecond)
				}
				removed, err := netlab.Sweep(context.Background())
				if err != nil || !slices.Contains(removed, lab) {
					t.Errorf("sweep removed %v (%v), want lab %s among them", removed, err, lab)
				}
			}
			if left := vrrplab.Leftovers(lab, dir); len(left) > 0 {
				t.Errorf("after the %s run: %v\nits output:\n%s", mode, left, output)
			}
		})
	}
}

func processesLeft(lab, dir string) bool {
	for _, l := range vrrplab.Leftovers(lab, dir) {
		if strings.HasPrefix(l, "process ") {
			return true
		}
	}
	return false
}

// failingRun starts a pair, writes its lab name and data directory for the parent, and
// fails the way mode says.
func failingRun(t *testing.T, mode string) {
	l := startLab(t, 50*time.Millisecond)
	if err := os.WriteFile(os.Getenv(failingOutEnv), []byte(l.Net.Name+" "+l.Dir+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	switch mode {
	case "fatal":
		t.Fatal("deliberate failure: the pair must still be torn down")
	case "panic":
		panic("deliberate panic: the pair must still be torn down")
	case "kill":
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {}
	}
}
