-- Per-project quotas; NULL means "use the deployment default". id is the
-- project id.
CREATE TABLE quotas (
    id TEXT PRIMARY KEY,
    load_balancer INTEGER,
    listener INTEGER,
    pool INTEGER,
    health_monitor INTEGER,
    member INTEGER,
    l7policy INTEGER,
    l7rule INTEGER
);
