// Package policy is fulcrum's RBAC: Octavia's policy rules (names such as
// os_load-balancer_api:loadbalancer:post) as data, written in oslo.policy's
// check language, evaluated against the caller's roles and project and the
// target object's project.
//
// By default the rules are Octavia's new defaults (enforce_new_defaults =
// True: admin, member and reader, project-scoped) with the legacy
// load-balancer_* roles also accepted, OR-ed in the way Octavia's deprecated
// rules are; Options.StrictNewDefaults drops the legacy roles.
//
// NewNetwork builds the same kind of enforcer for the Neutron subset from
// NetworkRules (Neutron's defaults), checked with AuthorizeTarget against
// richer targets: the object's owner, its network's owner, whether that
// network is shared or external.
package policy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/fulcrumlb/fulcrum/internal/identity/keystone"
)

// Caller is who makes a request: from a validated token, or, under noauth,
// from request headers with IsAdmin set.
type Caller struct {
	ProjectID string
	UserID    string
	// Roles are the caller's role names, implied roles included or not
	// (Authorize expands admin ⇒ member ⇒ reader itself).
	Roles []string
	// IsAdmin grants every rule (Octavia's context is_admin); every caller
	// is admin under noauth.
	IsAdmin bool
	// NoAuth marks a caller of a server running without authentication:
	// quotas are not enforced for it.
	NoAuth bool
}

// HasRole reports whether the caller holds role directly or by implication
// (admin ⇒ member ⇒ reader).
func (c Caller) HasRole(role string) bool {
	return slices.Contains(keystone.ExpandRoles(c.Roles), role)
}

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

// ErrDenied is returned by Authorize when the rule does not allow the call;
// the API answers 403 with DeniedMessage.
var ErrDenied = errors.New("policy does not allow this request to be performed")

// DeniedMessage is Octavia's faultstring for a policy denial.
const DeniedMessage = "Policy does not allow this request to be performed."

// Options configure New.
type Options struct {
	// StrictNewDefaults accepts only admin, member and reader (plus service),
	// as Octavia with [oslo_policy] enforce_new_defaults = True; the legacy
	// load-balancer_* roles stop working.
	StrictNewDefaults bool
	// Overrides replace rules by name (operator policy), in the same
	// language.
	Overrides map[string]string // rule name → check string
}

// Enforcer evaluates rules. It is immutable and safe for concurrent use.
type Enforcer struct {
	rules map[Rule]node
}

// New parses the rule table (defaults, legacy alternatives, overrides) and
// checks that every rule it references exists.
func New(opts Options) (*Enforcer, error) {
	src := map[Rule]string{}
	for name, r := range baseRules {
		src[name] = r.check
		if r.legacy != "" && !opts.StrictNewDefaults {
			src[name] = "(" + r.check + ") or (" + r.legacy + ")"
		}
	}
	for name, check := range OperationRules() {
		src[name] = check
	}
	return build(src, opts.Overrides)
}

// build parses src with overrides applied and checks that every rule it
// references exists.
func build(src map[Rule]string, overrides map[string]string) (*Enforcer, error) {
	for name, check := range overrides {
		src[Rule(name)] = check
	}
	e := &Enforcer{rules: make(map[Rule]node, len(src))}
	for name, s := range src {
		n, err := parse(s)
		if err != nil {
			return nil, fmt.Errorf("policy rule %q: %w", name, err)
		}
		e.rules[name] = n
	}
	for name, n := range e.rules {
		if missing := n.missingRules(e.rules); missing != "" {
			return nil, fmt.Errorf("policy rule %q refers to unknown rule %q", name, missing)
		}
	}
	return e, nil
}

// Authorize checks rule for caller against an object owned by ownerProject
// ("" for objects without an owner). It returns ErrDenied when denied, and
// an error naming the rule when the rule does not exist (a bug).
func (e *Enforcer) Authorize(c Caller, rule Rule, ownerProject string) error {
	return e.AuthorizeTarget(c, rule, Target{"project_id": ownerProject})
}

// Target is the object a rule is checked against, as oslo.policy's target
// dictionary: "project_id" is its owner; other keys are what a service's
// rules refer to, e.g. "network:project_id" (the owner of a port's network,
// for project_id:%(network:project_id)s) or "networks:shared" with "True"
// or "False" (for field:networks:shared=True).
type Target map[string]string

// AuthorizeTarget is Authorize against a target with more attributes than
// its owner.
func (e *Enforcer) AuthorizeTarget(c Caller, rule Rule, t Target) error {
	n, ok := e.rules[rule]
	if !ok {
		return fmt.Errorf("authorize: unknown policy rule %q", rule)
	}
	ev := &evaluation{e: e, c: &c, roles: keystone.ExpandRoles(c.Roles), target: t["project_id"], attrs: t}
	if n.eval(ev, 0) {
		return nil
	}
	return ErrDenied
}

// AllowedTarget is AuthorizeTarget as a boolean (unknown rules are denied).
func (e *Enforcer) AllowedTarget(c Caller, rule Rule, t Target) bool {
	return e.AuthorizeTarget(c, rule, t) == nil
}

// Allowed is Authorize as a boolean (unknown rules are denied).
func (e *Enforcer) Allowed(c Caller, rule Rule, ownerProject string) bool {
	return e.Authorize(c, rule, ownerProject) == nil
}

// Rules returns the names of every rule, sorted.
func (e *Enforcer) Rules() []Rule {
	out := make([]Rule, 0, len(e.rules))
	for name := range e.rules {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

type evaluation struct {
	e      *Enforcer
	c      *Caller
	roles  []string
	target string // the target's project_id
	attrs  Target
}

func (ev *evaluation) hasRole(r string) bool {
	for _, have := range ev.roles {
		if strings.EqualFold(have, r) {
			return true
		}
	}
	return false
}

// isAdmin is Octavia's context.is_admin: noauth callers, or callers that
// pass context_is_admin.
func (ev *evaluation) isAdmin(depth int) bool {
	if ev.c.IsAdmin {
		return true
	}
	n, ok := ev.e.rules["context_is_admin"]
	return ok && n.eval(ev, depth+1)
}
