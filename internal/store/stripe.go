package store

import (
	"context"
	"database/sql"
	"errors"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/internal/db"
	"github.com/stipend/stipend/payments/ledger"
	"github.com/stipend/stipend/payments/stripe"
)

var _ stripe.Store = (*Store)(nil)

const cardFundingColumns = `id, account_id, request_key, asset, amount, payment_intent, status, amount_paid, ledger_tx, created_at,
	settled_at, refunded`

func scanCardFunding(row interface{ Scan(...any) error }) (*stripe.Funding, error) {
	var f stripe.Funding
	var asset string
	var intent, tx sql.NullString
	var paid, settled sql.NullInt64
	var created int64
	if err := row.Scan(&f.ID, &f.AccountID, &f.RequestKey, &asset, &f.Amount.Value, &intent, &f.Status, &paid, &tx, &created, &settled, &f.Refunded); err != nil {
		return nil, err
	}
	f.Amount.Asset = ledger.Asset(asset)
	f.PaymentIntent, f.AmountPaid, f.LedgerTx = intent.String, paid.Int64, tx.String
	f.CreatedAt, f.SettledAt = fromMicros(created), fromNullMicros(settled)
	return &f, nil
}

func (s *Store) cardFundingWhere(ctx context.Context, q querier, column, value string) (*stripe.Funding, error) {
	f, err := scanCardFunding(q.QueryRow(ctx, `SELECT `+cardFundingColumns+` FROM card_fundings WHERE `+column+` = ?`, value))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, stipend.Errorf(stipend.ENOTFOUND, "no card funding %s", clipText(value, 64))
	}
	return f, err
}

// CreateCardFunding implements stripe.Store.
func (s *Store) CreateCardFunding(ctx context.Context, f *stripe.Funding) (*stripe.Funding, bool, error) {
	var out *stripe.Funding
	var created bool
	err := s.db.InTx(ctx, func(tx *db.Tx) error {
		res, err := tx.Exec(ctx, `INSERT INTO card_fundings (id, account_id, request_key, asset, amount, status, created_at)
			VALUES (?, ?, ?, ?, ?, 'pending', ?) ON CONFLICT (request_key) DO NOTHING`,
			f.ID, f.AccountID, f.RequestKey, string(f.Amount.Asset), f.Amount.Value, f.CreatedAt.UnixMicro())
		if db.IsForeignKeyViolation(err) {
			return stipend.Errorf(stipend.ENOTFOUND, "no account %s", f.AccountID)
		}
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		created = n == 1
		out, err = s.cardFundingWhere(ctx, tx, "request_key", f.RequestKey)
		return err
	})
	return out, created, err
}

// SetCardFundingIntent implements stripe.Store.
func (s *Store) SetCardFundingIntent(ctx context.Context, id, intent string) error {
	return s.db.InTx(ctx, func(tx *db.Tx) error {
		res, err := tx.Exec(ctx, `UPDATE card_fundings SET payment_intent = ? WHERE id = ? AND (payment_intent IS NULL OR payment_intent = ?)`,
			intent, id, intent)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			if err != nil {
				return err
			}
			return stipend.Errorf(stipend.ENOTFOUND, "no card funding %s without another intent", id)
		}
		return nil
	})
}

// CardFunding implements stripe.Store.
func (s *Store) CardFunding(ctx context.Context, id string) (*stripe.Funding, error) {
	return s.cardFundingWhere(ctx, s.db, "id", id)
}

const connectedColumns = `account_id, stripe_account, payouts_enabled, details_submitted, created_at, updated_at`

func scanConnected(row interface{ Scan(...any) error }) (*stripe.Connected, error) {
	var c stripe.Connected
	var created, updated int64
	if err := row.Scan(&c.AccountID, &c.StripeAccount, &c.PayoutsEnabled, &c.DetailsSubmitted, &created, &updated); err != nil {
		return nil, err
	}
	c.CreatedAt, c.UpdatedAt = fromMicros(created), fromMicros(updated)
	return &c, nil
}

func (s *Store) connectedWhere(ctx context.Context, q querier, column, value string) (*stripe.Connected, error) {
	c, err := scanConnected(q.QueryRow(ctx, `SELECT `+connectedColumns+` FROM stripe_accounts WHERE `+column+` = ?`, value))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, stipend.Errorf(stipend.ENOTFOUND, "no Stripe account for %s", clipText(value, 64))
	}
	return c, err
}

// ConnectedAccount implements stripe.Store.
func (s *Store) ConnectedAccount(ctx context.Context, accountID string) (*stripe.Connected, error) {
	return s.connectedWhere(ctx, s.db, "account_id", accountID)
}

// SaveConnectedAccount implements stripe.Store.
func (s *Store) SaveConnectedAccount(ctx context.Context, c *stripe.Connected) (*stripe.Connected, error) {
	var out *stripe.Connected
	err := s.db.InTx(ctx, func(tx *db.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO stripe_accounts (`+connectedColumns+`) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (account_id) DO NOTHING`,
			c.AccountID, c.StripeAccount, c.PayoutsEnabled, c.DetailsSubmitted, c.CreatedAt.UnixMicro(), c.UpdatedAt.UnixMicro())
		if db.IsForeignKeyViolation(err) {
			return stipend.Errorf(stipend.ENOTFOUND, "no account %s", c.AccountID)
		}
		if err != nil {
			return err
		}
		out, err = s.connectedWhere(ctx, tx, "account_id", c.AccountID)
		return err
	})
	return out, err
}

// ApplyStripeEvent implements stripe.Store.
func (s *Store) ApplyStripeEvent(ctx context.Context, e *stripe.Event, eff stripe.Effect) (bool, error) {
	var applied bool
	err := s.db.InTx(ctx, func(tx *db.Tx) error {
		now := s.nowMicros()
		res, err := tx.Exec(ctx, `INSERT INTO stripe_events (id, type, created, received_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (id) DO NOTHING`, e.ID, e.Type, e.Created.UnixMicro(), now)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil || n != 1 {
			applied = false
			return err
		}
		applied = true
		switch {
		case eff.FundingSucceeded != nil:
			return s.creditCardFunding(ctx, tx, eff.FundingSucceeded, now)
		case eff.FundingFailed != "":
			_, err := tx.Exec(ctx, `UPDATE card_fundings SET status = 'failed' WHERE id = ? AND status = 'pending'`, eff.FundingFailed)
			return err
		case eff.FundingCanceled != "":
			_, err := tx.Exec(ctx, `UPDATE card_fundings SET status = 'canceled' WHERE id = ? AND status IN ('pending', 'failed')`, eff.FundingCanceled)
			return err
		case eff.AccountUpdated != nil:
			a := eff.AccountUpdated
			// Only an event newer than the one the state came from changes it.
			_, err := tx.Exec(ctx, `UPDATE stripe_accounts SET payouts_enabled = ?, details_submitted = ?, updated_at = ?, state_at = ?
				WHERE stripe_account = ? AND state_at <= ?`, a.PayoutsEnabled, a.DetailsSubmitted, a.UpdatedAt.UnixMicro(),
				e.Created.UnixMicro(), a.StripeAccount, e.Created.UnixMicro())
			return err
		case eff.EscrowAuthorized != nil:
			p := eff.EscrowAuthorized
			_, err := s.openCard(ctx, tx, p.QuestionID, *p)
			return escrowEventError(err)
		case eff.EscrowCaptured != nil:
			p := eff.EscrowCaptured
			_, err := s.capturedCard(ctx, tx, p.QuestionID, *p)
			return escrowEventError(err)
		case eff.RefundUpdated != nil:
			_, err := s.recordRefundOutcome(ctx, tx, *eff.RefundUpdated, fromMicros(now))
			if stipend.ErrorCode(err) == stipend.ENOTFOUND {
				return nil // a refund made outside Stipend, or of another environment
			}
			return err
		case eff.EscrowCanceled != nil:
			p := eff.EscrowCanceled
			_, err := s.canceledCard(ctx, tx, p.QuestionID, p.PaymentIntent, p.At)
			return escrowEventError(err)
		}
		return nil
	})
	if err != nil {
		return false, err // rolled back: nothing was applied, and the event is not recorded
	}
	return applied, nil
}

// escrowEventError keeps an event that does not fit its question (no such question, another
// intent or amount, a question that has moved on) as seen and applied to nothing, as Stripe
// must not deliver it again; the jobs that follow each question, and reconciliation, decide
// from the question's own state. Any other error rolls the event back, to be delivered again.
func escrowEventError(err error) error {
	switch stipend.ErrorCode(err) {
	case stipend.ENOTFOUND, stipend.ECONFLICT:
		return nil
	}
	return err
}

// creditCardFunding credits a funding's account with what its intent received, once: the
// status moves to succeeded by a conditional update (a payment that failed and was then paid
// with another card succeeds too), and the ledger transaction's key is the funding's.
func (s *Store) creditCardFunding(ctx context.Context, tx *db.Tx, p *stripe.FundingPaid, now int64) error {
	f, err := s.cardFundingWhere(ctx, tx, "id", p.FundingID)
	if stipend.ErrorCode(err) == stipend.ENOTFOUND {
		return nil // an intent someone made with our metadata, or of another environment
	}
	if err != nil {
		return err
	}
	if f.PaymentIntent != "" && f.PaymentIntent != p.PaymentIntent {
		return nil // not this funding's intent
	}
	if p.Amount != f.Amount {
		// Not the payment this funding asked for: recorded as seen, credited nothing, and
		// left for reconciliation and an operator.
		return nil
	}
	res, err := tx.Exec(ctx, `UPDATE card_fundings SET status = 'succeeded', amount_paid = ?, settled_at = ?, payment_intent = ?
		WHERE id = ? AND status IN ('pending', 'failed')`, p.Amount.Value, now, p.PaymentIntent, f.ID)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return err // credited by an earlier event
	}
	t := ledger.Transfer("card_funding:"+f.ID, stripe.KindCardFunding, ledger.ExternalAddress("stripe"), ledger.AccountAddress(f.AccountID), p.Amount)
	t.Memo = "card funding"
	t.Metadata = map[string]string{"funding_id": f.ID, "payment_intent": p.PaymentIntent}
	posted, _, err := s.post(ctx, tx, t, "")
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `UPDATE card_fundings SET ledger_tx = ? WHERE id = ?`, posted.ID, f.ID)
	return err
}
