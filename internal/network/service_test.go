package network_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/network"
	"github.com/fulcrumlb/fulcrum/internal/policy"
	"github.com/fulcrumlb/fulcrum/internal/store"
	"github.com/fulcrumlb/fulcrum/internal/store/sqlstore"
)

type env struct {
	t   *testing.T
	st  store.Store
	srv *httptest.Server
}

// newEnv serves the network API (opts with the store filled in) with a
// caller taken from test headers: X-Project-Id and X-Roles
// (comma-separated).
func newEnv(t *testing.T, opts network.Options) *env {
	t.Helper()
	st, err := sqlstore.Open(context.Background(), sqlstore.Options{Path: filepath.Join(t.TempDir(), "db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return newEnvOn(t, st, opts)
}

// newEnvOn is newEnv on a store of the test's choosing.
func newEnvOn(t *testing.T, st store.Store, opts network.Options) *env {
	t.Helper()
	opts.Store = st
	svc := network.NewService(opts)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := policy.Caller{ProjectID: r.Header.Get("X-Project-Id"), UserID: "u"}
		if roles := r.Header.Get("X-Roles"); roles != "" {
			c.Roles = strings.Split(roles, ",")
		}
		svc.ServeHTTP(w, r.WithContext(policy.WithCaller(r.Context(), c)))
	}))
	t.Cleanup(srv.Close)
	return &env{t: t, st: st, srv: srv}
}

type resp struct {
	code int
	body map[string]any
	raw  string
}

func (e *env) do(method, path, project, roles string, body any) resp {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, e.srv.URL+path, rd)
	req.Header.Set("X-Project-Id", project)
	req.Header.Set("X-Roles", roles)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := resp{code: res.StatusCode, raw: string(raw)}
	_ = json.Unmarshal(raw, &out.body)
	return out
}

func (e *env) admin(method, path string, body any) resp {
	return e.do(method, path, "adm", "admin", body)
}

func (e *env) must(r resp, code int) map[string]any {
	e.t.Helper()
	if r.code != code {
		e.t.Fatalf("got %d, want %d: %s", r.code, code, r.raw)
	}
	return r.body
}

func field(m map[string]any, wrapper, key string) string {
	v, _ := m[wrapper].(map[string]any)[key].(string)
	return v
}

func wantNeutronError(t *testing.T, r resp, code int, typ, msgPart string) {
	t.Helper()
	ne, _ := r.body["NeutronError"].(map[string]any)
	if r.code != code || ne == nil || ne["type"] != typ || !strings.Contains(ne["message"].(string), msgPart) {
		t.Errorf("got %d %s, want %d %s containing %q", r.code, r.raw, code, typ, msgPart)
	}
}

func TestNetworksSubnetsPortsScenario(t *testing.T) {
	e := newEnv(t, network.Options{AnyAddress: true}) // IPv6 subnets too
	if r := e.do("GET", "/networking/", "", "", nil); r.code != 200 || !strings.Contains(r.raw, "/networking/v2.0/") {
		t.Fatalf("version document: %d %s", r.code, r.raw)
	}
	net := field(e.must(e.admin("POST", "/networking/v2.0/networks", map[string]any{"network": map[string]any{"name": "n1", "shared": true}}), 201), "network", "id")
	sub := field(e.must(e.admin("POST", "/networking/v2.0/subnets", map[string]any{"subnet": map[string]any{
		"network_id": net, "cidr": "127.30.0.0/29", "ip_version": 4, "name": "s1", "gateway_ip": "127.30.0.1"}}), 201), "subnet", "id")
	b := e.must(e.admin("POST", "/v2.0/subnets", map[string]any{"subnet": map[string]any{
		"network_id": net, "cidr": "fd00:30::/64", "ip_version": 6, "name": "s6"}}), 201)
	if b["subnet"].(map[string]any)["gateway_ip"] != "fd00:30::1" {
		t.Errorf("v6 subnet: %v", b)
	}
	wantNeutronError(t, e.admin("POST", "/v2.0/subnets", map[string]any{"subnet": map[string]any{"network_id": net, "cidr": "127.30.0.0/24", "ip_version": 4}}),
		400, "InvalidInput", "overlaps with another subnet")
	wantNeutronError(t, e.admin("POST", "/v2.0/subnets", map[string]any{"subnet": map[string]any{"network_id": net, "cidr": "127.31.0.0/24", "ip_version": 6}}),
		400, "HTTPBadRequest", "does not match ip_version")

	// Filters by name, id and network_id; lists are exact-match.
	for _, q := range []string{"name=s1", "id=" + sub, "network_id=" + net + "&ip_version=4"} {
		r := e.must(e.admin("GET", "/v2.0/subnets?"+q, nil), 200)
		if list := r["subnets"].([]any); len(list) != 1 || list[0].(map[string]any)["id"] != sub {
			t.Errorf("?%s: %v", q, r)
		}
	}
	if r := e.must(e.admin("GET", "/v2.0/subnets?name=s", nil), 200); len(r["subnets"].([]any)) != 0 {
		t.Errorf("prefix matched: %v", r)
	}

	// IPAM, step by step on a /29: pool 127.30.0.2-6.
	port := func(body map[string]any) resp {
		body["network_id"] = net
		return e.admin("POST", "/v2.0/ports", map[string]any{"port": body})
	}
	ip := func(r resp) string {
		return r.body["port"].(map[string]any)["fixed_ips"].([]any)[0].(map[string]any)["ip_address"].(string)
	}
	p1 := port(map[string]any{"name": "p1"})
	if ip(p1) != "127.30.0.2" {
		t.Errorf("first port got %s, want the lowest pool address", ip(p1))
	}
	p5 := port(map[string]any{"fixed_ips": []any{map[string]any{"subnet_id": sub, "ip_address": "127.30.0.5"}}})
	if ip(p5) != "127.30.0.5" {
		t.Errorf("requested address: %s", p5.raw)
	}
	wantNeutronError(t, port(map[string]any{"fixed_ips": []any{map[string]any{"ip_address": "127.30.0.5"}}}), 409, "IpAddressAlreadyAllocated", "127.30.0.5")
	wantNeutronError(t, port(map[string]any{"fixed_ips": []any{map[string]any{"subnet_id": sub, "ip_address": "10.0.0.1"}}}), 400, "HTTPBadRequest", "not a valid IP")
	if got := ip(port(map[string]any{})); got != "127.30.0.3" {
		t.Errorf("third port got %s, want 127.30.0.3", got)
	}
	p1id := p1.body["port"].(map[string]any)["id"].(string)
	e.must(e.admin("DELETE", "/v2.0/ports/"+p1id, nil), 204)
	// A released address comes back only once every address never used
	// has been handed out.
	if got := ip(port(map[string]any{})); got != "127.30.0.4" {
		t.Errorf("after a release: got %s, want 127.30.0.4 (never used) before 127.30.0.2 (released)", got)
	}
	if r := e.must(e.admin("GET", "/v2.0/ports?fixed_ips=subnet_id%3D"+sub, nil), 200); len(r["ports"].([]any)) != 3 {
		t.Errorf("ports on subnet: %d", len(r["ports"].([]any)))
	}
	if got := ip(port(map[string]any{})); got != "127.30.0.6" {
		t.Errorf("got %s, want 127.30.0.6, the last never used", got)
	}
	if got := ip(port(map[string]any{})); got != "127.30.0.2" {
		t.Errorf("got %s, want the released 127.30.0.2 once nothing else is free", got)
	}
	wantNeutronError(t, port(map[string]any{"fixed_ips": []any{map[string]any{"subnet_id": sub}}}), 409, "IpAddressGenerationFailure", "No more IP addresses")

	// In-use deletes.
	wantNeutronError(t, e.admin("DELETE", "/v2.0/subnets/"+sub, nil), 409, "SubnetInUse", "One or more ports have an IP allocation from this subnet")
	wantNeutronError(t, e.admin("DELETE", "/v2.0/networks/"+net, nil), 409, "NetworkInUse", "There are one or more ports still in use on the network")
	wantNeutronError(t, e.admin("GET", "/v2.0/networks/nope", nil), 404, "NetworkNotFound", "Network nope could not be found.")

	// Another project sees the shared network and its subnets but not the ports.
	if r := e.must(e.do("GET", "/v2.0/subnets?name=s1", "other", "member", nil), 200); len(r["subnets"].([]any)) != 1 {
		t.Errorf("shared subnet not visible to another project: %v", r)
	}
	if r := e.must(e.do("GET", "/v2.0/ports", "other", "member", nil), 200); len(r["ports"].([]any)) != 0 {
		t.Errorf("other project sees admin ports: %v", r)
	}
	wantNeutronError(t, e.do("DELETE", "/v2.0/networks/"+net, "other", "member", nil), 403, "PolicyNotAuthorized", "(rule:delete_network) is disallowed by policy")

	r := e.must(e.admin("GET", "/v2.0/ports", nil), 200)
	for _, p := range r["ports"].([]any) {
		e.must(e.admin("DELETE", "/v2.0/ports/"+p.(map[string]any)["id"].(string), nil), 204)
	}
	e.must(e.admin("DELETE", "/v2.0/subnets/"+sub, nil), 204)
	e.must(e.admin("DELETE", "/v2.0/networks/"+net, nil), 204) // takes the v6 subnet with it
	if r := e.must(e.admin("GET", "/v2.0/subnets", nil), 200); len(r["subnets"].([]any)) != 0 {
		t.Errorf("subnets left: %v", r)
	}
}

func TestFloatingIPsAndQoS(t *testing.T) {
	e := newEnv(t, network.Options{})
	ctx := context.Background()
	adm, err := network.Bootstrap(ctx, e.st, "adm", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if again, err := network.Bootstrap(ctx, e.st, "adm", time.Now()); err != nil || again != adm {
		t.Fatalf("bootstrap not idempotent: %s %v", again, err)
	}
	nets := e.must(e.admin("GET", "/v2.0/networks?router:external=true", nil), 200)["networks"].([]any)
	if len(nets) != 1 || nets[0].(map[string]any)["name"] != "public" {
		t.Fatalf("external networks: %v", nets)
	}
	public := nets[0].(map[string]any)["id"].(string)
	private := e.must(e.admin("GET", "/v2.0/networks?name=private", nil), 200)["networks"].([]any)[0].(map[string]any)["id"].(string)
	port := e.must(e.do("POST", "/v2.0/ports", "demo", "member", map[string]any{"port": map[string]any{"network_id": private}}), 201)["port"].(map[string]any)
	fip := e.must(e.do("POST", "/v2.0/floatingips", "demo", "member", map[string]any{"floatingip": map[string]any{"floating_network_id": public}}), 201)["floatingip"].(map[string]any)
	if fip["floating_ip_address"] != "127.20.0.2" || fip["port_id"] != nil || fip["status"] != "DOWN" {
		t.Errorf("floating ip: %v", fip)
	}
	wantNeutronError(t, e.do("POST", "/v2.0/floatingips", "demo", "member", map[string]any{"floatingip": map[string]any{"floating_network_id": private}}), 400, "HTTPBadRequest", "not a valid external network")
	// The port holding the floating address is the floating IP's while it lives.
	fport := e.must(e.admin("GET", "/v2.0/ports?device_owner=network:floatingip", nil), 200)["ports"].([]any)[0].(map[string]any)["id"].(string)
	wantNeutronError(t, e.admin("DELETE", "/v2.0/ports/"+fport, nil), 409, "ServicePortInUse", "has device owner network:floatingip")
	wantNeutronError(t, e.admin("PUT", "/v2.0/ports/"+fport, map[string]any{"port": map[string]any{"fixed_ips": []any{}}}), 409, "ServicePortInUse", "cannot be updated")
	if r := e.must(e.do("GET", "/v2.0/ports", "demo", "member", nil), 200); len(r["ports"].([]any)) != 1 {
		t.Errorf("a member sees ports beyond its own: %v", r)
	}
	up := e.must(e.do("PUT", "/v2.0/floatingips/"+fip["id"].(string), "demo", "member", map[string]any{"floatingip": map[string]any{"port_id": port["id"]}}), 200)["floatingip"].(map[string]any)
	if up["port_id"] != port["id"] || up["fixed_ip_address"] != "127.10.0.2" || up["status"] != "ACTIVE" {
		t.Errorf("associate: %v", up)
	}
	var addrs []string
	_ = e.st.View(ctx, func(tx store.Tx) error {
		addrs, err = network.FloatingAddresses(ctx, tx, port["id"].(string))
		return err
	})
	if len(addrs) != 1 || addrs[0] != "127.20.0.2" {
		t.Errorf("floating addresses of the port: %v", addrs)
	}
	down := e.must(e.do("PUT", "/v2.0/floatingips/"+fip["id"].(string), "demo", "member", map[string]any{"floatingip": map[string]any{"port_id": nil}}), 200)["floatingip"].(map[string]any)
	if down["port_id"] != nil || down["status"] != "DOWN" {
		t.Errorf("disassociate: %v", down)
	}
	e.must(e.do("DELETE", "/v2.0/floatingips/"+fip["id"].(string), "demo", "member", nil), 204)
	if r := e.must(e.admin("GET", "/v2.0/ports?device_owner=network:floatingip", nil), 200); len(r["ports"].([]any)) != 0 {
		t.Errorf("floating ip port left behind: %v", r)
	}

	// QoS policies are made by admins (for a project, here), used by that project.
	wantNeutronError(t, e.do("POST", "/v2.0/qos/policies", "demo", "member", map[string]any{"policy": map[string]any{"name": "gold"}}), 403, "PolicyNotAuthorized", "(rule:create_policy)")
	q := e.must(e.admin("POST", "/v2.0/qos/policies", map[string]any{"policy": map[string]any{"name": "gold", "description": "d", "project_id": "demo"}}), 201)["policy"].(map[string]any)
	e.must(e.do("PUT", "/v2.0/ports/"+port["id"].(string), "demo", "member", map[string]any{"port": map[string]any{"qos_policy_id": q["id"]}}), 200)
	wantNeutronError(t, e.admin("DELETE", "/v2.0/qos/policies/"+q["id"].(string), nil), 409, "QosPolicyInUse", "is used by port")
	wantNeutronError(t, e.do("GET", "/v2.0/qos/policies/"+q["id"].(string), "other", "member", nil), 404, "QosPolicyNotFound", "could not be found")
	e.must(e.do("DELETE", "/v2.0/ports/"+port["id"].(string), "demo", "member", nil), 204)
	wantNeutronError(t, e.do("DELETE", "/v2.0/qos/policies/"+q["id"].(string), "demo", "member", nil), 403, "PolicyNotAuthorized", "(rule:delete_policy)")
	e.must(e.admin("DELETE", "/v2.0/qos/policies/"+q["id"].(string), nil), 204)
}

func TestVIPAllocation(t *testing.T) {
	e := newEnv(t, network.Options{})
	ctx := context.Background()
	subnet, err := network.Bootstrap(ctx, e.st, "adm", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	vips := network.NewVIPs(e.st, nil)
	mk := func(id string, vip lb.VIP) (*lb.LoadBalancer, error) {
		l := &lb.LoadBalancer{ID: id, ProjectID: "demo", VIP: vip}
		err := e.st.Update(ctx, func(tx store.Tx) error { return vips.Allocate(ctx, tx, l) })
		return l, err
	}
	l1, err := mk("lb1", lb.VIP{SubnetID: subnet})
	if err != nil || l1.VIP.Address != "127.10.0.2" || l1.VIP.PortID == "" || l1.VIP.NetworkID == "" {
		t.Fatalf("first VIP: %+v %v", l1.VIP, err)
	}
	l2, err := mk("lb2", lb.VIP{SubnetID: subnet, Address: "127.10.3.4"})
	if err != nil || l2.VIP.Address != "127.10.3.4" {
		t.Fatalf("requested VIP: %+v %v", l2.VIP, err)
	}
	var conflict *lb.ConflictError
	if _, err := mk("lb3", lb.VIP{SubnetID: subnet, Address: "127.10.3.4"}); !errors.As(err, &conflict) {
		t.Errorf("VIP in use: got %v, want an lb.ConflictError", err)
	}
	var ve *lb.ValidationError
	for name, vip := range map[string]lb.VIP{
		"missing subnet":  {SubnetID: "nope"},
		"missing network": {NetworkID: "nope"},
		"missing port":    {PortID: "nope"},
		"missing qos":     {SubnetID: subnet, QoSPolicyID: "nope"},
		"address outside": {SubnetID: subnet, Address: "10.1.1.1"},
		"nothing":         {},
	} {
		if _, err := mk("bad", vip); !errors.As(err, &ve) {
			t.Errorf("%s: got %v, want a ValidationError", name, err)
		}
	}
	if _, err := mk("bad", lb.VIP{SubnetID: "nope"}); err == nil || err.Error() != "Subnet nope not found." {
		t.Errorf("missing subnet message: %v", err)
	}
	// By network: the subnet is picked.
	l4, err := mk("lb4", lb.VIP{NetworkID: l1.VIP.NetworkID})
	if err != nil || l4.VIP.SubnetID != subnet || l4.VIP.Address != "127.10.0.3" {
		t.Errorf("by network: %+v %v", l4.VIP, err)
	}
	// Concurrent allocations never share an address.
	var wg sync.WaitGroup
	var mu sync.Mutex
	seen := map[string]bool{}
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			l, err := mk("c"+string(rune('a'+i)), lb.VIP{SubnetID: subnet})
			if err != nil {
				t.Errorf("concurrent allocate: %v", err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if seen[l.VIP.Address] {
				t.Errorf("address %s handed out twice", l.VIP.Address)
			}
			seen[l.VIP.Address] = true
		}(i)
	}
	wg.Wait()
	// Release frees the port and the address; the subnet can then go once
	// every VIP is released.
	if err := e.st.Update(ctx, func(tx store.Tx) error { return vips.LoadBalancerDeleted(ctx, tx, l1) }); err != nil {
		t.Fatal(err)
	}
	l5, err := mk("lb5", lb.VIP{SubnetID: subnet})
	if err != nil || l5.VIP.Address == l1.VIP.Address || seen[l5.VIP.Address] {
		t.Errorf("the next VIP took a released or used address: %+v %v", l5.VIP, err)
	}
	// The released address can still be asked for.
	if l6, err := mk("lb6", lb.VIP{SubnetID: subnet, Address: l1.VIP.Address}); err != nil || l6.VIP.Address != l1.VIP.Address {
		t.Errorf("asking for a released address: %+v %v", l6.VIP, err)
	}
	// A user-supplied port is adopted and, on release, unbound but kept.
	p := e.must(e.admin("POST", "/v2.0/ports", map[string]any{"port": map[string]any{"network_id": l1.VIP.NetworkID}}), 201)["port"].(map[string]any)
	// ... but only by its own project (or an admin), shared network or not.
	other := policy.WithCaller(ctx, policy.Caller{ProjectID: "other", Roles: []string{"member"}})
	err = e.st.Update(other, func(tx store.Tx) error {
		return vips.Allocate(other, tx, &lb.LoadBalancer{ID: "stolen", ProjectID: "other", VIP: lb.VIP{PortID: p["id"].(string)}})
	})
	if !errors.As(err, &ve) || !strings.Contains(err.Error(), "not found") {
		t.Errorf("another project adopting the port: got %v, want a ValidationError", err)
	}
	l6, err := mk("lb6", lb.VIP{PortID: p["id"].(string)})
	if err != nil || l6.VIP.SubnetID != subnet || l6.VIP.Address == "" {
		t.Fatalf("adopt port: %+v %v", l6.VIP, err)
	}
	if _, err := mk("lb7", lb.VIP{PortID: p["id"].(string)}); !errors.As(err, &ve) {
		t.Errorf("port used twice: %v", err)
	}
	if err := e.st.Update(ctx, func(tx store.Tx) error { return vips.Release(ctx, tx, l6) }); err != nil {
		t.Fatal(err)
	}
	got := e.must(e.admin("GET", "/v2.0/ports/"+p["id"].(string), nil), 200)["port"].(map[string]any)
	if got["device_id"] != "" {
		t.Errorf("adopted port not unbound: %v", got)
	}
}

// TestRoutingFaults: misses are answered in Neutron's fault format, with
// the methods a path allows; /networking and ".json" are optional.
func TestRoutingFaults(t *testing.T) {
	e := newEnv(t, network.Options{})
	wantNeutronError(t, e.admin("GET", "/networking/v2.0/nothing", nil), 404, "HTTPNotFound", "The resource could not be found.")
	r := e.admin("PATCH", "/networking/v2.0/networks", nil)
	wantNeutronError(t, r, 405, "HTTPMethodNotAllowed", "PATCH is not allowed")
	req, _ := http.NewRequest("PATCH", e.srv.URL+"/v2.0/networks/x", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if got := res.Header.Get("Allow"); got != "GET, PUT, DELETE" {
		t.Errorf("Allow: %q", got)
	}
	for _, path := range []string{"/networking/v2.0/networks.json", "/v2.0/networks", "/networking/v2.0/networks"} {
		if r := e.admin("GET", path, nil); r.code != 200 || r.body["networks"] == nil {
			t.Errorf("GET %s: %d %s", path, r.code, r.raw)
		}
	}
	if r := e.admin("GET", "/networking/v2.0/", nil); r.code != 200 || !strings.Contains(r.raw, `"collection":"networks"`) {
		t.Errorf("resources: %d %s", r.code, r.raw)
	}
}
