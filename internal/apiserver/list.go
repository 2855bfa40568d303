package apiserver

import (
	"errors"
	"net/url"
	"strconv"
	"strings"

	"github.com/fulcrumlb/fulcrum/internal/httpapi"
	"github.com/fulcrumlb/fulcrum/internal/policy"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// Listing follows Octavia's PaginationHelper: limit (clamped to the
// configured maximum; <= 0 or "infinite" means no limit), marker,
// page_reverse (only the literal "True"), sort or sort_key/sort_dir with
// created_at and id appended, exact-match filters on API attribute names,
// the four tag filters, and fields.

func columnSet(names string) map[string]bool {
	m := map[string]bool{}
	for _, n := range strings.Fields(names) {
		m[n] = true
	}
	return m
}

// Filterable and sortable attributes per resource: the API names the store
// accepts. Anything else is refused.
const (
	lbColumnNames = ("id project_id name description admin_state_up provisioning_status operating_status " +
		"vip_address vip_port_id vip_subnet_id vip_network_id vip_qos_policy_id provider flavor_id availability_zone created_at updated_at")
	listenerColumnNames = ("id project_id loadbalancer_id name description admin_state_up provisioning_status operating_status " +
		"protocol protocol_port connection_limit default_pool_id timeout_client_data timeout_member_connect timeout_member_data " +
		"timeout_tcp_inspect default_tls_container_ref client_ca_tls_container_ref client_authentication client_crl_container_ref " +
		"tls_ciphers hsts_max_age hsts_include_subdomains hsts_preload created_at updated_at")
	poolColumnNames = ("id project_id loadbalancer_id name description admin_state_up provisioning_status operating_status " +
		"protocol lb_algorithm tls_enabled tls_container_ref ca_tls_container_ref crl_container_ref tls_ciphers created_at updated_at")
	memberColumnNames = ("id project_id pool_id loadbalancer_id name admin_state_up provisioning_status operating_status " +
		"address protocol_port weight backup subnet_id monitor_address monitor_port vnic_type created_at updated_at")
	healthMonitorColumnNames = ("id project_id pool_id loadbalancer_id name admin_state_up provisioning_status operating_status " +
		"type delay timeout max_retries max_retries_down http_method url_path expected_codes http_version domain_name created_at updated_at")
)

// listParams is a parsed collection query.
type listParams struct {
	query      store.Query
	limit      int // 0 = no limit in force
	sortRaw    string
	sortKeyRaw string
	fields     []string // nil = all
	projectID  string   // project_id filter, "" = none
	hasProject bool
}

const (
	msgBadFilter = "One or more arguments are either duplicate or invalid"
)

// parseList parses a collection query string for a resource whose
// filterable and sortable attributes are columns.
func (s *Server) parseList(q url.Values, columns map[string]bool) (*listParams, error) {
	p := &listParams{}
	// limit
	limit := s.maxLimit
	if vs, ok := q["limit"]; ok {
		raw := vs[0]
		if raw == "infinite" {
			limit = 0
		} else {
			n, msg := pyInt(raw)
			if msg != "" {
				return nil, badRequest("Supplied pagination limit '%s' is not valid.", raw)
			}
			switch {
			case n < 1:
				limit = 0
			case s.maxLimit > 0 && n > int64(s.maxLimit):
				limit = s.maxLimit
			default:
				limit = int(n)
			}
		}
	}
	p.limit = limit
	p.query.Limit = limit
	// sort
	p.sortRaw, p.sortKeyRaw = first(q, "sort"), first(q, "sort_key")
	type key struct{ name, dir string }
	var keys []key
	switch {
	case p.sortRaw != "":
		for _, part := range strings.Split(p.sortRaw, ",") {
			comps := strings.Split(part, ":")
			switch len(comps) {
			case 1:
				keys = append(keys, key{comps[0], "asc"})
			case 2:
				d, err := sortDir(comps[1])
				if err != nil {
					return nil, err
				}
				keys = append(keys, key{comps[0], d})
			default:
				return nil, badRequest("Supplied sort key '%s' is not valid.", pyRepr(anyStrings(comps)))
			}
		}
	case p.sortKeyRaw != "":
		names := strings.Split(p.sortKeyRaw, ",")
		var dirs []string
		if raw := first(q, "sort_dir"); raw != "" {
			dirs = strings.Split(raw, ",")
		}
		for i, n := range names {
			d := "asc"
			if i < len(dirs) {
				var err error
				if d, err = sortDir(dirs[i]); err != nil {
					return nil, err
				}
			}
			keys = append(keys, key{n, d})
		}
	}
	// filters
	seen := map[string]bool{}
	for k, vs := range q {
		switch k {
		case "limit", "marker", "sort", "sort_key", "sort_dir", "fields", "page_reverse":
			continue
		case "tags", "tags-any", "not-tags", "not-tags-any":
			tags := splitTags(vs)
			switch k {
			case "tags":
				p.query.Tags.All = tags
			case "tags-any":
				p.query.Tags.Any = tags
			case "not-tags":
				p.query.Tags.NotAll = tags
			default:
				p.query.Tags.NotAny = tags
			}
			continue
		}
		name := k
		if name == "tenant_id" {
			name = "project_id"
		}
		if !columns[name] || len(vs) != 1 || seen[name] {
			return nil, badRequest(msgBadFilter)
		}
		seen[name] = true
		if name == "project_id" {
			p.projectID, p.hasProject = vs[0], true
			continue
		}
		p.query.Filters = append(p.query.Filters, store.F(name, vs[0]))
	}
	for _, k := range keys {
		if !columns[k.name] {
			return nil, badRequest("Supplied sort key '%s' is not valid.", k.name)
		}
		p.query.Sort = append(p.query.Sort, store.Sort{Field: k.name, Desc: k.dir == "desc"})
	}
	p.query.Marker = first(q, "marker")
	p.query.PageReverse = first(q, "page_reverse") == "True"
	if vs, ok := q["fields"]; ok {
		p.fields = vs
	}
	return p, nil
}

func anyStrings(l []string) []any {
	out := make([]any, len(l))
	for i, s := range l {
		out[i] = s
	}
	return out
}

func sortDir(d string) (string, error) {
	d = strings.ToLower(d)
	if d != "asc" && d != "desc" {
		return "", badRequest("Supplied sort direction '%s' is not valid.", d)
	}
	return d, nil
}

// splitTags merges repeated and comma-separated tag parameters.
func splitTags(vs []string) []string {
	var out []string
	for _, v := range vs {
		out = append(out, strings.Split(v, ",")...)
	}
	return out
}

// scope applies Octavia's project scoping of lists: callers passing
// get_all-global see every project (or the one they ask for), others only
// their own (asking for another is 403).
func (p *listParams) scope(q *request, o policy.Object) error {
	if err := q.authorize(o, policy.GetAllGlobal, p.projectID); err == nil {
		if p.hasProject {
			p.query.Filters = append(p.query.Filters, store.F("project_id", p.projectID))
		}
		return nil
	}
	project := p.projectID
	if !p.hasProject {
		project = q.caller.ProjectID
	}
	if project == "" {
		return policy.ErrDenied
	}
	if project != q.caller.ProjectID {
		return policy.ErrDenied
	}
	if err := q.authorize(o, policy.GetAll, project); err != nil {
		return err
	}
	p.query.Filters = append(p.query.Filters, store.F("project_id", project))
	return nil
}

// queryError translates a store query error into Octavia's message.
func queryError(err error) error {
	var qe *store.QueryError
	if !errors.As(err, &qe) {
		return err
	}
	switch qe.Part {
	case "marker":
		return badRequest("Supplied pagination marker '%s' is not valid.", qe.Field)
	case "sort":
		return badRequest("Supplied sort key '%s' is not valid.", qe.Field)
	}
	return badRequest(msgBadFilter)
}

// links builds the <plural>_links of a page (Octavia's _make_links).
func (s *Server) links(q *request, p *listParams, ids []string) []pageLink {
	out := []pageLink{}
	if len(ids) == 0 {
		return out
	}
	path := httpapi.BaseURL(q.r, s.baseURL) + q.r.URL.EscapedPath()
	limit := "None"
	if p.limit > 0 {
		limit = strconv.Itoa(p.limit)
	}
	attrs := "limit=" + limit
	if p.sortRaw != "" {
		attrs += "&sort=" + p.sortRaw
	}
	if p.sortKeyRaw != "" {
		attrs += "&sort_key=" + p.sortKeyRaw
	}
	if p.query.Marker != "" {
		out = append(out, pageLink{Rel: "previous", Href: path + "?" + attrs + "&marker=" + ids[0] + "&page_reverse=True"})
	}
	if p.limit == 0 || len(ids) >= p.limit {
		out = append(out, pageLink{Rel: "next", Href: path + "?" + attrs + "&marker=" + ids[len(ids)-1]})
	}
	return out
}

// page serves one page of a collection in one transaction: before runs
// first (lookups and checks of the path, which may narrow p's query), then
// the table is listed with p's filters, sort and paging, and render turns
// the page into wire items, reading the references of the whole page at
// once.
type page[T any] struct {
	plural string
	table  func(store.Tx) store.Table[T]
	id     func(*T) string
	before func(tx store.Tx) error
	render func(tx store.Tx, list []*T, ids []string) ([]any, error)
	// linkKeys are extra keys for the links (Octavia's singular
	// spellings).
	linkKeys []string
}

func (pg page[T]) serve(s *Server, q *request, p *listParams) error {
	var items []any
	var ids []string
	err := s.store.View(q.ctx, func(tx store.Tx) error {
		if pg.before != nil {
			if err := pg.before(tx); err != nil {
				return err
			}
		}
		list, err := pg.table(tx).List(q.ctx, p.query)
		if err != nil {
			return queryError(err)
		}
		ids = make([]string, len(list))
		for i, x := range list {
			ids[i] = pg.id(x)
		}
		items, err = pg.render(tx, list, ids)
		return err
	})
	if err != nil {
		return err
	}
	return s.writeList(q, p, pg.plural, items, ids, pg.linkKeys...)
}

// each renders every item of a page on its own.
func each[T any](wire func(*T) any) func(store.Tx, []*T, []string) ([]any, error) {
	return func(_ store.Tx, list []*T, _ []string) ([]any, error) {
		items := make([]any, len(list))
		for i, x := range list {
			items[i] = wire(x)
		}
		return items, nil
	}
}

// under narrows a list to the children of one parent (members of a pool,
// rules of a policy); a project_id filter still applies.
func (p *listParams) under(field, parentID string) {
	if p.hasProject {
		p.query.Filters = append(p.query.Filters, store.F("project_id", p.projectID))
	}
	p.query.Filters = append(p.query.Filters, store.F(field, parentID))
}

// scopedList parses a list query and applies the caller's project scope.
func (s *Server) scopedList(q *request, columns map[string]bool, o policy.Object) (*listParams, error) {
	p, err := s.parseList(q.query, columns)
	if err != nil {
		return nil, err
	}
	return p, p.scope(q, o)
}
