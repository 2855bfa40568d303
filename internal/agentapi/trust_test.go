package agentapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/agentapi"
	"github.com/fulcrumlb/fulcrum/internal/dataplane"
	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/pki"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

func ptr(s string) *string { return &s }

// enrollAs enrolls with the placement the agent asks for.
func (e *env) enrollAs(t *testing.T, token, name, zone, group string) (answer, *identity) {
	t.Helper()
	key, err := pki.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	csr, err := pki.CSR(key, name)
	if err != nil {
		t.Fatal(err)
	}
	a := e.do(t, nil, "POST", dataplane.PathEnroll, dataplane.EnrollRequest{Token: token, Name: name, CSR: string(csr),
		AvailabilityZone: zone, Group: group})
	if a.code != 200 {
		return a, nil
	}
	var er dataplane.EnrollResponse
	if err := json.Unmarshal([]byte(a.body), &er); err != nil {
		t.Fatal(err)
	}
	return a, &identity{name: name, cert: pair(t, []byte(er.CertPEM), key)}
}

func (e *env) agent(t *testing.T, name string) *lb.Agent {
	t.Helper()
	var out *lb.Agent
	err := e.st.View(context.Background(), func(tx store.Tx) error {
		list, err := tx.Agents().List(context.Background(), store.Query{Filters: []store.Filter{store.F("name", name)}})
		if len(list) == 1 {
			out = list[0]
		}
		return err
	})
	if err != nil || out == nil {
		t.Fatalf("agent %s: %v", name, err)
	}
	return out
}

func (e *env) issue(t *testing.T, req agentapi.TokenRequest) agentapi.Issued {
	t.Helper()
	if req.TTL == 0 {
		req.TTL = time.Hour
	}
	issued, err := agentapi.IssueJoinToken(context.Background(), e.st, e.ca, req, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return issued
}

func TestJoinTokenBindsPlacement(t *testing.T) {
	e := newEnv(t, agentapi.Options{})
	gold := agentapi.TokenRequest{AvailabilityZone: ptr("az1"), Group: ptr("gold")}
	for _, tc := range []struct {
		name        string
		req         agentapi.TokenRequest
		zone, group string // what the agent asks for
		code        int
		want        string
	}{
		{"asks for nothing: the token's", gold, "", "", 200, ""},
		{"asks for the token's", gold, "az1", "gold", 200, ""},
		{"asks for another zone", gold, "az2", "", 403, `join token is for availability zone "az1", not "az2"`},
		{"asks for another group", gold, "", "silver", 403, `join token is for agent group "gold", not "silver"`},
		{"default token, asks for a zone", agentapi.TokenRequest{}, "az1", "", 403, `join token is for availability zone ""`},
		{"default token, asks for a group", agentapi.TokenRequest{}, "", "gold", 403, `join token is for agent group ""`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := "node-" + strconv.Itoa(len(tc.name))
			tok := e.issue(t, tc.req).Token.String()
			a, id := e.enrollAs(t, tok, name, tc.zone, tc.group)
			if a.code != tc.code || !strings.Contains(a.err.Error, tc.want) {
				t.Fatalf("enroll asking for %q/%q: %d %s; want %d %q", tc.zone, tc.group, a.code, a.body, tc.code, tc.want)
			}
			if id == nil {
				// Refused before anything was stored or signed, and the
				// token is not spent: without the claim it enrolls.
				e.mustEnroll(t, tok, name)
			}
			ag := e.agent(t, name)
			wantZone, wantGroup := "", ""
			if tc.req.AvailabilityZone != nil {
				wantZone, wantGroup = *tc.req.AvailabilityZone, *tc.req.Group
			}
			if ag.AvailabilityZone != wantZone || ag.Group != wantGroup {
				t.Errorf("agent placed in %q/%q, want the token's %q/%q", ag.AvailabilityZone, ag.Group, wantZone, wantGroup)
			}
		})
	}

	// --replace keeps the placement unless told otherwise; a new one is
	// stamped at re-enrollment.
	e.mustEnroll(t, e.issue(t, agentapi.TokenRequest{Name: "moved", AvailabilityZone: ptr("az1"), Group: ptr("gold")}).Token.String(), "moved")
	keep := e.issue(t, agentapi.TokenRequest{Name: "moved", Replace: true})
	if keep.Placement != (agentapi.Placement{AvailabilityZone: "az1", Group: "gold"}) || keep.Previous == nil || *keep.Previous != keep.Placement {
		t.Fatalf("replace without placement: %+v", keep)
	}
	move := e.issue(t, agentapi.TokenRequest{Name: "moved", Replace: true, AvailabilityZone: ptr("az2")})
	if move.Placement != (agentapi.Placement{AvailabilityZone: "az2", Group: "gold"}) {
		t.Fatalf("replace with a zone: %+v", move)
	}
	if a, _ := e.enrollAs(t, keep.Token.String(), "moved", "", ""); a.code != 403 {
		t.Fatalf("the withdrawn replace token: %d %s", a.code, a.body)
	}
	e.mustEnroll(t, move.Token.String(), "moved")
	if ag := e.agent(t, "moved"); ag.AvailabilityZone != "az2" || ag.Group != "gold" {
		t.Errorf("re-enrolled agent in %q/%q, want az2/gold", ag.AvailabilityZone, ag.Group)
	}
	// A named token for a new name gets the defaults.
	if fresh := e.issue(t, agentapi.TokenRequest{Name: "fresh"}); fresh.Previous != nil || fresh.Placement != (agentapi.Placement{}) {
		t.Errorf("token for a new name: %+v", fresh)
	}
}

func TestCheckPlacementLabel(t *testing.T) {
	for _, tc := range []struct {
		label string
		ok    bool
	}{
		{"", true},
		{"az-1", true},
		{"rack 1 (east)", true},
		{"zóna", true},
		{strings.Repeat("z", agentapi.MaxPlacementLabel), true},
		{strings.Repeat("z", agentapi.MaxPlacementLabel+1), false},
		{"tab\there", false},
		{"nl\n", false},
		{"nul\x00", false},
		{"\xff\xfe", false},
	} {
		if err := agentapi.CheckPlacementLabel(tc.label); (err == nil) != tc.ok {
			t.Errorf("CheckPlacementLabel(%q) = %v, want ok %v", tc.label, err, tc.ok)
		}
	}
	e := newEnv(t, agentapi.Options{})
	if _, err := agentapi.IssueJoinToken(context.Background(), e.st, e.ca, agentapi.TokenRequest{TTL: time.Hour, Group: ptr("a\x07")}, time.Now()); err == nil || !strings.Contains(err.Error(), "group") {
		t.Errorf("token with a control character in the group: %v", err)
	}
}

func TestReservedNamesFromDataDir(t *testing.T) {
	dir := t.TempDir()
	got, err := agentapi.ReservedNames(dir)
	if err != nil || len(got) != 1 || got[0] != agentapi.ReservedName {
		t.Fatalf("no record: %v %v", got, err)
	}
	if err := agentapi.RecordEmbeddedName(dir, "core"); err != nil {
		t.Fatal(err)
	}
	if info, err := os.Stat(filepath.Join(dir, "embedded-agent-name")); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("record: %v %v", info, err)
	}
	got, err = agentapi.ReservedNames(dir)
	if err != nil || strings.Join(got, ",") != "embedded,core" {
		t.Fatalf("after recording core: %v %v", got, err)
	}
	e := newEnv(t, agentapi.Options{})
	e.mustEnroll(t, e.token(t, agentapi.TokenRequest{Name: "core"}), "core") // as if the server ran it under that name earlier
	for _, req := range []agentapi.TokenRequest{{Name: "core"}, {Name: "core", Replace: true}, {Name: "embedded", Replace: true}} {
		req.TTL, req.Reserved = time.Hour, got
		if _, err := agentapi.IssueJoinToken(context.Background(), e.st, e.ca, req, time.Now()); !errors.Is(err, agentapi.ErrReservedName) {
			t.Errorf("IssueJoinToken(%+v): %v, want ErrReservedName", req, err)
		}
	}
	for _, name := range got {
		if err := agentapi.Revoke(context.Background(), e.st, name, time.Now(), got...); !errors.Is(err, agentapi.ErrReservedName) {
			t.Errorf("Revoke(%s): %v, want ErrReservedName", name, err)
		}
	}
	if ag := e.agent(t, "core"); ag.Revoked || ag.CertSerial == "" {
		t.Errorf("the reserved agent was touched: %+v", ag)
	}
	// No embedded agent any more: the record goes, the name is free for
	// the administrator.
	if err := agentapi.RecordEmbeddedName(dir, ""); err != nil {
		t.Fatal(err)
	}
	if got, err := agentapi.ReservedNames(dir); err != nil || len(got) != 1 {
		t.Fatalf("after removing the record: %v %v", got, err)
	}
	// A record that is not a name is an error, not an unprotected name.
	os.WriteFile(filepath.Join(dir, "embedded-agent-name"), []byte("../x\n"), 0o600)
	if _, err := agentapi.ReservedNames(dir); err == nil {
		t.Fatal("a malformed record was accepted")
	}
	if err := agentapi.RecordEmbeddedName(dir, "bad name"); err == nil {
		t.Fatal("recorded a malformed name")
	}
}

// post sends a raw heartbeat body.
func (e *env) post(t *testing.T, id *identity, body string) answer {
	t.Helper()
	req, err := http.NewRequest("POST", e.url+dataplane.PathHeartbeat, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set(dataplane.ProtocolHeader, strconv.Itoa(dataplane.ProtocolVersion))
	resp, err := e.client(id).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{code: resp.StatusCode, body: string(raw)}
	if resp.StatusCode != 200 {
		if err := json.Unmarshal(raw, &a.err); err != nil {
			t.Fatalf("%d with a body that is not an error response: %q", resp.StatusCode, raw)
		}
	}
	return a
}

func TestHeartbeatBodies(t *testing.T) {
	e := newEnv(t, agentapi.Options{})
	id := e.mustEnroll(t, e.token(t, agentapi.TokenRequest{Name: "node-1"}), "node-1")
	huge := `{"name":"node-1","events":[{"detail":"` + strings.Repeat("x", agentapi.MaxHeartbeatBytes) + `"}]}`
	for _, tc := range []struct {
		name, body string
		code       int
		want       string
	}{
		{"plain", `{"name":"node-1"}`, 200, ""},
		{"over the limit", huge, 413, "larger than"},
		{"empty", ``, 400, "decode heartbeat"},
		{"not JSON", `nope`, 400, "decode heartbeat"},
		{"trailing object", `{"name":"node-1"}{}`, 400, "trailing data"},
		{"trailing garbage", `{"name":"node-1"} x`, 400, "trailing data"},
		{"another agent's name", `{"name":"node-2"}`, 400, "name"},
		{"address", `{"name":"node-1","address":"a b"}`, 400, "address"},
		{"address: IPv6", `{"name":"node-1","address":"::1"}`, 200, ""},
		{"address: host name", `{"name":"node-1","address":"node-1.example.net"}`, 200, ""},
		{"zone too long", `{"name":"node-1","availability_zone":"` + strings.Repeat("z", 256) + `"}`, 400, "availability_zone"},
		{"refusal without id", `{"name":"node-1","refused":[{"version":1}]}`, 400, "refused[0].loadbalancer_id"},
		{"long refusal reason is cut, not refused", `{"name":"node-1","refused":[{"loadbalancer_id":"x","reason":"` + strings.Repeat("r", 10000) + `"}]}`, 200, ""},
		{"negative active connections", `{"name":"node-1","stats":{"listeners":[{"listener_id":"l","loadbalancer_id":"x","active_connections":-1}]}}`, 400, "stats.listeners[0].active_connections"},
		{"listener stats without listener", `{"name":"node-1","stats":{"listeners":[{"loadbalancer_id":"x"}]}}`, 400, "stats.listeners[0].listener_id"},
		{"negative member counter", `{"name":"node-1","stats":{"members":[{"member_id":"m","pool_id":"p","connect_errors":-5}]}}`, 400, "stats.members[0].connect_errors"},
		{"member stats without member", `{"name":"node-1","stats":{"members":[{"pool_id":"p"}]}}`, 400, "stats.members[0].member_id"},
		{"member stats", `{"name":"node-1","stats":{"members":[{"member_id":"m","pool_id":"p","active_connections":1,"total_connections":9}]}}`, 200, ""},
		{"member status", `{"name":"node-1","health":{"members":[{"member_id":"m","status":"up"}]}}`, 400, "health.members[0].status"},
		{"member statuses", `{"name":"node-1","health":{"members":[{"member_id":"m1","status":"UP"},{"member_id":"m2","status":"DOWN"},{"member_id":"m3","status":"DRAIN"},{"member_id":"m4","status":"MAINT"},{"member_id":"m5","status":"NO_CHECK"}]}}`, 200, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := e.post(t, id, tc.body)
			if a.code != tc.code || !strings.Contains(a.err.Error, tc.want) {
				t.Fatalf("%d %.300s; want %d %q", a.code, a.body, tc.code, tc.want)
			}
		})
	}
	long := strings.Repeat("é", 5000) // cut on a character boundary
	if a := e.post(t, id, `{"name":"node-1","refused":[{"loadbalancer_id":"x","reason":"`+long+`"}]}`); a.code != 200 {
		t.Fatalf("long refusal reason: %d %s", a.code, a.body)
	}
	if hb := e.sink.lastBeat(); len(hb.Refused) != 1 || len(hb.Refused[0].Reason) != 4096 || !strings.HasPrefix(long, hb.Refused[0].Reason) {
		t.Errorf("refusal reason passed on with %d bytes, want it cut to 4096", len(hb.Refused[0].Reason))
	}
	for _, q := range []string{"version=9223372036854775808", "version=18446744073709551615", "version=18446744073709551616"} {
		if a := e.do(t, id, "GET", dataplane.PathConfig+"?wait=0s&"+q, nil); a.code != 400 || !strings.Contains(a.err.Error, "version") {
			t.Errorf("watch ?%s: %d %s", q, a.code, a.body)
		}
	}
}

func TestHeartbeatClaimsAreSettledByTheServer(t *testing.T) {
	e := newEnv(t, agentapi.Options{})
	id := e.mustEnroll(t, e.issue(t, agentapi.TokenRequest{Name: "node-1", AvailabilityZone: ptr("az1"), Group: ptr("g1")}).Token.String(), "node-1")
	agentID := e.agent(t, "node-1").ID
	beat := func(hb dataplane.Heartbeat) *dataplane.Heartbeat {
		t.Helper()
		hb.Name = "node-1"
		if a := e.do(t, id, "POST", dataplane.PathHeartbeat, hb); a.code != 200 {
			t.Fatalf("heartbeat: %d %s", a.code, a.body)
		}
		return e.sink.lastBeat()
	}
	// Another placement claimed: passed on as the server's.
	if got := beat(dataplane.Heartbeat{AvailabilityZone: "az-other", Group: "g-other"}); got.AvailabilityZone != "az1" || got.Group != "g1" {
		t.Errorf("claimed placement passed on as %q/%q, want az1/g1", got.AvailabilityZone, got.Group)
	}
	if ag := e.agent(t, "node-1"); ag.AvailabilityZone != "az1" || ag.Group != "g1" {
		t.Errorf("agent record moved to %q/%q", ag.AvailabilityZone, ag.Group)
	}
	// Acknowledgements: nothing sent yet (a server restart), so anything
	// claimed counts as none; once sent, up to what was sent.
	if got := beat(dataplane.Heartbeat{AppliedVersion: 42, Refused: []dataplane.Refusal{{LoadBalancerID: "lb-1", Version: 42}}}); got.AppliedVersion != 0 || len(got.Refused) != 0 {
		t.Errorf("acknowledgement before anything was sent passed on: %+v", got)
	}
	v := e.cache.Put(agentID, "lb-1", 1, &dataplane.Config{Listeners: []dataplane.Listener{}, Pools: []dataplane.Pool{}})
	if a := e.do(t, id, "GET", dataplane.PathConfig+"?version=0&wait=0s", nil); a.code != 200 {
		t.Fatalf("watch: %d %s", a.code, a.body)
	}
	for _, tc := range []struct {
		claim, want uint64
	}{{v, v}, {v - 1, v - 1}, {v + 1, 0}, {1 << 63, 0}, {1<<64 - 1, 0}} {
		refused := []dataplane.Refusal{{LoadBalancerID: "lb-1", Version: tc.claim, Reason: "x"}}
		got := beat(dataplane.Heartbeat{AppliedVersion: tc.claim, Refused: refused})
		if got.AppliedVersion != tc.want || (tc.want == 0) != (len(got.Refused) == 0) {
			t.Errorf("acknowledging %d after %d was sent: passed on %d with refusals %v, want %d", tc.claim, v, got.AppliedVersion, got.Refused, tc.want)
		}
	}
}

// writes counts the write transactions of a store.
type writes struct {
	store.Store
	n atomic.Int64
}

func (w *writes) Update(ctx context.Context, fn func(tx store.Tx) error) error {
	w.n.Add(1)
	return w.Store.Update(ctx, fn)
}

func TestEnrollmentWithAWrongTokenTakesNoWrite(t *testing.T) {
	w := &writes{}
	e := newEnvWith(t, agentapi.Options{}, func(s store.Store) store.Store { w.Store = s; return w })
	valid, err := pki.ParseJoinToken(e.token(t, agentapi.TokenRequest{Name: "node-1"}))
	if err != nil {
		t.Fatal(err)
	}
	wrongSecret, unknownID := valid, valid
	wrongSecret.Secret = "wrong"
	unknownID.ID = "nosuchid"
	before := w.n.Load()
	for _, tc := range []struct{ token, name string }{
		{wrongSecret.String(), "node-1"}, {unknownID.String(), "node-1"}, {valid.String(), "node-2"},
	} {
		if a, _ := e.enroll(t, tc.token, tc.name); a.code != 403 {
			t.Fatalf("enroll %s: %d %s", tc.name, a.code, a.body)
		}
	}
	if n := w.n.Load() - before; n != 0 {
		t.Errorf("refused enrollments took %d write transactions", n)
	}
	e.mustEnroll(t, valid.String(), "node-1")
	if n := w.n.Load() - before; n != 1 {
		t.Errorf("an enrollment took %d write transactions, want 1", n)
	}
}

// A delta heartbeat (Heartbeat.Base) to an agent API whose sink does not
// read deltas is not passed on as the agent's whole report: it is an
// acknowledgement, and the answer (which does not say "deltas") asks for a
// resync. Its gone ids are checked like any other.
func TestDeltaToASinkWithoutDeltasIsAnAck(t *testing.T) {
	e := newEnv(t, agentapi.Options{})
	id := e.mustEnroll(t, e.issue(t, agentapi.TokenRequest{Name: "node-1"}).Token.String(), "node-1")
	a := e.do(t, id, "POST", dataplane.PathHeartbeat, dataplane.Heartbeat{Name: "node-1", Seq: 8, Base: 7,
		Health: dataplane.Health{Members: []dataplane.MemberHealth{{MemberID: "m-1", Status: dataplane.StatusUp}}}})
	if a.code != 200 {
		t.Fatalf("delta heartbeat: %d %s", a.code, a.body)
	}
	var resp dataplane.HeartbeatResponse
	if err := json.Unmarshal([]byte(a.body), &resp); err != nil {
		t.Fatal(err)
	}
	if !resp.Resync || resp.Deltas {
		t.Errorf("answer to a delta: %s, want resync and no deltas", a.body)
	}
	if got := e.sink.lastBeat(); got == nil || !got.Ack {
		t.Errorf("delta passed on as %+v, want an acknowledgement", got)
	}
	// A full heartbeat is passed on as one, and answered without a resync.
	a = e.do(t, id, "POST", dataplane.PathHeartbeat, dataplane.Heartbeat{Name: "node-1", Seq: 9})
	resp = dataplane.HeartbeatResponse{}
	if err := json.Unmarshal([]byte(a.body), &resp); err != nil || a.code != 200 || resp.Resync {
		t.Errorf("answer to a full heartbeat: %d %s", a.code, a.body)
	}
	if got := e.sink.lastBeat(); got == nil || got.Ack {
		t.Errorf("full heartbeat passed on as %+v", got)
	}
	a = e.do(t, id, "POST", dataplane.PathHeartbeat, dataplane.Heartbeat{Name: "node-1", Seq: 10, Base: 9,
		Gone: &dataplane.Gone{MemberStats: []string{"m-1", ""}}})
	if a.code != 400 || !strings.Contains(a.body, "gone.member_stats[1]") {
		t.Errorf("delta with an empty gone id: %d %s, want 400 naming gone.member_stats[1]", a.code, a.body)
	}
}
