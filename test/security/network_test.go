package security

import (
	"fmt"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The network subset (/networking/v2.0) is a trust boundary of its own:
// Neutron's default policy decides who may read and write networks,
// subnets, ports, floating IPs and QoS policies, and the addresses it hands
// out are what load balancers are served on.

// netRoles are the callers of the role matrix, in the column order of its
// table: five users of project net-a holding one role each, and a member
// of project net-b.
var netRoles = []struct{ name, project, role string }{
	{"admin", "net-a", "admin"},
	{"member", "net-a", "member"},
	{"reader", "net-a", "reader"},
	{"lb-observer", "net-a", "load-balancer_observer"},
	{"lb-member", "net-a", "load-balancer_member"},
	{"other", "net-b", "member"},
}

// netCodes are the answers expected from the callers of netRoles, in
// order. In a "list" row, 200 means the object is in the list and 404 that
// the list (still 200) leaves it out.
type netCodes [6]int

// netWorld is what the matrix acts on: the bootstrap networks, fixtures
// made by the admin, and the sessions.
type netWorld struct {
	c       *cloud
	admin   *session // the bootstrap admin (project admin)
	users   []*session
	projA   string
	private string // the shared bootstrap network (admin project)
	public  string // the external bootstrap network (admin project)
	netA    string // a network of project net-a
	shared  string // a shared network of the admin project, for subnets
	cidrs   atomic.Int32
}

// netCIDR returns a /24 no other call of the test has used (loopback mode
// refuses overlapping subnets).
func (w *netWorld) netCIDR() string {
	n := w.cidrs.Add(1)
	return fmt.Sprintf("127.%d.%d.0/24", 100+n/250, n%250)
}

func netID(r reply, wrapper string) string { return str(r.body, wrapper, "id") }

func netFirstID(t *testing.T, s *session, path, wrapper string) string {
	t.Helper()
	r := s.must(t, "GET", path, nil, 200)
	list, _ := r.body[wrapper].([]any)
	if len(list) != 1 {
		t.Fatalf("GET %s: want one, got %s", path, r.raw)
	}
	return str(list[0].(map[string]any), "id")
}

func netSetup(t *testing.T) *netWorld {
	c := newCloud(t)
	w := &netWorld{c: c, admin: c.admin}
	for _, r := range netRoles {
		w.users = append(w.users, c.user(t, r.project, "net-"+r.name, r.role))
	}
	w.projA = w.users[1].project
	w.private = netFirstID(t, w.admin, "/networking/v2.0/networks?name=private", "networks")
	w.public = netFirstID(t, w.admin, "/networking/v2.0/networks?name=public", "networks")
	w.netA = netID(w.admin.must(t, "POST", "/networking/v2.0/networks", netBody("network", map[string]any{"name": "net-a", "project_id": w.projA}), 201), "network")
	w.shared = netID(w.admin.must(t, "POST", "/networking/v2.0/networks", netBody("network", map[string]any{"name": "shared-for-subnets", "shared": true}), 201), "network")
	return w
}

func netBody(wrapper string, fields map[string]any) map[string]any {
	return map[string]any{wrapper: fields}
}

// netSubject is one kind of object the matrix acts on.
type netSubject struct {
	name    string
	path    string // collection, under /networking/v2.0
	wrapper string
	// fresh makes, as the admin, an object the row acts on and returns its
	// id (a new one per cell: deletes must not see each other).
	fresh func(t *testing.T, w *netWorld) string
	// create is the body a caller sends to create one.
	create func(w *netWorld) map[string]any
	update map[string]any
}

func netSubjects() map[string]netSubject {
	adminMakes := func(path, wrapper string, body func(w *netWorld) map[string]any) func(*testing.T, *netWorld) string {
		return func(t *testing.T, w *netWorld) string {
			t.Helper()
			return netID(w.admin.must(t, "POST", "/networking/v2.0/"+path, netBody(wrapper, body(w)), 201), wrapper)
		}
	}
	ownNetwork := func(w *netWorld) map[string]any { return map[string]any{"name": "n", "project_id": w.projA} }
	sharedNetwork := func(w *netWorld) map[string]any { return map[string]any{"name": "s", "shared": true} }
	externalNetwork := func(w *netWorld) map[string]any { return map[string]any{"name": "e", "router:external": true} }
	ownSubnet := func(w *netWorld) map[string]any {
		return map[string]any{"network_id": w.netA, "cidr": w.netCIDR(), "project_id": w.projA}
	}
	sharedSubnet := func(w *netWorld) map[string]any { return map[string]any{"network_id": w.shared, "cidr": w.netCIDR()} }
	ownPort := func(w *netWorld) map[string]any { return map[string]any{"network_id": w.netA, "project_id": w.projA} }
	portOnShared := func(w *netWorld) map[string]any {
		return map[string]any{"network_id": w.private, "project_id": w.projA}
	}
	ownFIP := func(w *netWorld) map[string]any {
		return map[string]any{"floating_network_id": w.public, "project_id": w.projA}
	}
	ownQoS := func(w *netWorld) map[string]any { return map[string]any{"name": "q", "project_id": w.projA} }
	sharedQoS := func(w *netWorld) map[string]any { return map[string]any{"name": "sq", "shared": true} }
	rename := func(wrapper string) map[string]any { return netBody(wrapper, map[string]any{"name": "renamed"}) }
	return map[string]netSubject{
		"own network": {"own network", "networks", "network", adminMakes("networks", "network", ownNetwork), ownNetwork, rename("network")},
		"shared network": {"shared network", "networks", "network", adminMakes("networks", "network", sharedNetwork),
			func(w *netWorld) map[string]any {
				return map[string]any{"name": "s", "shared": true, "project_id": w.projA}
			}, rename("network")},
		"external network": {"external network", "networks", "network", adminMakes("networks", "network", externalNetwork),
			func(w *netWorld) map[string]any {
				return map[string]any{"name": "e", "router:external": true, "project_id": w.projA}
			}, rename("network")},
		"own subnet":                 {"own subnet", "subnets", "subnet", adminMakes("subnets", "subnet", ownSubnet), ownSubnet, rename("subnet")},
		"subnet of a shared network": {"subnet of a shared network", "subnets", "subnet", adminMakes("subnets", "subnet", sharedSubnet), sharedSubnet, rename("subnet")},
		"own port":                   {"own port", "ports", "port", adminMakes("ports", "port", ownPort), ownPort, rename("port")},
		"own port on a shared network": {"own port on a shared network", "ports", "port", adminMakes("ports", "port", portOnShared),
			func(w *netWorld) map[string]any { return map[string]any{"network_id": w.private} }, rename("port")},
		"port on an external network": {"port on an external network", "ports", "port", nil,
			func(w *netWorld) map[string]any { return map[string]any{"network_id": w.public} }, nil},
		"chosen address on a shared network": {"chosen address on a shared network", "ports", "port", nil,
			func(w *netWorld) map[string]any {
				return map[string]any{"network_id": w.private, "fixed_ips": []any{map[string]any{"ip_address": fmt.Sprintf("127.10.200.%d", 1+w.cidrs.Add(1)%250)}}}
			}, nil},
		"own floating IP": {"own floating IP", "floatingips", "floatingip", adminMakes("floatingips", "floatingip", ownFIP), ownFIP,
			netBody("floatingip", map[string]any{"description": "changed"})},
		"chosen floating address": {"chosen floating address", "floatingips", "floatingip", nil,
			func(w *netWorld) map[string]any {
				return map[string]any{"floating_network_id": w.public, "floating_ip_address": fmt.Sprintf("127.20.200.%d", 1+w.cidrs.Add(1)%250)}
			}, nil},
		"own QoS policy":    {"own QoS policy", "qos/policies", "policy", adminMakes("qos/policies", "policy", ownQoS), ownQoS, rename("policy")},
		"shared QoS policy": {"shared QoS policy", "qos/policies", "policy", adminMakes("qos/policies", "policy", sharedQoS), sharedQoS, rename("policy")},
	}
}

// TestNetworkRoleMatrix drives every role against every call of the
// network subset and checks each answer against Neutron's default policy:
// reader reads its project, member writes it, admin everything, Octavia's
// load-balancer_* roles mean nothing to Neutron (only shared and external
// networks and shared QoS policies are visible to them, as to anyone),
// another project sees nothing of net-a's but what is shared or external.
// An object a caller may see but not change is 403; one it may not see is
// 404, as Neutron answers.
func TestNetworkRoleMatrix(t *testing.T) {
	w := netSetup(t)
	subjects := netSubjects()
	//                                                       admin member reader lb-obs lb-mem other
	table := []struct {
		subject, action string
		want            netCodes
	}{
		{"own network", "list", netCodes{200, 200, 200, 404, 404, 404}},
		{"own network", "show", netCodes{200, 200, 200, 404, 404, 404}},
		{"own network", "create", netCodes{201, 201, 403, 403, 403, 403}},
		{"own network", "update", netCodes{200, 200, 403, 404, 404, 404}},
		{"own network", "delete", netCodes{204, 204, 403, 404, 404, 404}},
		{"shared network", "list", netCodes{200, 200, 200, 200, 200, 200}},
		{"shared network", "show", netCodes{200, 200, 200, 200, 200, 200}},
		{"shared network", "create", netCodes{201, 403, 403, 403, 403, 403}},
		{"shared network", "update", netCodes{200, 403, 403, 403, 403, 403}},
		{"shared network", "delete", netCodes{204, 403, 403, 403, 403, 403}},
		{"external network", "list", netCodes{200, 200, 200, 200, 200, 200}},
		{"external network", "show", netCodes{200, 200, 200, 200, 200, 200}},
		{"external network", "create", netCodes{201, 403, 403, 403, 403, 403}},
		{"external network", "update", netCodes{200, 403, 403, 403, 403, 403}},
		{"external network", "delete", netCodes{204, 403, 403, 403, 403, 403}},

		{"own subnet", "list", netCodes{200, 200, 200, 404, 404, 404}},
		{"own subnet", "show", netCodes{200, 200, 200, 404, 404, 404}},
		{"own subnet", "create", netCodes{201, 201, 403, 404, 404, 404}}, // the network is invisible to the last three
		{"own subnet", "update", netCodes{200, 200, 403, 404, 404, 404}},
		{"own subnet", "delete", netCodes{204, 204, 403, 404, 404, 404}},
		{"subnet of a shared network", "list", netCodes{200, 200, 200, 200, 200, 200}},
		{"subnet of a shared network", "show", netCodes{200, 200, 200, 200, 200, 200}},
		{"subnet of a shared network", "create", netCodes{201, 403, 403, 403, 403, 403}}, // only the network's owner adds subnets
		{"subnet of a shared network", "update", netCodes{200, 403, 403, 403, 403, 403}},
		{"subnet of a shared network", "delete", netCodes{204, 403, 403, 403, 403, 403}},

		{"own port", "list", netCodes{200, 200, 200, 404, 404, 404}},
		{"own port", "show", netCodes{200, 200, 200, 404, 404, 404}},
		{"own port", "create", netCodes{201, 201, 403, 404, 404, 404}},
		{"own port", "update", netCodes{200, 200, 403, 404, 404, 404}},
		{"own port", "delete", netCodes{204, 204, 403, 404, 404, 404}},
		{"own port on a shared network", "list", netCodes{200, 200, 200, 404, 404, 404}},
		{"own port on a shared network", "show", netCodes{200, 200, 200, 404, 404, 404}},
		{"own port on a shared network", "create", netCodes{201, 201, 403, 403, 403, 201}}, // in the caller's own project
		{"own port on a shared network", "update", netCodes{200, 200, 403, 404, 404, 404}},
		{"own port on a shared network", "delete", netCodes{204, 204, 403, 404, 404, 404}},
		{"port on an external network", "create", netCodes{201, 403, 403, 403, 403, 403}},
		{"chosen address on a shared network", "create", netCodes{201, 403, 403, 403, 403, 403}},

		{"own floating IP", "list", netCodes{200, 200, 200, 404, 404, 404}},
		{"own floating IP", "show", netCodes{200, 200, 200, 404, 404, 404}},
		{"own floating IP", "create", netCodes{201, 201, 403, 403, 403, 403}},
		{"own floating IP", "update", netCodes{200, 200, 403, 404, 404, 404}},
		{"own floating IP", "delete", netCodes{204, 204, 403, 404, 404, 404}},
		{"chosen floating address", "create", netCodes{201, 403, 403, 403, 403, 403}},

		{"own QoS policy", "list", netCodes{200, 200, 200, 404, 404, 404}},
		{"own QoS policy", "show", netCodes{200, 200, 200, 404, 404, 404}},
		{"own QoS policy", "create", netCodes{201, 403, 403, 403, 403, 403}}, // QoS policies are written by admins
		{"own QoS policy", "update", netCodes{200, 403, 403, 404, 404, 404}},
		{"own QoS policy", "delete", netCodes{204, 403, 403, 404, 404, 404}},
		{"shared QoS policy", "list", netCodes{200, 200, 200, 200, 200, 200}},
		{"shared QoS policy", "show", netCodes{200, 200, 200, 200, 200, 200}},
		{"shared QoS policy", "update", netCodes{200, 403, 403, 403, 403, 403}},
		{"shared QoS policy", "delete", netCodes{204, 403, 403, 403, 403, 403}},
	}
	writes := 0
	for _, row := range table {
		sub, ok := subjects[row.subject]
		if !ok {
			t.Fatalf("no subject %q", row.subject)
		}
		for i, role := range netRoles {
			got := netCell(t, w, sub, row.action, w.users[i])
			if row.action != "list" && row.action != "show" && row.want[i] < 300 && role.role != "admin" {
				writes++
			}
			if got.code != row.want[i] {
				t.Errorf("%s %s by %s (%s in %s): %d, want %d: %s", row.action, row.subject, role.name, role.role, role.project, got.code, row.want[i], got.raw)
			}
		}
	}
	t.Logf("%d cells; %d writes by non-admins allowed", len(table)*len(netRoles), writes)
}

// netCell runs one action of the matrix as s and returns the answer; a
// list answers 200 when it holds the object and 404 when it does not.
func netCell(t *testing.T, w *netWorld, sub netSubject, action string, s *session) reply {
	t.Helper()
	base := "/networking/v2.0/" + sub.path
	if action == "create" {
		return s.call(t, "POST", base, netBody(sub.wrapper, sub.create(w)))
	}
	id := sub.fresh(t, w)
	switch action {
	case "list":
		r := s.call(t, "GET", base+"?id="+id, nil)
		if r.code != 200 {
			return r
		}
		plural := strings.TrimPrefix(sub.path, "qos/")
		if sub.wrapper == "policy" {
			plural = "policies"
		}
		if list, _ := r.body[plural].([]any); len(list) == 1 && str(list[0].(map[string]any), "id") == id {
			return r
		}
		r.code = 404
		return r
	case "show":
		return s.call(t, "GET", base+"/"+id, nil)
	case "update":
		return s.call(t, "PUT", base+"/"+id, sub.update)
	case "delete":
		return s.call(t, "DELETE", base+"/"+id, nil)
	}
	t.Fatalf("unknown action %q", action)
	return reply{}
}

// netMakeLB creates a load balancer as s with the VIP given by vip and
// waits for it to be ACTIVE.
func netMakeLB(t *testing.T, s *session, vip map[string]any) map[string]any {
	t.Helper()
	vip["name"] = "lb"
	r := s.must(t, "POST", "/v2/lbaas/loadbalancers", map[string]any{"loadbalancer": vip}, 201)
	return s.waitLB(t, str(r.body, "loadbalancer", "id"), "ACTIVE", 60*time.Second)
}

// netDeleteLB deletes a load balancer and waits until it is gone.
func netDeleteLB(t *testing.T, s *session, id string) {
	t.Helper()
	s.must(t, "DELETE", "/v2/lbaas/loadbalancers/"+id, nil, 204)
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if r := s.call(t, "GET", "/v2/lbaas/loadbalancers/"+id, nil); r.code == 404 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("load balancer %s not gone in 60s", id)
}

func netWantFault(t *testing.T, r reply, code int, typ string, frags ...string) {
	t.Helper()
	if r.code != code || str(r.body, "NeutronError", "type") != typ || !contains(r.raw, frags...) {
		t.Errorf("got %d %s, want %d %s mentioning %q", r.code, r.raw, code, typ, frags)
	}
}

// TestNetworkVIPPortHeldWhileLoadBalancerLives tries to free a live VIP
// through the port API: deleting the VIP port, re-addressing it or giving
// it another owner would let IPAM hand the address to the next load
// balancer. Each is a 409 ServicePortInUse while the load balancer exists
// (for its project and for the admin alike); once the load balancer is
// deleted, a port the user handed in is an ordinary port again.
func TestNetworkVIPPortHeldWhileLoadBalancerLives(t *testing.T) {
	c := newCloud(t)
	alice := c.user(t, "vip-a", "alice", "member")
	private := netFirstID(t, alice, "/networking/v2.0/networks?name=private", "networks")
	// On a network of alice's own, where she may re-address her ports.
	network := netID(alice.must(t, "POST", "/networking/v2.0/networks", netBody("network", map[string]any{"name": "vip-net"}), 201), "network")
	subnet := netID(alice.must(t, "POST", "/networking/v2.0/subnets", netBody("subnet", map[string]any{"network_id": network, "cidr": "127.70.0.0/24"}), 201), "subnet")

	// A VIP port made by the load balancer.
	l := netMakeLB(t, alice, map[string]any{"vip_subnet_id": subnet})
	port, vip := str(l, "vip_port_id"), str(l, "vip_address")
	for _, s := range []*session{alice, c.admin} {
		netWantFault(t, s.call(t, "DELETE", "/networking/v2.0/ports/"+port, nil), 409, "ServicePortInUse",
			"Port "+port+" cannot be deleted directly via the port API: has device owner Octavia.")
		for _, change := range []map[string]any{
			{"fixed_ips": []any{map[string]any{"subnet_id": subnet}}},
			{"fixed_ips": []any{map[string]any{"subnet_id": subnet, "ip_address": "127.70.0.99"}}},
			{"fixed_ips": []any{}},
			{"device_owner": ""},
			{"device_owner": "compute:nova"},
			{"device_id": "someone-else"},
		} {
			netWantFault(t, s.call(t, "PUT", "/networking/v2.0/ports/"+port, netBody("port", change)), 409, "ServicePortInUse", port, "has device owner Octavia")
		}
	}
	netWantFault(t, alice.call(t, "PUT", "/networking/v2.0/ports/"+port, netBody("port", map[string]any{"project_id": c.admin.project})),
		400, "HTTPBadRequest", "read-only attribute project_id")
	// The address stays the load balancer's.
	netWantFault(t, alice.call(t, "POST", "/networking/v2.0/ports", netBody("port", map[string]any{"network_id": network,
		"fixed_ips": []any{map[string]any{"ip_address": vip}}})), 409, "IpAddressAlreadyAllocated", vip)
	got := alice.must(t, "GET", "/networking/v2.0/ports/"+port, nil, 200)
	if str(got.body, "port", "device_id") != str(l, "id") || str(got.body, "port", "device_owner") != "Octavia" || !contains(got.raw, `"ip_address":"`+vip+`"`) {
		t.Errorf("VIP port changed: %s", got.raw)
	}
	// Harmless changes still go through.
	alice.must(t, "PUT", "/networking/v2.0/ports/"+port, netBody("port", map[string]any{"name": "renamed", "description": "d"}), 200)
	alice.waitLB(t, str(l, "id"), "ACTIVE", 60*time.Second)

	// A port the user handed in as vip_port_id: held while the load
	// balancer lives, the user's again once it is gone.
	own := netID(alice.must(t, "POST", "/networking/v2.0/ports", netBody("port", map[string]any{"network_id": private}), 201), "port")
	l2 := netMakeLB(t, alice, map[string]any{"vip_port_id": own})
	netWantFault(t, alice.call(t, "DELETE", "/networking/v2.0/ports/"+own, nil), 409, "ServicePortInUse", own)
	netDeleteLB(t, alice, str(l2, "id"))
	alice.must(t, "DELETE", "/networking/v2.0/ports/"+own, nil, 204)

	// And the load balancer's own port goes with it.
	netDeleteLB(t, alice, str(l, "id"))
	alice.must(t, "GET", "/networking/v2.0/ports/"+port, nil, 404)
}

// TestNetworkVIPPortOfAnotherProjectCannotBeAdopted tries to take another
// project's port on the shared network as a VIP port.
func TestNetworkVIPPortOfAnotherProjectCannotBeAdopted(t *testing.T) {
	c := newCloud(t)
	alice := c.user(t, "adopt-a", "alice", "member")
	bob := c.user(t, "adopt-b", "bob", "member")
	private := netFirstID(t, alice, "/networking/v2.0/networks?name=private", "networks")
	port := netID(alice.must(t, "POST", "/networking/v2.0/ports", netBody("port", map[string]any{"network_id": private}), 201), "port")
	r := bob.call(t, "POST", "/v2/lbaas/loadbalancers", map[string]any{"loadbalancer": map[string]any{"vip_port_id": port}})
	if r.code != 400 || !contains(r.raw, "Port "+port+" not found.") {
		t.Fatalf("another project's port as vip_port_id: %d %s, want 400 Port … not found.", r.code, r.raw)
	}
	if got := alice.must(t, "GET", "/networking/v2.0/ports/"+port, nil, 200); str(got.body, "port", "device_id") != "" {
		t.Errorf("alice's port was bound: %s", got.raw)
	}
}

// TestNetworkTwoLoadBalancersNeverShareAVIP: in loopback mode every subnet
// is served from this host's one address space, so two subnets that
// overlap — in two projects, on two networks — would let two load
// balancers hold one address. The overlap is refused at subnet create
// (naming the other range, not its owner), even when racing; so is a range
// the host cannot serve.
func TestNetworkTwoLoadBalancersNeverShareAVIP(t *testing.T) {
	c := newCloud(t)
	alice := c.user(t, "share-a", "alice", "member")
	bob := c.user(t, "share-b", "bob", "member")
	mkNet := func(s *session, name string) string {
		return netID(s.must(t, "POST", "/networking/v2.0/networks", netBody("network", map[string]any{"name": name}), 201), "network")
	}
	netA, netB := mkNet(alice, "a"), mkNet(bob, "b")
	subA := alice.must(t, "POST", "/networking/v2.0/subnets", netBody("subnet", map[string]any{"network_id": netA, "cidr": "127.60.0.0/24"}), 201)
	lbA := netMakeLB(t, alice, map[string]any{"vip_subnet_id": netID(subA, "subnet"), "vip_address": "127.60.0.10"})

	for _, cidr := range []string{"127.60.0.0/24", "127.60.0.0/25", "127.60.0.0/16", "127.10.5.0/24" /* inside private-subnet */} {
		r := bob.call(t, "POST", "/networking/v2.0/subnets", netBody("subnet", map[string]any{"network_id": netB, "cidr": cidr}))
		netWantFault(t, r, 400, "InvalidInput", cidr, "overlaps with subnet", "loopback network mode")
		for _, secret := range []string{netA, netID(subA, "subnet"), alice.project, str(lbA, "id")} {
			if contains(r.raw, secret) {
				t.Errorf("the refusal names another project's id %s: %s", secret, r.raw)
			}
		}
	}
	// Ranges the loopback data plane cannot bind, or that are the host's own.
	for _, cidr := range []string{"192.168.77.0/24", "10.0.0.0/8", "fd00:77::/64", "127.0.0.0/24", "127.0.0.0/8"} {
		netWantFault(t, bob.call(t, "POST", "/networking/v2.0/subnets", netBody("subnet", map[string]any{"network_id": netB, "cidr": cidr})),
			400, "InvalidInput", cidr, "cannot be served in loopback network mode")
	}

	// Racing creates of one range on eight networks: exactly one wins.
	var wg sync.WaitGroup
	var won atomic.Int32
	for i := 0; i < 8; i++ {
		s := alice
		if i%2 == 1 {
			s = bob
		}
		n := mkNet(s, fmt.Sprintf("race-%d", i))
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := s.do(t, "POST", "/networking/v2.0/subnets", netBody("subnet", map[string]any{"network_id": n, "cidr": "127.61.0.0/24"}), nil)
			switch r.code {
			case 201:
				won.Add(1)
			case 400:
			default:
				t.Errorf("racing subnet create: %d %s", r.code, r.raw)
			}
		}()
	}
	wg.Wait()
	if won.Load() != 1 {
		t.Errorf("%d of 8 racing creates of 127.61.0.0/24 succeeded, want 1", won.Load())
	}

	// Bob's load balancer on a range of his own gets an address of its own.
	subB := bob.must(t, "POST", "/networking/v2.0/subnets", netBody("subnet", map[string]any{"network_id": netB, "cidr": "127.62.0.0/24"}), 201)
	lbB := netMakeLB(t, bob, map[string]any{"vip_subnet_id": netID(subB, "subnet")})
	if str(lbB, "vip_address") == str(lbA, "vip_address") {
		t.Fatalf("two load balancers hold %s", str(lbA, "vip_address"))
	}
}

// TestNetworkQueryLimits sends list queries with very many values: a
// filter key repeated 1,000 times, 1,000 tags, and more query parameters
// than the server parses. Each is answered correctly (the long lists) or
// refused with the limit named — never a 500, never an unfiltered list.
func TestNetworkQueryLimits(t *testing.T) {
	c := newCloud(t)
	a := c.admin
	keep := netID(a.must(t, "POST", "/networking/v2.0/networks", netBody("network", map[string]any{"name": "keep", "tags": []string{"t-keep"}}), 201), "network")
	drop := netID(a.must(t, "POST", "/networking/v2.0/networks", netBody("network", map[string]any{"name": "drop", "tags": []string{"t-drop"}}), 201), "network")
	names := func(path string) []string {
		t.Helper()
		r := a.call(t, "GET", path, nil)
		if r.code != 200 {
			t.Fatalf("GET %.120s…: %d %.300s", path, r.code, r.raw)
		}
		var out []string
		list, _ := r.body["networks"].([]any)
		for _, n := range list {
			out = append(out, str(n.(map[string]any), "name"))
		}
		return out
	}
	many := func(key, first string, n int) string {
		v := url.Values{}
		v.Add(key, first)
		for i := 1; i < n; i++ {
			v.Add(key, fmt.Sprintf("x%04d", i))
		}
		return v.Encode()
	}
	manyTags := func(key, first string, n int) string {
		tags := []string{first}
		for i := 1; i < n; i++ {
			tags = append(tags, fmt.Sprintf("x%04d", i))
		}
		return key + "=" + url.QueryEscape(strings.Join(tags, ","))
	}
	for _, tc := range []struct {
		name, query string
		want        string
	}{
		{"1,000 ids", many("id", keep, 1000), "keep"},
		{"1,500 names", many("name", "drop", 1500), "drop"},
		{"1,000 ids and 1,000 names", many("id", keep, 1000) + "&" + many("name", "keep", 1000), "keep"},
		{"1,000 tags-any", manyTags("tags-any", "t-keep", 1000), "keep"},
		{"1,000 repeated tags-any", many("tags-any", "t-drop", 1000), "drop"},
		{"1,000 not-tags-any", manyTags("not-tags-any", "t-drop", 1000) + "&id=" + keep + "&id=" + drop, "keep"},
		{"1,000 tags", manyTags("tags", "t-keep", 1000) + "&id=" + keep + "&id=" + drop, ""},
		{"1,000 not-tags", manyTags("not-tags", "t-keep", 1000) + "&id=" + keep + "&id=" + drop, "drop,keep"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := names("/networking/v2.0/networks?" + tc.query)
			if strings.Join(got, ",") != tc.want && !(tc.want == "drop,keep" && strings.Join(got, ",") == "keep,drop") {
				t.Errorf("got %v, want [%s]", got, tc.want)
			}
		})
	}
	// More parameters than the server parses: 400, never the whole list.
	q := "name=nothing-has-this-name&" + many("x", "y", 10001)
	for _, path := range []string{"networks", "subnets", "ports", "floatingips", "qos/policies"} {
		r := a.call(t, "GET", "/networking/v2.0/"+path+"?"+q, nil)
		netWantFault(t, r, 400, "HTTPBadRequest", "more than 10000 parameters")
	}
	_ = drop
}
