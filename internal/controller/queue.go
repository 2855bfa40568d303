package controller

import (
	"sync"
)

// queue is a deduplicating work queue keyed by load balancer id, in the style
// of controller-runtime's: a key is processed by one worker at a time; a key
// added while it is being processed is processed again afterwards.
type queue struct {
	mu         sync.Mutex
	cond       *sync.Cond
	order      []string
	queued     map[string]bool
	processing map[string]bool
	dirty      map[string]bool
	closed     bool
}

func newQueue() *queue {
	q := &queue{queued: map[string]bool{}, processing: map[string]bool{}, dirty: map[string]bool{}}
	q.cond = sync.NewCond(&q.mu)
	return q
}

// add schedules key for processing.
func (q *queue) add(key string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	if q.processing[key] {
		q.dirty[key] = true
		return
	}
	if q.queued[key] {
		return
	}
	q.queued[key] = true
	q.order = append(q.order, key)
	q.cond.Signal()
}

// get blocks until a key is available; ok is false once the queue is closed.
func (q *queue) get() (key string, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.order) == 0 && !q.closed {
		q.cond.Wait()
	}
	if q.closed {
		return "", false
	}
	key = q.order[0]
	q.order[0] = ""
	q.order = q.order[1:]
	delete(q.queued, key)
	q.processing[key] = true
	return key, true
}

// done marks key processed, requeueing it if it was added meanwhile.
func (q *queue) done(key string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.processing, key)
	if q.dirty[key] {
		delete(q.dirty, key)
		if !q.closed && !q.queued[key] {
			q.queued[key] = true
			q.order = append(q.order, key)
			q.cond.Signal()
		}
	}
}

// len returns the number of keys waiting.
func (q *queue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.order)
}

func (q *queue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.cond.Broadcast()
}
