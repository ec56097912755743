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
	"github.com/stipend/stipend/payments/stripe"
)

const cardRefundColumns = `id, funding_id, account_id, request_key, asset, amount, state, stripe_refund, ledger_tx, reversal_tx,
	created_at, updated_at`

func scanCardRefund(row interface{ Scan(...any) error }) (*stripe.CardRefund, error) {
	var r stripe.CardRefund
	var asset string
	var stripeRefund, reversal sql.NullString
	var created, updated int64
	if err := row.Scan(&r.ID, &r.FundingID, &r.AccountID, &r.RequestKey, &asset, &r.Amount.Value, &r.State, &stripeRefund, &r.LedgerTx,
		&reversal, &created, &updated); err != nil {
		return nil, err
	}
	r.Amount.Asset = ledger.Asset(asset)
	r.StripeRefund, r.ReversalTx = stripeRefund.String, reversal.String
	r.CreatedAt, r.UpdatedAt = fromMicros(created), fromMicros(updated)
	return &r, nil
}

func (s *Store) cardRefundWhere(ctx context.Context, q querier, column, value string) (*stripe.CardRefund, error) {
	r, err := scanCardRefund(q.QueryRow(ctx, `SELECT `+cardRefundColumns+` FROM card_refunds WHERE `+column+` = ?`, value))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, stipend.Errorf(stipend.ENOTFOUND, "no card refund %s", clipText(value, 64))
	}
	return r, err
}

// CardRefund implements stripe.RefundStore.
func (s *Store) CardRefund(ctx context.Context, id string) (*stripe.CardRefund, error) {
	return s.cardRefundWhere(ctx, s.db, "id", id)
}

// CreateCardRefund implements stripe.RefundStore. What is left to refund is taken from the
// funding by a conditional update, so that concurrent refunds of one funding never add up to
// more than was paid.
func (s *Store) CreateCardRefund(ctx context.Context, r *stripe.CardRefund) (*stripe.CardRefund, bool, error) {
	var out *stripe.CardRefund
	var created bool
	err := s.db.InTx(ctx, func(tx *db.Tx) error {
		prev, err := s.cardRefundWhere(ctx, tx, "request_key", r.RequestKey)
		if err == nil {
			out = prev
			return nil
		}
		if stipend.ErrorCode(err) != stipend.ENOTFOUND {
			return err
		}
		f, err := s.cardFundingWhere(ctx, tx, "id", r.FundingID)
		if err != nil {
			return err
		}
		res, err := tx.Exec(ctx, `UPDATE card_fundings SET refunded = refunded + ?
			WHERE id = ? AND status = 'succeeded' AND refunded + ? <= amount_paid`, r.Amount.Value, f.ID, r.Amount.Value)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			if f.Status != stripe.FundingSucceeded {
				return stipend.Errorf(stipend.ECONFLICT, "card funding %s is %s: only a paid funding is refunded", f.ID, f.Status)
			}
			return stipend.Errorf(stipend.ECONFLICT, "card funding %s has less than %s left to refund", f.ID, r.Amount)
		}
		t := ledger.Transfer(stripe.KindCardRefund+":"+r.ID, stripe.KindCardRefund, ledger.AccountAddress(f.AccountID),
			ledger.ExternalAddress("stripe"), r.Amount)
		t.Memo = "refund of card funding " + f.ID
		t.Metadata = map[string]string{"refund_id": r.ID, "funding_id": f.ID, "payment_intent": f.PaymentIntent}
		t.CreatedBy = f.AccountID
		posted, _, err := s.post(ctx, tx, t, "")
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO card_refunds (`+cardRefundColumns+`) VALUES (?, ?, ?, ?, ?, ?, 'pending', NULL, ?, NULL, ?, ?)`,
			r.ID, f.ID, f.AccountID, r.RequestKey, string(r.Amount.Asset), r.Amount.Value, posted.ID, r.CreatedAt.UnixMicro(),
			r.UpdatedAt.UnixMicro()); err != nil {
			if db.IsUniqueViolation(err) {
				return errRetryRefund // a concurrent request with the key committed first
			}
			return err
		}
		if _, _, err := enqueue(ctx, tx, r.CreatedAt, jobs.NewJob{Kind: stripe.JobRefund, Payload: stripe.RefundJob{RefundID: r.ID},
			UniqueKey: stripe.JobRefund + ":" + r.ID, RunAt: r.CreatedAt.Add(refundJobDelay), MaxAttempts: 1000}); err != nil {
			return err
		}
		out, created = nil, true
		out, err = s.cardRefundWhere(ctx, tx, "id", r.ID)
		return err
	})
	if errors.Is(err, errRetryRefund) {
		return s.CreateCardRefund(ctx, r)
	}
	return out, created, err
}

// refundJobDelay lets the request that stored a refund ask Stripe first; the job follows up
// when that request died or got no answer.
const refundJobDelay = 30 * time.Second

// errRetryRefund rolls back a refund that lost a race with the same request key, to be
// answered from the winner's row.
var errRetryRefund = errors.New("store: refund lost a race with the same request key")

// RecordRefundOutcome implements stripe.RefundStore.
func (s *Store) RecordRefundOutcome(ctx context.Context, o stripe.RefundOutcome, now time.Time) (*stripe.CardRefund, error) {
	var out *stripe.CardRefund
	err := s.db.InTx(ctx, func(tx *db.Tx) error {
		var err error
		out, err = s.recordRefundOutcome(ctx, tx, o, now)
		return err
	})
	return out, err
}

// recordRefundOutcome moves a refund by what Stripe said of it, in tx. Each move is a
// conditional update from the states it may come from, so a late or repeated event does not
// undo a later state, and a failure reverses the debit once.
func (s *Store) recordRefundOutcome(ctx context.Context, tx *db.Tx, o stripe.RefundOutcome, now time.Time) (*stripe.CardRefund, error) {
	r, err := s.cardRefundWhere(ctx, tx, "id", o.RefundID)
	if err != nil {
		return nil, err
	}
	if r.StripeRefund != "" && o.StripeRefund != "" && r.StripeRefund != o.StripeRefund {
		return r, nil // not this refund's Stripe Refund
	}
	var to string
	var from []string
	switch {
	case o.Refused || o.Status == "failed" || o.Status == "canceled":
		to, from = stripe.RefundFailed, []string{stripe.RefundPending, stripe.RefundSent, stripe.RefundSucceeded}
	case o.Status == "succeeded":
		to, from = stripe.RefundSucceeded, []string{stripe.RefundPending, stripe.RefundSent}
	default: // pending, requires_action: Stripe is processing it
		to, from = stripe.RefundSent, []string{stripe.RefundPending}
	}
	moved := false
	for _, f := range from {
		res, err := tx.Exec(ctx, `UPDATE card_refunds SET state = ?, stripe_refund = COALESCE(stripe_refund, ?), updated_at = ?
			WHERE id = ? AND state = ?`, to, nullString(o.StripeRefund), now.UnixMicro(), r.ID, f)
		if err != nil {
			return nil, err
		}
		if n, err := res.RowsAffected(); err != nil {
			return nil, err
		} else if n == 1 {
			moved = true
			break
		}
	}
	if moved && to == stripe.RefundFailed {
		t := ledger.Transfer(stripe.KindCardRefundReversal+":"+r.ID, stripe.KindCardRefundReversal, ledger.ExternalAddress("stripe"),
			ledger.AccountAddress(r.AccountID), r.Amount)
		t.Memo = "failed refund " + r.ID + " given back"
		t.Metadata = map[string]string{"refund_id": r.ID, "funding_id": r.FundingID}
		posted, _, err := s.post(ctx, tx, t, "")
		if err != nil {
			return nil, err
		}
		if _, err := tx.Exec(ctx, `UPDATE card_refunds SET reversal_tx = ? WHERE id = ?`, posted.ID, r.ID); err != nil {
			return nil, err
		}
		if _, err := tx.Exec(ctx, `UPDATE card_fundings SET refunded = refunded - ? WHERE id = ?`, r.Amount.Value, r.FundingID); err != nil {
			return nil, err
		}
	}
	return s.cardRefundWhere(ctx, tx, "id", r.ID)
}
