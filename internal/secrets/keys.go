package secrets

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/fulcrumlb/fulcrum/internal/secrets/barbican"
)

// KeyRing holds the key-encryption keys that seal secret payloads: files
// of a directory named by a number, each holding 32 random bytes in
// base64, mode 0600 (the layout of the Keystone token keys). The highest
// number seals new payloads; every key opens the payloads it sealed. Keys
// are never removed: a payload sealed with a deleted key would be lost.
// Safe for concurrent use.
type KeyRing struct {
	dir string

	mu      sync.RWMutex
	keys    map[int]cipher.AEAD
	primary int
}

// OpenKeyRing loads the keys in dir, creating the directory (0700) and a
// first key when there is none.
func OpenKeyRing(dir string) (*KeyRing, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open secret key ring: %w", err)
	}
	k := &KeyRing{dir: dir}
	if err := k.load(); err != nil {
		return nil, err
	}
	if len(k.keys) == 0 {
		if err := k.Rotate(); err != nil {
			return nil, err
		}
	}
	return k, nil
}

func (k *KeyRing) load() error {
	entries, err := os.ReadDir(k.dir)
	if err != nil {
		return fmt.Errorf("load secret keys: %w", err)
	}
	keys := map[int]cipher.AEAD{}
	primary := 0
	for _, e := range entries {
		num, err := strconv.Atoi(e.Name())
		if err != nil || e.IsDir() || num <= 0 {
			continue
		}
		path := filepath.Join(k.dir, e.Name())
		info, err := e.Info()
		if err != nil {
			return fmt.Errorf("load secret key %s: %w", path, err)
		}
		if info.Mode().Perm()&0o077 != 0 {
			return fmt.Errorf("load secret key %s: mode %v is readable by others, want 0600", path, info.Mode().Perm())
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("load secret key %s: %w", path, err)
		}
		key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(raw)))
		if err != nil || len(key) != 32 {
			return fmt.Errorf("load secret key %s: want 32 base64-encoded bytes", path)
		}
		aead, err := newAEAD(key)
		if err != nil {
			return fmt.Errorf("load secret key %s: %w", path, err)
		}
		keys[num] = aead
		primary = max(primary, num)
	}
	k.mu.Lock()
	k.keys, k.primary = keys, primary
	k.mu.Unlock()
	return nil
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// Rotate adds a new primary key. Payloads sealed before keep opening with
// their own key.
func (k *KeyRing) Rotate() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return fmt.Errorf("rotate secret keys: %w", err)
	}
	num := k.primary + 1
	path := filepath.Join(k.dir, strconv.Itoa(num))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("rotate secret keys: %w", err)
	}
	_, werr := f.WriteString(base64.StdEncoding.EncodeToString(key) + "\n")
	if err := errors.Join(werr, f.Sync(), f.Close()); err != nil {
		return fmt.Errorf("rotate secret keys: %w", err)
	}
	aead, err := newAEAD(key)
	if err != nil {
		return fmt.Errorf("rotate secret keys: %w", err)
	}
	if k.keys == nil {
		k.keys = map[int]cipher.AEAD{}
	}
	k.keys[num], k.primary = aead, num
	return nil
}

// Seal encrypts plain with the primary key. aad binds the result to its
// owner (the secret id), so a sealed payload cannot be moved to another
// secret.
func (k *KeyRing) Seal(plain, aad []byte) (*barbican.Sealed, error) {
	k.mu.RLock()
	aead, num := k.keys[k.primary], k.primary
	k.mu.RUnlock()
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("seal payload: %w", err)
	}
	return &barbican.Sealed{KeyID: num, Data: aead.Seal(nonce, nonce, plain, aad)}, nil
}

// Open decrypts s. An unknown key id makes it re-read the directory once
// (another replica may have rotated).
func (k *KeyRing) Open(s *barbican.Sealed, aad []byte) ([]byte, error) {
	k.mu.RLock()
	aead, ok := k.keys[s.KeyID]
	k.mu.RUnlock()
	if !ok {
		if err := k.load(); err != nil {
			return nil, err
		}
		k.mu.RLock()
		aead, ok = k.keys[s.KeyID]
		k.mu.RUnlock()
		if !ok {
			return nil, fmt.Errorf("open payload: no key %d in %s", s.KeyID, k.dir)
		}
	}
	if len(s.Data) < aead.NonceSize() {
		return nil, errors.New("open payload: sealed data too short")
	}
	plain, err := aead.Open(nil, s.Data[:aead.NonceSize()], s.Data[aead.NonceSize():], aad)
	if err != nil {
		return nil, fmt.Errorf("open payload: %w", err)
	}
	return plain, nil
}
