package sqlstore

import (
	"context"
	"fmt"
	"strings"

	"github.com/fulcrumlb/fulcrum/internal/lb"
)

// statsTable implements store.StatsTable.
type statsTable struct{ tx *txn }

const statsCols = `"listener_id", "agent_id", "loadbalancer_id", "active_connections", "total_connections", "bytes_in", "bytes_out", "request_errors", "updated_at"`

func (s *statsTable) Put(ctx context.Context, rows []*lb.ListenerStats) error {
	const q = `INSERT INTO "listener_stats" (` + statsCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT ("listener_id", "agent_id") DO UPDATE SET "loadbalancer_id" = excluded."loadbalancer_id",
"active_connections" = excluded."active_connections", "total_connections" = excluded."total_connections",
"bytes_in" = excluded."bytes_in", "bytes_out" = excluded."bytes_out", "request_errors" = excluded."request_errors",
"updated_at" = excluded."updated_at"`
	for _, r := range rows {
		if _, err := s.tx.exec(ctx, q, r.ListenerID, r.AgentID, r.LoadBalancerID, r.ActiveConnections, r.TotalConnections,
			r.BytesIn, r.BytesOut, r.RequestErrors, toMicros(r.UpdatedAt)); err != nil {
			return fmt.Errorf("put listener stats %s/%s: %w", r.ListenerID, r.AgentID, err)
		}
	}
	return nil
}

func statsWhere(loadBalancerID string, listenerIDs []string) (string, []any) {
	if len(listenerIDs) == 0 {
		return `"loadbalancer_id" = ?`, []any{loadBalancerID}
	}
	args := make([]any, len(listenerIDs))
	for i, id := range listenerIDs {
		args[i] = id
	}
	return `"listener_id" IN (` + strings.TrimSuffix(strings.Repeat("?, ", len(listenerIDs)), ", ") + `)`, args
}

func (s *statsTable) Delete(ctx context.Context, loadBalancerID string, listenerIDs ...string) error {
	w, args := statsWhere(loadBalancerID, listenerIDs)
	if _, err := s.tx.exec(ctx, `DELETE FROM "listener_stats" WHERE `+w, args...); err != nil {
		return fmt.Errorf("delete listener stats: %w", err)
	}
	return nil
}

func (s *statsTable) List(ctx context.Context, loadBalancerID string, listenerIDs ...string) ([]*lb.ListenerStats, error) {
	w, args := statsWhere(loadBalancerID, listenerIDs)
	q := `SELECT ` + statsCols + ` FROM "listener_stats" WHERE ` + w + ` ORDER BY "listener_id", "agent_id"`
	rows, err := s.tx.query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list listener stats: %w", err)
	}
	defer rows.Close()
	var out []*lb.ListenerStats
	for rows.Next() {
		r := &lb.ListenerStats{}
		var updated int64
		if err := rows.Scan(&r.ListenerID, &r.AgentID, &r.LoadBalancerID, &r.ActiveConnections, &r.TotalConnections,
			&r.BytesIn, &r.BytesOut, &r.RequestErrors, &updated); err != nil {
			return nil, fmt.Errorf("list listener stats: %w", err)
		}
		r.UpdatedAt = fromMicros(updated)
		out = append(out, r)
	}
	return out, rows.Err()
}

// memberStatsTable implements store.MemberStatsTable.
type memberStatsTable struct{ tx *txn }

const memberStatsCols = `"member_id", "agent_id", "loadbalancer_id", "active_connections", "total_connections", "connect_errors", "updated_at"`

func (s *memberStatsTable) Put(ctx context.Context, rows []*lb.MemberStats) error {
	const q = `INSERT INTO "member_stats" (` + memberStatsCols + `) VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT ("member_id", "agent_id") DO UPDATE SET "loadbalancer_id" = excluded."loadbalancer_id",
"active_connections" = excluded."active_connections", "total_connections" = excluded."total_connections",
"connect_errors" = excluded."connect_errors", "updated_at" = excluded."updated_at"`
	for _, r := range rows {
		if _, err := s.tx.exec(ctx, q, r.MemberID, r.AgentID, r.LoadBalancerID, r.ActiveConnections,
			r.TotalConnections, r.ConnectErrors, toMicros(r.UpdatedAt)); err != nil {
			return fmt.Errorf("put member stats %s/%s: %w", r.MemberID, r.AgentID, err)
		}
	}
	return nil
}

func memberStatsWhere(loadBalancerID string, memberIDs []string) (string, []any) {
	if len(memberIDs) == 0 {
		return `"loadbalancer_id" = ?`, []any{loadBalancerID}
	}
	args := make([]any, len(memberIDs))
	for i, id := range memberIDs {
		args[i] = id
	}
	return `"member_id" IN (` + strings.TrimSuffix(strings.Repeat("?, ", len(memberIDs)), ", ") + `)`, args
}

func (s *memberStatsTable) Delete(ctx context.Context, loadBalancerID string, memberIDs ...string) error {
	w, args := memberStatsWhere(loadBalancerID, memberIDs)
	if _, err := s.tx.exec(ctx, `DELETE FROM "member_stats" WHERE `+w, args...); err != nil {
		return fmt.Errorf("delete member stats: %w", err)
	}
	return nil
}

func (s *memberStatsTable) List(ctx context.Context, loadBalancerID string, memberIDs ...string) ([]*lb.MemberStats, error) {
	w, args := memberStatsWhere(loadBalancerID, memberIDs)
	q := `SELECT ` + memberStatsCols + ` FROM "member_stats" WHERE ` + w + ` ORDER BY "member_id", "agent_id"`
	rows, err := s.tx.query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list member stats: %w", err)
	}
	defer rows.Close()
	var out []*lb.MemberStats
	for rows.Next() {
		r := &lb.MemberStats{}
		var updated int64
		if err := rows.Scan(&r.MemberID, &r.AgentID, &r.LoadBalancerID, &r.ActiveConnections,
			&r.TotalConnections, &r.ConnectErrors, &updated); err != nil {
			return nil, fmt.Errorf("list member stats: %w", err)
		}
		r.UpdatedAt = fromMicros(updated)
		out = append(out, r)
	}
	return out, rows.Err()
}
