package e2e

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/listeners"
	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/loadbalancers"
	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/monitors"
	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/pools"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/ports"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/subnets"

	"github.com/fulcrumlb/fulcrum/internal/servertest"
)

// TestGophercloudEndToEnd drives the default all-in-one (Keystone auth,
// provider fulcrum, embedded agent) through gophercloud: one fully
// populated create with two real backends and an HTTP monitor, traffic
// alternating between them, a backend killed and reported, stats matching
// the requests sent, and a cascade delete that releases the VIP port and
// stops listening.
func TestGophercloudEndToEnd(t *testing.T) {
	srv := servertest.Start(t, bin, "", "--member-address-allow", "127.0.0.0/8", "--log-level", "warn")
	ctx := context.Background()
	clouds, err := os.ReadFile(filepath.Join(srv.DataDir, "clouds.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`password: "([^"]+)"`).FindSubmatch(clouds)
	if m == nil {
		t.Fatalf("no admin password in clouds.yaml:\n%s", clouds)
	}
	provider, err := openstack.AuthenticatedClient(ctx, gophercloud.AuthOptions{
		IdentityEndpoint: srv.URL + "/identity/v3", Username: "admin", Password: string(m[1]),
		TenantName: "admin", DomainName: "Default"})
	if err != nil {
		t.Fatalf("keystone auth through gophercloud: %v", err)
	}
	lbc, err := openstack.NewLoadBalancerV2(provider, gophercloud.EndpointOpts{Region: "RegionOne"})
	if err != nil {
		t.Fatal(err)
	}
	netc, err := openstack.NewNetworkV2(provider, gophercloud.EndpointOpts{Region: "RegionOne"})
	if err != nil {
		t.Fatal(err)
	}
	pages, err := subnets.List(netc, subnets.ListOpts{Name: "private-subnet"}).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	subs, err := subnets.ExtractSubnets(pages)
	if err != nil || len(subs) != 1 {
		t.Fatalf("private-subnet: %v %v", subs, err)
	}

	b1, b2 := startBackend(t, "one"), startBackend(t, "two")
	port := freePort(t)
	start := time.Now()
	created, err := loadbalancers.Create(ctx, lbc, loadbalancers.CreateOpts{
		Name: "gc", VipSubnetID: subs[0].ID,
		Listeners: []listeners.CreateOpts{{
			Name: "web", Protocol: listeners.ProtocolHTTP, ProtocolPort: port,
			DefaultPool: &pools.CreateOpts{
				Name: "web-pool", Protocol: pools.ProtocolHTTP, LBMethod: pools.LBMethodRoundRobin,
				Members: []pools.CreateMemberOpts{
					{Name: "one", Address: "127.0.0.1", ProtocolPort: b1.port},
					{Name: "two", Address: "127.0.0.1", ProtocolPort: b2.port},
				},
				Monitor: monitors.CreateOpts{Type: monitors.TypeHTTP, Delay: 1, Timeout: 1, MaxRetries: 1, MaxRetriesDown: 2, URLPath: "/healthcheck"},
			},
		}},
	}).Extract()
	if err != nil {
		t.Fatalf("fully populated create: %v", err)
	}
	if len(created.Listeners) != 1 || len(created.Pools) != 1 || len(created.Pools[0].Members) != 2 {
		t.Fatalf("create response is not the full graph: %+v", created)
	}
	waitLB(t, lbc, created.ID, "ACTIVE")
	url := "http://" + net.JoinHostPort(created.VipAddress, strconv.Itoa(port))
	waitTraffic(t, url, 10*time.Second)
	t.Logf("fully populated create → first 200 OK through %s in %s", url, time.Since(start).Round(time.Millisecond))

	waitMembers(t, lbc, created.ID, 15*time.Second, func(pool *pools.Pool, members map[string]string) bool {
		return members["one"] == "ONLINE" && members["two"] == "ONLINE"
	})
	base := stableConnections(t, lbc, created.ID)
	sent := 0
	var seq []string
	for i := 0; i < 20; i++ {
		body, err := fetch(url)
		if err != nil {
			t.Fatal(err)
		}
		sent++
		seq = append(seq, body)
	}
	for i := 1; i < len(seq); i++ {
		if seq[i] == seq[i-1] {
			t.Fatalf("responses do not alternate: %v", seq)
		}
	}

	b2.stop()
	killed := time.Now()
	waitMembers(t, lbc, created.ID, 20*time.Second, func(pool *pools.Pool, members map[string]string) bool {
		return members["two"] == "ERROR" && pool.OperatingStatus == "DEGRADED"
	})
	took := time.Since(killed)
	t.Logf("gophercloud sees member ERROR and pool DEGRADED %s after the backend died (bound: delay×fall + 2 heartbeats = 4s)", took.Round(time.Millisecond))
	if took > 10*time.Second {
		t.Errorf("health took %s to reach the API", took)
	}
	for i := 0; i < 10; i++ {
		if body, err := fetch(url); err != nil || body != "one" {
			t.Fatalf("after the backend died: %q %v", body, err)
		}
		sent++
	}

	// One connection per request: the listener's total_connections equals the requests sent.
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := loadbalancers.GetStats(ctx, lbc, created.ID).Extract()
		if err != nil {
			t.Fatal(err)
		}
		if st.TotalConnections-base == sent {
			t.Logf("stats: %d new connections for %d requests, %d bytes in, %d out in total", st.TotalConnections-base, sent, st.BytesIn, st.BytesOut)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stats: %+v (baseline %d), want %d new connections", st, base, sent)
		}
		time.Sleep(100 * time.Millisecond)
	}

	if err := loadbalancers.Delete(ctx, lbc, created.ID, loadbalancers.DeleteOpts{Cascade: true}).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	waitLB(t, lbc, created.ID, "DELETED")
	if _, err := ports.Get(ctx, netc, created.VipPortID).Extract(); !gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
		t.Errorf("VIP port %s after the cascade delete: %v, want 404", created.VipPortID, err)
	}
	deadline = time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", net.JoinHostPort(created.VipAddress, strconv.Itoa(port)), 200*time.Millisecond)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("the VIP still accepts connections after the delete")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stableConnections waits until the reported total_connections stops moving
// and returns it. Stats arrive with heartbeats (every second), so the value
// must hold for longer than the 3 s dead window: an agent whose heartbeats
// stopped for that long would be down, so at least one heartbeat since the
// last connection has been counted, however loaded the machine.
func stableConnections(t *testing.T, c *gophercloud.ServiceClient, id string) int {
	t.Helper()
	prev, since := -1, time.Now()
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		st, err := loadbalancers.GetStats(context.Background(), c, id).Extract()
		if err != nil {
			t.Fatal(err)
		}
		if st.TotalConnections != prev {
			prev, since = st.TotalConnections, time.Now()
			continue
		}
		if time.Since(since) > 4*time.Second {
			return prev
		}
	}
	t.Fatal("stats never settled")
	return 0
}

func waitLB(t *testing.T, c *gophercloud.ServiceClient, id, want string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	last := ""
	for time.Now().Before(deadline) {
		l, err := loadbalancers.Get(context.Background(), c, id).Extract()
		if want == "DELETED" && gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
			return
		}
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			t.Fatal(err)
		}
		if l != nil {
			last = l.ProvisioningStatus
			if last == want {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("load balancer %s is %s, want %s", id, last, want)
}

func waitMembers(t *testing.T, c *gophercloud.ServiceClient, id string, timeout time.Duration, cond func(*pools.Pool, map[string]string) bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		tree, err := loadbalancers.GetStatuses(context.Background(), c, id).Extract()
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range tree.Loadbalancer.Listeners {
			for i := range l.Pools {
				p := &l.Pools[i]
				members := map[string]string{}
				for _, m := range p.Members {
					members[m.Name] = m.OperatingStatus
				}
				if cond(p, members) {
					return
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("status tree of %s never matched", id)
}
