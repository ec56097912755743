package db_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/stipend/stipend/internal/db"
	"github.com/stipend/stipend/internal/dbtest"
	// Linked for its dependencies: lnd's bring pgx v4, whose driver takes the name "pgx".
	_ "github.com/stipend/stipend/internal/regtest"
)

func TestParseURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		url     string
		dialect db.Dialect
		path    string
		ok      bool
	}{
		{"postgres://u@localhost:5432/stipend?sslmode=disable", db.Postgres, "", true},
		{"postgresql://u@localhost/stipend", db.Postgres, "", true},
		{"sqlite:/var/lib/stipend/stipend.db", db.SQLite, "/var/lib/stipend/stipend.db", true},
		{"sqlite:///var/lib/stipend.db", db.SQLite, "/var/lib/stipend.db", true},
		{"sqlite:data/stipend.db", db.SQLite, "data/stipend.db", true},
		{"sqlite:", "", "", false},
		{"sqlite:x.db?mode=memory", "", "", false},
		{"mysql://root@localhost/x", "", "", false},
		{"", "", "", false},
		{"postgres://%zz", "", "", false},
	}
	for _, tt := range tests {
		d, p, err := db.ParseURL(tt.url)
		if (err == nil) != tt.ok || d != tt.dialect || p != tt.path {
			t.Errorf("ParseURL(%q) = %q, %q, %v; want %q, %q, ok=%v", tt.url, d, p, err, tt.dialect, tt.path, tt.ok)
		}
	}
}

// TestMigrateIsIdempotent applies the migrations to a database that has them: nothing
// happens, and the schema reports itself current.
func TestMigrateIsIdempotent(t *testing.T) {
	t.Parallel()
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		applied, err := d.Migrate(ctx)
		if err != nil || len(applied) != 0 {
			t.Fatalf("second migration applied %v, %v", applied, err)
		}
		current, latest, err := d.SchemaVersion(ctx)
		if err != nil || current != latest || current < 1 {
			t.Fatalf("schema version %d of %d, %v", current, latest, err)
		}
	})
}

func TestSchemaVersionOfAnEmptyDatabaseIsBehind(t *testing.T) {
	t.Parallel()
	for _, dialect := range dbtest.Dialects {
		t.Run(string(dialect), func(t *testing.T) {
			t.Parallel()
			d, err := db.Open(context.Background(), dbtest.URL(t, dialect))
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			current, latest, err := d.SchemaVersion(context.Background())
			if err != nil || current != 0 || latest < 1 {
				t.Fatalf("empty database at %d of %d, %v", current, latest, err)
			}
		})
	}
}

// TestInTxRetriesWhatTheDatabaseAsksToRetry checks that serialization failures and deadlocks
// are retried with the work rolled back each time, and that other errors are not retried.
func TestInTxRetriesWhatTheDatabaseAsksToRetry(t *testing.T) {
	t.Parallel()
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		if err := d.InTx(ctx, func(tx *db.Tx) error {
			_, err := tx.Exec(ctx, `CREATE TABLE retry_probe (n INTEGER NOT NULL)`)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		var attempts atomic.Int32
		err := d.InTx(ctx, func(tx *db.Tx) error {
			if _, err := tx.Exec(ctx, `INSERT INTO retry_probe (n) VALUES (?)`, attempts.Add(1)); err != nil {
				return err
			}
			if attempts.Load() < 3 {
				return &pgconn.PgError{Code: "40001", Message: "could not serialize access"}
			}
			return nil
		})
		if err != nil || attempts.Load() != 3 {
			t.Fatalf("InTx = %v after %d attempts, want success on the third", err, attempts.Load())
		}
		var rows int
		if err := d.QueryRow(ctx, `SELECT COUNT(*) FROM retry_probe`).Scan(&rows); err != nil || rows != 1 {
			t.Fatalf("%d rows after retries, want 1: aborted attempts must leave nothing (%v)", rows, err)
		}

		attempts.Store(0)
		plain := errors.New("a business rule said no")
		err = d.InTx(ctx, func(tx *db.Tx) error {
			attempts.Add(1)
			return plain
		})
		if !errors.Is(err, plain) || attempts.Load() != 1 {
			t.Fatalf("InTx = %v after %d attempts, want the error after one", err, attempts.Load())
		}
	})
}

// TestInTxSurvivesARealDeadlock makes two transactions lock two rows in opposite orders on
// PostgreSQL. The server aborts one of them with a deadlock error; InTx runs it again and both
// complete.
func TestInTxSurvivesARealDeadlock(t *testing.T) {
	t.Parallel()
	d := dbtest.Open(t, db.Postgres)
	ctx := context.Background()
	if err := d.InTx(ctx, func(tx *db.Tx) error {
		if _, err := tx.Exec(ctx, `CREATE TABLE deadlock_probe (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)`); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO deadlock_probe (id, n) VALUES (1, 0), (2, 0)`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var both sync.WaitGroup
	both.Add(2)
	var firstLocks sync.WaitGroup
	firstLocks.Add(2)
	var attempts atomic.Int32
	run := func(first, second int) error {
		try := 0
		return d.InTx(ctx, func(tx *db.Tx) error {
			try++
			attempts.Add(1)
			if _, err := tx.Exec(ctx, `UPDATE deadlock_probe SET n = n + 1 WHERE id = ?`, first); err != nil {
				return err
			}
			if try == 1 {
				firstLocks.Done()
				firstLocks.Wait() // both hold their first row: the second updates deadlock
			}
			_, err := tx.Exec(ctx, `UPDATE deadlock_probe SET n = n + 1 WHERE id = ?`, second)
			return err
		})
	}
	errs := make(chan error, 2)
	go func() { defer both.Done(); errs <- run(1, 2) }()
	go func() { defer both.Done(); errs <- run(2, 1) }()
	both.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("a transaction failed despite the retry: %v", err)
		}
	}
	if attempts.Load() < 3 {
		t.Fatalf("%d attempts: the deadlock never happened, so nothing was retried", attempts.Load())
	}
	var n1, n2 int
	if err := d.QueryRow(ctx, `SELECT (SELECT n FROM deadlock_probe WHERE id = 1), (SELECT n FROM deadlock_probe WHERE id = 2)`).Scan(&n1, &n2); err != nil {
		t.Fatal(err)
	}
	if n1 != 2 || n2 != 2 {
		t.Fatalf("rows at %d and %d, want 2 and 2: each transaction applied exactly once", n1, n2)
	}
}

// TestSQLiteBusyIsClassifiedRetryable holds SQLite's write lock from a foreign connection
// that will not wait, so that its write fails with a real SQLITE_BUSY, and checks that
// IsRetryable, which decides InTx's retries, recognises it. (Stipend's own connections wait
// up to ten seconds for the lock before they would see this error, too long for a test.)
func TestSQLiteBusyIsClassifiedRetryable(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "busy.db")
	d, err := db.Open(context.Background(), "sqlite:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx := context.Background()
	if err := d.InTx(ctx, func(tx *db.Tx) error {
		_, err := tx.Exec(ctx, `CREATE TABLE busy_probe (n INTEGER)`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	other, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(0)")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	holding := make(chan struct{})
	release := make(chan struct{})
	go func() {
		_ = d.InTx(ctx, func(tx *db.Tx) error {
			if _, err := tx.Exec(ctx, `INSERT INTO busy_probe (n) VALUES (1)`); err != nil {
				return err
			}
			close(holding)
			<-release
			return nil
		})
	}()
	<-holding
	_, err = other.ExecContext(ctx, `INSERT INTO busy_probe (n) VALUES (2)`)
	close(release)
	if err == nil || !db.IsRetryable(err) {
		t.Fatalf("write against a held lock = %v, want a retryable busy error", err)
	}
	// Once the lock is free the same write goes through.
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err = other.ExecContext(ctx, `INSERT INTO busy_probe (n) VALUES (2)`); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
}

func TestConstraintErrorsAreRecognised(t *testing.T) {
	t.Parallel()
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		exec := func(q string, args ...any) error {
			return d.InTx(ctx, func(tx *db.Tx) error { _, err := tx.Exec(ctx, q, args...); return err })
		}
		if err := exec(`INSERT INTO accounts (id, kind, handle, name, created_at) VALUES ('acct_1', 'user', 'one', 'One', 0)`); err != nil {
			t.Fatal(err)
		}
		err := exec(`INSERT INTO accounts (id, kind, handle, name, created_at) VALUES ('acct_2', 'user', 'one', 'Two', 0)`)
		if !db.IsUniqueViolation(err) {
			t.Fatalf("duplicate handle: %v", err)
		}
		err = exec(`INSERT INTO api_keys (id, account_id, name, hint, secret_hash, scopes, created_at) VALUES ('k', 'acct_missing', 'n', 'h', 'x', '', 0)`)
		if !db.IsForeignKeyViolation(err) {
			t.Fatalf("key of a missing account: %v", err)
		}
		err = exec(`INSERT INTO accounts (id, kind, handle, name, created_at) VALUES ('acct_3', 'robot', 'three', 'Three', 0)`)
		if !db.IsCheckViolation(err) {
			t.Fatalf("unknown kind: %v", err)
		}
		if db.IsRetryable(err) || db.IsUniqueViolation(nil) {
			t.Fatal("a constraint error is not retryable, and nil is no violation")
		}
	})
}

// TestLedgerHistoryIsAppendOnly tries to change and delete posted ledger rows directly in the
// database, as a buggy query or a careless operator might: the database itself refuses.
func TestLedgerHistoryIsAppendOnly(t *testing.T) {
	t.Parallel()
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		err := d.InTx(ctx, func(tx *db.Tx) error {
			for _, q := range []string{
				`INSERT INTO ledger_accounts (address, allow_negative, created_at) VALUES ('external:a', TRUE, 0), ('external:b', TRUE, 0)`,
				`INSERT INTO ledger_transactions (id, idempotency_key, input_hash, kind, memo, metadata, created_by, created_at)
					VALUES ('tx_1', 'k1', 'h', 'transfer', '', '{}', '', 0)`,
				`INSERT INTO ledger_entries (transaction_id, seq, address, asset, amount) VALUES ('tx_1', 0, 'external:a', 'BTC', -5), ('tx_1', 1, 'external:b', 'BTC', 5)`,
			} {
				if _, err := tx.Exec(ctx, q); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range []string{
			`UPDATE ledger_entries SET amount = 500 WHERE transaction_id = 'tx_1' AND seq = 1`,
			`DELETE FROM ledger_entries WHERE transaction_id = 'tx_1'`,
			`UPDATE ledger_transactions SET memo = 'rewritten' WHERE id = 'tx_1'`,
			`DELETE FROM ledger_transactions WHERE id = 'tx_1'`,
		} {
			err := d.InTx(ctx, func(tx *db.Tx) error { _, err := tx.Exec(ctx, q); return err })
			if err == nil || !strings.Contains(err.Error(), "append-only") {
				t.Errorf("%s: %v, want an append-only refusal", q, err)
			}
		}
		var n int
		if err := d.QueryRow(ctx, `SELECT COUNT(*) FROM ledger_entries WHERE transaction_id = 'tx_1' AND amount IN (-5, 5)`).Scan(&n); err != nil || n != 2 {
			t.Fatalf("entries after the attempts: %d, %v", n, err)
		}
	})
}

// TestPostgresErrorsAreRecognisedInABinaryWithLnd guards against pgx v4's driver, which lnd's
// dependencies register under the name "pgx": the store must be on pgx v5, whose errors the
// checks recognise. This test binary links lnd's packages through regtest, so a store opened
// with the wrong driver would fail here.
func TestPostgresErrorsAreRecognisedInABinaryWithLnd(t *testing.T) {
	t.Parallel()
	d := dbtest.Open(t, db.Postgres)
	ctx := context.Background()
	exec := func(q string) error {
		return d.InTx(ctx, func(tx *db.Tx) error { _, err := tx.Exec(ctx, q); return err })
	}
	if err := exec(`INSERT INTO accounts (id, kind, handle, name, created_at) VALUES ('a1', 'user', 'same', 'A', 0)`); err != nil {
		t.Fatal(err)
	}
	if err := exec(`INSERT INTO accounts (id, kind, handle, name, created_at) VALUES ('a2', 'user', 'same', 'B', 0)`); !db.IsUniqueViolation(err) {
		t.Fatalf("a duplicate handle on PostgreSQL was not recognised as a unique violation: %T %v", err, err)
	}
}

// TestQuestionsSurviveTheHoldInvoiceMigration fills the schema of version 7 with a charity and
// a question escrowed by a balance hold, and upgrades: migration 8 rebuilds the questions
// table, and the question must come through whole, with its answer window taken from its
// deadline, while the new table takes questions without a balance hold; migration 9 gives the
// charity its account.
func TestQuestionsSurviveTheHoldInvoiceMigration(t *testing.T) {
	t.Parallel()
	for _, dialect := range dbtest.Dialects {
		t.Run(string(dialect), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			d, err := db.Open(ctx, dbtest.URL(t, dialect))
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			if err := d.MigrateTo(ctx, 7); err != nil {
				t.Fatal(err)
			}
			for _, stmt := range []string{
				`INSERT INTO accounts (id, kind, handle, name, created_at) VALUES ('acct_a', 'user', 'asker', 'A', 0), ('acct_e', 'user', 'expert', 'E', 0)`,
				`INSERT INTO charities (id, handle, name, website, receipt, destinations, created_at)
					VALUES ('chy_0123456789abcdef0123456789abcdef', 'eff', 'EFF', '', 'EFF Inc', '{}', 5)`,
				`INSERT INTO ledger_accounts (address, owner_id, allow_negative, created_at) VALUES ('accounts:acct_a', 'acct_a', FALSE, 0), ('holds:h1', NULL, FALSE, 0)`,
				`INSERT INTO ledger_holds (id, idempotency_key, input_hash, address, hold_address, asset, amount, status, created_at)
					VALUES ('h1', 'question:q1', 'x', 'accounts:acct_a', 'holds:h1', 'BTC', 5000, 'active', 1000)`,
				`INSERT INTO questions (id, idempotency_key, input_hash, expert_id, asker_id, body, asset, price, fee_bps, charity_id,
					charity_share, escrow, hold_id, status, deadline, answer, decline_reason, fee, charity_amount, earnings, rating,
					rating_comment, created_at) VALUES ('q1', 'k1', 'x', 'acct_e', 'acct_a', 'Why so', 'BTC', 5000, 250, NULL, 0,
					'balance', 'h1', 'open', 3600001000, '', '', 0, 0, 0, 0, '', 1000)`,
			} {
				if err := exec(ctx, d, stmt); err != nil {
					t.Fatalf("%s: %v", stmt, err)
				}
			}
			if _, err := d.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			var window, deadline int64
			var escrow, hold, status, body string
			err = d.QueryRow(ctx, `SELECT answer_window, deadline, escrow, hold_id, status, body FROM questions WHERE id = 'q1'`).
				Scan(&window, &deadline, &escrow, &hold, &status, &body)
			if err != nil || window != 3_600_000_000 || deadline != 3_600_001_000 || escrow != "balance" || hold != "h1" || status != "open" || body != "Why so" {
				t.Fatalf("after the upgrade: window %d, deadline %d, %s, %s, %s, %q, %v", window, deadline, escrow, hold, status, body, err)
			}
			var account, kind, handle string
			err = d.QueryRow(ctx, `SELECT c.account_id, a.kind, a.handle FROM charities c JOIN accounts a ON a.id = c.account_id`).
				Scan(&account, &kind, &handle)
			if err != nil || account != "acct_0123456789abcdef0123456789abcdef" || kind != "org" || handle != "eff" {
				t.Fatalf("the charity's account after the upgrade: %s, %s, %s, %v", account, kind, handle, err)
			}
			insert := `INSERT INTO questions (id, idempotency_key, input_hash, expert_id, asker_id, body, asset, price, fee_bps,
				charity_share, escrow, hold_id, status, answer_window, deadline, answer, decline_reason, fee, charity_amount, earnings,
				rating, rating_comment, created_at) VALUES (?, ?, 'x', 'acct_e', 'acct_a', 'Paid by invoice', 'BTC', 5000, 250, 0,
				?, ?, 'awaiting_payment', 3600000000, 3600001000, '', '', 0, 0, 0, 0, '', 1000)`
			if err := exec(ctx, d, insert, "q2", "k2", "lightning", nil); err != nil {
				t.Fatalf("a Lightning question after the upgrade: %v", err)
			}
			// Balance escrow without a hold, and Lightning escrow with one, are refused.
			for _, c := range []struct {
				escrow string
				hold   any
			}{{"balance", nil}, {"lightning", "h1"}} {
				if err := exec(ctx, d, insert, "q_"+c.escrow, "k_"+c.escrow, c.escrow, c.hold); !db.IsCheckViolation(err) {
					t.Errorf("escrow %s with hold %v: %v, want a check violation", c.escrow, c.hold, err)
				}
			}
		})
	}
}

// exec runs one statement in a transaction of its own.
func exec(ctx context.Context, d *db.DB, q string, args ...any) error {
	return d.InTx(ctx, func(tx *db.Tx) error {
		_, err := tx.Exec(ctx, q, args...)
		return err
	})
}
