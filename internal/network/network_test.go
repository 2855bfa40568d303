package network

import (
	"context"
	"net/netip"
	"testing"

	"github.com/fulcrumlb/fulcrum/internal/lb"
)

func TestNoopAllocateVIP(t *testing.T) {
	const subnet = "6a0a707c-45ef-4758-b533-e55adddba8ce"
	tests := []struct {
		name string
		req  lb.VIPRequest
		want func(t *testing.T, v lb.VIP)
	}{
		{"requested address kept", lb.VIPRequest{LoadBalancerID: "lb1", SubnetID: subnet, Address: "192.0.2.10"}, func(t *testing.T, v lb.VIP) {
			if v.Address != "192.0.2.10" || v.SubnetID != subnet || v.NetworkID == "" || v.PortID == "" {
				t.Errorf("got %+v", v)
			}
		}},
		{"loopback address invented", lb.VIPRequest{LoadBalancerID: "lb2", SubnetID: subnet}, func(t *testing.T, v lb.VIP) {
			a, err := netip.ParseAddr(v.Address)
			if err != nil || !a.IsLoopback() || v.Address == "127.0.0.1" {
				t.Errorf("address %q is not a usable loopback address", v.Address)
			}
		}},
		{"network only", lb.VIPRequest{LoadBalancerID: "lb3", NetworkID: subnet}, func(t *testing.T, v lb.VIP) {
			if v.NetworkID != subnet || v.SubnetID == "" || v.SubnetID == subnet {
				t.Errorf("got %+v", v)
			}
		}},
		{"port only", lb.VIPRequest{LoadBalancerID: "lb4", PortID: subnet}, func(t *testing.T, v lb.VIP) {
			if v.PortID != subnet || v.SubnetID == "" || v.NetworkID == "" {
				t.Errorf("got %+v", v)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, _, err := NewNoop().AllocateVIP(context.Background(), tt.req)
			if err != nil {
				t.Fatal(err)
			}
			tt.want(t, v)
			again, _, _ := NewNoop().AllocateVIP(context.Background(), tt.req)
			if again.Address != v.Address || again.PortID != v.PortID {
				t.Errorf("not deterministic: %+v then %+v", v, again)
			}
		})
	}
}

func TestLoopbackAvoidsReserved(t *testing.T) {
	for i := 0; i < 10000; i++ {
		a := loopbackFor(string(rune(i)) + "x")
		if a == "127.0.0.1" || a == "127.0.0.0" || a == "127.255.255.255" {
			t.Fatalf("picked %s", a)
		}
	}
}

func TestDerivedIDIsUUID(t *testing.T) {
	id := derivedID("port", "x")
	if len(id) != 36 || id[14] != '5' {
		t.Fatalf("derivedID = %q", id)
	}
}
