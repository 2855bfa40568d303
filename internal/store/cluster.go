package store

import (
	"context"
	"errors"
	"time"
)

// What servers sharing one store coordinate with: a lease that makes one
// of them the leader (and fences the writes of a deposed one), the
// data-plane configurations the leader publishes for every server to hand
// agents, the key rings they share (sealed by their owner, never in the
// clear here), and notifications between them.

// ErrLeaseLost: a transaction checked a lease (LeaseTable.Check) that its
// caller no longer holds at the epoch it names. Nothing was written.
var ErrLeaseLost = errors.New("lease lost")

// Lease is a named role held by one holder at a time until it expires.
type Lease struct {
	Name string
	// Holder is the last holder ("" when the lease was never taken or was
	// released).
	Holder string
	// Epoch counts the terms: it grows each time the lease is taken by a
	// holder whose term had ended (another holder, or the same after an
	// expiry).
	Epoch int64
	// Left is how long the term lasts from the moment it was read
	// (<= 0: expired), measured by the store's clock.
	Left time.Duration
}

// Held reports whether holder holds l and its term has not ended.
func (l Lease) Held(holder string) bool { return holder != "" && l.Holder == holder && l.Left > 0 }

// LeaseTable keeps leases. Time is the store's clock (the database
// server's on PostgreSQL), so servers need not agree on the time.
type LeaseTable interface {
	// Get reads lease name without taking it (a zero Lease with Name set
	// when it was never taken).
	Get(ctx context.Context, name string) (Lease, error)
	// Acquire renews holder's term for ttl when holder holds lease name
	// and its term has not ended (same epoch), or starts a new term for
	// holder when the lease is free, released or expired (epoch + 1). It
	// returns the lease as it stands afterwards; holder got it when
	// Lease.Held(holder).
	Acquire(ctx context.Context, name, holder string, ttl time.Duration) (Lease, error)
	// Release ends holder's term at once (a no-op when holder does not
	// hold it), so that another holder need not wait for the expiry.
	Release(ctx context.Context, name, holder string) error
	// Check returns ErrLeaseLost unless holder holds lease name at epoch
	// (expired or not: until another holder takes it, nobody else acts).
	// On PostgreSQL it also keeps the lease from changing hands until the
	// transaction ends, so a leader's writes checked this way can never
	// commit after another leader's term began.
	Check(ctx context.Context, name, holder string, epoch int64) error
}

// Refusal is a load balancer an agent refused in a config version.
type Refusal struct {
	LoadBalancerID string
	Version        uint64
	Reason         string
}

// AgentConfig is the head of the data-plane configuration published for
// one agent.
type AgentConfig struct {
	AgentID string
	// Version is the newest version of the agent's configuration.
	Version uint64
	// Sent is the newest version a server handed the agent.
	Sent uint64
	// Applied is the newest version the agent acknowledges running, with
	// the load balancers it refused.
	Applied uint64
	Refused []Refusal
	// Pruned: withdrawals at or below this version are no longer
	// recorded as fragments; a reader behind it reads the whole
	// configuration again.
	Pruned uint64
	// Contract is the data-plane contract the agent announced on its
	// last watch (0: none yet): fragments needing a newer one are held
	// back from it.
	Contract int
}

// Fragment is one load balancer's part of an agent's configuration.
type Fragment struct {
	AgentID        string
	LoadBalancerID string
	// Generation is the load balancer generation the fragment was
	// compiled from (or a newer one with the same content).
	Generation int64
	// Version is the first version of the agent's configuration that
	// holds this content, or, for a withdrawal, that no longer holds the
	// load balancer.
	Version uint64
	// Config is the fragment (canonical JSON); nil records a withdrawal.
	Config []byte
}

// PublicationTable keeps the configurations published for agents: a head
// per agent and its fragments.
type PublicationTable interface {
	// Head returns agent agentID's head, or ErrNotFound.
	Head(ctx context.Context, agentID string) (*AgentConfig, error)
	// LockHead returns agentID's head, creating a zero one if absent, and
	// locks it until the transaction ends.
	LockHead(ctx context.Context, agentID string) (*AgentConfig, error)
	// Heads returns every head, by agent id.
	Heads(ctx context.Context) ([]*AgentConfig, error)
	// PutHead writes a head (LockHead first).
	PutHead(ctx context.Context, h *AgentConfig) error
	// RaiseSent records that version v was handed to agent agentID (a
	// no-op when a newer one was, or when the agent has no head).
	RaiseSent(ctx context.Context, agentID string, v uint64) error
	// Fragments returns agent agentID's fragments (withdrawals included)
	// whose version is above after, by load balancer id.
	Fragments(ctx context.Context, agentID string, after uint64) ([]*Fragment, error)
	// Fragment returns one fragment, or ErrNotFound.
	Fragment(ctx context.Context, agentID, loadBalancerID string) (*Fragment, error)
	// PutFragment inserts or replaces a fragment.
	PutFragment(ctx context.Context, f *Fragment) error
	// PruneWithdrawals forgets agent agentID's withdrawals at or below
	// version upTo and returns the highest version forgotten (0: none).
	PruneWithdrawals(ctx context.Context, agentID string, upTo uint64) (uint64, error)
	// Complete reports whether MarkComplete was called: every load
	// balancer was published at least once, so the fragments are the
	// whole desired state.
	Complete(ctx context.Context) (bool, error)
	MarkComplete(ctx context.Context, at time.Time) error
}

// SealedKey is one key of a key ring, sealed by the ring's owner.
type SealedKey struct {
	Ring      string
	Num       int
	Sealed    []byte
	CreatedAt time.Time
}

// SealedKeyTable keeps key rings shared by the servers.
type SealedKeyTable interface {
	// List returns ring's keys by number ("" = every ring's).
	List(ctx context.Context, ring string) ([]*SealedKey, error)
	// Create adds a key; ErrConflict when the ring has one of that number.
	Create(ctx context.Context, k *SealedKey) error
	// Delete removes a key (a no-op when it is gone).
	Delete(ctx context.Context, ring string, num int) error
}

// Notification is one message sent with Broadcaster.Notify or Tx.Notify.
// Lost (Channel and Payload empty) means that notifications may have been
// missed (the connection to the database was lost and is back): a
// listener must catch up from the store.
type Notification struct {
	Channel string
	Payload string
	Lost    bool
}

// Broadcaster delivers notifications to every listener of a channel on
// every server sharing the store (PostgreSQL LISTEN/NOTIFY; within the
// process on SQLite, which one server owns).
type Broadcaster interface {
	// Notify sends each payload on channel now.
	Notify(ctx context.Context, channel string, payloads ...string) error
	// Listen returns once it listens on channels; the channel it returns
	// delivers what is sent on them (a transaction's notifications once
	// it commits) until ctx ends, then closes.
	Listen(ctx context.Context, channels ...string) (<-chan Notification, error)
}
