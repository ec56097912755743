package store

import (
	"context"
	"time"

	"github.com/stipend/stipend/experts"
	"github.com/stipend/stipend/payments/funding"
	"github.com/stipend/stipend/payments/ledger"
	"github.com/stipend/stipend/payments/payout"
	"github.com/stipend/stipend/payments/reconcile"
	"github.com/stipend/stipend/payments/stripe"
)

var _ reconcile.Store = (*Store)(nil)

// LightningPayouts implements reconcile.Store.
func (s *Store) LightningPayouts(ctx context.Context) ([]payout.Payout, error) {
	return s.queryPayouts(ctx, `rail = ? AND payment_hash IS NOT NULL ORDER BY id`, payout.RailLightning)
}

// LightningFundings implements reconcile.Store.
func (s *Store) LightningFundings(ctx context.Context) ([]funding.Funding, error) {
	rows, err := s.db.Query(ctx, `SELECT `+fundingColumns+` FROM ln_fundings ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []funding.Funding
	for rows.Next() {
		f, err := scanFunding(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *f)
	}
	return out, rows.Err()
}

// LightningEscrows implements reconcile.Store.
func (s *Store) LightningEscrows(ctx context.Context) ([]experts.Question, error) {
	return s.questionList(ctx, `escrow = 'lightning'`)
}

// PayoutClearing implements reconcile.Store.
func (s *Store) PayoutClearing(ctx context.Context) (int64, error) {
	var v int64
	err := s.db.QueryRow(ctx, `SELECT COALESCE(SUM(balance), 0) FROM ledger_balances WHERE address = ? AND asset = ?`,
		payoutClearing, string(ledger.BTC)).Scan(&v)
	return v, err
}

var _ reconcile.StripeStore = (*Store)(nil)

// CardFundingsSettled implements reconcile.StripeStore.
func (s *Store) CardFundingsSettled(ctx context.Context, from, to time.Time) ([]stripe.Funding, error) {
	return queryAll(ctx, s.db, `SELECT `+cardFundingColumns+` FROM card_fundings WHERE status = 'succeeded'
		AND settled_at >= ? AND settled_at < ? ORDER BY settled_at`, scanCardFunding, from.UTC().UnixMicro(), to.UTC().UnixMicro())
}

// StripePayouts implements reconcile.StripeStore.
func (s *Store) StripePayouts(ctx context.Context, from, to time.Time) ([]payout.Payout, error) {
	return s.queryPayouts(ctx, `rail = ? AND status = ? AND finished_at >= ? AND finished_at < ? ORDER BY id`,
		payout.RailStripe, payout.Succeeded, from.UTC().UnixMicro(), to.UTC().UnixMicro())
}

// CardEscrowsCaptured implements reconcile.StripeStore.
func (s *Store) CardEscrowsCaptured(ctx context.Context, from, to time.Time) ([]stripe.EscrowPayment, error) {
	return queryAll(ctx, s.db, `SELECT c.question_id, COALESCE(c.payment_intent, ''), q.asset, c.amount_captured, c.updated_at
		FROM question_card_escrows c JOIN questions q ON q.id = c.question_id
		WHERE c.state = 'captured' AND c.updated_at >= ? AND c.updated_at < ? ORDER BY c.updated_at`,
		func(row interface{ Scan(...any) error }) (*stripe.EscrowPayment, error) {
			var p stripe.EscrowPayment
			var asset string
			var at int64
			if err := row.Scan(&p.QuestionID, &p.PaymentIntent, &asset, &p.Amount.Value, &at); err != nil {
				return nil, err
			}
			p.Amount.Asset, p.At = ledger.Asset(asset), fromMicros(at)
			return &p, nil
		}, from.UTC().UnixMicro(), to.UTC().UnixMicro())
}

// CardRefunds implements reconcile.StripeStore.
func (s *Store) CardRefunds(ctx context.Context, from, to time.Time) ([]stripe.CardRefund, error) {
	return queryAll(ctx, s.db, `SELECT `+cardRefundColumns+` FROM card_refunds WHERE created_at >= ? AND created_at < ? ORDER BY created_at`,
		scanCardRefund, from.UTC().UnixMicro(), to.UTC().UnixMicro())
}
