package network

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"unicode/utf8"

	"github.com/fulcrumlb/fulcrum/internal/httpapi"
	"github.com/fulcrumlb/fulcrum/internal/policy"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// Neutron's tag extension: /v2.0/<collection>/{id}/tags replaces, lists
// and clears an object's tags; /tags/{tag} adds, confirms and removes one.
// Tags are unique strings of at most 255 characters, in the order given.

// maxTag is the longest tag Neutron stores.
const maxTag = 255

// maxTags bounds the tags of one object (Neutron has no limit; an object
// with more than this many tags is not what tags are for).
const maxTags = 1000

// checkTags refuses tags Neutron would not store.
func checkTags(tags []string) error {
	if len(tags) > maxTags {
		return invalidInput(fmt.Sprintf("'%d tags' is too many: at most %d tags per resource", len(tags), maxTags))
	}
	seen := make(map[string]bool, len(tags))
	for _, t := range tags {
		if err := checkTag(t); err != nil {
			return err
		}
		if seen[t] {
			return invalidInput(fmt.Sprintf("Duplicate items in the list: '%s'", t))
		}
		seen[t] = true
	}
	return nil
}

func checkTag(t string) error {
	if !utf8.ValidString(t) {
		return invalidInput("tags must be UTF-8 strings")
	}
	if n := utf8.RuneCountInString(t); n > maxTag {
		return invalidInput(fmt.Sprintf("'%s' exceeds maximum length of %d", t, maxTag))
	}
	return nil
}

// tagged is what the tag calls need of a resource: loading it as the
// caller may see it, and reading and writing its tags.
type tagged struct {
	plural string // "networks", the policy names' middle part
	// load returns the object (as any) and its policy target, or the
	// resource's 404 when c may not see it.
	load func(ctx context.Context, s *Service, nets *networks, c policy.Caller, id string) (any, policy.Target, error)
	tags func(v any) *[]string
	// save stores v (tags never reach the data plane: no load balancer
	// changes).
	save func(ctx context.Context, tx store.Tx, v any) error
	// touch records the change on v (updated_at, revision).
	touch func(s *Service, v any)
}

func tagsOf[T any](rs *resource[T], tags func(*T) *[]string, touch func(*T, *Service)) tagged {
	return tagged{
		plural: rs.plural,
		load: func(ctx context.Context, s *Service, nets *networks, c policy.Caller, id string) (any, policy.Target, error) {
			v, t, err := rs.visible(ctx, s, nets, c, id)
			return v, t, err
		},
		tags: func(v any) *[]string { return tags(v.(*T)) },
		save: func(ctx context.Context, tx store.Tx, v any) error { return rs.table(tx).Update(ctx, v.(*T)) },
		touch: func(s *Service, v any) {
			touch(v.(*T), s)
		},
	}
}

// tagRoutes mounts the tag calls of one collection path.
func (s *Service) tagRoutes(path string, t tagged) {
	s.handle("GET "+path+"/{id}/tags", func(w http.ResponseWriter, r *http.Request, c policy.Caller) error {
		var tags []string
		err := s.tagged(r, c, t, "get", false, func(cur *[]string) error {
			tags = slices.Clone(*cur)
			return nil
		})
		if err != nil {
			return err
		}
		if tags == nil {
			tags = []string{}
		}
		httpapi.WriteJSON(w, http.StatusOK, map[string][]string{"tags": tags})
		return nil
	})
	s.handle("GET "+path+"/{id}/tags/{tag}", func(w http.ResponseWriter, r *http.Request, c policy.Caller) error {
		tag := r.PathValue("tag")
		if err := checkTag(tag); err != nil {
			return err
		}
		err := s.tagged(r, c, t, "get", false, func(cur *[]string) error {
			if !slices.Contains(*cur, tag) {
				return tagNotFound(tag)
			}
			return nil
		})
		if err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
	s.handle("PUT "+path+"/{id}/tags", func(w http.ResponseWriter, r *http.Request, c policy.Caller) error {
		body, err := readBody(r)
		if err != nil {
			return err
		}
		var b struct {
			Tags *[]string `json:"tags"`
		}
		if json.Unmarshal(body, &b) != nil || b.Tags == nil {
			return invalidInput("Invalid tags body")
		}
		if err := checkTags(*b.Tags); err != nil {
			return err
		}
		err = s.tagged(r, c, t, "update", true, func(cur *[]string) error {
			*cur = slices.Clone(*b.Tags)
			return nil
		})
		if err != nil {
			return err
		}
		httpapi.WriteJSON(w, http.StatusOK, map[string][]string{"tags": *b.Tags})
		return nil
	})
	s.handle("PUT "+path+"/{id}/tags/{tag}", func(w http.ResponseWriter, r *http.Request, c policy.Caller) error {
		tag := r.PathValue("tag")
		if err := checkTag(tag); err != nil {
			return err
		}
		err := s.tagged(r, c, t, "update", true, func(cur *[]string) error {
			if !slices.Contains(*cur, tag) {
				*cur = append(*cur, tag)
				return checkTags(*cur)
			}
			return nil
		})
		if err != nil {
			return err
		}
		w.WriteHeader(http.StatusCreated)
		return nil
	})
	s.handle("DELETE "+path+"/{id}/tags", func(w http.ResponseWriter, r *http.Request, c policy.Caller) error {
		err := s.tagged(r, c, t, "delete", true, func(cur *[]string) error {
			*cur = []string{}
			return nil
		})
		if err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
	s.handle("DELETE "+path+"/{id}/tags/{tag}", func(w http.ResponseWriter, r *http.Request, c policy.Caller) error {
		tag := r.PathValue("tag")
		if err := checkTag(tag); err != nil {
			return err
		}
		err := s.tagged(r, c, t, "delete", true, func(cur *[]string) error {
			i := slices.Index(*cur, tag)
			if i < 0 {
				return tagNotFound(tag)
			}
			*cur = slices.Delete(*cur, i, i+1)
			return nil
		})
		if err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
}

func tagNotFound(tag string) *Error {
	return &Error{Code: http.StatusNotFound, Type: "TagNotFound", Message: fmt.Sprintf("Tag %s could not be found.", tag)}
}

// tagged loads the object of the request's {id} for c, checks
// <action>_<plural>_tags on it and runs fn on its tags, storing them when
// write is set.
func (s *Service) tagged(r *http.Request, c policy.Caller, t tagged, action string, write bool, fn func(*[]string) error) error {
	ctx := r.Context()
	run := s.view
	if write {
		run = s.update
	}
	return run(ctx, func(tx store.Tx) error {
		v, target, err := t.load(ctx, s, newNetworks(tx), c, r.PathValue("id"))
		if err != nil {
			return err
		}
		if err := s.authorize(c, policy.Rule(action+"_"+t.plural+"_tags"), target); err != nil {
			return err
		}
		tags := t.tags(v)
		if *tags == nil {
			*tags = []string{}
		}
		if err := fn(tags); err != nil || !write {
			return err
		}
		t.touch(s, v)
		return t.save(ctx, tx, v)
	})
}
