package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/fulcrumlb/fulcrum/internal/store"
)

// table implements store.Table[T] on one transaction.
type table[T any] struct {
	tx *txn
	k  *kind[T]
}

func q(ident string) string { return `"` + ident + `"` }

func (t *table[T]) selectList() string { return t.k.selectList }

func (t *table[T]) scanRows(rows *sql.Rows) ([]*T, error) {
	defer rows.Close()
	raw := make([]any, len(t.k.cols))
	dest := make([]any, len(t.k.cols))
	for i := range raw {
		dest[i] = &raw[i]
	}
	var out []*T
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		v, err := t.decode(raw)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

func (t *table[T]) getBy(ctx context.Context, id string, lock bool) (*T, error) {
	sqlText := t.k.getSQL
	if lock {
		sqlText += t.tx.s.d.forUpdate
	}
	rows, err := t.tx.query(ctx, sqlText, id)
	if err != nil {
		return nil, fmt.Errorf("get %s %s: %w", t.k.table, id, err)
	}
	list, err := t.scanRows(rows)
	if err != nil {
		return nil, fmt.Errorf("get %s %s: %w", t.k.table, id, err)
	}
	if len(list) == 0 {
		return nil, fmt.Errorf("get %s %s: %w", t.k.table, id, store.ErrNotFound)
	}
	t.rememberRows(list)
	return list[0], nil
}

// rememberRows records the stored values of rows just read, in a
// transaction that keeps them (see txn.loaded).
func (t *table[T]) rememberRows(list []*T) {
	if !t.tx.remembers() {
		return
	}
	for _, v := range list {
		vals := make([]any, len(t.k.cols))
		for i, c := range t.k.cols {
			vals[i] = c.get(v)
		}
		if id, ok := vals[0].(string); ok && id != "" {
			t.tx.remember(t.k.table, id, vals)
		}
	}
}

func (t *table[T]) Get(ctx context.Context, id string) (*T, error) { return t.getBy(ctx, id, false) }

func (t *table[T]) Lock(ctx context.Context, id string) (*T, error) { return t.getBy(ctx, id, true) }

// insert returns the INSERT statement for v and its arguments.
func (t *table[T]) insert(v *T) (string, []any) {
	cols := t.k.cols
	args := make([]any, len(cols))
	for i, c := range cols {
		args[i] = c.get(v)
	}
	return t.k.insertSQL, args
}

func (t *table[T]) Create(ctx context.Context, v *T) error {
	sqlText, args := t.insert(v)
	if _, err := t.tx.execKeep(ctx, sqlText, args...); err != nil {
		return fmt.Errorf("create %s %v: %w", t.k.table, args[0], err)
	}
	return nil
}

func (t *table[T]) CreateIfAbsent(ctx context.Context, v *T) (bool, error) {
	sqlText, args := t.insert(v)
	// ON CONFLICT on the id column only: a clash on another unique key is
	// still an error. Both SQLite (3.24+) and PostgreSQL have the clause.
	sqlText += " ON CONFLICT (" + q(t.k.cols[0].name) + ") DO NOTHING"
	res, err := t.tx.exec(ctx, sqlText, args...)
	if err != nil {
		return false, fmt.Errorf("create %s %v: %w", t.k.table, args[0], err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("create %s %v: %w", t.k.table, args[0], err)
	}
	return n == 1, nil
}

func (t *table[T]) Update(ctx context.Context, v *T) error {
	cols := t.k.cols
	vals := make([]any, len(cols))
	for i, c := range cols {
		vals[i] = c.get(v)
	}
	id := vals[0]
	sqlText, args := t.k.updateSQL, append(vals[1:len(vals):len(vals)], id)
	key, _ := id.(string)
	if old, ok := t.tx.loaded[loadedKey{t.k.table, key}]; ok && key != "" {
		sqlText, args = t.partialUpdate(old, vals)
	}
	res, err := t.tx.execKeep(ctx, sqlText, args...)
	if err != nil {
		t.tx.loaded = nil
		return fmt.Errorf("update %s %v: %w", t.k.table, id, err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		t.tx.loaded = nil
		return fmt.Errorf("update %s %v: %w", t.k.table, id, store.ErrNotFound)
	}
	if t.tx.remembers() && key != "" {
		t.tx.remember(t.k.table, key, vals)
	}
	return nil
}

// partialUpdate returns the UPDATE of the columns whose values differ
// between old and vals (the row's stored values and the new ones, id
// first), and its arguments. With none differing it sets the id to itself,
// which still reports whether the row exists.
func (t *table[T]) partialUpdate(old, vals []any) (string, []any) {
	var b strings.Builder
	b.WriteString("UPDATE " + q(t.k.table) + " SET ")
	args := make([]any, 0, len(vals))
	for i := 1; i < len(vals); i++ {
		if sameValue(old[i], vals[i]) {
			continue
		}
		if len(args) > 0 {
			b.WriteString(", ")
		}
		b.WriteString(q(t.k.cols[i].name) + " = ?")
		args = append(args, vals[i])
	}
	if len(args) == 0 {
		b.WriteString(`"id" = "id"`)
	}
	b.WriteString(` WHERE "id" = ?`)
	return b.String(), append(args, vals[0])
}

func (t *table[T]) Delete(ctx context.Context, id string) error {
	res, err := t.tx.exec(ctx, t.k.deleteSQL, id)
	if err != nil {
		return fmt.Errorf("delete %s %s: %w", t.k.table, id, err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return fmt.Errorf("delete %s %s: %w", t.k.table, id, store.ErrNotFound)
	}
	return nil
}

func (t *table[T]) DeleteWhere(ctx context.Context, filters ...store.Filter) (int, error) {
	if len(filters) == 0 {
		return 0, fmt.Errorf("delete from %s: at least one filter is required: %w", t.k.table, store.ErrInvalidQuery)
	}
	var w where
	if err := t.addFilters(&w, filters); err != nil {
		return 0, err
	}
	res, err := t.tx.exec(ctx, "DELETE FROM "+q(t.k.table)+w.sql(), w.args...)
	if err != nil {
		return 0, fmt.Errorf("delete from %s: %w", t.k.table, err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}

func (t *table[T]) Count(ctx context.Context, filters ...store.Filter) (int, error) {
	var w where
	if err := t.addFilters(&w, filters); err != nil {
		return 0, err
	}
	var n int64
	rows, err := t.tx.query(ctx, "SELECT COUNT(*) FROM "+q(t.k.table)+w.sql(), w.args...)
	if err != nil {
		return 0, fmt.Errorf("count %s: %w", t.k.table, err)
	}
	defer rows.Close()
	if rows.Next() {
		if err := rows.Scan(&n); err != nil {
			return 0, fmt.Errorf("count %s: %w", t.k.table, err)
		}
	}
	return int(n), rows.Err()
}

const refsChunk = 500

func (t *table[T]) Refs(ctx context.Context, field string, values []string) (map[string][]string, error) {
	c, ok := t.k.col(field)
	if !ok || c.typ != tText {
		return nil, fmt.Errorf("refs of %s: %w", t.k.table, &store.QueryError{Part: "filter", Field: field})
	}
	out := make(map[string][]string)
	order := t.implicitOrder()
	for start := 0; start < len(values); start += refsChunk {
		chunk := values[start:min(start+refsChunk, len(values))]
		marks := strings.Repeat("?, ", len(chunk))
		args := make([]any, len(chunk))
		for i, v := range chunk {
			args[i] = v
		}
		sqlText := "SELECT " + q(field) + `, "id" FROM ` + q(t.k.table) + " WHERE " + q(field) + " IN (" + marks[:len(marks)-2] + ")" + order
		rows, err := t.tx.query(ctx, sqlText, args...)
		if err != nil {
			return nil, fmt.Errorf("refs of %s: %w", t.k.table, err)
		}
		for rows.Next() {
			var parent, id string
			if err := rows.Scan(&parent, &id); err != nil {
				rows.Close()
				return nil, fmt.Errorf("refs of %s: %w", t.k.table, err)
			}
			out[parent] = append(out[parent], id)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("refs of %s: %w", t.k.table, err)
		}
	}
	return out, nil
}

func (t *table[T]) implicitOrder() string {
	if _, ok := t.k.col("created_at"); ok {
		return ` ORDER BY "created_at", "id"`
	}
	return ` ORDER BY "id"`
}

// where accumulates AND-ed conditions and their arguments.
type where struct {
	conds []string
	args  []any
}

func (w *where) add(cond string, args ...any) {
	w.conds = append(w.conds, cond)
	w.args = append(w.args, args...)
}

func (w *where) sql() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

func (t *table[T]) addFilters(w *where, filters []store.Filter) error {
	for _, f := range filters {
		c, ok := t.k.col(f.Field)
		if !ok || c.typ == tJSON {
			return fmt.Errorf("filter %s: %w", t.k.table, &store.QueryError{Part: "filter", Field: f.Field, Value: f.Value})
		}
		if f.Values != nil {
			if len(f.Values) == 0 {
				w.add("1 = 0")
				continue
			}
			var list []any
			null := false
			for _, s := range f.Values {
				v, isNull, ok := c.filterValue(s)
				if !ok {
					return fmt.Errorf("filter %s: %w", t.k.table, &store.QueryError{Part: "filter", Field: f.Field, Value: s})
				}
				if isNull {
					null = true
					continue
				}
				list = append(list, v)
			}
			var alts []string
			var args []any
			if null {
				alts = append(alts, q(c.name)+" IS NULL")
			}
			switch {
			case len(list) == 1:
				// One value is an equality: an index search with no
				// list to decode (SQLite's json_each is set up at every
				// run, and cost as much as the rest of the query).
				alts = append(alts, q(c.name)+" = ?")
				args = append(args, list[0])
			case len(list) > 1:
				arg, err := t.tx.s.d.list(c.typ, list)
				if err != nil {
					return fmt.Errorf("filter %s: %w", t.k.table, err)
				}
				alts = append(alts, t.tx.s.d.in(q(c.name), c.typ))
				args = append(args, arg)
			}
			w.add("("+strings.Join(alts, " OR ")+")", args...)
			continue
		}
		v, null, ok := c.filterValue(f.Value)
		if !ok {
			return fmt.Errorf("filter %s: %w", t.k.table, &store.QueryError{Part: "filter", Field: f.Field, Value: f.Value})
		}
		if null {
			w.add(q(c.name) + " IS NULL")
		} else {
			w.add(q(c.name)+" = ?", v)
		}
	}
	return nil
}

func (t *table[T]) addTags(w *where, tags store.Tags) error {
	if _, ok := t.k.col("tags"); !ok {
		if len(tags.All)+len(tags.Any)+len(tags.NotAll)+len(tags.NotAny) > 0 {
			return fmt.Errorf("tags of %s: %w", t.k.table, &store.QueryError{Part: "filter", Field: "tags"})
		}
		return nil
	}
	for _, g := range []struct {
		tags []string
		not  bool
		all  bool
	}{{tags.All, false, true}, {tags.Any, false, false}, {tags.NotAll, true, true}, {tags.NotAny, true, false}} {
		if len(g.tags) == 0 {
			continue
		}
		seen := make(map[string]bool, len(g.tags))
		distinct := make([]string, 0, len(g.tags))
		for _, tag := range g.tags {
			if !seen[tag] {
				seen[tag] = true
				distinct = append(distinct, tag)
			}
		}
		cond, args, err := t.tx.s.d.tags(g.all, distinct)
		if err != nil {
			return fmt.Errorf("tags of %s: %w", t.k.table, err)
		}
		if g.not {
			cond = "NOT " + cond
		}
		w.add("("+cond+")", args...)
	}
	return nil
}

// orderKeys returns the query's sort keys plus the implicit created_at and
// id, validated against the columns.
func (t *table[T]) orderKeys(sorts []store.Sort) ([]store.Sort, error) {
	keys := make([]store.Sort, 0, len(sorts)+2)
	seen := map[string]bool{}
	for _, s := range sorts {
		c, ok := t.k.col(s.Field)
		if !ok || c.typ == tJSON {
			return nil, fmt.Errorf("sort %s: %w", t.k.table, &store.QueryError{Part: "sort", Field: s.Field})
		}
		if !seen[s.Field] {
			seen[s.Field] = true
			keys = append(keys, s)
		}
	}
	for _, name := range []string{"created_at", "id"} {
		if _, ok := t.k.col(name); ok && !seen[name] {
			keys = append(keys, store.Sort{Field: name})
		}
	}
	return keys, nil
}

func (t *table[T]) List(ctx context.Context, qry store.Query) ([]*T, error) {
	var w where
	if err := t.addFilters(&w, qry.Filters); err != nil {
		return nil, err
	}
	if err := t.addTags(&w, qry.Tags); err != nil {
		return nil, err
	}
	keys, err := t.orderKeys(qry.Sort)
	if err != nil {
		return nil, err
	}
	reverse := qry.Marker != "" && qry.PageReverse
	if qry.Marker != "" {
		if err := t.addMarker(ctx, &w, keys, qry.Marker, reverse); err != nil {
			return nil, err
		}
	}
	var order []string
	for _, k := range keys {
		desc := k.Desc != reverse
		order = append(order, q(k.Field)+t.tx.s.d.orderSuffix(desc))
	}
	sqlText := "SELECT " + t.selectList() + " FROM " + q(t.k.table) + w.sql() + " ORDER BY " + strings.Join(order, ", ")
	args := w.args
	if qry.Limit > 0 {
		sqlText += " LIMIT ?"
		args = append(args, int64(qry.Limit))
	}
	rows, err := t.tx.query(ctx, sqlText, args...)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", t.k.table, err)
	}
	list, err := t.scanRows(rows)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", t.k.table, err)
	}
	t.rememberRows(list)
	if reverse {
		for i, j := 0, len(list)-1; i < j; i, j = i+1, j-1 {
			list[i], list[j] = list[j], list[i]
		}
	}
	return list, nil
}

// addMarker restricts w to rows strictly after (or, reversed, before) the
// marker row in the order given by keys. NULL sorts first in ascending order.
func (t *table[T]) addMarker(ctx context.Context, w *where, keys []store.Sort, marker string, reverse bool) error {
	names := make([]string, len(keys))
	for i, k := range keys {
		names[i] = q(k.Field)
	}
	rows, err := t.tx.query(ctx, "SELECT "+strings.Join(names, ", ")+" FROM "+q(t.k.table)+` WHERE "id" = ?`, marker)
	if err != nil {
		return fmt.Errorf("marker %s: %w", t.k.table, err)
	}
	vals := make([]any, len(keys))
	dest := make([]any, len(keys))
	for i := range vals {
		dest[i] = &vals[i]
	}
	found := rows.Next()
	if found {
		err = rows.Scan(dest...)
	}
	rows.Close()
	if err != nil {
		return fmt.Errorf("marker %s: %w", t.k.table, err)
	}
	if !found {
		return fmt.Errorf("marker %s: %w", t.k.table, &store.QueryError{Part: "marker", Field: marker, Value: marker})
	}
	// (k1 after v1) OR (k1 = v1 AND k2 after v2) OR ...
	var ors []string
	var args []any
	for i := range keys {
		var ands []string
		for j := 0; j < i; j++ {
			c, a := eqCond(names[j], vals[j])
			ands = append(ands, c)
			args = append(args, a...)
		}
		c, a := afterCond(names[i], vals[i], keys[i].Desc != reverse)
		ands = append(ands, c)
		args = append(args, a...)
		ors = append(ors, "("+strings.Join(ands, " AND ")+")")
	}
	w.add("("+strings.Join(ors, " OR ")+")", args...)
	return nil
}

func eqCond(col string, v any) (string, []any) {
	if v == nil {
		return col + " IS NULL", nil
	}
	return col + " = ?", []any{v}
}

// afterCond is "col comes after v" in ascending (NULLs first) or descending
// (NULLs last) order.
func afterCond(col string, v any, desc bool) (string, []any) {
	switch {
	case !desc && v == nil:
		return col + " IS NOT NULL", nil
	case !desc:
		return col + " > ?", []any{v}
	case v == nil:
		return "1 = 0", nil
	default:
		return "(" + col + " < ? OR " + col + " IS NULL)", []any{v}
	}
}
