package agent_test

import (
	"context"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/agent"
	"github.com/fulcrumlb/fulcrum/internal/agentapi"
	"github.com/fulcrumlb/fulcrum/internal/dataplane"
	"github.com/fulcrumlb/fulcrum/internal/healthmgr"
	"github.com/fulcrumlb/fulcrum/internal/pki"
	"github.com/fulcrumlb/fulcrum/internal/snapshot"
	"github.com/fulcrumlb/fulcrum/internal/store"
	"github.com/fulcrumlb/fulcrum/internal/store/sqlstore"
)

// cluster is one store, CA and published configuration served by several
// agent API servers, as servers sharing a database run them.
type cluster struct {
	st     *sqlstore.Store
	ca     *pki.CA
	shared *snapshot.Shared
	urls   []string
	srvs   []*http.Server
	// watches counts the config requests each server received.
	watches []*atomic.Int64
}

func startCluster(t *testing.T, n int) *cluster {
	t.Helper()
	dir := t.TempDir()
	st, err := sqlstore.Open(context.Background(), sqlstore.Options{Path: filepath.Join(dir, "db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ca, err := pki.LoadOrCreateCA(filepath.Join(dir, "pki"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{st: st, ca: ca}
	c.shared = snapshot.NewShared(snapshot.SharedOptions{Store: st, Broadcaster: st, ConfigChannel: "c", LoadBalancerChannel: "l"})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); c.shared.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	if err := c.shared.MarkComplete(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		pdir := filepath.Join(dir, "pki", string(rune('a'+i)))
		os.MkdirAll(pdir, 0o700)
		cert, err := ca.ServerCertificate(pdir, []string{"127.0.0.1"}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		hm := healthmgr.New(healthmgr.Options{Store: st, Acker: c.shared, Enqueue: func(string) {}})
		api := agentapi.New(agentapi.Options{Store: st, CA: ca, Watcher: c.shared, Sent: c.shared, Heartbeats: hm,
			Ready: c.shared.Ready(), MaxWait: 2 * time.Second})
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		watches := &atomic.Int64{}
		c.watches = append(c.watches, watches)
		h := api.Handler()
		counted := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == dataplane.PathConfig {
				watches.Add(1)
			}
			h.ServeHTTP(w, r)
		})
		srv := &http.Server{Handler: counted, TLSConfig: api.TLSConfig(cert), ErrorLog: log.New(io.Discard, "", 0)}
		go srv.ServeTLS(ln, "", "")
		t.Cleanup(func() { srv.Close() })
		c.urls = append(c.urls, "https://"+ln.Addr().String())
		c.srvs = append(c.srvs, srv)
	}
	return c
}

func (c *cluster) publish(t *testing.T, agentID, lbID string, port int) {
	t.Helper()
	ctx := context.Background()
	if err := c.st.Update(ctx, func(tx store.Tx) error {
		_, _, err := c.shared.Publish(ctx, tx, agentID, lbID, 1, frag(lbID, port))
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

func (c *cluster) applied(t *testing.T, agentID string) uint64 {
	t.Helper()
	var v uint64
	c.st.View(context.Background(), func(tx store.Tx) error {
		if h, err := tx.Publications().Head(context.Background(), agentID); err == nil {
			v = h.Applied
		}
		return nil
	})
	return v
}

// TestAgentMovesToAnotherServer: an agent given several servers watches
// one; when that one dies it moves to the next within about a second,
// resumes its watch there without applying its unchanged configuration
// again, acknowledges through it, and takes the next change from it.
func TestAgentMovesToAnotherServer(t *testing.T) {
	c := startCluster(t, 2)
	eng := &recorder{}
	tok, err := agentapi.IssueJoinToken(context.Background(), c.st, c.ca, agentapi.TokenRequest{Name: "node-1", TTL: time.Hour}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	runAgent(t, agent.Options{Servers: c.urls, DataDir: t.TempDir(), Name: "node-1", JoinToken: tok.Token.String(), Engine: eng,
		Wait: time.Second, HeartbeatInterval: 100 * time.Millisecond})
	var agentID string
	eventually(t, "enrollment", func() bool {
		agentID = agentIDIn(c.st, "node-1")
		return agentID != ""
	})
	c.publish(t, agentID, "lb-1", 8001)
	eventually(t, "the first config applied and acknowledged", func() bool {
		return len(eng.ports()) == 1 && c.applied(t, agentID) > 0
	})
	eng.mu.Lock()
	applies := eng.applies
	eng.mu.Unlock()
	// The agent talks to the first server: it dies (connections cut).
	base := c.watches[1].Load()
	killed := time.Now()
	c.srvs[0].Close()
	// Its watch resumes on the second server with the version it runs:
	// the server holds it (MaxWait) and answers "unchanged", the agent
	// watches again, and nothing is applied.
	eventually(t, "two watches on the second server", func() bool { return c.watches[1].Load() >= base+2 })
	eng.mu.Lock()
	if eng.applies != applies {
		t.Errorf("%d applies after the move with no change, want none", eng.applies-applies)
	}
	eng.mu.Unlock()
	before := c.applied(t, agentID)
	c.publish(t, agentID, "lb-2", 8002)
	eventually(t, "the change taken from the second server and acknowledged", func() bool {
		return len(eng.ports()) == 2 && c.applied(t, agentID) > before
	})
	t.Logf("moved and applied the change %s after the server died", time.Since(killed).Round(time.Millisecond))
	if took := time.Since(killed); took > 2*time.Second {
		t.Errorf("the agent took %s to move to the live server", took)
	}
	eng.mu.Lock()
	defer eng.mu.Unlock()
	if eng.applies != applies+1 {
		t.Errorf("%d applies after the move, want exactly one (the change; the unchanged config is not applied again)", eng.applies-applies)
	}
}

func agentIDIn(st store.Store, name string) string {
	var id string
	st.View(context.Background(), func(tx store.Tx) error {
		list, _ := tx.Agents().List(context.Background(), store.Query{Filters: []store.Filter{store.F("name", name)}})
		if len(list) == 1 {
			id = list[0].ID
		}
		return nil
	})
	return id
}
