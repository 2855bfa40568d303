package agentapi_test

import (
	"context"
	"encoding/json"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/agentapi"
	"github.com/fulcrumlb/fulcrum/internal/dataplane"
	"github.com/fulcrumlb/fulcrum/internal/snapshot"
	"github.com/fulcrumlb/fulcrum/internal/store"
	"github.com/fulcrumlb/fulcrum/internal/store/sqlstore"
)

// TestAcknowledgementReachesAnotherServer: servers sharing a store share
// which versions they handed each agent, so the acknowledgement of a
// version an agent watched on one server counts on another (an agent whose
// server died heartbeats to the next before it watches there); a version
// no server handed it still counts as none.
func TestAcknowledgementReachesAnotherServer(t *testing.T) {
	for _, shared := range []bool{true, false} {
		name := map[bool]string{true: "shared", false: "per process"}[shared]
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			e := newEnv(t, agentapi.Options{})
			db := e.st.(*sqlstore.Store)
			pub := snapshot.NewShared(snapshot.SharedOptions{Store: db, Broadcaster: db, ConfigChannel: "c", LoadBalancerChannel: "l"})
			runCtx, cancel := context.WithCancel(ctx)
			defer cancel()
			go pub.Run(runCtx)
			if err := pub.MarkComplete(ctx); err != nil {
				t.Fatal(err)
			}
			opts := agentapi.Options{Ready: pub.Ready()}
			if shared {
				opts.Sent = pub
			}
			a := serverOn(t, e, pub, opts)
			b := serverOn(t, e, pub, opts)
			id := e.mustEnroll(t, e.token(t, agentapi.TokenRequest{Name: "node-1"}), "node-1")
			agentID := e.agent(t, "node-1").ID
			if err := db.Update(ctx, func(tx store.Tx) error {
				_, _, err := pub.Publish(ctx, tx, agentID, "lb-1", 1, &dataplane.Config{Listeners: []dataplane.Listener{}, Pools: []dataplane.Pool{}})
				return err
			}); err != nil {
				t.Fatal(err)
			}
			var resp dataplane.ConfigResponse
			for deadline := time.Now().Add(10 * time.Second); !resp.Changed; {
				if time.Now().After(deadline) {
					t.Fatal("the watch on server a never returned the published config")
				}
				e.url = a
				ans := e.do(t, id, "GET", dataplane.PathConfig+"?version=0&wait=1s", nil)
				if err := json.Unmarshal([]byte(ans.body), &resp); err != nil {
					t.Fatal(err)
				}
			}
			e.url = b
			for _, tc := range []struct {
				claim uint64
				want  uint64
			}{{resp.Version + 1, 0}, {resp.Version, resp.Version}} {
				if ans := e.do(t, id, "POST", dataplane.PathHeartbeat, dataplane.Heartbeat{Name: "node-1", AppliedVersion: tc.claim}); ans.code != 200 {
					t.Fatalf("heartbeat on b: %d %s", ans.code, ans.body)
				}
				want := tc.want
				if !shared {
					want = 0 // b never sent it anything
				}
				if got := e.sink.lastBeat().AppliedVersion; got != want {
					t.Errorf("acknowledging %d (sent %d by a) on b: passed on %d, want %d", tc.claim, resp.Version, got, want)
				}
			}
		})
	}
}

// serverOn starts another agent API server on e's store and CA.
func serverOn(t *testing.T, e *env, w agentapi.Watcher, opts agentapi.Options) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "pki")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	cert, err := e.ca.ServerCertificate(dir, []string{"127.0.0.1"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	opts.Store, opts.CA, opts.Watcher, opts.Heartbeats = e.st, e.ca, w, e.sink
	if opts.MaxWait == 0 {
		opts.MaxWait = 2 * time.Second
	}
	api := agentapi.New(opts)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: api.Handler(), TLSConfig: api.TLSConfig(cert), ErrorLog: log.New(io.Discard, "", 0)}
	go srv.ServeTLS(ln, "", "")
	t.Cleanup(func() { srv.Close() })
	return "https://" + ln.Addr().String()
}
