// Package striperail is the payout rail that pays USD and EUR to payees' Stripe Connect
// accounts by Transfer. The payout id is the transfer's idempotency key and its transfer
// group: a payout sent again, after a crash or a lost reply, is the same request to Stripe,
// which answers it with the first transfer, never a second one.
package striperail

import (
	"context"
	"strings"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/payments/ledger"
	"github.com/stipend/stipend/payments/payout"
	"github.com/stipend/stipend/payments/stripe"
)

// Rail pays payouts by Stripe Transfer.
type Rail struct {
	gw stripe.Gateway
}

// New returns the Stripe rail over gw.
func New(gw stripe.Gateway) *Rail { return &Rail{gw: gw} }

var _ payout.Rail = (*Rail)(nil)

// Name implements payout.Rail.
func (r *Rail) Name() string { return payout.RailStripe }

// Feeless reports that a transfer to a Connect account costs the payee nothing: no fee is
// reserved with a Stripe payout.
func (r *Rail) Feeless() bool { return true }

// Prepare implements payout.Rail. The destination is a Connect account id; what is "paid" is
// that account, and the handle a fresh one, since Stripe's own handle is the payout's id.
func (r *Rail) Prepare(_ context.Context, destination string, amount ledger.Amount) (*payout.Prepared, error) {
	if !strings.HasPrefix(destination, "acct_") || len(destination) > 255 || strings.ContainsAny(destination, " /?#") {
		return nil, stipend.Errorf(stipend.EINVALID, "destination: a Stripe Connect account (acct_…); connect one with POST /v1/stripe/connect")
	}
	if amount.Asset != ledger.USD && amount.Asset != ledger.EUR {
		return nil, stipend.Errorf(stipend.EINVALID, "asset: Stripe pays USD or EUR")
	}
	if amount.Value < 1 {
		return nil, stipend.Errorf(stipend.EINVALID, "amount: at least one cent")
	}
	return &payout.Prepared{Invoice: destination, PaymentHash: stipend.NewID("xfer"), AmountMsat: amount.Value}, nil
}

// Send implements payout.Rail: one Transfer under the payout's id. A refusal by Stripe (an
// account that cannot receive transfers, a platform balance too low) is a failed outcome; an
// unknown outcome (Stripe unreachable, the reply lost) is in flight, and the next Send asks
// again with the same key.
func (r *Rail) Send(ctx context.Context, p *payout.Payout) (*payout.Outcome, error) {
	// Stripe keeps an idempotency key for 24 hours. A payout sent again later (after an
	// outage) must find its transfer rather than rely on the key: the transfer group is the
	// payout's id, and a transfer found in it is the payout's.
	if out, err := r.lookup(ctx, p); err != nil || out.Status != payout.OutcomeUnknown {
		if err != nil {
			return &payout.Outcome{Status: payout.OutcomeInFlight}, nil
		}
		return out, nil
	}
	t, err := r.gw.CreateTransfer(ctx, stripe.TransferRequest{Amount: p.Amount, Destination: p.Invoice,
		Description: "Stipend payout " + p.ID, Metadata: map[string]string{"stipend_payout": p.ID, "stipend_account": p.AccountID},
		IdempotencyKey: p.ID, Group: p.ID})
	switch stipend.ErrorCode(err) {
	case "":
		return &payout.Outcome{Status: payout.OutcomeSucceeded, Proof: t.ID}, nil
	case stipend.EINVALID, stipend.EINSUFFICIENTFUNDS, stipend.ENOTFOUND:
		return &payout.Outcome{Status: payout.OutcomeFailed, Failure: "Stripe refused the transfer: " + stipend.ErrorMessage(err)}, nil
	}
	return &payout.Outcome{Status: payout.OutcomeInFlight}, nil
}

// Status implements payout.Rail. A payout with a transfer is looked up; one without was never
// answered by Stripe, and its next Send, with the same key, is what finds out.
func (r *Rail) Status(ctx context.Context, p *payout.Payout) (*payout.Outcome, error) {
	return r.lookup(ctx, p)
}

// lookup finds a payout's transfer: by its id once known, else in the payout's transfer group.
func (r *Rail) lookup(ctx context.Context, p *payout.Payout) (*payout.Outcome, error) {
	var found *stripe.Transfer
	if p.Proof != "" {
		t, err := r.gw.Transfer(ctx, p.Proof)
		if err != nil {
			return nil, err
		}
		found = t
	} else {
		ts, err := r.gw.TransfersInGroup(ctx, p.ID)
		if err != nil {
			return nil, err
		}
		if len(ts) == 0 {
			return &payout.Outcome{Status: payout.OutcomeUnknown}, nil
		}
		found = &ts[0]
	}
	if found.Reversed {
		return &payout.Outcome{Status: payout.OutcomeFailed, Proof: found.ID, Failure: "the transfer was reversed"}, nil
	}
	return &payout.Outcome{Status: payout.OutcomeSucceeded, Proof: found.ID}, nil
}
