package sqlstore

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// colType is how a column is stored and how filter values are parsed.
type colType int

const (
	tText colType = iota
	tInt
	tBool
	tFloat
	tTime // unix microseconds, UTC
	tJSON // JSON text; not filterable or sortable
)

// column maps one domain field of T to one SQL column.
type column[T any] struct {
	name string
	typ  colType
	null bool
	get  func(*T) any        // value to store (nil for NULL)
	set  func(*T, any) error // from a scanned driver value (nil for NULL)
}

// text: a string field stored as is ("" is a value, never NULL).
func text[T any](name string, f func(*T) *string) column[T] {
	return column[T]{name: name, typ: tText,
		get: func(v *T) any { return *f(v) },
		set: func(v *T, src any) error { s, err := asString(src); *f(v) = s; return err }}
}

// enum: a named string type stored as text.
func enum[T any, E ~string](name string, f func(*T) *E) column[T] {
	return column[T]{name: name, typ: tText,
		get: func(v *T) any { return string(*f(v)) },
		set: func(v *T, src any) error { s, err := asString(src); *f(v) = E(s); return err }}
}

// ref: a string field where "" means NULL (ids, optional names).
func ref[T any](name string, f func(*T) *string) column[T] {
	return column[T]{name: name, typ: tText, null: true,
		get: func(v *T) any {
			if s := *f(v); s != "" {
				return s
			}
			return nil
		},
		set: func(v *T, src any) error { s, err := asString(src); *f(v) = s; return err }}
}

// ptext: a *string field, nil ⇔ NULL.
func ptext[T any](name string, f func(*T) **string) column[T] {
	return column[T]{name: name, typ: tText, null: true,
		get: func(v *T) any {
			if p := *f(v); p != nil {
				return *p
			}
			return nil
		},
		set: func(v *T, src any) error {
			if src == nil {
				*f(v) = nil
				return nil
			}
			s, err := asString(src)
			*f(v) = &s
			return err
		}}
}

func integer[T any](name string, f func(*T) *int) column[T] {
	return column[T]{name: name, typ: tInt,
		get: func(v *T) any { return int64(*f(v)) },
		set: func(v *T, src any) error { n, err := asInt(src); *f(v) = int(n); return err }}
}

func integer64[T any](name string, f func(*T) *int64) column[T] {
	return column[T]{name: name, typ: tInt,
		get: func(v *T) any { return *f(v) },
		set: func(v *T, src any) error { n, err := asInt(src); *f(v) = n; return err }}
}

func uinteger64[T any](name string, f func(*T) *uint64) column[T] {
	return column[T]{name: name, typ: tInt,
		get: func(v *T) any { return int64(*f(v)) },
		set: func(v *T, src any) error { n, err := asInt(src); *f(v) = uint64(n); return err }}
}

// pint: a *int field, nil ⇔ NULL.
func pint[T any](name string, f func(*T) **int) column[T] {
	return column[T]{name: name, typ: tInt, null: true,
		get: func(v *T) any {
			if p := *f(v); p != nil {
				return int64(*p)
			}
			return nil
		},
		set: func(v *T, src any) error {
			if src == nil {
				*f(v) = nil
				return nil
			}
			n, err := asInt(src)
			i := int(n)
			*f(v) = &i
			return err
		}}
}

func boolean[T any](name string, f func(*T) *bool) column[T] {
	return column[T]{name: name, typ: tBool,
		get: func(v *T) any { return *f(v) },
		set: func(v *T, src any) error { b, err := asBool(src); *f(v) = b; return err }}
}

// pfloat: a *float64 field, nil ⇔ NULL.
func pfloat[T any](name string, f func(*T) **float64) column[T] {
	return column[T]{name: name, typ: tFloat, null: true,
		get: func(v *T) any {
			if p := *f(v); p != nil {
				return *p
			}
			return nil
		},
		set: func(v *T, src any) error {
			if src == nil {
				*f(v) = nil
				return nil
			}
			x, err := asFloat(src)
			*f(v) = &x
			return err
		}}
}

func timestamp[T any](name string, f func(*T) *time.Time) column[T] {
	return column[T]{name: name, typ: tTime,
		get: func(v *T) any { return toMicros(*f(v)) },
		set: func(v *T, src any) error { n, err := asInt(src); *f(v) = fromMicros(n); return err }}
}

// ptimestamp: a *time.Time field, nil ⇔ NULL.
func ptimestamp[T any](name string, f func(*T) **time.Time) column[T] {
	return column[T]{name: name, typ: tTime, null: true,
		get: func(v *T) any {
			if p := *f(v); p != nil {
				return toMicros(*p)
			}
			return nil
		},
		set: func(v *T, src any) error {
			if src == nil {
				*f(v) = nil
				return nil
			}
			n, err := asInt(src)
			t := fromMicros(n)
			*f(v) = &t
			return err
		}}
}

// jsonb: any JSON-encodable field (slices, maps, structs). A nil slice, map
// or pointer is stored as NULL and read back as nil; an empty one as "[]"/"{}".
func jsonb[T any, F any](name string, f func(*T) *F) column[T] {
	return column[T]{name: name, typ: tJSON, null: true,
		get: func(v *T) any {
			b, err := json.Marshal(*f(v))
			if err != nil || string(b) == "null" {
				return nil
			}
			return string(b)
		},
		set: func(v *T, src any) error {
			var zero F
			*f(v) = zero
			if src == nil {
				return nil
			}
			s, err := asString(src)
			if err != nil {
				return err
			}
			return json.Unmarshal([]byte(s), f(v))
		}}
}

func toMicros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func fromMicros(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.UnixMicro(n).UTC()
}

func asString(src any) (string, error) {
	switch s := src.(type) {
	case nil:
		return "", nil
	case string:
		return s, nil
	case []byte:
		return string(s), nil
	}
	return "", fmt.Errorf("want text, got %T", src)
}

func asInt(src any) (int64, error) {
	switch n := src.(type) {
	case nil:
		return 0, nil
	case int64:
		return n, nil
	case int32:
		return int64(n), nil
	case int:
		return int64(n), nil
	case float64:
		return int64(n), nil
	case bool:
		if n {
			return 1, nil
		}
		return 0, nil
	case []byte:
		return strconv.ParseInt(string(n), 10, 64)
	case string:
		return strconv.ParseInt(n, 10, 64)
	}
	return 0, fmt.Errorf("want integer, got %T", src)
}

func asBool(src any) (bool, error) {
	switch b := src.(type) {
	case nil:
		return false, nil
	case bool:
		return b, nil
	case int64:
		return b != 0, nil
	case string:
		return ParseBool(b)
	case []byte:
		return ParseBool(string(b))
	}
	return false, fmt.Errorf("want boolean, got %T", src)
}

func asFloat(src any) (float64, error) {
	switch x := src.(type) {
	case nil:
		return 0, nil
	case float64:
		return x, nil
	case float32:
		return float64(x), nil
	case int64:
		return float64(x), nil
	case string:
		return strconv.ParseFloat(x, 64)
	case []byte:
		return strconv.ParseFloat(string(x), 64)
	}
	return 0, fmt.Errorf("want number, got %T", src)
}

// ParseBool parses the boolean spellings Octavia accepts in query strings.
func ParseBool(s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "1", "t", "true", "y", "yes", "on":
		return true, nil
	case "0", "f", "false", "n", "no", "off":
		return false, nil
	}
	return false, fmt.Errorf("not a boolean: %q", s)
}

// filterValue converts a filter's string form into the column's stored form.
// ok is false when the value does not parse; null is true when the filter
// means IS NULL.
func (c *column[T]) filterValue(s string) (v any, null, ok bool) {
	if s == "" && c.null {
		return nil, true, true
	}
	switch c.typ {
	case tText:
		return s, false, true
	case tInt:
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		return n, false, err == nil
	case tBool:
		b, err := ParseBool(s)
		return b, false, err == nil
	case tFloat:
		x, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		return x, false, err == nil
	case tTime:
		t, ok := parseTime(s)
		return toMicros(t), false, ok
	}
	return nil, false, false
}

func parseTime(s string) (time.Time, bool) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999", "2006-01-02T15:04:05", "2006-01-02 15:04:05.999999", "2006-01-02 15:04:05"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}
