package network

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/network/neutron"
	"github.com/fulcrumlb/fulcrum/internal/store"
	"github.com/fulcrumlb/fulcrum/internal/store/sqlstore"
)

// A VIP port's MAC address is drawn again when another port of the network
// has it: with 24 random bits, thousands of load balancers on one network
// drew the same one sooner or later, and that create failed with "Already
// an entity with that specified id." (409).
func TestVIPPortMACDrawnAgainWhenTaken(t *testing.T) {
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, sqlstore.Options{Path: filepath.Join(t.TempDir(), "db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	subnet, err := Bootstrap(ctx, st, "adm", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	// Every draw is the same MAC, except each third.
	var mu sync.Mutex
	draws := 0
	old := macRand
	macRand = func(b []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		draws++
		for i := range b {
			b[i] = 7
		}
		if draws%3 == 0 {
			b[0] = byte(draws)
		}
		return len(b), nil
	}
	t.Cleanup(func() { macRand = old })
	vips := NewVIPs(st, nil)
	macs := map[string]bool{}
	for i := 0; i < 3; i++ {
		l := &lb.LoadBalancer{ID: "lb" + string(rune('a'+i)), ProjectID: "demo", VIP: lb.VIP{SubnetID: subnet}}
		if err := st.Update(ctx, func(tx store.Tx) error { return vips.Allocate(ctx, tx, l) }); err != nil {
			t.Fatalf("load balancer %d: %v", i, err)
		}
		var port *neutron.Port
		if err := st.View(ctx, func(tx store.Tx) error {
			var err error
			port, err = tx.Ports().Get(ctx, l.VIP.PortID)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if macs[port.MACAddress] {
			t.Fatalf("load balancer %d: MAC %s already held", i, port.MACAddress)
		}
		macs[port.MACAddress] = true
	}
}
