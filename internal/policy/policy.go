// Package policy holds the identity of an API caller and decides what that
// caller may do, using Octavia's policy names
// (os_load-balancer_api:<object>:<action>).
//
// Handlers call Authorize for every operation with the rule and the project
// that owns the target; the decision lives here so that RBAC (Octavia's
// reader/member/admin roles) can be added without touching handlers. In this
// version administrators pass every rule; other callers pass every rule on
// their own project's objects except the admin-only ones (failover,
// cross-project lists). Role-based rules arrive with Keystone.
package policy

import (
	"context"
	"errors"
	"slices"
	"strings"
)

// Caller is who is making an API request.
type Caller struct {
	ProjectID string
	UserID    string
	Roles     []string
	// IsAdmin grants every rule (Octavia's context is_admin). Under noauth
	// every caller is admin.
	IsAdmin bool
}

// HasRole reports whether the caller holds role.
func (c Caller) HasRole(role string) bool { return slices.Contains(c.Roles, role) }

type callerKey struct{}

// WithCaller returns a context carrying c.
func WithCaller(ctx context.Context, c Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// CallerFrom returns the caller stored in ctx by WithCaller.
func CallerFrom(ctx context.Context) (Caller, bool) {
	c, ok := ctx.Value(callerKey{}).(Caller)
	return c, ok
}

// ErrDenied is returned by Authorize when the rule does not allow the call.
// The API answers it with 403 "Policy does not allow this request to be
// performed."
var ErrDenied = errors.New("policy does not allow this request to be performed")

// Object is the <object> part of an Octavia policy name.
type Object string

// Policy objects.
const (
	LoadBalancer  Object = "loadbalancer"
	Listener      Object = "listener"
	Pool          Object = "pool"
	Member        Object = "member"
	HealthMonitor Object = "healthmonitor"
	L7Policy      Object = "l7policy"
	L7Rule        Object = "l7rule"

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
)

// Rule is a full Octavia policy name.
type Rule string

// RuleFor returns the policy name os_load-balancer_api:<object>:<action>.
func RuleFor(o Object, a Action) Rule {
	return Rule("os_load-balancer_api:" + string(o) + ":" + string(a))
}

// Authorize decides whether c may perform rule on an object owned by
// ownerProject ("" when the target has no owner, e.g. a global list). It
// returns nil or ErrDenied.
func Authorize(c Caller, rule Rule, ownerProject string) error {
	if c.IsAdmin {
		return nil
	}
	if adminOnly(rule) {
		return ErrDenied
	}
	// Every project-scoped rule requires the target to be the caller's
	// project (Octavia's load-balancer:owner).
	if ownerProject != "" && ownerProject != c.ProjectID {
		return ErrDenied
	}
	return nil
}

// adminOnly reports whether only administrators pass rule, as in Octavia's
// defaults: failover, the cross-project (get_all-global) lists, the
// provider capabilities, flavor and availability zone writes, profiles and
// amphorae.
func adminOnly(rule Rule) bool {
	if strings.HasSuffix(string(rule), ":"+string(GetAllGlobal)) {
		return true
	}
	switch rule {
	case RuleFor(LoadBalancer, PutFailover), RuleFor(ProviderFlavor, GetAll), RuleFor(ProviderAZ, GetAll),
		RuleFor(Flavor, Post), RuleFor(Flavor, Put), RuleFor(Flavor, Delete),
		RuleFor(AvailabilityZone, Post), RuleFor(AvailabilityZone, Put), RuleFor(AvailabilityZone, Delete):
		return true
	}
	for _, o := range []Object{FlavorProfile, AvailabilityZoneProfile, Amphora} {
		if strings.HasPrefix(string(rule), "os_load-balancer_api:"+string(o)+":") {
			return true
		}
	}
	return false
}
