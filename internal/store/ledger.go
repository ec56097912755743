package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"math"
	"sort"
	"strings"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/internal/db"
	"github.com/stipend/stipend/payments/ledger"
)

var _ ledger.Store = (*Store)(nil)

// Post implements ledger.Store.
func (s *Store) Post(ctx context.Context, t ledger.NewTransaction) (*ledger.Transaction, error) {
	if err := t.Validate(); err != nil {
		return nil, err
	}
	for _, e := range t.Entries {
		if ledger.IsHold(e.Address) {
			return nil, stipend.Errorf(stipend.EINVALID, "hold accounts move only through holds")
		}
	}
	var out *ledger.Transaction
	err := s.db.InTx(ctx, func(tx *db.Tx) error {
		var err error
		out, _, err = s.post(ctx, tx, t, "")
		return err
	})
	return out, err
}

// post writes t inside tx: the transaction row (or, for a key already used with the same
// content, nothing), its entries, and the balance of every account it touches. A debit that
// would take a bounded account below zero fails the whole transaction. replayed reports that
// the key had been posted before and nothing was written.
func (s *Store) post(ctx context.Context, tx *db.Tx, t ledger.NewTransaction, reverses string) (out *ledger.Transaction, replayed bool, err error) {
	if err := t.Validate(); err != nil {
		return nil, false, err
	}
	hash := t.Hash()
	meta := "{}"
	if len(t.Metadata) > 0 {
		b, err := json.Marshal(t.Metadata)
		if err != nil {
			return nil, false, err
		}
		meta = string(b)
	}
	now := s.nowMicros()
	id := stipend.NewID("tx")
	res, err := tx.Exec(ctx, `INSERT INTO ledger_transactions
		(id, idempotency_key, input_hash, kind, memo, metadata, created_by, reverses, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (idempotency_key) DO NOTHING`,
		id, t.Key, hash, t.Kind, t.Memo, meta, t.CreatedBy, nullString(reverses), now)
	if db.IsUniqueViolation(err) {
		return nil, false, stipend.Errorf(stipend.ECONFLICT, "transaction %s is already reversed", reverses)
	}
	if db.IsForeignKeyViolation(err) {
		return nil, false, stipend.Errorf(stipend.ENOTFOUND, "no transaction %s", reverses)
	}
	if err != nil {
		return nil, false, err
	}
	if n, err := res.RowsAffected(); err != nil {
		return nil, false, err
	} else if n == 0 {
		prev, prevHash, err := s.transactionByKey(ctx, tx, t.Key)
		if err != nil {
			return nil, false, err
		}
		if prevHash != hash {
			return nil, false, stipend.Errorf(stipend.EIDEMPOTENCYMISMATCH, "key %q was already used for a different transaction", t.Key)
		}
		return prev, true, nil
	}

	if err := ensureLedgerAccounts(ctx, tx, t.Entries, now); err != nil {
		return nil, false, err
	}
	args := make([]any, 0, 5*len(t.Entries))
	rows := make([]string, 0, len(t.Entries))
	for i, e := range t.Entries {
		rows = append(rows, "(?, ?, ?, ?, ?)")
		args = append(args, id, i, e.Address, string(e.Asset), e.Amount)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO ledger_entries (transaction_id, seq, address, asset, amount) VALUES `+
		strings.Join(rows, ", "), args...); err != nil {
		return nil, false, err
	}
	// Balances are updated in one global order so that two transactions touching the same
	// accounts lock them in the same order and cannot deadlock.
	sorted := append([]ledger.Entry(nil), t.Entries...)
	sort.Slice(sorted, func(i, j int) bool {
		if sorted[i].Address != sorted[j].Address {
			return sorted[i].Address < sorted[j].Address
		}
		return sorted[i].Asset < sorted[j].Asset
	})
	for _, e := range sorted {
		if err := applyBalance(ctx, tx, e); err != nil {
			return nil, false, err
		}
	}
	return &ledger.Transaction{
		ID: id, Key: t.Key, Kind: t.Kind, Memo: t.Memo, Metadata: t.Metadata, CreatedBy: t.CreatedBy,
		Reverses: reverses, CreatedAt: fromMicros(now), Entries: t.Entries,
	}, false, nil
}

// ensureLedgerAccounts creates, in one statement, the ledger accounts of entries that are used
// for the first time. A wallet whose user or organisation does not exist fails the foreign key
// on owner_id.
func ensureLedgerAccounts(ctx context.Context, tx *db.Tx, entries []ledger.Entry, now int64) error {
	rows := make([]string, 0, len(entries))
	args := make([]any, 0, 4*len(entries))
	seen := make(map[string]bool, len(entries))
	for _, e := range entries {
		if seen[e.Address] {
			continue
		}
		seen[e.Address] = true
		rows = append(rows, "(?, ?, ?, ?)")
		args = append(args, e.Address, nullString(ledger.OwnerOf(e.Address)), ledger.AllowsNegative(e.Address), now)
	}
	_, err := tx.Exec(ctx, `INSERT INTO ledger_accounts (address, owner_id, allow_negative, created_at) VALUES `+
		strings.Join(rows, ", ")+` ON CONFLICT (address) DO NOTHING`, args...)
	if db.IsForeignKeyViolation(err) {
		return stipend.Errorf(stipend.ENOTFOUND, "an account named in the transaction does not exist")
	}
	return err
}

// ensureLedgerAccount creates one ledger account with an explicit owner, such as a hold's.
func ensureLedgerAccount(ctx context.Context, tx *db.Tx, address, owner string, now int64) error {
	_, err := tx.Exec(ctx, `INSERT INTO ledger_accounts (address, owner_id, allow_negative, created_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (address) DO NOTHING`, address, nullString(owner), ledger.AllowsNegative(address), now)
	if db.IsForeignKeyViolation(err) {
		return stipend.Errorf(stipend.ENOTFOUND, "no account %s", owner)
	}
	return err
}

// applyBalance adds one entry to its account's balance in one statement, atomically and only
// within bounds: a bounded account never goes below zero and no balance wraps around int64.
// A credit (or any entry of an external account) creates the balance row on first use; a
// debit of a bounded account needs a row with enough in it.
func applyBalance(ctx context.Context, tx *db.Tx, e ledger.Entry) error {
	allowNegative := ledger.AllowsNegative(e.Address)
	var res sql.Result
	var err error
	if e.Amount < 0 && !allowNegative {
		res, err = tx.Exec(ctx, `UPDATE ledger_balances SET balance = balance + ?
			WHERE address = ? AND asset = ? AND balance >= ?`, e.Amount, e.Address, string(e.Asset), -e.Amount)
	} else {
		lo, hi := int64(math.MinInt64), int64(math.MaxInt64)
		if e.Amount > 0 {
			hi = math.MaxInt64 - e.Amount
		} else {
			lo = math.MinInt64 - e.Amount
		}
		res, err = tx.Exec(ctx, `INSERT INTO ledger_balances (address, asset, balance, allow_negative) VALUES (?, ?, ?, ?)
			ON CONFLICT (address, asset) DO UPDATE SET balance = ledger_balances.balance + excluded.balance
			WHERE ledger_balances.balance >= ? AND ledger_balances.balance <= ?`,
			e.Address, string(e.Asset), e.Amount, allowNegative, lo, hi)
	}
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 1 {
		return nil
	}
	if e.Amount < 0 && !allowNegative {
		return stipend.Errorf(stipend.EINSUFFICIENTFUNDS, "%s has insufficient %s", e.Address, e.Asset)
	}
	return stipend.Errorf(stipend.EINVALID, "the balance of %s would overflow", e.Address)
}

const transactionColumns = `id, idempotency_key, input_hash, kind, memo, metadata, created_by, reverses, created_at`

type querier interface {
	QueryRow(ctx context.Context, q string, args ...any) *sql.Row
	Query(ctx context.Context, q string, args ...any) (*sql.Rows, error)
}

func scanTransaction(row interface{ Scan(...any) error }) (*ledger.Transaction, string, error) {
	var t ledger.Transaction
	var hash, meta string
	var reverses sql.NullString
	var created int64
	if err := row.Scan(&t.ID, &t.Key, &hash, &t.Kind, &t.Memo, &meta, &t.CreatedBy, &reverses, &created); err != nil {
		return nil, "", err
	}
	if meta != "{}" {
		if err := json.Unmarshal([]byte(meta), &t.Metadata); err != nil {
			return nil, "", err
		}
	}
	t.Reverses = reverses.String
	t.CreatedAt = fromMicros(created)
	return &t, hash, nil
}

func (s *Store) transactionByKey(ctx context.Context, q querier, key string) (*ledger.Transaction, string, error) {
	return s.transactionWhere(ctx, q, "idempotency_key", key)
}

func (s *Store) transactionWhere(ctx context.Context, q querier, column, value string) (*ledger.Transaction, string, error) {
	t, hash, err := scanTransaction(q.QueryRow(ctx, `SELECT `+transactionColumns+` FROM ledger_transactions WHERE `+column+` = ?`, value))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, "", stipend.Errorf(stipend.ENOTFOUND, "no transaction %s", value)
	}
	if err != nil {
		return nil, "", err
	}
	if err := loadEntries(ctx, q, []*ledger.Transaction{t}); err != nil {
		return nil, "", err
	}
	return t, hash, nil
}

// loadEntries fills in the entries of txs with one query.
func loadEntries(ctx context.Context, q querier, txs []*ledger.Transaction) error {
	if len(txs) == 0 {
		return nil
	}
	ids := make([]any, len(txs))
	byID := make(map[string]*ledger.Transaction, len(txs))
	for i, t := range txs {
		ids[i] = t.ID
		byID[t.ID] = t
	}
	rows, err := q.Query(ctx, `SELECT transaction_id, address, asset, amount FROM ledger_entries
		WHERE transaction_id IN (`+placeholders(len(ids))+`) ORDER BY transaction_id, seq`, ids...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id, asset string
		var e ledger.Entry
		if err := rows.Scan(&id, &e.Address, &asset, &e.Amount); err != nil {
			return err
		}
		e.Asset = ledger.Asset(asset)
		byID[id].Entries = append(byID[id].Entries, e)
	}
	return rows.Err()
}

// Transaction implements ledger.Store.
func (s *Store) Transaction(ctx context.Context, id string) (*ledger.Transaction, error) {
	t, _, err := s.transactionWhere(ctx, s.db, "id", id)
	return t, err
}

// Reverse implements ledger.Store.
func (s *Store) Reverse(ctx context.Context, txID, key, memo, createdBy string) (*ledger.Transaction, error) {
	var out *ledger.Transaction
	err := s.db.InTx(ctx, func(tx *db.Tx) error {
		var err error
		out, err = s.reverse(ctx, tx, txID, key, memo, createdBy)
		return err
	})
	return out, err
}

// reverse posts, inside tx, the transaction that undoes txID; see ledger.Store.Reverse.
func (s *Store) reverse(ctx context.Context, tx *db.Tx, txID, key, memo, createdBy string) (*ledger.Transaction, error) {
	if key == "" {
		key = "reversal:" + txID
	}
	orig, _, err := s.transactionWhere(ctx, tx, "id", txID)
	if err != nil {
		return nil, err
	}
	switch orig.Kind {
	case ledger.KindHold, ledger.KindRelease, ledger.KindCapture:
		return nil, stipend.Errorf(stipend.ECONFLICT, "a %s transaction is undone by releasing or capturing its hold, not by a reversal", orig.Kind)
	case ledger.KindReversal:
		return nil, stipend.Errorf(stipend.ECONFLICT, "a reversal cannot be reversed")
	}
	r := ledger.NewTransaction{Key: key, Kind: ledger.KindReversal, Memo: memo, CreatedBy: createdBy,
		Metadata: map[string]string{"reverses": orig.ID}}
	for _, e := range orig.Entries {
		r.Entries = append(r.Entries, ledger.Entry{Address: e.Address, Asset: e.Asset, Amount: -e.Amount})
	}
	out, _, err := s.post(ctx, tx, r, orig.ID)
	return out, err
}

// Transactions implements ledger.Store.
func (s *Store) Transactions(ctx context.Context, f ledger.TransactionFilter) ([]ledger.Transaction, string, error) {
	limit := f.Limit
	switch {
	case limit == 0:
		limit = 50
	case limit < 0 || limit > 500:
		return nil, "", stipend.Errorf(stipend.EINVALID, "limit: must be between 1 and 500")
	}
	if f.Cursor != "" && !validID(f.Cursor, "tx_") {
		return nil, "", stipend.Errorf(stipend.EINVALID, "cursor: not a cursor this API returned")
	}
	var where string
	var args []any
	switch {
	case f.OwnerID != "":
		where = `id IN (SELECT e.transaction_id FROM ledger_entries e JOIN ledger_accounts a ON a.address = e.address WHERE a.owner_id = ?)`
		args = append(args, f.OwnerID)
	case f.Address != "":
		where = `id IN (SELECT transaction_id FROM ledger_entries WHERE address = ?)`
		args = append(args, f.Address)
	default:
		where = `1 = 1`
	}
	if f.Cursor != "" {
		where += ` AND id < ?`
		args = append(args, f.Cursor)
	}
	args = append(args, limit+1)
	rows, err := s.db.Query(ctx, `SELECT `+transactionColumns+` FROM ledger_transactions WHERE `+where+` ORDER BY id DESC LIMIT ?`, args...)
	if err != nil {
		return nil, "", err
	}
	defer rows.Close()
	var page []*ledger.Transaction
	for rows.Next() {
		t, _, err := scanTransaction(rows)
		if err != nil {
			return nil, "", err
		}
		page = append(page, t)
	}
	if err := rows.Err(); err != nil {
		return nil, "", err
	}
	next := ""
	if len(page) > limit {
		page = page[:limit]
		next = page[limit-1].ID
	}
	if err := loadEntries(ctx, s.db, page); err != nil {
		return nil, "", err
	}
	out := make([]ledger.Transaction, len(page))
	for i, t := range page {
		out[i] = *t
	}
	return out, next, nil
}

// validID reports whether s looks like an id made by stipend.NewID with the given prefix.
func validID(s, prefix string) bool {
	rest, ok := strings.CutPrefix(s, prefix)
	if !ok || len(rest) != 32 {
		return false
	}
	for i := 0; i < len(rest); i++ {
		if !(rest[i] >= '0' && rest[i] <= '9' || rest[i] >= 'a' && rest[i] <= 'f') {
			return false
		}
	}
	return true
}

// Balances implements ledger.Store. One statement reads both what is available and what is
// held, so the two come from the same snapshot and a hold made meanwhile is never counted twice
// or not at all.
func (s *Store) Balances(ctx context.Context, address string) ([]ledger.Balance, error) {
	rows, err := s.db.Query(ctx, `SELECT asset, SUM(available), SUM(held) FROM (
			SELECT asset, balance AS available, 0 AS held FROM ledger_balances WHERE address = ?
			UNION ALL
			SELECT h.asset, 0, b.balance FROM ledger_holds h
			JOIN ledger_balances b ON b.address = h.hold_address AND b.asset = h.asset
			WHERE h.address = ? AND h.status = 'active'
		) parts GROUP BY asset`, address, address)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	byAsset := map[ledger.Asset]ledger.Balance{}
	for rows.Next() {
		var asset string
		var b ledger.Balance
		if err := rows.Scan(&asset, &b.Available, &b.Held); err != nil {
			return nil, err
		}
		b.Asset = ledger.Asset(asset)
		byAsset[b.Asset] = b
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var out []ledger.Balance
	for _, a := range ledger.Assets() {
		if b, ok := byAsset[a]; ok {
			out = append(out, b)
		}
	}
	return out, nil
}
