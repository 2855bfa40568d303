-- The provider catalog: flavor profiles and flavors, availability zone
-- profiles and availability zones (keyed by name: id and name hold the
-- same value). A profile in use by a flavor or zone cannot be deleted.
CREATE TABLE flavor_profiles (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    provider_name TEXT NOT NULL,
    flavor_data TEXT NOT NULL
);

CREATE TABLE flavors (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    enabled BOOLEAN NOT NULL,
    flavor_profile_id TEXT NOT NULL REFERENCES flavor_profiles (id)
);
CREATE INDEX flavors_profile ON flavors (flavor_profile_id);

CREATE TABLE availability_zone_profiles (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    provider_name TEXT NOT NULL,
    availability_zone_data TEXT NOT NULL
);

CREATE TABLE availability_zones (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    enabled BOOLEAN NOT NULL,
    availability_zone_profile_id TEXT NOT NULL REFERENCES availability_zone_profiles (id),
    CHECK (id = name)
);
CREATE INDEX availability_zones_profile ON availability_zones (availability_zone_profile_id);
CREATE INDEX load_balancers_flavor ON load_balancers (flavor_id);
CREATE INDEX load_balancers_availability_zone ON load_balancers (availability_zone);
