package multiserver

import (
	"bytes"
	crand "crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/servertest"
	"github.com/fulcrumlb/fulcrum/internal/store/pgtest"
)

// cluster is servers sharing one PostgreSQL and the agents they serve.
type cluster struct {
	t         *testing.T
	db        string // --database
	masterKey string // --master-key-file
	servers   []*server
	agents    []*agentProc
}

// server is one `fulcrum server` on fixed loopback ports, so that a
// restart answers where agents look for it.
type server struct {
	name       string
	proc       *servertest.Server
	api, agent int // ports
	mu         sync.Mutex
	down       bool
}

func (s *server) url() string      { return fmt.Sprintf("http://127.0.0.1:%d", s.api) }
func (s *server) agentURL() string { return fmt.Sprintf("https://127.0.0.1:%d", s.agent) }

// agentProc is one `fulcrum agent`.
type agentProc struct {
	name string
	dir  string
	proc *servertest.Process
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// stablePort returns a loopback port that is free now, below Linux's
// ephemeral range (32768 and up), so that a server restarted on it does
// not find it taken by an outgoing connection meanwhile.
func stablePort(t *testing.T) int {
	t.Helper()
	for range 100 {
		port := 20000 + rand.IntN(12000)
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			ln.Close()
			return port
		}
	}
	t.Fatal("no free port below 32768")
	return 0
}

// newCluster starts a private PostgreSQL, writes a master key and starts
// n servers on it (the first alone, so that it bootstraps), each with
// extra flags.
func newCluster(t *testing.T, n int, extra ...string) *cluster {
	t.Helper()
	pg := pgtest.Start(t)
	c := &cluster{t: t, db: pg.NewDatabaseURL(t), masterKey: writeMasterKey(t)}
	for i := range n {
		s := &server{name: fmt.Sprintf("server-%d", i+1), api: stablePort(t), agent: stablePort(t)}
		args := append([]string{"--listen", fmt.Sprintf("127.0.0.1:%d", s.api), "--agent-listen", fmt.Sprintf("127.0.0.1:%d", s.agent),
			"--auth", "noauth", "--database", c.db, "--master-key-file", c.masterKey, "--log-level", "info"}, extra...)
		s.proc = servertest.Start(t, bin, "", args...)
		c.servers = append(c.servers, s)
	}
	return c
}

func writeMasterKey(t *testing.T) string {
	t.Helper()
	raw := make([]byte, 32)
	crand.Read(raw)
	path := filepath.Join(t.TempDir(), "master.key")
	if err := os.WriteFile(path, []byte(base64.StdEncoding.EncodeToString(raw)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// agentURLs lists the servers' agent APIs starting at server first.
func (c *cluster) agentURLs(first int) string {
	var out []string
	for i := range c.servers {
		out = append(out, c.servers[(first+i)%len(c.servers)].agentURL())
	}
	return strings.Join(out, ",")
}

// addAgent enrolls and starts agent name, listing the servers from first.
func (c *cluster) addAgent(name string, first int) *agentProc {
	c.t.Helper()
	tok, err := servertest.Run(bin, "agent-token", "--database", c.db, "--master-key-file", c.masterKey, "--data-dir", c.t.TempDir(), "--name", name)
	if err != nil {
		c.t.Fatal(err)
	}
	a := &agentProc{name: name, dir: c.t.TempDir()}
	a.proc = servertest.StartProcess(c.t, bin, "agent", "--server", c.agentURLs(first), "--join-token", strings.TrimSpace(tok),
		"--data-dir", a.dir, "--name", name, "--log-level", "info")
	c.agents = append(c.agents, a)
	return a
}

// logs returns every server's log.
func (c *cluster) logs() string {
	var b strings.Builder
	for _, s := range c.servers {
		fmt.Fprintf(&b, "==== %s\n%s\n", s.name, s.proc.Logs())
	}
	for _, a := range c.agents {
		fmt.Fprintf(&b, "==== agent %s\n%s\n", a.name, a.proc.Logs())
	}
	return b.String()
}

// waitAgentsUp waits until some server logged each agent up.
func (c *cluster) waitAgentsUp(timeout time.Duration) {
	c.t.Helper()
	for deadline := time.Now().Add(timeout); ; time.Sleep(50 * time.Millisecond) {
		up := 0
		for _, a := range c.agents {
			for _, s := range c.servers {
				if logHas(s.proc.Logs(), `msg="agent is up"`, "agent="+a.name) {
					up++
					break
				}
			}
		}
		if up == len(c.agents) {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("agents not up within %s:\n%s", timeout, c.logs())
		}
	}
}

func logHas(logs string, parts ...string) bool {
	for _, line := range strings.Split(logs, "\n") {
		ok := true
		for _, p := range parts {
			if !strings.Contains(line, p) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

var epochRE = regexp.MustCompile(`msg=leading .*epoch=(\d+)`)

// leader returns the index of the live server that leads (the highest
// epoch any live server's log says it leads in), or -1.
func (c *cluster) leader() int {
	best, who := int64(-1), -1
	for i, s := range c.servers {
		if s.isDown() {
			continue
		}
		for _, m := range epochRE.FindAllStringSubmatch(s.proc.Logs(), -1) {
			if e, _ := strconv.ParseInt(m[1], 10, 64); e > best {
				best, who = e, i
			}
		}
	}
	return who
}

// waitLeader waits until a live server leads in an epoch above after.
func (c *cluster) waitLeader(after int64, timeout time.Duration) (int, int64) {
	c.t.Helper()
	for deadline := time.Now().Add(timeout); ; time.Sleep(20 * time.Millisecond) {
		best, who := int64(-1), -1
		for i, s := range c.servers {
			if s.isDown() {
				continue
			}
			for _, m := range epochRE.FindAllStringSubmatch(s.proc.Logs(), -1) {
				if e, _ := strconv.ParseInt(m[1], 10, 64); e > best {
					best, who = e, i
				}
			}
		}
		if best > after {
			return who, best
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("no leader above epoch %d within %s:\n%s", after, timeout, c.logs())
		}
	}
}

func (s *server) isDown() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.down
}

func (s *server) kill() {
	s.mu.Lock()
	s.down = true
	s.mu.Unlock()
	s.proc.Kill()
}

func (s *server) restart() {
	s.proc.Restart()
	s.mu.Lock()
	s.down = false
	s.mu.Unlock()
}

// api is a plain-JSON Octavia client of one server (noauth).
type api struct {
	base string
	hc   *http.Client
}

func newAPI(base string) *api {
	return &api{base: base, hc: &http.Client{Timeout: 20 * time.Second}}
}

type reply struct {
	code int
	body map[string]any
	raw  []byte
}

// call returns the answer; err is a transport failure (the outcome of the
// request is unknown).
func (a *api) call(method, path string, body any) (reply, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return reply{}, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, a.base+path, rd)
	if err != nil {
		return reply{}, err
	}
	req.Header.Set("X-Project-Id", "multiserver")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return reply{}, err
	}
	r := reply{code: resp.StatusCode, raw: raw}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &r.body); err != nil {
			return r, fmt.Errorf("%s %s: %d, undecodable body %q", method, path, resp.StatusCode, raw)
		}
	}
	return r, nil
}

func (a *api) must(t *testing.T, method, path string, body any, want int) reply {
	t.Helper()
	r, err := a.call(method, path, body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	if r.code != want {
		t.Fatalf("%s %s: %d %s", method, path, r.code, r.raw)
	}
	return r
}

func (r reply) obj(wrapper string) map[string]any {
	obj, _ := r.body[wrapper].(map[string]any)
	return obj
}

func str(obj map[string]any, key string) string {
	s, _ := obj[key].(string)
	return s
}

// backend is an HTTP server on loopback answering with its name.
type backend struct {
	name string
	port int
	srv  *http.Server
}

func startBackend(t *testing.T, name string) *backend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &backend{name: name, port: ln.Addr().(*net.TCPAddr).Port}
	b.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, name) })}
	go b.srv.Serve(ln)
	t.Cleanup(func() { b.srv.Close() })
	return b
}

// subnet returns the id of the bootstrap's private subnet.
func subnet(t *testing.T, a *api) string {
	t.Helper()
	r := a.must(t, "GET", "/networking/v2.0/subnets?name=private-subnet", nil, 200)
	list, _ := r.body["subnets"].([]any)
	if len(list) != 1 {
		t.Fatalf("private-subnet: %s", r.raw)
	}
	return str(list[0].(map[string]any), "id")
}

// timeRE finds the time of a text log line.
var timeRE = regexp.MustCompile(`^time=(\S+)`)

// logTimes returns the times of the lines of logs that contain every part.
func logTimes(logs string, parts ...string) []time.Time {
	var out []time.Time
	for _, line := range strings.Split(logs, "\n") {
		ok := true
		for _, p := range parts {
			if !strings.Contains(line, p) {
				ok = false
				break
			}
		}
		if !ok {
			continue
		}
		if m := timeRE.FindStringSubmatch(line); m != nil {
			if ts, err := time.Parse(time.RFC3339Nano, m[1]); err == nil {
				out = append(out, ts)
			}
		}
	}
	return out
}
