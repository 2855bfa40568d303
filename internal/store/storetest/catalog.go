package storetest

import (
	"context"
	"errors"
	"testing"

	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// testCatalog covers flavor profiles, flavors, availability zone profiles
// and availability zones: round trip, unique flavor names, zones keyed by
// name, profiles in use, filters and sorting.
func testCatalog(t *testing.T, s store.Store) {
	ctx := context.Background()
	fp := &lb.FlavorProfile{ID: id("f1a00000", 1), Name: "single", ProviderName: "fulcrum", FlavorData: `{"loadbalancer_topology": "SINGLE"}`}
	f1 := &lb.Flavor{ID: id("f1b00000", 1), Name: "small", Description: "d", Enabled: true, FlavorProfileID: fp.ID}
	f2 := &lb.Flavor{ID: id("f1b00000", 2), Name: "big", Enabled: false, FlavorProfileID: fp.ID}
	zp := &lb.AvailabilityZoneProfile{ID: id("a2a00000", 1), Name: "zp", ProviderName: "fulcrum", AvailabilityZoneData: `{"agent_zone": "rack1"}`}
	z := &lb.AvailabilityZone{Name: "az-one", Description: "first", Enabled: true, AvailabilityZoneProfileID: zp.ID}
	mustUpdate(t, s, func(tx store.Tx) error {
		return errors.Join(tx.FlavorProfiles().Create(ctx, fp), tx.Flavors().Create(ctx, f1), tx.Flavors().Create(ctx, f2),
			tx.AvailabilityZoneProfiles().Create(ctx, zp), tx.AvailabilityZones().Create(ctx, z))
	})
	_ = s.View(ctx, func(tx store.Tx) error {
		gfp, err := tx.FlavorProfiles().Get(ctx, fp.ID)
		if err != nil {
			t.Fatal(err)
		}
		check(t, "flavor profile", gfp, fp)
		gf, err := tx.Flavors().Get(ctx, f1.ID)
		if err != nil {
			t.Fatal(err)
		}
		check(t, "flavor", gf, f1)
		gzp, err := tx.AvailabilityZoneProfiles().Get(ctx, zp.ID)
		if err != nil {
			t.Fatal(err)
		}
		check(t, "availability zone profile", gzp, zp)
		gz, err := tx.AvailabilityZones().Get(ctx, "az-one")
		if err != nil {
			t.Fatal(err)
		}
		check(t, "availability zone (by name)", gz, z)
		enabled, err := tx.Flavors().List(ctx, store.Query{Filters: []store.Filter{store.F("enabled", "false")}})
		if err != nil || len(enabled) != 1 || enabled[0].ID != f2.ID {
			t.Errorf("flavors enabled=false: %v %v, want [big]", enabled, err)
		}
		byName, err := tx.Flavors().List(ctx, store.Query{Sort: []store.Sort{{Field: "name"}}})
		if err != nil || len(byName) != 2 || byName[0].Name != "big" {
			t.Errorf("flavors sorted by name: %v %v", byName, err)
		}
		zs, err := tx.AvailabilityZones().List(ctx, store.Query{Filters: []store.Filter{store.F("name", "az-one")}})
		if err != nil || len(zs) != 1 {
			t.Errorf("zones named az-one: %v %v", zs, err)
		}
		if n, err := tx.Flavors().Count(ctx, store.F("flavor_profile_id", fp.ID)); err != nil || n != 2 {
			t.Errorf("flavors of the profile: %d %v, want 2", n, err)
		}
		return nil
	})
	dup := *f1
	dup.ID = id("f1b00000", 3)
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.Flavors().Create(ctx, &dup) }); !errors.Is(err, store.ErrConflict) {
		t.Errorf("second flavor named small: %v, want ErrConflict", err)
	}
	dz := *z
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.AvailabilityZones().Create(ctx, &dz) }); !errors.Is(err, store.ErrConflict) {
		t.Errorf("second zone named az-one: %v, want ErrConflict", err)
	}
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.FlavorProfiles().Delete(ctx, fp.ID) }); !errors.Is(err, store.ErrConflict) {
		t.Errorf("delete a flavor profile in use: %v, want ErrConflict", err)
	}
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.AvailabilityZoneProfiles().Delete(ctx, zp.ID) }); !errors.Is(err, store.ErrConflict) {
		t.Errorf("delete a zone profile in use: %v, want ErrConflict", err)
	}
	orphan := &lb.Flavor{ID: id("f1b00000", 4), Name: "orphan", Enabled: true, FlavorProfileID: id("f1a00000", 9)}
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.Flavors().Create(ctx, orphan) }); !errors.Is(err, store.ErrConflict) {
		t.Errorf("flavor of a missing profile: %v, want ErrConflict", err)
	}
	z.Description, z.Enabled = "", false
	mustUpdate(t, s, func(tx store.Tx) error { return tx.AvailabilityZones().Update(ctx, z) })
	mustUpdate(t, s, func(tx store.Tx) error {
		return errors.Join(tx.AvailabilityZones().Delete(ctx, z.Name), tx.Flavors().Delete(ctx, f1.ID), tx.Flavors().Delete(ctx, f2.ID),
			tx.FlavorProfiles().Delete(ctx, fp.ID), tx.AvailabilityZoneProfiles().Delete(ctx, zp.ID))
	})
	_ = s.View(ctx, func(tx store.Tx) error {
		if _, err := tx.AvailabilityZones().Get(ctx, "az-one"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("deleted zone: %v, want ErrNotFound", err)
		}
		if n, _ := tx.FlavorProfiles().Count(ctx); n != 0 {
			t.Errorf("%d flavor profiles left", n)
		}
		return nil
	})
}
