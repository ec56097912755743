package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"time"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/internal/db"
	"github.com/stipend/stipend/payments/ledger"
	"github.com/stipend/stipend/payments/paywall"
)

var _ paywall.Store = (*Store)(nil)

const paidCallColumns = `id, route, method, payment_hash, payer_id, hold_id, payee_id, asset, amount, fee, state,
	lease_token, lease_until, ledger_tx, created_at, finished_at`

func scanPaidCall(row interface{ Scan(...any) error }) (*paywall.Call, error) {
	var c paywall.Call
	var method, asset string
	var hash, payer, hold, payee, tx sql.NullString
	var lease, created int64
	var finished sql.NullInt64
	if err := row.Scan(&c.ID, &c.Route, &method, &hash, &payer, &hold, &payee, &asset, &c.Price.Value, &c.Fee, &c.State,
		&c.LeaseToken, &lease, &tx, &created, &finished); err != nil {
		return nil, err
	}
	c.Method, c.Price.Asset = paywall.Method(method), ledger.Asset(asset)
	c.PaymentHash, c.PayerID, c.HoldID, c.SellerID, c.LedgerTx = hash.String, payer.String, hold.String, payee.String, tx.String
	c.LeaseUntil, c.CreatedAt, c.FinishedAt = fromMicros(lease), fromMicros(created), fromNullMicros(finished)
	return &c, nil
}

func (s *Store) paidCall(ctx context.Context, q querier, id string) (*paywall.Call, error) {
	c, err := scanPaidCall(q.QueryRow(ctx, `SELECT `+paidCallColumns+` FROM paid_calls WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, stipend.Errorf(stipend.ENOTFOUND, "no paid call %s", id)
	}
	return c, err
}

// PaidCall returns one paid call. Returns ENOTFOUND.
func (s *Store) PaidCall(ctx context.Context, id string) (*paywall.Call, error) {
	return s.paidCall(ctx, s.db, id)
}

// ReserveCall implements paywall.Store.
func (s *Store) ReserveCall(ctx context.Context, c *paywall.Call) error {
	return s.db.InTx(ctx, func(tx *db.Tx) error {
		now := s.nowMicros()
		c.HoldID = ""
		if c.PayerID != "" {
			// The hold is the conditional debit: it fails with EINSUFFICIENTFUNDS, inside this
			// transaction, when the balance does not cover the price, so no number of
			// concurrent calls can spend more than the balance.
			h, err := s.hold(ctx, tx, ledger.NewHold{Key: "paid_call:" + c.ID, Address: ledger.AccountAddress(c.PayerID),
				Amount: c.Price, Memo: "paid call of " + clipText(c.Route, 200), CreatedBy: c.PayerID})
			if err != nil {
				return err
			}
			c.HoldID = h.ID
		}
		_, err := tx.Exec(ctx, `INSERT INTO paid_calls (`+paidCallColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'reserved', ?, ?, NULL, ?, NULL)`,
			c.ID, c.Route, string(c.Method), nullString(c.PaymentHash), nullString(c.PayerID), nullString(c.HoldID),
			nullString(c.SellerID), string(c.Price.Asset), c.Price.Value, c.Fee, c.LeaseToken, c.LeaseUntil.UnixMicro(), c.CreatedAt.UnixMicro())
		if db.IsForeignKeyViolation(err) {
			return stipend.Errorf(stipend.ENOTFOUND, "the payer or the seller of this call has no account")
		}
		if err != nil || c.PaymentHash == "" {
			return err
		}
		return s.claimPayment(ctx, tx, c, now)
	})
}

// claimPayment claims c's payment hash. ON CONFLICT DO NOTHING rather than catching the unique
// violation, because on PostgreSQL a failed statement aborts the whole transaction. Of N
// concurrent claims, the primary key lets one insert; the others see its row, committed (on
// PostgreSQL the insert waits for the first transaction to end) or not at all (SQLite has one
// writer).
func (s *Store) claimPayment(ctx context.Context, tx *db.Tx, c *paywall.Call, now int64) error {
	var holder string
	for attempt := 0; ; attempt++ {
		res, err := tx.Exec(ctx, `INSERT INTO l402_consumed (payment_hash, call_id, consumed_at) VALUES (?, ?, ?)
			ON CONFLICT (payment_hash) DO NOTHING`, c.PaymentHash, c.ID, now)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			return err
		}
		// The hash is claimed. On PostgreSQL the claim can also be refunded (deleted) between
		// the insert and this read; the insert is then tried again.
		err = tx.QueryRow(ctx, `SELECT call_id FROM l402_consumed WHERE payment_hash = ?`, c.PaymentHash).Scan(&holder)
		if errors.Is(err, sql.ErrNoRows) && attempt < 3 {
			continue
		}
		if err != nil {
			return err
		}
		break
	}
	// A reserved call whose lease ended belonged to a server that died mid-call: refund it and
	// take its claim over, in one conditional update so that of two requests taking over, one
	// wins.
	res, err := tx.Exec(ctx, `UPDATE paid_calls SET state = 'refunded', finished_at = ?
		WHERE id = ? AND state = 'reserved' AND lease_until < ?`, now, holder, now)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		if err != nil {
			return err
		}
		return stipend.Errorf(stipend.ECONFLICT, "this payment was already used for a call")
	}
	_, err = tx.Exec(ctx, `UPDATE l402_consumed SET call_id = ?, consumed_at = ? WHERE payment_hash = ?`, c.ID, now, c.PaymentHash)
	return err
}

// finishCall moves a reserved call to state under its lease token, or returns ECONFLICT.
func (s *Store) finishCall(ctx context.Context, tx *db.Tx, id, leaseToken, state string) (*paywall.Call, error) {
	res, err := tx.Exec(ctx, `UPDATE paid_calls SET state = ?, finished_at = ?
		WHERE id = ? AND state = 'reserved' AND lease_token = ?`, state, s.nowMicros(), id, leaseToken)
	if err != nil {
		return nil, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return nil, err
	}
	c, err := s.paidCall(ctx, tx, id)
	if err != nil {
		return nil, err
	}
	if n != 1 {
		return nil, stipend.Errorf(stipend.ECONFLICT, "paid call %s is %s, no longer reserved by this request", id, c.State)
	}
	return c, nil
}

// ServeCall implements paywall.Store.
func (s *Store) ServeCall(ctx context.Context, id, leaseToken string, to []ledger.Entry) (*paywall.Call, error) {
	var out *paywall.Call
	err := s.db.InTx(ctx, func(tx *db.Tx) error {
		c, err := s.finishCall(ctx, tx, id, leaseToken, paywall.CallServed)
		if err != nil {
			return err
		}
		var txID string
		// A Lightning payment is credited under its hash, so that no path can credit one
		// payment twice; credits are keyed by the call, whose hold they capture.
		key := "paid_call:" + c.ID
		if c.PaymentHash != "" {
			key = paywall.LightningKey(c.PaymentHash)
		}
		memo := "paid call of " + clipText(c.Route, 200)
		if c.HoldID != "" {
			if _, err := s.capture(ctx, tx, c.HoldID, "capture:"+key, memo, to, false); err != nil {
				return err
			}
			t, _, err := s.transactionByKey(ctx, tx, "capture:"+key)
			if err != nil {
				return err
			}
			txID = t.ID
		} else {
			entries := append([]ledger.Entry{{Address: ledger.ExternalAddress("lightning"), Asset: c.Price.Asset, Amount: -c.Price.Value}}, to...)
			t, _, err := s.post(ctx, tx, ledger.NewTransaction{Key: key, Kind: paywall.KindPaidCall, Memo: memo, CreatedBy: c.PayerID,
				Metadata: map[string]string{"call_id": c.ID, "payment_hash": c.PaymentHash, "route": c.Route}, Entries: entries}, "")
			if err != nil {
				return err
			}
			txID = t.ID
		}
		if _, err := tx.Exec(ctx, `UPDATE paid_calls SET ledger_tx = ? WHERE id = ?`, txID, c.ID); err != nil {
			return err
		}
		c.LedgerTx = txID
		out = c
		return nil
	})
	return out, err
}

// RefundCall implements paywall.Store.
func (s *Store) RefundCall(ctx context.Context, id, leaseToken string) (*paywall.Call, error) {
	var out *paywall.Call
	err := s.db.InTx(ctx, func(tx *db.Tx) error {
		c, err := s.finishCall(ctx, tx, id, leaseToken, paywall.CallRefunded)
		if err != nil {
			return err
		}
		out = c
		return s.undoReservation(ctx, tx, c)
	})
	return out, err
}

// undoReservation gives back what a refunded call reserved: its hold, or its claim.
func (s *Store) undoReservation(ctx context.Context, tx *db.Tx, c *paywall.Call) error {
	if c.HoldID != "" {
		if _, err := s.release(ctx, tx, c.HoldID, "refund of a paid call that was not served"); err != nil {
			return err
		}
	}
	if c.PaymentHash != "" {
		_, err := tx.Exec(ctx, `DELETE FROM l402_consumed WHERE payment_hash = ? AND call_id = ?`, c.PaymentHash, c.ID)
		return err
	}
	return nil
}

// RefundExpiredCalls implements paywall.Store.
func (s *Store) RefundExpiredCalls(ctx context.Context, now time.Time, limit int) (int, error) {
	ids, err := queryAll(ctx, s.db, `SELECT id FROM paid_calls WHERE state = 'reserved' AND lease_until < ? ORDER BY lease_until LIMIT ?`,
		func(r interface{ Scan(...any) error }) (*string, error) {
			var id string
			return &id, r.Scan(&id)
		}, now.UTC().UnixMicro(), limit)
	if err != nil {
		return 0, err
	}
	refunded := 0
	for _, id := range ids {
		err := s.db.InTx(ctx, func(tx *db.Tx) error {
			res, err := tx.Exec(ctx, `UPDATE paid_calls SET state = 'refunded', finished_at = ?
				WHERE id = ? AND state = 'reserved' AND lease_until < ?`, s.nowMicros(), id, now.UTC().UnixMicro())
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil || n != 1 {
				return err // served, refunded or taken over meanwhile
			}
			c, err := s.paidCall(ctx, tx, id)
			if err != nil {
				return err
			}
			refunded++
			return s.undoReservation(ctx, tx, c)
		})
		if err != nil {
			return refunded, err
		}
	}
	return refunded, nil
}

// ServerSecret implements paywall.Store.
func (s *Store) ServerSecret(ctx context.Context, name string, size int) ([]byte, error) {
	fresh := make([]byte, size)
	if _, err := rand.Read(fresh); err != nil {
		return nil, stipend.Internal(err, "generating a server secret")
	}
	var encoded string
	err := s.db.InTx(ctx, func(tx *db.Tx) error {
		// The first server to ask creates the secret; every later one, and a concurrent one that
		// lost the insert, reads the same value.
		if _, err := tx.Exec(ctx, `INSERT INTO server_secrets (name, value, created_at) VALUES (?, ?, ?)
			ON CONFLICT (name) DO NOTHING`, name, hex.EncodeToString(fresh), s.nowMicros()); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT value FROM server_secrets WHERE name = ?`, name).Scan(&encoded)
	})
	if err != nil {
		return nil, err
	}
	b, err := hex.DecodeString(encoded)
	if err != nil {
		return nil, stipend.Internal(err, "decoding server secret %s", name)
	}
	return b, nil
}

// clipText cuts s to at most n bytes, for memos built from user-chosen names.
func clipText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
