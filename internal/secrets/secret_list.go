package secrets

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/policy"
	"github.com/fulcrumlb/fulcrum/internal/secrets/barbican"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// paging is Barbican's clean_paging_values: offset ≥ 0, 1 ≤ limit ≤ 100,
// default 10; unparsable values fall back to the defaults.
func paging(q url.Values) (offset, limit int) {
	offset, limit = 0, 10
	if n, err := strconv.Atoi(q.Get("offset")); err == nil && n > 0 {
		offset = n
	}
	if v := q.Get("limit"); v != "" && v != "0" {
		if n, err := strconv.Atoi(v); err == nil {
			limit = min(max(n, 1), 100)
		}
	}
	return offset, limit
}

// likeMatch is SQL LIKE with % and _ as wildcards, case-sensitive.
func likeMatch(pattern, s string) bool {
	if !strings.ContainsAny(pattern, "%_") {
		return pattern == s
	}
	p, t := []rune(pattern), []rune(s)
	var match func(i, j int) bool
	match = func(i, j int) bool {
		for i < len(p) {
			switch p[i] {
			case '%':
				for k := j; k <= len(t); k++ {
					if match(i+1, k) {
						return true
					}
				}
				return false
			case '_':
				if j >= len(t) {
					return false
				}
			default:
				if j >= len(t) || t[j] != p[i] {
					return false
				}
			}
			i, j = i+1, j+1
		}
		return j == len(t)
	}
	return match(0, 0)
}

var sortKeys = []string{"algorithm", "bit_length", "created", "expiration", "mode", "name", "secret_type", "status", "updated"}

func validSort(sort string) bool {
	seen := map[string]bool{}
	for _, part := range strings.Split(sort, ",") {
		key, dir, ok := strings.Cut(part, ":")
		if !ok {
			dir = "asc"
		} else if strings.Contains(dir, ":") {
			return false
		}
		if !slices.Contains(sortKeys, key) || dir != "asc" && dir != "desc" || seen[key] {
			return false
		}
		seen[key] = true
	}
	return true
}

// dateFilter is one of Barbican's created/updated/expiration filters:
// comma-separated [gt:|gte:|lt:|lte:]<ISO time>.
type dateFilter []func(time.Time) bool

func parseDateFilter(v string) (dateFilter, bool) {
	var out dateFilter
	seen := map[string]bool{}
	for _, part := range strings.Split(v, ",") {
		op, ts := "eq", part
		for _, p := range []string{"gte:", "lte:", "gt:", "lt:"} {
			if strings.HasPrefix(part, p) {
				op, ts = strings.TrimSuffix(p, ":"), part[len(p):]
				break
			}
		}
		t, ok := parseExpiration(ts)
		if !ok {
			return nil, false
		}
		switch op {
		case "gt", "gte":
			if seen["gt"] || seen["gte"] || op == "gte" && seen["eq"] {
				return nil, false
			}
		case "lt", "lte":
			if seen["lt"] || seen["lte"] || op == "lte" && seen["eq"] {
				return nil, false
			}
		case "eq":
			if seen["eq"] || seen["gte"] || seen["lte"] {
				return nil, false
			}
		}
		seen[op] = true
		switch op {
		case "gt":
			out = append(out, func(x time.Time) bool { return x.After(t) })
		case "gte":
			out = append(out, func(x time.Time) bool { return !x.Before(t) })
		case "lt":
			out = append(out, func(x time.Time) bool { return x.Before(t) })
		case "lte":
			out = append(out, func(x time.Time) bool { return !x.After(t) })
		default:
			out = append(out, func(x time.Time) bool { return x.Equal(t) })
		}
	}
	return out, true
}

func (f dateFilter) match(t *time.Time) bool {
	if len(f) == 0 {
		return true
	}
	if t == nil {
		return false
	}
	for _, fn := range f {
		if !fn(*t) {
			return false
		}
	}
	return true
}

func (s *Service) listSecrets(w http.ResponseWriter, r *http.Request, c policy.Caller) error {
	const op = "Secret(s) retrieval"
	if !canList(c) {
		return forbidden(op)
	}
	q := r.URL.Query()
	filters := map[string]dateFilter{}
	for _, k := range []string{"created", "updated", "expiration"} {
		if v := q.Get(k); v != "" {
			f, ok := parseDateFilter(v)
			if !ok {
				return errorf(http.StatusBadRequest, "URI provided invalid query string parameters.")
			}
			filters[k] = f
		}
	}
	if v := q.Get("sort"); v != "" && !validSort(v) {
		return errorf(http.StatusBadRequest, "URI provided invalid query string parameters.")
	}
	offset, limit := paging(q)
	bits, _ := strconv.Atoi(q.Get("bits"))
	now := s.now()
	var all []*barbican.Secret
	err := s.opts.Store.View(r.Context(), func(tx store.Tx) error {
		fs := []store.Filter{store.F("project_id", c.ProjectID)}
		if name := q.Get("name"); name != "" && !strings.ContainsAny(name, "%_") {
			fs = append(fs, store.F("name", name))
		}
		var err error
		all, err = tx.Secrets().List(r.Context(), store.Query{Filters: fs})
		return err
	})
	if err != nil {
		return fmt.Errorf("list secrets: %w", err)
	}
	aclOnly := strings.EqualFold(q.Get("acl_only"), "true") && c.UserID != ""
	if aclOnly {
		err := s.opts.Store.View(r.Context(), func(tx store.Tx) error {
			var err error
			all, err = tx.Secrets().List(r.Context(), store.Query{})
			return err
		})
		if err != nil {
			return fmt.Errorf("list secrets: %w", err)
		}
	}
	var match []*barbican.Secret
	for _, sec := range all {
		switch {
		case aclOnly && !sec.ACL.Grants(c.UserID),
			sec.Expired(now) && filters["expiration"] == nil,
			q.Get("name") != "" && !likeMatch(q.Get("name"), sec.Name),
			q.Get("alg") != "" && !likeMatch(q.Get("alg"), sec.Algorithm),
			q.Get("mode") != "" && !likeMatch(q.Get("mode"), sec.Mode),
			bits > 0 && (sec.BitLength == nil || *sec.BitLength != bits),
			q.Get("secret_type") != "" && sec.Type != q.Get("secret_type"),
			!filters["created"].match(&sec.CreatedAt),
			!filters["updated"].match(&sec.UpdatedAt),
			!filters["expiration"].match(sec.Expiration):
			continue
		}
		match = append(match, sec)
	}
	if v := q.Get("sort"); v != "" {
		sortSecrets(match, v)
	}
	page := window(match, offset, limit)
	body := secretList{Secrets: make([]secretView, len(page)), Total: len(match)}
	for i, sec := range page {
		body.Secrets[i] = s.secretView(r, sec)
	}
	body.Previous, body.Next = s.navigate("secrets", len(page), offset, limit, len(match), r)
	writeJSON(w, http.StatusOK, body)
	return nil
}

func sortSecrets(list []*barbican.Secret, spec string) {
	type key struct {
		name string
		desc bool
	}
	var keys []key
	for _, part := range strings.Split(spec, ",") {
		k, d, _ := strings.Cut(part, ":")
		keys = append(keys, key{k, d == "desc"})
	}
	str := func(sec *barbican.Secret, k string) string {
		switch k {
		case "algorithm":
			return sec.Algorithm
		case "mode":
			return sec.Mode
		case "name":
			return sec.Name
		case "secret_type":
			return sec.Type
		case "bit_length":
			if sec.BitLength == nil {
				return ""
			}
			return fmt.Sprintf("%010d", *sec.BitLength)
		case "created":
			return pyTime(sec.CreatedAt)
		case "updated":
			return pyTime(sec.UpdatedAt)
		case "expiration":
			if sec.Expiration == nil {
				return ""
			}
			return pyTime(*sec.Expiration)
		}
		return ""
	}
	slices.SortStableFunc(list, func(a, b *barbican.Secret) int {
		for _, k := range keys {
			c := strings.Compare(str(a, k.name), str(b, k.name))
			if k.desc {
				c = -c
			}
			if c != 0 {
				return c
			}
		}
		return 0
	})
}

func window[T any](all []T, offset, limit int) []T {
	if offset >= len(all) {
		return nil
	}
	return all[offset:min(len(all), offset+limit)]
}

// navigate returns the hrefs of the previous and next pages of a list
// (carrying the other query parameters), "" where there is none or the
// page is empty.
func (s *Service) navigate(coll string, items, offset, limit, total int, r *http.Request) (previous, next string) {
	if items == 0 {
		return "", ""
	}
	rest := url.Values{}
	for k, v := range r.URL.Query() {
		if k != "limit" && k != "offset" {
			rest[k] = v
		}
	}
	href := func(off int) string {
		u := fmt.Sprintf("%s/v1/%s?limit=%d&offset=%d", s.baseURL(r), coll, limit, off)
		if enc := rest.Encode(); enc != "" {
			u += "&" + enc
		}
		return u
	}
	if offset > 0 {
		previous = href(max(0, offset-limit))
	}
	if total > offset+limit {
		next = href(offset + limit)
	}
	return previous, next
}
