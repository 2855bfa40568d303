package proxy

import (
	"bytes"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/engine/balance"
)

// AccessLog receives the data plane's access log: one line per HTTP request and one per
// TCP connection or UDP flow when it ends, as a JSON object (docs/dataplane.md, "Access
// logs"). The proxy goroutines format a line into a pooled buffer and append it to a
// shared batch under a short lock; one writer goroutine takes the batch every
// flushEvery (at once when it passes kickBytes) and hands it to the sink. A slow or
// unreachable sink never stalls traffic: a line that would grow the batch past
// maxPendingBytes is dropped and counted (Dropped).
//
// Every client-controlled value (method, host, target, version) is written as a JSON
// string in which quotes, backslashes, control characters and every byte outside
// printable ASCII are escaped, so a line can neither be split nor forged by a client.
type AccessLog struct {
	mu      sync.Mutex
	pending []byte // complete lines waiting for the writer
	closed  bool

	sink    sink
	kick    chan struct{}      // the batch passed kickBytes
	syncs   chan chan struct{} // Sync requests
	stop    chan struct{}
	done    chan struct{}
	bufs    sync.Pool
	dropped atomic.Int64
	failed  atomic.Int64
	written atomic.Int64
	once    sync.Once
	log     *slog.Logger
	name    string // the spec, for warnings
	// syslog header parts (syslog sinks only).
	syslog     bool
	host, proc string
}

// Batch bounds: the writer is woken early past kickBytes; lines are dropped past
// maxPendingBytes (a sink that cannot keep up).
const (
	kickBytes       = 256 << 10
	maxPendingBytes = 16 << 20
)

// sink is where lines go: a file (a batch per write) or a syslog socket (one message per
// line).
type sink interface {
	write(batch []byte) error
	close() error
}

// maxLogField bounds one client-controlled value in a line (before escaping); a longer
// value is cut and ends with "...".
const maxLogField = 2048

// OpenAccessLog opens the sink spec names:
//
//	file:PATH                 append to PATH (created with mode 0640)
//	syslog://HOST:PORT        RFC 5424 messages over UDP
//	syslog+tcp://HOST:PORT    RFC 5424 over TCP, octet-counted framing (RFC 6587)
//	syslog+unix:///PATH       RFC 5424 datagrams to a local socket (e.g. /dev/log)
//
// log, when not nil, is warned (at most every warnEvery) while lines are dropped or
// the sink fails. The caller must Close it.
func OpenAccessLog(spec string, log *slog.Logger) (*AccessLog, error) {
	a := &AccessLog{log: log, name: spec, kick: make(chan struct{}, 1), syncs: make(chan chan struct{}), stop: make(chan struct{}), done: make(chan struct{})}
	var err error
	switch {
	case len(spec) > 5 && spec[:5] == "file:":
		var f *os.File
		f, err = os.OpenFile(spec[5:], os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
		if err == nil {
			a.sink = &fileSink{f: f}
		}
	default:
		u, perr := url.Parse(spec)
		if perr != nil || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
			return nil, fmt.Errorf("access log %q: want file:PATH, syslog://HOST:PORT, syslog+tcp://HOST:PORT or syslog+unix:///PATH", spec)
		}
		switch u.Scheme {
		case "syslog", "syslog+udp":
			if u.Port() == "" || u.Path != "" {
				return nil, fmt.Errorf("access log %q: want syslog://HOST:PORT", spec)
			}
			a.sink, err = dialSyslog("udp", u.Host)
		case "syslog+tcp":
			if u.Port() == "" || u.Path != "" {
				return nil, fmt.Errorf("access log %q: want syslog+tcp://HOST:PORT", spec)
			}
			a.sink = &tcpSyslog{addr: u.Host}
		case "syslog+unix":
			if u.Host != "" || u.Path == "" {
				return nil, fmt.Errorf("access log %q: want syslog+unix:///PATH", spec)
			}
			a.sink, err = dialSyslog("unixgram", u.Path)
		default:
			return nil, fmt.Errorf("access log %q: want file:PATH, syslog://HOST:PORT, syslog+tcp://HOST:PORT or syslog+unix:///PATH", spec)
		}
		a.syslog = true
	}
	if err != nil {
		return nil, fmt.Errorf("access log %q: %w", spec, err)
	}
	if a.syslog {
		host, _ := os.Hostname()
		a.host = syslogToken(host)
		a.proc = strconv.Itoa(os.Getpid())
	}
	go a.run()
	return a, nil
}

// Written returns how many lines the sink accepted (lines of a failed write
// are not counted).
func (a *AccessLog) Written() int64 { return a.written.Load() }

// Dropped returns how many lines were dropped because the writer was behind.
func (a *AccessLog) Dropped() int64 { return a.dropped.Load() }

// Failed returns how many batches the sink failed to take.
func (a *AccessLog) Failed() int64 { return a.failed.Load() }

// Sync waits until every line logged before it was called has been handed to the sink.
func (a *AccessLog) Sync() {
	ch := make(chan struct{})
	select {
	case a.syncs <- ch:
		<-ch
	case <-a.done:
	}
}

// Close writes the lines pending, then closes the sink. Lines logged afterwards are
// dropped.
func (a *AccessLog) Close() error {
	a.once.Do(func() { close(a.stop) })
	<-a.done
	return a.sink.close()
}

// flushEvery bounds how long a line waits for the writer; warnEvery spaces the warnings
// about lost lines.
const (
	flushEvery = 100 * time.Millisecond
	warnEvery  = 10 * time.Second
)

func (a *AccessLog) run() {
	defer close(a.done)
	tick := time.NewTicker(flushEvery)
	defer tick.Stop()
	var spare []byte
	write := func() {
		a.mu.Lock()
		batch := a.pending
		a.pending = spare[:0]
		a.mu.Unlock()
		if len(batch) > 0 {
			if err := a.sink.write(batch); err != nil {
				a.failed.Add(1)
			} else {
				a.written.Add(int64(bytes.Count(batch, []byte{'\n'})))
			}
		}
		spare = batch
		if cap(spare) > 4*kickBytes {
			spare = nil // a burst's buffer is not kept
		}
	}
	var warned time.Time
	var lastDropped, lastFailed int64
	for {
		select {
		case <-tick.C:
			write()
			if d, f := a.dropped.Load(), a.failed.Load(); a.log != nil && (d != lastDropped || f != lastFailed) && time.Since(warned) >= warnEvery {
				a.log.Warn("access log is losing lines", "dropped_lines", d-lastDropped, "failed_writes", f-lastFailed, "sink", a.name)
				lastDropped, lastFailed, warned = d, f, time.Now()
			}
		case <-a.kick:
			write()
		case ch := <-a.syncs:
			write()
			close(ch)
		case <-a.stop:
			a.mu.Lock()
			a.closed = true
			a.mu.Unlock()
			write()
			return
		}
	}
}

// begin starts a line of kind ("http", "tcp", "udp") for listener fe at time now.
func (a *AccessLog) begin(kind string, fe *Frontend, now time.Time) *[]byte {
	bp, _ := a.bufs.Get().(*[]byte)
	if bp == nil {
		b := make([]byte, 0, 512)
		bp = &b
	}
	b := (*bp)[:0]
	now = now.UTC()
	if a.syslog {
		// PRI 134: facility local0, severity info. MSGID is the kind; no structured data.
		b = append(b, "<134>1 "...)
		b = now.AppendFormat(b, "2006-01-02T15:04:05.000000Z")
		b = append(b, ' ')
		b = append(b, a.host...)
		b = append(b, " fulcrum "...)
		b = append(b, a.proc...)
		b = append(b, ' ')
		b = append(b, kind...)
		b = append(b, " - "...)
	}
	b = append(b, `{"time":"`...)
	b = now.AppendFormat(b, "2006-01-02T15:04:05.000000Z")
	b = append(b, `","kind":"`...)
	b = append(b, kind...)
	b = append(b, `","loadbalancer_id":`...)
	b = appendJSON(b, fe.LoadBalancerID)
	b = append(b, `,"listener_id":`...)
	b = appendJSON(b, fe.ListenerID)
	*bp = b
	return bp
}

// end finishes the line in bp and adds it to the batch; it never blocks on the sink.
func (a *AccessLog) end(bp *[]byte) {
	line := append(*bp, "}\n"...)
	a.mu.Lock()
	if a.closed || len(a.pending)+len(line) > maxPendingBytes {
		a.mu.Unlock()
		a.dropped.Add(1)
	} else {
		a.pending = append(a.pending, line...)
		kick := len(a.pending) >= kickBytes
		a.mu.Unlock()
		if kick {
			select {
			case a.kick <- struct{}{}:
			default:
			}
		}
	}
	if cap(line) <= 16<<10 {
		*bp = line
		a.bufs.Put(bp)
	}
}

// httpRecord is what one HTTP request's line says, filled as the request is served (only
// while its listener logs). raw holds copies of the client's method, host, target and
// version (spans in fields), taken while the head is still in the buffer.
type httpRecord struct {
	have     bool // the request's values were captured
	raw      []byte
	fields   [4][2]int // method, host, target, version in raw
	bad      bool      // the head did not parse: fields[2] is its first line
	status   int       // the status sent to the client; 0 when none was
	engine   bool      // the engine answered (an error, a redirect, a rejection), not a member
	member   *balance.Member
	conn     time.Time // a member connection was ready
	response time.Time // the member's response head was read
	sent     int64
}

func (r *httpRecord) reset() {
	r.raw = r.raw[:0]
	r.fields = [4][2]int{}
	r.have, r.bad, r.status, r.engine, r.member, r.sent = false, false, 0, false, nil, 0
	r.conn, r.response = time.Time{}, time.Time{}
}

func (r *httpRecord) keep(i int, v []byte) {
	if len(v) > maxLogField {
		v = v[:maxLogField]
	}
	r.fields[i][0] = len(r.raw)
	r.raw = append(r.raw, v...)
	r.fields[i][1] = len(r.raw)
}

func (r *httpRecord) field(i int) []byte { return r.raw[r.fields[i][0]:r.fields[i][1]] }

// captureRequest keeps the parsed request's client-controlled values for the line.
func (h *httpConn) captureRequest() {
	req := &h.req
	h.rec.reset()
	h.rec.have = true
	h.rec.keep(0, req.first[0].of(req.head))
	if req.hasHost {
		h.rec.keep(1, req.hostValue.of(req.head))
	}
	h.rec.keep(2, req.first[1].of(req.head))
	if h.h2 != nil {
		h.rec.keep(3, h2Proto) // the client's protocol, not the stream's HTTP/1.1 form
	} else {
		h.rec.keep(3, req.first[2].of(req.head))
	}
}

// captureBad keeps the first line of a request head that did not parse.
func (h *httpConn) captureBad() {
	p := h.br.buf[h.br.r:h.br.w]
	for i, c := range p {
		if c == '\n' || c == '\r' {
			p = p[:i]
			break
		}
	}
	h.rec.reset()
	h.rec.have, h.rec.bad = true, true
	h.rec.keep(2, p)
	h.in = int64(h.br.buffered())
}

// policyStatus reads the status code of an L7 policy's answer head ("HTTP/1.1 302 ...").
func policyStatus(head []byte) int {
	if len(head) < 12 {
		return 0
	}
	n := 0
	for _, c := range head[9:12] {
		if c < '0' || c > '9' {
			return 0
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// logHTTP writes the line of the request just served on fe (start: its head was
// complete, or zero when it never was) and resets the record.
func (h *httpConn) logHTTP(fe *Frontend, start time.Time) {
	r := &h.rec
	now := time.Now()
	a := fe.log
	bp := a.begin("http", fe, now)
	b := *bp
	b = append(b, `,"client":"`...)
	b = h.client.AppendTo(b)
	b = append(b, '"')
	if r.bad {
		b = append(b, `,"bad_request":`...)
		b = appendJSONBytes(b, r.field(2))
	} else {
		b = append(b, `,"method":`...)
		b = appendJSONBytes(b, r.field(0))
		b = append(b, `,"host":`...)
		b = appendJSONBytes(b, r.field(1))
		b = append(b, `,"target":`...)
		b = appendJSONBytes(b, r.field(2))
		b = append(b, `,"version":`...)
		b = appendJSONBytes(b, r.field(3))
	}
	if h.info != nil {
		b = append(b, `,"tls_sni":`...)
		b = appendJSON(b, h.info.ServerName)
	}
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(r.status), 10)
	if r.engine {
		b = append(b, `,"answered_by":"engine"`...)
	} else {
		b = append(b, `,"answered_by":"member"`...)
	}
	b = append(b, `,"bytes_in":`...)
	b = strconv.AppendInt(b, h.in, 10)
	b = append(b, `,"bytes_out":`...)
	b = strconv.AppendInt(b, r.sent, 10)
	b = appendMember(b, r.member)
	b = appendSince(b, `,"t_connect_us":`, start, r.conn)
	b = appendSince(b, `,"t_response_us":`, start, r.response)
	b = appendSince(b, `,"t_total_us":`, start, now)
	*bp = b
	a.end(bp)
	r.reset()
}

// logFlow writes the line of a TCP connection or UDP flow that ended.
func (a *AccessLog) logFlow(kind string, fe *Frontend, client netip.AddrPort, m *balance.Member, start, connected time.Time, in, out int64, termination string) {
	now := time.Now()
	bp := a.begin(kind, fe, now)
	b := *bp
	b = append(b, `,"client":"`...)
	b = client.AppendTo(b)
	b = append(b, `","bytes_in":`...)
	b = strconv.AppendInt(b, in, 10)
	b = append(b, `,"bytes_out":`...)
	b = strconv.AppendInt(b, out, 10)
	b = appendMember(b, m)
	b = appendSince(b, `,"t_connect_us":`, start, connected)
	b = appendSince(b, `,"t_total_us":`, start, now)
	b = append(b, `,"termination":"`...)
	b = append(b, termination...)
	b = append(b, '"')
	*bp = b
	a.end(bp)
}

func appendMember(b []byte, m *balance.Member) []byte {
	if m == nil {
		return append(b, `,"pool_id":"","member_id":"","member":""`...)
	}
	b = append(b, `,"pool_id":`...)
	b = appendJSON(b, m.PoolID)
	b = append(b, `,"member_id":`...)
	b = appendJSON(b, m.ID)
	b = append(b, `,"member":"`...)
	b = m.AddrPort.AppendTo(b)
	return append(b, '"')
}

// appendSince appends name and the microseconds from start to t, or -1 when either is
// unknown (the step was not reached).
func appendSince(b []byte, name string, start, t time.Time) []byte {
	b = append(b, name...)
	if start.IsZero() || t.IsZero() {
		return append(b, "-1"...)
	}
	return strconv.AppendInt(b, t.Sub(start).Microseconds(), 10)
}

const hexDigits = "0123456789abcdef"

// appendJSONBytes appends v as a JSON string of printable ASCII: quotes, backslashes,
// control characters and every byte ≥ 0x7f are escaped (a byte ≥ 0x80 as \u00XX, one per
// byte, so any input maps to one unambiguous line). Values longer than maxLogField are
// cut and end with "...".
func appendJSONBytes(b, v []byte) []byte {
	cut := false
	if len(v) > maxLogField {
		v, cut = v[:maxLogField], true
	}
	b = append(b, '"')
	for _, c := range v {
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c >= 0x20 && c < 0x7f:
			b = append(b, c)
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '\r':
			b = append(b, '\\', 'r')
		case c == '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
	}
	if cut {
		b = append(b, "..."...)
	}
	return append(b, '"')
}

func appendJSON(b []byte, s string) []byte {
	// Ids come from the config, not from clients, but are escaped all the same.
	start := len(b)
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			return appendJSONBytes(b[:start], []byte(s))
		}
		b = append(b, c)
	}
	return append(b, '"')
}

// syslogToken makes s a valid RFC 5424 header field (printable ASCII without spaces,
// at most 255 bytes), "-" when empty.
func syslogToken(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s) && len(out) < 255; i++ {
		if c := s[i]; c > 32 && c < 127 {
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		return "-"
	}
	return string(out)
}

type fileSink struct{ f *os.File }

func (s *fileSink) write(batch []byte) error { _, err := s.f.Write(batch); return err }
func (s *fileSink) close() error             { return s.f.Close() }

// dgramSyslog sends each line as one datagram (UDP or a unix datagram socket), without
// its newline.
type dgramSyslog struct{ c net.Conn }

func dialSyslog(network, addr string) (sink, error) {
	c, err := net.Dial(network, addr)
	if err != nil {
		return nil, err
	}
	return &dgramSyslog{c: c}, nil
}

// lines calls f with each line of batch, without its newline (escaping keeps newlines
// out of lines).
func lines(batch []byte, f func(line []byte) error) error {
	var errs error
	for len(batch) > 0 {
		i := bytes.IndexByte(batch, '\n')
		if i < 0 {
			i = len(batch)
		}
		if err := f(batch[:i]); err != nil && errs == nil {
			errs = err
		}
		batch = batch[min(i+1, len(batch)):]
	}
	return errs
}

func (s *dgramSyslog) write(batch []byte) error {
	return lines(batch, func(line []byte) error { _, err := s.c.Write(line); return err })
}
func (s *dgramSyslog) close() error { return s.c.Close() }

// tcpSyslog frames each message with its length (RFC 6587 octet counting) over a TCP
// connection, dialled when needed and again after a failure (one attempt per batch).
type tcpSyslog struct {
	addr string
	c    net.Conn
	out  []byte
}

func (s *tcpSyslog) write(batch []byte) error {
	if s.c == nil {
		c, err := net.DialTimeout("tcp", s.addr, time.Second)
		if err != nil {
			return err
		}
		s.c = c
	}
	s.out = s.out[:0]
	lines(batch, func(line []byte) error {
		s.out = strconv.AppendInt(s.out, int64(len(line)), 10)
		s.out = append(s.out, ' ')
		s.out = append(s.out, line...)
		return nil
	})
	s.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := s.c.Write(s.out); err != nil {
		s.c.Close()
		s.c = nil
		return err
	}
	return nil
}

func (s *tcpSyslog) close() error {
	if s.c == nil {
		return nil
	}
	return s.c.Close()
}
