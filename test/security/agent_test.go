package security

// The agent ↔ server boundary: who may become which agent (join tokens,
// names, --replace), what an agent does when the server refuses it or
// moves its load balancers away while it is out of contact, and how an
// agent settles two load balancers that claim one address. Agents are the
// real `fulcrum agent` binary; every address is on loopback.

import (
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/agentapi"
	"github.com/fulcrumlb/fulcrum/internal/dataplane"
	"github.com/fulcrumlb/fulcrum/internal/pki"
	"github.com/fulcrumlb/fulcrum/internal/servertest"
	"github.com/fulcrumlb/fulcrum/internal/snapshot"
	"github.com/fulcrumlb/fulcrum/internal/store"
	"github.com/fulcrumlb/fulcrum/internal/store/sqlstore"
)

// TestAgentUnnamedTokenCannotTakeOverAnIdentity: a join token issued
// without a name creates a new agent; it can neither become the server's
// embedded agent nor an enrolled agent, receives no certificate and no
// configuration (which carries TLS private keys), and leaves the genuine
// agents serving.
func TestAgentUnnamedTokenCannotTakeOverAnIdentity(t *testing.T) {
	c := newCloud(t, "--agent-heartbeat", "200ms", "--agent-dead-after", "2s")
	agentWaitUp(t, c, "embedded")
	agentStart(t, c.s.AgentURL, "node-1", agentToken(t, c.s.DataDir, "--name", "node-1"), t.TempDir())
	agentWaitUp(t, c, "node-1")
	be := agentBackend(t, "genuine")
	var urls []string
	owners := map[string]bool{}
	for i := 0; i < 2; i++ {
		id, url := agentLB(t, c.admin, agentFreePort(t), be)
		c.admin.waitLB(t, id, "ACTIVE", 30*time.Second)
		agentWaitBody(t, url, "genuine", 15*time.Second)
		urls = append(urls, url)
		owners[agentAmphora(t, c.admin, id)] = true
	}
	if !owners["embedded"] || !owners["node-1"] {
		t.Fatalf("load balancers placed on %v, want one on embedded and one on node-1", owners)
	}

	unnamed := agentToken(t, c.s.DataDir)
	for _, victim := range []string{"embedded", "node-1"} {
		dir := t.TempDir()
		out, exited, err := agentCLI(t, 20*time.Second, "agent", "--server", c.s.AgentURL, "--join-token", unnamed,
			"--data-dir", dir, "--name", victim, "--log-level", "info")
		if !exited || err == nil {
			t.Fatalf("an unnamed join token ran as agent %q (exited %v, %v):\n%s", victim, exited, err, out)
		}
		want := map[string]string{"embedded": "reserved for the server's embedded agent", "node-1": "in use"}[victim]
		if !strings.Contains(out, want) {
			t.Errorf("refusal to become %q does not say %q:\n%s", victim, want, out)
		}
		for _, f := range []string{"agent.crt", "agent.key", "config.json", "cache"} {
			if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
				t.Errorf("the refused impostor of %q got %s", victim, f)
			}
		}
	}
	// The genuine agents were not pushed out: for three dead windows their
	// load balancers stay ACTIVE and serve.
	for end := time.Now().Add(6 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		for _, u := range urls {
			if body, err := agentFetch(u); err != nil || body != "genuine" {
				t.Fatalf("after the takeover attempts %s answers %q, %v", u, body, err)
			}
		}
	}
	if agentLogLine(c.s.Logs(), "agent refused", "superseded") {
		t.Errorf("a genuine agent was superseded:\n%s", c.s.Logs())
	}
	// The refused attempts did not spend the token: it still creates a new
	// agent, once.
	agentStart(t, c.s.AgentURL, "node-fresh", unnamed, t.TempDir())
	agentWaitUp(t, c, "node-fresh")
	out, exited, err := agentCLI(t, 20*time.Second, "agent", "--server", c.s.AgentURL, "--join-token", unnamed,
		"--data-dir", t.TempDir(), "--name", "node-other")
	if !exited || err == nil || !strings.Contains(out, "already used") {
		t.Fatalf("a used join token enrolled again (exited %v, %v):\n%s", exited, err, out)
	}
}

// TestAgentNamedTokenIsBoundToItsName: a token names one agent; it cannot
// enroll another name, nor its own name once that name is in use (by an
// earlier enrollment, even through another token); the server's embedded
// agent's name is not for tokens; malformed names and expired tokens are
// refused.
func TestAgentNamedTokenIsBoundToItsName(t *testing.T) {
	c := newCloud(t, "--embedded-agent=false", "--agent-heartbeat", "200ms")
	dd := c.s.DataDir
	if out, err := servertest.Run(bin, "agent-token", "--data-dir", dd, "--name", "embedded"); err == nil || !strings.Contains(err.Error(), "reserved") {
		t.Fatalf("agent-token --name embedded: %q, %v; want a refusal saying the name is reserved", out, err)
	}
	for _, bad := range []string{"bad name", strings.Repeat("a", 65), "../etc", "-dash", "tab\tname", "née"} {
		if out, err := servertest.Run(bin, "agent-token", "--data-dir", dd, "--name", bad); err == nil || !strings.Contains(err.Error(), "agent name") {
			t.Errorf("agent-token --name %q: %q, %v; want a refusal naming the rule", bad, out, err)
		}
	}
	if out, exited, err := agentCLI(t, 20*time.Second, "agent", "--server", c.s.AgentURL, "--data-dir", t.TempDir(), "--name", "bad name"); !exited || err == nil || !strings.Contains(out, "agent name") {
		t.Errorf("agent --name 'bad name' (exited %v, %v):\n%s", exited, err, out)
	}
	if out, err := servertest.Run(bin, "agent-token", "--data-dir", dd, "--replace"); err == nil {
		t.Errorf("agent-token --replace without --name issued %q", out)
	}

	tok := agentToken(t, dd, "--name", "node-1")
	out, exited, err := agentCLI(t, 20*time.Second, "agent", "--server", c.s.AgentURL, "--join-token", tok, "--data-dir", t.TempDir(), "--name", "node-2")
	if !exited || err == nil || !strings.Contains(out, `for agent "node-1"`) {
		t.Fatalf("a token for node-1 enrolled node-2 (exited %v, %v):\n%s", exited, err, out)
	}
	agentStart(t, c.s.AgentURL, "node-1", tok, t.TempDir())
	agentWaitUp(t, c, "node-1")
	if out, err := servertest.Run(bin, "agent-token", "--data-dir", dd, "--name", "node-1"); err == nil || !strings.Contains(err.Error(), "--replace") {
		t.Fatalf("agent-token --name node-1 while node-1 is enrolled: %q, %v; want a refusal pointing at --replace", out, err)
	}

	// A token named for a free name loses it to whoever enrolls it first.
	late := agentToken(t, dd, "--name", "node-3")
	agentStart(t, c.s.AgentURL, "node-3", agentToken(t, dd), t.TempDir())
	agentWaitUp(t, c, "node-3")
	out, exited, err = agentCLI(t, 20*time.Second, "agent", "--server", c.s.AgentURL, "--join-token", late, "--data-dir", t.TempDir(), "--name", "node-3")
	if !exited || err == nil || !strings.Contains(out, "in use") {
		t.Fatalf("a named token took over node-3 after it was enrolled (exited %v, %v):\n%s", exited, err, out)
	}

	issued := time.Now()
	short := agentToken(t, dd, "--name", "node-4", "--ttl", "1s")
	time.Sleep(time.Until(issued.Add(1500 * time.Millisecond))) // wall-clock expiry, not synchronisation
	out, exited, err = agentCLI(t, 20*time.Second, "agent", "--server", c.s.AgentURL, "--join-token", short, "--data-dir", t.TempDir(), "--name", "node-4")
	if !exited || err == nil || !strings.Contains(out, "expired") {
		t.Fatalf("an expired token enrolled (exited %v, %v):\n%s", exited, err, out)
	}
	if out, err := servertest.Run(bin, "agent-token", "--data-dir", dd, "--name", "node-5", "--ttl", "-1h"); err == nil {
		t.Errorf("agent-token --ttl -1h issued %q", out)
	}
}

// TestAgentReplaceReenrollsAndIsLogged: `agent-token --name X --replace`
// is the one way to enroll a name in use. It cuts off the current
// certificate at once (that agent, refused, stops serving and exits), the
// server logs the re-enrollment, the new agent takes over X's load
// balancers, and the token works once.
func TestAgentReplaceReenrollsAndIsLogged(t *testing.T) {
	c := newCloud(t, "--embedded-agent=false", "--agent-heartbeat", "200ms", "--agent-dead-after", "3s")
	dd := c.s.DataDir
	old := agentStart(t, c.s.AgentURL, "node-1", agentToken(t, dd, "--name", "node-1"), t.TempDir())
	agentWaitUp(t, c, "node-1")
	id, url := agentLB(t, c.admin, agentFreePort(t), agentBackend(t, "replaced"))
	c.admin.waitLB(t, id, "ACTIVE", 30*time.Second)
	agentWaitBody(t, url, "replaced", 15*time.Second)

	tok := agentToken(t, dd, "--name", "node-1", "--replace")
	// The old agent is refused at its next contact and stops.
	select {
	case <-old.p.Done():
	case <-time.After(20 * time.Second):
		t.Fatalf("the replaced agent still runs 20s after --replace:\n%s", old.p.Logs())
	}
	if !strings.Contains(old.p.Logs(), "superseded") {
		t.Errorf("the replaced agent does not say why it stopped:\n%s", old.p.Logs())
	}
	for _, f := range []string{"config.json", "cache", "agent.key"} {
		if _, err := os.Stat(filepath.Join(old.dir, f)); err == nil {
			t.Errorf("the replaced agent kept %s", f)
		}
	}
	fresh := agentStart(t, c.s.AgentURL, "node-1", tok, t.TempDir())
	agentWaitLog(t, c.s.Logs, 20*time.Second, "agent re-enrolled", "agent=node-1")
	agentWaitBody(t, url, "replaced", 20*time.Second)
	c.admin.waitLB(t, id, "ACTIVE", 30*time.Second)
	if got := agentAmphora(t, c.admin, id); got != "node-1" {
		t.Errorf("load balancer on %q after the replacement, want node-1", got)
	}
	select {
	case <-fresh.p.Done():
		t.Fatalf("the replacement agent exited:\n%s", fresh.p.Logs())
	default:
	}
	out, exited, err := agentCLI(t, 20*time.Second, "agent", "--server", c.s.AgentURL, "--join-token", tok, "--data-dir", t.TempDir(), "--name", "node-1")
	if !exited || err == nil || !strings.Contains(out, "already used") {
		t.Fatalf("the replace token worked twice (exited %v, %v):\n%s", exited, err, out)
	}
}

// TestAgentRevokedStopsServingButServerOutageDoesNot: the rule for the
// data plane when the control plane says no. A server that is merely gone
// (SIGKILL) takes no traffic down, also across an agent restart; a server
// that refuses the agent (agent-revoke) makes it stop serving within a
// bound, drop its cached config and stay dark when restarted.
func TestAgentRevokedStopsServingButServerOutageDoesNot(t *testing.T) {
	port := agentFreePort(t)
	c := newCloud(t, "--embedded-agent=false", "--agent-listen", "127.0.0.1:"+strconv.Itoa(port),
		"--agent-heartbeat", "200ms", "--agent-dead-after", "1s")
	dd := c.s.DataDir
	dir := t.TempDir()
	n := agentStart(t, c.s.AgentURL, "node-1", agentToken(t, dd, "--name", "node-1"), dir)
	agentWaitUp(t, c, "node-1")
	id, url := agentLB(t, c.admin, agentFreePort(t), agentBackend(t, "outage"))
	c.admin.waitLB(t, id, "ACTIVE", 30*time.Second)
	agentWaitBody(t, url, "outage", 15*time.Second)

	c.s.Kill()
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if body, err := agentFetch(url); err != nil || body != "outage" {
			t.Fatalf("with the server down (not refusing) the agent stopped serving: %q, %v", body, err)
		}
	}
	n.p.Kill()
	n = agentStart(t, c.s.AgentURL, "node-1", "", dir)
	agentWaitBody(t, url, "outage", 15*time.Second)

	c.s.Restart()
	c.admin.base = c.s.URL
	if _, err := servertest.Run(bin, "agent-revoke", "--data-dir", dd, "--name", "node-1"); err != nil {
		t.Fatal(err)
	}
	revoked := time.Now()
	agentWaitDark(t, url, 15*time.Second)
	t.Logf("revoked agent stopped answering on the VIP %s after agent-revoke", time.Since(revoked).Round(time.Millisecond))
	select {
	case <-n.p.Done():
	case <-time.After(15 * time.Second):
		t.Fatalf("the revoked agent still runs:\n%s", n.p.Logs())
	}
	if !strings.Contains(n.p.Logs(), "revoked") {
		t.Errorf("the revoked agent does not say why it stopped:\n%s", n.p.Logs())
	}
	for _, f := range []string{"config.json", "cache"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			t.Errorf("the revoked agent kept its cached config %s (and the private keys in it)", f)
		}
	}
	// Restarted, with or without the server, it serves nothing.
	n = agentStart(t, c.s.AgentURL, "node-1", "", dir)
	select {
	case <-n.p.Done():
	case <-time.After(20 * time.Second):
		t.Fatalf("a restarted revoked agent keeps running:\n%s", n.p.Logs())
	}
	if _, err := agentFetch(url); err == nil {
		t.Fatalf("a restarted revoked agent serves %s", url)
	}
}

// TestAgentStoppedPastDeadWindowDropsMovedLoadBalancers: an agent frozen
// (SIGSTOP) for longer than the dead window has its load balancer moved to
// the other agent; thawed (SIGCONT), it converges at its first contact and
// drops the load balancer, so that exactly one agent serves it. And an
// agent that was out of contact while the server withdrew a load balancer
// from it does not serve it again from its disk cache when restarted: it
// asks the server first.
func TestAgentStoppedPastDeadWindowDropsMovedLoadBalancers(t *testing.T) {
	c := newCloud(t, "--embedded-agent=false", "--agent-heartbeat", "200ms", "--agent-dead-after", "1s")
	dd := c.s.DataDir
	nodes := map[string]*agentNode{}
	for _, name := range []string{"node-1", "node-2"} {
		nodes[name] = agentStart(t, c.s.AgentURL, name, agentToken(t, dd, "--name", name), t.TempDir())
		agentWaitUp(t, c, name)
	}
	id, url := agentLB(t, c.admin, agentFreePort(t), agentBackend(t, "moved"))
	addr := strings.TrimPrefix(url, "http://")
	c.admin.waitLB(t, id, "ACTIVE", 30*time.Second)
	agentWaitBody(t, url, "moved", 15*time.Second)
	first := agentAmphora(t, c.admin, id)
	frozen, other := nodes[first], nodes["node-1"]
	if first == "node-1" {
		other = nodes["node-2"]
	}
	agentWaitLog(t, frozen.p.Logs, 10*time.Second, "msg=listening", "addr="+addr)

	if err := frozen.p.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	agentWaitPlaced(t, c.admin, id, other.name)
	if err := frozen.p.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	thawed := time.Now()
	agentWaitLog(t, frozen.p.Logs, 20*time.Second, "listener removed", "addr="+addr)
	agentWaitLog(t, other.p.Logs, 30*time.Second, "msg=listening", "addr="+addr)
	agentWaitBody(t, url, "moved", 20*time.Second)
	t.Logf("thawed %s let go and %s serves %s after %s", frozen.name, other.name, addr, time.Since(thawed).Round(time.Millisecond))
	// Freeze the old agent again: if it still held the VIP, clients would
	// hang in its backlog; the one serving is the other agent.
	if err := frozen.p.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		if body, err := agentFetch(url); err != nil || body != "moved" {
			t.Fatalf("request %d with the old agent frozen again: %q, %v", i, body, err)
		}
	}
	if err := frozen.p.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-frozen.p.Done():
		t.Fatalf("an agent merely out of contact exited:\n%s", frozen.p.Logs())
	default:
	}

	// Now freeze the serving agent past the dead window and delete the load
	// balancer meanwhile: its disk cache still has it. Killed and
	// restarted, it must not listen on the VIP even for a moment.
	if err := other.p.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	agentWaitPlaced(t, c.admin, id, frozen.name)
	c.admin.must(t, "DELETE", "/v2/lbaas/loadbalancers/"+id+"?cascade=true", nil, 204)
	deadline := time.Now().Add(30 * time.Second)
	for c.admin.call(t, "GET", "/v2/lbaas/loadbalancers/"+id, nil).code != 404 {
		if time.Now().After(deadline) {
			t.Fatal("load balancer not deleted in 30s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	other.p.Kill()
	restarted := agentStart(t, c.s.AgentURL, other.name, "", other.dir)
	agentWaitLog(t, restarted.p.Logs, 20*time.Second, `msg="applied config"`)
	if agentLogLine(restarted.p.Logs(), "msg=listening", "addr="+addr) {
		t.Fatalf("restarted %s served the deleted load balancer from its cache:\n%s", other.name, restarted.p.Logs())
	}
	agentWaitDark(t, url, 10*time.Second)
}

// agentWaitPlaced waits until the load balancer is placed on agent name.
func agentWaitPlaced(t *testing.T, s *session, lbID, name string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for agentAmphora(t, s, lbID) != name {
		if time.Now().After(deadline) {
			t.Fatalf("load balancer %s not moved to %s in 20s", lbID, name)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestAgentListenerClashKeepsTheServingOwner: when one agent config puts
// listeners of two load balancers on the same address and port (the API
// should never let it happen; this is the agent's own defence), the load
// balancer already serving keeps the socket, whatever the ids' order, and
// the newcomer is refused with the reason; once the owner goes, the
// newcomer gets it. The control plane is the real agent API and snapshot
// cache in the test process, so the test can publish what the API refuses.
func TestAgentListenerClashKeepsTheServingOwner(t *testing.T) {
	cp := agentControlPlane(t)
	agentStart(t, cp.url, "node-1", cp.token(t, "node-1"), t.TempDir())
	var agentID string
	deadline := time.Now().Add(20 * time.Second)
	for agentID = cp.agentID(t, "node-1"); agentID == ""; agentID = cp.agentID(t, "node-1") {
		if time.Now().After(deadline) {
			t.Fatal("node-1 never enrolled")
		}
		time.Sleep(50 * time.Millisecond)
	}
	oldBE, newBE := agentBackend(t, "owner"), agentBackend(t, "newcomer")
	for _, tc := range []struct{ name, owner, newcomer string }{
		{"newcomer's id sorts first", "lb-b", "lb-a"},
		{"newcomer's id sorts last", "lb-c", "lb-d"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			port := agentFreePort(t)
			url := "http://127.0.0.1:" + strconv.Itoa(port)
			cp.cache.Put(agentID, tc.owner, 1, agentFragment(tc.owner, port, oldBE))
			cp.waitState(t, agentID, tc.owner, snapshot.Applied)
			agentWaitBody(t, url, "owner", 15*time.Second)

			cp.cache.Put(agentID, tc.newcomer, 1, agentFragment(tc.newcomer, port, newBE))
			reason := cp.waitState(t, agentID, tc.newcomer, snapshot.Refused)
			if !strings.Contains(reason, "127.0.0.1:"+strconv.Itoa(port)) || !strings.Contains(reason, tc.owner) {
				t.Errorf("refusal of %s: %q; want the address and the owner named", tc.newcomer, reason)
			}
			if st, _ := cp.cache.State(agentID, tc.owner, 1); st != snapshot.Applied {
				t.Errorf("owner %s is %s, want applied", tc.owner, st)
			}
			for i := 0; i < 10; i++ {
				if body, err := agentFetch(url); err != nil || body != "owner" {
					t.Fatalf("request %d after the clash: %q, %v; the serving owner must keep the port", i, body, err)
				}
			}
			// The owner leaves: the newcomer gets the port by the agent's
			// retry, with no new config for it.
			cp.cache.Delete(agentID, tc.owner)
			cp.waitState(t, agentID, tc.newcomer, snapshot.Applied)
			agentWaitBody(t, url, "newcomer", 15*time.Second)
			cp.cache.Delete(agentID, tc.newcomer)
		})
	}
}

// TestAgentCAKeyReadableByOthersIsRefused: the CA's private key with group
// or world bits stops the server at start (and agent-token), naming the
// file and the fix.
func TestAgentCAKeyReadableByOthersIsRefused(t *testing.T) {
	s := servertest.Start(t, bin, "", "--auth", "noauth", "--embedded-agent=false")
	s.Kill()
	key := filepath.Join(s.DataDir, "pki", "ca.key")
	if err := os.Chmod(key, 0o640); err != nil {
		t.Fatal(err)
	}
	out, exited, err := agentCLI(t, 30*time.Second, "server", "--listen", "127.0.0.1:0", "--agent-listen", "127.0.0.1:0",
		"--data-dir", s.DataDir, "--auth", "noauth", "--embedded-agent=false")
	if !exited || err == nil || !strings.Contains(out, key) || !strings.Contains(out, "chmod 600") {
		t.Fatalf("server with a group-readable %s (exited %v, %v):\n%s", key, exited, err, out)
	}
	if out, err := servertest.Run(bin, "agent-token", "--data-dir", s.DataDir); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("agent-token with a group-readable CA key: %q, %v", out, err)
	}
}

// agentNode is one `fulcrum agent` process and its data directory.
type agentNode struct {
	name, dir string
	p         *servertest.Process
}

// agentStart runs `fulcrum agent` (token "" = already enrolled).
func agentStart(t *testing.T, serverURL, name, token, dir string) *agentNode {
	t.Helper()
	args := []string{"agent", "--server", serverURL, "--data-dir", dir, "--name", name, "--log-level", "info"}
	if token != "" {
		args = append(args, "--join-token", token)
	}
	return &agentNode{name: name, dir: dir, p: servertest.StartProcess(t, bin, args...)}
}

// agentToken runs `fulcrum agent-token` and returns the token.
func agentToken(t *testing.T, dataDir string, args ...string) string {
	t.Helper()
	out, err := servertest.Run(bin, append([]string{"agent-token", "--data-dir", dataDir}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(out)
}

// agentCLI runs a fulcrum command expected to end by itself within
// timeout; it returns its combined output, whether it ended, and its exit
// error. A command still running at the timeout is killed.
func agentCLI(t *testing.T, timeout time.Duration, args ...string) (string, bool, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	out, err := cmd.CombinedOutput()
	return string(out), ctx.Err() == nil, err
}

// agentWaitUp waits until the server has logged agent name as up.
func agentWaitUp(t *testing.T, c *cloud, name string) {
	t.Helper()
	agentWaitLog(t, c.s.Logs, 30*time.Second, `msg="agent is up"`, "agent="+name)
}

// agentWaitUpAgain waits until the server has said the agent is up more
// than seen times: an agent replaced or revoked and enrolled again is up
// only once the server logs it anew, not when the line of its first life is
// still in the log.
func agentWaitUpAgain(t *testing.T, c *cloud, name string, seen int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for agentLogCount(c.s.Logs(), `msg="agent is up"`, "agent="+name) <= seen {
		if time.Now().After(deadline) {
			t.Fatalf("the server did not say again that %s is up in 30s:\n%s", name, c.s.Logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// agentLogCount counts the log lines holding every fragment.
func agentLogCount(logs string, frags ...string) int {
	n := 0
	for _, line := range strings.Split(logs, "\n") {
		if agentLogLine(line, frags...) {
			n++
		}
	}
	return n
}

// agentWaitLog waits for a log line holding every fragment.
func agentWaitLog(t *testing.T, logs func() string, timeout time.Duration, frags ...string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !agentLogLine(logs(), frags...) {
		if time.Now().After(deadline) {
			t.Fatalf("no log line with %q in %s:\n%s", frags, timeout, logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// agentLogLine reports whether one line of logs holds every fragment.
func agentLogLine(logs string, frags ...string) bool {
	for _, line := range strings.Split(logs, "\n") {
		all := true
		for _, f := range frags {
			if !strings.Contains(line, f) {
				all = false
				break
			}
		}
		if all {
			return true
		}
	}
	return false
}

// agentBackend is an HTTP member on loopback answering with its name; it
// returns the port.
func agentBackend(t *testing.T, name string) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, name) }),
		ErrorLog: log.New(io.Discard, "", 0)}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().(*net.TCPAddr).Port
}

// agentFreePort returns a TCP port that was free on loopback a moment ago.
func agentFreePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// agentLB creates, as s, a load balancer on private-subnet with an HTTP
// listener on port and one member, the backend on backendPort; it returns
// the load balancer's id and the listener's URL.
func agentLB(t *testing.T, s *session, port, backendPort int) (string, string) {
	t.Helper()
	r := s.must(t, "GET", "/networking/v2.0/subnets?name=private-subnet", nil, 200)
	list, _ := r.body["subnets"].([]any)
	if len(list) != 1 {
		t.Fatalf("private-subnet: %s", r.raw)
	}
	subnet := str(list[0].(map[string]any), "id")
	r = s.must(t, "POST", "/v2/lbaas/loadbalancers", map[string]any{"loadbalancer": map[string]any{"name": "agent-sec", "vip_subnet_id": subnet}}, 201)
	id, vip := str(r.body, "loadbalancer", "id"), str(r.body, "loadbalancer", "vip_address")
	r = s.must(t, "POST", "/v2/lbaas/listeners", map[string]any{"listener": map[string]any{"loadbalancer_id": id, "protocol": "HTTP", "protocol_port": port}}, 201)
	listener := str(r.body, "listener", "id")
	r = s.must(t, "POST", "/v2/lbaas/pools", map[string]any{"pool": map[string]any{"listener_id": listener, "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}}, 201)
	pool := str(r.body, "pool", "id")
	s.must(t, "POST", "/v2/lbaas/pools/"+pool+"/members", map[string]any{"member": map[string]any{"address": "127.0.0.1", "protocol_port": backendPort}}, 201)
	return id, "http://" + net.JoinHostPort(vip, strconv.Itoa(port))
}

// agentAmphora returns the name of the agent a load balancer is placed on.
func agentAmphora(t *testing.T, s *session, lbID string) string {
	t.Helper()
	r := s.must(t, "GET", "/v2/octavia/amphorae?loadbalancer_id="+lbID, nil, 200)
	list, _ := r.body["amphorae"].([]any)
	if len(list) != 1 {
		return ""
	}
	return str(list[0].(map[string]any), "compute_id")
}

// agentFetch makes one request on a new connection.
func agentFetch(url string) (string, error) {
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := hc.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != 200 {
		return "", errors.New(resp.Status + ": " + string(b))
	}
	return string(b), nil
}

// agentWaitBody polls url until it answers want.
func agentWaitBody(t *testing.T, url, want string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var body string
	var err error
	for time.Now().Before(deadline) {
		if body, err = agentFetch(url); err == nil && body == want {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s answered %q, %v for %s; want %q", url, body, err, timeout, want)
}

// agentWaitDark polls url until nothing accepts connections there.
func agentWaitDark(t *testing.T, url string, timeout time.Duration) {
	t.Helper()
	addr := strings.TrimPrefix(url, "http://")
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return
		}
		c.Close()
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s still accepts connections after %s", url, timeout)
}

// agentCP is a control plane assembled in the test process from the real
// agent API, store and snapshot cache, without controller or API: the
// test publishes fragments itself.
type agentCP struct {
	url   string
	st    store.Store
	ca    *pki.CA
	cache *snapshot.Cache
}

// agentSink acknowledges heartbeats in the cache (the health manager's
// part that matters here).
type agentSink struct{ cache *snapshot.Cache }

func (s agentSink) Heartbeat(_ context.Context, agentID string, hb *dataplane.Heartbeat) error {
	s.cache.Ack(agentID, hb.AppliedVersion, hb.Refused)
	return nil
}

func agentControlPlane(t *testing.T) *agentCP {
	t.Helper()
	dir := t.TempDir()
	st, err := sqlstore.Open(context.Background(), sqlstore.Options{Path: filepath.Join(dir, "fulcrum.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ca, err := pki.LoadOrCreateCA(filepath.Join(dir, "pki"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.ServerCertificate(filepath.Join(dir, "pki"), []string{"127.0.0.1"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cache := snapshot.New(nil, nil)
	api := agentapi.New(agentapi.Options{Store: st, CA: ca, Watcher: cache, Heartbeats: agentSink{cache}, MaxWait: 2 * time.Second,
		HeartbeatInterval: 200 * time.Millisecond})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: api.Handler(), TLSConfig: api.TLSConfig(cert), ErrorLog: log.New(io.Discard, "", 0)}
	go srv.ServeTLS(ln, "", "")
	t.Cleanup(func() { srv.Close() })
	return &agentCP{url: "https://" + ln.Addr().String(), st: st, ca: ca, cache: cache}
}

func (cp *agentCP) token(t *testing.T, name string) string {
	t.Helper()
	tok, err := agentapi.IssueJoinToken(context.Background(), cp.st, cp.ca, agentapi.TokenRequest{Name: name, TTL: time.Hour}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tok.Token.String()
}

func (cp *agentCP) agentID(t *testing.T, name string) string {
	t.Helper()
	var id string
	err := cp.st.View(context.Background(), func(tx store.Tx) error {
		list, err := tx.Agents().List(context.Background(), store.Query{Filters: []store.Filter{store.F("name", name)}})
		if len(list) == 1 {
			id = list[0].ID
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// waitState waits until lbID (generation 1) is in state want on the agent
// and returns the refusal reason, if any.
func (cp *agentCP) waitState(t *testing.T, agentID, lbID string, want snapshot.State) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, reason := cp.cache.State(agentID, lbID, 1)
		if st == want {
			return reason
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s is %s (%s) after 30s, want %s", lbID, st, reason, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// agentFragment is load balancer lbID's data-plane config: an HTTP
// listener on 127.0.0.1:port sending to one member on backendPort.
func agentFragment(lbID string, port, backendPort int) *dataplane.Config {
	return &dataplane.Config{
		Listeners: []dataplane.Listener{{ID: "listener-" + lbID, LoadBalancerID: lbID, Protocol: dataplane.ProtocolHTTP,
			Addresses: []string{"127.0.0.1"}, ProtocolPort: port, DefaultPoolID: "pool-" + lbID, ConnectionLimit: -1,
			TimeoutClientData: 50000, TimeoutMemberConnect: 5000, TimeoutMemberData: 50000}},
		Pools: []dataplane.Pool{{ID: "pool-" + lbID, Protocol: dataplane.ProtocolHTTP, Algorithm: dataplane.RoundRobin,
			Members: []dataplane.Member{{ID: "member-" + lbID, Address: "127.0.0.1", ProtocolPort: backendPort, Weight: 1, AdminStateUp: true}}}},
	}
}
