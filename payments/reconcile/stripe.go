package reconcile

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/stipend/stipend/payments/ledger"
	"github.com/stipend/stipend/payments/payout"
	"github.com/stipend/stipend/payments/stripe"
)

// StripeStore is what Stripe reconciliation reads from the ledger's side.
type StripeStore interface {
	// CardFundingsSettled returns the card fundings credited in [from, to).
	CardFundingsSettled(ctx context.Context, from, to time.Time) ([]stripe.Funding, error)
	// StripePayouts returns the Stripe payouts that succeeded in [from, to).
	StripePayouts(ctx context.Context, from, to time.Time) ([]payout.Payout, error)
	// CardEscrowsCaptured returns the card payments of answered questions captured in
	// [from, to).
	CardEscrowsCaptured(ctx context.Context, from, to time.Time) ([]stripe.EscrowPayment, error)
	// CardRefunds returns the card refunds created in [from, to), whatever their state.
	CardRefunds(ctx context.Context, from, to time.Time) ([]stripe.CardRefund, error)
}

// StripeBalance is what Stripe reconciliation reads from Stripe.
type StripeBalance interface {
	BalanceTransactions(ctx context.Context, from, to time.Time) ([]stripe.BalanceTransaction, error)
}

// StripeReport is the outcome of a Stripe reconciliation.
type StripeReport struct {
	Fundings, Escrows, Refunds, Payouts, Transactions int
	Differences                                       []Difference
}

// Stripe compares the ledger's card fundings, captured question escrows, card refunds and
// Stripe payouts of [from, to) with the platform balance's movements at Stripe in the same
// window. Every transfer at Stripe must be a succeeded payout's, with its amount, and every
// such payout must have its transfer; every refund at Stripe must be one the ledger made, with
// its amount, and every refund the ledger sent must be at Stripe; a refund that failed at
// Stripe must be one the ledger gave back. Balance transactions name charges, not the
// PaymentIntents Stipend keeps, so charges are compared in total per currency with what the
// fundings and the captured escrows were credited. A window should end a while before now:
// Stripe and the ledger timestamp one payment a few seconds apart.
func Stripe(ctx context.Context, st StripeStore, gw StripeBalance, from, to time.Time) (*StripeReport, error) {
	fundings, err := st.CardFundingsSettled(ctx, from, to)
	if err != nil {
		return nil, err
	}
	escrows, err := st.CardEscrowsCaptured(ctx, from, to)
	if err != nil {
		return nil, err
	}
	refunds, err := st.CardRefunds(ctx, from, to)
	if err != nil {
		return nil, err
	}
	payouts, err := st.StripePayouts(ctx, from, to)
	if err != nil {
		return nil, err
	}
	txs, err := gw.BalanceTransactions(ctx, from, to)
	if err != nil {
		return nil, err
	}
	r := &StripeReport{Fundings: len(fundings), Escrows: len(escrows), Refunds: len(refunds), Payouts: len(payouts), Transactions: len(txs)}
	add := func(ref, format string, args ...any) {
		r.Differences = append(r.Differences, Difference{Ref: ref, Problem: fmt.Sprintf(format, args...)})
	}
	byRefund := make(map[string]stripe.CardRefund, len(refunds))
	for _, rf := range refunds {
		if rf.StripeRefund != "" {
			byRefund[rf.StripeRefund] = rf
		}
	}
	byTransfer := make(map[string]payout.Payout, len(payouts))
	for _, p := range payouts {
		byTransfer[p.Proof] = p
	}
	charged := map[ledger.Asset]int64{}
	credited := map[ledger.Asset]int64{}
	seen := map[string]bool{}
	for _, t := range txs {
		switch t.Type {
		case "charge", "payment":
			charged[t.Amount.Asset] += t.Amount.Value
		case "transfer":
			p, ok := byTransfer[t.Source]
			switch {
			case !ok:
				add(t.Source, "a transfer of %s at Stripe that no succeeded payout made", t.Amount.Neg())
			case -t.Amount.Value != p.Amount.Value || t.Amount.Asset != p.Amount.Asset:
				add(p.ID, "payout of %s, but its transfer %s moved %s", p.Amount, t.Source, t.Amount.Neg())
			}
			seen[t.Source] = true
		case "refund", "payment_refund":
			rf, ok := byRefund[t.Source]
			switch {
			case !ok:
				add(t.ID, "a %s of %s at Stripe that the ledger does not know", t.Type, t.Amount.Neg())
			case -t.Amount.Value != rf.Amount.Value || t.Amount.Asset != rf.Amount.Asset:
				add(rf.ID, "refund of %s, but Stripe's refund %s moved %s", rf.Amount, t.Source, t.Amount.Neg())
			}
			seen[t.Source] = true
		case "refund_failure":
			if rf, ok := byRefund[t.Source]; !ok || rf.State != stripe.RefundFailed {
				add(t.ID, "a refund that failed at Stripe (%s), which the ledger did not give back", t.Source)
			}
		case "transfer_refund", "payment_failure_refund":
			add(t.ID, "a %s of %s at Stripe that the ledger does not know", t.Type, t.Amount)
		}
	}
	for _, f := range fundings {
		credited[f.Amount.Asset] += f.AmountPaid
	}
	for _, e := range escrows {
		credited[e.Amount.Asset] += e.Amount.Value
	}
	for _, rf := range refunds {
		if (rf.State == stripe.RefundSent || rf.State == stripe.RefundSucceeded) && !seen[rf.StripeRefund] {
			add(rf.ID, "refund %s of %s, which Stripe's balance does not show", rf.StripeRefund, rf.Amount)
		}
	}
	for _, p := range payouts {
		if !seen[p.Proof] {
			add(p.ID, "payout succeeded with transfer %s, which Stripe's balance does not show", p.Proof)
		}
	}
	assets := map[ledger.Asset]bool{}
	for a := range charged {
		assets[a] = true
	}
	for a := range credited {
		assets[a] = true
	}
	for a := range assets {
		if charged[a] != credited[a] {
			add(string(a), "Stripe charged %s, the ledger credited card fundings and answers %s",
				ledger.Amount{Value: charged[a], Asset: a}, ledger.Amount{Value: credited[a], Asset: a})
		}
	}
	sort.Slice(r.Differences, func(i, j int) bool { return r.Differences[i].Ref < r.Differences[j].Ref })
	return r, nil
}
