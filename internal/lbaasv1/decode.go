package lbaasv1

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/fulcrumlb/fulcrum/internal/lb"
)

// Request bodies are read with Neutron's attribute rules: each attribute
// may be sent on create (POST), on update (PUT) or both; unknown keys,
// missing required ones and values of the wrong kind are refused with
// Neutron's messages ("Invalid input for <attr>. Reason: ...").

// maxBody is the largest request body read.
const maxBody = 1 << 20

type kind int

const (
	kString kind = iota
	kUUID
	kIP
	kInt
	kBool
	kValues
	kUUIDList
	kSessionPersistence
)

// attr is one attribute of a v1 resource.
type attr struct {
	name     string
	kind     kind
	post     bool
	put      bool
	required bool // on POST
	values   []string
	min, max int
	hasRange bool // min and max bound the value
	// nonNegative words a refused negative value as Neutron's
	// type:non_negative does.
	nonNegative bool
	pattern     *regexp.Regexp
}

// body is a decoded request: the attributes sent, converted.
type body struct {
	vals map[string]any
}

func (b *body) has(name string) bool { _, ok := b.vals[name]; return ok }

func (b *body) str(name string) string { s, _ := b.vals[name].(string); return s }

func (b *body) integer(name string) (int, bool) { n, ok := b.vals[name].(int); return n, ok }

func (b *body) flag(name string) (bool, bool) { v, ok := b.vals[name].(bool); return v, ok }

func (b *body) strings(name string) []string { l, _ := b.vals[name].([]string); return l }

// sp returns the session persistence sent: nil for {} or null.
func (b *body) sp(name string) *lb.SessionPersistence {
	sp, _ := b.vals[name].(*lb.SessionPersistence)
	return sp
}

func badInput(attrName, reason string, args ...any) error {
	return &Error{Code: http.StatusBadRequest, Type: "HTTPBadRequest",
		Message: fmt.Sprintf("Invalid input for %s. Reason: %s.", attrName, fmt.Sprintf(reason, args...))}
}

func malformed(msg string) error {
	return &Error{Code: http.StatusBadRequest, Type: "HTTPBadRequest", Message: msg}
}

// decode reads {"<wrapper>": {...}} for method (POST or PUT) against attrs.
func decode(r *http.Request, wrapper string, attrs []attr) (*body, error) {
	data, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil || len(data) > maxBody {
		return nil, malformed("Request body too large or unreadable")
	}
	var outer map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&outer); err != nil {
		return nil, malformed("Malformed request body")
	}
	raw, ok := outer[wrapper]
	if !ok || string(raw) == "null" {
		return nil, malformed("Resource body required")
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return nil, malformed("Bad " + wrapper + " request: body must be an object")
	}
	post := r.Method == http.MethodPost
	known := map[string]*attr{}
	for i := range attrs {
		known[attrs[i].name] = &attrs[i]
	}
	var unknown []string
	for k := range fields {
		if known[k] == nil {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return nil, malformed(fmt.Sprintf("Unrecognized attribute(s) '%s'", strings.Join(unknown, ", ")))
	}
	out := &body{vals: map[string]any{}}
	for _, a := range attrs {
		v, sent := fields[a.name]
		switch {
		case !sent && post && a.required:
			return nil, malformed(fmt.Sprintf("Failed to parse request. Required attribute '%s' not specified", a.name))
		case !sent:
			continue
		case post && !a.post:
			return nil, malformed(fmt.Sprintf("Attribute '%s' not allowed in POST", a.name))
		case !post && !a.put:
			return nil, malformed(fmt.Sprintf("Cannot update read-only attribute %s", a.name))
		}
		x, err := a.convert(v)
		if err != nil {
			return nil, err
		}
		out.vals[a.name] = x
	}
	return out, nil
}

// text is a JSON scalar as Python would print it in a message.
func text(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	t := string(bytes.TrimSpace(raw))
	switch t {
	case "null":
		return "None"
	case "true":
		return "True"
	case "false":
		return "False"
	}
	return t
}

func (a *attr) convert(raw json.RawMessage) (any, error) {
	switch a.kind {
	case kString, kUUID, kIP, kValues:
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			if a.kind == kIP && string(bytes.TrimSpace(raw)) == "null" {
				return "", nil
			}
			return nil, badInput(a.name, "'%s' is not a valid string", text(raw))
		}
		switch a.kind {
		case kUUID:
			if !isUUID(s) {
				return nil, badInput(a.name, "'%s' is not a valid UUID", s)
			}
			return strings.ToLower(s), nil
		case kIP:
			if _, err := netip.ParseAddr(s); err != nil {
				return nil, badInput(a.name, "'%s' is not a valid IP address", s)
			}
		case kValues:
			if !slices.Contains(a.values, s) {
				return nil, badInput(a.name, "'%s' is not in %s", s, pyList(a.values))
			}
		}
		if len(s) > 255 {
			return nil, badInput(a.name, "'%s' exceeds maximum length of 255", s)
		}
		if a.pattern != nil && !a.pattern.MatchString(s) {
			return nil, badInput(a.name, "'%s' is not a valid input", s)
		}
		return s, nil
	case kInt:
		t := strings.Trim(string(bytes.TrimSpace(raw)), `"`)
		n, err := strconv.Atoi(t)
		if err != nil {
			return nil, badInput(a.name, "'%s' is not an integer", text(raw))
		}
		if a.hasRange && n < a.min {
			if a.nonNegative {
				return nil, badInput(a.name, "'%d' should be non-negative", n)
			}
			return nil, badInput(a.name, "'%d' is too small - must be at least '%d'", n, a.min)
		}
		if a.hasRange && n > a.max {
			return nil, badInput(a.name, "'%d' is too large - must be no larger than '%d'", n, a.max)
		}
		return n, nil
	case kBool:
		switch strings.ToLower(strings.Trim(string(bytes.TrimSpace(raw)), `"`)) {
		case "true", "1", "t", "yes", "y", "on":
			return true, nil
		case "false", "0", "f", "no", "n", "off":
			return false, nil
		}
		return nil, badInput(a.name, "'%s' cannot be converted to boolean", text(raw))
	case kUUIDList:
		if string(bytes.TrimSpace(raw)) == "null" {
			return []string{}, nil
		}
		var l []string
		if err := json.Unmarshal(raw, &l); err != nil {
			return nil, badInput(a.name, "'%s' is not a list", text(raw))
		}
		for i, s := range l {
			if !isUUID(s) {
				return nil, badInput(a.name, "'%s' is not a valid UUID", s)
			}
			l[i] = strings.ToLower(s)
		}
		return l, nil
	case kSessionPersistence:
		if t := string(bytes.TrimSpace(raw)); t == "null" || t == "{}" {
			return (*lb.SessionPersistence)(nil), nil
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, badInput(a.name, "'%s' is not a dictionary", text(raw))
		}
		sp := &lb.SessionPersistence{}
		for k, v := range m {
			switch k {
			case "type":
				var t string
				_ = json.Unmarshal(v, &t)
				if !slices.Contains(spTypes, t) {
					return nil, badInput(a.name, "'%s' is not in %s", text(v), pyList(spTypes))
				}
				sp.Type = t
			case "cookie_name":
				var s string
				if err := json.Unmarshal(v, &s); err != nil {
					return nil, badInput(a.name, "'%s' is not a valid string", text(v))
				}
				if s != "" {
					sp.CookieName = &s
				}
			default:
				return nil, badInput(a.name, "Validation of dictionary's keys failed. Expected keys: %s Provided keys: %s",
					"{'type'}", "{'"+k+"'}")
			}
		}
		if sp.Type == "" {
			return nil, badInput(a.name, "Validation of dictionary's keys failed. Expected keys: %s Provided keys: %s", "{'type'}", "set()")
		}
		// v1's own rule (Octavia's says the same in other words).
		if sp.Type == lb.PersistAppCookie && sp.CookieName == nil {
			return nil, badInput(a.name, "'cookie_name' should be specified for this type of session persistence.")
		}
		if sp.Type != lb.PersistAppCookie && sp.CookieName != nil {
			return nil, badInput(a.name, "'cookie_name' is not allowed for this type of session persistence")
		}
		return sp, nil
	}
	return nil, fmt.Errorf("lbaasv1: attribute %s of unknown kind", a.name)
}

var spTypes = []string{lb.PersistAppCookie, lb.PersistHTTPCookie, lb.PersistSourceIP}

var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

func isUUID(s string) bool { return uuidRE.MatchString(s) }

// pyList renders strings as Python prints a list: ['TCP', 'HTTP'].
func pyList(items []string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = "'" + s + "'"
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// maxInt32 is the largest integer the store's 32-bit columns (and
// Octavia's) hold.
const maxInt32 = 1<<31 - 1

// v1's enums.
var (
	protocols    = []string{lb.ProtocolTCP, lb.ProtocolHTTP, lb.ProtocolHTTPS}
	lbMethods    = []string{"ROUND_ROBIN", "LEAST_CONNECTIONS", "SOURCE_IP"}
	monitorTypes = []string{lb.MonitorPing, lb.MonitorTCP, lb.MonitorHTTP, lb.MonitorHTTPS}
	// expectedCodes is v1's (and Octavia's) expected_codes pattern.
	expectedCodes = regexp.MustCompile(`^(\d{3}(\s*,\s*\d{3})*)$|^(\d{3}-\d{3})$`)
)

func common() []attr {
	return []attr{
		{name: "tenant_id", kind: kString, post: true},
		{name: "admin_state_up", kind: kBool, post: true, put: true},
	}
}

func named() []attr {
	return []attr{{name: "name", kind: kString, post: true, put: true}, {name: "description", kind: kString, post: true, put: true}}
}

var (
	poolAttrs = append(append(common(), named()...),
		attr{name: "subnet_id", kind: kUUID, post: true, required: true},
		attr{name: "protocol", kind: kValues, values: protocols, post: true, required: true},
		attr{name: "lb_method", kind: kValues, values: lbMethods, post: true, put: true, required: true},
		attr{name: "provider", kind: kString, post: true},
		attr{name: "health_monitors", kind: kUUIDList, post: true, put: true},
	)
	vipAttrs = append(append(common(), named()...),
		attr{name: "subnet_id", kind: kUUID, post: true, required: true},
		attr{name: "address", kind: kIP, post: true},
		attr{name: "protocol_port", kind: kInt, post: true, required: true, hasRange: true, min: 1, max: 65535},
		attr{name: "protocol", kind: kValues, values: protocols, post: true, required: true},
		attr{name: "pool_id", kind: kUUID, post: true, put: true, required: true},
		attr{name: "session_persistence", kind: kSessionPersistence, post: true, put: true},
		attr{name: "connection_limit", kind: kInt, post: true, put: true, hasRange: true, min: -1, max: maxInt32},
	)
	memberAttrs = append(common(),
		attr{name: "pool_id", kind: kUUID, post: true, put: true, required: true},
		attr{name: "address", kind: kIP, post: true, required: true},
		attr{name: "protocol_port", kind: kInt, post: true, required: true, hasRange: true, min: 1, max: 65535},
		attr{name: "weight", kind: kInt, post: true, put: true, hasRange: true, min: 0, max: 256},
	)
	monitorAttrs = append(common(),
		attr{name: "type", kind: kValues, values: monitorTypes, post: true, required: true},
		attr{name: "delay", kind: kInt, post: true, put: true, required: true, hasRange: true, max: maxInt32, nonNegative: true},
		attr{name: "timeout", kind: kInt, post: true, put: true, required: true, hasRange: true, max: maxInt32, nonNegative: true},
		attr{name: "max_retries", kind: kInt, post: true, put: true, required: true, hasRange: true, min: 1, max: 10},
		attr{name: "http_method", kind: kString, post: true, put: true},
		attr{name: "url_path", kind: kString, post: true, put: true},
		attr{name: "expected_codes", kind: kString, post: true, put: true, pattern: expectedCodes},
	)
	associationAttrs = []attr{{name: "id", kind: kUUID, post: true, required: true}, {name: "tenant_id", kind: kString, post: true}}
)
