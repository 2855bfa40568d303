package security

// The agent ↔ server boundary, seen by an attacker who holds a valid agent
// certificate, or a join token: what a token lets an agent become (its
// availability zone and group are the token's, not the agent's choice),
// how fast the server stops trusting an agent it revoked or released,
// which names the commands on the data directory leave alone, and what a
// heartbeat may speak for (its own load balancers only, versions it was
// sent, bodies within limits). Agents are the real `fulcrum agent` binary
// or, where the test must send what a genuine agent never would, an HTTP
// client holding a certificate the server signed; everything is on
// loopback.

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
	"github.com/fulcrumlb/fulcrum/internal/pki"
	"github.com/fulcrumlb/fulcrum/internal/servertest"
)

// TestAgentTrustTokenBindsZoneAndGroup: a join token fixes the
// availability zone and agent group of the agent it enrolls. An agent that
// asks for another one at enrollment is refused before anything is
// signed (it cannot attract a zone's or a flavor group's load balancers,
// and their TLS keys); one that claims another later, in its heartbeats,
// is ignored; an administrator moves an agent with `agent-token --replace`
// and new values, which the server logs, and --replace alone keeps them.
func TestAgentTrustTokenBindsZoneAndGroup(t *testing.T) {
	c := newCloud(t, "--embedded-agent=false", "--agent-heartbeat", "200ms", "--agent-dead-after", "3s")
	dd := c.s.DataDir
	az, flavor := agentTrustZoneAndGroup(t, c.admin, "secure", "az-secure", "gold", "gold")

	// A token without a zone or group cannot enroll an agent that asks for them.
	for _, claim := range [][]string{{"--availability-zone", "az-secure"}, {"--group", "gold"}} {
		dir := t.TempDir()
		args := append([]string{"agent", "--server", c.s.AgentURL, "--join-token", agentToken(t, dd, "--name", "rogue"),
			"--data-dir", dir, "--name", "rogue"}, claim...)
		out, exited, err := agentCLI(t, 20*time.Second, args...)
		if !exited || err == nil || !strings.Contains(out, "join token is for") {
			t.Fatalf("an agent claiming %v with a token for the defaults ran (exited %v, %v):\n%s", claim, exited, err, out)
		}
		for _, f := range []string{"agent.crt", "agent.key"} {
			if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
				t.Errorf("the agent claiming %v got %s", claim, f)
			}
		}
	}

	// The genuine node gets its placement from its token, not from flags.
	agentStart(t, c.s.AgentURL, "node-secure", agentToken(t, dd, "--name", "node-secure", "--availability-zone", "az-secure", "--group", "gold"), t.TempDir())
	agentWaitUp(t, c, "node-secure")
	agentWaitLog(t, c.s.Logs, 10*time.Second, `msg="agent enrolled"`, "agent=node-secure", "availability_zone=az-secure", "group=gold")
	first := agentTrustCreateLB(t, c.admin, agentTrustBackend(t, "secure"), map[string]any{"availability_zone": az, "flavor_id": flavor})
	c.admin.waitLB(t, first.id, "ACTIVE", 30*time.Second)
	agentWaitBody(t, first.url, "secure", 15*time.Second)
	if got := agentAmphora(t, c.admin, first.id); got != "node-secure" {
		t.Fatalf("the secure load balancer is on %q, want node-secure", got)
	}

	// A plain node restarted with other flags claims the zone and group in
	// every heartbeat: the server logs the claim and ignores it. It is less
	// loaded than node-secure, so it would get the next load balancer if
	// the claim counted.
	plainDir := t.TempDir()
	plain := agentStart(t, c.s.AgentURL, "node-plain", agentToken(t, dd, "--name", "node-plain"), plainDir)
	agentWaitUp(t, c, "node-plain")
	plain.p.Kill()
	agentStartArgs(t, c.s.AgentURL, "node-plain", "", plainDir, "--availability-zone", "az-secure", "--group", "gold")
	agentWaitLog(t, c.s.Logs, 20*time.Second, "claims another placement", "agent=node-plain", "claimed_availability_zone=az-secure")
	second := agentTrustCreateLB(t, c.admin, agentTrustBackend(t, "secure-2"), map[string]any{"availability_zone": az, "flavor_id": flavor})
	c.admin.waitLB(t, second.id, "ACTIVE", 30*time.Second)
	if got := agentAmphora(t, c.admin, second.id); got != "node-secure" {
		t.Fatalf("a heartbeat's claim moved node-plain into the secure zone: the second secure load balancer is on %q", got)
	}

	// The administrator moves node-plain: stderr says so, the server logs
	// the re-enrollment with the old and new placement, and the next
	// secure load balancer goes to the (now fitting, less loaded) node.
	upBefore := agentLogCount(c.s.Logs(), `msg="agent is up"`, "agent=node-plain")
	out, exited, err := agentCLI(t, 30*time.Second, "agent-token", "--data-dir", dd, "--name", "node-plain", "--replace",
		"--availability-zone", "az-secure", "--group", "gold")
	if !exited || err != nil || !strings.Contains(out, `moves from availability zone "", group "" to availability zone "az-secure", group "gold"`) {
		t.Fatalf("agent-token --replace with a new placement (exited %v, %v):\n%s", exited, err, out)
	}
	agentStart(t, c.s.AgentURL, "node-plain", agentTrustTokenIn(t, out), t.TempDir())
	agentWaitLog(t, c.s.Logs, 20*time.Second, "agent re-enrolled", "agent=node-plain", "availability_zone=az-secure", "previous_availability_zone=")
	agentWaitUpAgain(t, c, "node-plain", upBefore)
	third := agentTrustCreateLB(t, c.admin, agentTrustBackend(t, "secure-3"), map[string]any{"availability_zone": az, "flavor_id": flavor})
	c.admin.waitLB(t, third.id, "ACTIVE", 30*time.Second)
	if got := agentAmphora(t, c.admin, third.id); got != "node-plain" {
		t.Fatalf("after the move the third secure load balancer is on %q, want node-plain", got)
	}
	agentWaitBody(t, third.url, "secure-3", 15*time.Second)

	// --replace without placement flags keeps the agent's placement.
	out, exited, err = agentCLI(t, 30*time.Second, "agent-token", "--data-dir", dd, "--name", "node-secure", "--replace")
	if !exited || err != nil || !strings.Contains(out, `enrolls its agent in availability zone "az-secure", group "gold"`) {
		t.Fatalf("agent-token --replace without placement flags (exited %v, %v):\n%s", exited, err, out)
	}
}

// TestAgentTrustRevokeMovesLoadBalancersAtOnce: `agent-revoke` and
// `agent-token --replace` make the server treat the agent as down at once:
// its load balancers are served by another agent within seconds, not
// after the dead window (30 s here).
func TestAgentTrustRevokeMovesLoadBalancersAtOnce(t *testing.T) {
	c := newCloud(t, "--embedded-agent=false", "--agent-heartbeat", "200ms", "--agent-dead-after", "30s")
	dd := c.s.DataDir
	nodes := map[string]*agentNode{}
	for _, name := range []string{"node-1", "node-2", "node-3"} {
		nodes[name] = agentStart(t, c.s.AgentURL, name, agentToken(t, dd, "--name", name), t.TempDir())
		agentWaitUp(t, c, name)
	}
	lb := agentTrustCreateLB(t, c.admin, agentTrustBackend(t, "moving"), nil)
	addr := strings.TrimPrefix(lb.url, "http://")
	c.admin.waitLB(t, lb.id, "ACTIVE", 30*time.Second)
	agentWaitBody(t, lb.url, "moving", 15*time.Second)

	for _, step := range []struct {
		what string
		cut  func(name string) error
	}{
		{"agent-revoke", func(name string) error {
			_, err := servertest.Run(bin, "agent-revoke", "--data-dir", dd, "--name", name)
			return err
		}},
		{"agent-token --replace", func(name string) error {
			_, err := servertest.Run(bin, "agent-token", "--data-dir", dd, "--name", name, "--replace")
			return err
		}},
	} {
		holder := agentAmphora(t, c.admin, lb.id)
		if nodes[holder] == nil {
			t.Fatalf("load balancer on %q before %s", holder, step.what)
		}
		start := time.Now()
		if err := step.cut(holder); err != nil {
			t.Fatal(err)
		}
		deadline := start.Add(15 * time.Second)
		var next string
		for next = agentAmphora(t, c.admin, lb.id); next == holder || next == ""; next = agentAmphora(t, c.admin, lb.id) {
			if time.Now().After(deadline) {
				t.Fatalf("after %s of %s the load balancer is still on %q after 15s (dead window 30s):\n%s", step.what, holder, next, c.s.Logs())
			}
			time.Sleep(50 * time.Millisecond)
		}
		agentWaitLog(t, nodes[next].p.Logs, time.Until(deadline), "msg=listening", "addr="+addr)
		agentWaitBody(t, lb.url, "moving", time.Until(deadline))
		t.Logf("%s of %s: %s serves %s after %s", step.what, holder, next, addr, time.Since(start).Round(time.Millisecond))
		agentWaitLog(t, c.s.Logs, 5*time.Second, "agent is down", "agent="+holder)
		select {
		case <-nodes[holder].p.Done():
		case <-time.After(15 * time.Second):
			t.Fatalf("%s still runs after %s", holder, step.what)
		}
	}
	c.admin.waitLB(t, lb.id, "ACTIVE", 30*time.Second)
}

// TestAgentTrustCustomEmbeddedNameIsReserved: with --embedded-agent-name,
// the commands that work on the data directory know the name (the server
// records it there) and refuse to issue a token for it, to --replace it
// or to revoke it; the embedded agent keeps serving.
func TestAgentTrustCustomEmbeddedNameIsReserved(t *testing.T) {
	c := newCloud(t, "--embedded-agent-name", "core", "--agent-heartbeat", "200ms", "--agent-dead-after", "2s")
	dd := c.s.DataDir
	agentWaitUp(t, c, "core")
	lb := agentTrustCreateLB(t, c.admin, agentTrustBackend(t, "core"), nil)
	c.admin.waitLB(t, lb.id, "ACTIVE", 30*time.Second)
	agentWaitBody(t, lb.url, "core", 15*time.Second)

	for _, args := range [][]string{
		{"agent-token", "--data-dir", dd, "--name", "core", "--replace"},
		{"agent-token", "--data-dir", dd, "--name", "core"},
		{"agent-revoke", "--data-dir", dd, "--name", "core"},
		{"agent-token", "--data-dir", dd, "--name", "embedded", "--replace"},
		{"agent-revoke", "--data-dir", dd, "--name", "embedded"},
	} {
		out, exited, err := agentCLI(t, 30*time.Second, args...)
		if !exited || err == nil || !strings.Contains(out, "embedded agent") {
			t.Errorf("%v (exited %v, %v): want a refusal naming the embedded agent:\n%s", args, exited, err, out)
		}
	}
	// For three dead windows the embedded agent is neither cut off nor marked down.
	for end := time.Now().Add(6 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		if body, err := agentFetch(lb.url); err != nil || body != "core" {
			t.Fatalf("the embedded agent stopped serving: %q, %v\n%s", body, err, c.s.Logs())
		}
	}
	for _, bad := range []string{"superseded", "agent is down"} {
		if agentLogLine(c.s.Logs(), bad, "core") {
			t.Errorf("server log has %q for the embedded agent:\n%s", bad, c.s.Logs())
		}
	}
}

// TestAgentTrustHeartbeatSpeaksForItsOwnLoadBalancers: an agent's
// heartbeat cannot change the statistics or member statuses of a load
// balancer placed on another agent, whether it names that load balancer
// or one of its own; nor can it speak under another agent's name.
func TestAgentTrustHeartbeatSpeaksForItsOwnLoadBalancers(t *testing.T) {
	c := newCloud(t, "--embedded-agent=false", "--agent-heartbeat", "200ms", "--agent-dead-after", "3s")
	dd := c.s.DataDir
	rogue := agentTrustEnroll(t, c.s.AgentURL, dd, "rogue")
	rogue.beat(t)
	agentWaitUp(t, c, "rogue")
	own := agentTrustCreateLB(t, c.admin, agentTrustBackend(t, "own"), nil)
	agentWaitPlaced(t, c.admin, own.id, "rogue")

	agentStart(t, c.s.AgentURL, "node-b", agentToken(t, dd, "--name", "node-b"), t.TempDir())
	agentWaitUp(t, c, "node-b")
	victim := agentTrustCreateLB(t, c.admin, agentTrustBackend(t, "victim"), nil)
	c.admin.waitLB(t, victim.id, "ACTIVE", 30*time.Second)
	if got := agentAmphora(t, c.admin, victim.id); got != "node-b" {
		t.Fatalf("victim load balancer on %q, want node-b", got)
	}
	agentWaitBody(t, victim.url, "victim", 15*time.Second)
	memberPath := "/v2/lbaas/pools/" + victim.pool + "/members/" + victim.member
	deadline := time.Now().Add(20 * time.Second)
	for str(c.admin.must(t, "GET", memberPath, nil, 200).body, "member", "operating_status") != "NO_MONITOR" {
		if time.Now().After(deadline) {
			t.Fatalf("victim member never NO_MONITOR: %s", c.admin.must(t, "GET", memberPath, nil, 200).raw)
		}
		time.Sleep(50 * time.Millisecond)
	}

	const huge = 1 << 40
	forged := dataplane.Heartbeat{Name: "rogue",
		Stats: dataplane.Stats{Listeners: []dataplane.ListenerStats{
			// The victim's listener under the victim's load balancer...
			{ListenerID: victim.listener, LoadBalancerID: victim.id, TotalConnections: huge, BytesIn: huge, BytesOut: huge, RequestErrors: huge, ActiveConnections: huge},
			// ... and filed under the rogue's own load balancer.
			{ListenerID: victim.listener, LoadBalancerID: own.id, TotalConnections: huge, BytesIn: huge, BytesOut: huge, RequestErrors: huge, ActiveConnections: huge},
			// A listener that does not exist.
			{ListenerID: "00000000-0000-4000-8000-000000000000", LoadBalancerID: own.id, TotalConnections: huge},
		}},
		Health: dataplane.Health{Members: []dataplane.MemberHealth{{PoolID: victim.pool, MemberID: victim.member, Status: dataplane.StatusDown}}},
	}
	for i := 0; i < 3; i++ { // the second and third are changes to what the first said
		forged.Stats.Listeners[1].TotalConnections += int64(i)
		if code, body := rogue.post(t, forged); code != 200 {
			t.Fatalf("forged heartbeat %d: %d %s", i, code, body)
		}
		// The heartbeat was processed when it was answered.
		for _, path := range []string{"/v2/lbaas/listeners/" + victim.listener + "/stats", "/v2/lbaas/loadbalancers/" + victim.id + "/stats"} {
			r := c.admin.must(t, "GET", path, nil, 200)
			stats, _ := r.body["stats"].(map[string]any)
			for _, k := range []string{"total_connections", "bytes_in", "bytes_out", "request_errors", "active_connections"} {
				if v, _ := stats[k].(float64); v >= huge {
					t.Errorf("%s: %s = %.0f after the rogue agent's heartbeat: %s", path, k, v, r.raw)
				}
			}
		}
		if st := str(c.admin.must(t, "GET", memberPath, nil, 200).body, "member", "operating_status"); st != "NO_MONITOR" {
			t.Errorf("victim member is %s after the rogue agent reported it DOWN", st)
		}
	}
	// Under another agent's name: refused, and node-b stays up.
	other := forged
	other.Name = "node-b"
	if code, body := rogue.post(t, other); code != 400 || !strings.Contains(body, "name") {
		t.Errorf("heartbeat under node-b's name: %d %s; want 400 naming the field", code, body)
	}
	if agentLogLine(c.s.Logs(), "agent is down", "agent=node-b") {
		t.Errorf("node-b went down:\n%s", c.s.Logs())
	}
	agentWaitBody(t, victim.url, "victim", 5*time.Second)
}

// TestAgentTrustAckOfAVersionNeverSent: an agent cannot acknowledge a
// config version the server never sent it: the load balancer placed on it
// does not go ACTIVE on such an acknowledgement (it would report a load
// balancer running that the agent never received), and goes ACTIVE once
// the agent acknowledges what it was sent.
func TestAgentTrustAckOfAVersionNeverSent(t *testing.T) {
	c := newCloud(t, "--embedded-agent=false", "--agent-heartbeat", "200ms", "--agent-dead-after", "3s")
	rogue := agentTrustEnroll(t, c.s.AgentURL, c.s.DataDir, "rogue")
	rogue.beat(t)
	agentWaitUp(t, c, "rogue")
	lb := agentTrustCreateLB(t, c.admin, agentTrustBackend(t, "ack"), nil)
	agentWaitPlaced(t, c.admin, lb.id, "rogue")

	// The rogue watches until its config holds the load balancer with its
	// member: the server has sent it version v.
	var v uint64
	deadline := time.Now().Add(20 * time.Second)
	for {
		if cfg := rogue.watch(t, v); cfg != nil {
			v = cfg.Version
			if len(cfg.Pools) > 0 && len(cfg.Pools[0].Members) > 0 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the rogue's config never held the load balancer")
		}
	}
	for _, claim := range []uint64{v + 1, 1 << 62, 1<<64 - 1} {
		if code, body := rogue.post(t, dataplane.Heartbeat{Name: "rogue", AppliedVersion: claim}); code != 200 {
			t.Fatalf("heartbeat acknowledging %d: %d %s", claim, code, body)
		}
	}
	// Nothing the server would act on happened; give the controller a
	// bounded moment to prove it (it acts on an acknowledgement at once).
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if st := str(c.admin.must(t, "GET", "/v2/lbaas/loadbalancers/"+lb.id, nil, 200).body, "loadbalancer", "provisioning_status"); st == "ACTIVE" {
			t.Fatal("the load balancer went ACTIVE on an acknowledgement of a version the agent was never sent")
		}
	}
	agentWaitLog(t, c.s.Logs, 10*time.Second, "never sent", "agent=rogue")
	// Acknowledging what it is sent makes it ACTIVE.
	deadline = time.Now().Add(30 * time.Second)
	for str(c.admin.must(t, "GET", "/v2/lbaas/loadbalancers/"+lb.id, nil, 200).body, "loadbalancer", "provisioning_status") != "ACTIVE" {
		if time.Now().After(deadline) {
			t.Fatal("the load balancer never went ACTIVE on the rogue's honest acknowledgements")
		}
		rogue.applied.Store(v)
		if cfg := rogue.watch(t, v); cfg != nil {
			v = cfg.Version
		}
	}
}

// TestAgentTrustHeartbeatBodiesAreChecked: what an agent sends is input
// like any other: oversized bodies get 413, malformed ones and values out
// of range 400 naming the field, a heartbeat naming more members than one
// SQLite expression holds is processed (never a 5xx), and the agent stays
// up throughout.
func TestAgentTrustHeartbeatBodiesAreChecked(t *testing.T) {
	// A generous dead window: with the race detector on a busy machine,
	// the heartbeats naming unknown members take seconds.
	c := newCloud(t, "--embedded-agent=false", "--agent-heartbeat", "200ms", "--agent-dead-after", "15s")
	rogue := agentTrustEnroll(t, c.s.AgentURL, c.s.DataDir, "rogue")
	rogue.beat(t)
	agentWaitUp(t, c, "rogue")

	many := func(n int, status dataplane.MemberStatus) []byte {
		hb := dataplane.Heartbeat{Name: "rogue"}
		for i := 0; i < n; i++ {
			hb.Health.Members = append(hb.Health.Members, dataplane.MemberHealth{PoolID: "p", MemberID: "member-" + strconv.Itoa(i), Status: status})
		}
		b, _ := json.Marshal(hb)
		return b
	}
	big := append([]byte(`{"name":"rogue","events":[{"detail":"`), bytes.Repeat([]byte("x"), 17<<20)...)
	big = append(big, `"}]}`...)
	for _, tc := range []struct {
		name string
		body []byte
		code int
		want string
	}{
		{"17 MiB body", big, 413, "larger than"},
		{"not JSON", []byte("hello"), 400, "decode heartbeat"},
		{"an array", []byte(`[]`), 400, "decode heartbeat"},
		{"trailing data", []byte(`{"name":"rogue"} {"name":"node-x"}`), 400, "trailing data"},
		{"wrong type", []byte(`{"name":"rogue","applied_version":"7"}`), 400, "decode heartbeat"},
		{"negative applied version", []byte(`{"name":"rogue","applied_version":-1}`), 400, "decode heartbeat"},
		{"negative counter", []byte(`{"name":"rogue","stats":{"listeners":[{"listener_id":"l","loadbalancer_id":"x","bytes_in":-5}]}}`), 400, "stats.listeners[0].bytes_in"},
		{"unknown member status", []byte(`{"name":"rogue","health":{"members":[{"member_id":"m","status":"PWNED"}]}}`), 400, "health.members[0].status"},
		{"empty member id", []byte(`{"name":"rogue","health":{"members":[{"member_id":"","status":"UP"}]}}`), 400, "health.members[0].member_id"},
		{"oversized id", []byte(`{"name":"rogue","refused":[{"loadbalancer_id":"` + strings.Repeat("a", 300) + `"}]}`), 400, "refused[0].loadbalancer_id"},
		{"address that is not one", []byte(`{"name":"rogue","address":"evil host/\u0000"}`), 400, "address"},
		{"control characters in the zone", []byte(`{"name":"rogue","availability_zone":"a\u0007"}`), 400, "availability_zone"},
		{"1,500 unknown members", many(1500, dataplane.StatusUp), 200, ""},
		{"1,500 unknown members change", many(1500, dataplane.StatusDown), 200, ""},
		{"1,500 unknown members vanish", []byte(`{"name":"rogue"}`), 200, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := rogue.postRaw(t, tc.body)
			if code != tc.code || !strings.Contains(body, tc.want) {
				t.Fatalf("%d %s; want %d with %q", code, agentTrustCut(body), tc.code, tc.want)
			}
		})
	}
	for _, q := range []string{"version=18446744073709551615", "version=9223372036854775808"} {
		code, body := rogue.get(t, dataplane.PathConfig+"?wait=0s&"+q)
		if code != 400 || !strings.Contains(body, "version") {
			t.Errorf("watch ?%s: %d %s; want 400 naming the version", q, code, body)
		}
	}
	if code, body := rogue.post(t, dataplane.Heartbeat{Name: "rogue"}); code != 200 {
		t.Fatalf("a plain heartbeat after the hostile ones: %d %s", code, body)
	}
	if agentLogLine(c.s.Logs(), "agent is down", "agent=rogue") || strings.Contains(c.s.Logs(), "level=ERROR") {
		t.Errorf("the server erred or lost the agent:\n%s", c.s.Logs())
	}
}

// agentTrustLB is a load balancer made by agentTrustCreateLB.
type agentTrustLB struct {
	id, listener, pool, member, url string
}

// agentTrustCreateLB creates, as s, a load balancer on private-subnet
// (extra fields added to its body) with an HTTP listener on a free port
// and one member, the backend on backendPort.
func agentTrustCreateLB(t *testing.T, s *session, backendPort int, extra map[string]any) agentTrustLB {
	t.Helper()
	r := s.must(t, "GET", "/networking/v2.0/subnets?name=private-subnet", nil, 200)
	list, _ := r.body["subnets"].([]any)
	if len(list) != 1 {
		t.Fatalf("private-subnet: %s", r.raw)
	}
	body := map[string]any{"name": "agent-trust", "vip_subnet_id": str(list[0].(map[string]any), "id")}
	for k, v := range extra {
		body[k] = v
	}
	r = s.must(t, "POST", "/v2/lbaas/loadbalancers", map[string]any{"loadbalancer": body}, 201)
	var out agentTrustLB
	out.id = str(r.body, "loadbalancer", "id")
	vip := str(r.body, "loadbalancer", "vip_address")
	port := agentFreePort(t)
	r = s.must(t, "POST", "/v2/lbaas/listeners", map[string]any{"listener": map[string]any{"loadbalancer_id": out.id, "protocol": "HTTP", "protocol_port": port}}, 201)
	out.listener = str(r.body, "listener", "id")
	r = s.must(t, "POST", "/v2/lbaas/pools", map[string]any{"pool": map[string]any{"listener_id": out.listener, "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}}, 201)
	out.pool = str(r.body, "pool", "id")
	r = s.must(t, "POST", "/v2/lbaas/pools/"+out.pool+"/members", map[string]any{"member": map[string]any{"address": "127.0.0.1", "protocol_port": backendPort}}, 201)
	out.member = str(r.body, "member", "id")
	out.url = "http://" + vip + ":" + strconv.Itoa(port)
	return out
}

// agentTrustBackend is agentBackend (an HTTP member answering its name).
func agentTrustBackend(t *testing.T, name string) int { return agentBackend(t, name) }

// agentTrustZoneAndGroup creates, as admin, an availability zone named
// zone whose profile has agent_zone agentZone and a flavor named flavor
// whose profile has agent_group group; it returns the zone's name and the
// flavor's id.
func agentTrustZoneAndGroup(t *testing.T, admin *session, zone, agentZone, flavor, group string) (string, string) {
	t.Helper()
	r := admin.must(t, "POST", "/v2/lbaas/availabilityzoneprofiles", map[string]any{"availability_zone_profile": map[string]any{
		"name": zone, "provider_name": "fulcrum", "availability_zone_data": `{"agent_zone": "` + agentZone + `"}`}}, 201)
	admin.must(t, "POST", "/v2/lbaas/availabilityzones", map[string]any{"availability_zone": map[string]any{
		"name": zone, "availability_zone_profile_id": str(r.body, "availability_zone_profile", "id")}}, 201)
	r = admin.must(t, "POST", "/v2/lbaas/flavorprofiles", map[string]any{"flavorprofile": map[string]any{
		"name": flavor, "provider_name": "fulcrum", "flavor_data": `{"agent_group": "` + group + `"}`}}, 201)
	r = admin.must(t, "POST", "/v2/lbaas/flavors", map[string]any{"flavor": map[string]any{
		"name": flavor, "flavor_profile_id": str(r.body, "flavorprofile", "id")}}, 201)
	return zone, str(r.body, "flavor", "id")
}

// agentStartArgs is agentStart with more flags.
func agentStartArgs(t *testing.T, serverURL, name, token, dir string, extra ...string) *agentNode {
	t.Helper()
	args := []string{"agent", "--server", serverURL, "--data-dir", dir, "--name", name, "--log-level", "info"}
	if token != "" {
		args = append(args, "--join-token", token)
	}
	return &agentNode{name: name, dir: dir, p: servertest.StartProcess(t, bin, append(args, extra...)...)}
}

var agentTrustTokenRE = regexp.MustCompile(`(?m)^fjt1\.\S+$`)

// agentTrustTokenIn returns the token agent-token printed in out.
func agentTrustTokenIn(t *testing.T, out string) string {
	t.Helper()
	tok := agentTrustTokenRE.FindString(out)
	if tok == "" {
		t.Fatalf("no token in:\n%s", out)
	}
	return tok
}

func agentTrustCut(s string) string {
	if len(s) > 300 {
		return s[:300] + "…"
	}
	return s
}

// agentTrustAgent is an agent that is only an HTTP client holding a
// certificate the server signed: it sends whatever the test says.
type agentTrustAgent struct {
	name, url string
	hc        *http.Client
	applied   atomic.Uint64 // what its background heartbeats acknowledge
}

// agentTrustEnroll enrolls name with a token from agent-token, over the
// real agent API (the server's CA read from its data directory).
func agentTrustEnroll(t *testing.T, agentURL, dataDir, name string) *agentTrustAgent {
	t.Helper()
	caPEM, err := os.ReadFile(filepath.Join(dataDir, "pki", "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("no CA certificate")
	}
	key, err := pki.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	csr, err := pki.CSR(key, name)
	if err != nil {
		t.Fatal(err)
	}
	a := &agentTrustAgent{name: name, url: agentURL,
		hc: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}}
	body, _ := json.Marshal(dataplane.EnrollRequest{Token: agentToken(t, dataDir, "--name", name), Name: name, CSR: string(csr), Address: "127.0.0.1"})
	code, raw := a.send(t, "POST", dataplane.PathEnroll, body)
	if code != 200 {
		t.Fatalf("enroll %s: %d %s", name, code, raw)
	}
	var er dataplane.EnrollResponse
	if err := json.Unmarshal([]byte(raw), &er); err != nil {
		t.Fatal(err)
	}
	cert, err := pki.ParseCert([]byte(er.CertPEM))
	if err != nil {
		t.Fatal(err)
	}
	a.hc = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12,
		Certificates: []tls.Certificate{{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert}}}}}
	t.Cleanup(a.hc.CloseIdleConnections)
	return a
}

func (a *agentTrustAgent) send(t *testing.T, method, path string, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, a.url+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set(dataplane.ProtocolHeader, strconv.Itoa(dataplane.ProtocolVersion))
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(raw)
}

func (a *agentTrustAgent) postRaw(t *testing.T, body []byte) (int, string) {
	t.Helper()
	return a.send(t, "POST", dataplane.PathHeartbeat, body)
}

func (a *agentTrustAgent) post(t *testing.T, hb dataplane.Heartbeat) (int, string) {
	t.Helper()
	b, err := json.Marshal(hb)
	if err != nil {
		t.Fatal(err)
	}
	return a.postRaw(t, b)
}

func (a *agentTrustAgent) get(t *testing.T, path string) (int, string) {
	t.Helper()
	return a.send(t, "GET", path, nil)
}

// watch asks for the agent's config newer than have (waiting 500 ms at
// most) and returns it, nil if unchanged.
func (a *agentTrustAgent) watch(t *testing.T, have uint64) *dataplane.Config {
	t.Helper()
	code, raw := a.get(t, dataplane.PathConfig+"?"+url.Values{"version": {strconv.FormatUint(have, 10)}, "wait": {"500ms"}}.Encode())
	if code != 200 {
		t.Fatalf("watch: %d %s", code, raw)
	}
	var cr dataplane.ConfigResponse
	if err := json.Unmarshal([]byte(raw), &cr); err != nil {
		t.Fatal(err)
	}
	return cr.Config
}

// beat heartbeats every 200 ms until the test ends, acknowledging
// a.applied, so the server keeps the agent up.
func (a *agentTrustAgent) beat(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			b, _ := json.Marshal(dataplane.Heartbeat{Name: a.name, AppliedVersion: a.applied.Load()})
			req, err := http.NewRequestWithContext(ctx, "POST", a.url+dataplane.PathHeartbeat, bytes.NewReader(b))
			if err == nil {
				req.Header.Set(dataplane.ProtocolHeader, strconv.Itoa(dataplane.ProtocolVersion))
				if resp, err := a.hc.Do(req); err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(func() { cancel(); wg.Wait() })
}
