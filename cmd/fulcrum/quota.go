package main

import (
	"fmt"

	"github.com/fulcrumlb/fulcrum/internal/config"
	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/quota"
)

// quotaConfig holds the default quota of each resource per project.
type quotaConfig struct {
	Defaults lb.QuotaLimits
}

func (c *quotaConfig) register(s *config.Set) {
	for i, r := range lb.QuotaResources {
		name := map[lb.QuotaResource]string{lb.QuotaLoadBalancer: "load-balancer", lb.QuotaHealthMonitor: "health-monitor"}[r]
		if name == "" {
			name = r.Key()
		}
		s.Int(&c.Defaults[i], "quota-"+name, lb.QuotaUnlimited, "default quota of "+quotaPlural[r]+" per project (-1 unlimited)")
	}
}

// quotaPlural names each resource's objects in help text.
var quotaPlural = map[lb.QuotaResource]string{lb.QuotaLoadBalancer: "load balancers", lb.QuotaListener: "listeners",
	lb.QuotaPool: "pools", lb.QuotaHealthMonitor: "health monitors", lb.QuotaMember: "members",
	lb.QuotaL7Policy: "L7 policies", lb.QuotaL7Rule: "L7 rules"}

func (c *quotaConfig) check() error {
	for i, n := range c.Defaults {
		if n < lb.QuotaUnlimited || n > lb.QuotaMax {
			return fmt.Errorf("quota of %s %d: want -1…%d", lb.QuotaResources[i].Key(), n, lb.QuotaMax)
		}
	}
	return nil
}

// newQuotas returns the quota enforcer the API reserves quota with.
func newQuotas(c *quotaConfig) *quota.Enforcer {
	return quota.New(c.Defaults)
}
