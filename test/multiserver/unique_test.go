package multiserver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// uniqueRace sends the same request through every server at once, twice
// each, and returns the answers (status and body) in server order.
func uniqueRace(t *testing.T, c *cluster, tok, method, path string, body any) []reply {
	t.Helper()
	const perServer = 2
	n := perServer * len(c.servers)
	out := make([]reply, n)
	raw, _ := json.Marshal(body)
	hc := &http.Client{Timeout: 30 * time.Second}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := c.servers[i%len(c.servers)]
			var rd io.Reader
			if body != nil {
				rd = bytes.NewReader(raw)
			}
			req, _ := http.NewRequest(method, s.url()+path, rd)
			req.Header.Set("X-Auth-Token", tok)
			req.Header.Set("Content-Type", "application/json")
			<-start
			resp, err := hc.Do(req)
			if err != nil {
				t.Errorf("%s %s through %s: %v", method, path, s.name, err)
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			out[i] = reply{code: resp.StatusCode, raw: b}
		}()
	}
	close(start)
	wg.Wait()
	return out
}

// uniqueCount lists path through server i and returns how many objects
// the list under key holds.
func uniqueCount(t *testing.T, c *cluster, tok string, i int, path, key string) int {
	t.Helper()
	code, body := authed(t, tok, "GET", c.servers[i%len(c.servers)].url()+path, nil)
	var list map[string]json.RawMessage
	if code != 200 || json.Unmarshal(body, &list) != nil {
		t.Fatalf("GET %s: %d %s", path, code, body)
	}
	var items []json.RawMessage
	if err := json.Unmarshal(list[key], &items); err != nil {
		t.Fatalf("GET %s: no list %q: %s", path, key, body)
	}
	return len(items)
}

// mustID posts body to path through server 0 and returns the new
// object's id (under key).
func mustID(t *testing.T, c *cluster, tok, path, key string, body any) string {
	t.Helper()
	code, b := authed(t, tok, "POST", c.servers[0].url()+path, body)
	var r map[string]map[string]any
	if code != 201 || json.Unmarshal(b, &r) != nil {
		t.Fatalf("POST %s: %d %s", path, code, b)
	}
	id, _ := r[key]["id"].(string)
	if id == "" {
		t.Fatalf("POST %s: no id: %s", path, b)
	}
	return id
}

// TestUniqueNamesExactAcrossServers: for every name the API keeps unique
// — Octavia flavors and availability zones; Keystone domains, projects
// and users (per domain) and roles; a Neutron security group rule (its
// protocol, ports and remote per group); a Keystone grant (PUT, which is
// idempotent) — the same create sent at once through three servers on one
// PostgreSQL, twice each, for several rounds, yields exactly one 201 and
// 409s that say what is taken (never a 500, never two rows); the grant's
// PUTs all answer 204 and leave one assignment.
func TestUniqueNamesExactAcrossServers(t *testing.T) {
	c := newCluster(t, 3, "--auth", "keystone", "--embedded-agent=false")
	tok := adminToken(t, c.servers[0].url(), c.servers[0].proc.DataDir)
	const rounds = 4

	fp := mustID(t, c, tok, "/v2/lbaas/flavorprofiles", "flavorprofile", map[string]any{"flavorprofile": map[string]any{
		"name": "fp", "provider_name": "noop", "flavor_data": "{}"}})
	azp := mustID(t, c, tok, "/v2/lbaas/availabilityzoneprofiles", "availability_zone_profile", map[string]any{"availability_zone_profile": map[string]any{
		"name": "azp", "provider_name": "noop", "availability_zone_data": "{}"}})
	sg := mustID(t, c, tok, "/networking/v2.0/security-groups", "security_group", map[string]any{"security_group": map[string]any{"name": "unique-race"}})

	kinds := []struct {
		what string
		path string
		body func(name string, round int) any
		// list counts the rows the creates made.
		list, key string
		// said: a 409 must contain it (the name, or what is taken).
		said func(name string) string
	}{
		{"flavor", "/v2/lbaas/flavors",
			func(name string, _ int) any {
				return map[string]any{"flavor": map[string]any{"name": name, "flavor_profile_id": fp}}
			},
			"/v2/lbaas/flavors?name=%s", "flavors", func(name string) string { return name }},
		{"availability zone", "/v2/lbaas/availabilityzones",
			func(name string, _ int) any {
				return map[string]any{"availability_zone": map[string]any{"name": name, "availability_zone_profile_id": azp}}
			},
			"/v2/lbaas/availabilityzones?name=%s", "availability_zones", func(name string) string { return name }},
		{"domain", "/identity/v3/domains",
			func(name string, _ int) any { return map[string]any{"domain": map[string]any{"name": name}} },
			"/identity/v3/domains?name=%s", "domains", func(name string) string { return name }},
		{"project", "/identity/v3/projects",
			func(name string, _ int) any {
				return map[string]any{"project": map[string]any{"name": name, "domain_id": "default"}}
			},
			"/identity/v3/projects?name=%s", "projects", func(name string) string { return name }},
		{"user", "/identity/v3/users",
			func(name string, _ int) any {
				return map[string]any{"user": map[string]any{"name": name, "domain_id": "default", "password": "secret-" + name}}
			},
			"/identity/v3/users?name=%s", "users", func(name string) string { return name }},
		{"role", "/identity/v3/roles",
			func(name string, _ int) any { return map[string]any{"role": map[string]any{"name": name}} },
			"/identity/v3/roles?name=%s", "roles", func(name string) string { return name }},
		{"security group rule", "/networking/v2.0/security-group-rules",
			func(_ string, round int) any {
				return map[string]any{"security_group_rule": map[string]any{"security_group_id": sg, "direction": "ingress",
					"ethertype": "IPv4", "protocol": "tcp", "port_range_min": 8000 + round, "port_range_max": 8000 + round}}
			},
			"", "", func(string) string { return "Security group rule already exists" }},
	}
	for _, k := range kinds {
		for round := range rounds {
			name := fmt.Sprintf("race-%s-%d", strings.ReplaceAll(k.what, " ", "-"), round)
			answers := uniqueRace(t, c, tok, "POST", k.path, k.body(name, round))
			created := 0
			for i, a := range answers {
				switch {
				case a.code == 201:
					created++
				case a.code == 409:
					if !strings.Contains(string(a.raw), k.said(name)) {
						t.Errorf("%s %s, answer %d: the 409 does not say what is taken (%q): %s", k.what, name, i, k.said(name), a.raw)
					}
				default:
					t.Errorf("%s %s, answer %d: %d %s, want 201 or 409", k.what, name, i, a.code, a.raw)
				}
			}
			if created != 1 {
				t.Errorf("%s %s: %d creates answered 201 through three servers, want 1", k.what, name, created)
			}
			var n int
			if k.list != "" {
				n = uniqueCount(t, c, tok, round, fmt.Sprintf(k.list, url.QueryEscape(name)), k.key)
			} else {
				n = uniqueCount(t, c, tok, round, fmt.Sprintf("/networking/v2.0/security-group-rules?security_group_id=%s&port_range_min=%d", sg, 8000+round), "security_group_rules")
			}
			if n != 1 {
				t.Errorf("%s %s: %d rows stored, want 1", k.what, name, n)
			}
		}
	}

	// A grant is a PUT: every racing PUT answers 204 and one assignment
	// is stored.
	user := mustID(t, c, tok, "/identity/v3/users", "user", map[string]any{"user": map[string]any{"name": "grantee", "domain_id": "default"}})
	for round := range rounds {
		project := mustID(t, c, tok, "/identity/v3/projects", "project", map[string]any{"project": map[string]any{"name": fmt.Sprintf("grants-%d", round), "domain_id": "default"}})
		role := mustID(t, c, tok, "/identity/v3/roles", "role", map[string]any{"role": map[string]any{"name": fmt.Sprintf("granted-%d", round)}})
		for i, a := range uniqueRace(t, c, tok, "PUT", "/identity/v3/projects/"+project+"/users/"+user+"/roles/"+role, nil) {
			if a.code != 204 {
				t.Errorf("grant round %d, answer %d: %d %s, want 204", round, i, a.code, a.raw)
			}
		}
		if n := uniqueCount(t, c, tok, round, "/identity/v3/role_assignments?user.id="+user+"&scope.project.id="+project, "role_assignments"); n != 1 {
			t.Errorf("grant round %d: %d assignments stored, want 1", round, n)
		}
	}
}
