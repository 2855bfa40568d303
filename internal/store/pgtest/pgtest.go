// Package pgtest runs a private PostgreSQL server for tests and
// benchmarks: initdb into a temporary directory and postgres listening only
// on a Unix socket there, so they never touch a system database or a TCP
// port. It needs the PostgreSQL server binaries (Debian package postgresql;
// test/install installs it) and fails the test, never skips, when they are
// missing. Under go test -short, Start skips the test instead: -short is
// the quick loop that needs nothing installed; test/run runs without it.
//
// Only tests and benchmarks import it.
package pgtest

import (
	"bytes"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver
)

// Server is a running private PostgreSQL.
type Server struct {
	dir  string
	sock string
	cmd  *exec.Cmd
	mu   sync.Mutex
	n    int
}

// bin finds a PostgreSQL server binary.
func bin(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/" + name)
	sort.Strings(matches)
	if len(matches) > 0 {
		return matches[len(matches)-1], nil
	}
	return "", fmt.Errorf("%s not found: install the PostgreSQL server (Debian: apt-get install postgresql; test/install does this)", name)
}

// asPostgres returns a command running as the postgres user when this
// process is root (initdb and postgres refuse to run as root).
func asPostgres(uid, gid int, name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	if os.Geteuid() == 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	}
	return cmd
}

// Start initialises and starts a server; it is stopped when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	if testing.Short() {
		t.Skip("skipped under -short: needs the PostgreSQL server; test/run runs it")
	}
	s, err := Launch(Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// Options configure Launch.
type Options struct {
	// Durable keeps PostgreSQL's defaults for writes (fsync, synchronous
	// commits, full page writes): what a benchmark measures. Tests turn
	// them off.
	Durable bool
}

// Launch initialises and starts a server for a program that is not a test
// (a benchmark); Stop stops it and removes its files.
func Launch(opts Options) (*Server, error) {
	initdb, err := bin("initdb")
	if err != nil {
		return nil, err
	}
	postgres, err := bin("postgres")
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "fulcrum-pg-")
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*Server, error) {
		os.RemoveAll(dir)
		return nil, err
	}
	uid, gid := os.Getuid(), os.Getgid()
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return fail(fmt.Errorf("running as root needs the postgres user (from the postgresql package): %w", err))
		}
		uid, _ = strconv.Atoi(u.Uid)
		gid, _ = strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			return fail(err)
		}
	}
	data := filepath.Join(dir, "data")
	var out bytes.Buffer
	cmd := asPostgres(uid, gid, initdb, "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fail(fmt.Errorf("initdb: %v\n%s", err, out.String()))
	}
	s := &Server{dir: dir, sock: dir}
	args := []string{"-D", data, "-k", dir, "-c", "listen_addresses=", "-c", "max_connections=200"}
	if !opts.Durable {
		args = append(args, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	}
	s.cmd = asPostgres(uid, gid, postgres, args...)
	var logs bytes.Buffer
	s.cmd.Stdout, s.cmd.Stderr = &logs, &logs
	if err := s.cmd.Start(); err != nil {
		return fail(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		db, err := sql.Open("pgx", s.DSN("postgres"))
		if err == nil {
			err = db.Ping()
			db.Close()
		}
		if err == nil {
			return s, nil
		}
		if time.Now().After(deadline) {
			s.Stop()
			return nil, fmt.Errorf("postgres did not start: %v\n%s", err, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop stops the server and removes its files.
func (s *Server) Stop() {
	s.cmd.Process.Signal(syscall.SIGINT)
	s.cmd.Wait()
	os.RemoveAll(s.dir)
}

// DSN returns the connection string of database db.
func (s *Server) DSN(db string) string {
	return fmt.Sprintf("host=%s port=5432 user=postgres dbname=%s sslmode=disable", s.sock, db)
}

// NewDatabase creates an empty database and returns its DSN.
func (s *Server) NewDatabase(t testing.TB) string {
	t.Helper()
	return s.DSN(s.create(t))
}

// NewDatabaseURL creates an empty database and returns it as a
// postgres:// URL (what `fulcrum server --database` takes).
func (s *Server) NewDatabaseURL(t testing.TB) string {
	t.Helper()
	return s.URL(s.create(t))
}

// URL returns database db as a postgres:// URL.
func (s *Server) URL(db string) string {
	return fmt.Sprintf("postgres://postgres@/%s?host=%s&port=5432&sslmode=disable", db, url.QueryEscape(s.sock))
}

func (s *Server) create(t testing.TB) string {
	t.Helper()
	s.mu.Lock()
	s.n++
	name := fmt.Sprintf("t%d", s.n)
	s.mu.Unlock()
	if err := s.CreateDatabase(name); err != nil {
		t.Fatal(err)
	}
	return name
}

// CreateDatabase creates an empty database called name.
func (s *Server) CreateDatabase(name string) error {
	db, err := sql.Open("pgx", s.DSN("postgres"))
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.Exec("CREATE DATABASE " + name); err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}
