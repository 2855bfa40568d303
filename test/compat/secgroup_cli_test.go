package compat_test

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestOSCSecurityGroupsTagsAndQuotas drives the stock CLIs through the
// Neutron subset's security groups, tags and quotas: `openstack security
// group create/list/show/delete`, `openstack security group rule
// create/list/delete` with --protocol, --dst-port and --remote-ip,
// `openstack port create --security-group`, `openstack network create
// --tag` with `network list --tags`, `network set/unset --tag`, and
// `neutron quota-update/quota-show` (python3-neutronclient, which
// python3-openstackclient depends on).
func TestOSCSecurityGroupsTagsAndQuotas(t *testing.T) {
	needOpenstack(t)
	s := startServer(t, append([]string{"--auth", "keystone"}, loopbackMembers...)...)
	osc := func(args ...string) string {
		t.Helper()
		out, err := run(t, s.cloudEnv(), "openstack", args...)
		if err != nil {
			t.Fatalf("openstack %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(out)
	}
	jsonOf := func(out string) map[string]any {
		t.Helper()
		var m map[string]any
		if err := json.Unmarshal([]byte(out), &m); err != nil {
			t.Fatalf("not JSON: %v\n%s", err, out)
		}
		return m
	}

	g := jsonOf(osc("security", "group", "create", "web", "--description", "web tier", "-f", "json"))
	if g["name"] != "web" || g["description"] != "web tier" {
		t.Fatalf("security group create: %v", g)
	}
	groupID := g["id"].(string)
	if names := osc("security", "group", "list", "-f", "value", "-c", "Name"); !strings.Contains(names, "web") || !strings.Contains(names, "default") {
		t.Errorf("security group list (web and the project's default group): %q", names)
	}
	r := jsonOf(osc("security", "group", "rule", "create", "--protocol", "tcp", "--dst-port", "80", "--remote-ip", "127.0.0.2/32", "web", "-f", "json"))
	if r["protocol"] != "tcp" || r["port_range_min"] != 80.0 || r["port_range_max"] != 80.0 || r["remote_ip_prefix"] != "127.0.0.2/32" ||
		r["direction"] != "ingress" || r["security_group_id"] != groupID {
		t.Fatalf("security group rule create: %v", r)
	}
	ruleID := r["id"].(string)
	// The same rule again is refused (Neutron's 409).
	if out, err := run(t, s.cloudEnv(), "openstack", "security", "group", "rule", "create", "--protocol", "tcp", "--dst-port", "80", "--remote-ip", "127.0.0.2/32", "web"); err == nil ||
		!strings.Contains(out, "already exists") {
		t.Errorf("duplicate rule: %v %s", err, out)
	}
	udp := jsonOf(osc("security", "group", "rule", "create", "--protocol", "udp", "--dst-port", "5000:5010", "--ethertype", "IPv6", "web", "-f", "json"))
	if udp["port_range_min"] != 5000.0 || udp["port_range_max"] != 5010.0 || udp["remote_ip_prefix"] != "::/0" {
		t.Errorf("udp range rule: %v", udp)
	}
	if rules := osc("security", "group", "rule", "list", "web", "-f", "value", "-c", "ID"); !strings.Contains(rules, ruleID) || strings.Count(rules, "\n") != 3 {
		t.Errorf("rule list (two egress, two ingress): %q", rules)
	}
	if shown := jsonOf(osc("security", "group", "show", "web", "-f", "json")); len(shown["rules"].([]any)) != 4 {
		t.Errorf("security group show: %v", shown)
	}
	osc("security", "group", "set", "--name", "web2", "web")
	p := jsonOf(osc("port", "create", "--network", "private", "--security-group", "web2", "p1", "-f", "json"))
	if !strings.Contains(toString(p["security_group_ids"]), groupID) {
		t.Errorf("port create --security-group: %v", p["security_group_ids"])
	}
	if out, err := run(t, s.cloudEnv(), "openstack", "security", "group", "delete", "web2"); err == nil || !strings.Contains(out, "in use") {
		t.Errorf("deleting a group a port carries: %v %s", err, out)
	}
	osc("port", "delete", "p1")
	osc("security", "group", "rule", "delete", ruleID)
	osc("security", "group", "delete", "web2")
	if names := osc("security", "group", "list", "-f", "value", "-c", "Name"); strings.Contains(names, "web") {
		t.Errorf("after delete: %q", names)
	}

	n := jsonOf(osc("network", "create", "--tag", "blue", "--tag", "green", "tagged", "-f", "json"))
	if tags := toString(n["tags"]); !strings.Contains(tags, "blue") || !strings.Contains(tags, "green") {
		t.Fatalf("network create --tag: %v", n["tags"])
	}
	osc("network", "create", "plain")
	if got := osc("network", "list", "--tags", "blue", "-f", "value", "-c", "Name"); got != "tagged" {
		t.Errorf("network list --tags blue: %q", got)
	}
	osc("network", "set", "--tag", "red", "tagged")
	osc("network", "unset", "--tag", "blue", "tagged")
	if tags := osc("network", "show", "tagged", "-f", "value", "-c", "tags"); !strings.Contains(tags, "red") || strings.Contains(tags, "blue") {
		t.Errorf("after set --tag red, unset --tag blue: %q", tags)
	}
	if got := osc("network", "list", "--not-tags", "red", "-f", "value", "-c", "Name"); strings.Contains(got, "tagged") || !strings.Contains(got, "plain") {
		t.Errorf("network list --not-tags red: %q", got)
	}

	neutron := func(args ...string) string {
		t.Helper()
		out, err := run(t, s.cloudEnv(), "neutron", append([]string{"--os-cloud", "fulcrum"}, args...)...)
		if err != nil {
			t.Fatalf("neutron %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	neutron("quota-update", "--port", "7", "--network", "5")
	shown := neutron("quota-show", "-f", "json")
	var q map[string]any
	if err := json.Unmarshal([]byte(shown[strings.Index(shown, "{"):]), &q); err != nil || q["port"] != 7.0 || q["network"] != 5.0 || q["subnet"] != 100.0 {
		t.Errorf("neutron quota-show after quota-update: %v %s", err, shown)
	}
	// The admin project has four networks (the bootstrap's private and
	// public, tagged, plain): one more fits, the next does not.
	osc("network", "create", "third")
	if out, err := run(t, s.cloudEnv(), "openstack", "network", "create", "fourth"); err == nil || !strings.Contains(out, "Quota exceeded") {
		t.Errorf("a network over the quota: %v %s", err, out)
	}
}

func toString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
