-- Neutron subset, second part: security groups and their rules, which
-- ports carry which groups, network quotas, when addresses were released
-- (IPAM prefers addresses not recently used) and lock rows.
CREATE TABLE security_groups (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    stateful INTEGER NOT NULL DEFAULT 1,
    is_default INTEGER NOT NULL DEFAULT 0,
    revision_number INTEGER NOT NULL DEFAULT 0,
    tags TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX security_groups_project ON security_groups (project_id);
CREATE INDEX security_groups_name ON security_groups (name);
-- One default group per project.
CREATE UNIQUE INDEX security_groups_default ON security_groups (project_id) WHERE is_default = 1;

-- A rule goes with its group, and with its remote group (as in Neutron).
CREATE TABLE security_group_rules (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    security_group_id TEXT NOT NULL REFERENCES security_groups (id) ON DELETE CASCADE,
    description TEXT NOT NULL DEFAULT '',
    direction TEXT NOT NULL,
    ethertype TEXT NOT NULL,
    protocol TEXT,
    port_range_min INTEGER,
    port_range_max INTEGER,
    remote_ip_prefix TEXT,
    remote_group_id TEXT REFERENCES security_groups (id) ON DELETE CASCADE,
    revision_number INTEGER NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX security_group_rules_group ON security_group_rules (security_group_id);
CREATE INDEX security_group_rules_remote ON security_group_rules (remote_group_id);
CREATE INDEX security_group_rules_project ON security_group_rules (project_id);

-- Ports that existed before port security keep it on, as Neutron's default.
ALTER TABLE ports ADD COLUMN port_security_enabled INTEGER NOT NULL DEFAULT 1;

-- Which ports carry which groups (the ports' security_groups lists, indexed
-- both ways): a group a port carries cannot be deleted.
CREATE TABLE port_security_groups (
    id TEXT PRIMARY KEY,
    port_id TEXT NOT NULL REFERENCES ports (id) ON DELETE CASCADE,
    security_group_id TEXT NOT NULL REFERENCES security_groups (id)
);
CREATE INDEX port_security_groups_port ON port_security_groups (port_id);
CREATE INDEX port_security_groups_group ON port_security_groups (security_group_id);

-- NULL means "use the deployment default"; id is the project id.
CREATE TABLE network_quotas (
    id TEXT PRIMARY KEY,
    network INTEGER,
    subnet INTEGER,
    port INTEGER,
    floatingip INTEGER,
    security_group INTEGER,
    security_group_rule INTEGER
);

-- When an address was last released; id is its allocation id.
CREATE TABLE ip_releases (
    id TEXT PRIMARY KEY,
    subnet_id TEXT NOT NULL REFERENCES subnets (id) ON DELETE CASCADE,
    ip_address TEXT NOT NULL,
    released_at BIGINT NOT NULL
);
CREATE INDEX ip_releases_subnet ON ip_releases (subnet_id);

-- Rows locked to serialise checks no single row guards: "address-space"
-- is taken by every subnet create of the loopback network mode.
CREATE TABLE network_locks (
    id TEXT PRIMARY KEY
);
INSERT INTO network_locks (id) VALUES ('address-space');
