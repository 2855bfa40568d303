package agent

import (
	"encoding/json"
	"reflect"
	"sort"
	"testing"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
)

func fragJSON(t *testing.T, lbID string, port int) dataplane.LoadBalancerConfig {
	t.Helper()
	raw, err := json.Marshal(dataplane.Config{Listeners: []dataplane.Listener{listener(lbID, "l-"+lbID, "TCP", port, "127.0.0.5")}, Pools: []dataplane.Pool{}})
	if err != nil {
		t.Fatal(err)
	}
	return dataplane.LoadBalancerConfig{ID: lbID, Version: 1, Config: raw}
}

func recvIDs(a *Agent) []string {
	var out []string
	for id := range a.recv {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// TestReceiveMergesDeltas: a delta changes the load balancers it names on top of what the
// agent has; a full one replaces everything but keeps the fragments it resends unchanged
// (so they are not applied or saved again); a delta from another version than the
// agent's is refused and changes nothing; a fragment whose listener names another load
// balancer is refused whole.
func TestReceiveMergesDeltas(t *testing.T) {
	a := &Agent{recv: map[string]*lbFrag{}}
	full := &dataplane.ConfigResponse{Changed: true, Version: 10, Delta: &dataplane.ConfigDelta{Full: true,
		LoadBalancers: []dataplane.LoadBalancerConfig{fragJSON(t, "lb-1", 81), fragJSON(t, "lb-2", 82), fragJSON(t, "lb-3", 83)}}}
	if err := a.receive(full); err != nil {
		t.Fatal(err)
	}
	lb1 := a.recv["lb-1"]
	delta := &dataplane.ConfigResponse{Changed: true, Version: 11, Delta: &dataplane.ConfigDelta{Since: 10,
		LoadBalancers: []dataplane.LoadBalancerConfig{fragJSON(t, "lb-2", 92), fragJSON(t, "lb-4", 84)}, Deleted: []string{"lb-3"}}}
	if err := a.receive(delta); err != nil {
		t.Fatal(err)
	}
	if got := recvIDs(a); !reflect.DeepEqual(got, []string{"lb-1", "lb-2", "lb-4"}) || a.recvVersion != 11 {
		t.Fatalf("after the delta: %v at %d", got, a.recvVersion)
	}
	if a.recv["lb-1"] != lb1 || a.recv["lb-2"].cfg.Listeners[0].ProtocolPort != 92 {
		t.Fatal("the delta did not leave lb-1 alone or did not change lb-2")
	}
	stale := &dataplane.ConfigResponse{Changed: true, Version: 12, Delta: &dataplane.ConfigDelta{Since: 10, Deleted: []string{"lb-1"}}}
	if err := a.receive(stale); err == nil || a.recv["lb-1"] == nil || a.recvVersion != 11 {
		t.Fatalf("a delta from another version: %v, lb-1 %v, version %d", err, a.recv["lb-1"] != nil, a.recvVersion)
	}
	bad := fragJSON(t, "lb-5", 85)
	bad.ID = "lb-6"
	if err := a.receive(&dataplane.ConfigResponse{Changed: true, Version: 12, Delta: &dataplane.ConfigDelta{Since: 11,
		LoadBalancers: []dataplane.LoadBalancerConfig{fragJSON(t, "lb-7", 87), bad}}}); err == nil || a.recv["lb-7"] != nil {
		t.Fatalf("a fragment naming another load balancer: %v", err)
	}
	resync := &dataplane.ConfigResponse{Changed: true, Version: 20, Delta: &dataplane.ConfigDelta{Full: true,
		LoadBalancers: []dataplane.LoadBalancerConfig{fragJSON(t, "lb-1", 81), fragJSON(t, "lb-2", 82)}}}
	if err := a.receive(resync); err != nil {
		t.Fatal(err)
	}
	if got := recvIDs(a); !reflect.DeepEqual(got, []string{"lb-1", "lb-2"}) || a.recv["lb-1"] != lb1 {
		t.Fatalf("after a full resync: %v (lb-1 kept: %v)", got, a.recv["lb-1"] == lb1)
	}
}
