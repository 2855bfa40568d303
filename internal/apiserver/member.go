package apiserver

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/policy"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

const kindMember = "member"

// memberFromBody builds a member from a create body (also a batch item)
// with Octavia's defaults.
func memberFromBody(o *object) *lb.Member {
	m := &lb.Member{AdminStateUp: true, Weight: lb.DefaultWeight, VNICType: lb.VNICNormal}
	m.Name, _ = o.str("name")
	if v, set := o.flag("admin_state_up"); set {
		m.AdminStateUp = v
	}
	m.Address, _ = o.str("address")
	m.ProtocolPort, _ = o.integer("protocol_port")
	if n, ok := o.integer("weight"); ok {
		m.Weight = n
	}
	m.Backup, _ = o.flag("backup")
	m.SubnetID, _ = o.str("subnet_id")
	m.MonitorPort = o.optInt("monitor_port")
	m.MonitorAddress, _ = o.str("monitor_address")
	m.Tags, _ = o.strings("tags")
	return m
}

func applyMemberUpdate(m *lb.Member, o *object) {
	if o.has("name") {
		m.Name, _ = o.str("name")
	}
	if v, set := o.flag("admin_state_up"); set {
		m.AdminStateUp = v
	}
	if o.has("weight") {
		m.Weight = lb.DefaultWeight
		if n, ok := o.integer("weight"); ok {
			m.Weight = n
		}
	}
	if o.has("backup") {
		m.Backup, _ = o.flag("backup")
	}
	if o.has("monitor_port") {
		m.MonitorPort = o.optInt("monitor_port")
	}
	if o.has("monitor_address") {
		m.MonitorAddress, _ = o.str("monitor_address")
	}
	if o.has("tags") {
		m.Tags, _ = o.strings("tags")
	}
}

// checkNewMember runs the create-time member checks that need no store.
func (s *Server) checkNewMember(m *lb.Member, o *object) error {
	if err := lb.CheckMemberAddress(m.Address, s.settings.ReservedMemberIPs); err != nil {
		return err
	}
	if err := s.settings.MemberAddresses.Check(m); err != nil {
		return err
	}
	if v, _ := o.flag("request_sriov"); v {
		return lb.Errorf("The load balancer flavor does not allow SR-IOV member ports.")
	}
	return nil
}

// checkMemberInTx runs the create-time member checks that need the store:
// the subnet_id must exist for the caller.
func (s *Server) checkMemberInTx(q *request, tx store.Tx, m *lb.Member) error {
	if m.SubnetID == "" || s.subnets == nil {
		return nil
	}
	return s.subnets.CheckSubnet(q.ctx, tx, m.SubnetID)
}

func duplicateMember(m *lb.Member) error {
	return conflict("Another member on this pool is already using ip %s on protocol_port %d", m.Address, m.ProtocolPort)
}

// memberPool loads the pool of the path (404 "Pool <id> not found.").
func memberPool(q *request, tx store.Tx) (*lb.Pool, error) {
	return getPool(q.ctx, tx, q.params[0])
}

// poolMember loads a member of the path's pool; a member of another pool is
// not found.
func poolMember(q *request, tx store.Tx, poolID string) (*lb.Member, error) {
	m, err := getMember(q.ctx, tx, q.params[1])
	if err != nil {
		return nil, err
	}
	if m.PoolID != poolID {
		return nil, notFound(nameMember, q.params[1])
	}
	return m, nil
}

// poolHasMonitor reports whether new members of the pool start OFFLINE
// (monitored) rather than NO_MONITOR.
func poolHasMonitor(q *request, tx store.Tx, poolID string) (bool, error) {
	n, err := tx.HealthMonitors().Count(q.ctx, store.F("pool_id", poolID))
	return n > 0, err
}

func (s *Server) createMember(q *request) error {
	data, err := s.readBody(q)
	if err != nil {
		return err
	}
	o, _, err := s.schemas.memberPost.decode(data)
	if err != nil {
		return err
	}
	m := memberFromBody(o)
	m.ID = s.newID()
	var w *memberWire
	err = s.store.Update(q.ctx, func(tx store.Tx) error {
		p, err := memberPool(q, tx)
		if err != nil {
			return err
		}
		parent, err := lockLB(q.ctx, tx, p.LoadBalancerID)
		if err != nil {
			return err
		}
		if err := q.authorize(policy.Member, policy.Post, parent.ProjectID); err != nil {
			return err
		}
		if err := q.reserve(tx, parent.ProjectID, map[lb.QuotaResource]int{lb.QuotaMember: 1}); err != nil {
			return err
		}
		if err := s.checkNewMember(m, o); err != nil {
			return err
		}
		if err := s.checkMemberInTx(q, tx, m); err != nil {
			return err
		}
		if err := writable(kindPool, p.ID, p.Status); err != nil {
			return err
		}
		if err := writable(kindLoadBalancer, parent.ID, parent.Status); err != nil {
			return err
		}
		n, err := tx.Members().Count(q.ctx, store.F("pool_id", p.ID), store.F("address", m.Address), store.F("protocol_port", itoa(m.ProtocolPort)))
		if err != nil {
			return err
		}
		if n > 0 {
			return duplicateMember(m)
		}
		monitored, err := poolHasMonitor(q, tx, p.ID)
		if err != nil {
			return err
		}
		c := begin(q.ctx, tx, parent, s.now())
		if err := c.commitLB(); err != nil {
			return err
		}
		if err := c.lockPool(p); err != nil {
			return err
		}
		m.PoolID, m.LoadBalancerID, m.ProjectID = p.ID, parent.ID, parent.ProjectID
		m.Status = lb.Status{Provisioning: lb.PendingCreate, Operating: lb.NoMonitor, Gen: c.gen}
		if monitored {
			m.Status.Operating = lb.Offline
		}
		m.CreatedAt = c.now
		if err := tx.Members().Create(q.ctx, m); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return duplicateMember(m)
			}
			return fmt.Errorf("create member %s: %w", m.ID, err)
		}
		w = toMemberWire(m)
		return nil
	})
	if err != nil {
		return err
	}
	s.notify(m.LoadBalancerID)
	writeJSON(q.w, http.StatusCreated, map[string]any{"member": w})
	return nil
}

func (s *Server) showMember(q *request) error {
	var w *memberWire
	err := s.store.View(q.ctx, func(tx store.Tx) error {
		p, err := memberPool(q, tx)
		if err != nil {
			return err
		}
		m, err := poolMember(q, tx, p.ID)
		if err != nil {
			return err
		}
		if err := q.authorize(policy.Member, policy.GetOne, m.ProjectID); err != nil {
			return err
		}
		w = toMemberWire(m)
		return nil
	})
	if err != nil {
		return err
	}
	return s.writeOne(q, http.StatusOK, "member", w)
}

func (s *Server) listMembers(q *request) error {
	p, err := s.parseList(q.r.URL.Query(), s.schemas.memberColumns)
	if err != nil {
		return err
	}
	var items []any
	var ids []string
	err = s.store.View(q.ctx, func(tx store.Tx) error {
		pool, err := memberPool(q, tx)
		if err != nil {
			return err
		}
		// Members are listed per pool: the pool's owner is checked, there is
		// no global variant.
		if err := q.authorize(policy.Member, policy.GetAll, pool.ProjectID); err != nil {
			return err
		}
		if p.hasProject {
			p.query.Filters = append(p.query.Filters, store.F("project_id", p.projectID))
		}
		p.query.Filters = append(p.query.Filters, store.F("pool_id", pool.ID))
		list, err := tx.Members().List(q.ctx, p.query)
		if err != nil {
			return queryError(err)
		}
		for _, m := range list {
			ids = append(ids, m.ID)
			items = append(items, toMemberWire(m))
		}
		return nil
	})
	if err != nil {
		return err
	}
	return s.writeList(q, p, "members", items, ids)
}

func (s *Server) updateMember(q *request) error {
	data, err := s.readBody(q)
	if err != nil {
		return err
	}
	o, _, err := s.schemas.memberPut.decode(data)
	if err != nil {
		return err
	}
	var w *memberWire
	var lbID string
	err = s.store.Update(q.ctx, func(tx store.Tx) error {
		p, err := memberPool(q, tx)
		if err != nil {
			return err
		}
		m, err := poolMember(q, tx, p.ID)
		if err != nil {
			return err
		}
		parent, err := lockLB(q.ctx, tx, p.LoadBalancerID)
		if err != nil {
			return err
		}
		lbID = parent.ID
		if err := q.authorize(policy.Member, policy.Put, parent.ProjectID); err != nil {
			return err
		}
		applyMemberUpdate(m, o)
		if err := writable(kindMember, m.ID, m.Status); err != nil {
			return err
		}
		if err := writable(kindPool, p.ID, p.Status); err != nil {
			return err
		}
		if err := writable(kindLoadBalancer, parent.ID, parent.Status); err != nil {
			return err
		}
		c := begin(q.ctx, tx, parent, s.now())
		if err := c.commitLB(); err != nil {
			return err
		}
		if err := c.lockPool(p); err != nil {
			return err
		}
		m.Status.Change(lb.PendingUpdate, c.gen)
		m.Touch(c.now)
		if err := tx.Members().Update(q.ctx, m); err != nil {
			return err
		}
		w = toMemberWire(m)
		return nil
	})
	if err != nil {
		return err
	}
	s.notify(lbID)
	writeJSON(q.w, http.StatusOK, map[string]any{"member": w})
	return nil
}

func (s *Server) deleteMember(q *request) error {
	var lbID string
	err := s.store.Update(q.ctx, func(tx store.Tx) error {
		p, err := memberPool(q, tx)
		if err != nil {
			return err
		}
		m, err := poolMember(q, tx, p.ID)
		if err != nil {
			return err
		}
		parent, err := lockLB(q.ctx, tx, p.LoadBalancerID)
		if err != nil {
			return err
		}
		lbID = parent.ID
		if err := q.authorize(policy.Member, policy.Delete, parent.ProjectID); err != nil {
			return err
		}
		if err := writable(kindMember, m.ID, m.Status); err != nil {
			return err
		}
		if err := writable(kindPool, p.ID, p.Status); err != nil {
			return err
		}
		if err := writable(kindLoadBalancer, parent.ID, parent.Status); err != nil {
			return err
		}
		c := begin(q.ctx, tx, parent, s.now())
		if err := c.commitLB(); err != nil {
			return err
		}
		if err := c.lockPool(p); err != nil {
			return err
		}
		m.Status.Change(lb.PendingDelete, c.gen)
		m.Touch(c.now)
		return tx.Members().Update(q.ctx, m)
	})
	if err != nil {
		return err
	}
	s.notify(lbID)
	writeEmpty(q.w, http.StatusNoContent)
	return nil
}

// batchUpdateMembers replaces a pool's member set (PUT .../members): items
// are matched to members on (address, protocol_port) compared as strings;
// matches are updated with the full item (create defaults re-applied),
// new ones created, and, unless additive_only, the rest deleted.
func (s *Server) batchUpdateMembers(q *request) error {
	data, err := s.readBody(q)
	if err != nil {
		return err
	}
	_, items, err := s.schemas.membersPut.decode(data)
	if err != nil {
		return err
	}
	additive := pyTrue(q.r.URL.Query().Get("additive_only"))
	type key struct {
		addr string
		port int
	}
	seen := map[key]bool{}
	wanted := make([]*lb.Member, 0, len(items))
	for _, it := range items {
		if it == nil {
			return lb.InvalidField("members", "None", msgMandatory)
		}
		m := memberFromBody(it)
		k := key{m.Address, m.ProtocolPort}
		if seen[k] {
			return lb.Invalid("Member must be updated only once in the same request.")
		}
		seen[k] = true
		wanted = append(wanted, m)
	}
	var lbID string
	changed := false
	err = s.store.Update(q.ctx, func(tx store.Tx) error {
		p, err := memberPool(q, tx)
		if err != nil {
			return err
		}
		parent, err := lockLB(q.ctx, tx, p.LoadBalancerID)
		if err != nil {
			return err
		}
		lbID = parent.ID
		for _, a := range []policy.Action{policy.Post, policy.Put} {
			if err := q.authorize(policy.Member, a, parent.ProjectID); err != nil {
				return err
			}
		}
		if !additive {
			if err := q.authorize(policy.Member, policy.Delete, parent.ProjectID); err != nil {
				return err
			}
		}
		current, err := tx.Members().List(q.ctx, store.Query{Filters: []store.Filter{store.F("pool_id", p.ID)}})
		if err != nil {
			return err
		}
		if len(current) == 0 && len(wanted) == 0 {
			return nil
		}
		existing := map[key]*lb.Member{}
		for _, m := range current {
			existing[key{m.Address, m.ProtocolPort}] = m
		}
		added := 0
		for i, m := range wanted {
			if existing[key{m.Address, m.ProtocolPort}] == nil {
				added++
				if err := s.checkNewMember(m, items[i]); err != nil {
					return err
				}
				if err := s.checkMemberInTx(q, tx, m); err != nil {
					return err
				}
			}
		}
		if added > 0 {
			if err := q.reserve(tx, parent.ProjectID, map[lb.QuotaResource]int{lb.QuotaMember: added}); err != nil {
				return err
			}
		}
		if err := writable(kindPool, p.ID, p.Status); err != nil {
			return err
		}
		if err := writable(kindLoadBalancer, parent.ID, parent.Status); err != nil {
			return err
		}
		monitored, err := poolHasMonitor(q, tx, p.ID)
		if err != nil {
			return err
		}
		c := begin(q.ctx, tx, parent, s.now())
		changed = true
		if err := c.commitLB(); err != nil {
			return err
		}
		if err := c.lockPool(p); err != nil {
			return err
		}
		for i, m := range wanted {
			k := key{m.Address, m.ProtocolPort}
			old := existing[k]
			if old == nil {
				m.ID = s.newID()
				m.PoolID, m.LoadBalancerID, m.ProjectID = p.ID, parent.ID, parent.ProjectID
				m.Status = lb.Status{Provisioning: lb.PendingCreate, Operating: lb.NoMonitor, Gen: c.gen}
				if monitored {
					m.Status.Operating = lb.Offline
				}
				m.CreatedAt = c.now
				if err := tx.Members().Create(q.ctx, m); err != nil {
					return fmt.Errorf("create member %s: %w", m.ID, err)
				}
				continue
			}
			delete(existing, k)
			// The full item is applied: omitted optional fields fall back to
			// their create defaults; name, subnet and tags stay when omitted.
			it := items[i]
			old.AdminStateUp, old.Weight, old.Backup = m.AdminStateUp, m.Weight, m.Backup
			old.MonitorAddress, old.MonitorPort = m.MonitorAddress, m.MonitorPort
			if it.has("name") {
				old.Name = m.Name
			}
			if it.has("subnet_id") {
				old.SubnetID = m.SubnetID
			}
			if it.has("tags") {
				old.Tags = m.Tags
			}
			if err := writable(kindMember, old.ID, old.Status); err != nil {
				return err
			}
			old.Status.Change(lb.PendingUpdate, c.gen)
			old.Touch(c.now)
			if err := tx.Members().Update(q.ctx, old); err != nil {
				return err
			}
		}
		if additive {
			return nil
		}
		for _, m := range current {
			if existing[key{m.Address, m.ProtocolPort}] != m || m.Status.Provisioning == lb.PendingDelete {
				continue
			}
			m.Status.Change(lb.PendingDelete, c.gen)
			m.Touch(c.now)
			if err := tx.Members().Update(q.ctx, m); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if changed {
		s.notify(lbID)
	}
	writeEmpty(q.w, http.StatusAccepted)
	return nil
}
