package sqlstore_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fulcrumlb/fulcrum/internal/store/pgtest"
	"github.com/fulcrumlb/fulcrum/internal/store/sqlstore"
)

// TestNewerSchemaRefused: a database that records a migration this binary
// does not carry (a newer fulcrum migrated it) is refused at Open, with
// both schema versions in the message, and is left as it was; a database
// at this binary's version opens.
func TestNewerSchemaRefused(t *testing.T) {
	ctx := context.Background()
	cases := map[string]struct {
		driver string
		open   func(t *testing.T) (sqlstore.Options, *sql.DB)
	}{
		"sqlite": {"sqlite", func(t *testing.T) (sqlstore.Options, *sql.DB) {
			path := filepath.Join(t.TempDir(), "fulcrum.db")
			db, err := sql.Open("sqlite", path)
			if err != nil {
				t.Fatal(err)
			}
			return sqlstore.Options{Path: path}, db
		}},
		"postgres": {"postgres", func(t *testing.T) (sqlstore.Options, *sql.DB) {
			dsn := pgtest.Start(t).NewDatabase(t)
			db, err := sql.Open("pgx", dsn)
			if err != nil {
				t.Fatal(err)
			}
			return sqlstore.Options{Driver: "postgres", DSN: dsn}, db
		}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			opts, raw := tc.open(t)
			defer raw.Close()
			binary := sqlstore.SchemaVersion(tc.driver)
			if binary < 55 {
				t.Fatalf("SchemaVersion(%q) = %d, want the newest embedded migration", tc.driver, binary)
			}
			s, err := sqlstore.Open(ctx, opts)
			if err != nil {
				t.Fatal(err)
			}
			s.Close()
			// Same version: opens again.
			s, err = sqlstore.Open(ctx, opts)
			if err != nil {
				t.Fatalf("reopen at the same schema version: %v", err)
			}
			s.Close()

			future := binary + 1000
			futureName := fmt.Sprintf("%04d_from_the_future.sql", future)
			q := `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, 0)`
			if tc.driver == "postgres" {
				q = `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, 0)`
			}
			if _, err := raw.ExecContext(ctx, q, future, futureName); err != nil {
				t.Fatal(err)
			}
			// A table of the future migration, which this binary must not touch.
			if _, err := raw.ExecContext(ctx, `CREATE TABLE future_thing (id TEXT)`); err != nil {
				t.Fatal(err)
			}
			s, err = sqlstore.Open(ctx, opts)
			if err == nil {
				s.Close()
				t.Fatal("a database migrated by a newer binary opened")
			}
			var newer *sqlstore.NewerSchemaError
			if !errors.As(err, &newer) || newer.Database != future || newer.Binary != binary || newer.DatabaseName != futureName {
				t.Fatalf("got %#v (%v), want a NewerSchemaError %d > %d", err, err, future, binary)
			}
			for _, want := range []string{fmt.Sprint(future), futureName, fmt.Sprintf("schema version %d", binary), "newer fulcrum"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("message %q does not say %q", err, want)
				}
			}
			var n int
			if err := raw.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n < 2 {
				t.Errorf("schema_migrations has %d rows after the refusal", n)
			}
		})
	}
}
