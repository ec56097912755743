package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/internal/db"
	"github.com/stipend/stipend/payments/ledger"
)

const holdColumns = `h.id, h.idempotency_key, h.input_hash, h.address, h.hold_address, h.asset, h.amount, h.status,
	h.created_at, h.resolved_at, COALESCE(b.balance, 0)`

// holdFrom joins a hold to the balance of its hold account, which is what it has left.
const holdFrom = ` FROM ledger_holds h LEFT JOIN ledger_balances b ON b.address = h.hold_address AND b.asset = h.asset `

func scanHold(row interface{ Scan(...any) error }) (*ledger.Hold, string, error) {
	var h ledger.Hold
	var hash, holdAddress, asset string
	var created int64
	var resolved sql.NullInt64
	if err := row.Scan(&h.ID, &h.Key, &hash, &h.Address, &holdAddress, &asset, &h.Amount.Value, &h.Status,
		&created, &resolved, &h.Remaining); err != nil {
		return nil, "", err
	}
	h.Amount.Asset = ledger.Asset(asset)
	h.CreatedAt = fromMicros(created)
	h.ResolvedAt = fromNullMicros(resolved)
	return &h, hash, nil
}

func (s *Store) holdWhere(ctx context.Context, q querier, column, value string) (*ledger.Hold, string, error) {
	h, hash, err := scanHold(q.QueryRow(ctx, `SELECT `+holdColumns+holdFrom+`WHERE h.`+column+` = ?`, value))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, "", stipend.Errorf(stipend.ENOTFOUND, "no hold %s", value)
	}
	return h, hash, err
}

// GetHold implements ledger.Store.
func (s *Store) GetHold(ctx context.Context, id string) (*ledger.Hold, error) {
	h, _, err := s.holdWhere(ctx, s.db, "id", id)
	return h, err
}

// Hold implements ledger.Store.
func (s *Store) Hold(ctx context.Context, n ledger.NewHold) (*ledger.Hold, error) {
	if err := n.Validate(); err != nil {
		return nil, err
	}
	var out *ledger.Hold
	err := s.db.InTx(ctx, func(tx *db.Tx) error {
		var err error
		out, err = s.hold(ctx, tx, n)
		return err
	})
	return out, err
}

// hold reserves n.Amount inside tx; see ledger.Store.Hold.
func (s *Store) hold(ctx context.Context, tx *db.Tx, n ledger.NewHold) (*ledger.Hold, error) {
	hash := n.Hash()
	replay := func() (*ledger.Hold, error) {
		h, prevHash, err := s.holdWhere(ctx, tx, "idempotency_key", n.Key)
		if err != nil {
			return nil, err
		}
		if prevHash != hash {
			return nil, stipend.Errorf(stipend.EIDEMPOTENCYMISMATCH, "hold key %q was already used for a different hold", n.Key)
		}
		return h, nil
	}
	if h, err := replay(); stipend.ErrorCode(err) != stipend.ENOTFOUND {
		return h, err
	}
	id := ledger.HoldID(n.Key)
	holdAddress := ledger.HoldAddress(id)
	now := s.nowMicros()
	owner := ledger.OwnerOf(n.Address)
	if err := ensureLedgerAccount(ctx, tx, holdAddress, owner, now); err != nil {
		return nil, err
	}
	t := ledger.Transfer("hold:"+id, ledger.KindHold, n.Address, holdAddress, n.Amount)
	t.Memo, t.CreatedBy = n.Memo, n.CreatedBy
	t.Metadata = map[string]string{"hold_id": id}
	_, replayed, err := s.post(ctx, tx, t, "")
	if err != nil {
		return nil, err
	}
	if replayed {
		// A concurrent request with the same key committed first.
		return replay()
	}
	if _, err := tx.Exec(ctx, `INSERT INTO ledger_holds
		(id, idempotency_key, input_hash, address, hold_address, asset, amount, status, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		id, n.Key, hash, n.Address, holdAddress, string(n.Amount.Asset), n.Amount.Value, ledger.HoldActive, now); err != nil {
		return nil, err
	}
	h, _, err := s.holdWhere(ctx, tx, "id", id)
	return h, err
}

// lockActiveHold takes the row lock of an active hold, so that captures and releases of one
// hold run one after another, and returns the hold. Returns ENOTFOUND and ECONFLICT.
func (s *Store) lockActiveHold(ctx context.Context, tx *db.Tx, id, newStatus string) (*ledger.Hold, error) {
	res, err := tx.Exec(ctx, `UPDATE ledger_holds SET status = ? WHERE id = ? AND status = 'active'`, newStatus, id)
	if err != nil {
		return nil, err
	}
	h, _, err := s.holdWhere(ctx, tx, "id", id)
	if err != nil {
		return nil, err
	}
	if n, err := res.RowsAffected(); err != nil {
		return nil, err
	} else if n == 0 {
		return nil, stipend.Errorf(stipend.ECONFLICT, "hold %s is already %s", id, h.Status)
	}
	return h, nil
}

// Capture implements ledger.Store.
func (s *Store) Capture(ctx context.Context, holdID, key, memo string, to []ledger.Entry) (*ledger.Hold, error) {
	if key == "" {
		return nil, stipend.Errorf(stipend.EINVALID, "a capture needs a key")
	}
	sum := sha256.Sum256([]byte(key))
	txKey := "capture:" + holdID + ":" + hex.EncodeToString(sum[:16])
	var out *ledger.Hold
	err := s.db.InTx(ctx, func(tx *db.Tx) error {
		// A capture retried after the hold moved on is answered from the ledger.
		if _, _, err := s.transactionByKey(ctx, tx, txKey); err == nil {
			h, err := s.capture(ctx, tx, holdID, txKey, memo, to, true)
			out = h
			return err
		} else if stipend.ErrorCode(err) != stipend.ENOTFOUND {
			return err
		}
		h, err := s.capture(ctx, tx, holdID, txKey, memo, to, false)
		out = h
		return err
	})
	return out, err
}

func (s *Store) capture(ctx context.Context, tx *db.Tx, holdID, txKey, memo string, to []ledger.Entry, retried bool) (*ledger.Hold, error) {
	var h *ledger.Hold
	var err error
	if retried {
		h, _, err = s.holdWhere(ctx, tx, "id", holdID)
	} else {
		h, err = s.lockActiveHold(ctx, tx, holdID, ledger.HoldActive)
	}
	if err != nil {
		return nil, err
	}
	if err := ledger.ValidateCapture(h, to); err != nil {
		return nil, err
	}
	t := ledger.NewTransaction{Key: txKey, Kind: ledger.KindCapture, Memo: memo, Metadata: map[string]string{"hold_id": h.ID}}
	var total int64
	for _, e := range to {
		total += e.Amount
		t.Entries = append(t.Entries, e)
	}
	t.Entries = append(t.Entries, ledger.Entry{Address: ledger.HoldAddress(h.ID), Asset: h.Amount.Asset, Amount: -total})
	if _, _, err := s.post(ctx, tx, t, ""); err != nil {
		if stipend.ErrorCode(err) == stipend.EINSUFFICIENTFUNDS {
			return nil, stipend.Errorf(stipend.EINSUFFICIENTFUNDS, "hold %s has %d left, less than the %d captured", h.ID, h.Remaining, total)
		}
		return nil, err
	}
	if !retried {
		if _, err := tx.Exec(ctx, `UPDATE ledger_holds SET status = 'captured', resolved_at = ?
			WHERE id = ? AND status = 'active' AND NOT EXISTS (
				SELECT 1 FROM ledger_balances b WHERE b.address = ledger_holds.hold_address AND b.balance <> 0)`,
			s.nowMicros(), h.ID); err != nil {
			return nil, err
		}
	}
	h, _, err = s.holdWhere(ctx, tx, "id", holdID)
	return h, err
}

// Release implements ledger.Store.
func (s *Store) Release(ctx context.Context, holdID, memo string) (*ledger.Hold, error) {
	var out *ledger.Hold
	err := s.db.InTx(ctx, func(tx *db.Tx) error {
		var err error
		out, err = s.release(ctx, tx, holdID, memo)
		return err
	})
	return out, err
}

func (s *Store) release(ctx context.Context, tx *db.Tx, holdID, memo string) (*ledger.Hold, error) {
	h, err := s.lockActiveHold(ctx, tx, holdID, ledger.HoldReleased)
	if err != nil {
		return nil, err
	}
	if _, err := tx.Exec(ctx, `UPDATE ledger_holds SET resolved_at = ? WHERE id = ?`, s.nowMicros(), holdID); err != nil {
		return nil, err
	}
	if h.Remaining > 0 {
		t := ledger.Transfer("release:"+h.ID, ledger.KindRelease, ledger.HoldAddress(h.ID), h.Address,
			ledger.Amount{Value: h.Remaining, Asset: h.Amount.Asset})
		t.Memo = memo
		t.Metadata = map[string]string{"hold_id": h.ID}
		if _, _, err := s.post(ctx, tx, t, ""); err != nil {
			return nil, err
		}
	}
	h, _, err = s.holdWhere(ctx, tx, "id", holdID)
	return h, err
}
