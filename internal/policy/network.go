package policy

// NetworkRules returns the default rules of fulcrum's Neutron subset, by
// policy name: Neutron 2024.1's defaults with enforce_new_defaults = True
// (admin, member and reader, project-scoped), for the resources the subset
// serves. Two differences, both stricter or equal for a tenant: get_subnet
// also shows the subnets of external networks (as later Neutron releases
// do), and create_port asks a member who does not own the network for a
// shared one (the ownership check Neutron applies outside its policy
// file before 2026).
//
// The targets they are checked against carry "project_id" (the object's
// owner) and, where a rule names them, "network:project_id" (the owner of a
// subnet's or port's network), "networks:shared" and
// "networks:router:external" (of a network, or of the network of a subnet
// or port), "subnets:router:external" (of a subnet's network),
// "policies:shared" (of a QoS policy) and "security_groups:shared", each
// "True" or "False", and "security_group:project_id" (the owner of a
// rule's group).
//
// There are no legacy alternatives: the load-balancer_* roles are Octavia's
// and mean nothing here, as in Neutron; noauth callers (Caller.IsAdmin) are
// admins.
func NetworkRules() map[Rule]string {
	const (
		admin              = "rule:admin_only"
		adminOrService     = "(rule:admin_only or rule:service_api)"
		adminOrMember      = "(rule:admin_only or rule:project_member)"
		adminOrReader      = "(rule:admin_only or rule:project_reader)"
		adminOrNetMember   = "(rule:admin_only or rule:net_owner_member)"
		serviceOrNetMember = adminOrService + " or rule:net_owner_member"
	)
	return map[Rule]string{
		// neutron/conf/policies/base.py and the resources' own base rules.
		"context_is_admin":  "role:admin",
		"admin_only":        "rule:context_is_admin or is_admin:True",
		"service_api":       "role:service",
		"network_owner":     "project_id:%(network:project_id)s",
		"project_member":    "role:member and project_id:%(project_id)s",
		"project_reader":    "role:reader and project_id:%(project_id)s",
		"net_owner_member":  "role:member and rule:network_owner",
		"net_owner_reader":  "role:reader and rule:network_owner",
		"shared":            "field:networks:shared=True",
		"external":          "field:networks:router:external=True",
		"external_network":  "field:subnets:router:external=True",
		"shared_qos_policy": "field:policies:shared=True",
		"sg_owner":          "project_id:%(security_group:project_id)s",
		// Security groups are never shared (no RBAC in the subset): the
		// field is always False, the rule kept for operators' overrides.
		"shared_security_group": "field:security_groups:shared=True",

		// Networks.
		"get_network":                    adminOrReader + " or rule:service_api or rule:shared or rule:external",
		"create_network":                 adminOrMember,
		"create_network:shared":          admin,
		"create_network:router:external": admin,
		"update_network":                 adminOrMember,
		"update_network:shared":          admin,
		"update_network:router:external": admin,
		"delete_network":                 adminOrMember,

		// Subnets: created, changed and deleted by the network's owner.
		"get_subnet":    "rule:project_reader or rule:shared or rule:external_network or rule:admin_only or rule:net_owner_reader or rule:service_api",
		"create_subnet": adminOrNetMember,
		"update_subnet": "rule:project_member or " + adminOrNetMember,
		"delete_subnet": "rule:project_member or " + adminOrNetMember,

		// Ports. The attribute rules are checked when the body sets the
		// attribute; device_owner only for owners starting "network:".
		"get_port":                         adminOrService + " or rule:net_owner_reader or rule:project_reader",
		"create_port":                      adminOrService + " or (rule:project_member and (rule:network_owner or rule:shared))",
		"create_port:device_owner":         serviceOrNetMember,
		"create_port:mac_address":          serviceOrNetMember,
		"create_port:fixed_ips:ip_address": serviceOrNetMember,
		"create_port:fixed_ips:subnet_id":  serviceOrNetMember + " or rule:shared",
		"update_port":                      adminOrService + " or rule:project_member",
		"update_port:device_owner":         serviceOrNetMember,
		"update_port:fixed_ips":            serviceOrNetMember,
		"update_port:fixed_ips:ip_address": serviceOrNetMember,
		"update_port:fixed_ips:subnet_id":  serviceOrNetMember + " or rule:shared",
		"delete_port":                      adminOrService + " or rule:net_owner_member or rule:project_member",

		// Floating IPs: choosing the address is for admins.
		"get_floatingip":                        adminOrReader,
		"create_floatingip":                     adminOrMember,
		"create_floatingip:floating_ip_address": admin,
		"update_floatingip":                     adminOrMember,
		"delete_floatingip":                     adminOrMember,

		// QoS policies: read by their project (or all, when shared),
		// written by admins.
		"get_policy":    adminOrReader + " or rule:shared_qos_policy",
		"create_policy": admin,
		"update_policy": admin,
		"delete_policy": admin,

		// Security groups and their rules: a rule's target carries its
		// group's owner too ("security_group:project_id"), who may read it.
		"get_security_group":         adminOrReader + " or rule:shared_security_group",
		"create_security_group":      adminOrMember,
		"update_security_group":      adminOrMember,
		"delete_security_group":      adminOrMember,
		"get_security_group_rule":    adminOrReader + " or rule:sg_owner",
		"create_security_group_rule": adminOrMember,
		"update_security_group_rule": adminOrMember,
		"delete_security_group_rule": adminOrMember,

		// Tags (/<resource>/{id}/tags): read as the object is, written by
		// those who may update it. Checked against the object's own target
		// (Neutron 2024.1 checks the caller's project and relies on the
		// object lookup).
		"get_networks_tags":           adminOrReader + " or rule:shared or rule:external",
		"update_networks_tags":        adminOrMember,
		"delete_networks_tags":        adminOrMember,
		"get_subnets_tags":            "rule:project_reader or rule:shared or rule:external_network or rule:admin_only or rule:net_owner_reader",
		"update_subnets_tags":         "rule:project_member or " + adminOrNetMember,
		"delete_subnets_tags":         "rule:project_member or " + adminOrNetMember,
		"get_ports_tags":              adminOrService + " or rule:net_owner_reader or rule:project_reader",
		"update_ports_tags":           adminOrService + " or rule:project_member",
		"delete_ports_tags":           adminOrService + " or rule:project_member",
		"get_floatingips_tags":        adminOrReader,
		"update_floatingips_tags":     adminOrMember,
		"delete_floatingips_tags":     adminOrMember,
		"get_security_groups_tags":    adminOrReader + " or rule:shared_security_group",
		"update_security_groups_tags": adminOrMember,
		"delete_security_groups_tags": adminOrMember,
		"get_policies_tags":           adminOrReader + " or rule:shared_qos_policy",
		"update_policies_tags":        admin,
		"delete_policies_tags":        admin,

		// Quotas: read by the project's readers, written by admins.
		"get_quota":    adminOrReader,
		"update_quota": admin,
		"delete_quota": admin,
	}
}

// NewNetwork returns the enforcer of the Neutron subset: NetworkRules with
// opts.Overrides applied (opts.StrictNewDefaults means nothing there).
func NewNetwork(opts Options) (*Enforcer, error) {
	return build(NetworkRules(), opts.Overrides)
}
