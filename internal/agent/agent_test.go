package agent_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/agent"
	"github.com/fulcrumlb/fulcrum/internal/agentapi"
	"github.com/fulcrumlb/fulcrum/internal/dataplane"
	"github.com/fulcrumlb/fulcrum/internal/healthmgr"
	"github.com/fulcrumlb/fulcrum/internal/pki"
	"github.com/fulcrumlb/fulcrum/internal/snapshot"
	"github.com/fulcrumlb/fulcrum/internal/store"
	"github.com/fulcrumlb/fulcrum/internal/store/sqlstore"
)

// recorder is an engine stand-in at the agent's boundary: it validates
// configs like the real engine and refuses listeners on a "bad" port with a
// path-naming error, recording what it runs.
type recorder struct {
	mu      sync.Mutex
	running *dataplane.Config
	applies int
	badPort int
}

func (r *recorder) Apply(_ context.Context, cfg *dataplane.Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var errs []error
	for i, l := range cfg.Listeners {
		if l.ProtocolPort == r.badPort {
			errs = append(errs, &dataplane.FieldError{Path: fmt.Sprintf("listeners[%d].protocol_port", i), Msg: "listen tcp: address already in use"})
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	r.running = cfg
	r.applies++
	return nil
}

func (r *recorder) Stats() dataplane.Stats   { return dataplane.Stats{} }
func (r *recorder) Health() dataplane.Health { return dataplane.Health{} }

func (r *recorder) ports() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []int
	if r.running != nil {
		for _, l := range r.running.Listeners {
			out = append(out, l.ProtocolPort)
		}
	}
	return out
}

type server struct {
	url   string
	st    store.Store
	ca    *pki.CA
	cache *snapshot.Cache
	srv   *http.Server
}

func startServer(t *testing.T) *server {
	t.Helper()
	return startAgentAPI(t, 0, func(st store.Store, cache *snapshot.Cache) agentapi.HeartbeatSink {
		return healthmgr.New(healthmgr.Options{Store: st, Acker: cache, Enqueue: func(string) {}})
	})
}

// startAgentAPI is an agent API over a fresh store and CA whose heartbeats go
// to the sink made for them (interval: the heartbeat interval told to agents,
// 0 for the default).
func startAgentAPI(t *testing.T, interval time.Duration, sink func(store.Store, *snapshot.Cache) agentapi.HeartbeatSink) *server {
	t.Helper()
	dir := t.TempDir()
	st, err := sqlstore.Open(context.Background(), sqlstore.Options{Path: filepath.Join(dir, "db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ca, err := pki.LoadOrCreateCA(filepath.Join(dir, "pki"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.ServerCertificate(filepath.Join(dir, "pki"), []string{"127.0.0.1"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cache := snapshot.New(nil, nil)
	api := agentapi.New(agentapi.Options{Store: st, CA: ca, Watcher: cache, Heartbeats: sink(st, cache), MaxWait: 2 * time.Second,
		HeartbeatInterval: interval})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: api.Handler(), TLSConfig: api.TLSConfig(cert), ErrorLog: log.New(io.Discard, "", 0)}
	go srv.ServeTLS(ln, "", "")
	t.Cleanup(func() { srv.Close() })
	return &server{url: "https://" + ln.Addr().String(), st: st, ca: ca, cache: cache, srv: srv}
}

func (s *server) token(t *testing.T, name string) string {
	t.Helper()
	tok, err := agentapi.IssueJoinToken(context.Background(), s.st, s.ca, agentapi.TokenRequest{Name: name, TTL: time.Hour}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tok.Token.String()
}

func (s *server) agentID(t *testing.T, name string) string {
	t.Helper()
	var id string
	s.st.View(context.Background(), func(tx store.Tx) error {
		list, _ := tx.Agents().List(context.Background(), store.Query{Filters: []store.Filter{store.F("name", name)}})
		if len(list) == 1 {
			id = list[0].ID
		}
		return nil
	})
	return id
}

func frag(lbID string, port int) *dataplane.Config {
	return &dataplane.Config{Listeners: []dataplane.Listener{{ID: "l-" + lbID, LoadBalancerID: lbID, Protocol: "TCP",
		Addresses: []string{"127.0.0.5"}, ProtocolPort: port, ConnectionLimit: -1}}, Pools: []dataplane.Pool{}}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func runAgent(t *testing.T, opts agent.Options) (stop func() error) {
	t.Helper()
	a, err := agent.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	var once sync.Once
	var runErr error
	stop = func() error {
		once.Do(func() { cancel(); runErr = <-done })
		return runErr
	}
	t.Cleanup(func() { stop() })
	return stop
}

func TestEnrollWatchApplyAcknowledgeAndIsolate(t *testing.T) {
	s := startServer(t)
	eng := &recorder{badPort: 666}
	dir := t.TempDir()
	runAgent(t, agent.Options{ServerURL: s.url, DataDir: dir, Name: "node-1", JoinToken: s.token(t, "node-1"), Engine: eng, Wait: time.Second,
		RetryRefused: 100 * time.Millisecond})
	eventually(t, "enrollment", func() bool { _, err := os.Stat(filepath.Join(dir, "agent.crt")); return err == nil })
	if st, err := os.Stat(filepath.Join(dir, "agent.key")); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("agent key: %v %v", st, err)
	}
	id := s.agentID(t, "node-1")
	s.cache.Put(id, "lb-1", 1, frag("lb-1", 80))
	s.cache.Put(id, "lb-2", 1, frag("lb-2", 666))
	eventually(t, "lb-1 applied and lb-2 refused", func() bool {
		a, _ := s.cache.State(id, "lb-1", 1)
		r, _ := s.cache.State(id, "lb-2", 1)
		return a == snapshot.Applied && r == snapshot.Refused
	})
	_, reason := s.cache.State(id, "lb-2", 1)
	if !strings.Contains(reason, "address already in use") {
		t.Errorf("refusal reason %q", reason)
	}
	if got := eng.ports(); len(got) != 1 || got[0] != 80 {
		t.Errorf("engine runs ports %v, want [80]", got)
	}
	// When the cause goes away, the agent's retry converges lb-2 with no new config.
	eng.mu.Lock()
	eng.badPort = 0
	eng.mu.Unlock()
	eventually(t, "lb-2 applied by a retry", func() bool { st, _ := s.cache.State(id, "lb-2", 1); return st == snapshot.Applied })
	// A changed lb-2 is applied too.
	s.cache.Put(id, "lb-2", 2, frag("lb-2", 81))
	eventually(t, "lb-2 applied after the fix", func() bool { st, _ := s.cache.State(id, "lb-2", 2); return st == snapshot.Applied })
}

func TestServesCachedConfigWithoutServer(t *testing.T) {
	s := startServer(t)
	dir := t.TempDir()
	// A world-readable leftover of an interrupted write must not leak its
	// mode to the config, which carries private keys.
	if err := os.WriteFile(filepath.Join(dir, "config.json.tmp"), []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	eng := &recorder{}
	stop := runAgent(t, agent.Options{ServerURL: s.url, DataDir: dir, Name: "node-2", JoinToken: s.token(t, "node-2"), Engine: eng, Wait: time.Second})
	eventually(t, "enrollment", func() bool { return s.agentID(t, "node-2") != "" })
	s.cache.Put(s.agentID(t, "node-2"), "lb-1", 1, frag("lb-1", 8080))
	eventually(t, "applied", func() bool { return len(eng.ports()) == 1 })
	eventually(t, "config cached", func() bool { _, err := os.Stat(filepath.Join(dir, "cache", "head.json")); return err == nil })
	cached, _ := filepath.Glob(filepath.Join(dir, "cache", "*"))
	if len(cached) != 2 {
		t.Errorf("cache holds %v, want the head and one load balancer", cached)
	}
	for _, f := range append(cached, filepath.Join(dir, "agent.key")) {
		if info, err := os.Stat(f); err != nil || info.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v, want mode 0600", f, info, err)
		}
	}
	stop()
	s.srv.Close() // the control plane is gone
	eng2 := &recorder{}
	runAgent(t, agent.Options{ServerURL: s.url, DataDir: dir, Name: "node-2", Engine: eng2, Wait: time.Second})
	eventually(t, "cached config served with no server", func() bool { p := eng2.ports(); return len(p) == 1 && p[0] == 8080 })
}

func TestJoinTokenRules(t *testing.T) {
	s := startServer(t)
	other, _ := pki.LoadOrCreateCA(t.TempDir(), time.Now())
	foreign := other.NewJoinToken().String()
	used := s.token(t, "")
	// First use of the token succeeds.
	node3 := t.TempDir()
	runAgent(t, agent.Options{ServerURL: s.url, DataDir: node3, Name: "node-3", JoinToken: used, Engine: &recorder{}})
	eventually(t, "enrollment", func() bool { return s.agentID(t, "node-3") != "" })
	cases := []struct {
		name, token, agentName, want string
	}{
		{"token pinned to another CA", foreign, "node-4", "CA the join token pins"},
		{"token used twice", used, "node-5", "already used"},
		{"token for another name", s.token(t, "node-x"), "node-6", "is for agent"},
		{"no token", "", "node-7", "not enrolled"},
	}
	for _, tc := range cases {
		a, _ := agent.New(agent.Options{ServerURL: s.url, DataDir: t.TempDir(), Name: tc.agentName, JoinToken: tc.token, Engine: &recorder{}})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := a.Run(ctx)
		cancel()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Run returned %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
	// A revoked agent is refused: its own certificate gets 403 from now on.
	eventually(t, "node-3 identity", func() bool { _, err := os.Stat(filepath.Join(node3, "agent.crt")); return err == nil })
	get := func() (int, string) {
		cert, err := tls.LoadX509KeyPair(filepath.Join(node3, "agent.crt"), filepath.Join(node3, "agent.key"))
		if err != nil {
			t.Fatal(err)
		}
		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: s.ca.Pool()}}}
		req, _ := http.NewRequest("GET", s.url+dataplane.PathConfig+"?wait=0s", nil)
		req.Header.Set(dataplane.ProtocolHeader, "1")
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get(); code != 200 {
		t.Fatalf("enrolled agent refused before revocation: %d %s", code, body)
	}
	if err := agentapi.Revoke(context.Background(), s.st, "node-3", time.Now()); err != nil {
		t.Fatal(err)
	}
	if code, body := get(); code != 403 || !strings.Contains(body, "revoked") {
		t.Fatalf("revoked agent: %d %s, want 403 revoked", code, body)
	}
}

// applyLog is a recorder that also keeps every config it was asked to run.
type applyLog struct {
	recorder
	mu   sync.Mutex
	seen []*dataplane.Config
}

func (l *applyLog) Apply(ctx context.Context, cfg *dataplane.Config) error {
	l.mu.Lock()
	l.seen = append(l.seen, cfg.Clone())
	l.mu.Unlock()
	return l.recorder.Apply(ctx, cfg)
}

func (l *applyLog) ran(port int) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.seen {
		for _, li := range c.Listeners {
			if li.ProtocolPort == port {
				return true
			}
		}
	}
	return false
}

func TestRefusedAgentStopsServing(t *testing.T) {
	for _, tc := range []struct {
		name   string
		refuse func(t *testing.T, s *server)
		want   string
	}{
		{"revoked", func(t *testing.T, s *server) {
			if err := agentapi.Revoke(context.Background(), s.st, "node-1", time.Now()); err != nil {
				t.Fatal(err)
			}
		}, dataplane.RefusedRevoked},
		{"superseded", func(t *testing.T, s *server) {
			if _, err := agentapi.IssueJoinToken(context.Background(), s.st, s.ca, agentapi.TokenRequest{Name: "node-1", TTL: time.Hour, Replace: true}, time.Now()); err != nil {
				t.Fatal(err)
			}
		}, dataplane.RefusedSuperseded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t)
			eng := &recorder{}
			dir := t.TempDir()
			a, err := agent.New(agent.Options{ServerURL: s.url, DataDir: dir, Name: "node-1", JoinToken: s.token(t, "node-1"), Engine: eng,
				Wait: time.Second, HeartbeatInterval: 50 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- a.Run(context.Background()) }()
			eventually(t, "enrollment", func() bool { return s.agentID(t, "node-1") != "" })
			s.cache.Put(s.agentID(t, "node-1"), "lb-1", 1, frag("lb-1", 8081))
			eventually(t, "applied and cached", func() bool {
				_, err := os.Stat(filepath.Join(dir, "cache", "head.json"))
				return len(eng.ports()) == 1 && err == nil
			})
			tc.refuse(t, s)
			select {
			case err := <-done:
				if !errors.Is(err, agent.ErrRefused) || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("Run returned %v, want ErrRefused (%s)", err, tc.want)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the refused agent keeps running")
			}
			if p := eng.ports(); len(p) != 0 {
				t.Errorf("the refused agent still serves ports %v", p)
			}
			for _, f := range []string{"cache", "agent.key", "agent.crt"} {
				if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
					t.Errorf("%s kept after the refusal", f)
				}
			}
		})
	}
}

func TestRestartAsksTheServerBeforeTheCache(t *testing.T) {
	s := startServer(t)
	dir := t.TempDir()
	stop := runAgent(t, agent.Options{ServerURL: s.url, DataDir: dir, Name: "node-1", JoinToken: s.token(t, "node-1"), Engine: &recorder{}, Wait: time.Second})
	eventually(t, "enrollment", func() bool { return s.agentID(t, "node-1") != "" })
	id := s.agentID(t, "node-1")
	s.cache.Put(id, "lb-1", 1, frag("lb-1", 8082))
	eventually(t, "lb-1 applied", func() bool { st, _ := s.cache.State(id, "lb-1", 1); return st == snapshot.Applied })
	stop()
	// While the agent is away, the server withdraws lb-1 and publishes lb-2.
	s.cache.Delete(id, "lb-1")
	s.cache.Put(id, "lb-2", 1, frag("lb-2", 8083))
	eng := &applyLog{}
	runAgent(t, agent.Options{ServerURL: s.url, DataDir: dir, Name: "node-1", Engine: eng, Wait: time.Second})
	eventually(t, "lb-2 applied", func() bool { st, _ := s.cache.State(id, "lb-2", 1); return st == snapshot.Applied })
	if eng.ran(8082) {
		t.Fatal("the restarted agent ran the withdrawn lb-1 from its cache")
	}
}

func TestClashKeepsTheServingOwner(t *testing.T) {
	s := startServer(t)
	eng := &recorder{}
	runAgent(t, agent.Options{ServerURL: s.url, DataDir: t.TempDir(), Name: "node-1", JoinToken: s.token(t, "node-1"), Engine: eng,
		Wait: time.Second, RetryRefused: 50 * time.Millisecond})
	eventually(t, "enrollment", func() bool { return s.agentID(t, "node-1") != "" })
	id := s.agentID(t, "node-1")
	s.cache.Put(id, "lb-b", 1, frag("lb-b", 8084))
	eventually(t, "lb-b applied", func() bool { st, _ := s.cache.State(id, "lb-b", 1); return st == snapshot.Applied })
	s.cache.Put(id, "lb-a", 1, frag("lb-a", 8084))
	eventually(t, "lb-a refused", func() bool { st, _ := s.cache.State(id, "lb-a", 1); return st == snapshot.Refused })
	if _, reason := s.cache.State(id, "lb-a", 1); !strings.Contains(reason, "127.0.0.5:8084/tcp is in use by load balancer lb-b") {
		t.Errorf("refusal reason %q", reason)
	}
	if st, _ := s.cache.State(id, "lb-b", 1); st != snapshot.Applied {
		t.Errorf("lb-b is %s, want applied", st)
	}
	eng.mu.Lock()
	owner := eng.running.Listeners[0].LoadBalancerID
	eng.mu.Unlock()
	if owner != "lb-b" {
		t.Fatalf("the engine runs %s on the port, want lb-b", owner)
	}
	s.cache.Delete(id, "lb-b")
	eventually(t, "lb-a applied once lb-b is gone", func() bool { st, _ := s.cache.State(id, "lb-a", 1); return st == snapshot.Applied })
}
