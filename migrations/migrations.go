// Package migrations holds Stipend's one set of SQL migrations, embedded in the binary and
// applied by goose to SQLite and PostgreSQL alike. The SQL is written in the subset both
// databases share: TEXT ids, BIGINT amounts and unix-microsecond times, BOOLEAN flags.
//
// Version 2, the triggers that make the ledger append-only, is the one step whose syntax
// differs between the databases; it is a Go migration in internal/db (append_only.go), and the
// next SQL file here is 00003.
package migrations

import "embed"

// FS holds the migration files, named NNNNN_description.sql.
//
//go:embed *.sql
var FS embed.FS
