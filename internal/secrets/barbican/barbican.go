// Package barbican holds the domain types of fulcrum's Barbican (key
// manager) subset: secrets with their sealed payloads, secret containers
// and their read ACLs. It imports only the standard library, so the store
// can persist these types while the secrets service imports the store.
package barbican

import (
	"slices"
	"time"
)

// Secret types (Barbican's secret_type).
const (
	TypeSymmetric   = "symmetric"
	TypePublic      = "public"
	TypePrivate     = "private"
	TypePassphrase  = "passphrase"
	TypeCertificate = "certificate"
	TypeOpaque      = "opaque"
)

// SecretTypes lists the valid secret types.
var SecretTypes = []string{TypeSymmetric, TypePassphrase, TypePrivate, TypePublic, TypeCertificate, TypeOpaque}

// Container types (Barbican's container type).
const (
	ContainerGeneric     = "generic"
	ContainerRSA         = "rsa"
	ContainerCertificate = "certificate"
)

// Secret is one stored secret. A secret created without a payload has an
// empty ContentType and a nil Payload until its payload is PUT; a payload
// is never replaced.
type Secret struct {
	ID        string
	ProjectID string
	CreatorID string
	Name      string // "" renders as null
	Type      string // one of SecretTypes
	Algorithm string
	Mode      string
	BitLength *int
	// Expiration is when the secret stops being served; nil never.
	Expiration *time.Time
	// ContentType is the normalised payload content type:
	// "text/plain", "application/octet-stream" or "application/pkcs8".
	ContentType string
	// Payload is the payload sealed with a key-encryption key; nil when
	// the secret has no payload yet.
	Payload *Sealed
	ACL     ACL
	// UpdatedAt changes when the payload is added or the ACL changes.
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Expired reports whether the secret has expired at now.
func (s *Secret) Expired(now time.Time) bool {
	return s.Expiration != nil && !s.Expiration.After(now)
}

// Sealed is a payload encrypted with AES-256-GCM: Data is the nonce
// followed by the ciphertext and tag; KeyID names the key-encryption key.
type Sealed struct {
	KeyID int
	Data  []byte
}

// ACL is the "read" access control list of a secret or container. With Set
// false there is no explicit ACL: Barbican's implicit default, project
// access on and no users.
type ACL struct {
	Set bool
	// ProjectAccess false makes the object private to its creator (and
	// admins) within its project.
	ProjectAccess bool
	// Users may read the object whatever their project.
	Users     []string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// ProjectWide reports whether members of the owning project other than the
// creator may read the object.
func (a ACL) ProjectWide() bool { return !a.Set || a.ProjectAccess }

// Grants reports whether user is listed in the ACL.
func (a ACL) Grants(user string) bool {
	return a.Set && user != "" && slices.Contains(a.Users, user)
}

// Container groups secrets under names. Containers are immutable except
// that generic containers can gain and lose secrets.
type Container struct {
	ID        string
	ProjectID string
	CreatorID string
	Name      string // "" renders as null
	Type      string // generic, rsa or certificate
	ACL       ACL
	CreatedAt time.Time
	UpdatedAt time.Time
}

// ContainerSecret is one named secret of a container. (container_id, name,
// secret_id) is unique; deleting the secret or the container removes it.
type ContainerSecret struct {
	ID          string
	ContainerID string
	Name        string
	SecretID    string
	CreatedAt   time.Time
}
