package network

import (
	"time"

	"github.com/fulcrumlb/fulcrum/internal/network/neutron"
)

// The wire forms of the subset's resources share these parts.

// owner are the identifying attributes of a resource on the wire.
type owner struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description"`
	ProjectID   string `json:"project_id"`
	TenantID    string `json:"tenant_id"`
}

func ownerOf(id, name, description, project string) owner {
	return owner{ID: id, Name: name, Description: description, ProjectID: project, TenantID: project}
}

// standard are the attributes every resource of the subset carries.
type standard struct {
	Tags           []string `json:"tags"`
	RevisionNumber int      `json:"revision_number"`
	CreatedAt      string   `json:"created_at"`
	UpdatedAt      string   `json:"updated_at"`
}

func standardOf(tags []string, t neutron.Times) standard {
	if tags == nil {
		tags = []string{}
	}
	return standard{Tags: tags, CreatedAt: neutronTime(t.CreatedAt), UpdatedAt: neutronTime(t.UpdatedAt)}
}

// nullable is s, or JSON null for "".
func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// neutronTime is Neutron's timestamp form: UTC, to the second.
func neutronTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }
