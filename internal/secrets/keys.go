package secrets

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/keystore"
	"github.com/fulcrumlb/fulcrum/internal/secrets/barbican"
)

// KeyRing holds the key-encryption keys that seal secret payloads:
// numbered keys of 32 random bytes in a keystore.Ring (files of a
// directory, mode 0600, as the Keystone token keys; or the store, sealed
// by the master key). The highest number seals new payloads; every key
// opens the payloads it sealed. Only RotateKeys removes a key, once no
// payload needs it. Safe for concurrent use, also by servers sharing the
// ring: each re-reads it when it meets an unknown key number, and before
// sealing when its view is older than KeyRefresh, so that a key added by
// RotateKeys seals everywhere within KeyRefresh.
type KeyRing struct {
	ring keystore.Ring

	mu      sync.RWMutex
	keys    map[int]cipher.AEAD
	primary int
	loaded  time.Time
}

// ringTimeout bounds one read or write of the ring.
const ringTimeout = 10 * time.Second

// KeyRefresh is how old a KeyRing's view of its ring may be when it seals:
// older, it reads the ring again first.
const KeyRefresh = 2 * time.Second

// OpenKeyRing loads the keys in dir, creating the directory (0700) and a
// first key when there is none.
func OpenKeyRing(dir string) (*KeyRing, error) {
	ring, err := keystore.Dir(dir)
	if err != nil {
		return nil, fmt.Errorf("open secret key ring: %w", err)
	}
	return OpenKeyRingIn(ring)
}

// OpenKeyRingIn loads the keys of ring, adding a first key when there is
// none.
func OpenKeyRingIn(ring keystore.Ring) (*KeyRing, error) {
	k := &KeyRing{ring: ring}
	if err := k.load(); err != nil {
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

func (k *KeyRing) load() error {
	ctx, cancel := context.WithTimeout(context.Background(), ringTimeout)
	defer cancel()
	stored, err := k.ring.Load(ctx)
	if err != nil {
		return fmt.Errorf("load secret keys: %w", err)
	}
	keys := map[int]cipher.AEAD{}
	primary := 0
	for _, sk := range stored {
		if len(sk.Material) != 32 {
			return fmt.Errorf("load secret key %d of %s: want 32 bytes, got %d", sk.Num, k.ring, len(sk.Material))
		}
		aead, err := newAEAD(sk.Material)
		if err != nil {
			return fmt.Errorf("load secret key %d of %s: %w", sk.Num, k.ring, err)
		}
		keys[sk.Num] = aead
		primary = max(primary, sk.Num)
	}
	k.mu.Lock()
	k.keys, k.primary, k.loaded = keys, primary, time.Now()
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
// their own key. When another server sharing the ring adds the same
// number first, it tries the next one.
func (k *KeyRing) Rotate() error {
	ctx, cancel := context.WithTimeout(context.Background(), ringTimeout)
	defer cancel()
	for attempt := 0; ; attempt++ {
		key := make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return fmt.Errorf("rotate secret keys: %w", err)
		}
		k.mu.RLock()
		num := k.primary + 1
		k.mu.RUnlock()
		err := k.ring.Add(ctx, keystore.Key{Num: num, Material: key})
		if errors.Is(err, keystore.ErrExists) && attempt < 3 {
			if err := k.load(); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("rotate secret keys: %w", err)
		}
		aead, err := newAEAD(key)
		if err != nil {
			return fmt.Errorf("rotate secret keys: %w", err)
		}
		k.mu.Lock()
		if k.keys == nil {
			k.keys = map[int]cipher.AEAD{}
		}
		k.keys[num] = aead
		k.primary = max(k.primary, num)
		k.mu.Unlock()
		return nil
	}
}

// Seal encrypts plain with the primary key. aad binds the result to its
// owner (the secret id), so a sealed payload cannot be moved to another
// secret.
func (k *KeyRing) Seal(plain, aad []byte) (*barbican.Sealed, error) {
	k.mu.RLock()
	stale := time.Since(k.loaded) > KeyRefresh
	k.mu.RUnlock()
	if stale {
		// A ring that cannot be read now keeps sealing with the key it
		// knows: that key opens everywhere until RotateKeys, which waits
		// for servers to refresh, removes it.
		_ = k.load()
	}
	k.mu.RLock()
	num := k.primary
	k.mu.RUnlock()
	return k.sealWith(num, plain, aad)
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
			return nil, fmt.Errorf("open payload: no key %d in %s", s.KeyID, k.ring)
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
