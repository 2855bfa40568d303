package proxy

// Byte classes of HTTP/1.1 syntax, as bitmasks over ASCII.

// tcharLo and tcharHi are bitmasks of the RFC 9110 token characters below and above 64.
const (
	tcharLo uint64 = 0x3ff6cfa00000000
	tcharHi uint64 = 0x57ffffffc7fffffe
)

// tokenChar reports whether c may appear in an HTTP token (RFC 9110 tchar).
func tokenChar(c byte) bool {
	if c < 64 {
		return tcharLo&(1<<c) != 0
	}
	return c < 128 && tcharHi&(1<<(c-64)) != 0
}

// Bitmasks (below and above 64) of the target bytes parseTarget passes without a second
// look (visible ASCII but '#', '\\', '?' and '%'), and of the bytes of a host name
// (letters, digits, '-', '.', '_').
const (
	plainTargetLo uint64 = 0x7fffffd600000000
	plainTargetHi uint64 = 0x7fffffffefffffff
	hostNameLo    uint64 = 0x3ff600000000000
	hostNameHi    uint64 = 0x7fffffe87fffffe
)

func inMask(c byte, lo, hi uint64) bool {
	if c < 64 {
		return lo&(1<<c) != 0
	}
	return c < 128 && hi&(1<<(c-64)) != 0
}

func isToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if !tokenChar(c) {
			return false
		}
	}
	return true
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func unhex(b byte) byte {
	switch {
	case b >= '0' && b <= '9':
		return b - '0'
	case b >= 'a' && b <= 'f':
		return b - 'a' + 10
	}
	return b - 'A' + 10
}
