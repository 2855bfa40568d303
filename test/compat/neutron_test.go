package compat_test

import (
	"io"
	"net"
	"net/http"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// needNeutron fails the test when the neutron CLI is missing: CI installs
// it (test/install).
func needNeutron(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("neutron"); err != nil {
		t.Fatal("the neutron CLI is required (apt-get install python3-neutronclient; test/install does)")
	}
}

// neutronBackend is an HTTP server on a loopback address that answers
// every path with its name (health checks included).
func neutronBackend(t *testing.T, addr string) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("backend %s: %v", addr, err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "backend "+addr)
	}), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
}

// neutronClient is an HTTP client whose connections come from the
// loopback address src ("" for the system's choice), without keep-alive
// (each request is a new connection, as the filters and counters see it).
func neutronClient(src string) *http.Client {
	d := &net.Dialer{Timeout: 3 * time.Second}
	if src != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(src)}
	}
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}}
}

// neutronServed reports whether a GET of url from src is answered 200 by
// a backend.
func neutronServed(src, url string) bool {
	res, err := neutronClient(src).Get(url)
	if err != nil {
		return false
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode == 200 && strings.HasPrefix(string(body), "backend ")
}

// neutronTraffic sends requests to vip from src until every backend has
// answered (bounded: 400 requests, 90 s) and returns how many each
// answered.
func neutronTraffic(t *testing.T, src, vip string, backends []string) map[string]int {
	t.Helper()
	client := neutronClient(src)
	seen := map[string]int{}
	deadline := time.Now().Add(90 * time.Second)
	var lastErr error
	for i := 0; i < 400 && time.Now().Before(deadline); i++ {
		res, err := client.Get("http://" + vip + "/")
		if err != nil {
			lastErr = err
			time.Sleep(200 * time.Millisecond) // the engine may not have bound the VIP yet
			continue
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode == 200 {
			addr, _, _ := strings.Cut(strings.TrimPrefix(string(body), "backend "), ":")
			seen[addr]++
		}
		all := true
		for _, b := range backends {
			all = all && seen[b] > 0
		}
		if all {
			return seen
		}
	}
	t.Fatalf("traffic through %s reached %v, want every one of %v (last error %v)", vip, seen, backends, lastErr)
	return nil
}

// neutronStat polls a stats column of the CLI until it is positive (the
// agent reports counters in its heartbeats).
func neutronStat(t *testing.T, env []string, column string, args ...string) int {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	var out string
	for time.Now().Before(deadline) {
		var err error
		out, err = run(t, env, "neutron", append(args, "-f", "value", "-c", column)...)
		if err == nil {
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if n, err := strconv.Atoi(strings.TrimSpace(lines[len(lines)-1])); err == nil && n > 0 {
				return n
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("neutron %s: %s never positive; last output %q", strings.Join(args, " "), column, out)
	return 0
}

// neutronClosed waits until nothing accepts connections from src at vip
// any more (the agent has dropped the deleted load balancer).
func neutronClosed(t *testing.T, src, vip string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		d := &net.Dialer{Timeout: 2 * time.Second}
		if src != "" {
			d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(src)}
		}
		c, err := d.Dial("tcp", vip)
		if err != nil {
			return
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatalf("%s still accepts connections after the delete", vip)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

var vipLine = regexp.MustCompile(`(?m)^VIP=(\S+)$`)

// TestNeutronCLISeedFlows runs seed 002's Neutron-LBaaS v2 flow and seed
// 001's LBaaS v1 flow with the stock neutron CLI and OS_CLOUD (so every
// call goes to the network endpoint of the service catalog), against the
// fulcrum provider and the embedded agent in loopback network mode, with
// real backends on 127.0.0.0/8: requests through each VIP reach both
// members, the v2 L7 policy rejects /admin, the security group put on the
// v2 VIP port lets one client address in and keeps another out, the
// counters the CLI shows grow, and each flow's deletes leave nothing
// behind.
func TestNeutronCLISeedFlows(t *testing.T) {
	needNeutron(t)
	// Ports free at the time, not fixed ones: anything else on the machine on the same
	// address and port (another run of this suite, a benchmark) made a bind fail.
	port, v2Port, v1Port := freePortNumber(t), freePortNumber(t), freePortNumber(t)
	// The v2 VIP's security group admits allowed and not denied.
	const allowed, denied = "127.13.0.100", "127.13.0.101"
	v2Members := []string{"127.13.0.11", "127.13.0.12"}
	v1Members := []string{"127.13.0.21", "127.13.0.22"}
	for _, a := range append(append([]string{}, v2Members...), v1Members...) {
		neutronBackend(t, a+":"+port)
	}
	s := startServer(t, append([]string{"--auth", "keystone", "--provider", "fulcrum", "--embedded-agent=true", "--network", "loopback"},
		loopbackMembers...)...)
	env := append(s.cloudEnv(), "MEMBER_PORT="+port, "V2_MEMBERS="+strings.Join(v2Members, " "),
		"V1_MEMBERS="+strings.Join(v1Members, " "), "V2_PORT="+v2Port, "V1_PORT="+v1Port, "V1_VIP_ADDRESS=127.10.13.13", "V2_CLIENT="+allowed)
	phase := func(t *testing.T, name string) string {
		t.Helper()
		out, err := run(t, env, "bash", script("neutron-lbaas.sh"), name)
		t.Logf("neutron-lbaas.sh %s:\n%s", name, lastLines(out, 120))
		if err != nil {
			t.Fatalf("neutron-lbaas.sh %s: %v", name, err)
		}
		return out
	}
	vipOf := func(t *testing.T, out string) string {
		t.Helper()
		m := vipLine.FindStringSubmatch(out)
		if m == nil {
			t.Fatal("the flow printed no VIP")
		}
		return m[1]
	}

	t.Run("lbaas-v2", func(t *testing.T) {
		out := phase(t, "v2-create")
		for _, want := range []string{`"healthmonitor": {`, `"l7policies": [`, "remote_ip_prefix", allowed + "/32"} {
			if !strings.Contains(out, want) {
				t.Errorf("the v2 flow's output lacks %q", want)
			}
		}
		// quota-show's table, whose first column is as wide as the
		// longest key of both services.
		for _, want := range []string{`(?m)^\| loadbalancer +\| 25 +\|$`, `(?m)^\| pool +\| 50 +\|$`, `(?m)^\| port +\| \d+ +\|$`} {
			if !regexp.MustCompile(want).MatchString(out) {
				t.Errorf("the v2 flow's quota-show lacks %s", want)
			}
		}
		vip := vipOf(t, out)
		seen := neutronTraffic(t, allowed, vip, v2Members)
		t.Logf("v2 VIP %s from %s: %v", vip, allowed, seen)
		// The group's one rule names allowed: another client is kept out
		// (polled: the agent may apply the port update after the flow's
		// last ACTIVE), and stays out while allowed is still served.
		deadline := time.Now().Add(60 * time.Second)
		for neutronServed(denied, "http://"+vip+"/") {
			if time.Now().After(deadline) {
				t.Fatalf("a client at %s is still served through the v2 VIP after 60 s; its security group admits only %s", denied, allowed)
			}
			time.Sleep(200 * time.Millisecond)
		}
		for i := 0; i < 5; i++ {
			if neutronServed(denied, "http://"+vip+"/") || !neutronServed(allowed, "http://"+vip+"/") {
				t.Fatalf("try %d: the v2 VIP's security group does not hold (%s must be served, %s not)", i, allowed, denied)
			}
		}
		res, err := neutronClient(allowed).Get("http://" + vip + "/admin/users")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusForbidden {
			t.Errorf("GET /admin through the VIP: %d, want 403 from the REJECT policy", res.StatusCode)
		}
		if n := neutronStat(t, s.cloudEnv(), "total_connections", "lbaas-loadbalancer-stats", "lb1"); n < 1 {
			t.Errorf("lbaas-loadbalancer-stats: total_connections %d", n)
		}
		// The same objects through the Octavia endpoint.
		if out, err := run(t, s.cloudEnv(), "openstack", "loadbalancer", "show", "lb1", "-f", "value", "-c", "description"); err != nil || strings.TrimSpace(out) != "web tier" {
			t.Errorf("openstack loadbalancer show lb1: %q %v", out, err)
		}
		phase(t, "v2-delete")
		neutronClosed(t, allowed, vip)
	})

	t.Run("lb-v1", func(t *testing.T) {
		out := phase(t, "v1-create")
		if !strings.Contains(out, "Another Vip already exists for pool") {
			t.Error("the second VIP of a pool was not refused with v1's message")
		}
		vip := vipOf(t, out)
		if vip != "127.10.13.13:"+v1Port {
			t.Errorf("v1 VIP %s, want the address asked for", vip)
		}
		seen := neutronTraffic(t, "", vip, v1Members)
		t.Logf("v1 VIP %s: %v", vip, seen)
		if n := neutronStat(t, s.cloudEnv(), "total_connections", "lb-pool-stats", "mypool"); n < 1 {
			t.Errorf("lb-pool-stats: total_connections %d", n)
		}
		out = phase(t, "v1-delete")
		if !strings.Contains(out, "is still in use") {
			t.Error("deleting a pool with a VIP was not refused with v1's message")
		}
		neutronClosed(t, "", vip)
	})
}
