package policy

// baseRule is an Octavia base rule: its new default and the deprecated
// alternative that legacy mode ORs in.
type baseRule struct {
	check  string
	legacy string
}

// baseRules are octavia/policies/base.py.
var baseRules = map[Rule]baseRule{
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

// Rule is a policy name: a base rule ("load-balancer:read") or an
// operation ("os_load-balancer_api:loadbalancer:post").
type Rule string

// Object is the <object> part of an Octavia policy name.
type Object string

// Policy objects.
const (
	LoadBalancer            Object = "loadbalancer"
	Listener                Object = "listener"
	Pool                    Object = "pool"
	Member                  Object = "member"
	HealthMonitor           Object = "healthmonitor"
	L7Policy                Object = "l7policy"
	L7Rule                  Object = "l7rule"
	Quota                   Object = "quota"
	Provider                Object = "provider"
	ProviderFlavor          Object = "provider-flavor"
	ProviderAZ              Object = "provider-availability-zone"
	Flavor                  Object = "flavor"
	FlavorProfile           Object = "flavor-profile"
	AvailabilityZone        Object = "availability-zone"
	AvailabilityZoneProfile Object = "availability-zone-profile"
	Amphora                 Object = "amphora"
)

// Action is the <action> part of an Octavia policy name.
type Action string

// Policy actions.
const (
	GetAll       Action = "get_all"
	GetAllGlobal Action = "get_all-global"
	GetOne       Action = "get_one"
	Post         Action = "post"
	Put          Action = "put"
	Delete       Action = "delete"
	GetStats     Action = "get_stats"
	GetStatus    Action = "get_status"
	PutFailover  Action = "put_failover"
	PutConfig    Action = "put_config"
	GetDefaults  Action = "get_defaults"
	PostVIPSGIDs Action = "post:vip_sg_ids"
	PutVIPSGIDs  Action = "put:vip_sg_ids"
)

// RuleFor returns the policy name os_load-balancer_api:<object>:<action>.
func RuleFor(o Object, a Action) Rule {
	return Rule("os_load-balancer_api:" + string(o) + ":" + string(a))
}

// OperationRules returns Octavia's per-operation rules
// (octavia/policies/*.py), by policy name.
func OperationRules() map[Rule]string {
	const (
		read          = "rule:load-balancer:read"
		readGlobal    = "rule:load-balancer:read-global"
		write         = "rule:load-balancer:write"
		admin         = "rule:load-balancer:admin"
		readQuota     = "rule:load-balancer:read-quota"
		readQuotaGlob = "rule:load-balancer:read-quota-global"
		writeQuota    = "rule:load-balancer:write-quota"
		readOrService = "rule:load-balancer:read or rule:service"
	)
	out := map[Rule]string{}
	crud := func(object Object, global bool) {
		out[RuleFor(object, GetAll)] = read
		if global {
			out[RuleFor(object, GetAllGlobal)] = readGlobal
		}
		out[RuleFor(object, GetOne)] = read
		out[RuleFor(object, Post)] = write
		out[RuleFor(object, Put)] = write
		out[RuleFor(object, Delete)] = write
	}
	crud(LoadBalancer, true)
	out[RuleFor(LoadBalancer, GetStats)] = read
	out[RuleFor(LoadBalancer, GetStatus)] = read
	out[RuleFor(LoadBalancer, PutFailover)] = admin
	out[RuleFor(LoadBalancer, PostVIPSGIDs)] = write
	out[RuleFor(LoadBalancer, PutVIPSGIDs)] = write
	crud(Listener, true)
	out[RuleFor(Listener, GetStats)] = read
	crud(Pool, true)
	crud(Member, false)
	out[RuleFor(Member, GetStats)] = read // a fulcrum extension: Octavia has no member counters
	out[RuleFor(Member, GetAll)] = readOrService
	crud(HealthMonitor, true)
	crud(L7Policy, true)
	crud(L7Rule, false)

	out[RuleFor(Quota, GetAll)] = readQuota
	out[RuleFor(Quota, GetAllGlobal)] = readQuotaGlob
	out[RuleFor(Quota, GetOne)] = readQuota
	out[RuleFor(Quota, Put)] = writeQuota
	out[RuleFor(Quota, Delete)] = writeQuota
	out[RuleFor(Quota, GetDefaults)] = readQuota

	out[RuleFor(Provider, GetAll)] = read
	out[RuleFor(ProviderFlavor, GetAll)] = admin
	out[RuleFor(ProviderAZ, GetAll)] = admin
	for _, object := range []Object{Flavor, AvailabilityZone} {
		out[RuleFor(object, GetAll)] = read
		out[RuleFor(object, GetOne)] = read
		out[RuleFor(object, Post)] = admin
		out[RuleFor(object, Put)] = admin
		out[RuleFor(object, Delete)] = admin
	}
	for _, object := range []Object{FlavorProfile, AvailabilityZoneProfile} {
		for _, action := range []Action{GetAll, GetOne, Post, Put, Delete} {
			out[RuleFor(object, action)] = admin
		}
	}
	for _, action := range []Action{GetAll, GetOne, Delete, PutConfig, PutFailover, GetStats} {
		out[RuleFor(Amphora, action)] = admin
	}
	return out
}
