-- Several servers on one database. The lease that makes one of them the
-- leader (its epoch fences a deposed leader's writes); the data-plane
-- configuration published for each agent (a head per agent and a fragment
-- per load balancer, config NULL for a withdrawal), which every server
-- hands its agents, with the data-plane contract the agent announced;
-- the key rings the servers share, sealed by the master key (base64).
CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    epoch BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE TABLE agent_configs (
    agent_id TEXT PRIMARY KEY,
    version BIGINT NOT NULL DEFAULT 0,
    sent BIGINT NOT NULL DEFAULT 0,
    applied BIGINT NOT NULL DEFAULT 0,
    refused TEXT NOT NULL DEFAULT '[]',
    pruned BIGINT NOT NULL DEFAULT 0,
    contract BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE agent_fragments (
    agent_id TEXT NOT NULL,
    loadbalancer_id TEXT NOT NULL,
    generation BIGINT NOT NULL,
    version BIGINT NOT NULL,
    config TEXT,
    PRIMARY KEY (agent_id, loadbalancer_id)
);
CREATE INDEX agent_fragments_version ON agent_fragments (agent_id, version);

CREATE TABLE publication (
    id INTEGER PRIMARY KEY,
    complete_at BIGINT NOT NULL
);

CREATE TABLE sealed_keys (
    ring TEXT NOT NULL,
    num INTEGER NOT NULL,
    sealed TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (ring, num)
);
