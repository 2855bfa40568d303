// Package keystore keeps the key rings servers must agree on — the
// identity service's token-sealing keys, the key manager's key-encryption
// keys, the agents' CA — either as files of a directory, one per key (one
// server, no master key: the layout fulcrum always had), or as rows of the
// store, each sealed with AES-256-GCM under the master key every server is
// given (several servers on one database).
//
// A ring's keys are numbered from 1. A key is never changed: rings add
// keys and remove old ones, so servers that read a ring at different
// moments never disagree about what a number means.
package keystore

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/atomicfile"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// Key is one key of a ring.
type Key struct {
	Num      int
	Material []byte
	// Created is when the key was added (a file's modification time).
	Created time.Time
}

// ErrExists is returned by Ring.Add when the ring already has a key of
// that number (another server added it first).
var ErrExists = errors.New("key exists")

// Ring is where one key ring keeps its keys. Implementations are safe for
// concurrent use, also by several processes sharing the ring.
type Ring interface {
	// Load returns the keys by number.
	Load(ctx context.Context) ([]Key, error)
	// Add adds k, or returns ErrExists.
	Add(ctx context.Context, k Key) error
	// Remove removes key num (a no-op when it is gone).
	Remove(ctx context.Context, num int) error
	// String says where the ring is, for messages.
	String() string
}

// Dir returns the ring kept in directory dir (created 0700 if missing):
// files named by the key's number, each holding the key in base64, mode
// 0600. A key file that group or others may read is refused.
func Dir(dir string) (Ring, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("key directory: %w", err)
	}
	return dirRing(dir), nil
}

type dirRing string

func (d dirRing) String() string { return string(d) }

func (d dirRing) Load(context.Context) ([]Key, error) {
	entries, err := os.ReadDir(string(d))
	if err != nil {
		return nil, fmt.Errorf("load keys: %w", err)
	}
	var keys []Key
	for _, e := range entries {
		num, err := strconv.Atoi(e.Name())
		if err != nil || e.IsDir() || num <= 0 || strconv.Itoa(num) != e.Name() {
			continue
		}
		path := filepath.Join(string(d), e.Name())
		info, err := e.Info()
		if err != nil {
			return nil, fmt.Errorf("load key %s: %w", path, err)
		}
		if info.Mode().Perm()&0o077 != 0 {
			return nil, fmt.Errorf("load key %s: mode %v is readable by others, want 0600 (chmod 600 %s)", path, info.Mode().Perm(), path)
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("load key %s: %w", path, err)
		}
		material, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(raw)))
		if err != nil || len(material) == 0 {
			return nil, fmt.Errorf("load key %s: want the key in base64", path)
		}
		keys = append(keys, Key{Num: num, Material: material, Created: info.ModTime()})
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].Num < keys[j].Num })
	return keys, nil
}

// Add writes the key beside its place, then links it there: the link
// fails when the number is taken, so two processes adding the same number
// cannot overwrite each other, and a crash never leaves half a key.
func (d dirRing) Add(_ context.Context, k Key) error {
	path := filepath.Join(string(d), strconv.Itoa(k.Num))
	tmp := filepath.Join(string(d), ".new-"+strconv.Itoa(k.Num)+"-"+randomSuffix())
	if err := atomicfile.Write(tmp, []byte(base64.StdEncoding.EncodeToString(k.Material)+"\n"), 0o600); err != nil {
		return fmt.Errorf("add key %s: %w", path, err)
	}
	defer os.Remove(tmp)
	if !k.Created.IsZero() {
		_ = os.Chtimes(tmp, k.Created, k.Created)
	}
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("add key %s: %w", path, ErrExists)
		}
		return fmt.Errorf("add key %s: %w", path, err)
	}
	return nil
}

func (d dirRing) Remove(_ context.Context, num int) error {
	if err := os.Remove(filepath.Join(string(d), strconv.Itoa(num))); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove key: %w", err)
	}
	return nil
}

func randomSuffix() string {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		panic("keystore: crypto/rand failed: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// MasterKey seals the keys a ring keeps in the store.
type MasterKey struct {
	aead cipher.AEAD
	prev *MasterKey // also opens (WithPrevious)
}

// WithPrevious returns a master key that seals as m and opens what m or
// prev sealed: what servers run with while Reseal moves the keys from prev
// to m, so that they work before and after it.
func (m *MasterKey) WithPrevious(prev *MasterKey) *MasterKey {
	return &MasterKey{aead: m.aead, prev: prev}
}

// MasterKeySize is the size of a master key: 32 bytes (AES-256).
const MasterKeySize = 32

// NewMasterKey returns a master key of MasterKeySize raw bytes.
func NewMasterKey(raw []byte) (*MasterKey, error) {
	if len(raw) != MasterKeySize {
		return nil, fmt.Errorf("master key: want %d bytes, got %d", MasterKeySize, len(raw))
	}
	block, err := aes.NewCipher(raw)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &MasterKey{aead: aead}, nil
}

// LoadMasterKey reads a master key file: 32 random bytes in base64 (what
// `openssl rand -base64 32` prints), readable by its owner only. A file
// that group or others may read is refused, naming the fix.
func LoadMasterKey(path string) (*MasterKey, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("master key: %w", err)
	}
	if perm := info.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("master key %s has mode %04o: group or others may read it; run chmod 600 %s", path, perm, path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("master key: %w", err)
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(data)))
	if err != nil || len(raw) != MasterKeySize {
		return nil, fmt.Errorf("master key %s: want %d random bytes in base64, as `openssl rand -base64 32` prints them", path, MasterKeySize)
	}
	return NewMasterKey(raw)
}

// aad binds a sealed key to its ring and number, so that a row cannot be
// passed off as another key.
func aad(ring string, num int) []byte {
	return []byte("fulcrum sealed key\x00" + ring + "\x00" + strconv.Itoa(num))
}

func (m *MasterKey) seal(ring string, num int, plain []byte) []byte {
	nonce := make([]byte, m.aead.NonceSize(), m.aead.NonceSize()+len(plain)+m.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		panic("keystore: crypto/rand failed: " + err.Error())
	}
	return m.aead.Seal(nonce, nonce, plain, aad(ring, num))
}

// ErrWrongMasterKey: a key in the store does not open with the master key
// given (it is not the one the other servers use), or was tampered with.
var ErrWrongMasterKey = errors.New("the master key does not open the keys in the database")

func (m *MasterKey) open(ring string, num int, sealed []byte) ([]byte, error) {
	ns := m.aead.NonceSize()
	if len(sealed) < ns {
		return nil, fmt.Errorf("key %d of ring %s: %w", num, ring, ErrWrongMasterKey)
	}
	plain, err := m.aead.Open(nil, sealed[:ns], sealed[ns:], aad(ring, num))
	if err != nil && m.prev != nil {
		return m.prev.open(ring, num, sealed)
	}
	if err != nil {
		return nil, fmt.Errorf("key %d of ring %s: %w (is --master-key-file the one the other servers were given?)", num, ring, ErrWrongMasterKey)
	}
	return plain, nil
}

// Sealed returns ring name kept in the store, sealed with m.
func Sealed(st store.Store, m *MasterKey, name string) Ring {
	return &sealedRing{st: st, m: m, name: name}
}

type sealedRing struct {
	st   store.Store
	m    *MasterKey
	name string
}

func (s *sealedRing) String() string { return "ring " + s.name + " in the database" }

func (s *sealedRing) Load(ctx context.Context) ([]Key, error) {
	var rows []*store.SealedKey
	if err := s.st.View(ctx, func(tx store.Tx) error {
		var err error
		rows, err = tx.SealedKeys().List(ctx, s.name)
		return err
	}); err != nil {
		return nil, fmt.Errorf("load keys of %s: %w", s, err)
	}
	keys := make([]Key, 0, len(rows))
	for _, r := range rows {
		plain, err := s.m.open(s.name, r.Num, r.Sealed)
		if err != nil {
			return nil, err
		}
		keys = append(keys, Key{Num: r.Num, Material: plain, Created: r.CreatedAt})
	}
	return keys, nil
}

func (s *sealedRing) Add(ctx context.Context, k Key) error {
	created := k.Created
	if created.IsZero() {
		created = time.Now()
	}
	row := &store.SealedKey{Ring: s.name, Num: k.Num, Sealed: s.m.seal(s.name, k.Num, k.Material), CreatedAt: created.UTC()}
	err := s.st.Update(ctx, func(tx store.Tx) error { return tx.SealedKeys().Create(ctx, row) })
	if errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("add key %d to %s: %w", k.Num, s, ErrExists)
	}
	if err != nil {
		return fmt.Errorf("add key %d to %s: %w", k.Num, s, err)
	}
	return nil
}

func (s *sealedRing) Remove(ctx context.Context, num int) error {
	if err := s.st.Update(ctx, func(tx store.Tx) error { return tx.SealedKeys().Delete(ctx, s.name, num) }); err != nil {
		return fmt.Errorf("remove key %d from %s: %w", num, s, err)
	}
	return nil
}

// Import copies from's keys into to when to has none, and returns how
// many it copied (0 when to had keys or from has none). Servers moving
// their keys from files into the database run it once per ring.
func Import(ctx context.Context, from, to Ring) (int, error) {
	have, err := to.Load(ctx)
	if err != nil || len(have) > 0 {
		return 0, err
	}
	keys, err := from.Load(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, k := range keys {
		err := to.Add(ctx, k)
		if errors.Is(err, ErrExists) {
			continue // another server imports the same keys
		}
		if err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// One returns key 1 of ring, adding it with create's material when the
// ring is empty. When several servers start at once, one key wins and all
// return it.
func One(ctx context.Context, ring Ring, create func() ([]byte, error)) (Key, error) {
	for attempt := 0; ; attempt++ {
		keys, err := ring.Load(ctx)
		if err != nil {
			return Key{}, err
		}
		if len(keys) > 0 {
			return keys[0], nil
		}
		if attempt > 0 {
			return Key{}, fmt.Errorf("%s: key added by another server is gone", ring)
		}
		material, err := create()
		if err != nil {
			return Key{}, err
		}
		err = ring.Add(ctx, Key{Num: 1, Material: material, Created: time.Now()})
		if err != nil && !errors.Is(err, ErrExists) {
			return Key{}, err
		}
	}
}

// Reseal seals every key the store keeps, of every ring, again under next
// in one transaction: afterwards servers given next open them and old opens
// nothing. Keys next already opens are left as they are, so running it
// again after it succeeded changes nothing. It returns how many keys it
// sealed again and how many next already opened; a key that neither opens
// fails it with ErrWrongMasterKey and changes nothing.
func Reseal(ctx context.Context, st store.Store, old, next *MasterKey) (resealed, already int, err error) {
	next = &MasterKey{aead: next.aead} // next alone: what it opens is already moved
	err = st.Update(ctx, func(tx store.Tx) error {
		resealed, already = 0, 0
		rows, err := tx.SealedKeys().List(ctx, "")
		if err != nil {
			return err
		}
		if len(rows) == 0 {
			return errors.New("the database holds no sealed keys (have the servers been started with --master-key-file?)")
		}
		for _, r := range rows {
			if _, err := next.open(r.Ring, r.Num, r.Sealed); err == nil {
				already++
				continue
			}
			plain, err := old.open(r.Ring, r.Num, r.Sealed)
			if err != nil {
				return fmt.Errorf("neither master key opens it: %w", err)
			}
			if err := tx.SealedKeys().Delete(ctx, r.Ring, r.Num); err != nil {
				return err
			}
			if err := tx.SealedKeys().Create(ctx, &store.SealedKey{Ring: r.Ring, Num: r.Num, Sealed: next.seal(r.Ring, r.Num, plain), CreatedAt: r.CreatedAt}); err != nil {
				return err
			}
			resealed++
		}
		return nil
	})
	if err != nil {
		return 0, 0, fmt.Errorf("reseal keys under the new master key: %w", err)
	}
	return resealed, already, nil
}
