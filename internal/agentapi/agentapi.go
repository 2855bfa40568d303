// Package agentapi serves the controller⇄agent protocol (dataplane
// ProtocolVersion) over HTTPS with mutual TLS: enrollment with a join
// token, the blocking config watch and heartbeats. Agents authenticate with
// the certificate the internal CA signed at enrollment; a revoked agent is
// refused.
package agentapi

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/ids"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/pki"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// Watcher hands out node configs (the snapshot cache).
type Watcher interface {
	Watch(ctx context.Context, agentID string, have uint64, wait time.Duration) (*dataplane.Config, bool)
}

// HeartbeatSink consumes heartbeats (the health manager).
type HeartbeatSink interface {
	Heartbeat(ctx context.Context, agentID string, hb *dataplane.Heartbeat) error
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
	// MaxWait caps a watch's wait (default 60 s).
	MaxWait time.Duration
}

// Server is the agent API.
type Server struct {
	opts Options
	log  *slog.Logger
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
	return &Server{opts: opts, log: opts.Logger.With("component", "agentapi")}
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
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+dataplane.PathEnroll, s.enroll)
	mux.HandleFunc("GET "+dataplane.PathConfig, s.authenticated(s.config))
	mux.HandleFunc("POST "+dataplane.PathHeartbeat, s.authenticated(s.heartbeat))
	return s.protocol(mux)
}

type apiError struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func fail(w http.ResponseWriter, code int, format string, args ...any) {
	writeJSON(w, code, apiError{Error: fmt.Sprintf(format, args...)})
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

// authenticated resolves the client certificate to an enrolled, unrevoked agent.
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
			list, err := tx.Agents().List(r.Context(), store.Query{Filters: []store.Filter{store.F("name", name)}})
			if err != nil {
				return err
			}
			if len(list) == 1 {
				agent = list[0]
			}
			return nil
		})
		if err != nil {
			s.log.Error("look up agent", "agent", name, "err", err)
			fail(w, http.StatusInternalServerError, "internal error")
			return
		}
		switch {
		case agent == nil:
			fail(w, http.StatusForbidden, "agent %q is not enrolled", name)
		case agent.Revoked:
			fail(w, http.StatusForbidden, "agent %q is revoked", name)
		case agent.CertSerial != serial:
			fail(w, http.StatusForbidden, "certificate %s of agent %q was superseded by a newer enrollment", serial, name)
		default:
			next(w, r, agent)
		}
	}
}

func (s *Server) enroll(w http.ResponseWriter, r *http.Request) {
	var req dataplane.EnrollRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&req); err != nil {
		fail(w, http.StatusBadRequest, "decode enroll request: %v", err)
		return
	}
	tok, err := pki.ParseJoinToken(req.Token)
	if err != nil {
		fail(w, http.StatusBadRequest, "%v", err)
		return
	}
	if req.Name == "" || len(req.Name) > 64 || strings.ContainsAny(req.Name, " /\\\n\t") {
		fail(w, http.StatusBadRequest, "agent name must be 1-64 characters without spaces or slashes")
		return
	}
	if tok.CAFingerprint != s.opts.CA.Fingerprint() {
		fail(w, http.StatusForbidden, "join token belongs to another CA")
		return
	}
	now := s.opts.Now().UTC()
	var resp dataplane.EnrollResponse
	err = s.opts.Store.Update(r.Context(), func(tx store.Tx) error {
		stored, err := tx.JoinTokens().Lock(r.Context(), tok.ID)
		if errors.Is(err, store.ErrNotFound) {
			return errForbidden("unknown join token")
		}
		if err != nil {
			return err
		}
		switch {
		case !pki.CheckSecret(tok.Secret, stored.SecretHash):
			return errForbidden("unknown join token")
		case stored.UsedAt != nil:
			return errForbidden("join token already used")
		case now.After(stored.ExpiresAt):
			return errForbidden("join token expired")
		case stored.AgentName != "" && stored.AgentName != req.Name:
			return errForbidden("join token is for agent %q", stored.AgentName)
		}
		certPEM, serial, err := s.opts.CA.SignAgent([]byte(req.CSR), req.Name, now)
		if err != nil {
			return errBadRequest("%v", err)
		}
		list, err := tx.Agents().List(r.Context(), store.Query{Filters: []store.Filter{store.F("name", req.Name)}})
		if err != nil {
			return err
		}
		var agent *lb.Agent
		if len(list) == 1 {
			agent = list[0]
			if agent.Revoked {
				return errForbidden("agent %q is revoked", req.Name)
			}
			agent.Touch(now)
		} else {
			agent = &lb.Agent{ID: ids.New(), Name: req.Name, Status: lb.AgentDown, Times: lb.Times{CreatedAt: now.Truncate(time.Second)}}
		}
		agent.CertSerial = serial
		agent.Address = req.Address
		agent.AvailabilityZone = req.AvailabilityZone
		agent.Group = req.Group
		if len(list) == 1 {
			err = tx.Agents().Update(r.Context(), agent)
		} else {
			err = tx.Agents().Create(r.Context(), agent)
		}
		if err != nil {
			return err
		}
		stored.UsedAt = &now
		stored.Touch(now)
		if err := tx.JoinTokens().Update(r.Context(), stored); err != nil {
			return err
		}
		resp = dataplane.EnrollResponse{AgentID: agent.ID, CertPEM: string(certPEM), CAPEM: string(s.opts.CA.PEM())}
		return nil
	})
	var he *httpError
	if errors.As(err, &he) {
		fail(w, he.code, "%s", he.msg)
		return
	}
	if err != nil {
		s.log.Error("enroll", "agent", req.Name, "err", err)
		fail(w, http.StatusInternalServerError, "internal error")
		return
	}
	s.log.Info("agent enrolled", "agent", req.Name, "agent_id", resp.AgentID)
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) config(w http.ResponseWriter, r *http.Request, agent *lb.Agent) {
	have, err := strconv.ParseUint(r.URL.Query().Get("version"), 10, 64)
	if err != nil && r.URL.Query().Get("version") != "" {
		fail(w, http.StatusBadRequest, "version: %v", err)
		return
	}
	wait := 30 * time.Second
	if ws := r.URL.Query().Get("wait"); ws != "" {
		if wait, err = time.ParseDuration(ws); err != nil || wait < 0 {
			fail(w, http.StatusBadRequest, "wait: want a duration such as 30s")
			return
		}
	}
	wait = min(wait, s.opts.MaxWait)
	start := s.opts.Now()
	select {
	case <-s.opts.Ready:
	case <-r.Context().Done():
		return
	case <-time.After(wait):
		writeJSON(w, http.StatusOK, dataplane.ConfigResponse{Changed: false, Version: have})
		return
	}
	wait -= s.opts.Now().Sub(start)
	cfg, changed := s.opts.Watcher.Watch(r.Context(), agent.ID, have, max(wait, 0))
	if r.Context().Err() != nil {
		return
	}
	if !changed {
		writeJSON(w, http.StatusOK, dataplane.ConfigResponse{Changed: false, Version: have})
		return
	}
	writeJSON(w, http.StatusOK, dataplane.ConfigResponse{Changed: true, Version: cfg.Version, Config: cfg})
}

func (s *Server) heartbeat(w http.ResponseWriter, r *http.Request, agent *lb.Agent) {
	var hb dataplane.Heartbeat
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<20)).Decode(&hb); err != nil {
		fail(w, http.StatusBadRequest, "decode heartbeat: %v", err)
		return
	}
	if hb.Name != agent.Name {
		fail(w, http.StatusForbidden, "heartbeat for %q sent with the certificate of %q", hb.Name, agent.Name)
		return
	}
	if err := s.opts.Heartbeats.Heartbeat(r.Context(), agent.ID, &hb); err != nil {
		s.log.Error("heartbeat", "agent", agent.Name, "err", err)
		fail(w, http.StatusInternalServerError, "internal error")
		return
	}
	writeJSON(w, http.StatusOK, dataplane.HeartbeatResponse{Interval: s.opts.HeartbeatInterval.String()})
}

// IssueJoinToken stores a new join token valid for ttl (for agent name, or
// any name when name is "") and returns it.
func IssueJoinToken(ctx context.Context, st store.Store, ca *pki.CA, name string, ttl time.Duration, now time.Time) (pki.JoinToken, error) {
	tok := ca.NewJoinToken()
	now = now.UTC()
	err := st.Update(ctx, func(tx store.Tx) error {
		return tx.JoinTokens().Create(ctx, &lb.JoinToken{ID: tok.ID, SecretHash: tok.SecretHash(), AgentName: name,
			ExpiresAt: now.Add(ttl), Times: lb.Times{CreatedAt: now.Truncate(time.Second)}})
	})
	if err != nil {
		return pki.JoinToken{}, fmt.Errorf("issue join token: %w", err)
	}
	return tok, nil
}

// Revoke marks agent name revoked: its certificate is refused from now on.
func Revoke(ctx context.Context, st store.Store, name string, now time.Time) error {
	return st.Update(ctx, func(tx store.Tx) error {
		list, err := tx.Agents().List(ctx, store.Query{Filters: []store.Filter{store.F("name", name)}})
		if err != nil {
			return err
		}
		if len(list) != 1 {
			return fmt.Errorf("revoke agent %q: %w", name, store.ErrNotFound)
		}
		a := list[0]
		a.Revoked = true
		a.Touch(now)
		return tx.Agents().Update(ctx, a)
	})
}

type httpError struct {
	code int
	msg  string
}

func (e *httpError) Error() string { return e.msg }

func errForbidden(format string, args ...any) error {
	return &httpError{code: http.StatusForbidden, msg: fmt.Sprintf(format, args...)}
}

func errBadRequest(format string, args ...any) error {
	return &httpError{code: http.StatusBadRequest, msg: fmt.Sprintf(format, args...)}
}
