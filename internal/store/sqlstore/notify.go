package sqlstore

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fulcrumlb/fulcrum/internal/store"
)

var _ store.Broadcaster = (*Store)(nil)

// Notify queues payload on channel until the transaction commits. On
// PostgreSQL it is pg_notify, which the database delivers at commit to
// every server listening; on SQLite the store delivers it in the process
// after the commit.
func (t *txn) Notify(ctx context.Context, channel, payload string) error {
	if t.s.d.name == "postgres" {
		if _, err := t.exec(ctx, `SELECT pg_notify(?, ?)`, channel, payload); err != nil {
			return fmt.Errorf("notify %s: %w", channel, err)
		}
		return nil
	}
	t.notes = append(t.notes, store.Notification{Channel: channel, Payload: payload})
	return nil
}

// Notify sends each payload on channel now.
func (s *Store) Notify(ctx context.Context, channel string, payloads ...string) error {
	if len(payloads) == 0 {
		return nil
	}
	if s.d.name != "postgres" {
		notes := make([]store.Notification, len(payloads))
		for i, p := range payloads {
			notes[i] = store.Notification{Channel: channel, Payload: p}
		}
		s.hub.deliver(notes)
		return nil
	}
	if _, err := s.write.ExecContext(ctx, `SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p`, channel, payloads); err != nil {
		return fmt.Errorf("notify %s: %w", channel, s.translate(err))
	}
	return nil
}

// Listen delivers what is sent on channels until ctx ends. On PostgreSQL
// it holds a connection of its own (LISTEN); when that connection breaks
// it reconnects, and says so with a Lost notification once it listens
// again.
func (s *Store) Listen(ctx context.Context, channels ...string) (<-chan store.Notification, error) {
	if s.d.name != "postgres" {
		return s.hub.subscribe(ctx, channels), nil
	}
	conn, err := s.listenConn(ctx, channels)
	if err != nil {
		return nil, err
	}
	out := make(chan store.Notification, 256)
	go s.pump(ctx, conn, channels, out)
	return out, nil
}

func (s *Store) listenConn(ctx context.Context, channels []string) (*pgx.Conn, error) {
	conn, err := pgx.Connect(ctx, s.dsn)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	for _, ch := range channels {
		if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{ch}.Sanitize()); err != nil {
			conn.Close(context.WithoutCancel(ctx))
			return nil, fmt.Errorf("listen %s: %w", ch, err)
		}
	}
	return conn, nil
}

// pump reads notifications from conn into out, reconnecting when the
// connection breaks, until ctx ends; then it closes out.
func (s *Store) pump(ctx context.Context, conn *pgx.Conn, channels []string, out chan<- store.Notification) {
	defer close(out)
	send := func(n store.Notification) bool {
		select {
		case out <- n:
			return true
		case <-ctx.Done():
			return false
		}
	}
	backoff := 50 * time.Millisecond
	for {
		n, err := conn.WaitForNotification(ctx)
		if err == nil {
			backoff = 50 * time.Millisecond
			if !send(store.Notification{Channel: n.Channel, Payload: n.Payload}) {
				conn.Close(context.Background())
				return
			}
			continue
		}
		conn.Close(context.Background())
		if ctx.Err() != nil {
			return
		}
		s.log.Warn("listening for notifications: connection lost; reconnecting", "err", err)
		for {
			t := time.NewTimer(backoff)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			backoff = min(2*backoff, 2*time.Second)
			if conn, err = s.listenConn(ctx, channels); err == nil {
				break
			}
			if ctx.Err() != nil {
				return
			}
		}
		s.log.Info("listening for notifications again")
		if !send(store.Notification{Lost: true}) {
			conn.Close(context.Background())
			return
		}
	}
}

// hub delivers the notifications of one SQLite store to its listeners in
// the process. Each listener has a queue of its own, so a slow one never
// holds up a commit or another listener.
type hub struct {
	mu   sync.Mutex
	subs map[*subscriber]bool
}

type subscriber struct {
	channels map[string]bool
	mu       sync.Mutex
	queue    []store.Notification
	wake     chan struct{} // 1-buffered: the queue has something
}

func (h *hub) subscribe(ctx context.Context, channels []string) <-chan store.Notification {
	sub := &subscriber{channels: map[string]bool{}, wake: make(chan struct{}, 1)}
	for _, c := range channels {
		sub.channels[c] = true
	}
	h.mu.Lock()
	if h.subs == nil {
		h.subs = map[*subscriber]bool{}
	}
	h.subs[sub] = true
	h.mu.Unlock()
	out := make(chan store.Notification)
	go func() {
		defer close(out)
		defer func() {
			h.mu.Lock()
			delete(h.subs, sub)
			h.mu.Unlock()
		}()
		for {
			sub.mu.Lock()
			batch := sub.queue
			sub.queue = nil
			sub.mu.Unlock()
			for _, n := range batch {
				select {
				case out <- n:
				case <-ctx.Done():
					return
				}
			}
			select {
			case <-sub.wake:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

func (h *hub) deliver(notes []store.Notification) {
	if len(notes) == 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for sub := range h.subs {
		queued := false
		sub.mu.Lock()
		for _, n := range notes {
			if sub.channels[n.Channel] {
				sub.queue = append(sub.queue, n)
				queued = true
			}
		}
		sub.mu.Unlock()
		if queued {
			select {
			case sub.wake <- struct{}{}:
			default:
			}
		}
	}
}
