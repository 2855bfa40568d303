package haproxy

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// name turns an Octavia id into an HAProxy identifier (proxy, server and table names
// accept letters, digits, '-', '_', '.' and ':'). Ids made of those characters (Octavia's
// UUIDs) are used as they are, with a prefix that says what the object is; any other id
// becomes "x" and 24 hex digits of its SHA-256, so a hand-written config with odd ids
// still renders. The renderer keeps the reverse mapping; nothing parses a name back.
func name(prefix, id string) string {
	if safeName(id) {
		return prefix + id
	}
	sum := sha256.Sum256([]byte(id))
	return prefix + "x" + hex.EncodeToString(sum[:12])
}

func safeName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '-' || c == '_' || c == '.':
		default:
			return false
		}
	}
	return true
}

// word quotes s as one word of HAProxy's configuration language. Single quotes take
// everything literally (no escapes, no environment expansion), so they are used unless s
// holds a single quote; then double quotes, in which '\', '"' and '$' are escaped with a
// backslash. The contract forbids CR and LF in every string that reaches here; NUL and
// the other control characters are refused before rendering (see refuse.go).
func word(s string) string {
	if !strings.ContainsRune(s, '\'') {
		return "'" + s + "'"
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\', '"', '$':
			b.WriteByte('\\')
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// logFormat escapes s for use as literal text inside a log-format string (redirect
// locations, header values): '%' starts a format directive there and is doubled.
func logFormat(s string) string {
	return strings.ReplaceAll(s, "%", "%%")
}

// luaString writes s as a Lua string literal in which every byte other than letters,
// digits, '-', '_' and '.' is a decimal escape, so no id can end the literal.
func luaString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.':
			b.WriteByte(c)
		default:
			b.WriteByte('\\')
			b.WriteString(itoa3(int(c)))
		}
	}
	b.WriteByte('"')
	return b.String()
}

func itoa3(n int) string {
	return string([]byte{byte('0' + n/100), byte('0' + n/10%10), byte('0' + n%10)})
}
