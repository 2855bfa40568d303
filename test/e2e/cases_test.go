package e2e

import (
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// casePersistence: SOURCE_IP keeps one client on one member over new connections;
// HTTP_COOKIE sets SRV=<member id> and a client that sends it back stays on that member,
// while a client without it is balanced.
func casePersistence(t *testing.T, s *engineServer) {
	a := s.a
	one, two := startBackend(t, "one"), startBackend(t, "two")
	g := createGraph(t, a, freePort(t), one, two)
	a.waitStatus(t, g.lb, "ACTIVE", 30*time.Second)
	waitTraffic(t, g.url(), 20*time.Second)
	waitTree(t, a, g, 30*time.Second, func(pool map[string]any, members map[string]string) bool {
		return members["one"] == "ONLINE" && members["two"] == "ONLINE"
	})
	byName := map[string]string{"one": g.members[0], "two": g.members[1]}

	a.must(t, "PUT", "/v2/lbaas/pools/"+g.pool, map[string]any{"pool": map[string]any{
		"session_persistence": map[string]any{"type": "SOURCE_IP"}}}, 200)
	a.waitStatus(t, g.lb, "ACTIVE", 30*time.Second)
	seen := map[string]int{}
	for i := 0; i < 10; i++ {
		body, err := fetch(g.url())
		if err != nil {
			t.Fatalf("with SOURCE_IP persistence: %v", err)
		}
		seen[body]++
	}
	if len(seen) != 1 {
		t.Errorf("SOURCE_IP persistence spread one client over %v", seen)
	}

	a.must(t, "PUT", "/v2/lbaas/pools/"+g.pool, map[string]any{"pool": map[string]any{
		"session_persistence": map[string]any{"type": "HTTP_COOKIE"}}}, 200)
	a.waitStatus(t, g.lb, "ACTIVE", 30*time.Second)
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	get := func(cookie string) (body, setCookie string) {
		t.Helper()
		req, _ := http.NewRequest("GET", g.url()+"/", nil)
		if cookie != "" {
			req.Header.Set("Cookie", cookie)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("with HTTP_COOKIE persistence: %v", err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("with HTTP_COOKIE persistence: %d %v", resp.StatusCode, err)
		}
		for _, ck := range resp.Cookies() {
			if ck.Name == "SRV" {
				setCookie = ck.Value
			}
		}
		return string(b), setCookie
	}
	// Without the cookie the pool is balanced, and each answer sets the member's cookie.
	seen = map[string]int{}
	for i := 0; i < 10; i++ {
		body, ck := get("")
		if ck != byName[body] {
			t.Fatalf("answer of member %s set SRV=%q, want its id %s", body, ck, byName[body])
		}
		seen[body]++
	}
	if len(seen) != 2 {
		t.Errorf("clients without the cookie: %v, want both members", seen)
	}
	// With SRV=<member two>, every request lands on two.
	for i := 0; i < 10; i++ {
		if body, _ := get("SRV=" + byName["two"]); body != "two" {
			t.Fatalf("request %d with SRV=<two> reached %q", i, body)
		}
	}
}

// caseUDP: a UDP listener and pool with a UDP-CONNECT health monitor carry datagrams to a
// member and back; the member's socket closing turns it ERROR in the status tree.
func caseUDP(t *testing.T, s *engineServer) {
	s.e.refuses(t, "UDP listeners and pools — HAProxy 2.6 proxies TCP only (and health monitor UDP-CONNECT: no UDP); caseEngineRefusals checks the API's 501")
	a := s.a
	echo, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			echo.Close()
		}
	})
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := echo.ReadFrom(buf)
			if err != nil {
				return
			}
			echo.WriteTo(append([]byte("echo:"), buf[:n]...), from)
		}
	}()
	memberPort := echo.LocalAddr().(*net.UDPAddr).Port
	port := freeUDPPort(t)
	r := a.newLB(t, map[string]any{"name": "e2e-udp"})
	g := &graph{lb: r.id("loadbalancer"), vip: r.field("loadbalancer", "vip_address"), port: port}
	g.listener = a.must(t, "POST", "/v2/lbaas/listeners", map[string]any{"listener": map[string]any{
		"loadbalancer_id": g.lb, "protocol": "UDP", "protocol_port": port}}, 201).id("listener")
	g.pool = a.must(t, "POST", "/v2/lbaas/pools", map[string]any{"pool": map[string]any{
		"listener_id": g.listener, "protocol": "UDP", "lb_algorithm": "ROUND_ROBIN"}}, 201).id("pool")
	a.must(t, "POST", "/v2/lbaas/healthmonitors", map[string]any{"healthmonitor": map[string]any{
		"pool_id": g.pool, "type": "UDP-CONNECT", "delay": 4, "timeout": 1, "max_retries": 1, "max_retries_down": 1}}, 201)
	a.must(t, "POST", "/v2/lbaas/pools/"+g.pool+"/members", map[string]any{"member": map[string]any{
		"address": "127.0.0.1", "protocol_port": memberPort, "name": "echo"}}, 201)
	a.waitStatus(t, g.lb, "ACTIVE", 30*time.Second)

	c, err := net.Dial("udp", net.JoinHostPort(g.vip, strconv.Itoa(port)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	answered := 0
	buf := make([]byte, 2048)
	for i := 0; i < 200 && answered < 5; i++ {
		msg := "ping-" + strconv.Itoa(i)
		c.Write([]byte(msg))
		c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		n, err := c.Read(buf)
		if err != nil {
			continue // not served yet, or a datagram lost: send the next one
		}
		if got := string(buf[:n]); got != "echo:"+msg {
			t.Fatalf("UDP answer %q to %q", got, msg)
		}
		answered++
	}
	if answered < 5 {
		t.Fatalf("only %d UDP answers through %s:%d", answered, g.vip, port)
	}
	waitTree(t, a, g, 30*time.Second, func(pool map[string]any, members map[string]string) bool {
		return members["echo"] == "ONLINE" && field(pool, "operating_status") == "ONLINE"
	})
	// The member's port closes: its probe gets ICMP port unreachable, the member goes ERROR.
	echo.Close()
	closed = true
	waitTree(t, a, g, 30*time.Second, func(pool map[string]any, members map[string]string) bool {
		return members["echo"] == "ERROR" && field(pool, "operating_status") == "ERROR"
	})
}

// freeUDPPort returns a UDP port that was free a moment ago on loopback.
func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// caseEngineRefusals: what the engine's provider refuses, the API refuses with
// Octavia's 501 and the documented reason (docs/dataplane.md engine table), so the cases
// skipped for an engine are refusals a user sees, not holes. The native engine refuses
// SCTP; HAProxy refuses UDP and SCTP listeners and pools and PING monitors.
func caseEngineRefusals(t *testing.T, s *engineServer) {
	a := s.a
	lbID := a.newLB(t, map[string]any{"name": "refusals"}).id("loadbalancer")
	a.waitStatus(t, lbID, "ACTIVE", 30*time.Second)
	refused := func(path, wrapper string, body map[string]any, want string) {
		t.Helper()
		r := a.must(t, "POST", path, map[string]any{wrapper: body}, 501)
		if f, _ := r.body["faultstring"].(string); !strings.Contains(f, want) {
			t.Errorf("POST %s %v: %q, want it to say %q", path, body, f, want)
		}
	}
	listener := func(proto string) map[string]any {
		return map[string]any{"loadbalancer_id": lbID, "protocol": proto, "protocol_port": freePort(t)}
	}
	pool := func(proto string) map[string]any {
		return map[string]any{"loadbalancer_id": lbID, "protocol": proto, "lb_algorithm": "ROUND_ROBIN"}
	}
	switch s.e.name {
	case "native":
		refused("/v2/lbaas/listeners", "listener", listener("SCTP"), "The native engine does not support the SCTP protocol.")
		refused("/v2/lbaas/pools", "pool", pool("SCTP"), "The native engine does not support the SCTP protocol.")
	case "haproxy":
		for _, proto := range []string{"UDP", "SCTP"} {
			want := "protocol " + proto + ": the haproxy engine does not support it (HAProxy 2.6 proxies TCP only)"
			refused("/v2/lbaas/listeners", "listener", listener(proto), want)
			refused("/v2/lbaas/pools", "pool", pool(proto), want)
		}
		tcpPool := a.must(t, "POST", "/v2/lbaas/pools", map[string]any{"pool": pool("TCP")}, 201).id("pool")
		a.waitStatus(t, lbID, "ACTIVE", 30*time.Second)
		monitor := func(typ string) map[string]any {
			return map[string]any{"pool_id": tcpPool, "type": typ, "delay": 1, "timeout": 1, "max_retries": 1}
		}
		// (UDP-CONNECT and SCTP monitors go on UDP and SCTP pools only, which are refused
		// above.)
		refused("/v2/lbaas/healthmonitors", "healthmonitor", monitor("PING"), "type PING: the haproxy engine has no ICMP probe (HAProxy 2.6)")

		// Provider fulcrum with a flavor engine: haproxy reaches the engine's own refusal,
		// worded as the table's row: the load balancer is ERROR with it as its fault.
		fp := a.must(t, "POST", "/v2/lbaas/flavorprofiles", map[string]any{"flavorprofile": map[string]any{
			"name": "e2e-hap", "provider_name": "fulcrum", "flavor_data": `{"engine": "haproxy"}`}}, 201).id("flavorprofile")
		flavor := a.must(t, "POST", "/v2/lbaas/flavors", map[string]any{"flavor": map[string]any{"name": "e2e-hap", "flavor_profile_id": fp}}, 201).id("flavor")
		viaFlavor := a.must(t, "POST", "/v2/lbaas/loadbalancers", map[string]any{"loadbalancer": map[string]any{
			"name": "udp-via-flavor", "vip_subnet_id": vipSubnet(a), "flavor_id": flavor}}, 201).id("loadbalancer")
		a.deleteOnCleanup(t, viaFlavor)
		a.waitStatus(t, viaFlavor, "ACTIVE", 30*time.Second)
		a.must(t, "POST", "/v2/lbaas/listeners", map[string]any{"listener": map[string]any{
			"loadbalancer_id": viaFlavor, "protocol": "UDP", "protocol_port": freeUDPPort(t)}}, 201)
		a.waitStatus(t, viaFlavor, "ERROR", 30*time.Second)
		want := "listeners[0].protocol: UDP is not supported by the haproxy engine: HAProxy 2.6 proxies TCP only (use an agent running the native engine for UDP)"
		if f := a.must(t, "GET", "/v2/lbaas/loadbalancers/"+viaFlavor, nil, 200).field("loadbalancer", "fault"); !strings.Contains(f, want) {
			t.Errorf("UDP listener on a flavor engine: haproxy load balancer: fault %q, want it to say %q", f, want)
		}
	default:
		t.Fatalf("no refusals listed for engine %s", s.e.name)
	}
	// Nothing refused was created: the load balancer is ACTIVE with no listener.
	a.waitStatus(t, lbID, "ACTIVE", 30*time.Second)
	if ls, _ := a.must(t, "GET", "/v2/lbaas/listeners?loadbalancer_id="+lbID, nil, 200).body["listeners"].([]any); len(ls) != 0 {
		t.Errorf("refused listeners were created: %v", ls)
	}
}
