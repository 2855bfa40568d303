package sqlstore_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/lb"
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

// BenchmarkLongLists measures one list of 1,000 load balancers filtered by
// 5,000 values: each tag filter, and store.In on ids.
func BenchmarkLongLists(b *testing.B) {
	ctx := context.Background()
	open := map[string]func(b *testing.B) store.Store{
		"sqlite": func(b *testing.B) store.Store {
			s, err := sqlstore.Open(ctx, sqlstore.Options{Path: filepath.Join(b.TempDir(), "fulcrum.db")})
			if err != nil {
				b.Fatal(err)
			}
			return s
		},
		"postgres": func(b *testing.B) store.Store {
			s, err := sqlstore.Open(ctx, sqlstore.Options{Driver: "postgres", DSN: pgtest.Start(b).NewDatabase(b)})
			if err != nil {
				b.Fatal(err)
			}
			return s
		},
	}
	values := make([]string, 5000)
	for i := range values {
		values[i] = fmt.Sprintf("tag-%d", i*7)
	}
	for _, driver := range []string{"sqlite", "postgres"} {
		b.Run(driver, func(b *testing.B) {
			s := open[driver](b)
			defer s.Close()
			var ids []string
			err := s.Update(ctx, func(tx store.Tx) error {
				for i := range 1000 {
					l := &lb.LoadBalancer{ID: fmt.Sprintf("aaaaaaaa-0000-0000-0000-%012d", i), ProjectID: "p", Provider: "noop",
						Tags:  []string{fmt.Sprintf("tag-%d", i), fmt.Sprintf("tag-%d", i+1), "common"},
						Times: lb.Times{CreatedAt: time.Unix(int64(i), 0)}}
					ids = append(ids, l.ID)
					if err := tx.LoadBalancers().Create(ctx, l); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
			inIDs := append(append([]string{}, values[:4000]...), ids[:1000]...)
			for _, tc := range []struct {
				name string
				q    store.Query
			}{
				{"tags", store.Query{Tags: store.Tags{All: values}}},
				{"tags-any", store.Query{Tags: store.Tags{Any: values}}},
				{"not-tags", store.Query{Tags: store.Tags{NotAll: values}}},
				{"not-tags-any", store.Query{Tags: store.Tags{NotAny: values}}},
				{"in-ids", store.Query{Filters: []store.Filter{store.In("id", inIDs...)}}},
			} {
				b.Run(tc.name, func(b *testing.B) {
					for b.Loop() {
						if err := s.View(ctx, func(tx store.Tx) error {
							_, err := tx.LoadBalancers().List(ctx, tc.q)
							return err
						}); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		})
	}
}

// TestSQLiteFilesArePrivate: the database and its -wal and -shm are 0600
// whatever the umask and the directory's mode, and wider modes left by an
// older version are tightened at open.
func TestSQLiteFilesArePrivate(t *testing.T) {
	ctx := context.Background()
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "fulcrum.db")
	check := func(when string) {
		t.Helper()
		for _, name := range []string{"fulcrum.db", "fulcrum.db-wal", "fulcrum.db-shm"} {
			fi, err := os.Stat(filepath.Join(dir, name))
			if err != nil {
				t.Fatalf("%s: %v", when, err)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("%s: %s has mode %#o, want 0600", when, name, fi.Mode().Perm())
			}
		}
	}
	write := func(s *sqlstore.Store) {
		t.Helper()
		if err := s.Update(ctx, func(tx store.Tx) error {
			return tx.LoadBalancers().Create(ctx, &lb.LoadBalancer{ID: fmt.Sprint(time.Now().UnixNano()), ProjectID: "p", Provider: "noop", Times: lb.Times{CreatedAt: time.Now()}})
		}); err != nil {
			t.Fatal(err)
		}
	}
	s, err := sqlstore.Open(ctx, sqlstore.Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	write(s)
	check("new database, umask 000, directory 0777")

	// Files made world-readable (an older version, a careless copy) are
	// tightened at the next open, while another process may hold them.
	for _, name := range []string{"fulcrum.db", "fulcrum.db-wal", "fulcrum.db-shm"} {
		if err := os.Chmod(filepath.Join(dir, name), 0o666); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	for _, name := range []string{"fulcrum.db", "fulcrum.db-wal", "fulcrum.db-shm"} {
		// Close may remove the -wal and -shm: recreate them wide.
		f, err := os.OpenFile(filepath.Join(dir, name), os.O_RDWR|os.O_CREATE, 0o666)
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
		os.Chmod(filepath.Join(dir, name), 0o666)
	}
	s, err = sqlstore.Open(ctx, sqlstore.Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	write(s)
	check("reopened after chmod 0666")
}
