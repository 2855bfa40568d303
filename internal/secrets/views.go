package secrets

// The response bodies of the Barbican subset, typed. Which fields are null
// and which are absent follows Barbican's own bodies.

// errorBody is Barbican's fault: {"code", "title", "description"}.
type errorBody struct {
	Code        int    `json:"code"`
	Title       string `json:"title"`
	Description string `json:"description"`
}

// unauthorizedBody is the 401 of a request that reached the service
// without a caller, in Keystone's shape like every other 401.
type unauthorizedBody struct {
	Error unauthorized `json:"error"`
}

type unauthorized struct {
	Code    int    `json:"code"`
	Title   string `json:"title"`
	Message string `json:"message"`
}

type versionDoc struct {
	ID         string             `json:"id"`
	Status     string             `json:"status"`
	Updated    string             `json:"updated"`
	Links      []versionLink      `json:"links"`
	MediaTypes []versionMediaType `json:"media-types"`
}

type versionLink struct {
	Rel  string `json:"rel"`
	Type string `json:"type,omitempty"`
	Href string `json:"href"`
}

type versionMediaType struct {
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

// secretView is a secret's metadata (microversion 1.0 has no consumers;
// content_types only once a payload is stored).
type secretView struct {
	SecretRef    string        `json:"secret_ref"`
	Status       string        `json:"status"`
	Created      string        `json:"created"`
	Updated      string        `json:"updated"`
	Name         *string       `json:"name"`
	SecretType   string        `json:"secret_type"`
	Expiration   *string       `json:"expiration"`
	Algorithm    *string       `json:"algorithm"`
	BitLength    *int          `json:"bit_length"`
	Mode         *string       `json:"mode"`
	CreatorID    *string       `json:"creator_id"`
	ContentTypes *contentTypes `json:"content_types,omitempty"`
	Consumers    []struct{}    `json:"consumers,omitzero"`
}

type contentTypes struct {
	Default string `json:"default"`
}

type containerView struct {
	ContainerRef string         `json:"container_ref"`
	Status       string         `json:"status"`
	Created      string         `json:"created"`
	Updated      string         `json:"updated"`
	Name         *string        `json:"name"`
	Type         string         `json:"type"`
	CreatorID    *string        `json:"creator_id"`
	SecretRefs   []containerRef `json:"secret_refs"`
	Consumers    []struct{}     `json:"consumers"`
}

type containerRef struct {
	SecretRef string  `json:"secret_ref"`
	Name      *string `json:"name"`
}

// secretList and containerList are Barbican's list bodies: a page, the
// total, and hrefs of the pages around it when there are some.
type secretList struct {
	Secrets  []secretView `json:"secrets"`
	Total    int          `json:"total"`
	Next     string       `json:"next,omitempty"`
	Previous string       `json:"previous,omitempty"`
}

type containerList struct {
	Containers []containerView `json:"containers"`
	Total      int             `json:"total"`
	Next       string          `json:"next,omitempty"`
	Previous   string          `json:"previous,omitempty"`
}

type secretRefReply struct {
	SecretRef string `json:"secret_ref"`
}

type containerRefReply struct {
	ContainerRef string `json:"container_ref"`
}

type aclRefReply struct {
	ACLRef string `json:"acl_ref"`
}

// aclReply is a read ACL: the explicit one (with its users and times) or
// the implicit {"read": {"project-access": true}}.
type aclReply struct {
	Read aclRead `json:"read"`
}

type aclRead struct {
	ProjectAccess bool     `json:"project-access"`
	Users         []string `json:"users,omitzero"`
	Created       string   `json:"created,omitempty"`
	Updated       string   `json:"updated,omitempty"`
}
