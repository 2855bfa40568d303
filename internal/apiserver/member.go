package apiserver

import (
	"net/http"

	"github.com/fulcrumlb/fulcrum/internal/change"
	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/policy"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// memberFromBody builds a member from a create body (also a batch item)
// with Octavia's defaults; request_sriov asks for an SR-IOV (direct) port.
func memberFromBody(o *object) *lb.Member {
	m := &lb.Member{AdminStateUp: true, Weight: lb.DefaultWeight, VNICType: lb.VNICNormal}
	if v, _ := o.flag("request_sriov"); v {
		m.VNICType = lb.VNICDirect
	}
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

// memberPool loads the pool of the path (404 "Pool <id> not found.").
func memberPool(q *request, tx store.Tx) (*lb.Pool, error) {
	return getPool(q.ctx, tx, q.param("pool_id"))
}

// poolMember is the member the path names, which must be the path's pool's
// (another pool's member is a 404).
func poolMember(q *request, tx store.Tx) (*lb.Member, error) {
	p, err := memberPool(q, tx)
	if err != nil {
		return nil, err
	}
	id := q.param("id")
	m, err := found(tx.Members().Get(q.ctx, id))(lb.NameMember, id)
	if err == nil && m.PoolID != p.ID {
		return nil, notFound(lb.NameMember, id)
	}
	return m, err
}

func (s *Server) createMember(q *request) error {
	o, _, err := s.decodeBody(q, &s.schemas.memberPost)
	if err != nil {
		return err
	}
	m, err := s.writes.CreateMember(q.ctx, change.MemberCreate{PoolID: q.param("pool_id"), Member: memberFromBody(o),
		Allow: q.allow(policy.Member, policy.Post)})
	if err != nil {
		return err
	}
	writeObject(q.w, http.StatusCreated, "member", toMemberWire(m))
	return nil
}

func (s *Server) showMember(q *request) error {
	return shown[lb.Member]{key: "member", object: policy.Member,
		load:   func(tx store.Tx) (*lb.Member, error) { return poolMember(q, tx) },
		owner:  func(m *lb.Member) string { return m.ProjectID },
		render: plain(func(m *lb.Member) any { return toMemberWire(m) })}.serve(s, q)
}

func (s *Server) listMembers(q *request) error {
	p, err := s.parseList(q.query, s.schemas.memberColumns)
	if err != nil {
		return err
	}
	return page[lb.Member]{plural: "members", table: store.Tx.Members, id: func(m *lb.Member) string { return m.ID },
		before: func(tx store.Tx) error {
			pool, err := memberPool(q, tx)
			if err != nil {
				return err
			}
			// Members are listed per pool: the pool's owner is checked,
			// there is no global variant.
			if err := q.authorize(policy.Member, policy.GetAll, pool.ProjectID); err != nil {
				return err
			}
			p.under("pool_id", pool.ID)
			return nil
		},
		render: each(func(m *lb.Member) any { return toMemberWire(m) })}.serve(s, q, p)
}

func (s *Server) updateMember(q *request) error {
	o, _, err := s.decodeBody(q, &s.schemas.memberPut)
	if err != nil {
		return err
	}
	m, err := s.writes.UpdateMember(q.ctx, change.MemberUpdate{PoolID: q.param("pool_id"), ID: q.param("id"),
		Allow: q.allow(policy.Member, policy.Put), Apply: func(m *lb.Member) error {
			applyMemberUpdate(m, o)
			return nil
		}})
	if err != nil {
		return err
	}
	writeObject(q.w, http.StatusOK, "member", toMemberWire(m))
	return nil
}

func (s *Server) deleteMember(q *request) error {
	err := s.writes.DeleteMember(q.ctx, q.param("pool_id"), q.param("id"), q.allow(policy.Member, policy.Delete))
	if err != nil {
		return err
	}
	writeEmpty(q.w, http.StatusNoContent)
	return nil
}

// batchUpdateMembers replaces a pool's member set (PUT .../members): items
// are matched to members on (address, protocol_port); matches are updated
// with the full item (create defaults re-applied; name, subnet and tags
// kept when omitted), new ones created, and, unless additive_only, the rest
// deleted.
func (s *Server) batchUpdateMembers(q *request) error {
	_, items, err := s.decodeBody(q, &s.schemas.membersPut)
	if err != nil {
		return err
	}
	additive := pyTrue(q.query.Get("additive_only"))
	wanted := make([]*lb.Member, len(items))
	for i, it := range items {
		if it != nil {
			wanted[i] = memberFromBody(it)
		}
	}
	err = s.writes.UpdateMembers(q.ctx, change.MemberBatch{PoolID: q.param("pool_id"), Members: wanted, Additive: additive,
		Apply: func(old *lb.Member, i int) {
			m, it := wanted[i], items[i]
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
		},
		Allow: func(owner string) error {
			actions := []policy.Action{policy.Post, policy.Put}
			if !additive {
				actions = append(actions, policy.Delete)
			}
			for _, a := range actions {
				if err := q.authorize(policy.Member, a, owner); err != nil {
					return err
				}
			}
			return nil
		}})
	if err != nil {
		return err
	}
	writeEmpty(q.w, http.StatusAccepted)
	return nil
}
