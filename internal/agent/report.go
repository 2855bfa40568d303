package agent

import "github.com/fulcrumlb/fulcrum/internal/dataplane"

// report is what one regular heartbeat said of the engine's counters and
// member health, by listener or member id: the base of the next delta
// heartbeat (dataplane.Heartbeat.Base) once a server has answered it.
type report struct {
	seq       uint64
	server    int // the index of the server it went to
	listeners map[string]dataplane.ListenerStats
	members   map[string]dataplane.MemberStats
	health    map[string]dataplane.MemberHealth
}

func newReport(seq uint64, server int, stats dataplane.Stats, health dataplane.Health) *report {
	r := &report{seq: seq, server: server, listeners: make(map[string]dataplane.ListenerStats, len(stats.Listeners)),
		members: make(map[string]dataplane.MemberStats, len(stats.Members)), health: make(map[string]dataplane.MemberHealth, len(health.Members))}
	for _, l := range stats.Listeners {
		r.listeners[l.ListenerID] = l
	}
	for _, m := range stats.Members {
		r.members[m.MemberID] = m
	}
	for _, h := range health.Members {
		r.health[h.MemberID] = h
	}
	return r
}

// delta makes hb, which carries cur whole, a delta of r: only the entries
// that differ from r's (for member health: the pool or the status; the
// server reads nothing else of it), and the ids r had that cur lacks.
func (r *report) delta(cur *report, hb *dataplane.Heartbeat) {
	hb.Base = r.seq
	hb.Stats.Listeners = changed(r.listeners, cur.listeners, func(a, b dataplane.ListenerStats) bool { return a == b })
	hb.Stats.Members = changed(r.members, cur.members, func(a, b dataplane.MemberStats) bool { return a == b })
	hb.Health.Members = changed(r.health, cur.health, func(a, b dataplane.MemberHealth) bool {
		return a.PoolID == b.PoolID && a.Status == b.Status
	})
	gone := dataplane.Gone{Listeners: missing(r.listeners, cur.listeners), MemberStats: missing(r.members, cur.members),
		MemberHealths: missing(r.health, cur.health)}
	if len(gone.Listeners)+len(gone.MemberStats)+len(gone.MemberHealths) > 0 {
		hb.Gone = &gone
	}
}

// changed returns the values of cur that base lacks or holds otherwise.
func changed[V any](base, cur map[string]V, same func(a, b V) bool) []V {
	var out []V
	for id, v := range cur {
		if old, ok := base[id]; !ok || !same(old, v) {
			out = append(out, v)
		}
	}
	return out
}

// missing returns the ids of base that cur lacks.
func missing[V any](base, cur map[string]V) []string {
	var out []string
	for id := range base {
		if _, ok := cur[id]; !ok {
			out = append(out, id)
		}
	}
	return out
}
