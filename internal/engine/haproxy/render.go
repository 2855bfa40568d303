package haproxy

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"net/netip"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
)

// settings are the node-wide parts of a rendering that do not come from the Config.
type settings struct {
	// Dir is the engine's private directory; every path in the configuration is in it.
	Dir string
	// Threads is HAProxy's nbthread (0: HAProxy's default, one per CPU).
	Threads int
	// MaxConn is the process-wide connection limit (0: HAProxy's default from ulimit).
	MaxConn int
	// HardStopAfter bounds how long a replaced worker may finish its connections, in
	// seconds (0: as long as they last).
	HardStopAfter int
	// FreeBind lets listeners bind addresses not (yet) configured on the host.
	FreeBind bool
	// Bases are the counters of earlier workers, added to the PROMETHEUS metrics.
	Bases bases
}

// File names inside the private directory.
const (
	masterSock  = "m.sock"        // master CLI (-S)
	statsSock   = "s.sock"        // stats socket of the workers (expose-fd listeners)
	configFile  = "haproxy.cfg"   // the configuration in force
	stateFile   = "servers.state" // server state carried across a reload
	pidFile     = "haproxy.pid"   // the master's pid (-p)
	ticketsFile = "tls-ticket-keys"
	filesDir    = "files" // content-addressed certificates, lists, maps and the Lua script
)

// Names of the HTTP transaction variables the rendered rules use.
const (
	varPolicy = "txn.fulcrum_l7"   // index of the L7 policy that matched
	varPath   = "txn.fulcrum_path" // normalised path (PATH rules)
	varExt    = "txn.fulcrum_ext"  // file extension (FILE_TYPE rules)
	varHost   = "txn.fulcrum_host" // host without port (HOST_NAME rules)
	varSPort  = "txn.fulcrum_sp"   // client port (SOURCE_IP_PORT)
	varLB     = "txn.fulcrum_lb"   // PROMETHEUS listener: index into the Lua map
)

// rendering is one Config turned into HAProxy's configuration: the text, the files it
// references, and the maps the engine reads observations back through.
type rendering struct {
	text []byte
	// lines[n-1] is the field path line n of text was written for ("" for node-wide
	// lines), so that an error HAProxy reports at a line becomes a FieldError.
	lines []string
	// files maps a file name under filesDir to its content (written mode 0600).
	files map[string][]byte

	frontends map[string]int               // frontend name → listener index
	servers   map[string]map[string]srvRef // backend name → server name → member
	primary   map[string]string            // pool id → the backend whose servers run the checks
	tables    map[string]tableRef          // stick table (backend name) → its pool
	// spec maps "backend/server" to what the server's state depends on (its line and its
	// pool's health monitor): state is carried across a reload only while it is unchanged.
	spec   map[string]string
	luaMap []luaLB // PROMETHEUS listeners' load balancers
}

// srvRef is the member a server line stands for.
type srvRef struct {
	pool, member int // indexes into Config.Pools and Pool.Members
	id           int // the server's numeric id (same in every backend of the pool)
}

// tableRef is a stick table and the pool it belongs to.
type tableRef struct {
	pool int
}

// writer accumulates configuration lines and the field path of each.
type writer struct {
	b     bytes.Buffer
	lines []string
	path  string
}

func (w *writer) at(path string) { w.path = path }

func (w *writer) line(format string, args ...any) {
	if len(args) == 0 {
		w.b.WriteString(format)
	} else {
		fmt.Fprintf(&w.b, format, args...)
	}
	w.b.WriteByte('\n')
	w.lines = append(w.lines, w.path)
}

// render turns a valid Config (contract and refuse) into an HAProxy configuration.
func render(cfg *dataplane.Config, s settings) (*rendering, error) {
	r := &rendering{files: map[string][]byte{}, frontends: map[string]int{}, servers: map[string]map[string]srvRef{},
		primary: map[string]string{}, tables: map[string]tableRef{}, spec: map[string]string{}}
	w := &writer{}
	rr := &renderer{cfg: cfg, s: s, r: r, w: w, pools: map[string]int{}}
	for i := range cfg.Pools {
		rr.pools[cfg.Pools[i].ID] = i
	}
	if err := rr.all(); err != nil {
		return nil, err
	}
	r.text, r.lines = w.b.Bytes(), w.lines
	return r, nil
}

type renderer struct {
	cfg   *dataplane.Config
	s     settings
	r     *rendering
	w     *writer
	pools map[string]int
	// luaUsed is set when a rule or header needs the Lua helpers.
	luaUsed bool
}

func (rr *renderer) path(name string) string { return filepath.Join(rr.s.Dir, name) }

// file stores content under a name derived from its SHA-256 and returns its path.
func (rr *renderer) file(ext string, content []byte) string {
	sum := sha256.Sum256(content)
	n := hex.EncodeToString(sum[:16]) + ext
	rr.r.files[n] = content
	return filepath.Join(rr.s.Dir, filesDir, n)
}

// backendName is the backend of pool p behind listener l: HAProxy keeps connect and
// server timeouts per backend, and Octavia sets them per listener.
func backendName(l *dataplane.Listener, p *dataplane.Pool) string {
	return name("be_", l.ID) + "." + name("", p.ID)
}

func (rr *renderer) all() error {
	w := rr.w
	// The backends each pool appears in, in order: the first carries the health checks
	// and the stick table, the others follow it (track, table).
	pairs := map[string][]string{} // pool id → backend names
	for i := range rr.cfg.Listeners {
		l := &rr.cfg.Listeners[i]
		for _, pid := range l.PoolIDs() {
			pairs[pid] = append(pairs[pid], backendName(l, &rr.cfg.Pools[rr.pools[pid]]))
		}
	}
	for i := range rr.cfg.Pools {
		p := &rr.cfg.Pools[i]
		if len(pairs[p.ID]) == 0 {
			// A pool no listener uses carries no traffic, but its members' health is still
			// observed, as the native engine does.
			pairs[p.ID] = []string{name("bp_", p.ID)}
		}
		rr.r.primary[p.ID] = pairs[p.ID][0]
	}

	rr.global()
	for i := range rr.cfg.Listeners {
		if err := rr.frontend(i); err != nil {
			return err
		}
	}
	for i := range rr.cfg.Listeners {
		l := &rr.cfg.Listeners[i]
		for _, pid := range l.PoolIDs() {
			rr.backend(l, rr.pools[pid])
		}
	}
	for i := range rr.cfg.Pools {
		p := &rr.cfg.Pools[i]
		if rr.r.primary[p.ID] == name("bp_", p.ID) {
			rr.backend(nil, i)
		}
	}
	if rr.luaUsed || len(rr.r.luaMap) > 0 {
		lua := luaScript(rr.r.luaMap, rr.s.Bases)
		// The global section names the script; it is written last because the map
		// depends on every section.
		p := rr.file(".lua", lua)
		w.b = *bytes.NewBuffer(bytes.Replace(w.b.Bytes(), []byte(luaPlaceholder), []byte("    lua-load-per-thread "+word(p)), 1))
	} else {
		w.b = *bytes.NewBuffer(bytes.Replace(w.b.Bytes(), []byte(luaPlaceholder), []byte("    # no Lua helpers needed"), 1))
	}
	return nil
}

// luaPlaceholder marks the global line that loads the Lua helpers.
const luaPlaceholder = "    #LUA#"

func (rr *renderer) global() {
	w := rr.w
	w.at("")
	w.line("# Rendered by fulcrum's haproxy engine from data-plane config version %d. Do not edit.", rr.cfg.Version)
	w.line("global")
	w.line("    stats socket %s mode 600 level admin expose-fd listeners", word(rr.path(statsSock)))
	w.line("    stats timeout 30s")
	w.line("    server-state-file %s", word(rr.path(stateFile)))
	// A port HAProxy binds must be its own: without SO_REUSEPORT it cannot share one with
	// another process. Reloads do not need it: the master passes the listening sockets on.
	w.line("    noreuseport")
	w.line("    tune.ssl.default-dh-param 2048")
	if rr.s.Threads > 0 {
		w.line("    nbthread %d", rr.s.Threads)
	}
	if rr.s.MaxConn > 0 {
		w.line("    maxconn %d", rr.s.MaxConn)
	}
	if rr.s.HardStopAfter > 0 {
		w.line("    hard-stop-after %ds", rr.s.HardStopAfter)
	}
	w.line(luaPlaceholder)
	w.line("")
	w.line("defaults")
	w.line("    timeout connect 5s")
	w.line("    timeout client 50s")
	w.line("    timeout server 50s")
	w.line("    timeout http-request 10s")
	w.line("    load-server-state-from-file global")
	// A failed connect is tried again on another member, three attempts in all, as the
	// native engine's ConnectAttempts.
	w.line("    retries 2")
	w.line("    option redispatch 1")
}

func ms(v int64) string { return strconv.FormatInt(v, 10) + "ms" }

// bindAddr writes an address and port as HAProxy's bind and server syntax wants it.
func bindAddr(a string, port int) string {
	ip, _ := netip.ParseAddr(a)
	ip = ip.Unmap()
	if ip.Is4() {
		return "ipv4@" + ip.String() + ":" + strconv.Itoa(port)
	}
	return "ipv6@" + ip.String() + ":" + strconv.Itoa(port)
}

func serverAddr(a string, port int) string {
	ip, _ := netip.ParseAddr(a)
	ip = ip.Unmap()
	if ip.Is4() {
		return ip.String() + ":" + strconv.Itoa(port)
	}
	return "ipv6@" + ip.String() + ":" + strconv.Itoa(port)
}

func listenerMode(p dataplane.Protocol) string {
	switch p {
	case dataplane.ProtocolHTTP, dataplane.ProtocolTerminatedHTTPS, dataplane.ProtocolPrometheus:
		return "http"
	}
	return "tcp"
}

func (rr *renderer) frontend(i int) error {
	w := rr.w
	l := &rr.cfg.Listeners[i]
	lp := fmt.Sprintf("listeners[%d]", i)
	fe := name("fe_", l.ID)
	rr.r.frontends[fe] = i
	w.at(lp)
	w.line("")
	w.line("# listener %s of load balancer %s", safeComment(l.ID), safeComment(l.LoadBalancerID))
	w.line("frontend %s", fe)
	mode := listenerMode(l.Protocol)
	w.line("    mode %s", mode)
	tlsBind := ""
	if l.Protocol == dataplane.ProtocolTerminatedHTTPS {
		w.at(lp + ".tls")
		tlsBind = rr.bindTLS(l)
	}
	for j, a := range l.Addresses {
		// HAProxy refuses a TLS bind line for its TLS settings (an address that cannot be
		// bound is refused before HAProxy sees it, see Engine.checkBinds).
		if tlsBind != "" {
			w.at(lp + ".tls")
		} else {
			w.at(fmt.Sprintf("%s.addresses[%d]", lp, j))
		}
		extra := ""
		if rr.s.FreeBind {
			extra = " transparent"
		}
		w.line("    bind %s%s%s", bindAddr(a, l.ProtocolPort), tlsBind, extra)
	}
	w.at(lp)
	w.line("    timeout client %s", ms(l.TimeoutClientData))
	if mode == "http" {
		// The keep-alive idle timeout is the client inactivity timeout, as the native engine.
		w.line("    timeout http-keep-alive %s", ms(l.TimeoutClientData))
	}
	if len(l.AllowedCIDRs) > 0 {
		w.at(lp + ".allowed_cidrs")
		var b strings.Builder
		for _, c := range l.AllowedCIDRs {
			pfx, _ := netip.ParsePrefix(c)
			b.WriteString(pfx.Masked().String())
			b.WriteByte('\n')
		}
		w.line("    tcp-request connection reject unless { src -f %s }", word(rr.file(".cidrs", []byte(b.String()))))
	}
	if l.Ingress != nil {
		w.at(lp + ".ingress.allow")
		if len(l.Ingress.Allow) == 0 {
			// Security groups that allow nothing toward this port admit nobody.
			w.line("    tcp-request connection reject")
		} else {
			var b strings.Builder
			for _, c := range l.Ingress.Allow {
				pfx, _ := netip.ParsePrefix(c)
				b.WriteString(pfx.Masked().String())
				b.WriteByte('\n')
			}
			w.line("    tcp-request connection reject unless { src -f %s }", word(rr.file(".cidrs", []byte(b.String()))))
		}
	}
	if l.ConnectionLimit > 0 {
		w.at(lp + ".connection_limit")
		// Refused at once (the native engine closes excess connections at accept), not
		// queued in the backlog as HAProxy's maxconn would.
		w.line("    tcp-request connection reject if { fe_conn gt %d }", l.ConnectionLimit)
	}
	w.at(lp)
	switch l.Protocol {
	case dataplane.ProtocolPrometheus:
		rr.metricsFrontend(i)
		return nil
	case dataplane.ProtocolHTTP, dataplane.ProtocolTerminatedHTTPS:
		rr.insertHeaders(i)
		if err := rr.l7(i); err != nil {
			return err
		}
		if t := l.TLS; t != nil && t.HSTSMaxAge != nil {
			w.at(lp + ".tls.hsts_max_age")
			v := "max-age=" + strconv.FormatInt(*t.HSTSMaxAge, 10)
			if t.HSTSIncludeSubdomains {
				v += "; includeSubDomains"
			}
			if t.HSTSPreload {
				v += "; preload"
			}
			// After-response rules also reach the answers HAProxy gives itself.
			w.line("    http-after-response set-header Strict-Transport-Security %s", word(v))
		}
	}
	w.at(lp)
	if l.DefaultPoolID != "" {
		w.at(lp + ".default_pool_id")
		w.line("    default_backend %s", backendName(l, &rr.cfg.Pools[rr.pools[l.DefaultPoolID]]))
	}
	return nil
}

// safeComment keeps an id from ending a comment line (ids cannot hold CR or LF, but a
// hand-written config is not checked for them before rendering comments).
func safeComment(s string) string {
	if safeName(s) {
		return s
	}
	return name("", s)
}

// bindTLS writes the certificates of a TERMINATED_HTTPS listener and returns the bind
// options that use them.
func (rr *renderer) bindTLS(l *dataplane.Listener) string {
	t := l.TLS
	// crt-list order is HAProxy's selection order: the first entry is the default
	// certificate, and among entries claiming one name the first wins.
	var list strings.Builder
	var certs []*dataplane.Certificate
	if t.DefaultCertificate != nil {
		certs = append(certs, t.DefaultCertificate)
	}
	for k := range t.SNICertificates {
		certs = append(certs, &t.SNICertificates[k])
	}
	for _, c := range certs {
		list.WriteString(rr.file(".pem", pemBundle(c)))
		list.WriteByte('\n')
	}
	opts := " ssl crt-list " + word(rr.file(".crtlist", []byte(list.String())))
	switch t.ClientAuthentication {
	case dataplane.ClientAuthOptional, dataplane.ClientAuthMandatory:
		verify := "optional"
		if t.ClientAuthentication == dataplane.ClientAuthMandatory {
			verify = "required"
		}
		opts += " verify " + verify + " ca-file " + word(rr.file(".pem", []byte(t.ClientCA)))
		if t.ClientCRL != "" {
			opts += " crl-file " + word(rr.file(".pem", []byte(t.ClientCRL)))
		}
	default:
		opts += " verify none"
	}
	opts += tlsParams(t.Versions, t.Ciphers)
	alpn := t.ALPNProtocols
	if len(alpn) == 0 {
		alpn = []string{"http/1.1", "http/1.0"} // the native engine's default
	}
	opts += " alpn " + strings.Join(alpn, ",")
	opts += " tls-ticket-keys " + word(rr.path(ticketsFile))
	return opts
}

// tlsParams renders versions as a range (as the native engine: a set with a gap allows the
// versions between) and the TLS 1.2 cipher list.
func tlsParams(versions []string, ciphers string) string {
	out := ""
	lo, hi := -1, -1
	for _, v := range versions {
		k := slices.Index(dataplane.TLSVersions, v)
		if k <= 0 { // SSLv3 is not offered, as by the native engine
			continue
		}
		if lo < 0 || k < lo {
			lo = k
		}
		if k > hi {
			hi = k
		}
	}
	if lo < 0 {
		lo, hi = slices.Index(dataplane.TLSVersions, "TLSv1.2"), len(dataplane.TLSVersions)-1
	}
	out += " ssl-min-ver " + haproxyVersion(dataplane.TLSVersions[lo]) + " ssl-max-ver " + haproxyVersion(dataplane.TLSVersions[hi])
	if ciphers != "" {
		out += " ciphers " + word(ciphers)
	}
	return out
}

func haproxyVersion(v string) string {
	switch v {
	case "TLSv1":
		return "TLSv1.0"
	}
	return v
}

// pemBundle is a certificate chain followed by its key, the form HAProxy loads.
func pemBundle(c *dataplane.Certificate) []byte {
	var b bytes.Buffer
	b.WriteString(strings.TrimSpace(c.CertPEM))
	b.WriteByte('\n')
	b.WriteString(strings.TrimSpace(c.KeyPEM))
	b.WriteByte('\n')
	return b.Bytes()
}

// insertHeaders writes the headers an HTTP listener inserts. Each replaces every client
// copy of its name, in any case and with '_' for '-' (CGI-style servers read them as one
// variable): del-header with a regular expression on the lower-cased name first, then
// set-header. X-Forwarded-For keeps the client's elements and appends the client address
// as a last field line, as "option forwardfor" does; only its '_' spellings are dropped.
// It is written with add-header rather than "option forwardfor" so that HEADER rules,
// evaluated after these lines, see it as the member will.
func (rr *renderer) insertHeaders(i int) {
	w := rr.w
	l := &rr.cfg.Listeners[i]
	w.at(fmt.Sprintf("listeners[%d].insert_headers", i))
	on := func(k string) bool {
		for key, v := range l.InsertHeaders {
			if key == k && strings.EqualFold(v, "true") {
				return true
			}
		}
		return false
	}
	spelled := func(h string) string {
		return "^" + strings.ReplaceAll(strings.ToLower(h), "-", "[-_]") + "$"
	}
	set := func(h, value string) {
		w.line("    http-request del-header %s -m reg", word(spelled(h)))
		w.line("    http-request set-header %s %s", h, value)
	}
	if on("X-Forwarded-For") {
		w.line("    http-request del-header %s -m reg", word("^(?!x-forwarded-for$)"+spelled("X-Forwarded-For")[1:]))
		w.line("    http-request add-header X-Forwarded-For %s", "%[src]")
	}
	if on("X-Forwarded-Port") {
		set("X-Forwarded-Port", "%[dst_port]")
	}
	if on("X-Forwarded-Proto") {
		proto := "http"
		if l.Protocol == dataplane.ProtocolTerminatedHTTPS {
			proto = "https"
		}
		set("X-Forwarded-Proto", proto)
	}
	for _, h := range []string{"X-Forwarded-IP", "X-Real-IP", "X-Client-IP"} {
		if on(h) {
			set(h, "%[src]")
		}
	}
	if l.Protocol != dataplane.ProtocolTerminatedHTTPS {
		return
	}
	// The amphora's formats: numbers bare, strings in double quotes, escaped by the Lua
	// helper (a certificate's subject cannot end the value or add a header line).
	for _, h := range dataplane.SSLInsertHeaders {
		if !on(h) {
			continue
		}
		var v string
		switch h {
		case "X-SSL-Client-Verify":
			v = "%[ssl_c_verify]"
		case "X-SSL-Client-Has-Cert":
			v = "%[ssl_c_used]"
		default:
			rr.luaUsed = true
			v = "%[lua.fulcrum_ssl(" + strings.ToLower(strings.TrimPrefix(h, "X-SSL-")) + ")]"
		}
		set(h, v)
	}
}

// matchFlag is the ACL match method of a compare type.
func matchFlag(cmp string) string {
	switch cmp {
	case dataplane.CompareStartsWith:
		return "-m beg"
	case dataplane.CompareEndsWith:
		return "-m end"
	case dataplane.CompareContains:
		return "-m sub"
	case dataplane.CompareRegex:
		return "-m reg"
	}
	return "-m str"
}

// l7 writes the L7 policies of listener i. Each rule is one ACL; the first policy (in
// position order, ties in list order) whose rules all match stores its index in a
// transaction variable, and the actions test that variable, so a REJECT at a later
// position never pre-empts an earlier REDIRECT_TO_POOL although HAProxy runs
// http-request rules before use_backend.
func (rr *renderer) l7(i int) error {
	w := rr.w
	l := &rr.cfg.Listeners[i]
	if len(l.L7Policies) == 0 {
		return nil
	}
	lp := fmt.Sprintf("listeners[%d]", i)
	order := make([]int, len(l.L7Policies))
	for k := range order {
		order[k] = k
	}
	sort.SliceStable(order, func(a, b int) bool { return l.L7Policies[order[a]].Position < l.L7Policies[order[b]].Position })
	readsPath, readsHost, readsExt := false, false, false
	for _, p := range l.L7Policies {
		for _, r := range p.Rules {
			switch r.Type {
			case dataplane.RulePath:
				readsPath = true
			case dataplane.RuleFileType:
				readsPath, readsExt = true, true
			case dataplane.RuleHostName:
				readsHost = true
			}
		}
	}
	w.at(lp + ".l7policies")
	if readsPath {
		// Frameworks that take these headers as the request's path would reach a path the
		// rules never saw.
		w.line("    http-request del-header %s -m reg", word("^x[-_](original|rewrite)[-_]url$"))
		w.line("    http-request set-var(%s) lua.fulcrum_path", varPath)
		rr.luaUsed = true
	}
	if readsExt {
		w.line("    http-request set-var(%s) lua.fulcrum_ext", varExt)
	}
	if readsHost {
		w.line("    http-request set-var(%s) lua.fulcrum_host", varHost)
		rr.luaUsed = true
	}
	for n, k := range order {
		p := &l.L7Policies[k]
		pp := fmt.Sprintf("%s.l7policies[%d]", lp, k)
		var conds []string
		for j := range p.Rules {
			rule := &p.Rules[j]
			w.at(fmt.Sprintf("%s.rules[%d]", pp, j))
			acl := fmt.Sprintf("r%d_%d", k, j)
			w.line("    acl %s %s", acl, aclExpr(rule))
			if rule.Invert {
				acl = "!" + acl
			}
			conds = append(conds, acl)
		}
		w.at(pp)
		w.line("    http-request set-var(%s) int(%d) if !{ var(%s) -m found } %s", varPolicy, n, varPolicy, strings.Join(conds, " "))
	}
	for n, k := range order {
		p := &l.L7Policies[k]
		w.at(fmt.Sprintf("%s.l7policies[%d]", lp, k))
		cond := fmt.Sprintf("if { var(%s) -m int eq %d }", varPolicy, n)
		code := p.RedirectHTTPCode
		if code == 0 {
			code = dataplane.DefaultRedirectCode
		}
		switch p.Action {
		case dataplane.ActionReject:
			w.line(`    http-request deny deny_status 403 content-type text/plain string "403 Forbidden\n" %s`, cond)
		case dataplane.ActionRedirectToURL:
			w.line("    http-request redirect location %s code %d %s", word(logFormat(p.RedirectURL)), code, cond)
		case dataplane.ActionRedirectPrefix:
			w.line("    http-request redirect prefix %s code %d %s", word(logFormat(p.RedirectPrefix)), code, cond)
		}
	}
	for n, k := range order {
		p := &l.L7Policies[k]
		if p.Action != dataplane.ActionRedirectToPool {
			continue
		}
		w.at(fmt.Sprintf("%s.l7policies[%d].redirect_pool_id", lp, k))
		w.line("    use_backend %s if { var(%s) -m int eq %d }", backendName(l, &rr.cfg.Pools[rr.pools[p.RedirectPoolID]]), varPolicy, n)
	}
	return nil
}

// aclExpr is the ACL (fetch, match method, value) of one rule.
func aclExpr(r *dataplane.L7Rule) string {
	val := r.MatchValue()
	m := matchFlag(r.CompareType)
	switch r.Type {
	case dataplane.RuleHostName:
		if r.CompareType != dataplane.CompareRegex {
			val = strings.ToLower(val)
		}
		return fmt.Sprintf("var(%s) %s -i -- %s", varHost, m, word(val))
	case dataplane.RulePath:
		return fmt.Sprintf("var(%s) %s -- %s", varPath, m, word(val))
	case dataplane.RuleFileType:
		return fmt.Sprintf("var(%s) %s -- %s", varExt, m, word(val))
	case dataplane.RuleHeader, dataplane.RuleCookie:
		if strings.ContainsRune(r.Key, ',') {
			// No header or cookie can carry this name: the rule never matches.
			return "always_false"
		}
		f := "req.hdr"
		if r.Type == dataplane.RuleCookie {
			f = "req.cook"
		}
		return fmt.Sprintf("%s(%s) %s -- %s", f, r.Key, m, word(val))
	case dataplane.RuleSSLConnHasCert:
		return "ssl_c_used"
	case dataplane.RuleSSLVerifyResult:
		n, _ := strconv.Atoi(r.Value)
		return fmt.Sprintf("ssl_c_verify -m int eq %d", n)
	case dataplane.RuleSSLDNField:
		// The last value of the attribute, as the native engine.
		return fmt.Sprintf("ssl_c_s_dn(%s,-1) %s -- %s", r.Key, m, word(val))
	}
	return "always_false"
}

// metricsFrontend makes a PROMETHEUS listener answer GET /metrics with the metrics of its
// own load balancer, rendered by the Lua service from this process's counters.
func (rr *renderer) metricsFrontend(i int) {
	w := rr.w
	l := &rr.cfg.Listeners[i]
	k := rr.luaLB(l.LoadBalancerID)
	w.line("    http-request set-var(%s) int(%d)", varLB, k)
	w.line(`    http-request return status 404 content-type "text/plain; charset=utf-8" string "Not Found: the metrics are at /metrics\n" if !{ path /metrics }`)
	w.line(`    http-request return status 405 content-type "text/plain; charset=utf-8" string "Method Not Allowed\n" hdr Allow "GET, HEAD" if !{ method GET HEAD }`)
	w.line("    http-request use-service lua.fulcrum_metrics")
}

func (rr *renderer) backend(l *dataplane.Listener, pi int) {
	w := rr.w
	p := &rr.cfg.Pools[pi]
	pp := fmt.Sprintf("pools[%d]", pi)
	be := name("bp_", p.ID)
	mode := "tcp"
	if l != nil {
		be = backendName(l, p)
		mode = listenerMode(l.Protocol)
	}
	primary := rr.r.primary[p.ID]
	isPrimary := be == primary
	w.at(pp)
	w.line("")
	w.line("# pool %s", safeComment(p.ID))
	w.line("backend %s", be)
	w.line("    mode %s", mode)
	if l != nil {
		lp := fmt.Sprintf("listeners[%d]", slices.IndexFunc(rr.cfg.Listeners, func(x dataplane.Listener) bool { return x.ID == l.ID }))
		w.at(lp)
		w.line("    timeout connect %s", ms(l.TimeoutMemberConnect))
		w.line("    timeout server %s", ms(l.TimeoutMemberData))
		if mode == "http" {
			// An upgraded (WebSocket) connection idles as long as the client side may.
			w.line("    timeout tunnel %s", ms(max(l.TimeoutClientData, l.TimeoutMemberData)))
		}
		w.at(pp)
	}
	w.at(pp + ".lb_algorithm")
	switch p.Algorithm {
	case dataplane.RoundRobin:
		w.line("    balance roundrobin")
	case dataplane.LeastConnections:
		w.line("    balance leastconn")
	case dataplane.SourceIP:
		w.line("    balance source")
		w.line("    hash-type consistent")
	case dataplane.SourceIPPort:
		w.line("    tcp-request content set-var(%s) src_port", varSPort)
		w.line("    balance hash src,concat(:,%s)", varSPort)
		w.line("    hash-type consistent")
	}
	// Backups share the load while no primary member is eligible (the native engine uses
	// every backup, HAProxy only the first without this option).
	w.line("    option allbackups")
	rr.persistence(pi, be, mode, isPrimary)
	monitored := p.HealthMonitor != nil && p.HealthMonitor.AdminStateUp
	if monitored && isPrimary {
		rr.monitor(pi)
	}
	w.at(pp)
	rr.r.servers[be] = map[string]srvRef{}
	ids := serverIDs(p)
	for j := range p.Members {
		m := &p.Members[j]
		w.at(fmt.Sprintf("%s.members[%d]", pp, j))
		sname := name("", m.ID)
		rr.r.servers[be][sname] = srvRef{pool: pi, member: j, id: ids[j]}
		line := fmt.Sprintf("    server %s %s id %d weight %d", sname, serverAddr(m.Address, m.ProtocolPort), ids[j], m.Weight)
		if m.Backup {
			line += " backup"
		}
		if !m.AdminStateUp {
			line += " disabled"
		}
		if mode == "http" && p.SessionPersistence != nil && p.SessionPersistence.Type == dataplane.PersistHTTPCookie {
			line += " cookie " + sname
		}
		switch p.Protocol {
		case dataplane.ProtocolProxy:
			line += " send-proxy"
		case dataplane.ProtocolProxyV2:
			line += " send-proxy-v2"
		}
		if p.TLS != nil {
			w.at(pp + ".tls")
			line += rr.serverTLS(p, l)
			w.at(fmt.Sprintf("%s.members[%d]", pp, j))
		} else if p.H2C && mode == "http" {
			// Cleartext HTTP/2 by prior knowledge (docs/http2.md): every request of the
			// backend goes to the member as an HTTP/2 stream, and its health checks too.
			line += " proto h2"
		}
		if monitored && m.AdminStateUp {
			if isPrimary {
				hm := p.HealthMonitor
				delay := max(hm.Delay, 1)
				line += fmt.Sprintf(" check inter %ds fall %d rise %d", delay, hm.MaxRetriesDown, hm.MaxRetries)
				if m.MonitorAddress != "" {
					ip, _ := netip.ParseAddr(m.MonitorAddress)
					line += " addr " + ip.Unmap().String()
				}
				if m.MonitorPort != 0 {
					line += fmt.Sprintf(" port %d", m.MonitorPort)
				}
				if hm.Type == dataplane.MonitorHTTPS && p.TLS == nil {
					line += " check-ssl verify none"
					if hm.DomainName != "" {
						line += " check-sni " + word(hm.DomainName)
					}
				}
			} else {
				line += " track " + primary + "/" + sname
			}
		}
		w.line("%s", line)
		mon := ""
		if monitored {
			b, _ := json.Marshal(p.HealthMonitor)
			mon = string(b)
		}
		rr.r.spec[be+"/"+sname] = line + "|" + mon
	}
}

// serverIDs gives each member of p a server id derived from its member id, the same in
// every backend of the pool (stick tables store it) and the same while the member stays,
// whatever members come or go around it (the server-state file matches on it). Ids that
// collide take the next free one, in member order.
func serverIDs(p *dataplane.Pool) []int {
	used := map[int]bool{}
	out := make([]int, len(p.Members))
	for j := range p.Members {
		h := fnv.New32a()
		h.Write([]byte(p.Members[j].ID))
		id := 1 + int(h.Sum32()%1000000000)
		for used[id] {
			id = 1 + id%1000000000
		}
		used[id] = true
		out[j] = id
	}
	return out
}

// persistence writes a pool's session persistence. Stick tables live in the pool's first
// backend; the pool's other backends use the same table, so a client sticks to its
// member whichever listener it comes through (server ids are the same in every backend).
func (rr *renderer) persistence(pi int, be, mode string, isPrimary bool) {
	w := rr.w
	p := &rr.cfg.Pools[pi]
	sp := p.SessionPersistence
	if sp == nil {
		return
	}
	w.at(fmt.Sprintf("pools[%d].session_persistence", pi))
	expire := sp.PersistenceTimeout
	if expire <= 0 {
		expire = 360
	}
	table := ""
	if !isPrimary {
		table = " table " + rr.r.primary[p.ID]
	}
	switch sp.Type {
	case dataplane.PersistSourceIP:
		if isPrimary {
			w.line("    stick-table type ipv6 size 1m expire %ds", expire)
			rr.r.tables[be] = tableRef{pool: pi}
		}
		key := "src"
		if sp.PersistenceGranularity != "" {
			mask, _ := dataplane.ParseGranularity(sp.PersistenceGranularity)
			bits := dataplane.MaskBits(mask)
			if mask.Is4() {
				key = fmt.Sprintf("src,ipmask(%d,128)", bits)
			} else {
				key = fmt.Sprintf("src,ipmask(32,%d)", bits)
			}
		}
		w.line("    stick on %s%s", key, table)
	case dataplane.PersistHTTPCookie:
		if mode == "http" {
			w.line("    cookie SRV insert indirect nocache")
		}
	case dataplane.PersistAppCookie:
		// The table is declared in the pool's first backend whatever its mode, so that
		// the HTTP backends of the pool can share it.
		if isPrimary {
			w.line("    stick-table type string len 255 size 1m expire %ds", expire)
			rr.r.tables[be] = tableRef{pool: pi}
		}
		if mode != "http" {
			return
		}
		w.line("    stick store-response res.cook(%s)%s", sp.CookieName, table)
		w.line("    stick match req.cook(%s)%s", sp.CookieName, table)
	}
}

// monitor writes the health check of a pool's first backend.
func (rr *renderer) monitor(pi int) {
	w := rr.w
	p := &rr.cfg.Pools[pi]
	hm := p.HealthMonitor
	w.at(fmt.Sprintf("pools[%d].healthmonitor", pi))
	delay := max(hm.Delay, 1)
	timeout := hm.Timeout
	if timeout <= 0 {
		timeout = delay
	}
	w.line("    timeout check %ds", timeout)
	switch hm.Type {
	case dataplane.MonitorHTTP, dataplane.MonitorHTTPS:
		method, path, version := hm.HTTPMethod, hm.URLPath, hm.HTTPVersion
		if method == "" {
			method = "GET"
		}
		if path == "" {
			path = "/"
		}
		if version == "" {
			version = "1.0"
		}
		send := fmt.Sprintf("    http-check send meth %s uri %s ver HTTP/%s", method, word(path), version)
		switch {
		case hm.DomainName != "":
			send += " hdr Host " + word(hm.DomainName)
		case version == "1.1":
			// The probe target's address, as the native engine sends: HAProxy's check
			// context names the server, a map gives its address.
			var b strings.Builder
			for _, m := range p.Members {
				b.WriteString(name("", m.ID) + " " + probeTarget(&m) + "\n")
			}
			send += " hdr Host %[srv_name,map(" + rr.file(".map", []byte(b.String())) + ")]"
		}
		w.line("    option httpchk")
		w.line("%s", send)
		codes, _ := dataplane.ParseExpectedCodes(hm.ExpectedCodes)
		if len(codes) == 1 && codes[0].Lo == codes[0].Hi {
			w.line("    http-check expect status %d", codes[0].Lo)
		} else {
			w.line("    http-check expect rstatus %s", word(codesRegexp(codes)))
		}
	case dataplane.MonitorTLSHello:
		w.line("    option ssl-hello-chk")
	case dataplane.MonitorTCP:
		// A connect is the probe.
	}
}

// probeTarget is the address:port a member's probes go to, as the Host of HTTP/1.1 probes.
func probeTarget(m *dataplane.Member) string {
	ip, _ := netip.ParseAddr(m.Address)
	if m.MonitorAddress != "" {
		ip, _ = netip.ParseAddr(m.MonitorAddress)
	}
	port := m.ProtocolPort
	if m.MonitorPort != 0 {
		port = m.MonitorPort
	}
	return netip.AddrPortFrom(ip.Unmap(), uint16(port)).String()
}

// codesRegexp is an anchored regular expression matching exactly the expected codes.
func codesRegexp(codes dataplane.ExpectedCodes) string {
	var alts []string
	for _, r := range codes {
		for c := r.Lo; c <= r.Hi; c++ {
			alts = append(alts, strconv.Itoa(c))
		}
	}
	return "^(" + strings.Join(alts, "|") + ")$"
}

// serverTLS is the server options of a re-encrypting pool: the member's chain is verified
// against the pool's CA (and CRL) when it has one, its host name is not (as the native
// engine and the amphora's "verify required" without verifyhost); the client certificate
// is presented; a TERMINATED_HTTPS listener passes the client's SNI on.
func (rr *renderer) serverTLS(p *dataplane.Pool, l *dataplane.Listener) string {
	t := p.TLS
	opts := " ssl"
	if t.CA != "" {
		opts += " verify required ca-file " + word(rr.file(".pem", []byte(t.CA)))
		if t.CRL != "" {
			opts += " crl-file " + word(rr.file(".pem", []byte(t.CRL)))
		}
	} else {
		opts += " verify none"
	}
	if t.ClientCertificate != nil {
		opts += " crt " + word(rr.file(".pem", pemBundle(t.ClientCertificate)))
	}
	if l != nil && l.Protocol == dataplane.ProtocolTerminatedHTTPS {
		opts += " sni ssl_fc_sni"
	}
	opts += tlsParams(t.Versions, t.Ciphers)
	if len(t.ALPNProtocols) > 0 {
		opts += " alpn " + strings.Join(t.ALPNProtocols, ",")
	}
	return opts
}
