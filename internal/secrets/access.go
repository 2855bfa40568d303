package secrets

import (
	"github.com/fulcrumlb/fulcrum/internal/policy"
	"github.com/fulcrumlb/fulcrum/internal/secrets/barbican"
)

// The access rules, Barbican's new defaults in short (plus readers, who
// may read their project's objects):
//
//   - admin: everything;
//   - member of the owning project: read and change objects that are not
//     private (ACL project-access false) or that it created;
//   - reader of the owning project: read the same objects;
//   - a user listed in an object's read ACL: read it (metadata and
//     payload), whatever its project;
//   - creating and listing: member (listing also reader) of the caller's
//     own project.

func isAdmin(c policy.Caller) bool { return c.IsAdmin || c.HasRole("admin") }

// owner describes the object an access decision is about.
type owner struct {
	project string
	creator string
	acl     barbican.ACL
}

func secretOwner(s *barbican.Secret) owner {
	return owner{project: s.ProjectID, creator: s.CreatorID, acl: s.ACL}
}

func containerOwner(ct *barbican.Container) owner {
	return owner{project: ct.ProjectID, creator: ct.CreatorID, acl: ct.ACL}
}

// inProject reports whether c may act on o through its role in o's
// project with at least role.
func inProject(c policy.Caller, o owner, role string) bool {
	if c.ProjectID == "" || c.ProjectID != o.project || !c.HasRole(role) {
		return false
	}
	return o.acl.ProjectWide() || (c.UserID != "" && c.UserID == o.creator)
}

// canRead: metadata and payload of o.
func canRead(c policy.Caller, o owner) bool {
	return isAdmin(c) || inProject(c, o, "reader") || o.acl.Grants(c.UserID)
}

// canWrite: payload upload, delete, ACL changes, container secrets.
func canWrite(c policy.Caller, o owner) bool {
	return isAdmin(c) || inProject(c, o, "member")
}

// canReadACL: the ACL itself is not shown to ACL users.
func canReadACL(c policy.Caller, o owner) bool {
	return isAdmin(c) || inProject(c, o, "reader")
}

// canCreate: new secrets and containers in the caller's project.
func canCreate(c policy.Caller) bool {
	return c.ProjectID != "" && (isAdmin(c) || c.HasRole("member"))
}

// canList: the caller's project's secrets and containers.
func canList(c policy.Caller) bool {
	return c.ProjectID != "" && (isAdmin(c) || c.HasRole("reader"))
}
