// Package keystone is the domain model of fulcrum's Keystone v3 subset:
// domains, projects, users, roles, role assignments and token revocation
// events, with Keystone's implied-role rules.
//
// It imports only the standard library. The HTTP service, token format and
// password hashing live in internal/identity; rows live in the store.
package keystone

import (
	"slices"
	"time"
)

// DefaultDomainID is the id of the domain bootstrap creates (Keystone's
// "default").
const DefaultDomainID = "default"

// Role names fulcrum knows about.
const (
	RoleAdmin            = "admin"
	RoleMember           = "member"
	RoleReader           = "reader"
	RoleService          = "service"
	RoleLBObserver       = "load-balancer_observer"
	RoleLBGlobalObserver = "load-balancer_global_observer"
	RoleLBMember         = "load-balancer_member"
	RoleLBQuotaAdmin     = "load-balancer_quota_admin"
	RoleLBAdmin          = "load-balancer_admin"
)

// implicationChainMaxDepth bounds the walk of implied roles.
const implicationChainMaxDepth = 8

// BootstrapRoles are the roles created on first start.
var BootstrapRoles = []string{
	RoleAdmin, RoleMember, RoleReader,
	RoleLBObserver, RoleLBGlobalObserver, RoleLBMember, RoleLBQuotaAdmin, RoleLBAdmin,
}

// implied is Keystone's default role implication: admin ⇒ member ⇒ reader.
var implied = map[string]string{RoleAdmin: RoleMember, RoleMember: RoleReader}

// ExpandRoles returns names plus every role they imply (admin ⇒ member ⇒
// reader), without duplicates, in a stable order: the given names first.
func ExpandRoles(names []string) []string {
	out := make([]string, 0, len(names)+2)
	for _, n := range names {
		for depth := 0; n != "" && depth < implicationChainMaxDepth; depth++ {
			if !slices.Contains(out, n) {
				out = append(out, n)
			}
			n = implied[n]
		}
	}
	return out
}

// Domain is a container of projects and users.
type Domain struct {
	ID          string
	Name        string
	Description string
	Enabled     bool
	CreatedAt   time.Time
}

// Project owns resources; tokens are scoped to one.
type Project struct {
	ID          string
	DomainID    string
	Name        string // unique within the domain
	Description string
	Enabled     bool
	ParentID    string // "" = the domain itself
	Tags        []string
	CreatedAt   time.Time
}

// User is a person or service account that authenticates with a password.
type User struct {
	ID               string
	DomainID         string
	Name             string // unique within the domain
	Description      string
	Email            string
	Enabled          bool
	DefaultProjectID string
	// PasswordHash is a PHC-format slow hash ("$argon2id$..."); "" means the
	// user cannot authenticate with a password.
	PasswordHash      string
	PasswordChangedAt *time.Time
	CreatedAt         time.Time
}

// Role is a named set of permissions, granted to a user on a project or a
// domain. Role names are global.
type Role struct {
	ID          string
	Name        string
	Description string
	CreatedAt   time.Time
}

// Assignment grants RoleID to UserID on exactly one of ProjectID or
// DomainID.
type Assignment struct {
	ID        string
	RoleID    string
	UserID    string
	ProjectID string // "" for a domain assignment
	DomainID  string // "" for a project assignment
	CreatedAt time.Time
}

// Revocation invalidates every token issued at or before RevokedAt whose
// user (when UserID is set) and project (when ProjectID is set) match.
// At least one of UserID and ProjectID is set.
type Revocation struct {
	ID        string
	UserID    string
	ProjectID string
	RevokedAt time.Time
	// ExpiresAt is when the event stops mattering (every token it could
	// match has expired); housekeeping may drop it after that.
	ExpiresAt time.Time
}

// Matches reports whether the revocation invalidates a token of user in
// project issued at issuedAt.
func (r *Revocation) Matches(user, project string, issuedAt time.Time) bool {
	if r.UserID != "" && r.UserID != user {
		return false
	}
	if r.ProjectID != "" && r.ProjectID != project {
		return false
	}
	return !issuedAt.After(r.RevokedAt)
}
