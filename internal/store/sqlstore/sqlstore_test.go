package sqlstore_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/fulcrumlb/fulcrum/internal/store"
	"github.com/fulcrumlb/fulcrum/internal/store/pgtest"
	"github.com/fulcrumlb/fulcrum/internal/store/sqlstore"
	"github.com/fulcrumlb/fulcrum/internal/store/storetest"
)

func TestSQLiteConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := sqlstore.Open(context.Background(), sqlstore.Options{Path: filepath.Join(t.TempDir(), "fulcrum.db")})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestSQLiteReopenKeepsDataAndMigrationsOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fulcrum.db")
	ctx := context.Background()
	for i := 0; i < 2; i++ {
		s, err := sqlstore.Open(ctx, sqlstore.Options{Path: path})
		if err != nil {
			t.Fatalf("open #%d: %v", i+1, err)
		}
		s.Close()
	}
}

func TestPostgresConformance(t *testing.T) {
	pg := pgtest.Start(t)
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := sqlstore.Open(context.Background(), sqlstore.Options{Driver: "postgres", DSN: pg.NewDatabase(t)})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}
