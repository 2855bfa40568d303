package engine

import (
	"fmt"
	"testing"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
)

func TestHTTPRoundRobin(t *testing.T) {
	checkGoroutines(t)
	a, b := startBackend(t, "a"), startBackend(t, "b")
	port := freePort(t)
	e := newEngine(t, Options{})
	mustApply(t, e, &dataplane.Config{Version: 1,
		Listeners: []dataplane.Listener{httpListener("l1", port, "p1")},
		Pools:     []dataplane.Pool{pool("p1", dataplane.ProtocolHTTP, dataplane.RoundRobin, a.member("ma"), b.member("mb"))}})
	c := newClient()
	got := map[string]int{}
	for i := 0; i < 100; i++ {
		code, body := get(t, c, fmt.Sprintf("http://127.0.0.1:%d/", port))
		if code != 200 {
			t.Fatalf("status %d", code)
		}
		got[body]++
	}
	if got["a"] != 50 || got["b"] != 50 {
		t.Fatalf("100 requests over two equal members: %v", got)
	}
	st := e.Stats()
	if st.Listeners[0].TotalConnections < 1 || st.Listeners[0].BytesIn == 0 || st.Listeners[0].BytesOut == 0 {
		t.Errorf("stats: %+v", st.Listeners[0])
	}
}
