package identity

// The response bodies of the Keystone subset, typed. Field names and which
// fields may be null or absent follow Keystone's own bodies.

// errorBody is Keystone's error: {"error": {"code", "title", "message"}}.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    int    `json:"code"`
	Title   string `json:"title"`
	Message string `json:"message"`
}

// listLinks are a collection's links; fulcrum never pages, so previous and
// next are always null.
type listLinks struct {
	Self     string  `json:"self"`
	Previous *string `json:"previous"`
	Next     *string `json:"next"`
}

type selfLink struct {
	Self string `json:"self"`
}

// noOptions renders Keystone's empty "options" object.
type noOptions struct{}

// ref is an object named by id and name (a token's domain, a role).
type ref struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

type domainView struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	Enabled     bool      `json:"enabled"`
	Tags        []string  `json:"tags"`
	Options     noOptions `json:"options"`
	Links       selfLink  `json:"links"`
}

type domainReply struct {
	Domain domainView `json:"domain"`
}

type domainList struct {
	Domains []domainView `json:"domains"`
	Links   listLinks    `json:"links"`
}

type projectView struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	DomainID    string    `json:"domain_id"`
	Description string    `json:"description"`
	Enabled     bool      `json:"enabled"`
	ParentID    string    `json:"parent_id"`
	IsDomain    bool      `json:"is_domain"`
	Tags        []string  `json:"tags"`
	Options     noOptions `json:"options"`
	Links       selfLink  `json:"links"`
}

type projectReply struct {
	Project projectView `json:"project"`
}

type projectList struct {
	Projects []projectView `json:"projects"`
	Links    listLinks     `json:"links"`
}

type userView struct {
	ID                string    `json:"id"`
	Name              string    `json:"name"`
	DomainID          string    `json:"domain_id"`
	Enabled           bool      `json:"enabled"`
	PasswordExpiresAt *string   `json:"password_expires_at"`
	Options           noOptions `json:"options"`
	Links             selfLink  `json:"links"`
	Description       string    `json:"description,omitempty"`
	Email             string    `json:"email,omitempty"`
	DefaultProjectID  string    `json:"default_project_id,omitempty"`
}

type userReply struct {
	User userView `json:"user"`
}

type userList struct {
	Users []userView `json:"users"`
	Links listLinks  `json:"links"`
}

// groupList is the always-empty list of a user's groups (no groups here).
type groupList struct {
	Groups []struct{} `json:"groups"`
	Links  listLinks  `json:"links"`
}

type roleView struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	DomainID    *string   `json:"domain_id"`
	Description string    `json:"description"`
	Options     noOptions `json:"options"`
	Links       selfLink  `json:"links"`
}

type roleReply struct {
	Role roleView `json:"role"`
}

type roleList struct {
	Roles []roleView `json:"roles"`
	Links listLinks  `json:"links"`
}

// assignmentView is one role assignment; names (and the user's and
// project's domains) are there only with include_names.
type assignmentView struct {
	Role  named           `json:"role"`
	User  named           `json:"user"`
	Scope assignmentScope `json:"scope"`
	Links assignmentLink  `json:"links"`
}

type named struct {
	ID     string  `json:"id"`
	Name   *string `json:"name,omitempty"`
	Domain *ref    `json:"domain,omitempty"`
}

type assignmentScope struct {
	Project *named `json:"project,omitempty"`
	Domain  *named `json:"domain,omitempty"`
}

type assignmentLink struct {
	Assignment string `json:"assignment"`
}

type assignmentList struct {
	RoleAssignments []assignmentView `json:"role_assignments"`
	Links           listLinks        `json:"links"`
}

// tokenView is a token as Keystone renders it: scoped tokens carry their
// project or domain, roles and (unless nocatalog) the catalog.
type tokenView struct {
	Methods   []string         `json:"methods"`
	AuditIDs  []string         `json:"audit_ids"`
	IssuedAt  string           `json:"issued_at"`
	ExpiresAt string           `json:"expires_at"`
	User      tokenUser        `json:"user"`
	Project   *tokenProject    `json:"project,omitempty"`
	IsDomain  *bool            `json:"is_domain,omitempty"`
	Domain    *ref             `json:"domain,omitempty"`
	Roles     []ref            `json:"roles,omitzero"`
	Catalog   []catalogService `json:"catalog,omitzero"`
}

type tokenUser struct {
	ID                string  `json:"id"`
	Name              string  `json:"name"`
	Domain            ref     `json:"domain"`
	PasswordExpiresAt *string `json:"password_expires_at"`
}

type tokenProject struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Domain ref    `json:"domain"`
}

type tokenReply struct {
	Token tokenView `json:"token"`
}

type catalogService struct {
	ID        string            `json:"id"`
	Type      string            `json:"type"`
	Name      string            `json:"name"`
	Endpoints []catalogEndpoint `json:"endpoints"`
}

type catalogEndpoint struct {
	ID        string `json:"id"`
	Interface string `json:"interface"`
	Region    string `json:"region"`
	RegionID  string `json:"region_id"`
	URL       string `json:"url"`
}

type catalogBody struct {
	Catalog []catalogService `json:"catalog"`
	Links   listLinks        `json:"links"`
}

// systemList is the always-empty list of system scopes a user has.
type systemList struct {
	System []struct{} `json:"system"`
	Links  listLinks  `json:"links"`
}

type serviceView struct {
	ID      string   `json:"id"`
	Type    string   `json:"type"`
	Name    string   `json:"name"`
	Enabled bool     `json:"enabled"`
	Links   selfLink `json:"links"`
}

type serviceList struct {
	Services []serviceView `json:"services"`
	Links    listLinks     `json:"links"`
}

type endpointView struct {
	ID        string   `json:"id"`
	ServiceID string   `json:"service_id"`
	Interface string   `json:"interface"`
	Region    string   `json:"region"`
	RegionID  string   `json:"region_id"`
	URL       string   `json:"url"`
	Enabled   bool     `json:"enabled"`
	Links     selfLink `json:"links"`
}

type endpointList struct {
	Endpoints []endpointView `json:"endpoints"`
	Links     listLinks      `json:"links"`
}

type regionView struct {
	ID             string   `json:"id"`
	Description    string   `json:"description"`
	ParentRegionID *string  `json:"parent_region_id"`
	Links          selfLink `json:"links"`
}

type regionList struct {
	Regions []regionView `json:"regions"`
	Links   listLinks    `json:"links"`
}

type versionDoc struct {
	ID         string      `json:"id"`
	Status     string      `json:"status"`
	Updated    string      `json:"updated"`
	Links      []hrefLink  `json:"links"`
	MediaTypes []mediaType `json:"media-types"`
}

type hrefLink struct {
	Rel  string `json:"rel"`
	Href string `json:"href"`
}

type mediaType struct {
	Base string `json:"base"`
	Type string `json:"type"`
}

type versionReply struct {
	Version versionDoc `json:"version"`
}

type versionsReply struct {
	Versions struct {
		Values []versionDoc `json:"values"`
	} `json:"versions"`
}
