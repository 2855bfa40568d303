// Package dashboard drives the web dashboard of a real `fulcrum server` in
// headless Chromium over the DevTools protocol: log in, run the create
// wizard against real backends, watch traffic counters move, read the
// status tree, delete; hostile names render as text; readers see no write
// controls. Every page is checked for console errors.
package dashboard

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/servertest"
)

var (
	bin    string   // the fulcrum binary built for this run
	chrome *browser // one browser; every test opens pages in contexts of their own
)

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		fmt.Println("test/dashboard: skipped under -short: needs chromium; test/run runs it")
		os.Exit(0)
	}
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, cleanup, err := servertest.TempDir()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer cleanup()
	if bin, err = servertest.Binary(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	browserDir := filepath.Join(dir, "chromium")
	if err := os.Mkdir(browserDir, 0o700); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if chrome, err = startBrowser(browserDir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer chrome.close()
	return m.Run()
}

// cloud is a running server with the Keystone subset and the bootstrap
// admin's password.
type cloud struct {
	s             *servertest.Server
	adminPassword string
	admin         *apiSession
}

func newCloud(t *testing.T) *cloud {
	t.Helper()
	s := servertest.Start(t, bin, "")
	raw, err := os.ReadFile(filepath.Join(s.DataDir, "clouds.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*password: "(.*)"$`).FindSubmatch(raw)
	if m == nil {
		t.Fatalf("no password in clouds.yaml:\n%s", raw)
	}
	c := &cloud{s: s, adminPassword: string(m[1])}
	c.admin = c.login(t, "admin", c.adminPassword, "admin")
	return c
}

// dashboard is the dashboard's address on this server.
func (c *cloud) dashboard() string { return c.s.URL + "/dashboard/" }

// apiSession calls the API directly, to set up what the browser then sees.
type apiSession struct {
	base, token, project string
}

type reply struct {
	code int
	body map[string]any
	raw  string
}

func (c *cloud) login(t *testing.T, user, password, project string) *apiSession {
	t.Helper()
	s := &apiSession{base: c.s.URL}
	body := map[string]any{"auth": map[string]any{
		"identity": map[string]any{"methods": []string{"password"}, "password": map[string]any{"user": map[string]any{
			"name": user, "password": password, "domain": map[string]any{"name": "Default"}}}},
		"scope": map[string]any{"project": map[string]any{"name": project, "domain": map[string]any{"name": "Default"}}},
	}}
	r, hdr := s.do(t, "POST", "/identity/v3/auth/tokens", body)
	if r.code != 201 {
		t.Fatalf("login %s: %d %s", user, r.code, r.raw)
	}
	s.token = hdr.Get("X-Subject-Token")
	s.project = str(r.body, "token", "project", "id")
	return s
}

func (s *apiSession) do(t *testing.T, method, path string, body any) (reply, http.Header) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
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
	resp, err := (&http.Client{Timeout: 60 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := reply{code: resp.StatusCode, raw: string(raw)}
	_ = json.Unmarshal(raw, &r.body)
	return r, resp.Header
}

func (s *apiSession) must(t *testing.T, method, path string, body any, want int) reply {
	t.Helper()
	r, _ := s.do(t, method, path, body)
	if r.code != want {
		t.Fatalf("%s %s: %d, want %d: %s", method, path, r.code, want, r.raw)
	}
	return r
}

// user makes a project (when missing) and a user holding roles there.
func (c *cloud) user(t *testing.T, project, name string, roles ...string) (projectID, password string) {
	t.Helper()
	a := c.admin
	r := a.must(t, "GET", "/identity/v3/projects?name="+project, nil, 200)
	if list, _ := r.body["projects"].([]any); len(list) == 1 {
		projectID = str(list[0].(map[string]any), "id")
	} else {
		projectID = str(a.must(t, "POST", "/identity/v3/projects", map[string]any{"project": map[string]any{"name": project, "domain_id": "default"}}, 201).body, "project", "id")
	}
	password = "pw-" + name
	userID := str(a.must(t, "POST", "/identity/v3/users", map[string]any{"user": map[string]any{
		"name": name, "password": password, "domain_id": "default", "default_project_id": projectID}}, 201).body, "user", "id")
	for _, role := range roles {
		c.grant(t, projectID, userID, role)
	}
	return projectID, password
}

func (c *cloud) grant(t *testing.T, projectID, userID, role string) {
	t.Helper()
	rr := c.admin.must(t, "GET", "/identity/v3/roles?name="+role, nil, 200)
	list, _ := rr.body["roles"].([]any)
	if len(list) != 1 {
		t.Fatalf("role %s: %s", role, rr.raw)
	}
	c.admin.must(t, "PUT", "/identity/v3/projects/"+projectID+"/users/"+userID+"/roles/"+str(list[0].(map[string]any), "id"), nil, 204)
}

// privateSubnet is the id of bootstrap's private-subnet.
func (s *apiSession) privateSubnet(t *testing.T) string {
	t.Helper()
	r := s.must(t, "GET", "/networking/v2.0/subnets?name=private-subnet", nil, 200)
	list, _ := r.body["subnets"].([]any)
	if len(list) != 1 {
		t.Fatalf("private-subnet: %s", r.raw)
	}
	return str(list[0].(map[string]any), "id")
}

func (s *apiSession) waitLB(t *testing.T, id, want string) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	var last reply
	for time.Now().Before(deadline) {
		last, _ = s.do(t, "GET", "/v2/lbaas/loadbalancers/"+id, nil)
		if want == "DELETED" && last.code == 404 {
			return
		}
		if last.code == 200 && str(last.body, "loadbalancer", "provisioning_status") == want {
			return
		}
		time.Sleep(100 * time.Millisecond) // poll interval
	}
	t.Fatalf("load balancer %s not %s: %d %s", id, want, last.code, last.raw)
}

// str walks nested objects and returns the string at the end.
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

// backend is a real HTTP server on a loopback address answering its name.
type backend struct {
	name string
	addr string
	port int
	hits atomic.Int64
}

func startBackend(t *testing.T, ip, name string) *backend {
	t.Helper()
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	b := &backend{name: name, addr: ip, port: ln.Addr().(*net.TCPAddr).Port}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			b.hits.Add(1)
		}
		io.WriteString(w, b.name)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return b
}

// freePort is a TCP port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// get makes one request on a new connection.
func get(u string) (string, error) {
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get(u)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return "", fmt.Errorf("status %d: %s", resp.StatusCode, strings.TrimSpace(string(b)))
	}
	return string(b), err
}
