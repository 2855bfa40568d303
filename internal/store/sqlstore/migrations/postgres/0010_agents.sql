-- Data-plane agents, their enrollment tokens, load balancer placements
-- (shown as amphorae) and listener counters per agent.
CREATE TABLE agents (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    address TEXT NOT NULL DEFAULT '',
    availability_zone TEXT NOT NULL DEFAULT '',
    agent_group TEXT NOT NULL DEFAULT '',
    cert_serial TEXT NOT NULL DEFAULT '',
    revoked BOOLEAN NOT NULL DEFAULT FALSE,
    status TEXT NOT NULL,
    applied_version BIGINT NOT NULL DEFAULT 0,
    refused_version BIGINT NOT NULL DEFAULT 0,
    refused_reason TEXT NOT NULL DEFAULT '',
    last_heartbeat BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT
);
CREATE INDEX agents_created ON agents (created_at, id);

CREATE TABLE join_tokens (
    id TEXT PRIMARY KEY,
    secret_hash TEXT NOT NULL,
    agent_name TEXT NOT NULL DEFAULT '',
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT
);

CREATE TABLE amphorae (
    id TEXT PRIMARY KEY,
    loadbalancer_id TEXT NOT NULL REFERENCES load_balancers (id) ON DELETE CASCADE,
    agent_id TEXT REFERENCES agents (id) ON DELETE SET NULL,
    role TEXT,
    status TEXT NOT NULL,
    compute_id TEXT,
    lb_network_ip TEXT,
    vrrp_ip TEXT,
    ha_ip TEXT,
    vrrp_port_id TEXT,
    ha_port_id TEXT,
    vrrp_interface TEXT,
    vrrp_id INTEGER,
    vrrp_priority INTEGER,
    cached_zone TEXT,
    image_id TEXT,
    compute_flavor TEXT,
    cert_expiration BIGINT,
    cert_busy BOOLEAN NOT NULL DEFAULT FALSE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT
);
CREATE INDEX amphorae_lb ON amphorae (loadbalancer_id);
CREATE INDEX amphorae_agent ON amphorae (agent_id);
CREATE INDEX amphorae_created ON amphorae (created_at, id);

CREATE TABLE listener_stats (
    listener_id TEXT NOT NULL,
    agent_id TEXT NOT NULL,
    loadbalancer_id TEXT NOT NULL,
    active_connections BIGINT NOT NULL DEFAULT 0,
    total_connections BIGINT NOT NULL DEFAULT 0,
    bytes_in BIGINT NOT NULL DEFAULT 0,
    bytes_out BIGINT NOT NULL DEFAULT 0,
    request_errors BIGINT NOT NULL DEFAULT 0,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (listener_id, agent_id)
);
CREATE INDEX listener_stats_lb ON listener_stats (loadbalancer_id);
