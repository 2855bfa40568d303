package secrets

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/ids"

	"github.com/fulcrumlb/fulcrum/internal/policy"
	"github.com/fulcrumlb/fulcrum/internal/secrets/barbican"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

func (s *Service) loadContainer(ctx context.Context, id string) (*barbican.Container, error) {
	var ct *barbican.Container
	err := s.opts.Store.View(ctx, func(tx store.Tx) error {
		var err error
		ct, err = tx.Containers().Get(ctx, strings.ToLower(id))
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, errorf(http.StatusNotFound, "Secrets container not found.")
	}
	if err != nil {
		return nil, fmt.Errorf("load container %s: %w", id, err)
	}
	return ct, nil
}

// refID is the id at the end of a secret href (Barbican's rsplit on '/').
func refID(ref string) string {
	ref = strings.TrimSuffix(ref, "/")
	if i := strings.LastIndexByte(ref, '/'); i >= 0 {
		return ref[i+1:]
	}
	return ref
}

type secretRef struct{ name, ref, id string }

var containerFields = []field{
	{name: "name", kind: "string", nullable: true, maxLen: 255},
	{name: "type", kind: "string", enum: []string{"generic", "rsa", "certificate"}},
	{name: "secret_refs", kind: "array"},
}

// parseSecretRefs validates secret_refs items: objects with a non-empty
// string secret_ref and an optional name.
func parseSecretRefs(body map[string]any) ([]secretRef, error) {
	items, _ := body["secret_refs"].([]any)
	var out []secretRef
	for _, it := range items {
		m, ok := it.(map[string]any)
		if !ok {
			return nil, invalidObject("Container", fmt.Sprintf("%s is not of type 'object'", pyRepr(it)), "secret_refs")
		}
		ref, present := m["secret_ref"]
		if !present {
			return nil, invalidObject("Container", "'secret_ref' is a required property", "secret_refs")
		}
		rs, ok := ref.(string)
		if !ok {
			return nil, invalidObject("Container", fmt.Sprintf("%s is not of type 'string'", pyRepr(ref)), "secret_refs")
		}
		if rs == "" {
			return nil, invalidObject("Container", "'' is too short", "secret_refs")
		}
		name := ""
		if n, present := m["name"]; present && n != nil {
			ns, ok := n.(string)
			if !ok {
				return nil, invalidObject("Container", fmt.Sprintf("%s is not of type 'string', 'null'", pyRepr(n)), "secret_refs")
			}
			if len([]rune(ns)) > 255 {
				return nil, invalidObject("Container", fmt.Sprintf("%s is too long", pyRepr(n)), "secret_refs")
			}
			name = ns
		}
		out = append(out, secretRef{name: name, ref: rs, id: refID(rs)})
	}
	return out, nil
}

func checkNames(typ string, refs []secretRef) error {
	names := map[string]bool{}
	for _, r := range refs {
		names[r.name] = true
	}
	subset := func(allowed ...string) bool {
		for n := range names {
			if !slices.Contains(allowed, n) {
				return false
			}
		}
		return true
	}
	switch typ {
	case barbican.ContainerRSA:
		if !subset("public_key", "private_key", "private_key_passphrase") {
			return invalidObject("Container", "only 'private_key', 'public_key' and 'private_key_passphrase' reference names are allowed for RSA type", "secret_refs")
		}
		if !names["public_key"] || !names["private_key"] {
			return invalidObject("Container", "The minimum required reference names are 'public_key' and'private_key' for RSA type", "secret_refs")
		}
	case barbican.ContainerCertificate:
		if !subset("certificate", "private_key", "private_key_passphrase", "intermediates") {
			return invalidObject("Container", "only 'private_key', 'certificate' , 'private_key_passphrase',  or 'intermediates' reference names are allowed for Certificate type", "secret_refs")
		}
		if !names["certificate"] {
			return invalidObject("Container", "The minimum required reference name is 'certificate' for Certificate type", "secret_refs")
		}
	}
	return nil
}

func (s *Service) createContainer(w http.ResponseWriter, r *http.Request, c policy.Caller) error {
	const op = "Container creation"
	if !canCreate(c) {
		return forbidden(op)
	}
	body, err := readJSON(r, 1<<20, "['application/json']")
	if err != nil {
		return err
	}
	if err := checkFields("Container", body, containerFields); err != nil {
		return err
	}
	if _, ok := body["type"]; !ok {
		return invalidObject("Container", "'type' is a required property", "type")
	}
	refs, err := parseSecretRefs(body)
	if err != nil {
		return err
	}
	if len(refs) > 0 {
		names, ids := map[string]bool{}, map[string]bool{}
		for _, ref := range refs {
			names[ref.name], ids[ref.id] = true, true
		}
		if len(names) != len(refs) {
			return invalidObject("Container", "Duplicate reference names are not allowed", "secret_refs")
		}
		if len(ids) != len(refs) {
			return invalidObject("Container", "Duplicate secret ids are not allowed", "secret_refs")
		}
		base := s.baseURL(r)
		for _, ref := range refs {
			if !strings.HasPrefix(ref.ref, base) {
				return errorf(http.StatusBadRequest, "Provided field value is not supported")
			}
		}
		if err := checkNames(str(body, "type"), refs); err != nil {
			return err
		}
	}
	now := s.now()
	ct := &barbican.Container{ID: ids.New(), ProjectID: c.ProjectID, CreatorID: c.UserID, Name: str(body, "name"),
		Type: str(body, "type"), CreatedAt: now, UpdatedAt: now}
	err = s.opts.Store.Update(r.Context(), func(tx store.Tx) error {
		for _, ref := range refs {
			sec, err := tx.Secrets().Get(r.Context(), strings.ToLower(ref.id))
			if errors.Is(err, store.ErrNotFound) || err == nil && (sec.ProjectID != c.ProjectID || sec.Expired(now)) {
				return errorf(http.StatusNotFound, "Secret provided for '%s' doesn't exist.", pyName(ref.name))
			}
			if err != nil {
				return err
			}
		}
		if err := tx.Containers().Create(r.Context(), ct); err != nil {
			return err
		}
		for i, ref := range refs {
			// Distinct creation times keep the request's order.
			cs := &barbican.ContainerSecret{ID: ids.New(), ContainerID: ct.ID, Name: ref.name, SecretID: strings.ToLower(ref.id),
				CreatedAt: now.Add(time.Duration(i) * time.Microsecond)}
			if err := tx.ContainerSecrets().Create(r.Context(), cs); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	href := s.containerHref(r, ct.ID)
	w.Header().Set("Location", href)
	writeJSON(w, http.StatusCreated, containerRefReply{href})
	return nil
}

// pyName renders an absent name as Python's None.
func pyName(n string) string {
	if n == "" {
		return "None"
	}
	return n
}

func (s *Service) containerView(r *http.Request, ct *barbican.Container, members []*barbican.ContainerSecret) containerView {
	refs := make([]containerRef, 0, len(members))
	for _, m := range members {
		refs = append(refs, containerRef{SecretRef: s.secretHref(r, m.SecretID), Name: nullable(m.Name)})
	}
	return containerView{ContainerRef: s.containerHref(r, ct.ID), Status: "ACTIVE",
		Created: pyTime(ct.CreatedAt), Updated: pyTime(ct.UpdatedAt),
		Name: nullable(ct.Name), Type: ct.Type, CreatorID: nullable(ct.CreatorID),
		SecretRefs: refs, Consumers: []struct{}{}}
}

func containerMembers(ctx context.Context, tx store.Tx, ids ...string) (map[string][]*barbican.ContainerSecret, error) {
	list, err := tx.ContainerSecrets().List(ctx, store.Query{Filters: []store.Filter{store.In("container_id", ids...)}})
	if err != nil {
		return nil, err
	}
	out := map[string][]*barbican.ContainerSecret{}
	for _, cs := range list {
		out[cs.ContainerID] = append(out[cs.ContainerID], cs)
	}
	return out, nil
}

func (s *Service) getContainer(w http.ResponseWriter, r *http.Request, c policy.Caller, ct *barbican.Container) error {
	if !canRead(c, containerOwner(ct)) {
		return forbidden("Container retrieval")
	}
	var members map[string][]*barbican.ContainerSecret
	err := s.opts.Store.View(r.Context(), func(tx store.Tx) error {
		var err error
		members, err = containerMembers(r.Context(), tx, ct.ID)
		return err
	})
	if err != nil {
		return fmt.Errorf("get container %s: %w", ct.ID, err)
	}
	writeJSON(w, http.StatusOK, s.containerView(r, ct, members[ct.ID]))
	return nil
}

func (s *Service) listContainers(w http.ResponseWriter, r *http.Request, c policy.Caller) error {
	if !canList(c) {
		return forbidden("Containers(s) retrieval")
	}
	q := r.URL.Query()
	offset, limit := paging(q)
	var all []*barbican.Container
	var members map[string][]*barbican.ContainerSecret
	err := s.opts.Store.View(r.Context(), func(tx store.Tx) error {
		fs := []store.Filter{store.F("project_id", c.ProjectID)}
		if t := q.Get("type"); t != "" {
			fs = append(fs, store.F("type", t))
		}
		var err error
		if all, err = tx.Containers().List(r.Context(), store.Query{Filters: fs}); err != nil {
			return err
		}
		if name := q.Get("name"); name != "" {
			all = slices.DeleteFunc(all, func(ct *barbican.Container) bool { return !likeMatch(name, ct.Name) })
		}
		page := window(all, offset, limit)
		ids := make([]string, len(page))
		for i, ct := range page {
			ids[i] = ct.ID
		}
		members, err = containerMembers(r.Context(), tx, ids...)
		return err
	})
	if err != nil {
		return fmt.Errorf("list containers: %w", err)
	}
	page := window(all, offset, limit)
	body := containerList{Containers: make([]containerView, len(page)), Total: len(all)}
	for i, ct := range page {
		body.Containers[i] = s.containerView(r, ct, members[ct.ID])
	}
	body.Previous, body.Next = s.navigate("containers", len(page), offset, limit, len(all), r)
	writeJSON(w, http.StatusOK, body)
	return nil
}

func (s *Service) deleteContainer(w http.ResponseWriter, r *http.Request, c policy.Caller, ct *barbican.Container) error {
	if !canWrite(c, containerOwner(ct)) {
		return forbidden("Container deletion")
	}
	err := s.opts.Store.Update(r.Context(), func(tx store.Tx) error { return tx.Containers().Delete(r.Context(), ct.ID) })
	if errors.Is(err, store.ErrNotFound) {
		return errorf(http.StatusNotFound, "Secrets container not found.")
	}
	if err != nil {
		return fmt.Errorf("delete container %s: %w", ct.ID, err)
	}
	s.changed(r.Context(), []string{ct.ID})
	w.WriteHeader(http.StatusNoContent)
	return nil
}

var containerSecretFields = []field{
	{name: "name", kind: "string", maxLen: 255},
	{name: "secret_ref", kind: "string"},
}

func (s *Service) containerSecretBody(r *http.Request) (name, ref string, err error) {
	body, err := readJSON(r, 1<<16, "['application/json']")
	if err != nil {
		return "", "", err
	}
	if err := checkFields("ContainerSecret", body, containerSecretFields); err != nil {
		return "", "", err
	}
	ref, ok := body["secret_ref"].(string)
	if !ok {
		return "", "", invalidObject("ContainerSecret", "'secret_ref' is a required property", "secret_ref")
	}
	if ref == "" {
		return "", "", invalidObject("ContainerSecret", "'' is too short", "secret_ref")
	}
	return str(body, "name"), ref, nil
}

func (s *Service) addContainerSecret(w http.ResponseWriter, r *http.Request, c policy.Caller, ct *barbican.Container) error {
	const op = "Container Secret creation"
	if !canWrite(c, containerOwner(ct)) {
		return forbidden(op)
	}
	if ct.Type != barbican.ContainerGeneric {
		return errorf(http.StatusBadRequest, "Only 'generic' containers can be modified.")
	}
	name, ref, err := s.containerSecretBody(r)
	if err != nil {
		return err
	}
	id := strings.ToLower(refID(ref))
	now := s.now()
	err = s.opts.Store.Update(r.Context(), func(tx store.Tx) error {
		sec, err := tx.Secrets().Get(r.Context(), id)
		if errors.Is(err, store.ErrNotFound) || err == nil && (sec.ProjectID != c.ProjectID || sec.Expired(now)) {
			return errorf(http.StatusNotFound, "Secret provided doesn't exist.")
		}
		if err != nil {
			return err
		}
		dup, err := tx.ContainerSecrets().Count(r.Context(), store.F("container_id", ct.ID), store.F("secret_id", id), store.F("name", name))
		if err != nil {
			return err
		}
		if dup > 0 {
			return errorf(http.StatusConflict, "Conflict. A secret with that name and ID is already stored in this container. The same secret can exist in a container as long as the name is unique.")
		}
		if _, err := tx.Containers().Lock(r.Context(), ct.ID); err != nil {
			return err
		}
		return tx.ContainerSecrets().Create(r.Context(), &barbican.ContainerSecret{ID: ids.New(), ContainerID: ct.ID, Name: name, SecretID: id, CreatedAt: now})
	})
	if errors.Is(err, store.ErrNotFound) {
		return errorf(http.StatusNotFound, "Secrets container not found.")
	}
	if err != nil {
		return err
	}
	s.changed(r.Context(), []string{ct.ID})
	href := s.containerHref(r, ct.ID)
	w.Header().Set("Location", href)
	writeJSON(w, http.StatusCreated, containerRefReply{href})
	return nil
}

func (s *Service) removeContainerSecret(w http.ResponseWriter, r *http.Request, c policy.Caller, ct *barbican.Container) error {
	const op = "Container Secret deletion"
	if !canWrite(c, containerOwner(ct)) {
		return forbidden(op)
	}
	name, ref, err := s.containerSecretBody(r)
	if err != nil {
		return err
	}
	id := strings.ToLower(refID(ref))
	err = s.opts.Store.Update(r.Context(), func(tx store.Tx) error {
		sec, err := tx.Secrets().Get(r.Context(), id)
		if errors.Is(err, store.ErrNotFound) || err == nil && sec.ProjectID != c.ProjectID {
			return errorf(http.StatusNotFound, "Secret '%s' with reference '%s' doesn't exist.", pyName(name), ref)
		}
		if err != nil {
			return err
		}
		n, err := tx.ContainerSecrets().DeleteWhere(r.Context(), store.F("container_id", ct.ID), store.F("secret_id", id), store.F("name", name))
		if err != nil {
			return err
		}
		if n == 0 {
			return errorf(http.StatusNotFound, "Secret provided is not in the container")
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.changed(r.Context(), []string{ct.ID})
	w.WriteHeader(http.StatusNoContent)
	return nil
}
