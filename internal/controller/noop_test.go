package controller_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/controller"
	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// TestNoopAmphorae: like Octavia's noop drivers, the noop provider records
// one STANDALONE amphora per load balancer, a MASTER and a BACKUP for an
// ACTIVE_STANDBY flavor; a failed-over amphora comes back in place;
// applying again changes nothing; the zero Noop records none.
func TestNoopAmphorae(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, filepath.Join(t.TempDir(), "f.db"))
	defer s.Close()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	clock := func() time.Time { return now }
	mk := func(id, flavorID string) *lb.LoadBalancer {
		l := &lb.LoadBalancer{ID: id, ProjectID: "p", AdminStateUp: true, Provider: "noop", FlavorID: flavorID,
			VIP:    lb.VIP{Address: "127.9.0.7", PortID: "port-" + id},
			Status: lb.Status{Provisioning: lb.PendingCreate, Operating: lb.Offline}, Times: lb.Times{CreatedAt: now}}
		if err := s.Update(ctx, func(tx store.Tx) error { return tx.LoadBalancers().Create(ctx, l) }); err != nil {
			t.Fatal(err)
		}
		return l
	}
	err := s.Update(ctx, func(tx store.Tx) error {
		if err := tx.FlavorProfiles().Create(ctx, &lb.FlavorProfile{ID: "fp", Name: "ha", ProviderName: "amphora",
			FlavorData: `{"loadbalancer_topology": "ACTIVE_STANDBY", "compute_flavor": "m1.amphora"}`}); err != nil {
			return err
		}
		return tx.Flavors().Create(ctx, &lb.Flavor{ID: "fl", Name: "ha", Enabled: true, FlavorProfileID: "fp"})
	})
	if err != nil {
		t.Fatal(err)
	}
	amphorae := func(lbID string) []*lb.Amphora {
		t.Helper()
		var out []*lb.Amphora
		err := s.View(ctx, func(tx store.Tx) error {
			var err error
			out, err = tx.Amphorae().List(ctx, store.Query{Filters: []store.Filter{store.F("loadbalancer_id", lbID)},
				Sort: []store.Sort{{Field: "role"}}})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	apply := func(p controller.Provider, l *lb.LoadBalancer) {
		t.Helper()
		out, err := p.Apply(ctx, &lb.Graph{LoadBalancer: l})
		if err != nil || !out.Done {
			t.Fatalf("apply %s: %+v %v", l.ID, out, err)
		}
	}
	noop := controller.Noop{Store: s, Now: clock}

	single := mk("11111111-0000-4000-8000-000000000001", "")
	apply(noop, single)
	amps := amphorae(single.ID)
	if len(amps) != 1 || amps[0].Role != lb.RoleStandalone || amps[0].Status != lb.AmphoraAllocated ||
		amps[0].HAIP != "127.9.0.7" || amps[0].HAPortID != "port-"+single.ID || amps[0].AgentID != "" || amps[0].VRRPID != nil {
		t.Fatalf("SINGLE: %+v", amps)
	}

	ha := mk("11111111-0000-4000-8000-000000000002", "fl")
	apply(noop, ha)
	amps = amphorae(ha.ID)
	if len(amps) != 2 || amps[0].Role != lb.RoleBackup || amps[1].Role != lb.RoleMaster || amps[0].ID == amps[1].ID ||
		*amps[0].VRRPPriority != 90 || *amps[1].VRRPPriority != 100 || amps[1].ComputeFlavor != "m1.amphora" {
		t.Fatalf("ACTIVE_STANDBY: %+v", amps)
	}

	// Failover of the MASTER: it is replaced in place.
	master := amps[1]
	master.Status = lb.AmphoraPendingDelete
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.Amphorae().Update(ctx, master) }); err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Minute)
	apply(noop, ha)
	after := amphorae(ha.ID)
	if len(after) != 2 || after[1].ID != master.ID || after[1].Status != lb.AmphoraAllocated || after[1].UpdatedAt == nil || !after[1].UpdatedAt.Equal(now) {
		t.Fatalf("after failover: %+v", after[1])
	}
	// Nothing to do: nothing written.
	now = now.Add(time.Minute)
	apply(noop, ha)
	if again := amphorae(ha.ID); !again[1].UpdatedAt.Equal(*after[1].UpdatedAt) || !again[0].CreatedAt.Equal(after[0].CreatedAt) {
		t.Fatalf("a second apply rewrote the amphorae: %+v", again)
	}

	bare := mk("11111111-0000-4000-8000-000000000003", "")
	apply(controller.Noop{}, bare)
	if amps := amphorae(bare.ID); len(amps) != 0 {
		t.Fatalf("the zero Noop recorded %+v", amps)
	}
}
