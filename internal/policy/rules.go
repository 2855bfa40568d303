package policy

// baseRule is an Octavia base rule: its new default and the deprecated
// alternative that legacy mode ORs in.
type baseRule struct {
	check  string
	legacy string
}

// baseRules are octavia/policies/base.py.
var baseRules = map[string]baseRule{
	"context_is_admin":                 {"role:admin", "role:load-balancer_admin"},
	"load-balancer:owner":              {"project_id:%(project_id)s", ""},
	"project-member":                   {"role:member and project_id:%(project_id)s", ""},
	"project-reader":                   {"role:reader and project_id:%(project_id)s", ""},
	"service":                          {"role:service", ""},
	"load-balancer:admin":              {"is_admin:True or role:admin", "role:load-balancer_admin"},
	"load-balancer:global_observer":    {"role:admin", "role:load-balancer_global_observer"},
	"load-balancer:member_and_owner":   {"rule:project-member", "role:load-balancer_member and rule:load-balancer:owner"},
	"load-balancer:observer_and_owner": {"rule:project-reader", "role:load-balancer_observer and rule:load-balancer:owner"},
	"load-balancer:quota-admin":        {"role:admin", "role:load-balancer_quota_admin"},
	"load-balancer:read": {"rule:load-balancer:observer_and_owner or rule:load-balancer:global_observer or " +
		"rule:load-balancer:member_and_owner or rule:load-balancer:admin", ""},
	"load-balancer:read-global": {"rule:load-balancer:global_observer or rule:load-balancer:admin", ""},
	"load-balancer:write":       {"rule:load-balancer:member_and_owner or rule:load-balancer:admin", ""},
	"load-balancer:read-quota": {"rule:load-balancer:observer_and_owner or rule:load-balancer:global_observer or " +
		"rule:load-balancer:member_and_owner or rule:load-balancer:quota-admin or rule:load-balancer:admin", ""},
	"load-balancer:read-quota-global": {"rule:load-balancer:global_observer or rule:load-balancer:quota-admin or rule:load-balancer:admin", ""},
	"load-balancer:write-quota":       {"rule:load-balancer:quota-admin or rule:load-balancer:admin", ""},
}

// Rule name prefix of every operation.
const prefix = "os_load-balancer_api:"

// Name returns the policy name of an operation: Name("loadbalancer",
// "post") is "os_load-balancer_api:loadbalancer:post".
func Name(object, action string) string { return prefix + object + ":" + action }

// OperationRules returns Octavia's per-operation rules
// (octavia/policies/*.py), by policy name.
func OperationRules() map[string]string {
	const (
		read           = "rule:load-balancer:read"
		readGlobal     = "rule:load-balancer:read-global"
		write          = "rule:load-balancer:write"
		admin          = "rule:load-balancer:admin"
		readQuota      = "rule:load-balancer:read-quota"
		readQuotaGlob  = "rule:load-balancer:read-quota-global"
		writeQuota     = "rule:load-balancer:write-quota"
		readOrService  = "rule:load-balancer:read or rule:service"
		standardGetAll = "get_all"
	)
	out := map[string]string{}
	crud := func(object string, global bool) {
		out[Name(object, standardGetAll)] = read
		if global {
			out[Name(object, "get_all-global")] = readGlobal
		}
		out[Name(object, "get_one")] = read
		out[Name(object, "post")] = write
		out[Name(object, "put")] = write
		out[Name(object, "delete")] = write
	}
	crud("loadbalancer", true)
	out[Name("loadbalancer", "get_stats")] = read
	out[Name("loadbalancer", "get_status")] = read
	out[Name("loadbalancer", "put_failover")] = admin
	out[Name("loadbalancer", "post:vip_sg_ids")] = write
	out[Name("loadbalancer", "put:vip_sg_ids")] = write
	crud("listener", true)
	out[Name("listener", "get_stats")] = read
	crud("pool", true)
	crud("member", false)
	out[Name("member", "get_all")] = readOrService
	crud("healthmonitor", true)
	crud("l7policy", true)
	crud("l7rule", false)

	out[Name("quota", "get_all")] = readQuota
	out[Name("quota", "get_all-global")] = readQuotaGlob
	out[Name("quota", "get_one")] = readQuota
	out[Name("quota", "put")] = writeQuota
	out[Name("quota", "delete")] = writeQuota
	out[Name("quota", "get_defaults")] = readQuota

	out[Name("provider", "get_all")] = read
	out[Name("provider-flavor", "get_all")] = admin
	out[Name("provider-availability-zone", "get_all")] = admin
	for _, object := range []string{"flavor", "availability-zone"} {
		out[Name(object, "get_all")] = read
		out[Name(object, "get_one")] = read
		out[Name(object, "post")] = admin
		out[Name(object, "put")] = admin
		out[Name(object, "delete")] = admin
	}
	for _, object := range []string{"flavor-profile", "availability-zone-profile"} {
		for _, action := range []string{"get_all", "get_one", "post", "put", "delete"} {
			out[Name(object, action)] = admin
		}
	}
	for _, action := range []string{"get_all", "get_one", "delete", "put_config", "put_failover", "get_stats"} {
		out[Name("amphora", action)] = admin
	}
	return out
}
