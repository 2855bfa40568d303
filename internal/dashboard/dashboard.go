// Package dashboard serves the web dashboard's static files (one HTML page,
// hand-written ES modules and a style sheet, embedded in the binary) under
// /dashboard/, with the security headers that keep it safe on the API's
// origin: a strict Content-Security-Policy, no framing, no sniffing, no
// referrer.
//
// The dashboard holds no server-side logic: everything it shows it reads
// from the public APIs (Octavia v2, Keystone, Neutron and Barbican subsets)
// in the browser, with the user's own token. This package imports nothing
// but the standard library and must stay that way.
package dashboard

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed static
var static embed.FS

// Prefix is the path the dashboard is served under.
const Prefix = "/dashboard/"

// ContentSecurityPolicy is sent with every response: scripts, styles,
// images and API calls from the dashboard's own origin only; no inline
// script or style, no eval, no plugins, no framing, no <base> and no form
// posts (forms are handled by script).
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// contentType is the content type of an embedded file by extension, fixed
// here rather than read from the host's mime tables so every machine serves
// the same.
func contentType(ext string) (string, bool) {
	switch ext {
	case ".html":
		return "text/html; charset=utf-8", true
	case ".js":
		return "text/javascript; charset=utf-8", true
	case ".css":
		return "text/css; charset=utf-8", true
	case ".svg":
		return "image/svg+xml", true
	}
	return "", false
}

type file struct {
	body  []byte
	ctype string
	etag  string
}

// Handler serves the embedded files. It is safe for concurrent use.
type Handler struct {
	files map[string]file // by path under Prefix; "" is index.html
}

// New returns the handler with every embedded file loaded and hashed.
func New() *Handler {
	h := &Handler{files: map[string]file{}}
	root, err := fs.Sub(static, "static")
	if err != nil {
		panic("dashboard: embedded files missing: " + err.Error())
	}
	err = fs.WalkDir(root, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(root, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		ctype, ok := contentType(path.Ext(p))
		if !ok {
			return fmt.Errorf("%s: no content type for this extension", p)
		}
		h.files[p] = file{body: b, ctype: ctype, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
		return nil
	})
	if err != nil {
		panic("dashboard: read embedded files: " + err.Error())
	}
	h.files[""] = h.files["index.html"]
	return h
}

// Mount adds the handler to mux at /dashboard and under /dashboard/.
func (h *Handler) Mount(mux *http.ServeMux) {
	mux.Handle("/dashboard", h)
	mux.Handle(Prefix, h)
}

// ServeHTTP answers GET and HEAD for the embedded files; /dashboard
// redirects to /dashboard/. Anything else is a plain-text 404 or 405.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", ContentSecurityPolicy)
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Cross-Origin-Opener-Policy", "same-origin")
	hd.Set("Cross-Origin-Resource-Policy", "same-origin")
	hd.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hd.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if r.URL.Path == "/dashboard" {
		http.Redirect(w, r, Prefix, http.StatusMovedPermanently)
		return
	}
	name, ok := strings.CutPrefix(r.URL.Path, Prefix)
	f, found := h.files[name]
	if !ok || !found {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	hd.Set("Content-Type", f.ctype)
	hd.Set("ETag", f.etag)
	// Revalidate every time: a new binary may ship new files under the
	// same names, and the ETag makes the check cheap.
	hd.Set("Cache-Control", "no-cache")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.body))
}
