// Package db opens Stipend's database, SQLite or PostgreSQL, applies the migrations and runs
// transactions that are retried when the database asks for it (serialization failures,
// deadlocks, SQLite busy errors).
//
// Queries are written once with '?' placeholders and rewritten for PostgreSQL.
package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx/v5" driver
	_ "modernc.org/sqlite"             // registers the "sqlite" driver
)

// pgxDriver names pgx v5's database/sql driver. Not "pgx": lnd's dependencies bring pgx v4,
// whose driver registers that name first, and its errors are another type (jackc/pgconn, not
// pgx/v5/pgconn), which would hide unique violations and serialization failures from the
// checks in errors.go.
const pgxDriver = "pgx/v5"

// Dialect is the kind of database behind a DB.
type Dialect string

// The supported databases.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// DB is an open database. For SQLite it holds two pools: one connection for writes, so that
// writers queue in Go instead of failing with "database is locked", and several read-only
// connections that WAL mode lets run beside the writer. For PostgreSQL both are one pool.
type DB struct {
	dialect Dialect
	write   *sql.DB
	read    *sql.DB

	rebindMu sync.RWMutex
	rebinds  map[string]string
}

// ParseURL returns the dialect of a database URL and, for SQLite, the file path.
// Accepted forms: postgres://…, postgresql://…, sqlite:PATH and sqlite://PATH.
func ParseURL(u string) (Dialect, string, error) {
	switch {
	case strings.HasPrefix(u, "postgres://"), strings.HasPrefix(u, "postgresql://"):
		if _, err := url.Parse(u); err != nil {
			return "", "", errors.New("not a valid postgres:// URL")
		}
		return Postgres, "", nil
	case strings.HasPrefix(u, "sqlite://"):
		return sqlitePath(strings.TrimPrefix(u, "sqlite://"))
	case strings.HasPrefix(u, "sqlite:"):
		return sqlitePath(strings.TrimPrefix(u, "sqlite:"))
	default:
		return "", "", errors.New("must start with postgres://, postgresql:// or sqlite:")
	}
}

func sqlitePath(p string) (Dialect, string, error) {
	if p == "" || strings.ContainsAny(p, "?#") {
		return "", "", errors.New("sqlite: needs a file path without '?' or '#'")
	}
	return SQLite, p, nil
}

// Option tunes Open.
type Option func(*options)

type options struct{ maxConns int }

// MaxConns bounds the connections to PostgreSQL (default 32), and SQLite's readers. Tests
// that run many databases side by side on one server keep it small.
func MaxConns(n int) Option { return func(o *options) { o.maxConns = n } }

// Open connects to the database at u and checks that it answers. It does not migrate.
func Open(ctx context.Context, u string, opts ...Option) (*DB, error) {
	o := options{maxConns: 32}
	for _, opt := range opts {
		opt(&o)
	}
	dialect, path, err := ParseURL(u)
	if err != nil {
		return nil, err
	}
	d := &DB{dialect: dialect, rebinds: make(map[string]string)}
	switch dialect {
	case SQLite:
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("creating the directory of the database: %w", err)
		}
		// Durability comes first: FULL makes every commit reach the disk before it returns.
		pragmas := "_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=synchronous(FULL)"
		d.write, err = sql.Open("sqlite", "file:"+path+"?"+pragmas+"&_pragma=journal_mode(WAL)&_txlock=immediate")
		if err != nil {
			return nil, err
		}
		d.write.SetMaxOpenConns(1)
		d.write.SetConnMaxIdleTime(0)
		// The writer must create the file and switch it to WAL before readers open it.
		if err := d.write.PingContext(ctx); err != nil {
			d.write.Close()
			return nil, fmt.Errorf("opening SQLite database %s: %w", path, err)
		}
		d.read, err = sql.Open("sqlite", "file:"+path+"?"+pragmas+"&_pragma=query_only(1)")
		if err != nil {
			d.write.Close()
			return nil, err
		}
		n := min(max(4, runtime.NumCPU()), o.maxConns)
		d.read.SetMaxOpenConns(n)
		d.read.SetMaxIdleConns(n)
	case Postgres:
		d.write, err = sql.Open(pgxDriver, u)
		if err != nil {
			return nil, err
		}
		d.write.SetMaxOpenConns(o.maxConns)
		d.write.SetMaxIdleConns(o.maxConns)
		d.write.SetConnMaxIdleTime(5 * time.Minute)
		d.read = d.write
	}
	if err := d.Ping(ctx); err != nil {
		d.Close()
		return nil, fmt.Errorf("connecting to %s: %w", dialect, err)
	}
	return d, nil
}

// Dialect reports which database d is.
func (d *DB) Dialect() Dialect { return d.dialect }

// Ping checks that the database answers.
func (d *DB) Ping(ctx context.Context) error {
	if err := d.write.PingContext(ctx); err != nil {
		return err
	}
	if d.read != d.write {
		return d.read.PingContext(ctx)
	}
	return nil
}

// Close closes every connection.
func (d *DB) Close() error {
	err := d.write.Close()
	if d.read != nil && d.read != d.write {
		err = errors.Join(err, d.read.Close())
	}
	return err
}

// Query runs a read-only query outside any transaction.
func (d *DB) Query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return d.read.QueryContext(ctx, d.rebind(q), args...)
}

// QueryRow runs a read-only query that returns at most one row.
func (d *DB) QueryRow(ctx context.Context, q string, args ...any) *sql.Row {
	return d.read.QueryRowContext(ctx, d.rebind(q), args...)
}

// Tx is a database transaction. Its queries use '?' placeholders.
type Tx struct {
	tx *sql.Tx
	db *DB
}

// Exec runs a statement.
func (t *Tx) Exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return t.tx.ExecContext(ctx, t.db.rebind(q), args...)
}

// Query runs a query.
func (t *Tx) Query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return t.tx.QueryContext(ctx, t.db.rebind(q), args...)
}

// QueryRow runs a query that returns at most one row.
func (t *Tx) QueryRow(ctx context.Context, q string, args ...any) *sql.Row {
	return t.tx.QueryRowContext(ctx, t.db.rebind(q), args...)
}

// Dialect reports which database the transaction runs on.
func (t *Tx) Dialect() Dialect { return t.db.dialect }

// maxAttempts bounds how often InTx runs a function whose transaction the database aborted.
const maxAttempts = 12

// InTx runs fn in a transaction and commits it. When the database aborts the transaction for
// a reason that a retry can cure (a serialization failure, a deadlock, SQLite being busy), fn
// runs again in a new transaction, so fn must do nothing but database work: no rail call, no
// message to the outside world. Any error fn returns rolls the transaction back.
func (d *DB) InTx(ctx context.Context, fn func(*Tx) error) error {
	var err error
	for attempt := 0; attempt < maxAttempts; attempt++ {
		if attempt > 0 {
			if werr := sleep(ctx, backoff(attempt)); werr != nil {
				return errors.Join(err, werr)
			}
		}
		err = d.runTx(ctx, fn)
		if err == nil || !IsRetryable(err) {
			return err
		}
	}
	return fmt.Errorf("transaction aborted %d times: %w", maxAttempts, err)
}

func (d *DB) runTx(ctx context.Context, fn func(*Tx) error) (err error) {
	sqlTx, err := d.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() {
		if p := recover(); p != nil {
			_ = sqlTx.Rollback()
			panic(p)
		}
		if err != nil {
			_ = sqlTx.Rollback()
		}
	}()
	if err = fn(&Tx{tx: sqlTx, db: d}); err != nil {
		return err
	}
	return sqlTx.Commit()
}

// backoff grows from about 2 ms to about 250 ms, with jitter so that the losers of a
// conflict do not collide again in step.
func backoff(attempt int) time.Duration {
	base := time.Duration(1<<min(attempt, 7)) * 2 * time.Millisecond
	return base/2 + rand.N(base)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// rebind rewrites '?' placeholders as $1, $2, … for PostgreSQL. Stipend's queries hold no
// '?' inside string literals, which keeps the rewrite simple. Results are cached per query.
func (d *DB) rebind(q string) string {
	if d.dialect != Postgres {
		return q
	}
	d.rebindMu.RLock()
	r, ok := d.rebinds[q]
	d.rebindMu.RUnlock()
	if ok {
		return r
	}
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteByte(q[i])
	}
	r = b.String()
	d.rebindMu.Lock()
	d.rebinds[q] = r
	d.rebindMu.Unlock()
	return r
}
