package agentapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"regexp"
	"unicode/utf8"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
	"github.com/fulcrumlb/fulcrum/internal/lb"
)

// Limits on what an agent may send. An agent holds a valid certificate,
// but it is still only trusted with its own load balancers: what it sends
// is checked like any other input.
const (
	// MaxHeartbeatBytes is the largest heartbeat body the server reads
	// (413 beyond). A heartbeat carries a few hundred bytes per listener
	// and member: this is room for about a hundred thousand of them.
	MaxHeartbeatBytes = 16 << 20
	maxEnrollBytes    = 64 << 10
	// maxID bounds the ids an agent reports (the server's are UUIDs).
	maxID = 255
	// maxReason is how much of a refusal's reason is kept; the rest is cut.
	maxReason = 4 << 10
)

// decodeBody decodes one JSON object of at most limit bytes from r's body
// into v. It returns the status to answer with on failure: 413 for a body
// over the limit, 400 for anything else (malformed JSON, trailing data).
func decodeBody(w http.ResponseWriter, r *http.Request, limit int64, v any) (int, error) {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit))
	err := dec.Decode(v)
	if err == nil {
		if dec.Decode(&json.RawMessage{}) != io.EOF {
			err = errors.New("trailing data after the JSON object")
		}
	}
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return http.StatusRequestEntityTooLarge, fmt.Errorf("body larger than %d bytes", limit)
	case err != nil:
		return http.StatusBadRequest, err
	}
	return 0, nil
}

var hostRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$`)

// checkAddress accepts "" or what an agent may give as its address: an IP
// address or a host name (at most 253 bytes).
func checkAddress(a string) error {
	if a == "" {
		return nil
	}
	if _, err := netip.ParseAddr(a); err == nil {
		return nil
	}
	if len(a) <= 253 && hostRE.MatchString(a) {
		return nil
	}
	return fmt.Errorf("%q: want an IP address or a host name", truncate(a, 64))
}

// checkClaim checks the placement an enrolling agent asks for against the
// one its token gives: it may ask for nothing ("") or for exactly that.
func checkClaim(zone, group string, place Placement) error {
	switch {
	case zone != "" && zone != place.AvailabilityZone:
		return errForbidden("join token is for availability zone %q, not %q: start the agent without --availability-zone, or issue a token with --availability-zone", place.AvailabilityZone, truncate(zone, MaxPlacementLabel))
	case group != "" && group != place.Group:
		return errForbidden("join token is for agent group %q, not %q: start the agent without --group, or issue a token with --group", place.Group, truncate(group, MaxPlacementLabel))
	}
	return nil
}

// checkHeartbeat checks what the server reads from a heartbeat, naming the
// field and the rule of the first violation, and cuts refusal reasons to
// maxReason bytes.
func checkHeartbeat(hb *dataplane.Heartbeat) error {
	if err := checkAddress(hb.Address); err != nil {
		return fmt.Errorf("address: %w", err)
	}
	if err := CheckPlacementLabel(hb.AvailabilityZone); err != nil {
		return fmt.Errorf("availability_zone: %w", err)
	}
	if err := CheckPlacementLabel(hb.Group); err != nil {
		return fmt.Errorf("group: %w", err)
	}
	for i := range hb.Refused {
		r := &hb.Refused[i]
		if err := checkID(r.LoadBalancerID); err != nil {
			return fmt.Errorf("refused[%d].loadbalancer_id: %w", i, err)
		}
		r.Reason = truncate(r.Reason, maxReason)
	}
	for i, l := range hb.Stats.Listeners {
		if err := checkID(l.ListenerID); err != nil {
			return fmt.Errorf("stats.listeners[%d].listener_id: %w", i, err)
		}
		if err := checkID(l.LoadBalancerID); err != nil {
			return fmt.Errorf("stats.listeners[%d].loadbalancer_id: %w", i, err)
		}
		for _, c := range []struct {
			name string
			v    int64
		}{{"active_connections", l.ActiveConnections}, {"total_connections", l.TotalConnections},
			{"bytes_in", l.BytesIn}, {"bytes_out", l.BytesOut}, {"request_errors", l.RequestErrors}} {
			if c.v < 0 {
				return fmt.Errorf("stats.listeners[%d].%s: %d: a counter cannot be negative", i, c.name, c.v)
			}
		}
	}
	for i, m := range hb.Stats.Members {
		if err := checkID(m.MemberID); err != nil {
			return fmt.Errorf("stats.members[%d].member_id: %w", i, err)
		}
		if err := checkID(m.PoolID); err != nil {
			return fmt.Errorf("stats.members[%d].pool_id: %w", i, err)
		}
		for _, c := range []struct {
			name string
			v    int64
		}{{"active_connections", m.ActiveConnections}, {"total_connections", m.TotalConnections}, {"connect_errors", m.ConnectErrors}} {
			if c.v < 0 {
				return fmt.Errorf("stats.members[%d].%s: %d: a counter cannot be negative", i, c.name, c.v)
			}
		}
	}
	if g := hb.Gone; g != nil {
		for _, l := range []struct {
			name string
			ids  []string
		}{{"listeners", g.Listeners}, {"member_stats", g.MemberStats}, {"member_healths", g.MemberHealths}} {
			for i, id := range l.ids {
				if err := checkID(id); err != nil {
					return fmt.Errorf("gone.%s[%d]: %w", l.name, i, err)
				}
			}
		}
	}
	for i, m := range hb.Health.Members {
		if err := checkID(m.MemberID); err != nil {
			return fmt.Errorf("health.members[%d].member_id: %w", i, err)
		}
		switch m.Status {
		case dataplane.StatusUp, dataplane.StatusDown, dataplane.StatusDrain, dataplane.StatusMaint, dataplane.StatusNoCheck:
		default:
			return fmt.Errorf("health.members[%d].status: %q: want UP, DOWN, DRAIN, MAINT or NO_CHECK", i, truncate(string(m.Status), 64))
		}
	}
	return nil
}

func checkID(id string) error {
	if id == "" || len(id) > maxID {
		return fmt.Errorf("want 1-%d bytes, got %d", maxID, len(id))
	}
	return nil
}

// truncate cuts s to at most n bytes on a UTF-8 boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// settleClaims makes hb say what the server holds, not what the agent
// claims: the placement is the one its join token gave (a different one is
// ignored, and logged once), and an acknowledgement of a config version
// no server ever sent it counts as none.
func (s *Server) settleClaims(ctx context.Context, agent *lb.Agent, hb *dataplane.Heartbeat) error {
	if (hb.AvailabilityZone != "" && hb.AvailabilityZone != agent.AvailabilityZone) || (hb.Group != "" && hb.Group != agent.Group) {
		if s.noteOnce(agent.ID, "placement", hb.AvailabilityZone+"\x00"+hb.Group) {
			s.log.Warn("agent claims another placement than its join token gave it: ignored; to move it, issue a token with agent-token --name NAME --replace --availability-zone Z --group G",
				"agent", agent.Name, "claimed_availability_zone", hb.AvailabilityZone, "claimed_group", hb.Group,
				"availability_zone", agent.AvailabilityZone, "group", agent.Group)
		}
	}
	hb.AvailabilityZone, hb.Group = agent.AvailabilityZone, agent.Group

	s.mu.Lock()
	sent := s.sent[agent.ID]
	s.mu.Unlock()
	if hb.AppliedVersion <= sent {
		return nil
	}
	if s.opts.Sent != nil {
		// Another server may have sent it (the agent moved to this one).
		shared, err := s.opts.Sent.Sent(ctx, agent.ID)
		if err != nil {
			return err
		}
		s.mu.Lock()
		s.sent[agent.ID] = max(s.sent[agent.ID], shared)
		sent = s.sent[agent.ID]
		s.mu.Unlock()
		if hb.AppliedVersion <= sent {
			return nil
		}
	}
	// After a server restart an agent reports what an earlier process sent
	// until its first watch: that is expected, and says nothing now.
	if sent > 0 && s.noteOnce(agent.ID, "version", fmt.Sprint(hb.AppliedVersion)) {
		s.log.Warn("agent acknowledges a config version it was never sent: acknowledgement ignored",
			"agent", agent.Name, "applied_version", hb.AppliedVersion, "sent_version", sent)
	}
	hb.AppliedVersion = 0
	kept := hb.Refused[:0]
	for _, r := range hb.Refused {
		if r.Version <= sent {
			kept = append(kept, r)
		}
	}
	hb.Refused = kept
	return nil
}

// noteOnce reports whether claim (of kind what) by agent agentID differs
// from the last one noted, and notes it.
func (s *Server) noteOnce(agentID, what, claim string) bool {
	key := agentID + "\x00" + what
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.noted[key] == claim {
		return false
	}
	s.noted[key] = claim
	return true
}

// noteSent records that version v of its config was handed to agent
// agentID.
func (s *Server) noteSent(ctx context.Context, agentID string, v uint64) error {
	s.mu.Lock()
	seen := v <= s.sent[agentID]
	if !seen {
		s.sent[agentID] = v
	}
	s.mu.Unlock()
	if seen || s.opts.Sent == nil {
		return nil
	}
	return s.opts.Sent.NoteSent(ctx, agentID, v)
}
