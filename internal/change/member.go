package change

import (
	"context"
	"errors"
	"fmt"

	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// MemberCreate is a new member of a pool.
type MemberCreate struct {
	PoolID string
	// Member has the attributes of the request (defaults applied); an
	// empty id gets one. A VNIC type "direct" asks for an SR-IOV port.
	Member *lb.Member
	Allow  Allow
}

// CreateMember adds a member to a pool (PENDING_CREATE, NO_MONITOR unless
// the pool has a health monitor; the pool, its listeners and the load
// balancer PENDING_UPDATE). A second member with the pool's address and port
// is refused (409).
func (w *Writer) CreateMember(ctx context.Context, in MemberCreate) (*lb.Member, error) {
	m := in.Member
	w.assignID(&m.ID)
	err := w.write(ctx, func(t *txn) error {
		p, parent, monitored, err := t.lockPool(in.PoolID, in.Allow)
		if err != nil {
			return err
		}
		if err := t.reserve(map[lb.QuotaResource]int{lb.QuotaMember: 1}); err != nil {
			return err
		}
		if err := m.ValidateNew(w.settings); err != nil {
			return err
		}
		if err := t.checkSubnet(m); err != nil {
			return err
		}
		if err := writable(resPool, p.ID, p.Status); err != nil {
			return err
		}
		if err := writable(resLoadBalancer, parent.ID, parent.Status); err != nil {
			return err
		}
		// A second member with the pool's address and port breaks the
		// store's unique key (pool, address, port) at Create below: no
		// count beforehand, and what the write did so far is rolled back
		// with it.
		if err := t.begin(lb.PendingUpdate); err != nil {
			return err
		}
		if err := t.markPool(p); err != nil {
			return err
		}
		t.newMember(m, p, monitored)
		if err := t.tx.Members().Create(t.ctx, m); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return duplicateMember(m)
			}
			return fmt.Errorf("create member %s: %w", m.ID, err)
		}
		return nil
	})
	return m, err
}

// newMember links a member the write creates to its pool and stamps it.
func (t *txn) newMember(m *lb.Member, p *lb.Pool, monitored bool) {
	m.PoolID, m.LoadBalancerID, m.ProjectID = p.ID, p.LoadBalancerID, t.lb.ProjectID
	m.Status, m.Times = t.created(), lb.Times{CreatedAt: t.now}
	if !monitored {
		m.Status.Operating = lb.NoMonitor
	}
}

func duplicateMember(m *lb.Member) error {
	return lb.Conflict("Another member on this pool is already using ip %s on protocol_port %d", m.Address, m.ProtocolPort)
}

// checkSubnet checks that a new member's subnet_id exists for the caller.
func (t *txn) checkSubnet(m *lb.Member) error {
	if m.SubnetID == "" || t.w.subnets == nil {
		return nil
	}
	return t.w.subnets.CheckSubnet(t.ctx, t.tx, m.SubnetID)
}

// lockPool reads a pool, locks its load balancer (as lock does) and
// reports whether a health monitor watches the pool, in one store call;
// where either is missing, the reads one by one answer which (the pool's
// 404 before the load balancer's).
func (t *txn) lockPool(id string, allow Allow) (*lb.Pool, *lb.LoadBalancer, bool, error) {
	p, l, monitored, err := t.tx.LockPool(t.ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && l.Status.Provisioning == lb.Deleted) {
		p, err := t.pool(id)
		if err != nil {
			return nil, nil, false, err
		}
		parent, err := t.lock(p.LoadBalancerID, allow)
		if err != nil {
			return nil, nil, false, err
		}
		monitored, err := t.monitored(p.ID)
		return p, parent, monitored, err
	}
	if err != nil {
		return nil, nil, false, err
	}
	if allow != nil {
		if err := allow(l.ProjectID); err != nil {
			return nil, nil, false, err
		}
	}
	t.lb = l
	return p, l, monitored, nil
}

// monitored reports whether new members of the pool start OFFLINE (the pool
// has a health monitor) rather than NO_MONITOR.
func (t *txn) monitored(poolID string) (bool, error) {
	n, err := t.tx.HealthMonitors().Count(t.ctx, store.F("pool_id", poolID))
	return n > 0, err
}

// MemberUpdate changes a member of a pool.
type MemberUpdate struct {
	PoolID, ID string
	Allow      Allow
	// Apply changes the member as the request asks; an error refuses the
	// write.
	Apply func(*lb.Member) error
}

// UpdateMember changes a member (PENDING_UPDATE with its pool, the pool's
// listeners and the load balancer).
func (w *Writer) UpdateMember(ctx context.Context, in MemberUpdate) (*lb.Member, error) {
	var out *lb.Member
	err := w.write(ctx, func(t *txn) error {
		p, m, err := t.lockMember(in.PoolID, in.ID, in.Allow)
		if err != nil {
			return err
		}
		if err := in.Apply(m); err != nil {
			return err
		}
		if err := t.changeMember(p, m, lb.PendingUpdate); err != nil {
			return err
		}
		out = m
		return nil
	})
	return out, err
}

// DeleteMember marks a member PENDING_DELETE (its pool, the pool's
// listeners and the load balancer PENDING_UPDATE).
func (w *Writer) DeleteMember(ctx context.Context, poolID, id string, allow Allow) error {
	return w.write(ctx, func(t *txn) error {
		p, m, err := t.lockMember(poolID, id, allow)
		if err != nil {
			return err
		}
		return t.changeMember(p, m, lb.PendingDelete)
	})
}

// lockMember loads a member of a pool and locks their load balancer.
func (t *txn) lockMember(poolID, id string, allow Allow) (*lb.Pool, *lb.Member, error) {
	p, err := t.pool(poolID)
	if err != nil {
		return nil, nil, err
	}
	m, err := t.member(p.ID, id)
	if err != nil {
		return nil, nil, err
	}
	if _, err := t.lock(p.LoadBalancerID, allow); err != nil {
		return nil, nil, err
	}
	return p, m, nil
}

// changeMember records change st of a member, its pool being written: the
// member, the pool and the load balancer must not be being deleted.
func (t *txn) changeMember(p *lb.Pool, m *lb.Member, st lb.ProvisioningStatus) error {
	if err := writable(resMember, m.ID, m.Status); err != nil {
		return err
	}
	if err := writable(resPool, p.ID, p.Status); err != nil {
		return err
	}
	if err := writable(resLoadBalancer, t.lb.ID, t.lb.Status); err != nil {
		return err
	}
	if err := t.begin(lb.PendingUpdate); err != nil {
		return err
	}
	if err := t.markPool(p); err != nil {
		return err
	}
	t.stamp(&m.Status, &m.Times, st)
	return t.tx.Members().Update(t.ctx, m)
}

// MemberBatch replaces the member set of a pool (Octavia's batch member
// update).
type MemberBatch struct {
	PoolID string
	// Members are the members wanted, with the create defaults applied;
	// each is matched to an existing member of the pool by address and
	// protocol_port. A nil entry (a null in the request) is refused.
	Members []*lb.Member
	// Apply updates the existing member that Members[i] matches; nil
	// leaves it as it is (it is still marked PENDING_UPDATE).
	Apply func(existing *lb.Member, i int)
	// Additive keeps the pool's members that no entry matches; otherwise
	// they are deleted.
	Additive bool
	// Allow is asked once for the whole batch, which may create, update
	// and (unless Additive) delete members.
	Allow Allow
}

// UpdateMembers replaces a pool's member set in one write: matched members
// are updated, new ones created (quota reserved for them only), and, unless
// Additive, the others deleted. A batch that asks for no members on a pool
// that has none changes nothing.
func (w *Writer) UpdateMembers(ctx context.Context, in MemberBatch) error {
	type key struct {
		addr string
		port int
	}
	seen := map[key]bool{}
	for _, m := range in.Members {
		if m == nil {
			return lb.InvalidField("members", "None", "Mandatory field missing.")
		}
		k := key{m.Address, m.ProtocolPort}
		if seen[k] {
			return lb.Invalid("Member must be updated only once in the same request.")
		}
		seen[k] = true
	}
	return w.write(ctx, func(t *txn) error {
		p, err := t.pool(in.PoolID)
		if err != nil {
			return err
		}
		parent, err := t.lock(p.LoadBalancerID, in.Allow)
		if err != nil {
			return err
		}
		current, err := t.tx.Members().List(t.ctx, store.Query{Filters: []store.Filter{store.F("pool_id", p.ID)}})
		if err != nil {
			return err
		}
		if len(current) == 0 && len(in.Members) == 0 {
			return nil
		}
		existing := map[key]*lb.Member{}
		for _, m := range current {
			existing[key{m.Address, m.ProtocolPort}] = m
		}
		added := 0
		for _, m := range in.Members {
			if existing[key{m.Address, m.ProtocolPort}] != nil {
				continue
			}
			added++
			if err := m.ValidateNew(w.settings); err != nil {
				return err
			}
			if err := t.checkSubnet(m); err != nil {
				return err
			}
		}
		if added > 0 {
			if err := t.reserve(map[lb.QuotaResource]int{lb.QuotaMember: added}); err != nil {
				return err
			}
		}
		if err := writable(resPool, p.ID, p.Status); err != nil {
			return err
		}
		if err := writable(resLoadBalancer, parent.ID, parent.Status); err != nil {
			return err
		}
		monitored, err := t.monitored(p.ID)
		if err != nil {
			return err
		}
		if err := t.begin(lb.PendingUpdate); err != nil {
			return err
		}
		if err := t.markPool(p); err != nil {
			return err
		}
		for i, m := range in.Members {
			k := key{m.Address, m.ProtocolPort}
			old := existing[k]
			if old == nil {
				w.assignID(&m.ID)
				t.newMember(m, p, monitored)
				if err := t.tx.Members().Create(t.ctx, m); err != nil {
					return fmt.Errorf("create member %s: %w", m.ID, err)
				}
				continue
			}
			delete(existing, k)
			if in.Apply != nil {
				in.Apply(old, i)
			}
			if err := writable(resMember, old.ID, old.Status); err != nil {
				return err
			}
			t.stamp(&old.Status, &old.Times, lb.PendingUpdate)
			if err := t.tx.Members().Update(t.ctx, old); err != nil {
				return err
			}
		}
		if in.Additive {
			return nil
		}
		for _, m := range current {
			if existing[key{m.Address, m.ProtocolPort}] != m || m.Status.Provisioning == lb.PendingDelete {
				continue
			}
			t.stamp(&m.Status, &m.Times, lb.PendingDelete)
			if err := t.tx.Members().Update(t.ctx, m); err != nil {
				return err
			}
		}
		return nil
	})
}
