package stripe

import (
	"context"
	"encoding/json"
	"time"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/accounts"
	"github.com/stipend/stipend/internal/jobs"
	"github.com/stipend/stipend/payments/ledger"
)

// Card refund states.
const (
	RefundPending   = "pending"   // stored and debited, not yet taken by Stripe
	RefundSent      = "sent"      // taken by Stripe, which is processing it
	RefundSucceeded = "succeeded" // the money is on its way back to the card
	RefundFailed    = "failed"    // refused or failed at Stripe; the debit was reversed
)

// KindCardRefund and KindCardRefundReversal are the ledger kinds of a refund's debit and of
// its reversal when the refund fails.
const (
	KindCardRefund         = "card_refund"
	KindCardRefundReversal = "card_refund_reversal"
)

// MetaRefund is the metadata key of a card refund's id on its Stripe Refund.
const MetaRefund = "stipend_refund"

// JobRefund asks Stripe for a stored card refund, with the refund's id as the idempotency
// key, until Stripe has taken or refused it.
const JobRefund = "stripe.refund"

// RefundJob is the payload of JobRefund.
type RefundJob struct {
	RefundID string `json:"refund_id"`
}

// CardRefund gives (part of) a card funding back to the card that paid it, from the funded
// account's balance.
type CardRefund struct {
	ID           string
	FundingID    string
	AccountID    string
	RequestKey   string
	Amount       ledger.Amount
	State        string
	StripeRefund string // Stripe's Refund, once it took the request
	LedgerTx     string // the debit of the account
	ReversalTx   string // the reversal of the debit, for a failed refund
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// RefundOutcome is what Stripe says of a refund: its Refund's id and status (pending,
// requires_action, succeeded, failed or canceled), or Refused for a request it turned down.
type RefundOutcome struct {
	RefundID     string
	StripeRefund string
	Status       string
	Refused      bool
}

// RefundStore keeps card refunds.
type RefundStore interface {
	// CreateCardRefund stores r as pending, debits its amount from the account to Stripe and
	// schedules JobRefund, in one transaction; or returns the refund already stored under
	// r's request key, with created false. Returns ENOTFOUND (the funding), ECONFLICT (the
	// funding was not paid, or has less than the amount left to refund) and
	// EINSUFFICIENTFUNDS (the balance does not cover it).
	CreateCardRefund(ctx context.Context, r *CardRefund) (stored *CardRefund, created bool, err error)
	// CardRefund returns one refund. Returns ENOTFOUND.
	CardRefund(ctx context.Context, id string) (*CardRefund, error)
	// RecordRefundOutcome records what Stripe said of a refund: taken (sent), succeeded, or
	// refused or failed, which reverses the debit and frees the amount to be refunded again,
	// once. A refund that succeeded may still fail later. Returns ENOTFOUND.
	RecordRefundOutcome(ctx context.Context, o RefundOutcome, now time.Time) (*CardRefund, error)
}

// RefundFunding gives amount (0: all that is left) of a card funding back to the card that
// paid it, from the funded account's balance, which must cover it: the money was spendable
// once credited, and only what is still there goes back. The refund and the debit are stored
// first; Stripe is asked with the refund's id as the idempotency key, now and by JobRefund
// until it answers. A request retried with the same idempotency key returns the first refund.
//
// Returns EFORBIDDEN, EINVALID, ENOTFOUND, ECONFLICT (not paid, or already refunded),
// EINSUFFICIENTFUNDS, EIDEMPOTENCYMISMATCH and EUNAVAILABLE (Stripe is not configured).
func (s *Service) RefundFunding(ctx context.Context, actor *accounts.Principal, fundingID string, amount int64, idempotencyKey string) (*CardRefund, error) {
	if err := accounts.Require(actor, accounts.ScopePayouts); err != nil {
		return nil, err
	}
	if amount < 0 {
		return nil, stipend.Errorf(stipend.EINVALID, "amount: must not be negative (0 refunds what is left)")
	}
	f, err := s.store.CardFunding(ctx, fundingID)
	if err != nil {
		return nil, err
	}
	if err := s.accounts.Authorize(ctx, actor, f.AccountID, accounts.Read); err != nil {
		return nil, stipend.Errorf(stipend.ENOTFOUND, "no card funding %s", clipID(fundingID))
	}
	// Money leaves the account: only those who may spend from it may send it back.
	if err := s.accounts.Authorize(ctx, actor, f.AccountID, accounts.Spend); err != nil {
		return nil, err
	}
	if _, err := s.gateway(); err != nil {
		return nil, err
	}
	if f.Status != FundingSucceeded {
		return nil, stipend.Errorf(stipend.ECONFLICT, "card funding %s is %s: only a paid funding is refunded", f.ID, f.Status)
	}
	if amount == 0 {
		amount = f.AmountPaid - f.Refunded
		if amount <= 0 {
			return nil, stipend.Errorf(stipend.ECONFLICT, "card funding %s is refunded in full", f.ID)
		}
	}
	now := s.opts.Now().UTC()
	r, created, err := s.store.CreateCardRefund(ctx, &CardRefund{ID: stipend.NewID("cre"), FundingID: f.ID, AccountID: f.AccountID,
		RequestKey: requestKey(actor.Account.ID, idempotencyKey), Amount: ledger.Amount{Value: amount, Asset: f.Amount.Asset},
		State: RefundPending, CreatedAt: now, UpdatedAt: now})
	if err != nil {
		return nil, err
	}
	if !created && (r.FundingID != f.ID || r.Amount.Value != amount) {
		return nil, stipend.Errorf(stipend.EIDEMPOTENCYMISMATCH, "this Idempotency-Key was already used for a different refund")
	}
	out, err := s.sendRefund(ctx, r.ID)
	if err != nil {
		// Stored and debited: JobRefund asks Stripe again with the same key.
		s.opts.Logger.Warn("asking Stripe for a refund; the job will retry", "refund_id", r.ID, "error", err)
		return r, nil
	}
	return out, nil
}

// CardRefund returns a refund the caller may see. Returns ENOTFOUND.
func (s *Service) CardRefund(ctx context.Context, actor *accounts.Principal, id string) (*CardRefund, error) {
	r, err := s.store.CardRefund(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := s.accounts.Authorize(ctx, actor, r.AccountID, accounts.Read); err != nil {
		return nil, stipend.Errorf(stipend.ENOTFOUND, "no card refund %s", clipID(id))
	}
	return r, nil
}

// sendRefund asks Stripe for a pending refund and records its answer. A request refused as
// invalid is refused for good, and the debit is reversed; a conflict (a charge refunded or
// disputed already) may mean that an earlier attempt went through after Stripe forgot its
// key, so it is left for an operator rather than reversed; any other failure has an unknown
// outcome and is sent again with the same key.
func (s *Service) sendRefund(ctx context.Context, id string) (*CardRefund, error) {
	r, err := s.store.CardRefund(ctx, id)
	if err != nil {
		return nil, err
	}
	if r.State != RefundPending {
		return r, nil
	}
	gw, err := s.gateway()
	if err != nil {
		return nil, err
	}
	f, err := s.store.CardFunding(ctx, r.FundingID)
	if err != nil {
		return nil, err
	}
	rf, err := gw.CreateRefund(ctx, RefundRequest{PaymentIntent: f.PaymentIntent, Amount: r.Amount.Value, IdempotencyKey: r.ID,
		Metadata: map[string]string{MetaRefund: r.ID, MetaFunding: f.ID, MetaAccount: r.AccountID}})
	switch stipend.ErrorCode(err) {
	case "":
		return s.store.RecordRefundOutcome(ctx, RefundOutcome{RefundID: r.ID, StripeRefund: rf.ID, Status: rf.Status}, s.opts.Now().UTC())
	case stipend.EINVALID:
		s.opts.Logger.Warn("Stripe refused a refund; the account's balance is given back", "refund_id", r.ID, "error", err)
		return s.store.RecordRefundOutcome(ctx, RefundOutcome{RefundID: r.ID, Refused: true}, s.opts.Now().UTC())
	case stipend.ECONFLICT:
		s.opts.Logger.Error("Stripe refused a refund as conflicting with the payment's state; an operator must look",
			"refund_id", r.ID, "payment_intent", f.PaymentIntent, "error", err)
	}
	return nil, err
}

// HandleRefund is the JobRefund handler.
func (s *Service) HandleRefund(ctx context.Context, j jobs.Job) error {
	var p RefundJob
	if err := json.Unmarshal(j.Payload, &p); err != nil {
		return err
	}
	_, err := s.sendRefund(ctx, p.RefundID)
	return err
}

// refundObject is what Stipend reads of a Refund in an event.
type refundObject struct {
	ID       string            `json:"id"`
	Status   string            `json:"status"`
	Metadata map[string]string `json:"metadata"`
}

// clipID shortens an id from a request for an error message.
func clipID(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
