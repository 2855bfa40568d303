package healthmgr

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// pairLB is an ACTIVE_STANDBY load balancer with one member on each of two agents: a is
// placed as MASTER (priority 100), b as BACKUP (90), both READY.
type pairLB struct {
	placedLB
	a, b string // amphora ids
}

func (e *env) pair(a, b *lb.Agent) pairLB {
	ctx := context.Background()
	now := e.clk.now()
	g := e.loadBalancer(a)
	p := pairLB{placedLB: g, a: e.id("a3a0000a"), b: e.id("a3a0000b")}
	e.update(func(tx store.Tx) error {
		amps, err := tx.Amphorae().List(ctx, store.Query{Filters: []store.Filter{store.F("loadbalancer_id", g.lb)}})
		if err != nil {
			return err
		}
		for _, x := range amps { // the STANDALONE placement loadBalancer made
			if err := tx.Amphorae().Delete(ctx, x.ID); err != nil {
				return err
			}
		}
		vrid, pa, pb := 1, 100, 90
		return errors.Join(
			tx.Amphorae().Create(ctx, &lb.Amphora{ID: p.a, LoadBalancerID: g.lb, AgentID: a.ID, ComputeID: a.Name, Role: lb.RoleMaster,
				Status: lb.AmphoraReady, VRRPID: &vrid, VRRPPriority: &pa, VRRPIP: "198.18.0.2", Times: lb.Times{CreatedAt: now}}),
			tx.Amphorae().Create(ctx, &lb.Amphora{ID: p.b, LoadBalancerID: g.lb, AgentID: b.ID, ComputeID: b.Name, Role: lb.RoleBackup,
				Status: lb.AmphoraReady, VRRPID: &vrid, VRRPPriority: &pb, VRRPIP: "198.18.0.3", Times: lb.Times{CreatedAt: now}}))
	})
	return p
}

func (e *env) amphora(id string) *lb.Amphora {
	var a *lb.Amphora
	e.view(func(ctx context.Context, tx store.Tx) error {
		var err error
		a, err = tx.Amphorae().Get(ctx, id)
		return err
	})
	return a
}

func (e *env) lbStatus(id string) lb.OperatingStatus {
	var s lb.OperatingStatus
	e.view(func(ctx context.Context, tx store.Tx) error {
		l, err := tx.LoadBalancers().Get(ctx, id)
		if err == nil {
			s = l.Status.Operating
		}
		return err
	})
	return s
}

func (e *env) enqueued() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := e.moved
	e.moved = nil
	return out
}

// TestVRRPStatesAndHolds is the health manager's side of ACTIVE_STANDBY, step by step: the
// states agents report become the members' live role, role_since and status; the pair's
// load balancer rolls up DEGRADED or ERROR; a role change (what a planned failover waits
// for) enqueues the load balancer; and the split-brain rule names the groups to hold in
// the answer to each agent.
func TestVRRPStatesAndHolds(t *testing.T) {
	e := newEnv(t)
	a, b, c := e.agent("a"), e.agent("b"), e.agent("c")
	p := e.pair(a, b)
	group := dataplane.VRRPGroupName(p.lb)
	t0 := e.clk.now().Add(-time.Hour).UTC()
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	st := func(state string, since time.Time, heard, held bool) []dataplane.VRRPState {
		return []dataplane.VRRPState{{Group: group, State: state, Priority: 100, Since: since, PeerHeard: heard, Held: held}}
	}
	up := dataplane.Health{Members: []dataplane.MemberHealth{{MemberID: p.member, Status: dataplane.StatusUp}}}
	stats := dataplane.Stats{Listeners: []dataplane.ListenerStats{{ListenerID: p.listener, LoadBalancerID: p.lb}}}
	type want struct {
		roleA, statusA, roleB, statusB string
		oper                           lb.OperatingStatus
		holdA, holdB, holdC            bool
		enqueued                       bool
	}
	steps := []struct {
		name  string
		agent *lb.Agent
		vrrp  []dataplane.VRRPState
		down  *lb.Agent // marked down before the heartbeat
		want  want
	}{
		{"a reports MASTER", a, st(dataplane.VRRPMaster, at(0), false, false), nil,
			want{lb.RoleMaster, lb.AmphoraReady, lb.RoleBackup, lb.AmphoraReady, lb.Online, false, false, false, false}},
		{"b reports BACKUP, hearing a", b, st(dataplane.VRRPBackup, at(0), true, false), nil,
			want{lb.RoleMaster, lb.AmphoraReady, lb.RoleBackup, lb.AmphoraReady, lb.Online, false, false, false, false}},
		{"partition: b becomes MASTER, the newer", b, st(dataplane.VRRPMaster, at(time.Minute), false, false), nil,
			want{lb.RoleMaster, lb.AmphoraReady, lb.RoleMaster, lb.AmphoraReady, lb.Online, false, false, false, true}},
		{"a, the earlier MASTER, hears nothing: hold", a, st(dataplane.VRRPMaster, at(0), false, false), nil,
			want{lb.RoleMaster, lb.AmphoraReady, lb.RoleMaster, lb.AmphoraReady, lb.Online, true, false, false, false}},
		{"b again: still not held", b, st(dataplane.VRRPMaster, at(time.Minute), false, false), nil,
			want{lb.RoleMaster, lb.AmphoraReady, lb.RoleMaster, lb.AmphoraReady, lb.Online, true, false, false, false}},
		{"a held in FAULT: ERROR, DEGRADED, still held", a, st(dataplane.VRRPFault, at(2*time.Minute), false, true), nil,
			want{lb.RoleMaster, lb.AmphoraError, lb.RoleMaster, lb.AmphoraReady, lb.Degraded, true, false, false, true}},
		{"c runs the group but is no member: hold", c, st(dataplane.VRRPMaster, at(0), false, false), nil,
			want{lb.RoleMaster, lb.AmphoraError, lb.RoleMaster, lb.AmphoraReady, lb.Degraded, true, false, true, false}},
		{"a hears b again: lifted", a, st(dataplane.VRRPFault, at(2*time.Minute), true, true), nil,
			want{lb.RoleMaster, lb.AmphoraError, lb.RoleMaster, lb.AmphoraReady, lb.Degraded, false, false, true, false}},
		{"a comes back as BACKUP: READY, ONLINE", a, st(dataplane.VRRPBackup, at(3*time.Minute), true, false), nil,
			want{lb.RoleBackup, lb.AmphoraReady, lb.RoleMaster, lb.AmphoraReady, lb.Online, false, false, true, true}},
		{"partition again: a MASTER, the newer", a, st(dataplane.VRRPMaster, at(4*time.Minute), false, false), nil,
			want{lb.RoleMaster, lb.AmphoraReady, lb.RoleMaster, lb.AmphoraReady, lb.Online, false, false, true, true}},
		{"b, now the earlier, is held", b, st(dataplane.VRRPMaster, at(time.Minute), false, false), nil,
			want{lb.RoleMaster, lb.AmphoraReady, lb.RoleMaster, lb.AmphoraReady, lb.Online, false, true, true, false}},
		{"a keepalived restarting (STOPPED): ERROR, b no longer held", b, st(dataplane.VRRPMaster, at(time.Minute), false, true), nil,
			want{lb.RoleMaster, lb.AmphoraReady, lb.RoleMaster, lb.AmphoraReady, lb.Online, false, true, true, false}},
		{"a's keepalived is STOPPED", a, st(dataplane.VRRPStopped, time.Time{}, false, false), nil,
			want{lb.RoleMaster, lb.AmphoraError, lb.RoleMaster, lb.AmphoraReady, lb.Degraded, false, true, true, true}},
		{"b held, its rival gone unhealthy: lifted", b, st(dataplane.VRRPFault, at(5*time.Minute), false, true), nil,
			want{lb.RoleMaster, lb.AmphoraError, lb.RoleMaster, lb.AmphoraError, lb.OpError, false, false, true, true}},
		{"a MASTER again", a, st(dataplane.VRRPMaster, at(6*time.Minute), false, false), nil,
			want{lb.RoleMaster, lb.AmphoraReady, lb.RoleMaster, lb.AmphoraError, lb.Degraded, false, false, true, true}},
		{"b MASTER, earlier than a: held", b, st(dataplane.VRRPMaster, at(5*time.Minute), false, false), nil,
			want{lb.RoleMaster, lb.AmphoraReady, lb.RoleMaster, lb.AmphoraReady, lb.Online, false, true, true, true}},
		{"a's agent down: b no longer held", b, st(dataplane.VRRPMaster, at(5*time.Minute), false, true), a,
			want{lb.RoleMaster, lb.AmphoraReady, lb.RoleMaster, lb.AmphoraReady, lb.Online, false, false, true, false}},
	}
	for _, s := range steps {
		if s.down != nil {
			e.update(func(tx store.Tx) error {
				ag, err := tx.Agents().Get(context.Background(), s.down.ID)
				if err != nil {
					return err
				}
				ag.Status = lb.AgentDown
				return tx.Agents().Update(context.Background(), ag)
			})
		}
		e.clk.add(time.Second)
		e.beat(s.agent, dataplane.Heartbeat{Health: up, Stats: stats, Capabilities: []string{dataplane.CapabilityVRRP}, VRRP: s.vrrp})
		ma, mb := e.amphora(p.a), e.amphora(p.b)
		got := want{ma.Role, ma.Status, mb.Role, mb.Status, e.lbStatus(p.lb),
			holding(e.m.Holds(a.ID), group), holding(e.m.Holds(b.ID), group), holding(e.m.Holds(c.ID), group),
			slices.Contains(e.enqueued(), p.lb)}
		if got != s.want {
			t.Fatalf("%s:\n got %+v\nwant %+v", s.name, got, s.want)
		}
	}
	// role_since is what the agent said, never later than the server's clock.
	if rs := e.amphora(p.a).RoleSince; rs == nil || !rs.Equal(at(6*time.Minute)) {
		t.Errorf("a's role_since %v, want %v", rs, at(6*time.Minute))
	}
	e.beat(a, dataplane.Heartbeat{Health: up, VRRP: st(dataplane.VRRPMaster, e.clk.now().Add(time.Hour), false, false)})
	if rs := e.amphora(p.a).RoleSince; rs == nil || rs.After(e.clk.now()) {
		t.Errorf("role_since from the future kept: %v (now %v)", rs, e.clk.now())
	}
}

// TestVRRPPendingDeleteKeepsItsStatus: a member being failed over keeps PENDING_DELETE
// whatever its agent reports; its live role still follows (the planned failover waits on
// it).
func TestVRRPPendingDeleteKeepsItsStatus(t *testing.T) {
	e := newEnv(t)
	a, b := e.agent("a"), e.agent("b")
	p := e.pair(a, b)
	e.update(func(tx store.Tx) error {
		x, err := tx.Amphorae().Get(context.Background(), p.a)
		if err != nil {
			return err
		}
		x.Status = lb.AmphoraPendingDelete
		return tx.Amphorae().Update(context.Background(), x)
	})
	group := dataplane.VRRPGroupName(p.lb)
	for _, s := range []string{dataplane.VRRPFault, dataplane.VRRPBackup} {
		e.beat(a, dataplane.Heartbeat{VRRP: []dataplane.VRRPState{{Group: group, State: s, Priority: 100, Since: e.clk.now()}}})
		if x := e.amphora(p.a); x.Status != lb.AmphoraPendingDelete {
			t.Errorf("after %s: status %s, want PENDING_DELETE", s, x.Status)
		}
	}
	if x := e.amphora(p.a); x.Role != lb.RoleBackup {
		t.Errorf("role %s after BACKUP, want BACKUP", x.Role)
	}
	if got := e.enqueued(); !slices.Contains(got, p.lb) {
		t.Errorf("enqueued %v: the handover waits for the role change", got)
	}
}

// TestAgentSelfReportKept: capabilities and segments a heartbeat reports are kept on the
// agent's record (a bad report is ignored and keeps the previous one), and the address
// hook runs when, and only when, the addresses change.
func TestAgentSelfReportKept(t *testing.T) {
	e := newEnv(t)
	var reserved [][]string
	e.m.opts.ReserveAddresses = func(_ context.Context, _ store.Tx, ag *lb.Agent) error {
		var addrs []string
		for _, s := range ag.Segments {
			addrs = append(addrs, s.Address)
		}
		reserved = append(reserved, addrs)
		return nil
	}
	a := e.agent("a")
	seg := func(addr string) []dataplane.Segment {
		return []dataplane.Segment{{Name: "physnet", Interface: "eth0", Address: addr}}
	}
	beats := []struct {
		segs     []dataplane.Segment
		want     string // the record's address after the beat
		reserved int    // hook calls so far
	}{
		{seg("198.18.0.2/24"), "198.18.0.2/24", 1},
		{seg("198.18.0.2/24"), "198.18.0.2/24", 1},
		{seg("not an address"), "198.18.0.2/24", 1}, // CheckVRRP refuses the report
		{seg("198.18.0.7/24"), "198.18.0.7/24", 2},
	}
	for i, bt := range beats {
		e.beat(a, dataplane.Heartbeat{Capabilities: []string{dataplane.CapabilityVRRP}, Segments: bt.segs})
		row := e.agentRow(a.ID)
		if len(row.Segments) != 1 || row.Segments[0].Address != bt.want || !slices.Contains(row.Capabilities, dataplane.CapabilityVRRP) ||
			len(reserved) != bt.reserved {
			t.Errorf("beat %d: record %+v %v, %d hook calls; want %s and %d calls", i, row.Segments, row.Capabilities, len(reserved), bt.want, bt.reserved)
		}
	}
	if _, err := netip.ParsePrefix(reserved[len(reserved)-1][0]); err != nil {
		t.Errorf("hook saw %v", reserved)
	}
}

func holding(hs []dataplane.Hold, group string) bool {
	return slices.ContainsFunc(hs, func(h dataplane.Hold) bool { return h.Group == group })
}

// TestHoldNamesThePeersMAC: the member told to yield learns the MAC address of the member
// that keeps the VIPs (from its agent's segments), to announce them there first; a stale
// group comes without one.
func TestHoldNamesThePeersMAC(t *testing.T) {
	e := newEnv(t)
	a, b, c := e.agent("a"), e.agent("b"), e.agent("c")
	p := e.pair(a, b)
	group := dataplane.VRRPGroupName(p.lb)
	seg := func(addr, mac string) []dataplane.Segment {
		return []dataplane.Segment{{Name: "physnet", Interface: "eth0", Address: addr + "/24", MAC: mac}}
	}
	now := e.clk.now()
	e.beat(a, dataplane.Heartbeat{Segments: seg("198.18.0.2", "02:00:00:00:00:0a"),
		VRRP: []dataplane.VRRPState{{Group: group, State: dataplane.VRRPMaster, Priority: 100, Since: now.Add(-time.Hour)}}})
	e.beat(b, dataplane.Heartbeat{Segments: seg("198.18.0.3", "02:00:00:00:00:0b"),
		VRRP: []dataplane.VRRPState{{Group: group, State: dataplane.VRRPMaster, Priority: 90, Since: now}}})
	e.beat(a, dataplane.Heartbeat{Segments: seg("198.18.0.2", "02:00:00:00:00:0a"),
		VRRP: []dataplane.VRRPState{{Group: group, State: dataplane.VRRPMaster, Priority: 100, Since: now.Add(-time.Hour)}}})
	if got := e.m.Holds(a.ID); len(got) != 1 || got[0] != (dataplane.Hold{Group: group, PeerMAC: "02:00:00:00:00:0b"}) {
		t.Errorf("a's holds %+v, want %s with b's MAC", got, group)
	}
	e.beat(c, dataplane.Heartbeat{VRRP: []dataplane.VRRPState{{Group: group, State: dataplane.VRRPMaster, Priority: 100, Since: now}}})
	if got := e.m.Holds(c.ID); len(got) != 1 || got[0] != (dataplane.Hold{Group: group}) {
		t.Errorf("c's holds %+v, want %s without a MAC", got, group)
	}
}

func TestEarlier(t *testing.T) {
	t1, t2 := time.Unix(100, 0), time.Unix(200, 0)
	p100, p90 := 100, 90
	amp := func(id string, since *time.Time, prio *int) *lb.Amphora {
		return &lb.Amphora{ID: id, RoleSince: since, VRRPPriority: prio}
	}
	for _, c := range []struct {
		name string
		a, b *lb.Amphora
		want bool
	}{
		{"older since", amp("x", &t1, &p90), amp("y", &t2, &p100), true},
		{"newer since", amp("x", &t2, &p90), amp("y", &t1, &p100), false},
		{"unknown since is the earlier", amp("x", nil, &p100), amp("y", &t1, &p90), true},
		{"known since against unknown", amp("x", &t1, &p100), amp("y", nil, &p90), false},
		{"equal: lower priority", amp("x", &t1, &p90), amp("y", &t1, &p100), true},
		{"equal: higher priority", amp("x", &t1, &p100), amp("y", &t1, &p90), false},
		{"all equal: smaller id", amp("x", nil, &p90), amp("y", nil, &p90), true},
		{"all equal: larger id", amp("y", nil, &p90), amp("x", nil, &p90), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := earlier(c.a, c.b); got != c.want {
				t.Errorf("earlier = %v, want %v", got, c.want)
			}
			if got := earlier(c.b, c.a); got == c.want {
				t.Errorf("earlier is not antisymmetric")
			}
		})
	}
}

func TestPairStatus(t *testing.T) {
	for _, c := range []struct {
		want             lb.OperatingStatus
		healthy, members int
		got              lb.OperatingStatus
	}{
		{lb.Online, 2, 2, lb.Online},
		{lb.Online, 1, 2, lb.Degraded},
		{lb.NoMonitor, 1, 2, lb.Degraded},
		{lb.Online, 0, 2, lb.OpError},
		{lb.Degraded, 1, 2, lb.Degraded},
		{lb.OpError, 2, 2, lb.OpError},
		{lb.Online, 0, 0, lb.Online}, // not a pair
		{lb.Online, 1, 1, lb.Degraded},
	} {
		if got := pairStatus(c.want, c.healthy, c.members); got != c.got {
			t.Errorf("pairStatus(%s, %d, %d) = %s, want %s", c.want, c.healthy, c.members, got, c.got)
		}
	}
}
