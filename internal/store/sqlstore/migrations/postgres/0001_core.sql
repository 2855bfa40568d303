-- Load balancers and their children. Times are unix microseconds (UTC);
-- JSON columns hold lists and maps; status_gen is the load balancer
-- generation at which an object's provisioning status was last set.
CREATE TABLE load_balancers (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    admin_state_up BOOLEAN NOT NULL,
    provisioning_status TEXT NOT NULL,
    operating_status TEXT NOT NULL,
    status_gen BIGINT NOT NULL DEFAULT 0,
    vip_address TEXT,
    vip_port_id TEXT,
    vip_subnet_id TEXT,
    vip_network_id TEXT,
    vip_qos_policy_id TEXT,
    vip_sg_ids TEXT,
    vip_vnic_type TEXT,
    additional_vips TEXT,
    provider TEXT NOT NULL,
    flavor_id TEXT,
    availability_zone TEXT,
    tags TEXT,
    generation BIGINT NOT NULL DEFAULT 0,
    applied_generation BIGINT NOT NULL DEFAULT 0,
    last_error TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    updated_at BIGINT
);
CREATE INDEX load_balancers_project ON load_balancers (project_id);
CREATE INDEX load_balancers_created ON load_balancers (created_at, id);

CREATE TABLE pools (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    loadbalancer_id TEXT NOT NULL REFERENCES load_balancers (id) ON DELETE CASCADE,
    name TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    admin_state_up BOOLEAN NOT NULL,
    provisioning_status TEXT NOT NULL,
    operating_status TEXT NOT NULL,
    status_gen BIGINT NOT NULL DEFAULT 0,
    protocol TEXT NOT NULL,
    lb_algorithm TEXT NOT NULL,
    session_persistence TEXT,
    tls_enabled BOOLEAN NOT NULL DEFAULT FALSE,
    tls_container_ref TEXT,
    ca_tls_container_ref TEXT,
    crl_container_ref TEXT,
    tls_ciphers TEXT,
    tls_versions TEXT,
    alpn_protocols TEXT,
    tags TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT
);
CREATE INDEX pools_lb ON pools (loadbalancer_id);
CREATE INDEX pools_project ON pools (project_id);
CREATE INDEX pools_created ON pools (created_at, id);

CREATE TABLE listeners (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    loadbalancer_id TEXT NOT NULL REFERENCES load_balancers (id) ON DELETE CASCADE,
    name TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    admin_state_up BOOLEAN NOT NULL,
    provisioning_status TEXT NOT NULL,
    operating_status TEXT NOT NULL,
    status_gen BIGINT NOT NULL DEFAULT 0,
    protocol TEXT NOT NULL,
    protocol_port INTEGER NOT NULL,
    connection_limit INTEGER NOT NULL,
    default_pool_id TEXT REFERENCES pools (id) ON DELETE SET NULL,
    insert_headers TEXT,
    timeout_client_data INTEGER NOT NULL,
    timeout_member_connect INTEGER NOT NULL,
    timeout_member_data INTEGER NOT NULL,
    timeout_tcp_inspect INTEGER NOT NULL,
    default_tls_container_ref TEXT,
    sni_container_refs TEXT,
    client_ca_tls_container_ref TEXT,
    client_authentication TEXT NOT NULL DEFAULT 'NONE',
    client_crl_container_ref TEXT,
    allowed_cidrs TEXT,
    tls_ciphers TEXT,
    tls_versions TEXT,
    alpn_protocols TEXT,
    hsts_max_age INTEGER,
    hsts_include_subdomains BOOLEAN NOT NULL DEFAULT FALSE,
    hsts_preload BOOLEAN NOT NULL DEFAULT FALSE,
    tags TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT
);
CREATE INDEX listeners_lb ON listeners (loadbalancer_id);
CREATE INDEX listeners_pool ON listeners (default_pool_id);
CREATE INDEX listeners_project ON listeners (project_id);
CREATE INDEX listeners_created ON listeners (created_at, id);

CREATE TABLE members (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    pool_id TEXT NOT NULL REFERENCES pools (id) ON DELETE CASCADE,
    loadbalancer_id TEXT NOT NULL REFERENCES load_balancers (id) ON DELETE CASCADE,
    name TEXT NOT NULL DEFAULT '',
    admin_state_up BOOLEAN NOT NULL,
    provisioning_status TEXT NOT NULL,
    operating_status TEXT NOT NULL,
    status_gen BIGINT NOT NULL DEFAULT 0,
    address TEXT NOT NULL,
    protocol_port INTEGER NOT NULL,
    weight INTEGER NOT NULL,
    backup BOOLEAN NOT NULL DEFAULT FALSE,
    subnet_id TEXT,
    monitor_address TEXT,
    monitor_port INTEGER,
    vnic_type TEXT,
    tags TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT
);
CREATE UNIQUE INDEX members_pool_address_port ON members (pool_id, address, protocol_port);
CREATE INDEX members_lb ON members (loadbalancer_id);
CREATE INDEX members_project ON members (project_id);
CREATE INDEX members_created ON members (created_at, id);

CREATE TABLE health_monitors (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    pool_id TEXT NOT NULL REFERENCES pools (id) ON DELETE CASCADE,
    loadbalancer_id TEXT NOT NULL REFERENCES load_balancers (id) ON DELETE CASCADE,
    name TEXT NOT NULL DEFAULT '',
    admin_state_up BOOLEAN NOT NULL,
    provisioning_status TEXT NOT NULL,
    operating_status TEXT NOT NULL,
    status_gen BIGINT NOT NULL DEFAULT 0,
    type TEXT NOT NULL,
    delay INTEGER NOT NULL,
    timeout INTEGER NOT NULL,
    max_retries INTEGER NOT NULL,
    max_retries_down INTEGER NOT NULL,
    http_method TEXT,
    url_path TEXT,
    expected_codes TEXT,
    http_version DOUBLE PRECISION,
    domain_name TEXT,
    tags TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT
);
CREATE UNIQUE INDEX health_monitors_pool ON health_monitors (pool_id);
CREATE INDEX health_monitors_lb ON health_monitors (loadbalancer_id);
CREATE INDEX health_monitors_project ON health_monitors (project_id);
CREATE INDEX health_monitors_created ON health_monitors (created_at, id);

CREATE TABLE l7_policies (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    listener_id TEXT NOT NULL REFERENCES listeners (id) ON DELETE CASCADE,
    loadbalancer_id TEXT NOT NULL REFERENCES load_balancers (id) ON DELETE CASCADE,
    name TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    admin_state_up BOOLEAN NOT NULL,
    provisioning_status TEXT NOT NULL,
    operating_status TEXT NOT NULL,
    status_gen BIGINT NOT NULL DEFAULT 0,
    action TEXT NOT NULL,
    position INTEGER NOT NULL,
    redirect_pool_id TEXT REFERENCES pools (id),
    redirect_url TEXT,
    redirect_prefix TEXT,
    redirect_http_code INTEGER,
    tags TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT
);
CREATE INDEX l7_policies_listener ON l7_policies (listener_id, position);
CREATE INDEX l7_policies_lb ON l7_policies (loadbalancer_id);
CREATE INDEX l7_policies_pool ON l7_policies (redirect_pool_id);
CREATE INDEX l7_policies_project ON l7_policies (project_id);
CREATE INDEX l7_policies_created ON l7_policies (created_at, id);

CREATE TABLE l7_rules (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    l7policy_id TEXT NOT NULL REFERENCES l7_policies (id) ON DELETE CASCADE,
    loadbalancer_id TEXT NOT NULL REFERENCES load_balancers (id) ON DELETE CASCADE,
    admin_state_up BOOLEAN NOT NULL,
    provisioning_status TEXT NOT NULL,
    operating_status TEXT NOT NULL,
    status_gen BIGINT NOT NULL DEFAULT 0,
    type TEXT NOT NULL,
    compare_type TEXT NOT NULL,
    key TEXT,
    value TEXT NOT NULL,
    invert BOOLEAN NOT NULL DEFAULT FALSE,
    tags TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT
);
CREATE INDEX l7_rules_policy ON l7_rules (l7policy_id);
CREATE INDEX l7_rules_lb ON l7_rules (loadbalancer_id);
CREATE INDEX l7_rules_created ON l7_rules (created_at, id);
