package apiserver

import (
	"net/http"
	"strings"

	"github.com/fulcrumlb/fulcrum/internal/httpapi"
	"github.com/fulcrumlb/fulcrum/internal/lb"
)

// Neutron-LBaaS v2 was served inside Neutron: clients of that era
// (python-neutronclient's lbaas-* commands, Heat, old scripts) find it at
// the network endpoint, /networking/v2.0/lbaas/..., with Neutron's error
// body. NeutronHandler serves the same API there, through the same router,
// handlers and policy as the Octavia endpoint. What differs on the wire:
//
//   - faults are Neutron's {"NeutronError": {"type", "message", "detail"}}
//     (neutronclient prints the message, Octavia's faultstring otherwise
//     reaches the user as a raw dict);
//   - the status tree is Neutron-LBaaS's: the monitor under "healthmonitor"
//     ({} when none), every pool also listed under the load balancer, a
//     listener's L7 policies and rules, DISABLED for objects that are
//     administratively down.
//
// Everything else Neutron-LBaaS v2 clients read (tenant_id, the
// loadbalancers lists of listeners and pools, a monitor's pools, the
// status names) Octavia's bodies already carry.

// NeutronPrefix is where the network endpoint serves Neutron-LBaaS v2.
const NeutronPrefix = "/networking/v2.0/lbaas"

// NeutronHandler serves the API below NeutronPrefix (a request path
// without the /networking prefix is served too, for a single-endpoint
// mount); anything else is a Neutron 404.
func (s *Server) NeutronHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path := strings.TrimPrefix(r.URL.Path, "/networking")
		if path != "/v2.0/lbaas" && !strings.HasPrefix(path, "/v2.0/lbaas/") {
			writeNeutronFault(w, http.StatusNotFound, "The resource could not be found.")
			return
		}
		routed := r.Clone(r.Context())
		routed.URL.Path, routed.URL.RawPath = path, ""
		s.serveAs(w, routed, true)
	})
}

// neutronFault is Neutron's error body.
type neutronFault struct {
	NeutronError neutronFaultBody `json:"NeutronError"`
}

type neutronFaultBody struct {
	Type    string `json:"type"`
	Message string `json:"message"`
	Detail  string `json:"detail"`
}

// neutronFaultTypes are the exception names Neutron's fault handler gives
// the statuses it answers (webob's, or Neutron's own for policy).
var neutronFaultTypes = map[int]string{
	http.StatusBadRequest:            "HTTPBadRequest",
	http.StatusUnauthorized:          "HTTPUnauthorized",
	http.StatusForbidden:             "HTTPForbidden",
	http.StatusNotFound:              "HTTPNotFound",
	http.StatusMethodNotAllowed:      "HTTPMethodNotAllowed",
	http.StatusConflict:              "HTTPConflict",
	http.StatusRequestEntityTooLarge: "HTTPRequestEntityTooLarge",
	http.StatusUnsupportedMediaType:  "HTTPUnsupportedMediaType",
	http.StatusNotImplemented:        "HTTPNotImplemented",
	http.StatusServiceUnavailable:    "HTTPServiceUnavailable",
}

func writeNeutronFault(w http.ResponseWriter, status int, msg string) {
	t := neutronFaultTypes[status]
	if t == "" {
		t = "HTTPInternalServerError"
		if status < 500 {
			t = "HTTPBadRequest"
		}
	}
	httpapi.WriteJSON(w, status, neutronFault{NeutronError: neutronFaultBody{Type: t, Message: msg}})
}

// neutronStatusTree renders a status tree in Neutron-LBaaS v2's shape.
func neutronStatusTree(t statusLoadBalancerWire, l *lb.LoadBalancer, listeners []*lb.Listener, pools []*lb.Pool,
	members []*lb.Member, monitors []*lb.HealthMonitor, policies []*lb.L7Policy, rules []*lb.L7Rule) map[string]any {
	down := map[string]bool{}
	if !l.AdminStateUp {
		down[l.ID] = true
	}
	for _, x := range listeners {
		down[x.ID] = !x.AdminStateUp
	}
	for _, x := range pools {
		down[x.ID] = !x.AdminStateUp
	}
	for _, x := range members {
		down[x.ID] = !x.AdminStateUp
	}
	for _, x := range monitors {
		down[x.ID] = !x.AdminStateUp
	}
	operating := func(id string, st lb.OperatingStatus) string {
		if down[id] {
			return "DISABLED"
		}
		return string(st)
	}
	pool := func(p statusPoolWire) map[string]any {
		ms := []any{}
		for _, m := range p.Members {
			ms = append(ms, map[string]any{"id": m.ID, "name": m.Name, "address": m.Address, "protocol_port": m.ProtocolPort,
				"provisioning_status": m.ProvisioningStatus, "operating_status": operating(m.ID, m.OperatingStatus)})
		}
		hm := map[string]any{}
		if h := p.HealthMonitor; h != nil {
			hm = map[string]any{"id": h.ID, "name": h.Name, "type": h.Type, "provisioning_status": h.ProvisioningStatus}
			if down[h.ID] {
				hm["operating_status"] = "DISABLED"
			}
		}
		return map[string]any{"id": p.ID, "name": p.Name, "provisioning_status": p.ProvisioningStatus,
			"operating_status": operating(p.ID, p.OperatingStatus), "members": ms, "healthmonitor": hm}
	}
	rulesOf := map[string][]any{}
	for _, r := range rules {
		rulesOf[r.L7PolicyID] = append(rulesOf[r.L7PolicyID], map[string]any{"id": r.ID, "type": r.Type,
			"provisioning_status": r.Status.Provisioning})
	}
	policiesOf := map[string][]any{}
	for _, p := range policies {
		rs := rulesOf[p.ID]
		if rs == nil {
			rs = []any{}
		}
		policiesOf[p.ListenerID] = append(policiesOf[p.ListenerID], map[string]any{"id": p.ID, "name": p.Name,
			"action": p.Action, "provisioning_status": p.Status.Provisioning, "rules": rs})
	}
	shown := map[string]bool{}
	lbPools := []any{}
	ls := []any{}
	for _, li := range t.Listeners {
		ps := []any{}
		for _, p := range li.Pools {
			ps = append(ps, pool(p))
			if !shown[p.ID] {
				shown[p.ID] = true
				lbPools = append(lbPools, pool(p))
			}
		}
		pols := policiesOf[li.ID]
		if pols == nil {
			pols = []any{}
		}
		ls = append(ls, map[string]any{"id": li.ID, "name": li.Name, "provisioning_status": li.ProvisioningStatus,
			"operating_status": operating(li.ID, li.OperatingStatus), "pools": ps, "l7policies": pols})
	}
	// Pools no listener uses are listed under the load balancer too.
	monitorOf := map[string]*statusMonitorWire{}
	for _, h := range monitors {
		monitorOf[h.PoolID] = &statusMonitorWire{ID: h.ID, Name: h.Name, Type: h.Type,
			ProvisioningStatus: h.Status.Provisioning, OperatingStatus: h.Status.Operating}
	}
	membersOf := map[string][]statusMemberWire{}
	for _, m := range members {
		membersOf[m.PoolID] = append(membersOf[m.PoolID], statusMemberWire{ID: m.ID, Name: m.Name,
			OperatingStatus: m.Status.Operating, ProvisioningStatus: m.Status.Provisioning, Address: m.Address, ProtocolPort: m.ProtocolPort})
	}
	for _, p := range pools {
		if shown[p.ID] {
			continue
		}
		lbPools = append(lbPools, pool(statusPoolWire{ID: p.ID, Name: p.Name, ProvisioningStatus: p.Status.Provisioning,
			OperatingStatus: p.Status.Operating, HealthMonitor: monitorOf[p.ID], Members: membersOf[p.ID]}))
	}
	return map[string]any{"statuses": map[string]any{"loadbalancer": map[string]any{
		"id": t.ID, "name": t.Name, "provisioning_status": t.ProvisioningStatus,
		"operating_status": operating(l.ID, t.OperatingStatus), "listeners": ls, "pools": lbPools}}}
}
