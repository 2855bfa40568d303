package identity

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/fulcrumlb/fulcrum/internal/httpapi"
	"github.com/fulcrumlb/fulcrum/internal/identity/keystone"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// Keystone writes token times with microseconds and a Z.
const tokenTimeFormat = "2006-01-02T15:04:05.000000Z"

type idName struct {
	ID     *string `json:"id"`
	Name   *string `json:"name"`
	Domain *idName `json:"domain"`
}

type authRequest struct {
	Auth *struct {
		Identity *struct {
			Methods  []string `json:"methods"`
			Password *struct {
				User *struct {
					idName
					Password *string `json:"password"`
				} `json:"user"`
			} `json:"password"`
			Token *struct {
				ID string `json:"id"`
			} `json:"token"`
		} `json:"identity"`
		Scope *struct {
			Project *idName `json:"project"`
			Domain  *idName `json:"domain"`
			System  any     `json:"system"`
		} `json:"scope"`
	} `json:"auth"`
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// issueToken is POST /v3/auth/tokens.
func (s *Service) issueToken(w http.ResponseWriter, r *http.Request) error {
	var req authRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if req.Auth == nil || req.Auth.Identity == nil || len(req.Auth.Identity.Methods) == 0 {
		return errBadRequest("Invalid input for field 'identity': 'methods' is a required property")
	}
	ctx := r.Context()
	id := req.Auth.Identity
	var (
		user   *keystone.User
		parent *Token
		err    error
	)
	switch {
	case slices.Contains(id.Methods, "password"):
		if id.Password == nil || id.Password.User == nil || id.Password.User.Password == nil {
			return errBadRequest("Invalid input for field 'identity/password/user': 'password' is a required property")
		}
		user, err = s.passwordAuth(ctx, &id.Password.User.idName, *id.Password.User.Password)
	case slices.Contains(id.Methods, "token"):
		if id.Token == nil || id.Token.ID == "" {
			return errBadRequest("Invalid input for field 'identity/token': 'id' is a required property")
		}
		user, parent, err = s.tokenAuth(ctx, id.Token.ID)
	default:
		return errUnauthorized()
	}
	if err != nil {
		return err
	}
	now := s.now()
	t := &Token{UserID: user.ID, Methods: []string{"password"}, IssuedAt: now.UnixMicro(),
		ExpiresAt: now.Add(s.opts.TokenTTL).UnixMicro(), AuditIDs: []string{auditID()}}
	if parent != nil {
		// A rescoped token keeps its parent's expiry and audit chain.
		t.Methods = parent.Methods
		t.ExpiresAt = parent.ExpiresAt
		t.AuditIDs = append(t.AuditIDs, parent.AuditIDs[0])
	}
	if err := s.scope(ctx, t, user, req.Auth.Scope); err != nil {
		return err
	}
	sealed, err := s.opts.Keys.Seal(t)
	if err != nil {
		return err
	}
	body, err := s.tokenBody(r, t, r.URL.Query().Has("nocatalog"))
	if err != nil {
		return err
	}
	w.Header().Set("X-Subject-Token", sealed)
	httpapi.WriteJSON(w, http.StatusCreated, body)
	return nil
}

func auditID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// passwordAuth finds the user and checks the password. Whatever fails, it
// costs exactly one password hash, so response times do not tell whether a
// user exists.
func (s *Service) passwordAuth(ctx context.Context, who *idName, password string) (*keystone.User, error) {
	var user *keystone.User
	err := s.view(ctx, func(tx store.Tx) error {
		u, err := s.findUser(ctx, tx, who)
		if err != nil {
			return err
		}
		if u != nil {
			d, err := tx.Domains().Get(ctx, u.DomainID)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
			if d == nil || !d.Enabled {
				u = nil
			}
		}
		user = u
		return nil
	})
	if err != nil {
		return nil, err
	}
	hash := s.dummy
	if user != nil && user.PasswordHash != "" {
		hash = user.PasswordHash
	}
	ok, err := VerifyPassword(hash, password)
	if err != nil {
		s.log.Warn("unreadable password hash", "err", err)
		ok = false
	}
	if !ok || user == nil || user.PasswordHash == "" || !user.Enabled {
		return nil, errUnauthorized()
	}
	return user, nil
}

// findUser resolves a user by id, or by name and domain (id or name). A
// user that does not exist is nil, not an error.
func (s *Service) findUser(ctx context.Context, tx store.Tx, who *idName) (*keystone.User, error) {
	if who.ID != nil && *who.ID != "" {
		u, err := tx.Users().Get(ctx, *who.ID)
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil
		}
		return u, err
	}
	if who.Name == nil || who.Domain == nil {
		return nil, nil
	}
	domainID, err := s.resolveDomain(ctx, tx, who.Domain)
	if err != nil || domainID == "" {
		return nil, err
	}
	list, err := tx.Users().List(ctx, store.Query{Filters: []store.Filter{store.F("domain_id", domainID), store.F("name", *who.Name)}})
	if err != nil || len(list) == 0 {
		return nil, err
	}
	return list[0], nil
}

// resolveDomain returns the id of a domain named by id or name, "" when
// there is none.
func (s *Service) resolveDomain(ctx context.Context, tx store.Tx, d *idName) (string, error) {
	if d.ID != nil && *d.ID != "" {
		dom, err := tx.Domains().Get(ctx, *d.ID)
		if errors.Is(err, store.ErrNotFound) {
			return "", nil
		}
		if err != nil {
			return "", err
		}
		return dom.ID, nil
	}
	if d.Name == nil {
		return "", nil
	}
	list, err := tx.Domains().List(ctx, store.Query{Filters: []store.Filter{store.F("name", *d.Name)}})
	if err != nil || len(list) == 0 {
		return "", err
	}
	return list[0].ID, nil
}

func (s *Service) tokenAuth(ctx context.Context, token string) (*keystone.User, *Token, error) {
	p, err := s.Validate(ctx, token)
	if err != nil {
		return nil, nil, s.authErr(err)
	}
	var user *keystone.User
	err = s.view(ctx, func(tx store.Tx) error {
		u, err := tx.Users().Get(ctx, p.UserID)
		if errors.Is(err, store.ErrNotFound) {
			return errUnauthorized()
		}
		user = u
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	if !user.Enabled {
		return nil, nil, errUnauthorized()
	}
	return user, p.Token, nil
}

// scope fills the token's scope and roles from the request's scope (or the
// user's default project when no scope is asked for).
func (s *Service) scope(ctx context.Context, t *Token, user *keystone.User, sc *struct {
	Project *idName `json:"project"`
	Domain  *idName `json:"domain"`
	System  any     `json:"system"`
}) error {
	return s.view(ctx, func(tx store.Tx) error {
		switch {
		case sc != nil && sc.System != nil:
			return errUnauthorized()
		case sc != nil && sc.Project != nil:
			p, err := s.findProject(ctx, tx, sc.Project)
			if err != nil {
				return err
			}
			if p == nil || !p.Enabled {
				return errUnauthorized()
			}
			roles, err := s.roleNames(ctx, tx, user.ID, store.F("project_id", p.ID))
			if err != nil {
				return err
			}
			if len(roles) == 0 {
				return errUnauthorized()
			}
			t.ProjectID, t.Roles = p.ID, roles
		case sc != nil && sc.Domain != nil:
			id, err := s.resolveDomain(ctx, tx, sc.Domain)
			if err != nil {
				return err
			}
			if id == "" {
				return errUnauthorized()
			}
			roles, err := s.roleNames(ctx, tx, user.ID, store.F("domain_id", id))
			if err != nil {
				return err
			}
			if len(roles) == 0 {
				return errUnauthorized()
			}
			t.DomainID, t.Roles = id, roles
		case user.DefaultProjectID != "":
			// Unscoped request: Keystone scopes to the default project when
			// the user has a role there, else issues an unscoped token.
			p, err := tx.Projects().Get(ctx, user.DefaultProjectID)
			if errors.Is(err, store.ErrNotFound) {
				return nil
			}
			if err != nil {
				return err
			}
			roles, err := s.roleNames(ctx, tx, user.ID, store.F("project_id", p.ID))
			if err != nil {
				return err
			}
			if p.Enabled && len(roles) > 0 {
				t.ProjectID, t.Roles = p.ID, roles
			}
		}
		return nil
	})
}

func (s *Service) findProject(ctx context.Context, tx store.Tx, ref *idName) (*keystone.Project, error) {
	if ref.ID != nil && *ref.ID != "" {
		p, err := tx.Projects().Get(ctx, *ref.ID)
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil
		}
		return p, err
	}
	if ref.Name == nil || ref.Domain == nil {
		return nil, errBadRequest("Invalid input for field 'scope/project': either 'id' or 'name' and 'domain' are required")
	}
	domainID, err := s.resolveDomain(ctx, tx, ref.Domain)
	if err != nil || domainID == "" {
		return nil, err
	}
	list, err := tx.Projects().List(ctx, store.Query{Filters: []store.Filter{store.F("domain_id", domainID), store.F("name", *ref.Name)}})
	if err != nil || len(list) == 0 {
		return nil, err
	}
	return list[0], nil
}

// roleNames are the names of the roles user holds on the target given by
// filter (project_id or domain_id), sorted.
func (s *Service) roleNames(ctx context.Context, tx store.Tx, userID string, target store.Filter) ([]string, error) {
	as, err := tx.Assignments().List(ctx, store.Query{Filters: []store.Filter{store.F("user_id", userID), target}})
	if err != nil {
		return nil, err
	}
	var names []string
	for _, a := range as {
		role, err := tx.Roles().Get(ctx, a.RoleID)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		names = append(names, role.Name)
	}
	slices.Sort(names)
	return slices.Compact(names), nil
}

// tokenBody renders t as Keystone's {"token": {...}}.
func (s *Service) tokenBody(r *http.Request, t *Token, noCatalog bool) (*tokenReply, error) {
	ctx := r.Context()
	tok := tokenView{
		Methods:   t.Methods,
		AuditIDs:  t.AuditIDs,
		IssuedAt:  t.Issued().Format(tokenTimeFormat),
		ExpiresAt: t.Expires().Format(tokenTimeFormat),
	}
	err := s.view(ctx, func(tx store.Tx) error {
		u, err := tx.Users().Get(ctx, t.UserID)
		if err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return errNotFound("token", "")
			}
			return err
		}
		ud, err := s.domainRef(ctx, tx, u.DomainID)
		if err != nil {
			return err
		}
		tok.User = tokenUser{ID: u.ID, Name: u.Name, Domain: ud}
		if t.ProjectID == "" && t.DomainID == "" {
			return nil
		}
		if t.ProjectID != "" {
			p, err := tx.Projects().Get(ctx, t.ProjectID)
			if err != nil {
				if errors.Is(err, store.ErrNotFound) {
					return errNotFound("token", "")
				}
				return err
			}
			pd, err := s.domainRef(ctx, tx, p.DomainID)
			if err != nil {
				return err
			}
			isDomain := false
			tok.Project = &tokenProject{ID: p.ID, Name: p.Name, Domain: pd}
			tok.IsDomain = &isDomain
		} else {
			d, err := s.domainRef(ctx, tx, t.DomainID)
			if err != nil {
				return err
			}
			tok.Domain = &d
		}
		roles, err := s.roleRefs(ctx, tx, keystone.ExpandRoles(t.Roles))
		if err != nil {
			return err
		}
		tok.Roles = roles
		if !noCatalog {
			tok.Catalog = s.catalog(r)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &tokenReply{tok}, nil
}

// domainRef names domain id; a domain that is gone has an empty name.
func (s *Service) domainRef(ctx context.Context, tx store.Tx, id string) (ref, error) {
	d, err := tx.Domains().Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return ref{ID: id}, nil
	}
	if err != nil {
		return ref{}, err
	}
	return ref{ID: d.ID, Name: d.Name}, nil
}

func (s *Service) roleRefs(ctx context.Context, tx store.Tx, names []string) ([]ref, error) {
	all, err := tx.Roles().List(ctx, store.Query{})
	if err != nil {
		return nil, err
	}
	out := []ref{}
	for _, n := range names {
		for _, role := range all {
			if role.Name == n {
				out = append(out, ref{ID: role.ID, Name: role.Name})
			}
		}
	}
	return out, nil
}

// catalog renders the service catalog for the request's external URL.
func (s *Service) catalog(r *http.Request) []catalogService {
	base := s.baseURL(r)
	out := make([]catalogService, 0, len(s.opts.Catalog))
	for _, svc := range s.opts.Catalog {
		url := base + svc.Path
		var eps []catalogEndpoint
		for _, iface := range []string{"public", "internal", "admin"} {
			eps = append(eps, catalogEndpoint{ID: stableID("endpoint", svc.Type, iface), Interface: iface,
				Region: s.opts.Region, RegionID: s.opts.Region, URL: url})
		}
		out = append(out, catalogService{ID: stableID("service", svc.Type), Type: svc.Type, Name: svc.Name, Endpoints: eps})
	}
	return out
}

// stableID derives a fixed 32-hex id from parts, so catalog ids survive
// restarts and agree across replicas.
func stableID(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return fmt.Sprintf("%x", h.Sum(nil)[:16])
}

// subject validates X-Subject-Token for GET/HEAD/DELETE /v3/auth/tokens: the
// caller must be an admin or the token's own user.
func (s *Service) subject(r *http.Request) (*Token, error) {
	caller, err := s.caller(r)
	if err != nil {
		return nil, err
	}
	subj := r.Header.Get("X-Subject-Token")
	if subj == "" {
		return nil, errNotFound("token", "")
	}
	p, err := s.Validate(r.Context(), subj)
	if err != nil {
		if isAuthFailure(err) {
			return nil, errNotFound("token", subj)
		}
		return nil, err
	}
	if p.UserID != caller.UserID && !caller.HasRole(keystone.RoleAdmin) {
		return nil, errForbidden("identity:validate_token")
	}
	return p.Token, nil
}

func (s *Service) validateToken(w http.ResponseWriter, r *http.Request) error {
	t, err := s.subject(r)
	if err != nil {
		return err
	}
	body, err := s.tokenBody(r, t, r.URL.Query().Has("nocatalog"))
	if err != nil {
		return err
	}
	w.Header().Set("X-Subject-Token", r.Header.Get("X-Subject-Token"))
	httpapi.WriteJSON(w, http.StatusOK, body)
	return nil
}

func (s *Service) checkToken(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.subject(r); err != nil {
		return err
	}
	w.Header().Set("X-Subject-Token", r.Header.Get("X-Subject-Token"))
	w.WriteHeader(http.StatusOK)
	return nil
}

// revokeToken is DELETE /v3/auth/tokens: it revokes the subject token's
// user within its scope, which also ends the user's other tokens for that
// scope (coarser than Keystone's per-audit-id revocation).
func (s *Service) revokeToken(w http.ResponseWriter, r *http.Request) error {
	t, err := s.subject(r)
	if err != nil {
		return err
	}
	err = s.update(r.Context(), func(tx store.Tx) error { return s.revoke(r.Context(), tx, t.UserID, t.ProjectID) })
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Service) authCatalog(w http.ResponseWriter, r *http.Request) error {
	p, err := s.caller(r)
	if err != nil {
		return err
	}
	if p.ProjectID == "" && p.DomainID == "" {
		return errForbidden("identity:get_auth_catalog")
	}
	httpapi.WriteJSON(w, http.StatusOK, catalogBody{Catalog: s.catalog(r), Links: s.links(r)})
	return nil
}

func (s *Service) authProjects(w http.ResponseWriter, r *http.Request) error {
	p, err := s.caller(r)
	if err != nil {
		return err
	}
	return s.writeUserProjects(w, r, p.UserID)
}

func (s *Service) authDomains(w http.ResponseWriter, r *http.Request) error {
	p, err := s.caller(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	out := []domainView{}
	err = s.view(ctx, func(tx store.Tx) error {
		as, err := tx.Assignments().List(ctx, store.Query{Filters: []store.Filter{store.F("user_id", p.UserID)}})
		if err != nil {
			return err
		}
		seen := map[string]bool{}
		for _, a := range as {
			if a.DomainID == "" || seen[a.DomainID] {
				continue
			}
			seen[a.DomainID] = true
			d, err := tx.Domains().Get(ctx, a.DomainID)
			if err != nil {
				continue
			}
			out = append(out, s.domainJSON(r, d))
		}
		return nil
	})
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, domainList{Domains: out, Links: s.links(r)})
	return nil
}

func (s *Service) authSystem(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.caller(r); err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, systemList{System: []struct{}{}, Links: s.links(r)})
	return nil
}

// versions is GET /identity: Keystone's multiple-choice version list.
func (s *Service) versions(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Location", s.v3URL(r)+"/")
	var body versionsReply
	body.Versions.Values = []versionDoc{s.versionDoc(r)}
	httpapi.WriteJSON(w, http.StatusMultipleChoices, body)
	return nil
}

func (s *Service) version(w http.ResponseWriter, r *http.Request) error {
	httpapi.WriteJSON(w, http.StatusOK, versionReply{s.versionDoc(r)})
	return nil
}

func (s *Service) versionDoc(r *http.Request) versionDoc {
	return versionDoc{ID: "v3.14", Status: "stable", Updated: "2020-04-07T00:00:00Z",
		Links:      []hrefLink{{Rel: "self", Href: s.v3URL(r) + "/"}},
		MediaTypes: []mediaType{{Base: "application/json", Type: "application/vnd.openstack.identity-v3+json"}}}
}

func (s *Service) links(r *http.Request) listLinks {
	return listLinks{Self: s.baseURL(r) + r.URL.RequestURI()}
}
