package haproxy

import (
	"context"
	"encoding/csv"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
)

// Observations come from HAProxy's runtime API through the master CLI: "show proc" lists
// the current worker and the replaced ones still finishing their connections, and
// "@!<pid> show stat" reads each one's counters. HAProxy's counters start at zero in every
// new worker, while the contract's counters survive reconfiguration, so the observer keeps
// per listener id and per member (pool id, member id, address) the last values seen of
// every worker and the final values of workers that are gone, and reports their sums.
// Member health comes from the current worker's servers in each pool's first backend.

// statRow is the part of one "show stat" row the engine reads.
type statRow struct {
	proxy, server      string
	status             string
	scur, stot         int64
	bin, bout          int64
	ereq, dreq, dcon   int64
	dses, econ         int64
	wretr, wredis      int64
	sslFailed          int64
	checkStatus        string
	checkCode, lastChk string
	checkDesc          string
}

// statColumns are the "show stat" columns the engine reads.
var statColumns = []string{"pxname", "svname", "status", "scur", "stot", "bin", "bout", "ereq", "dreq", "dcon", "dses",
	"econ", "wretr", "wredis", "ssl_failed_handshake", "check_status", "check_code", "last_chk", "check_desc"}

// parseStat reads "show stat" CSV (one header line naming the columns). With a thousand
// load balancers the answer is some 700 kB every second, so lines are split by hand and
// only the columns above are kept; a line holding a quote goes through encoding/csv.
func parseStat(s string) ([]statRow, error) {
	if !strings.HasPrefix(s, "# ") {
		return nil, fmt.Errorf("unexpected answer to show stat: %q", firstLine(s))
	}
	head, body, _ := strings.Cut(s[2:], "\n")
	idx := make([]int, len(statColumns)) // column number of each wanted column, -1 if absent
	for i := range idx {
		idx[i] = -1
	}
	for n, h := range strings.Split(head, ",") {
		for i, c := range statColumns {
			if h == c {
				idx[i] = n
			}
		}
	}
	want := map[int]int{} // column number → index into statColumns
	for i, n := range idx {
		if n >= 0 {
			want[n] = i
		}
	}
	var out []statRow
	var vals [19]string
	for len(body) > 0 {
		var line string
		line, body, _ = strings.Cut(body, "\n")
		if line == "" {
			continue
		}
		vals = [19]string{}
		if strings.IndexByte(line, '"') >= 0 {
			rec, err := csv.NewReader(strings.NewReader(line)).Read()
			if err != nil {
				continue
			}
			for n, v := range rec {
				if i, ok := want[n]; ok {
					vals[i] = v
				}
			}
		} else {
			for n := 0; len(line) > 0 || n == 0; n++ {
				f, rest, more := strings.Cut(line, ",")
				if i, ok := want[n]; ok {
					vals[i] = f
				}
				if !more {
					break
				}
				line = rest
			}
		}
		num := func(i int) int64 {
			n, _ := strconv.ParseInt(vals[i], 10, 64)
			return n
		}
		out = append(out, statRow{proxy: vals[0], server: vals[1], status: vals[2], scur: num(3), stot: num(4), bin: num(5), bout: num(6),
			ereq: num(7), dreq: num(8), dcon: num(9), dses: num(10), econ: num(11), wretr: num(12), wredis: num(13), sslFailed: num(14),
			checkStatus: vals[15], checkCode: vals[16], lastChk: vals[17], checkDesc: vals[18]})
	}
	return out, nil
}

// memberKey identifies a member's counters and health: the native engine keeps them while
// (pool id, member id, address:port) stays the same.
type memberKey struct {
	pool, member string
	addr         netip.AddrPort
}

// view is what the observer needs of one rendering: its config and name maps.
type view struct {
	cfg *dataplane.Config
	r   *rendering
}

// workerSeen is the last counters read from one worker, by listener id and by member.
type workerSeen struct {
	v         *view
	listeners map[string]counters
	lActive   map[string]int64
	members   map[memberKey]counters
	mActive   map[memberKey]int64
}

// healthState is the engine's record of one member's health.
type healthState struct {
	status    dataplane.MemberStatus
	since     time.Time
	lastCheck time.Time
	detail    string
	ok        bool
}

// observer reads and accumulates observations. Its methods are safe for concurrent use.
type observer struct {
	m     *master
	onEvt func(dataplane.HealthEvent)
	now   func() time.Time

	mu        sync.Mutex
	cur       *view
	version   uint64
	workers   map[int]*workerSeen
	retiredL  map[string]counters
	retiredM  map[memberKey]counters
	health    map[memberKey]*healthState
	lastRead  time.Time
	lastError error
}

func newObserver(m *master, onEvt func(dataplane.HealthEvent)) *observer {
	return &observer{m: m, onEvt: onEvt, now: time.Now, workers: map[int]*workerSeen{},
		retiredL: map[string]counters{}, retiredM: map[memberKey]counters{}, health: map[memberKey]*healthState{}}
}

func memberKeyOf(p *dataplane.Pool, m *dataplane.Member) memberKey {
	ip, _ := netip.ParseAddr(m.Address)
	return memberKey{p.ID, m.ID, netip.AddrPortFrom(ip.Unmap(), uint16(m.ProtocolPort))}
}

// configured is called when a configuration is in force: the next worker runs v.
// Counters of listeners and members no longer configured are forgotten, so that one
// coming back starts from zero as with the native engine.
func (o *observer) configured(v *view, version uint64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.cur, o.version = v, version
	listeners := map[string]bool{}
	for _, l := range v.cfg.Listeners {
		listeners[l.ID] = true
	}
	members := map[memberKey]bool{}
	for i := range v.cfg.Pools {
		p := &v.cfg.Pools[i]
		for j := range p.Members {
			members[memberKeyOf(p, &p.Members[j])] = true
		}
	}
	for k := range o.retiredL {
		if !listeners[k] {
			delete(o.retiredL, k)
		}
	}
	for k := range o.retiredM {
		if !members[k] {
			delete(o.retiredM, k)
		}
	}
	for k := range o.health {
		if !members[k] {
			delete(o.health, k)
		}
	}
	now := o.now()
	for k := range members {
		if o.health[k] == nil {
			o.health[k] = &healthState{since: now}
		}
	}
	// Health that follows from the configuration alone (MAINT, DRAIN, NO_CHECK) holds
	// from now on; UP and DOWN come from the next read.
	for i := range v.cfg.Pools {
		p := &v.cfg.Pools[i]
		mon := p.HealthMonitor != nil && p.HealthMonitor.AdminStateUp
		for j := range p.Members {
			m := &p.Members[j]
			h := o.health[memberKeyOf(p, m)]
			st := memberState(o.statusOf(h), m.AdminStateUp, mon && m.AdminStateUp, m.Weight)
			if h.status != st {
				h.status, h.since = st, now
			}
		}
	}
}

// statusOf gives memberState the HAProxy status matching what the engine believes.
func (o *observer) statusOf(h *healthState) string {
	if h.status == dataplane.StatusDown {
		return "DOWN"
	}
	return "UP"
}

// worker records that pid runs v (called when the engine started or reloaded it).
func (o *observer) worker(pid int, v *view) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if w := o.workers[pid]; w != nil {
		w.v = v
		return
	}
	o.workers[pid] = &workerSeen{v: v}
}

// refresh reads every worker's counters and the current worker's health, at most once
// per minAge. Errors leave the previous observations in place.
func (o *observer) refresh(ctx context.Context, minAge time.Duration) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.cur == nil || o.now().Sub(o.lastRead) < minAge {
		return o.lastError
	}
	err := o.read(ctx)
	o.lastRead, o.lastError = o.now(), err
	return err
}

func (o *observer) read(ctx context.Context) error {
	p, err := o.m.showProc(ctx)
	if err != nil {
		return err
	}
	live := map[int]bool{}
	for _, pid := range append(append([]int(nil), p.workers...), p.old...) {
		live[pid] = true
	}
	for pid, w := range o.workers {
		if !live[pid] {
			// Gone: its last counters become part of the retired sums.
			for k, c := range w.listeners {
				o.retiredL[k] = add(o.retiredL[k], c)
			}
			for k, c := range w.members {
				o.retiredM[k] = add(o.retiredM[k], c)
			}
			delete(o.workers, pid)
		}
	}
	var current []statRow
	for pid := range live {
		w := o.workers[pid]
		if w == nil {
			// A worker the engine did not start (adopted master): assume the config in force.
			w = &workerSeen{v: o.cur}
			o.workers[pid] = w
		}
		out, err := cli(ctx, o.m.sock(), fmt.Sprintf("@!%d show stat -1 5 -1", pid))
		if err != nil {
			continue // exiting now; its last values stay
		}
		rows, err := parseStat(out)
		if err != nil {
			continue
		}
		w.apply(rows)
		if len(p.workers) > 0 && pid == p.workers[0] {
			current = rows
		}
	}
	if current != nil {
		o.readHealth(current)
	}
	return nil
}

func add(a, b counters) counters {
	return counters{a.total + b.total, a.bytesIn + b.bytesIn, a.bytesOut + b.bytesOut, a.errors + b.errors, a.connErrors + b.connErrors}
}

// apply stores one worker's rows by listener id and member.
func (w *workerSeen) apply(rows []statRow) {
	w.listeners, w.lActive = map[string]counters{}, map[string]int64{}
	w.members, w.mActive = map[memberKey]counters{}, map[memberKey]int64{}
	if w.v == nil {
		return
	}
	cfg, r := w.v.cfg, w.v.r
	for _, row := range rows {
		if row.server == "FRONTEND" {
			i, ok := r.frontends[row.proxy]
			if !ok {
				continue
			}
			id := cfg.Listeners[i].ID
			w.listeners[id] = counters{total: row.stot, bytesIn: row.bin, bytesOut: row.bout,
				errors: row.ereq + row.dreq + row.dcon + row.dses + row.sslFailed}
			w.lActive[id] = row.scur
			continue
		}
		ref, ok := r.servers[row.proxy][row.server]
		if !ok {
			continue
		}
		p := &cfg.Pools[ref.pool]
		k := memberKeyOf(p, &p.Members[ref.member])
		// A failed connect is counted where it ended: econ when the request failed,
		// wretr or wredis when it was tried again (here or on another member).
		w.members[k] = add(w.members[k], counters{total: row.stot, connErrors: row.econ + row.wretr + row.wredis})
		w.mActive[k] += row.scur
	}
}

// readHealth updates member health from the current worker's rows and emits the UP/DOWN
// transitions.
func (o *observer) readHealth(rows []statRow) {
	cfg, r := o.cur.cfg, o.cur.r
	now := o.now()
	for _, row := range rows {
		ref, ok := r.servers[row.proxy][row.server]
		if !ok {
			continue
		}
		p := &cfg.Pools[ref.pool]
		if r.primary[p.ID] != row.proxy {
			continue
		}
		m := &p.Members[ref.member]
		k := memberKeyOf(p, m)
		h := o.health[k]
		if h == nil {
			h = &healthState{since: now}
			o.health[k] = h
		}
		mon := p.HealthMonitor != nil && p.HealthMonitor.AdminStateUp && m.AdminStateUp
		st := memberState(row.status, m.AdminStateUp, mon, m.Weight)
		if mon && row.checkStatus != "" && row.checkStatus != "INI" {
			h.lastCheck = now
			h.detail = checkDetail(row)
			h.ok = checkOK(row.checkStatus)
		}
		if st == h.status {
			continue
		}
		from := h.status
		h.status, h.since = st, now
		upDown := (from == dataplane.StatusUp && st == dataplane.StatusDown) || (from == dataplane.StatusDown && st == dataplane.StatusUp)
		if upDown && o.onEvt != nil {
			target := probeTarget(m)
			o.onEvt(dataplane.HealthEvent{Time: now, PoolID: p.ID, MemberID: m.ID, Address: target, From: from, To: st, Detail: h.detail})
		}
	}
}

func checkOK(status string) bool {
	switch status {
	case "L4OK", "L6OK", "L7OK", "L7OKC":
		return true
	}
	return false
}

// checkDetail words a probe's outcome like the native engine's details ("HTTP 200",
// "connect: connection refused").
func checkDetail(row statRow) string {
	switch row.checkStatus {
	case "L7OK", "L7OKC", "L7STS":
		if row.checkCode != "" {
			return "HTTP " + row.checkCode
		}
		return strings.ToLower(row.checkDesc)
	case "L4OK":
		return "connected"
	case "L6OK":
		return "TLS hello answered"
	case "L4CON":
		return "connect: " + strings.ToLower(orDesc(row))
	case "L4TOUT":
		return "connect: timeout"
	case "L6TOUT", "L7TOUT":
		return "timeout waiting for the response"
	case "L6RSP", "L7RSP":
		return "invalid response: " + strings.ToLower(orDesc(row))
	case "SOCKERR":
		return "socket error: " + strings.ToLower(orDesc(row))
	}
	return strings.TrimSpace(row.checkStatus + " " + orDesc(row))
}

func orDesc(row statRow) string {
	if row.lastChk != "" {
		return row.lastChk
	}
	return row.checkDesc
}

// stats is the snapshot of every counter of the configuration in force.
func (o *observer) stats() dataplane.Stats {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := dataplane.Stats{Version: o.version, Time: o.now(), Listeners: []dataplane.ListenerStats{}, Members: []dataplane.MemberStats{}}
	if o.cur == nil {
		return out
	}
	for _, l := range o.cur.cfg.Listeners {
		c := o.retiredL[l.ID]
		var active int64
		for _, w := range o.workers {
			c = add(c, w.listeners[l.ID])
			active += w.lActive[l.ID]
		}
		out.Listeners = append(out.Listeners, dataplane.ListenerStats{ListenerID: l.ID, LoadBalancerID: l.LoadBalancerID,
			ActiveConnections: active, TotalConnections: c.total, BytesIn: c.bytesIn, BytesOut: c.bytesOut, RequestErrors: c.errors})
	}
	for _, p := range sortedPools(o.cur.cfg) {
		for j := range p.Members {
			k := memberKeyOf(p, &p.Members[j])
			c := o.retiredM[k]
			var active int64
			for _, w := range o.workers {
				c = add(c, w.members[k])
				active += w.mActive[k]
			}
			out.Members = append(out.Members, dataplane.MemberStats{PoolID: p.ID, MemberID: p.Members[j].ID,
				ActiveConnections: active, TotalConnections: c.total, ConnectErrors: c.connErrors})
		}
	}
	return out
}

// totals returns the cumulative counters (every worker, gone or running), the bases of a
// new worker's PROMETHEUS metrics.
func (o *observer) totals() bases {
	o.mu.Lock()
	defer o.mu.Unlock()
	b := bases{listeners: map[string]counters{}, members: map[string]counters{}}
	for k, c := range o.retiredL {
		b.listeners[k] = c
	}
	for _, w := range o.workers {
		for k, c := range w.listeners {
			b.listeners[k] = add(b.listeners[k], c)
		}
	}
	mem := map[memberKey]counters{}
	for k, c := range o.retiredM {
		mem[k] = c
	}
	for _, w := range o.workers {
		for k, c := range w.members {
			mem[k] = add(mem[k], c)
		}
	}
	for k, c := range mem {
		b.members[k.pool+"/"+k.member] = add(b.members[k.pool+"/"+k.member], c)
	}
	return b
}

// health is the snapshot of every member's health of the configuration in force.
func (o *observer) healthSnapshot() dataplane.Health {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := dataplane.Health{Version: o.version, Time: o.now(), Members: []dataplane.MemberHealth{}}
	if o.cur == nil {
		return out
	}
	for _, p := range sortedPools(o.cur.cfg) {
		for j := range p.Members {
			m := &p.Members[j]
			h := o.health[memberKeyOf(p, m)]
			if h == nil {
				continue
			}
			out.Members = append(out.Members, dataplane.MemberHealth{PoolID: p.ID, MemberID: m.ID, Status: h.status,
				Since: h.since, LastCheck: h.lastCheck, LastCheckDetail: h.detail, LastCheckOK: h.ok})
		}
	}
	return out
}

func sortedPools(cfg *dataplane.Config) []*dataplane.Pool {
	out := make([]*dataplane.Pool, 0, len(cfg.Pools))
	for i := range cfg.Pools {
		out = append(out, &cfg.Pools[i])
	}
	sort.Slice(out, func(a, b int) bool { return out[a].ID < out[b].ID })
	return out
}
