package network

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
)

// maxBody is the largest request body read.
const maxBody = 1 << 20

// readBody reads a request body of at most maxBody bytes: a longer one is
// a 413, never a truncated document.
func readBody(r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return nil, &Error{Code: http.StatusBadRequest, Type: "HTTPBadRequest", Message: "Bad request: could not read the body."}
	}
	if len(body) > maxBody {
		return nil, &Error{Code: http.StatusRequestEntityTooLarge, Type: "HTTPRequestEntityTooLarge",
			Message: fmt.Sprintf("Request is too large: the body may hold at most %d bytes.", maxBody)}
	}
	return body, nil
}

// decode reads {"<wrapper>": {...}} into v.
func decode(r *http.Request, wrapper string, v any) error {
	body, err := readBody(r)
	if err != nil {
		return err
	}
	var outer map[string]json.RawMessage
	if err := json.Unmarshal(body, &outer); err != nil {
		return badRequest(wrapper, "Malformed request body")
	}
	inner, ok := outer[wrapper]
	if !ok {
		return badRequest(wrapper, "Resource body required")
	}
	if err := json.Unmarshal(inner, v); err != nil {
		return badRequest(wrapper, "Invalid input: "+err.Error())
	}
	return nil
}

// optString distinguishes an absent key (Set false) from an explicit null
// (Null true) and a string value.
type optString struct {
	Set   bool
	Null  bool
	Value string
}

func (j *optString) UnmarshalJSON(b []byte) error {
	j.Set = true
	if string(b) == "null" {
		j.Null = true
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	j.Value = s
	return nil
}

// common are the attributes every body may carry: name (not floating IPs),
// description and tags.
type common struct {
	Name        *string   `json:"name"`
	Description *string   `json:"description"`
	Tags        *[]string `json:"tags"`
}

// apply copies the attributes the body carries onto an object's (name nil
// for objects without one).
func (b common) apply(name, description *string, tags *[]string) {
	if name != nil {
		set(name, b.Name)
	}
	set(description, b.Description)
	set(tags, b.Tags)
}

// set copies *from into *to when the body carries it.
func set[V any](to *V, from *V) {
	if from != nil {
		*to = *from
	}
}

// owned are the body fields that name an object's project: set on create,
// read-only afterwards.
type owned struct {
	ProjectID *string `json:"project_id"`
	TenantID  *string `json:"tenant_id"`
}

// project is the project the body names ("" when none).
func (o owned) project() string {
	if o.ProjectID != nil {
		return *o.ProjectID
	}
	return str(o.TenantID)
}

// checkUnchanged refuses a PUT that names a project: an object never
// changes hands.
func (o owned) checkUnchanged(resource string) error {
	switch {
	case o.ProjectID != nil:
		return readOnly(resource, "project_id")
	case o.TenantID != nil:
		return readOnly(resource, "tenant_id")
	}
	return nil
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// optList distinguishes an absent list (Set false) from a given one; JSON
// null is the empty list, as Neutron converts it.
type optList struct {
	Set    bool
	Values []string
}

func (l *optList) UnmarshalJSON(b []byte) error {
	l.Set = true
	if string(b) == "null" {
		l.Values = []string{}
		return nil
	}
	var v []string
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	if v == nil {
		v = []string{}
	}
	l.Values = v
	return nil
}
