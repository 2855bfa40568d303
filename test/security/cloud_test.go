package security

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/servertest"
)

// cloud is a running `fulcrum server` with the Keystone subset and a way to
// act as the bootstrap admin or as users made for the test.
type cloud struct {
	t     *testing.T
	s     *servertest.Server
	admin *session
}

// newCloud starts a server (extra flags appended) and logs in as admin with
// the password bootstrap wrote to clouds.yaml.
func newCloud(t *testing.T, extra ...string) *cloud {
	t.Helper()
	s := servertest.Start(t, bin, "", extra...)
	raw, err := os.ReadFile(filepath.Join(s.DataDir, "clouds.yaml"))
	if err != nil {
		t.Fatalf("clouds.yaml: %v", err)
	}
	m := regexp.MustCompile(`(?m)^\s*password: "(.*)"$`).FindSubmatch(raw)
	if m == nil {
		t.Fatalf("no password in clouds.yaml:\n%s", raw)
	}
	c := &cloud{t: t, s: s}
	c.admin = c.login(t, "admin", string(m[1]), "admin")
	return c
}

// session is a caller holding a project-scoped token.
type session struct {
	base    string
	token   string
	project string // project id the token is scoped to
	user    string // user id
	hc      *http.Client
}

// login issues a project-scoped token for user in project (both by name, in
// the Default domain).
func (c *cloud) login(t *testing.T, user, password, project string) *session {
	t.Helper()
	body := map[string]any{"auth": map[string]any{
		"identity": map[string]any{"methods": []string{"password"}, "password": map[string]any{"user": map[string]any{
			"name": user, "password": password, "domain": map[string]any{"name": "Default"}}}},
		"scope": map[string]any{"project": map[string]any{"name": project, "domain": map[string]any{"name": "Default"}}},
	}}
	s := &session{base: c.s.URL, hc: &http.Client{Timeout: 30 * time.Second}}
	r := s.do(t, "POST", "/identity/v3/auth/tokens", body, nil)
	if r.code != http.StatusCreated {
		t.Fatalf("login %s@%s: %d %s", user, project, r.code, r.raw)
	}
	s.token = r.header.Get("X-Subject-Token")
	tok, _ := r.body["token"].(map[string]any)
	s.project = str(tok, "project", "id")
	s.user = str(tok, "user", "id")
	return s
}

// user makes a project (if it does not exist yet), a user in it holding
// roles there, and returns that user's session.
func (c *cloud) user(t *testing.T, project, name string, roles ...string) *session {
	t.Helper()
	a := c.admin
	var projectID string
	if r := a.call(t, "GET", "/identity/v3/projects?name="+project, nil); r.code == 200 {
		if list, _ := r.body["projects"].([]any); len(list) == 1 {
			projectID = str(list[0].(map[string]any), "id")
		}
	}
	if projectID == "" {
		r := a.must(t, "POST", "/identity/v3/projects", map[string]any{"project": map[string]any{"name": project, "domain_id": "default"}}, 201)
		projectID = str(r.body, "project", "id")
	}
	password := "pw-" + name
	r := a.must(t, "POST", "/identity/v3/users", map[string]any{"user": map[string]any{
		"name": name, "password": password, "domain_id": "default", "default_project_id": projectID}}, 201)
	userID := str(r.body, "user", "id")
	for _, role := range roles {
		rr := a.must(t, "GET", "/identity/v3/roles?name="+role, nil, 200)
		list, _ := rr.body["roles"].([]any)
		if len(list) != 1 {
			t.Fatalf("role %s: %s", role, rr.raw)
		}
		roleID := str(list[0].(map[string]any), "id")
		a.must(t, "PUT", "/identity/v3/projects/"+projectID+"/users/"+userID+"/roles/"+roleID, nil, 204)
	}
	return c.login(t, name, password, project)
}

// reply is one HTTP answer, decoded when it is a JSON object.
type reply struct {
	code   int
	body   map[string]any
	raw    []byte
	header http.Header
}

// call sends a request with the session's token; a transport error fails
// the test.
func (s *session) call(t *testing.T, method, path string, body any) reply {
	t.Helper()
	return s.do(t, method, path, body, nil)
}

// must is call that fails the test unless the status is want.
func (s *session) must(t *testing.T, method, path string, body any, want int) reply {
	t.Helper()
	r := s.call(t, method, path, body)
	if r.code != want {
		t.Fatalf("%s %s: %d, want %d: %s", method, path, r.code, want, r.raw)
	}
	return r
}

func (s *session) do(t *testing.T, method, path string, body any, hdr http.Header) reply {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if s.token != "" {
		req.Header.Set("X-Auth-Token", s.token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := s.hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := reply{code: resp.StatusCode, raw: raw, header: resp.Header}
	if len(raw) > 0 && raw[0] == '{' {
		_ = json.Unmarshal(raw, &r.body)
	}
	return r
}

// waitLB polls a load balancer until its provisioning status is want.
func (s *session) waitLB(t *testing.T, id, want string, timeout time.Duration) map[string]any {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last reply
	for time.Now().Before(deadline) {
		last = s.call(t, "GET", "/v2/lbaas/loadbalancers/"+id, nil)
		if last.code == 200 && str(last.body, "loadbalancer", "provisioning_status") == want {
			return last.body["loadbalancer"].(map[string]any)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("load balancer %s not %s in %s: %d %s", id, want, timeout, last.code, last.raw)
	return nil
}

// str walks nested objects by key and returns the string at the end ("" if
// any step is missing).
func str(m map[string]any, keys ...string) string {
	var cur any = m
	for _, k := range keys {
		o, ok := cur.(map[string]any)
		if !ok {
			return ""
		}
		cur = o[k]
	}
	switch v := cur.(type) {
	case string:
		return v
	case nil:
		return ""
	default:
		return fmt.Sprint(v)
	}
}

// contains reports whether the raw body mentions every fragment.
func contains(raw []byte, frags ...string) bool {
	for _, f := range frags {
		if !strings.Contains(string(raw), f) {
			return false
		}
	}
	return true
}

func TestHarnessSeesTenantIsolationOnLoadBalancers(t *testing.T) {
	c := newCloud(t)
	alice := c.user(t, "sec-a", "alice", "member")
	bob := c.user(t, "sec-b", "bob", "member")
	r := alice.call(t, "GET", "/networking/v2.0/subnets?name=private-subnet", nil)
	list, _ := r.body["subnets"].([]any)
	if len(list) != 1 {
		t.Fatalf("private-subnet not visible to a member: %d %s", r.code, r.raw)
	}
	subnet := str(list[0].(map[string]any), "id")
	lbr := alice.must(t, "POST", "/v2/lbaas/loadbalancers", map[string]any{"loadbalancer": map[string]any{"name": "a", "vip_subnet_id": subnet}}, 201)
	id := str(lbr.body, "loadbalancer", "id")
	// Octavia loads the object, then enforces the policy with its project:
	// another project's object is 403 "Policy does not allow ...".
	if r := bob.call(t, "GET", "/v2/lbaas/loadbalancers/"+id, nil); r.code != 403 {
		t.Fatalf("another project's load balancer answered %d: %s", r.code, r.raw)
	}
	if r := bob.call(t, "DELETE", "/v2/lbaas/loadbalancers/"+id, nil); r.code != 403 {
		t.Fatalf("another project deleted a load balancer: %d %s", r.code, r.raw)
	}
	alice.waitLB(t, id, "ACTIVE", 30*time.Second)
}
