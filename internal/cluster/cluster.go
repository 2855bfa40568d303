// Package cluster coordinates the servers that share one store: which one
// leads — holds a lease renewed in the store, and while it does runs the
// work that must run once (the controller, dead-agent detection) through a
// store whose writes are fenced by the lease's epoch, so that a deposed
// leader's late writes are refused — and how any server reaches the
// leader's controller (Bus: load balancer ids sent as notifications).
//
// On SQLite one server owns the store: the Elector is Solo and leads at
// once, and fencing is a no-op.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/store"
)

// Notification channels.
const (
	// LoadBalancers carries load balancer ids for the leader's controller
	// to reconcile, or ResyncAll.
	LoadBalancers = "fulcrum_lb"
	// Configs carries the ids of agents whose published configuration
	// changed (see snapshot.Shared).
	Configs = "fulcrum_config"
)

// ResyncAll, sent on LoadBalancers, asks the leader to reconcile every
// unsettled load balancer (an agent came up: load balancers waiting for
// one can be placed).
const ResyncAll = "*"

// Default lease timings: a term lasts 1.5 s unless renewed; the leader
// renews it five times a term, so it loses it only after 1.2 s without
// reaching the store, and another server takes over at most 1.5 s after
// the leader died.
const (
	DefaultTTL = 1500 * time.Millisecond
)

// Term is one term of leadership.
type Term struct {
	// Epoch is the lease's epoch for this term (0 when Solo).
	Epoch int64
	// Store is the store whose writes commit only while this term lasts
	// (the plain store when Solo).
	Store store.Store
}

// ElectorOptions configure NewElector.
type ElectorOptions struct {
	Store store.Store
	// Lease is the lease's name; Holder this server's unique name.
	Lease, Holder string
	// TTL is how long a term lasts unless renewed (default DefaultTTL);
	// Renew how often the leader renews it and the others look whether
	// it expired (default TTL/5).
	TTL, Renew time.Duration
	// Solo: the store has one server (SQLite). It leads at once, for good,
	// without a lease.
	Solo   bool
	Logger *slog.Logger
}

// Elector campaigns for a lease and runs the leader's work while it holds
// it.
type Elector struct {
	opts ElectorOptions
	log  *slog.Logger

	mu      sync.Mutex
	leading bool
}

// NewElector returns an elector; Run campaigns.
func NewElector(opts ElectorOptions) *Elector {
	if opts.TTL <= 0 {
		opts.TTL = DefaultTTL
	}
	if opts.Renew <= 0 || opts.Renew >= opts.TTL {
		opts.Renew = opts.TTL / 5
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Elector{opts: opts, log: opts.Logger.With("component", "cluster", "lease", opts.Lease, "holder", opts.Holder)}
}

// Leading reports whether this server leads now.
func (e *Elector) Leading() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.leading
}

func (e *Elector) setLeading(v bool) {
	e.mu.Lock()
	e.leading = v
	e.mu.Unlock()
}

// Run campaigns until ctx ends. Whenever this server holds the lease, it
// runs lead with a context that ends with the term: when another server
// takes the lease, when this one could not renew it before it expired, or
// when ctx ends. It waits for lead to return before it campaigns again,
// and releases the lease when ctx ends, so that another server takes over
// at once. lead returning by itself ends the term too.
func (e *Elector) Run(ctx context.Context, lead func(ctx context.Context, t Term)) {
	if e.opts.Solo {
		e.setLeading(true)
		lead(ctx, Term{Store: e.opts.Store})
		e.setLeading(false)
		return
	}
	defer e.release()
	for ctx.Err() == nil {
		start := time.Now()
		l, err := e.acquire(ctx)
		if err != nil {
			if ctx.Err() == nil {
				e.log.Warn("campaign for the lease failed", "err", err)
			}
			if !sleep(ctx, e.opts.Renew) {
				return
			}
			continue
		}
		if !l.Held(e.opts.Holder) {
			// Look again when the holder's term would end, or sooner.
			wait := e.opts.Renew
			if l.Left > 0 && l.Left+5*time.Millisecond < wait {
				wait = l.Left + 5*time.Millisecond
			}
			if !sleep(ctx, wait) {
				return
			}
			continue
		}
		if ended := e.lead(ctx, l, start.Add(e.opts.TTL), lead); ended && !sleep(ctx, e.opts.Renew) {
			return
		}
	}
}

// lead runs one term: lead in its own goroutine, while the loop renews the
// lease and ends the term when it cannot. It reports whether lead returned
// by itself.
func (e *Elector) lead(ctx context.Context, l store.Lease, deadline time.Time, lead func(ctx context.Context, t Term)) (ended bool) {
	termCtx, end := context.WithCancel(ctx)
	defer end()
	term := Term{Epoch: l.Epoch, Store: Fenced(e.opts.Store, e.opts.Lease, e.opts.Holder, l.Epoch)}
	e.log.Info("leading", "epoch", l.Epoch)
	e.setLeading(true)
	done := make(chan struct{})
	go func() {
		defer close(done)
		lead(termCtx, term)
	}()
	stop := func(why string) {
		e.setLeading(false)
		end()
		<-done
		if why != "" {
			e.log.Warn("no longer leading: "+why, "epoch", l.Epoch)
		}
	}
	renew := time.NewTicker(e.opts.Renew)
	defer renew.Stop()
	expiry := time.NewTimer(time.Until(deadline))
	defer expiry.Stop()
	for {
		select {
		case <-ctx.Done():
			stop("")
			return false
		case <-done:
			stop("the leader's work ended")
			e.release()
			return true
		case <-expiry.C:
			stop("the lease was not renewed before it expired")
			return false
		case <-renew.C:
		}
		start := time.Now()
		cur, err := e.acquire(ctx)
		switch {
		case err != nil:
			if ctx.Err() == nil {
				e.log.Warn("renewing the lease failed; trying again until it expires", "err", err, "expires_in", time.Until(deadline).Round(time.Millisecond))
			}
		case !cur.Held(e.opts.Holder) || cur.Epoch != l.Epoch:
			stop(fmt.Sprintf("another server holds the lease (%s, epoch %d)", cur.Holder, cur.Epoch))
			return false
		default:
			deadline = start.Add(e.opts.TTL)
			expiry.Reset(time.Until(deadline))
		}
	}
}

func (e *Elector) acquire(ctx context.Context) (store.Lease, error) {
	ctx, cancel := context.WithTimeout(ctx, e.opts.TTL)
	defer cancel()
	var l store.Lease
	// Most looks find a live term: a read, so that followers never lock
	// the row the leader renews and fences its writes with.
	err := e.opts.Store.View(ctx, func(tx store.Tx) error {
		var err error
		l, err = tx.Leases().Get(ctx, e.opts.Lease)
		return err
	})
	if err != nil || (l.Left > 0 && l.Holder != e.opts.Holder && l.Holder != "") {
		return l, err
	}
	err = e.opts.Store.Update(ctx, func(tx store.Tx) error {
		var err error
		l, err = tx.Leases().Acquire(ctx, e.opts.Lease, e.opts.Holder, e.opts.TTL)
		return err
	})
	return l, err
}

// release ends this server's term in the store, if it holds one.
func (e *Elector) release() {
	ctx, cancel := context.WithTimeout(context.Background(), e.opts.TTL)
	defer cancel()
	err := e.opts.Store.Update(ctx, func(tx store.Tx) error { return tx.Leases().Release(ctx, e.opts.Lease, e.opts.Holder) })
	if err != nil {
		e.log.Warn("releasing the lease failed: another server takes over when it expires", "err", err)
	}
}

// Fenced returns st whose Update commits only while holder holds lease
// name at epoch: each transaction checks it first (store.LeaseTable.Check)
// and fails with store.ErrLeaseLost otherwise. View is st's.
func Fenced(st store.Store, name, holder string, epoch int64) store.Store {
	return &fenced{Store: st, name: name, holder: holder, epoch: epoch}
}

type fenced struct {
	store.Store
	name, holder string
	epoch        int64
}

func (f *fenced) Update(ctx context.Context, fn func(store.Tx) error) error {
	return f.Store.Update(ctx, func(tx store.Tx) error {
		if err := tx.Leases().Check(ctx, f.name, f.holder, f.epoch); err != nil {
			return err
		}
		return fn(tx)
	})
}

// IsLeaseLost reports whether err says the term ended.
func IsLeaseLost(err error) bool { return errors.Is(err, store.ErrLeaseLost) }

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
