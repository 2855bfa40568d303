package apiserver

import (
	"net/http"

	"github.com/fulcrumlb/fulcrum/internal/httpapi"
	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/policy"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// Amphorae (admin only) are the placements of load balancers on data-plane
// agents, as the fulcrum provider records them: the agent's name is the
// compute_id, its address the lb_network_ip, the VIP the ha_ip. Failover,
// config and delete are writes of the write path.

type amphoraWire struct {
	ID             string  `json:"id"`
	LoadBalancerID *string `json:"loadbalancer_id"`
	ComputeID      *string `json:"compute_id"`
	LBNetworkIP    *string `json:"lb_network_ip"`
	VRRPIP         *string `json:"vrrp_ip"`
	HAIP           *string `json:"ha_ip"`
	VRRPPortID     *string `json:"vrrp_port_id"`
	HAPortID       *string `json:"ha_port_id"`
	CertExpiration *string `json:"cert_expiration"`
	CertBusy       bool    `json:"cert_busy"`
	Role           *string `json:"role"`
	Status         string  `json:"status"`
	VRRPInterface  *string `json:"vrrp_interface"`
	VRRPID         *int    `json:"vrrp_id"`
	VRRPPriority   *int    `json:"vrrp_priority"`
	CachedZone     *string `json:"cached_zone"`
	CreatedAt      string  `json:"created_at"`
	UpdatedAt      *string `json:"updated_at"`
	ImageID        *string `json:"image_id"`
	ComputeFlavor  *string `json:"compute_flavor"`
}

func toAmphoraWire(a *lb.Amphora) *amphoraWire {
	return &amphoraWire{ID: a.ID, LoadBalancerID: optional(a.LoadBalancerID), ComputeID: optional(a.ComputeID),
		LBNetworkIP: optional(a.LBNetworkIP), VRRPIP: optional(a.VRRPIP), HAIP: optional(a.HAIP),
		VRRPPortID: optional(a.VRRPPortID), HAPortID: optional(a.HAPortID), CertExpiration: wireTimePtr(a.CertExpiration),
		CertBusy: a.CertBusy, Role: optional(a.Role), Status: a.Status, VRRPInterface: optional(a.VRRPInterface),
		VRRPID: a.VRRPID, VRRPPriority: a.VRRPPriority, CachedZone: optional(a.CachedZone),
		CreatedAt: wireTime(a.CreatedAt), UpdatedAt: wireTimePtr(a.UpdatedAt), ImageID: optional(a.ImageID),
		ComputeFlavor: optional(a.ComputeFlavor)}
}

// amphoraStatsBody is the body of an amphora's stats.
type amphoraStatsBody struct {
	AmphoraStats []amphoraStatsWire `json:"amphora_stats"`
}

type amphoraStatsWire struct {
	ActiveConnections int64  `json:"active_connections"`
	BytesIn           int64  `json:"bytes_in"`
	BytesOut          int64  `json:"bytes_out"`
	ID                string `json:"id"`
	ListenerID        string `json:"listener_id"`
	LoadBalancerID    string `json:"loadbalancer_id"`
	RequestErrors     int64  `json:"request_errors"`
	TotalConnections  int64  `json:"total_connections"`
}

func (s *Server) listAmphorae(q *request) error {
	if err := q.authorize(policy.Amphora, policy.GetAll, q.caller.ProjectID); err != nil {
		return err
	}
	p, err := s.parseList(q.query, s.schemas.amphoraColumns)
	if err != nil {
		return err
	}
	return page[lb.Amphora]{plural: "amphorae", table: store.Tx.Amphorae, id: func(a *lb.Amphora) string { return a.ID },
		before: func(tx store.Tx) error {
			if !p.hasProject {
				return nil
			}
			// project_id selects the amphorae of that project's load
			// balancers.
			lbs, err := tx.LoadBalancers().List(q.ctx, store.Query{Filters: []store.Filter{store.F("project_id", p.projectID)}})
			if err != nil {
				return err
			}
			lbIDs := make([]string, len(lbs))
			for i, l := range lbs {
				lbIDs[i] = l.ID
			}
			p.query.Filters = append(p.query.Filters, store.In("loadbalancer_id", lbIDs...))
			return nil
		},
		render: each(func(a *lb.Amphora) any { return toAmphoraWire(a) })}.serve(s, q, p)
}

func (s *Server) showAmphora(q *request) error {
	return shown[lb.Amphora]{key: "amphora", object: policy.Amphora,
		load:   func(tx store.Tx) (*lb.Amphora, error) { return getAmphora(q.ctx, tx, q.param("id")) },
		owner:  func(*lb.Amphora) string { return q.caller.ProjectID },
		render: plain(func(a *lb.Amphora) any { return toAmphoraWire(a) })}.serve(s, q)
}

// amphoraStats reports the listener counters the amphora's agent sent for
// its load balancer.
func (s *Server) amphoraStats(q *request) error {
	id := q.param("id")
	if err := q.authorize(policy.Amphora, policy.GetStats, q.caller.ProjectID); err != nil {
		return err
	}
	out := []amphoraStatsWire{}
	err := s.store.View(q.ctx, func(tx store.Tx) error {
		a, err := tx.Amphorae().Get(q.ctx, id)
		if err != nil {
			return nil // no amphora, no stats: the 404 below
		}
		rows, err := tx.ListenerStats().List(q.ctx, a.LoadBalancerID)
		if err != nil {
			return err
		}
		for _, r := range rows {
			if r.AgentID != a.AgentID || a.AgentID == "" {
				continue
			}
			out = append(out, amphoraStatsWire{ActiveConnections: r.ActiveConnections, BytesIn: r.BytesIn, BytesOut: r.BytesOut,
				ID: a.ID, ListenerID: r.ListenerID, LoadBalancerID: r.LoadBalancerID, RequestErrors: r.RequestErrors,
				TotalConnections: r.TotalConnections})
		}
		return nil
	})
	if err != nil {
		return err
	}
	if len(out) == 0 {
		return notFound("Amphora stats for", id)
	}
	httpapi.WriteJSON(q.w, http.StatusOK, amphoraStatsBody{AmphoraStats: out})
	return nil
}

// failoverAmphora marks the placement for replacement and starts a new
// generation of its load balancer; the provider moves it to another agent.
func (s *Server) failoverAmphora(q *request) error {
	if err := s.writes.FailoverAmphora(q.ctx, q.param("id"), q.allow(policy.Amphora, policy.PutFailover)); err != nil {
		return err
	}
	writeEmpty(q.w, http.StatusAccepted)
	return nil
}

// configAmphora reconciles the amphora's load balancer again, which
// publishes its current configuration to the agent.
func (s *Server) configAmphora(q *request) error {
	if err := s.writes.ReconfigureAmphora(q.ctx, q.param("id"), q.allow(policy.Amphora, policy.PutConfig)); err != nil {
		return err
	}
	writeEmpty(q.w, http.StatusAccepted)
	return nil
}

// deleteAmphora removes a placement in ERROR (v2.21); the load balancer is
// placed afresh by its next reconcile.
func (s *Server) deleteAmphora(q *request) error {
	if err := q.authorize(policy.Amphora, policy.Delete, q.caller.ProjectID); err != nil {
		return err
	}
	if err := s.writes.DeleteAmphora(q.ctx, q.param("id")); err != nil {
		return err
	}
	writeEmpty(q.w, http.StatusNoContent)
	return nil
}
