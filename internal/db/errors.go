package db

import (
	"errors"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
)

// SQLite result codes (https://sqlite.org/rescode.html) and PostgreSQL SQLSTATEs that the
// store needs to tell apart.
const (
	sqliteBusy             = 5
	sqliteLocked           = 6
	sqliteConstraintFK     = 787
	sqliteConstraintUnique = 2067
	sqliteConstraintPK     = 1555
	sqliteConstraintCheck  = 275

	pgSerializationFailure = "40001"
	pgDeadlock             = "40P01"
	pgTooManyConnections   = "53300"
	pgCannotConnectNow     = "57P03"
	pgUniqueViolation      = "23505"
	pgForeignKeyViolation  = "23503"
	pgCheckViolation       = "23514"
)

func sqliteCode(err error) (int, bool) {
	var e *sqlite.Error
	if errors.As(err, &e) {
		return e.Code(), true
	}
	return 0, false
}

func pgCode(err error) (string, bool) {
	var e *pgconn.PgError
	if errors.As(err, &e) {
		return e.Code, true
	}
	return "", false
}

// IsRetryable reports whether err aborted a transaction that can simply run again.
func IsRetryable(err error) bool {
	if c, ok := sqliteCode(err); ok {
		return c&0xff == sqliteBusy || c&0xff == sqliteLocked
	}
	if c, ok := pgCode(err); ok {
		// The server being full or starting up passes, like a conflict; waiting is the cure.
		return c == pgSerializationFailure || c == pgDeadlock || c == pgTooManyConnections || c == pgCannotConnectNow
	}
	return false
}

// IsUniqueViolation reports whether err is a unique or primary key constraint failure.
func IsUniqueViolation(err error) bool {
	if c, ok := sqliteCode(err); ok {
		return c == sqliteConstraintUnique || c == sqliteConstraintPK
	}
	c, ok := pgCode(err)
	return ok && c == pgUniqueViolation
}

// IsForeignKeyViolation reports whether err is a foreign key constraint failure.
func IsForeignKeyViolation(err error) bool {
	if c, ok := sqliteCode(err); ok {
		return c == sqliteConstraintFK
	}
	c, ok := pgCode(err)
	return ok && c == pgForeignKeyViolation
}

// IsCheckViolation reports whether err is a CHECK constraint failure.
func IsCheckViolation(err error) bool {
	if c, ok := sqliteCode(err); ok {
		return c == sqliteConstraintCheck
	}
	c, ok := pgCode(err)
	return ok && c == pgCheckViolation
}
