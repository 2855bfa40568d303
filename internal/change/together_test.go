package change_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/change"
	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/network"
	"github.com/fulcrumlb/fulcrum/internal/store"
	"github.com/fulcrumlb/fulcrum/internal/store/sqlstore"
)

// TestTogether: writes made inside Together share one transaction — all
// of them or none, rows of the caller's own included — and the controller
// hears of each load balancer once, after the commit, at its final
// generation.
func TestTogether(t *testing.T) {
	e := newEnv(t)
	f := e.fixture()
	e.notes.take()
	gen := e.generation(f.lb)

	// A failing write fails the batch even when fn swallows its error.
	err := e.w.Together(e.ctx, func(ctx context.Context, tx store.Tx) error {
		if _, err := e.w.UpdatePool(ctx, change.PoolUpdate{ID: f.p1, Apply: func(p *lb.Pool) error { p.Name = "renamed"; return nil }}); err != nil {
			t.Fatalf("first write: %v", err)
		}
		if err := tx.V1HealthMonitors().Create(ctx, &lb.V1HealthMonitor{ID: "v1hm", ProjectID: project, Type: "TCP", Delay: 1, Timeout: 1,
			MaxRetries: 1, Times: lb.Times{CreatedAt: time.Now()}}); err != nil {
			t.Fatalf("own row: %v", err)
		}
		_, err := e.w.CreateListener(ctx, change.ListenerCreate{Listener: &lb.Listener{ID: "dup", LoadBalancerID: f.lb,
			AdminStateUp: true, Protocol: lb.ProtocolHTTP, ProtocolPort: 80, ConnectionLimit: -1}})
		if err == nil {
			t.Fatal("second listener on port 80 accepted")
		}
		return nil
	})
	var ce *lb.ConflictError
	if !errors.As(err, &ce) {
		t.Fatalf("Together after a refused write: %v, want the 409", err)
	}
	if g := e.generation(f.lb); g != gen {
		t.Errorf("generation %d after a failed batch, want %d", g, gen)
	}
	_ = e.st.View(e.ctx, func(tx store.Tx) error {
		if p, _ := tx.Pools().Get(e.ctx, f.p1); p.Name == "renamed" {
			t.Error("the batch's first write was kept")
		}
		if _, err := tx.V1HealthMonitors().Get(e.ctx, "v1hm"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("the batch's own row was kept: %v", err)
		}
		return nil
	})
	if ids, _ := e.notes.take(); len(ids) != 0 {
		t.Errorf("failed batch notified %v", ids)
	}

	// Two writes, one commit, one notification at the final generation.
	err = e.w.Together(e.ctx, func(ctx context.Context, tx store.Tx) error {
		if _, err := e.w.UpdatePool(ctx, change.PoolUpdate{ID: f.p1, Apply: func(p *lb.Pool) error { p.Name = "renamed"; return nil }}); err != nil {
			return err
		}
		// Together inside Together joins the same transaction.
		return e.w.Together(ctx, func(ctx context.Context, _ store.Tx) error {
			_, err := e.w.CreateListener(ctx, change.ListenerCreate{Listener: &lb.Listener{ID: "l9", LoadBalancerID: f.lb,
				AdminStateUp: true, Protocol: lb.ProtocolTCP, ProtocolPort: 90, ConnectionLimit: -1}})
			return err
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	ids, gens := e.notes.take()
	if len(ids) != 1 || ids[0] != f.lb || gens[0] != gen+2 {
		t.Errorf("notified %v at %v, want %s once at generation %d", ids, gens, f.lb, gen+2)
	}
	st := e.statuses()
	if st["l9"].Provisioning != lb.PendingCreate || st[f.p1].Provisioning != lb.PendingUpdate {
		t.Errorf("statuses after the batch: %v", st)
	}
}

// TestMoveVIP: a load balancer's VIP moves to another address in one
// transaction with the Neutron subset's IPAM — the old port and address
// are released, the new address allocated, the load balancer starts a
// generation — and an address that cannot be had changes nothing.
func TestMoveVIP(t *testing.T) {
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, sqlstore.Options{Path: filepath.Join(t.TempDir(), "fulcrum.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	subnet, err := network.Bootstrap(ctx, st, project, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	n := &notes{st: st}
	w := change.New(change.Options{Store: st, Notifier: n, VIPs: network.NewVIPs(st, nil)})
	l := &lb.LoadBalancer{ID: "11111111-0000-4000-8000-00000000000a", ProjectID: project, AdminStateUp: true, Provider: "noop"}
	if err := w.CreateLoadBalancer(ctx, change.LoadBalancerCreate{Graph: &lb.Graph{LoadBalancer: l},
		VIP: lb.VIPRequest{SubnetID: subnet, Address: "127.10.0.50"}}); err != nil {
		t.Fatal(err)
	}
	other := &lb.LoadBalancer{ID: "11111111-0000-4000-8000-00000000000b", ProjectID: project, AdminStateUp: true, Provider: "noop"}
	if err := w.CreateLoadBalancer(ctx, change.LoadBalancerCreate{Graph: &lb.Graph{LoadBalancer: other},
		VIP: lb.VIPRequest{SubnetID: subnet, Address: "127.10.0.60"}}); err != nil {
		t.Fatal(err)
	}
	n.take()
	addresses := func() map[string]string {
		out := map[string]string{}
		_ = st.View(ctx, func(tx store.Tx) error {
			ports, _ := tx.Ports().List(ctx, store.Query{})
			for _, p := range ports {
				for _, ip := range p.FixedIPs {
					out[ip.IPAddress] = p.DeviceID
				}
			}
			return nil
		})
		return out
	}

	if _, err := w.MoveVIP(ctx, l.ID, lb.VIPRequest{SubnetID: subnet, Address: "127.10.0.60"}, nil); err == nil {
		t.Fatal("moved onto another load balancer's address")
	}
	if a := addresses(); a["127.10.0.50"] != l.ID || a["127.10.0.60"] != other.ID {
		t.Fatalf("a refused move changed the ports: %v", a)
	}
	moved, err := w.MoveVIP(ctx, l.ID, lb.VIPRequest{SubnetID: subnet, Address: "127.10.0.70"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if moved.VIP.Address != "127.10.0.70" || moved.Status.Provisioning != lb.PendingCreate || moved.Generation != 2 {
		t.Errorf("moved: %+v", moved)
	}
	a := addresses()
	if _, old := a["127.10.0.50"]; old || a["127.10.0.70"] != l.ID {
		t.Errorf("ports after the move: %v", a)
	}
	if ids, gens := n.take(); len(ids) != 1 || ids[0] != l.ID || gens[0] != 2 {
		t.Errorf("notified %v %v", ids, gens)
	}
	var stored *lb.LoadBalancer
	_ = st.View(ctx, func(tx store.Tx) error { stored, _ = tx.LoadBalancers().Get(ctx, l.ID); return nil })
	if stored.VIP.Address != "127.10.0.70" || stored.VIP.PortID != moved.VIP.PortID {
		t.Errorf("stored VIP %+v", stored.VIP)
	}
}
