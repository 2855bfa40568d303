package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/cluster"
	"github.com/fulcrumlb/fulcrum/internal/config"
	"github.com/fulcrumlb/fulcrum/internal/controller"
	"github.com/fulcrumlb/fulcrum/internal/keystore"
	"github.com/fulcrumlb/fulcrum/internal/network"
	"github.com/fulcrumlb/fulcrum/internal/pki"
	"github.com/fulcrumlb/fulcrum/internal/provider"
	"github.com/fulcrumlb/fulcrum/internal/snapshot"
	"github.com/fulcrumlb/fulcrum/internal/store"
	"github.com/fulcrumlb/fulcrum/internal/store/sqlstore"
)

// storeConfig says where a command finds the store and the keys the
// servers share: the settings `server`, `agent-token` and `agent-revoke`
// have in common.
type storeConfig struct {
	DataDir       string
	Database      string
	MasterKeyFile string
	// PreviousMasterKeyFile also opens the keys while they move to the
	// master key (rotate-master-key).
	PreviousMasterKeyFile string
}

func (c *storeConfig) register(s *config.Set, dataDirUsage string) {
	s.String(&c.DataDir, "data-dir", "./fulcrum-data", dataDirUsage)
	s.String(&c.Database, "database", "", "the store: sqlite:PATH (default: sqlite:<data-dir>/fulcrum.db) or postgres://user@host/db?… (several servers share it)")
	s.String(&c.MasterKeyFile, "master-key-file", "", "file holding the master key (32 random bytes in base64, mode 0600) that seals the keys servers share in the database; required with postgres://")
	s.String(&c.PreviousMasterKeyFile, "previous-master-key-file", "", "while rotating the master key: the old one, which still opens what it sealed (docs/operations.md, \"Rotate keys\")")
}

// dsn parses --database into a driver and what it opens.
func (c *storeConfig) dsn() (driver, target string, err error) {
	switch d := c.Database; {
	case d == "":
		return "sqlite", filepath.Join(c.DataDir, "fulcrum.db"), nil
	case strings.HasPrefix(d, "sqlite:"):
		path := strings.TrimPrefix(strings.TrimPrefix(d, "sqlite:"), "//")
		if path == "" {
			return "", "", fmt.Errorf("--database %q: sqlite: needs a file path (sqlite:/var/lib/fulcrum/fulcrum.db)", d)
		}
		return "sqlite", path, nil
	case strings.HasPrefix(d, "postgres://"), strings.HasPrefix(d, "postgresql://"):
		return "postgres", d, nil
	}
	return "", "", fmt.Errorf("--database %q: want sqlite:PATH or postgres://…", redact(c.Database))
}

// redact hides a password in a database URL.
func redact(dsn string) string {
	scheme, rest, ok := strings.Cut(dsn, "://")
	if !ok {
		return dsn
	}
	cred, host, ok := strings.Cut(rest, "@")
	if !ok {
		return dsn
	}
	if user, _, ok := strings.Cut(cred, ":"); ok {
		return scheme + "://" + user + ":***@" + host
	}
	return dsn
}

// shared reports whether servers may share the store (PostgreSQL).
func (c *storeConfig) shared() bool {
	driver, _, err := c.dsn()
	return err == nil && driver == "postgres"
}

func (c *storeConfig) check() error {
	if _, _, err := c.dsn(); err != nil {
		return err
	}
	if c.PreviousMasterKeyFile != "" && c.MasterKeyFile == "" {
		return errors.New("--previous-master-key-file needs --master-key-file (the new master key)")
	}
	if c.shared() && c.MasterKeyFile == "" {
		return errors.New("--database postgres://… needs --master-key-file: the servers keep the keys they share (token keys, secret keys, the agent CA) in the database, sealed with it; create one with: openssl rand -base64 32 > master.key && chmod 600 master.key")
	}
	return nil
}

// open opens the store.
func (c *storeConfig) open(ctx context.Context, log *slog.Logger) (*sqlstore.Store, error) {
	driver, target, err := c.dsn()
	if err != nil {
		return nil, err
	}
	opts := sqlstore.Options{Driver: driver, Logger: log}
	if driver == "sqlite" {
		opts.Path = target
	} else {
		opts.DSN = target
	}
	return sqlstore.Open(ctx, opts)
}

// keyRings are the key rings the servers must agree on.
type keyRings struct {
	token, secrets, ca keystore.Ring
	// sealed: the rings are in the store; ca is then key 1 of its ring,
	// otherwise nil and the CA is files of <data-dir>/pki.
	sealed bool
	dir    string // <data-dir>
	adopt  bool   // copy the data directory's CA into an empty ring
}

// openKeyRings finds the key rings: in the store, sealed with the master
// key, when one is given (with adopt, keys the data directory holds are
// copied there the first time: a server moving to a master key); else
// files of the data directory, as fulcrum always kept them — refused when
// the store holds sealed keys, which only the master key opens.
func (c *storeConfig) openKeyRings(ctx context.Context, st store.Store, adopt bool, log *slog.Logger) (*keyRings, error) {
	dirs := map[string]string{"token": filepath.Join(c.DataDir, "keys"), "secrets": filepath.Join(c.DataDir, "keys", "secrets")}
	if c.MasterKeyFile == "" {
		var sealed []*store.SealedKey
		if err := st.View(ctx, func(tx store.Tx) error {
			var err error
			sealed, err = tx.SealedKeys().List(ctx, "")
			return err
		}); err != nil {
			return nil, err
		}
		if len(sealed) > 0 {
			return nil, errors.New("the database keeps its keys sealed with a master key: give the server --master-key-file")
		}
		tok, err := keystore.Dir(dirs["token"])
		if err != nil {
			return nil, err
		}
		sec, err := keystore.Dir(dirs["secrets"])
		if err != nil {
			return nil, err
		}
		return &keyRings{token: tok, secrets: sec, dir: c.DataDir}, nil
	}
	mk, err := keystore.LoadMasterKey(c.MasterKeyFile)
	if err != nil {
		return nil, err
	}
	if c.PreviousMasterKeyFile != "" {
		prev, err := keystore.LoadMasterKey(c.PreviousMasterKeyFile)
		if err != nil {
			return nil, fmt.Errorf("--previous-master-key-file: %w", err)
		}
		mk = mk.WithPrevious(prev)
	}
	rings := &keyRings{token: keystore.Sealed(st, mk, "token"), secrets: keystore.Sealed(st, mk, "secrets"),
		ca: keystore.Sealed(st, mk, "agent-ca"), sealed: true, dir: c.DataDir, adopt: adopt}
	if !adopt {
		return rings, nil
	}
	for name, ring := range map[string]keystore.Ring{"token": rings.token, "secrets": rings.secrets} {
		if _, err := os.Stat(dirs[name]); err != nil {
			continue
		}
		dir, err := keystore.Dir(dirs[name])
		if err != nil {
			return nil, err
		}
		n, err := keystore.Import(ctx, dir, ring)
		if err != nil {
			return nil, fmt.Errorf("copy the keys of %s into the database: %w", dirs[name], err)
		}
		if n > 0 {
			log.Info("keys copied from the data directory into the database, sealed with the master key", "ring", name, "from", dirs[name], "keys", n)
		}
	}
	return rings, nil
}

// loadCA returns the agents' CA: key 1 of the sealed ring (created by the
// first server, or copied from <data-dir>/pki when it holds one), or the
// files of <data-dir>/pki.
func (r *keyRings) loadCA(ctx context.Context, log *slog.Logger) (*pki.CA, error) {
	dir := filepath.Join(r.dir, "pki")
	if !r.sealed {
		return pki.LoadOrCreateCA(dir, time.Now())
	}
	imported := false
	key, err := keystore.One(ctx, r.ca, func() ([]byte, error) {
		if r.adopt {
			data, err := pki.ReadCAFiles(dir)
			if err == nil {
				imported = true
				return data, nil
			}
			if !errors.Is(err, os.ErrNotExist) {
				return nil, err
			}
		}
		return pki.NewCAPEM(time.Now())
	})
	if err != nil {
		return nil, err
	}
	if imported {
		log.Info("agent CA copied from the data directory into the database, sealed with the master key", "from", dir)
	}
	return pki.ParseCA(key.Material)
}

// serverID names this server process in the lease and the logs.
func serverID() string {
	host, _ := os.Hostname()
	b := make([]byte, 4)
	rand.Read(b)
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b))
}

// work takes load balancers to the controller: this server's own while it
// leads, the leader's through the bus otherwise. A write committed while
// this server still leads is either reconciled by its controller or found
// by the next leader, which reconciles every load balancer when its term
// starts.
type work struct {
	bus *cluster.Bus // nil when the store has one server
	cur atomic.Pointer[controller.Controller]
	ctx context.Context
}

// queueLen is the length of this server's controller queue (0 while it
// does not lead).
func (w *work) queueLen() int {
	if c := w.cur.Load(); c != nil {
		return c.QueueLen()
	}
	return 0
}

// Enqueue asks for load balancer id to be reconciled. It never blocks.
func (w *work) Enqueue(id string) {
	if c := w.cur.Load(); c != nil {
		c.Enqueue(id)
		return
	}
	if w.bus != nil {
		w.bus.Enqueue(id)
	}
}

// EnqueueWrite is Enqueue for an API write (change.WriteNotifier): while
// the load balancer is being reconciled, the next reconcile waits a little
// so that a stream of writes is applied together.
func (w *work) EnqueueWrite(id string) {
	if c := w.cur.Load(); c != nil {
		c.EnqueueWrite(id)
		return
	}
	if w.bus != nil {
		w.bus.Enqueue(id)
	}
}

// Resync asks for every unsettled load balancer to be reconciled.
func (w *work) Resync() {
	if c := w.cur.Load(); c != nil {
		c.Resync(w.ctx)
		return
	}
	if w.bus != nil {
		w.bus.ResyncAll()
	}
}

// follow hands what is sent on the bus — by other servers' writes, and by
// any server's acknowledgements (this one's too) — to this server's
// controller while it leads, until ctx ends.
func (w *work) follow(ctx context.Context, b store.Broadcaster, log *slog.Logger) error {
	ch, err := b.Listen(ctx, cluster.LoadBalancers)
	if err != nil {
		return err
	}
	go func() {
		for n := range ch {
			c := w.cur.Load()
			switch {
			case c == nil:
			case n.Lost || n.Payload == cluster.ResyncAll:
				c.Resync(ctx)
			default:
				c.Enqueue(n.Payload)
			}
		}
		if ctx.Err() == nil {
			log.Error("stopped following the other servers' writes")
		}
	}()
	return nil
}

// leaderWork is what only the leader runs.
type leaderWork struct {
	cfg      *serverConfig
	log      *slog.Logger
	work     *work
	shared   *snapshot.Shared
	cp       *controlPlane
	services *services
	metrics  *serverMetrics
}

// lead runs the controller (with the native provider) and dead-agent
// detection for one term, writing through the term's fenced store, until
// the term ends.
func (l *leaderWork) lead(ctx context.Context, term cluster.Term) {
	term.Store = l.metrics.store(term.Store)
	native := provider.NewNative(provider.Options{Store: term.Store, Cache: l.shared, Logger: l.log, Addresses: floatingAddresses,
		TLS: keyManager{l.services.keyManager}, Ingress: network.VIPIngress})
	ctrl := controller.New(controller.Options{
		Store:       term.Store,
		Providers:   map[string]controller.Provider{"noop": controller.Noop{Store: term.Store}, "fulcrum": native, "haproxy": native},
		Hooks:       l.services.network.hooks,
		Logger:      l.log,
		Workers:     l.cfg.Workers,
		Resync:      l.cfg.Resync,
		OnReconcile: l.metrics.observeReconcile,
	})
	l.work.cur.Store(ctrl)
	defer l.work.cur.Store(nil)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		select {
		case <-ctrl.Synced():
		case <-ctx.Done():
			return
		}
		// Every load balancer is published: servers may hand agents
		// their configurations (after an upgrade, the first time).
		for ctx.Err() == nil {
			err := l.shared.MarkComplete(ctx)
			if err == nil {
				return
			}
			l.log.Warn("mark the published configurations complete; retrying", "err", err)
			if !sleepCtx(ctx, time.Second) {
				return
			}
		}
	}()
	go func() {
		defer wg.Done()
		l.cp.hm.RunLiveness(ctx, term.Store)
	}()
	if err := ctrl.Run(ctx); err != nil && ctx.Err() == nil {
		l.log.Error("controller stopped", "err", err)
	}
	wg.Wait()
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// retryConflicts runs a bootstrap step again when it lost a race with
// another server running it at the same moment (the loser's next attempt
// finds what the winner created).
func retryConflicts(fn func() error) error {
	var err error
	for range 5 {
		if err = fn(); !errors.Is(err, store.ErrConflict) && !errors.Is(err, store.ErrBusy) {
			return err
		}
	}
	return err
}
