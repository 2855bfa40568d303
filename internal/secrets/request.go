package secrets

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/secrets/barbican"
)

// Request bodies as Barbican reads them: JSON with its size limit and media
// types, Python-style field checks and messages, expirations and base64.

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
