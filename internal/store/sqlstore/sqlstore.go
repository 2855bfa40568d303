// Package sqlstore implements the store contract on SQL databases through
// database/sql: SQLite (embedded, the default; the pure-Go modernc.org/sqlite
// driver keeps the binary static and cgo-free) and PostgreSQL (multi-node).
//
// Schema changes are numbered migrations per dialect under migrations/,
// applied in order at Open and recorded in schema_migrations.
package sqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/fulcrumlb/fulcrum/internal/identity/keystone"
	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/network/neutron"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

//go:embed migrations
var migrationFS embed.FS

// dialect holds what differs between SQL databases.
//
// Lists of values (tag filters, store.In) are bound as one parameter and
// expanded by the database, never as one condition or placeholder per value:
// SQLite refuses expressions deeper than 1,000 and statements with more than
// 32,766 parameters, PostgreSQL more than 65,535.
type dialect struct {
	name      string
	dollar    bool   // $1-style placeholders instead of ?
	forUpdate string // row-lock suffix for SELECT
	// tags returns the condition "the row's tags include every one (all) /
	// at least one of" tags (distinct, not empty) and its arguments. A row
	// whose tags are NULL has no tags.
	tags func(all bool, tags []string) (string, []any, error)
	// in returns the condition "col is one of the list bound to its one
	// parameter", and list converts the column's filter values (of type
	// typ, as filterValue returns them) into that parameter.
	in   func(col string, typ colType) string
	list func(typ colType, values []any) (any, error)
	// nullsFirstAsc is true when NULLs already sort first ascending (SQLite).
	nullsFirstAsc bool
}

func (d *dialect) orderSuffix(desc bool) string {
	switch {
	case d.nullsFirstAsc && desc:
		return " DESC"
	case d.nullsFirstAsc:
		return " ASC"
	case desc:
		return " DESC NULLS LAST"
	default:
		return " ASC NULLS FIRST"
	}
}

// The PostgreSQL conditions keep their speed under generic plans (pgx
// prepares statements; after five runs PostgreSQL may plan without looking
// at the parameters): a list is a typed parameter (jsonb, an array) that is
// never re-parsed per row, and membership is a hash or a binary search,
// never a scan of the list per row.
var postgresDialect = dialect{
	name:      "postgres",
	dollar:    true,
	forUpdate: " FOR UPDATE",
	tags: func(all bool, tags []string) (string, []any, error) {
		if all {
			// jsonb containment of arrays: every element of the right
			// is in the left.
			list, err := json.Marshal(tags)
			return `COALESCE("tags", '[]')::jsonb @> ?::jsonb`, []any{string(list)}, err
		}
		// The wanted tags as the keys of an object: "?" (written ?? here,
		// see rebind) finds a key by binary search.
		set := make(map[string]bool, len(tags))
		for _, tag := range tags {
			set[tag] = true
		}
		obj, err := json.Marshal(set)
		return `EXISTS (SELECT 1 FROM jsonb_array_elements_text(COALESCE("tags", '[]')::jsonb) AS t(v) WHERE ?::jsonb ?? t.v)`, []any{string(obj)}, err
	},
	in: func(col string, typ colType) string {
		return col + " IN (SELECT unnest(?::" + pgArrayType[typ] + "))"
	},
	list: pgList,
}

var sqliteDialect = dialect{
	name: "sqlite",
	tags: func(all bool, tags []string) (string, []any, error) {
		list, err := json.Marshal(tags)
		if all {
			// The row has them all when as many of its distinct tags are
			// in the list as the list has values.
			return `(SELECT COUNT(DISTINCT t.value) FROM json_each(COALESCE("tags", '[]')) AS t WHERE t.value IN (SELECT value FROM json_each(?))) = ?`,
				[]any{string(list), int64(len(tags))}, err
		}
		return `EXISTS (SELECT 1 FROM json_each(COALESCE("tags", '[]')) AS t WHERE t.value IN (SELECT value FROM json_each(?)))`, []any{string(list)}, err
	},
	in:            func(col string, _ colType) string { return col + " IN (SELECT value FROM json_each(?))" },
	list:          jsonList,
	nullsFirstAsc: true,
}

// pgArrayType is the PostgreSQL array type of each filterable column type.
var pgArrayType = map[colType]string{tText: "text[]", tInt: "bigint[]", tTime: "bigint[]", tBool: "boolean[]", tFloat: "double precision[]"}

// pgList makes a typed slice pgx sends as a PostgreSQL array.
func pgList(typ colType, values []any) (any, error) {
	switch typ {
	case tText:
		return convertList[string](values)
	case tInt, tTime:
		return convertList[int64](values)
	case tBool:
		return convertList[bool](values)
	case tFloat:
		return convertList[float64](values)
	}
	return nil, fmt.Errorf("no list of column type %d", typ)
}

func convertList[E any](values []any) ([]E, error) {
	out := make([]E, len(values))
	for i, v := range values {
		e, ok := v.(E)
		if !ok {
			return nil, fmt.Errorf("list value %v is %T", v, v)
		}
		out[i] = e
	}
	return out, nil
}

// jsonList makes the JSON array text SQLite's json_each expands. Booleans
// become 1 and 0, as SQLite stores them (json_each reads true as 1 too).
func jsonList(_ colType, values []any) (any, error) {
	b, err := json.Marshal(values)
	if err != nil {
		return nil, err
	}
	return string(b), nil
}

// Options configure Open.
type Options struct {
	// Driver is "sqlite" (default) or "postgres".
	Driver string
	// Path is the SQLite database file (created with its directory if
	// missing). DSN is the PostgreSQL connection string.
	Path string
	DSN  string
	// Logger receives migration progress; nil discards.
	Logger *slog.Logger
	// ReadConns is the size of the read pool (default 4).
	ReadConns int
	// NoGroupCommit (SQLite) runs each Update in a transaction of its own
	// instead of batching concurrent ones (groupcommit.go). For comparisons
	// only; the environment variable FULCRUM_BENCH_NO_GROUP_COMMIT=1 sets
	// it too.
	NoGroupCommit bool
}

// Store is a store.Store on database/sql.
type Store struct {
	d     *dialect
	write *sql.DB // serialises writers (one connection for SQLite)
	read  *sql.DB
	kinds *kinds
	log   *slog.Logger
	w     writeState
	dsn   string // PostgreSQL: for the connections Listen holds
	hub   hub    // SQLite: notifications within the process
	// grouped: Update batches concurrent writers (SQLite, groupcommit.go).
	grouped bool
	group   group
	// SQLite: prepared statements of each pool (stmtcache.go).
	writeStmts, readStmts *stmtCache
	// statements counts the statements transactions ran (tests).
	statements atomic.Int64
}

// writeState remembers whether the last write failed with
// store.ErrCannotWrite, for CanWrite.
type writeState struct {
	mu       sync.Mutex
	failed   error     // the last write's ErrCannotWrite; nil after a commit
	probedAt time.Time // when CanWrite last tried a write
	probeErr error     // and what it found
}

var _ store.Store = (*Store)(nil)

// Open connects, applies pending migrations and returns a ready store.
func Open(ctx context.Context, opts Options) (*Store, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.ReadConns <= 0 {
		opts.ReadConns = 4
	}
	switch opts.Driver {
	case "", "sqlite":
		return openSQLite(ctx, opts)
	case "postgres":
		return openPostgres(ctx, opts)
	}
	return nil, fmt.Errorf("open store: unknown driver %q", opts.Driver)
}

func openSQLite(ctx context.Context, opts Options) (*Store, error) {
	if opts.Path == "" {
		return nil, errors.New("open sqlite store: no path")
	}
	if err := os.MkdirAll(filepath.Dir(opts.Path), 0o700); err != nil {
		return nil, fmt.Errorf("open sqlite store: %w", err)
	}
	if err := privateFiles(opts.Path, opts.Logger); err != nil {
		return nil, fmt.Errorf("open sqlite store: %w", err)
	}
	base := opts.Path + "?" + url.Values{
		"_pragma": {"busy_timeout(10000)", "foreign_keys(1)", "journal_mode(WAL)", "synchronous(FULL)", "temp_store(MEMORY)"},
	}.Encode()
	write, err := sql.Open("sqlite", base+"&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("open sqlite store: %w", err)
	}
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxLifetime(0)
	read, err := sql.Open("sqlite", base+"&_query_only=1")
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("open sqlite store: %w", err)
	}
	read.SetMaxOpenConns(opts.ReadConns)
	read.SetMaxIdleConns(opts.ReadConns)
	s := &Store{d: &sqliteDialect, write: write, read: read, kinds: newKinds(), log: opts.Logger,
		grouped:    !opts.NoGroupCommit && os.Getenv(noGroupCommitEnv) != "1",
		writeStmts: newStmtCache(write), readStmts: newStmtCache(read)}
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// privateFiles makes the database file 0600 before SQLite opens it: SQLite
// creates its -wal, -shm and -journal files with the database file's mode
// (and sets it exactly, whatever the umask), so they are 0600 too. Files
// an older version or an operator left readable by others are tightened.
func privateFiles(path string, log *slog.Logger) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	f.Close()
	for _, p := range []string{path, path + "-wal", path + "-shm", path + "-journal"} {
		fi, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		if fi.Mode().Perm() == 0o600 {
			continue
		}
		if err := os.Chmod(p, 0o600); err != nil {
			return err
		}
		if fi.Mode().Perm()&0o077 != 0 {
			log.Warn("database file was readable or writable by others: mode set to 0600", "file", p, "was", fmt.Sprintf("%#o", fi.Mode().Perm()))
		}
	}
	return nil
}

func openPostgres(ctx context.Context, opts Options) (*Store, error) {
	if opts.DSN == "" {
		return nil, errors.New("open postgres store: no DSN")
	}
	db, err := sql.Open("pgx", opts.DSN)
	if err != nil {
		return nil, fmt.Errorf("open postgres store: %w", err)
	}
	db.SetMaxOpenConns(16)
	db.SetMaxIdleConns(16)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open postgres store: %w", err)
	}
	// One pool serves readers and writers: PostgreSQL serialises writers to
	// the same load balancer with the row locks Table.Lock takes.
	s := &Store{d: &postgresDialect, write: db, read: db, kinds: newKinds(), log: opts.Logger, dsn: opts.DSN}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// Close releases the connections.
func (s *Store) Close() error {
	for _, c := range []*stmtCache{s.writeStmts, s.readStmts} {
		if c != nil {
			c.close()
		}
	}
	if s.read == s.write {
		return s.write.Close()
	}
	return errors.Join(s.read.Close(), s.write.Close())
}

// Update runs fn in a read-write transaction. On SQLite, concurrent calls
// share one transaction and one commit, each fn in a savepoint of its own
// (groupcommit.go); Update still returns only once fn's writes are
// committed, and an error from fn rolls back fn's writes only.
func (s *Store) Update(ctx context.Context, fn func(store.Tx) error) error {
	var err error
	if s.grouped {
		err = s.updateGrouped(ctx, fn)
	} else {
		err = s.run(ctx, s.write, false, fn)
	}
	s.w.mu.Lock()
	switch {
	case err == nil:
		if s.w.failed != nil {
			s.log.Info("store writes again")
		}
		s.w.failed = nil
	case errors.Is(err, store.ErrCannotWrite):
		if s.w.failed == nil {
			s.log.Error("store cannot write: writes answer 503 until it can", "err", err)
		}
		s.w.failed = err
	}
	s.w.mu.Unlock()
	return err
}

// probeInterval is how often CanWrite tries a write while writes fail.
const probeInterval = time.Second

// probeSize is how much a probe writes: more than a page, so that a probe
// succeeds only where ordinary writes would.
const probeSize = 64 << 10

// CanWrite returns nil when the store can write, or an error wrapping
// store.ErrCannotWrite with the reason. While writes succeed it only reads
// a flag; after a write failed for lack of space, a read-only or a failing
// disk, it tries a write of its own (at most once a second; callers in
// between get the last answer), so the store reports itself writable again
// as soon as the cause is gone, even when nobody else writes.
func (s *Store) CanWrite(ctx context.Context) error {
	s.w.mu.Lock()
	failed := s.w.failed
	if failed == nil {
		s.w.mu.Unlock()
		return nil
	}
	if time.Since(s.w.probedAt) < probeInterval {
		err := s.w.probeErr
		s.w.mu.Unlock()
		return err
	}
	s.w.probedAt = time.Now()
	s.w.mu.Unlock()

	err := s.Update(ctx, func(tx store.Tx) error {
		t := tx.(*txn)
		// Random, so that no layer compresses it away.
		buf := make([]byte, probeSize/2)
		rand.Read(buf)
		pad := hex.EncodeToString(buf)
		_, err := t.exec(ctx, `INSERT INTO store_write_probe (id, payload, written_at) VALUES (1, ?, ?)
ON CONFLICT (id) DO UPDATE SET payload = excluded.payload, written_at = excluded.written_at`, pad, time.Now().UnixMicro())
		return err
	})
	if err != nil && !errors.Is(err, store.ErrCannotWrite) {
		// Not an answer about writing (canceled, busy): keep the last one.
		err = failed
	}
	s.w.mu.Lock()
	s.w.probeErr = err
	s.w.mu.Unlock()
	return err
}

// View runs fn in a read-only transaction.
func (s *Store) View(ctx context.Context, fn func(store.Tx) error) error {
	return s.run(ctx, s.read, true, fn)
}

func (s *Store) run(ctx context.Context, db *sql.DB, readOnly bool, fn func(store.Tx) error) (err error) {
	if readOnly && s.d.name == "sqlite" {
		return s.viewSQLite(ctx, fn)
	}
	tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: readOnly && s.d.name != "sqlite"})
	if err != nil {
		return fmt.Errorf("begin: %w", s.translate(err))
	}
	return s.runTx(tx, &txn{s: s, tx: tx, stmts: s.readStmts}, db, nil, fn)
}

// viewSQLite is View on SQLite. Its statements run detached from ctx
// (txn.detached): database/sql watches a cancellable context with a
// goroutine per query's rows, and the driver with another per statement,
// which a reconcile's or a health manager's reads paid at every statement
// for reads that take microseconds on a local file and never wait for a
// lock (WAL). A caller whose context ends still gets its error: waiting
// for a connection of the read pool honours ctx, and each statement checks
// it before it starts; a statement that started runs to its end.
func (s *Store) viewSQLite(ctx context.Context, fn func(store.Tx) error) error {
	conn, err := s.read.Conn(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", s.translate(err))
	}
	tx, err := conn.BeginTx(context.WithoutCancel(ctx), nil)
	if err != nil {
		conn.Close()
		return fmt.Errorf("begin: %w", s.translate(err))
	}
	return s.runTx(tx, &txn{s: s, tx: tx, stmts: s.readStmts, detached: true}, s.read, func() { conn.Close() }, fn)
}

// runTx runs fn in tx (of db's pool) and ends tx; then release, if set,
// gives back the connection tx ran on.
func (s *Store) runTx(tx *sql.Tx, t *txn, db *sql.DB, release func(), fn func(store.Tx) error) (err error) {
	if db == s.write {
		t.stmts = s.writeStmts
	}
	// Statements are prepared for the pool once the transaction's
	// connection is back in it (stmtCache.prepareLearned).
	ended := func() {
		if release != nil {
			release()
		}
		t.prepareLearned()
	}
	defer func() {
		if p := recover(); p != nil {
			tx.Rollback()
			if release != nil {
				release()
			}
			panic(p)
		}
	}()
	if err := fn(t); err != nil {
		tx.Rollback()
		ended()
		return err
	}
	if err := tx.Commit(); err != nil {
		ended()
		return fmt.Errorf("commit: %w", s.translate(err))
	}
	ended()
	s.hub.deliver(t.notes)
	return nil
}

// prepareLearned prepares the statements t ran that its pool's cache
// lacked; t's transaction must have ended.
func (t *txn) prepareLearned() {
	if t.stmts != nil {
		t.stmts.prepareLearned()
	}
}

// txn implements store.Tx.
type txn struct {
	s     *Store
	tx    *sql.Tx
	notes []store.Notification // SQLite: delivered after the commit
	// detached: the statements run detached from their caller's context,
	// which they check before they start (statementCtx). A transaction
	// shared by a group of writers (group commit) is, because no one
	// caller's context may interrupt it (an interrupted statement can roll
	// back the whole transaction); so is a SQLite read transaction
	// (viewSQLite), to spare the goroutines that watch a context.
	detached bool
	// stmts: the pool's prepared statements (SQLite), nil for none.
	stmts *stmtCache
	// loaded holds, in SQLite write transactions, the stored values of
	// the rows read one by one (Get, Lock) or written by Update since, by
	// table and id: an Update of such a row sets only the columns that
	// differ, so SQLite rewrites only the index entries of those (it
	// rewrites those of every column a SET names, changed or not). Any
	// other statement that writes (a delete may cascade, raw SQL may touch
	// anything) forgets them all.
	loaded map[loadedKey][]any
}

type loadedKey struct{ table, id string }

// remembers reports whether t keeps the rows it loads (see loaded).
func (t *txn) remembers() bool { return t.stmts != nil && t.stmts == t.s.writeStmts }

// remember records the stored values of a row of table.
func (t *txn) remember(table, id string, vals []any) {
	if t.loaded == nil {
		t.loaded = map[loadedKey][]any{}
	}
	t.loaded[loadedKey{table, id}] = vals
}

// sameValue reports whether two stored values (as column get returns them:
// nil, string, int64, bool or float64) are equal; other types never are.
func sameValue(a, b any) bool {
	switch x := a.(type) {
	case nil:
		return b == nil
	case string:
		y, ok := b.(string)
		return ok && x == y
	case int64:
		y, ok := b.(int64)
		return ok && x == y
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	case float64:
		y, ok := b.(float64)
		return ok && x == y
	}
	return false
}

// rebind turns ? placeholders into $n for dialects that number them; there,
// ?? is a literal ? (PostgreSQL's jsonb key-exists operator).
func (t *txn) rebind(q string) string {
	if !t.s.d.dollar {
		return q
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' && i+1 < len(q) && q[i+1] == '?' {
			b.WriteByte('?')
			i++
			continue
		}
		if q[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

// statementCtx is the context a statement of t runs under. In a batch (group commit) a
// caller's cancellation must not interrupt a running statement, which would roll back the
// whole shared transaction: a cancelled caller fails at its next statement instead. A
// SQLite read transaction is detached the same way (viewSQLite).
func (t *txn) statementCtx(ctx context.Context) (context.Context, error) {
	if !t.detached {
		return ctx, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return context.WithoutCancel(ctx), nil
}

func (t *txn) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	ctx, err := t.statementCtx(ctx)
	if err != nil {
		return nil, err
	}
	t.s.statements.Add(1)
	if t.stmts != nil {
		if st := t.stmts.get(q); st != nil {
			rows, err := t.tx.StmtContext(ctx, st).QueryContext(ctx, args...)
			return rows, t.s.translate(err)
		}
	}
	rows, err := t.tx.QueryContext(ctx, t.rebind(q), args...)
	return rows, t.s.translate(err)
}

func (t *txn) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	t.loaded = nil // see txn.loaded
	return t.execKeep(ctx, q, args...)
}

// execKeep is exec for the statements that keep what t has loaded: an
// insert, and Update of one row (which records what it wrote).
func (t *txn) execKeep(ctx context.Context, q string, args ...any) (sql.Result, error) {
	ctx, err := t.statementCtx(ctx)
	if err != nil {
		return nil, err
	}
	t.s.statements.Add(1)
	if t.stmts != nil {
		if st := t.stmts.get(q); st != nil {
			res, err := t.tx.StmtContext(ctx, st).ExecContext(ctx, args...)
			return res, t.s.translate(err)
		}
	}
	res, err := t.tx.ExecContext(ctx, t.rebind(q), args...)
	return res, t.s.translate(err)
}

func (t *txn) LoadBalancers() store.Table[lb.LoadBalancer] {
	return &table[lb.LoadBalancer]{tx: t, k: t.s.kinds.loadBalancers}
}
func (t *txn) Listeners() store.Table[lb.Listener] {
	return &table[lb.Listener]{tx: t, k: t.s.kinds.listeners}
}
func (t *txn) Pools() store.Table[lb.Pool] { return &table[lb.Pool]{tx: t, k: t.s.kinds.pools} }
func (t *txn) Members() store.Table[lb.Member] {
	return &table[lb.Member]{tx: t, k: t.s.kinds.members}
}
func (t *txn) HealthMonitors() store.Table[lb.HealthMonitor] {
	return &table[lb.HealthMonitor]{tx: t, k: t.s.kinds.healthMonitors}
}
func (t *txn) L7Policies() store.Table[lb.L7Policy] {
	return &table[lb.L7Policy]{tx: t, k: t.s.kinds.l7Policies}
}
func (t *txn) L7Rules() store.Table[lb.L7Rule] {
	return &table[lb.L7Rule]{tx: t, k: t.s.kinds.l7Rules}
}

func (t *txn) Flavors() store.Table[lb.Flavor] {
	return &table[lb.Flavor]{tx: t, k: t.s.kinds.catalog.flavors}
}
func (t *txn) FlavorProfiles() store.Table[lb.FlavorProfile] {
	return &table[lb.FlavorProfile]{tx: t, k: t.s.kinds.catalog.flavorProfiles}
}
func (t *txn) AvailabilityZones() store.Table[lb.AvailabilityZone] {
	return &table[lb.AvailabilityZone]{tx: t, k: t.s.kinds.catalog.zones}
}
func (t *txn) AvailabilityZoneProfiles() store.Table[lb.AvailabilityZoneProfile] {
	return &table[lb.AvailabilityZoneProfile]{tx: t, k: t.s.kinds.catalog.zoneProfiles}
}

func (t *txn) Quotas() store.Table[lb.Quota] { return &table[lb.Quota]{tx: t, k: t.s.kinds.quotas} }

func (t *txn) Domains() store.Table[keystone.Domain] {
	return &table[keystone.Domain]{tx: t, k: t.s.kinds.identity.domains}
}
func (t *txn) Projects() store.Table[keystone.Project] {
	return &table[keystone.Project]{tx: t, k: t.s.kinds.identity.projects}
}
func (t *txn) Users() store.Table[keystone.User] {
	return &table[keystone.User]{tx: t, k: t.s.kinds.identity.users}
}
func (t *txn) Roles() store.Table[keystone.Role] {
	return &table[keystone.Role]{tx: t, k: t.s.kinds.identity.roles}
}
func (t *txn) Assignments() store.Table[keystone.Assignment] {
	return &table[keystone.Assignment]{tx: t, k: t.s.kinds.identity.assignments}
}
func (t *txn) Revocations() store.Table[keystone.Revocation] {
	return &table[keystone.Revocation]{tx: t, k: t.s.kinds.identity.revocations}
}
func (t *txn) Networks() store.Table[neutron.Network] {
	return &table[neutron.Network]{tx: t, k: t.s.kinds.network.networks}
}
func (t *txn) Subnets() store.Table[neutron.Subnet] {
	return &table[neutron.Subnet]{tx: t, k: t.s.kinds.network.subnets}
}
func (t *txn) Ports() store.Table[neutron.Port] {
	return &table[neutron.Port]{tx: t, k: t.s.kinds.network.ports}
}
func (t *txn) IPAllocations() store.Table[neutron.IPAllocation] {
	return &table[neutron.IPAllocation]{tx: t, k: t.s.kinds.network.ipAllocations}
}
func (t *txn) FloatingIPs() store.Table[neutron.FloatingIP] {
	return &table[neutron.FloatingIP]{tx: t, k: t.s.kinds.network.floatingIPs}
}
func (t *txn) QoSPolicies() store.Table[neutron.QoSPolicy] {
	return &table[neutron.QoSPolicy]{tx: t, k: t.s.kinds.network.qosPolicies}
}
func (t *txn) SecurityGroups() store.Table[neutron.SecurityGroup] {
	return &table[neutron.SecurityGroup]{tx: t, k: t.s.kinds.network.securityGroups}
}
func (t *txn) SecurityGroupRules() store.Table[neutron.SecurityGroupRule] {
	return &table[neutron.SecurityGroupRule]{tx: t, k: t.s.kinds.network.securityGroupRules}
}
func (t *txn) PortSecurityGroups() store.Table[neutron.PortSecurityGroup] {
	return &table[neutron.PortSecurityGroup]{tx: t, k: t.s.kinds.network.portSecurityGroups}
}
func (t *txn) NetworkQuotas() store.Table[neutron.NetworkQuota] {
	return &table[neutron.NetworkQuota]{tx: t, k: t.s.kinds.network.quotas}
}
func (t *txn) IPReleases() store.Table[neutron.IPRelease] {
	return &table[neutron.IPRelease]{tx: t, k: t.s.kinds.network.ipReleases}
}
func (t *txn) NetworkLocks() store.Table[neutron.Lock] {
	return &table[neutron.Lock]{tx: t, k: t.s.kinds.network.locks}
}
func (t *txn) Agents() store.Table[lb.Agent] { return &table[lb.Agent]{tx: t, k: t.s.kinds.agents} }
func (t *txn) JoinTokens() store.Table[lb.JoinToken] {
	return &table[lb.JoinToken]{tx: t, k: t.s.kinds.joinTokens}
}
func (t *txn) Amphorae() store.Table[lb.Amphora] {
	return &table[lb.Amphora]{tx: t, k: t.s.kinds.amphorae}
}
func (t *txn) ListenerStats() store.StatsTable     { return &statsTable{tx: t} }
func (t *txn) MemberStats() store.MemberStatsTable { return &memberStatsTable{tx: t} }

// translate maps driver errors onto the store's sentinel errors, keeping the
// driver's text for the logs.
func (s *Store) translate(err error) error {
	if err == nil {
		return nil
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "23505", "23503", "23514":
			return fmt.Errorf("%w: %s", store.ErrConflict, pe.Message)
		case "40001", "40P01", "55P03":
			return fmt.Errorf("%w: %s", store.ErrBusy, pe.Message)
		case "53100": // disk_full
			return fmt.Errorf("%w: disk full: %s", store.ErrCannotWrite, pe.Message)
		case "25006": // read_only_sql_transaction (a standby)
			return fmt.Errorf("%w: read-only: %s", store.ErrCannotWrite, pe.Message)
		case "58030": // io_error
			return fmt.Errorf("%w: I/O error: %s", store.ErrCannotWrite, pe.Message)
		}
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY,
			sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY, sqlite3.SQLITE_CONSTRAINT:
			return fmt.Errorf("%w: %s", store.ErrConflict, se.Error())
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_BUSY_SNAPSHOT:
			return fmt.Errorf("%w: %s", store.ErrBusy, se.Error())
		case sqlite3.SQLITE_IOERR_WRITE, sqlite3.SQLITE_IOERR_FSYNC, sqlite3.SQLITE_IOERR_DIR_FSYNC,
			sqlite3.SQLITE_IOERR_TRUNCATE, sqlite3.SQLITE_IOERR_SHMSIZE, sqlite3.SQLITE_IOERR_SHMMAP:
			return fmt.Errorf("%w: I/O error: %s", store.ErrCannotWrite, se.Error())
		}
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_FULL:
			return fmt.Errorf("%w: disk full: %s", store.ErrCannotWrite, se.Error())
		case sqlite3.SQLITE_READONLY:
			return fmt.Errorf("%w: read-only: %s", store.ErrCannotWrite, se.Error())
		}
	}
	return err
}

// migrate applies every migration of the dialect not yet recorded, each in
// its own transaction. On PostgreSQL an advisory lock keeps concurrent
// servers from migrating at once.
func (s *Store) migrate(ctx context.Context) error {
	if s.d.name == "postgres" {
		conn, err := s.write.Conn(ctx)
		if err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		defer conn.Close()
		if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock(7460291)`); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(7460291)`)
	}
	if _, err := s.write.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}

	dir := "migrations/" + s.d.name
	files, err := migrationFiles(s.d.name)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	// A database a newer binary migrated is refused before anything runs.
	if err := s.checkNotNewer(ctx, files); err != nil {
		return err
	}
	for _, m := range files {
		version, name := m.version, m.name
		body, err := migrationFS.ReadFile(dir + "/" + name)
		if err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		if err := s.applyMigration(ctx, version, name, string(body)); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) applyMigration(ctx context.Context, version int, name, body string) error {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate %s: %w", name, err)
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, s.rebindStatic(`SELECT COUNT(*) FROM schema_migrations WHERE version = ?`), version).Scan(&n); err != nil {
		return fmt.Errorf("migrate %s: %w", name, err)
	}
	if n > 0 {
		return nil
	}
	for _, stmt := range splitStatements(body) {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("migrate %s: %w", name, err)
		}
	}
	if _, err := tx.ExecContext(ctx, s.rebindStatic(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`), version, name, time.Now().Unix()); err != nil {
		return fmt.Errorf("migrate %s: %w", name, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate %s: %w", name, err)
	}
	s.log.Info("applied migration", "version", version, "name", name, "driver", s.d.name)
	return nil
}

func (s *Store) rebindStatic(q string) string { return (&txn{s: s}).rebind(q) }

// splitStatements splits a migration on lines that end with ';'.
func splitStatements(body string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(body, "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "--") || trimmed == "" {
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
		if strings.HasSuffix(trimmed, ";") {
			out = append(out, cur.String())
			cur.Reset()
		}
	}
	if strings.TrimSpace(cur.String()) != "" {
		out = append(out, cur.String())
	}
	return out
}
