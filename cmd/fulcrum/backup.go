package main

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/config"
	"github.com/fulcrumlb/fulcrum/internal/store/sqlstore"
)

// A backup is a gzip-compressed tar archive, written with mode 0600 since
// it holds every key of the data dir:
//
//	fulcrum-backup.json  the manifest (first entry): format, versions, and
//	                     every file's size, mode and SHA-256
//	fulcrum.db           a consistent copy of the SQLite database (VACUUM INTO)
//	keys/…, pki/…, …     every other regular file of the data dir
//
// The database is copied first, in one read transaction while the server
// runs; the files after it. Of the keys, the database's rows need the
// secret keys, which rotate-secret-key may remove: they are also read
// before the database, and a key removed meanwhile is packed from that
// earlier read, so the backup holds every key the copied database needs.

const (
	backupManifestName = "fulcrum-backup.json"
	backupDatabaseName = "fulcrum.db"
	backupFormat       = 1
	// maxBackupManifest bounds the manifest a restore reads.
	maxBackupManifest = 16 << 20
	// maxBackupFile bounds one file of the data dir a backup reads into
	// memory (keys, certificates, the agent's config cache).
	maxBackupFile = 256 << 20
)

// backupManifest is fulcrum-backup.json.
type backupManifest struct {
	Format  int          `json:"format"`
	Created time.Time    `json:"created"`
	Fulcrum string       `json:"fulcrum"`          // the version that wrote it
	Schema  int          `json:"schema,omitempty"` // the database's schema version
	Files   []backupFile `json:"files"`
}

type backupFile struct {
	Name   string `json:"name"` // slash-separated, relative to the data dir
	Size   int64  `json:"size"`
	Mode   uint32 `json:"mode"` // permission bits
	SHA256 string `json:"sha256"`
}

// runBackup is `fulcrum backup`.
func runBackup(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var dataDir, to string
	s := config.New("backup")
	s.String(&dataDir, "data-dir", "./fulcrum-data", "the server's data directory (the server may be running)")
	s.String(&to, "to", "", "backup file to write (mode 0600; must not exist)")
	if err := s.Load(args, os.Getenv, stderr); err != nil {
		return err
	}
	if to == "" {
		return fmt.Errorf("%w: backup needs --to FILE", errUsage)
	}
	m, err := writeBackup(ctx, dataDir, to)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	var size int64
	for _, f := range m.Files {
		size += f.Size
	}
	fmt.Fprintf(stdout, "backup of %s written to %s: %d files, %d bytes before compression, schema version %d\n", dataDir, to, len(m.Files), size, m.Schema)
	return nil
}

// writeBackup writes the backup of dataDir to the new file to.
func writeBackup(ctx context.Context, dataDir, to string) (*backupManifest, error) {
	return writeBackupThen(ctx, dataDir, to, nil)
}

// writeBackupThen is writeBackup that runs afterSnapshot (tests: a
// rotation finishing meanwhile) between the database copy and the walk.
func writeBackupThen(ctx context.Context, dataDir, to string, afterSnapshot func()) (*backupManifest, error) {
	if _, err := os.Lstat(to); err == nil {
		return nil, fmt.Errorf("%s exists: give a new file", to)
	}
	if fi, err := os.Stat(dataDir); err != nil {
		return nil, err
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("%s is not a directory", dataDir)
	}
	if inside, err := within(dataDir, filepath.Dir(to)); err != nil {
		return nil, err
	} else if inside {
		return nil, fmt.Errorf("%s is inside the data dir %s: write the backup elsewhere", to, dataDir)
	}
	stage, err := os.MkdirTemp(filepath.Dir(to), ".fulcrum-backup-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(stage)

	m := &backupManifest{Format: backupFormat, Created: time.Now().UTC().Truncate(time.Second), Fulcrum: currentBuild().Version}
	type entry struct {
		file backupFile
		src  string // the staged database copy; "" for a file read into body
		body []byte
	}
	var entries []entry
	dbPath := filepath.Join(dataDir, backupDatabaseName)
	if _, err := os.Stat(dbPath); err != nil {
		return nil, fmt.Errorf("no SQLite database in %s (%w): a server on PostgreSQL is backed up with the database's own tools and its master key (docs/operations.md)", dataDir, err)
	}
	// The secret keys as they are before the snapshot: rotate-secret-key
	// may remove one the copied database still needs before the walk.
	type early struct {
		mode uint32
		body []byte
	}
	earlyKeys := map[string]early{}
	secretKeys := filepath.Join(dataDir, "keys", "secrets")
	if list, err := os.ReadDir(secretKeys); err == nil {
		for _, d := range list {
			if !d.Type().IsRegular() || strings.HasPrefix(d.Name(), ".") {
				continue
			}
			fi, err := d.Info()
			if err != nil {
				continue
			}
			if body, err := readBounded(filepath.Join(secretKeys, d.Name())); err == nil {
				earlyKeys["keys/secrets/"+d.Name()] = early{uint32(fi.Mode().Perm()), body}
			}
		}
	}
	copyPath := filepath.Join(stage, backupDatabaseName)
	schema, err := snapshotSQLite(ctx, dbPath, copyPath)
	if err != nil {
		return nil, err
	}
	m.Schema = schema
	if afterSnapshot != nil {
		afterSnapshot()
	}
	sum, size, err := hashFile(copyPath)
	if err != nil {
		return nil, err
	}
	entries = append(entries, entry{file: backupFile{Name: backupDatabaseName, Size: size, Mode: 0o600, SHA256: sum}, src: copyPath})
	// Then every other regular file, read after the database snapshot.
	err = filepath.WalkDir(dataDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && p != dataDir {
				return nil // removed while we walk (a rotated-out token key)
			}
			return err
		}
		rel, err := filepath.Rel(dataDir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if d.IsDir() || rel == "." || skipInBackup(rel) || !d.Type().IsRegular() {
			return nil
		}
		fi, err := d.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		} else if err != nil {
			return err
		}
		body, err := readBounded(p)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		} else if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		entries = append(entries, entry{file: backupFile{Name: rel, Size: int64(len(body)), Mode: uint32(fi.Mode().Perm()), SHA256: hex.EncodeToString(sum[:])}, body: body})
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		delete(earlyKeys, e.file.Name)
	}
	for _, name := range slices.Sorted(maps.Keys(earlyKeys)) {
		k := earlyKeys[name]
		sum := sha256.Sum256(k.body)
		entries = append(entries, entry{file: backupFile{Name: name, Size: int64(len(k.body)), Mode: k.mode, SHA256: hex.EncodeToString(sum[:])}, body: k.body})
	}
	for _, e := range entries {
		m.Files = append(m.Files, e.file)
	}
	manifest, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}

	tmp, err := os.CreateTemp(filepath.Dir(to), ".fulcrum-backup-*.tmp")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	if err := tmp.Chmod(0o600); err != nil {
		return nil, err
	}
	gz := gzip.NewWriter(tmp)
	tw := tar.NewWriter(gz)
	add := func(name string, mode uint32, size int64, r io.Reader) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: int64(mode), Size: size, ModTime: m.Created, Typeflag: tar.TypeReg, Format: tar.FormatPAX}); err != nil {
			return err
		}
		_, err := io.CopyN(tw, r, size)
		return err
	}
	if err := add(backupManifestName, 0o600, int64(len(manifest)), strings.NewReader(string(manifest))); err != nil {
		return nil, err
	}
	for _, e := range entries {
		if e.src == "" {
			err = add(e.file.Name, e.file.Mode, e.file.Size, strings.NewReader(string(e.body)))
		} else {
			err = addFile(add, e.file, e.src)
		}
		if err != nil {
			return nil, err
		}
	}
	if err := errors.Join(tw.Close(), gz.Close(), tmp.Sync(), tmp.Close()); err != nil {
		return nil, err
	}
	// A link never replaces an existing file: two backups racing for one
	// name cannot overwrite each other.
	if err := os.Link(tmp.Name(), to); err != nil {
		return nil, err
	}
	return m, nil
}

func addFile(add func(string, uint32, int64, io.Reader) error, f backupFile, src string) error {
	r, err := os.Open(src)
	if err != nil {
		return err
	}
	defer r.Close()
	return add(f.Name, f.Mode, f.Size, r)
}

// within reports whether dir is root or below it.
func within(root, dir string) (bool, error) {
	r, err := filepath.Abs(root)
	if err != nil {
		return false, err
	}
	d, err := filepath.Abs(dir)
	if err != nil {
		return false, err
	}
	rel, err := filepath.Rel(r, d)
	if err != nil {
		return false, nil
	}
	return rel == "." || filepath.IsLocal(rel), nil
}

// skipInBackup reports whether a data-dir file stays out of a backup: the
// live database (copied through SQLite instead) and temporary files.
func skipInBackup(rel string) bool {
	switch rel {
	case backupDatabaseName, backupDatabaseName + "-wal", backupDatabaseName + "-shm", backupDatabaseName + "-journal":
		return true
	}
	return strings.HasSuffix(rel, ".tmp")
}

func readBounded(p string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	body, err := io.ReadAll(io.LimitReader(f, maxBackupFile+1))
	if err != nil {
		return nil, err
	}
	if len(body) > maxBackupFile {
		return nil, fmt.Errorf("%s: larger than %d bytes", p, maxBackupFile)
	}
	return body, nil
}

func hashFile(p string) (string, int64, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	return hex.EncodeToString(h.Sum(nil)), n, err
}

// openSQLiteFile opens a SQLite file for the backup's own statements, with
// the server's busy timeout.
func openSQLiteFile(p string) (*sql.DB, error) {
	db, err := sql.Open("sqlite", p+"?"+url.Values{"_pragma": {"busy_timeout(10000)"}}.Encode())
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	return db, nil
}

// snapshotSQLite copies the database at src to the new file dst with
// VACUUM INTO (one read transaction: a consistent snapshot while writers
// run), checks the copy's integrity and returns its schema version. A
// database this binary's schema does not know is refused.
func snapshotSQLite(ctx context.Context, src, dst string) (int, error) {
	db, err := openSQLiteFile(src)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `VACUUM INTO ?`, dst); err != nil {
		return 0, fmt.Errorf("copy the database: %w", err)
	}
	if err := os.Chmod(dst, 0o600); err != nil {
		return 0, err
	}
	return checkDatabaseFile(ctx, dst)
}

// checkDatabaseFile runs SQLite's integrity check on the database file p
// and returns its schema version, refusing one newer than this binary.
func checkDatabaseFile(ctx context.Context, p string) (int, error) {
	db, err := openSQLiteFile(p)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	var result string
	if err := db.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&result); err != nil {
		return 0, fmt.Errorf("database integrity check: %w", err)
	}
	if result != "ok" {
		return 0, fmt.Errorf("database integrity check: %s", result)
	}
	var schema sql.NullInt64
	var name sql.NullString
	if err := db.QueryRowContext(ctx, `SELECT version, name FROM schema_migrations ORDER BY version DESC LIMIT 1`).Scan(&schema, &name); err != nil {
		return 0, fmt.Errorf("database schema version: %w", err)
	}
	if binary := sqlstore.SchemaVersion("sqlite"); int(schema.Int64) > binary {
		return 0, refuseNewerSchema(&sqlstore.NewerSchemaError{Database: int(schema.Int64), DatabaseName: name.String, Binary: binary})
	}
	return int(schema.Int64), nil
}

// runRestore is `fulcrum restore`.
func runRestore(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var from, dataDir string
	s := config.New("restore")
	s.String(&from, "from", "", "backup file written by fulcrum backup")
	s.String(&dataDir, "data-dir", "", "data directory to restore into: must not exist, or be empty")
	if err := s.Load(args, os.Getenv, stderr); err != nil {
		return err
	}
	if from == "" || dataDir == "" {
		return fmt.Errorf("%w: restore needs --from FILE and --data-dir DIR", errUsage)
	}
	m, err := restoreBackup(ctx, from, dataDir)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	fmt.Fprintf(stdout, "restored %d files of the backup of %s (fulcrum %s, schema version %d) into %s\n",
		len(m.Files), m.Created.Format(time.RFC3339), m.Fulcrum, m.Schema, dataDir)
	return nil
}

// restoreBackup unpacks the backup from into the new directory dataDir,
// after checking every file against the manifest; nothing appears at
// dataDir unless the whole backup checks out.
func restoreBackup(ctx context.Context, from, dataDir string) (*backupManifest, error) {
	if entries, err := os.ReadDir(dataDir); err == nil && len(entries) > 0 {
		return nil, fmt.Errorf("%s is not empty: restore into a new directory", dataDir)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	f, err := os.Open(from)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("%s: not a fulcrum backup: %w", from, err)
	}
	tr := tar.NewReader(gz)
	hdr, err := tr.Next()
	if err != nil || hdr.Name != backupManifestName || hdr.Typeflag != tar.TypeReg {
		return nil, fmt.Errorf("%s: not a fulcrum backup (no %s first)", from, backupManifestName)
	}
	if hdr.Size > maxBackupManifest {
		return nil, fmt.Errorf("%s: manifest larger than %d bytes", from, maxBackupManifest)
	}
	var m backupManifest
	dec := json.NewDecoder(io.LimitReader(tr, hdr.Size))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%s: manifest: %w", from, err)
	}
	if m.Format != backupFormat {
		return nil, fmt.Errorf("%s: backup format %d, this fulcrum reads format %d", from, m.Format, backupFormat)
	}
	want := map[string]backupFile{}
	for _, bf := range m.Files {
		if !validBackupName(bf.Name) || bf.Name == backupManifestName {
			return nil, fmt.Errorf("%s: manifest: bad file name %q", from, bf.Name)
		}
		if _, dup := want[bf.Name]; dup {
			return nil, fmt.Errorf("%s: manifest: %s listed twice", from, bf.Name)
		}
		if bf.Mode&^0o777 != 0 || bf.Size < 0 {
			return nil, fmt.Errorf("%s: manifest: %s: bad mode or size", from, bf.Name)
		}
		want[bf.Name] = bf
	}

	parent := filepath.Dir(filepath.Clean(dataDir))
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return nil, err
	}
	stage, err := os.MkdirTemp(parent, ".fulcrum-restore-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(stage)
	done := map[string]bool{}
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", from, err)
		}
		bf, ok := want[hdr.Name]
		if !ok || done[hdr.Name] {
			return nil, fmt.Errorf("%s: %q is not in the manifest, or appears twice", from, hdr.Name)
		}
		if hdr.Typeflag != tar.TypeReg || hdr.Size != bf.Size {
			return nil, fmt.Errorf("%s: %s: not a regular file of the manifest's size", from, hdr.Name)
		}
		dst := filepath.Join(stage, filepath.FromSlash(hdr.Name))
		if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
			return nil, err
		}
		out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, fs.FileMode(bf.Mode))
		if err != nil {
			return nil, err
		}
		h := sha256.New()
		_, err = io.CopyN(io.MultiWriter(out, h), tr, bf.Size)
		if err = errors.Join(err, out.Chmod(fs.FileMode(bf.Mode)), out.Sync(), out.Close()); err != nil {
			return nil, fmt.Errorf("%s: %s: %w", from, hdr.Name, err)
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != bf.SHA256 {
			return nil, fmt.Errorf("%s: %s: checksum %s, the manifest says %s: the backup is damaged", from, hdr.Name, got, bf.SHA256)
		}
		done[hdr.Name] = true
	}
	for _, bf := range m.Files {
		if !done[bf.Name] {
			return nil, fmt.Errorf("%s: %s is missing: the backup is truncated", from, bf.Name)
		}
	}
	if done[backupDatabaseName] {
		if _, err := checkDatabaseFile(ctx, filepath.Join(stage, backupDatabaseName)); err != nil {
			return nil, err
		}
	}
	// The staging dir becomes the data dir (an empty one is replaced).
	if err := os.Chmod(stage, 0o700); err != nil {
		return nil, err
	}
	if err := os.Remove(dataDir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if err := os.Rename(stage, dataDir); err != nil {
		return nil, err
	}
	return &m, nil
}

// validBackupName accepts a clean, relative, slash-separated path without
// "..", as a backup writes them.
func validBackupName(name string) bool {
	if name == "" || len(name) > 1024 || path.Clean(name) != name || !filepath.IsLocal(filepath.FromSlash(name)) ||
		strings.ContainsAny(name, "\\\x00") {
		return false
	}
	return !slices.Contains(strings.Split(name, "/"), "..")
}
