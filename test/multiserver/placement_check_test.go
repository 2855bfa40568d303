package multiserver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
)

// placementView is where load balancers are placed (their amphorae) and
// where they are live (a published fragment that is not a withdrawal), as
// one snapshot of the store.
type placementView struct {
	placed map[string][]string // load balancer id → agent ids of its placements
	live   map[string][]string // load balancer id → agent ids it is live on
	names  map[string]string   // agent id → name
	// listening: the load balancers live with a listener (the others
	// put nothing in an agent's configuration).
	listening map[string]bool
	// headed: the agents anything was ever published for (the others
	// are handed no configuration at all).
	headed map[string]bool
}

func (v placementView) name(id string) string {
	if n, ok := v.names[id]; ok {
		return n
	}
	return id
}

// readPlacements reads the placements and the live fragments in one
// REPEATABLE READ transaction, so both are of the same moment.
func (c *cluster) readPlacements(ctx context.Context) (placementView, error) {
	v := placementView{placed: map[string][]string{}, live: map[string][]string{}, names: map[string]string{}, listening: map[string]bool{}, headed: map[string]bool{}}
	db, err := sql.Open("pgx", c.db)
	if err != nil {
		return v, err
	}
	defer db.Close()
	tx, err := db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	if err != nil {
		return v, err
	}
	defer tx.Rollback()
	read := func(q string, into map[string][]string) error {
		rows, err := tx.QueryContext(ctx, q)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var k, val string
			if err := rows.Scan(&k, &val); err != nil {
				return err
			}
			into[k] = append(into[k], val)
		}
		return rows.Err()
	}
	names := map[string][]string{}
	if err := read(`SELECT id, name FROM agents`, names); err != nil {
		return v, fmt.Errorf("read agents: %w", err)
	}
	for id, n := range names {
		v.names[id] = n[0]
	}
	if err := read(`SELECT loadbalancer_id, agent_id FROM amphorae WHERE agent_id IS NOT NULL`, v.placed); err != nil {
		return v, fmt.Errorf("read placements: %w", err)
	}
	heads := map[string][]string{}
	if err := read(`SELECT agent_id, agent_id FROM agent_configs WHERE version > 0`, heads); err != nil {
		return v, fmt.Errorf("read configuration heads: %w", err)
	}
	for id := range heads {
		v.headed[id] = true
	}
	rows, err := tx.QueryContext(ctx, `SELECT loadbalancer_id, agent_id, config FROM agent_fragments WHERE config IS NOT NULL`)
	if err != nil {
		return v, fmt.Errorf("read published fragments: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var lbID, agentID, raw string
		if err := rows.Scan(&lbID, &agentID, &raw); err != nil {
			return v, fmt.Errorf("read published fragments: %w", err)
		}
		v.live[lbID] = append(v.live[lbID], agentID)
		var frag struct {
			Listeners []json.RawMessage `json:"listeners"`
		}
		if err := json.Unmarshal([]byte(raw), &frag); err != nil {
			return v, fmt.Errorf("fragment of %s on agent %s: %w", lbID, agentID, err)
		}
		if len(frag.Listeners) > 0 {
			v.listening[lbID] = true
		}
	}
	return v, rows.Err()
}

// strayIn lists the load balancers of live (load balancer id → agents
// carrying it) carried by an agent that is not one of its placements: a
// SINGLE load balancer on two agents, an ACTIVE_STANDBY one on a third, a
// deleted one still carried.
func (v placementView) strayIn(live map[string][]string) []string {
	var out []string
	for lbID, agents := range live {
		for _, ag := range agents {
			if !slices.Contains(v.placed[lbID], ag) {
				out = append(out, fmt.Sprintf("load balancer %s is live on agent %s, placed on %s", lbID, v.name(ag), v.nameList(v.placed[lbID])))
			}
		}
	}
	sort.Strings(out)
	return out
}

func (v placementView) nameList(ids []string) string {
	if len(ids) == 0 {
		return "no agent"
	}
	var n []string
	for _, id := range ids {
		n = append(n, v.name(id))
	}
	sort.Strings(n)
	return strings.Join(n, ", ")
}

// agentClient is an agent's own mutual-TLS client of the agent API, from
// the identity in its data directory.
func agentClient(ag *agentProc) (*http.Client, error) {
	cert, err := tls.LoadX509KeyPair(filepath.Join(ag.dir, "agent.crt"), filepath.Join(ag.dir, "agent.key"))
	if err != nil {
		return nil, err
	}
	caPEM, err := os.ReadFile(filepath.Join(ag.dir, "ca.crt"))
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("agent %s: no CA certificate", ag.name)
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true,
		TLSClientConfig: &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, MinVersion: tls.VersionTLS12}}}, nil
}

// servedConfig returns the load balancers in the configuration server s
// hands agent ag now (as its watch would get it, announcing the agent's
// own data-plane contract so that nothing changes), and its version.
func servedConfig(hc *http.Client, s *server, ag *agentProc) (map[string]bool, uint64, error) {
	req, err := http.NewRequest("GET", s.agentURL()+dataplane.PathConfig+"?version=0&wait=0s", nil)
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set(dataplane.ProtocolHeader, strconv.Itoa(dataplane.ProtocolVersion))
	req.Header.Set(dataplane.ContractHeader, strconv.Itoa(dataplane.ContractVersion))
	resp, err := hc.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if resp.StatusCode != http.StatusOK {
		return nil, 0, fmt.Errorf("%s: %d %s", s.name, resp.StatusCode, data)
	}
	var cr dataplane.ConfigResponse
	if err := json.Unmarshal(data, &cr); err != nil {
		return nil, 0, err
	}
	if !cr.Changed || cr.Config == nil {
		return nil, 0, fmt.Errorf("%s hands agent %s no configuration yet", s.name, ag.name)
	}
	out := map[string]bool{}
	for _, l := range cr.Config.Listeners {
		out[l.LoadBalancerID] = true
	}
	return out, cr.Version, nil
}

// checkPlacements checks issue 11's placement invariant after step:
//
//   - in the store, at once (one snapshot): no load balancer is live on an
//     agent that is not one of its placements — a SINGLE one on one agent
//     at most, an ACTIVE_STANDBY one on its two (a move withdraws it from
//     the old agent in the transaction that moves the placement);
//   - in what every live server hands each agent (its mirror), within
//     deadline: the same, so no agent is given a load balancer another
//     agent holds; with exact, also every placed load balancer with a
//     listener is in its agents' configurations from every server.
//
// It returns the problems found; nil when the invariant holds.
func (c *cluster) checkPlacements(step string, deadline time.Duration, exact bool) []string {
	ctx, cancel := context.WithTimeout(context.Background(), deadline+30*time.Second)
	defer cancel()
	v, err := c.readPlacements(ctx)
	if err != nil {
		return []string{fmt.Sprintf("%s: %v", step, err)}
	}
	var problems []string
	for _, p := range v.strayIn(v.live) {
		problems = append(problems, step+", in the store: "+p)
	}
	clients := map[*agentProc]*http.Client{}
	for _, ag := range c.agents {
		hc, err := agentClient(ag)
		if err != nil {
			return append(problems, fmt.Sprintf("%s: agent %s: %v", step, ag.name, err))
		}
		clients[ag] = hc
	}
	var served []string
	for end := time.Now().Add(deadline); ; time.Sleep(200 * time.Millisecond) {
		served = nil
		if v, err = c.readPlacements(ctx); err != nil {
			served = append(served, err.Error())
		}
		for _, s := range c.servers {
			if s.isDown() {
				continue
			}
			carried := map[string][]string{} // load balancer → agent ids, as s hands them out
			ok := true
			for _, ag := range c.agents {
				id := ""
				for aid, n := range v.names {
					if n == ag.name {
						id = aid
					}
				}
				if !v.headed[id] {
					continue // nothing published for it: nothing to hand out
				}
				lbs, _, err := servedConfig(clients[ag], s, ag)
				if err != nil {
					served, ok = append(served, err.Error()), false
					continue
				}
				for lbID := range lbs {
					carried[lbID] = append(carried[lbID], id)
				}
			}
			if !ok {
				continue
			}
			for _, p := range v.strayIn(carried) {
				served = append(served, s.name+" hands out: "+p)
			}
			if exact {
				for lbID, agents := range v.live {
					if !v.listening[lbID] {
						continue
					}
					for _, ag := range agents {
						if !slices.Contains(carried[lbID], ag) {
							served = append(served, fmt.Sprintf("%s hands agent %s no load balancer %s, published there", s.name, v.name(ag), lbID))
						}
					}
				}
			}
		}
		if len(served) == 0 || time.Now().After(end) {
			break
		}
	}
	for _, p := range served {
		problems = append(problems, fmt.Sprintf("%s, %s later: %s", step, deadline, p))
	}
	return problems
}

// placementChecks runs checkPlacements in the background while a test goes
// on (a kill schedule is not held up by them), and reports at wait.
type placementChecks struct {
	c        *cluster
	wg       sync.WaitGroup
	mu       sync.Mutex
	problems []string
}

func (p *placementChecks) start(step string) {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		got := p.c.checkPlacements(step, 60*time.Second, false)
		p.mu.Lock()
		p.problems = append(p.problems, got...)
		p.mu.Unlock()
	}()
}

func (p *placementChecks) wait(t *testing.T) {
	t.Helper()
	p.wg.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.problems) > 20 {
		p.problems = p.problems[:20]
	}
	if len(p.problems) > 0 {
		t.Errorf("load balancers live on agents they are not placed on:\n%s", strings.Join(p.problems, "\n"))
	}
}

// checkPlacementsSettled checks the invariant exactly once the cluster
// settled.
func (c *cluster) checkPlacementsSettled(t *testing.T, step string) {
	t.Helper()
	if problems := c.checkPlacements(step, 30*time.Second, true); len(problems) > 0 {
		if len(problems) > 20 {
			problems = problems[:20]
		}
		t.Errorf("load balancers live on agents they are not placed on:\n%s", strings.Join(problems, "\n"))
	}
}
