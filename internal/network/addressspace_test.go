package network

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fulcrumlb/fulcrum/internal/network/neutron"
	"github.com/fulcrumlb/fulcrum/internal/store"
	"github.com/fulcrumlb/fulcrum/internal/store/sqlstore"
)

// openStore opens a fresh SQLite store for the test.
func openStore(t *testing.T) store.Store {
	t.Helper()
	st, err := sqlstore.Open(context.Background(), sqlstore.Options{Path: filepath.Join(t.TempDir(), "db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func TestCheckServable(t *testing.T) {
	tests := []struct {
		cidr string
		ok   bool
	}{
		{"127.10.0.0/16", true},
		{"127.255.255.0/24", true},
		{"127.1.0.0/16", true},
		{"::1/128", true},
		{"127.0.0.0/24", false}, // the host's own
		{"127.0.1.0/24", false},
		{"127.0.0.0/8", false},
		{"126.0.0.0/7", false},
		{"192.168.1.0/24", false},
		{"10.0.0.0/8", false},
		{"fd00::/64", false},
		{"::/0", false},
		{"0.0.0.0/0", false},
	}
	for _, tc := range tests {
		err := loopback.checkServable(tc.cidr)
		if (err == nil) != tc.ok {
			t.Errorf("loopback %s: got %v, want ok=%v", tc.cidr, err, tc.ok)
		}
		if err := (addressSpace{any: true}).checkServable(tc.cidr); err != nil {
			t.Errorf("any-address %s: %v", tc.cidr, err)
		}
	}
}

// TestLoopbackAddressesAreUniqueAcrossSubnets: subnets made before overlaps
// were refused (stored directly here) still never hand out one address
// twice in loopback mode; in the noop mode's address space they may.
func TestLoopbackAddressesAreUniqueAcrossSubnets(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	for _, tc := range []struct {
		name  string
		space addressSpace
		twice bool
	}{{"loopback", loopback, false}, {"any address", addressSpace{any: true}, true}} {
		t.Run(tc.name, func(t *testing.T) {
			var subs [2]*neutron.Subnet
			err := st.Update(ctx, func(tx store.Tx) error {
				for i := range subs {
					n := &neutron.Network{ID: tc.name + "-net" + string(rune('a'+i))}
					s := &neutron.Subnet{ID: tc.name + "-sub" + string(rune('a'+i)), NetworkID: n.ID, CIDR: "127.80.0.0/24"}
					if err := neutron.ParseSubnet(s, false); err != nil {
						return err
					}
					if err := tx.Networks().Create(ctx, n); err != nil {
						return err
					}
					if err := tx.Subnets().Create(ctx, s); err != nil {
						return err
					}
					subs[i] = s
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			for i, s := range subs {
				err := st.Update(ctx, func(tx store.Tx) error {
					p := &neutron.Port{ID: s.ID + "-port", NetworkID: s.NetworkID}
					if err := tx.Ports().Create(ctx, p); err != nil {
						return err
					}
					_, err := tc.space.allocate(ctx, tx, s.NetworkID, p.ID, []IPRequest{{SubnetID: s.ID, IPAddress: "127.80.0.9"}})
					return err
				})
				var e *Error
				switch {
				case i == 0 || tc.twice:
					if err != nil {
						t.Errorf("allocation %d: %v", i, err)
					}
				case !errors.As(err, &e) || e.Type != "IpAddressAlreadyAllocated":
					t.Errorf("second allocation of 127.80.0.9: got %v, want IpAddressAlreadyAllocated", err)
				}
			}
		})
	}
}

func TestCheckOverlap(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	err := st.Update(ctx, func(tx store.Tx) error {
		if err := tx.Networks().Create(ctx, &neutron.Network{ID: "n1"}); err != nil {
			return err
		}
		return tx.Subnets().Create(ctx, &neutron.Subnet{ID: "s1", ProjectID: "secret-project", NetworkID: "n1", CIDR: "127.90.0.0/16"})
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, network, cidr string
		space               addressSpace
		want                string // "" = allowed
	}{
		{"same network", "n1", "127.90.1.0/24", addressSpace{any: true}, "for network: n1 overlaps with another subnet"},
		{"other network, loopback", "n2", "127.90.1.0/24", loopback, "overlaps with subnet 127.90.0.0/16 of another network"},
		{"other network, wider", "n2", "127.0.0.0/8", loopback, "overlaps with subnet 127.90.0.0/16"},
		{"other network, any address", "n2", "127.90.1.0/24", addressSpace{any: true}, ""},
		{"apart", "n2", "127.91.0.0/24", loopback, ""},
	}
	for _, tc := range tests {
		err := st.View(ctx, func(tx store.Tx) error {
			return tc.space.checkOverlap(ctx, tx, &neutron.Subnet{NetworkID: tc.network, CIDR: tc.cidr})
		})
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.want)
		case err != nil && (strings.Contains(err.Error(), "s1") || strings.Contains(err.Error(), "secret-project")):
			t.Errorf("%s: the refusal names the other subnet's ids: %v", tc.name, err)
		}
	}
}
