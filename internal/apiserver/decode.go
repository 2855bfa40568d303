package apiserver

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/netip"
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

// canonicalUUID accepts what Python's uuid.UUID accepts (with or without
// dashes, braces, a urn:uuid: prefix) and returns the canonical lowercase
// form.
func canonicalUUID(s string) (string, bool) {
	s = strings.ReplaceAll(s, "urn:", "")
	s = strings.ReplaceAll(s, "uuid:", "")
	s = strings.Trim(s, "{}")
	s = strings.ReplaceAll(s, "-", "")
	if len(s) != 32 {
		return "", false
	}
	var b [36]byte
	j := 0
	for i := 0; i < 32; i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f':
		case c >= 'A' && c <= 'F':
			c += 'a' - 'A'
		default:
			return "", false
		}
		if i == 8 || i == 12 || i == 16 || i == 20 {
			b[j] = '-'
			j++
		}
		b[j] = c
		j++
	}
	return string(b[:]), true
}

// validIP reports whether s is an IPv4 address in dotted-quad form or an
// IPv6 address, as inet_pton accepts them (no zone).
func validIP(s string) bool {
	a, err := netip.ParseAddr(s)
	return err == nil && a.Zone() == ""
}

// pyInt converts like Python's int(): JSON integers, floats (truncated),
// booleans and numeric strings (surrounding whitespace, a sign and digit
// group underscores allowed).
func pyInt(raw any) (int64, string) {
	switch v := raw.(type) {
	case bool:
		if v {
			return 1, ""
		}
		return 0, ""
	case json.Number:
		s := string(v)
		if strings.ContainsAny(s, ".eE") {
			f, err := strconv.ParseFloat(s, 64)
			if err != nil && math.IsInf(f, 0) {
				return 0, "cannot convert float infinity to integer"
			}
			return saturate(math.Trunc(f)), ""
		}
		return parseIntSaturating(s), ""
	case string:
		t := strings.TrimSpace(v)
		sign := ""
		if t != "" && (t[0] == '+' || t[0] == '-') {
			sign, t = t[:1], t[1:]
		}
		if !digitsWithUnderscores(t) {
			return 0, "invalid literal for int() with base 10: " + pyRepr(v)
		}
		return parseIntSaturating(sign + strings.ReplaceAll(t, "_", "")), ""
	}
	return 0, "int() argument must be a string, a bytes-like object or a real number, not '" + pyType(raw) + "'"
}

func digitsWithUnderscores(s string) bool {
	if s == "" || s[0] == '_' || s[len(s)-1] == '_' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '_' {
			if s[i-1] == '_' {
				return false
			}
			continue
		}
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// parseIntSaturating parses a decimal integer, clamping values beyond int64
// (they fail the range checks anyway).
func parseIntSaturating(s string) int64 {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		if strings.HasPrefix(s, "-") {
			return math.MinInt64
		}
		return math.MaxInt64
	}
	return n
}

func saturate(f float64) int64 {
	if f >= math.MaxInt64 {
		return math.MaxInt64
	}
	if f <= math.MinInt64 {
		return math.MinInt64
	}
	return int64(f)
}

// pyBool converts like WSME's bool_fromjson.
func pyBool(raw any) (any, string) {
	switch v := raw.(type) {
	case bool:
		return v, ""
	case json.Number:
		s := string(v)
		if !strings.ContainsAny(s, ".eE") {
			return strings.Trim(strings.TrimPrefix(s, "-"), "0") != "", ""
		}
	case string:
		switch v {
		case "true", "t", "yes", "y", "on", "1":
			return true, ""
		case "false", "f", "no", "n", "off", "0":
			return false, ""
		}
	}
	return nil, "Value not an unambiguous boolean: " + pyStr(raw)
}

// pyFloat converts like Python's float().
func pyFloat(raw any) (float64, string) {
	switch v := raw.(type) {
	case bool:
		if v {
			return 1, ""
		}
		return 0, ""
	case json.Number:
		f, _ := strconv.ParseFloat(string(v), 64)
		return f, ""
	case string:
		t := strings.TrimSpace(v)
		if strings.Contains(t, "_") {
			if !validUnderscores(t) {
				return 0, "could not convert string to float: " + pyRepr(v)
			}
			t = strings.ReplaceAll(t, "_", "")
		}
		if strings.HasPrefix(strings.ToLower(strings.TrimLeft(t, "+-")), "0x") {
			return 0, "could not convert string to float: " + pyRepr(v)
		}
		f, err := strconv.ParseFloat(t, 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return 0, "could not convert string to float: " + pyRepr(v)
		}
		return f, ""
	}
	return 0, "float() argument must be a string or a real number, not '" + pyType(raw) + "'"
}

// validUnderscores reports whether every underscore in s sits between two
// digits.
func validUnderscores(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] != '_' {
			continue
		}
		if i == 0 || i == len(s)-1 || !isDigit(s[i-1]) || !isDigit(s[i+1]) {
			return false
		}
	}
	return true
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// pyType names the Python type of a decoded JSON value.
func pyType(v any) string {
	switch v := v.(type) {
	case nil:
		return "NoneType"
	case bool:
		return "bool"
	case string:
		return "str"
	case []any:
		return "list"
	case map[string]any:
		return "dict"
	case json.Number:
		if strings.ContainsAny(string(v), ".eE") {
			return "float"
		}
		return "int"
	}
	return "object"
}

// pyStr renders a decoded JSON value as Python's str() would (strings bare).
func pyStr(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return pyRepr(v)
}

// pyRepr renders a decoded JSON value as Python's repr() would.
func pyRepr(v any) string {
	var b strings.Builder
	writeRepr(&b, v)
	return b.String()
}

func writeRepr(b *strings.Builder, v any) {
	switch v := v.(type) {
	case nil:
		b.WriteString("None")
	case bool:
		if v {
			b.WriteString("True")
		} else {
			b.WriteString("False")
		}
	case json.Number:
		s := string(v)
		if strings.ContainsAny(s, ".eE") {
			f, _ := strconv.ParseFloat(s, 64)
			b.WriteString(pyFloatRepr(f))
		} else {
			b.WriteString(s)
		}
	case string:
		writeStrRepr(b, v)
	case []any:
		b.WriteByte('[')
		for i, x := range v {
			if i > 0 {
				b.WriteString(", ")
			}
			writeRepr(b, x)
		}
		b.WriteByte(']')
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteString(", ")
			}
			writeStrRepr(b, k)
			b.WriteString(": ")
			writeRepr(b, v[k])
		}
		b.WriteByte('}')
	default:
		b.WriteString("<?>")
	}
}

func writeStrRepr(b *strings.Builder, s string) {
	q := byte('\'')
	if strings.ContainsRune(s, '\'') && !strings.ContainsRune(s, '"') {
		q = '"'
	}
	b.WriteByte(q)
	for _, r := range s {
		switch {
		case r == '\\':
			b.WriteString(`\\`)
		case r == rune(q):
			b.WriteByte('\\')
			b.WriteByte(q)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			b.WriteString(`\x`)
			b.WriteString(strconv.FormatInt(int64(r)|0x100, 16)[1:])
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte(q)
}

// pyFloatRepr formats f like Python's repr(float).
func pyFloatRepr(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	case math.IsNaN(f):
		return "nan"
	}
	e := strconv.FormatFloat(f, 'e', -1, 64)
	exp, _ := strconv.Atoi(e[strings.IndexByte(e, 'e')+1:])
	if exp < -4 || exp >= 16 {
		return e
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return s
}

// normalizeCIDR parses a CIDR as Python's ip_network(strict=False) does: a
// bare address is a host network, the prefix may be a length or (IPv4) a
// netmask, host bits are zeroed.
func normalizeCIDR(s string) (string, bool) {
	addrPart, bits, hasBits := strings.Cut(s, "/")
	a, err := netip.ParseAddr(addrPart)
	if err != nil || a.Zone() != "" {
		return "", false
	}
	n := a.BitLen()
	if hasBits {
		if bits != "" && strings.Trim(bits, "0123456789") == "" && len(bits) <= 3 {
			n, _ = strconv.Atoi(bits)
			if n > a.BitLen() {
				return "", false
			}
		} else if m, err := netip.ParseAddr(bits); err == nil && a.Is4() && m.Is4() {
			var ok bool
			if n, ok = maskLen(m); !ok {
				return "", false
			}
		} else {
			return "", false
		}
	}
	p, err := a.Prefix(n)
	if err != nil {
		return "", false
	}
	return p.String(), true
}

// maskLen returns the prefix length of a contiguous IPv4 netmask.
func maskLen(m netip.Addr) (int, bool) {
	b := m.As4()
	x := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	n := 0
	for n < 32 && x&(1<<(31-n)) != 0 {
		n++
	}
	if n < 32 && x<<n != 0 {
		return 0, false
	}
	return n, true
}
