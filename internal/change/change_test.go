package change_test

import (
	"errors"
	"maps"
	"slices"
	"testing"

	"github.com/fulcrumlb/fulcrum/internal/change"
	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// Scenario tests of the write rules on a real SQLite store, without HTTP.
// See docs/octavia-behaviour.md: "What a write locks", "Deletes cascade",
// "Writes on objects being deleted", "Quotas".

type op func(e *env, f fixture) error

func createMember(id, addr string) op {
	return func(e *env, f fixture) error {
		_, err := e.w.CreateMember(e.ctx, change.MemberCreate{PoolID: f.p1, Member: &lb.Member{ID: id, AdminStateUp: true,
			Address: addr, ProtocolPort: 8080, Weight: 1, VNICType: lb.VNICNormal}})
		return err
	}
}

func updateMember(e *env, f fixture) error {
	_, err := e.w.UpdateMember(e.ctx, change.MemberUpdate{PoolID: f.p1, ID: f.m,
		Apply: func(m *lb.Member) error { m.Weight = 5; return nil }})
	return err
}

func updateMonitor(e *env, f fixture) error {
	_, err := e.w.UpdateHealthMonitor(e.ctx, change.HealthMonitorUpdate{ID: f.hm,
		Apply: func(h *lb.HealthMonitor) error { h.Delay = 7; return nil }})
	return err
}

func updatePool(id string) op {
	return func(e *env, f fixture) error {
		_, err := e.w.UpdatePool(e.ctx, change.PoolUpdate{ID: id, Apply: func(p *lb.Pool) error { p.Name = "x"; return nil }})
		return err
	}
}

func updateListener(e *env, f fixture) error {
	_, err := e.w.UpdateListener(e.ctx, change.ListenerUpdate{ID: f.l1, Apply: func(l *lb.Listener) error { l.Name = "x"; return nil }})
	return err
}

func createListener(e *env, f fixture) error {
	_, err := e.w.CreateListener(e.ctx, change.ListenerCreate{Listener: &lb.Listener{ID: "l3", LoadBalancerID: f.lb,
		AdminStateUp: true, Protocol: lb.ProtocolTCP, ProtocolPort: 82, ConnectionLimit: -1}})
	return err
}

func createPolicy(id string, rules ...string) op {
	return func(e *env, f fixture) error {
		var rs []*lb.L7Rule
		for _, r := range rules {
			rs = append(rs, &lb.L7Rule{ID: r, AdminStateUp: true, Type: lb.RulePath, CompareType: lb.CompareStartsWith, Value: "/" + r})
		}
		_, _, err := e.w.CreateL7Policy(e.ctx, change.L7PolicyCreate{Policy: &lb.L7Policy{ID: id, ListenerID: f.l2, AdminStateUp: true},
			Args: lb.L7PolicyArgs{Action: lb.Some(lb.ActionReject)}, Position: lb.MaxPosition, Rules: rs})
		return err
	}
}

func updatePolicy(e *env, f fixture) error {
	_, err := e.w.UpdateL7Policy(e.ctx, change.L7PolicyUpdate{ID: f.pol, Apply: func(p *lb.L7Policy) error { p.Name = "x"; return nil }})
	return err
}

func createRule(e *env, f fixture) error {
	_, err := e.w.CreateL7Rule(e.ctx, change.L7RuleCreate{PolicyID: f.pol, Rule: &lb.L7Rule{ID: "r2", AdminStateUp: true,
		Type: lb.RuleHostName, CompareType: lb.CompareEqualTo, Value: "example.com"}})
	return err
}

func updateRule(e *env, f fixture) error {
	_, err := e.w.UpdateL7Rule(e.ctx, change.L7RuleUpdate{PolicyID: f.pol, ID: f.r,
		Apply: func(r *lb.L7Rule) lb.L7Rule { r.Value = "/v2"; return *r }})
	return err
}

func updateLoadBalancer(e *env, f fixture) error {
	_, err := e.w.UpdateLoadBalancer(e.ctx, change.LoadBalancerUpdate{ID: f.lb, Apply: func(l *lb.LoadBalancer) error { l.Name = "x"; return nil }})
	return err
}

const (
	pc = lb.PendingCreate
	pu = lb.PendingUpdate
	pd = lb.PendingDelete
)

// checkWrite runs o and checks that it stamped exactly want (object id →
// provisioning status) with the load balancer's next generation, left every
// other object as it was, and told the notifier once, after the commit.
func checkWrite(t *testing.T, e *env, f fixture, o op, want map[string]lb.ProvisioningStatus) {
	t.Helper()
	before, gen := e.statuses(), e.generation(f.lb)
	if err := o(e, f); err != nil {
		t.Fatalf("write: %v", err)
	}
	after := e.statuses()
	next := gen + 1
	if got := e.generation(f.lb); got != next {
		t.Errorf("generation %d, want %d", got, next)
	}
	for id, st := range after {
		w, stamped := want[id]
		switch {
		case stamped && (st.Provisioning != w || st.Gen != next):
			t.Errorf("%s: %s at generation %d, want %s at %d", id, st.Provisioning, st.Gen, w, next)
		case !stamped && (st != before[id]):
			t.Errorf("%s: %+v, want it untouched (%+v)", id, st, before[id])
		}
	}
	for id := range want {
		if _, ok := after[id]; !ok {
			t.Errorf("%s: missing after the write", id)
		}
	}
	ids, gens := e.notes.take()
	if !slices.Equal(ids, []string{f.lb}) || !slices.Equal(gens, []int64{next}) {
		t.Errorf("notified %v seeing generations %v, want [%s] once, seeing %d (after the commit)", ids, gens, f.lb, next)
	}
}

func TestWriteStampsTheObjectAndWhatOctaviaLocksWithOneGeneration(t *testing.T) {
	withLB := func(m map[string]lb.ProvisioningStatus) map[string]lb.ProvisioningStatus {
		m["lb"] = pu
		return m
	}
	tests := []struct {
		name  string
		setup func(e *env, f fixture)
		op    op
		want  map[string]lb.ProvisioningStatus
	}{
		{"member create: the member, its pool, the pool's listeners (also through an L7 redirect)", nil,
			createMember("m2", "192.0.2.11"), withLB(map[string]lb.ProvisioningStatus{"m2": pc, "p1": pu, "l1": pu, "l2": pu})},
		{"member update", nil, updateMember, withLB(map[string]lb.ProvisioningStatus{"m": pu, "p1": pu, "l1": pu, "l2": pu})},
		{"member delete", nil, func(e *env, f fixture) error { return e.w.DeleteMember(e.ctx, f.p1, f.m, nil) },
			withLB(map[string]lb.ProvisioningStatus{"m": pd, "p1": pu, "l1": pu, "l2": pu})},
		{"a disabled redirect policy does not reach the pool",
			func(e *env, f fixture) {
				if _, err := e.w.UpdateL7Policy(e.ctx, change.L7PolicyUpdate{ID: f.pol,
					Apply: func(p *lb.L7Policy) error { p.AdminStateUp = false; return nil }}); err != nil {
					t.Fatal(err)
				}
			},
			updateMember, withLB(map[string]lb.ProvisioningStatus{"m": pu, "p1": pu, "l1": pu})},
		{"a redirect policy without rules does not reach the pool",
			func(e *env, f fixture) {
				if err := e.st.Update(e.ctx, func(tx store.Tx) error { return tx.L7Rules().Delete(e.ctx, f.r) }); err != nil {
					t.Fatal(err)
				}
			},
			updateMember, withLB(map[string]lb.ProvisioningStatus{"m": pu, "p1": pu, "l1": pu})},
		{"health monitor update", nil, updateMonitor, withLB(map[string]lb.ProvisioningStatus{"hm": pu, "p1": pu, "l1": pu, "l2": pu})},
		{"health monitor delete", nil, func(e *env, f fixture) error { return e.w.DeleteHealthMonitor(e.ctx, f.hm, nil) },
			withLB(map[string]lb.ProvisioningStatus{"hm": pd, "p1": pu, "l1": pu, "l2": pu})},
		{"pool update", nil, updatePool("p1"), withLB(map[string]lb.ProvisioningStatus{"p1": pu, "l1": pu, "l2": pu})},
		{"pool update of a pool no listener uses", nil, updatePool("p2"), withLB(map[string]lb.ProvisioningStatus{"p2": pu})},
		{"pool create as a listener's default pool", nil,
			func(e *env, f fixture) error {
				_, err := e.w.CreatePool(e.ctx, change.PoolCreate{ListenerID: f.l2, Pool: &lb.Pool{ID: "p3", AdminStateUp: true,
					Protocol: lb.ProtocolHTTP, LBAlgorithm: lb.RoundRobin}})
				return err
			},
			withLB(map[string]lb.ProvisioningStatus{"p3": pc, "l2": pu})},
		{"listener create", nil, createListener, withLB(map[string]lb.ProvisioningStatus{"l3": pc})},
		{"listener update", nil, updateListener, withLB(map[string]lb.ProvisioningStatus{"l1": pu})},
		{"L7 policy create with a rule", nil, createPolicy("pol2", "r2"),
			withLB(map[string]lb.ProvisioningStatus{"pol2": pc, "r2": pc, "l2": pu})},
		{"L7 policy update", nil, updatePolicy, withLB(map[string]lb.ProvisioningStatus{"pol": pu, "l2": pu})},
		{"L7 rule create: the rule, its policy and listener", nil, createRule,
			withLB(map[string]lb.ProvisioningStatus{"r2": pc, "pol": pu, "l2": pu})},
		{"L7 rule update", nil, updateRule, withLB(map[string]lb.ProvisioningStatus{"r": pu, "pol": pu, "l2": pu})},
		{"L7 rule delete", nil, func(e *env, f fixture) error { return e.w.DeleteL7Rule(e.ctx, f.pol, f.r, nil) },
			withLB(map[string]lb.ProvisioningStatus{"r": pd, "pol": pu, "l2": pu})},
		{"load balancer update: the load balancer alone", nil, updateLoadBalancer, withLB(map[string]lb.ProvisioningStatus{})},
		{"load balancer failover", nil, func(e *env, f fixture) error { return e.w.FailoverLoadBalancer(e.ctx, f.lb, nil) },
			withLB(map[string]lb.ProvisioningStatus{})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			f := e.fixture()
			if tt.setup != nil {
				tt.setup(e, f)
				e.settle()
				e.notes.take()
			}
			checkWrite(t, e, f, tt.op, tt.want)
		})
	}
}

func TestDeletesCascade(t *testing.T) {
	tests := []struct {
		name  string
		setup op
		op    op
		want  map[string]lb.ProvisioningStatus
	}{
		{"listener delete takes its L7 policies and their rules", nil,
			func(e *env, f fixture) error { return e.w.DeleteListener(e.ctx, f.l2, nil) },
			map[string]lb.ProvisioningStatus{"l2": pd, "pol": pd, "r": pd, "lb": pu}},
		{"L7 policy delete takes its rules", nil,
			func(e *env, f fixture) error { return e.w.DeleteL7Policy(e.ctx, f.pol, nil) },
			map[string]lb.ProvisioningStatus{"pol": pd, "r": pd, "l2": pu, "lb": pu}},
		{"pool delete takes its members and health monitor, once the policy redirecting to it goes",
			func(e *env, f fixture) error { return e.w.DeleteL7Policy(e.ctx, f.pol, nil) },
			func(e *env, f fixture) error { return e.w.DeletePool(e.ctx, f.p1, nil) },
			map[string]lb.ProvisioningStatus{"p1": pd, "m": pd, "hm": pd, "l1": pu, "l2": pu, "lb": pu}},
		{"load balancer delete with cascade: the load balancer, its children go with it", nil,
			func(e *env, f fixture) error { return e.w.DeleteLoadBalancer(e.ctx, f.lb, true, nil) },
			map[string]lb.ProvisioningStatus{"lb": pd}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			f := e.fixture()
			if tt.setup != nil {
				if err := tt.setup(e, f); err != nil {
					t.Fatal(err)
				}
				e.notes.take()
			}
			checkWrite(t, e, f, tt.op, tt.want)
		})
	}
}

func TestPoolDeleteClearsDefaultPoolAndPolicyDeleteClosesRanks(t *testing.T) {
	e := newEnv(t)
	f := e.fixture()
	if err := createPolicy("pol2")(e, f); err != nil {
		t.Fatal(err)
	}
	if err := e.w.DeleteL7Policy(e.ctx, f.pol, nil); err != nil {
		t.Fatal(err)
	}
	if err := e.w.DeletePool(e.ctx, f.p1, nil); err != nil {
		t.Fatal(err)
	}
	err := e.st.View(e.ctx, func(tx store.Tx) error {
		l1, err := tx.Listeners().Get(e.ctx, f.l1)
		if err != nil {
			return err
		}
		if l1.DefaultPoolID != "" {
			t.Errorf("listener l1 keeps default pool %q after its delete", l1.DefaultPoolID)
		}
		pol2, err := tx.L7Policies().Get(e.ctx, "pol2")
		if err != nil {
			return err
		}
		if pol2.Position != 1 {
			t.Errorf("pol2 at position %d after pol's delete, want 1", pol2.Position)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// checkRefused runs o and checks that it failed with want (matched by
// errors.As on its type and, when set, its message), changed nothing and
// told no one.
func checkRefused(t *testing.T, e *env, f fixture, o op, want error) {
	t.Helper()
	before, gen := e.statuses(), e.generation(f.lb)
	err := o(e, f)
	switch w := want.(type) {
	case *lb.ConflictError:
		var got *lb.ConflictError
		if !errors.As(err, &got) || got.Msg != w.Msg {
			t.Errorf("error %v, want 409 %q", err, w.Msg)
		}
	case *lb.ValidationError:
		var got *lb.ValidationError
		if !errors.As(err, &got) || got.Msg != w.Msg {
			t.Errorf("error %v, want 400 %q", err, w.Msg)
		}
	case *lb.NotFoundError:
		var got *lb.NotFoundError
		if !errors.As(err, &got) || *got != *w {
			t.Errorf("error %v, want 404 %v", err, w)
		}
	case *lb.QuotaExceededError:
		var got *lb.QuotaExceededError
		if !errors.As(err, &got) || got.Resource != w.Resource {
			t.Errorf("error %v, want quota exceeded for %s", err, w.Resource.Key())
		}
	default:
		if !errors.Is(err, want) {
			t.Errorf("error %v, want %v", err, want)
		}
	}
	if after := e.statuses(); !maps.Equal(after, before) {
		t.Errorf("statuses changed by a refused write:\n got %v\nwant %v", after, before)
	}
	if got := e.generation(f.lb); got != gen {
		t.Errorf("generation %d after a refused write, want %d", got, gen)
	}
	if ids, _ := e.notes.take(); len(ids) > 0 {
		t.Errorf("a refused write notified %v", ids)
	}
}

func TestWritesOnObjectsBeingDeletedAreRefused(t *testing.T) {
	invalid := func(res, id string) error {
		return &lb.ConflictError{Msg: "Invalid state PENDING_DELETE of " + res + " resource " + id}
	}
	tests := []struct {
		name     string
		deleting string
		op       op
		want     error
	}{
		{"listener create on a load balancer being deleted", "lb", createListener, invalid("loadbalancer", "lb")},
		{"member update on a load balancer being deleted", "lb", updateMember, invalid("loadbalancer", "lb")},
		{"load balancer update on one being deleted", "lb", updateLoadBalancer, invalid("loadbalancer", "lb")},
		{"load balancer delete of one being deleted", "lb",
			func(e *env, f fixture) error { return e.w.DeleteLoadBalancer(e.ctx, f.lb, true, nil) }, invalid("loadbalancer", "lb")},
		{"member create in a pool being deleted", "p1", createMember("m2", "192.0.2.11"), invalid("pool", "p1")},
		{"health monitor update in a pool being deleted", "p1", updateMonitor, invalid("pool", "p1")},
		{"member update of a member being deleted", "m", updateMember, invalid("member", "m")},
		{"health monitor update of one being deleted", "hm", updateMonitor, invalid("healthmonitor", "hm")},
		{"listener update of one being deleted", "l1", updateListener, invalid("listener", "l1")},
		{"L7 policy create on a listener being deleted", "l2", createPolicy("pol2"), invalid("listener", "l2")},
		{"L7 policy update of one being deleted", "pol", updatePolicy, invalid("l7policy", "pol")},
		{"L7 rule create in a policy being deleted", "pol", createRule, invalid("l7policy", "pol")},
		{"L7 rule update of one being deleted", "r", updateRule, invalid("l7rule", "r")},
		{"pool delete while a live L7 policy redirects to it", "",
			func(e *env, f fixture) error { return e.w.DeletePool(e.ctx, f.p1, nil) },
			&lb.ConflictError{Msg: "Pool p1 is in use by L7 policy pol"}},
		{"load balancer delete without cascade while it has children", "",
			func(e *env, f fixture) error { return e.w.DeleteLoadBalancer(e.ctx, f.lb, false, nil) },
			&lb.ValidationError{Msg: "Validation failure: Cannot delete Load Balancer lb - it has children"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			f := e.fixture()
			if tt.deleting != "" {
				e.setStatus(tt.deleting, lb.PendingDelete)
			}
			checkRefused(t, e, f, tt.op, tt.want)
		})
	}
}

func TestObjectInErrorCanStillBeWritten(t *testing.T) {
	e := newEnv(t)
	f := e.fixture()
	e.setStatus(f.l1, lb.Error)
	checkWrite(t, e, f, updateListener, map[string]lb.ProvisioningStatus{"l1": pu, "lb": pu})
}

func TestRefusedWritesChangeNothingAndNotifyNoOne(t *testing.T) {
	denied := errors.New("denied by the caller")
	deny := func(string) error { return denied }
	tests := []struct {
		name string
		op   op
		want error
	}{
		{"not allowed", func(e *env, f fixture) error {
			_, err := e.w.UpdatePool(e.ctx, change.PoolUpdate{ID: f.p1, Allow: deny, Apply: func(*lb.Pool) error { return nil }})
			return err
		}, denied},
		{"the caller's update refused", func(e *env, f fixture) error {
			_, err := e.w.UpdatePool(e.ctx, change.PoolUpdate{ID: f.p1, Apply: func(*lb.Pool) error { return lb.Invalid("no") }})
			return err
		}, &lb.ValidationError{Msg: "Validation failure: no"}},
		{"a missing parent", createMemberIn("nope"), &lb.NotFoundError{Resource: lb.NamePool, ID: "nope"}},
		{"a duplicate member", createMember("m2", "192.0.2.10"),
			&lb.ConflictError{Msg: "Another member on this pool is already using ip 192.0.2.10 on protocol_port 8080"}},
		{"an id taken, found only after the generation began", func(e *env, f fixture) error {
			_, err := e.w.CreatePool(e.ctx, change.PoolCreate{Pool: &lb.Pool{ID: f.p2, LoadBalancerID: f.lb, AdminStateUp: true,
				Protocol: lb.ProtocolHTTP, LBAlgorithm: lb.RoundRobin}})
			return err
		}, store.ErrConflict},
		{"a batch that asks for nothing on a pool that has nothing", func(e *env, f fixture) error {
			return e.w.UpdateMembers(e.ctx, change.MemberBatch{PoolID: f.p2})
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			f := e.fixture()
			checkRefused(t, e, f, tt.op, tt.want)
		})
	}
}

func createMemberIn(pool string) op {
	return func(e *env, f fixture) error {
		_, err := e.w.CreateMember(e.ctx, change.MemberCreate{PoolID: pool, Member: &lb.Member{Address: "192.0.2.11", ProtocolPort: 80}})
		return err
	}
}

func TestAllowIsAskedWithTheOwnerBeforeAnyOtherRule(t *testing.T) {
	e := newEnv(t)
	f := e.fixture()
	denied := errors.New("denied")
	var asked []string
	allow := func(owner string) error { asked = append(asked, owner); return denied }
	// An invalid member on a pool that exists: the caller is asked first.
	_, err := e.w.CreateMember(e.ctx, change.MemberCreate{PoolID: f.p1, Allow: allow,
		Member: &lb.Member{Address: "169.254.169.254", ProtocolPort: 80}})
	if !errors.Is(err, denied) || !slices.Equal(asked, []string{project}) {
		t.Errorf("got %v, asked %v; want the caller's refusal, asked about [%s]", err, asked, project)
	}
	// A missing pool is not found before anyone is asked.
	asked = nil
	_, err = e.w.CreateMember(e.ctx, change.MemberCreate{PoolID: "nope", Allow: allow, Member: &lb.Member{Address: "192.0.2.1", ProtocolPort: 80}})
	var nf *lb.NotFoundError
	if !errors.As(err, &nf) || len(asked) != 0 {
		t.Errorf("got %v, asked %v; want a 404 and nobody asked", err, asked)
	}
}

func TestQuotaReservedExactly(t *testing.T) {
	q := func(kv ...int) map[lb.QuotaResource]int {
		m := map[lb.QuotaResource]int{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[lb.QuotaResource(kv[i])] = kv[i+1]
		}
		return m
	}
	const (
		lbs, ls, ps, hms, ms, pols, rs = int(lb.QuotaLoadBalancer), int(lb.QuotaListener), int(lb.QuotaPool),
			int(lb.QuotaHealthMonitor), int(lb.QuotaMember), int(lb.QuotaL7Policy), int(lb.QuotaL7Rule)
	)
	batch := func(addrs ...string) op {
		return func(e *env, f fixture) error {
			var members []*lb.Member
			for _, a := range addrs {
				members = append(members, &lb.Member{AdminStateUp: true, Address: a, ProtocolPort: 8080, Weight: 1})
			}
			return e.w.UpdateMembers(e.ctx, change.MemberBatch{PoolID: f.p1, Members: members})
		}
	}
	tests := []struct {
		name string
		op   op
		want []map[lb.QuotaResource]int
	}{
		{"member create", createMember("m2", "192.0.2.11"), []map[lb.QuotaResource]int{q(ms, 1)}},
		{"batch: only the members it adds", batch("192.0.2.10", "192.0.2.11", "192.0.2.12"), []map[lb.QuotaResource]int{q(ms, 2)}},
		{"batch that adds none", batch("192.0.2.10"), nil},
		{"L7 policy with rules", createPolicy("pol2", "a", "b"), []map[lb.QuotaResource]int{q(pols, 1, rs, 2)}},
		{"L7 policy alone", createPolicy("pol2"), []map[lb.QuotaResource]int{q(pols, 1)}},
		{"L7 rule", createRule, []map[lb.QuotaResource]int{q(rs, 1)}},
		{"listener", createListener, []map[lb.QuotaResource]int{q(ls, 1)}},
		{"updates reserve nothing", updateMember, nil},
		{"deletes reserve nothing", func(e *env, f fixture) error { return e.w.DeleteListener(e.ctx, f.l2, nil) }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			f := e.fixture()
			if err := tt.op(e, f); err != nil {
				t.Fatal(err)
			}
			if got := e.quota.take(); !slices.EqualFunc(got, tt.want, maps.Equal) {
				t.Errorf("reserved %v, want %v", got, tt.want)
			}
		})
	}
	t.Run("fully populated create: every object of the graph, in one reservation", func(t *testing.T) {
		e := newEnv(t)
		f := fixture{lb: "lb", l1: "l1", l2: "l2", p1: "p1", p2: "p2", m: "m", hm: "hm", pol: "pol", r: "r"}
		if err := e.w.CreateLoadBalancer(e.ctx, fixtureCreate(f)); err != nil {
			t.Fatal(err)
		}
		want := []map[lb.QuotaResource]int{q(lbs, 1, ls, 2, ps, 2, hms, 1, ms, 1, pols, 1, rs, 1)}
		if got := e.quota.take(); !slices.EqualFunc(got, want, maps.Equal) {
			t.Errorf("reserved %v, want %v", got, want)
		}
		if ids, gens := e.notes.take(); !slices.Equal(ids, []string{f.lb}) || !slices.Equal(gens, []int64{1}) {
			t.Errorf("notified %v seeing %v, want [lb] once seeing generation 1", ids, gens)
		}
	})
}

func TestQuotaLimitIsExact(t *testing.T) {
	e := newEnv(t)
	f := e.fixture()
	e.quota.limits[lb.QuotaMember] = 3
	// One member exists: a batch adding two fills the quota exactly.
	if err := e.w.UpdateMembers(e.ctx, change.MemberBatch{PoolID: f.p1, Additive: true, Members: []*lb.Member{
		{AdminStateUp: true, Address: "192.0.2.11", ProtocolPort: 8080, Weight: 1},
		{AdminStateUp: true, Address: "192.0.2.12", ProtocolPort: 8080, Weight: 1}}}); err != nil {
		t.Fatalf("batch up to the limit: %v", err)
	}
	e.settle()
	e.notes.take()
	checkRefused(t, e, f, createMember("m4", "192.0.2.13"), &lb.QuotaExceededError{Resource: lb.QuotaMember})
}
