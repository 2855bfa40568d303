package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/servertest"
)

// TestHAProxyPlacement: load balancers of provider haproxy through the real binary, with
// a server's embedded (native) agent and one `fulcrum agent --engine haproxy`. One asked
// for before any HAProxy agent is up is ERROR with a fault that says so, and converges
// once one is; placement follows the engine (provider haproxy and flavor engine: haproxy
// on the HAProxy agent, the fulcrum provider on the native one); a cascade delete stops
// HAProxy's listener. What the load balancers carry is TestEndToEnd's, on each engine.
func TestHAProxyPlacement(t *testing.T) {
	srv := servertest.Start(t, bin, "", "--auth", "noauth", "--log-level", "info", "--resync", "1s")
	a := newAPI(srv.URL)
	waitAgentUp(t, srv, "embedded", 60*time.Second)

	// No HAProxy agent yet: the native embedded agent must not take it.
	r := a.must(t, "POST", "/v2/lbaas/loadbalancers", map[string]any{"loadbalancer": map[string]any{
		"name": "hap", "vip_subnet_id": vipSubnet(a), "provider": "haproxy"}}, 201)
	lbID, vip := r.id("loadbalancer"), r.field("loadbalancer", "vip_address")
	if p := r.field("loadbalancer", "provider"); p != "haproxy" {
		t.Fatalf("provider: %q", p)
	}
	a.waitStatus(t, lbID, "ERROR", 30*time.Second)
	if f := a.must(t, "GET", "/v2/lbaas/loadbalancers/"+lbID, nil, 200).field("loadbalancer", "fault"); !strings.Contains(f, "no data-plane agent is up running the haproxy engine") {
		t.Errorf("fault with no HAProxy agent up: %q", f)
	}

	hapStartAgent(t, srv, "hap-1")
	waitAgentUp(t, srv, "hap-1", 60*time.Second)
	a.waitStatus(t, lbID, "ACTIVE", 60*time.Second)
	if agent, _ := placement(t, a, lbID); agent != "hap-1" {
		t.Fatalf("provider haproxy placed on %q, want the HAProxy agent hap-1", agent)
	}
	one := startBackend(t, "one")
	port := freePort(t)
	g := &graph{lb: lbID, vip: vip, port: port}
	g.listener = a.must(t, "POST", "/v2/lbaas/listeners", map[string]any{"listener": map[string]any{
		"loadbalancer_id": lbID, "protocol": "HTTP", "protocol_port": port}}, 201).id("listener")
	g.pool = a.must(t, "POST", "/v2/lbaas/pools", map[string]any{"pool": map[string]any{
		"listener_id": g.listener, "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}}, 201).id("pool")
	a.must(t, "POST", "/v2/lbaas/pools/"+g.pool+"/members", map[string]any{"member": map[string]any{
		"address": "127.0.0.1", "protocol_port": one.port, "name": one.name}}, 201)
	a.waitStatus(t, lbID, "ACTIVE", 30*time.Second)
	waitTraffic(t, g.url(), 20*time.Second)

	// Placement follows the engine: a fulcrum flavor with engine haproxy runs on the
	// HAProxy agent, the fulcrum provider without it on the native embedded agent.
	fp := a.must(t, "POST", "/v2/lbaas/flavorprofiles", map[string]any{"flavorprofile": map[string]any{
		"name": "hap", "provider_name": "fulcrum", "flavor_data": `{"engine": "haproxy"}`}}, 201).id("flavorprofile")
	flavor := a.must(t, "POST", "/v2/lbaas/flavors", map[string]any{"flavor": map[string]any{"name": "hap", "flavor_profile_id": fp}}, 201).id("flavor")
	viaFlavor := a.must(t, "POST", "/v2/lbaas/loadbalancers", map[string]any{"loadbalancer": map[string]any{
		"name": "via-flavor", "vip_subnet_id": vipSubnet(a), "flavor_id": flavor}}, 201).id("loadbalancer")
	native := a.must(t, "POST", "/v2/lbaas/loadbalancers", map[string]any{"loadbalancer": map[string]any{
		"name": "native", "vip_subnet_id": vipSubnet(a), "provider": "fulcrum"}}, 201).id("loadbalancer")
	a.waitStatus(t, viaFlavor, "ACTIVE", 30*time.Second)
	a.waitStatus(t, native, "ACTIVE", 30*time.Second)
	if agent, _ := placement(t, a, viaFlavor); agent != "hap-1" {
		t.Errorf("flavor engine: haproxy placed on %q, want hap-1", agent)
	}
	if agent, _ := placement(t, a, native); agent != "embedded" {
		t.Errorf("provider fulcrum placed on %q, want the native embedded agent", agent)
	}

	// Cascade delete stops the listeners in HAProxy.
	a.must(t, "DELETE", "/v2/lbaas/loadbalancers/"+lbID+"?cascade=true", nil, 204)
	a.waitStatus(t, lbID, "DELETED", 30*time.Second)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		c, err := net.DialTimeout("tcp", net.JoinHostPort(vip, strconv.Itoa(port)), 200*time.Millisecond)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatalf("%s still accepts connections after the load balancer was deleted", g.url())
		}
	}
}

// TestHAProxyAgentRefusesBadBinary: `fulcrum agent --engine haproxy` with no haproxy, or
// one older than 2.6, does not start, and says why.
func TestHAProxyAgentRefusesBadBinary(t *testing.T) {
	dir := t.TempDir()
	old := filepath.Join(dir, "haproxy-2.4")
	if err := os.WriteFile(old, []byte("#!/bin/sh\necho 'HAProxy version 2.4.22-0ubuntu0.22.04.1 2023/08/14 - https://haproxy.org/'\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		binary, want string
	}{
		{filepath.Join(dir, "absent"), "--engine haproxy: haproxy engine: cannot run " + filepath.Join(dir, "absent")},
		{old, "is HAProxy 2.4.22-0ubuntu0.22.04.1, too old: the engine needs 2.6 or newer"},
	} {
		_, err := servertest.Run(bin, "agent", "--engine", "haproxy", "--haproxy", tc.binary, "--server", "https://127.0.0.1:1",
			"--data-dir", filepath.Join(dir, "agent"), "--name", "hap-x")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("agent with --haproxy %s: %v, want an error saying %q", tc.binary, err, tc.want)
		}
	}
	_, err := servertest.Run(bin, "agent", "--engine", "nginx", "--server", "https://127.0.0.1:1", "--data-dir", filepath.Join(dir, "agent"))
	if err == nil || !strings.Contains(err.Error(), `--engine "nginx": want native or haproxy`) {
		t.Errorf("agent --engine nginx: %v", err)
	}
}

// hapStartAgent enrolls and starts `fulcrum agent --engine haproxy` called name. When the
// test ends the agent is stopped with SIGTERM (which stops its HAProxy), and an HAProxy it
// left behind is killed by the pid in its directory.
func hapStartAgent(t *testing.T, srv *servertest.Server, name string) *servertest.Process {
	t.Helper()
	tok, err := servertest.Run(bin, "agent-token", "--data-dir", srv.DataDir, "--name", name)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	t.Cleanup(func() { hapKillLeftover(filepath.Join(dir, "haproxy", "haproxy.pid")) })
	p := servertest.StartProcess(t, bin, "agent", "--engine", "haproxy", "--server", srv.AgentURL, "--join-token", strings.TrimSpace(tok),
		"--data-dir", dir, "--name", name, "--log-level", "warn")
	t.Cleanup(func() {
		p.Signal(syscall.SIGTERM)
		select {
		case <-p.Done():
		case <-time.After(30 * time.Second):
			t.Errorf("agent %s did not stop within 30s of SIGTERM:\n%s", name, p.Logs())
		}
	})
	return p
}

// hapKillLeftover kills the HAProxy master whose pid file is pidFile, if it still runs.
func hapKillLeftover(pidFile string) {
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		return
	}
	syscall.Kill(pid, syscall.SIGKILL)
}

// hapBackendOn serves name on 127.0.0.1:port again (a member coming back up).
func hapBackendOn(t *testing.T, name string, port int) {
	t.Helper()
	var ln net.Listener
	var err error
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if ln, err = net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port))); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatalf("listen again on %d: %v", port, err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, name) })}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
}

// hapHTTPS makes one HTTPS request to addr naming serverName (verified against roots) and
// returns the certificate served and the body; nil on any failure.
func hapHTTPS(addr, serverName string, roots *x509.CertPool) (*x509.Certificate, string) {
	d := &net.Dialer{Timeout: 2 * time.Second}
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		},
		TLSClientConfig:   &tls.Config{RootCAs: roots, ServerName: serverName},
		DisableKeepAlives: true}}
	resp, err := c.Get("https://" + serverName + "/")
	if err != nil {
		return nil, ""
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || resp.TLS == nil || len(resp.TLS.PeerCertificates) == 0 {
		return nil, ""
	}
	return resp.TLS.PeerCertificates[0], string(body)
}

// TestHAProxyConfigChangesUnderLoad: the embedded agent configured for HAProxy
// (--embedded-agent-engine haproxy) serves a load balancer of provider haproxy while 50
// configuration changes go through the API (each one applied before the next: listener
// timeouts and member weights, each a reload of HAProxy) under constant client load: not
// one request fails.
func TestHAProxyConfigChangesUnderLoad(t *testing.T) {
	dataDir := t.TempDir()
	t.Cleanup(func() { hapKillLeftover(filepath.Join(dataDir, "agent", "haproxy", "haproxy.pid")) })
	srv := servertest.Start(t, bin, dataDir, "--auth", "noauth", "--log-level", "warn", "--embedded-agent-engine", "haproxy")
	t.Cleanup(func() { srv.Stop(30 * time.Second) })
	a := newAPI(srv.URL)
	one, two := startBackend(t, "one"), startBackend(t, "two")
	port := freePort(t)
	r := a.must(t, "POST", "/v2/lbaas/loadbalancers", map[string]any{"loadbalancer": map[string]any{
		"name": "hap-load", "vip_subnet_id": vipSubnet(a), "provider": "haproxy"}}, 201)
	g := &graph{lb: r.id("loadbalancer"), vip: r.field("loadbalancer", "vip_address"), port: port}
	g.listener = a.must(t, "POST", "/v2/lbaas/listeners", map[string]any{"listener": map[string]any{
		"loadbalancer_id": g.lb, "protocol": "HTTP", "protocol_port": port}}, 201).id("listener")
	g.pool = a.must(t, "POST", "/v2/lbaas/pools", map[string]any{"pool": map[string]any{
		"listener_id": g.listener, "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}}, 201).id("pool")
	var members []string
	for _, b := range []*backend{one, two} {
		members = append(members, a.must(t, "POST", "/v2/lbaas/pools/"+g.pool+"/members", map[string]any{"member": map[string]any{
			"address": "127.0.0.1", "protocol_port": b.port, "name": b.name}}, 201).id("member"))
	}
	a.waitStatus(t, g.lb, "ACTIVE", 60*time.Second)
	if agent, _ := placement(t, a, g.lb); agent != "embedded" {
		t.Fatalf("placed on %q, want the embedded agent running HAProxy", agent)
	}
	waitTraffic(t, g.url(), 20*time.Second)

	// Two clients with keep-alive connections, bounded in time and count.
	stop := make(chan struct{})
	type tally struct {
		ok   int
		fail []string
	}
	results := make(chan tally, 2)
	for w := 0; w < 2; w++ {
		go func() {
			c := &http.Client{Timeout: 10 * time.Second}
			defer c.CloseIdleConnections()
			var tl tally
			// At most 500 requests per second each: load, not a CPU hog on a shared machine.
			pace := time.NewTicker(2 * time.Millisecond)
			defer pace.Stop()
			limit := time.Now().Add(4 * time.Minute)
			for i := 0; i < 100000 && time.Now().Before(limit); i++ {
				select {
				case <-stop:
					results <- tl
					return
				case <-pace.C:
				}
				resp, err := c.Get(g.url() + "/")
				if err != nil {
					tl.fail = append(tl.fail, err.Error())
					continue
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != 200 || (string(body) != "one" && string(body) != "two") {
					tl.fail = append(tl.fail, strconv.Itoa(resp.StatusCode)+" "+string(body))
					continue
				}
				tl.ok++
			}
			results <- tl
		}()
	}
	start := time.Now()
	for i := 0; i < 50; i++ {
		if i%2 == 0 {
			a.must(t, "PUT", "/v2/lbaas/listeners/"+g.listener, map[string]any{"listener": map[string]any{
				"timeout_client_data": 50000 + i}}, 200)
		} else {
			a.must(t, "PUT", "/v2/lbaas/pools/"+g.pool+"/members/"+members[i%4/2], map[string]any{"member": map[string]any{
				"weight": 1 + i%7}}, 200)
		}
		a.waitStatus(t, g.lb, "ACTIVE", 60*time.Second)
	}
	took := time.Since(start)
	close(stop)
	var total tally
	for w := 0; w < 2; w++ {
		tl := <-results
		total.ok += tl.ok
		total.fail = append(total.fail, tl.fail...)
	}
	t.Logf("50 configuration changes applied in %s under load: %d requests served, %d failed", took.Round(time.Millisecond), total.ok, len(total.fail))
	if len(total.fail) > 0 {
		t.Errorf("%d requests failed during the changes, first: %v", len(total.fail), total.fail[:min(5, len(total.fail))])
	}
	if total.ok < 100 {
		t.Errorf("only %d requests served during 50 changes", total.ok)
	}
}
