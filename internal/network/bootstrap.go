package network

import (
	"context"
	"fmt"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/ids"

	"github.com/fulcrumlb/fulcrum/internal/network/neutron"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// Bootstrap address ranges: inside 127.0.0.0/8, so an all-in-one data plane
// can bind VIP and floating addresses without privileges and no traffic
// ever leaves the host.
const (
	PrivateCIDR = "127.10.0.0/16"
	PublicCIDR  = "127.20.0.0/16"
)

// Bootstrap creates, unless a network of that name exists, the shared
// "private" network with "private-subnet" (PrivateCIDR) and the external
// "public" network with "public-subnet" (PublicCIDR) for floating IPs, both
// owned by project. It returns the id of private-subnet.
func Bootstrap(ctx context.Context, st store.Store, project string, now time.Time) (string, error) {
	now = now.UTC()
	var subnetID string
	err := st.Update(ctx, func(tx store.Tx) error {
		for _, def := range []struct {
			net, sub, cidr string
			external       bool
		}{
			{"private", "private-subnet", PrivateCIDR, false},
			{"public", "public-subnet", PublicCIDR, true},
		} {
			existing, err := tx.Networks().List(ctx, store.Query{Filters: []store.Filter{store.F("name", def.net)}})
			if err != nil {
				return err
			}
			if len(existing) > 0 {
				if def.net == "private" {
					subs, err := tx.Subnets().List(ctx, store.Query{Filters: []store.Filter{store.F("network_id", existing[0].ID), store.F("name", def.sub)}})
					if err != nil {
						return err
					}
					if len(subs) > 0 {
						subnetID = subs[0].ID
					}
				}
				continue
			}
			n := &neutron.Network{ID: ids.New(), ProjectID: project, Name: def.net, AdminStateUp: true, Shared: !def.external,
				External: def.external, MTU: 1500, Tags: []string{}, Times: neutron.Times{CreatedAt: now, UpdatedAt: now}}
			sub := &neutron.Subnet{ID: ids.New(), ProjectID: project, NetworkID: n.ID, Name: def.sub, CIDR: def.cidr,
				DNSNameservers: []string{}, Tags: []string{}, Times: n.Times}
			if err := neutron.ParseSubnet(sub, false); err != nil {
				return err
			}
			if err := tx.Networks().Create(ctx, n); err != nil {
				return err
			}
			if err := tx.Subnets().Create(ctx, sub); err != nil {
				return err
			}
			if def.net == "private" {
				subnetID = sub.ID
			}
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("bootstrap networks: %w", err)
	}
	return subnetID, nil
}
