package engine

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"testing"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
)

// TestChangeOfOneLoadBalancerLeavesTheOthersAlone: while load balancer B changes (by a
// whole config, then by Update), load balancer A keeps its socket and its frontend (the
// same objects), a keep-alive connection through it goes on, and its round robin carries
// on where it was instead of starting again (the pool is not rebuilt). Then B is dropped:
// its port stops answering, A's does not.
func TestChangeOfOneLoadBalancerLeavesTheOthersAlone(t *testing.T) {
	checkGoroutines(t)
	b1, b2 := startBackend(t, "b1"), startBackend(t, "b2")
	portA, portB := freePort(t), freePort(t)
	e := newEngine(t, Options{})
	la := httpListener("la", portA, "pa")
	la.LoadBalancerID = "lb-a"
	lbB := func(weight int) *dataplane.Config {
		lb := httpListener("lb", portB, "pb")
		lb.LoadBalancerID = "lb-b"
		m := b1.member("mb")
		m.Weight = weight
		return &dataplane.Config{Listeners: []dataplane.Listener{lb}, Pools: []dataplane.Pool{pool("pb", dataplane.ProtocolHTTP, dataplane.RoundRobin, m)}}
	}
	whole := func(version uint64, weight int) *dataplane.Config {
		b := lbB(weight)
		return &dataplane.Config{Version: version,
			Listeners: []dataplane.Listener{la, b.Listeners[0]},
			Pools:     []dataplane.Pool{pool("pa", dataplane.ProtocolHTTP, dataplane.RoundRobin, b1.member("m1"), b2.member("m2")), b.Pools[0]}}
	}
	mustApply(t, e, whole(1, 1))
	keyA := sockKey{"tcp", netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(portA))}
	keyB := sockKey{"tcp", netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(portB))}
	held := func() (*socket, any) {
		e.mu.Lock()
		defer e.mu.Unlock()
		s := e.sockets[keyA]
		return s, s.fe.Load()
	}
	sockA, feA := held()
	conn, err := dialKeepAlive(fmt.Sprintf("127.0.0.1:%d", portA))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, last, err := conn.get("/")
	if err != nil {
		t.Fatal(err)
	}
	next := func(step string) {
		t.Helper()
		_, body, err := conn.get("/")
		if err != nil {
			t.Fatalf("%s: the connection through A: %v", step, err)
		}
		if body == last {
			t.Fatalf("%s: A answered from %s twice in a row: its round robin started again", step, body)
		}
		last = body
		if s, fe := held(); s != sockA || fe != feA {
			t.Fatalf("%s: A's socket or frontend was re-created", step)
		}
	}
	next("nothing changed")
	mustApply(t, e, whole(2, 2)) // B's member weight
	next("B changed by a whole config")
	if err := e.Update(context.Background(), 3, map[string]*dataplane.Config{"lb-b": lbB(3)}, nil); err != nil {
		t.Fatal(err)
	}
	next("B changed by Update")
	if e.Version() != 3 {
		t.Fatalf("version %d after Update to 3", e.Version())
	}
	e.mu.Lock()
	w := e.units["lb-b"].cfg.Pools[0].Members[0].Weight
	e.mu.Unlock()
	if w != 3 {
		t.Fatalf("B's member weight %d after Update, want 3", w)
	}
	// A fragment wanting A's socket is refused and names its load balancer; nothing moves.
	clash := lbB(4)
	clash.Listeners[0].ProtocolPort = portA
	err = e.Update(context.Background(), 4, map[string]*dataplane.Config{"lb-b": clash}, nil)
	var lbe *dataplane.LoadBalancerError
	if !errors.As(err, &lbe) || lbe.ID != "lb-b" {
		t.Fatalf("a fragment wanting A's socket: %v", err)
	}
	if err := e.Update(context.Background(), 3, nil, []string{"lb-b"}); !errors.Is(err, ErrStale) {
		t.Fatalf("an Update at the version in force: %v", err)
	}
	next("B refused")
	if err := e.Update(context.Background(), 5, nil, []string{"lb-b"}); err != nil {
		t.Fatal(err)
	}
	next("B dropped")
	e.mu.Lock()
	_, still := e.sockets[keyB]
	e.mu.Unlock()
	if still {
		t.Fatal("B's socket still listens after B was dropped")
	}
	if _, err := dialKeepAlive(fmt.Sprintf("127.0.0.1:%d", portB)); err == nil {
		t.Fatal("B's port still accepts after B was dropped")
	}
}
