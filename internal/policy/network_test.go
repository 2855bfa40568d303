package policy

import (
	"testing"
)

// TestNetworkRules checks Neutron's defaults per role for the targets the
// Neutron subset builds: the caller's own objects, another project's, and
// another project's shared and external networks.
func TestNetworkRules(t *testing.T) {
	e, err := NewNetwork(Options{})
	if err != nil {
		t.Fatal(err)
	}
	net := func(project string, shared, external bool) Target {
		return Target{"project_id": project, "networks:shared": tf(shared), "networks:router:external": tf(external)}
	}
	onNet := func(project, netProject string, shared, external bool) Target {
		return Target{"project_id": project, "network:project_id": netProject, "networks:shared": tf(shared),
			"networks:router:external": tf(external), "subnets:router:external": tf(external)}
	}
	tests := []struct {
		name   string
		rule   Rule
		target Target
		allow  []string // callers allowed, of: admin member reader observer lbmember none noauth
	}{
		{"get own network", "get_network", net(own, false, false), []string{"admin", "member", "reader", "noauth"}},
		{"get other network", "get_network", net(other, false, false), []string{"admin", "noauth"}},
		{"get other shared network", "get_network", net(other, true, false), all},
		{"get other external network", "get_network", net(other, false, true), all},
		{"create own network", "create_network", net(own, false, false), []string{"admin", "member", "noauth"}},
		{"create network for another project", "create_network", net(other, false, false), []string{"admin", "noauth"}},
		{"create shared network", "create_network:shared", net(own, true, false), []string{"admin", "noauth"}},
		{"create external network", "create_network:router:external", net(own, false, true), []string{"admin", "noauth"}},
		{"update own network", "update_network", net(own, false, false), []string{"admin", "member", "noauth"}},
		{"delete other shared network", "delete_network", net(other, true, false), []string{"admin", "noauth"}},

		{"get own subnet", "get_subnet", onNet(own, own, false, false), []string{"admin", "member", "reader", "noauth"}},
		{"get subnet of another shared network", "get_subnet", onNet(other, other, true, false), all},
		{"get subnet of another external network", "get_subnet", onNet(other, other, false, true), all},
		{"get other subnet", "get_subnet", onNet(other, other, false, false), []string{"admin", "noauth"}},
		{"create subnet on own network", "create_subnet", onNet(own, own, false, false), []string{"admin", "member", "noauth"}},
		{"create subnet on another shared network", "create_subnet", onNet(own, other, true, false), []string{"admin", "noauth"}},
		{"delete own subnet", "delete_subnet", onNet(own, own, false, false), []string{"admin", "member", "noauth"}},

		{"get own port", "get_port", onNet(own, other, true, false), []string{"admin", "member", "reader", "noauth"}},
		{"get port on own network", "get_port", onNet(other, own, false, false), []string{"admin", "member", "reader", "noauth"}},
		{"get other port on shared network", "get_port", onNet(other, other, true, false), []string{"admin", "noauth"}},
		{"create port on own network", "create_port", onNet(own, own, false, false), []string{"admin", "member", "noauth"}},
		{"create port on shared network", "create_port", onNet(own, other, true, false), []string{"admin", "member", "noauth"}},
		{"create port on another network", "create_port", onNet(own, other, false, true), []string{"admin", "noauth"}},
		{"create port for another project", "create_port", onNet(other, own, false, false), []string{"admin", "noauth"}},
		{"choose an address on a shared network", "create_port:fixed_ips:ip_address", onNet(own, other, true, false), []string{"admin", "noauth"}},
		{"choose a subnet of a shared network", "create_port:fixed_ips:subnet_id", onNet(own, other, true, false), []string{"admin", "member", "reader", "observer", "lbmember", "none", "noauth"}},
		{"re-address own port on a shared network", "update_port:fixed_ips", onNet(own, other, true, false), []string{"admin", "noauth"}},
		{"re-address own port on own network", "update_port:fixed_ips", onNet(own, own, false, false), []string{"admin", "member", "noauth"}},
		{"network device owner on a shared network", "create_port:device_owner", onNet(own, other, true, false), []string{"admin", "noauth"}},
		{"delete own port", "delete_port", onNet(own, other, true, false), []string{"admin", "member", "noauth"}},

		{"get own floating IP", "get_floatingip", Target{"project_id": own}, []string{"admin", "member", "reader", "noauth"}},
		{"create own floating IP", "create_floatingip", Target{"project_id": own}, []string{"admin", "member", "noauth"}},
		{"choose the floating address", "create_floatingip:floating_ip_address", Target{"project_id": own}, []string{"admin", "noauth"}},
		{"delete another project's floating IP", "delete_floatingip", Target{"project_id": other}, []string{"admin", "noauth"}},

		{"get own QoS policy", "get_policy", Target{"project_id": own, "policies:shared": "False"}, []string{"admin", "member", "reader", "noauth"}},
		{"get shared QoS policy", "get_policy", Target{"project_id": other, "policies:shared": "True"}, all},
		{"create QoS policy", "create_policy", Target{"project_id": own}, []string{"admin", "noauth"}},
		{"delete own QoS policy", "delete_policy", Target{"project_id": own}, []string{"admin", "noauth"}},
	}
	callers := map[string]Caller{
		"admin": caller("admin"), "member": caller("member"), "reader": caller("reader"),
		"observer": caller("load-balancer_observer"), "lbmember": caller("load-balancer_member"), "none": caller(),
		"noauth": {IsAdmin: true, ProjectID: own},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for name, c := range callers {
				want := false
				for _, a := range tc.allow {
					want = want || a == name
				}
				if got := e.AllowedTarget(c, tc.rule, tc.target); got != want {
					t.Errorf("%s by %s (roles %v) on %v: allowed %v, want %v", tc.rule, name, c.Roles, tc.target, got, want)
				}
			}
		})
	}
}

var all = []string{"admin", "member", "reader", "observer", "lbmember", "none", "noauth"}

func tf(b bool) string {
	if b {
		return "True"
	}
	return "False"
}

func TestFieldAndTargetChecks(t *testing.T) {
	for _, tc := range []struct {
		src  string
		ok   bool
		want bool
	}{
		{"field:networks:shared=True", true, true},
		{"field:networks:shared=true", true, true},
		{"field:networks:router:external=True", true, false},
		{"field:missing=True", true, false},
		{"project_id:%(network:project_id)s", true, true},
		{"project_id:%(nope)s", true, false},
		{"field:networks:shared", false, false},
		{"field:=x", false, false},
		{"field:port:device_owner=~^network:", false, false},
	} {
		e, err := NewNetwork(Options{Overrides: map[string]string{"x": tc.src}})
		if (err == nil) != tc.ok {
			t.Fatalf("%q: err %v, want ok=%v", tc.src, err, tc.ok)
		}
		if err != nil {
			continue
		}
		got := e.AllowedTarget(caller("member"), "x", Target{"project_id": other, "network:project_id": own,
			"networks:shared": "True", "networks:router:external": "False"})
		if got != tc.want {
			t.Errorf("%q: got %v, want %v", tc.src, got, tc.want)
		}
	}
}
