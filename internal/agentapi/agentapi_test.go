package agentapi_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/agentapi"
	"github.com/fulcrumlb/fulcrum/internal/dataplane"
	"github.com/fulcrumlb/fulcrum/internal/pki"
	"github.com/fulcrumlb/fulcrum/internal/snapshot"
	"github.com/fulcrumlb/fulcrum/internal/store"
	"github.com/fulcrumlb/fulcrum/internal/store/sqlstore"
)

// env is a real agent API over HTTPS on loopback with a real store and CA.
type env struct {
	url   string
	st    store.Store
	ca    *pki.CA
	api   *agentapi.Server
	cache *snapshot.Cache
	beats chan string // agent ids of accepted heartbeats
	sink  *sink
}

// sink records heartbeats as the server passes them on.
type sink struct {
	beats chan string
	mu    sync.Mutex
	last  *dataplane.Heartbeat
}

func (s *sink) Heartbeat(_ context.Context, agentID string, hb *dataplane.Heartbeat) error {
	s.mu.Lock()
	s.last = hb
	s.mu.Unlock()
	select {
	case s.beats <- agentID:
	default:
	}
	return nil
}

func (s *sink) lastBeat() *dataplane.Heartbeat {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

func newEnv(t *testing.T, opts agentapi.Options) *env {
	t.Helper()
	return newEnvWith(t, opts, nil)
}

// newEnvWith is newEnv with the server's store wrapped by wrap.
func newEnvWith(t *testing.T, opts agentapi.Options, wrap func(store.Store) store.Store) *env {
	t.Helper()
	dir := t.TempDir()
	db, err := sqlstore.Open(context.Background(), sqlstore.Options{Path: filepath.Join(dir, "fulcrum.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	var st store.Store = db
	if wrap != nil {
		st = wrap(db)
	}
	ca, err := pki.LoadOrCreateCA(filepath.Join(dir, "pki"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.ServerCertificate(filepath.Join(dir, "pki"), []string{"127.0.0.1"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	e := &env{st: st, ca: ca, cache: snapshot.New(nil, nil), beats: make(chan string, 100)}
	e.sink = &sink{beats: e.beats}
	opts.Store, opts.CA, opts.Watcher, opts.Heartbeats = st, ca, e.cache, e.sink
	if opts.MaxWait == 0 {
		opts.MaxWait = 2 * time.Second
	}
	e.api = agentapi.New(opts)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: e.api.Handler(), TLSConfig: e.api.TLSConfig(cert), ErrorLog: log.New(io.Discard, "", 0)}
	go srv.ServeTLS(ln, "", "")
	t.Cleanup(func() { srv.Close() })
	e.url = "https://" + ln.Addr().String()
	return e
}

func (e *env) token(t *testing.T, req agentapi.TokenRequest) string {
	t.Helper()
	if req.TTL == 0 {
		req.TTL = time.Hour
	}
	tok, err := agentapi.IssueJoinToken(context.Background(), e.st, e.ca, req, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tok.Token.String()
}

// identity is what an enrollment returns: a client certificate.
type identity struct {
	name string
	cert tls.Certificate
}

// answer is one agent API response.
type answer struct {
	code int
	body string
	err  dataplane.ErrorResponse
}

func (e *env) client(id *identity) *http.Client {
	cfg := &tls.Config{RootCAs: e.ca.Pool(), MinVersion: tls.VersionTLS12}
	if id != nil {
		cfg.Certificates = []tls.Certificate{id.cert}
	}
	// A bound, not a wait: TestHeartbeatBodies sends a 16 MiB body over TLS, which took
	// over 10 s with the race detector at a load average of 20.
	return &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
}

func (e *env) do(t *testing.T, id *identity, method, path string, body any) answer {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, e.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set(dataplane.ProtocolHeader, strconv.Itoa(dataplane.ProtocolVersion))
	resp, err := e.client(id).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{code: resp.StatusCode, body: string(raw)}
	if resp.StatusCode != 200 {
		if err := json.Unmarshal(raw, &a.err); err != nil {
			t.Fatalf("%s %s: %d with a body that is not an error response: %q", method, path, resp.StatusCode, raw)
		}
	}
	return a
}

// enroll sends an enrollment with a fresh key; the identity is nil unless it succeeded.
func (e *env) enroll(t *testing.T, token, name string) (answer, *identity) {
	t.Helper()
	key, err := pki.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	csr, err := pki.CSR(key, name)
	if err != nil {
		t.Fatal(err)
	}
	a := e.do(t, nil, "POST", dataplane.PathEnroll, dataplane.EnrollRequest{Token: token, Name: name, CSR: string(csr)})
	if a.code != 200 {
		return a, nil
	}
	var er dataplane.EnrollResponse
	if err := json.Unmarshal([]byte(a.body), &er); err != nil {
		t.Fatal(err)
	}
	return a, &identity{name: name, cert: pair(t, []byte(er.CertPEM), key)}
}

func pair(t *testing.T, certPEM []byte, key *ecdsa.PrivateKey) tls.Certificate {
	t.Helper()
	c, err := pki.ParseCert(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{c.Raw}, PrivateKey: key, Leaf: c}
}

func (e *env) mustEnroll(t *testing.T, token, name string) *identity {
	t.Helper()
	a, id := e.enroll(t, token, name)
	if id == nil {
		t.Fatalf("enroll %s: %d %s", name, a.code, a.body)
	}
	return id
}

func (e *env) watch(t *testing.T, id *identity) answer {
	t.Helper()
	return e.do(t, id, "GET", dataplane.PathConfig+"?version=0&wait=0s", nil)
}

func (e *env) heartbeat(t *testing.T, id *identity, name string) answer {
	t.Helper()
	return e.do(t, id, "POST", dataplane.PathHeartbeat, dataplane.Heartbeat{Name: name})
}

func TestEnrollRules(t *testing.T) {
	e := newEnv(t, agentapi.Options{EmbeddedName: "aio"})
	other, err := pki.LoadOrCreateCA(t.TempDir(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	e.mustEnroll(t, e.token(t, agentapi.TokenRequest{Name: "node-1"}), "node-1")
	late := e.token(t, agentapi.TokenRequest{Name: "node-4"})
	e.mustEnroll(t, e.token(t, agentapi.TokenRequest{}), "node-4")
	used := e.token(t, agentapi.TokenRequest{})
	e.mustEnroll(t, used, "node-2")
	expired, err := agentapi.IssueJoinToken(context.Background(), e.st, e.ca, agentapi.TokenRequest{TTL: time.Second}, time.Now().Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	valid := pki.JoinToken{}
	if valid, err = pki.ParseJoinToken(e.token(t, agentapi.TokenRequest{})); err != nil {
		t.Fatal(err)
	}
	wrongSecret := valid
	wrongSecret.Secret = "not-the-secret"
	unknownID := valid
	unknownID.ID = "nosuchid"
	foreign := other.NewJoinToken()
	foreign.ID, foreign.Secret = valid.ID, valid.Secret
	for _, tc := range []struct {
		name, token, agent string
		code               int
		want               string
	}{
		{"malformed token", "fjt1.x", "node-9", 400, "join token"},
		{"token pinned to another CA", foreign.String(), "node-9", 403, "another CA"},
		{"unknown token id", unknownID.String(), "node-9", 403, "unknown join token"},
		{"wrong secret", wrongSecret.String(), "node-9", 403, "unknown join token"},
		{"expired", expired.Token.String(), "node-9", 403, "expired"},
		{"replayed", used, "node-9", 403, "already used"},
		{"named for another agent", e.token(t, agentapi.TokenRequest{Name: "node-8"}), "node-9", 403, `is for agent "node-8"`},
		{"unnamed onto an enrolled name", valid.String(), "node-1", 409, "in use"},
		{"named for a name enrolled since", late, "node-4", 409, "in use"},
		{"reserved name", valid.String(), agentapi.ReservedName, 403, "reserved"},
		{"the server's embedded agent's name", valid.String(), "aio", 403, "reserved"},
		{"name with a space", valid.String(), "a b", 400, "agent name"},
		{"name too long", valid.String(), strings.Repeat("n", 65), 400, "agent name"},
		{"name with a slash", valid.String(), "x/y", 400, "agent name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, id := e.enroll(t, tc.token, tc.agent)
			if id != nil || a.code != tc.code || !strings.Contains(a.err.Error, tc.want) {
				t.Fatalf("enroll %q with %s: %d %s; want %d %q", tc.agent, tc.name, a.code, a.body, tc.code, tc.want)
			}
		})
	}
	// None of the refusals spent the valid token.
	e.mustEnroll(t, valid.String(), "node-10")
	// A bad CSR does not spend a token either.
	tok := e.token(t, agentapi.TokenRequest{Name: "node-11"})
	a := e.do(t, nil, "POST", dataplane.PathEnroll, dataplane.EnrollRequest{Token: tok, Name: "node-11", CSR: "junk"})
	if a.code != 400 || !strings.Contains(a.err.Error, "csr") {
		t.Fatalf("bad CSR: %d %s", a.code, a.body)
	}
	e.mustEnroll(t, tok, "node-11")
}

func TestAuthenticatedRequests(t *testing.T) {
	e := newEnv(t, agentapi.Options{})
	good := e.mustEnroll(t, e.token(t, agentapi.TokenRequest{Name: "node-1"}), "node-1")
	if a := e.watch(t, good); a.code != 200 {
		t.Fatalf("enrolled agent's watch: %d %s", a.code, a.body)
	}
	if a := e.heartbeat(t, good, "node-1"); a.code != 200 {
		t.Fatalf("enrolled agent's heartbeat: %d %s", a.code, a.body)
	}
	// A heartbeat under another name is a bad request, not a refusal of the identity.
	if a := e.heartbeat(t, good, "node-2"); a.code != 400 || a.err.Refused != "" {
		t.Fatalf("heartbeat under another name: %d %s", a.code, a.body)
	}
	// No client certificate.
	if a := e.watch(t, nil); a.code != 401 || a.err.Refused != "" {
		t.Fatalf("watch without a certificate: %d %s", a.code, a.body)
	}
	// A certificate from another CA fails the handshake.
	other, _ := pki.LoadOrCreateCA(t.TempDir(), time.Now())
	key, _ := pki.NewKey()
	csr, _ := pki.CSR(key, "node-1")
	certPEM, _, err := other.SignAgent(csr, "node-1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	forged := &identity{name: "node-1", cert: pair(t, certPEM, key)}
	req, _ := http.NewRequest("GET", e.url+dataplane.PathConfig+"?wait=0s", nil)
	req.Header.Set(dataplane.ProtocolHeader, "1")
	if resp, err := e.client(forged).Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("a certificate from another CA got %d", resp.StatusCode)
	}
	// A certificate of this CA for a name that is not enrolled.
	certPEM, _, err = e.ca.SignAgent(csr, "ghost", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ghost := &identity{name: "ghost", cert: pair(t, certPEM, key)}
	if a := e.watch(t, ghost); a.code != 403 || a.err.Refused != dataplane.RefusedUnknown {
		t.Fatalf("unknown agent: %d %s", a.code, a.body)
	}
	// Superseded: the name released with Replace refuses the old certificate at once.
	if _, err := agentapi.IssueJoinToken(context.Background(), e.st, e.ca, agentapi.TokenRequest{Name: "node-1", TTL: time.Hour, Replace: true}, time.Now()); err != nil {
		t.Fatal(err)
	}
	for _, a := range []answer{e.watch(t, good), e.heartbeat(t, good, "node-1")} {
		if a.code != 403 || a.err.Refused != dataplane.RefusedSuperseded {
			t.Fatalf("released agent: %d %s", a.code, a.body)
		}
	}
	// Revoked.
	node2 := e.mustEnroll(t, e.token(t, agentapi.TokenRequest{Name: "node-2"}), "node-2")
	if err := agentapi.Revoke(context.Background(), e.st, "node-2", time.Now()); err != nil {
		t.Fatal(err)
	}
	for _, a := range []answer{e.watch(t, node2), e.heartbeat(t, node2, "node-2")} {
		if a.code != 403 || a.err.Refused != dataplane.RefusedRevoked {
			t.Fatalf("revoked agent: %d %s", a.code, a.body)
		}
	}
	if err := agentapi.Revoke(context.Background(), e.st, "nobody", time.Now()); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("revoke an unknown agent: %v", err)
	}
	// Another protocol version.
	req, _ = http.NewRequest("GET", e.url+dataplane.PathConfig, nil)
	req.Header.Set(dataplane.ProtocolHeader, "99")
	resp, err := e.client(good).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUpgradeRequired {
		t.Fatalf("protocol 99: %d", resp.StatusCode)
	}
}

func TestReplaceReleasesTheName(t *testing.T) {
	e := newEnv(t, agentapi.Options{})
	early := e.token(t, agentapi.TokenRequest{Name: "node-1"})
	old := e.mustEnroll(t, e.token(t, agentapi.TokenRequest{Name: "node-1"}), "node-1")
	if _, err := agentapi.IssueJoinToken(context.Background(), e.st, e.ca, agentapi.TokenRequest{Name: "node-1", TTL: time.Hour}, time.Now()); !errors.Is(err, agentapi.ErrNameInUse) {
		t.Fatalf("named token for an enrolled name: %v, want ErrNameInUse", err)
	}
	if err := agentapi.Revoke(context.Background(), e.st, "node-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	issued, err := agentapi.IssueJoinToken(context.Background(), e.st, e.ca, agentapi.TokenRequest{Name: "node-1", TTL: time.Hour, Replace: true}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if issued.Released == "" || !issued.Revoked || issued.Withdrawn != 1 {
		t.Fatalf("replace: %+v; want the old serial released, the revocation lifted and the early token withdrawn", issued)
	}
	// The token issued before the release cannot take the name.
	if a, _ := e.enroll(t, early, "node-1"); a.code != 403 || !strings.Contains(a.err.Error, "unknown join token") {
		t.Fatalf("withdrawn token: %d %s", a.code, a.body)
	}
	// Neither can an unnamed token: the name is released for its own token only.
	if a, _ := e.enroll(t, e.token(t, agentapi.TokenRequest{}), "node-1"); a.code != 409 {
		t.Fatalf("unnamed token onto a released name: %d %s", a.code, a.body)
	}
	fresh := e.mustEnroll(t, issued.Token.String(), "node-1")
	if a := e.watch(t, fresh); a.code != 200 {
		t.Fatalf("re-enrolled agent: %d %s", a.code, a.body)
	}
	if a := e.watch(t, old); a.code != 403 || a.err.Refused != dataplane.RefusedSuperseded {
		t.Fatalf("old certificate after re-enrollment: %d %s", a.code, a.body)
	}
	if a, _ := e.enroll(t, issued.Token.String(), "node-1"); a.code != 403 || !strings.Contains(a.err.Error, "already used") {
		t.Fatalf("replace token replayed: %d %s", a.code, a.body)
	}
}

func TestIssueJoinTokenRules(t *testing.T) {
	e := newEnv(t, agentapi.Options{})
	for _, tc := range []struct {
		name string
		req  agentapi.TokenRequest
		want string
	}{
		{"no lifetime", agentapi.TokenRequest{}, "more than zero"},
		{"negative lifetime", agentapi.TokenRequest{TTL: -time.Hour}, "more than zero"},
		{"replace without a name", agentapi.TokenRequest{TTL: time.Hour, Replace: true}, "--name"},
		{"reserved name", agentapi.TokenRequest{TTL: time.Hour, Name: agentapi.ReservedName}, "embedded"},
		{"bad name", agentapi.TokenRequest{TTL: time.Hour, Name: "../x"}, "agent name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := agentapi.IssueJoinToken(context.Background(), e.st, e.ca, tc.req, time.Now()); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("IssueJoinToken(%+v): %v, want an error with %q", tc.req, err, tc.want)
			}
		})
	}
}

func TestEmbeddedJoinToken(t *testing.T) {
	e := newEnv(t, agentapi.Options{EmbeddedName: "aio"})
	tok, err := e.api.EmbeddedJoinToken(time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if a, _ := e.enroll(t, tok, "node-1"); a.code != 403 || !strings.Contains(a.err.Error, `is for agent "aio"`) {
		t.Fatalf("embedded token for another name: %d %s", a.code, a.body)
	}
	first := e.mustEnroll(t, tok, "aio")
	if a, _ := e.enroll(t, tok, "aio"); a.code != 403 || !strings.Contains(a.err.Error, "unknown join token") {
		t.Fatalf("embedded token replayed: %d %s", a.code, a.body)
	}
	// The embedded agent lost its identity on disk: a new in-memory token
	// re-enrolls the name, which supersedes the old certificate.
	tok, _ = e.api.EmbeddedJoinToken(time.Minute)
	second := e.mustEnroll(t, tok, "aio")
	if a := e.watch(t, first); a.err.Refused != dataplane.RefusedSuperseded {
		t.Fatalf("first embedded certificate after re-enrollment: %d %s", a.code, a.body)
	}
	if a := e.watch(t, second); a.code != 200 {
		t.Fatalf("embedded agent: %d %s", a.code, a.body)
	}
	// An expired one does not enroll.
	tok, _ = e.api.EmbeddedJoinToken(-time.Second)
	if a, _ := e.enroll(t, tok, "aio"); a.code != 403 || !strings.Contains(a.err.Error, "expired") {
		t.Fatalf("expired embedded token: %d %s", a.code, a.body)
	}
	if _, err := newEnv(t, agentapi.Options{}).api.EmbeddedJoinToken(time.Minute); err == nil {
		t.Fatal("an embedded token from a server with no embedded agent")
	}
}

func TestEnrollRaces(t *testing.T) {
	e := newEnv(t, agentapi.Options{})
	const n = 8
	// One token, n enrollments at once: exactly one wins.
	shared := e.token(t, agentapi.TokenRequest{})
	// n tokens, one new name: exactly one wins.
	tokens := make([]string, n)
	for i := range tokens {
		tokens[i] = e.token(t, agentapi.TokenRequest{})
	}
	var mu sync.Mutex
	codes := map[string][]int{}
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			a, _ := e.enroll(t, shared, "shared-"+strconv.Itoa(i))
			mu.Lock()
			codes["shared token"] = append(codes["shared token"], a.code)
			mu.Unlock()
		}()
		go func() {
			defer wg.Done()
			a, _ := e.enroll(t, tokens[i], "contested")
			mu.Lock()
			codes["contested name"] = append(codes["contested name"], a.code)
			mu.Unlock()
		}()
	}
	wg.Wait()
	for what, list := range codes {
		wins := 0
		for _, c := range list {
			switch c {
			case 200:
				wins++
			case 403, 409:
			default:
				t.Errorf("%s: status %d", what, c)
			}
		}
		if wins != 1 {
			t.Errorf("%s: %d enrollments won (%v), want exactly 1", what, wins, list)
		}
	}
}

func TestWatch(t *testing.T) {
	e := newEnv(t, agentapi.Options{})
	id := e.mustEnroll(t, e.token(t, agentapi.TokenRequest{Name: "node-1"}), "node-1")
	var agentID string
	e.st.View(context.Background(), func(tx store.Tx) error {
		list, _ := tx.Agents().List(context.Background(), store.Query{Filters: []store.Filter{store.F("name", "node-1")}})
		agentID = list[0].ID
		return nil
	})
	v := e.cache.Put(agentID, "lb-1", 1, &dataplane.Config{Listeners: []dataplane.Listener{}, Pools: []dataplane.Pool{}})
	// wait=0 with a version behind always answers with the config (never
	// an "unchanged" picked at random).
	for i := 0; i < 20; i++ {
		a := e.do(t, id, "GET", dataplane.PathConfig+"?version=1&wait=0s", nil)
		var cr dataplane.ConfigResponse
		if a.code != 200 || json.Unmarshal([]byte(a.body), &cr) != nil || !cr.Changed || cr.Version != v {
			t.Fatalf("watch %d: %d %s", i, a.code, a.body)
		}
	}
	for _, q := range []string{"version=x", "version=-1", "wait=forever", "wait=-1s", "version=%zz"} {
		if a := e.do(t, id, "GET", dataplane.PathConfig+"?"+q, nil); a.code != 400 {
			t.Errorf("watch ?%s: %d %s", q, a.code, a.body)
		}
	}
	if a := e.do(t, id, "DELETE", dataplane.PathConfig, nil); a.code != 405 {
		t.Errorf("DELETE config: %d %s", a.code, a.body)
	}
	if a := e.do(t, id, "GET", "/agent/v1/nothing", nil); a.code != 404 {
		t.Errorf("unknown path: %d %s", a.code, a.body)
	}
}
