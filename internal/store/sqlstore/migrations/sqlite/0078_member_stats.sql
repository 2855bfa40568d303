-- Member counters as agents report them, one row per (member, agent), like
-- listener_stats: a member's statistics are the sum over agents. The member's pool is
-- the members table's, never what an agent says.
CREATE TABLE member_stats (
    member_id TEXT NOT NULL,
    agent_id TEXT NOT NULL,
    loadbalancer_id TEXT NOT NULL,
    active_connections BIGINT NOT NULL DEFAULT 0,
    total_connections BIGINT NOT NULL DEFAULT 0,
    connect_errors BIGINT NOT NULL DEFAULT 0,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (member_id, agent_id)
);
CREATE INDEX member_stats_lb ON member_stats (loadbalancer_id);
