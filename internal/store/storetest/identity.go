package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/identity/keystone"
	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/network/neutron"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

func identityFixture() (*keystone.Domain, *keystone.Project, *keystone.User, *keystone.Role, *keystone.Assignment) {
	d := &keystone.Domain{ID: "default", Name: "Default", Description: "the default domain", Enabled: true, CreatedAt: base}
	p := &keystone.Project{ID: id("11111111", 1), DomainID: d.ID, Name: "admin", Description: "d", Enabled: true, Tags: []string{"x"}, CreatedAt: base}
	u := &keystone.User{ID: id("22222222", 1), DomainID: d.ID, Name: "admin", Email: "a@example.com", Enabled: true,
		DefaultProjectID: p.ID, PasswordHash: "$argon2id$v=19$m=8,t=1,p=1$c2FsdA$aGFzaA", PasswordChangedAt: tp(base), CreatedAt: base}
	r := &keystone.Role{ID: id("33333333", 1), Name: "admin", Description: "root", CreatedAt: base}
	a := &keystone.Assignment{ID: id("44444444", 1), RoleID: r.ID, UserID: u.ID, ProjectID: p.ID, CreatedAt: base}
	return d, p, u, r, a
}

func createIdentity(t *testing.T, s store.Store) (*keystone.Domain, *keystone.Project, *keystone.User, *keystone.Role, *keystone.Assignment) {
	t.Helper()
	d, p, u, r, a := identityFixture()
	ctx := context.Background()
	mustUpdate(t, s, func(tx store.Tx) error {
		return errors.Join(
			tx.Domains().Create(ctx, d),
			tx.Projects().Create(ctx, p),
			tx.Users().Create(ctx, u),
			tx.Roles().Create(ctx, r),
			tx.Assignments().Create(ctx, a),
		)
	})
	return d, p, u, r, a
}

func testIdentityRoundTrip(t *testing.T, s store.Store) {
	ctx := context.Background()
	d, p, u, r, a := createIdentity(t, s)
	rev := &keystone.Revocation{ID: id("55555555", 1), UserID: u.ID, RevokedAt: base, ExpiresAt: base.Add(24 * time.Hour)}
	mustUpdate(t, s, func(tx store.Tx) error { return tx.Revocations().Create(ctx, rev) })
	err := s.View(ctx, func(tx store.Tx) error {
		gd, err1 := tx.Domains().Get(ctx, d.ID)
		gp, err2 := tx.Projects().Get(ctx, p.ID)
		gu, err3 := tx.Users().Get(ctx, u.ID)
		gr, err4 := tx.Roles().Get(ctx, r.ID)
		ga, err5 := tx.Assignments().Get(ctx, a.ID)
		gv, err6 := tx.Revocations().Get(ctx, rev.ID)
		if err := errors.Join(err1, err2, err3, err4, err5, err6); err != nil {
			return err
		}
		check(t, "domain", gd, d)
		check(t, "project", gp, p)
		check(t, "user", gu, u)
		check(t, "role", gr, r)
		check(t, "assignment", ga, a)
		check(t, "revocation", gv, rev)
		byUser, err := tx.Revocations().List(ctx, store.Query{Filters: []store.Filter{store.F("user_id", u.ID)}})
		if err != nil {
			return err
		}
		if len(byUser) != 1 {
			t.Errorf("revocations by user: got %d, want 1", len(byUser))
		}
		byProject, err := tx.Assignments().List(ctx, store.Query{Filters: []store.Filter{store.F("project_id", p.ID), store.F("user_id", u.ID)}})
		if err != nil {
			return err
		}
		if len(byProject) != 1 {
			t.Errorf("assignments by project and user: got %d, want 1", len(byProject))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func testIdentityConstraints(t *testing.T, s store.Store) {
	ctx := context.Background()
	d, p, u, r, a := createIdentity(t, s)
	tests := []struct {
		name string
		fn   func(tx store.Tx) error
		want error
	}{
		{"duplicate domain name", func(tx store.Tx) error {
			return tx.Domains().Create(ctx, &keystone.Domain{ID: "other", Name: d.Name, Enabled: true, CreatedAt: base})
		}, store.ErrConflict},
		{"duplicate project name in domain", func(tx store.Tx) error {
			return tx.Projects().Create(ctx, &keystone.Project{ID: "p2", DomainID: d.ID, Name: p.Name, Enabled: true, CreatedAt: base})
		}, store.ErrConflict},
		{"project in missing domain", func(tx store.Tx) error {
			return tx.Projects().Create(ctx, &keystone.Project{ID: "p3", DomainID: "nope", Name: "x", Enabled: true, CreatedAt: base})
		}, store.ErrConflict},
		{"duplicate user name in domain", func(tx store.Tx) error {
			return tx.Users().Create(ctx, &keystone.User{ID: "u2", DomainID: d.ID, Name: u.Name, Enabled: true, CreatedAt: base})
		}, store.ErrConflict},
		{"duplicate role name", func(tx store.Tx) error {
			return tx.Roles().Create(ctx, &keystone.Role{ID: "r2", Name: r.Name, CreatedAt: base})
		}, store.ErrConflict},
		{"duplicate assignment", func(tx store.Tx) error {
			return tx.Assignments().Create(ctx, &keystone.Assignment{ID: "a2", RoleID: r.ID, UserID: u.ID, ProjectID: p.ID, CreatedAt: base})
		}, store.ErrConflict},
		{"assignment of a missing role", func(tx store.Tx) error {
			return tx.Assignments().Create(ctx, &keystone.Assignment{ID: "a3", RoleID: "nope", UserID: u.ID, ProjectID: p.ID, CreatedAt: base})
		}, store.ErrConflict},
		{"same role on the domain is another assignment", func(tx store.Tx) error {
			return tx.Assignments().Create(ctx, &keystone.Assignment{ID: "a4", RoleID: r.ID, UserID: u.ID, DomainID: d.ID, CreatedAt: base})
		}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := s.Update(ctx, tc.fn)
			if (tc.want == nil && err != nil) || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Errorf("got %v, want %v", err, tc.want)
			}
		})
	}
	// Deleting the user or the project removes the assignments.
	mustUpdate(t, s, func(tx store.Tx) error { return tx.Projects().Delete(ctx, p.ID) })
	_ = s.View(ctx, func(tx store.Tx) error {
		if _, err := tx.Assignments().Get(ctx, a.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("assignment after its project was deleted: got %v, want ErrNotFound", err)
		}
		return nil
	})
	mustUpdate(t, s, func(tx store.Tx) error { return tx.Users().Delete(ctx, u.ID) })
	_ = s.View(ctx, func(tx store.Tx) error {
		n, err := tx.Assignments().Count(ctx, store.F("user_id", u.ID))
		if err != nil || n != 0 {
			t.Errorf("assignments of a deleted user: got %d, %v; want 0", n, err)
		}
		return nil
	})
}

func networkFixture() (*neutron.QoSPolicy, *neutron.Network, *neutron.Subnet, *neutron.Port, *neutron.IPAllocation) {
	q := &neutron.QoSPolicy{ID: id("66666666", 1), ProjectID: "p1", Name: "gold", Shared: true, Tags: []string{}, Times: neutron.Times{CreatedAt: base, UpdatedAt: base}}
	n := &neutron.Network{ID: id("77777777", 1), ProjectID: "p1", Name: "private", AdminStateUp: true, MTU: 1500, QoSPolicyID: q.ID, Tags: []string{"t"}, Times: neutron.Times{CreatedAt: base, UpdatedAt: base}}
	sub := &neutron.Subnet{ID: id("88888888", 1), ProjectID: "p1", NetworkID: n.ID, Name: "private-subnet", IPVersion: 4, CIDR: "127.10.0.0/16",
		GatewayIP: "127.10.0.1", AllocationPools: []neutron.AllocationPool{{Start: "127.10.0.2", End: "127.10.255.254"}}, DNSNameservers: []string{},
		Tags: []string{}, Times: neutron.Times{CreatedAt: base, UpdatedAt: base}}
	port := &neutron.Port{ID: id("99999999", 1), ProjectID: "p1", NetworkID: n.ID, AdminStateUp: true, MACAddress: "fa:16:3e:00:00:01",
		FixedIPs: []neutron.FixedIP{{SubnetID: sub.ID, IPAddress: "127.10.0.2"}}, DeviceOwner: neutron.OwnerLoadBalancerVIP, DeviceID: "lb1",
		QoSPolicyID: q.ID, SecurityGroups: []string{}, Status: neutron.PortDown, Tags: []string{}, Times: neutron.Times{CreatedAt: base, UpdatedAt: base}}
	alloc := &neutron.IPAllocation{ID: neutron.AllocationID(sub.ID, "127.10.0.2"), SubnetID: sub.ID, NetworkID: n.ID, PortID: port.ID, IPAddress: "127.10.0.2"}
	return q, n, sub, port, alloc
}

func testNetworkRoundTripAndConstraints(t *testing.T, s store.Store) {
	ctx := context.Background()
	q, n, sub, port, alloc := networkFixture()
	ext := &neutron.Network{ID: id("77777777", 2), ProjectID: "p1", Name: "public", AdminStateUp: true, External: true, MTU: 1500, Times: n.Times}
	extSub := &neutron.Subnet{ID: id("88888888", 2), ProjectID: "p1", NetworkID: ext.ID, IPVersion: 4, CIDR: "127.20.0.0/16", AllocationPools: []neutron.AllocationPool{{Start: "127.20.0.2", End: "127.20.0.9"}}, Times: n.Times}
	fport := &neutron.Port{ID: id("99999999", 2), ProjectID: "p1", NetworkID: ext.ID, MACAddress: "fa:16:3e:00:00:02",
		FixedIPs: []neutron.FixedIP{{SubnetID: extSub.ID, IPAddress: "127.20.0.2"}}, DeviceOwner: neutron.OwnerFloatingIP, Status: neutron.PortActive, Times: n.Times}
	fip := &neutron.FloatingIP{ID: id("aaaaaaab", 1), ProjectID: "p1", FloatingNetworkID: ext.ID, FloatingIPAddress: "127.20.0.2", FloatingPortID: fport.ID,
		PortID: port.ID, FixedIPAddress: "127.10.0.2", Status: neutron.PortActive, Tags: []string{}, Times: n.Times}
	mustUpdate(t, s, func(tx store.Tx) error {
		return errors.Join(
			tx.QoSPolicies().Create(ctx, q),
			tx.Networks().Create(ctx, n),
			tx.Subnets().Create(ctx, sub),
			tx.Ports().Create(ctx, port),
			tx.IPAllocations().Create(ctx, alloc),
			tx.Networks().Create(ctx, ext),
			tx.Subnets().Create(ctx, extSub),
			tx.Ports().Create(ctx, fport),
			tx.IPAllocations().Create(ctx, &neutron.IPAllocation{ID: neutron.AllocationID(extSub.ID, "127.20.0.2"), SubnetID: extSub.ID, NetworkID: ext.ID, PortID: fport.ID, IPAddress: "127.20.0.2"}),
			tx.FloatingIPs().Create(ctx, fip),
		)
	})
	_ = s.View(ctx, func(tx store.Tx) error {
		gq, err1 := tx.QoSPolicies().Get(ctx, q.ID)
		gn, err2 := tx.Networks().Get(ctx, n.ID)
		gs, err3 := tx.Subnets().Get(ctx, sub.ID)
		gp, err4 := tx.Ports().Get(ctx, port.ID)
		ga, err5 := tx.IPAllocations().Get(ctx, alloc.ID)
		gf, err6 := tx.FloatingIPs().Get(ctx, fip.ID)
		if err := errors.Join(err1, err2, err3, err4, err5, err6); err != nil {
			t.Fatal(err)
		}
		check(t, "qos policy", gq, q)
		check(t, "network", gn, n)
		check(t, "subnet", gs, sub)
		check(t, "port", gp, port)
		check(t, "ip allocation", ga, alloc)
		check(t, "floating ip", gf, fip)
		return nil
	})
	tests := []struct {
		name string
		fn   func(tx store.Tx) error
		want error
	}{
		{"address already allocated on the subnet", func(tx store.Tx) error {
			p2 := *port
			p2.ID, p2.MACAddress = "port-2", "fa:16:3e:00:00:03"
			if err := tx.Ports().Create(ctx, &p2); err != nil {
				return err
			}
			return tx.IPAllocations().Create(ctx, &neutron.IPAllocation{ID: "other-id", SubnetID: sub.ID, NetworkID: n.ID, PortID: p2.ID, IPAddress: "127.10.0.2"})
		}, store.ErrConflict},
		{"duplicate mac on the network", func(tx store.Tx) error {
			p2 := *port
			p2.ID = "port-3"
			return tx.Ports().Create(ctx, &p2)
		}, store.ErrConflict},
		{"subnet with allocations", func(tx store.Tx) error { return tx.Subnets().Delete(ctx, sub.ID) }, store.ErrConflict},
		{"network with subnets", func(tx store.Tx) error { return tx.Networks().Delete(ctx, n.ID) }, store.ErrConflict},
		{"qos policy in use", func(tx store.Tx) error { return tx.QoSPolicies().Delete(ctx, q.ID) }, store.ErrConflict},
		{"port with a floating ip", func(tx store.Tx) error { return tx.Ports().Delete(ctx, port.ID) }, store.ErrConflict},
		{"subnet of a missing network", func(tx store.Tx) error {
			s2 := *sub
			s2.ID, s2.NetworkID = "subnet-2", "nope"
			return tx.Subnets().Create(ctx, &s2)
		}, store.ErrConflict},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := s.Update(ctx, tc.fn); !errors.Is(err, tc.want) {
				t.Errorf("got %v, want %v", err, tc.want)
			}
		})
	}
	// Deleting a port releases its addresses; then subnet and network go.
	mustUpdate(t, s, func(tx store.Tx) error {
		return errors.Join(tx.FloatingIPs().Delete(ctx, fip.ID), tx.Ports().Delete(ctx, port.ID))
	})
	mustUpdate(t, s, func(tx store.Tx) error {
		left, err := tx.IPAllocations().Count(ctx, store.F("subnet_id", sub.ID))
		if err != nil || left != 0 {
			return fmt.Errorf("allocations after the port went: %d, %v", left, err)
		}
		return errors.Join(tx.Subnets().Delete(ctx, sub.ID), tx.Networks().Delete(ctx, n.ID))
	})
}

func testQuotas(t *testing.T, s store.Store) {
	ctx := context.Background()
	q := &lb.Quota{ProjectID: "p1"}
	q.Limits[lb.QuotaLoadBalancer] = ip(2)
	q.Limits[lb.QuotaL7Rule] = ip(0)
	q.Limits[lb.QuotaMember] = ip(-1)
	mustUpdate(t, s, func(tx store.Tx) error { return tx.Quotas().Create(ctx, q) })
	err := s.Update(ctx, func(tx store.Tx) error {
		got, err := tx.Quotas().Lock(ctx, "p1")
		if err != nil {
			return err
		}
		check(t, "quota", got, q)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Update(ctx, func(tx store.Tx) error { return tx.Quotas().Create(ctx, &lb.Quota{ProjectID: "p1"}) })
	if !errors.Is(err, store.ErrConflict) {
		t.Errorf("second quota row for a project: got %v, want ErrConflict", err)
	}
	eff := q.Effective(lb.UnlimitedQuotas())
	if eff[lb.QuotaLoadBalancer] != 2 || eff[lb.QuotaListener] != -1 || eff[lb.QuotaL7Rule] != 0 {
		t.Errorf("effective limits: got %v", eff)
	}
}
