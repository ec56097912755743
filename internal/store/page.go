package store

import (
	"context"
	"strings"

	"github.com/stipend/stipend"
)

// pageLimit checks a page size, 0 meaning 50.
func pageLimit(limit int) (int, error) {
	switch {
	case limit == 0:
		return 50, nil
	case limit < 0 || limit > 500:
		return 0, stipend.Errorf(stipend.EINVALID, "limit: must be between 1 and 500")
	}
	return limit, nil
}

// newestFirst is one page of a table read newest first by id, whose ids carry prefix: the
// conditions of where (with their args), the cursor (the last id of the previous page, ""
// for the first) and the page size.
type newestFirst struct {
	columns, table, prefix string
	where                  []string
	args                   []any
	cursor                 string
	limit                  int
}

// queryPage reads a page p with scan and returns it with the cursor of the next page, "" at
// the end. Returns EINVALID for a bad limit or a cursor this store did not give out.
func queryPage[T any](ctx context.Context, q querier, p newestFirst, scan func(interface{ Scan(...any) error }) (*T, error), id func(*T) string) ([]T, string, error) {
	limit, err := pageLimit(p.limit)
	if err != nil {
		return nil, "", err
	}
	where, args := append([]string{"1 = 1"}, p.where...), p.args
	if p.cursor != "" {
		if !validID(p.cursor, p.prefix) {
			return nil, "", stipend.Errorf(stipend.EINVALID, "cursor: not a cursor this API returned")
		}
		where, args = append(where, "id < ?"), append(args, p.cursor)
	}
	rows, err := q.Query(ctx, `SELECT `+p.columns+` FROM `+p.table+` WHERE `+strings.Join(where, " AND ")+` ORDER BY id DESC LIMIT ?`,
		append(args, limit+1)...)
	if err != nil {
		return nil, "", err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, "", err
		}
		out = append(out, *v)
	}
	if err := rows.Err(); err != nil {
		return nil, "", err
	}
	var next string
	if len(out) > limit {
		out = out[:limit]
		next = id(&out[limit-1])
	}
	return out, next, nil
}

// queryAll reads every row of query with scan, for the sets that stay small (the charity
// registry, the lists, the questions awaiting payment); listings people page through use
// queryPage. The rows are closed before it returns, so that the caller may query again.
func queryAll[T any](ctx context.Context, q querier, query string, scan func(interface{ Scan(...any) error }) (*T, error), args ...any) ([]T, error) {
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *v)
	}
	return out, rows.Err()
}
