package e2e

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// casePrometheus: a PROMETHEUS listener created through the API serves /metrics on the
// VIP, counting the traffic of its load balancer's other listener.
func casePrometheus(t *testing.T, s *engineServer) {
	a := s.a
	b := startBackend(t, "backend")
	g := createGraph(t, a, freePort(t), b)
	promPort := freePort(t)
	prom := a.must(t, "POST", "/v2/lbaas/listeners", map[string]any{"listener": map[string]any{
		"loadbalancer_id": g.lb, "protocol": "PROMETHEUS", "protocol_port": promPort, "allowed_cidrs": []string{"127.0.0.0/8"}}}, 201).id("listener")
	a.waitStatus(t, g.lb, "ACTIVE", 30*time.Second)
	if st := a.must(t, "GET", "/v2/lbaas/listeners/"+prom, nil, 200).field("listener", "provisioning_status"); st != "ACTIVE" {
		t.Fatalf("PROMETHEUS listener %s", st)
	}
	waitTraffic(t, g.url(), 10*time.Second)
	const n = 7
	for i := 0; i < n; i++ {
		if _, err := fetch(g.url()); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	url := "http://" + net.JoinHostPort(g.vip, strconv.Itoa(promPort)) + "/metrics"
	want := fmt.Sprintf(`octavia_listener_sessions_total{listener="%s"} `, g.listener)
	up := fmt.Sprintf(`octavia_member_status{pool="%s",member="%s",state="UP"} 1`, g.pool, g.members[0])
	var body string
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		var err error
		if body, err = fetch(url); err != nil {
			t.Fatalf("scrape %s: %v", url, err)
		}
		if sample(body, want) >= n+1 && strings.Contains(body, up) { // + the first request of waitTraffic
			break
		}
	}
	if v := sample(body, want); v < n+1 {
		t.Fatalf("%s= %d after %d requests:\n%s", want, v, n+1, body)
	}
	if !strings.Contains(body, up) {
		t.Errorf("member not UP in the scrape:\n%s", body)
	}
	// The API reports the metrics listener ONLINE like any listening listener.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		st := a.must(t, "GET", "/v2/lbaas/listeners/"+prom, nil, 200).field("listener", "operating_status")
		if st == "ONLINE" {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("PROMETHEUS listener operating_status %s, want ONLINE", st)
			break
		}
	}
}

// sample returns the value of the series line starting with prefix, or -1.
func sample(body, prefix string) int {
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, prefix); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	return -1
}
