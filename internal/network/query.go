package network

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/fulcrumlb/fulcrum/internal/httpapi"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// query parses r's query string strictly (httpapi.Query): more than
// 10,000 parameters, or a malformed one, is a 400 rather than a list that
// silently ignores every filter.
func query(r *http.Request) (url.Values, error) {
	q, err := httpapi.Query(r)
	if errors.Is(err, httpapi.ErrTooManyParameters) {
		return nil, &Error{Code: http.StatusBadRequest, Type: "HTTPBadRequest",
			Message: "Bad request: the query string has more than 10000 parameters."}
	}
	if err != nil {
		return nil, &Error{Code: http.StatusBadRequest, Type: "HTTPBadRequest", Message: "Bad request: malformed query string."}
	}
	return q, nil
}

// tagValues returns the tags a Neutron tag filter names: each value of the
// parameter is a comma-separated list, and repeating the parameter adds to
// it. Empty names and repeats are dropped.
func tagValues(q url.Values, param string) []string {
	var out []string
	for _, v := range q[param] {
		for _, t := range strings.Split(v, ",") {
			if t != "" {
				out = append(out, t)
			}
		}
	}
	return dedupe(out)
}

// dedupe drops repeated values, keeping the first of each.
func dedupe(vals []string) []string {
	if len(vals) < 2 {
		return vals
	}
	seen := make(map[string]bool, len(vals))
	out := vals[:0:0]
	for _, v := range vals {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

// listQuery is what a list call's query string selects: exact-match
// filters (a repeated parameter matches any of its values) and Neutron's
// tag filters (tags, tags-any, not-tags, not-tags-any).
type listQuery struct {
	filters []store.Filter
	tags    store.Tags
	// sort are Neutron's sort_key/sort_dir pairs, in order.
	sort []store.Sort
	// raw is the parsed query string, for filters a handler applies itself.
	raw url.Values
}

// listFilters maps the list filters every resource takes (id, name,
// description, project_id, tenant_id) and extra ones, each a query
// parameter named like its store field or written "parameter=field".
func listFilters(extra ...string) map[string]string {
	out := map[string]string{"id": "id", "name": "name", "description": "description", "project_id": "project_id", "tenant_id": "project_id"}
	for _, e := range extra {
		param, field, ok := strings.Cut(e, "=")
		if !ok {
			field = param
		}
		out[param] = field
	}
	return out
}

// parseList reads the filters of fields (query parameter → store field)
// and the tag filters. Unknown parameters are ignored, as Neutron does.
func parseList(r *http.Request, fields map[string]string) (listQuery, error) {
	q, err := query(r)
	if err != nil {
		return listQuery{}, err
	}
	lq := listQuery{raw: q, tags: store.Tags{
		All: tagValues(q, "tags"), Any: tagValues(q, "tags-any"),
		NotAll: tagValues(q, "not-tags"), NotAny: tagValues(q, "not-tags-any"),
	}}
	if lq.sort, err = parseSort(q, fields); err != nil {
		return listQuery{}, err
	}
	params := make([]string, 0, len(fields))
	for p := range fields {
		params = append(params, p)
	}
	slices.Sort(params) // one order of conditions for one query string
	for _, p := range params {
		vals, ok := q[p]
		if !ok {
			continue
		}
		vals = dedupe(vals)
		if len(vals) == 1 {
			lq.filters = append(lq.filters, store.F(fields[p], vals[0]))
		} else {
			lq.filters = append(lq.filters, store.In(fields[p], vals...))
		}
	}
	return lq, nil
}

// parseSort reads Neutron's sort_key and sort_dir parameters: each key one
// of the resource's filter attributes (or created_at, updated_at), each
// direction asc or desc; a direction per key, or none at all (ascending).
func parseSort(q url.Values, fields map[string]string) ([]store.Sort, error) {
	keys, dirs := q["sort_key"], q["sort_dir"]
	if len(dirs) > 0 && len(dirs) != len(keys) {
		return nil, &Error{Code: http.StatusBadRequest, Type: "HTTPBadRequest", Message: "The number of sort_keys and sort_dirs must be same"}
	}
	var out []store.Sort
	for i, k := range keys {
		field, ok := fields[k]
		if k == "created_at" || k == "updated_at" {
			field, ok = k, true
		}
		if !ok {
			return nil, &Error{Code: http.StatusBadRequest, Type: "HTTPBadRequest", Message: fmt.Sprintf("%s is an invalid attribute for sort_keys", k)}
		}
		desc := false
		if len(dirs) > 0 {
			switch dirs[i] {
			case "asc":
			case "desc":
				desc = true
			default:
				return nil, &Error{Code: http.StatusBadRequest, Type: "HTTPBadRequest", Message: fmt.Sprintf("%s is an invalid value for sort_dirs, valid values are: asc, desc", dirs[i])}
			}
		}
		out = append(out, store.Sort{Field: field, Desc: desc})
	}
	return out, nil
}

// storeValues is the most values of one filter or one tag list sent to the
// store in one condition. The store turns n values into an expression n
// deep, and SQLite refuses expressions deeper than 1,000; a longer list is
// asked for in parts of this size and the answers combined, so any list the
// query string can hold (httpapi.Query: 10,000 parameters) is answered.
const storeValues = 100

// part is one long condition split into queries: an object matches when it
// is in the answer of any query (union) or of every query (intersection).
type part struct {
	queries []store.Query
	union   bool
}

// split moves the long conditions of lq out of the returned query into
// parts.
func (lq listQuery) split() (store.Query, []part) {
	base := store.Query{Sort: lq.sort}
	var parts []part
	for _, f := range lq.filters {
		if len(f.Values) <= storeValues {
			base.Filters = append(base.Filters, f)
			continue
		}
		p := part{union: true}
		for c := range slices.Chunk(f.Values, storeValues) {
			p.queries = append(p.queries, store.Query{Filters: []store.Filter{store.In(f.Field, c...)}})
		}
		parts = append(parts, p)
	}
	tagPart := func(list []string, set func(*store.Tags, []string), union bool, keep *[]string) {
		if len(list) <= storeValues {
			*keep = list
			return
		}
		p := part{union: union}
		for c := range slices.Chunk(list, storeValues) {
			var q store.Query
			set(&q.Tags, c)
			p.queries = append(p.queries, q)
		}
		parts = append(parts, p)
	}
	// has all of A∪B = has all of A and all of B; has any of A∪B = any of A
	// or any of B; not (has all of A∪B) = not all of A or not all of B;
	// has none of A∪B = none of A and none of B.
	tagPart(lq.tags.All, func(t *store.Tags, c []string) { t.All = c }, false, &base.Tags.All)
	tagPart(lq.tags.Any, func(t *store.Tags, c []string) { t.Any = c }, true, &base.Tags.Any)
	tagPart(lq.tags.NotAll, func(t *store.Tags, c []string) { t.NotAll = c }, true, &base.Tags.NotAll)
	tagPart(lq.tags.NotAny, func(t *store.Tags, c []string) { t.NotAny = c }, false, &base.Tags.NotAny)
	return base, parts
}

// listWhere lists the objects of t that lq selects, in the store's order.
func listWhere[T any](ctx context.Context, t store.Table[T], id func(*T) string, lq listQuery) ([]*T, error) {
	base, parts := lq.split()
	list, err := t.List(ctx, base)
	if err != nil || len(parts) == 0 {
		return list, badQuery(err)
	}
	for _, p := range parts {
		var in map[string]int
		for _, pq := range p.queries {
			pq.Filters = append(slices.Clone(base.Filters), pq.Filters...)
			got, err := t.List(ctx, pq)
			if err != nil {
				return nil, badQuery(err)
			}
			if in == nil {
				in = make(map[string]int, len(got))
			}
			for _, o := range got {
				in[id(o)]++
			}
		}
		want := 1
		if !p.union {
			want = len(p.queries)
		}
		list = slices.DeleteFunc(list, func(o *T) bool { return in[id(o)] < want })
	}
	return list, nil
}

// badQuery turns the store's invalid-query error (a value that does not
// parse as its field's type) into a 400.
func badQuery(err error) error {
	var qe *store.QueryError
	if errors.As(err, &qe) {
		return &Error{Code: http.StatusBadRequest, Type: "HTTPBadRequest",
			Message: "Bad request: invalid value for filter " + strings.TrimSpace(qe.Field) + "."}
	}
	return err
}
