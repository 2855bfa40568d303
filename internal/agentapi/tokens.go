package agentapi

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/fulcrumlb/fulcrum/internal/atomicfile"
	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/pki"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// Placement is where the scheduler may put an agent's load balancers: its
// availability zone (matched against an availability zone profile's
// agent_zone) and its agent group (a flavor profile's agent_group). ""
// is the default zone or group. A join token fixes both; the agent cannot
// choose them.
type Placement struct {
	AvailabilityZone string
	Group            string
}

func (p Placement) String() string {
	return fmt.Sprintf("availability zone %q, group %q", p.AvailabilityZone, p.Group)
}

// MaxPlacementLabel is the longest availability zone or agent group, in
// bytes (Octavia's availability zone names are at most 255 characters).
const MaxPlacementLabel = 255

// CheckPlacementLabel reports whether s may be an agent's availability
// zone or group: at most MaxPlacementLabel bytes of UTF-8 without control
// characters ("" is the default).
func CheckPlacementLabel(s string) error {
	if len(s) > MaxPlacementLabel || !utf8.ValidString(s) || strings.IndexFunc(s, unicode.IsControl) >= 0 {
		return fmt.Errorf("%q: want at most %d bytes of UTF-8 without control characters", s, MaxPlacementLabel)
	}
	return nil
}

// TokenRequest is what IssueJoinToken issues.
type TokenRequest struct {
	// Name binds the token to one agent name; "" lets it create any new,
	// unused name.
	Name string
	// TTL is how long the token may be used; more than zero.
	TTL time.Duration
	// Replace lets the token enroll Name although an agent holds it. The
	// name is released at once: its current certificate is refused from
	// now on, and the server treats the agent as down (its load balancers
	// move to other agents). Needs Name.
	Replace bool
	// AvailabilityZone and Group, when not nil, are the placement the
	// enrolled agent gets. nil keeps the placement of the agent Name holds
	// (Replace), or is the default "" for a new agent.
	AvailabilityZone, Group *string
	// Reserved are more names no token may take (the embedded agent's name
	// the server recorded, see ReservedNames); ReservedName always is.
	Reserved []string
}

// Issued is what IssueJoinToken returns.
type Issued struct {
	Token pki.JoinToken
	// Placement is what the token gives the agent it enrolls.
	Placement Placement
	// Previous is the placement of the agent Name held before (nil when
	// the name had no agent).
	Previous *Placement
	// Released is the serial of the certificate Replace cut off ("" when
	// the name had none).
	Released string
	// Revoked tells that Replace lifted a revocation of the name.
	Revoked bool
	// Withdrawn counts the unused tokens for the name that Replace withdrew.
	Withdrawn int
}

// IssueJoinToken stores a new join token as req asks and returns it. A
// name in use needs Replace (ErrNameInUse otherwise); the embedded agent's
// names (ReservedName, req.Reserved) are refused (ErrReservedName).
func IssueJoinToken(ctx context.Context, st store.Store, ca *pki.CA, req TokenRequest, now time.Time) (Issued, error) {
	switch {
	case req.TTL <= 0:
		return Issued{}, fmt.Errorf("issue join token: the lifetime must be more than zero, got %s", req.TTL)
	case req.Replace && req.Name == "":
		return Issued{}, errors.New("issue join token: --replace needs the --name of the agent to replace")
	case req.Name != "" && isReserved(req.Name, req.Reserved):
		return Issued{}, fmt.Errorf("issue join token: %w: %q is the server's embedded agent, which enrolls by itself", ErrReservedName, req.Name)
	}
	if req.Name != "" {
		if err := pki.CheckAgentName(req.Name); err != nil {
			return Issued{}, fmt.Errorf("issue join token: %w", err)
		}
	}
	for what, v := range map[string]*string{"availability zone": req.AvailabilityZone, "group": req.Group} {
		if v != nil {
			if err := CheckPlacementLabel(*v); err != nil {
				return Issued{}, fmt.Errorf("issue join token: %s %w", what, err)
			}
		}
	}
	tok := ca.NewJoinToken()
	now = now.UTC()
	var out Issued
	err := st.Update(ctx, func(tx store.Tx) error {
		out = Issued{Token: tok} // the transaction may run more than once
		if req.Name != "" {
			agent, err := agentByName(ctx, tx, req.Name)
			if err != nil {
				return err
			}
			if agent != nil {
				out.Previous = &Placement{AvailabilityZone: agent.AvailabilityZone, Group: agent.Group}
				out.Placement = *out.Previous
			}
			if agent != nil && (agent.CertSerial != "" || agent.Revoked) {
				if !req.Replace {
					return fmt.Errorf("%w: agent %q is enrolled; to enroll it again (its current certificate is refused from then on) add --replace", ErrNameInUse, req.Name)
				}
				if agent, err = tx.Agents().Lock(ctx, agent.ID); err != nil {
					return err
				}
				out.Released, out.Revoked = agent.CertSerial, agent.Revoked
				agent.CertSerial, agent.Revoked = "", false
				agent.Touch(now)
				if err := tx.Agents().Update(ctx, agent); err != nil {
					return err
				}
			}
			if req.Replace {
				// Only the token issued now may take the name: unused
				// tokens issued earlier for it (perhaps with another
				// placement) are withdrawn.
				earlier, err := tx.JoinTokens().List(ctx, store.Query{Filters: []store.Filter{store.F("agent_name", req.Name)}})
				if err != nil {
					return err
				}
				for _, t := range earlier {
					if t.UsedAt == nil {
						if err := tx.JoinTokens().Delete(ctx, t.ID); err != nil {
							return err
						}
						out.Withdrawn++
					}
				}
			}
		}
		if req.AvailabilityZone != nil {
			out.Placement.AvailabilityZone = *req.AvailabilityZone
		}
		if req.Group != nil {
			out.Placement.Group = *req.Group
		}
		return tx.JoinTokens().Create(ctx, &lb.JoinToken{ID: tok.ID, SecretHash: tok.SecretHash(), AgentName: req.Name,
			AvailabilityZone: out.Placement.AvailabilityZone, Group: out.Placement.Group,
			ExpiresAt: now.Add(req.TTL), Times: lb.Times{CreatedAt: now.Truncate(time.Second)}})
	})
	if err != nil {
		return Issued{}, fmt.Errorf("issue join token: %w", err)
	}
	return out, nil
}

// Revoke marks agent name revoked: its certificate is refused from now on,
// the agent, told so at its next contact, stops serving, and the server
// treats it as down at once (its load balancers move to other agents).
// Only `agent-token --name NAME --replace` brings the name back. The
// embedded agent's names (ReservedName, reserved) are refused
// (ErrReservedName).
func Revoke(ctx context.Context, st store.Store, name string, now time.Time, reserved ...string) error {
	if isReserved(name, reserved) {
		return fmt.Errorf("revoke agent %q: %w: it is the server's embedded agent; run the server with --embedded-agent=false instead", name, ErrReservedName)
	}
	return st.Update(ctx, func(tx store.Tx) error {
		a, err := agentByName(ctx, tx, name)
		if err != nil {
			return err
		}
		if a == nil {
			return fmt.Errorf("revoke agent %q: %w", name, store.ErrNotFound)
		}
		a.Revoked = true
		a.Touch(now)
		return tx.Agents().Update(ctx, a)
	})
}

func isReserved(name string, more []string) bool {
	if name == ReservedName {
		return true
	}
	for _, r := range more {
		if name == r {
			return true
		}
	}
	return false
}

// embeddedNameFile is where the server records, in its data directory,
// the name of its embedded agent, so that the commands working on the data
// directory (agent-token, agent-revoke) know it.
const embeddedNameFile = "embedded-agent-name"

// RecordEmbeddedName records in the server's data directory the name of
// its embedded agent; "" (no embedded agent) removes the record.
func RecordEmbeddedName(dataDir, name string) error {
	path := filepath.Join(dataDir, embeddedNameFile)
	if name == "" {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("record embedded agent name: %w", err)
		}
		return nil
	}
	if err := pki.CheckAgentName(name); err != nil {
		return fmt.Errorf("record embedded agent name: %w", err)
	}
	if err := atomicfile.Write(path, []byte(name+"\n"), 0o600); err != nil {
		return fmt.Errorf("record embedded agent name: %w", err)
	}
	return nil
}

// ReservedNames returns the names the server's embedded agent goes by, as
// recorded in its data directory: ReservedName, and the name the server
// last ran its embedded agent under when that is another one. An
// unreadable or malformed record is an error: the caller cannot know
// which name to protect.
func ReservedNames(dataDir string) ([]string, error) {
	out := []string{ReservedName}
	data, err := os.ReadFile(filepath.Join(dataDir, embeddedNameFile))
	if errors.Is(err, os.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the embedded agent's name: %w", err)
	}
	name := strings.TrimSpace(string(data))
	if err := pki.CheckAgentName(name); err != nil {
		return nil, fmt.Errorf("read the embedded agent's name from %s: %w", filepath.Join(dataDir, embeddedNameFile), err)
	}
	if name != ReservedName {
		out = append(out, name)
	}
	return out, nil
}
