package apiserver

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/fulcrumlb/fulcrum/internal/lb"
)

// This file is the request-decoding layer. It reproduces what Octavia's WSME
// types do with a JSON body: unknown keys are refused per object, attributes
// are converted and validated in declaration order, integers may arrive as
// numeric strings, booleans as 0/1 or the lowercase words, null is kept
// apart from absent, and every failure is a 400 with Octavia's faultstring.

// kind is the type of one attribute of a request schema.
type kind uint8

const (
	kString    kind = iota // WSME StringType: min/max length, optional pattern
	kUUID                  // UuidType: normalised to the canonical form
	kIP                    // IPAddressType: IPv4 or IPv6, kept as given
	kInt                   // IntegerType: min/max
	kBool                  // bool with WSME's coercions
	kEnum                  // Enum(str)
	kIntEnum               // Enum(int)
	kFloatEnum             // Enum(float)
	kURLPath               // URLPathType
	kURL                   // URLType (http/https URL with a host)
	kCIDR                  // CidrType: normalised like ip_network(strict=False)
	kALPN                  // AlpnProtocolType
	kList                  // list of item
	kDict                  // dict of string → item
	kObject                // nested complex type
)

// attr is one attribute of a request schema.
type attr struct {
	name      string
	kind      kind
	mandatory bool
	// nullMsg, when set, is the error for an explicit null (Octavia checks
	// some mandatory fields for None after decoding).
	nullMsg string

	minLen, maxLen int // kString; maxLen 0 = unlimited
	pattern        *regexp.Regexp
	patternText    string // the upstream (Python) spelling, for messages
	check          func(string) bool

	min, max       int64 // kInt
	hasMin, hasMax bool

	enum   []string  // kEnum
	ints   []int64   // kIntEnum
	floats []float64 // kFloatEnum

	item *attr   // kList, kDict
	sub  *schema // kObject (also list items of objects)
}

// schema is an ordered set of attributes (a WSME complex type).
type schema struct {
	attrs []attr
	index map[string]int
}

func newSchema(attrs ...attr) *schema {
	s := &schema{attrs: attrs, index: make(map[string]int, len(attrs)+1)}
	for i, a := range attrs {
		s.index[a.name] = i
	}
	// Octavia adds a tenant_id alias to every type that has project_id.
	if _, ok := s.index["project_id"]; ok {
		s.attrs = append(s.attrs, attr{name: "tenant_id", kind: kString, maxLen: 36})
		s.index["tenant_id"] = len(s.attrs) - 1
	}
	return s
}

// body describes a request body: the controller argument name Octavia uses
// in messages and the wrapper key.
type body struct {
	arg     string
	wrapper string
	inner   *schema
	list    bool // the wrapper holds a list of inner objects
}

// object is a decoded request object: for each schema attribute, whether it
// was present and its converted value (nil for JSON null).
type object struct {
	s    *schema
	vals []value
}

type value struct {
	set bool
	v   any // string, int64, bool, float64, []string, map[string]string, *object, []*object or nil
}

func (o *object) get(name string) value {
	i, ok := o.s.index[name]
	if !ok {
		panic("apiserver: schema has no attribute " + name)
	}
	return o.vals[i]
}

// has reports whether the attribute was in the body (null included).
func (o *object) has(name string) bool { return o.get(name).set }

// isNull reports whether the attribute was sent as JSON null.
func (o *object) isNull(name string) bool { v := o.get(name); return v.set && v.v == nil }

func (o *object) str(name string) (string, bool) {
	s, ok := o.get(name).v.(string)
	return s, ok
}

func (o *object) integer(name string) (int, bool) {
	n, ok := o.get(name).v.(int64)
	return int(n), ok
}

func (o *object) float(name string) (float64, bool) {
	f, ok := o.get(name).v.(float64)
	return f, ok
}

// flag returns a boolean attribute; an explicit null reads as false (WSME
// bool null, which Octavia turns into False for admin_state_up).
func (o *object) flag(name string) (bool, bool) {
	v := o.get(name)
	b, _ := v.v.(bool)
	return b, v.set
}

func (o *object) strings(name string) ([]string, bool) {
	l, ok := o.get(name).v.([]string)
	return l, ok
}

func (o *object) dict(name string) (map[string]string, bool) {
	m, ok := o.get(name).v.(map[string]string)
	return m, ok
}

func (o *object) obj(name string) (*object, bool) {
	x, ok := o.get(name).v.(*object)
	return x, ok
}

func (o *object) objs(name string) ([]*object, bool) {
	x, ok := o.get(name).v.([]*object)
	return x, ok
}

// ref returns a container reference attribute: nil when absent, null or
// empty (Octavia tests references for truthiness).
func (o *object) ref(name string) *string {
	if s, ok := o.str(name); ok && s != "" {
		return &s
	}
	return nil
}

// optStr returns a string attribute as a pointer, nil when absent or null.
func (o *object) optStr(name string) *string {
	if s, ok := o.str(name); ok {
		return &s
	}
	return nil
}

func (o *object) optInt(name string) *int {
	if n, ok := o.integer(name); ok {
		return &n
	}
	return nil
}

// Fault texts of the decoding layer.
const (
	msgBadJSON   = "Request is not in valid JSON format"
	msgMandatory = "Mandatory field missing."
)

// decodeJSON parses a request body as Python's json.loads would accept it:
// one JSON value, nothing after it. Numbers stay json.Number.
func decodeJSON(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, lb.Errorf(msgBadJSON)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, lb.Errorf(msgBadJSON)
	}
	return v, nil
}

// decode parses and converts a request body against b and returns the
// wrapped object (or, for list bodies, the objects).
func (b *body) decode(data []byte) (*object, []*object, error) {
	raw, err := decodeJSON(data)
	if err != nil {
		return nil, nil, err
	}
	top, ok := raw.(map[string]any)
	if !ok {
		return nil, nil, lb.InvalidField(b.arg, pyStr(raw), "Value not a valid dict: "+pyStr(raw))
	}
	if unknown := unknownKeys(top, func(k string) bool { return k == b.wrapper }); unknown != nil {
		return nil, nil, unknownAttrs(b.arg, unknown)
	}
	inner, present := top[b.wrapper]
	if !present || inner == nil {
		return nil, nil, lb.InvalidField(b.wrapper, "None", msgMandatory)
	}
	path := b.arg + "." + b.wrapper
	if b.list {
		items, ok := inner.([]any)
		if !ok {
			return nil, nil, lb.InvalidField(b.wrapper, pyStr(inner), "Value not a valid list: "+pyStr(inner))
		}
		out := make([]*object, 0, len(items))
		for _, it := range items {
			if it == nil {
				out = append(out, nil)
				continue
			}
			m, ok := it.(map[string]any)
			if !ok {
				return nil, nil, lb.InvalidField(b.wrapper, pyRepr(inner), "Value not a valid dict: "+pyStr(it))
			}
			o, err := decodeObject(b.inner, m, path)
			if err != nil {
				return nil, nil, err
			}
			out = append(out, o)
		}
		return nil, out, nil
	}
	m, ok := inner.(map[string]any)
	if !ok {
		return nil, nil, lb.InvalidField(b.wrapper, pyStr(inner), "Value not a valid dict: "+pyStr(inner))
	}
	o, err := decodeObject(b.inner, m, path)
	return o, nil, err
}

// sortedSet returns l sorted without duplicates.
func sortedSet(l []string) []string {
	out := slices.Clone(l)
	slices.Sort(out)
	return slices.Compact(out)
}

func unknownKeys(m map[string]any, known func(string) bool) []string {
	var out []string
	for k := range m {
		if !known(k) {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// unknownAttrs is WSME's UnknownAttribute fault.
func unknownAttrs(path string, names []string) error {
	word := "attribute"
	if len(names) > 1 {
		word = "attributes"
	}
	return lb.Errorf("Unknown %s for argument %s: %s", word, path, strings.Join(names, ", "))
}

// decodeObject converts m against s. path names the object in
// unknown-attribute messages (argument name plus the attribute chain).
func decodeObject(s *schema, m map[string]any, path string) (*object, error) {
	if unknown := unknownKeys(m, func(k string) bool { _, ok := s.index[k]; return ok }); unknown != nil {
		return nil, unknownAttrs(path, unknown)
	}
	o := &object{s: s, vals: make([]value, len(s.attrs))}
	for i := range s.attrs {
		a := &s.attrs[i]
		raw, present := m[a.name]
		if !present {
			if a.mandatory {
				return nil, lb.InvalidField(a.name, "None", msgMandatory)
			}
			continue
		}
		if raw == nil {
			if a.nullMsg != "" {
				return nil, lb.Errorf("%s", a.nullMsg)
			}
			if a.mandatory {
				return nil, lb.InvalidField(a.name, "None", msgMandatory)
			}
			o.vals[i] = value{set: true}
			continue
		}
		v, err := a.convert(raw, path+"."+a.name)
		if err != nil {
			return nil, err
		}
		if a.name == "tags" {
			// Octavia keeps tags as a set and returns them sorted.
			v = sortedSet(v.([]string))
		}
		o.vals[i] = value{set: true, v: v}
	}
	// tenant_id is an alias that sets project_id.
	if ti, ok := s.index["tenant_id"]; ok && o.vals[ti].set {
		o.vals[s.index["project_id"]] = o.vals[ti]
	}
	return o, nil
}

// convert turns one non-null JSON value into the attribute's Go value, or
// returns Octavia's "Invalid input for field/attribute" fault.
func (a *attr) convert(raw any, path string) (any, error) {
	switch a.kind {
	case kList:
		items, ok := raw.([]any)
		if !ok {
			return nil, lb.InvalidField(a.name, pyStr(raw), "Value not a valid list: "+pyStr(raw))
		}
		if a.item.kind == kObject {
			out := make([]*object, 0, len(items))
			for _, it := range items {
				if it == nil {
					return nil, lb.InvalidField(a.name, pyStr(raw), "Value should be a dict")
				}
				m, ok := it.(map[string]any)
				if !ok {
					return nil, lb.InvalidField(a.name, pyStr(raw), "Value not a valid dict: "+pyStr(it))
				}
				o, err := decodeObject(a.item.sub, m, path)
				if err != nil {
					return nil, err
				}
				out = append(out, o)
			}
			return out, nil
		}
		out := make([]string, 0, len(items))
		for _, it := range items {
			v, msg := a.item.scalar(it)
			if msg != "" {
				return nil, lb.InvalidField(a.name, pyStr(raw), msg)
			}
			out = append(out, v.(string))
		}
		return out, nil
	case kDict:
		m, ok := raw.(map[string]any)
		if !ok {
			return nil, lb.InvalidField(a.name, pyStr(raw), "Value not a valid dict: "+pyStr(raw))
		}
		out := make(map[string]string, len(m))
		for k, it := range m {
			v, msg := a.item.scalar(it)
			if msg != "" {
				return nil, lb.InvalidField(a.name, pyStr(raw), msg)
			}
			out[k] = v.(string)
		}
		return out, nil
	case kObject:
		m, ok := raw.(map[string]any)
		if !ok {
			return nil, lb.InvalidField(a.name, pyStr(raw), "Value not a valid dict: "+pyStr(raw))
		}
		return decodeObject(a.sub, m, path)
	}
	v, msg := a.scalar(raw)
	if msg != "" {
		shown := pyStr(raw)
		if n, ok := v.(int64); ok {
			shown = strconv.FormatInt(n, 10)
		}
		return nil, lb.InvalidField(a.name, shown, msg)
	}
	return v, nil
}

// scalar converts and validates a scalar value. It returns the value and ""
// or, on failure, the reason text (the value may still be set so the
// message can show the converted form).
func (a *attr) scalar(raw any) (any, string) {
	switch a.kind {
	case kString:
		s, ok := raw.(string)
		if !ok {
			return nil, "Value should be string"
		}
		n := utf8.RuneCountInString(s)
		if a.minLen > 0 && n < a.minLen {
			return nil, "Value should have a minimum character requirement of " + strconv.Itoa(a.minLen)
		}
		if a.maxLen > 0 && n > a.maxLen {
			return nil, "Value should have a maximum character requirement of " + strconv.Itoa(a.maxLen)
		}
		if (a.pattern != nil && !a.pattern.MatchString(s)) || (a.check != nil && !a.check(s)) {
			return nil, "Value should match the pattern " + a.patternText
		}
		return s, ""
	case kUUID:
		s, ok := raw.(string)
		if !ok {
			return nil, "Value should be UUID format"
		}
		u, ok := canonicalUUID(s)
		if !ok {
			return nil, "Value should be UUID format"
		}
		return u, ""
	case kIP:
		s, ok := raw.(string)
		if !ok || !validIP(s) {
			return nil, "Value should be IPv4 or IPv6 format"
		}
		return s, ""
	case kInt:
		n, msg := pyInt(raw)
		if msg != "" {
			return nil, msg
		}
		if a.hasMin && n < a.min {
			return n, "Value should be greater or equal to " + strconv.FormatInt(a.min, 10)
		}
		max := a.max
		if !a.hasMax {
			// Octavia's columns are 32-bit integers; a larger value would
			// fail in its database. Refuse it here.
			max = math.MaxInt32
		}
		if n > max {
			return n, "Value should be lower or equal to " + strconv.FormatInt(max, 10)
		}
		return n, ""
	case kBool:
		return pyBool(raw)
	case kEnum:
		s, ok := raw.(string)
		if !ok || !slices.Contains(a.enum, s) {
			return nil, "Value should be one of: " + strings.Join(a.enum, ", ")
		}
		return s, ""
	case kIntEnum:
		n, msg := pyInt(raw)
		if msg != "" {
			return nil, msg
		}
		if !slices.Contains(a.ints, n) {
			parts := make([]string, len(a.ints))
			for i, x := range a.ints {
				parts[i] = strconv.FormatInt(x, 10)
			}
			return n, "Value should be one of: " + strings.Join(parts, ", ")
		}
		return n, ""
	case kFloatEnum:
		f, msg := pyFloat(raw)
		if msg != "" {
			return nil, msg
		}
		if !slices.Contains(a.floats, f) {
			parts := make([]string, len(a.floats))
			for i, x := range a.floats {
				parts[i] = pyFloatRepr(x)
			}
			return nil, "Value should be one of: " + strings.Join(parts, ", ")
		}
		return f, ""
	case kURLPath:
		s, ok := raw.(string)
		if !ok || !lb.ValidURLPath(s) {
			return nil, "Value must be a valid URL Path string"
		}
		return s, ""
	case kURL:
		s, ok := raw.(string)
		if !ok || !lb.ValidRedirectURL(s) {
			return nil, "Value must be a valid URL string"
		}
		return s, ""
	case kCIDR:
		s, ok := raw.(string)
		if !ok {
			return nil, "Value should be IPv4 or IPv6 CIDR format"
		}
		c, ok := normalizeCIDR(s)
		if !ok {
			return nil, "Value should be IPv4 or IPv6 CIDR format"
		}
		return c, ""
	case kALPN:
		s, ok := raw.(string)
		if !ok || !slices.Contains(lb.ALPNProtocols, s) {
			return nil, "Value should be a valid ALPN protocol ID"
		}
		return s, ""
	}
	return nil, "Value has an unsupported type"
}

// decodeBody reads q's body and decodes it as b: the wrapped object, or
// for list bodies the objects.
func (s *Server) decodeBody(q *request, b *body) (*object, []*object, error) {
	data, err := s.readBody(q)
	if err != nil {
		return nil, nil, err
	}
	return b.decode(data)
}
