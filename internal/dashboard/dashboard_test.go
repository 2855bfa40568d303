package dashboard

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func serve(t *testing.T, method, path string, hdr map[string]string) *http.Response {
	t.Helper()
	mux := http.NewServeMux()
	New().Mount(mux)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "api", http.StatusTeapot) })
	req := httptest.NewRequest(method, path, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	return rec.Result()
}

// Every embedded file is served with its own content type and the full set
// of security headers.
func TestEveryFileServedWithPolicy(t *testing.T) {
	root, err := fs.Sub(static, "static")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	fs.WalkDir(root, ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			names = append(names, p)
		}
		return err
	})
	if len(names) < 5 {
		t.Fatalf("embedded files: %v", names)
	}
	want := map[string]string{".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
		".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}
	for _, n := range append(names, "") {
		resp := serve(t, "GET", Prefix+n, nil)
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || len(body) == 0 {
			t.Fatalf("%s: %d, %d bytes", n, resp.StatusCode, len(body))
		}
		ext := ".html" // "" is index.html
		if i := strings.LastIndex(n, "."); i >= 0 {
			ext = n[i:]
		}
		if got := resp.Header.Get("Content-Type"); got != want[ext] {
			t.Errorf("%s: Content-Type %q, want %q", n, got, want[ext])
		}
		checkHeaders(t, n, resp.Header)
	}
}

func checkHeaders(t *testing.T, what string, h http.Header) {
	t.Helper()
	if got := h.Get("Content-Security-Policy"); got != ContentSecurityPolicy {
		t.Errorf("%s: Content-Security-Policy %q", what, got)
	}
	for k, v := range map[string]string{"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"} {
		if h.Get(k) != v {
			t.Errorf("%s: %s %q, want %q", what, k, h.Get(k), v)
		}
	}
}

// The policy allows nothing inline and nothing from another origin.
func TestPolicyIsStrict(t *testing.T) {
	for _, bad := range []string{"'unsafe-inline'", "'unsafe-eval'", "*", "http:", "https:", "data:", "blob:"} {
		if strings.Contains(ContentSecurityPolicy, bad) {
			t.Errorf("policy allows %s: %s", bad, ContentSecurityPolicy)
		}
	}
	for _, need := range []string{"default-src 'self'", "script-src 'self'", "object-src 'none'", "frame-ancestors 'none'", "base-uri 'none'"} {
		if !strings.Contains(ContentSecurityPolicy, need) {
			t.Errorf("policy lacks %s", need)
		}
	}
}

// No embedded file holds inline script, an inline handler or style, a
// remote URL, or an HTML-parsing sink: what the policy forbids, the files
// never need.
func TestNoInlineScriptOrSinks(t *testing.T) {
	sinks := regexp.MustCompile(`innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function|setAttribute\(['"]on|https?://[a-z]`)
	inline := regexp.MustCompile(`(?i)<script(?:\s[^>]*)?>[^<]|\son[a-z]+=|\sstyle=`)
	fs.WalkDir(static, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, _ := fs.ReadFile(static, p)
		src := string(b)
		if strings.HasSuffix(p, ".js") {
			// The SVG namespace is a name, not a place the page loads.
			src = strings.ReplaceAll(src, "'http://www.w3.org/2000/svg'", "")
			if m := sinks.FindString(src); m != "" {
				t.Errorf("%s uses %q", p, m)
			}
		}
		if strings.HasSuffix(p, ".html") {
			if m := inline.FindString(src); m != "" {
				t.Errorf("%s has inline %q", p, m)
			}
		}
		return nil
	})
}

func TestRoutes(t *testing.T) {
	resp := serve(t, "GET", "/dashboard", nil)
	if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != Prefix {
		t.Errorf("/dashboard: %d Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	checkHeaders(t, "/dashboard", resp.Header)
	for _, p := range []string{"/dashboard/nope.js", "/dashboard/js/", "/dashboard/static/index.html", "/dashboard/favicon.svg/x", "/dashboard/JS/APP.JS"} {
		resp := serve(t, "GET", p, nil)
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", p, resp.StatusCode)
		}
		checkHeaders(t, p, resp.Header)
	}
	for _, m := range []string{"POST", "PUT", "DELETE", "PATCH"} {
		resp := serve(t, m, "/dashboard/", nil)
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" {
			t.Errorf("%s: %d Allow %q", m, resp.StatusCode, resp.Header.Get("Allow"))
		}
	}
	// The API keeps every other path.
	if resp := serve(t, "GET", "/dashboards", nil); resp.StatusCode != http.StatusTeapot {
		t.Errorf("/dashboards: %d, want the API's", resp.StatusCode)
	}
	head := serve(t, "HEAD", "/dashboard/js/app.js", nil)
	if b, _ := io.ReadAll(head.Body); head.StatusCode != 200 || len(b) != 0 {
		t.Errorf("HEAD: %d with %d bytes", head.StatusCode, len(b))
	}
	etag := head.Header.Get("ETag")
	if again := serve(t, "GET", "/dashboard/js/app.js", map[string]string{"If-None-Match": etag}); etag == "" || again.StatusCode != http.StatusNotModified {
		t.Errorf("revalidation with ETag %q: %d", etag, again.StatusCode)
	}
}
