package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/atomicfile"
	"github.com/fulcrumlb/fulcrum/internal/dataplane"
)

// Updater is an engine that applies a change of some load balancers and leaves the others
// as they run (the native engine's Update). With one, and without VRRP groups, the agent
// hands the engine only the load balancers a watch changed; otherwise it hands it the
// whole config it assembles from its load balancers (HAProxy's engine regenerates its
// file from it anyway).
type Updater interface {
	// Update applies set (each load balancer's new fragment) and removes drop under
	// version, newer than any before. On error nothing changed; errors name the load
	// balancer at fault with *dataplane.LoadBalancerError.
	Update(ctx context.Context, version uint64, set map[string]*dataplane.Config, drop []string) error
}

// lbFrag is one load balancer's fragment as the server sent it. Fragments are never
// modified: a change is a new lbFrag, so comparing pointers tells what changed.
type lbFrag struct {
	id      string
	version uint64
	sum     [32]byte          // SHA-256 of the fragment as received, to tell a change
	raw     []byte            // as received, until the disk cache has it (then nil)
	cfg     *dataplane.Config // decoded
}

// decodeFragment checks and decodes one load balancer's fragment.
func decodeFragment(lb dataplane.LoadBalancerConfig) (*lbFrag, error) {
	if lb.ID == "" || len(lb.ID) > 255 {
		return nil, fmt.Errorf("load balancer id %q: want 1 to 255 bytes", lb.ID)
	}
	cfg, err := dataplane.Decode(lb.Config)
	if err != nil {
		return nil, fmt.Errorf("load balancer %s: %w", lb.ID, err)
	}
	for i := range cfg.Listeners {
		if cfg.Listeners[i].LoadBalancerID != lb.ID {
			return nil, fmt.Errorf("load balancer %s: listeners[%d] belongs to load balancer %q", lb.ID, i, cfg.Listeners[i].LoadBalancerID)
		}
	}
	return &lbFrag{id: lb.ID, version: lb.Version, sum: sha256.Sum256(lb.Config), raw: append([]byte(nil), lb.Config...), cfg: cfg}, nil
}

// split cuts a whole config (a server that answers no delta) into load balancers'
// fragments.
func split(cfg *dataplane.Config) (map[string]*lbFrag, error) {
	parts := map[string]*dataplane.Config{}
	pools := map[string]*dataplane.Pool{}
	for i := range cfg.Pools {
		pools[cfg.Pools[i].ID] = &cfg.Pools[i]
	}
	for i := range cfg.Listeners {
		l := &cfg.Listeners[i]
		p := parts[l.LoadBalancerID]
		if p == nil {
			p = &dataplane.Config{Contract: cfg.Contract, Listeners: []dataplane.Listener{}, Pools: []dataplane.Pool{}}
			parts[l.LoadBalancerID] = p
		}
		p.Listeners = append(p.Listeners, *l)
		for _, id := range l.PoolIDs() {
			if pool := pools[id]; pool != nil && p.Pool(id) == nil {
				p.Pools = append(p.Pools, *pool)
			}
		}
	}
	for _, g := range cfg.VRRP {
		for _, id := range g.LoadBalancerIDs() {
			if p := parts[id]; p != nil {
				p.VRRP = append(p.VRRP, g)
				break
			}
		}
	}
	out := make(map[string]*lbFrag, len(parts))
	for id, p := range parts {
		raw, err := json.Marshal(p)
		if err != nil {
			return nil, err
		}
		f, err := decodeFragment(dataplane.LoadBalancerConfig{ID: id, Version: cfg.Version, Config: raw})
		if err != nil {
			return nil, err
		}
		out[id] = f
	}
	return out, nil
}

// assemble is the whole config of frags under version, load balancers in id order (as a
// server assembles it).
func assemble(frags map[string]*lbFrag, version uint64, nodeID string) *dataplane.Config {
	ids := make([]string, 0, len(frags))
	for id := range frags {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	cfg := &dataplane.Config{Contract: 1, Version: version, NodeID: nodeID, Listeners: []dataplane.Listener{}, Pools: []dataplane.Pool{}}
	for _, id := range ids {
		f := frags[id].cfg
		cfg.Contract = max(cfg.Contract, f.NeededContract())
		cfg.Listeners = append(cfg.Listeners, f.Listeners...)
		cfg.Pools = append(cfg.Pools, f.Pools...)
		cfg.VRRP = append(cfg.VRRP, f.VRRP...)
	}
	return cfg
}

// receive makes resp (a watch's answer that changed) the config received: a delta is
// applied on top of it, a full delta or a whole config replaces it. Nothing changes when
// the answer is unusable. Callers hold applyMu.
func (a *Agent) receive(resp *dataplane.ConfigResponse) error {
	next := map[string]*lbFrag{}
	var nodeID string
	switch {
	case resp.Delta != nil:
		d := resp.Delta
		if len(d.LoadBalancers)+len(d.Deleted) > dataplane.MaxDeltaLoadBalancers {
			return fmt.Errorf("delta of %d load balancers: at most %d", len(d.LoadBalancers)+len(d.Deleted), dataplane.MaxDeltaLoadBalancers)
		}
		if !d.Full && d.Since != a.recvVersion {
			return fmt.Errorf("delta from version %d, the agent has %d", d.Since, a.recvVersion)
		}
		changed := make([]*lbFrag, 0, len(d.LoadBalancers))
		for _, lb := range d.LoadBalancers {
			f, err := decodeFragment(lb)
			if err != nil {
				return err
			}
			changed = append(changed, f)
		}
		if !d.Full {
			next = a.recv // changed in place: nothing below fails
			for _, id := range d.Deleted {
				delete(next, id)
				a.touch(id)
			}
			for _, f := range changed {
				a.touch(f.id)
			}
		} else {
			a.touchAll()
		}
		for _, f := range changed {
			// A full resync (another server, a restart) resends what the agent has:
			// an unchanged load balancer keeps its fragment, so nothing runs it again.
			if old := a.recv[f.id]; d.Full && old != nil && old.sum == f.sum {
				f = old
			}
			next[f.id] = f
		}
		nodeID = d.NodeID
	case resp.Config != nil:
		all, err := split(resp.Config)
		if err != nil {
			return err
		}
		// Unchanged load balancers keep their fragment, so nothing runs them again.
		for id, f := range all {
			if old := a.recv[id]; old != nil && old.sum == f.sum {
				f = old
			}
			next[id] = f
		}
		nodeID = resp.Config.NodeID
		a.touchAll()
	default:
		return errors.New("answer without a config")
	}
	a.recv, a.nodeID = next, nodeID
	a.mu.Lock()
	a.recvVersion = resp.Version
	a.mu.Unlock()
	return nil
}

// touch marks id's fragment received as changed: the next apply and save look at it.
// Callers hold applyMu.
func (a *Agent) touch(id string) {
	if a.unserved == nil {
		a.unserved, a.unsaved = map[string]struct{}{}, map[string]struct{}{}
	}
	a.unserved[id] = struct{}{}
	a.unsaved[id] = struct{}{}
}

// touchAll marks every fragment as changed (they were replaced wholesale): the next
// apply and save look at all of them. Callers hold applyMu.
func (a *Agent) touchAll() {
	a.unservedAll, a.unsavedAll = true, true
	clear(a.unserved)
	clear(a.unsaved)
}

// watchVersion is the version of the config received, which a watch asks from.
func (a *Agent) watchVersion() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.recvVersion
}

// forgetVersion makes the next watch ask for everything.
func (a *Agent) forgetVersion() {
	a.mu.Lock()
	a.recvVersion = 0
	a.mu.Unlock()
}

// incremental reports whether the engine takes load balancers one by one.
func (a *Agent) incremental() (Updater, bool) {
	u, ok := a.opts.Engine.(Updater)
	return u, ok && a.vrrp == nil
}

// applyReceivedLocked runs the config received: by Update, only the load balancers that
// differ from what the engine runs; otherwise the whole config. Then it saves what
// changed to the disk cache. Callers hold applyMu.
func (a *Agent) applyReceivedLocked(ctx context.Context) {
	if u, ok := a.incremental(); ok {
		a.reconcileLocked(ctx, u)
	} else {
		a.applyLocked(ctx, assemble(a.recv, a.recvVersion, a.nodeID))
		clear(a.unserved) // a whole config: nothing is served one by one
	}
	if ctx.Err() == nil {
		a.saveLocked()
	}
}

// reconcileLocked brings the engine from the load balancers it runs to the ones
// received, with the same isolation as a whole config: a load balancer that clashes with
// another's socket, or that the engine refuses, is left out (and stops if it ran) and
// reported; an error the engine attributes to none keeps everything as it runs and
// refuses every load balancer that changed. Callers hold applyMu.
func (a *Agent) reconcileLocked(ctx context.Context, u Updater) {
	if ctx.Err() != nil {
		return
	}
	start := time.Now()
	a.mu.Lock()
	version := a.recvVersion
	a.mu.Unlock()
	set := map[string]*dataplane.Config{}
	var drop []string
	if a.unservedAll {
		for id, f := range a.recv {
			a.scanned++
			if a.served[id] != f {
				set[id] = f.cfg
			}
		}
		for id := range a.served {
			a.scanned++
			if a.recv[id] == nil {
				drop = append(drop, id)
			}
		}
	} else {
		for id := range a.unserved {
			a.scanned++
			switch f, s := a.recv[id], a.served[id]; {
			case f != nil && s != f:
				set[id] = f.cfg
			case f == nil && s != nil:
				drop = append(drop, id)
			}
		}
	}
	sort.Strings(drop)
	changed := make([]string, 0, len(set))
	for id := range set {
		changed = append(changed, id)
	}
	sub := make(map[string]*lbFrag, len(set))
	for id := range set {
		sub[id] = a.recv[id]
	}
	a.mu.Lock()
	a.pruneOwnersOf(drop, sub)
	refused := clashes(a.owners, assemble(sub, version, ""))
	a.mu.Unlock()
	for id, reason := range refused {
		a.log.Warn("load balancer refused: its listener clashes with another load balancer's", "loadbalancer_id", id, "version", version, "reason", reason)
	}
	leave := func(id string) {
		delete(set, id)
		if a.served[id] != nil && !containsString(drop, id) {
			drop = append(drop, id)
		}
	}
	for id := range refused {
		leave(id)
	}
	for attempt := 0; len(set) > 0 || len(drop) > 0; attempt++ {
		a.mu.Lock()
		a.engineVersion++
		ev := a.engineVersion
		a.mu.Unlock()
		err := u.Update(ctx, ev, set, drop)
		if err == nil {
			break
		}
		culprits := map[string]string{}
		for _, lbe := range lbErrors(err) {
			if _, ok := set[lbe.ID]; ok {
				if _, seen := culprits[lbe.ID]; !seen {
					culprits[lbe.ID] = lbe.Err.Error()
				}
			}
		}
		if len(culprits) == 0 || attempt >= 8 {
			for _, id := range changed {
				if _, ok := refused[id]; !ok {
					refused[id] = err.Error()
				}
			}
			a.mu.Lock()
			a.refused = refusals(refused, version)
			a.applied = &dataplane.Config{Version: version}
			a.mu.Unlock()
			a.log.Error("config refused; the previous one keeps serving", "version", version, "err", err)
			if a.opts.Observer != nil {
				a.opts.Observer.ConfigApplied(time.Since(start), "refused")
			}
			return
		}
		for id, reason := range culprits {
			refused[id] = reason
			leave(id)
			a.log.Warn("load balancer refused by the engine", "loadbalancer_id", id, "version", version, "reason", reason)
		}
	}
	for id := range set {
		a.served[id] = a.recv[id]
	}
	for _, id := range drop {
		delete(a.served, id)
	}
	// What is still unserved is what was refused (it stays marked for the retry).
	if a.unservedAll {
		a.unservedAll = false
		if a.unserved == nil {
			a.unserved, a.unsaved = map[string]struct{}{}, map[string]struct{}{}
		}
		for id := range refused {
			a.unserved[id] = struct{}{}
		}
	} else {
		for id := range a.unserved {
			if a.served[id] == a.recv[id] {
				delete(a.unserved, id)
			}
		}
	}
	a.mu.Lock()
	a.applied = &dataplane.Config{Version: version}
	a.servedCount = len(a.served)
	a.refused = refusals(refused, version)
	for id := range set {
		a.noteOwners(a.served[id].cfg)
	}
	a.mu.Unlock()
	took := time.Since(start)
	a.log.Info("applied config", "version", version, "changed", len(set), "removed", len(drop), "refused", len(refused), "took", took.Round(time.Microsecond))
	if a.opts.Observer != nil {
		result := "ok"
		if len(refused) > 0 {
			result = "partial"
		}
		a.opts.Observer.ConfigApplied(took, result)
	}
}

// lbErrors lists the load balancers' errors inside err.
func lbErrors(err error) []*dataplane.LoadBalancerError {
	if lbe, ok := err.(*dataplane.LoadBalancerError); ok {
		return []*dataplane.LoadBalancerError{lbe}
	}
	switch u := err.(type) {
	case interface{ Unwrap() []error }:
		var out []*dataplane.LoadBalancerError
		for _, e := range u.Unwrap() {
			out = append(out, lbErrors(e)...)
		}
		return out
	case interface{ Unwrap() error }:
		return lbErrors(u.Unwrap())
	}
	return nil
}

func containsString(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// pruneOwnersOf forgets the sockets of the load balancers dropped and those the changed
// ones no longer claim. Callers hold a.mu.
func (a *Agent) pruneOwnersOf(dropped []string, changed map[string]*lbFrag) {
	gone := map[string]bool{}
	for _, id := range dropped {
		gone[id] = true
	}
	claimed := map[socketKey]bool{}
	for _, f := range changed {
		for _, c := range claims(f.cfg) {
			claimed[c.key] = true
		}
	}
	for k, lb := range a.owners {
		if gone[lb] {
			delete(a.owners, k)
		} else if _, ok := changed[lb]; ok && !claimed[k] {
			delete(a.owners, k)
		}
	}
}

// The disk cache: one file per load balancer under cache/, named by a digest of its id
// (an id never becomes a path), holding the fragment as the server sent it, and
// cache/head.json with the version the fragments make up. A change rewrites the files
// of the load balancers it changed (or removes them) and then the head; a crash between
// the two leaves newer fragments under an older version, which the next watch (asking
// from that version) sends again. The fragments kept are the ones received, refused or
// not: a restarted agent tries them all again.
const (
	cacheDir    = "cache"
	cacheHead   = "head.json"
	legacyCache = "config.json" // the whole config, as agents before the per-LB cache kept it
)

type cacheHeadFile struct {
	Version uint64 `json:"version"`
	NodeID  string `json:"node_id,omitempty"`
}

func cacheName(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:16]) + ".json"
}

// saveLocked writes what changed in the config received since the last save. A failure
// is logged: the agent keeps serving, the next save tries again. Callers hold applyMu.
func (a *Agent) saveLocked() {
	dir := a.path(cacheDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		a.log.Warn("cannot save config cache", "err", err)
		return
	}
	ids := a.unsaved
	if a.unsavedAll {
		ids = make(map[string]struct{}, len(a.recv)+len(a.disk))
		for id := range a.recv {
			ids[id] = struct{}{}
		}
		for id := range a.disk {
			ids[id] = struct{}{}
		}
	}
	for id := range ids {
		a.scanned++
		f := a.recv[id]
		if a.disk[id] == f {
			delete(a.unsaved, id)
			continue
		}
		if f == nil {
			if err := os.Remove(filepath.Join(dir, cacheName(id))); err != nil && !errors.Is(err, os.ErrNotExist) {
				a.log.Warn("cannot save config cache", "loadbalancer_id", id, "err", err)
				return // what is left stays marked
			}
			delete(a.disk, id)
			delete(a.unsaved, id)
			continue
		}
		raw := f.raw
		if raw == nil { // saved before under another name: cannot happen, but never write an empty fragment
			raw, _ = json.Marshal(f.cfg)
		}
		data, err := json.Marshal(dataplane.LoadBalancerConfig{ID: id, Version: f.version, Config: raw})
		if err == nil {
			err = atomicfile.Write(filepath.Join(dir, cacheName(id)), data, 0o600)
		}
		if err != nil {
			a.log.Warn("cannot save config cache", "loadbalancer_id", id, "err", err)
			return // what is left stays marked
		}
		a.disk[id] = f
		delete(a.unsaved, id)
		f.raw = nil // on disk now: the decoded fragment and its digest are enough
	}
	a.unsavedAll = false
	a.mu.Lock()
	head := cacheHeadFile{Version: a.recvVersion, NodeID: a.nodeID}
	a.mu.Unlock()
	if head == a.diskHead {
		return
	}
	data, _ := json.Marshal(head)
	if err := atomicfile.Write(filepath.Join(dir, cacheHead), data, 0o600); err != nil {
		a.log.Warn("cannot save config cache", "err", err)
		return
	}
	a.diskHead = head
	if err := os.Remove(a.path(legacyCache)); err != nil && !errors.Is(err, os.ErrNotExist) {
		a.log.Warn("cannot remove the old config cache", "err", err)
	}
}

// loadCache reads the config the previous run saved into the config received (none:
// nothing). Callers hold applyMu.
func (a *Agent) loadCacheLocked() error {
	dir := a.path(cacheDir)
	data, err := os.ReadFile(filepath.Join(dir, cacheHead))
	if errors.Is(err, os.ErrNotExist) {
		return a.loadLegacyLocked()
	}
	if err != nil {
		return err
	}
	var head cacheHeadFile
	if err := json.Unmarshal(data, &head); err != nil {
		return fmt.Errorf("%s: %w", cacheHead, err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	frags := map[string]*lbFrag{}
	for _, e := range entries {
		name := e.Name()
		if name == cacheHead || !strings.HasSuffix(name, ".json") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		var lb dataplane.LoadBalancerConfig
		if err := json.Unmarshal(data, &lb); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		f, err := decodeFragment(lb)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if cacheName(f.id) != name {
			return fmt.Errorf("%s holds load balancer %s", name, f.id)
		}
		frags[f.id] = f
	}
	a.recv, a.nodeID, a.diskHead = frags, head.NodeID, head
	a.touchAll()
	a.disk = make(map[string]*lbFrag, len(frags))
	for id, f := range frags {
		a.disk[id] = f
		f.raw = nil // on disk
	}
	a.mu.Lock()
	a.recvVersion = head.Version
	a.mu.Unlock()
	return nil
}

// loadLegacyLocked reads the whole config an agent before the per-LB cache saved; the
// next save replaces it.
func (a *Agent) loadLegacyLocked() error {
	data, err := os.ReadFile(a.path(legacyCache))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	cfg, err := dataplane.Decode(data)
	if err != nil {
		return err
	}
	frags, err := split(cfg)
	if err != nil {
		return err
	}
	a.recv, a.nodeID = frags, cfg.NodeID
	a.mu.Lock()
	a.recvVersion = cfg.Version
	a.mu.Unlock()
	return nil
}
