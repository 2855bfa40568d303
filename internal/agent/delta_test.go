package agent_test

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/agent"
	"github.com/fulcrumlb/fulcrum/internal/dataplane"
	"github.com/fulcrumlb/fulcrum/internal/engine"
	"github.com/fulcrumlb/fulcrum/internal/snapshot"
)

// updates is the native engine, recording what each Update was given.
type updates struct {
	*engine.Engine
	mu    sync.Mutex
	calls [][2][]string // set ids, drop ids
}

func (u *updates) Update(ctx context.Context, version uint64, set map[string]*dataplane.Config, drop []string) error {
	ids := make([]string, 0, len(set))
	for id := range set {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	u.mu.Lock()
	u.calls = append(u.calls, [2][]string{ids, append([]string(nil), drop...)})
	u.mu.Unlock()
	return u.Engine.Update(ctx, version, set, drop)
}

func (u *updates) last() [2][]string {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.calls) == 0 {
		return [2][]string{}
	}
	return u.calls[len(u.calls)-1]
}

func freeLoopbackPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.5:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestAgentAppliesDeltasAndRestoresItsCache: with the native engine the agent watches
// deltas and hands the engine only the load balancers that changed (and the ones
// withdrawn); its disk cache rewrites only their files; restarted with no server, it
// serves from the cache exactly what it ran.
func TestAgentAppliesDeltasAndRestoresItsCache(t *testing.T) {
	s := startServer(t)
	dir := t.TempDir()
	eng := &updates{Engine: engine.New(engine.Options{})}
	t.Cleanup(func() { eng.Close() })
	stop := runAgent(t, agent.Options{ServerURL: s.url, DataDir: dir, Name: "node-1", JoinToken: s.token(t, "node-1"), Engine: eng, Wait: time.Second})
	eventually(t, "enrollment", func() bool { return s.agentID(t, "node-1") != "" })
	id := s.agentID(t, "node-1")
	p1, p2, p3, p2b := freeLoopbackPort(t), freeLoopbackPort(t), freeLoopbackPort(t), freeLoopbackPort(t)
	s.cache.Put(id, "lb-1", 1, frag("lb-1", p1))
	s.cache.Put(id, "lb-2", 1, frag("lb-2", p2))
	s.cache.Put(id, "lb-3", 1, frag("lb-3", p3))
	applied := func(lb string, gen int64) func() bool {
		return func() bool { st, _ := s.cache.State(id, lb, gen); return st == snapshot.Applied }
	}
	eventually(t, "three load balancers applied", func() bool { return applied("lb-1", 1)() && applied("lb-2", 1)() && applied("lb-3", 1)() })
	cacheDir := filepath.Join(dir, "cache")
	files, _ := filepath.Glob(filepath.Join(cacheDir, "*.json"))
	before := map[string]os.FileInfo{}
	for _, f := range files {
		info, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		before[f] = info
	}

	// One load balancer changes, one goes.
	s.cache.Put(id, "lb-2", 2, frag("lb-2", p2b))
	s.cache.Delete(id, "lb-3")
	eventually(t, "the change applied", func() bool { return applied("lb-2", 2)() && s.cache.Removed(id, "lb-3") })
	want := [2][]string{{"lb-2"}, {"lb-3"}}
	if got := eng.last(); !reflect.DeepEqual(got, want) && !reflect.DeepEqual(got, [2][]string{nil, {"lb-3"}}) {
		t.Fatalf("the engine's last update: set %v, drop %v; want only lb-2 and lb-3", got[0], got[1])
	}
	eng.mu.Lock()
	for _, c := range eng.calls[1:] {
		for _, lb := range c[0] {
			if lb == "lb-1" {
				t.Errorf("lb-1, unchanged, was handed to the engine again: %v", eng.calls)
			}
		}
	}
	eng.mu.Unlock()
	unchanged := 0
	for f, info := range before {
		if now, err := os.Stat(f); err == nil && os.SameFile(info, now) {
			unchanged++
		}
	}
	if unchanged != 1 { // lb-1's file; lb-2's was rewritten, lb-3's removed, the head rewritten
		t.Errorf("%d cache files left as they were, want 1 (lb-1's)", unchanged)
	}
	runs := eng.Addrs()
	if len(runs) != 2 {
		t.Fatalf("the engine runs %v, want two listeners", runs)
	}
	stop()
	s.srv.Close()

	// Restarted with no server to reach: the cache is served, the same as before.
	eng2 := engine.New(engine.Options{})
	t.Cleanup(func() { eng2.Close() })
	eng.Close() // frees the sockets for the second engine
	runAgent(t, agent.Options{ServerURL: s.url, DataDir: dir, Name: "node-1", Engine: eng2, Wait: time.Second,
		StartupTimeout: 200 * time.Millisecond})
	eventually(t, "the cache served", func() bool { return reflect.DeepEqual(eng2.Addrs(), runs) })
}
