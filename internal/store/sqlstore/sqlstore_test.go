package sqlstore_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
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

// mountTmpfs mounts a tmpfs of size bytes on a new directory, unmounted
// when the test ends (also when it fails). Tests run as root, here and in CI;
// go test -short skips the test instead.
func mountTmpfs(t *testing.T, size int) string {
	t.Helper()
	if testing.Short() {
		t.Skip("skipped under -short: needs root to mount a tmpfs; test/run runs it")
	}
	dir := filepath.Join(t.TempDir(), "small")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d,mode=0700", size)); err != nil {
		t.Fatalf("mount a %d-byte tmpfs on %s (needs root): %v", size, dir, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			syscall.Unmount(dir, syscall.MNT_DETACH)
		}
	})
	return dir
}

// fill writes path until the file system has no space left.
func fill(t *testing.T, path string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for i := 0; ; i++ {
		if i > 1<<14 {
			t.Fatalf("%s: wrote 1 GiB without filling the file system", path)
		}
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	// The last pages one byte at a time.
	for i := 0; i < 64<<10; i++ {
		if _, err := f.Write(chunk[:1]); err != nil {
			break
		}
	}
}

// TestSQLiteDiskFull: on a file system that really fills, a write fails
// with store.ErrCannotWrite, CanWrite says so, reads go on, and once space
// returns the store writes again by itself with every committed write intact.
func TestSQLiteDiskFull(t *testing.T) {
	ctx := context.Background()
	dir := mountTmpfs(t, 4<<20)
	path := filepath.Join(dir, "fulcrum.db")
	s, err := sqlstore.Open(ctx, sqlstore.Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Close() }()
	var acked []string
	n := 0
	create := func() error {
		n++
		l := &lb.LoadBalancer{ID: fmt.Sprintf("aaaaaaaa-0000-0000-0000-%012d", n), ProjectID: "p", Provider: "noop",
			Description: strings.Repeat("d", 255), Tags: []string{strings.Repeat("t", 255)}, Times: lb.Times{CreatedAt: time.Now()}}
		err := s.Update(ctx, func(tx store.Tx) error { return tx.LoadBalancers().Create(ctx, l) })
		if err == nil {
			acked = append(acked, l.ID)
		}
		return err
	}
	for range 20 {
		if err := create(); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CanWrite(ctx); err != nil {
		t.Fatalf("CanWrite before the disk fills: %v", err)
	}
	fill(t, filepath.Join(dir, "filler"))
	for i := 0; ; i++ {
		err := create()
		if err == nil {
			if i > 10000 {
				t.Fatal("10,000 writes succeeded on a full file system")
			}
			continue
		}
		if !errors.Is(err, store.ErrCannotWrite) {
			t.Fatalf("write on a full disk: %v, want store.ErrCannotWrite", err)
		}
		t.Logf("write %d on the full disk failed: %v", i+1, err)
		break
	}
	if err := s.CanWrite(ctx); !errors.Is(err, store.ErrCannotWrite) {
		t.Fatalf("CanWrite on a full disk: %v, want store.ErrCannotWrite", err)
	}
	count := func() int {
		t.Helper()
		var got []*lb.LoadBalancer
		if err := s.View(ctx, func(tx store.Tx) error {
			var err error
			got, err = tx.LoadBalancers().List(ctx, store.Query{})
			return err
		}); err != nil {
			t.Fatalf("read: %v", err)
		}
		have := map[string]bool{}
		for _, l := range got {
			have[l.ID] = true
		}
		for _, id := range acked {
			if !have[id] {
				t.Fatalf("acknowledged load balancer %s lost", id)
			}
		}
		return len(got)
	}
	if got := count(); got != len(acked) {
		t.Fatalf("%d rows, %d acknowledged", got, len(acked))
	}

	if err := os.Remove(filepath.Join(dir, "filler")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for s.CanWrite(ctx) != nil {
		if time.Now().After(deadline) {
			t.Fatalf("CanWrite after space returned: %v", s.CanWrite(ctx))
		}
		time.Sleep(50 * time.Millisecond)
	}
	for range 5 {
		if err := create(); err != nil {
			t.Fatalf("write after space returned: %v", err)
		}
	}
	count()
	s.Close()
	s, err = sqlstore.Open(ctx, sqlstore.Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	if got := count(); got != len(acked) {
		t.Fatalf("after reopening: %d rows, %d acknowledged", got, len(acked))
	}
}

// TestPostgresListenSurvivesLostConnection: when the database drops the
// connection a listener holds, the listener says so (Lost) once it listens
// again, and delivers what is sent afterwards.
func TestPostgresListenSurvivesLostConnection(t *testing.T) {
	pg := pgtest.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := sqlstore.Open(ctx, sqlstore.Options{Driver: "postgres", DSN: pg.NewDatabase(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ch, err := s.Listen(ctx, "lb")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Update(ctx, func(tx store.Tx) error {
		_, err := tx.Leases().Get(ctx, "x") // any query on the pool
		return err
	}); err != nil {
		t.Fatal(err)
	}
	kill := func() {
		db, err := sql.Open("pgx", pg.DSN("postgres"))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.Exec(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN%' OR wait_event = 'ClientRead' AND backend_type = 'client backend' AND pid <> pg_backend_pid()`); err != nil {
			t.Fatal(err)
		}
	}
	kill()
	deadline := time.After(20 * time.Second)
	sent := false
	for {
		select {
		case n := <-ch:
			if n.Lost {
				// The pool's idle connections were terminated too: the
				// first use of one may fail before the pool replaces it.
				for try := 0; ; try++ {
					err := s.Notify(ctx, "lb", "after")
					if err == nil {
						break
					}
					if try == 5 {
						t.Fatal(err)
					}
				}
				sent = true
				continue
			}
			if sent && n.Payload == "after" {
				return
			}
		case <-deadline:
			t.Fatal("no Lost notification and no delivery after the listener's connection was terminated")
		}
	}
}

// TestPostgresRenewalDoesNotWaitForTheFence: on PostgreSQL the holder
// renews its lease while its own writes that checked it are open (a
// leader's renewal never queues behind its controller), yet another
// holder's new term still waits for them.
func TestPostgresRenewalDoesNotWaitForTheFence(t *testing.T) {
	ctx := context.Background()
	s, err := sqlstore.Open(ctx, sqlstore.Options{Driver: "postgres", DSN: pgtest.Start(t).NewDatabase(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	acquire := func(holder string) store.Lease {
		var l store.Lease
		if err := s.Update(ctx, func(tx store.Tx) error {
			var err error
			l, err = tx.Leases().Acquire(ctx, "control", holder, time.Minute)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return l
	}
	a := acquire("a")
	checked, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- s.Update(ctx, func(tx store.Tx) error {
			if err := tx.Leases().Check(ctx, "control", "a", a.Epoch); err != nil {
				return err
			}
			close(checked)
			<-release
			return nil
		})
	}()
	<-checked
	renewed := make(chan store.Lease, 1)
	go func() { renewed <- acquire("a") }()
	select {
	case l := <-renewed:
		if !l.Held("a") || l.Epoch != a.Epoch {
			t.Errorf("renewal: %+v", l)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the renewal waited for a transaction that checked the lease")
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
