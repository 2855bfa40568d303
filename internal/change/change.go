// Package change is the write path of load balancers: every create, update
// and delete of a load balancer or of one of its children, with Octavia's
// rules for what a write checks, locks, cascades to and counts against
// quota, and none of HTTP. The Octavia API calls it after decoding a request;
// a second API server, or a translation layer for another API, calls it the
// same way.
//
// Every write runs in one store transaction that locks the load balancer
// row, refuses objects being deleted (409), starts a new generation of the
// load balancer and stamps every object it changes — and every parent
// Octavia would lock (a pool's listeners, a policy's listener) — with it;
// the controller completes those statuses once a provider has applied the
// generation. Only after the transaction has committed is the controller
// told (Notifier), exactly once; a write that fails changes nothing and
// tells no one.
//
// Who may write is the caller's business: each write asks the caller's
// Allow with the project that owns its target, inside the transaction and
// before any other rule. Errors are the lb package's (*lb.ValidationError,
// *lb.ConflictError, *lb.NotFoundError, *lb.QuotaExceededError,
// *lb.UnsupportedError), the caller's own from Allow, or failures.
//
// The name: each call is one change to one load balancer, and becomes one
// generation of it. The package imports the store contract and the domain
// model (and ids), never HTTP, a store backend or another service.
package change

import (
	"context"
	"log/slog"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/ids"
	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// Notifier is told which load balancer changed once a write has committed,
// so that the controller reconciles it. Enqueue must not block for long.
type Notifier interface {
	Enqueue(loadBalancerID string)
}

// WriteNotifier is a Notifier that is told differently about writes: a
// load balancer written to again and again is reconciled a few times a
// second with all the writes since (the controller's EnqueueWrite). When
// the Notifier is one, writes go through EnqueueWrite.
type WriteNotifier interface {
	Notifier
	EnqueueWrite(loadBalancerID string)
}

// QuotaReserver checks, inside a create transaction, that project may create
// want[r] more objects of each resource r; it returns
// *lb.QuotaExceededError when it may not.
type QuotaReserver interface {
	Reserve(ctx context.Context, tx store.Tx, project string, want map[lb.QuotaResource]int) error
}

// SubnetChecker validates a member's subnet_id: an *lb.ValidationError
// ("Subnet <id> not found.") when it does not exist for the caller.
type SubnetChecker interface {
	CheckSubnet(ctx context.Context, tx store.Tx, id string) error
}

// KeyManager checks key-manager references inside the write's transaction
// on behalf of the caller that ctx carries, for a load balancer of project:
// certs must name readable certificates, ca a CA and crl a revocation list
// signed by it. A reference it refuses is an *lb.ValidationError.
type KeyManager interface {
	CheckRefs(ctx context.Context, tx store.Tx, project string, certs []string, ca, crl string) error
}

// VIPAllocator realises a load balancer's VIP. Errors of type
// *lb.ValidationError and *lb.ConflictError are shown to the caller.
type VIPAllocator interface {
	AllocateVIP(ctx context.Context, req lb.VIPRequest) (lb.VIP, []lb.AdditionalVIP, error)
	// ReleaseVIP undoes AllocateVIP when the load balancer could not be
	// stored.
	ReleaseVIP(ctx context.Context, loadBalancerID string, vip lb.VIP) error
}

// TxVIPAllocator is a VIPAllocator that can also allocate inside the load
// balancer's create transaction, so that the VIP exists exactly when the
// load balancer does (nothing to release after a failed create).
type TxVIPAllocator interface {
	AllocateVIPTx(ctx context.Context, tx store.Tx, req lb.VIPRequest) (lb.VIP, []lb.AdditionalVIP, error)
}

// VIPQoSUpdater is a VIPAllocator that validates a load balancer's
// vip_qos_policy_id (an *lb.ValidationError "qos_policy <id> not found.")
// and applies it to the VIP port, inside the update transaction.
type VIPQoSUpdater interface {
	UpdateQoS(ctx context.Context, tx store.Tx, l *lb.LoadBalancer) error
}

// VIPSecurityGroups validates a load balancer's vip_sg_ids inside its
// create or update transaction (an *lb.ValidationError "Security Group
// <id> not found." unless each exists in the load balancer's project) and
// puts them on its VIP port.
type VIPSecurityGroups interface {
	SetVIPSecurityGroups(ctx context.Context, tx store.Tx, l *lb.LoadBalancer) error
}

// Allow is the caller's authorization of one write: it is asked, inside the
// write's transaction, with the project owning the write's target, before
// any other rule is checked (so a caller learns nothing about objects it
// may not write). A non-nil error refuses the write and is returned as is.
// A nil Allow allows.
type Allow func(ownerProject string) error

// Sent reports whether a request carried an API attribute (by its Octavia
// name, e.g. "default_pool_id"), null included. Some rules apply only to the
// attributes a request sends. A nil Sent sends nothing.
type Sent func(attribute string) bool

func (s Sent) has(attribute string) bool { return s != nil && s(attribute) }

// Options configure a Writer. Store is required; VIPs is required to create
// load balancers.
type Options struct {
	Store store.Store
	// Notifier is told after each committed write; nil tells no one.
	Notifier Notifier
	// Quotas limits creates per project; nil means no limits.
	Quotas QuotaReserver
	// Subnets validates member subnet_id; nil accepts any.
	Subnets SubnetChecker
	// KeyManager checks the key-manager references of listeners and pools;
	// nil accepts any.
	KeyManager KeyManager
	// VIPs allocates the VIPs of new load balancers. When it also
	// implements TxVIPAllocator it allocates inside the create
	// transaction; when it implements VIPQoSUpdater, load balancer updates
	// that send vip_qos_policy_id go through it.
	VIPs VIPAllocator
	// SecurityGroups validates and applies vip_sg_ids on creates that name
	// them and updates that send them; nil accepts any.
	SecurityGroups VIPSecurityGroups
	// Settings are the validation knobs; nil means lb.DefaultSettings().
	Settings *lb.Settings
	// Clock returns the current time; nil means time.Now. Each write reads
	// it once.
	Clock func() time.Time
	// NewID returns the id of a new object that has none; nil means random
	// UUIDs.
	NewID func() string
	// Logger receives what a caller cannot be told (a VIP that could not be
	// released after a failed create); nil discards it.
	Logger *slog.Logger
}

// Writer applies writes to load balancers. It is safe for concurrent use.
type Writer struct {
	store    store.Store
	notifier Notifier
	quotas   QuotaReserver
	subnets  SubnetChecker
	keys     KeyManager
	vips     VIPAllocator
	sgs      VIPSecurityGroups
	settings lb.Settings
	clock    func() time.Time
	newID    func() string
	log      *slog.Logger
}

// New returns a Writer for opts.
func New(opts Options) *Writer {
	w := &Writer{store: opts.Store, notifier: opts.Notifier, quotas: opts.Quotas, subnets: opts.Subnets,
		keys: opts.KeyManager, vips: opts.VIPs, sgs: opts.SecurityGroups, clock: opts.Clock, newID: opts.NewID, log: opts.Logger}
	if opts.Settings != nil {
		w.settings = *opts.Settings
	} else {
		w.settings = lb.DefaultSettings()
	}
	if w.clock == nil {
		w.clock = time.Now
	}
	if w.newID == nil {
		w.newID = ids.New
	}
	if w.log == nil {
		w.log = slog.New(slog.DiscardHandler)
	}
	return w
}

func (w *Writer) now() time.Time { return w.clock().UTC() }

// assignID gives a new object an id unless it has one.
func (w *Writer) assignID(id *string) {
	if *id == "" {
		*id = w.newID()
	}
}

// txn is one write in progress: its transaction, the locked load balancer
// and, once begun, the generation and time every changed object is stamped
// with.
type txn struct {
	w   *Writer
	ctx context.Context
	tx  store.Tx
	lb  *lb.LoadBalancer // nil until locked
	gen int64            // 0 until begun
	now time.Time
	// wake is the load balancer the controller is told about once the
	// transaction has committed ("" for none).
	wake string
}

// write runs fn in one write transaction and, once it has committed,
// notifies the load balancer fn woke. It is the one way every write of this
// package reaches the store and the controller.
func (w *Writer) write(ctx context.Context, fn func(*txn) error) error {
	return w.run(ctx, w.store.Update, fn)
}

// run is write with the transaction kind given (a reconfiguration only
// reads, then wakes the controller). Inside Together, the write joins the
// batch's transaction and its load balancer is woken with the batch's.
func (w *Writer) run(ctx context.Context, kind func(context.Context, func(store.Tx) error) error, fn func(*txn) error) error {
	if b, ok := ctx.Value(batchKey{}).(*batch); ok && b.w == w {
		t := &txn{w: w, ctx: ctx, tx: b.tx}
		if err := fn(t); err != nil {
			if b.err == nil {
				b.err = err
			}
			return err
		}
		if t.wake != "" {
			b.wake = append(b.wake, t.wake)
		}
		return nil
	}
	var wake string
	err := kind(ctx, func(tx store.Tx) error {
		t := &txn{w: w, ctx: ctx, tx: tx}
		if err := fn(t); err != nil {
			return err
		}
		wake = t.wake
		return nil
	})
	if err != nil {
		return err
	}
	if wake != "" {
		w.notify(wake)
	}
	return nil
}

// notify tells the notifier that load balancer id was written to.
func (w *Writer) notify(id string) {
	switch n := w.notifier.(type) {
	case nil:
	case WriteNotifier:
		n.EnqueueWrite(id)
	default:
		n.Enqueue(id)
	}
}

// batchKey marks a context whose writes join one transaction (Together).
type batchKey struct{}

// batch is the transaction of a Together call and what its writes did.
type batch struct {
	w    *Writer
	tx   store.Tx
	wake []string // load balancers to reconcile once committed
	err  error    // the first write that failed
}

// Together runs fn in one store transaction, with a context in which every
// write of w (and Together again) joins that transaction: a caller that
// translates another API onto load balancers (LBaaS v1) makes several
// writes, and rows of its own through tx, all or nothing. Each write still
// locks, checks and stamps as it does alone, each starting a generation of
// its load balancer; the controller is told about every load balancer they
// changed once the transaction has committed. A write that fails inside
// fails the whole: Together returns its error even when fn swallowed it.
func (w *Writer) Together(ctx context.Context, fn func(ctx context.Context, tx store.Tx) error) error {
	if b, ok := ctx.Value(batchKey{}).(*batch); ok && b.w == w {
		return fn(ctx, b.tx)
	}
	b := &batch{w: w}
	err := w.store.Update(ctx, func(tx store.Tx) error {
		b.tx, b.wake, b.err = tx, nil, nil
		err := fn(context.WithValue(ctx, batchKey{}, b), tx)
		if err == nil {
			err = b.err
		}
		return err
	})
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, id := range b.wake {
		if !seen[id] {
			seen[id] = true
			w.notify(id)
		}
	}
	return nil
}

// lock locks the load balancer id for the write and asks allow about its
// project. A load balancer that is gone (or DELETED) is not found.
func (t *txn) lock(id string, allow Allow) (*lb.LoadBalancer, error) {
	l, err := found(t.tx.LoadBalancers().Lock(t.ctx, id))(lb.NameLoadBalancer, id)
	if err == nil && l.Status.Provisioning == lb.Deleted {
		return nil, lb.NotFound(lb.NameLoadBalancer, id)
	}
	if err != nil {
		return nil, err
	}
	if allow != nil {
		if err := allow(l.ProjectID); err != nil {
			return nil, err
		}
	}
	t.lb = l
	return l, nil
}

// reserve checks the quota of the locked load balancer's project for the
// objects about to be created.
func (t *txn) reserve(want map[lb.QuotaResource]int) error {
	if t.w.quotas == nil {
		return nil
	}
	return t.w.quotas.Reserve(t.ctx, t.tx, t.lb.ProjectID, want)
}

// begin starts the write's generation of the locked load balancer: the load
// balancer becomes own (PENDING_UPDATE, or PENDING_DELETE for its delete;
// one still being created stays PENDING_CREATE), stamped with the new
// generation, and is written; it is notified once the transaction commits.
func (t *txn) begin(own lb.ProvisioningStatus) error {
	t.gen = t.lb.NextGeneration()
	t.now = t.w.now()
	t.lb.Touch(t.now)
	t.lb.Status.Change(own, t.gen)
	t.wake = t.lb.ID
	return t.tx.LoadBalancers().Update(t.ctx, t.lb)
}

// created is the status of an object the write creates.
func (t *txn) created() lb.Status {
	return lb.Status{Provisioning: lb.PendingCreate, Operating: lb.Offline, Gen: t.gen}
}

// stamp records the write's change p (PENDING_UPDATE or PENDING_DELETE) on
// an object and its update time.
func (t *txn) stamp(st *lb.Status, times *lb.Times, p lb.ProvisioningStatus) {
	st.Change(p, t.gen)
	times.Touch(t.now)
}

// markListeners marks listeners PENDING_UPDATE and writes them: Octavia
// locks a pool's listeners on every pool, member and health monitor write,
// and a policy's listener on every policy and rule write.
func (t *txn) markListeners(ls ...*lb.Listener) error {
	for _, l := range ls {
		t.stamp(&l.Status, &l.Times, lb.PendingUpdate)
		if err := t.tx.Listeners().Update(t.ctx, l); err != nil {
			return err
		}
	}
	return nil
}

// markPool marks a pool and its listeners PENDING_UPDATE and writes them.
func (t *txn) markPool(p *lb.Pool) error {
	ls, err := poolListeners(t.ctx, t.tx, p.ID)
	if err != nil {
		return err
	}
	if err := t.markListeners(ls...); err != nil {
		return err
	}
	t.stamp(&p.Status, &p.Times, lb.PendingUpdate)
	return t.tx.Pools().Update(t.ctx, p)
}

// markPolicy marks a policy and its listener PENDING_UPDATE (Octavia locks
// both for every rule write) and writes them.
func (t *txn) markPolicy(p *lb.L7Policy, l *lb.Listener) error {
	if err := t.markListeners(l); err != nil {
		return err
	}
	t.stamp(&p.Status, &p.Times, lb.PendingUpdate)
	return t.tx.L7Policies().Update(t.ctx, p)
}

// Resource names in the 409 of a write on an object being deleted.
const (
	resLoadBalancer  = "loadbalancer"
	resListener      = "listener"
	resPool          = "pool"
	resMember        = "member"
	resHealthMonitor = "healthmonitor"
	resL7Policy      = "l7policy"
	resL7Rule        = "l7rule"
)

// writable refuses writes on an object being deleted: the only state in
// which fulcrum answers 409 (no "immutable" conflicts otherwise: a write
// that arrives while an earlier one is applied joins the next generation).
func writable(resource, id string, st lb.Status) error {
	if st.Provisioning == lb.PendingDelete || st.Provisioning == lb.Deleted {
		return lb.Conflict("Invalid state %s of %s resource %s", st.Provisioning, resource, id)
	}
	return nil
}
