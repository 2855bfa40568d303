package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
	"github.com/fulcrumlb/fulcrum/internal/engine"
)

// TestApplyAndSaveLookOnlyAtWhatChanged: with N load balancers received, a delta naming
// one has the apply and the disk save look at that one, not at all N (the agent's cost
// per change is the change's, however many load balancers it holds); a full resync looks
// at them all again. Both still do their work: the changed load balancer reaches the
// engine and its cache file, the deleted one leaves both.
func TestApplyAndSaveLookOnlyAtWhatChanged(t *testing.T) {
	eng := engine.New(engine.Options{})
	t.Cleanup(func() { eng.Close() })
	dir := t.TempDir()
	a, err := New(Options{ServerURL: "https://127.0.0.1:1", DataDir: dir, Name: "node-1", Engine: eng})
	if err != nil {
		t.Fatal(err)
	}
	if a.vrrp != nil {
		t.Fatal("no segments: the engine should take load balancers one by one")
	}
	const n = 500
	poolFrag := func(id string, weight int) dataplane.LoadBalancerConfig {
		raw, err := json.Marshal(dataplane.Config{Listeners: []dataplane.Listener{}, Pools: []dataplane.Pool{{ID: "p-" + id, Protocol: "TCP", Algorithm: "ROUND_ROBIN",
			Members: []dataplane.Member{{ID: "m-" + id, Address: "127.0.0.1", ProtocolPort: 8080, Weight: weight}}}}})
		if err != nil {
			t.Fatal(err)
		}
		return dataplane.LoadBalancerConfig{ID: id, Version: 1, Config: raw}
	}
	var all []dataplane.LoadBalancerConfig
	for i := range n {
		all = append(all, poolFrag(fmt.Sprintf("lb-%03d", i), 1))
	}
	ctx := context.Background()
	step := func(resp *dataplane.ConfigResponse) int {
		t.Helper()
		a.applyMu.Lock()
		defer a.applyMu.Unlock()
		if err := a.receive(resp); err != nil {
			t.Fatal(err)
		}
		a.scanned = 0
		a.applyReceivedLocked(ctx)
		if len(a.refused) > 0 {
			t.Fatalf("refused: %v", a.refused)
		}
		return a.scanned
	}
	if got := step(&dataplane.ConfigResponse{Changed: true, Version: 1, Delta: &dataplane.ConfigDelta{Full: true, LoadBalancers: all}}); got < 2*n {
		t.Fatalf("the first full config: %d fragments looked at, want all %d twice", got, n)
	}
	if len(a.served) != n || len(a.disk) != n {
		t.Fatalf("served %d, on disk %d; want %d", len(a.served), len(a.disk), n)
	}
	for v := uint64(2); v < 12; v++ {
		got := step(&dataplane.ConfigResponse{Changed: true, Version: v, Delta: &dataplane.ConfigDelta{Since: v - 1,
			LoadBalancers: []dataplane.LoadBalancerConfig{poolFrag("lb-007", int(v))}, Deleted: []string{fmt.Sprintf("lb-%03d", 100+v)}}})
		if got > 4 {
			t.Fatalf("a delta of two load balancers at version %d: %d fragments looked at, want at most 4", v, got)
		}
		if w := a.served["lb-007"].cfg.Pools[0].Members[0].Weight; w != int(v) || a.disk["lb-007"] != a.recv["lb-007"] {
			t.Fatalf("version %d: lb-007 served with weight %d (saved: %v)", v, w, a.disk["lb-007"] == a.recv["lb-007"])
		}
		gone := fmt.Sprintf("lb-%03d", 100+v)
		if a.served[gone] != nil || a.disk[gone] != nil {
			t.Fatalf("version %d: %s still served or on disk", v, gone)
		}
		if _, err := os.Stat(filepath.Join(dir, cacheDir, cacheName(gone))); !os.IsNotExist(err) {
			t.Fatalf("version %d: %s's cache file: %v", v, gone, err)
		}
	}
	if got := step(&dataplane.ConfigResponse{Changed: true, Version: 20, Delta: &dataplane.ConfigDelta{Full: true, LoadBalancers: all[:10]}}); got < n {
		t.Fatalf("a full resync: %d fragments looked at, want every one", got)
	}
	if len(a.served) != 10 || len(a.disk) != 10 || len(a.unserved) != 0 || len(a.unsaved) != 0 {
		t.Fatalf("after the resync: served %d, on disk %d, marked %d/%d; want 10, 10, 0, 0", len(a.served), len(a.disk), len(a.unserved), len(a.unsaved))
	}
}
