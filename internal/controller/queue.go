package controller

import (
	"sync"
	"time"
)

// queue is a deduplicating work queue keyed by load balancer id, in the style
// of controller-runtime's: a key is processed by one worker at a time; a key
// added while it is being processed is processed again afterwards.
//
// Keys added urgently (a write, an acknowledgement) go before keys added
// in bulk (the resyncs): a leader that starts by reconciling every load
// balancer still takes a new write first.
//
// A key written to (addWrite) while it is being processed is queued again
// only some time after it is done: settleFactor times as long as that
// processing took, at least settle and at most maxSettle. A stream of
// writes to one load balancer is so reconciled a few times a second, each
// time with all the writes since, rather than once per write (each
// reconcile reads the whole graph), and the controller spends at most about
// 1/settleFactor of its time on one such stream. Any other add during
// processing or settling queues the key at once.
type queue struct {
	mu         sync.Mutex
	cond       *sync.Cond
	urgent     []string
	order      []string // bulk; may hold keys already taken from urgent
	queued     map[string]bool
	inUrgent   map[string]bool
	processing map[string]bool
	dirty      map[string]bool // value: requeue urgently
	// notWrite holds the dirty keys added by something other than a write
	// while processed: they are requeued at once.
	notWrite map[string]bool
	// settle is the least a key dirtied by writes only waits once done (0:
	// it does not wait); settling holds those waiting.
	settle   time.Duration
	settling map[string]*settleWait
	closed   bool
}

// settleWait is a key waiting for its settle delay.
type settleWait struct{ urgent bool }

func newQueue() *queue {
	q := &queue{queued: map[string]bool{}, inUrgent: map[string]bool{}, processing: map[string]bool{}, dirty: map[string]bool{},
		notWrite: map[string]bool{}, settling: map[string]*settleWait{}}
	q.cond = sync.NewCond(&q.mu)
	return q
}

// add schedules key for processing after the urgent keys.
func (q *queue) add(key string) { q.put(key, false, false) }

// addUrgent schedules key for processing before the bulk keys.
func (q *queue) addUrgent(key string) { q.put(key, true, false) }

// addWrite is addUrgent for a write to key: while key is processed, it is
// queued again settle after it is done.
func (q *queue) addWrite(key string) { q.put(key, true, true) }

func (q *queue) put(key string, urgent, write bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	if q.processing[key] {
		q.dirty[key] = q.dirty[key] || urgent
		if !write {
			q.notWrite[key] = true
		}
		return
	}
	if w, ok := q.settling[key]; ok {
		if write {
			w.urgent = w.urgent || urgent
			return
		}
		delete(q.settling, key)
		urgent = urgent || w.urgent
	}
	q.enqueueLocked(key, urgent)
}

func (q *queue) enqueueLocked(key string, urgent bool) {
	switch {
	case q.queued[key] && (!urgent || q.inUrgent[key]):
		return
	case urgent:
		q.urgent = append(q.urgent, key)
		q.inUrgent[key] = true
	default:
		q.order = append(q.order, key)
	}
	q.queued[key] = true
	q.cond.Signal()
}

// get blocks until a key is available; ok is false once the queue is closed.
func (q *queue) get() (key string, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for {
		for len(q.urgent) == 0 && len(q.order) == 0 && !q.closed {
			q.cond.Wait()
		}
		if q.closed {
			return "", false
		}
		if len(q.urgent) > 0 {
			key = q.urgent[0]
			q.urgent[0] = ""
			q.urgent = q.urgent[1:]
		} else {
			key = q.order[0]
			q.order[0] = ""
			q.order = q.order[1:]
			if !q.queued[key] || q.inUrgent[key] {
				continue // taken already, or waiting in the urgent list
			}
		}
		delete(q.queued, key)
		delete(q.inUrgent, key)
		q.processing[key] = true
		return key, true
	}
}

// Past the least wait (settle), a key dirtied by writes waits settleFactor
// times as long as its processing took, up to maxSettle.
const (
	settleFactor = 20
	maxSettle    = time.Second
)

// settleFor is how long a key dirtied by writes waits after processing
// that took took.
func (q *queue) settleFor(took time.Duration) time.Duration {
	return min(max(q.settle, settleFactor*took), max(q.settle, maxSettle))
}

// done marks key processed, requeueing it if it was added meanwhile.
func (q *queue) done(key string) { q.doneAfter(key, 0) }

// doneAfter is done for processing that took took.
func (q *queue) doneAfter(key string, took time.Duration) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.processing, key)
	urgent, ok := q.dirty[key]
	now := q.notWrite[key]
	delete(q.dirty, key)
	delete(q.notWrite, key)
	if !ok || q.closed {
		return
	}
	if now || q.settle <= 0 {
		q.enqueueLocked(key, urgent)
		return
	}
	w := &settleWait{urgent: urgent}
	q.settling[key] = w
	time.AfterFunc(q.settleFor(took), func() {
		q.mu.Lock()
		defer q.mu.Unlock()
		if q.settling[key] != w {
			return // queued meanwhile
		}
		delete(q.settling, key)
		if !q.closed {
			q.enqueueLocked(key, w.urgent)
		}
	})
}

// len returns the number of keys waiting (not counting those settling).
func (q *queue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.queued)
}

// waiting returns the keys waiting for a worker: queued, or settling before
// they are queued again.
func (q *queue) waiting() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.queued) + len(q.settling)
}

func (q *queue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.cond.Broadcast()
}
