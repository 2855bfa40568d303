-- LBaaS compatibility. provider_name is the provider a load balancer was
-- asked for when that was an alias (Octavia's "amphora"), shown instead of
-- the provider that runs it. LBaaS v1 pools mark the pools made through
-- Neutron's v1 API (each on a load balancer of its own) with the subnet v1
-- keeps; LBaaS v1 health monitors are definitions that pools share.
ALTER TABLE load_balancers ADD COLUMN provider_name TEXT;

CREATE TABLE lbaas_v1_pools (
    id TEXT PRIMARY KEY REFERENCES pools (id) ON DELETE CASCADE,
    project_id TEXT NOT NULL,
    loadbalancer_id TEXT NOT NULL REFERENCES load_balancers (id) ON DELETE CASCADE,
    subnet_id TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL
);
CREATE INDEX lbaas_v1_pools_project ON lbaas_v1_pools (project_id);
CREATE INDEX lbaas_v1_pools_lb ON lbaas_v1_pools (loadbalancer_id);
CREATE INDEX lbaas_v1_pools_created ON lbaas_v1_pools (created_at, id);

CREATE TABLE lbaas_v1_health_monitors (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    type TEXT NOT NULL,
    delay INTEGER NOT NULL,
    timeout INTEGER NOT NULL,
    max_retries INTEGER NOT NULL,
    http_method TEXT NOT NULL DEFAULT '',
    url_path TEXT NOT NULL DEFAULT '',
    expected_codes TEXT NOT NULL DEFAULT '',
    admin_state_up BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT
);
CREATE INDEX lbaas_v1_health_monitors_project ON lbaas_v1_health_monitors (project_id);
CREATE INDEX lbaas_v1_health_monitors_created ON lbaas_v1_health_monitors (created_at, id);
