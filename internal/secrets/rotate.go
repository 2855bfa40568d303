package secrets

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/keystore"
	"github.com/fulcrumlb/fulcrum/internal/secrets/barbican"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// MinSettle is the shortest RotateOptions.Settle: servers that seal with
// the old key must have had time to read the ring again (KeyRefresh) and to
// write what they sealed just before.
const MinSettle = 5 * time.Second

// RotateOptions tune RotateKeys.
type RotateOptions struct {
	// Settle is how long after the new key was added RotateKeys starts
	// re-sealing (at least MinSettle; 0 means 10 s).
	Settle time.Duration
	// Progress, when set, is told each step as a sentence.
	Progress func(msg string)
	// settleFloor, in tests, replaces MinSettle.
	settleFloor time.Duration
	// beforeReseal, in tests, runs before each payload is re-sealed; an
	// error stops the rotation there, as a crash would.
	beforeReseal func(id string) error
}

// RotateResult says what RotateKeys did.
type RotateResult struct {
	// Key is the number of the key that now seals every payload.
	Key int
	// Resumed: the ring already had a newer key than the one payloads were
	// sealed with (an interrupted rotation); no key was added.
	Resumed bool
	// Resealed counts the payloads sealed again under Key.
	Resealed int
	// Retired are the numbers of the keys removed.
	Retired []int
}

// RotateKeys makes a new key-encryption key current and retires the
// others: it adds the key to ring (the newest key seals from then on, on
// every server within KeyRefresh), waits opts.Settle, seals every stored
// payload that another key sealed again under the new key — one secret per
// transaction, the secret locked, its content and times unchanged — and
// removes the other keys once no payload needs them.
//
// Every step leaves a ring that opens every payload, so a rotation stopped
// anywhere is finished by running RotateKeys again: a ring with more than
// one key is an unfinished rotation, which it resumes rather than adding
// yet another key. A payload that opens with no key of the ring stops it
// before any key is removed.
func RotateKeys(ctx context.Context, st store.Store, ring keystore.Ring, opts RotateOptions) (RotateResult, error) {
	var res RotateResult
	settle := opts.Settle
	if settle == 0 {
		settle = 10 * time.Second
	}
	floor := MinSettle
	if opts.settleFloor != 0 {
		floor = opts.settleFloor
	}
	if settle < floor {
		return res, fmt.Errorf("rotate secret keys: settle %v is shorter than %v", settle, floor)
	}
	say := func(format string, args ...any) {
		if opts.Progress != nil {
			opts.Progress(fmt.Sprintf(format, args...))
		}
	}
	keys, err := ring.Load(ctx)
	if err != nil {
		return res, fmt.Errorf("rotate secret keys: %w", err)
	}
	if len(keys) == 0 {
		return res, fmt.Errorf("rotate secret keys: %s holds no key (has a server started with this data directory or database?)", ring)
	}
	newest := keys[len(keys)-1]
	if len(keys) == 1 {
		material := make([]byte, 32)
		if _, err := rand.Read(material); err != nil {
			return res, fmt.Errorf("rotate secret keys: %w", err)
		}
		newest = keystore.Key{Num: newest.Num + 1, Material: material, Created: time.Now()}
		if err := ring.Add(ctx, newest); err != nil {
			if errors.Is(err, keystore.ErrExists) {
				return res, fmt.Errorf("rotate secret keys: another rotation added key %d at the same moment: %w", newest.Num, err)
			}
			return res, fmt.Errorf("rotate secret keys: %w", err)
		}
		say("key %d added to %s: it seals new payloads from now on", newest.Num, ring)
	} else {
		res.Resumed = true
		say("resuming an unfinished rotation to key %d of %s", newest.Num, ring)
	}
	res.Key = newest.Num
	kr, err := OpenKeyRingIn(ring)
	if err != nil {
		return res, err
	}
	if wait := time.Until(newest.Created.Add(settle)); wait > 0 {
		say("waiting %v for running servers to seal with key %d", wait.Round(time.Second), newest.Num)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return res, ctx.Err()
		case <-t.C:
		}
	}
	// A second pass finds what a server sealed with an old key while the
	// first ran (it had not read the ring again yet); the last pass must
	// find nothing before any key goes.
	for pass := 0; ; pass++ {
		n, err := resealPass(ctx, st, kr, newest.Num, opts.beforeReseal)
		res.Resealed += n
		if err != nil {
			return res, err
		}
		if n == 0 {
			break
		}
		if pass == 3 {
			return res, fmt.Errorf("rotate secret keys: payloads are still being sealed with old keys after %d passes; run it again", pass+1)
		}
	}
	say("%d payloads sealed again under key %d", res.Resealed, newest.Num)
	for _, k := range keys {
		if k.Num == newest.Num {
			continue
		}
		if err := ring.Remove(ctx, k.Num); err != nil {
			return res, fmt.Errorf("rotate secret keys: %w", err)
		}
		res.Retired = append(res.Retired, k.Num)
	}
	slices.Sort(res.Retired)
	if len(res.Retired) > 0 {
		say("keys %v removed from %s", res.Retired, ring)
	}
	return res, nil
}

// resealPass seals every payload not sealed with key num again under it
// (kr's primary) and returns how many it sealed.
func resealPass(ctx context.Context, st store.Store, kr *KeyRing, num int, before func(string) error) (int, error) {
	var all []*barbican.Secret
	if err := st.View(ctx, func(tx store.Tx) error {
		var err error
		all, err = tx.Secrets().List(ctx, store.Query{})
		return err
	}); err != nil {
		return 0, fmt.Errorf("rotate secret keys: list secrets: %w", err)
	}
	n := 0
	for _, s := range all {
		if s.Payload == nil || s.Payload.KeyID == num {
			continue
		}
		if before != nil {
			if err := before(s.ID); err != nil {
				return n, err
			}
		}
		done := false
		err := st.Update(ctx, func(tx store.Tx) error {
			done = false
			cur, err := tx.Secrets().Lock(ctx, s.ID)
			if err != nil {
				return err
			}
			if cur.Payload == nil || cur.Payload.KeyID == num {
				return nil
			}
			plain, err := kr.Open(cur.Payload, []byte(cur.ID))
			if err != nil {
				return err
			}
			sealed, err := kr.sealWith(num, plain, []byte(cur.ID))
			if err != nil {
				return err
			}
			cur.Payload = sealed
			done = true
			return tx.Secrets().Update(ctx, cur)
		})
		if errors.Is(err, store.ErrNotFound) {
			continue // deleted meanwhile
		}
		if err != nil {
			return n, fmt.Errorf("rotate secret keys: secret %s: %w", s.ID, err)
		}
		if done {
			n++
		}
	}
	return n, nil
}

// sealWith is Seal with key num.
func (k *KeyRing) sealWith(num int, plain, aad []byte) (*barbican.Sealed, error) {
	k.mu.RLock()
	aead := k.keys[num]
	k.mu.RUnlock()
	if aead == nil {
		return nil, fmt.Errorf("seal payload: no key %d in %s", num, k.ring)
	}
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("seal payload: %w", err)
	}
	return &barbican.Sealed{KeyID: num, Data: aead.Seal(nonce, nonce, plain, aad)}, nil
}
