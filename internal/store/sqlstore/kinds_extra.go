package sqlstore

import (
	"time"

	"github.com/fulcrumlb/fulcrum/internal/identity/keystone"
	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/network/neutron"
)

// identityKinds describe the Keystone subset's tables.
type identityKinds struct {
	domains     *kind[keystone.Domain]
	projects    *kind[keystone.Project]
	users       *kind[keystone.User]
	roles       *kind[keystone.Role]
	assignments *kind[keystone.Assignment]
	revocations *kind[keystone.Revocation]
}

// networkKinds describe the Neutron subset's tables.
type networkKinds struct {
	networks      *kind[neutron.Network]
	subnets       *kind[neutron.Subnet]
	ports         *kind[neutron.Port]
	ipAllocations *kind[neutron.IPAllocation]
	floatingIPs   *kind[neutron.FloatingIP]
	qosPolicies   *kind[neutron.QoSPolicy]

	securityGroups     *kind[neutron.SecurityGroup]
	securityGroupRules *kind[neutron.SecurityGroupRule]
	portSecurityGroups *kind[neutron.PortSecurityGroup]
	quotas             *kind[neutron.NetworkQuota]
	ipReleases         *kind[neutron.IPRelease]
	locks              *kind[neutron.Lock]
}

func newIdentityKinds() identityKinds {
	type D = keystone.Domain
	type P = keystone.Project
	type U = keystone.User
	type R = keystone.Role
	type A = keystone.Assignment
	type V = keystone.Revocation
	return identityKinds{
		domains: newKind("domains",
			text("id", func(v *D) *string { return &v.ID }),
			text("name", func(v *D) *string { return &v.Name }),
			text("description", func(v *D) *string { return &v.Description }),
			boolean("enabled", func(v *D) *bool { return &v.Enabled }),
			timestamp("created_at", func(v *D) *time.Time { return &v.CreatedAt }),
		),
		projects: newKind("projects",
			text("id", func(v *P) *string { return &v.ID }),
			text("domain_id", func(v *P) *string { return &v.DomainID }),
			text("name", func(v *P) *string { return &v.Name }),
			text("description", func(v *P) *string { return &v.Description }),
			boolean("enabled", func(v *P) *bool { return &v.Enabled }),
			ref("parent_id", func(v *P) *string { return &v.ParentID }),
			jsonb("tags", func(v *P) *[]string { return &v.Tags }),
			timestamp("created_at", func(v *P) *time.Time { return &v.CreatedAt }),
		),
		users: newKind("users",
			text("id", func(v *U) *string { return &v.ID }),
			text("domain_id", func(v *U) *string { return &v.DomainID }),
			text("name", func(v *U) *string { return &v.Name }),
			text("description", func(v *U) *string { return &v.Description }),
			text("email", func(v *U) *string { return &v.Email }),
			boolean("enabled", func(v *U) *bool { return &v.Enabled }),
			ref("default_project_id", func(v *U) *string { return &v.DefaultProjectID }),
			text("password_hash", func(v *U) *string { return &v.PasswordHash }),
			ptimestamp("password_changed_at", func(v *U) **time.Time { return &v.PasswordChangedAt }),
			timestamp("created_at", func(v *U) *time.Time { return &v.CreatedAt }),
		),
		roles: newKind("roles",
			text("id", func(v *R) *string { return &v.ID }),
			text("name", func(v *R) *string { return &v.Name }),
			text("description", func(v *R) *string { return &v.Description }),
			timestamp("created_at", func(v *R) *time.Time { return &v.CreatedAt }),
		),
		assignments: newKind("role_assignments",
			text("id", func(v *A) *string { return &v.ID }),
			text("role_id", func(v *A) *string { return &v.RoleID }),
			text("user_id", func(v *A) *string { return &v.UserID }),
			ref("project_id", func(v *A) *string { return &v.ProjectID }),
			ref("domain_id", func(v *A) *string { return &v.DomainID }),
			timestamp("created_at", func(v *A) *time.Time { return &v.CreatedAt }),
		),
		revocations: newKind("token_revocations",
			text("id", func(v *V) *string { return &v.ID }),
			ref("user_id", func(v *V) *string { return &v.UserID }),
			ref("project_id", func(v *V) *string { return &v.ProjectID }),
			timestamp("revoked_at", func(v *V) *time.Time { return &v.RevokedAt }),
			timestamp("expires_at", func(v *V) *time.Time { return &v.ExpiresAt }),
		),
	}
}

func neutronTimeCols[T any](f func(*T) *neutron.Times) []column[T] {
	return []column[T]{
		timestamp("created_at", func(v *T) *time.Time { return &f(v).CreatedAt }),
		timestamp("updated_at", func(v *T) *time.Time { return &f(v).UpdatedAt }),
	}
}

func newNetworkKinds() networkKinds {
	type N = neutron.Network
	type S = neutron.Subnet
	type P = neutron.Port
	type A = neutron.IPAllocation
	type F = neutron.FloatingIP
	type Q = neutron.QoSPolicy
	type G = neutron.SecurityGroup
	type R = neutron.SecurityGroupRule
	type IR = neutron.IPRelease
	type PG = neutron.PortSecurityGroup
	return networkKinds{
		networks: newKind("networks", cat(
			[]column[N]{
				text("id", func(v *N) *string { return &v.ID }),
				text("project_id", func(v *N) *string { return &v.ProjectID }),
				text("name", func(v *N) *string { return &v.Name }),
				text("description", func(v *N) *string { return &v.Description }),
				boolean("admin_state_up", func(v *N) *bool { return &v.AdminStateUp }),
				boolean("shared", func(v *N) *bool { return &v.Shared }),
				boolean("external", func(v *N) *bool { return &v.External }),
				integer("mtu", func(v *N) *int { return &v.MTU }),
				ref("qos_policy_id", func(v *N) *string { return &v.QoSPolicyID }),
				jsonb("tags", func(v *N) *[]string { return &v.Tags }),
			},
			neutronTimeCols(func(v *N) *neutron.Times { return &v.Times }),
		)...),
		subnets: newKind("subnets", cat(
			[]column[S]{
				text("id", func(v *S) *string { return &v.ID }),
				text("project_id", func(v *S) *string { return &v.ProjectID }),
				text("network_id", func(v *S) *string { return &v.NetworkID }),
				text("name", func(v *S) *string { return &v.Name }),
				text("description", func(v *S) *string { return &v.Description }),
				integer("ip_version", func(v *S) *int { return &v.IPVersion }),
				text("cidr", func(v *S) *string { return &v.CIDR }),
				ref("gateway_ip", func(v *S) *string { return &v.GatewayIP }),
				jsonb("allocation_pools", func(v *S) *[]neutron.AllocationPool { return &v.AllocationPools }),
				boolean("enable_dhcp", func(v *S) *bool { return &v.EnableDHCP }),
				jsonb("dns_nameservers", func(v *S) *[]string { return &v.DNSNameservers }),
				jsonb("tags", func(v *S) *[]string { return &v.Tags }),
			},
			neutronTimeCols(func(v *S) *neutron.Times { return &v.Times }),
		)...),
		ports: newKind("ports", cat(
			[]column[P]{
				text("id", func(v *P) *string { return &v.ID }),
				text("project_id", func(v *P) *string { return &v.ProjectID }),
				text("network_id", func(v *P) *string { return &v.NetworkID }),
				text("name", func(v *P) *string { return &v.Name }),
				text("description", func(v *P) *string { return &v.Description }),
				boolean("admin_state_up", func(v *P) *bool { return &v.AdminStateUp }),
				text("mac_address", func(v *P) *string { return &v.MACAddress }),
				jsonb("fixed_ips", func(v *P) *[]neutron.FixedIP { return &v.FixedIPs }),
				text("device_owner", func(v *P) *string { return &v.DeviceOwner }),
				text("device_id", func(v *P) *string { return &v.DeviceID }),
				ref("qos_policy_id", func(v *P) *string { return &v.QoSPolicyID }),
				jsonb("security_groups", func(v *P) *[]string { return &v.SecurityGroups }),
				boolean("port_security_enabled", func(v *P) *bool { return &v.PortSecurityEnabled }),
				text("status", func(v *P) *string { return &v.Status }),
				jsonb("tags", func(v *P) *[]string { return &v.Tags }),
			},
			neutronTimeCols(func(v *P) *neutron.Times { return &v.Times }),
		)...),
		ipAllocations: newKind("ip_allocations",
			text("id", func(v *A) *string { return &v.ID }),
			text("subnet_id", func(v *A) *string { return &v.SubnetID }),
			text("network_id", func(v *A) *string { return &v.NetworkID }),
			text("port_id", func(v *A) *string { return &v.PortID }),
			text("ip_address", func(v *A) *string { return &v.IPAddress }),
		),
		floatingIPs: newKind("floating_ips", cat(
			[]column[F]{
				text("id", func(v *F) *string { return &v.ID }),
				text("project_id", func(v *F) *string { return &v.ProjectID }),
				text("floating_network_id", func(v *F) *string { return &v.FloatingNetworkID }),
				text("floating_ip_address", func(v *F) *string { return &v.FloatingIPAddress }),
				text("floating_port_id", func(v *F) *string { return &v.FloatingPortID }),
				ref("port_id", func(v *F) *string { return &v.PortID }),
				ref("fixed_ip_address", func(v *F) *string { return &v.FixedIPAddress }),
				text("description", func(v *F) *string { return &v.Description }),
				text("status", func(v *F) *string { return &v.Status }),
				jsonb("tags", func(v *F) *[]string { return &v.Tags }),
			},
			neutronTimeCols(func(v *F) *neutron.Times { return &v.Times }),
		)...),
		qosPolicies: newKind("qos_policies", cat(
			[]column[Q]{
				text("id", func(v *Q) *string { return &v.ID }),
				text("project_id", func(v *Q) *string { return &v.ProjectID }),
				text("name", func(v *Q) *string { return &v.Name }),
				text("description", func(v *Q) *string { return &v.Description }),
				boolean("shared", func(v *Q) *bool { return &v.Shared }),
				boolean("is_default", func(v *Q) *bool { return &v.IsDefault }),
				jsonb("tags", func(v *Q) *[]string { return &v.Tags }),
			},
			neutronTimeCols(func(v *Q) *neutron.Times { return &v.Times }),
		)...),
		securityGroups: newKind("security_groups", cat(
			[]column[G]{
				text("id", func(v *G) *string { return &v.ID }),
				text("project_id", func(v *G) *string { return &v.ProjectID }),
				text("name", func(v *G) *string { return &v.Name }),
				text("description", func(v *G) *string { return &v.Description }),
				boolean("stateful", func(v *G) *bool { return &v.Stateful }),
				boolean("is_default", func(v *G) *bool { return &v.IsDefault }),
				integer("revision_number", func(v *G) *int { return &v.RevisionNumber }),
				jsonb("tags", func(v *G) *[]string { return &v.Tags }),
			},
			neutronTimeCols(func(v *G) *neutron.Times { return &v.Times }),
		)...),
		securityGroupRules: newKind("security_group_rules", cat(
			[]column[R]{
				text("id", func(v *R) *string { return &v.ID }),
				text("project_id", func(v *R) *string { return &v.ProjectID }),
				text("security_group_id", func(v *R) *string { return &v.SecurityGroupID }),
				text("description", func(v *R) *string { return &v.Description }),
				text("direction", func(v *R) *string { return &v.Direction }),
				text("ethertype", func(v *R) *string { return &v.EtherType }),
				ref("protocol", func(v *R) *string { return &v.Protocol }),
				pint("port_range_min", func(v *R) **int { return &v.PortRangeMin }),
				pint("port_range_max", func(v *R) **int { return &v.PortRangeMax }),
				ref("remote_ip_prefix", func(v *R) *string { return &v.RemoteIPPrefix }),
				ref("remote_group_id", func(v *R) *string { return &v.RemoteGroupID }),
				integer("revision_number", func(v *R) *int { return &v.RevisionNumber }),
			},
			neutronTimeCols(func(v *R) *neutron.Times { return &v.Times }),
		)...),
		portSecurityGroups: newKind("port_security_groups",
			text("id", func(v *PG) *string { return &v.ID }),
			text("port_id", func(v *PG) *string { return &v.PortID }),
			text("security_group_id", func(v *PG) *string { return &v.SecurityGroupID }),
		),
		quotas: newNetworkQuotaKind(),
		ipReleases: newKind("ip_releases",
			text("id", func(v *IR) *string { return &v.ID }),
			text("subnet_id", func(v *IR) *string { return &v.SubnetID }),
			text("ip_address", func(v *IR) *string { return &v.IPAddress }),
			timestamp("released_at", func(v *IR) *time.Time { return &v.ReleasedAt }),
		),
		locks: newKind("network_locks", text("id", func(v *neutron.Lock) *string { return &v.ID })),
	}
}

// newNetworkQuotaKind describes the network_quotas table; its id is the
// project id.
func newNetworkQuotaKind() *kind[neutron.NetworkQuota] {
	type Q = neutron.NetworkQuota
	cols := []column[Q]{text("id", func(v *Q) *string { return &v.ProjectID })}
	for _, r := range neutron.QuotaResources {
		cols = append(cols, pint(r.Key(), func(v *Q) **int { return &v.Limits[r] }))
	}
	return newKind("network_quotas", cols...)
}

// newQuotaKind describes the quotas table; its id is the project id.
func newQuotaKind() *kind[lb.Quota] {
	type Q = lb.Quota
	cols := []column[Q]{text("id", func(v *Q) *string { return &v.ProjectID })}
	names := []string{"load_balancer", "listener", "pool", "health_monitor", "member", "l7policy", "l7rule"}
	for i, r := range lb.QuotaResources {
		cols = append(cols, pint(names[i], func(v *Q) **int { return &v.Limits[r] }))
	}
	return newKind("quotas", cols...)
}
