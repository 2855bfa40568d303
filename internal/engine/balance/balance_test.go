package balance

import (
	"fmt"
	"math"
	"net/netip"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
	"github.com/fulcrumlb/fulcrum/internal/engine/clock"
)

func mkPool(alg dataplane.Algorithm, ms ...dataplane.Member) *Pool {
	cfg := &dataplane.Pool{ID: "p", Protocol: dataplane.ProtocolHTTP, Algorithm: alg, Members: ms}
	var rt []*Member
	for i := range cfg.Members {
		rt = append(rt, NewMember("p", &cfg.Members[i], NewMemberState(time.Unix(0, 0))))
	}
	return NewPool(cfg, rt, nil, nil)
}

func mem(id string, port, weight int) dataplane.Member {
	return dataplane.Member{ID: id, Address: "127.0.0.1", ProtocolPort: port, Weight: weight, AdminStateUp: true}
}

func client(i int) netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), uint16(1024+i%50000))
}

func count(p *Pool, n int) map[string]int {
	got := map[string]int{}
	for i := 0; i < n; i++ {
		if m := p.Pick(client(i), nil); m != nil {
			got[m.ID]++
		} else {
			got["<nil>"]++
		}
	}
	return got
}

func TestRoundRobinWeightsExact(t *testing.T) {
	p := mkPool(dataplane.RoundRobin, mem("a", 1, 5), mem("b", 2, 1), mem("c", 3, 1), mem("z", 4, 0))
	got := count(p, 700)
	if got["a"] != 500 || got["b"] != 100 || got["c"] != 100 || got["z"] != 0 {
		t.Fatalf("700 picks over weights 5,1,1,0: got %v", got)
	}
	// Smoothness: a runs at most 4 times in a row (cycle a,a,b,a,c,a,a wraps), where plain WRR gives 5.
	run, maxRun := 0, 0
	for i := 0; i < 70; i++ {
		if p.Pick(netip.AddrPort{}, nil).ID == "a" {
			run++
			maxRun = max(maxRun, run)
		} else {
			run = 0
		}
	}
	if maxRun > 4 {
		t.Errorf("weight 5 of 7 ran %d picks in a row; smooth WRR spreads it", maxRun)
	}
}

func TestBackupsAndHealth(t *testing.T) {
	b := mem("backup", 9, 1)
	b.Backup = true
	p := mkPool(dataplane.RoundRobin, mem("a", 1, 1), mem("b", 2, 1), b)
	if got := count(p, 100); got["backup"] != 0 || got["a"] != 50 {
		t.Fatalf("with primaries up: %v", got)
	}
	p.Member("a").State.SetUp(false, time.Now())
	p.Refresh()
	if got := count(p, 100); got["b"] != 100 {
		t.Fatalf("a down: %v", got)
	}
	p.Member("b").State.SetUp(false, time.Now())
	p.Refresh()
	if got := count(p, 100); got["backup"] != 100 {
		t.Fatalf("all primaries down: %v", got)
	}
	p.Member("backup").State.SetUp(false, time.Now())
	p.Refresh()
	if m := p.Pick(client(1), nil); m != nil {
		t.Fatalf("everything down: picked %s", m.ID)
	}
	// A member that is down but not yet refreshed out is skipped at pick time.
	p.Member("a").State.SetUp(true, time.Now())
	p.Member("b").State.SetUp(true, time.Now())
	p.Refresh()
	p.Member("a").State.SetUp(false, time.Now())
	if got := count(p, 10); got["b"] != 10 {
		t.Fatalf("stale snapshot: %v", got)
	}
}

func TestRetrySkipsTried(t *testing.T) {
	for _, alg := range []dataplane.Algorithm{dataplane.RoundRobin, dataplane.LeastConnections, dataplane.SourceIP, dataplane.SourceIPPort} {
		p := mkPool(alg, mem("a", 1, 1), mem("b", 2, 1))
		first := p.Pick(client(7), nil)
		second := p.Pick(client(7), []*Member{first})
		if second == nil || second == first {
			t.Errorf("%s: retry after %v got %v", alg, first.ID, second)
		}
		if third := p.Pick(client(7), []*Member{first, second}); third != nil {
			t.Errorf("%s: third pick %v, want nil", alg, third.ID)
		}
	}
}

func TestLeastConnectionsWeighted(t *testing.T) {
	p := mkPool(dataplane.LeastConnections, mem("a", 1, 2), mem("b", 2, 1))
	got := map[string]int{}
	for i := 0; i < 300; i++ { // connections that never end: active counts grow 2:1
		m := p.Pick(client(i), nil)
		m.State.Active.Add(1)
		got[m.ID]++
	}
	if got["a"] != 200 || got["b"] != 100 {
		t.Fatalf("300 long connections, weights 2:1: %v", got)
	}
	p.Member("a").State.Active.Store(0)
	if m := p.Pick(client(1), nil); m.ID != "a" {
		t.Fatalf("a idle: picked %s", m.ID)
	}
}

// TestConsistentHashMovement measures how many clients move when a member joins or leaves
// a SOURCE_IP pool. The ideal is 1/(N+1) on join and 1/N on leave; rendezvous hashing
// achieves it exactly in expectation, and nobody moves between surviving members.
func TestConsistentHashMovement(t *testing.T) {
	const clients = 100000
	for _, n := range []int{2, 5, 10} {
		var ms []dataplane.Member
		for i := 0; i < n; i++ {
			ms = append(ms, mem(fmt.Sprintf("m%d", i), 1000+i, 1))
		}
		before := mkPool(dataplane.SourceIP, ms...)
		after := mkPool(dataplane.SourceIP, append(ms, mem("new", 2000, 1))...)
		moved, toOther, dist := 0, 0, map[string]int{}
		for i := 0; i < clients; i++ {
			a, b := before.Pick(client(i), nil), after.Pick(client(i), nil)
			dist[a.ID]++
			if a.ID != b.ID {
				moved++
				if b.ID != "new" {
					toOther++
				}
			}
		}
		frac := float64(moved) / clients
		ideal := 1 / float64(n+1)
		t.Logf("SOURCE_IP, %d→%d members: %.2f%% of %d clients moved (ideal %.2f%%), %d between old members", n, n+1, 100*frac, clients, 100*ideal, toOther)
		if math.Abs(frac-ideal) > 0.01 || toOther != 0 {
			t.Errorf("%d→%d: moved %.4f (ideal %.4f), %d moved between old members", n, n+1, frac, ideal, toOther)
		}
		for id, c := range dist {
			if share := float64(c) / clients; math.Abs(share-1/float64(n)) > 0.02 {
				t.Errorf("%d members: %s got %.3f of clients, want %.3f±0.02", n, id, share, 1/float64(n))
			}
		}
	}
}

func TestHashWeights(t *testing.T) {
	p := mkPool(dataplane.SourceIPPort, mem("a", 1, 3), mem("b", 2, 1))
	got := count(p, 40000)
	if share := float64(got["a"]) / 40000; math.Abs(share-0.75) > 0.02 {
		t.Fatalf("weights 3:1: a share %.3f, want 0.75±0.02 (%v)", share, got)
	}
}

func TestSourcePersistenceGranularity(t *testing.T) {
	clk := clock.NewFake(time.Unix(1000, 0))
	cfg := &dataplane.Pool{ID: "p", Protocol: dataplane.ProtocolTCP, Algorithm: dataplane.RoundRobin,
		SessionPersistence: &dataplane.SessionPersistence{Type: dataplane.PersistSourceIP, PersistenceTimeout: 10, PersistenceGranularity: "255.255.255.0"},
		Members:            []dataplane.Member{mem("a", 1, 1), mem("b", 2, 1)}}
	var rt []*Member
	for i := range cfg.Members {
		rt = append(rt, NewMember("p", &cfg.Members[i], NewMemberState(clk.Now())))
	}
	p := NewPool(cfg, rt, NewSessions[netip.Addr](clk, 10*time.Second), nil)
	c1 := netip.MustParseAddrPort("192.0.2.1:1000")
	c2 := netip.MustParseAddrPort("192.0.2.200:1000") // same /24
	c3 := netip.MustParseAddrPort("198.51.100.1:1000")
	first := p.Choose(c1, nil)
	for i := 0; i < 10; i++ {
		if m := p.Choose(c2, nil); m != first {
			t.Fatalf("same /24 went to %s, want %s", m.ID, first.ID)
		}
	}
	if m := p.Choose(c3, nil); m == first {
		t.Fatalf("other network joined the session (round robin should give the other member)")
	}
	clk.Advance(11 * time.Second)
	seen := map[string]bool{}
	for i := 0; i < 2; i++ {
		clk.Advance(11 * time.Second)
		seen[p.Choose(c1, nil).ID] = true
	}
	if len(seen) != 2 {
		t.Fatalf("after expiry the client should be balanced again, saw %v", seen)
	}
	// Weight 0 keeps sessions; admin down does not.
	m := p.Choose(c1, nil)
	m.Weight = 0
	if p.Choose(c1, nil) != m {
		t.Fatalf("draining member lost its session")
	}
	m.AdminUp = false
	p.Refresh()
	if p.Choose(c1, nil) == m {
		t.Fatalf("member in maintenance kept its session")
	}
}

func BenchmarkPick(b *testing.B) {
	for _, alg := range []dataplane.Algorithm{dataplane.RoundRobin, dataplane.LeastConnections, dataplane.SourceIP} {
		for _, n := range []int{2, 10} {
			var ms []dataplane.Member
			for i := 0; i < n; i++ {
				ms = append(ms, mem(fmt.Sprintf("m%d", i), 1000+i, 1+i%3))
			}
			p := mkPool(alg, ms...)
			c := client(42)
			b.Run(fmt.Sprintf("%s/%d", alg, n), func(b *testing.B) {
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if p.Pick(c, nil) == nil {
							b.Fatal("nil")
						}
					}
				})
			})
		}
	}
}
