package store

import (
	"context"
	"database/sql"
	"errors"
	"strconv"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/internal/db"
	"github.com/stipend/stipend/payments/funding"
	"github.com/stipend/stipend/payments/ledger"
	"github.com/stipend/stipend/payments/lightning"
)

var _ funding.Store = (*Store)(nil)

const kindFunding = "funding"

const fundingColumns = `id, account_id, amount_msat, amount_paid_msat, payment_request, payment_hash, memo, status, ledger_tx,
	created_at, expires_at, settled_at`

func scanFunding(row interface{ Scan(...any) error }) (*funding.Funding, error) {
	var f funding.Funding
	var paid, settled sql.NullInt64
	var tx sql.NullString
	var created, expires int64
	if err := row.Scan(&f.ID, &f.AccountID, &f.Amount.Value, &paid, &f.Invoice, &f.PaymentHash, &f.Memo, &f.Status, &tx,
		&created, &expires, &settled); err != nil {
		return nil, err
	}
	f.Amount.Asset = ledger.BTC
	f.AmountPaid, f.LedgerTx = paid.Int64, tx.String
	f.CreatedAt, f.ExpiresAt, f.SettledAt = fromMicros(created), fromMicros(expires), fromNullMicros(settled)
	return &f, nil
}

func (s *Store) fundingWhere(ctx context.Context, q querier, column, value string) (*funding.Funding, error) {
	f, err := scanFunding(q.QueryRow(ctx, `SELECT `+fundingColumns+` FROM ln_fundings WHERE `+column+` = ?`, value))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, stipend.Errorf(stipend.ENOTFOUND, "no funding %s", value)
	}
	return f, err
}

// CreateFunding implements funding.Store.
func (s *Store) CreateFunding(ctx context.Context, f *funding.Funding) error {
	return s.db.InTx(ctx, func(tx *db.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO ln_fundings (id, account_id, amount_msat, payment_hash, payment_request, memo, status,
			expires_at, created_at) VALUES (?, ?, ?, ?, ?, ?, 'open', ?, ?)`,
			f.ID, f.AccountID, f.Amount.Value, f.PaymentHash, f.Invoice, f.Memo, f.ExpiresAt.UnixMicro(), f.CreatedAt.UnixMicro())
		if db.IsForeignKeyViolation(err) {
			return stipend.Errorf(stipend.ENOTFOUND, "no account %s", f.AccountID)
		}
		return err
	})
}

// Funding implements funding.Store.
func (s *Store) Funding(ctx context.Context, id string) (*funding.Funding, error) {
	return s.fundingWhere(ctx, s.db, "id", id)
}

// ApplySettlement implements funding.Store.
func (s *Store) ApplySettlement(ctx context.Context, node string, u lightning.InvoiceUpdate) (*funding.Funding, error) {
	var credited *funding.Funding
	err := s.db.InTx(ctx, func(tx *db.Tx) error {
		credited = nil
		now := s.nowMicros()
		// The cursor only moves forward: a stale delivery cannot take it back.
		if _, err := tx.Exec(ctx, `INSERT INTO ln_cursors (node, settle_index, updated_at) VALUES (?, ?, ?)
			ON CONFLICT (node) DO UPDATE SET settle_index = excluded.settle_index, updated_at = excluded.updated_at
			WHERE ln_cursors.settle_index < excluded.settle_index`, node, int64(u.SettleIndex), now); err != nil {
			return err
		}
		f, err := s.fundingWhere(ctx, tx, "payment_hash", u.Hash)
		if stipend.ErrorCode(err) == stipend.ENOTFOUND {
			return nil // not a funding invoice
		}
		if err != nil {
			return err
		}
		if u.AmountPaidMsat <= 0 {
			return nil
		}
		res, err := tx.Exec(ctx, `UPDATE ln_fundings SET status = 'settled', amount_paid_msat = ?, settled_at = ?
			WHERE id = ? AND status = 'open'`, u.AmountPaidMsat, now, f.ID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err // settled before: nothing to do
		}
		t := ledger.Transfer("funding:"+f.ID, kindFunding, ledger.ExternalAddress("lightning"), ledger.AccountAddress(f.AccountID),
			ledger.Msat(u.AmountPaidMsat))
		t.Metadata = map[string]string{"funding_id": f.ID, "payment_hash": u.Hash, "settle_index": strconv.FormatUint(u.SettleIndex, 10)}
		t.Memo = f.Memo
		posted, _, err := s.post(ctx, tx, t, "")
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE ln_fundings SET ledger_tx = ? WHERE id = ?`, posted.ID, f.ID); err != nil {
			return err
		}
		credited, err = s.fundingWhere(ctx, tx, "id", f.ID)
		return err
	})
	return credited, err
}

// SettleCursor implements funding.Store.
func (s *Store) SettleCursor(ctx context.Context, node string) (uint64, error) {
	var idx int64
	err := s.db.QueryRow(ctx, `SELECT settle_index FROM ln_cursors WHERE node = ?`, node).Scan(&idx)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return uint64(idx), err
}
