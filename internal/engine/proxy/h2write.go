package proxy

import (
	"net"
	"sync"
	"time"
)

// h2Writer gathers the writes of an HTTP/2 connection (x/net/http2 flushes its buffer
// whenever its frame queue runs empty, which with many streams is once per frame or
// two) and writes them in batches: a write copies the bytes and returns; the writer's
// goroutine, which lives as long as the connection, writes all that waits at once. Under
// load one system call (and one TLS record) carries the frames of many streams; an idle
// connection pays one goroutine wake-up. At most h2WriterMax bytes wait: a write beyond
// waits for the peer to take them. A batch the peer does not take within timeout (0:
// none) ends the connection: every later write fails. fail (Close) ends the goroutine.
type h2Writer struct {
	c       net.Conn
	timeout time.Duration
	mu      sync.Mutex
	cond    sync.Cond
	buf     []byte // waiting to be written
	spare   []byte
	writing bool
	err     error
	dl      deadline
}

const h2WriterMax = 256 << 10

func newH2Writer(c net.Conn, timeout time.Duration) *h2Writer {
	w := &h2Writer{c: c, timeout: timeout}
	w.cond.L = &w.mu
	go w.run()
	return w
}

func (w *h2Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	for w.err == nil && len(w.buf) >= h2WriterMax {
		w.cond.Wait()
	}
	if w.err != nil {
		err := w.err
		w.mu.Unlock()
		return 0, err
	}
	if w.buf == nil {
		w.buf = make([]byte, 0, 16<<10)
	}
	wake := len(w.buf) == 0 && !w.writing
	w.buf = append(w.buf, p...)
	w.mu.Unlock()
	if wake {
		w.cond.Broadcast()
	}
	return len(p), nil
}

// run writes what waits, batch by batch, until the writer fails.
func (w *h2Writer) run() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for {
		for len(w.buf) == 0 && w.err == nil {
			w.cond.Wait()
		}
		if w.err != nil {
			return
		}
		b := w.buf
		w.buf = w.spare[:0]
		w.writing = true
		w.mu.Unlock()
		w.dl.writeAt(w.c, w.timeout, time.Now().UnixNano())
		_, err := w.c.Write(b)
		w.mu.Lock()
		w.writing = false
		if cap(b) <= 2*h2WriterMax {
			w.spare = b[:0]
		}
		if err != nil && w.err == nil {
			w.err = err
		}
		w.cond.Broadcast()
	}
}

// flush waits until what waits was written (or failed), for limit at most: beyond it the
// connection is closed, which ends the write.
func (w *h2Writer) flush(limit time.Duration) {
	t := time.AfterFunc(limit, func() { w.c.Close() })
	defer t.Stop()
	w.mu.Lock()
	for (w.writing || len(w.buf) > 0) && w.err == nil {
		w.cond.Wait()
	}
	w.mu.Unlock()
}

// fail ends the writer: waiting and later writes fail with err.
func (w *h2Writer) fail(err error) {
	w.mu.Lock()
	if w.err == nil {
		w.err = err
	}
	w.cond.Broadcast()
	w.mu.Unlock()
}
