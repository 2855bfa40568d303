package proxy

import (
	"bufio"
	"errors"
	"fmt"
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
// logs"). Lines are formatted by the proxy goroutines into pooled buffers and handed to
// one writer goroutine over a bounded queue: a slow or unreachable sink never stalls
// traffic; lines that find the queue full are dropped and counted (Dropped).
//
// Every client-controlled value (method, host, target, version) is written as a JSON
// string in which quotes, backslashes, control characters and every byte outside
// printable ASCII are escaped, so a line can neither be split nor forged by a client.
type AccessLog struct {
	sink    sink
	queue   chan logItem
	stop    chan struct{}
	done    chan struct{}
	bufs    sync.Pool
	dropped atomic.Int64
	failed  atomic.Int64
	once    sync.Once
	// syslog header parts (syslog sinks only): "<134>1 " and " HOST fulcrum PID ".
	syslog     bool
	host, proc string
}

type logItem struct {
	b    *[]byte
	sync chan struct{}
}

// sink is where lines go: a file (lines buffered, flushed when the buffer fills, every
// flushEvery and on Sync) or a syslog socket (one message per line).
type sink interface {
	write(line []byte) error
	flush() error
	close() error
}

// accessLogQueue bounds the lines waiting for the writer.
const accessLogQueue = 8192

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
// The caller must Close it.
func OpenAccessLog(spec string) (*AccessLog, error) {
	a := &AccessLog{queue: make(chan logItem, accessLogQueue), stop: make(chan struct{}), done: make(chan struct{})}
	var err error
	switch {
	case len(spec) > 5 && spec[:5] == "file:":
		var f *os.File
		f, err = os.OpenFile(spec[5:], os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
		if err == nil {
			a.sink = &fileSink{f: f, w: bufio.NewWriterSize(f, 64<<10)}
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

// Dropped returns how many lines were dropped because the queue was full.
func (a *AccessLog) Dropped() int64 { return a.dropped.Load() }

// Failed returns how many lines the sink failed to take.
func (a *AccessLog) Failed() int64 { return a.failed.Load() }

// Sync waits until every line logged before it was called has been handed to the sink.
func (a *AccessLog) Sync() {
	ch := make(chan struct{})
	select {
	case a.queue <- logItem{sync: ch}:
	case <-a.done:
		return
	}
	select {
	case <-ch:
	case <-a.done:
	}
}

// Close writes the lines queued, then closes the sink. Lines logged afterwards are
// dropped.
func (a *AccessLog) Close() error {
	a.once.Do(func() { close(a.stop) })
	<-a.done
	return a.sink.close()
}

// flushEvery bounds how long a line may wait in the file buffer.
const flushEvery = 200 * time.Millisecond

func (a *AccessLog) run() {
	defer close(a.done)
	tick := time.NewTicker(flushEvery)
	defer tick.Stop()
	dirty := false
	for {
		select {
		case it := <-a.queue:
			a.take(it)
			dirty = it.sync == nil
		case <-tick.C:
			if dirty {
				if err := a.sink.flush(); err != nil {
					a.failed.Add(1)
				}
				dirty = false
			}
		case <-a.stop:
			for {
				select {
				case it := <-a.queue:
					a.take(it)
				default:
					a.sink.flush()
					return
				}
			}
		}
	}
}

func (a *AccessLog) take(it logItem) {
	if it.sync != nil {
		if err := a.sink.flush(); err != nil {
			a.failed.Add(1)
		}
		close(it.sync)
		return
	}
	if err := a.sink.write(*it.b); err != nil {
		a.failed.Add(1)
	}
	if cap(*it.b) <= 16<<10 {
		a.bufs.Put(it.b)
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

// end finishes the line in bp and queues it; it never blocks.
func (a *AccessLog) end(bp *[]byte) {
	b := append(*bp, "}\n"...)
	*bp = b
	select {
	case <-a.stop:
		a.dropped.Add(1)
		return
	default:
	}
	select {
	case a.queue <- logItem{b: bp}:
	default:
		a.dropped.Add(1)
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
	h.rec.keep(3, req.first[2].of(req.head))
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

type fileSink struct {
	f *os.File
	w *bufio.Writer
}

func (s *fileSink) write(line []byte) error { _, err := s.w.Write(line); return err }
func (s *fileSink) flush() error            { return s.w.Flush() }
func (s *fileSink) close() error {
	err := s.w.Flush()
	return errors.Join(err, s.f.Close())
}

// dgramSyslog sends each line as one datagram (UDP or a unix datagram socket), without
// the trailing newline.
type dgramSyslog struct{ c net.Conn }

func dialSyslog(network, addr string) (sink, error) {
	c, err := net.Dial(network, addr)
	if err != nil {
		return nil, err
	}
	return &dgramSyslog{c: c}, nil
}

func (s *dgramSyslog) write(line []byte) error {
	_, err := s.c.Write(line[:len(line)-1])
	return err
}
func (s *dgramSyslog) flush() error { return nil }
func (s *dgramSyslog) close() error { return s.c.Close() }

// tcpSyslog frames each message with its length (RFC 6587 octet counting) over a TCP
// connection, dialled when needed and again after a failure (one attempt per line).
type tcpSyslog struct {
	addr string
	c    net.Conn
	w    *bufio.Writer
}

func (s *tcpSyslog) write(line []byte) error {
	if s.c == nil {
		c, err := net.DialTimeout("tcp", s.addr, time.Second)
		if err != nil {
			return err
		}
		s.c, s.w = c, bufio.NewWriterSize(c, 32<<10)
	}
	msg := line[:len(line)-1]
	var n [20]byte
	s.w.Write(strconv.AppendInt(n[:0], int64(len(msg)), 10))
	s.w.WriteByte(' ')
	if _, err := s.w.Write(msg); err != nil {
		s.reset()
		return err
	}
	return nil
}

func (s *tcpSyslog) flush() error {
	if s.c == nil {
		return nil
	}
	s.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if err := s.w.Flush(); err != nil {
		s.reset()
		return err
	}
	return nil
}

func (s *tcpSyslog) reset() {
	s.c.Close()
	s.c, s.w = nil, nil
}

func (s *tcpSyslog) close() error {
	if s.c == nil {
		return nil
	}
	err := s.w.Flush()
	return errors.Join(err, s.c.Close())
}
