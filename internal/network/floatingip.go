package network

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/ids"
	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/network/neutron"
	"github.com/fulcrumlb/fulcrum/internal/policy"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

type floatingIPBody struct {
	FloatingNetworkID *string   `json:"floating_network_id"`
	FloatingIPAddress *string   `json:"floating_ip_address"`
	SubnetID          *string   `json:"subnet_id"`
	PortID            optString `json:"port_id"`
	FixedIPAddress    *string   `json:"fixed_ip_address"`
	Description       *string   `json:"description"`
	ProjectID         *string   `json:"project_id"`
	TenantID          *string   `json:"tenant_id"`
}

func floatingIPJSON(f *neutron.FloatingIP) map[string]any {
	return map[string]any{
		"id": f.ID, "project_id": f.ProjectID, "tenant_id": f.ProjectID, "floating_network_id": f.FloatingNetworkID,
		"floating_ip_address": f.FloatingIPAddress, "port_id": nullable(f.PortID), "fixed_ip_address": nullable(f.FixedIPAddress),
		"router_id": nil, "status": f.Status, "description": f.Description, "port_details": nil, "dns_domain": "", "dns_name": "",
		"tags": tagsOr(f.Tags), "revision_number": 0, "created_at": neutronTime(f.CreatedAt), "updated_at": neutronTime(f.UpdatedAt),
	}
}

func (s *Service) fipVisible(ctx context.Context, tx store.Tx, c policy.Caller, id string) (*neutron.FloatingIP, error) {
	f, err := tx.FloatingIPs().Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !owns(c, f.ProjectID)) {
		return nil, notFound("Floating IP", "FloatingIPNotFound", id)
	}
	return f, err
}

func (s *Service) listFloatingIPs(w http.ResponseWriter, r *http.Request, c policy.Caller) error {
	f, _ := filters(r, map[string]string{"id": "id", "floating_network_id": "floating_network_id", "port_id": "port_id",
		"floating_ip_address": "floating_ip_address", "fixed_ip_address": "fixed_ip_address", "project_id": "project_id",
		"tenant_id": "project_id", "status": "status"})
	out := []map[string]any{}
	err := s.view(r.Context(), func(tx store.Tx) error {
		list, err := tx.FloatingIPs().List(r.Context(), store.Query{Filters: f})
		if err != nil {
			return badQuery(err)
		}
		for _, fip := range list {
			if owns(c, fip.ProjectID) {
				out = append(out, floatingIPJSON(fip))
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"floatingips": out})
	return nil
}

func (s *Service) getFloatingIP(w http.ResponseWriter, r *http.Request, c policy.Caller) error {
	var out map[string]any
	err := s.view(r.Context(), func(tx store.Tx) error {
		f, err := s.fipVisible(r.Context(), tx, c, r.PathValue("id"))
		if err == nil {
			out = floatingIPJSON(f)
		}
		return err
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"floatingip": out})
	return nil
}

// createFloatingIP allocates an address of an external network (held by a
// port owned by network:floatingip) and optionally associates it.
func (s *Service) createFloatingIP(w http.ResponseWriter, r *http.Request, c policy.Caller) error {
	var b floatingIPBody
	if err := decode(r, "floatingip", &b); err != nil {
		return err
	}
	if str(b.FloatingNetworkID) == "" {
		return badRequest("floatingip", "Invalid input for floating_network_id. Reason: 'None' is not a valid UUID")
	}
	project, err := projectFor(c, b.ProjectID, b.TenantID, "floatingip")
	if err != nil {
		return err
	}
	now := s.now()
	var touched []string
	fip := &neutron.FloatingIP{ID: ids.New(), ProjectID: project, FloatingNetworkID: *b.FloatingNetworkID,
		Description: str(b.Description), Status: neutron.PortDown, Tags: []string{}, Times: neutron.Times{CreatedAt: now, UpdatedAt: now}}
	ctx := r.Context()
	err = s.update(ctx, func(tx store.Tx) error {
		n, err := tx.Networks().Get(ctx, fip.FloatingNetworkID)
		if errors.Is(err, store.ErrNotFound) {
			return notFound("Network", "NetworkNotFound", fip.FloatingNetworkID)
		}
		if err != nil {
			return err
		}
		if !n.External {
			return badRequest("floatingip", fmt.Sprintf("Network %s is not a valid external network", n.ID))
		}
		port := &neutron.Port{ID: ids.New(), NetworkID: n.ID, MACAddress: newMAC(), AdminStateUp: true,
			DeviceOwner: neutron.OwnerFloatingIP, DeviceID: fip.ID, Status: neutron.PortActive, Times: fip.Times}
		if err := tx.Ports().Create(ctx, port); err != nil {
			return err
		}
		var reqs []IPRequest
		if str(b.FloatingIPAddress) != "" || str(b.SubnetID) != "" {
			reqs = []IPRequest{{SubnetID: str(b.SubnetID), IPAddress: str(b.FloatingIPAddress)}}
		}
		port.FixedIPs, err = allocate(ctx, tx, n.ID, port.ID, reqs)
		if err != nil {
			return err
		}
		if len(port.FixedIPs) == 0 {
			return conflict("ExternalIpAddressExhausted", fmt.Sprintf("Unable to find any IP address on external network %s.", n.ID))
		}
		if err := tx.Ports().Update(ctx, port); err != nil {
			return err
		}
		fip.FloatingPortID, fip.FloatingIPAddress = port.ID, port.FixedIPs[0].IPAddress
		if err := tx.FloatingIPs().Create(ctx, fip); err != nil {
			return err
		}
		if b.PortID.Value != "" {
			if err := s.associate(ctx, tx, c, fip, b.PortID.Value, str(b.FixedIPAddress)); err != nil {
				return err
			}
			touched, err = touchVIPPorts(ctx, tx, now, fip.PortID)
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.notify(touched)
	writeJSON(w, http.StatusCreated, map[string]any{"floatingip": floatingIPJSON(fip)})
	return nil
}

// associate points fip at one fixed IP of portID (the first IPv4 one unless
// fixedIP says which) and saves it.
func (s *Service) associate(ctx context.Context, tx store.Tx, c policy.Caller, fip *neutron.FloatingIP, portID, fixedIP string) error {
	port, err := s.portVisible(ctx, tx, c, portID)
	if err != nil {
		return err
	}
	chosen := ""
	for _, f := range port.FixedIPs {
		a, err := netip.ParseAddr(f.IPAddress)
		if err != nil {
			continue
		}
		if fixedIP != "" && f.IPAddress == fixedIP || fixedIP == "" && a.Is4() && chosen == "" {
			chosen = f.IPAddress
		}
	}
	if chosen == "" {
		if fixedIP != "" {
			return badRequest("floatingip", fmt.Sprintf("Port %s does not have fixed ip %s", portID, fixedIP))
		}
		return badRequest("floatingip", fmt.Sprintf("No IPv4 addresses found on port %s", portID))
	}
	others, err := tx.FloatingIPs().List(ctx, store.Query{Filters: []store.Filter{store.F("port_id", portID), store.F("fixed_ip_address", chosen)}})
	if err != nil {
		return err
	}
	for _, o := range others {
		if o.ID != fip.ID && o.FloatingNetworkID == fip.FloatingNetworkID {
			return conflict("FloatingIPPortAlreadyAssociated", fmt.Sprintf("Cannot associate floating IP %s (%s) with port %s using fixed IP %s, as that fixed IP already has a floating IP on external network %s.",
				fip.FloatingIPAddress, fip.ID, portID, chosen, fip.FloatingNetworkID))
		}
	}
	fip.PortID, fip.FixedIPAddress, fip.Status = portID, chosen, neutron.PortActive
	fip.UpdatedAt = s.now()
	return tx.FloatingIPs().Update(ctx, fip)
}

func (s *Service) updateFloatingIP(w http.ResponseWriter, r *http.Request, c policy.Caller) error {
	var b floatingIPBody
	if err := decode(r, "floatingip", &b); err != nil {
		return err
	}
	ctx := r.Context()
	var fip *neutron.FloatingIP
	var touched []string
	err := s.update(ctx, func(tx store.Tx) error {
		var err error
		if fip, err = s.fipVisible(ctx, tx, c, r.PathValue("id")); err != nil {
			return err
		}
		oldPort := fip.PortID
		if b.Description != nil {
			fip.Description = *b.Description
		}
		if b.PortID.Set && b.PortID.Value == "" {
			fip.PortID, fip.FixedIPAddress, fip.Status = "", "", neutron.PortDown
		} else if b.PortID.Set {
			if err := s.associate(ctx, tx, c, fip, b.PortID.Value, str(b.FixedIPAddress)); err != nil {
				return err
			}
			touched, err = touchVIPPorts(ctx, tx, s.now(), oldPort, fip.PortID)
			return err
		}
		fip.UpdatedAt = s.now()
		if err := tx.FloatingIPs().Update(ctx, fip); err != nil {
			return err
		}
		touched, err = touchVIPPorts(ctx, tx, s.now(), oldPort)
		return err
	})
	if err != nil {
		return err
	}
	s.notify(touched)
	writeJSON(w, http.StatusOK, map[string]any{"floatingip": floatingIPJSON(fip)})
	return nil
}

func (s *Service) deleteFloatingIP(w http.ResponseWriter, r *http.Request, c policy.Caller) error {
	ctx := r.Context()
	var touched []string
	err := s.update(ctx, func(tx store.Tx) error {
		fip, err := s.fipVisible(ctx, tx, c, r.PathValue("id"))
		if err != nil {
			return err
		}
		if err := tx.FloatingIPs().Delete(ctx, fip.ID); err != nil {
			return err
		}
		if err := deletePort(ctx, tx, fip.FloatingPortID, s.now()); err != nil {
			return err
		}
		touched, err = touchVIPPorts(ctx, tx, s.now(), fip.PortID)
		return err
	})
	if err != nil {
		return err
	}
	s.notify(touched)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// touchVIPPorts starts a new generation of every load balancer whose VIP
// port is among ports, because the addresses it is served on changed. It
// returns their ids, to be enqueued after the commit.
func touchVIPPorts(ctx context.Context, tx store.Tx, now time.Time, ports ...string) ([]string, error) {
	var ids []string
	for _, p := range ports {
		if p == "" {
			continue
		}
		list, err := tx.LoadBalancers().List(ctx, store.Query{Filters: []store.Filter{store.F("vip_port_id", p)}})
		if err != nil {
			return nil, err
		}
		for _, l := range list {
			if l.Status.Provisioning == lb.PendingDelete {
				continue
			}
			l, err := tx.LoadBalancers().Lock(ctx, l.ID)
			if err != nil {
				return nil, err
			}
			l.NextGeneration()
			l.Touch(now)
			if err := tx.LoadBalancers().Update(ctx, l); err != nil {
				return nil, err
			}
			ids = append(ids, l.ID)
		}
	}
	return ids, nil
}

func (s *Service) notify(lbIDs []string) {
	if s.opts.Notify == nil {
		return
	}
	for _, id := range lbIDs {
		s.opts.Notify(id)
	}
}

// FloatingAddresses returns the floating addresses associated with portID
// (a load balancer's VIP port): the public addresses the data plane also
// serves the VIP on.
func FloatingAddresses(ctx context.Context, tx store.Tx, portID string) ([]string, error) {
	list, err := tx.FloatingIPs().List(ctx, store.Query{Filters: []store.Filter{store.F("port_id", portID)}})
	if err != nil {
		return nil, fmt.Errorf("floating addresses of port %s: %w", portID, err)
	}
	out := make([]string, 0, len(list))
	for _, f := range list {
		out = append(out, f.FloatingIPAddress)
	}
	return out, nil
}

// ---- QoS policies

type qosBody struct {
	Name        *string   `json:"name"`
	Description *string   `json:"description"`
	Shared      *bool     `json:"shared"`
	IsDefault   *bool     `json:"is_default"`
	ProjectID   *string   `json:"project_id"`
	TenantID    *string   `json:"tenant_id"`
	Tags        *[]string `json:"tags"`
}

func qosJSON(q *neutron.QoSPolicy) map[string]any {
	return map[string]any{"id": q.ID, "name": q.Name, "description": q.Description, "shared": q.Shared, "is_default": q.IsDefault,
		"project_id": q.ProjectID, "tenant_id": q.ProjectID, "rules": []any{}, "tags": tagsOr(q.Tags), "revision_number": 0,
		"created_at": neutronTime(q.CreatedAt), "updated_at": neutronTime(q.UpdatedAt)}
}

func (s *Service) qosVisible(ctx context.Context, tx store.Tx, c policy.Caller, id string) (*neutron.QoSPolicy, error) {
	q, err := tx.QoSPolicies().Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !visible(c, q.ProjectID, q.Shared)) {
		return nil, notFound("QoS policy", "QosPolicyNotFound", id)
	}
	return q, err
}

func (s *Service) listQoSPolicies(w http.ResponseWriter, r *http.Request, c policy.Caller) error {
	f, _ := filters(r, map[string]string{"id": "id", "name": "name", "project_id": "project_id", "tenant_id": "project_id", "shared": "shared"})
	out := []map[string]any{}
	err := s.view(r.Context(), func(tx store.Tx) error {
		list, err := tx.QoSPolicies().List(r.Context(), store.Query{Filters: f})
		if err != nil {
			return badQuery(err)
		}
		for _, q := range list {
			if visible(c, q.ProjectID, q.Shared) {
				out = append(out, qosJSON(q))
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"policies": out})
	return nil
}

func (s *Service) getQoSPolicy(w http.ResponseWriter, r *http.Request, c policy.Caller) error {
	var out map[string]any
	err := s.view(r.Context(), func(tx store.Tx) error {
		q, err := s.qosVisible(r.Context(), tx, c, r.PathValue("id"))
		if err == nil {
			out = qosJSON(q)
		}
		return err
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"policy": out})
	return nil
}

func (s *Service) createQoSPolicy(w http.ResponseWriter, r *http.Request, c policy.Caller) error {
	var b qosBody
	if err := decode(r, "policy", &b); err != nil {
		return err
	}
	project, err := projectFor(c, b.ProjectID, b.TenantID, "policy")
	if err != nil {
		return err
	}
	now := s.now()
	q := &neutron.QoSPolicy{ID: ids.New(), ProjectID: project, Name: str(b.Name), Description: str(b.Description),
		Shared: b.Shared != nil && *b.Shared, IsDefault: b.IsDefault != nil && *b.IsDefault, Tags: []string{},
		Times: neutron.Times{CreatedAt: now, UpdatedAt: now}}
	if b.Tags != nil {
		q.Tags = *b.Tags
	}
	if err := s.update(r.Context(), func(tx store.Tx) error { return tx.QoSPolicies().Create(r.Context(), q) }); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"policy": qosJSON(q)})
	return nil
}

func (s *Service) updateQoSPolicy(w http.ResponseWriter, r *http.Request, c policy.Caller) error {
	var b qosBody
	if err := decode(r, "policy", &b); err != nil {
		return err
	}
	var out map[string]any
	err := s.update(r.Context(), func(tx store.Tx) error {
		q, err := s.qosVisible(r.Context(), tx, c, r.PathValue("id"))
		if err != nil {
			return err
		}
		if !owns(c, q.ProjectID) {
			return forbidden("update_policy")
		}
		if b.Name != nil {
			q.Name = *b.Name
		}
		if b.Description != nil {
			q.Description = *b.Description
		}
		if b.Shared != nil {
			q.Shared = *b.Shared
		}
		if b.IsDefault != nil {
			q.IsDefault = *b.IsDefault
		}
		if b.Tags != nil {
			q.Tags = *b.Tags
		}
		q.UpdatedAt = s.now()
		if err := tx.QoSPolicies().Update(r.Context(), q); err != nil {
			return err
		}
		out = qosJSON(q)
		return nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"policy": out})
	return nil
}

func (s *Service) deleteQoSPolicy(w http.ResponseWriter, r *http.Request, c policy.Caller) error {
	ctx := r.Context()
	id := r.PathValue("id")
	err := s.update(ctx, func(tx store.Tx) error {
		q, err := s.qosVisible(ctx, tx, c, id)
		if err != nil {
			return err
		}
		if !owns(c, q.ProjectID) {
			return forbidden("delete_policy")
		}
		for _, users := range []struct {
			kind string
			ids  func() ([]string, error)
		}{
			{"port", func() ([]string, error) {
				return idsOf(tx.Ports().List(ctx, store.Query{Filters: []store.Filter{store.F("qos_policy_id", id)}}))
			}},
			{"network", func() ([]string, error) {
				return idsOf(tx.Networks().List(ctx, store.Query{Filters: []store.Filter{store.F("qos_policy_id", id)}}))
			}},
		} {
			list, err := users.ids()
			if err != nil {
				return err
			}
			if len(list) > 0 {
				return conflict("QosPolicyInUse", fmt.Sprintf("QoS Policy %s is used by %s %s.", id, users.kind, list[0]))
			}
		}
		return tx.QoSPolicies().Delete(ctx, id)
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func idsOf[T interface {
	*neutron.Port | *neutron.Network
}](list []T, err error) ([]string, error) {
	if err != nil {
		return nil, err
	}
	var out []string
	for _, v := range list {
		switch x := any(v).(type) {
		case *neutron.Port:
			out = append(out, x.ID)
		case *neutron.Network:
			out = append(out, x.ID)
		}
	}
	return out, nil
}
