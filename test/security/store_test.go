package security

// The store's limits, tried against the real binary: a disk that fills up
// under the server, tag lists of thousands of values.

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/servertest"
)

// storeMountTmpfs mounts a tmpfs of size bytes on a new directory, unmounted
// when the test ends, also when it fails (registered before the server
// starts, so it runs after the server is killed). The tests run as root,
// here and in CI.
func storeMountTmpfs(t *testing.T, size int) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "small")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d,mode=0700", size)); err != nil {
		t.Fatalf("mount a %d-byte tmpfs on %s (the suite runs as root): %v", size, dir, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			syscall.Unmount(dir, syscall.MNT_DETACH)
		}
	})
	return dir
}

// storeFill writes path until its file system has no space left.
func storeFill(t *testing.T, path string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for i := 0; ; i++ {
		if i > 1<<14 {
			t.Fatalf("%s: wrote 1 GiB without filling the file system", path)
		}
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	for i := 0; i < len(chunk); i++ { // the last partial page
		if _, err := f.Write(chunk[:1]); err != nil {
			break
		}
	}
}

// storeCloud is newCloud on a data directory of the test's choosing.
func storeCloud(t *testing.T, dataDir string) *cloud {
	t.Helper()
	s := servertest.Start(t, bin, dataDir)
	c := &cloud{t: t, s: s}
	c.admin = storeLoginAdmin(t, c)
	return c
}

func storeLoginAdmin(t *testing.T, c *cloud) *session {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(c.s.DataDir, "clouds.yaml"))
	if err != nil {
		t.Fatalf("clouds.yaml: %v", err)
	}
	m := regexp.MustCompile(`(?m)^\s*password: "(.*)"$`).FindSubmatch(raw)
	if m == nil {
		t.Fatalf("no password in clouds.yaml:\n%s", raw)
	}
	return c.login(t, "admin", string(m[1]), "admin")
}

// storeHealth is GET /healthcheck without a token.
func storeHealth(t *testing.T, c *cloud) (int, string) {
	t.Helper()
	r := (&session{base: c.s.URL, hc: &http.Client{Timeout: 30 * time.Second}}).call(t, "GET", "/healthcheck", nil)
	return r.code, string(r.raw)
}

// storeWaitHealth polls /healthcheck until it answers code.
func storeWaitHealth(t *testing.T, c *cloud, code int, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got, body := storeHealth(t, c)
		if got == code {
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("/healthcheck answers %d %q, want %d within %s\n%s", got, body, code, timeout, c.s.Logs())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// storeUntil503 repeats a write until it answers 503 (a full disk may still
// take a few small writes); every 2xx before is acknowledged and passed to
// acked. Any other answer fails the test. It returns the 503 reply.
func storeUntil503(t *testing.T, what string, write func(i int) reply, acked func(i int, r reply)) reply {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for i := 0; ; i++ {
		r := write(i)
		switch {
		case r.code == http.StatusServiceUnavailable:
			return r
		case r.code >= 200 && r.code < 300:
			acked(i, r)
		default:
			t.Fatalf("%s #%d on a full disk: %d %s, want 2xx or 503", what, i, r.code, r.raw)
		}
		if i > 2000 || time.Now().After(deadline) {
			t.Fatalf("%s: %d writes succeeded on a full disk", what, i+1)
		}
	}
}

// TestStoreDiskFull fills the file system under a running server: writes on
// every API surface answer 503 in that surface's error format saying the
// store cannot write, /healthcheck answers 503 with the reason, reads go on;
// once space returns the server is healthy and writes again by itself, and
// every write it acknowledged — before, during and after — is there, also
// after a restart.
func TestStoreDiskFull(t *testing.T) {
	dir := storeMountTmpfs(t, 8<<20)
	c := storeCloud(t, dir)
	alice := c.user(t, "disk-a", "alice", "member")
	r := alice.must(t, "GET", "/networking/v2.0/subnets?name=private-subnet", nil, 200)
	list, _ := r.body["subnets"].([]any)
	if len(list) != 1 {
		t.Fatalf("private-subnet: %s", r.raw)
	}
	subnet := str(list[0].(map[string]any), "id")

	lbs := map[string]string{}     // acknowledged load balancer id → name
	secrets := map[string]string{} // acknowledged secret ref → payload
	createLB := func(name string) reply {
		return alice.call(t, "POST", "/v2/lbaas/loadbalancers", map[string]any{"loadbalancer": map[string]any{
			"name": name, "vip_subnet_id": subnet, "description": strings.Repeat("d", 255)}})
	}
	ackLB := func(name string, r reply) { lbs[str(r.body, "loadbalancer", "id")] = name }
	createSecret := func(payload string) reply {
		return alice.call(t, "POST", "/key-manager/v1/secrets", map[string]any{
			"name": "s", "payload": payload, "payload_content_type": "text/plain"})
	}
	ackSecret := func(payload string, r reply) { secrets[str(r.body, "secret_ref")] = payload }
	for i := range 5 {
		name := fmt.Sprintf("before-%d", i)
		r := createLB(name)
		if r.code != 201 {
			t.Fatalf("create before the fill: %d %s", r.code, r.raw)
		}
		ackLB(name, r)
		payload := fmt.Sprintf("before-%d-%s", i, strings.Repeat("p", 1000))
		r = createSecret(payload)
		if r.code != 201 {
			t.Fatalf("secret before the fill: %d %s", r.code, r.raw)
		}
		ackSecret(payload, r)
	}
	storeWaitHealth(t, c, 200, 10*time.Second)

	storeFill(t, filepath.Join(dir, "filler"))

	// The load-balancer API: Octavia's fault.
	r = storeUntil503(t, "create load balancer", func(i int) reply { return createLB(fmt.Sprintf("during-%d", i)) },
		func(i int, r reply) { ackLB(fmt.Sprintf("during-%d", i), r) })
	if str(r.body, "faultcode") != "Server" || !strings.Contains(str(r.body, "faultstring"), "store cannot write") {
		t.Errorf("load-balancer API on a full disk: %s, want Octavia's fault saying the store cannot write", r.raw)
	}
	// The quota API (the load-balancer API's quotas): Octavia's fault too.
	r = storeUntil503(t, "set quota", func(i int) reply {
		return c.admin.call(t, "PUT", "/v2/lbaas/quotas/"+alice.project, map[string]any{"quota": map[string]any{"load_balancer": 100 + i}})
	}, func(int, reply) {})
	if !strings.Contains(str(r.body, "faultstring"), "store cannot write") {
		t.Errorf("quota API on a full disk: %s", r.raw)
	}
	// The key manager: Barbican's error.
	r = storeUntil503(t, "create secret", func(i int) reply { return createSecret(fmt.Sprintf("during-%d-%s", i, strings.Repeat("p", 1000))) },
		func(i int, r reply) { ackSecret(fmt.Sprintf("during-%d-%s", i, strings.Repeat("p", 1000)), r) })
	if str(r.body, "code") != "503" || !strings.Contains(str(r.body, "description"), "store cannot write") {
		t.Errorf("key manager on a full disk: %s, want Barbican's error saying the store cannot write", r.raw)
	}
	// Identity: Keystone's error.
	r = storeUntil503(t, "create project", func(i int) reply {
		return c.admin.call(t, "POST", "/identity/v3/projects", map[string]any{"project": map[string]any{"name": fmt.Sprintf("full-%d", i), "domain_id": "default"}})
	}, func(int, reply) {})
	if str(r.body, "error", "code") != "503" || !strings.Contains(str(r.body, "error", "message"), "store cannot write") {
		t.Errorf("identity on a full disk: %s, want Keystone's error saying the store cannot write", r.raw)
	}
	// Network: Neutron's error.
	r = storeUntil503(t, "create network", func(i int) reply {
		return alice.call(t, "POST", "/networking/v2.0/networks", map[string]any{"network": map[string]any{"name": fmt.Sprintf("full-%d", i)}})
	}, func(int, reply) {})
	if !strings.Contains(str(r.body, "NeutronError", "message"), "store cannot write") {
		t.Errorf("network API on a full disk: %s, want Neutron's error saying the store cannot write", r.raw)
	}

	body := storeWaitHealth(t, c, 503, 30*time.Second)
	if !strings.Contains(body, "store cannot write") || !strings.Contains(body, "disk full") {
		t.Errorf("/healthcheck on a full disk: %q, want the reason", body)
	}
	// Reads go on.
	for id, name := range lbs {
		r := alice.must(t, "GET", "/v2/lbaas/loadbalancers/"+id, nil, 200)
		if got := str(r.body, "loadbalancer", "name"); got != name {
			t.Fatalf("load balancer %s on a full disk: name %q, want %q", id, got, name)
		}
	}

	// Space returns: the server heals without help.
	if err := os.Remove(filepath.Join(dir, "filler")); err != nil {
		t.Fatal(err)
	}
	storeWaitHealth(t, c, 200, 60*time.Second)
	for i := range 3 {
		name := fmt.Sprintf("after-%d", i)
		r := createLB(name)
		if r.code != 201 {
			t.Fatalf("create after space returned: %d %s", r.code, r.raw)
		}
		ackLB(name, r)
		payload := fmt.Sprintf("after-%d", i)
		if r = createSecret(payload); r.code != 201 {
			t.Fatalf("secret after space returned: %d %s", r.code, r.raw)
		}
		ackSecret(payload, r)
	}

	check := func(when string, s *session) {
		t.Helper()
		for id, name := range lbs {
			r := s.call(t, "GET", "/v2/lbaas/loadbalancers/"+id, nil)
			if r.code != 200 || str(r.body, "loadbalancer", "name") != name {
				t.Fatalf("%s: acknowledged load balancer %s (%s): %d %s", when, id, name, r.code, r.raw)
			}
		}
		for ref, payload := range secrets {
			u, err := url.Parse(ref)
			if err != nil {
				t.Fatal(err)
			}
			r := s.do(t, "GET", u.Path+"/payload", nil, http.Header{"Accept": {"text/plain"}})
			if r.code != 200 || string(r.raw) != payload {
				t.Fatalf("%s: acknowledged secret %s: %d %.80q, want its payload", when, ref, r.code, r.raw)
			}
		}
	}
	check("after space returned", alice)
	t.Logf("%d load balancers and %d secrets acknowledged", len(lbs), len(secrets))
	// Every acknowledged load balancer settles.
	for id := range lbs {
		alice.waitLB(t, id, "ACTIVE", 60*time.Second)
	}

	c.s.Restart()
	c.admin = storeLoginAdmin(t, c)
	check("after a restart", c.login(t, "alice", "pw-alice", "disk-a"))
	storeWaitHealth(t, c, 200, 10*time.Second)
}

// storeValues is n made-up values with the real ones at the end.
func storeValues(n int, prefix string, real ...string) []string {
	out := make([]string, 0, n)
	for i := 0; len(out) < n-len(real); i++ {
		out = append(out, fmt.Sprintf("%s%d", prefix, i))
	}
	return append(out, real...)
}

// TestStoreLongFilterLists: tag filters with thousands of values on the
// load-balancer API, and a network filter repeated a thousand times, answer
// like short ones (they were 500: SQLite's expression depth limit).
func TestStoreLongFilterLists(t *testing.T) {
	c := newCloud(t)
	alice := c.user(t, "tags-a", "alice", "member")
	r := alice.must(t, "GET", "/networking/v2.0/subnets?name=private-subnet", nil, 200)
	list, _ := r.body["subnets"].([]any)
	if len(list) != 1 {
		t.Fatalf("private-subnet: %s", r.raw)
	}
	subnet := str(list[0].(map[string]any), "id")
	byTags := map[string]string{}
	for name, tags := range map[string][]string{"red": {"red"}, "blue": {"blue"}, "both": {"red", "blue"}, "none": {}} {
		r := alice.must(t, "POST", "/v2/lbaas/loadbalancers", map[string]any{"loadbalancer": map[string]any{
			"name": name, "vip_subnet_id": subnet, "tags": tags, "provider": "noop"}}, 201)
		byTags[str(r.body, "loadbalancer", "id")] = name
	}
	names := func(r reply) []string {
		var out []string
		items, _ := r.body["loadbalancers"].([]any)
		for _, it := range items {
			out = append(out, str(it.(map[string]any), "name"))
		}
		return out
	}
	for _, n := range []int{1000, 5000} {
		cases := []struct {
			param string
			list  []string
			want  []string
		}{
			{"tags", storeValues(n, "x", "red"), nil},
			{"tags", strings.Split(strings.Repeat("red,", n-1)+"red", ","), []string{"both", "red"}},
			{"tags-any", storeValues(n, "x", "red", "blue"), []string{"blue", "both", "red"}},
			{"not-tags", storeValues(n, "x", "red"), []string{"blue", "both", "none", "red"}},
			{"not-tags-any", storeValues(n, "x", "red"), []string{"blue", "none"}},
		}
		for _, tc := range cases {
			r := alice.call(t, "GET", "/v2/lbaas/loadbalancers?sort=name:asc&"+tc.param+"="+url.QueryEscape(strings.Join(tc.list, ",")), nil)
			if r.code != 200 {
				t.Errorf("%s with %d values: %d %.300s", tc.param, len(tc.list), r.code, r.raw)
				continue
			}
			if got := names(r); strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("%s with %d values: %v, want %v", tc.param, len(tc.list), got, tc.want)
			}
		}
	}
	// Neutron: a repeated filter matches any of its values.
	q := url.Values{"name": storeValues(1000, "nope", "private")}
	r = alice.call(t, "GET", "/networking/v2.0/networks?"+q.Encode(), nil)
	nets, _ := r.body["networks"].([]any)
	if r.code != 200 || len(nets) != 1 {
		t.Errorf("networks with name repeated 1,000 times: %d %.300s, want 200 and the private network", r.code, r.raw)
	}
}
