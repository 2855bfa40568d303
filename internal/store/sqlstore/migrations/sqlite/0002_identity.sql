-- Keystone v3 subset: domains, projects, users, roles, role assignments and
-- token revocation events. Times are unix microseconds (UTC).
CREATE TABLE domains (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    enabled INTEGER NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX domains_name ON domains (name);

CREATE TABLE projects (
    id TEXT PRIMARY KEY,
    domain_id TEXT NOT NULL REFERENCES domains (id),
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    enabled INTEGER NOT NULL,
    parent_id TEXT,
    tags TEXT,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX projects_domain_name ON projects (domain_id, name);
CREATE INDEX projects_name ON projects (name);

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    domain_id TEXT NOT NULL REFERENCES domains (id),
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    email TEXT NOT NULL DEFAULT '',
    enabled INTEGER NOT NULL,
    default_project_id TEXT,
    password_hash TEXT NOT NULL DEFAULT '',
    password_changed_at BIGINT,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX users_domain_name ON users (domain_id, name);
CREATE INDEX users_name ON users (name);

CREATE TABLE roles (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX roles_name ON roles (name);

-- Assignments go with their role, user and project (Keystone deletes
-- assignments when any of them is deleted).
CREATE TABLE role_assignments (
    id TEXT PRIMARY KEY,
    role_id TEXT NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    project_id TEXT REFERENCES projects (id) ON DELETE CASCADE,
    domain_id TEXT REFERENCES domains (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX role_assignments_unique ON role_assignments (role_id, user_id, COALESCE(project_id, ''), COALESCE(domain_id, ''));
CREATE INDEX role_assignments_user ON role_assignments (user_id);
CREATE INDEX role_assignments_project ON role_assignments (project_id);

CREATE TABLE token_revocations (
    id TEXT PRIMARY KEY,
    user_id TEXT,
    project_id TEXT,
    revoked_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX token_revocations_user ON token_revocations (user_id);
CREATE INDEX token_revocations_project ON token_revocations (project_id);
CREATE INDEX token_revocations_expires ON token_revocations (expires_at);
