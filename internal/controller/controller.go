// Package controller drives load balancers from their desired state in the
// store to their providers: a level-triggered reconcile loop keyed by load
// balancer id, woken by the API (Enqueue), by providers when they observe
// progress, and by a periodic resync.
//
// Each reconcile reads the whole graph of one load balancer, hands it to the
// load balancer's provider and, once the provider acknowledges the graph's
// generation, completes every PENDING_* status stamped with that generation
// or an older one: PENDING_CREATE and PENDING_UPDATE become ACTIVE,
// PENDING_DELETE rows are removed. A refused generation marks the pending
// objects ERROR with the provider's reason; a later generation that applies
// converges them. Reconciles are idempotent, so a crash at any point leaves
// state the next start converges from.
package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// Provider realises load balancers. Implementations must be safe for
// concurrent use by several load balancers, and idempotent: applying an
// already-applied graph again is a cheap no-op.
type Provider interface {
	// Apply makes g (a load balancer and its live children; objects being
	// deleted are left out) real. It returns quickly: Outcome.Done reports
	// whether g's generation is already realised; if not, the provider calls
	// the controller's Enqueue when it is. A *RefusedError means the provider
	// will never realise this generation as it stands.
	Apply(ctx context.Context, g *lb.Graph) (Outcome, error)
	// Remove tears the load balancer down; Done reports it is gone.
	Remove(ctx context.Context, l *lb.LoadBalancer) (Outcome, error)
}

// Preparer is a Provider that can do Apply's reads inside the controller's
// read transaction that loaded the graph, so that a reconcile reads in one
// transaction, not two (one round on the store's connections fewer per
// reconcile, several per graph created).
type Preparer interface {
	// Prepare reads, inside tx, what applying g needs; g is the graph
	// later passed to ApplyPrepared.
	Prepare(ctx context.Context, tx store.Tx, g *lb.Graph) (any, error)
	// ApplyPrepared is Apply with what Prepare returned for g.
	ApplyPrepared(ctx context.Context, g *lb.Graph, prepared any) (Outcome, error)
}

// Outcome is a provider's answer.
type Outcome struct {
	Done bool
	// Operating holds operating statuses to record, by object id. Objects
	// not in the map keep theirs (a health manager may own them).
	Operating map[string]lb.OperatingStatus
	// Record, if set with Done, runs inside the write transaction that
	// records the generation done (the provider's own bookkeeping, such as
	// a placement turning ready), so that it needs none of its own. An
	// error fails that transaction, and the reconcile is retried.
	Record func(ctx context.Context, tx store.Tx) error
}

// RefusedError is returned by a provider that refuses a configuration.
type RefusedError struct {
	Reason string
}

func (e *RefusedError) Error() string { return "refused: " + e.Reason }

// Hooks are called inside the controller's transactions.
type Hooks interface {
	// LoadBalancerDeleted runs in the transaction that removes a deleted
	// load balancer (release its VIP ports, ...).
	LoadBalancerDeleted(ctx context.Context, tx store.Tx, l *lb.LoadBalancer) error
}

// Options configure New.
type Options struct {
	Store     store.Store
	Providers map[string]Provider // by provider name as stored on the load balancer
	Hooks     Hooks               // optional
	Logger    *slog.Logger
	Now       func() time.Time
	// Workers reconcile in parallel (default 4).
	Workers int
	// Resync is the period at which load balancers that are not settled are
	// reconciled again (default 10 s).
	Resync time.Duration
	// WriteSettle is the least a load balancer written to while it is being
	// reconciled waits, once that reconcile is done, before the next one
	// (default 20 ms; negative: it does not wait); past it, the wait is 20
	// times as long as that reconcile took, up to a second. A stream of
	// writes to one load balancer is so applied a few generations at a
	// time, not one reconcile of its whole graph per write. A write to a
	// load balancer not being reconciled is taken at once, and so is any
	// other reason to reconcile (a provider's acknowledgement).
	WriteSettle time.Duration
	// MaxBackoff caps the retry delay after failures (default 30 s).
	MaxBackoff time.Duration
	// OnReconcile, if set, is told how long each reconcile took and how it
	// ended: "ok", "retry" (a later attempt is scheduled) or "error" (it
	// failed and will be retried). It is called from the workers and must
	// not block (metrics).
	OnReconcile func(d time.Duration, result string)
}

// Controller is the reconcile loop. Create it with New, start it with Run.
type Controller struct {
	opts  Options
	log   *slog.Logger
	q     *queue
	mu    sync.Mutex
	fails map[string]int
	timer map[string]*time.Timer
	wg    sync.WaitGroup
	stop  chan struct{}
	// initial holds the load balancers queued at start that have not been
	// reconciled yet; synced is closed when it empties.
	initial map[string]bool
	synced  chan struct{}
}

// New returns a controller; it does nothing until Run.
func New(opts Options) *Controller {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Workers <= 0 {
		opts.Workers = 4
	}
	if opts.Resync <= 0 {
		opts.Resync = 10 * time.Second
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 30 * time.Second
	}
	if opts.WriteSettle == 0 {
		opts.WriteSettle = 20 * time.Millisecond
	}
	q := newQueue()
	q.settle = max(opts.WriteSettle, 0)
	return &Controller{
		opts: opts, log: opts.Logger.With("component", "controller"), q: q,
		fails: map[string]int{}, timer: map[string]*time.Timer{}, stop: make(chan struct{}),
		synced: make(chan struct{}),
	}
}

// Synced is closed once every load balancer that existed when Run started
// has been reconciled once: from then on, providers hold the complete
// desired state (the agent API waits for it before serving configs, so a
// restarted server never hands agents a partial configuration).
func (c *Controller) Synced() <-chan struct{} { return c.synced }

func (c *Controller) markReconciled(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.initial == nil {
		return
	}
	delete(c.initial, id)
	if len(c.initial) == 0 {
		c.initial = nil
		close(c.synced)
	}
}

// QueueLen returns the number of load balancers waiting for a worker: queued,
// or settling after a write (not counting those being reconciled or waiting
// for a retry's backoff).
func (c *Controller) QueueLen() int { return c.q.waiting() }

// Enqueue asks for load balancer id to be reconciled. It never blocks.
func (c *Controller) Enqueue(id string) { c.q.addUrgent(id) }

// EnqueueWrite is Enqueue for a committed API write to load balancer id: if
// id is being reconciled, the next reconcile waits a little after it (see
// Options.WriteSettle).
func (c *Controller) EnqueueWrite(id string) { c.q.addWrite(id) }

// Run reconciles until ctx ends, then waits for in-flight reconciles.
func (c *Controller) Run(ctx context.Context) error {
	ids, err := c.enqueueAll(ctx, false)
	if err != nil {
		return fmt.Errorf("controller start: %w", err)
	}
	c.mu.Lock()
	c.initial = map[string]bool{}
	for _, id := range ids {
		c.initial[id] = true
	}
	if len(c.initial) == 0 {
		c.initial = nil
		close(c.synced)
	}
	c.mu.Unlock()
	for i := 0; i < c.opts.Workers; i++ {
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			c.work(ctx)
		}()
	}
	tick := time.NewTicker(c.opts.Resync)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			close(c.stop)
			c.q.close()
			c.mu.Lock()
			for _, t := range c.timer {
				t.Stop()
			}
			c.mu.Unlock()
			c.wg.Wait()
			return nil
		case <-tick.C:
			if _, err := c.enqueueAll(ctx, true); err != nil && ctx.Err() == nil {
				c.log.Warn("resync failed", "err", err)
			}
		}
	}
}

// Resync queues every unsettled load balancer now, without waiting for the
// next periodic resync (e.g. when an agent comes up and load balancers that
// had nowhere to go can be placed). It does not block.
func (c *Controller) Resync(ctx context.Context) {
	go func() {
		if _, err := c.enqueueAll(ctx, true); err != nil && ctx.Err() == nil {
			c.log.Warn("resync failed", "err", err)
		}
	}()
}

// enqueueAll queues every load balancer, or with unsettledOnly those whose
// desired generation is not yet applied or whose status is not final.
func (c *Controller) enqueueAll(ctx context.Context, unsettledOnly bool) ([]string, error) {
	var ids []string
	err := c.opts.Store.View(ctx, func(tx store.Tx) error {
		all, err := tx.LoadBalancers().List(ctx, store.Query{})
		if err != nil {
			return err
		}
		for _, l := range all {
			if !unsettledOnly || l.Generation != l.AppliedGeneration || l.Status.Provisioning != lb.Active {
				ids = append(ids, l.ID)
			}
		}
		return nil
	})
	for _, id := range ids {
		c.q.add(id)
	}
	return ids, err
}

func (c *Controller) work(ctx context.Context) {
	for {
		id, ok := c.q.get()
		if !ok {
			return
		}
		start := time.Now()
		retry, err := c.reconcile(ctx, id)
		if c.opts.OnReconcile != nil {
			result := "ok"
			switch {
			case err != nil:
				result = "error"
			case retry:
				result = "retry"
			}
			c.opts.OnReconcile(time.Since(start), result)
		}
		c.q.doneAfter(id, time.Since(start))
		c.markReconciled(id)
		if err != nil && ctx.Err() == nil {
			c.log.Warn("reconcile failed", "loadbalancer_id", id, "err", err)
		}
		if retry && ctx.Err() == nil {
			c.retryLater(id)
		} else {
			c.mu.Lock()
			delete(c.fails, id)
			c.mu.Unlock()
		}
	}
}

// retryLater requeues id after an exponential backoff.
func (c *Controller) retryLater(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.fails[id]
	c.fails[id] = n + 1
	d := 100 * time.Millisecond << min(n, 10)
	if d > c.opts.MaxBackoff {
		d = c.opts.MaxBackoff
	}
	if t, ok := c.timer[id]; ok {
		t.Stop()
	}
	c.timer[id] = time.AfterFunc(d, func() {
		c.mu.Lock()
		delete(c.timer, id)
		c.mu.Unlock()
		select {
		case <-c.stop:
		default:
			c.q.add(id)
		}
	})
}

// live returns g without the objects being deleted and their descendants.
func live(g *lb.Graph) *lb.Graph {
	gone := map[string]bool{}
	keep := func(id string, s lb.Status, parents ...string) bool {
		if s.Provisioning == lb.PendingDelete {
			gone[id] = true
			return false
		}
		for _, p := range parents {
			if gone[p] {
				gone[id] = true
				return false
			}
		}
		return true
	}
	out := &lb.Graph{LoadBalancer: g.LoadBalancer}
	for _, p := range g.Pools {
		if keep(p.ID, p.Status) {
			out.Pools = append(out.Pools, p)
		}
	}
	for _, l := range g.Listeners {
		if keep(l.ID, l.Status) {
			if gone[l.DefaultPoolID] {
				cp := *l
				cp.DefaultPoolID = ""
				l = &cp
			}
			out.Listeners = append(out.Listeners, l)
		}
	}
	for _, m := range g.Members {
		if keep(m.ID, m.Status, m.PoolID) {
			out.Members = append(out.Members, m)
		}
	}
	for _, h := range g.HealthMonitors {
		if keep(h.ID, h.Status, h.PoolID) {
			out.HealthMonitors = append(out.HealthMonitors, h)
		}
	}
	for _, p := range g.L7Policies {
		if keep(p.ID, p.Status, p.ListenerID, p.RedirectPoolID) {
			out.L7Policies = append(out.L7Policies, p)
		}
	}
	for _, r := range g.L7Rules {
		if keep(r.ID, r.Status, r.L7PolicyID) {
			out.L7Rules = append(out.L7Rules, r)
		}
	}
	return out
}

// reconcile converges one load balancer. retry asks for a later attempt.
func (c *Controller) reconcile(ctx context.Context, id string) (retry bool, err error) {
	var g, lg *lb.Graph
	var prepared any
	var prepErr error // the provider's, told apart from the graph's ErrNotFound
	err = c.opts.Store.View(ctx, func(tx store.Tx) error {
		var err error
		if g, err = store.LoadGraph(ctx, tx, id); err != nil {
			return err
		}
		pp, ok := c.opts.Providers[g.LoadBalancer.Provider].(Preparer)
		if !ok || g.LoadBalancer.Status.Provisioning == lb.PendingDelete {
			return nil
		}
		lg = live(g)
		prepared, prepErr = pp.Prepare(ctx, tx, lg)
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return true, fmt.Errorf("load %s: %w", id, err)
	}
	l := g.LoadBalancer
	p, ok := c.opts.Providers[l.Provider]
	if !ok {
		return false, c.refuse(ctx, id, l.Generation, fmt.Sprintf("provider %q is not available on this server", l.Provider))
	}
	log := c.log.With("loadbalancer_id", id, "generation", l.Generation)
	if l.Status.Provisioning == lb.PendingDelete {
		out, err := p.Remove(ctx, l)
		if err != nil {
			return true, fmt.Errorf("remove %s: %w", id, err)
		}
		if !out.Done {
			return false, nil
		}
		return false, c.finishDelete(ctx, id, log)
	}
	gen := l.Generation
	var out Outcome
	if prepErr != nil {
		return true, fmt.Errorf("apply %s: %w", id, prepErr)
	}
	if pp, ok := p.(Preparer); ok && lg != nil {
		out, err = pp.ApplyPrepared(ctx, lg, prepared)
	} else {
		out, err = p.Apply(ctx, live(g))
	}
	var refused *RefusedError
	if errors.As(err, &refused) {
		log.Warn("provider refused configuration", "reason", refused.Reason)
		return true, c.refuse(ctx, id, gen, refused.Reason)
	}
	if err != nil {
		return true, fmt.Errorf("apply %s: %w", id, err)
	}
	if !out.Done {
		return false, nil
	}
	if out.Record == nil && !needsCompletion(g, gen, out.Operating) {
		return false, nil
	}
	return false, c.complete(ctx, id, gen, out, g, log)
}

// kind names a child table.
type kind int

const (
	kindRule kind = iota
	kindPolicy
	kindMember
	kindMonitor
	kindListener
	kindPool
)

// objectStatus is one child object's status with the means to write it back.
type objectStatus struct {
	kind   kind
	id     string
	status *lb.Status
	times  *lb.Times
	admin  bool
	l7orHM bool // health monitors and L7 objects: ONLINE/OFFLINE from admin_state_up
	save   func() error
	remove func() error
}

func obj[T any](ctx context.Context, tx store.Tx, k kind, tbl func(store.Tx) store.Table[T], v *T, id string, s *lb.Status, t *lb.Times, admin bool) objectStatus {
	o := objectStatus{kind: k, id: id, status: s, times: t, admin: admin, l7orHM: k == kindRule || k == kindPolicy || k == kindMonitor}
	if tx != nil {
		o.save = func() error { return tbl(tx).Update(ctx, v) }
		o.remove = func() error { return tbl(tx).Delete(ctx, id) }
	}
	return o
}

func ruleObj(ctx context.Context, tx store.Tx, x *lb.L7Rule) objectStatus {
	return obj(ctx, tx, kindRule, store.Tx.L7Rules, x, x.ID, &x.Status, &x.Times, x.AdminStateUp)
}
func policyObj(ctx context.Context, tx store.Tx, x *lb.L7Policy) objectStatus {
	return obj(ctx, tx, kindPolicy, store.Tx.L7Policies, x, x.ID, &x.Status, &x.Times, x.AdminStateUp)
}
func memberObj(ctx context.Context, tx store.Tx, x *lb.Member) objectStatus {
	return obj(ctx, tx, kindMember, store.Tx.Members, x, x.ID, &x.Status, &x.Times, x.AdminStateUp)
}
func monitorObj(ctx context.Context, tx store.Tx, x *lb.HealthMonitor) objectStatus {
	return obj(ctx, tx, kindMonitor, store.Tx.HealthMonitors, x, x.ID, &x.Status, &x.Times, x.AdminStateUp)
}
func listenerObj(ctx context.Context, tx store.Tx, x *lb.Listener) objectStatus {
	return obj(ctx, tx, kindListener, store.Tx.Listeners, x, x.ID, &x.Status, &x.Times, x.AdminStateUp)
}
func poolObj(ctx context.Context, tx store.Tx, x *lb.Pool) objectStatus {
	return obj(ctx, tx, kindPool, store.Tx.Pools, x, x.ID, &x.Status, &x.Times, x.AdminStateUp)
}

// statuses lists g's children, children before parents (so removing them in
// order never orphans a row). With a nil tx the save/remove funcs are nil.
func statuses(ctx context.Context, tx store.Tx, g *lb.Graph) []objectStatus {
	var out []objectStatus
	for _, x := range g.L7Rules {
		out = append(out, ruleObj(ctx, tx, x))
	}
	for _, x := range g.L7Policies {
		out = append(out, policyObj(ctx, tx, x))
	}
	for _, x := range g.Members {
		out = append(out, memberObj(ctx, tx, x))
	}
	for _, x := range g.HealthMonitors {
		out = append(out, monitorObj(ctx, tx, x))
	}
	for _, x := range g.Listeners {
		out = append(out, listenerObj(ctx, tx, x))
	}
	for _, x := range g.Pools {
		out = append(out, poolObj(ctx, tx, x))
	}
	return out
}

// fetchAll reads the objects of todo afresh inside tx, one query per
// kind, by id; an object gone meanwhile is absent from the map.
func fetchAll(ctx context.Context, tx store.Tx, todo []objectStatus) (map[objectKey]objectStatus, error) {
	ids := map[kind][]string{}
	for _, t := range todo {
		ids[t.kind] = append(ids[t.kind], t.id)
	}
	out := make(map[objectKey]objectStatus, len(todo))
	for k, list := range ids {
		if err := fetchKind(ctx, tx, k, list, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// objectKey names a child object.
type objectKey struct {
	kind kind
	id   string
}

// fetchKind reads the objects of kind k with the given ids into out.
func fetchKind(ctx context.Context, tx store.Tx, k kind, ids []string, out map[objectKey]objectStatus) error {
	q := store.Query{Filters: []store.Filter{store.In("id", ids...)}}
	switch k {
	case kindRule:
		return fetchInto(ctx, tx, store.Tx.L7Rules, q, ruleObj, out)
	case kindPolicy:
		return fetchInto(ctx, tx, store.Tx.L7Policies, q, policyObj, out)
	case kindMember:
		return fetchInto(ctx, tx, store.Tx.Members, q, memberObj, out)
	case kindMonitor:
		return fetchInto(ctx, tx, store.Tx.HealthMonitors, q, monitorObj, out)
	case kindListener:
		return fetchInto(ctx, tx, store.Tx.Listeners, q, listenerObj, out)
	default:
		return fetchInto(ctx, tx, store.Tx.Pools, q, poolObj, out)
	}
}

func fetchInto[T any](ctx context.Context, tx store.Tx, tbl func(store.Tx) store.Table[T], q store.Query,
	mk func(context.Context, store.Tx, *T) objectStatus, out map[objectKey]objectStatus) error {
	list, err := tbl(tx).List(ctx, q)
	if err != nil {
		return err
	}
	for _, x := range list {
		o := mk(ctx, tx, x)
		out[objectKey{o.kind, o.id}] = o
	}
	return nil
}

// settle computes an object's statuses after generation gen applied. It
// reports whether anything changed and whether the row must be deleted.
func settle(o objectStatus, gen int64, operating map[string]lb.OperatingStatus) (changed, remove bool) {
	s := o.status
	if s.Gen <= gen {
		switch s.Provisioning {
		case lb.PendingDelete:
			return true, true
		case lb.PendingCreate, lb.PendingUpdate, lb.Error:
			s.Provisioning = lb.Active
			changed = true
		}
	}
	want := s.Operating
	if op, ok := operating[o.id]; ok {
		want = op
	} else if o.l7orHM && s.Provisioning == lb.Active {
		want = lb.Offline
		if o.admin {
			want = lb.Online
		}
	}
	if want != s.Operating {
		s.Operating = want
		changed = true
	}
	return changed, false
}

func needsCompletion(g *lb.Graph, gen int64, operating map[string]lb.OperatingStatus) bool {
	l := g.LoadBalancer
	if l.AppliedGeneration < gen || l.Status.Provisioning != lb.Active {
		return true
	}
	if op, ok := operating[l.ID]; ok && op != l.Status.Operating {
		return true
	}
	for _, o := range statuses(context.Background(), nil, g) {
		cp := *o.status
		o.status = &cp
		if changed, _ := settle(o, gen, operating); changed {
			return true
		}
	}
	return false
}

// complete records that generation gen of load balancer id is realised.
// The objects to change are picked from view (the graph the reconcile
// read), then each is read again and settled inside the transaction, so
// the write lock is held for the changes only, not for a scan of the graph.
func (c *Controller) complete(ctx context.Context, id string, gen int64, out Outcome, view *lb.Graph, log *slog.Logger) error {
	operating := out.Operating
	now := c.opts.Now().UTC().Truncate(time.Second)
	var todo []objectStatus
	for _, o := range statuses(ctx, nil, view) {
		cp := *o.status
		o.status = &cp
		if changed, _ := settle(o, gen, operating); changed {
			todo = append(todo, o)
		}
	}
	return c.opts.Store.Update(ctx, func(tx store.Tx) error {
		l, err := tx.LoadBalancers().Lock(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if out.Record != nil {
			if err := out.Record(ctx, tx); err != nil {
				return err
			}
		}
		fresh, err := fetchAll(ctx, tx, todo)
		if err != nil {
			return err
		}
		for _, t := range todo {
			o, ok := fresh[objectKey{t.kind, t.id}]
			if !ok {
				continue // gone meanwhile, or through a parent's cascade
			}
			changed, remove := settle(o, gen, operating)
			switch {
			case remove:
				if err := o.remove(); err != nil && !errors.Is(err, store.ErrNotFound) {
					return err
				}
			case changed:
				o.times.Touch(now)
				if err := o.save(); err != nil {
					return err
				}
			}
		}
		changed := false
		if l.AppliedGeneration < gen {
			l.AppliedGeneration = gen
			changed = true
		}
		if l.Generation == gen && l.Status.Provisioning != lb.PendingDelete && l.Status.Provisioning != lb.Active {
			l.Status.Provisioning = lb.Active
			l.LastError = ""
			changed = true
		}
		if op, ok := operating[l.ID]; ok && op != l.Status.Operating {
			l.Status.Operating = op
			changed = true
		}
		if !changed {
			return nil
		}
		l.Touch(now)
		log.Debug("generation applied", "status", l.Status.Provisioning)
		return tx.LoadBalancers().Update(ctx, l)
	})
}

// refuse marks the objects pending at generation gen (and the load balancer,
// when gen is still its newest) ERROR with reason.
func (c *Controller) refuse(ctx context.Context, id string, gen int64, reason string) error {
	now := c.opts.Now().UTC().Truncate(time.Second)
	return c.opts.Store.Update(ctx, func(tx store.Tx) error {
		l, err := tx.LoadBalancers().Lock(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		g, err := store.LoadGraph(ctx, tx, id)
		if err != nil {
			return err
		}
		g.LoadBalancer = l
		for _, o := range statuses(ctx, tx, g) {
			s := o.status
			if s.Gen <= gen && (s.Provisioning == lb.PendingCreate || s.Provisioning == lb.PendingUpdate) {
				s.Provisioning = lb.Error
				o.times.Touch(now)
				if err := o.save(); err != nil {
					return err
				}
			}
		}
		if l.Generation != gen || l.Status.Provisioning == lb.PendingDelete {
			return nil
		}
		if l.Status.Provisioning == lb.Error && l.LastError == reason {
			return nil
		}
		l.Status.Provisioning = lb.Error
		l.LastError = reason
		l.Touch(now)
		return tx.LoadBalancers().Update(ctx, l)
	})
}

func (c *Controller) finishDelete(ctx context.Context, id string, log *slog.Logger) error {
	return c.opts.Store.Update(ctx, func(tx store.Tx) error {
		l, err := tx.LoadBalancers().Lock(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if l.Status.Provisioning != lb.PendingDelete {
			return nil
		}
		if c.opts.Hooks != nil {
			if err := c.opts.Hooks.LoadBalancerDeleted(ctx, tx, l); err != nil {
				return err
			}
		}
		// Children go first so that no foreign key depends on cascade order.
		q := store.F("loadbalancer_id", id)
		for _, del := range []func() (int, error){
			func() (int, error) { return tx.L7Rules().DeleteWhere(ctx, q) },
			func() (int, error) { return tx.L7Policies().DeleteWhere(ctx, q) },
			func() (int, error) { return tx.Members().DeleteWhere(ctx, q) },
			func() (int, error) { return tx.HealthMonitors().DeleteWhere(ctx, q) },
			func() (int, error) { return tx.Listeners().DeleteWhere(ctx, q) },
			func() (int, error) { return tx.Pools().DeleteWhere(ctx, q) },
		} {
			if _, err := del(); err != nil {
				return err
			}
		}
		// The counters agents reported for it go with it.
		if err := tx.ListenerStats().Delete(ctx, id); err != nil {
			return err
		}
		if err := tx.MemberStats().Delete(ctx, id); err != nil {
			return err
		}
		log.Info("load balancer deleted")
		return tx.LoadBalancers().Delete(ctx, id)
	})
}
