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
	"sync/atomic"
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
	// Epoch is the lease's epoch when the term began (0 when Solo). A
	// leader whose lease expired while no other server took it, and that
	// renews it then, leads on in the next epoch (its store's fence moves
	// with it): nobody else led in between.
	Epoch int64
	// Store is the store whose writes commit only while this term lasts
	// (the plain store when Solo).
	Store store.Store
}

// ElectorOptions configure NewElector.
type ElectorOptions struct {
	// Store is the store the leader's work writes through (fenced by the
	// lease).
	Store store.Store
	// LeaseStore, when set, is where the lease is read, renewed and
	// released: a store on connections of its own, so that a renewal
	// never waits for a connection busy with the API's or the
	// controller's work (default Store).
	LeaseStore store.Store
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
	if opts.LeaseStore == nil {
		opts.LeaseStore = opts.Store
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

// lead runs one term: lead in its own goroutine, while this loop renews
// the lease Renew after Renew. It reports whether lead returned by itself.
//
// The term ends when the store says another server holds the lease, or
// when a renewal fails outright once the lease's local deadline has
// passed (the deadline is counted from before the last renewal that
// succeeded, so it never falls after the store's own expiry), or when
// renewals keep timing out for a lifetime of the lease past it. A
// deadline passing is not enough by itself: a leader woken late (a busy
// machine) tries a renewal first, and leads on when the store still
// counts it as the holder — or when its lease expired there but no other
// server took it (a new epoch, the fence moved along). Whatever the local
// clocks say, a deposed leader's writes are refused by the fence.
func (e *Elector) lead(ctx context.Context, l store.Lease, deadline time.Time, lead func(ctx context.Context, t Term)) (ended bool) {
	termCtx, end := context.WithCancel(ctx)
	defer end()
	fence := &fenced{Store: e.opts.Store, name: e.opts.Lease, holder: e.opts.Holder}
	fence.epoch.Store(l.Epoch)
	term := Term{Epoch: l.Epoch, Store: fence}
	e.log.Info("leading", "epoch", l.Epoch)
	e.setLeading(true)
	done := make(chan struct{})
	go func() {
		defer close(done)
		lead(termCtx, term)
	}()
	epoch := l.Epoch
	stop := func(why string) {
		e.setLeading(false)
		end()
		<-done
		if why != "" {
			e.log.Warn("no longer leading: "+why, "epoch", epoch)
		}
	}
	renew := time.NewTicker(e.opts.Renew)
	defer renew.Stop()
	// expiry wakes the loop at the deadline for one more renewal, should
	// the last ones have failed.
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
		case <-renew.C:
		}
		start := time.Now()
		cur, err := e.renew(ctx)
		switch {
		case err != nil:
			if ctx.Err() != nil {
				continue
			}
			// A renewal that failed outright after the deadline ends the
			// term; one that timed out (the machine or the database too
			// busy to answer) is tried again for one more lifetime of the
			// lease: the store decides, when it answers, whether another
			// server took over meanwhile.
			late := time.Since(deadline)
			if late >= 0 && (!errors.Is(err, context.DeadlineExceeded) || late >= e.opts.TTL) {
				stop(fmt.Sprintf("the lease could not be renewed before it expired: %v", err))
				return false
			}
			e.log.Warn("renewing the lease failed; trying again", "err", err, "expires_in", time.Until(deadline).Round(time.Millisecond))
			continue
		case cur.Held(e.opts.Holder) && cur.Epoch == epoch:
		case cur.Held(e.opts.Holder) && cur.Epoch == epoch+1:
			// The term expired in the store before this renewal reached
			// it, and nobody took the lease meanwhile (that would have
			// made the epoch grow by more): the work goes on, fenced by
			// the new epoch from now on.
			e.log.Warn("the lease had expired when this renewal reached the store, but no other server took it: leading on", "epoch", cur.Epoch, "was", epoch)
			epoch = cur.Epoch
			fence.epoch.Store(epoch)
		default:
			stop(fmt.Sprintf("another server holds the lease (%s, epoch %d)", cur.Holder, cur.Epoch))
			return false
		}
		deadline = start.Add(e.opts.TTL)
		expiry.Reset(time.Until(deadline))
	}
}

// renew renews this server's term: one transaction on the lease store,
// given the lease's lifetime to finish, wherever the deadline stands (a
// renewal that reaches the store late is still an answer: the term goes
// on, or the store names the server that took over).
func (e *Elector) renew(ctx context.Context) (store.Lease, error) {
	ctx, cancel := context.WithTimeout(ctx, e.opts.TTL)
	defer cancel()
	var l store.Lease
	err := e.opts.LeaseStore.Update(ctx, func(tx store.Tx) error {
		var err error
		l, err = tx.Leases().Acquire(ctx, e.opts.Lease, e.opts.Holder, e.opts.TTL)
		return err
	})
	return l, err
}

func (e *Elector) acquire(ctx context.Context) (store.Lease, error) {
	ctx, cancel := context.WithTimeout(ctx, e.opts.TTL)
	defer cancel()
	var l store.Lease
	// Most looks find a live term: a read, so that followers never lock
	// the row the leader renews and fences its writes with.
	err := e.opts.LeaseStore.View(ctx, func(tx store.Tx) error {
		var err error
		l, err = tx.Leases().Get(ctx, e.opts.Lease)
		return err
	})
	if err != nil || (l.Left > 0 && l.Holder != e.opts.Holder && l.Holder != "") {
		return l, err
	}
	err = e.opts.LeaseStore.Update(ctx, func(tx store.Tx) error {
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
	err := e.opts.LeaseStore.Update(ctx, func(tx store.Tx) error { return tx.Leases().Release(ctx, e.opts.Lease, e.opts.Holder) })
	if err != nil {
		e.log.Warn("releasing the lease failed: another server takes over when it expires", "err", err)
	}
}

// Fenced returns st whose Update commits only while holder holds lease
// name at epoch: each transaction checks it first (store.LeaseTable.Check)
// and fails with store.ErrLeaseLost otherwise. View is st's.
func Fenced(st store.Store, name, holder string, epoch int64) store.Store {
	f := &fenced{Store: st, name: name, holder: holder}
	f.epoch.Store(epoch)
	return f
}

type fenced struct {
	store.Store
	name, holder string
	epoch        atomic.Int64
}

func (f *fenced) Update(ctx context.Context, fn func(store.Tx) error) error {
	return f.Store.Update(ctx, func(tx store.Tx) error {
		if err := tx.Leases().Check(ctx, f.name, f.holder, f.epoch.Load()); err != nil {
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
