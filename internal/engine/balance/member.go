// Package balance chooses members: the runtime form of pools and members, the four Octavia
// algorithms (smooth weighted round robin, weighted least connections, consistent hashing of
// the source address with or without port), backups, session persistence tables, per-member
// counters and idle connection stacks. Picking never takes a lock shared beyond one pool.
package balance

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
)

// IdleConn is a pooled connection to a member (owned by the HTTP forwarder).
type IdleConn interface {
	Close() error
}

// MemberState is the runtime state of one member that outlives config versions: health,
// counters and idle connections. It is shared by every Member built for the same pool id,
// member id and address. All methods are safe for concurrent use.
type MemberState struct {
	up      atomic.Bool
	retired atomic.Bool

	// Active counts connections (TCP), requests in flight (HTTP) or flows (UDP) now.
	Active atomic.Int64
	// Total counts connections, requests or flows sent to the member.
	Total atomic.Int64
	// ConnectErrors counts failed connection attempts.
	ConnectErrors atomic.Int64

	mu         sync.Mutex
	since      time.Time
	lastCheck  time.Time
	lastDetail string
	lastOK     bool
	monitored  bool

	idleMu sync.Mutex
	idle   []idleEntry
}

type idleEntry struct {
	c     IdleConn
	since int64 // unix nanoseconds
}

// NewMemberState returns the state of a newly configured member: up, not monitored.
func NewMemberState(now time.Time) *MemberState {
	s := &MemberState{since: now}
	s.up.Store(true)
	return s
}

// Up reports whether health checks (if any) consider the member healthy.
func (s *MemberState) Up() bool { return s.up.Load() }

// SetUp records a health transition decided by a health checker at time now.
func (s *MemberState) SetUp(up bool, now time.Time) {
	s.mu.Lock()
	if s.up.Load() != up {
		s.since = now
	}
	s.up.Store(up)
	s.mu.Unlock()
}

// SetMonitored records whether a health monitor watches the member. An unmonitored member
// is considered healthy.
func (s *MemberState) SetMonitored(on bool, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.monitored == on {
		return
	}
	s.monitored = on
	s.since = now
	if !on {
		s.up.Store(true)
		s.lastCheck, s.lastDetail, s.lastOK = time.Time{}, "", false
	}
}

// RecordCheck stores the outcome of one probe.
func (s *MemberState) RecordCheck(ok bool, detail string, at time.Time) {
	s.mu.Lock()
	s.lastOK, s.lastDetail, s.lastCheck = ok, detail, at
	s.mu.Unlock()
}

// HealthSnapshot returns the health fields for a report.
func (s *MemberState) HealthSnapshot() (up, monitored bool, since, lastCheck time.Time, detail string, lastOK bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.up.Load(), s.monitored, s.since, s.lastCheck, s.lastDetail, s.lastOK
}

// GetIdle pops the most recently used idle connection not older than maxIdle, closing the
// stale ones it meets. It returns nil when none is left.
func (s *MemberState) GetIdle(now time.Time, maxIdle time.Duration) IdleConn {
	limit := now.Add(-maxIdle).UnixNano()
	s.idleMu.Lock()
	if n := len(s.idle); n > 0 {
		e := s.idle[n-1]
		s.idle[n-1] = idleEntry{}
		s.idle = s.idle[:n-1]
		if maxIdle <= 0 || e.since >= limit {
			s.idleMu.Unlock()
			return e.c
		}
		// The oldest entries sit at the bottom: everything below is staler still.
		stale := append([]idleEntry{e}, s.idle...)
		s.idle = s.idle[:0]
		s.idleMu.Unlock()
		for _, x := range stale {
			x.c.Close()
		}
		return nil
	}
	s.idleMu.Unlock()
	return nil
}

// PutIdle keeps c for reuse unless the stack holds max connections already or the member
// was retired; it reports whether c was kept (if not, the caller closes it).
func (s *MemberState) PutIdle(c IdleConn, now time.Time, max int) bool {
	if s.retired.Load() {
		return false
	}
	s.idleMu.Lock()
	defer s.idleMu.Unlock()
	if len(s.idle) >= max || s.retired.Load() {
		return false
	}
	s.idle = append(s.idle, idleEntry{c: c, since: now.UnixNano()})
	return true
}

// IdleCount returns the number of idle connections held.
func (s *MemberState) IdleCount() int {
	s.idleMu.Lock()
	defer s.idleMu.Unlock()
	return len(s.idle)
}

// Retire marks the member as gone from the configuration and closes its idle connections.
// Connections in flight finish; they are closed instead of pooled afterwards.
func (s *MemberState) Retire() {
	s.retired.Store(true)
	s.idleMu.Lock()
	idle := s.idle
	s.idle = nil
	s.idleMu.Unlock()
	for _, e := range idle {
		e.c.Close()
	}
}

// Member is one member of one pool in one config version.
type Member struct {
	ID     string
	PoolID string
	// Addr is "ip:port" for dialing; AddrPort the same parsed.
	Addr     string
	AddrPort netip.AddrPort
	Weight   int
	Backup   bool
	AdminUp  bool
	State    *MemberState
	seed     uint64
}

// NewMember builds the runtime member for config m of pool poolID with state st.
func NewMember(poolID string, m *dataplane.Member, st *MemberState) *Member {
	ip, _ := netip.ParseAddr(m.Address)
	ap := netip.AddrPortFrom(ip.Unmap(), uint16(m.ProtocolPort))
	return &Member{
		ID: m.ID, PoolID: poolID, Addr: ap.String(), AddrPort: ap,
		Weight: m.Weight, Backup: m.Backup, AdminUp: m.AdminStateUp, State: st,
		seed: hashString(m.ID),
	}
}

// Usable reports whether the member may take new, non-persistent traffic.
func (m *Member) Usable() bool { return m.AdminUp && m.Weight > 0 && m.State.up.Load() }

// Sticky reports whether the member may take traffic of a persistent session: like Usable,
// but a weight-0 (draining) member keeps its sessions.
func (m *Member) Sticky() bool { return m.AdminUp && m.State.up.Load() }

// Status returns the member's status for health reports.
func (m *Member) Status() dataplane.MemberStatus {
	up, monitored, _, _, _, _ := m.State.HealthSnapshot()
	switch {
	case !m.AdminUp:
		return dataplane.StatusMaint
	case monitored && !up:
		return dataplane.StatusDown
	case m.Weight == 0:
		return dataplane.StatusDrain
	case !monitored:
		return dataplane.StatusNoCheck
	}
	return dataplane.StatusUp
}

func hashString(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return mix(h)
}

// mix is the splitmix64 finaliser.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
