-- Neutron v2 subset: networks, subnets, ports, IP allocations, floating IPs
-- and QoS policies. JSON columns hold lists.
CREATE TABLE qos_policies (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    shared INTEGER NOT NULL DEFAULT 0,
    is_default INTEGER NOT NULL DEFAULT 0,
    tags TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX qos_policies_project ON qos_policies (project_id);

CREATE TABLE networks (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    admin_state_up INTEGER NOT NULL,
    shared INTEGER NOT NULL DEFAULT 0,
    external INTEGER NOT NULL DEFAULT 0,
    mtu INTEGER NOT NULL,
    qos_policy_id TEXT REFERENCES qos_policies (id),
    tags TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX networks_project ON networks (project_id);
CREATE INDEX networks_name ON networks (name);

CREATE TABLE subnets (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    network_id TEXT NOT NULL REFERENCES networks (id),
    name TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    ip_version INTEGER NOT NULL,
    cidr TEXT NOT NULL,
    gateway_ip TEXT,
    allocation_pools TEXT,
    enable_dhcp INTEGER NOT NULL DEFAULT 0,
    dns_nameservers TEXT,
    tags TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX subnets_network ON subnets (network_id);
CREATE INDEX subnets_project ON subnets (project_id);
CREATE INDEX subnets_name ON subnets (name);

CREATE TABLE ports (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    network_id TEXT NOT NULL REFERENCES networks (id),
    name TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    admin_state_up INTEGER NOT NULL,
    mac_address TEXT NOT NULL,
    fixed_ips TEXT,
    device_owner TEXT NOT NULL DEFAULT '',
    device_id TEXT NOT NULL DEFAULT '',
    qos_policy_id TEXT REFERENCES qos_policies (id),
    security_groups TEXT,
    status TEXT NOT NULL,
    tags TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX ports_network ON ports (network_id);
CREATE INDEX ports_project ON ports (project_id);
CREATE INDEX ports_device ON ports (device_id);
CREATE UNIQUE INDEX ports_mac ON ports (network_id, mac_address);

-- One row per fixed IP: the unique (subnet_id, ip_address) is what keeps two
-- ports from ever holding one address. Allocations go with their port; a
-- subnet cannot be deleted while it has any.
CREATE TABLE ip_allocations (
    id TEXT PRIMARY KEY,
    subnet_id TEXT NOT NULL REFERENCES subnets (id),
    network_id TEXT NOT NULL REFERENCES networks (id),
    port_id TEXT NOT NULL REFERENCES ports (id) ON DELETE CASCADE,
    ip_address TEXT NOT NULL
);
CREATE UNIQUE INDEX ip_allocations_subnet_ip ON ip_allocations (subnet_id, ip_address);
CREATE INDEX ip_allocations_port ON ip_allocations (port_id);
CREATE INDEX ip_allocations_network ON ip_allocations (network_id);

CREATE TABLE floating_ips (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    floating_network_id TEXT NOT NULL REFERENCES networks (id),
    floating_ip_address TEXT NOT NULL,
    floating_port_id TEXT NOT NULL REFERENCES ports (id),
    port_id TEXT REFERENCES ports (id),
    fixed_ip_address TEXT,
    description TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL,
    tags TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX floating_ips_project ON floating_ips (project_id);
CREATE INDEX floating_ips_port ON floating_ips (port_id);
CREATE UNIQUE INDEX floating_ips_address ON floating_ips (floating_network_id, floating_ip_address);
