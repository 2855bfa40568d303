package identity

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/atomicfile"
	"github.com/fulcrumlb/fulcrum/internal/identity/keystone"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// BootstrapOptions configure Bootstrap.
type BootstrapOptions struct {
	Store store.Store
	// DataDir receives clouds.yaml.
	DataDir string
	// AuthURL is the identity endpoint written to clouds.yaml
	// (http://127.0.0.1:9876/identity/v3).
	AuthURL string
	Region  string // default RegionOne
	Hash    HashParams
	Now     func() time.Time
}

// BootstrapResult says what Bootstrap found or made.
type BootstrapResult struct {
	AdminProjectID string
	AdminUserID    string
	// Created is true when this call created the admin user (and wrote a
	// new clouds.yaml with its password).
	Created bool
	// CloudsPath is <data-dir>/clouds.yaml; it may be missing when the
	// admin already existed and the file was removed.
	CloudsPath string
	// Export is the line a user runs to point the openstack CLI at this
	// server.
	Export string
}

// CloudName is the clouds.yaml entry Bootstrap writes.
const CloudName = "fulcrum"

// Bootstrap makes sure the Default domain, the admin project, the admin
// user with the admin role, and the Keystone and Octavia roles exist. When
// it creates the admin user it gives it a random password and writes
// <data-dir>/clouds.yaml (mode 0600) with it. It is idempotent: an existing
// admin user is never given a new password.
func Bootstrap(ctx context.Context, opts BootstrapOptions) (*BootstrapResult, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Region == "" {
		opts.Region = "RegionOne"
	}
	if opts.Hash == (HashParams{}) {
		opts.Hash = DefaultHashParams
	}
	dir, err := filepath.Abs(opts.DataDir)
	if err != nil {
		return nil, fmt.Errorf("bootstrap: %w", err)
	}
	res := &BootstrapResult{CloudsPath: filepath.Join(dir, "clouds.yaml")}
	res.Export = fmt.Sprintf("export OS_CLOUD=%s OS_CLIENT_CONFIG_FILE=%s", CloudName, res.CloudsPath)
	password := randomString(24)
	hash, err := HashPassword(password, opts.Hash)
	if err != nil {
		return nil, fmt.Errorf("bootstrap: %w", err)
	}
	now := opts.Now().UTC()
	err = opts.Store.Update(ctx, func(tx store.Tx) error {
		res.Created = false
		if _, err := tx.Domains().Get(ctx, keystone.DefaultDomainID); errors.Is(err, store.ErrNotFound) {
			d := &keystone.Domain{ID: keystone.DefaultDomainID, Name: "Default", Description: "The default domain", Enabled: true, CreatedAt: now}
			if err := tx.Domains().Create(ctx, d); err != nil {
				return err
			}
		} else if err != nil {
			return err
		}
		roles := map[string]string{}
		for _, name := range keystone.BootstrapRoles {
			list, err := tx.Roles().List(ctx, store.Query{Filters: []store.Filter{store.F("name", name)}})
			if err != nil {
				return err
			}
			if len(list) > 0 {
				roles[name] = list[0].ID
				continue
			}
			role := &keystone.Role{ID: newID(), Name: name, CreatedAt: now}
			if err := tx.Roles().Create(ctx, role); err != nil {
				return err
			}
			roles[name] = role.ID
		}
		projects, err := tx.Projects().List(ctx, store.Query{Filters: []store.Filter{store.F("domain_id", keystone.DefaultDomainID), store.F("name", "admin")}})
		if err != nil {
			return err
		}
		var project *keystone.Project
		if len(projects) > 0 {
			project = projects[0]
		} else {
			project = &keystone.Project{ID: newID(), DomainID: keystone.DefaultDomainID, Name: "admin", Description: "Bootstrap project for the admin user", Enabled: true, Tags: []string{}, CreatedAt: now}
			if err := tx.Projects().Create(ctx, project); err != nil {
				return err
			}
		}
		res.AdminProjectID = project.ID
		users, err := tx.Users().List(ctx, store.Query{Filters: []store.Filter{store.F("domain_id", keystone.DefaultDomainID), store.F("name", "admin")}})
		if err != nil {
			return err
		}
		var user *keystone.User
		if len(users) > 0 {
			user = users[0]
		} else {
			user = &keystone.User{ID: newID(), DomainID: keystone.DefaultDomainID, Name: "admin", Enabled: true,
				DefaultProjectID: project.ID, PasswordHash: hash, PasswordChangedAt: &now, CreatedAt: now}
			if err := tx.Users().Create(ctx, user); err != nil {
				return err
			}
			res.Created = true
		}
		res.AdminUserID = user.ID
		n, err := tx.Assignments().Count(ctx, store.F("user_id", user.ID), store.F("project_id", project.ID), store.F("role_id", roles[keystone.RoleAdmin]))
		if err != nil || n > 0 {
			return err
		}
		return tx.Assignments().Create(ctx, &keystone.Assignment{ID: newID(), RoleID: roles[keystone.RoleAdmin], UserID: user.ID, ProjectID: project.ID, CreatedAt: now})
	})
	if err != nil {
		return nil, fmt.Errorf("bootstrap identity: %w", err)
	}
	if res.Created {
		if err := WriteCloudsYAML(res.CloudsPath, opts.AuthURL, opts.Region, "admin", password); err != nil {
			return nil, err
		}
	} else if err := refreshCloudsAuthURL(res.CloudsPath, opts.AuthURL); err != nil {
		return nil, err
	}
	return res, nil
}

// refreshCloudsAuthURL points an existing clouds.yaml written by fulcrum at
// authURL when the server now listens elsewhere (another --listen or
// --external-url); the password in it stays. A missing file, or one fulcrum
// did not write, is left alone.
func refreshCloudsAuthURL(path, authURL string) error {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read clouds.yaml: %w", err)
	}
	if authURL == "" || !bytes.HasPrefix(b, []byte("# Written by fulcrum server")) {
		return nil
	}
	lines := strings.Split(string(b), "\n")
	want := "auth_url: " + yamlQuote(authURL)
	changed := false
	for i, l := range lines {
		trimmed := strings.TrimLeft(l, " ")
		if strings.HasPrefix(trimmed, "auth_url: ") && trimmed != want {
			lines[i] = l[:len(l)-len(trimmed)] + want
			changed = true
		}
	}
	if !changed {
		return nil
	}
	if err := atomicfile.Write(path, []byte(strings.Join(lines, "\n")), 0o600); err != nil {
		return fmt.Errorf("write clouds.yaml: %w", err)
	}
	return nil
}

// yamlQuote renders s as a double-quoted YAML scalar.
func yamlQuote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// WriteCloudsYAML writes a clouds.yaml with the one cloud "fulcrum",
// atomically and with mode 0600.
func WriteCloudsYAML(path, authURL, region, username, password string) error {
	body := fmt.Sprintf(`# Written by fulcrum server on first start. Use it with:
#   export OS_CLOUD=%s OS_CLIENT_CONFIG_FILE=%s
clouds:
  %s:
    auth:
      auth_url: %s
      username: %s
      password: %s
      project_name: admin
      user_domain_name: Default
      project_domain_name: Default
    region_name: %s
    interface: public
    identity_api_version: 3
`, CloudName, path, CloudName, yamlQuote(authURL), yamlQuote(username), yamlQuote(password), yamlQuote(region))
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("write clouds.yaml: %w", err)
	}
	if err := atomicfile.Write(path, []byte(body), 0o600); err != nil {
		return fmt.Errorf("write clouds.yaml: %w", err)
	}
	return nil
}
