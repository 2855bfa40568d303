package sqlstore

import (
	"context"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
)

// migrationFile is one embedded migration.
type migrationFile struct {
	version int
	name    string
}

// migrationFiles lists the embedded migrations of a dialect in order.
func migrationFiles(dialect string) ([]migrationFile, error) {
	dir := "migrations/" + dialect
	entries, err := fs.ReadDir(migrationFS, dir)
	if err != nil {
		return nil, err
	}
	out := make([]migrationFile, 0, len(entries))
	for _, e := range entries {
		name := e.Name()
		num, _, ok := strings.Cut(name, "_")
		version, err := strconv.Atoi(num)
		if !ok || err != nil || !strings.HasSuffix(name, ".sql") {
			return nil, fmt.Errorf("bad migration file name %q", name)
		}
		out = append(out, migrationFile{version, name})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	return out, nil
}

// SchemaVersion is the number of the newest migration this binary carries
// for driver ("sqlite" or "postgres"): the schema version a database it
// opens ends at.
func SchemaVersion(driver string) int {
	if driver == "" {
		driver = "sqlite"
	}
	files, err := migrationFiles(driver)
	if err != nil || len(files) == 0 {
		return 0
	}
	return files[len(files)-1].version
}

// NewerSchemaError refuses a database that records a migration this binary
// does not carry: a newer fulcrum migrated it, and this one would run on a
// schema it does not know.
type NewerSchemaError struct {
	Database     int    // the newest migration the database records
	DatabaseName string // its file name, as that binary recorded it
	Binary       int    // the newest migration this binary carries
}

func (e *NewerSchemaError) Error() string {
	return fmt.Sprintf("the database's schema is version %d (%s), newer than this binary's schema version %d: "+
		"a newer fulcrum migrated it; run that version (or newer), or restore a backup taken before the upgrade",
		e.Database, e.DatabaseName, e.Binary)
}

// checkNotNewer returns a *NewerSchemaError when schema_migrations records
// a version that is not among known.
func (s *Store) checkNotNewer(ctx context.Context, known []migrationFile) error {
	have := make(map[int]bool, len(known))
	binary := 0
	for _, m := range known {
		have[m.version] = true
		binary = max(binary, m.version)
	}
	rows, err := s.write.QueryContext(ctx, `SELECT version, name FROM schema_migrations ORDER BY version DESC`)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var v int
		var name string
		if err := rows.Scan(&v, &name); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		if !have[v] {
			// The first unknown one in descending order is the newest.
			return &NewerSchemaError{Database: v, DatabaseName: name, Binary: binary}
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}
