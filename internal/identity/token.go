package identity

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/keystore"
)

// Token is what a token string carries. It is sealed with AES-256-GCM, so
// any replica holding the keys can read and trust it without a lookup;
// revocation (disabled users, deleted projects, removed roles) is checked
// separately against the store.
type Token struct {
	UserID    string   `json:"u"`
	ProjectID string   `json:"p,omitempty"` // project scope
	DomainID  string   `json:"d,omitempty"` // domain scope
	Roles     []string `json:"r,omitempty"` // role names as assigned (not expanded)
	Methods   []string `json:"m"`
	IssuedAt  int64    `json:"i"` // unix microseconds
	ExpiresAt int64    `json:"e"` // unix microseconds
	AuditIDs  []string `json:"a"`
}

// Issued is IssuedAt as a time.
func (t *Token) Issued() time.Time { return time.UnixMicro(t.IssuedAt).UTC() }

// Expires is ExpiresAt as a time.
func (t *Token) Expires() time.Time { return time.UnixMicro(t.ExpiresAt).UTC() }

const tokenVersion = 1

// Errors of token handling.
var (
	ErrTokenMalformed = errors.New("token malformed")
	ErrTokenExpired   = errors.New("token expired")
	ErrTokenRevoked   = errors.New("token revoked")
)

// KeyRing holds the token keys: numbered keys of 32 bytes in a
// keystore.Ring (files of a directory, mode 0600, or the store, sealed by
// the master key). The highest number is the primary key that seals new
// tokens; every key opens tokens, so a rotated ring keeps validating the
// tokens sealed with the previous primary. Safe for concurrent use, also
// by servers sharing the ring: each re-reads it when it meets an unknown
// key id and when it checks whether to rotate.
type KeyRing struct {
	ring    keystore.Ring
	maxKeys int
	now     func() time.Time

	mu         sync.RWMutex
	keys       []ringKey // ascending by number
	created    time.Time // the primary key's
	lastReload time.Time
}

type ringKey struct {
	num  int
	id   [4]byte
	aead cipher.AEAD
}

// DefaultMaxKeys is how many keys a ring keeps after a rotation.
const DefaultMaxKeys = 3

// ringTimeout bounds one read or write of the ring.
const ringTimeout = 10 * time.Second

// OpenKeyRing loads the keys in dir, creating the directory (0700) and a
// first key when there is none. maxKeys <= 0 means DefaultMaxKeys.
func OpenKeyRing(dir string, maxKeys int, now func() time.Time) (*KeyRing, error) {
	ring, err := keystore.Dir(dir)
	if err != nil {
		return nil, fmt.Errorf("open key ring: %w", err)
	}
	return OpenKeyRingIn(ring, maxKeys, now)
}

// OpenKeyRingIn loads the keys of ring, adding a first key when there is
// none. maxKeys <= 0 means DefaultMaxKeys.
func OpenKeyRingIn(ring keystore.Ring, maxKeys int, now func() time.Time) (*KeyRing, error) {
	if maxKeys <= 0 {
		maxKeys = DefaultMaxKeys
	}
	if now == nil {
		now = time.Now
	}
	k := &KeyRing{ring: ring, maxKeys: maxKeys, now: now}
	if err := k.reload(); err != nil {
		return nil, err
	}
	k.mu.RLock()
	empty := len(k.keys) == 0
	k.mu.RUnlock()
	if empty {
		if err := k.Rotate(); err != nil {
			return nil, err
		}
	}
	return k, nil
}

func (k *KeyRing) reload() error {
	ctx, cancel := context.WithTimeout(context.Background(), ringTimeout)
	defer cancel()
	stored, err := k.ring.Load(ctx)
	if err != nil {
		return fmt.Errorf("load token keys: %w", err)
	}
	var keys []ringKey
	var created time.Time
	for _, sk := range stored {
		if len(sk.Material) != 32 {
			return fmt.Errorf("load token key %d of %s: want 32 bytes, got %d", sk.Num, k.ring, len(sk.Material))
		}
		rk, err := newRingKey(sk.Num, sk.Material)
		if err != nil {
			return fmt.Errorf("load token key %d of %s: %w", sk.Num, k.ring, err)
		}
		keys = append(keys, rk)
		created = sk.Created
	}
	k.mu.Lock()
	k.keys, k.created = keys, created
	k.lastReload = k.now()
	k.mu.Unlock()
	return nil
}

func newRingKey(num int, key []byte) (ringKey, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return ringKey{}, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return ringKey{}, err
	}
	sum := sha256.Sum256(key)
	rk := ringKey{num: num, aead: aead}
	copy(rk.id[:], sum[:4])
	return rk, nil
}

// Rotate adds a new primary key and drops the oldest keys beyond the
// ring's size. Tokens sealed with a dropped key stop validating. When
// another server sharing the ring adds the same number first, its key is
// the new primary.
func (k *KeyRing) Rotate() error {
	if err := k.reload(); err != nil {
		return err
	}
	k.mu.RLock()
	next := 1
	if n := len(k.keys); n > 0 {
		next = k.keys[n-1].num + 1
	}
	k.mu.RUnlock()
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return fmt.Errorf("rotate token keys: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), ringTimeout)
	defer cancel()
	if err := k.ring.Add(ctx, keystore.Key{Num: next, Material: key, Created: k.now()}); err != nil && !errors.Is(err, keystore.ErrExists) {
		return fmt.Errorf("rotate token keys: %w", err)
	}
	if err := k.reload(); err != nil {
		return err
	}
	k.mu.RLock()
	var drop []int
	if extra := len(k.keys) - k.maxKeys; extra > 0 {
		for _, rk := range k.keys[:extra] {
			drop = append(drop, rk.num)
		}
	}
	k.mu.RUnlock()
	for _, num := range drop {
		if err := k.ring.Remove(ctx, num); err != nil {
			return fmt.Errorf("rotate token keys: %w", err)
		}
	}
	if len(drop) == 0 {
		return nil
	}
	return k.reload()
}

// RotateIfOlder re-reads the ring (picking up rotations made by servers
// sharing it) and rotates when the primary key is at least age old.
// Servers sharing the ring agree on the key's age, so together they rotate
// about once per age. It reports whether it rotated.
func (k *KeyRing) RotateIfOlder(age time.Duration) (bool, error) {
	if err := k.reload(); err != nil {
		return false, err
	}
	k.mu.RLock()
	have, created := len(k.keys) > 0, k.created
	k.mu.RUnlock()
	if have && k.now().Sub(created) < age {
		return false, nil
	}
	return true, k.Rotate()
}

// Primary returns the number of the key new tokens are sealed with.
func (k *KeyRing) Primary() int {
	k.mu.RLock()
	defer k.mu.RUnlock()
	if len(k.keys) == 0 {
		return 0
	}
	return k.keys[len(k.keys)-1].num
}

// Seal encrypts t into a token string with the primary key.
func (k *KeyRing) Seal(t *Token) (string, error) {
	plain, err := json.Marshal(t)
	if err != nil {
		return "", fmt.Errorf("seal token: %w", err)
	}
	k.mu.RLock()
	primary := k.keys[len(k.keys)-1]
	k.mu.RUnlock()
	nonce := make([]byte, primary.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("seal token: %w", err)
	}
	head := append([]byte{tokenVersion}, primary.id[:]...)
	out := append(head, nonce...)
	out = primary.aead.Seal(out, nonce, plain, head)
	return base64.RawURLEncoding.EncodeToString(out), nil
}

// Open decrypts and authenticates a token string and checks its expiry
// against now. It does not check revocation.
func (k *KeyRing) Open(s string, now time.Time) (*Token, error) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(raw) < 1+4+12+16 || raw[0] != tokenVersion {
		return nil, ErrTokenMalformed
	}
	var id [4]byte
	copy(id[:], raw[1:5])
	rk, ok := k.find(id)
	if !ok {
		// Another replica may have rotated the shared key directory.
		k.mu.RLock()
		stale := k.now().Sub(k.lastReload) > time.Second
		k.mu.RUnlock()
		if stale && k.reload() == nil {
			rk, ok = k.find(id)
		}
		if !ok {
			return nil, ErrTokenMalformed
		}
	}
	ns := rk.aead.NonceSize()
	nonce, body := raw[5:5+ns], raw[5+ns:]
	plain, err := rk.aead.Open(nil, nonce, body, raw[:5])
	if err != nil {
		return nil, ErrTokenMalformed
	}
	var t Token
	if err := json.Unmarshal(plain, &t); err != nil || t.UserID == "" {
		return nil, ErrTokenMalformed
	}
	if !now.Before(t.Expires()) {
		return nil, ErrTokenExpired
	}
	return &t, nil
}

func (k *KeyRing) find(id [4]byte) (ringKey, bool) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	for i := len(k.keys) - 1; i >= 0; i-- {
		if k.keys[i].id == id {
			return k.keys[i], true
		}
	}
	return ringKey{}, false
}
