// Package agentapi serves the controller⇄agent protocol (dataplane
// ProtocolVersion) over HTTPS with mutual TLS: enrollment with a join
// token, the blocking config watch and heartbeats. Agents authenticate with
// the certificate the internal CA signed at enrollment; a revoked,
// unknown or superseded certificate is refused with a machine-readable
// reason (dataplane.ErrorResponse.Refused), on which agents stop serving.
//
// Who may become which agent: a join token issued for a name enrolls that
// name only, and only while no agent holds it; a token issued without a
// name creates a new, unused name; a name in use changes hands only through
// IssueJoinToken's Replace (`fulcrum agent-token --name X --replace`),
// which cuts off the current certificate at once. A token also fixes the
// agent's Placement (availability zone and group): the server stamps it
// into the agent record at enrollment, refuses an enrollment that asks
// for another, and ignores (and logs) a heartbeat that claims another. The
// server's embedded agent enrolls with a one-off token that exists only in
// the server's memory (EmbeddedJoinToken); its name, and ReservedName, are
// not for join tokens, and RecordEmbeddedName/ReservedNames tell the
// commands working on the data directory about it.
//
// What an authenticated agent sends is still input: heartbeat bodies are
// bounded (MaxHeartbeatBytes, 413 beyond) and checked (400 naming the
// field), and an acknowledgement of a config version this server never
// sent the agent counts as none.
package agentapi

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
	"github.com/fulcrumlb/fulcrum/internal/httpapi"
	"github.com/fulcrumlb/fulcrum/internal/ids"
	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/pki"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// ReservedName is the default name of the server's embedded agent. No join
// token may be issued for it or enroll it, whatever the server's
// --embedded-agent-name.
const ReservedName = "embedded"

// Errors of IssueJoinToken, matched with errors.Is.
var (
	// ErrNameInUse: an agent of that name is enrolled and Replace was not asked.
	ErrNameInUse = errors.New("agent name in use")
	// ErrReservedName: the name belongs to the server's embedded agent.
	ErrReservedName = errors.New("agent name reserved")
)

// Watcher hands out node configs (the snapshot cache).
type Watcher interface {
	Watch(ctx context.Context, agentID string, have uint64, wait time.Duration) (*dataplane.Config, bool)
}

// DeltaWatcher is a Watcher that also answers incremental watches
// (snapshot.Cache, snapshot.Shared): an agent asking delta=1 gets what
// changed since its version.
type DeltaWatcher interface {
	WatchDelta(ctx context.Context, agentID string, have uint64, wait time.Duration) (uint64, *dataplane.ConfigDelta, bool)
}

// SentLog shares, between servers, which config version each agent was
// handed last (snapshot.Shared): an agent's heartbeat may reach another
// server than its watch.
type SentLog interface {
	NoteSent(ctx context.Context, agentID string, v uint64) error
	Sent(ctx context.Context, agentID string) (uint64, error)
}

// contractSetter is a Watcher told which data-plane contract each agent
// announces (dataplane.ContractHeader) before it watches (snapshot.Cache,
// snapshot.Shared).
type contractSetter interface {
	SetContract(agentID string, contract int)
}

// HeartbeatSink consumes heartbeats (the health manager).
type HeartbeatSink interface {
	Heartbeat(ctx context.Context, agentID string, hb *dataplane.Heartbeat) error
}

// DeltaSink is a HeartbeatSink that also reads delta heartbeats
// (dataplane.Heartbeat.Base): the server tells agents so, and they send
// only what changed. HeartbeatDelta processes a full heartbeat or a delta;
// resync is true when hb is a delta whose base the sink does not hold (it
// took hb as an acknowledgement only).
type DeltaSink interface {
	HeartbeatDelta(ctx context.Context, agentID string, hb *dataplane.Heartbeat) (resync bool, err error)
}

// Options configure New.
type Options struct {
	Store      store.Store
	CA         *pki.CA
	Watcher    Watcher
	Heartbeats HeartbeatSink
	Logger     *slog.Logger
	Now        func() time.Time
	// Ready is closed when configs may be served (the controller has
	// published every load balancer once); until then watches wait.
	Ready <-chan struct{}
	// HeartbeatInterval is what agents are told (default 1 s).
	HeartbeatInterval time.Duration
	// Holds, if set, names the VRRP groups an agent must keep in FAULT, for the answer to
	// its heartbeat (the health manager's split-brain rule, docs/active-standby.md).
	Holds func(agentID string) []dataplane.Hold
	// MaxWait caps a watch's wait (default 60 s).
	MaxWait time.Duration
	// EmbeddedName is the name of the server's own agent ("" when it runs
	// none). Like ReservedName, only EmbeddedJoinToken may enroll it.
	EmbeddedName string
	// Sent, if set, records the versions handed to agents for every
	// server; without it only this process's count.
	Sent SentLog
}

// Server is the agent API.
type Server struct {
	opts Options
	log  *slog.Logger

	mu       sync.Mutex
	embedded *memoryToken // the embedded agent's one-off token, until used
	// sent is the newest config version handed to each agent (by agent
	// id) in this process's life: an agent cannot acknowledge a version
	// it was never sent.
	sent map[string]uint64
	// noted is the last dubious claim logged for each agent, so that a
	// claim repeated every heartbeat is logged once.
	noted map[string]string
}

// memoryToken is a join token kept in memory only.
type memoryToken struct {
	tok     pki.JoinToken
	name    string
	expires time.Time
	busy    bool // an enrollment with it is in progress
}

// New returns the agent API server.
func New(opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.HeartbeatInterval <= 0 {
		opts.HeartbeatInterval = time.Second
	}
	if opts.MaxWait <= 0 {
		opts.MaxWait = 60 * time.Second
	}
	if opts.Ready == nil {
		ready := make(chan struct{})
		close(ready)
		opts.Ready = ready
	}
	return &Server{opts: opts, log: opts.Logger.With("component", "agentapi"), sent: map[string]uint64{}, noted: map[string]string{}}
}

// TLSConfig returns the server side of mutual TLS: serve cert, ask for (but
// at the TLS layer not require) a client certificate signed by the CA; the
// handlers require one everywhere but enrollment.
func (s *Server) TLSConfig(cert tls.Certificate) *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientCAs:    s.opts.CA.Pool(),
		ClientAuth:   tls.VerifyClientCertIfGiven,
		MinVersion:   tls.VersionTLS12,
	}
}

// Handler returns the HTTP handler.
func (s *Server) Handler() http.Handler {
	rt := &httpapi.Router{
		NotFound: func(w http.ResponseWriter, r *http.Request) {
			fail(w, http.StatusNotFound, "no agent API at %s", r.URL.Path)
		},
		MethodNotAllowed: func(w http.ResponseWriter, r *http.Request, allow string) {
			fail(w, http.StatusMethodNotAllowed, "%s %s: allowed: %s", r.Method, r.URL.Path, allow)
		},
	}
	rt.HandleFunc("POST "+dataplane.PathEnroll, s.enroll)
	rt.HandleFunc("GET "+dataplane.PathConfig, s.authenticated(s.config))
	rt.HandleFunc("POST "+dataplane.PathHeartbeat, s.authenticated(s.heartbeat))
	return s.protocol(rt)
}

// EmbeddedJoinToken returns a join token for the server's embedded agent
// (Options.EmbeddedName), valid for ttl and one enrollment. It is never
// stored: only this process can hand it out, so only the embedded agent can
// become EmbeddedName. A name in use is re-enrolled (the embedded agent
// lost its identity on disk). A new call replaces an unused token.
func (s *Server) EmbeddedJoinToken(ttl time.Duration) (string, error) {
	if s.opts.EmbeddedName == "" {
		return "", errors.New("embedded join token: the server runs no embedded agent")
	}
	tok := s.opts.CA.NewJoinToken()
	s.mu.Lock()
	s.embedded = &memoryToken{tok: tok, name: s.opts.EmbeddedName, expires: s.opts.Now().Add(ttl)}
	s.mu.Unlock()
	return tok.String(), nil
}

// claimEmbedded reports whether tok is the embedded agent's token and, if
// it is, checks it for name and marks it busy; release must follow.
func (s *Server) claimEmbedded(tok pki.JoinToken, name string, now time.Time) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.embedded
	if m == nil || m.tok.ID != tok.ID {
		return false, nil
	}
	switch {
	case !pki.CheckSecret(tok.Secret, m.tok.SecretHash()):
		return false, errForbidden("unknown join token")
	case m.busy:
		return false, errForbidden("join token already used")
	case now.After(m.expires):
		return false, errForbidden("join token expired")
	case name != m.name:
		return false, errForbidden("join token is for agent %q", m.name)
	}
	m.busy = true
	return true, nil
}

// releaseEmbedded ends an enrollment with the embedded token: used, it is
// gone; otherwise it may be tried again.
func (s *Server) releaseEmbedded(used bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if used {
		s.embedded = nil
	} else if s.embedded != nil {
		s.embedded.busy = false
	}
}

func (s *Server) reserved(name string) bool {
	return name == ReservedName || (s.opts.EmbeddedName != "" && name == s.opts.EmbeddedName)
}

func fail(w http.ResponseWriter, code int, format string, args ...any) {
	httpapi.WriteJSON(w, code, dataplane.ErrorResponse{Error: fmt.Sprintf(format, args...)})
}

// protocol refuses agents speaking another protocol version.
func (s *Server) protocol(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := r.Header.Get(dataplane.ProtocolHeader)
		if v != strconv.Itoa(dataplane.ProtocolVersion) {
			fail(w, http.StatusUpgradeRequired, "agent protocol %q not supported; this server speaks %d", v, dataplane.ProtocolVersion)
			return
		}
		w.Header().Set(dataplane.ProtocolHeader, strconv.Itoa(dataplane.ProtocolVersion))
		next.ServeHTTP(w, r)
	})
}

type agentHandler func(w http.ResponseWriter, r *http.Request, agent *lb.Agent)

// authenticated resolves the client certificate to an enrolled, unrevoked
// agent whose current certificate it is; anything else is refused with the
// reason agents act on.
func (s *Server) authenticated(next agentHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
			fail(w, http.StatusUnauthorized, "a client certificate is required")
			return
		}
		cert := r.TLS.PeerCertificates[0]
		name, serial := cert.Subject.CommonName, pki.SerialHex(cert.SerialNumber)
		var agent *lb.Agent
		err := s.opts.Store.View(r.Context(), func(tx store.Tx) error {
			var err error
			agent, err = agentByName(r.Context(), tx, name)
			return err
		})
		if err != nil {
			s.log.Error("look up agent", "agent", name, "err", err)
			fail(w, http.StatusInternalServerError, "internal error")
			return
		}
		refuse := func(reason, format string, args ...any) {
			s.log.Warn("agent refused", "agent", name, "refused", reason, "serial", serial, "remote", r.RemoteAddr)
			httpapi.WriteJSON(w, http.StatusForbidden, dataplane.ErrorResponse{Error: fmt.Sprintf(format, args...), Refused: reason})
		}
		switch {
		case agent == nil:
			refuse(dataplane.RefusedUnknown, "agent %q is not enrolled", name)
		case agent.Revoked:
			refuse(dataplane.RefusedRevoked, "agent %q is revoked", name)
		case agent.CertSerial != serial:
			refuse(dataplane.RefusedSuperseded, "certificate %s of agent %q was superseded: the name was enrolled again or released with --replace", serial, name)
		default:
			next(w, r, agent)
		}
	}
}

// agentByName returns the agent called name, or nil.
func agentByName(ctx context.Context, tx store.Tx, name string) (*lb.Agent, error) {
	list, err := tx.Agents().List(ctx, store.Query{Filters: []store.Filter{store.F("name", name)}})
	if err != nil || len(list) == 0 {
		return nil, err
	}
	return list[0], nil
}

func (s *Server) enroll(w http.ResponseWriter, r *http.Request) {
	var req dataplane.EnrollRequest
	if code, err := decodeBody(w, r, maxEnrollBytes, &req); err != nil {
		fail(w, code, "decode enroll request: %v", err)
		return
	}
	tok, err := pki.ParseJoinToken(req.Token)
	if err != nil {
		fail(w, http.StatusBadRequest, "token: %v", err)
		return
	}
	if err := pki.CheckAgentName(req.Name); err != nil {
		fail(w, http.StatusBadRequest, "name: %v", err)
		return
	}
	if err := checkAddress(req.Address); err != nil {
		fail(w, http.StatusBadRequest, "address: %v", err)
		return
	}
	if tok.CAFingerprint != s.opts.CA.Fingerprint() {
		fail(w, http.StatusForbidden, "join token belongs to another CA")
		return
	}
	now := s.opts.Now().UTC()
	embedded, err := s.claimEmbedded(tok, req.Name, now)
	if err == nil && !embedded {
		// Anyone who reaches the port can send a token: a wrong one costs a
		// read, never the store's single writer.
		err = s.opts.Store.View(r.Context(), func(tx store.Tx) error {
			_, err := checkStoredToken(r.Context(), tx, tok, req.Name, now, false)
			return err
		})
	}
	if err != nil {
		s.answerEnroll(w, req.Name, err)
		return
	}
	var resp dataplane.EnrollResponse
	var reenrolled bool
	var place Placement
	var previous *Placement
	err = s.opts.Store.Update(r.Context(), func(tx store.Tx) error {
		reenrolled, previous = false, nil
		var stored *lb.JoinToken
		if !embedded {
			var err error
			if stored, err = checkStoredToken(r.Context(), tx, tok, req.Name, now, true); err != nil {
				return err
			}
			if s.reserved(req.Name) {
				return errForbidden("agent name %q is reserved for the server's embedded agent", req.Name)
			}
		}
		// The token, not the agent, says where the agent serves.
		place = Placement{}
		if stored != nil {
			place = Placement{AvailabilityZone: stored.AvailabilityZone, Group: stored.Group}
		}
		if err := checkClaim(req.AvailabilityZone, req.Group, place); err != nil {
			return err
		}
		agent, err := agentByName(r.Context(), tx, req.Name)
		if err != nil {
			return err
		}
		if agent != nil {
			// Lock the row, so that two enrollments racing for a released
			// name cannot both take it.
			if agent, err = tx.Agents().Lock(r.Context(), agent.ID); err != nil {
				return err
			}
			released := agent.CertSerial == "" && stored != nil && stored.AgentName == req.Name
			switch {
			case embedded, released:
				reenrolled = true
			case agent.Revoked:
				return errConflict("agent %q is revoked; to enroll the name again, issue a token with: fulcrum agent-token --name %s --replace", req.Name, req.Name)
			default:
				return errConflict("agent name %q is in use; to enroll it again, issue a token with: fulcrum agent-token --name %s --replace", req.Name, req.Name)
			}
		}
		certPEM, serial, err := s.opts.CA.SignAgent([]byte(req.CSR), req.Name, now)
		if err != nil {
			return errBadRequest("csr: %v", err)
		}
		if agent == nil {
			agent = &lb.Agent{ID: ids.New(), Name: req.Name, Status: lb.AgentDown, Times: lb.Times{CreatedAt: now.Truncate(time.Second)}}
		} else {
			agent.Touch(now)
			if was := (Placement{AvailabilityZone: agent.AvailabilityZone, Group: agent.Group}); was != place {
				previous = &was
			}
		}
		agent.CertSerial = serial
		agent.Revoked = false
		if reenrolled && !embedded {
			// A name enrolled again (--replace) starts a new life: down until
			// the server hears the new certificate's first heartbeat, whether
			// or not the dead-agent check has marked the old life down yet.
			agent.Status = lb.AgentDown
		}
		agent.Address = req.Address
		agent.AvailabilityZone = place.AvailabilityZone
		agent.Group = place.Group
		if reenrolled {
			err = tx.Agents().Update(r.Context(), agent)
		} else {
			err = tx.Agents().Create(r.Context(), agent)
		}
		if errors.Is(err, store.ErrConflict) {
			return errConflict("agent name %q is in use: another enrollment took it a moment ago", req.Name)
		}
		if err != nil {
			return err
		}
		if stored != nil {
			stored.UsedAt = &now
			stored.Touch(now)
			if err := tx.JoinTokens().Update(r.Context(), stored); err != nil {
				return err
			}
		}
		resp = dataplane.EnrollResponse{AgentID: agent.ID, CertPEM: string(certPEM), CAPEM: string(s.opts.CA.PEM())}
		return nil
	})
	if embedded {
		s.releaseEmbedded(err == nil)
	}
	if err != nil {
		s.answerEnroll(w, req.Name, err)
		return
	}
	if reenrolled {
		how := "token issued with --replace"
		if embedded {
			how = "the server's embedded agent"
		}
		attrs := []any{"agent", req.Name, "agent_id", resp.AgentID, "by", how, "remote", r.RemoteAddr,
			"availability_zone", place.AvailabilityZone, "group", place.Group}
		if previous != nil {
			attrs = append(attrs, "previous_availability_zone", previous.AvailabilityZone, "previous_group", previous.Group)
		}
		s.log.Warn("agent re-enrolled: any earlier certificate of the name is refused from now on", attrs...)
	} else {
		s.log.Info("agent enrolled", "agent", req.Name, "agent_id", resp.AgentID, "remote", r.RemoteAddr,
			"availability_zone", place.AvailabilityZone, "group", place.Group)
	}
	httpapi.WriteJSON(w, http.StatusOK, resp)
}

// checkStoredToken reads (and with lock, locks) the stored token tok and
// checks that it may enroll name now.
func checkStoredToken(ctx context.Context, tx store.Tx, tok pki.JoinToken, name string, now time.Time, lock bool) (*lb.JoinToken, error) {
	get := tx.JoinTokens().Get
	if lock {
		get = tx.JoinTokens().Lock
	}
	stored, err := get(ctx, tok.ID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errForbidden("unknown join token")
	}
	if err != nil {
		return nil, err
	}
	switch {
	case !pki.CheckSecret(tok.Secret, stored.SecretHash):
		return nil, errForbidden("unknown join token")
	case stored.UsedAt != nil:
		return nil, errForbidden("join token already used")
	case now.After(stored.ExpiresAt):
		return nil, errForbidden("join token expired")
	case stored.AgentName != "" && stored.AgentName != name:
		return nil, errForbidden("join token is for agent %q", stored.AgentName)
	}
	return stored, nil
}

// answerEnroll answers a failed enrollment.
func (s *Server) answerEnroll(w http.ResponseWriter, name string, err error) {
	var he *httpError
	if errors.As(err, &he) {
		s.log.Warn("enrollment refused", "agent", name, "reason", he.msg)
		fail(w, he.code, "%s", he.msg)
		return
	}
	s.log.Error("enroll", "agent", name, "err", err)
	fail(w, http.StatusInternalServerError, "internal error")
}

func (s *Server) config(w http.ResponseWriter, r *http.Request, agent *lb.Agent) {
	q, err := httpapi.Query(r)
	if err != nil {
		fail(w, http.StatusBadRequest, "query: %v", err)
		return
	}
	var have uint64
	if v := q.Get("version"); v != "" {
		if have, err = strconv.ParseUint(v, 10, 64); err != nil || have > math.MaxInt64 {
			fail(w, http.StatusBadRequest, "version: want an unsigned integer of at most %d, got %q", int64(math.MaxInt64), v)
			return
		}
	}
	wait := 30 * time.Second
	if ws := q.Get("wait"); ws != "" {
		if wait, err = time.ParseDuration(ws); err != nil || wait < 0 {
			fail(w, http.StatusBadRequest, "wait: want a duration such as 30s")
			return
		}
	}
	wait = min(wait, s.opts.MaxWait)
	var dw DeltaWatcher
	switch d := q.Get("delta"); d {
	case "", "0":
	case "1":
		dw, _ = s.opts.Watcher.(DeltaWatcher)
	default:
		fail(w, http.StatusBadRequest, "delta: want 0 or 1, got %q", d)
		return
	}
	start := s.opts.Now()
	select {
	case <-s.opts.Ready:
	default:
		timer := time.NewTimer(wait)
		defer timer.Stop()
		select {
		case <-s.opts.Ready:
		case <-r.Context().Done():
			return
		case <-timer.C:
			httpapi.WriteJSON(w, http.StatusOK, dataplane.ConfigResponse{Changed: false, Version: have})
			return
		}
	}
	wait -= s.opts.Now().Sub(start)
	if cs, ok := s.opts.Watcher.(contractSetter); ok {
		contract, err := strconv.Atoi(r.Header.Get(dataplane.ContractHeader))
		if err != nil || contract < 1 {
			contract = 1 // an agent built before contract 2 sends none
		}
		cs.SetContract(agent.ID, contract)
	}
	var resp dataplane.ConfigResponse
	if dw != nil {
		if v, d, changed := dw.WatchDelta(r.Context(), agent.ID, have, max(wait, 0)); changed {
			resp = dataplane.ConfigResponse{Changed: true, Version: v, Delta: d}
		}
	} else if cfg, changed := s.opts.Watcher.Watch(r.Context(), agent.ID, have, max(wait, 0)); changed {
		resp = dataplane.ConfigResponse{Changed: true, Version: cfg.Version, Config: cfg}
	}
	if r.Context().Err() != nil {
		return
	}
	if !resp.Changed {
		httpapi.WriteJSON(w, http.StatusOK, dataplane.ConfigResponse{Changed: false, Version: have})
		return
	}
	// Recorded before the agent can see it, so that its acknowledgement
	// always finds it, on whichever server it lands.
	if err := s.noteSent(r.Context(), agent.ID, resp.Version); err != nil {
		s.log.Error("record the config version sent", "agent", agent.Name, "err", err)
		fail(w, http.StatusInternalServerError, "internal error")
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, resp)
}

func (s *Server) heartbeat(w http.ResponseWriter, r *http.Request, agent *lb.Agent) {
	var hb dataplane.Heartbeat
	if code, err := decodeBody(w, r, MaxHeartbeatBytes, &hb); err != nil {
		fail(w, code, "decode heartbeat: %v", err)
		return
	}
	if hb.Name != agent.Name {
		fail(w, http.StatusBadRequest, "name: heartbeat for %q sent with the certificate of %q", hb.Name, agent.Name)
		return
	}
	if err := checkHeartbeat(&hb); err != nil {
		fail(w, http.StatusBadRequest, "heartbeat: %v", err)
		return
	}
	if err := s.settleClaims(r.Context(), agent, &hb); err != nil {
		s.log.Error("heartbeat", "agent", agent.Name, "err", err)
		fail(w, http.StatusInternalServerError, "internal error")
		return
	}
	deltas, reads := s.opts.Heartbeats.(DeltaSink)
	var resync bool
	var err error
	switch {
	case reads && !hb.Ack:
		resync, err = deltas.HeartbeatDelta(r.Context(), agent.ID, &hb)
	case hb.Base != 0 && !hb.Ack:
		// A delta this server never asked for: not the whole report, so
		// only an acknowledgement; the agent sends a full one at once.
		hb.Ack, resync = true, true
		fallthrough
	default:
		err = s.opts.Heartbeats.Heartbeat(r.Context(), agent.ID, &hb)
	}
	if err != nil {
		s.log.Error("heartbeat", "agent", agent.Name, "err", err)
		fail(w, http.StatusInternalServerError, "internal error")
		return
	}
	resp := dataplane.HeartbeatResponse{Interval: s.opts.HeartbeatInterval.String(), Acks: true, Deltas: reads, Resync: resync}
	if s.opts.Holds != nil {
		resp.Hold = s.opts.Holds(agent.ID)
	}
	httpapi.WriteJSON(w, http.StatusOK, resp)
}

type httpError struct {
	code int
	msg  string
}

func (e *httpError) Error() string { return e.msg }

func errForbidden(format string, args ...any) error {
	return &httpError{code: http.StatusForbidden, msg: fmt.Sprintf(format, args...)}
}

func errConflict(format string, args ...any) error {
	return &httpError{code: http.StatusConflict, msg: fmt.Sprintf(format, args...)}
}

func errBadRequest(format string, args ...any) error {
	return &httpError{code: http.StatusBadRequest, msg: fmt.Sprintf(format, args...)}
}
