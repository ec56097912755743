package db

import (
	"context"
	"database/sql"

	"github.com/pressly/goose/v3"
)

// appendOnlyVersion is the migration that makes the ledger's history append-only in the
// database itself: an UPDATE or DELETE of a posted transaction or entry fails, whoever sends
// it. Trigger syntax differs between SQLite and PostgreSQL, so this one migration of the set
// is Go, with the statements of each dialect; every other migration is shared SQL.
const appendOnlyVersion = 2

var appendOnlyTables = []string{"ledger_transactions", "ledger_entries"}

func appendOnlyMigration(dialect Dialect) *goose.Migration {
	up := func(ctx context.Context, tx *sql.Tx) error {
		var stmts []string
		switch dialect {
		case Postgres:
			stmts = append(stmts, `CREATE FUNCTION stipend_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION '% is append-only: post a reversing transaction instead', TG_TABLE_NAME
		USING ERRCODE = 'restrict_violation';
END $$`)
			for _, t := range appendOnlyTables {
				stmts = append(stmts, `CREATE TRIGGER `+t+`_append_only BEFORE UPDATE OR DELETE ON `+t+
					` FOR EACH ROW EXECUTE FUNCTION stipend_append_only()`)
			}
		case SQLite:
			for _, t := range appendOnlyTables {
				for _, op := range []string{"UPDATE", "DELETE"} {
					stmts = append(stmts, `CREATE TRIGGER `+t+`_no_`+op+` BEFORE `+op+` ON `+t+
						` BEGIN SELECT RAISE(ABORT, '`+t+` is append-only: post a reversing transaction instead'); END`)
				}
			}
		}
		return execAll(ctx, tx, stmts)
	}
	down := func(ctx context.Context, tx *sql.Tx) error {
		var stmts []string
		for _, t := range appendOnlyTables {
			switch dialect {
			case Postgres:
				stmts = append(stmts, `DROP TRIGGER `+t+`_append_only ON `+t)
			case SQLite:
				stmts = append(stmts, `DROP TRIGGER `+t+`_no_UPDATE`, `DROP TRIGGER `+t+`_no_DELETE`)
			}
		}
		if dialect == Postgres {
			stmts = append(stmts, `DROP FUNCTION stipend_append_only()`)
		}
		return execAll(ctx, tx, stmts)
	}
	return goose.NewGoMigration(appendOnlyVersion, &goose.GoFunc{RunTx: up}, &goose.GoFunc{RunTx: down})
}

func execAll(ctx context.Context, tx *sql.Tx, stmts []string) error {
	for _, s := range stmts {
		if _, err := tx.ExecContext(ctx, s); err != nil {
			return err
		}
	}
	return nil
}
