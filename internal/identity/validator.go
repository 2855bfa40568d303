package identity

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/fulcrumlb/fulcrum/internal/identity/keystone"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// Principal is the identity a valid token proves.
type Principal struct {
	UserID    string
	ProjectID string // "" unless project-scoped
	DomainID  string // "" unless domain-scoped
	// Roles are the token's roles with implied roles added (admin ⇒ member
	// ⇒ reader).
	Roles []string
	Token *Token
}

// HasRole reports whether the principal holds role (directly or implied).
func (p *Principal) HasRole(role string) bool { return slices.Contains(p.Roles, role) }

// isAuthFailure reports whether err means "this token proves nothing"
// (answered 401), as opposed to a failure of the server.
func isAuthFailure(err error) bool {
	return errors.Is(err, ErrTokenMalformed) || errors.Is(err, ErrTokenExpired) || errors.Is(err, ErrTokenRevoked)
}

// IsAuthFailure is isAuthFailure for middlewares of other services: true
// means answer 401, false means the validation itself failed (500).
func IsAuthFailure(err error) bool { return isAuthFailure(err) }

// Validate checks a token string: authenticity, expiry and revocation. It
// returns ErrTokenMalformed, ErrTokenExpired or ErrTokenRevoked (all
// answered 401) or a store error.
func (s *Service) Validate(ctx context.Context, token string) (*Principal, error) {
	t, err := s.opts.Keys.Open(token, s.now())
	if err != nil {
		return nil, err
	}
	err = s.view(ctx, func(tx store.Tx) error { return s.checkRevoked(ctx, tx, t) })
	if err != nil {
		return nil, err
	}
	return &Principal{UserID: t.UserID, ProjectID: t.ProjectID, DomainID: t.DomainID,
		Roles: keystone.ExpandRoles(t.Roles), Token: t}, nil
}

// checkRevoked returns ErrTokenRevoked when a revocation event matches t.
// Events are looked up by the token's user and by its project (indexed).
func (s *Service) checkRevoked(ctx context.Context, tx store.Tx, t *Token) error {
	filters := []store.Filter{store.F("user_id", t.UserID)}
	if t.ProjectID != "" {
		filters = append(filters, store.F("project_id", t.ProjectID))
	}
	issued := t.Issued()
	for _, f := range filters {
		evs, err := tx.Revocations().List(ctx, store.Query{Filters: []store.Filter{f}})
		if err != nil {
			return fmt.Errorf("check token revocation: %w", err)
		}
		for _, ev := range evs {
			if ev.Matches(t.UserID, t.ProjectID, issued) {
				return ErrTokenRevoked
			}
		}
	}
	return nil
}

// revoke records that tokens of user and/or project issued up to now are
// invalid, and drops events that can no longer match a live token.
func (s *Service) revoke(ctx context.Context, tx store.Tx, userID, projectID string) error {
	now := s.now()
	ev := &keystone.Revocation{ID: newID(), UserID: userID, ProjectID: projectID, RevokedAt: now, ExpiresAt: now.Add(s.opts.TokenTTL)}
	if err := tx.Revocations().Create(ctx, ev); err != nil {
		return fmt.Errorf("revoke tokens: %w", err)
	}
	// Events are written only by admin calls (disable a user, delete a
	// project, remove a role), so the table is small and a full scan here
	// keeps it from growing without bound.
	all, err := tx.Revocations().List(ctx, store.Query{})
	if err != nil {
		return fmt.Errorf("revoke tokens: %w", err)
	}
	for _, old := range all {
		if old.ExpiresAt.Before(now) {
			if err := tx.Revocations().Delete(ctx, old.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("drop expired revocation: %w", err)
			}
		}
	}
	return nil
}
