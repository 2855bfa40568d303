package compat_test

import (
	"encoding/json"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// loopbackMembers keeps every member address of our own scripts on this
// host.
var loopbackMembers = []string{"--member-address-allow", "127.0.0.0/8"}

func script(name string) string { return filepath.Join(repoRoot(), "test", "compat", name) }

// TestOpenstackCLIPasswordMode runs the CLI smoke through Keystone password
// auth with the bootstrap clouds.yaml: create → listener → pool → member →
// monitor → stats → status → cascade delete.
func TestOpenstackCLIPasswordMode(t *testing.T) {
	openstackCLIPasswordMode(t, startServer(t, append([]string{"--auth", "keystone"}, loopbackMembers...)...))
}

// openstackCLIPasswordMode runs the CLI smoke against s (Keystone auth).
func openstackCLIPasswordMode(t *testing.T, s *server) {
	t.Helper()
	needOpenstack(t)
	if s.Export == "" {
		t.Fatal("the server printed no `export OS_CLOUD=...` line")
	}
	out, err := run(t, append(s.cloudEnv(), "MODE=password", "SUBNET_ID=private-subnet", "WAIT=1"), "bash", script("osc-smoke.sh"))
	t.Logf("osc-smoke MODE=password:\n%s", lastLines(out, 60))
	if err != nil {
		t.Fatalf("osc-smoke failed: %v", err)
	}
	// The cascade delete (--wait returned once it is gone) released the
	// VIP port in the same transaction.
	ports, err := run(t, s.cloudEnv(), "openstack", "port", "list", "--device-owner", "Octavia", "-f", "value", "-c", "ID")
	if err != nil || strings.TrimSpace(ports) != "" {
		t.Errorf("VIP ports left after the load balancer was deleted: %q %v", ports, err)
	}
}

// TestOpenstackCLINoAuthMode runs the CLI smoke without Keystone: every
// call, the subnet lookups included, goes to the one endpoint.
func TestOpenstackCLINoAuthMode(t *testing.T) {
	needOpenstack(t)
	s := startServer(t, append([]string{"--auth", "noauth"}, loopbackMembers...)...)
	out, err := run(t, []string{"MODE=none", "ENDPOINT=" + s.URL, "SUBNET_ID=private-subnet", "WAIT=1"}, "bash", script("osc-smoke.sh"))
	t.Logf("osc-smoke MODE=none:\n%s", lastLines(out, 60))
	if err != nil {
		t.Fatalf("osc-smoke failed: %v", err)
	}
}

// TestOpenstackCLIDefaultProviderTraffic runs the CLI smoke against the
// default provider (the embedded agent's native engine) with a real backend
// at the member address the script uses: traffic flows through the VIP.
func TestOpenstackCLIDefaultProviderTraffic(t *testing.T) {
	needOpenstack(t)
	ln, err := net.Listen("tcp", "127.0.0.10:8080")
	if err != nil {
		t.Fatalf("backend for the smoke's member 127.0.0.10:8080: %v", err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })}
	go srv.Serve(ln)
	defer srv.Close()
	s := startServer(t, append([]string{"--auth", "keystone", "--provider", "fulcrum", "--embedded-agent=true"}, loopbackMembers...)...)
	out, err := run(t, append(s.cloudEnv(), "MODE=password", "SUBNET_ID=private-subnet", "WAIT=1", "CHECK_TRAFFIC=1",
		// A port free now rather than a fixed one: anything else on the machine listening
		// on the VIP's port (another run's load balancer, a benchmark) made the
		// listener's bind fail and the load balancer ERROR.
		"LISTENER_PORT="+freePortNumber(t)), "bash", script("osc-smoke.sh"))
	t.Logf("osc-smoke MODE=password, provider fulcrum:\n%s", lastLines(out, 60))
	if err != nil {
		t.Fatalf("osc-smoke failed: %v", err)
	}
	if !strings.Contains(out, "answered through the load balancer") {
		t.Fatal("no traffic check in the smoke's output")
	}
}

// TestDemoProjectFlow is the admin flow of issue 3: create project demo, a
// user in it with load-balancer_member; that user creates a load balancer,
// sees only its own, and is refused the admin's.
func TestDemoProjectFlow(t *testing.T) {
	needOpenstack(t)
	s := startServer(t, append([]string{"--auth", "keystone"}, loopbackMembers...)...)
	admin := func(args ...string) string {
		t.Helper()
		out, err := run(t, s.cloudEnv(), "openstack", args...)
		if err != nil {
			t.Fatalf("openstack %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(out)
	}
	adminLB := admin("loadbalancer", "create", "--name", "admin-lb", "--vip-subnet-id", "private-subnet", "--wait", "-f", "value", "-c", "id")
	admin("project", "create", "demo")
	admin("user", "create", "--project", "demo", "--password", "demo-secret", "demo-user")
	admin("role", "add", "--project", "demo", "--user", "demo-user", "load-balancer_member")
	demoEnv := []string{"OS_AUTH_URL=" + s.URL + "/identity/v3", "OS_IDENTITY_API_VERSION=3", "OS_AUTH_TYPE=password",
		"OS_USERNAME=demo-user", "OS_PASSWORD=demo-secret", "OS_PROJECT_NAME=demo", "OS_USER_DOMAIN_NAME=Default",
		"OS_PROJECT_DOMAIN_NAME=Default", "OS_REGION_NAME=RegionOne", "OS_INTERFACE=public"}
	demo := func(args ...string) (string, error) {
		t.Helper()
		out, err := run(t, demoEnv, "openstack", args...)
		return strings.TrimSpace(out), err
	}
	created, err := demo("loadbalancer", "create", "--name", "demo-lb", "--vip-subnet-id", "private-subnet", "--wait", "-f", "json")
	if err != nil {
		t.Fatalf("demo user creates a load balancer: %v\n%s", err, created)
	}
	var lb map[string]any
	if err := json.Unmarshal([]byte(created), &lb); err != nil {
		t.Fatalf("create output: %v\n%s", err, created)
	}
	if vip, _ := lb["vip_address"].(string); !strings.HasPrefix(vip, "127.10.") {
		t.Errorf("demo load balancer VIP %q, want an address of private-subnet (127.10.0.0/16)", vip)
	}
	list, err := demo("loadbalancer", "list", "-f", "value", "-c", "name")
	if err != nil || list != "demo-lb" {
		t.Errorf("demo user's list: %q, %v; want only demo-lb", list, err)
	}
	out, err := demo("loadbalancer", "show", adminLB)
	if err == nil || !strings.Contains(out, "403") && !strings.Contains(out, "Policy does not allow") {
		t.Errorf("demo user showing the admin's load balancer: err %v, output %q; want a 403", err, out)
	}
	if all := admin("loadbalancer", "list", "-f", "value", "-c", "name"); !strings.Contains(all, "demo-lb") || !strings.Contains(all, "admin-lb") {
		t.Errorf("admin's list: %q, want both", all)
	}
	// Not an admin: the CLI falls back to the user's own projects.
	if out, err := demo("project", "list", "-f", "value", "-c", "Name"); err != nil || out != "demo" {
		t.Errorf("demo user's projects: %q, %v; want only demo", out, err)
	}
	if out, err := demo("user", "create", "--password", "x", "mallory"); err == nil || !strings.Contains(out, "403") {
		t.Errorf("demo user creating a user: %v %s; want a 403", err, out)
	}
	if _, err := demo("loadbalancer", "delete", "--wait", "demo-lb"); err != nil {
		t.Errorf("demo user deletes its load balancer: %v", err)
	}
}

// gophercloudExpected are gophercloud's load-balancer acceptance tests
// (v2.16.0, the version gophercloud-acceptance.sh pins): all of them must
// run and pass.
const gophercloudExpected = `^(TestAmphoraeList|TestFlavorProfilesList|TestFlavorProfilesCRUD|TestFlavorsList|TestFlavorsCRUD|` +
	`TestL7PoliciesList|TestListenersList|TestLoadbalancersList|TestLoadbalancersListByTags|TestLoadbalancerHTTPCRUD|` +
	`TestLoadBalancerWithAdditionalVips|TestLoadBalancerWithVIPSecurityGroups|TestLoadbalancersCRUD|TestLoadbalancersCascadeCRUD|` +
	`TestLoadbalancersFullyPopulatedCRUD|TestMonitorsList|TestPoolsList|TestProvidersList|TestProviderCapabilities|TestQuotasGet|` +
	`TestQuotasUpdate|TestQuotasDelete)$`

// gophercloudNetworkingExpected are gophercloud's networking acceptance
// tests of security groups and tags that need only networks, subnets,
// ports and groups (internal/acceptance/openstack/networking/v2/extensions).
const gophercloudNetworkingExpected = `^(TestSecurityGroupsCreateUpdateDelete|TestSecurityGroupsPort|TestSecurityGroupsRevision|` +
	`TestTags|TestQueryByTags)$`

// TestGophercloudAcceptance runs gophercloud's own load-balancer acceptance
// tests against a fresh server with the noop provider and Keystone auth,
// in the noop network mode: the tests make 192.168.x.0/24 subnets, which the
// loopback mode refuses as it cannot serve them.
func TestGophercloudAcceptance(t *testing.T) {
	gophercloudRun(t, startServer(t, "--auth", "keystone", "--network", "noop"), "", gophercloudExpected)
}

// TestGophercloudNetworkingAcceptance runs gophercloud's security group and
// tag acceptance tests against the Neutron subset (noop network mode, as
// they make 192.168.x subnets).
func TestGophercloudNetworkingAcceptance(t *testing.T) {
	gophercloudRun(t, startServer(t, "--auth", "keystone", "--network", "noop"),
		"./internal/acceptance/openstack/networking/v2/extensions/", gophercloudNetworkingExpected)
}

// gophercloudRun runs the acceptance tests of pkg ("" the load-balancer
// ones) that expected names against s (Keystone auth, noop network mode)
// and requires each of them to pass.
func gophercloudRun(t *testing.T, s *server, pkg, expected string) {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Fatal("go is required to build gophercloud's acceptance tests")
	}
	env := []string{"OS_AUTH_URL=" + s.URL + "/identity/v3", "OS_USERNAME=admin", "OS_PASSWORD=" + s.Password,
		"OS_PROJECT_NAME=admin", "OS_DOMAIN_NAME=Default", "OS_REGION_NAME=RegionOne", "GC_RUN=" + expected,
		"GC_WORK=" + t.TempDir()}
	if pkg != "" {
		env = append(env, "GC_PKG="+pkg)
	}
	out, err := run(t, env, "bash", script("gophercloud-acceptance.sh"))
	var summary []string
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "--- ") || strings.HasPrefix(line, "ok ") || strings.HasPrefix(line, "FAIL") {
			summary = append(summary, line)
		}
	}
	t.Logf("gophercloud acceptance:\n%s", strings.Join(summary, "\n"))
	if err != nil {
		t.Fatalf("gophercloud acceptance failed: %v\n%s", err, lastLines(out, 150))
	}
	// Every expected test must have run and passed (a renamed test must not
	// turn this into a no-op).
	names := strings.Split(strings.TrimSuffix(strings.TrimPrefix(expected, "^("), ")$"), "|")
	for _, name := range names {
		if !strings.Contains(out, "--- PASS: "+name+" ") {
			t.Errorf("gophercloud %s did not pass", name)
		}
	}
}
