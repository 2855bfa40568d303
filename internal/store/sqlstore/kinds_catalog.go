package sqlstore

import "github.com/fulcrumlb/fulcrum/internal/lb"

// catalogKinds describe the provider catalog's tables: flavors, flavor
// profiles, availability zones and their profiles.
type catalogKinds struct {
	flavors        *kind[lb.Flavor]
	flavorProfiles *kind[lb.FlavorProfile]
	zones          *kind[lb.AvailabilityZone]
	zoneProfiles   *kind[lb.AvailabilityZoneProfile]
}

func newCatalogKinds() catalogKinds {
	type F = lb.Flavor
	type FP = lb.FlavorProfile
	type Z = lb.AvailabilityZone
	type ZP = lb.AvailabilityZoneProfile
	return catalogKinds{
		flavorProfiles: newKind("flavor_profiles",
			text("id", func(v *FP) *string { return &v.ID }),
			text("name", func(v *FP) *string { return &v.Name }),
			text("provider_name", func(v *FP) *string { return &v.ProviderName }),
			text("flavor_data", func(v *FP) *string { return &v.FlavorData }),
		),
		flavors: newKind("flavors",
			text("id", func(v *F) *string { return &v.ID }),
			text("name", func(v *F) *string { return &v.Name }),
			text("description", func(v *F) *string { return &v.Description }),
			boolean("enabled", func(v *F) *bool { return &v.Enabled }),
			text("flavor_profile_id", func(v *F) *string { return &v.FlavorProfileID }),
		),
		zoneProfiles: newKind("availability_zone_profiles",
			text("id", func(v *ZP) *string { return &v.ID }),
			text("name", func(v *ZP) *string { return &v.Name }),
			text("provider_name", func(v *ZP) *string { return &v.ProviderName }),
			text("availability_zone_data", func(v *ZP) *string { return &v.AvailabilityZoneData }),
		),
		// The name is the key: "id" and "name" hold the same value so that
		// Get/Update/Delete by id and filters or sorts by name both work.
		zones: newKind("availability_zones",
			text("id", func(v *Z) *string { return &v.Name }),
			text("name", func(v *Z) *string { return &v.Name }),
			text("description", func(v *Z) *string { return &v.Description }),
			boolean("enabled", func(v *Z) *bool { return &v.Enabled }),
			text("availability_zone_profile_id", func(v *Z) *string { return &v.AvailabilityZoneProfileID }),
		),
	}
}
