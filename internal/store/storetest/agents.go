package storetest

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

func testAgentsAndPlacements(t *testing.T, s store.Store) {
	ctx := context.Background()
	l, lis, _, _, _, _, _ := createGraph(t, s)
	agent := &lb.Agent{ID: id("a9e00000", 1), Name: "node-1", Address: "127.0.0.1", AvailabilityZone: "az1", Group: "g",
		CertSerial: "abcd", Status: lb.AgentUp, AppliedVersion: 1 << 40, RefusedVersion: 3, RefusedReason: "port in use",
		LastHeartbeat: tp(base.Add(time.Minute)), Capabilities: []string{"vrrp"},
		Segments: []lb.AgentSegment{{Name: "physnet", Interface: "eth0", Address: "198.18.0.2/24"}}, Times: lb.Times{CreatedAt: base}}
	tok := &lb.JoinToken{ID: "tok1", SecretHash: "h", AgentName: "node-1", AvailabilityZone: "az1", Group: "g", ExpiresAt: base.Add(time.Hour), Times: lb.Times{CreatedAt: base}}
	amp := &lb.Amphora{ID: id("a3a00000", 1), LoadBalancerID: l.ID, AgentID: agent.ID, Role: lb.RoleStandalone, Status: lb.AmphoraAllocated,
		ComputeID: "node-1", LBNetworkIP: "127.0.0.1", HAIP: l.VIP.Address, VRRPPriority: ip(100), CertExpiration: tp(base.Add(24 * time.Hour)),
		RoleSince: tp(base.Add(time.Second)), Times: lb.Times{CreatedAt: base}}
	mustUpdate(t, s, func(tx store.Tx) error {
		return errors.Join(tx.Agents().Create(ctx, agent), tx.JoinTokens().Create(ctx, tok), tx.Amphorae().Create(ctx, amp))
	})
	_ = s.View(ctx, func(tx store.Tx) error {
		ga, err := tx.Agents().Get(ctx, agent.ID)
		if err != nil {
			t.Fatal(err)
		}
		check(t, "agent", ga, agent)
		gt, err := tx.JoinTokens().Get(ctx, tok.ID)
		if err != nil {
			t.Fatal(err)
		}
		check(t, "join token", gt, tok)
		gm, err := tx.Amphorae().Get(ctx, amp.ID)
		if err != nil {
			t.Fatal(err)
		}
		check(t, "amphora", gm, amp)
		return nil
	})
	dup := *agent
	dup.ID = id("a9e00000", 2)
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.Agents().Create(ctx, &dup) }); !errors.Is(err, store.ErrConflict) {
		t.Errorf("second agent with the same name: %v, want ErrConflict", err)
	}
	// Listener stats: upsert per (listener, agent), list by LB or listener, delete.
	row := func(agentID string, total int64) *lb.ListenerStats {
		return &lb.ListenerStats{ListenerID: lis.ID, AgentID: agentID, LoadBalancerID: l.ID, ActiveConnections: 1,
			TotalConnections: total, BytesIn: 10, BytesOut: 20, RequestErrors: 1, UpdatedAt: base}
	}
	mustUpdate(t, s, func(tx store.Tx) error {
		return tx.ListenerStats().Put(ctx, []*lb.ListenerStats{row("a1", 1), row("a2", 5)})
	})
	mustUpdate(t, s, func(tx store.Tx) error { return tx.ListenerStats().Put(ctx, []*lb.ListenerStats{row("a1", 7)}) })
	_ = s.View(ctx, func(tx store.Tx) error {
		byLB, err := tx.ListenerStats().List(ctx, l.ID)
		if err != nil {
			t.Fatal(err)
		}
		want := []*lb.ListenerStats{row("a1", 7), row("a2", 5)}
		if !reflect.DeepEqual(byLB, want) {
			t.Errorf("stats by LB: %+v", byLB)
		}
		byListener, err := tx.ListenerStats().List(ctx, "", lis.ID)
		if err != nil || len(byListener) != 2 {
			t.Errorf("stats by listener: %v, %v", byListener, err)
		}
		return nil
	})
	mustUpdate(t, s, func(tx store.Tx) error { return tx.ListenerStats().Delete(ctx, l.ID) })
	_ = s.View(ctx, func(tx store.Tx) error {
		if rows, _ := tx.ListenerStats().List(ctx, l.ID); len(rows) != 0 {
			t.Errorf("stats after delete: %v", rows)
		}
		return nil
	})
	// Member stats: upsert per (member, agent), list by LB or member, delete by member or LB.
	mrow := func(memberID, agentID string, total int64) *lb.MemberStats {
		return &lb.MemberStats{MemberID: memberID, AgentID: agentID, LoadBalancerID: l.ID, ActiveConnections: 2,
			TotalConnections: total, ConnectErrors: 3, UpdatedAt: base}
	}
	mustUpdate(t, s, func(tx store.Tx) error {
		return tx.MemberStats().Put(ctx, []*lb.MemberStats{mrow("m1", "a1", 1), mrow("m1", "a2", 4), mrow("m2", "a1", 9)})
	})
	mustUpdate(t, s, func(tx store.Tx) error { return tx.MemberStats().Put(ctx, []*lb.MemberStats{mrow("m1", "a1", 6)}) })
	_ = s.View(ctx, func(tx store.Tx) error {
		byLB, err := tx.MemberStats().List(ctx, l.ID)
		if err != nil {
			t.Fatal(err)
		}
		if want := []*lb.MemberStats{mrow("m1", "a1", 6), mrow("m1", "a2", 4), mrow("m2", "a1", 9)}; !reflect.DeepEqual(byLB, want) {
			t.Errorf("member stats by LB: %+v", byLB)
		}
		byMember, err := tx.MemberStats().List(ctx, "", "m2")
		if want := []*lb.MemberStats{mrow("m2", "a1", 9)}; err != nil || !reflect.DeepEqual(byMember, want) {
			t.Errorf("member stats by member: %+v, %v", byMember, err)
		}
		return nil
	})
	mustUpdate(t, s, func(tx store.Tx) error { return tx.MemberStats().Delete(ctx, "", "m1") })
	_ = s.View(ctx, func(tx store.Tx) error {
		if rows, _ := tx.MemberStats().List(ctx, l.ID); len(rows) != 1 || rows[0].MemberID != "m2" {
			t.Errorf("member stats after deleting m1: %+v", rows)
		}
		return nil
	})
	mustUpdate(t, s, func(tx store.Tx) error { return tx.MemberStats().Delete(ctx, l.ID) })
	_ = s.View(ctx, func(tx store.Tx) error {
		if rows, _ := tx.MemberStats().List(ctx, l.ID); len(rows) != 0 {
			t.Errorf("member stats after delete: %+v", rows)
		}
		return nil
	})
	// Deleting the load balancer removes its placements; deleting the agent keeps them, agentless.
	mustUpdate(t, s, func(tx store.Tx) error { return tx.Agents().Delete(ctx, agent.ID) })
	_ = s.View(ctx, func(tx store.Tx) error {
		got, err := tx.Amphorae().Get(ctx, amp.ID)
		if err != nil || got.AgentID != "" {
			t.Errorf("amphora after agent delete: %+v, %v", got, err)
		}
		return nil
	})
	mustUpdate(t, s, func(tx store.Tx) error { return tx.LoadBalancers().Delete(ctx, l.ID) })
	_ = s.View(ctx, func(tx store.Tx) error {
		if n, _ := tx.Amphorae().Count(ctx); n != 0 {
			t.Errorf("amphorae after load balancer delete: %d", n)
		}
		return nil
	})
}
