package network_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/netip"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/compile"
	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/network"
	"github.com/fulcrumlb/fulcrum/internal/policy"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

func list(m map[string]any, key string) []map[string]any {
	raw, _ := m[key].([]any)
	out := make([]map[string]any, len(raw))
	for i, v := range raw {
		out[i], _ = v.(map[string]any)
	}
	return out
}

// member acts as a member of project p.
func (e *env) member(p, method, path string, body any) resp {
	return e.do(method, path, p, "member", body)
}

// TestDefaultSecurityGroupOnFirstUse: listing groups makes the project's
// default group once, with Neutron's four rules: egress everywhere and
// ingress from the group's own ports, both ethertypes.
func TestDefaultSecurityGroupOnFirstUse(t *testing.T) {
	e := newEnv(t, network.Options{})
	for i := 0; i < 2; i++ {
		groups := list(e.must(e.member("pa", "GET", "/v2.0/security-groups", nil), 200), "security_groups")
		if len(groups) != 1 || groups[0]["name"] != "default" || groups[0]["project_id"] != "pa" || groups[0]["stateful"] != true {
			t.Fatalf("listing %d: %v", i, groups)
		}
		id := groups[0]["id"].(string)
		rules := list(groups[0], "security_group_rules")
		got := map[string]bool{}
		for _, r := range rules {
			remote, _ := r["remote_group_id"].(string)
			got[r["direction"].(string)+"/"+r["ethertype"].(string)+"/"+map[bool]string{true: "self", false: "any"}[remote == id]] = true
			if r["protocol"] != nil || r["remote_ip_prefix"] != nil || r["belongs_to_default_sg"] != true {
				t.Errorf("default rule %v", r)
			}
		}
		want := map[string]bool{"egress/IPv4/any": true, "egress/IPv6/any": true, "ingress/IPv4/self": true, "ingress/IPv6/self": true}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("default rules %v, want %v", got, want)
		}
	}
	// Rules are listed for the caller's project too; another project's
	// member sees only its own default group (made for it now).
	if rules := list(e.must(e.member("pa", "GET", "/v2.0/security-group-rules", nil), 200), "security_group_rules"); len(rules) != 4 {
		t.Errorf("rules of pa: %d", len(rules))
	}
	groups := list(e.must(e.member("pb", "GET", "/v2.0/security-groups", nil), 200), "security_groups")
	if len(groups) != 1 || groups[0]["project_id"] != "pb" {
		t.Errorf("pb sees %v", groups)
	}
	// A member cannot make another project's default group by asking.
	if groups := list(e.must(e.member("pb", "GET", "/v2.0/security-groups?project_id=pc", nil), 200), "security_groups"); len(groups) != 0 {
		t.Errorf("pb listing pc's groups made or showed %v", groups)
	}
}

func TestSecurityGroupCRUDAndPolicy(t *testing.T) {
	e := newEnv(t, network.Options{})
	g := e.must(e.member("pa", "POST", "/v2.0/security-groups", map[string]any{"security_group": map[string]any{
		"name": "web", "description": "front", "tags": []string{"t1"}}}), 201)["security_group"].(map[string]any)
	id := g["id"].(string)
	if rules := list(g, "security_group_rules"); len(rules) != 2 || rules[0]["direction"] != "egress" || g["stateful"] != true || g["shared"] != false {
		t.Fatalf("new group %v", g)
	}
	wantNeutronError(t, e.member("pa", "POST", "/v2.0/security-groups", map[string]any{"security_group": map[string]any{"name": "Default"}}),
		409, "SecurityGroupDefaultAlreadyExists", "Default security group already exists.")
	wantNeutronError(t, e.do("POST", "/v2.0/security-groups", "pa", "reader", map[string]any{"security_group": map[string]any{"name": "x"}}),
		403, "PolicyNotAuthorized", "create_security_group")
	wantNeutronError(t, e.member("pb", "GET", "/v2.0/security-groups/"+id, nil), 404, "SecurityGroupNotFound", "Security group "+id+" does not exist")
	wantNeutronError(t, e.member("pb", "DELETE", "/v2.0/security-groups/"+id, nil), 404, "SecurityGroupNotFound", id)
	wantNeutronError(t, e.member("pb", "PUT", "/v2.0/security-groups/"+id, map[string]any{"security_group": map[string]any{"name": "mine"}}), 404, "SecurityGroupNotFound", id)
	wantNeutronError(t, e.do("PUT", "/v2.0/security-groups/"+id, "pa", "reader", map[string]any{"security_group": map[string]any{"name": "x"}}),
		403, "PolicyNotAuthorized", "update_security_group")
	e.must(e.do("GET", "/v2.0/security-groups/"+id, "pa", "reader", nil), 200)

	// Updates bump the revision; If-Match holds them to one.
	up := e.must(e.member("pa", "PUT", "/v2.0/security-groups/"+id, map[string]any{"security_group": map[string]any{"name": "web2"}}), 200)["security_group"].(map[string]any)
	rev := up["revision_number"].(float64)
	r := e.doHeader("PUT", "/v2.0/security-groups/"+id, "pa", "member", map[string]string{"If-Match": "revision_number=0"},
		map[string]any{"security_group": map[string]any{"description": "x"}})
	wantNeutronError(t, r, 412, "RevisionNumberConstraintFailed", "Constrained to 0")
	e.must(e.doHeader("PUT", "/v2.0/security-groups/"+id, "pa", "member", map[string]string{"If-Match": "revision_number=" + itoa(int(rev))},
		map[string]any{"security_group": map[string]any{"description": "x"}}), 200)

	// The default group keeps its name and stays for members.
	def := list(e.must(e.member("pa", "GET", "/v2.0/security-groups?name=default", nil), 200), "security_groups")[0]["id"].(string)
	wantNeutronError(t, e.member("pa", "PUT", "/v2.0/security-groups/"+def, map[string]any{"security_group": map[string]any{"name": "x"}}),
		409, "SecurityGroupCannotUpdateDefault", "Updating default security group not allowed.")
	wantNeutronError(t, e.member("pa", "DELETE", "/v2.0/security-groups/"+def, nil),
		409, "SecurityGroupCannotRemoveDefault", "Insufficient rights for removing default security group.")

	// A group a port carries cannot go.
	net := field(e.must(e.member("pa", "POST", "/v2.0/networks", map[string]any{"network": map[string]any{"name": "n"}}), 201), "network", "id")
	port := e.must(e.member("pa", "POST", "/v2.0/ports", map[string]any{"port": map[string]any{"network_id": net, "security_groups": []string{id}}}), 201)["port"].(map[string]any)
	wantNeutronError(t, e.member("pa", "DELETE", "/v2.0/security-groups/"+id, nil), 409, "SecurityGroupInUse", "Security Group "+id+" in use.")
	e.must(e.member("pa", "PUT", "/v2.0/ports/"+port["id"].(string), map[string]any{"port": map[string]any{"security_groups": nil}}), 200)
	e.must(e.member("pa", "DELETE", "/v2.0/security-groups/"+id, nil), 204)
	wantNeutronError(t, e.member("pa", "GET", "/v2.0/security-groups/"+id, nil), 404, "SecurityGroupNotFound", id)
}

func TestSecurityGroupRuleValidation(t *testing.T) {
	e := newEnv(t, network.Options{})
	sg := field(e.must(e.member("pa", "POST", "/v2.0/security-groups", map[string]any{"security_group": map[string]any{"name": "web"}}), 201), "security_group", "id")
	rule := func(extra map[string]any) map[string]any {
		r := map[string]any{"security_group_id": sg, "direction": "ingress"}
		for k, v := range extra {
			r[k] = v
		}
		return map[string]any{"security_group_rule": r}
	}
	tests := []struct {
		name    string
		in      map[string]any
		typ     string // "" = created
		msg     string
		want    map[string]any // fields of the created rule
		cleanup bool
	}{
		{"tcp port from a host", map[string]any{"protocol": "TCP", "port_range_min": 80, "port_range_max": "80", "remote_ip_prefix": "127.0.0.2"}, "", "",
			map[string]any{"protocol": "tcp", "port_range_min": 80.0, "port_range_max": 80.0, "remote_ip_prefix": "127.0.0.2/32", "ethertype": "IPv4", "normalized_cidr": "127.0.0.2/32"}, true},
		{"protocol number", map[string]any{"protocol": 17, "remote_ip_prefix": "10.1.2.3/8"}, "", "",
			map[string]any{"protocol": "17", "remote_ip_prefix": "10.1.2.3/8", "normalized_cidr": "10.0.0.0/8", "port_range_min": nil}, true},
		{"whole range is no range", map[string]any{"protocol": "udp", "port_range_min": 1, "port_range_max": 65535}, "", "",
			map[string]any{"port_range_min": nil, "port_range_max": nil}, true},
		{"legacy IPv6 ICMP name", map[string]any{"protocol": "icmp", "ethertype": "ipv6"}, "", "",
			map[string]any{"protocol": "ipv6-icmp", "ethertype": "IPv6"}, true},
		{"bad direction", map[string]any{"direction": "sideways"}, "HTTPBadRequest", "'sideways' is not in ['ingress', 'egress']", nil, false},
		{"unknown protocol", map[string]any{"protocol": "foo"}, "SecurityGroupRuleInvalidProtocol", "Security group rule protocol foo not supported.", nil, false},
		{"protocol 256", map[string]any{"protocol": 256}, "SecurityGroupRuleInvalidProtocol", "protocol 256 not supported", nil, false},
		{"bad ethertype", map[string]any{"ethertype": "IPv5"}, "SecurityGroupRuleInvalidEtherType", "Security group rule for ethertype 'IPv5' not supported.", nil, false},
		{"port without protocol", map[string]any{"port_range_min": 80, "port_range_max": 80}, "SecurityGroupProtocolRequiredWithPorts", "Must also specify protocol if port range is given.", nil, false},
		{"min above max", map[string]any{"protocol": "tcp", "port_range_min": 90, "port_range_max": 80}, "SecurityGroupInvalidPortRange", "port_range_min must be <= port_range_max", nil, false},
		{"port 0", map[string]any{"protocol": "tcp", "port_range_min": 0, "port_range_max": 80}, "SecurityGroupInvalidPortValue", "Invalid value for port 0", nil, false},
		{"port too big", map[string]any{"protocol": "tcp", "port_range_min": 70000, "port_range_max": 70000}, "SecurityGroupInvalidPortValue", "Invalid value for port 70000", nil, false},
		{"port not a number", map[string]any{"protocol": "tcp", "port_range_min": "http", "port_range_max": 80}, "SecurityGroupInvalidPortValue", "Invalid value for port http", nil, false},
		{"ports on gre", map[string]any{"protocol": "gre", "port_range_min": 1, "port_range_max": 2}, "SecurityGroupInvalidProtocolForPort", "Ports cannot be specified for protocol 47.", nil, false},
		{"icmp type too big", map[string]any{"protocol": "icmp", "port_range_min": 300}, "SecurityGroupInvalidIcmpValue", "It must be 0 to 255.", nil, false},
		{"icmp code without type", map[string]any{"protocol": "icmp", "port_range_max": 3}, "SecurityGroupMissingIcmpType", "ICMP code (port-range-max) 3 is provided", nil, false},
		{"prefix of the other family", map[string]any{"remote_ip_prefix": "::/0"}, "SecurityGroupRuleParameterConflict", "Conflicting value ethertype IPv4 for CIDR ::/0", nil, false},
		{"not a prefix", map[string]any{"remote_ip_prefix": "10.0.0.0/33"}, "InvalidCIDR", "Invalid CIDR 10.0.0.0/33 given as IP prefix.", nil, false},
		{"IPv6 protocol on IPv4", map[string]any{"protocol": "ipv6-icmp"}, "SecurityGroupEthertypeConflictWithProtocol", "Invalid ethertype IPv4 for protocol ipv6-icmp.", nil, false},
		{"prefix and group", map[string]any{"remote_ip_prefix": "10.0.0.0/8", "remote_group_id": sg}, "SecurityGroupMultipleRemoteEntites", "Only one of remote_ip_prefix or remote_group_id", nil, false},
		{"missing group", map[string]any{"security_group_id": "nope"}, "SecurityGroupNotFound", "Security group nope does not exist", nil, false},
		{"missing remote group", map[string]any{"remote_group_id": "nope"}, "SecurityGroupNotFound", "Security group nope does not exist", nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.member("pa", "POST", "/v2.0/security-group-rules", rule(tc.in))
			if tc.typ != "" {
				wantNeutronError(t, r, 400+map[bool]int{true: 4, false: 0}[tc.typ == "SecurityGroupNotFound"], tc.typ, tc.msg)
				return
			}
			got := e.must(r, 201)["security_group_rule"].(map[string]any)
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("%s = %v, want %v (%v)", k, got[k], v, got)
				}
			}
			if tc.cleanup {
				e.must(e.member("pa", "DELETE", "/v2.0/security-group-rules/"+got["id"].(string), nil), 204)
			}
		})
	}

	// Duplicates: in one bulk request, and against stored rules (a prefix
	// of everything is no prefix; a name is its number).
	first := e.must(e.member("pa", "POST", "/v2.0/security-group-rules", rule(map[string]any{"protocol": "tcp", "port_range_min": 22, "port_range_max": 22})), 201)
	wantNeutronError(t, e.member("pa", "POST", "/v2.0/security-group-rules", rule(map[string]any{"protocol": "6", "port_range_min": 22, "port_range_max": 22, "remote_ip_prefix": "0.0.0.0/0"})),
		409, "SecurityGroupRuleExists", "Rule id is "+field(first, "security_group_rule", "id"))
	bulk := func(rules ...map[string]any) map[string]any {
		var out []any
		for _, r := range rules {
			out = append(out, rule(r)["security_group_rule"])
		}
		return map[string]any{"security_group_rules": out}
	}
	wantNeutronError(t, e.member("pa", "POST", "/v2.0/security-group-rules", bulk(map[string]any{"protocol": "udp"}, map[string]any{"protocol": "udp"})),
		409, "DuplicateSecurityGroupRuleInPost", "Duplicate Security Group Rule in POST.")
	// A bulk create is all or nothing.
	wantNeutronError(t, e.member("pa", "POST", "/v2.0/security-group-rules", bulk(map[string]any{"protocol": "udp"}, map[string]any{"protocol": "bogus"})),
		400, "SecurityGroupRuleInvalidProtocol", "bogus")
	created := list(e.must(e.member("pa", "POST", "/v2.0/security-group-rules", bulk(map[string]any{"protocol": "udp"}, map[string]any{"protocol": "sctp"})), 201), "security_group_rules")
	if len(created) != 2 {
		t.Fatalf("bulk: %v", created)
	}
	// Another project's member cannot see, add to or delete from the group.
	wantNeutronError(t, e.member("pb", "POST", "/v2.0/security-group-rules", rule(map[string]any{"protocol": "icmp"})), 404, "SecurityGroupNotFound", sg)
	wantNeutronError(t, e.member("pb", "DELETE", "/v2.0/security-group-rules/"+created[0]["id"].(string), nil), 404, "SecurityGroupRuleNotFound", "does not exist")
	wantNeutronError(t, e.member("pb", "GET", "/v2.0/security-group-rules/"+created[0]["id"].(string), nil), 404, "SecurityGroupRuleNotFound", "does not exist")
	// ... nor use one of its groups as a remote group.
	other := field(e.must(e.member("pb", "POST", "/v2.0/security-groups", map[string]any{"security_group": map[string]any{"name": "b"}}), 201), "security_group", "id")
	wantNeutronError(t, e.member("pa", "POST", "/v2.0/security-group-rules", rule(map[string]any{"remote_group_id": other})), 404, "SecurityGroupNotFound", other)
	// A rule's description may change, nothing else.
	rid := created[0]["id"].(string)
	if d := e.must(e.member("pa", "PUT", "/v2.0/security-group-rules/"+rid, map[string]any{"security_group_rule": map[string]any{"description": "d"}}), 200); field(d, "security_group_rule", "description") != "d" {
		t.Errorf("rule description: %v", d)
	}
	wantNeutronError(t, e.member("pa", "PUT", "/v2.0/security-group-rules/"+rid, map[string]any{"security_group_rule": map[string]any{"protocol": "tcp"}}),
		400, "HTTPBadRequest", "Cannot update read-only attribute protocol")
}

func TestPortSecurityGroups(t *testing.T) {
	e := newEnv(t, network.Options{})
	net := field(e.must(e.member("pa", "POST", "/v2.0/networks", map[string]any{"network": map[string]any{"name": "n"}}), 201), "network", "id")
	e.must(e.member("pa", "POST", "/v2.0/subnets", map[string]any{"subnet": map[string]any{"network_id": net, "cidr": "127.40.0.0/24"}}), 201)
	def := list(e.must(e.member("pa", "GET", "/v2.0/security-groups?name=default", nil), 200), "security_groups")[0]["id"].(string)
	sg := field(e.must(e.member("pa", "POST", "/v2.0/security-groups", map[string]any{"security_group": map[string]any{"name": "web"}}), 201), "security_group", "id")
	theirs := field(e.must(e.member("pb", "POST", "/v2.0/security-groups", map[string]any{"security_group": map[string]any{"name": "b"}}), 201), "security_group", "id")
	port := func(body map[string]any) resp {
		body["network_id"] = net
		return e.member("pa", "POST", "/v2.0/ports", map[string]any{"port": body})
	}
	groups := func(r resp) []any { return r.body["port"].(map[string]any)["security_groups"].([]any) }

	p := port(map[string]any{})
	if g := groups(p); len(g) != 1 || g[0] != def || p.body["port"].(map[string]any)["port_security_enabled"] != true {
		t.Fatalf("a port naming no group: %s", p.raw)
	}
	if g := groups(port(map[string]any{"security_groups": []string{sg}})); len(g) != 1 || g[0] != sg {
		t.Fatalf("a port naming a group: %v", g)
	}
	if g := groups(port(map[string]any{"security_groups": []string{}})); len(g) != 0 {
		t.Fatalf("a port naming no groups explicitly: %v", g)
	}
	if g := groups(port(map[string]any{"port_security_enabled": false})); len(g) != 0 {
		t.Fatalf("a port without port security: %v", g)
	}
	wantNeutronError(t, port(map[string]any{"security_groups": []string{theirs}}), 404, "SecurityGroupNotFound", theirs)
	wantNeutronError(t, port(map[string]any{"security_groups": []string{"nope", sg}}), 404, "SecurityGroupNotFound", "nope")
	wantNeutronError(t, port(map[string]any{"security_groups": []string{sg}, "port_security_enabled": false}),
		400, "PortSecurityAndIPRequiredForSecurityGroups", "Port security must be enabled")
	id := p.body["port"].(map[string]any)["id"].(string)
	wantNeutronError(t, e.member("pa", "PUT", "/v2.0/ports/"+id, map[string]any{"port": map[string]any{"port_security_enabled": false}}),
		409, "PortSecurityPortHasSecurityGroup", "Port has security group associated.")
	off := e.must(e.member("pa", "PUT", "/v2.0/ports/"+id, map[string]any{"port": map[string]any{"port_security_enabled": false, "security_groups": []string{}}}), 200)
	if pp := off["port"].(map[string]any); pp["port_security_enabled"] != false || len(pp["security_groups"].([]any)) != 0 {
		t.Errorf("port security off: %v", pp)
	}
	// An admin may put another project's group on a port.
	e.must(e.admin("PUT", "/v2.0/ports/"+id, map[string]any{"port": map[string]any{"port_security_enabled": true, "security_groups": []string{theirs}}}), 200)
	wantNeutronError(t, e.member("pb", "DELETE", "/v2.0/security-groups/"+theirs, nil), 409, "SecurityGroupInUse", theirs)
}

func itoa(n int) string { return strconv.Itoa(n) }

// doHeader is env.do with extra request headers.
func (e *env) doHeader(method, path, project, roles string, hdr map[string]string, body any) resp {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, e.srv.URL+path, rd)
	req.Header.Set("X-Project-Id", project)
	req.Header.Set("X-Roles", roles)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := resp{code: res.StatusCode, raw: string(raw)}
	_ = json.Unmarshal(raw, &out.body)
	return out
}

// TestVIPSecurityGroups: vip_sg_ids go on the VIP port (each must exist in
// the load balancer's project), and the port's ingress rules become the
// data plane's filter, remote groups resolved to their members' addresses.
func TestVIPSecurityGroups(t *testing.T) {
	e := newEnv(t, network.Options{})
	svc := network.NewService(network.Options{Store: e.st})
	ctx := policy.WithCaller(context.Background(), policy.Caller{ProjectID: "pa", Roles: []string{"member"}})
	subnet, err := network.Bootstrap(ctx, e.st, "adm", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	sg := field(e.must(e.member("pa", "POST", "/v2.0/security-groups", map[string]any{"security_group": map[string]any{"name": "web"}}), 201), "security_group", "id")
	peers := field(e.must(e.member("pa", "POST", "/v2.0/security-groups", map[string]any{"security_group": map[string]any{"name": "peers"}}), 201), "security_group", "id")
	theirs := field(e.must(e.member("pb", "POST", "/v2.0/security-groups", map[string]any{"security_group": map[string]any{"name": "b"}}), 201), "security_group", "id")
	for _, r := range []map[string]any{
		{"protocol": "tcp", "port_range_min": 80, "port_range_max": 80, "remote_ip_prefix": "127.0.0.2/32"},
		{"protocol": "udp", "remote_group_id": peers},
		{"ethertype": "IPv6"},
		{"direction": "egress", "protocol": "tcp"},
	} {
		r["security_group_id"] = sg
		if r["direction"] == nil {
			r["direction"] = "ingress"
		}
		e.must(e.member("pa", "POST", "/v2.0/security-group-rules", map[string]any{"security_group_rule": r}), 201)
	}
	// A member of peers on the private network.
	privNet := field(e.must(e.member("pa", "GET", "/v2.0/subnets/"+subnet, nil), 200), "subnet", "network_id")
	peer := e.must(e.member("pa", "POST", "/v2.0/ports", map[string]any{"port": map[string]any{"network_id": privNet, "security_groups": []string{peers}}}), 201)
	peerIP := peer["port"].(map[string]any)["fixed_ips"].([]any)[0].(map[string]any)["ip_address"].(string)

	l := &lb.LoadBalancer{ID: "lb1", ProjectID: "pa", VIP: lb.VIP{SubnetID: subnet}}
	set := func(ids ...string) error {
		l.VIP.SGIDs = ids
		return e.st.Update(ctx, func(tx store.Tx) error { return svc.SetVIPSecurityGroups(ctx, tx, l) })
	}
	if err := e.st.Update(ctx, func(tx store.Tx) error { return svc.VIPs().Allocate(ctx, tx, l) }); err != nil {
		t.Fatal(err)
	}
	ingress := func() *compile.Ingress {
		var in *compile.Ingress
		if err := e.st.View(ctx, func(tx store.Tx) (err error) { in, err = network.VIPIngress(ctx, tx, l); return err }); err != nil {
			t.Fatal(err)
		}
		return in
	}
	if in := ingress(); in != nil {
		t.Fatalf("a VIP port without groups has a filter: %+v", in)
	}
	var ve *lb.ValidationError
	for _, bad := range []string{theirs, "nope"} {
		if err := set(sg, bad); !errors.As(err, &ve) || ve.Msg != "Security Group "+bad+" not found." {
			t.Errorf("vip_sg_ids with %s: %v", bad, err)
		}
	}
	if err := set(sg); err != nil {
		t.Fatal(err)
	}
	vipPort := e.must(e.member("pa", "GET", "/v2.0/ports/"+l.VIP.PortID, nil), 200)["port"].(map[string]any)
	if g := vipPort["security_groups"].([]any); len(g) != 1 || g[0] != sg {
		t.Fatalf("VIP port groups %v", g)
	}
	want := &compile.Ingress{Rules: []compile.IngressRule{
		{Protocol: 6, PortMin: 80, PortMax: 80, Remote: []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}},
		{Protocol: 17, Remote: []netip.Prefix{netip.MustParsePrefix(peerIP + "/32")}},
		{IPv6: true, Protocol: -1},
	}}
	got := ingress()
	if got == nil || len(got.Rules) != 3 {
		t.Fatalf("filter %+v", got)
	}
	for _, w := range want.Rules {
		found := false
		for _, g := range got.Rules {
			found = found || reflect.DeepEqual(g, w)
		}
		if !found {
			t.Errorf("rule %+v missing from %+v", w, got.Rules)
		}
	}
	// The group in use on the VIP port cannot go; clearing vip_sg_ids
	// clears the filter.
	wantNeutronError(t, e.member("pa", "DELETE", "/v2.0/security-groups/"+sg, nil), 409, "SecurityGroupInUse", sg)
	if err := set(); err != nil {
		t.Fatal(err)
	}
	if in := ingress(); in != nil {
		t.Fatalf("after clearing vip_sg_ids: %+v", in)
	}
}
