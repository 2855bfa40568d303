package healthmgr

import (
	"context"
	"errors"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// AckPreviewer is an Acker that can tell, in a read transaction, which
// load balancers an acknowledgement would change, without recording it.
// With one, a heartbeat reads the graphs of those load balancers before
// its write transaction rather than inside it (look).
type AckPreviewer interface {
	Acknowledging(ctx context.Context, tx store.Tx, agentID string, applied uint64, refused []dataplane.Refusal) ([]string, error)
}

// look is what a read transaction found for one load balancer before the
// heartbeat's write transaction: its generation, the pair health the
// statuses were rolled up with, and the objects whose operating status
// differs from the rollup. Every API write to a load balancer's graph
// moves its generation, and the rollup depends only on the graph (and of
// what the controller changes without a write, on the load balancer's
// provisioning status) and the agent's report: with the generation and
// that status unchanged under the row lock, the
// write transaction settles just those objects (each read again) and does
// not read the graph.
type look struct {
	gen  int64
	prov lb.ProvisioningStatus // the load balancer's: the rollup reads it too
	pair [2]int
	todo []lookObj
}

// lookObj is one object whose operating status is to become want.
type lookObj struct {
	kind string // "member", "pool", "listener"
	id   string
	want lb.OperatingStatus
}

// lookAll reads, in a read transaction, the graphs of the load balancers
// ids and rolls up their statuses. A load balancer it cannot read gets no
// look (the write transaction then reads it as before).
func (m *Manager) lookAll(ctx context.Context, tx store.Tx, ids map[string]bool, members map[string]dataplane.MemberStatus, stats map[string]dataplane.ListenerStats, pairs map[string][2]int) (map[string]*look, error) {
	out := make(map[string]*look, len(ids))
	for id := range ids {
		if id == "" {
			continue
		}
		g, err := store.LoadGraph(ctx, tx, id)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		want := rollup(g, members, stats, pairs[id])
		lk := &look{gen: g.LoadBalancer.Generation, prov: g.LoadBalancer.Status.Provisioning, pair: pairs[id]}
		add := func(kind, id string, s lb.Status) {
			if w, ok := want[id]; ok && w != s.Operating {
				lk.todo = append(lk.todo, lookObj{kind: kind, id: id, want: w})
			}
		}
		for _, x := range g.Members {
			add("member", x.ID, x.Status)
		}
		for _, x := range g.Pools {
			add("pool", x.ID, x.Status)
		}
		for _, x := range g.Listeners {
			add("listener", x.ID, x.Status)
		}
		if w, ok := want[id]; ok {
			lk.todo = append(lk.todo, lookObj{kind: "loadbalancer", id: id, want: w})
		}
		out[id] = lk
	}
	return out, nil
}

// applyLooked is apply for a load balancer looked at before the write
// transaction: when its generation has not moved since, only the objects
// the look picked are read again and settled. It reports false when the
// load balancer must be read whole (apply).
func (m *Manager) applyLooked(ctx context.Context, tx store.Tx, lbID string, lk *look, pair [2]int) (bool, error) {
	if lk == nil || lk.pair != pair {
		return false, nil
	}
	if len(lk.todo) == 1 && lk.todo[0].kind == "loadbalancer" {
		// Only the load balancer's own status may differ: a plain read
		// tells, and most heartbeats change nothing.
		l, err := tx.LoadBalancers().Get(ctx, lbID)
		if errors.Is(err, store.ErrNotFound) {
			return true, nil
		}
		if err != nil {
			return false, err
		}
		if !lk.same(l) {
			return false, nil
		}
		if l.Status.Operating == lk.todo[0].want {
			return true, nil
		}
	} else if len(lk.todo) == 0 {
		l, err := tx.LoadBalancers().Get(ctx, lbID)
		if errors.Is(err, store.ErrNotFound) {
			return true, nil
		}
		if err != nil {
			return false, err
		}
		return lk.same(l), nil
	}
	l, err := tx.LoadBalancers().Lock(ctx, lbID)
	if errors.Is(err, store.ErrNotFound) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	if !lk.same(l) {
		return false, nil
	}
	now := m.opts.Now().UTC().Truncate(time.Second)
	for _, o := range lk.todo {
		var err error
		switch o.kind {
		case "member":
			var x *lb.Member
			if x, err = tx.Members().Get(ctx, o.id); err == nil && x.Status.Operating != o.want {
				x.Status.Operating = o.want
				x.Times.Touch(now)
				err = tx.Members().Update(ctx, x)
			}
		case "pool":
			var x *lb.Pool
			if x, err = tx.Pools().Get(ctx, o.id); err == nil && x.Status.Operating != o.want {
				x.Status.Operating = o.want
				x.Times.Touch(now)
				err = tx.Pools().Update(ctx, x)
			}
		case "listener":
			var x *lb.Listener
			if x, err = tx.Listeners().Get(ctx, o.id); err == nil && x.Status.Operating != o.want {
				x.Status.Operating = o.want
				x.Times.Touch(now)
				err = tx.Listeners().Update(ctx, x)
			}
		case "loadbalancer":
			if l.Status.Operating != o.want {
				l.Status.Operating = o.want
				l.Times.Touch(now)
				err = tx.LoadBalancers().Update(ctx, l)
			}
		}
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return false, err
		}
	}
	return true, nil
}

// same reports whether l, read in the write transaction, is as the look
// found it.
func (lk *look) same(l *lb.LoadBalancer) bool {
	return l.Generation == lk.gen && l.Status.Provisioning == lk.prov
}
