package secrets

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/fulcrumlb/fulcrum/internal/ids"

	"github.com/fulcrumlb/fulcrum/internal/policy"
	"github.com/fulcrumlb/fulcrum/internal/secrets/barbican"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// Barbican's content types: plain text and binary (octet-stream, pkcs8).
const (
	ctText   = "text/plain"
	ctBinary = "application/octet-stream"
	ctPKCS8  = "application/pkcs8"
)

// supportedTypes is Barbican's mime_types.SUPPORTED, as it prints it.
const supportedTypes = "['text/plain', 'text/plain;charset=utf-8', 'text/plain; charset=utf-8', 'application/octet-stream', 'application/pkcs8']"

// normalizeContentType maps a payload content type onto its internal form,
// or "" when it is not supported.
func normalizeContentType(ct string) string {
	parts := strings.Split(ct, ";")
	m := strings.ToLower(strings.TrimSpace(parts[0]))
	if len(parts) > 1 {
		k, v, ok := strings.Cut(parts[1], "=")
		if !ok || strings.TrimSpace(strings.ToLower(k)) != "charset" || strings.ToLower(strings.TrimSpace(v)) != "utf-8" || len(parts) > 2 || m != ctText {
			return ""
		}
	}
	switch m {
	case ctText, ctBinary, ctPKCS8:
		return m
	}
	return ""
}

func isBinary(ct string) bool { return ct == ctBinary || ct == ctPKCS8 }

func (s *Service) loadSecret(ctx context.Context, id string) (*barbican.Secret, error) {
	var sec *barbican.Secret
	err := s.opts.Store.View(ctx, func(tx store.Tx) error {
		var err error
		sec, err = tx.Secrets().Get(ctx, strings.ToLower(id))
		return err
	})
	if errors.Is(err, store.ErrNotFound) || err == nil && sec.Expired(s.now()) {
		return nil, errorf(http.StatusNotFound, "Secret not found.")
	}
	if err != nil {
		return nil, fmt.Errorf("load secret %s: %w", id, err)
	}
	return sec, nil
}

// readJSON loads a request body as a JSON object, with Barbican's checks:
// the content type must be application/json, the body a JSON object;
// string values are stripped of surrounding white space.
func readJSON(r *http.Request, limit int64, expected string) (map[string]any, error) {
	if ct := mediaType(r.Header.Get("Content-Type")); ct != "application/json" {
		return nil, errorf(http.StatusUnsupportedMediaType, "Unexpected content type. Expected content types are: %s", expected)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, errorf(http.StatusInternalServerError, "Read Error")
	}
	if int64(len(body)) > limit {
		return nil, errorf(http.StatusRequestEntityTooLarge, "Provided information too large to process")
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return nil, errorf(http.StatusBadRequest, "Malformed JSON")
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, errorf(http.StatusBadRequest, "Malformed JSON")
	}
	stripStrings(m)
	return m, nil
}

func stripStrings(v any) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if s, ok := e.(string); ok {
				x[k] = strings.TrimSpace(s)
			} else {
				stripStrings(e)
			}
		}
	case []any:
		for i, e := range x {
			if s, ok := e.(string); ok {
				x[i] = strings.TrimSpace(s)
			} else {
				stripStrings(e)
			}
		}
	}
}

func mediaType(h string) string {
	if h == "" {
		return ""
	}
	mt, _, err := mime.ParseMediaType(h)
	if err != nil {
		return strings.ToLower(strings.TrimSpace(strings.Split(h, ";")[0]))
	}
	return mt
}

// pyRepr renders a JSON value as Python prints it in a jsonschema message.
func pyRepr(v any) string {
	switch x := v.(type) {
	case nil:
		return "None"
	case string:
		return "'" + x + "'"
	case bool:
		if x {
			return "True"
		}
		return "False"
	case float64:
		if x == float64(int64(x)) {
			return strconv.FormatInt(int64(x), 10)
		}
		return strconv.FormatFloat(x, 'g', -1, 64)
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = pyRepr(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = "'" + k + "': " + pyRepr(x[k])
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	return fmt.Sprint(v)
}

// field is one schema rule of a request body property.
type field struct {
	name     string
	kind     string // "string", "integer", "boolean", "array"
	nullable bool
	maxLen   int
	enum     []string
	min, max int
}

// checkFields applies the rules to body the way jsonschema reports the
// first violation.
func checkFields(schema string, body map[string]any, fields []field) error {
	for _, f := range fields {
		v, ok := body[f.name]
		if !ok {
			continue
		}
		if v == nil {
			if f.nullable {
				continue
			}
			return invalidObject(schema, fmt.Sprintf("None is not of type '%s'", f.kind), f.name)
		}
		switch f.kind {
		case "string":
			s, ok := v.(string)
			if !ok {
				if f.nullable {
					return invalidObject(schema, fmt.Sprintf("%s is not of type 'string', 'null'", pyRepr(v)), f.name)
				}
				return invalidObject(schema, fmt.Sprintf("%s is not of type 'string'", pyRepr(v)), f.name)
			}
			if f.maxLen > 0 && len([]rune(s)) > f.maxLen {
				return invalidObject(schema, fmt.Sprintf("%s is too long", pyRepr(v)), f.name)
			}
			if f.enum != nil && !slices.Contains(f.enum, s) {
				return invalidObject(schema, fmt.Sprintf("%s is not one of %s", pyRepr(v), pyList(f.enum)), f.name)
			}
		case "integer":
			n, ok := v.(float64)
			if !ok || n != float64(int64(n)) {
				return invalidObject(schema, fmt.Sprintf("%s is not of type 'integer'", pyRepr(v)), f.name)
			}
			if int(n) < f.min {
				return invalidObject(schema, fmt.Sprintf("%s is less than the minimum of %d", pyRepr(v), f.min), f.name)
			}
			if f.max > 0 && int(n) > f.max {
				return invalidObject(schema, fmt.Sprintf("%s is greater than the maximum of %d", pyRepr(v), f.max), f.name)
			}
		case "boolean":
			if _, ok := v.(bool); !ok {
				return invalidObject(schema, fmt.Sprintf("%s is not of type 'boolean'", pyRepr(v)), f.name)
			}
		case "array":
			if _, ok := v.([]any); !ok {
				return invalidObject(schema, fmt.Sprintf("%s is not of type 'array'", pyRepr(v)), f.name)
			}
		}
	}
	return nil
}

func pyList(xs []string) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = "'" + x + "'"
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

func str(body map[string]any, k string) string {
	s, _ := body[k].(string)
	return s
}

var secretFields = []field{
	{name: "name", kind: "string", nullable: true, maxLen: 255},
	{name: "algorithm", kind: "string", maxLen: 255},
	{name: "mode", kind: "string", maxLen: 255},
	{name: "bit_length", kind: "integer", min: 1, max: 32767},
	{name: "expiration", kind: "string", maxLen: 255},
	{name: "payload", kind: "string"},
	{name: "secret_type", kind: "string", maxLen: 80, enum: barbican.SecretTypes},
	{name: "payload_content_type", kind: "string", nullable: true, maxLen: 255},
	{name: "payload_content_encoding", kind: "string", maxLen: 255, enum: []string{"base64"}},
	{name: "transport_key_needed", kind: "string", enum: []string{"true", "false"}},
	{name: "transport_key_id", kind: "string"},
}

// parseExpiration reads an ISO 8601 time (with or without zone; none
// means UTC).
func parseExpiration(s string) (time.Time, bool) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02T15:04:05Z0700", "2006-01-02T15:04:05.999999999Z0700", "2006-01-02 15:04:05.999999999", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// decodeBase64 decodes like Python's base64.b64decode without validate:
// characters outside the alphabet are dropped, padding is required.
func decodeBase64(s string) ([]byte, error) {
	clean := strings.Map(func(r rune) rune {
		if r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '+' || r == '/' || r == '=' {
			return r
		}
		return -1
	}, s)
	return base64.StdEncoding.DecodeString(clean)
}

func (s *Service) createSecret(w http.ResponseWriter, r *http.Request, c policy.Caller) error {
	const op = "Secret creation"
	if !canCreate(c) {
		return forbidden(op)
	}
	body, err := readJSON(r, int64(s.opts.MaxSecretBytes)+8192, "['application/json']")
	if err != nil {
		return err
	}
	if err := checkFields("Secret", body, secretFields); err != nil {
		return err
	}
	now := s.now()
	sec := &barbican.Secret{ID: ids.New(), ProjectID: c.ProjectID, CreatorID: c.UserID, Name: str(body, "name"),
		Type: barbican.TypeOpaque, Algorithm: str(body, "algorithm"), Mode: str(body, "mode"), CreatedAt: now, UpdatedAt: now}
	if t := str(body, "secret_type"); t != "" {
		sec.Type = t
	}
	if n, ok := body["bit_length"].(float64); ok {
		b := int(n)
		sec.BitLength = &b
	}
	if e := str(body, "expiration"); e != "" {
		t, ok := parseExpiration(e)
		if !ok {
			return invalidObject("Secret", "Invalid date for 'expiration'", "expiration")
		}
		if !t.After(now) {
			return invalidObject("Secret", "'expiration' is before current time", "expiration")
		}
		sec.Expiration = &t
	}
	var plain []byte
	contentType := str(body, "payload_content_type")
	encoding := str(body, "payload_content_encoding")
	if _, has := body["payload"]; has {
		if _, set := body["payload_content_type"]; !set || body["payload_content_type"] == nil {
			return invalidObject("Secret", "If 'payload' is supplied, 'payload_content_type' must also be supplied.", "payload_content_type")
		}
		norm := normalizeContentType(contentType)
		if norm == "" {
			return invalidObject("Secret", "payload_content_type is not one of "+supportedTypes, "payload_content_type")
		}
		if err := checkEncoding(norm, encoding); err != nil {
			return err
		}
		payload := str(body, "payload")
		if len(payload) > s.opts.MaxSecretBytes {
			return errorf(http.StatusRequestEntityTooLarge, "Provided information too large to process")
		}
		if payload == "" {
			return invalidObject("Secret", "If 'payload' specified, must be non empty", "payload")
		}
		if encoding == "base64" {
			plain, err = decodeBase64(payload)
			if err != nil {
				return invalidObject("Secret", "Invalid payload for payload_content_encoding", "payload")
			}
		} else {
			plain = []byte(payload)
		}
		sec.ContentType = norm
	} else if _, has := body["payload_content_type"]; has {
		return invalidObject("Secret", "payload must be provided when payload_content_type is specified", "payload")
	}
	if plain != nil {
		sealed, err := s.opts.Keys.Seal(plain, []byte(sec.ID))
		if err != nil {
			return err
		}
		sec.Payload = sealed
	}
	if err := s.opts.Store.Update(r.Context(), func(tx store.Tx) error { return tx.Secrets().Create(r.Context(), sec) }); err != nil {
		return fmt.Errorf("create secret: %w", err)
	}
	href := s.secretHref(r, sec.ID)
	w.Header().Set("Location", href)
	writeJSON(w, http.StatusCreated, secretRefReply{href})
	return nil
}

// checkEncoding is Barbican's is_content_type_with_encoding_supported:
// binary types need an encoding (base64 in a JSON body), text none.
func checkEncoding(norm, encoding string) error {
	if isBinary(norm) {
		if encoding != "base64" && encoding != "binary" {
			return invalidObject("Secret", "payload_content_encoding is not one of ['base64', 'binary']", "payload_content_encoding")
		}
		return nil
	}
	if encoding != "" {
		return invalidObject("Secret", "payload_content_encoding is not one of None", "payload_content_encoding")
	}
	return nil
}

// secretView is a secret's metadata as Barbican renders it (microversion
// 1.0: no consumers).
func (s *Service) secretView(r *http.Request, sec *barbican.Secret) secretView {
	v := secretView{SecretRef: s.secretHref(r, sec.ID), Status: "ACTIVE",
		Created: pyTime(sec.CreatedAt), Updated: pyTime(sec.UpdatedAt),
		Name: nullable(sec.Name), SecretType: sec.Type, Algorithm: nullable(sec.Algorithm),
		BitLength: sec.BitLength, Mode: nullable(sec.Mode), CreatorID: nullable(sec.CreatorID)}
	if sec.Expiration != nil {
		e := pyTime(*sec.Expiration)
		v.Expiration = &e
	}
	if sec.Payload != nil {
		v.ContentTypes = &contentTypes{Default: sec.ContentType}
	}
	if microversion(r) >= 1 {
		v.Consumers = []struct{}{}
	}
	return v
}

// nullable renders an empty string as null.
func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// microversion is the minor version of "OpenStack-API-Version:
// key-manager 1.x" (0 when absent; "latest" is 1).
func microversion(r *http.Request) int {
	h := strings.Fields(r.Header.Get("OpenStack-API-Version"))
	if len(h) != 2 || h[0] != "key-manager" {
		return 0
	}
	if h[1] == "latest" {
		return 1
	}
	_, minor, ok := strings.Cut(h[1], ".")
	n, err := strconv.Atoi(minor)
	if !ok || err != nil {
		return 0
	}
	return n
}

// wantsJSON is Barbican's is_json_request_accept: no Accept header,
// application/json or */* exactly.
func wantsJSON(r *http.Request) bool {
	a := r.Header.Get("Accept")
	return a == "" || a == "application/json" || a == "*/*"
}

func (s *Service) getSecret(w http.ResponseWriter, r *http.Request, c policy.Caller, sec *barbican.Secret) error {
	if !wantsJSON(r) {
		return s.getPayload(w, r, c, sec, "Secret retrieval")
	}
	if !canRead(c, secretOwner(sec)) {
		return forbidden("Secret retrieval")
	}
	writeJSON(w, http.StatusOK, s.secretView(r, sec))
	return nil
}

func (s *Service) getPayload(w http.ResponseWriter, r *http.Request, c policy.Caller, sec *barbican.Secret, op string) error {
	if !canRead(c, secretOwner(sec)) {
		return forbidden(op)
	}
	accept := r.Header.Get("Accept")
	if accept == "" || accept == "*/*" {
		accept = r.URL.Query().Get("payload_content_type")
	}
	if sec.Payload == nil {
		return errorf(http.StatusNotFound, "Not Found. Sorry but your secret has no payload.")
	}
	if accept == "" || accept == "*/*" {
		accept = sec.ContentType
	}
	want := normalizeContentType(accept)
	if want == "" {
		return issue(http.StatusNotAcceptable, op, "Wrong payload content-type")
	}
	plain, err := s.opts.Keys.Open(sec.Payload, []byte(sec.ID))
	if err != nil {
		return fmt.Errorf("secret %s: %w", sec.ID, err)
	}
	if want == ctText && !utf8.Valid(plain) {
		return issue(http.StatusNotAcceptable, op, "Wrong payload content-type")
	}
	w.Header().Set("Content-Type", accept)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(plain)
	return nil
}

func (s *Service) putPayload(w http.ResponseWriter, r *http.Request, c policy.Caller, sec *barbican.Secret) error {
	const op = "Secret update"
	if !canWrite(c, secretOwner(sec)) {
		return forbidden(op)
	}
	ct := mediaType(r.Header.Get("Content-Type"))
	if ct != ctBinary && ct != ctText {
		return errorf(http.StatusUnsupportedMediaType, "Unexpected content type. Expected content types are: ['application/octet-stream', 'text/plain']")
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, int64(s.opts.MaxSecretBytes)+1))
	if err != nil {
		return fmt.Errorf("read payload: %w", err)
	}
	if len(body) == 0 {
		return issue(http.StatusBadRequest, op, "No data supplied to process")
	}
	if len(body) > s.opts.MaxSecretBytes {
		return issue(http.StatusRequestEntityTooLarge, op, "Provided information too large to process")
	}
	enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding")))
	plain := body
	switch {
	case ct == ctText && enc != "":
		return issue(http.StatusBadRequest, op, "Secret Content-Encoding of '"+enc+"' not supported")
	case enc == "base64":
		if plain, err = decodeBase64(string(body)); err != nil {
			return issue(http.StatusBadRequest, op, "Unable to decode request data")
		}
	case enc != "" && enc != "binary":
		return issue(http.StatusBadRequest, op, "Secret Content-Encoding of '"+enc+"' not supported")
	}
	var ids []string
	err = s.opts.Store.Update(r.Context(), func(tx store.Tx) error {
		cur, err := tx.Secrets().Lock(r.Context(), sec.ID)
		if err != nil {
			return err
		}
		if ids, err = holders(r.Context(), tx, sec.ID); err != nil {
			return err
		}
		if cur.Payload != nil {
			return errorf(http.StatusConflict, "Secret already has data, cannot modify it.")
		}
		sealed, err := s.opts.Keys.Seal(plain, []byte(cur.ID))
		if err != nil {
			return err
		}
		cur.Payload, cur.ContentType, cur.UpdatedAt = sealed, ct, s.now()
		return tx.Secrets().Update(r.Context(), cur)
	})
	if errors.Is(err, store.ErrNotFound) {
		return errorf(http.StatusNotFound, "Secret not found.")
	}
	if err != nil {
		return err
	}
	s.changed(r.Context(), ids)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Service) deleteSecret(w http.ResponseWriter, r *http.Request, c policy.Caller, sec *barbican.Secret) error {
	if !canWrite(c, secretOwner(sec)) {
		return forbidden("Secret deletion")
	}
	var ids []string
	err := s.opts.Store.Update(r.Context(), func(tx store.Tx) error {
		var err error
		if ids, err = holders(r.Context(), tx, sec.ID); err != nil {
			return err
		}
		return tx.Secrets().Delete(r.Context(), sec.ID)
	})
	if errors.Is(err, store.ErrNotFound) {
		return errorf(http.StatusNotFound, "Secret not found.")
	}
	if err != nil {
		return fmt.Errorf("delete secret %s: %w", sec.ID, err)
	}
	s.changed(r.Context(), ids)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// paging is Barbican's clean_paging_values: offset ≥ 0, 1 ≤ limit ≤ 100,
// default 10; unparsable values fall back to the defaults.
func paging(q url.Values) (offset, limit int) {
	offset, limit = 0, 10
	if n, err := strconv.Atoi(q.Get("offset")); err == nil && n > 0 {
		offset = n
	}
	if v := q.Get("limit"); v != "" && v != "0" {
		if n, err := strconv.Atoi(v); err == nil {
			limit = min(max(n, 1), 100)
		}
	}
	return offset, limit
}

// likeMatch is SQL LIKE with % and _ as wildcards, case-sensitive.
func likeMatch(pattern, s string) bool {
	if !strings.ContainsAny(pattern, "%_") {
		return pattern == s
	}
	p, t := []rune(pattern), []rune(s)
	var match func(i, j int) bool
	match = func(i, j int) bool {
		for i < len(p) {
			switch p[i] {
			case '%':
				for k := j; k <= len(t); k++ {
					if match(i+1, k) {
						return true
					}
				}
				return false
			case '_':
				if j >= len(t) {
					return false
				}
			default:
				if j >= len(t) || t[j] != p[i] {
					return false
				}
			}
			i, j = i+1, j+1
		}
		return j == len(t)
	}
	return match(0, 0)
}

var sortKeys = []string{"algorithm", "bit_length", "created", "expiration", "mode", "name", "secret_type", "status", "updated"}

func validSort(sort string) bool {
	seen := map[string]bool{}
	for _, part := range strings.Split(sort, ",") {
		key, dir, ok := strings.Cut(part, ":")
		if !ok {
			dir = "asc"
		} else if strings.Contains(dir, ":") {
			return false
		}
		if !slices.Contains(sortKeys, key) || dir != "asc" && dir != "desc" || seen[key] {
			return false
		}
		seen[key] = true
	}
	return true
}

// dateFilter is one of Barbican's created/updated/expiration filters:
// comma-separated [gt:|gte:|lt:|lte:]<ISO time>.
type dateFilter []func(time.Time) bool

func parseDateFilter(v string) (dateFilter, bool) {
	var out dateFilter
	seen := map[string]bool{}
	for _, part := range strings.Split(v, ",") {
		op, ts := "eq", part
		for _, p := range []string{"gte:", "lte:", "gt:", "lt:"} {
			if strings.HasPrefix(part, p) {
				op, ts = strings.TrimSuffix(p, ":"), part[len(p):]
				break
			}
		}
		t, ok := parseExpiration(ts)
		if !ok {
			return nil, false
		}
		switch op {
		case "gt", "gte":
			if seen["gt"] || seen["gte"] || op == "gte" && seen["eq"] {
				return nil, false
			}
		case "lt", "lte":
			if seen["lt"] || seen["lte"] || op == "lte" && seen["eq"] {
				return nil, false
			}
		case "eq":
			if seen["eq"] || seen["gte"] || seen["lte"] {
				return nil, false
			}
		}
		seen[op] = true
		switch op {
		case "gt":
			out = append(out, func(x time.Time) bool { return x.After(t) })
		case "gte":
			out = append(out, func(x time.Time) bool { return !x.Before(t) })
		case "lt":
			out = append(out, func(x time.Time) bool { return x.Before(t) })
		case "lte":
			out = append(out, func(x time.Time) bool { return !x.After(t) })
		default:
			out = append(out, func(x time.Time) bool { return x.Equal(t) })
		}
	}
	return out, true
}

func (f dateFilter) match(t *time.Time) bool {
	if len(f) == 0 {
		return true
	}
	if t == nil {
		return false
	}
	for _, fn := range f {
		if !fn(*t) {
			return false
		}
	}
	return true
}

func (s *Service) listSecrets(w http.ResponseWriter, r *http.Request, c policy.Caller) error {
	const op = "Secret(s) retrieval"
	if !canList(c) {
		return forbidden(op)
	}
	q := r.URL.Query()
	filters := map[string]dateFilter{}
	for _, k := range []string{"created", "updated", "expiration"} {
		if v := q.Get(k); v != "" {
			f, ok := parseDateFilter(v)
			if !ok {
				return errorf(http.StatusBadRequest, "URI provided invalid query string parameters.")
			}
			filters[k] = f
		}
	}
	if v := q.Get("sort"); v != "" && !validSort(v) {
		return errorf(http.StatusBadRequest, "URI provided invalid query string parameters.")
	}
	offset, limit := paging(q)
	bits, _ := strconv.Atoi(q.Get("bits"))
	now := s.now()
	var all []*barbican.Secret
	err := s.opts.Store.View(r.Context(), func(tx store.Tx) error {
		fs := []store.Filter{store.F("project_id", c.ProjectID)}
		if name := q.Get("name"); name != "" && !strings.ContainsAny(name, "%_") {
			fs = append(fs, store.F("name", name))
		}
		var err error
		all, err = tx.Secrets().List(r.Context(), store.Query{Filters: fs})
		return err
	})
	if err != nil {
		return fmt.Errorf("list secrets: %w", err)
	}
	aclOnly := strings.EqualFold(q.Get("acl_only"), "true") && c.UserID != ""
	if aclOnly {
		err := s.opts.Store.View(r.Context(), func(tx store.Tx) error {
			var err error
			all, err = tx.Secrets().List(r.Context(), store.Query{})
			return err
		})
		if err != nil {
			return fmt.Errorf("list secrets: %w", err)
		}
	}
	var match []*barbican.Secret
	for _, sec := range all {
		switch {
		case aclOnly && !sec.ACL.Grants(c.UserID),
			sec.Expired(now) && filters["expiration"] == nil,
			q.Get("name") != "" && !likeMatch(q.Get("name"), sec.Name),
			q.Get("alg") != "" && !likeMatch(q.Get("alg"), sec.Algorithm),
			q.Get("mode") != "" && !likeMatch(q.Get("mode"), sec.Mode),
			bits > 0 && (sec.BitLength == nil || *sec.BitLength != bits),
			q.Get("secret_type") != "" && sec.Type != q.Get("secret_type"),
			!filters["created"].match(&sec.CreatedAt),
			!filters["updated"].match(&sec.UpdatedAt),
			!filters["expiration"].match(sec.Expiration):
			continue
		}
		match = append(match, sec)
	}
	if v := q.Get("sort"); v != "" {
		sortSecrets(match, v)
	}
	page := window(match, offset, limit)
	body := secretList{Secrets: make([]secretView, len(page)), Total: len(match)}
	for i, sec := range page {
		body.Secrets[i] = s.secretView(r, sec)
	}
	body.Previous, body.Next = s.navigate("secrets", len(page), offset, limit, len(match), r)
	writeJSON(w, http.StatusOK, body)
	return nil
}

func sortSecrets(list []*barbican.Secret, spec string) {
	type key struct {
		name string
		desc bool
	}
	var keys []key
	for _, part := range strings.Split(spec, ",") {
		k, d, _ := strings.Cut(part, ":")
		keys = append(keys, key{k, d == "desc"})
	}
	str := func(sec *barbican.Secret, k string) string {
		switch k {
		case "algorithm":
			return sec.Algorithm
		case "mode":
			return sec.Mode
		case "name":
			return sec.Name
		case "secret_type":
			return sec.Type
		case "bit_length":
			if sec.BitLength == nil {
				return ""
			}
			return fmt.Sprintf("%010d", *sec.BitLength)
		case "created":
			return pyTime(sec.CreatedAt)
		case "updated":
			return pyTime(sec.UpdatedAt)
		case "expiration":
			if sec.Expiration == nil {
				return ""
			}
			return pyTime(*sec.Expiration)
		}
		return ""
	}
	slices.SortStableFunc(list, func(a, b *barbican.Secret) int {
		for _, k := range keys {
			c := strings.Compare(str(a, k.name), str(b, k.name))
			if k.desc {
				c = -c
			}
			if c != 0 {
				return c
			}
		}
		return 0
	})
}

func window[T any](all []T, offset, limit int) []T {
	if offset >= len(all) {
		return nil
	}
	return all[offset:min(len(all), offset+limit)]
}

// navigate returns the hrefs of the previous and next pages of a list
// (carrying the other query parameters), "" where there is none or the
// page is empty.
func (s *Service) navigate(coll string, items, offset, limit, total int, r *http.Request) (previous, next string) {
	if items == 0 {
		return "", ""
	}
	rest := url.Values{}
	for k, v := range r.URL.Query() {
		if k != "limit" && k != "offset" {
			rest[k] = v
		}
	}
	href := func(off int) string {
		u := fmt.Sprintf("%s/v1/%s?limit=%d&offset=%d", s.baseURL(r), coll, limit, off)
		if enc := rest.Encode(); enc != "" {
			u += "&" + enc
		}
		return u
	}
	if offset > 0 {
		previous = href(max(0, offset-limit))
	}
	if total > offset+limit {
		next = href(offset + limit)
	}
	return previous, next
}
