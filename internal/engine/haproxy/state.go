package haproxy

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// What a reload carries from the old worker to the new one, besides the listening
// sockets the master passes on:
//
//   - server state (health, check counters) through HAProxy's server-state-file, written
//     from "show servers state" just before the reload and loaded by the new worker
//     ("load-server-state-from-file global"). Only servers whose line and whose backend's
//     health check are unchanged keep their state: the file would otherwise carry an
//     old weight or maintenance flag over the new configuration, and a member whose
//     address changed starts afresh, as with the native engine.
//   - persistence entries (SOURCE_IP, APP_COOKIE stick tables), read with "show table"
//     before and written back with "set table" after the reload. (HAProxy's own way, a
//     local peer, did not hand the table over in master-worker mode in our tests.)

var weightRE = regexp.MustCompile(` weight (\d+)`)

// saveServerState writes the state file the next worker loads.
func (e *Engine) saveServerState(ctx context.Context, old, next *rendering) error {
	out, err := cli(ctx, e.m.sock(), "@1 show servers state")
	if err != nil {
		return err
	}
	return writeFile(filepath.Join(e.dir, stateFile), []byte(filterState(out, old, next)))
}

// filterState keeps the lines of a "show servers state" answer whose server the next
// rendering has with the same id, the same line and the same health monitor; a server
// whose weight alone changed keeps its state with the new weight.
func filterState(out string, old, next *rendering) string {
	lines := strings.Split(out, "\n")
	var b strings.Builder
	for i, line := range lines {
		if i < 2 { // version and column names
			b.WriteString(line)
			b.WriteByte('\n')
			continue
		}
		f := strings.Fields(line)
		// be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight ...
		if len(f) < 9 {
			continue
		}
		be, srvID, srv := f[1], f[2], f[3]
		was, ok1 := old.spec[be+"/"+srv]
		now, ok2 := next.spec[be+"/"+srv]
		if !ok1 || !ok2 || strconv.Itoa(next.servers[be][srv].id) != srvID {
			continue
		}
		switch {
		case was == now:
		case weightRE.ReplaceAllString(was, "") == weightRE.ReplaceAllString(now, ""):
			// Only the weight changed (drain, undrain, rebalancing): the health goes on,
			// with the new weight (the file's would otherwise win).
			w := weightRE.FindStringSubmatch(now)[1]
			f[7], f[8] = w, w
			line = strings.Join(f, " ")
		default:
			continue
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
	return b.String()
}

// stickEntry is one persistence entry: its key and the member it sends to.
type stickEntry struct {
	key    string
	member string // member id
}

// saveTables reads the persistence entries of every stick table of r.
func (e *Engine) saveTables(ctx context.Context, r *rendering, v *view) map[string][]stickEntry {
	out := map[string][]stickEntry{}
	for be, t := range r.tables {
		resp, err := cli(ctx, e.m.sock(), "@1 show table "+be)
		if err != nil {
			continue
		}
		p := &v.cfg.Pools[t.pool]
		byID := map[int]string{}
		for _, ref := range r.servers[be] {
			byID[ref.id] = p.Members[ref.member].ID
		}
		for _, line := range strings.Split(resp, "\n") {
			key, id, ok := parseTableLine(line)
			if !ok {
				continue
			}
			if m, ok := byID[id]; ok {
				out[p.ID] = append(out[p.ID], stickEntry{key: key, member: m})
			}
		}
	}
	return out
}

// parseTableLine reads "0x...: key=K use=0 exp=123 server_id=2 server_key=m1".
func parseTableLine(line string) (string, int, bool) {
	_, rest, ok := strings.Cut(line, ": key=")
	if !ok {
		return "", 0, false
	}
	key, rest, ok := strings.Cut(rest, " ")
	if !ok {
		return "", 0, false
	}
	_, idPart, ok := strings.Cut(rest, "server_id=")
	if !ok {
		return "", 0, false
	}
	idStr, _, _ := strings.Cut(idPart, " ")
	id, err := strconv.Atoi(idStr)
	if err != nil || id <= 0 {
		return "", 0, false
	}
	return key, id, true
}

// restoreTables writes saved entries into the tables of the new worker, for pools and
// members that still exist. Keys a request created since the reload are overwritten with
// the member the client had before.
func (e *Engine) restoreTables(ctx context.Context, saved map[string][]stickEntry, r *rendering, v *view) {
	for be, t := range r.tables {
		p := &v.cfg.Pools[t.pool]
		entries := saved[p.ID]
		if len(entries) == 0 {
			continue
		}
		idOf := map[string]int{}
		for _, ref := range r.servers[be] {
			idOf[p.Members[ref.member].ID] = ref.id
		}
		var batch []string
		flush := func() {
			if len(batch) > 0 {
				// The master routes each command by its own prefix.
				cli(ctx, e.m.sock(), strings.Join(batch, "; "))
				batch = batch[:0]
			}
		}
		for _, en := range entries {
			id, ok := idOf[en.member]
			if !ok || strings.ContainsAny(en.key, " ;\\") {
				continue
			}
			batch = append(batch, fmt.Sprintf("@1 set table %s key %s data.server_id %d", be, en.key, id))
			if len(batch) == 100 {
				flush()
			}
		}
		flush()
	}
}

// writeFile replaces path with data, mode 0600, through a temporary file and a rename.
func writeFile(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(0o600)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}
