package cluster

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/store"
)

// Bus takes load balancer ids to the leader's controller, whichever server
// leads: Enqueue queues an id and returns at once; Run sends what is
// queued as notifications on LoadBalancers, many ids per round trip. A
// notification lost on the way (the database unreachable) costs a delay,
// not the work: the leader's periodic resync finds every unsettled load
// balancer.
type Bus struct {
	b   store.Broadcaster
	log *slog.Logger

	mu      sync.Mutex
	pending []string
	queued  map[string]bool
	wake    chan struct{}
}

// NewBus returns a bus sending through b.
func NewBus(b store.Broadcaster, log *slog.Logger) *Bus {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Bus{b: b, log: log.With("component", "cluster"), queued: map[string]bool{}, wake: make(chan struct{}, 1)}
}

// Enqueue asks the leader to reconcile load balancer id. It never blocks.
func (b *Bus) Enqueue(id string) {
	b.mu.Lock()
	if !b.queued[id] {
		b.queued[id] = true
		b.pending = append(b.pending, id)
	}
	b.mu.Unlock()
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// ResyncAll asks the leader to reconcile every unsettled load balancer.
func (b *Bus) ResyncAll() { b.Enqueue(ResyncAll) }

// maxBatch is how many ids one notification round trip carries.
const maxBatch = 500

// Run sends what is queued until ctx ends.
func (b *Bus) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-b.wake:
		}
		for {
			b.mu.Lock()
			n := min(len(b.pending), maxBatch)
			batch := append([]string(nil), b.pending[:n]...)
			b.pending = b.pending[n:]
			for _, id := range batch {
				delete(b.queued, id)
			}
			b.mu.Unlock()
			if len(batch) == 0 {
				break
			}
			sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err := b.b.Notify(sctx, LoadBalancers, batch...)
			cancel()
			if err != nil && ctx.Err() == nil {
				b.log.Warn("telling the leader about changed load balancers failed; its periodic resync will find them", "ids", len(batch), "err", err)
			}
		}
	}
}
