package identity

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/atomicfile"
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

// KeyRing holds the token keys of a directory: files named by a number,
// each holding a base64 32-byte key, mode 0600. The highest number is the
// primary key that seals new tokens; every key opens tokens, so a rotated
// ring keeps validating the tokens sealed with the previous primary. Safe
// for concurrent use.
type KeyRing struct {
	dir     string
	maxKeys int
	now     func() time.Time

	mu         sync.RWMutex
	keys       []ringKey // ascending by number
	lastReload time.Time
}

type ringKey struct {
	num  int
	id   [4]byte
	aead cipher.AEAD
}

// DefaultMaxKeys is how many keys a ring keeps after a rotation.
const DefaultMaxKeys = 3

// OpenKeyRing loads the keys in dir, creating the directory (0700) and a
// first key when there is none. maxKeys <= 0 means DefaultMaxKeys.
func OpenKeyRing(dir string, maxKeys int, now func() time.Time) (*KeyRing, error) {
	if maxKeys <= 0 {
		maxKeys = DefaultMaxKeys
	}
	if now == nil {
		now = time.Now
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open key ring: %w", err)
	}
	k := &KeyRing{dir: dir, maxKeys: maxKeys, now: now}
	if err := k.reload(); err != nil {
		return nil, err
	}
	if len(k.keys) == 0 {
		if err := k.Rotate(); err != nil {
			return nil, err
		}
	}
	return k, nil
}

func (k *KeyRing) reload() error {
	entries, err := os.ReadDir(k.dir)
	if err != nil {
		return fmt.Errorf("load token keys: %w", err)
	}
	var keys []ringKey
	for _, e := range entries {
		num, err := strconv.Atoi(e.Name())
		if err != nil || e.IsDir() {
			continue
		}
		path := filepath.Join(k.dir, e.Name())
		info, err := e.Info()
		if err != nil {
			return fmt.Errorf("load token key %s: %w", path, err)
		}
		if info.Mode().Perm()&0o077 != 0 {
			return fmt.Errorf("load token key %s: mode %v is readable by others, want 0600", path, info.Mode().Perm())
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("load token key %s: %w", path, err)
		}
		key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(raw)))
		if err != nil || len(key) != 32 {
			return fmt.Errorf("load token key %s: want 32 base64-encoded bytes", path)
		}
		rk, err := newRingKey(num, key)
		if err != nil {
			return fmt.Errorf("load token key %s: %w", path, err)
		}
		keys = append(keys, rk)
	}
	slices.SortFunc(keys, func(a, b ringKey) int { return a.num - b.num })
	k.mu.Lock()
	k.keys = keys
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
// ring's size. Tokens sealed with a dropped key stop validating.
func (k *KeyRing) Rotate() error {
	if err := k.reload(); err != nil {
		return err
	}
	k.mu.RLock()
	next := 1
	if n := len(k.keys); n > 0 {
		next = k.keys[n-1].num + 1
	}
	var drop []int
	if extra := len(k.keys) + 1 - k.maxKeys; extra > 0 {
		for _, rk := range k.keys[:extra] {
			drop = append(drop, rk.num)
		}
	}
	k.mu.RUnlock()
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return fmt.Errorf("rotate token keys: %w", err)
	}
	path := filepath.Join(k.dir, strconv.Itoa(next))
	if err := atomicfile.Write(path, []byte(base64.StdEncoding.EncodeToString(key)+"\n"), 0o600); err != nil {
		return fmt.Errorf("rotate token keys: %w", err)
	}
	for _, num := range drop {
		if err := os.Remove(filepath.Join(k.dir, strconv.Itoa(num))); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("rotate token keys: %w", err)
		}
	}
	return k.reload()
}

// RotateIfOlder re-reads the key directory (picking up rotations made by
// replicas sharing it) and rotates when the primary key's file is at least
// age old. Replicas that share the directory agree on the file's age, so
// together they rotate about once per age. It reports whether it rotated.
func (k *KeyRing) RotateIfOlder(age time.Duration) (bool, error) {
	if err := k.reload(); err != nil {
		return false, err
	}
	k.mu.RLock()
	num := 0
	if n := len(k.keys); n > 0 {
		num = k.keys[n-1].num
	}
	k.mu.RUnlock()
	if num > 0 {
		info, err := os.Stat(filepath.Join(k.dir, strconv.Itoa(num)))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return false, fmt.Errorf("rotate token keys: %w", err)
		}
		if err == nil && k.now().Sub(info.ModTime()) < age {
			return false, nil
		}
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
