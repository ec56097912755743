// Package store implements the domain's storage interfaces (accounts, ledger, idempotency
// keys) on internal/db, with one set of SQL for SQLite and PostgreSQL.
package store

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"time"

	"github.com/stipend/stipend/internal/db"
)

// Store is the database adapter behind every domain Store interface.
type Store struct {
	db  *db.DB
	now func() time.Time

	schemaMu        sync.Mutex
	schemaCheckedAt time.Time
}

// New returns a Store on d. now is the clock; nil means time.Now.
func New(d *db.DB, now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	return &Store{db: d, now: now}
}

// DB returns the database the store runs on.
func (s *Store) DB() *db.DB { return s.db }

// Ready reports whether the database answers and its schema is at least the one this binary
// expects. A schema that is newer is fine: during a rolling upgrade the first new server
// migrates, and the old ones go on serving until they are replaced. The schema check is
// remembered for a few seconds, so that frequent probes do not queue behind writes.
func (s *Store) Ready(ctx context.Context) error {
	if err := s.db.Ping(ctx); err != nil {
		return err
	}
	s.schemaMu.Lock()
	defer s.schemaMu.Unlock()
	if time.Since(s.schemaCheckedAt) < schemaCheckEvery {
		return nil
	}
	current, latest, err := s.db.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	if current < latest {
		return fmt.Errorf("database schema is at version %d, this binary needs %d", current, latest)
	}
	s.schemaCheckedAt = time.Now()
	return nil
}

// schemaCheckEvery is how long a successful schema check is trusted.
const schemaCheckEvery = 5 * time.Second

func (s *Store) nowMicros() int64 { return s.now().UTC().UnixMicro() }

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

func fromNullMicros(n sql.NullInt64) *time.Time {
	if !n.Valid {
		return nil
	}
	t := fromMicros(n.Int64)
	return &t
}

func nullMicros(t *time.Time) sql.NullInt64 {
	if t == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UTC().UnixMicro(), Valid: true}
}

func nullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

// placeholders returns "?, ?, ?" for n values.
func placeholders(n int) string {
	b := make([]byte, 0, 3*n)
	for i := 0; i < n; i++ {
		if i > 0 {
			b = append(b, ',', ' ')
		}
		b = append(b, '?')
	}
	return string(b)
}
