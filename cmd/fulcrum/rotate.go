package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/config"
	"github.com/fulcrumlb/fulcrum/internal/keystore"
	"github.com/fulcrumlb/fulcrum/internal/secrets"
)

// runRotateSecretKey is `fulcrum rotate-secret-key`: a new key-encryption
// key for the key manager's payloads, every payload sealed again under it,
// the old keys removed (docs/secrets.md). Servers may run meanwhile.
func runRotateSecretKey(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var sc storeConfig
	var settle time.Duration
	s := config.New("rotate-secret-key")
	sc.register(s, "the server's data directory (its keys/secrets/ and, with SQLite, the database)")
	s.Duration(&settle, "settle", 10*time.Second,
		fmt.Sprintf("how long running servers get to start sealing with the new key before payloads are sealed again (at least %v)", secrets.MinSettle))
	if err := s.Load(args, os.Getenv, stderr); err != nil {
		return err
	}
	if err := sc.check(); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if settle < secrets.MinSettle {
		return fmt.Errorf("%w: --settle %v: at least %v (servers re-read the keys every %v)", errUsage, settle, secrets.MinSettle, secrets.KeyRefresh)
	}
	if sc.MasterKeyFile != "" {
		// Refuse a bad key file before touching the database.
		if _, err := keystore.LoadMasterKey(sc.MasterKeyFile); err != nil {
			return fmt.Errorf("--master-key-file: %w", err)
		}
	}
	st, err := sc.open(ctx, nil)
	if err != nil {
		return refuseNewerSchema(err)
	}
	defer st.Close()
	rings, err := sc.openKeyRings(ctx, st, false, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	res, err := secrets.RotateKeys(ctx, st, rings.secrets, secrets.RotateOptions{Settle: settle,
		Progress: func(msg string) { fmt.Fprintln(stdout, msg) }})
	if err != nil {
		return fmt.Errorf("%w (every payload still opens; run rotate-secret-key again to finish)", err)
	}
	fmt.Fprintf(stdout, "secret keys rotated: key %d seals every payload (%d sealed again)\n", res.Key, res.Resealed)
	return nil
}

// runRotateMasterKey is `fulcrum rotate-master-key`: every key the
// database keeps sealed again under a new master key, in one transaction
// (docs/operations.md, "Rotate keys").
func runRotateMasterKey(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var sc storeConfig
	var next string
	s := config.New("rotate-master-key")
	sc.register(s, "the server's data directory")
	s.String(&next, "new-master-key-file", "", "file holding the new master key (32 random bytes in base64, mode 0600: openssl rand -base64 32 > new.key && chmod 600 new.key)")
	if err := s.Load(args, os.Getenv, stderr); err != nil {
		return err
	}
	if sc.MasterKeyFile == "" || next == "" {
		return fmt.Errorf("%w: rotate-master-key needs --master-key-file (the key the servers use now) and --new-master-key-file", errUsage)
	}
	if err := sc.check(); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	old, err := keystore.LoadMasterKey(sc.MasterKeyFile)
	if err != nil {
		return fmt.Errorf("--master-key-file: %w", err)
	}
	nk, err := keystore.LoadMasterKey(next)
	if err != nil {
		return fmt.Errorf("--new-master-key-file: %w", err)
	}
	if same, err := sameFile(sc.MasterKeyFile, next); err != nil || same {
		return fmt.Errorf("%w: --new-master-key-file must be another key than --master-key-file", errUsage)
	}
	st, err := sc.open(ctx, nil)
	if err != nil {
		return refuseNewerSchema(err)
	}
	defer st.Close()
	n, already, err := keystore.Reseal(ctx, st, old, nk)
	if err != nil {
		return err
	}
	if n == 0 {
		fmt.Fprintf(stdout, "nothing to do: the new master key already opens all %d keys in the database\n", already)
		return nil
	}
	fmt.Fprintf(stdout, "master key rotated: %d keys sealed again under %s (%d already were); the old master key opens nothing now\n", n, next, already)
	return nil
}

// sameFile reports whether two key files hold the same key.
func sameFile(a, b string) (bool, error) {
	x, err := os.ReadFile(a)
	if err != nil {
		return false, err
	}
	y, err := os.ReadFile(b)
	if err != nil {
		return false, err
	}
	return string(x) == string(y), nil
}
