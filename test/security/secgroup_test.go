package security

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Security groups are a tenant ↔ tenant and client ↔ member boundary: a
// project's groups are its own (no other project reads them, adds rules to
// them or puts them on a load balancer), and the groups on a VIP port decide
// which clients reach the load balancer's listeners — in the data plane,
// with real traffic. Network quotas keep one project from exhausting what
// the others share.

// sgBackend is a member: an HTTP server on 127.0.0.1 that answers "member"
// and a UDP echo, both on one port.
type sgBackend struct{ port int }

func sgStartBackend(t *testing.T) *sgBackend {
	t.Helper()
	for i := 0; i < 20; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		pc, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			ln.Close()
			continue
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "member") })}
		go srv.Serve(ln)
		go func() {
			buf := make([]byte, 2048)
			for {
				n, addr, err := pc.ReadFrom(buf)
				if err != nil {
					return
				}
				pc.WriteTo(append([]byte("echo:"), buf[:n]...), addr)
			}
		}()
		t.Cleanup(func() { srv.Close(); pc.Close() })
		return &sgBackend{port: port}
	}
	t.Fatal("no free port for the backend")
	return nil
}

// sgFreePort is a port free for both TCP and UDP on the loopback VIPs.
func sgFreePort(t *testing.T) int {
	t.Helper()
	for i := 0; i < 20; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if pc, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			pc.Close()
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}

// sgGet sends one HTTP request from source address src and reports the
// body, or "" when the connection was refused or closed without an answer.
func sgGet(src, addr string) string {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 3 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return ""
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: sg.example\r\nConnection: close\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// sgUDP sends one datagram from src and returns the reply, or "" when none
// comes within a short wait.
func sgUDP(src, addr string, wait time.Duration) string {
	ra, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return ""
	}
	c, err := net.DialUDP("udp", &net.UDPAddr{IP: net.ParseIP(src)}, ra)
	if err != nil {
		return ""
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(wait))
	c.Write([]byte("ping from " + src))
	buf := make([]byte, 2048)
	n, err := c.Read(buf)
	if err != nil {
		return ""
	}
	return string(buf[:n])
}

// sgEventually polls check until it holds (60 s at most).
func sgEventually(t *testing.T, what string, check func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !check() {
		if time.Now().After(deadline) {
			t.Fatalf("after 60s: %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// sgGroup makes a security group and returns its id.
func sgGroup(t *testing.T, s *session, name string) string {
	t.Helper()
	r := s.must(t, "POST", "/networking/v2.0/security-groups", map[string]any{"security_group": map[string]any{"name": name}}, 201)
	return str(r.body, "security_group", "id")
}

// sgRule adds an ingress rule to group and returns its id.
func sgRule(t *testing.T, s *session, group string, rule map[string]any) string {
	t.Helper()
	body := map[string]any{"security_group_id": group, "direction": "ingress"}
	for k, v := range rule {
		body[k] = v
	}
	r := s.must(t, "POST", "/networking/v2.0/security-group-rules", map[string]any{"security_group_rule": body}, 201)
	return str(r.body, "security_group_rule", "id")
}

func sgPrivateSubnet(t *testing.T, s *session) string {
	t.Helper()
	r := s.must(t, "GET", "/networking/v2.0/subnets?name=private-subnet", nil, 200)
	list, _ := r.body["subnets"].([]any)
	if len(list) != 1 {
		t.Fatalf("private-subnet: %s", r.raw)
	}
	return str(list[0].(map[string]any), "id")
}

// sgDeploy makes a load balancer with vip_sg_ids groups, an HTTP and a UDP
// listener on one port and a pool each holding backend, and returns its id,
// VIP port id and VIP address.
func sgDeploy(t *testing.T, s *session, backend *sgBackend, port int, groups ...string) (string, string, string) {
	t.Helper()
	body := map[string]any{"name": "sg", "vip_subnet_id": sgPrivateSubnet(t, s)}
	if groups != nil {
		body["vip_sg_ids"] = groups
	}
	lbr := s.must(t, "POST", "/v2/lbaas/loadbalancers", map[string]any{"loadbalancer": body}, 201)
	lb := str(lbr.body, "loadbalancer", "id")
	s.waitLB(t, lb, "ACTIVE", 60*time.Second)
	for _, proto := range []string{"HTTP", "UDP"} {
		lr := s.must(t, "POST", "/v2/lbaas/listeners", map[string]any{"listener": map[string]any{"loadbalancer_id": lb, "protocol": proto, "protocol_port": port}}, 201)
		s.waitLB(t, lb, "ACTIVE", 60*time.Second)
		pr := s.must(t, "POST", "/v2/lbaas/pools", map[string]any{"pool": map[string]any{"listener_id": str(lr.body, "listener", "id"), "protocol": proto, "lb_algorithm": "ROUND_ROBIN"}}, 201)
		s.waitLB(t, lb, "ACTIVE", 60*time.Second)
		s.must(t, "POST", "/v2/lbaas/pools/"+str(pr.body, "pool", "id")+"/members", map[string]any{"member": map[string]any{"address": "127.0.0.1", "protocol_port": backend.port}}, 201)
		s.waitLB(t, lb, "ACTIVE", 60*time.Second)
	}
	return lb, str(lbr.body, "loadbalancer", "vip_port_id"), str(lbr.body, "loadbalancer", "vip_address")
}

// TestSecgroupVIPFilterAdmitsOnlyTheRulesSources: the ingress rules of the
// groups on a load balancer's VIP port decide, in the data plane, which
// clients its listeners serve — by protocol, port and source prefix — and
// every change of the rules or of the port's groups (through the load
// balancer's vip_sg_ids or through the port API) reaches the traffic
// without any other call.
func TestSecgroupVIPFilterAdmitsOnlyTheRulesSources(t *testing.T) {
	c := newCloud(t)
	alice := c.user(t, "sg-filter", "sg-alice", "member")
	backend := sgStartBackend(t)
	port := sgFreePort(t)
	web := sgGroup(t, alice, "web")
	// TCP to the listener's port from 127.0.0.2 only; UDP from 127.0.0.5
	// only; a TCP rule for another port admits nobody here.
	first := sgRule(t, alice, web, map[string]any{"protocol": "tcp", "port_range_min": port, "port_range_max": port, "remote_ip_prefix": "127.0.0.2/32"})
	sgRule(t, alice, web, map[string]any{"protocol": "udp", "port_range_min": port, "port_range_max": port, "remote_ip_prefix": "127.0.0.5/32"})
	sgRule(t, alice, web, map[string]any{"protocol": "tcp", "port_range_min": port + 1, "port_range_max": port + 1, "remote_ip_prefix": "127.0.0.3/32"})
	lb, vipPort, vip := sgDeploy(t, alice, backend, port, web)
	addr := net.JoinHostPort(vip, strconv.Itoa(port))

	sgEventually(t, "HTTP from 127.0.0.2 (admitted by the tcp rule) is served", func() bool { return sgGet("127.0.0.2", addr) == "member" })
	for _, src := range []string{"127.0.0.3", "127.0.0.5", "127.0.0.1"} {
		if got := sgGet(src, addr); got != "" {
			t.Errorf("HTTP from %s, which no tcp rule for port %d admits, was answered %q", src, port, got)
		}
	}
	sgEventually(t, "UDP from 127.0.0.5 (admitted by the udp rule) is echoed", func() bool { return strings.HasPrefix(sgUDP("127.0.0.5", addr, time.Second), "echo:") })
	if got := sgUDP("127.0.0.2", addr, 300*time.Millisecond); got != "" {
		t.Errorf("UDP from 127.0.0.2, which only a tcp rule admits, got %q", got)
	}

	// A new rule admits 127.0.0.3, removing the first refuses 127.0.0.2:
	// rule changes alone re-reconcile the load balancer.
	sgRule(t, alice, web, map[string]any{"protocol": "tcp", "remote_ip_prefix": "127.0.0.3/32"})
	sgEventually(t, "HTTP from 127.0.0.3 is served after a rule admits it", func() bool { return sgGet("127.0.0.3", addr) == "member" })
	alice.must(t, "DELETE", "/networking/v2.0/security-group-rules/"+first, nil, 204)
	sgEventually(t, "HTTP from 127.0.0.2 is refused once its rule is gone", func() bool { return sgGet("127.0.0.2", addr) == "" })
	alice.waitLB(t, lb, "ACTIVE", 60*time.Second)

	// Groups on the VIP port through the port API (as seed 002 does): an
	// empty group admits nobody.
	closed := sgGroup(t, alice, "closed")
	alice.must(t, "PUT", "/networking/v2.0/ports/"+vipPort, map[string]any{"port": map[string]any{"security_groups": []string{closed}}}, 200)
	sgEventually(t, "nobody is served through a group without ingress rules", func() bool { return sgGet("127.0.0.3", addr) == "" })
	if got := sgUDP("127.0.0.5", addr, 300*time.Millisecond); got != "" {
		t.Errorf("UDP answered through a group without ingress rules: %q", got)
	}
	// Clearing vip_sg_ids leaves the port without groups: no filter.
	alice.must(t, "PUT", "/v2/lbaas/loadbalancers/"+lb, map[string]any{"loadbalancer": map[string]any{"vip_sg_ids": []string{}}}, 200)
	sgEventually(t, "every client is served once the VIP port has no groups", func() bool { return sgGet("127.0.0.4", addr) == "member" })
	r := alice.must(t, "GET", "/v2/lbaas/loadbalancers/"+lb, nil, 200)
	if ids, _ := r.body["loadbalancer"].(map[string]any)["vip_sg_ids"].([]any); len(ids) != 0 {
		t.Errorf("vip_sg_ids after clearing: %v", ids)
	}
	// vip_sg_ids back on: the filter is back.
	alice.must(t, "PUT", "/v2/lbaas/loadbalancers/"+lb, map[string]any{"loadbalancer": map[string]any{"vip_sg_ids": []string{web}}}, 200)
	sgEventually(t, "127.0.0.4 is refused again with vip_sg_ids set", func() bool { return sgGet("127.0.0.4", addr) == "" })
	if got := sgGet("127.0.0.3", addr); got != "member" {
		t.Errorf("127.0.0.3, admitted by the group, got %q", got)
	}
	// The group a VIP port carries cannot be deleted from under it.
	if r := alice.call(t, "DELETE", "/networking/v2.0/security-groups/"+web, nil); r.code != 409 || !contains(r.raw, "SecurityGroupInUse") {
		t.Errorf("deleting the VIP port's group: %d %s", r.code, r.raw)
	}
}

// TestSecgroupRemoteGroupAdmitsItsMembers: a rule whose remote is a group
// admits the addresses of the ports carrying that group, and a port joining
// the group is admitted without any load-balancer call.
func TestSecgroupRemoteGroupAdmitsItsMembers(t *testing.T) {
	c := newCloud(t)
	alice := c.user(t, "sg-remote", "sg-remote-alice", "member")
	backend := sgStartBackend(t)
	port := sgFreePort(t)
	web, peers := sgGroup(t, alice, "web"), sgGroup(t, alice, "peers")
	sgRule(t, alice, web, map[string]any{"protocol": "tcp", "remote_group_id": peers})
	_, _, vip := sgDeploy(t, alice, backend, port, web)
	addr := net.JoinHostPort(vip, strconv.Itoa(port))
	// A port of the private network in peers: its address is admitted.
	private := netFirstID(t, alice, "/networking/v2.0/networks?name=private", "networks")
	pr := alice.must(t, "POST", "/networking/v2.0/ports", map[string]any{"port": map[string]any{"network_id": private, "security_groups": []string{peers}}}, 201)
	ips, _ := pr.body["port"].(map[string]any)["fixed_ips"].([]any)
	peer := str(ips[0].(map[string]any), "ip_address")
	sgEventually(t, "HTTP from the peer port's address "+peer+" is served", func() bool { return sgGet(peer, addr) == "member" })
	if got := sgGet("127.0.0.2", addr); got != "" {
		t.Errorf("a client outside the remote group got %q", got)
	}
	// The port leaves the group: its address is refused.
	alice.must(t, "PUT", "/networking/v2.0/ports/"+str(pr.body, "port", "id"), map[string]any{"port": map[string]any{"security_groups": []string{}}}, 200)
	sgEventually(t, "the former peer is refused", func() bool { return sgGet(peer, addr) == "" })
}

// TestSecgroupAnotherProjectsGroupInVIPSGIDs: vip_sg_ids names only groups
// of the load balancer's own project — on create and update, for members
// and admins — with Octavia's 400 "Security Group <id> not found.", the
// same answer as for a group that does not exist.
func TestSecgroupAnotherProjectsGroupInVIPSGIDs(t *testing.T) {
	c := newCloud(t)
	alice := c.user(t, "sg-own", "sg-own-alice", "member")
	mallory := c.user(t, "sg-other", "sg-other-mallory", "member")
	theirs := sgGroup(t, alice, "alices")
	mine := sgGroup(t, mallory, "mallorys")
	subnet := sgPrivateSubnet(t, mallory)
	want := func(r reply, id string) {
		t.Helper()
		if r.code != 400 || !contains(r.raw, "Security Group "+id+" not found.") {
			t.Errorf("got %d %s, want 400 Security Group %s not found.", r.code, r.raw, id)
		}
	}
	for _, id := range []string{theirs, "00000000-0000-4000-8000-000000000000"} {
		want(mallory.call(t, "POST", "/v2/lbaas/loadbalancers", map[string]any{"loadbalancer": map[string]any{"vip_subnet_id": subnet, "vip_sg_ids": []string{mine, id}}}), id)
	}
	if r := mallory.call(t, "GET", "/v2/lbaas/loadbalancers", nil); len(r.body["loadbalancers"].([]any)) != 0 {
		t.Errorf("a refused create left a load balancer: %s", r.raw)
	}
	lbr := mallory.must(t, "POST", "/v2/lbaas/loadbalancers", map[string]any{"loadbalancer": map[string]any{"vip_subnet_id": subnet, "vip_sg_ids": []string{mine}}}, 201)
	lb := str(lbr.body, "loadbalancer", "id")
	mallory.waitLB(t, lb, "ACTIVE", 60*time.Second)
	want(mallory.call(t, "PUT", "/v2/lbaas/loadbalancers/"+lb, map[string]any{"loadbalancer": map[string]any{"vip_sg_ids": []string{theirs}}}), theirs)
	// An admin acting on mallory's load balancer cannot put alice's group
	// on its port either.
	want(c.admin.call(t, "PUT", "/v2/lbaas/loadbalancers/"+lb, map[string]any{"loadbalancer": map[string]any{"vip_sg_ids": []string{theirs}}}), theirs)
	// Nor through the port API.
	vipPort := str(lbr.body, "loadbalancer", "vip_port_id")
	if r := mallory.call(t, "PUT", "/networking/v2.0/ports/"+vipPort, map[string]any{"port": map[string]any{"security_groups": []string{theirs}}}); r.code != 404 || !contains(r.raw, "SecurityGroupNotFound") {
		t.Errorf("another project's group on the VIP port through the port API: %d %s", r.code, r.raw)
	}
	r := mallory.must(t, "GET", "/v2/lbaas/loadbalancers/"+lb, nil, 200)
	if ids, _ := r.body["loadbalancer"].(map[string]any)["vip_sg_ids"].([]any); len(ids) != 1 || ids[0] != mine {
		t.Errorf("vip_sg_ids after the refused updates: %v", ids)
	}
	// alice's group stays deletable: nothing of mallory's holds it.
	alice.must(t, "DELETE", "/networking/v2.0/security-groups/"+theirs, nil, 204)
}

// TestSecgroupRulesOfAnotherProjectsGroup: another project's member can
// neither read a group's rules nor add, change or delete any, nor name the
// group as a remote group or on its ports.
func TestSecgroupRulesOfAnotherProjectsGroup(t *testing.T) {
	c := newCloud(t)
	alice := c.user(t, "sg-rules-a", "sg-rules-alice", "member")
	mallory := c.user(t, "sg-rules-b", "sg-rules-mallory", "member")
	group := sgGroup(t, alice, "web")
	rule := sgRule(t, alice, group, map[string]any{"protocol": "tcp", "remote_ip_prefix": "127.0.0.2/32"})
	for _, call := range []struct {
		method, path string
		body         any
		typ          string
	}{
		{"GET", "/networking/v2.0/security-groups/" + group, nil, "SecurityGroupNotFound"},
		{"PUT", "/networking/v2.0/security-groups/" + group, map[string]any{"security_group": map[string]any{"name": "mine"}}, "SecurityGroupNotFound"},
		{"DELETE", "/networking/v2.0/security-groups/" + group, nil, "SecurityGroupNotFound"},
		{"GET", "/networking/v2.0/security-group-rules/" + rule, nil, "SecurityGroupRuleNotFound"},
		{"PUT", "/networking/v2.0/security-group-rules/" + rule, map[string]any{"security_group_rule": map[string]any{"description": "x"}}, "SecurityGroupRuleNotFound"},
		{"DELETE", "/networking/v2.0/security-group-rules/" + rule, nil, "SecurityGroupRuleNotFound"},
		{"POST", "/networking/v2.0/security-group-rules", map[string]any{"security_group_rule": map[string]any{
			"security_group_id": group, "direction": "ingress", "remote_ip_prefix": "0.0.0.0/0"}}, "SecurityGroupNotFound"},
		{"PUT", "/networking/v2.0/security-groups/" + group + "/tags/mine", nil, "SecurityGroupNotFound"},
	} {
		if r := mallory.call(t, call.method, call.path, call.body); r.code != 404 || !contains(r.raw, call.typ) {
			t.Errorf("%s %s by another project: %d %s", call.method, call.path, r.code, r.raw)
		}
	}
	for _, list := range []string{"/networking/v2.0/security-groups", "/networking/v2.0/security-group-rules",
		"/networking/v2.0/security-group-rules?security_group_id=" + group, "/networking/v2.0/security-groups?project_id=" + alice.project} {
		if r := mallory.must(t, "GET", list, nil, 200); contains(r.raw, group) || contains(r.raw, rule) {
			t.Errorf("GET %s shows another project's group: %s", list, r.raw)
		}
	}
	own := sgGroup(t, mallory, "own")
	if r := mallory.call(t, "POST", "/networking/v2.0/security-group-rules", map[string]any{"security_group_rule": map[string]any{
		"security_group_id": own, "direction": "ingress", "remote_group_id": group}}); r.code != 404 {
		t.Errorf("another project's group as remote group: %d %s", r.code, r.raw)
	}
	private := netFirstID(t, mallory, "/networking/v2.0/networks?name=private", "networks")
	if r := mallory.call(t, "POST", "/networking/v2.0/ports", map[string]any{"port": map[string]any{"network_id": private, "security_groups": []string{group}}}); r.code != 404 {
		t.Errorf("another project's group on a port: %d %s", r.code, r.raw)
	}
	// The rule is intact.
	if r := alice.must(t, "GET", "/networking/v2.0/security-group-rules/"+rule, nil, 200); str(r.body, "security_group_rule", "description") != "" {
		t.Errorf("rule changed: %s", r.raw)
	}
}

// TestSecgroupQuotaExhaustionIsPerProject: a project that uses up its
// network quotas (ports, VIP ports included; subnets) is refused with
// Neutron's 409 OverQuota, and another project on the same shared network
// creates ports and load balancers as before; nor can a member claim a
// wide range of the shared loopback address space.
func TestSecgroupQuotaExhaustionIsPerProject(t *testing.T) {
	c := newCloud(t)
	greedy := c.user(t, "sg-greedy", "sg-greedy", "member")
	other := c.user(t, "sg-modest", "sg-modest", "member")
	c.admin.must(t, "PUT", "/networking/v2.0/quotas/"+greedy.project, map[string]any{"quota": map[string]any{"port": 3, "subnet": 1}}, 200)
	private := netFirstID(t, greedy, "/networking/v2.0/networks?name=private", "networks")
	subnet := sgPrivateSubnet(t, greedy)
	for i := 0; i < 3; i++ {
		greedy.must(t, "POST", "/networking/v2.0/ports", map[string]any{"port": map[string]any{"network_id": private}}, 201)
	}
	if r := greedy.call(t, "POST", "/networking/v2.0/ports", map[string]any{"port": map[string]any{"network_id": private}}); r.code != 409 ||
		!contains(r.raw, "OverQuota", "Quota exceeded for resources: ['port'].") {
		t.Errorf("fourth port: %d %s", r.code, r.raw)
	}
	// A VIP port is a port of the project too.
	if r := greedy.call(t, "POST", "/v2/lbaas/loadbalancers", map[string]any{"loadbalancer": map[string]any{"vip_subnet_id": subnet}}); r.code != 409 ||
		!contains(r.raw, "Quota exceeded for resources: ['port'].") {
		t.Errorf("a load balancer over the port quota: %d %s", r.code, r.raw)
	}
	// Subnets: one, and not a wide one.
	net := str(greedy.must(t, "POST", "/networking/v2.0/networks", map[string]any{"network": map[string]any{"name": "g"}}, 201).body, "network", "id")
	if r := greedy.call(t, "POST", "/networking/v2.0/subnets", map[string]any{"subnet": map[string]any{"network_id": net, "cidr": "127.128.0.0/9"}}); r.code != 400 ||
		!contains(r.raw, "only an admin may create a subnet larger than /24") {
		t.Errorf("a member claiming 127.128.0.0/9: %d %s", r.code, r.raw)
	}
	greedy.must(t, "POST", "/networking/v2.0/subnets", map[string]any{"subnet": map[string]any{"network_id": net, "cidr": "127.128.0.0/24"}}, 201)
	if r := greedy.call(t, "POST", "/networking/v2.0/subnets", map[string]any{"subnet": map[string]any{"network_id": net, "cidr": "127.128.1.0/24"}}); r.code != 409 ||
		!contains(r.raw, "['subnet']") {
		t.Errorf("second subnet over quota: %d %s", r.code, r.raw)
	}
	// The other project is not affected.
	for i := 0; i < 5; i++ {
		other.must(t, "POST", "/networking/v2.0/ports", map[string]any{"port": map[string]any{"network_id": private}}, 201)
	}
	lbr := other.must(t, "POST", "/v2/lbaas/loadbalancers", map[string]any{"loadbalancer": map[string]any{"vip_subnet_id": subnet}}, 201)
	other.waitLB(t, str(lbr.body, "loadbalancer", "id"), "ACTIVE", 60*time.Second)
	// Nor can greedy raise its own quota.
	if r := greedy.call(t, "PUT", "/networking/v2.0/quotas/"+greedy.project, map[string]any{"quota": map[string]any{"port": 1000}}); r.code != 403 {
		t.Errorf("a member raising its quota: %d %s", r.code, r.raw)
	}
	d := greedy.must(t, "GET", "/networking/v2.0/quotas/"+greedy.project+"/details", nil, 200)
	if p, _ := d.body["quota"].(map[string]any)["port"].(map[string]any); p["used"] != 3.0 || p["limit"] != 3.0 {
		t.Errorf("quota details: %s", d.raw)
	}
	if r := greedy.call(t, "GET", "/networking/v2.0/quotas/"+other.project, nil); r.code != 403 {
		t.Errorf("reading another project's quota: %d %s", r.code, r.raw)
	}
}
