package network

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/fulcrumlb/fulcrum/internal/httpapi"
	"github.com/fulcrumlb/fulcrum/internal/ids"
	"github.com/fulcrumlb/fulcrum/internal/network/neutron"
	"github.com/fulcrumlb/fulcrum/internal/policy"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// Security groups and their rules, as Neutron's security-group extension:
// every project has a "default" group, made on first use (listing groups
// or rules, creating a group or a port) with egress allowed and ingress
// allowed from the group's own ports; every other group starts with the
// two egress rules. Ports carry groups (security_groups); a port created
// without naming any gets its project's default group unless its port
// security is off. For load balancers, the ingress rules of the VIP port's
// groups filter the clients of every listener (VIPIngress).

// defaultSecurityGroupDescription is Neutron's description of the default
// group.
const defaultSecurityGroupDescription = "Default security group"

// maxName is the longest name or description Neutron stores.
const maxName = 255

type securityGroupBody struct {
	owned
	common
	Stateful *bool `json:"stateful"`
}

// securityGroupJSON is a security group on the wire.
type securityGroupJSON struct {
	owner
	Stateful bool       `json:"stateful"`
	Shared   bool       `json:"shared"`
	Rules    []ruleJSON `json:"security_group_rules"`
	standard
}

// ruleJSON is a security group rule on the wire.
type ruleJSON struct {
	ID                   string  `json:"id"`
	ProjectID            string  `json:"project_id"`
	TenantID             string  `json:"tenant_id"`
	SecurityGroupID      string  `json:"security_group_id"`
	Description          string  `json:"description"`
	Direction            string  `json:"direction"`
	EtherType            string  `json:"ethertype"`
	Protocol             *string `json:"protocol"`
	PortRangeMin         *int    `json:"port_range_min"`
	PortRangeMax         *int    `json:"port_range_max"`
	RemoteIPPrefix       *string `json:"remote_ip_prefix"`
	RemoteGroupID        *string `json:"remote_group_id"`
	RemoteAddressGroupID *string `json:"remote_address_group_id"`
	NormalizedCIDR       *string `json:"normalized_cidr"`
	BelongsToDefaultSG   bool    `json:"belongs_to_default_sg"`
	standard
}

func securityGroupTarget(g *neutron.SecurityGroup) policy.Target {
	return policy.Target{"project_id": g.ProjectID, "security_groups:shared": "False"}
}

var securityGroupResource = &resource[neutron.SecurityGroup]{
	name: "security_group", plural: "security_groups", title: "Security group", notFound: "SecurityGroupNotFound",
	missingFormat: "Security group %s does not exist",
	table:         func(tx store.Tx) store.Table[neutron.SecurityGroup] { return tx.SecurityGroups() },
	id:            func(g *neutron.SecurityGroup) string { return g.ID },
	filters:       listFilters("stateful", "revision_number"),
	target: func(_ context.Context, _ *networks, g *neutron.SecurityGroup) (policy.Target, error) {
		return securityGroupTarget(g), nil
	},
	render: renderSecurityGroups,
}

// ruleTargets memoises the groups of rules (their owners are in the
// rules' targets).
func ruleTarget(ctx context.Context, nets *networks, r *neutron.SecurityGroupRule) (policy.Target, error) {
	t := policy.Target{"project_id": r.ProjectID}
	g, err := nets.group(ctx, r.SecurityGroupID)
	if err != nil {
		return nil, err
	}
	if g != nil {
		t["security_group:project_id"] = g.ProjectID
	}
	return t, nil
}

var ruleResource = &resource[neutron.SecurityGroupRule]{
	name: "security_group_rule", plural: "security_group_rules", title: "Security group rule", notFound: "SecurityGroupRuleNotFound",
	missingFormat: "Security group rule %s does not exist",
	table:         func(tx store.Tx) store.Table[neutron.SecurityGroupRule] { return tx.SecurityGroupRules() },
	id:            func(r *neutron.SecurityGroupRule) string { return r.ID },
	filters: listFilters("security_group_id", "direction", "ethertype", "protocol", "port_range_min", "port_range_max",
		"remote_ip_prefix", "remote_group_id", "revision_number"),
	target: ruleTarget,
	render: renderRules,
}

func renderSecurityGroups(ctx context.Context, tx store.Tx, list []*neutron.SecurityGroup) ([]any, error) {
	gids := make([]string, len(list))
	for i, g := range list {
		gids[i] = g.ID
	}
	rules, err := tx.SecurityGroupRules().List(ctx, store.Query{Filters: []store.Filter{store.In("security_group_id", gids...)}})
	if err != nil {
		return nil, err
	}
	byGroup := map[string][]*neutron.SecurityGroupRule{}
	for _, r := range rules {
		byGroup[r.SecurityGroupID] = append(byGroup[r.SecurityGroupID], r)
	}
	out := make([]any, len(list))
	for i, g := range list {
		rs := make([]ruleJSON, 0, len(byGroup[g.ID]))
		for _, r := range byGroup[g.ID] {
			rs = append(rs, renderRule(r, g.IsDefault))
		}
		st := standardOf(g.Tags, g.Times)
		st.RevisionNumber = g.RevisionNumber
		out[i] = securityGroupJSON{owner: ownerOf(g.ID, g.Name, g.Description, g.ProjectID), Stateful: g.Stateful,
			Rules: rs, standard: st}
	}
	return out, nil
}

func renderRules(ctx context.Context, tx store.Tx, list []*neutron.SecurityGroupRule) ([]any, error) {
	defaults := map[string]bool{}
	for _, r := range list {
		if _, ok := defaults[r.SecurityGroupID]; ok {
			continue
		}
		g, err := tx.SecurityGroups().Get(ctx, r.SecurityGroupID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		defaults[r.SecurityGroupID] = err == nil && g.IsDefault
	}
	out := make([]any, len(list))
	for i, r := range list {
		out[i] = renderRule(r, defaults[r.SecurityGroupID])
	}
	return out, nil
}

func renderRule(r *neutron.SecurityGroupRule, inDefault bool) ruleJSON {
	st := standardOf(nil, r.Times)
	st.RevisionNumber = r.RevisionNumber
	return ruleJSON{ID: r.ID, ProjectID: r.ProjectID, TenantID: r.ProjectID, SecurityGroupID: r.SecurityGroupID,
		Description: r.Description, Direction: r.Direction, EtherType: r.EtherType, Protocol: nullable(r.Protocol),
		PortRangeMin: r.PortRangeMin, PortRangeMax: r.PortRangeMax, RemoteIPPrefix: nullable(r.RemoteIPPrefix),
		RemoteGroupID: nullable(r.RemoteGroupID), NormalizedCIDR: nullable(r.NormalizedCIDR()),
		BelongsToDefaultSG: inDefault, standard: st}
}

// defaultGroupID is the id of project's default group: derived from the
// project, so that two transactions making it at once make one.
func defaultGroupID(project string) string { return derivedID("default-security-group", project) }

// egressRules are the rules every new group gets; the default group also
// gets ingress from its own ports.
func templateRules(g *neutron.SecurityGroup) []*neutron.SecurityGroupRule {
	var out []*neutron.SecurityGroupRule
	add := func(direction, ether, remote string) {
		id := ids.New()
		if g.IsDefault {
			id = derivedID("default-security-group-rule/"+direction+"/"+ether, g.ProjectID)
		}
		out = append(out, &neutron.SecurityGroupRule{ID: id, ProjectID: g.ProjectID, SecurityGroupID: g.ID,
			Direction: direction, EtherType: ether, RemoteGroupID: remote, Times: g.Times})
	}
	add(neutron.Egress, neutron.IPv4, "")
	add(neutron.Egress, neutron.IPv6, "")
	if g.IsDefault {
		add(neutron.Ingress, neutron.IPv4, g.ID)
		add(neutron.Ingress, neutron.IPv6, g.ID)
	}
	return out
}

// ensureDefaultGroup makes project's default group unless it exists, and
// returns its id. As in Neutron, a caller makes it only for its own project
// (admins for any); otherwise "" when there is none.
func (s *Service) ensureDefaultGroup(ctx context.Context, tx store.Tx, c policy.Caller, project string) (string, error) {
	if project == "" {
		return "", nil
	}
	id := defaultGroupID(project)
	if _, err := tx.SecurityGroups().Get(ctx, id); err == nil {
		return id, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return "", err
	}
	if project != c.ProjectID && !s.allowed(c, "admin_only", nil) {
		return "", nil
	}
	now := s.now()
	g := &neutron.SecurityGroup{ID: id, ProjectID: project, Name: neutron.DefaultSecurityGroupName,
		Description: defaultSecurityGroupDescription, Stateful: true, IsDefault: true, Tags: []string{},
		Times: neutron.Times{CreatedAt: now, UpdatedAt: now}}
	made, err := tx.SecurityGroups().CreateIfAbsent(ctx, g)
	if err != nil {
		return "", fmt.Errorf("create default security group of %s: %w", project, err)
	}
	if made {
		for _, r := range templateRules(g) {
			if err := tx.SecurityGroupRules().Create(ctx, r); err != nil {
				return "", fmt.Errorf("create default security group of %s: %w", project, err)
			}
		}
	}
	return id, nil
}

// ensureDefaultFor makes, in a transaction of its own, the default group
// of the project a list call is about (its project_id or tenant_id filter,
// else the caller's), as Neutron does when groups or rules are listed.
func (s *Service) ensureDefaultFor(r *http.Request, c policy.Caller) error {
	q, err := query(r)
	if err != nil {
		return err
	}
	project := c.ProjectID
	if p := q.Get("project_id"); p != "" {
		project = p
	} else if p := q.Get("tenant_id"); p != "" {
		project = p
	}
	if project == "" {
		return nil
	}
	ctx := r.Context()
	exists := false
	err = s.view(ctx, func(tx store.Tx) error {
		_, err := tx.SecurityGroups().Get(ctx, defaultGroupID(project))
		exists = err == nil
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		return err
	})
	if err != nil || exists {
		return err
	}
	return s.update(ctx, func(tx store.Tx) error {
		_, err := s.ensureDefaultGroup(ctx, tx, c, project)
		return err
	})
}

func (s *Service) listSecurityGroups(w http.ResponseWriter, r *http.Request, c policy.Caller) error {
	if err := s.ensureDefaultFor(r, c); err != nil {
		return err
	}
	return securityGroupResource.list(s)(w, r, c)
}

func (s *Service) listRules(w http.ResponseWriter, r *http.Request, c policy.Caller) error {
	if err := s.ensureDefaultFor(r, c); err != nil {
		return err
	}
	return ruleResource.list(s)(w, r, c)
}

// checkName refuses a name or description longer than Neutron stores.
func checkName(resource, attr string, v *string) error {
	if v != nil && utf8.RuneCountInString(*v) > maxName {
		return badRequest(resource, fmt.Sprintf("Invalid input for %s. Reason: '%s' exceeds maximum length of %d", attr, *v, maxName))
	}
	return nil
}

func (s *Service) createSecurityGroup(ctx context.Context, c policy.Caller, project string, b *securityGroupBody) (any, []string, error) {
	for _, f := range []struct {
		attr string
		v    *string
	}{{"name", b.Name}, {"description", b.Description}} {
		if err := checkName("security_group", f.attr, f.v); err != nil {
			return nil, nil, err
		}
	}
	if strings.EqualFold(str(b.Name), neutron.DefaultSecurityGroupName) {
		return nil, nil, conflict("SecurityGroupDefaultAlreadyExists", "Default security group already exists.")
	}
	now := s.now()
	g := &neutron.SecurityGroup{ID: ids.New(), ProjectID: project, Name: str(b.Name), Description: str(b.Description),
		Stateful: b.Stateful == nil || *b.Stateful, Tags: []string{}, Times: neutron.Times{CreatedAt: now, UpdatedAt: now}}
	set(&g.Tags, b.Tags)
	if err := checkTags(g.Tags); err != nil {
		return nil, nil, err
	}
	if err := s.authorize(c, "create_security_group", securityGroupTarget(g)); err != nil {
		return nil, nil, err
	}
	var out any
	err := s.update(ctx, func(tx store.Tx) error {
		if _, err := s.ensureDefaultGroup(ctx, tx, c, project); err != nil {
			return err
		}
		rules := templateRules(g)
		if err := s.reserve(ctx, tx, c, project, map[neutron.QuotaResource]int{neutron.QuotaSecurityGroup: 1,
			neutron.QuotaSecurityGroupRule: len(rules)}); err != nil {
			return err
		}
		if err := tx.SecurityGroups().Create(ctx, g); err != nil {
			return err
		}
		for _, r := range rules {
			if err := tx.SecurityGroupRules().Create(ctx, r); err != nil {
				return err
			}
		}
		var err error
		out, err = securityGroupResource.one(ctx, tx, g)
		return err
	})
	return out, nil, err
}

// revisionKey carries the revision an update is constrained to (If-Match:
// revision_number=N), when the request names one.
type revisionKey struct{}

// constrainRevision reads If-Match: revision_number=N into the context.
func constrainRevision(r *http.Request) (*http.Request, error) {
	for _, v := range r.Header.Values("If-Match") {
		for _, part := range strings.Split(v, ",") {
			k, val, ok := strings.Cut(strings.TrimSpace(part), "=")
			if !ok || k != "revision_number" {
				continue
			}
			n, err := strconv.Atoi(strings.TrimSpace(val))
			if err != nil {
				return nil, badRequest("security_group", "If-Match revision_number must be an integer")
			}
			return r.WithContext(context.WithValue(r.Context(), revisionKey{}, n)), nil
		}
	}
	return r, nil
}

// checkRevision answers 412 when the update is constrained to another
// revision than current.
func checkRevision(ctx context.Context, current int) error {
	want, ok := ctx.Value(revisionKey{}).(int)
	if !ok || want == current {
		return nil
	}
	return &Error{Code: http.StatusPreconditionFailed, Type: "RevisionNumberConstraintFailed",
		Message: fmt.Sprintf("Constrained to %d, but current revision is %d", want, current)}
}

// withRevision makes h honour If-Match: revision_number=N.
func withRevision(h handler) handler {
	return func(w http.ResponseWriter, r *http.Request, c policy.Caller) error {
		r, err := constrainRevision(r)
		if err != nil {
			return err
		}
		return h(w, r, c)
	}
}

func (s *Service) changeSecurityGroup(ctx context.Context, tx store.Tx, c policy.Caller, g *neutron.SecurityGroup, _ policy.Target, b *securityGroupBody) ([]string, error) {
	if err := checkRevision(ctx, g.RevisionNumber); err != nil {
		return nil, err
	}
	for _, f := range []struct {
		attr string
		v    *string
	}{{"name", b.Name}, {"description", b.Description}} {
		if err := checkName("security_group", f.attr, f.v); err != nil {
			return nil, err
		}
	}
	if b.Name != nil {
		if g.IsDefault {
			return nil, conflict("SecurityGroupCannotUpdateDefault", "Updating default security group not allowed.")
		}
		if strings.EqualFold(*b.Name, neutron.DefaultSecurityGroupName) {
			return nil, conflict("SecurityGroupDefaultAlreadyExists", "Default security group already exists.")
		}
	}
	if b.Tags != nil {
		if err := checkTags(*b.Tags); err != nil {
			return nil, err
		}
	}
	if b.Stateful != nil && *b.Stateful != g.Stateful {
		n, err := tx.PortSecurityGroups().Count(ctx, store.F("security_group_id", g.ID))
		if err != nil {
			return nil, err
		}
		if n > 0 {
			return nil, conflict("SecurityGroupInUse", fmt.Sprintf("Security Group %s in use.", g.ID))
		}
		g.Stateful = *b.Stateful
	}
	b.apply(&g.Name, &g.Description, &g.Tags)
	g.RevisionNumber++
	g.UpdatedAt = s.now()
	return nil, nil
}

// deleteSecurityGroup removes a group no port carries, with its rules and
// the rules of other groups that name it as their remote group.
func (s *Service) deleteSecurityGroupCall(ctx context.Context, c policy.Caller) func(context.Context, store.Tx, *neutron.SecurityGroup) ([]string, error) {
	return func(ctx context.Context, tx store.Tx, g *neutron.SecurityGroup) ([]string, error) {
		n, err := tx.PortSecurityGroups().Count(ctx, store.F("security_group_id", g.ID))
		if err != nil {
			return nil, err
		}
		if n > 0 {
			return nil, conflict("SecurityGroupInUse", fmt.Sprintf("Security Group %s in use.", g.ID))
		}
		if g.IsDefault && !s.allowed(c, "admin_only", nil) {
			return nil, conflict("SecurityGroupCannotRemoveDefault", "Insufficient rights for removing default security group.")
		}
		touched, err := s.touchGroups(ctx, tx, []string{g.ID})
		if err != nil {
			return nil, err
		}
		if err := tx.SecurityGroups().Delete(ctx, g.ID); err != nil {
			if errors.Is(err, store.ErrConflict) { // a port took it meanwhile
				return nil, conflict("SecurityGroupInUse", fmt.Sprintf("Security Group %s in use.", g.ID))
			}
			return nil, err
		}
		return touched, nil
	}
}

// removeSecurityGroup answers DELETE /security-groups/{id}.
func (s *Service) removeSecurityGroup(w http.ResponseWriter, r *http.Request, c policy.Caller) error {
	return securityGroupResource.remove(s, s.deleteSecurityGroupCall(r.Context(), c))(w, r, c)
}

// ruleBody is a security group rule in a create body. Protocol and ports
// may be strings or numbers, as Neutron converts them.
type ruleBody struct {
	owned
	SecurityGroupID      *string         `json:"security_group_id"`
	Description          *string         `json:"description"`
	Direction            *string         `json:"direction"`
	EtherType            *string         `json:"ethertype"`
	Protocol             json.RawMessage `json:"protocol"`
	PortRangeMin         json.RawMessage `json:"port_range_min"`
	PortRangeMax         json.RawMessage `json:"port_range_max"`
	RemoteIPPrefix       *string         `json:"remote_ip_prefix"`
	RemoteGroupID        *string         `json:"remote_group_id"`
	RemoteAddressGroupID *string         `json:"remote_address_group_id"`
}

// ruleUpdateBody is what a rule update may carry: its description (the
// other attributes are read-only).
type ruleUpdateBody struct {
	owned
	Description *string `json:"description"`
	Other       map[string]json.RawMessage
}

func (b *ruleUpdateBody) UnmarshalJSON(data []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return err
	}
	for k, v := range m {
		switch k {
		case "description":
			if err := json.Unmarshal(v, &b.Description); err != nil {
				return err
			}
		case "project_id":
			b.ProjectID = new(string)
		case "tenant_id":
			b.TenantID = new(string)
		default:
			if b.Other == nil {
				b.Other = map[string]json.RawMessage{}
			}
			b.Other[k] = v
		}
	}
	return nil
}

// scalar reads a JSON string or number ("" for null or absent).
func scalar(raw json.RawMessage) (string, bool) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", true
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, true
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err == nil {
		return n.String(), true
	}
	return "", false
}

func ruleInvalid(attr string, raw json.RawMessage) *Error {
	return badRequest("security_group_rule", fmt.Sprintf("Invalid input for %s. Reason: '%s' is not a valid value", attr, raw))
}

// port reads port_range_min or _max: an integer 0–65535, as a number or a
// string; nil when absent or null.
func port(attr string, raw json.RawMessage) (*int, error) {
	v, ok := scalar(raw)
	if !ok {
		return nil, ruleInvalid(attr, raw)
	}
	if v == "" {
		return nil, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > 65535 {
		return nil, ruleErr(&neutron.RuleError{Type: "SecurityGroupInvalidPortValue", Msg: "Invalid value for port " + v})
	}
	return &n, nil
}

func ruleErr(err error) error {
	var re *neutron.RuleError
	if errors.As(err, &re) {
		return &Error{Code: http.StatusBadRequest, Type: re.Type, Message: re.Msg}
	}
	return err
}

// parseRule turns a create body into a rule (its project and group
// checked later), applying Neutron's conversions and checks.
func parseRule(b *ruleBody) (*neutron.SecurityGroupRule, error) {
	r := &neutron.SecurityGroupRule{ID: ids.New(), SecurityGroupID: str(b.SecurityGroupID), Description: str(b.Description),
		RemoteGroupID: str(b.RemoteGroupID)}
	if r.SecurityGroupID == "" {
		return nil, badRequest("security_group_rule", "Failed to parse request. Required attribute 'security_group_id' not specified")
	}
	if err := checkName("security_group_rule", "description", b.Description); err != nil {
		return nil, err
	}
	if str(b.RemoteAddressGroupID) != "" {
		return nil, badRequest("security_group_rule", "Unrecognized attribute(s) 'remote_address_group_id': address groups are not supported")
	}
	switch d := str(b.Direction); d {
	case neutron.Ingress, neutron.Egress:
		r.Direction = d
	case "":
		return nil, badRequest("security_group_rule", "Failed to parse request. Required attribute 'direction' not specified")
	default:
		return nil, badRequest("security_group_rule", fmt.Sprintf("Invalid input for direction. Reason: '%s' is not in ['ingress', 'egress']", d))
	}
	p, ok := scalar(b.Protocol)
	if !ok {
		return nil, ruleInvalid("protocol", b.Protocol)
	}
	var err error
	if r.Protocol, err = neutron.ParseProtocol(p); err != nil {
		return nil, ruleErr(err)
	}
	if r.PortRangeMin, err = port("port_range_min", b.PortRangeMin); err != nil {
		return nil, err
	}
	if r.PortRangeMax, err = port("port_range_max", b.PortRangeMax); err != nil {
		return nil, err
	}
	r.EtherType = neutron.IPv4
	if b.EtherType != nil {
		if r.EtherType, err = neutron.ParseEtherType(*b.EtherType); err != nil {
			return nil, ruleErr(err)
		}
	}
	if r.RemoteIPPrefix, err = neutron.ParseRemotePrefix(str(b.RemoteIPPrefix)); err != nil {
		return nil, ruleErr(err)
	}
	return r, ruleErr(neutron.CheckRule(r))
}

// createRules answers POST /security-group-rules with one rule
// ({"security_group_rule": …}) or several of one group
// ({"security_group_rules": […]}, all or none).
func (s *Service) createRules(w http.ResponseWriter, r *http.Request, c policy.Caller) error {
	body, err := readBody(r)
	if err != nil {
		return err
	}
	var outer map[string]json.RawMessage
	if err := json.Unmarshal(body, &outer); err != nil {
		return badRequest("security_group_rule", "Malformed request body")
	}
	var bodies []ruleBody
	bulk := false
	if raw, ok := outer["security_group_rules"]; ok {
		bulk = true
		var list []map[string]json.RawMessage
		if err := json.Unmarshal(raw, &list); err != nil {
			return badRequest("security_group_rule", "Invalid input: "+err.Error())
		}
		if len(list) == 0 {
			return badRequest("security_group_rule", "Resources required")
		}
		for _, item := range list {
			inner, ok := item["security_group_rule"]
			if !ok {
				b, _ := json.Marshal(item)
				inner = b
			}
			var b ruleBody
			if err := json.Unmarshal(inner, &b); err != nil {
				return badRequest("security_group_rule", "Invalid input: "+err.Error())
			}
			bodies = append(bodies, b)
		}
	} else if raw, ok := outer["security_group_rule"]; ok {
		var b ruleBody
		if err := json.Unmarshal(raw, &b); err != nil {
			return badRequest("security_group_rule", "Invalid input: "+err.Error())
		}
		bodies = append(bodies, b)
	} else {
		return badRequest("security_group_rule", "Resource body required")
	}
	rules := make([]*neutron.SecurityGroupRule, 0, len(bodies))
	projects := map[string]bool{}
	for i := range bodies {
		rule, err := parseRule(&bodies[i])
		if err != nil {
			return err
		}
		rule.ProjectID = bodies[i].project()
		projects[rule.ProjectID] = true
		if len(rules) > 0 && rule.SecurityGroupID != rules[0].SecurityGroupID {
			return badRequest("security_group_rule", "Only allowed to update rules for one security profile at a time")
		}
		rules = append(rules, rule)
	}
	if len(projects) > 1 {
		return badRequest("security_group_rule", "Multiple tenant_ids in bulk security group rule create not allowed")
	}
	ctx := r.Context()
	var out []any
	var touched []string
	err = s.update(ctx, func(tx store.Tx) error {
		var err error
		out, touched, err = s.addRules(ctx, tx, c, rules)
		return err
	})
	if err != nil {
		return err
	}
	s.notify(touched)
	if bulk {
		httpapi.WriteJSON(w, http.StatusCreated, map[string]any{"security_group_rules": out})
	} else {
		httpapi.WriteJSON(w, http.StatusCreated, map[string]any{"security_group_rule": out[0]})
	}
	return nil
}

// addRules stores rules of one group (checked by parseRule) for c: the
// group and any remote group must exist for the rule's project, the rules
// must be new, and the quota must allow them.
func (s *Service) addRules(ctx context.Context, tx store.Tx, c policy.Caller, rules []*neutron.SecurityGroupRule) ([]any, []string, error) {
	nets := newNetworks(tx)
	sgID := rules[0].SecurityGroupID
	g, _, err := securityGroupResource.visible(ctx, s, nets, c, sgID)
	if err != nil {
		return nil, nil, err
	}
	project := rules[0].ProjectID
	if project == "" {
		project = g.ProjectID
	}
	// A rule belongs to its group's project: naming another project is
	// asking for a group of that project, which this one is not.
	if project != g.ProjectID {
		return nil, nil, securityGroupResource.missing(sgID)
	}
	if err := s.authorize(c, "create_security_group_rule", policy.Target{"project_id": project, "security_group:project_id": g.ProjectID}); err != nil {
		return nil, nil, err
	}
	// The group's row lock makes the duplicate check below exact: rule
	// creates in one group, through any server, take turns from here on
	// (each then reads the rules the previous one committed).
	if g, err = tx.SecurityGroups().Lock(ctx, sgID); errors.Is(err, store.ErrNotFound) {
		return nil, nil, securityGroupResource.missing(sgID)
	} else if err != nil {
		return nil, nil, err
	}
	existing, err := tx.SecurityGroupRules().List(ctx, store.Query{Filters: []store.Filter{store.F("security_group_id", sgID)}})
	if err != nil {
		return nil, nil, err
	}
	keys := map[string]bool{}
	now := s.now()
	for _, r := range rules {
		r.ProjectID = project
		r.Times = neutron.Times{CreatedAt: now, UpdatedAt: now}
		if r.RemoteGroupID != "" {
			rg, err := tx.SecurityGroups().Get(ctx, r.RemoteGroupID)
			if errors.Is(err, store.ErrNotFound) || err == nil && rg.ProjectID != project {
				return nil, nil, securityGroupResource.missing(r.RemoteGroupID)
			}
			if err != nil {
				return nil, nil, err
			}
		}
		k := r.Key()
		if keys[k] {
			return nil, nil, conflict("DuplicateSecurityGroupRuleInPost", "Duplicate Security Group Rule in POST.")
		}
		keys[k] = true
	}
	for _, e := range existing {
		if keys[e.Key()] {
			return nil, nil, conflict("SecurityGroupRuleExists", fmt.Sprintf("Security group rule already exists. Rule id is %s.", e.ID))
		}
	}
	if err := s.reserve(ctx, tx, c, project, map[neutron.QuotaResource]int{neutron.QuotaSecurityGroupRule: len(rules)}); err != nil {
		return nil, nil, err
	}
	for _, r := range rules {
		if err := tx.SecurityGroupRules().Create(ctx, r); err != nil {
			return nil, nil, err
		}
	}
	if err := bumpGroup(ctx, tx, g, now); err != nil {
		return nil, nil, err
	}
	touched, err := s.touchGroups(ctx, tx, []string{sgID})
	if err != nil {
		return nil, nil, err
	}
	out := make([]any, len(rules))
	for i, r := range rules {
		out[i] = renderRule(r, g.IsDefault)
	}
	return out, touched, nil
}

// bumpGroup records a change of g's rules in its revision.
func bumpGroup(ctx context.Context, tx store.Tx, g *neutron.SecurityGroup, now time.Time) error {
	g.RevisionNumber++
	g.UpdatedAt = now
	return tx.SecurityGroups().Update(ctx, g)
}

func (s *Service) changeRule(ctx context.Context, tx store.Tx, _ policy.Caller, r *neutron.SecurityGroupRule, _ policy.Target, b *ruleUpdateBody) ([]string, error) {
	for k := range b.Other {
		return nil, readOnly("security_group_rule", k)
	}
	if err := checkName("security_group_rule", "description", b.Description); err != nil {
		return nil, err
	}
	set(&r.Description, b.Description)
	r.RevisionNumber++
	r.UpdatedAt = s.now()
	return nil, nil
}

// deleteRule removes a rule; the load balancers whose VIP filter used it
// are reconciled.
func (s *Service) deleteRule(ctx context.Context, tx store.Tx, r *neutron.SecurityGroupRule) ([]string, error) {
	if err := tx.SecurityGroupRules().Delete(ctx, r.ID); err != nil {
		return nil, err
	}
	g, err := tx.SecurityGroups().Get(ctx, r.SecurityGroupID)
	if err == nil {
		err = bumpGroup(ctx, tx, g, s.now())
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	return s.touchGroups(ctx, tx, []string{r.SecurityGroupID})
}

// portGroups checks the security groups a port body names for a port of
// project: each must exist and belong to that project (admins may name any
// group), and stateful and stateless groups do not mix. Neutron answers a
// group the port's project may not use as not found.
func (s *Service) portGroups(ctx context.Context, tx store.Tx, c policy.Caller, project string, groupIDs []string) ([]string, error) {
	groupIDs = dedupe(slices.Clone(groupIDs))
	var missing []string
	stateful := map[bool]bool{}
	for _, id := range groupIDs {
		g, err := tx.SecurityGroups().Get(ctx, id)
		if errors.Is(err, store.ErrNotFound) || err == nil && g.ProjectID != project && !s.allowed(c, "admin_only", nil) {
			missing = append(missing, id)
			continue
		}
		if err != nil {
			return nil, err
		}
		stateful[g.Stateful] = true
	}
	if len(missing) > 0 {
		return nil, securityGroupResource.missing(strings.Join(missing, ", "))
	}
	if len(stateful) > 1 {
		return nil, conflict("SecurityGroupConflict", "Error Cannot apply both stateful and stateless security groups on the same port at the same time while attempting the operation.")
	}
	return groupIDs, nil
}

// bindGroups records the groups port carries (replacing what it carried).
func bindGroups(ctx context.Context, tx store.Tx, p *neutron.Port) error {
	if _, err := tx.PortSecurityGroups().DeleteWhere(ctx, store.F("port_id", p.ID)); err != nil {
		return err
	}
	for _, g := range p.SecurityGroups {
		b := &neutron.PortSecurityGroup{ID: neutron.PortSecurityGroupID(p.ID, g), PortID: p.ID, SecurityGroupID: g}
		if err := tx.PortSecurityGroups().Create(ctx, b); err != nil {
			if errors.Is(err, store.ErrConflict) { // the group went meanwhile
				return securityGroupResource.missing(g)
			}
			return err
		}
	}
	return nil
}

// touchGroups starts a new generation of every load balancer whose VIP
// filter depends on one of groups: its VIP port carries one of them, or
// carries a group with a rule whose remote group is one of them (whose
// members' addresses it admits). It returns their ids.
func (s *Service) touchGroups(ctx context.Context, tx store.Tx, groups []string) ([]string, error) {
	groups = dedupe(slices.Clone(groups))
	if len(groups) == 0 {
		return nil, nil
	}
	rules, err := tx.SecurityGroupRules().List(ctx, store.Query{Filters: []store.Filter{store.In("remote_group_id", groups...)}})
	if err != nil {
		return nil, err
	}
	all := slices.Clone(groups)
	for _, r := range rules {
		all = append(all, r.SecurityGroupID)
	}
	all = dedupe(all)
	refs, err := tx.PortSecurityGroups().Refs(ctx, "security_group_id", all)
	if err != nil {
		return nil, err
	}
	var bindings []string
	for _, list := range refs {
		bindings = append(bindings, list...)
	}
	if len(bindings) == 0 {
		return nil, nil
	}
	ports := make([]string, 0, len(bindings))
	for _, b := range bindings {
		port, _, _ := strings.Cut(b, "/")
		ports = append(ports, port)
	}
	return touchVIPPorts(ctx, tx, s.now(), dedupe(ports)...)
}
