-- Barbican v1 subset: secrets (payloads sealed with AES-256-GCM by the
-- secrets service; the store never sees plaintext), containers and the
-- named secrets of each container. ACLs are JSON columns on their object.
CREATE TABLE secrets (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    creator_id TEXT NOT NULL DEFAULT '',
    name TEXT NOT NULL DEFAULT '',
    secret_type TEXT NOT NULL,
    algorithm TEXT NOT NULL DEFAULT '',
    mode TEXT NOT NULL DEFAULT '',
    bit_length INTEGER,
    expiration BIGINT,
    content_type TEXT NOT NULL DEFAULT '',
    payload TEXT,
    acl TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX secrets_project ON secrets (project_id, created_at);
CREATE INDEX secrets_name ON secrets (name);

CREATE TABLE secret_containers (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    creator_id TEXT NOT NULL DEFAULT '',
    name TEXT NOT NULL DEFAULT '',
    type TEXT NOT NULL,
    acl TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX secret_containers_project ON secret_containers (project_id, created_at);

CREATE TABLE container_secrets (
    id TEXT PRIMARY KEY,
    container_id TEXT NOT NULL REFERENCES secret_containers (id) ON DELETE CASCADE,
    name TEXT NOT NULL DEFAULT '',
    secret_id TEXT NOT NULL REFERENCES secrets (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX container_secrets_unique ON container_secrets (container_id, name, secret_id);
CREATE INDEX container_secrets_secret ON container_secrets (secret_id);
