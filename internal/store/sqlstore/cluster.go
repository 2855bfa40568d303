package sqlstore

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/store"
)

func (t *txn) Leases() store.LeaseTable             { return leaseTable{t} }
func (t *txn) Publications() store.PublicationTable { return publicationTable{t} }
func (t *txn) SealedKeys() store.SealedKeyTable     { return sealedKeyTable{t} }

// clock returns the store's time in unix microseconds: the database
// server's on PostgreSQL, so that servers sharing it agree however their
// own clocks drift; this process's on SQLite, which one process owns.
func (t *txn) clock(ctx context.Context) (int64, error) {
	if t.s.d.name != "postgres" {
		return time.Now().UnixMicro(), nil
	}
	var now int64
	rows, err := t.query(ctx, `SELECT (EXTRACT(EPOCH FROM clock_timestamp()) * 1000000)::bigint`)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	if !rows.Next() {
		return 0, errors.New("read the database clock: no row")
	}
	if err := rows.Scan(&now); err != nil {
		return 0, err
	}
	return now, rows.Err()
}

// queryRow runs a query returning at most one row into dst; found is
// false when it returns none.
func (t *txn) queryRow(ctx context.Context, q string, args []any, dst ...any) (found bool, err error) {
	rows, err := t.query(ctx, q, args...)
	if err != nil {
		return false, err
	}
	defer rows.Close()
	if !rows.Next() {
		return false, rows.Err()
	}
	if err := rows.Scan(dst...); err != nil {
		return false, err
	}
	return true, rows.Err()
}

type leaseTable struct{ t *txn }

func (l leaseTable) read(ctx context.Context, name, suffix string) (store.Lease, bool, error) {
	out := store.Lease{Name: name}
	var expires int64
	found, err := l.t.queryRow(ctx, `SELECT "holder", "epoch", "expires_at" FROM "leases" WHERE "name" = ?`+suffix, []any{name},
		&out.Holder, &out.Epoch, &expires)
	if err != nil || !found {
		return out, found, err
	}
	now, err := l.t.clock(ctx)
	if err != nil {
		return out, true, err
	}
	out.Left = time.Duration(expires-now) * time.Microsecond
	return out, true, nil
}

func (l leaseTable) Get(ctx context.Context, name string) (store.Lease, error) {
	out, _, err := l.read(ctx, name, "")
	if err != nil {
		return out, fmt.Errorf("get lease %s: %w", name, err)
	}
	return out, nil
}

// Acquire locks the lease row against other acquirers without waiting
// for the transactions that checked it (FOR NO KEY UPDATE does not
// conflict with Check's FOR KEY SHARE), so a renewal (an UPDATE of the
// expiry) never waits for the leader's own writes. A new term replaces the
// row (DELETE, then INSERT), which waits for every transaction that
// checked the old term: the fence.
func (l leaseTable) Acquire(ctx context.Context, name, holder string, ttl time.Duration) (store.Lease, error) {
	if holder == "" || ttl <= 0 {
		return store.Lease{}, fmt.Errorf("acquire lease %s: a holder and a positive time to live are required", name)
	}
	fail := func(err error) (store.Lease, error) {
		return store.Lease{}, fmt.Errorf("acquire lease %s: %w", name, err)
	}
	lock := ""
	if l.t.s.d.name == "postgres" {
		lock = " FOR NO KEY UPDATE"
	}
	var cur store.Lease
	for attempt := 0; ; attempt++ {
		if _, err := l.t.exec(ctx, `INSERT INTO "leases" ("name", "holder", "epoch", "expires_at") VALUES (?, '', 0, 0) ON CONFLICT ("name") DO NOTHING`, name); err != nil {
			return fail(err)
		}
		var found bool
		var err error
		if cur, found, err = l.read(ctx, name, lock); err != nil {
			return fail(err)
		}
		if found {
			break
		}
		// Another acquirer replaced the row while this one waited for
		// it: read the new one.
		if attempt > 10 {
			return fail(errors.New("the lease row keeps changing"))
		}
	}
	if cur.Holder != "" && cur.Holder != holder && cur.Left > 0 {
		return cur, nil // another holder's term
	}
	now, err := l.t.clock(ctx)
	if err != nil {
		return fail(err)
	}
	expires := now + ttl.Microseconds()
	if cur.Held(holder) {
		if _, err := l.t.exec(ctx, `UPDATE "leases" SET "expires_at" = ? WHERE "name" = ?`, expires, name); err != nil {
			return fail(err)
		}
		cur.Left = ttl
		return cur, nil
	}
	cur.Epoch++ // a new term
	cur.Holder, cur.Left = holder, ttl
	if _, err := l.t.exec(ctx, `DELETE FROM "leases" WHERE "name" = ?`, name); err != nil {
		return fail(err)
	}
	if _, err := l.t.exec(ctx, `INSERT INTO "leases" ("name", "holder", "epoch", "expires_at") VALUES (?, ?, ?, ?)`,
		name, holder, cur.Epoch, expires); err != nil {
		return fail(err)
	}
	return cur, nil
}

func (l leaseTable) Release(ctx context.Context, name, holder string) error {
	if _, err := l.t.exec(ctx, `UPDATE "leases" SET "holder" = '', "expires_at" = 0 WHERE "name" = ? AND "holder" = ?`, name, holder); err != nil {
		return fmt.Errorf("release lease %s: %w", name, err)
	}
	return nil
}

func (l leaseTable) Check(ctx context.Context, name, holder string, epoch int64) error {
	suffix := ""
	if l.t.s.d.name == "postgres" {
		// Shares the row with other checkers and with renewals; a new
		// term (Acquire's DELETE) waits for every checking transaction to
		// end.
		suffix = " FOR KEY SHARE"
	}
	var one int
	found, err := l.t.queryRow(ctx, `SELECT 1 FROM "leases" WHERE "name" = ? AND "holder" = ? AND "epoch" = ?`+suffix,
		[]any{name, holder, epoch}, &one)
	if err != nil {
		return fmt.Errorf("check lease %s: %w", name, err)
	}
	if !found {
		return fmt.Errorf("%w: %s is no longer held by %s at epoch %d", store.ErrLeaseLost, name, holder, epoch)
	}
	return nil
}

type publicationTable struct{ t *txn }

const headCols = `"agent_id", "version", "sent", "applied", "refused", "pruned", "contract"`

type refusalRow struct {
	LoadBalancerID string `json:"loadbalancer_id"`
	Version        uint64 `json:"version"`
	Reason         string `json:"reason"`
}

func scanHead(rows *sql.Rows) (*store.AgentConfig, error) {
	h := &store.AgentConfig{}
	var version, sent, applied, pruned, contract int64
	var refused string
	if err := rows.Scan(&h.AgentID, &version, &sent, &applied, &refused, &pruned, &contract); err != nil {
		return nil, err
	}
	h.Contract = int(contract)
	h.Version, h.Sent, h.Applied, h.Pruned = uint64(version), uint64(sent), uint64(applied), uint64(pruned)
	var rs []refusalRow
	if err := json.Unmarshal([]byte(refused), &rs); err != nil {
		return nil, fmt.Errorf("agent %s: refusals: %w", h.AgentID, err)
	}
	for _, r := range rs {
		h.Refused = append(h.Refused, store.Refusal{LoadBalancerID: r.LoadBalancerID, Version: r.Version, Reason: r.Reason})
	}
	return h, nil
}

func (p publicationTable) heads(ctx context.Context, where string, args ...any) ([]*store.AgentConfig, error) {
	rows, err := p.t.query(ctx, `SELECT `+headCols+` FROM "agent_configs" `+where, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*store.AgentConfig
	for rows.Next() {
		h, err := scanHead(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, rows.Err()
}

func (p publicationTable) Head(ctx context.Context, agentID string) (*store.AgentConfig, error) {
	hs, err := p.heads(ctx, `WHERE "agent_id" = ?`, agentID)
	if err != nil {
		return nil, fmt.Errorf("get config head of agent %s: %w", agentID, err)
	}
	if len(hs) == 0 {
		return nil, fmt.Errorf("config head of agent %s: %w", agentID, store.ErrNotFound)
	}
	return hs[0], nil
}

func (p publicationTable) LockHead(ctx context.Context, agentID string) (*store.AgentConfig, error) {
	if _, err := p.t.exec(ctx, `INSERT INTO "agent_configs" ("agent_id") VALUES (?) ON CONFLICT ("agent_id") DO NOTHING`, agentID); err != nil {
		return nil, fmt.Errorf("lock config head of agent %s: %w", agentID, err)
	}
	hs, err := p.heads(ctx, `WHERE "agent_id" = ?`+p.t.s.d.forUpdate, agentID)
	if err != nil || len(hs) == 0 {
		return nil, fmt.Errorf("lock config head of agent %s: %w", agentID, errors.Join(err, store.ErrNotFound))
	}
	return hs[0], nil
}

func (p publicationTable) Heads(ctx context.Context) ([]*store.AgentConfig, error) {
	hs, err := p.heads(ctx, `ORDER BY "agent_id"`)
	if err != nil {
		return nil, fmt.Errorf("list config heads: %w", err)
	}
	return hs, nil
}

func (p publicationTable) PutHead(ctx context.Context, h *store.AgentConfig) error {
	rs := make([]refusalRow, 0, len(h.Refused))
	for _, r := range h.Refused {
		rs = append(rs, refusalRow{LoadBalancerID: r.LoadBalancerID, Version: r.Version, Reason: r.Reason})
	}
	refused, err := json.Marshal(rs)
	if err != nil {
		return fmt.Errorf("put config head of agent %s: %w", h.AgentID, err)
	}
	if _, err := p.t.exec(ctx, `INSERT INTO "agent_configs" (`+headCols+`) VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT ("agent_id") DO UPDATE SET "version" = excluded."version", "sent" = excluded."sent", "applied" = excluded."applied",
"refused" = excluded."refused", "pruned" = excluded."pruned", "contract" = excluded."contract"`,
		h.AgentID, int64(h.Version), int64(h.Sent), int64(h.Applied), string(refused), int64(h.Pruned), int64(h.Contract)); err != nil {
		return fmt.Errorf("put config head of agent %s: %w", h.AgentID, err)
	}
	return nil
}

func (p publicationTable) RaiseSent(ctx context.Context, agentID string, v uint64) error {
	if _, err := p.t.exec(ctx, `UPDATE "agent_configs" SET "sent" = ? WHERE "agent_id" = ? AND "sent" < ?`, int64(v), agentID, int64(v)); err != nil {
		return fmt.Errorf("record config version %d sent to agent %s: %w", v, agentID, err)
	}
	return nil
}

const fragmentCols = `"agent_id", "loadbalancer_id", "generation", "version", "config"`

func (p publicationTable) fragments(ctx context.Context, where string, args ...any) ([]*store.Fragment, error) {
	rows, err := p.t.query(ctx, `SELECT `+fragmentCols+` FROM "agent_fragments" `+where, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*store.Fragment
	for rows.Next() {
		f := &store.Fragment{}
		var version int64
		var cfg sql.NullString
		if err := rows.Scan(&f.AgentID, &f.LoadBalancerID, &f.Generation, &version, &cfg); err != nil {
			return nil, err
		}
		f.Version = uint64(version)
		if cfg.Valid {
			f.Config = []byte(cfg.String)
		}
		out = append(out, f)
	}
	return out, rows.Err()
}

func (p publicationTable) Fragments(ctx context.Context, agentID string, after uint64) ([]*store.Fragment, error) {
	out, err := p.fragments(ctx, `WHERE "agent_id" = ? AND "version" > ? ORDER BY "loadbalancer_id"`, agentID, int64(after))
	if err != nil {
		return nil, fmt.Errorf("list config fragments of agent %s: %w", agentID, err)
	}
	return out, nil
}

func (p publicationTable) Fragment(ctx context.Context, agentID, loadBalancerID string) (*store.Fragment, error) {
	out, err := p.fragments(ctx, `WHERE "agent_id" = ? AND "loadbalancer_id" = ?`, agentID, loadBalancerID)
	if err != nil {
		return nil, fmt.Errorf("get config fragment %s of agent %s: %w", loadBalancerID, agentID, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("config fragment %s of agent %s: %w", loadBalancerID, agentID, store.ErrNotFound)
	}
	return out[0], nil
}

func (p publicationTable) PutFragment(ctx context.Context, f *store.Fragment) error {
	var cfg any
	if f.Config != nil {
		cfg = string(f.Config)
	}
	if _, err := p.t.exec(ctx, `INSERT INTO "agent_fragments" (`+fragmentCols+`) VALUES (?, ?, ?, ?, ?)
ON CONFLICT ("agent_id", "loadbalancer_id") DO UPDATE SET "generation" = excluded."generation", "version" = excluded."version",
"config" = excluded."config"`, f.AgentID, f.LoadBalancerID, f.Generation, int64(f.Version), cfg); err != nil {
		return fmt.Errorf("put config fragment %s of agent %s: %w", f.LoadBalancerID, f.AgentID, err)
	}
	return nil
}

func (p publicationTable) PruneWithdrawals(ctx context.Context, agentID string, upTo uint64) (uint64, error) {
	var top sql.NullInt64
	if _, err := p.t.queryRow(ctx, `SELECT MAX("version") FROM "agent_fragments" WHERE "agent_id" = ? AND "config" IS NULL AND "version" <= ?`,
		[]any{agentID, int64(upTo)}, &top); err != nil {
		return 0, fmt.Errorf("prune withdrawals of agent %s: %w", agentID, err)
	}
	if !top.Valid {
		return 0, nil
	}
	if _, err := p.t.exec(ctx, `DELETE FROM "agent_fragments" WHERE "agent_id" = ? AND "config" IS NULL AND "version" <= ?`, agentID, int64(upTo)); err != nil {
		return 0, fmt.Errorf("prune withdrawals of agent %s: %w", agentID, err)
	}
	return uint64(top.Int64), nil
}

func (p publicationTable) Complete(ctx context.Context) (bool, error) {
	var at int64
	found, err := p.t.queryRow(ctx, `SELECT "complete_at" FROM "publication" WHERE "id" = 1`, nil, &at)
	if err != nil {
		return false, fmt.Errorf("read publication state: %w", err)
	}
	return found, nil
}

func (p publicationTable) MarkComplete(ctx context.Context, at time.Time) error {
	if _, err := p.t.exec(ctx, `INSERT INTO "publication" ("id", "complete_at") VALUES (1, ?) ON CONFLICT ("id") DO NOTHING`, at.UnixMicro()); err != nil {
		return fmt.Errorf("mark publication complete: %w", err)
	}
	return nil
}

type sealedKeyTable struct{ t *txn }

func (s sealedKeyTable) List(ctx context.Context, ring string) ([]*store.SealedKey, error) {
	q, args := `SELECT "ring", "num", "sealed", "created_at" FROM "sealed_keys" ORDER BY "ring", "num"`, []any(nil)
	if ring != "" {
		q, args = `SELECT "ring", "num", "sealed", "created_at" FROM "sealed_keys" WHERE "ring" = ? ORDER BY "num"`, []any{ring}
	}
	rows, err := s.t.query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list sealed keys: %w", err)
	}
	defer rows.Close()
	var out []*store.SealedKey
	for rows.Next() {
		k := &store.SealedKey{}
		var sealed string
		var created int64
		if err := rows.Scan(&k.Ring, &k.Num, &sealed, &created); err != nil {
			return nil, fmt.Errorf("list sealed keys: %w", err)
		}
		if k.Sealed, err = base64.StdEncoding.DecodeString(sealed); err != nil {
			return nil, fmt.Errorf("sealed key %s/%d: %w", k.Ring, k.Num, err)
		}
		k.CreatedAt = fromMicros(created)
		out = append(out, k)
	}
	return out, rows.Err()
}

func (s sealedKeyTable) Create(ctx context.Context, k *store.SealedKey) error {
	if _, err := s.t.exec(ctx, `INSERT INTO "sealed_keys" ("ring", "num", "sealed", "created_at") VALUES (?, ?, ?, ?)`,
		k.Ring, k.Num, base64.StdEncoding.EncodeToString(k.Sealed), toMicros(k.CreatedAt)); err != nil {
		return fmt.Errorf("create sealed key %s/%d: %w", k.Ring, k.Num, err)
	}
	return nil
}

func (s sealedKeyTable) Delete(ctx context.Context, ring string, num int) error {
	if _, err := s.t.exec(ctx, `DELETE FROM "sealed_keys" WHERE "ring" = ? AND "num" = ?`, ring, num); err != nil {
		return fmt.Errorf("delete sealed key %s/%d: %w", ring, num, err)
	}
	return nil
}
