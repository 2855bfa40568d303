package ha

import (
	"context"
	"encoding/json"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/vrrp/agentlab"
	"github.com/fulcrumlb/fulcrum/internal/vrrp/vrrplab"
)

// octaviaAmphoraKeys are the keys of Octavia's amphora object (the reference's amphora
// section), which `openstack loadbalancer amphora show` renders.
var octaviaAmphoraKeys = []string{"cached_zone", "cert_busy", "cert_expiration", "compute_flavor", "compute_id", "created_at", "ha_ip",
	"ha_port_id", "id", "image_id", "lb_network_ip", "loadbalancer_id", "role", "status", "updated_at", "vrrp_id", "vrrp_interface",
	"vrrp_ip", "vrrp_port_id", "vrrp_priority"}

// cliJSON runs the openstack CLI with -f json and decodes its output.
func cliJSON(t *testing.T, l *agentlab.Lab, out any, args ...string) {
	t.Helper()
	b, err := l.OpenStack(context.Background(), append(args, "-f", "json")...)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("openstack %v: %v: %s", args, err, b)
	}
}

// checkAmphoraCLI checks what `openstack loadbalancer amphora list/show` render of a steady
// pair: Octavia's keys, the roles, the VRRP fields, and vrrp_port_id the IPAM port that
// reserves the member's agent address (device owner fulcrum:agent); the VIP is no agent's
// address.
func checkAmphoraCLI(t *testing.T, l *agentlab.Lab) {
	t.Helper()
	master, err := l.Steady(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var list []map[string]any
	cliJSON(t, l, &list, "loadbalancer", "amphora", "list", "--loadbalancer", l.LB, "--long")
	if len(list) != 2 {
		t.Fatalf("amphora list: %v, want two", list)
	}
	var lbBody struct {
		LoadBalancer struct {
			VIPPortID string `json:"vip_port_id"`
		} `json:"loadbalancer"`
	}
	if err := l.Do("GET", "/v2/lbaas/loadbalancers/"+l.LB, nil, &lbBody); err != nil {
		t.Fatal(err)
	}
	roles := map[string]string{}
	for _, row := range list {
		id, _ := row["id"].(string)
		var show map[string]any
		cliJSON(t, l, &show, "loadbalancer", "amphora", "show", id)
		keys := make([]string, 0, len(show))
		for k := range show {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		if !slices.Equal(keys, octaviaAmphoraKeys) {
			t.Errorf("amphora show %s: keys %v, want Octavia's %v", id, keys, octaviaAmphoraKeys)
		}
		agent := l.Agent(str(show["compute_id"]))
		if agent == nil {
			t.Fatalf("amphora show %s: compute_id %v is no agent of the lab", id, show["compute_id"])
		}
		roles[agent.Name] = str(show["role"])
		if row["role"] != show["role"] || row["status"] != "READY" || show["status"] != "READY" || str(show["loadbalancer_id"]) != l.LB ||
			str(show["ha_ip"]) != l.VIP.String() || str(show["ha_port_id"]) != lbBody.LoadBalancer.VIPPortID ||
			str(show["vrrp_ip"]) != agent.Host.Addr.String() || show["vrrp_interface"] != agent.Host.Interface ||
			show["vrrp_id"] == nil || show["vrrp_priority"] == nil || show["cert_busy"] != false {
			t.Errorf("amphora %s: list %v, show %v", id, row, show)
		}
		var port struct {
			Port struct {
				DeviceOwner string `json:"device_owner"`
				DeviceID    string `json:"device_id"`
				FixedIPs    []struct {
					IPAddress string `json:"ip_address"`
				} `json:"fixed_ips"`
			} `json:"port"`
		}
		pid := str(show["vrrp_port_id"])
		if pid == "" {
			t.Errorf("amphora %s: vrrp_port_id %v, want the port reserving %s", id, show["vrrp_port_id"], agent.Host.Addr)
		} else if err := l.Do("GET", "/networking/v2.0/ports/"+pid, nil, &port); err != nil {
			t.Error(err)
		} else if port.Port.DeviceOwner != "fulcrum:agent" || len(port.Port.FixedIPs) != 1 || port.Port.FixedIPs[0].IPAddress != agent.Host.Addr.String() {
			t.Errorf("vrrp_port_id %s: %+v, want a fulcrum:agent port holding %s", pid, port.Port, agent.Host.Addr)
		}
	}
	if roles[master.Name] != "MASTER" || len(roles) != 2 {
		t.Errorf("roles %v, want %s MASTER and the other BACKUP", roles, master.Name)
	}
	var masters []map[string]any
	cliJSON(t, l, &masters, "loadbalancer", "amphora", "list", "--loadbalancer", l.LB, "--role", "MASTER")
	if len(masters) != 1 {
		t.Errorf("amphora list --role MASTER: %v, want one", masters)
	}
	for _, a := range l.Agents {
		if a.Host.Addr == l.VIP {
			t.Errorf("the VIP %s is agent %s's own address", l.VIP, a.Name)
		}
	}
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

// TestAgentsAmphoraCLI: the openstack CLI renders an ACTIVE_STANDBY load balancer's
// amphorae with Octavia's fields (checkAmphoraCLI), and `amphora failover` of the BACKUP
// through the CLI replaces it on the spare agent while the MASTER keeps serving (no failed
// request), after which the CLI shows the new pair.
func TestAgentsAmphoraCLI(t *testing.T) {
	ctx := context.Background()
	l := startAgentLab(t)
	checkAmphoraCLI(t, l)
	master, backup := pairAgents(t, l)
	old, ok := amphoraOn(t, l, backup)
	if !ok {
		t.Fatal("no amphora on the BACKUP's agent")
	}
	p := l.StartProbe()
	until(t, 30*time.Second, "the client served", func() bool { return p.ServedRun("", time.Time{}) >= 20 })
	if _, err := l.OpenStack(ctx, "loadbalancer", "amphora", "failover", old.ID); err != nil {
		t.Fatal(err)
	}
	until(t, 60*time.Second, "the BACKUP replaced", func() bool {
		amps, err := l.Amphorae()
		if err != nil || len(amps) != 2 {
			return false
		}
		for _, a := range amps {
			if a.ID == old.ID {
				return false
			}
		}
		return true
	})
	if err := l.WaitStatus(ctx, "ACTIVE", "ONLINE"); err != nil {
		t.Fatal(err)
	}
	now, err := l.Steady(ctx)
	if err != nil {
		t.Fatal(err)
	}
	res := vrrplab.Analyze(p.Stop())
	t.Logf("failover of the BACKUP: %d requests, %d failed (%v)", res.Requests, res.Failed, res.Errors)
	if now != master || res.Failed > 0 {
		t.Errorf("failover of the BACKUP: MASTER now %s (was %s), %d failed requests; want the MASTER kept and none failed", now.Name, master.Name, res.Failed)
	}
	checkAmphoraCLI(t, l)
}
