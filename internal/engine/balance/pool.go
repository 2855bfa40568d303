package balance

import (
	"encoding/binary"
	"math"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
)

// Pool is the runtime form of one pool in one config version. Its member set is fixed;
// which members are eligible follows their health, refreshed by Refresh.
type Pool struct {
	ID        string
	Protocol  dataplane.Protocol
	Algorithm dataplane.Algorithm
	Members   []*Member
	byID      map[string]*Member

	// Persistence is the session persistence in force (nil for none). SourceSessions holds
	// SOURCE_IP entries, CookieSessions APP_COOKIE entries (nil when not in force).
	Persistence    *dataplane.SessionPersistence
	SourceSessions *Sessions[netip.Addr]
	CookieSessions *Sessions[string]
	// H2C: the members speak cleartext HTTP/2 to HTTP/2 clients' requests (dataplane.Pool.H2C).
	H2C  bool
	mask int // SOURCE_IP granularity in bits of an IPv4 address; -1 = whole address

	refreshMu sync.Mutex
	snap      atomic.Pointer[snapshot]
	rr        atomic.Uint64
}

// snapshot is the eligible member set at one moment, with what each algorithm needs.
type snapshot struct {
	members []*Member
	seq     []uint16 // ROUND_ROBIN: smooth weighted sequence of indexes into members
}

// NewPool builds the runtime pool for cfg. members must be in cfg order. src and cookie
// are the persistence tables to use (kept across config versions by the caller); they may
// be nil when cfg's persistence does not need them.
func NewPool(cfg *dataplane.Pool, members []*Member, src *Sessions[netip.Addr], cookie *Sessions[string]) *Pool {
	p := &Pool{
		ID: cfg.ID, Protocol: cfg.Protocol, Algorithm: cfg.Algorithm, Members: members,
		byID: make(map[string]*Member, len(members)), Persistence: cfg.SessionPersistence,
		SourceSessions: src, CookieSessions: cookie, mask: -1, H2C: cfg.H2C,
	}
	if sp := cfg.SessionPersistence; sp != nil && sp.PersistenceGranularity != "" {
		if m, err := dataplane.ParseGranularity(sp.PersistenceGranularity); err == nil {
			p.mask = dataplane.MaskBits(m)
			if m.Is6() && !m.Is4In6() {
				p.mask = -p.mask - 2 // IPv6 mask, encoded below -1
			}
		}
	}
	for _, m := range members {
		p.byID[m.ID] = m
	}
	p.Refresh()
	return p
}

// Member returns the member with the given id, or nil.
func (p *Pool) Member(id string) *Member { return p.byID[id] }

// Refresh rebuilds the eligible set after a health change. Primaries are eligible when at
// least one is usable; otherwise the usable backups are.
func (p *Pool) Refresh() {
	p.refreshMu.Lock()
	defer p.refreshMu.Unlock()
	var primaries, backups []*Member
	for _, m := range p.Members {
		if !m.Usable() {
			continue
		}
		if m.Backup {
			backups = append(backups, m)
		} else {
			primaries = append(primaries, m)
		}
	}
	s := &snapshot{members: primaries}
	if len(primaries) == 0 {
		s.members = backups
	}
	if p.Algorithm == dataplane.RoundRobin {
		s.seq = smoothSequence(s.members)
	}
	p.snap.Store(s)
}

// maxSeq bounds the round-robin sequence; larger weight sums are scaled down.
const maxSeq = 1 << 14

// smoothSequence lays out one cycle of nginx-style smooth weighted round robin: each member
// appears weight times (after dividing weights by their gcd), spread evenly.
func smoothSequence(ms []*Member) []uint16 {
	if len(ms) == 0 || len(ms) > 1<<16 {
		return nil
	}
	w := make([]int, len(ms))
	g, sum := 0, 0
	for i, m := range ms {
		w[i] = m.Weight
		g = gcd(g, m.Weight)
	}
	for i := range w {
		w[i] /= g
		sum += w[i]
	}
	if sum > maxSeq {
		total := sum
		sum = 0
		for i := range w {
			w[i] = max(1, w[i]*maxSeq/total)
			sum += w[i]
		}
	}
	cur := make([]int, len(ms))
	seq := make([]uint16, sum)
	for k := range seq {
		best := 0
		for i := range cur {
			cur[i] += w[i]
			if cur[i] > cur[best] {
				best = i
			}
		}
		cur[best] -= sum
		seq[k] = uint16(best)
	}
	return seq
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// Pick chooses a member for a new connection or request from client, skipping the members
// in tried (earlier failed attempts). It returns nil when no eligible member is left. It
// applies the algorithm only; see Choose for persistence.
func (p *Pool) Pick(client netip.AddrPort, tried []*Member) *Member {
	s := p.snap.Load()
	n := len(s.members)
	if n == 0 {
		return nil
	}
	switch p.Algorithm {
	case dataplane.LeastConnections:
		return p.pickLeast(s, tried)
	case dataplane.SourceIP, dataplane.SourceIPPort:
		return pickHash(s, hashClient(client, p.Algorithm == dataplane.SourceIPPort), tried)
	}
	seq := s.seq
	if len(seq) == 0 {
		return nil
	}
	start := p.rr.Add(1) - 1
	for k := 0; k < len(seq); k++ {
		m := s.members[seq[(start+uint64(k))%uint64(len(seq))]]
		if m.Usable() && !contains(tried, m) {
			return m
		}
	}
	return nil
}

// pickLeast picks the member minimising active/weight; ties rotate.
func (p *Pool) pickLeast(s *snapshot, tried []*Member) *Member {
	n := len(s.members)
	start := int(p.rr.Add(1) % uint64(n))
	var best *Member
	var bestActive int64
	for k := 0; k < n; k++ {
		m := s.members[(start+k)%n]
		if !m.Usable() || contains(tried, m) {
			continue
		}
		a := m.State.Active.Load()
		if best == nil || a*int64(best.Weight) < bestActive*int64(m.Weight) {
			best, bestActive = m, a
		}
	}
	return best
}

// pickHash is weighted rendezvous hashing: every member scores the key and the highest
// score wins, so a member joining or leaving moves only the keys it wins or held.
func pickHash(s *snapshot, key uint64, tried []*Member) *Member {
	var best *Member
	bestScore := math.Inf(-1)
	for _, m := range s.members {
		if !m.Usable() || contains(tried, m) {
			continue
		}
		h := mix(key ^ m.seed)
		u := (float64(h>>11) + 0.5) / (1 << 53) // uniform in (0,1)
		score := float64(m.Weight) / -math.Log(u)
		if score > bestScore {
			best, bestScore = m, score
		}
	}
	return best
}

func hashClient(c netip.AddrPort, withPort bool) uint64 {
	b := c.Addr().Unmap().As16()
	h := mix(binary.LittleEndian.Uint64(b[:8]) ^ 0x9e3779b97f4a7c15)
	h = mix(h ^ binary.LittleEndian.Uint64(b[8:]))
	if withPort {
		h = mix(h ^ uint64(c.Port()))
	}
	return h
}

func contains(ms []*Member, m *Member) bool {
	for _, x := range ms {
		if x == m {
			return true
		}
	}
	return false
}

// Choose picks a member for a new client connection honouring SOURCE_IP persistence: a
// client whose (masked) address has a live entry returns to that member while it is
// Sticky; otherwise the algorithm picks and the entry is (re)written.
func (p *Pool) Choose(client netip.AddrPort, tried []*Member) *Member {
	if p.SourceSessions == nil || p.Persistence == nil || p.Persistence.Type != dataplane.PersistSourceIP {
		return p.Pick(client, tried)
	}
	key := p.maskAddr(client.Addr().Unmap())
	if len(tried) == 0 {
		if id, ok := p.SourceSessions.Get(key); ok {
			if m := p.byID[id]; m != nil && m.Sticky() {
				return m
			}
		}
	}
	m := p.Pick(client, tried)
	if m != nil {
		p.SourceSessions.Put(key, m.ID)
	}
	return m
}

// maskAddr applies persistence_granularity: an IPv4 mask to IPv4 clients, an IPv6 mask to
// IPv6 clients; otherwise the whole address is the key.
func (p *Pool) maskAddr(a netip.Addr) netip.Addr {
	switch {
	case p.mask >= 0 && a.Is4():
		pf, _ := a.Prefix(p.mask)
		return pf.Addr()
	case p.mask < -1 && a.Is6():
		pf, _ := a.Prefix(-p.mask - 2)
		return pf.Addr()
	}
	return a
}
