// Package ids makes the identifiers fulcrum hands out: random (version 4)
// UUIDs in their canonical 36-character form, as OpenStack services use
// for every object.
package ids

import (
	"crypto/rand"
	"encoding/hex"
)

// New returns a new random version 4 UUID. crypto/rand never fails on the
// platforms fulcrum runs on; if it did, handing out a predictable id would
// be worse than stopping, so New panics.
func New() string {
	var u [16]byte
	if _, err := rand.Read(u[:]); err != nil {
		panic("ids: crypto/rand failed: " + err.Error())
	}
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:36], u[10:16])
	return string(b[:])
}
