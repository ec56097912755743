package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/internal/db"
	"github.com/stipend/stipend/internal/jobs"
	"github.com/stipend/stipend/payments/ledger"
	"github.com/stipend/stipend/payments/payout"
)

var _ payout.Store = (*Store)(nil)

// Ledger accounts of payouts: money reserved for payouts waits in the clearing account; what
// leaves goes to the rail's external account, and routing fees to their own.
const (
	payoutClearing    = "clearing:payouts"
	routingFees       = "external:routing_fees"
	kindPayoutReserve = "payout_reserve"
	kindPayoutSettle  = "payout_settle"
)

// railAddress is the external account of a rail.
func railAddress(rail string) string { return ledger.ExternalAddress(rail) }

const payoutColumns = `id, request_key, account_id, rail, asset, amount, fee_cap, fee_paid, destination, invoice,
	payment_hash, proof, status, failure, source, revision, reserve_tx, settle_tx, created_at, updated_at, sent_at, finished_at`

func scanPayout(row interface{ Scan(...any) error }) (*payout.Payout, error) {
	var p payout.Payout
	var asset string
	var feePaid, sent, finished sql.NullInt64
	var hash, settle sql.NullString
	var created, updated int64
	if err := row.Scan(&p.ID, &p.RequestKey, &p.AccountID, &p.Rail, &asset, &p.Amount.Value, &p.FeeCap, &feePaid, &p.Destination,
		&p.Invoice, &hash, &p.Proof, &p.Status, &p.Failure, &p.Source, &p.Revision, &p.ReserveTx, &settle,
		&created, &updated, &sent, &finished); err != nil {
		return nil, err
	}
	p.Amount.Asset = ledger.Asset(asset)
	p.FeePaid = feePaid.Int64
	p.PaymentHash, p.SettleTx = hash.String, settle.String
	p.CreatedAt, p.UpdatedAt = fromMicros(created), fromMicros(updated)
	p.SentAt, p.FinishedAt = fromNullMicros(sent), fromNullMicros(finished)
	return &p, nil
}

func (s *Store) payoutWhere(ctx context.Context, q querier, column, value string) (*payout.Payout, error) {
	p, err := scanPayout(q.QueryRow(ctx, `SELECT `+payoutColumns+` FROM payouts WHERE `+column+` = ?`, value))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, stipend.Errorf(stipend.ENOTFOUND, "no payout %s", value)
	}
	return p, err
}

// Payout implements payout.Store.
func (s *Store) Payout(ctx context.Context, id string) (*payout.Payout, error) {
	return s.payoutWhere(ctx, s.db, "id", id)
}

// PayoutByKey implements payout.Store.
func (s *Store) PayoutByKey(ctx context.Context, key string) (*payout.Payout, error) {
	return s.payoutWhere(ctx, s.db, "request_key", key)
}

// CreatePayout implements payout.Store.
func (s *Store) CreatePayout(ctx context.Context, p *payout.Payout) (*payout.Payout, error) {
	total, err := p.Amount.Add(ledger.Amount{Value: p.FeeCap, Asset: p.Amount.Asset})
	if err != nil {
		return nil, err
	}
	var out *payout.Payout
	err = s.db.InTx(ctx, func(tx *db.Tx) error {
		if existing, err := s.payoutWhere(ctx, tx, "request_key", p.RequestKey); err == nil {
			out = existing
			return nil
		} else if stipend.ErrorCode(err) != stipend.ENOTFOUND {
			return err
		}
		reserve := ledger.Transfer("payout:"+p.ID+":reserve", kindPayoutReserve, ledger.AccountAddress(p.AccountID), payoutClearing, total)
		reserve.Metadata = map[string]string{"payout_id": p.ID}
		reserve.CreatedBy = p.AccountID
		rtx, _, err := s.post(ctx, tx, reserve, "")
		if err != nil {
			return err
		}
		now := s.nowMicros()
		_, err = tx.Exec(ctx, `INSERT INTO payouts (id, request_key, account_id, rail, asset, amount, fee_cap, destination, invoice,
			payment_hash, status, source, revision, reserve_tx, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'requested', ?, 0, ?, ?, ?)`,
			p.ID, p.RequestKey, p.AccountID, p.Rail, string(p.Amount.Asset), p.Amount.Value, p.FeeCap, p.Destination, p.Invoice,
			nullString(p.PaymentHash), p.Source, rtx.ID, now, now)
		if db.IsUniqueViolation(err) {
			return stipend.Errorf(stipend.ECONFLICT, "this invoice is already being paid out, or a sweep of the account is under way")
		}
		if err != nil {
			return err
		}
		if _, _, err := enqueue(ctx, tx, s.now().UTC(), sendJob(p.ID)); err != nil {
			return err
		}
		out, err = s.payoutWhere(ctx, tx, "id", p.ID)
		return err
	})
	return out, err
}

// sendJob is the job that takes a payout to its end.
func sendJob(id string) jobs.NewJob {
	return jobs.NewJob{Kind: payout.JobSend, Payload: payout.SendJob{PayoutID: id}, UniqueKey: payout.JobSend + ":" + id, MaxAttempts: 1000}
}

// EnqueueSend implements payout.Store.
func (s *Store) EnqueueSend(ctx context.Context, id string) (bool, error) {
	_, created, err := s.Enqueue(ctx, sendJob(id))
	return created, err
}

// Payouts implements payout.Store.
func (s *Store) Payouts(ctx context.Context, accountID, cursor string, limit int) ([]payout.Payout, string, error) {
	switch {
	case limit == 0:
		limit = 50
	case limit < 0 || limit > 500:
		return nil, "", stipend.Errorf(stipend.EINVALID, "limit: must be between 1 and 500")
	}
	where, args := `account_id = ?`, []any{accountID}
	if cursor != "" {
		if !validID(cursor, "po_") {
			return nil, "", stipend.Errorf(stipend.EINVALID, "cursor: not a cursor this API returned")
		}
		where += ` AND id < ?`
		args = append(args, cursor)
	}
	args = append(args, limit+1)
	out, err := s.queryPayouts(ctx, where+` ORDER BY id DESC LIMIT ?`, args...)
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(out) > limit {
		out = out[:limit]
		next = out[limit-1].ID
	}
	return out, next, nil
}

// OpenPayouts implements payout.Store.
func (s *Store) OpenPayouts(ctx context.Context, limit int) ([]payout.Payout, error) {
	return s.queryPayouts(ctx, `status IN ('requested', 'in_flight') ORDER BY id LIMIT ?`, limit)
}

// queryPayouts returns the payouts that a WHERE clause (with its ORDER BY and LIMIT) selects.
func (s *Store) queryPayouts(ctx context.Context, where string, args ...any) ([]payout.Payout, error) {
	rows, err := s.db.Query(ctx, `SELECT `+payoutColumns+` FROM payouts WHERE `+where, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []payout.Payout
	for rows.Next() {
		p, err := scanPayout(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *p)
	}
	return out, rows.Err()
}

// transition moves a payout from one of the states in from to another, with the extra
// assignments in set, and returns it; then runs also, in the same transaction. A payout in
// any other state is a conflict: someone else moved it first.
func (s *Store) transition(ctx context.Context, id string, from []string, to, set string, args []any,
	also func(tx *db.Tx, p *payout.Payout) error) (*payout.Payout, error) {
	var out *payout.Payout
	err := s.db.InTx(ctx, func(tx *db.Tx) error {
		now := s.nowMicros()
		q := `UPDATE payouts SET status = ?, revision = revision + 1, updated_at = ?` + set + ` WHERE id = ? AND status IN (` + placeholders(len(from)) + `)`
		all := append([]any{to, now}, args...)
		all = append(all, id)
		for _, f := range from {
			all = append(all, f)
		}
		res, err := tx.Exec(ctx, q, all...)
		if db.IsUniqueViolation(err) {
			return stipend.Errorf(stipend.ECONFLICT, "this invoice is already being paid by another payout")
		}
		if err != nil {
			return err
		}
		p, err := s.payoutWhere(ctx, tx, "id", id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return stipend.Errorf(stipend.ECONFLICT, "payout %s is %s", id, p.Status)
		}
		if also != nil {
			if err := also(tx, p); err != nil {
				return err
			}
			if p, err = s.payoutWhere(ctx, tx, "id", id); err != nil {
				return err
			}
		}
		out = p
		return nil
	})
	return out, err
}

// SetPrepared implements payout.Store.
func (s *Store) SetPrepared(ctx context.Context, id string, prep payout.Prepared) (*payout.Payout, error) {
	return s.transition(ctx, id, []string{payout.Requested}, payout.Requested,
		`, invoice = ?, payment_hash = ?`, []any{prep.Invoice, prep.PaymentHash}, nil)
}

// MarkInFlight implements payout.Store.
func (s *Store) MarkInFlight(ctx context.Context, id string) (*payout.Payout, error) {
	p, err := s.Payout(ctx, id)
	if err != nil {
		return nil, err
	}
	if p.PaymentHash == "" {
		return nil, stipend.Errorf(stipend.ECONFLICT, "payout %s has no invoice yet", id)
	}
	return s.transition(ctx, id, []string{payout.Requested}, payout.InFlight, `, sent_at = ?`, []any{s.nowMicros()}, nil)
}

// Succeed implements payout.Store.
func (s *Store) Succeed(ctx context.Context, id, proof string, feePaid int64) (*payout.Payout, error) {
	now := s.nowMicros()
	return s.transition(ctx, id, []string{payout.InFlight}, payout.Succeeded,
		`, proof = ?, fee_paid = ?, finished_at = ?`, []any{proof, feePaid, now},
		func(tx *db.Tx, p *payout.Payout) error {
			if feePaid < 0 || feePaid > p.FeeCap {
				return stipend.Errorf(stipend.EINVALID, "payout %s: a fee of %d is outside its cap of %d", id, feePaid, p.FeeCap)
			}
			asset := p.Amount.Asset
			t := ledger.NewTransaction{Key: "payout:" + id + ":settle", Kind: kindPayoutSettle, CreatedBy: p.AccountID,
				Metadata: map[string]string{"payout_id": id, "payment_hash": p.PaymentHash},
				Entries: []ledger.Entry{
					{Address: payoutClearing, Asset: asset, Amount: -(p.Amount.Value + p.FeeCap)},
					{Address: railAddress(p.Rail), Asset: asset, Amount: p.Amount.Value},
				}}
			if feePaid > 0 {
				t.Entries = append(t.Entries, ledger.Entry{Address: routingFees, Asset: asset, Amount: feePaid})
			}
			if rest := p.FeeCap - feePaid; rest > 0 {
				t.Entries = append(t.Entries, ledger.Entry{Address: ledger.AccountAddress(p.AccountID), Asset: asset, Amount: rest})
			}
			settled, _, err := s.post(ctx, tx, t, "")
			if err != nil {
				return err
			}
			_, err = tx.Exec(ctx, `UPDATE payouts SET settle_tx = ? WHERE id = ?`, settled.ID, id)
			return err
		})
}

// Fail implements payout.Store.
func (s *Store) Fail(ctx context.Context, id, reason string) (*payout.Payout, error) {
	return s.unreserve(ctx, id, []string{payout.Requested, payout.InFlight}, payout.Failed, reason)
}

// Cancel implements payout.Store.
func (s *Store) Cancel(ctx context.Context, id string) (*payout.Payout, error) {
	return s.unreserve(ctx, id, []string{payout.Requested}, payout.Cancelled, "")
}

// unreserve ends a payout without paying it and returns its reservation by a reversal.
func (s *Store) unreserve(ctx context.Context, id string, from []string, to, reason string) (*payout.Payout, error) {
	if len(reason) > 500 {
		reason = reason[:500]
	}
	return s.transition(ctx, id, from, to, `, failure = ?, finished_at = ?`, []any{reason, s.nowMicros()},
		func(tx *db.Tx, p *payout.Payout) error {
			_, err := s.reverse(ctx, tx, p.ReserveTx, "payout:"+id+":reversal", "payout "+to, p.AccountID)
			return err
		})
}

// SetPreference implements payout.Store.
func (s *Store) SetPreference(ctx context.Context, p payout.Preference) error {
	return s.db.InTx(ctx, func(tx *db.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO payout_preferences (account_id, asset, rail, destination, minimum, updated_at)
			VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (account_id, asset) DO UPDATE SET
			rail = excluded.rail, destination = excluded.destination, minimum = excluded.minimum, updated_at = excluded.updated_at`,
			p.AccountID, string(p.Asset), p.Rail, p.Destination, p.Minimum, p.UpdatedAt.UnixMicro())
		if db.IsForeignKeyViolation(err) {
			return stipend.Errorf(stipend.ENOTFOUND, "no account %s", p.AccountID)
		}
		return err
	})
}

// Preferences implements payout.Store.
func (s *Store) Preferences(ctx context.Context, accountID string) ([]payout.Preference, error) {
	rows, err := s.db.Query(ctx, `SELECT account_id, asset, rail, destination, minimum, updated_at
		FROM payout_preferences WHERE account_id = ? ORDER BY asset`, accountID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []payout.Preference
	for rows.Next() {
		var p payout.Preference
		var asset string
		var updated int64
		if err := rows.Scan(&p.AccountID, &asset, &p.Rail, &p.Destination, &p.Minimum, &updated); err != nil {
			return nil, err
		}
		p.Asset, p.UpdatedAt = ledger.Asset(asset), fromMicros(updated)
		out = append(out, p)
	}
	return out, rows.Err()
}

// sweepBackoff is how long an account whose last sweep failed waits before the next one,
// unless its owner changes the preference meanwhile: a destination that is gone must not
// cost a failed payout every sweep interval.
const sweepBackoff = time.Hour

// SweepCandidates implements payout.Store.
func (s *Store) SweepCandidates(ctx context.Context, limit int) ([]payout.SweepCandidate, error) {
	rows, err := s.db.Query(ctx, `SELECT p.account_id, p.asset, p.rail, p.destination, p.minimum, p.updated_at, b.balance
		FROM payout_preferences p
		JOIN ledger_balances b ON b.address = 'accounts:' || p.account_id AND b.asset = p.asset
		WHERE p.rail IN (?, ?) AND b.balance > 0 AND b.balance >= p.minimum
		AND NOT EXISTS (SELECT 1 FROM payouts o WHERE o.account_id = p.account_id AND o.asset = p.asset
			AND o.source = 'sweep' AND o.status IN ('requested', 'in_flight'))
		AND NOT EXISTS (SELECT 1 FROM payouts o WHERE o.account_id = p.account_id AND o.asset = p.asset
			AND o.source = 'sweep' AND o.status = 'failed' AND o.finished_at > ? AND o.finished_at > p.updated_at)
		ORDER BY p.account_id LIMIT ?`, payout.RailLightning, payout.RailStripe, s.now().Add(-sweepBackoff).UnixMicro(), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []payout.SweepCandidate
	for rows.Next() {
		var c payout.SweepCandidate
		var asset string
		var updated int64
		if err := rows.Scan(&c.Preference.AccountID, &asset, &c.Preference.Rail, &c.Preference.Destination,
			&c.Preference.Minimum, &updated, &c.Available); err != nil {
			return nil, err
		}
		c.Preference.Asset, c.Preference.UpdatedAt = ledger.Asset(asset), fromMicros(updated)
		out = append(out, c)
	}
	return out, rows.Err()
}
