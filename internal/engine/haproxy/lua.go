package haproxy

import (
	"bytes"
	"fmt"
	"sort"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
)

// The Lua helpers run inside HAProxy (lua-load-per-thread). They do what HAProxy 2.6's
// configuration language cannot say exactly as the native engine does it:
//
//   - lua.fulcrum_path, lua.fulcrum_ext: the normalised path PATH and FILE_TYPE rules read
//     (escapes of unreserved characters and '/' decoded, ';' parameters removed, '//'
//     merged, dot segments resolved), without changing what the member is sent;
//   - lua.fulcrum_host: the request's host without port and trailing dot, lower-cased;
//   - lua.fulcrum_ssl(<field>): the X-SSL-* values in double quotes, '"' and '\' escaped
//     and control characters written as \xHH, so a certificate's subject cannot end the
//     value or add a header line;
//   - the fulcrum_metrics service: the PROMETHEUS listener's answer, the octavia_*
//     metrics of its own load balancer only (HAProxy 2.6's built-in exporter lists every
//     proxy of the process, that is every tenant on the node, and cannot be scoped).

// luaLB is one load balancer with a PROMETHEUS listener, as the metrics service sees it.
type luaLB struct {
	id        string
	listeners []luaListener
	pools     []luaPool
}

type luaListener struct {
	id, frontend string
	limit        int
}

type luaPool struct {
	id       string
	backends []string // every backend of the pool (counters are summed over them)
	primary  string   // the backend whose servers carry the health state
	members  []luaMember
}

type luaMember struct {
	id, server         string
	backup, admin, mon bool
	weight             int
}

// bases are the counters earlier workers reached, by listener id and by "pool/member",
// so that the *_total metrics do not restart at a reload.
type bases struct {
	listeners map[string]counters
	members   map[string]counters
}

// counters are the cumulative counters the engine keeps across workers.
type counters struct {
	total, bytesIn, bytesOut, errors, connErrors int64
}

// luaLB returns the index of load balancer id in the metrics map, adding it (with its
// listeners and the pools they use) on first use.
func (rr *renderer) luaLB(id string) int {
	for k := range rr.r.luaMap {
		if rr.r.luaMap[k].id == id {
			return k
		}
	}
	lb := luaLB{id: id}
	used := map[string]bool{}
	for i := range rr.cfg.Listeners {
		l := &rr.cfg.Listeners[i]
		if l.LoadBalancerID != id {
			continue
		}
		lb.listeners = append(lb.listeners, luaListener{id: l.ID, frontend: name("fe_", l.ID), limit: max(l.ConnectionLimit, 0)})
		for _, pid := range l.PoolIDs() {
			used[pid] = true
		}
	}
	sort.Slice(lb.listeners, func(a, b int) bool { return lb.listeners[a].id < lb.listeners[b].id })
	for i := range rr.cfg.Pools {
		p := &rr.cfg.Pools[i]
		if !used[p.ID] {
			continue
		}
		lp := luaPool{id: p.ID, primary: rr.r.primary[p.ID]}
		for j := range rr.cfg.Listeners {
			l := &rr.cfg.Listeners[j]
			for _, pid := range l.PoolIDs() {
				if pid == p.ID {
					lp.backends = append(lp.backends, backendName(l, p))
				}
			}
		}
		mon := p.HealthMonitor != nil && p.HealthMonitor.AdminStateUp
		for _, m := range p.Members {
			lp.members = append(lp.members, luaMember{id: m.ID, server: name("", m.ID), backup: m.Backup,
				admin: m.AdminStateUp, mon: mon && m.AdminStateUp, weight: m.Weight})
		}
		sort.Slice(lp.members, func(a, b int) bool { return lp.members[a].id < lp.members[b].id })
		lb.pools = append(lb.pools, lp)
	}
	sort.Slice(lb.pools, func(a, b int) bool { return lb.pools[a].id < lb.pools[b].id })
	rr.r.luaMap = append(rr.r.luaMap, lb)
	return len(rr.r.luaMap) - 1
}

// luaScript is the helpers with the metrics map of this rendering.
func luaScript(lbs []luaLB, b bases) []byte {
	var w bytes.Buffer
	w.WriteString("-- Rendered by fulcrum's haproxy engine. Do not edit.\n")
	w.WriteString("local lbs = {\n")
	for k, lb := range lbs {
		fmt.Fprintf(&w, "  [%d] = { id = %s, listeners = {\n", k, luaString(lb.id))
		for _, l := range lb.listeners {
			c := b.listeners[l.id]
			fmt.Fprintf(&w, "    { id = %s, fe = %s, limit = %d, base = { %d, %d, %d, %d } },\n",
				luaString(l.id), luaString(l.frontend), l.limit, c.total, c.bytesIn, c.bytesOut, c.errors)
		}
		w.WriteString("  }, pools = {\n")
		for _, p := range lb.pools {
			fmt.Fprintf(&w, "    { id = %s, primary = %s, backends = {", luaString(p.id), luaString(p.primary))
			for _, be := range p.backends {
				fmt.Fprintf(&w, " %s,", luaString(be))
			}
			w.WriteString(" }, members = {\n")
			for _, m := range p.members {
				c := b.members[p.id+"/"+m.id]
				fmt.Fprintf(&w, "      { id = %s, srv = %s, backup = %t, admin = %t, mon = %t, weight = %d, base = { %d, %d } },\n",
					luaString(m.id), luaString(m.server), m.backup, m.admin, m.mon, m.weight, c.total, c.connErrors)
			}
			w.WriteString("    } },\n")
		}
		w.WriteString("  } },\n")
	}
	w.WriteString("}\n")
	w.WriteString(luaHelpers)
	return w.Bytes()
}

// memberState maps an HAProxy server status and the member's settings onto the
// contract's status, with the native engine's precedence (MAINT, DOWN, DRAIN, NO_CHECK,
// UP). HAProxy writes "UP", "DOWN", "UP 1/3" (going down), "DOWN 1/2" (going up),
// "DRAIN", "MAINT", "NOLB", "no check".
func memberState(status string, admin, monitored bool, weight int) dataplane.MemberStatus {
	switch {
	case !admin:
		return dataplane.StatusMaint
	case monitored && len(status) >= 4 && status[:4] == "DOWN":
		return dataplane.StatusDown
	case weight == 0:
		return dataplane.StatusDrain
	case !monitored:
		return dataplane.StatusNoCheck
	}
	return dataplane.StatusUp
}

// luaHelpers is the static part of the script. memberState above and member_state below
// must agree.
const luaHelpers = `
local function unreserved(c)
  return c:match("^[A-Za-z0-9%-%._~]$") ~= nil
end

local function needs_normalizing(p)
  return p:find("[%%;]") or p:find("//", 1, true) or p:find("/%.%.?/") or p:find("/%.%.?$")
end

local function normalize(p)
  if p == nil or p == "" then return "/" end
  if p == "*" or not needs_normalizing(p) then return p end
  local out, n, i, param = {}, #p, 1, false
  while i <= n do
    local c = p:sub(i, i)
    local skip = false
    if c == "%" and i + 2 <= n then
      local hx = p:sub(i + 1, i + 2)
      local d = tonumber(hx, 16)
      if d ~= nil and hx:match("^%x%x$") then
        i = i + 2
        local ch = string.char(d)
        if ch ~= "/" and not unreserved(ch) then
          if not param then out[#out + 1] = "%" .. hx:upper() end
          skip = true
        else
          c = ch
        end
      end
    elseif c == ";" then
      param = true
      skip = true
    end
    if not skip then
      if c == "/" then param = false end
      if not param then out[#out + 1] = c end
    end
    i = i + 1
  end
  local b = table.concat(out)
  local segs, trailing = {}, false
  local j = 1
  local m = #b
  while j <= m do
    if b:sub(j, j) == "/" then
      j = j + 1
      trailing = true
    else
      local k = b:find("/", j, true) or (m + 1)
      local seg = b:sub(j, k - 1)
      trailing = false
      if seg == "." then
        trailing = true
      elseif seg == ".." then
        trailing = true
        if #segs > 0 then segs[#segs] = nil end
      else
        segs[#segs + 1] = seg
      end
      j = k
    end
  end
  local res = ""
  if #segs > 0 then res = "/" .. table.concat(segs, "/") end
  if trailing or res == "" then res = res .. "/" end
  return res
end

core.register_fetches("fulcrum_path", function(txn)
  return normalize(txn.f:path())
end)

core.register_fetches("fulcrum_ext", function(txn)
  local p = normalize(txn.f:path())
  local seg = p:match("([^/]*)$") or ""
  local ext = seg:match("%.([^%.]*)$")
  return ext
end)

core.register_fetches("fulcrum_host", function(txn)
  local h = txn.f:req_hdr("host")
  if h == nil then return nil end
  if h:sub(1, 1) == "[" then
    local e = h:find("]", 1, true)
    if e then h = h:sub(1, e) end
  else
    local c = h:find(":", 1, true)
    if c and not h:find(":", c + 1, true) and h:sub(c + 1):match("^%d*$") then
      h = h:sub(1, c - 1)
    end
  end
  if #h > 1 and h:sub(-1) == "." then h = h:sub(1, -2) end
  return h:lower()
end)

local function quote(s)
  if s == nil then s = "" end
  s = s:gsub('[%c"\\]', function(c)
    if c == '"' or c == "\\" then return "\\" .. c end
    return string.format("\\x%02X", c:byte())
  end)
  return '"' .. s .. '"'
end

core.register_fetches("fulcrum_ssl", function(txn, field)
  local f = txn.f
  if field == "client-dn" then return quote(f:ssl_c_s_dn()) end
  if field == "client-cn" then return quote(f:ssl_c_s_dn("CN", -1)) end
  if field == "issuer" then return quote(f:ssl_c_i_dn()) end
  if field == "client-sha1" then
    local b = f:ssl_c_sha1()
    if b == nil then return quote("") end
    return quote((b:gsub(".", function(c) return string.format("%02X", c:byte()) end)))
  end
  if field == "client-not-before" then return quote(f:ssl_c_notbefore()) end
  if field == "client-not-after" then return quote(f:ssl_c_notafter()) end
  return quote("")
end)

local function num(v)
  v = tonumber(v)
  if v == nil then return 0 end
  return math.floor(v)
end

local function member_state(m, st)
  if not m.admin then return "MAINT" end
  local status = (st and st.status) or ""
  if m.mon and status:sub(1, 4) == "DOWN" then return "DOWN" end
  if m.weight == 0 then return "DRAIN" end
  if not m.mon then return "NO_CHECK" end
  return "UP"
end

local function escape_label(s)
  return (s:gsub('[\\"\n]', function(c)
    if c == "\n" then return "\\n" end
    return "\\" .. c
  end))
end

local function server_stats(be, srv)
  local b = core.backends[be]
  if b == nil then return nil end
  local s = b.servers[srv]
  if s == nil then return nil end
  return s:get_stats()
end

local states = { "UP", "DOWN", "DRAIN", "MAINT", "NO_CHECK" }

core.register_service("fulcrum_metrics", "http", function(applet)
  local lb = lbs[tonumber(applet:get_var("` + varLB + `"))]
  local out = {}
  local function family(name, kind, help)
    out[#out + 1] = "# HELP " .. name .. " " .. help .. "\n# TYPE " .. name .. " " .. kind .. "\n"
  end
  local function sample(name, v, labels)
    local l = ""
    if labels then
      local parts = {}
      for i = 1, #labels, 2 do parts[#parts + 1] = labels[i] .. '="' .. escape_label(labels[i + 1]) .. '"' end
      l = "{" .. table.concat(parts, ",") .. "}"
    end
    out[#out + 1] = name .. l .. " " .. string.format("%d", v) .. "\n"
  end
  local ls, pools = {}, {}
  if lb ~= nil then ls, pools = lb.listeners, lb.pools end
  local lstats = {}
  local active, total = 0, 0
  for i, l in ipairs(ls) do
    local fe = core.frontends[l.fe]
    local st = (fe and fe:get_stats()) or {}
    local v = {
      cur = num(st.scur),
      tot = num(st.stot) + l.base[1],
      bin = num(st.bin) + l.base[2],
      bout = num(st.bout) + l.base[3],
      err = num(st.ereq) + num(st.dreq) + num(st.dcon) + num(st.dses) + num(st.ssl_failed_handshake) + l.base[4],
    }
    lstats[i] = v
    active, total = active + v.cur, total + v.tot
  end
  family("octavia_loadbalancer_current_connections", "gauge", "Number of active client connections on the load balancer's listeners.")
  sample("octavia_loadbalancer_current_connections", active)
  family("octavia_loadbalancer_connections_total", "counter", "Total number of client connections accepted by the load balancer's listeners.")
  sample("octavia_loadbalancer_connections_total", total)
  family("octavia_loadbalancer_listeners", "gauge", "Number of listeners of the load balancer on this node.")
  sample("octavia_loadbalancer_listeners", #ls)
  local lf = {
    { "octavia_listener_status", "gauge", "Whether the listener is listening (1) on this node.", function(l, v) return 1 end },
    { "octavia_listener_current_sessions", "gauge", "Number of active client connections.", function(l, v) return v.cur end },
    { "octavia_listener_limit_sessions", "gauge", "Configured connection_limit (0 meaning no limit).", function(l, v) return l.limit end },
    { "octavia_listener_sessions_total", "counter", "Total number of client connections accepted.", function(l, v) return v.tot end },
    { "octavia_listener_bytes_in_total", "counter", "Total number of bytes received from clients.", function(l, v) return v.bin end },
    { "octavia_listener_bytes_out_total", "counter", "Total number of bytes sent to clients.", function(l, v) return v.bout end },
    { "octavia_listener_request_errors_total", "counter", "Total number of refused connections and malformed or refused requests.", function(l, v) return v.err end },
  }
  for _, f in ipairs(lf) do
    family(f[1], f[2], f[3])
    for i, l in ipairs(ls) do sample(f[1], f[4](l, lstats[i]), { "listener", l.id }) end
  end
  local pv = {}
  for i, p in ipairs(pools) do
    local v = { active = 0, backup = 0, cur = 0, tot = 0, econ = 0, members = {} }
    for j, m in ipairs(p.members) do
      local mv = { cur = 0, tot = m.base[1], econ = m.base[2] }
      for _, be in ipairs(p.backends) do
        local st = server_stats(be, m.srv)
        if st then
          mv.cur = mv.cur + num(st.scur)
          mv.tot = mv.tot + num(st.stot)
          mv.econ = mv.econ + num(st.econ) + num(st.wretr) + num(st.wredis)
        end
      end
      mv.state = member_state(m, server_stats(p.primary, m.srv))
      if m.admin and m.weight > 0 and (mv.state == "UP" or mv.state == "NO_CHECK") then
        if m.backup then v.backup = v.backup + 1 else v.active = v.active + 1 end
      end
      v.cur, v.tot, v.econ = v.cur + mv.cur, v.tot + mv.tot, v.econ + mv.econ
      v.members[j] = mv
    end
    pv[i] = v
  end
  local pf = {
    { "octavia_pool_status", "gauge", "Whether the pool has a member that can take new connections (1) or not (0).", function(v) if v.active + v.backup > 0 then return 1 end return 0 end },
    { "octavia_pool_active_members", "gauge", "Number of non-backup members that can take new connections.", function(v) return v.active end },
    { "octavia_pool_backup_members", "gauge", "Number of backup members that can take new connections.", function(v) return v.backup end },
    { "octavia_pool_current_sessions", "gauge", "Number of active connections to the pool's members.", function(v) return v.cur end },
    { "octavia_pool_sessions_total", "counter", "Total number of connections made to the pool's members.", function(v) return v.tot end },
    { "octavia_pool_connection_errors_total", "counter", "Total number of failed connection attempts to the pool's members.", function(v) return v.econ end },
  }
  for _, f in ipairs(pf) do
    family(f[1], f[2], f[3])
    for i, p in ipairs(pools) do sample(f[1], f[4](pv[i]), { "pool", p.id }) end
  end
  family("octavia_member_status", "gauge", "Current state of the member: 1 for the state it is in (UP, DOWN, DRAIN, MAINT or NO_CHECK), 0 for the others.")
  for i, p in ipairs(pools) do
    for j, m in ipairs(p.members) do
      for _, s in ipairs(states) do
        local one = 0
        if pv[i].members[j].state == s then one = 1 end
        sample("octavia_member_status", one, { "pool", p.id, "member", m.id, "state", s })
      end
    end
  end
  local mf = {
    { "octavia_member_current_sessions", "gauge", "Number of active connections to the member.", "cur" },
    { "octavia_member_sessions_total", "counter", "Total number of connections made to the member.", "tot" },
    { "octavia_member_connection_errors_total", "counter", "Total number of failed connection attempts to the member.", "econ" },
  }
  for _, f in ipairs(mf) do
    family(f[1], f[2], f[3])
    for i, p in ipairs(pools) do
      for j, m in ipairs(p.members) do sample(f[1], pv[i].members[j][f[4]], { "pool", p.id, "member", m.id }) end
    end
  end
  local body = table.concat(out)
  applet:set_status(200)
  applet:add_header("content-type", "text/plain; version=0.0.4; charset=utf-8")
  applet:add_header("content-length", string.format("%d", #body))
  applet:start_response()
  applet:send(body)
end)
`
