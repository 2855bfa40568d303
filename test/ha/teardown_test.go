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
// signals) and the next run's sweep has removed the namespaces. The agents-* runs do the same
// with real fulcrum: a server, three agents (their engines in-process) and the keepalived of
// each member of an ACTIVE_STANDBY load balancer; a killed run's agents do not follow their
// parent, the next run's sweep kills them with their namespaces.
func TestFailingRunLeavesNothing(t *testing.T) {
	if mode := os.Getenv(failingModeEnv); mode != "" {
		failingRun(t, mode)
		return
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{"fatal", "panic", "kill", "agents-fatal", "agents-kill"} {
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
			if mode == "agents-kill" {
				removed, err := netlab.Sweep(context.Background())
				if err != nil || !slices.Contains(removed, lab) {
					t.Errorf("sweep removed %v (%v), want lab %s among them", removed, err, lab)
				}
			}
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
	var lab, dir string
	if agents, ok := strings.CutPrefix(mode, "agents-"); ok {
		l := startAgentLab(t)
		lab, dir, mode = l.Net.Name, l.Dir(), agents
		// Everything the teardown must end runs: the server, the agents, and keepalived on
		// both members.
		var server, agent, keepalived int
		for _, p := range vrrplab.Leftovers(lab, dir) {
			switch {
			case strings.Contains(p, "keepalived"):
				keepalived++
			case strings.Contains(p, " server "):
				server++
			case strings.Contains(p, " agent "):
				agent++
			}
		}
		if server != 1 || agent != len(l.Agents) || keepalived < 2 {
			t.Fatalf("before the failure: %d server, %d agent, %d keepalived processes, want 1, %d, at least 2: %v",
				server, agent, keepalived, len(l.Agents), vrrplab.Leftovers(lab, dir))
		}
	} else {
		l := startLab(t, 50*time.Millisecond)
		lab, dir = l.Net.Name, l.Dir
	}
	if err := os.WriteFile(os.Getenv(failingOutEnv), []byte(lab+" "+dir+"\n"), 0o600); err != nil {
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
