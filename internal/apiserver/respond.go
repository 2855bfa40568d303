package apiserver

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"

	"github.com/fulcrumlb/fulcrum/internal/httpapi"
)

// Octavia wraps every response object and list in an object keyed by the
// resource's name: {"member": {...}}, {"pools": [...], "pools_links":
// [...]}. The wire types are typed; these writers put them in their
// wrapper.

// entry is one key of a wrapper.
type entry struct {
	key   string
	value any
}

// writeBody writes a wrapper of entries, keys sorted (the order Octavia's
// JSON encoder gives them).
func writeBody(w http.ResponseWriter, status int, entries ...entry) {
	slices.SortFunc(entries, func(a, b entry) int { return strings.Compare(a.key, b.key) })
	out := []byte{'{'}
	for i, e := range entries {
		k, err := httpapi.Marshal(e.key)
		if err != nil {
			writeFault(w, http.StatusInternalServerError, "Internal Server Error")
			return
		}
		v, err := httpapi.Marshal(e.value)
		if err != nil {
			writeFault(w, http.StatusInternalServerError, "Internal Server Error")
			return
		}
		if i > 0 {
			out = append(out, ',')
		}
		out = append(append(append(out, k...), ':'), v...)
	}
	httpapi.WriteRaw(w, status, httpapi.ContentTypeJSON, append(out, '}'))
}

// writeObject writes {"<key>": v}, the body of a create or an update.
func writeObject(w http.ResponseWriter, status int, key string, v any) {
	writeBody(w, status, entry{key, v})
}

// writeOne writes {"<key>": v} with fields= applied: the body of a show.
func (s *Server) writeOne(q *request, key string, v any) error {
	if vs, ok := q.query["fields"]; ok {
		sel, err := selectFields(v, vs)
		if err != nil {
			return err
		}
		v = sel
	}
	writeObject(q.w, http.StatusOK, key, v)
	return nil
}

// writeList writes {"<plural>": items, "<plural>_links": links}, applying
// fields= to each item; the links are repeated under extraLinkKeys (the
// collections whose upstream links key is spelled otherwise: see
// docs/octavia-behaviour.md, "Collection keys").
func (s *Server) writeList(q *request, p *listParams, plural string, items []any, ids []string, extraLinkKeys ...string) error {
	if items == nil {
		items = []any{}
	}
	if err := selectEach(items, p.fields); err != nil {
		return err
	}
	links := s.links(q, p, ids)
	entries := []entry{{plural, items}, {plural + "_links", links}}
	for _, k := range extraLinkKeys {
		entries = append(entries, entry{k, links})
	}
	writeBody(q.w, http.StatusOK, entries...)
	return nil
}

// writeBare writes {"<key>": items} with fields= applied and no links
// (providers and capability lists).
func (s *Server) writeBare(q *request, key string, items []any) error {
	if fields, ok := q.query["fields"]; ok {
		if err := selectEach(items, fields); err != nil {
			return err
		}
	}
	writeObject(q.w, http.StatusOK, key, items)
	return nil
}

// selectEach applies fields to each item in place (nil fields: all).
func selectEach(items []any, fields []string) error {
	if fields == nil {
		return nil
	}
	for i, it := range items {
		sel, err := selectFields(it, fields)
		if err != nil {
			return err
		}
		items[i] = sel
	}
	return nil
}

// selectFields keeps only the listed top-level keys of v's JSON object
// (Octavia's fields=). A nil fields keeps everything.
func selectFields(v any, fields []string) (any, error) {
	if fields == nil {
		return v, nil
	}
	data, err := httpapi.Marshal(v)
	if err != nil {
		return nil, err
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(data, &all); err != nil {
		return nil, err
	}
	out := make(map[string]json.RawMessage, len(fields))
	for _, f := range fields {
		if raw, ok := all[f]; ok {
			out[f] = raw
		}
	}
	return out, nil
}
