package apiserver

import (
	"net/http"
	"strconv"

	"github.com/fulcrumlb/fulcrum/internal/httpapi"
)

// versionRoot answers GET /v2 (and /v2.0, /v2/lbaas, /v2/octavia) with the
// JSON string "v2", as Octavia does.
func (s *Server) versionRoot(q *request) error {
	httpapi.WriteRaw(q.w, http.StatusOK, httpapi.ContentTypeJSON, []byte(`"v2"`))
	return nil
}

// serveVersions answers GET / with the version document, without
// authentication.
func (s *Server) serveVersions(w http.ResponseWriter, r *http.Request) {
	httpapi.WriteJSON(w, http.StatusOK, versions(httpapi.BaseURL(r, "")))
}

// versionDates returns the v2.N release dates of Octavia's version document.
func versionDates() [31]string {
	return [...]string{
		"2016-12-11T00:00:00Z", "2018-04-20T00:00:00Z", "2018-07-31T00:00:00Z", "2018-12-18T00:00:00Z",
		"2018-12-19T00:00:00Z", "2019-01-21T00:00:00Z", "2019-01-25T00:00:00Z", "2018-01-25T12:00:00Z",
		"2019-02-12T00:00:00Z", "2019-03-04T00:00:00Z", "2019-03-05T00:00:00Z", "2019-06-24T00:00:00Z",
		"2019-09-11T00:00:00Z", "2019-09-13T00:00:00Z", "2019-11-10T00:00:00Z", "2020-03-10T00:00:00Z",
		"2020-03-15T00:00:00Z", "2020-04-29T00:00:00Z", "2020-04-29T01:00:00Z", "2020-05-12T00:00:00Z",
		"2020-08-02T00:00:00Z", "2020-09-03T00:00:00Z", "2020-09-04T00:00:00Z", "2020-09-07T00:00:00Z",
		"2020-10-15T00:00:00Z", "2021-10-02T00:00:00Z", "2022-08-29T00:00:00Z", "2023-05-05T00:00:00Z",
		"2023-11-08T00:00:00Z", "2024-10-15T00:00:00Z", "2025-02-26T00:00:00Z",
	}
}

type versionLink struct {
	Href string `json:"href"`
	Rel  string `json:"rel"`
}

type version struct {
	ID      string        `json:"id"`
	Status  string        `json:"status"`
	Updated string        `json:"updated"`
	Links   []versionLink `json:"links"`
}

type versionDocument struct {
	Versions []version `json:"versions"`
}

// versions builds the document served at /: v2.0 to v2.30, the last one
// CURRENT, every link pointing at <base>/v2. The base is the request's own
// (Octavia builds it from the request, not from api_base_uri).
func versions(base string) versionDocument {
	href := base + "/v2"
	dates := versionDates()
	out := make([]version, len(dates))
	for i, d := range dates {
		status := "SUPPORTED"
		if i == len(dates)-1 {
			status = "CURRENT"
		}
		out[i] = version{ID: "v2." + strconv.Itoa(i), Status: status, Updated: d, Links: []versionLink{{Href: href, Rel: "self"}}}
	}
	return versionDocument{Versions: out}
}
