package main

import (
	"github.com/fulcrumlb/fulcrum/internal/config"
	"github.com/fulcrumlb/fulcrum/internal/policy"
)

// policyConfig holds the settings of RBAC, which the Octavia, quota,
// Neutron and Barbican APIs all enforce.
type policyConfig struct {
	LegacyRoles bool
}

func (c *policyConfig) register(s *config.Set) {
	s.Bool(&c.LegacyRoles, "policy-legacy-roles", true, "also accept Octavia's legacy load-balancer_* roles (false: only admin, member, reader as with enforce_new_defaults)")
}

// newPolicy returns the RBAC enforcer.
func newPolicy(c *policyConfig) (*policy.Enforcer, error) {
	return policy.New(policy.Options{StrictNewDefaults: !c.LegacyRoles})
}
