package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/network/neutron"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// testNetworkSecurity covers the second part of the Neutron subset's
// schema: security groups and rules, which ports carry which groups,
// network quotas, address releases and lock rows.
func testNetworkSecurity(t *testing.T, s store.Store) {
	ctx := context.Background()
	_, n, sub, port, alloc := networkFixture()
	port.QoSPolicyID = ""
	port.PortSecurityEnabled = true
	times := neutron.Times{CreatedAt: base, UpdatedAt: base}
	web := &neutron.SecurityGroup{ID: id("bbbbbbbb", 1), ProjectID: "p1", Name: "web", Description: "d", Stateful: true, RevisionNumber: 3,
		Tags: []string{"t"}, Times: times}
	peers := &neutron.SecurityGroup{ID: id("bbbbbbbb", 2), ProjectID: "p1", Name: "peers", Stateful: true, Tags: []string{}, Times: times}
	def := &neutron.SecurityGroup{ID: id("bbbbbbbb", 3), ProjectID: "p1", Name: "default", Stateful: true, IsDefault: true, Tags: []string{}, Times: times}
	full := &neutron.SecurityGroupRule{ID: id("cccccccc", 1), ProjectID: "p1", SecurityGroupID: web.ID, Description: "x", Direction: neutron.Ingress,
		EtherType: neutron.IPv4, Protocol: "tcp", PortRangeMin: ip(80), PortRangeMax: ip(81), RemoteIPPrefix: "10.1.2.3/8", RevisionNumber: 1, Times: times}
	bare := &neutron.SecurityGroupRule{ID: id("cccccccc", 2), ProjectID: "p1", SecurityGroupID: web.ID, Direction: neutron.Egress,
		EtherType: neutron.IPv6, Times: times}
	remote := &neutron.SecurityGroupRule{ID: id("cccccccc", 3), ProjectID: "p1", SecurityGroupID: web.ID, Direction: neutron.Ingress,
		EtherType: neutron.IPv4, RemoteGroupID: peers.ID, Times: times}
	bind := &neutron.PortSecurityGroup{ID: neutron.PortSecurityGroupID(port.ID, web.ID), PortID: port.ID, SecurityGroupID: web.ID}
	q := &neutron.NetworkQuota{ProjectID: "p1"}
	q.Limits[neutron.QuotaPort] = ip(7)
	q.Limits[neutron.QuotaSecurityGroupRule] = ip(-1)
	rel := &neutron.IPRelease{ID: "host/127.10.0.9", SubnetID: sub.ID, IPAddress: "127.10.0.9", ReleasedAt: base.Add(time.Minute)}
	port.SecurityGroups = []string{web.ID}
	mustUpdate(t, s, func(tx store.Tx) error {
		return errors.Join(
			tx.Networks().Create(ctx, &neutron.Network{ID: n.ID, ProjectID: n.ProjectID, Name: n.Name, AdminStateUp: true, MTU: 1500, Tags: []string{}, Times: times}),
			tx.Subnets().Create(ctx, sub),
			tx.Ports().Create(ctx, port),
			tx.IPAllocations().Create(ctx, alloc),
			tx.SecurityGroups().Create(ctx, web),
			tx.SecurityGroups().Create(ctx, peers),
			tx.SecurityGroups().Create(ctx, def),
			tx.SecurityGroupRules().Create(ctx, full),
			tx.SecurityGroupRules().Create(ctx, bare),
			tx.SecurityGroupRules().Create(ctx, remote),
			tx.PortSecurityGroups().Create(ctx, bind),
			tx.NetworkQuotas().Create(ctx, q),
			tx.IPReleases().Create(ctx, rel),
		)
	})
	_ = s.View(ctx, func(tx store.Tx) error {
		gp, err1 := tx.Ports().Get(ctx, port.ID)
		gw, err2 := tx.SecurityGroups().Get(ctx, web.ID)
		gd, err3 := tx.SecurityGroups().Get(ctx, def.ID)
		gf, err4 := tx.SecurityGroupRules().Get(ctx, full.ID)
		gb, err5 := tx.SecurityGroupRules().Get(ctx, bare.ID)
		gbind, err6 := tx.PortSecurityGroups().Get(ctx, bind.ID)
		gq, err7 := tx.NetworkQuotas().Get(ctx, "p1")
		gr, err8 := tx.IPReleases().Get(ctx, rel.ID)
		_, err9 := tx.NetworkLocks().Get(ctx, "address-space") // made by the migration
		if err := errors.Join(err1, err2, err3, err4, err5, err6, err7, err8, err9); err != nil {
			t.Fatal(err)
		}
		check(t, "port", gp, port)
		check(t, "security group", gw, web)
		check(t, "default security group", gd, def)
		check(t, "rule", gf, full)
		check(t, "rule without options", gb, bare)
		check(t, "port security group", gbind, bind)
		check(t, "network quota", gq, q)
		check(t, "ip release", gr, rel)
		return nil
	})
	tests := []struct {
		name string
		fn   func(tx store.Tx) error
	}{
		{"a second default group of a project", func(tx store.Tx) error {
			d2 := *def
			d2.ID = id("bbbbbbbb", 4)
			return tx.SecurityGroups().Create(ctx, &d2)
		}},
		{"a group a port carries", func(tx store.Tx) error { return tx.SecurityGroups().Delete(ctx, web.ID) }},
		{"a rule of a missing group", func(tx store.Tx) error {
			r := *bare
			r.ID, r.SecurityGroupID = id("cccccccc", 9), "nope"
			return tx.SecurityGroupRules().Create(ctx, &r)
		}},
		{"a binding to a missing group", func(tx store.Tx) error {
			return tx.PortSecurityGroups().Create(ctx, &neutron.PortSecurityGroup{ID: "x", PortID: port.ID, SecurityGroupID: "nope"})
		}},
		{"a release on a missing subnet", func(tx store.Tx) error {
			return tx.IPReleases().Create(ctx, &neutron.IPRelease{ID: "y", SubnetID: "nope", IPAddress: "1.2.3.4", ReleasedAt: base})
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := s.Update(ctx, tc.fn); !errors.Is(err, store.ErrConflict) {
				t.Errorf("got %v, want ErrConflict", err)
			}
		})
	}
	// A remote group's deletion takes the rules naming it; a port's, its
	// bindings; a group's, its rules; a subnet's, its releases.
	mustUpdate(t, s, func(tx store.Tx) error { return tx.SecurityGroups().Delete(ctx, peers.ID) })
	mustUpdate(t, s, func(tx store.Tx) error {
		if _, err := tx.SecurityGroupRules().Get(ctx, remote.ID); !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("rule naming a deleted remote group: %v", err)
		}
		return errors.Join(tx.IPAllocations().Delete(ctx, alloc.ID), tx.Ports().Delete(ctx, port.ID))
	})
	mustUpdate(t, s, func(tx store.Tx) error {
		if n, err := tx.PortSecurityGroups().Count(ctx, store.F("security_group_id", web.ID)); err != nil || n != 0 {
			return fmt.Errorf("bindings after their port went: %d %v", n, err)
		}
		return errors.Join(tx.SecurityGroups().Delete(ctx, web.ID), tx.Subnets().Delete(ctx, sub.ID))
	})
	_ = s.View(ctx, func(tx store.Tx) error {
		rules, err1 := tx.SecurityGroupRules().Count(ctx, store.F("security_group_id", web.ID))
		rels, err2 := tx.IPReleases().Count(ctx, store.F("subnet_id", sub.ID))
		if err := errors.Join(err1, err2); err != nil || rules != 0 || rels != 0 {
			t.Errorf("after deleting the group and the subnet: %d rules, %d releases, %v", rules, rels, err)
		}
		return nil
	})
}
