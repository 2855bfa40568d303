package apiserver

import (
	"encoding/json"
	"errors"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// Python's conversions and representations as WSME applies them to request
// values, so that what fulcrum accepts, and how its messages show a value,
// match Octavia: int() and float() with their underscore and whitespace
// rules, WSME's booleans, canonical UUIDs, IP addresses and networks, and
// repr() of the decoded JSON.

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
