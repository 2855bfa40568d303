package change_test

import (
	"slices"
	"sync"
	"testing"

	"github.com/fulcrumlb/fulcrum/internal/change"
	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/network"
)

// writeNotes is a change.WriteNotifier recording which method each
// notification came through.
type writeNotes struct {
	mu             sync.Mutex
	enqueue, write []string
}

func (n *writeNotes) Enqueue(id string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.enqueue = append(n.enqueue, id)
}

func (n *writeNotes) EnqueueWrite(id string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.write = append(n.write, id)
}

// A notifier that tells writes apart (the controller) hears of every
// committed write through EnqueueWrite, once each.
func TestWritesGoThroughEnqueueWrite(t *testing.T) {
	e := newEnv(t)
	f := e.fixture()
	n := &writeNotes{}
	w := change.New(change.Options{Store: e.st, Notifier: n, VIPs: network.NewNoop()})
	if _, err := w.CreateMember(e.ctx, change.MemberCreate{PoolID: f.p1, Member: &lb.Member{AdminStateUp: true,
		Address: "192.0.2.77", ProtocolPort: 8080, Weight: 1, VNICType: lb.VNICNormal}}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.UpdateMember(e.ctx, change.MemberUpdate{PoolID: f.p1, ID: f.m,
		Apply: func(m *lb.Member) error { m.Weight = 7; return nil }}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(n.write, []string{f.lb, f.lb}) || len(n.enqueue) != 0 {
		t.Fatalf("EnqueueWrite %v, Enqueue %v; want EnqueueWrite [%s %s] only", n.write, n.enqueue, f.lb, f.lb)
	}
}
