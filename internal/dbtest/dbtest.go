// Package dbtest gives tests a fresh, migrated database of each kind Stipend supports.
//
// SQLite is always available. PostgreSQL is used from TEST_DATABASE_URL, or the local server
// at 127.0.0.1:5432, database "test". Each test gets its own schema, dropped at the end, so
// tests run in parallel against one server. When PostgreSQL cannot be reached its tests are
// skipped, except under CI=true, where they fail: CI must prove both databases.
package dbtest

import (
	"context"
	"database/sql"

	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/internal/db"
)

// DefaultPostgresURL is the server the tests use when TEST_DATABASE_URL is not set.
const DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// Dialects are the databases every store test runs against.
var Dialects = []db.Dialect{db.SQLite, db.Postgres}

// ForEach runs fn once per database as parallel subtests named "sqlite" and "postgres", each
// with a fresh migrated database.
func ForEach(t *testing.T, fn func(t *testing.T, d *db.DB)) {
	t.Helper()
	for _, dialect := range Dialects {
		t.Run(string(dialect), func(t *testing.T) {
			t.Parallel()
			fn(t, Open(t, dialect))
		})
	}
}

// Open returns a fresh migrated database of the given kind, closed and removed when the test
// ends.
func Open(t testing.TB, dialect db.Dialect) *db.DB {
	t.Helper()
	u := URL(t, dialect)
	ctx := context.Background()
	// Many test databases share one server, whose connections are limited (100 by default).
	d, err := db.Open(ctx, u, db.MaxConns(6))
	if err != nil {
		t.Fatalf("opening %s: %v", dialect, err)
	}
	t.Cleanup(func() { d.Close() })
	if _, err := d.Migrate(ctx); err != nil {
		t.Fatalf("migrating %s: %v", dialect, err)
	}
	return d
}

// URL returns the URL of a new, empty database of the given kind.
func URL(t testing.TB, dialect db.Dialect) string {
	t.Helper()
	switch dialect {
	case db.SQLite:
		return "sqlite:" + filepath.Join(t.TempDir(), "stipend.db")
	case db.Postgres:
		return postgresSchemaURL(t)
	}
	t.Fatalf("unknown dialect %q", dialect)
	return ""
}

var (
	pgOnce sync.Once
	pgErr  error
	pgBase string
)

// PostgresURL returns the URL of the PostgreSQL server for tests, skipping the test when it
// cannot be reached (failing it under CI=true).
func PostgresURL(t testing.TB) string {
	t.Helper()
	pgOnce.Do(func() {
		pgBase = os.Getenv("TEST_DATABASE_URL")
		if pgBase == "" {
			pgBase = DefaultPostgresURL
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		conn, err := sql.Open("pgx/v5", pgBase)
		if err == nil {
			err = conn.PingContext(ctx)
			conn.Close()
		}
		pgErr = err
	})
	if pgErr != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL at %s is unreachable and CI=true requires it: %v", redact(pgBase), pgErr)
		}
		t.Skipf("PostgreSQL at %s is unreachable (set TEST_DATABASE_URL): %v", redact(pgBase), pgErr)
	}
	return pgBase
}

func postgresSchemaURL(t testing.TB) string {
	t.Helper()
	base := PostgresURL(t)
	schema := "test_" + strings.TrimPrefix(stipend.NewID("s"), "s_")
	ctx := context.Background()
	admin, err := sql.Open("pgx/v5", base)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("creating schema: %v", err)
	}
	t.Cleanup(func() {
		admin, err := sql.Open("pgx/v5", base)
		if err != nil {
			return
		}
		defer admin.Close()
		if _, err := admin.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Logf("dropping schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

func redact(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(unparsable URL)"
	}
	return p.Redacted()
}
