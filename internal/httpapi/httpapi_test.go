package httpapi

import (
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestRouterDispatchAndMisses(t *testing.T) {
	rt := &Router{
		NotFound: func(w http.ResponseWriter, r *http.Request) {
			WriteJSON(w, 404, map[string]string{"why": "nothing here"})
		},
		MethodNotAllowed: func(w http.ResponseWriter, r *http.Request, allow string) {
			WriteJSON(w, 405, map[string]string{"allow": allow})
		},
	}
	rt.HandleFunc("GET /v2/things/{id}", func(w http.ResponseWriter, r *http.Request) {
		WriteJSON(w, 200, map[string]string{"id": r.PathValue("id")})
	})
	rt.HandleFunc("DELETE /v2/things/{id}", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) })
	rt.HandleFunc("POST /v2/things", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(201) })

	cases := []struct {
		method, path string
		code         int
		body, allow  string
	}{
		{"GET", "/v2/things/a<b>", 200, `{"id":"a<b>"}`, ""},
		{"HEAD", "/v2/things/x", 200, "", ""},
		{"DELETE", "/v2/things/x", 204, "", ""},
		{"PUT", "/v2/things/x", 405, `{"allow":"GET, DELETE"}`, "GET, DELETE"},
		{"GET", "/v2/things", 405, `{"allow":"POST"}`, "POST"},
		{"GET", "/v2/other", 404, `{"why":"nothing here"}`, ""},
		{"GET", "/v2/things/x/y", 404, `{"why":"nothing here"}`, ""},
	}
	for _, c := range cases {
		rec := httptest.NewRecorder()
		rt.ServeHTTP(rec, httptest.NewRequest(c.method, c.path, nil))
		body, _ := io.ReadAll(rec.Body)
		if rec.Code != c.code || (c.method != "HEAD" && string(body) != c.body) || rec.Header().Get("Allow") != c.allow {
			t.Errorf("%s %s = %d %q Allow %q, want %d %q Allow %q", c.method, c.path, rec.Code, body, rec.Header().Get("Allow"), c.code, c.body, c.allow)
		}
	}
}

func TestRouterRejectsMethodlessPattern(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("a pattern without a method was accepted")
		}
	}()
	(&Router{}).HandleFunc("/v2/x", func(http.ResponseWriter, *http.Request) {})
}

func TestWriteJSON(t *testing.T) {
	rec := httptest.NewRecorder()
	WriteJSON(rec, 201, map[string]string{"a": "<&>"})
	if rec.Code != 201 || rec.Body.String() != `{"a":"<&>"}` || rec.Header().Get("Content-Length") != "11" ||
		rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("got %d %q %v", rec.Code, rec.Body, rec.Header())
	}
	rec = httptest.NewRecorder()
	WriteJSON(rec, 200, map[string]any{"f": func() {}})
	if rec.Code != 500 {
		t.Fatalf("unencodable value answered %d", rec.Code)
	}
}

func TestBaseURLIgnoresForwardingHeaders(t *testing.T) {
	r := httptest.NewRequest("GET", "/x", nil)
	r.Host = "api.example:9876"
	r.Header.Set("X-Forwarded-Proto", "gopher")
	r.Header.Set("X-Forwarded-Host", "evil.example")
	if got := BaseURL(r, ""); got != "http://api.example:9876" {
		t.Fatalf("BaseURL = %q", got)
	}
	r.TLS = &tls.ConnectionState{}
	if got := BaseURL(r, ""); got != "https://api.example:9876" {
		t.Fatalf("BaseURL over TLS = %q", got)
	}
	if got := BaseURL(r, "https://lb.example/"); got != "https://lb.example" {
		t.Fatalf("BaseURL external = %q", got)
	}
}

func TestQueryIsStrict(t *testing.T) {
	r := httptest.NewRequest("GET", "/x?"+strings.Repeat("name=a&", 10001), nil)
	if _, err := Query(r); !errors.Is(err, ErrTooManyParameters) {
		t.Fatalf("10,001 parameters: %v", err)
	}
	r = httptest.NewRequest("GET", "/x?name=a&id=%zz", nil)
	if _, err := Query(r); err == nil {
		t.Fatal("a malformed escape was accepted")
	}
	r = httptest.NewRequest("GET", "/x?name=a&name=b", nil)
	if v, err := Query(r); err != nil || len(v["name"]) != 2 {
		t.Fatalf("got %v %v", v, err)
	}
}

// A fixed path beside a wildcard one that allows more methods is the shape
// ServeMux refuses for method-less fallbacks (the quota API's defaults beside
// {project}); the Router must serve it and still answer 405 precisely.
func TestRouterFixedPathBesideWildcard(t *testing.T) {
	rt := &Router{MethodNotAllowed: func(w http.ResponseWriter, r *http.Request, allow string) {
		WriteJSON(w, 405, map[string]string{"allow": allow})
	}}
	rt.HandleFunc("GET /quotas/defaults", func(w http.ResponseWriter, r *http.Request) { WriteJSON(w, 200, "defaults") })
	rt.HandleFunc("GET /quotas/{project}", func(w http.ResponseWriter, r *http.Request) { WriteJSON(w, 200, r.PathValue("project")) })
	rt.HandleFunc("PUT /quotas/{project}", func(w http.ResponseWriter, r *http.Request) { WriteJSON(w, 200, "put "+r.PathValue("project")) })
	rt.HandleFunc("DELETE /quotas/{project}", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(202) })
	for _, c := range []struct{ method, path, want string }{
		{"GET", "/quotas/defaults", `"defaults"`},
		{"GET", "/quotas/p1", `"p1"`},
		{"PUT", "/quotas/p1", `"put p1"`},
		{"PUT", "/quotas/defaults", `"put defaults"`},
		{"POST", "/quotas/p1", `{"allow":"GET, PUT, DELETE"}`},
		{"PATCH", "/quotas/defaults", `{"allow":"GET, PUT, DELETE"}`},
	} {
		rec := httptest.NewRecorder()
		rt.ServeHTTP(rec, httptest.NewRequest(c.method, c.path, nil))
		if got := rec.Body.String(); got != c.want {
			t.Errorf("%s %s = %d %s, want %s", c.method, c.path, rec.Code, got, c.want)
		}
	}
}
