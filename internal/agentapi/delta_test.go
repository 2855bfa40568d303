package agentapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/fulcrumlb/fulcrum/internal/agentapi"
	"github.com/fulcrumlb/fulcrum/internal/dataplane"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// TestWatchDelta: an agent asking delta=1 gets only the load balancers that
// changed since its version, tombstones for withdrawn ones, and everything
// when its version is not one the server can answer from; an agent that
// does not ask (an old one) still gets the whole config.
func TestWatchDelta(t *testing.T) {
	e := newEnv(t, agentapi.Options{})
	id := e.mustEnroll(t, e.token(t, agentapi.TokenRequest{Name: "node-1"}), "node-1")
	var agentID string
	e.st.View(context.Background(), func(tx store.Tx) error {
		list, _ := tx.Agents().List(context.Background(), store.Query{Filters: []store.Filter{store.F("name", "node-1")}})
		agentID = list[0].ID
		return nil
	})
	frag := func(lbID string, port int) *dataplane.Config {
		return &dataplane.Config{Listeners: []dataplane.Listener{{ID: "l-" + lbID, LoadBalancerID: lbID, Protocol: "TCP",
			Addresses: []string{"127.0.0.5"}, ProtocolPort: port}}, Pools: []dataplane.Pool{}}
	}
	watch := func(query string) dataplane.ConfigResponse {
		t.Helper()
		a := e.do(t, id, "GET", dataplane.PathConfig+"?"+query, nil)
		var cr dataplane.ConfigResponse
		if a.code != 200 || json.Unmarshal([]byte(a.body), &cr) != nil {
			t.Fatalf("watch ?%s: %d %s", query, a.code, a.body)
		}
		return cr
	}
	ids := func(d *dataplane.ConfigDelta) string {
		var s []string
		for _, lb := range d.LoadBalancers {
			s = append(s, lb.ID)
		}
		return fmt.Sprint(d.Full, s, d.Deleted)
	}
	for i := 1; i <= 3; i++ {
		e.cache.Put(agentID, fmt.Sprintf("lb-%d", i), 1, frag(fmt.Sprintf("lb-%d", i), 80+i))
	}
	first := watch("version=0&wait=0s&delta=1")
	if first.Config != nil || first.Delta == nil || ids(first.Delta) != "true [lb-1 lb-2 lb-3] []" {
		t.Fatalf("first delta watch: %+v", first)
	}
	e.cache.Put(agentID, "lb-2", 2, frag("lb-2", 92))
	e.cache.Delete(agentID, "lb-3")
	next := watch(fmt.Sprintf("version=%d&wait=1s&delta=1", first.Version))
	if next.Delta == nil || ids(next.Delta) != "false [lb-2] [lb-3]" || next.Delta.Since != first.Version {
		t.Fatalf("delta from %d: %+v", first.Version, next.Delta)
	}
	// An old agent, at the same version, gets the whole config.
	old := watch(fmt.Sprintf("version=%d&wait=1s", first.Version))
	if old.Delta != nil || old.Config == nil || len(old.Config.Listeners) != 2 || old.Version != next.Version {
		t.Fatalf("whole-config watch: %+v", old)
	}
	// A version the server never made: everything.
	if far := watch("version=12345&wait=0s&delta=1"); far.Delta == nil || !far.Delta.Full || len(far.Delta.LoadBalancers) != 2 {
		t.Fatalf("watch from a version the server never made: %+v", far)
	}
	// The agent can acknowledge what a delta brought it.
	beat := e.do(t, id, "POST", dataplane.PathHeartbeat, dataplane.Heartbeat{Name: "node-1", AppliedVersion: next.Version})
	if beat.code != 200 {
		t.Fatalf("heartbeat acknowledging a delta's version: %d %s", beat.code, beat.body)
	}
	for _, q := range []string{"delta=2", "delta=yes", "delta=-1"} {
		if a := e.do(t, id, "GET", dataplane.PathConfig+"?wait=0s&"+q, nil); a.code != 400 {
			t.Errorf("watch ?%s: %d %s", q, a.code, a.body)
		}
	}
}
