package secrets

import (
	"context"
	"fmt"
	"net/http"
	"slices"

	"github.com/fulcrumlb/fulcrum/internal/policy"
	"github.com/fulcrumlb/fulcrum/internal/secrets/barbican"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// aclTarget is the secret or the container whose ACL a request is about.
type aclTarget struct {
	secret    *barbican.Secret
	container *barbican.Container
}

func (t aclTarget) owner() owner {
	if t.secret != nil {
		return secretOwner(t.secret)
	}
	return containerOwner(t.container)
}

func (t aclTarget) acl() barbican.ACL {
	if t.secret != nil {
		return t.secret.ACL
	}
	return t.container.ACL
}

// operation names Barbican uses in its messages ("SecretACL(s) Update").
func (t aclTarget) op(verb string) string {
	if t.secret != nil {
		return "SecretACL(s) " + verb
	}
	return "ContainerACL(s) " + verb
}

func (s *Service) aclHref(r *http.Request, t aclTarget) string {
	if t.secret != nil {
		return s.secretHref(r, t.secret.ID) + "/acl"
	}
	return s.containerHref(r, t.container.ID) + "/acl"
}

// aclHandler serves one method on a secret's or a container's ACL.
type aclHandler func(w http.ResponseWriter, r *http.Request, c policy.Caller, t aclTarget) error

func (s *Service) getACL(w http.ResponseWriter, r *http.Request, c policy.Caller, t aclTarget) error {
	if !canReadACL(c, t.owner()) {
		return forbidden(t.op("retrieval"))
	}
	writeJSON(w, http.StatusOK, aclView(t.acl()))
	return nil
}

func (s *Service) replaceACL(w http.ResponseWriter, r *http.Request, c policy.Caller, t aclTarget) error {
	if !canWrite(c, t.owner()) {
		return forbidden(t.op("Update"))
	}
	return s.setACL(w, r, t, true)
}

func (s *Service) patchACL(w http.ResponseWriter, r *http.Request, c policy.Caller, t aclTarget) error {
	if !canWrite(c, t.owner()) {
		return forbidden(t.op("Update"))
	}
	return s.setACL(w, r, t, false)
}

func (s *Service) deleteACL(w http.ResponseWriter, r *http.Request, c policy.Caller, t aclTarget) error {
	if !canWrite(c, t.owner()) {
		return forbidden(t.op("deletion"))
	}
	if err := s.updateACL(r.Context(), t, nil, true); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// aclView is Barbican's ACL body: the explicit read ACL, or the implicit
// default {"read": {"project-access": true}}.
func aclView(a barbican.ACL) aclReply {
	if !a.Set {
		return aclReply{aclRead{ProjectAccess: true}}
	}
	users := a.Users
	if users == nil {
		users = []string{}
	}
	return aclReply{aclRead{ProjectAccess: a.ProjectAccess, Users: users, Created: pyTime(a.CreatedAt), Updated: pyTime(a.UpdatedAt)}}
}

// setACL applies a PUT (replace: missing project-access means true,
// missing users means none; no "read" key removes the ACL) or a PATCH
// (only the given keys change).
func (s *Service) setACL(w http.ResponseWriter, r *http.Request, t aclTarget, replace bool) error {
	body, err := readJSON(r, 1<<16, "['application/json']")
	if err != nil {
		return err
	}
	for k := range body {
		if k != "read" {
			return invalidObject("ACL", fmt.Sprintf("Additional properties are not allowed ('%s' was unexpected)", k), "additionalProperties")
		}
	}
	var read map[string]any
	if v, ok := body["read"]; ok {
		m, ok := v.(map[string]any)
		if !ok {
			return invalidObject("ACL", fmt.Sprintf("%s is not of type 'object'", pyRepr(v)), "read")
		}
		read = m
	}
	var users []string
	usersGiven, accessGiven, access := false, false, true
	for k, v := range read {
		switch k {
		case "users":
			list, ok := v.([]any)
			if !ok {
				return invalidObject("ACL", fmt.Sprintf("%s is not of type 'array'", pyRepr(v)), "read")
			}
			usersGiven = true
			users = []string{}
			for _, u := range list {
				us, ok := u.(string)
				if !ok {
					return invalidObject("ACL", fmt.Sprintf("%s is not of type 'string'", pyRepr(u)), "read")
				}
				if len(us) > 255 {
					return invalidObject("ACL", fmt.Sprintf("%s is too long", pyRepr(u)), "read")
				}
				if !slices.Contains(users, us) {
					users = append(users, us)
				}
			}
		case "project-access":
			b, ok := v.(bool)
			if !ok {
				return invalidObject("ACL", fmt.Sprintf("%s is not of type 'boolean'", pyRepr(v)), "read")
			}
			accessGiven, access = true, b
		default:
			return invalidObject("ACL", fmt.Sprintf("Additional properties are not allowed ('%s' was unexpected)", k), "read")
		}
	}
	now := s.now()
	// Barbican acts only on operations whose value is a non-empty object.
	act := len(read) > 0
	err = s.updateACL(r.Context(), t, func(a *barbican.ACL) {
		switch {
		case !act && replace:
			*a = barbican.ACL{}
		case !act:
		case replace || !a.Set:
			created := now
			if a.Set {
				created = a.CreatedAt
			}
			if !usersGiven && !replace {
				users = a.Users
			}
			if !accessGiven && !replace && a.Set {
				access = a.ProjectAccess
			}
			if users == nil {
				users = []string{}
			}
			*a = barbican.ACL{Set: true, ProjectAccess: access, Users: users, CreatedAt: created, UpdatedAt: now}
		default:
			if usersGiven {
				a.Users = users
			}
			if accessGiven {
				a.ProjectAccess = access
			}
			a.UpdatedAt = now
		}
	}, false)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, aclRefReply{s.aclHref(r, t)})
	return nil
}

// updateACL changes the stored ACL of t in one transaction (clear: remove
// it).
func (s *Service) updateACL(ctx context.Context, t aclTarget, fn func(*barbican.ACL), clear bool) error {
	err := s.opts.Store.Update(ctx, func(tx store.Tx) error {
		if t.secret != nil {
			cur, err := tx.Secrets().Lock(ctx, t.secret.ID)
			if err != nil {
				return err
			}
			if clear {
				cur.ACL = barbican.ACL{}
			} else {
				fn(&cur.ACL)
			}
			return tx.Secrets().Update(ctx, cur)
		}
		cur, err := tx.Containers().Lock(ctx, t.container.ID)
		if err != nil {
			return err
		}
		if clear {
			cur.ACL = barbican.ACL{}
		} else {
			fn(&cur.ACL)
		}
		return tx.Containers().Update(ctx, cur)
	})
	if err != nil {
		return fmt.Errorf("update acl: %w", err)
	}
	return nil
}
