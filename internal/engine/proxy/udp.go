package proxy

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/engine/balance"
	"github.com/fulcrumlb/fulcrum/internal/engine/clock"
)

// DefaultUDPFlowTimeout is the idle lifetime of a UDP flow when the listener's
// timeout_client_data is 0.
const DefaultUDPFlowTimeout = 300 * time.Second

// UDPServer proxies the datagrams of one UDP socket: each client address gets a flow, a
// connected socket to one member, that lives until it is idle for the listener's
// timeout_client_data.
type UDPServer struct {
	pc      *net.UDPConn
	current func() *Frontend
	opts    *Options

	mu     sync.Mutex
	flows  map[netip.AddrPort]*udpFlow
	sweep  clock.Timer
	closed bool
	wg     sync.WaitGroup
}

type udpFlow struct {
	client netip.AddrPort
	m      *balance.Member
	fe     *Frontend
	conn   *net.UDPConn
	last   atomic.Int64 // clock time of the last datagram either way, unix nanoseconds
	// start, in and out feed the access log (kept only while the listener logs).
	start   time.Time
	in, out atomic.Int64
	// why the flow ended, set by endLocked before it closes conn; the replies goroutine
	// writes the access-log line once it has counted its last datagram.
	why atomic.Pointer[string]
}

// NewUDPServer returns a server for pc; current returns the frontend in force (nil drops
// datagrams). Call Serve to run it and Close to stop its flows.
func NewUDPServer(pc *net.UDPConn, current func() *Frontend, opts *Options) *UDPServer {
	return &UDPServer{pc: pc, current: current, opts: opts, flows: map[netip.AddrPort]*udpFlow{}}
}

// Serve reads client datagrams until pc is closed.
func (s *UDPServer) Serve() {
	buf := make([]byte, 64<<10)
	for {
		n, addr, err := s.pc.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		fe := s.current()
		if fe == nil {
			continue
		}
		if !fe.AllowedAddr(addr.Addr()) {
			fe.Counters.Errors.Add(1)
			continue
		}
		fe.Counters.BytesIn.Add(int64(n))
		f := s.flow(fe, addr)
		if f == nil {
			continue
		}
		f.last.Store(s.opts.Clock.Now().UnixNano())
		if fe.log != nil {
			f.in.Add(int64(n))
		}
		f.conn.Write(buf[:n])
	}
}

// flow returns the live flow of client, creating it (and a member socket) if needed.
func (s *UDPServer) flow(fe *Frontend, client netip.AddrPort) *udpFlow {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	if f := s.flows[client]; f != nil {
		if f.m.Sticky() && f.fe == fe {
			return f
		}
		s.endLocked(f, "rebalanced") // member went away or the listener changed
	}
	if fe.Pool == nil {
		fe.Counters.Errors.Add(1)
		return nil
	}
	if !fe.Admit(client.Addr()) {
		return nil
	}
	var tried []*balance.Member
	for attempt := 0; attempt < fe.Opts.ConnectAttempts; attempt++ {
		m := fe.Pool.Choose(client, tried)
		if m == nil {
			break
		}
		conn, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(m.AddrPort))
		if err != nil {
			m.State.ConnectErrors.Add(1)
			tried = append(tried, m)
			continue
		}
		f := &udpFlow{client: client, m: m, fe: fe, conn: conn}
		if fe.log != nil {
			f.start = time.Now()
		}
		m.State.Active.Add(1)
		m.State.Total.Add(1)
		s.flows[client] = f
		s.wg.Add(1)
		go s.replies(f)
		if s.sweep == nil {
			s.scheduleLocked()
		}
		return f
	}
	fe.Release()
	fe.Counters.Errors.Add(1)
	if fe.log != nil {
		fe.log.logFlow("udp", fe, client, nil, time.Now(), time.Time{}, 0, 0, "no_member")
	}
	return nil
}

// replies copies member datagrams back to the client until the flow ends.
func (s *UDPServer) replies(f *udpFlow) {
	defer s.wg.Done()
	buf := make([]byte, 64<<10)
	for {
		n, err := f.conn.Read(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				if why := f.why.Load(); why != nil && f.fe.log != nil {
					f.fe.log.logFlow("udp", f.fe, f.client, f.m, f.start, f.start, f.in.Load(), f.out.Load(), *why)
				}
				return
			}
			continue // ICMP errors from the member surface here; the flow stays
		}
		f.last.Store(s.opts.Clock.Now().UnixNano())
		if _, err := s.pc.WriteToUDPAddrPort(buf[:n], f.client); err == nil {
			f.fe.Counters.BytesOut.Add(int64(n))
			if f.fe.log != nil {
				f.out.Add(int64(n))
			}
		}
	}
}

// endLocked ends flow f; why says so in its access-log line, which the flow's replies
// goroutine writes after its last datagram is counted (a reply the client already read is
// never missing from the line).
func (s *UDPServer) endLocked(f *udpFlow, why string) {
	delete(s.flows, f.client)
	f.why.Store(&why)
	f.conn.Close() // the replies goroutine logs the flow once it has counted its last reply
	f.m.State.Active.Add(-1)
	f.fe.Release()
}

func flowTimeout(fe *Frontend) time.Duration {
	if fe.ClientTimeout > 0 {
		return fe.ClientTimeout
	}
	return DefaultUDPFlowTimeout
}

// scheduleLocked arms the expiry sweep at a quarter of the shortest flow timeout
// (between 10 ms and 5 s).
func (s *UDPServer) scheduleLocked() {
	every := 5 * time.Second
	for _, f := range s.flows {
		every = min(every, flowTimeout(f.fe)/4)
	}
	every = max(every, 10*time.Millisecond)
	s.wg.Add(1) // the sweep is owned like the flows: Close waits for it
	s.sweep = s.opts.Clock.AfterFunc(every, func() {
		defer s.wg.Done()
		s.expire()
	})
}

func (s *UDPServer) expire() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweep = nil
	if s.closed {
		return
	}
	now := s.opts.Clock.Now().UnixNano()
	for _, f := range s.flows {
		if now-f.last.Load() >= int64(flowTimeout(f.fe)) {
			s.endLocked(f, "idle_timeout")
		}
	}
	if len(s.flows) > 0 {
		s.scheduleLocked()
	}
}

// Cut ends the flows of the clients admit refuses (a security-group filter that no longer
// admits them): their member sockets close, so no more replies reach them.
func (s *UDPServer) Cut(admit func(netip.Addr) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.flows {
		if !admit(f.client.Addr()) {
			s.endLocked(f, "ingress_cut")
		}
	}
}

// Flows returns the number of live flows.
func (s *UDPServer) Flows() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.flows)
}

// Close ends every flow and waits for their goroutines. The caller closes pc (which ends
// Serve).
func (s *UDPServer) Close() {
	s.mu.Lock()
	s.closed = true
	if s.sweep != nil {
		if s.sweep.Stop() {
			s.wg.Done()
		}
		s.sweep = nil
	}
	for _, f := range s.flows {
		s.endLocked(f, "closed")
	}
	s.mu.Unlock()
	s.wg.Wait()
}
