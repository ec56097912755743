package store

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/accounts"
	"github.com/stipend/stipend/internal/db"
	"github.com/stipend/stipend/internal/dbtest"
	"github.com/stipend/stipend/payments/ledger"
)

// forEachStore runs fn against a fresh store on SQLite and on PostgreSQL.
func forEachStore(t *testing.T, fn func(t *testing.T, s *Store)) {
	t.Helper()
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) { fn(t, New(d, nil)) })
}

// newUser creates a user account with a handle derived from name.
func newUser(t testing.TB, s *Store, name string) *accounts.Account {
	t.Helper()
	a, err := createUser(s, name)
	if err != nil {
		t.Fatalf("creating account %s: %v", name, err)
	}
	return a
}

// createUser is newUser for goroutines, which must not call t.Fatal.
func createUser(s *Store, name string) (*accounts.Account, error) {
	id := stipend.NewID("acct")
	a := &accounts.Account{
		ID: id, Kind: accounts.KindUser,
		Handle:    strings.ToLower(name) + "-" + id[len(id)-10:],
		Name:      name,
		CreatedAt: time.Now().UTC(),
	}
	return a, s.CreateAccount(context.Background(), a)
}

// credit moves amount from the operator's external account into an account's wallet.
func credit(t testing.TB, s *Store, accountID string, amount ledger.Amount) *ledger.Transaction {
	t.Helper()
	tx, err := s.Post(context.Background(), ledger.Transfer("credit:"+stipend.NewID("k"), ledger.KindAdminCredit,
		ledger.OperatorAddress, ledger.AccountAddress(accountID), amount))
	if err != nil {
		t.Fatalf("crediting %s: %v", amount, err)
	}
	return tx
}

// available returns what an address can spend in one asset.
func available(t testing.TB, s *Store, address string, asset ledger.Asset) int64 {
	t.Helper()
	bs, err := s.Balances(context.Background(), address)
	if err != nil {
		t.Fatalf("balances of %s: %v", address, err)
	}
	for _, b := range bs {
		if b.Asset == asset {
			return b.Available
		}
	}
	return 0
}

// wantCode fails the test unless err carries the given error code.
func wantCode(t testing.TB, err error, code string) {
	t.Helper()
	if got := stipend.ErrorCode(err); got != code {
		t.Fatalf("error code = %q, want %q (err: %v)", got, code, err)
	}
}

// checkInvariants verifies the ledger as a whole: entries sum to zero per asset, per
// transaction and overall; every cached balance equals the sum of its entries; no bounded
// account is negative.
func checkInvariants(t testing.TB, s *Store) {
	t.Helper()
	ctx := context.Background()
	q := func(query string) [][]any {
		rows, err := s.db.Query(ctx, query)
		if err != nil {
			t.Fatalf("invariant query: %v", err)
		}
		defer rows.Close()
		var out [][]any
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			out = append(out, vals)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return out
	}
	if bad := q(`SELECT transaction_id, asset, SUM(amount) FROM ledger_entries GROUP BY transaction_id, asset HAVING SUM(amount) <> 0`); len(bad) > 0 {
		t.Fatalf("transactions whose entries do not sum to zero: %v", bad)
	}
	if bad := q(`SELECT b.address, b.asset, b.balance, COALESCE(e.total, 0) FROM ledger_balances b
		LEFT JOIN (SELECT address, asset, SUM(amount) AS total FROM ledger_entries GROUP BY address, asset) e
		ON e.address = b.address AND e.asset = b.asset
		WHERE b.balance <> COALESCE(e.total, 0)`); len(bad) > 0 {
		t.Fatalf("cached balances that differ from their entries: %v", bad)
	}
	if bad := q(`SELECT e.address, e.asset FROM ledger_entries e LEFT JOIN ledger_balances b
		ON b.address = e.address AND b.asset = e.asset WHERE b.address IS NULL`); len(bad) > 0 {
		t.Fatalf("entries without a balance row: %v", bad)
	}
	if bad := q(`SELECT address, asset, balance FROM ledger_balances WHERE balance < 0 AND address NOT LIKE 'external:%'`); len(bad) > 0 {
		t.Fatalf("bounded accounts below zero: %v", bad)
	}
	// A hold's own account holds what the hold has left: something while it is active,
	// nothing once it is released or captured.
	if bad := q(`SELECT h.id, h.status, COALESCE(b.balance, 0) FROM ledger_holds h
		LEFT JOIN ledger_balances b ON b.address = h.hold_address AND b.asset = h.asset
		WHERE (h.status = 'active') <> (COALESCE(b.balance, 0) > 0) OR COALESCE(b.balance, 0) > h.amount`); len(bad) > 0 {
		t.Fatalf("holds whose state disagrees with their account: %v", bad)
	}
}
