// Package reconcile compares what Stipend's ledger says with what its rails say, and lists
// every difference: a payment or invoice the ledger does not know, a payout whose outcome
// disagrees with the node's, an amount or a fee that differs.
package reconcile

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/stipend/stipend/experts"
	"github.com/stipend/stipend/payments/funding"
	"github.com/stipend/stipend/payments/lightning"
	"github.com/stipend/stipend/payments/payout"
)

// Store is what reconciliation reads from the ledger's side.
type Store interface {
	// LightningPayouts returns every Lightning payout that has a payment hash.
	LightningPayouts(ctx context.Context) ([]payout.Payout, error)
	// LightningFundings returns every Lightning funding.
	LightningFundings(ctx context.Context) ([]funding.Funding, error)
	// PayoutClearing returns the balance of the payout clearing account in BTC, which holds
	// the reservations of the payouts not yet final.
	PayoutClearing(ctx context.Context) (int64, error)
	// LightningEscrows returns every question escrowed by a hold invoice.
	LightningEscrows(ctx context.Context) ([]experts.Question, error)
}

// Difference is one disagreement between the ledger and a rail.
type Difference struct {
	Ref     string // a payout or funding id, or a payment hash
	Problem string
}

// Report is the outcome of a reconciliation.
type Report struct {
	Payouts, Fundings, Escrows, Payments, Invoices int
	Differences                                    []Difference
}

// stuckAfter is how long a payout may stay requested before reconciliation calls it stuck.
const stuckAfter = 10 * time.Minute

// Lightning reconciles the ledger's Lightning payouts and fundings with a node's payments and
// invoices, as of now.
func Lightning(ctx context.Context, st Store, node lightning.Node, now time.Time) (*Report, error) {
	payouts, err := st.LightningPayouts(ctx)
	if err != nil {
		return nil, err
	}
	fundings, err := st.LightningFundings(ctx)
	if err != nil {
		return nil, err
	}
	escrows, err := st.LightningEscrows(ctx)
	if err != nil {
		return nil, err
	}
	payments, err := node.ListPayments(ctx)
	if err != nil {
		return nil, err
	}
	invoices, err := node.ListInvoices(ctx)
	if err != nil {
		return nil, err
	}
	r := &Report{Payouts: len(payouts), Fundings: len(fundings), Escrows: len(escrows), Payments: len(payments), Invoices: len(invoices)}
	add := func(ref, format string, args ...any) {
		r.Differences = append(r.Differences, Difference{Ref: ref, Problem: fmt.Sprintf(format, args...)})
	}

	// lnd keeps at most one payment per hash that succeeded or is in flight; failed attempts of
	// the same hash may be several.
	byHash := map[string][]lightning.Payment{}
	for _, p := range payments {
		byHash[p.Hash] = append(byHash[p.Hash], p)
	}
	final := func(hash string) (*lightning.Payment, int) {
		var best *lightning.Payment
		ok := 0
		for i, p := range byHash[hash] {
			if p.Status != lightning.PaymentFailed {
				ok++
			}
			if best == nil || p.Status == lightning.PaymentSucceeded || (best.Status == lightning.PaymentFailed && p.Status == lightning.PaymentInFlight) {
				best = &byHash[hash][i]
			}
		}
		return best, ok
	}
	known := map[string]bool{}
	for _, po := range payouts {
		known[po.PaymentHash] = true
		p, live := final(po.PaymentHash)
		if live > 1 {
			add(po.ID, "lnd holds %d payments of hash %s that did not fail: paid more than once", live, po.PaymentHash)
		}
		switch po.Status {
		case payout.Succeeded:
			switch {
			case p == nil || p.Status != lightning.PaymentSucceeded:
				add(po.ID, "succeeded in the ledger, but lnd has no successful payment of hash %s", po.PaymentHash)
			case p.AmountMsat != po.Amount.Value:
				add(po.ID, "paid %d msat in lnd, %d msat in the ledger", p.AmountMsat, po.Amount.Value)
			case p.FeeMsat != po.FeePaid:
				add(po.ID, "routing fee %d msat in lnd, %d msat in the ledger", p.FeeMsat, po.FeePaid)
			case p.Preimage != po.Proof:
				add(po.ID, "the proof of payment differs from lnd's preimage")
			case po.SettleTx == "":
				add(po.ID, "succeeded without a settlement transaction")
			}
		case payout.Failed, payout.Cancelled:
			if p != nil && p.Status == lightning.PaymentSucceeded {
				add(po.ID, "%s in the ledger (its money returned), but lnd paid hash %s", po.Status, po.PaymentHash)
			} else if p != nil && p.Status == lightning.PaymentInFlight {
				add(po.ID, "%s in the ledger, but lnd's payment of hash %s is still in flight", po.Status, po.PaymentHash)
			}
		case payout.InFlight:
			switch {
			case p == nil:
				add(po.ID, "in flight in the ledger, but lnd has no payment of hash %s: never sent, or sent from another node", po.PaymentHash)
			case p.Status != lightning.PaymentInFlight:
				add(po.ID, "in flight in the ledger, but %s in lnd: the engine has not recorded the outcome yet", p.Status)
			}
		case payout.Requested:
			if p != nil {
				add(po.ID, "requested in the ledger, but lnd already has a payment of hash %s", po.PaymentHash)
			} else if now.Sub(po.CreatedAt) > stuckAfter {
				add(po.ID, "requested %s ago and still not sent", now.Sub(po.CreatedAt).Round(time.Second))
			}
		}
	}
	// What the clearing account holds must be exactly the reservations of open payouts: a
	// payout that ended without its settlement or reversal shows here.
	var reserved int64
	for _, po := range payouts {
		if !po.Final() {
			reserved += po.Amount.Value + po.FeeCap
		}
	}
	clearing, err := st.PayoutClearing(ctx)
	if err != nil {
		return nil, err
	}
	if clearing != reserved {
		add("clearing:payouts", "holds %d msat, but the open payouts reserve %d msat", clearing, reserved)
	}
	for hash, ps := range byHash {
		if known[hash] {
			continue
		}
		for _, p := range ps {
			if p.Status != lightning.PaymentFailed {
				add(hash, "lnd has a %s payment of %d msat that no payout accounts for", p.Status, p.AmountMsat)
			}
		}
	}

	invByHash := map[string]lightning.InvoiceUpdate{}
	for _, inv := range invoices {
		invByHash[inv.Hash] = inv
	}
	funded := map[string]bool{}
	for _, f := range fundings {
		funded[f.PaymentHash] = true
		inv, ok := invByHash[f.PaymentHash]
		switch {
		case !ok && f.Status == funding.Open && now.After(f.ExpiresAt):
			// lnd may forget invoices that expired unpaid; there is nothing to reconcile.
		case !ok:
			add(f.ID, "lnd has no invoice of hash %s", f.PaymentHash)
		case inv.State == lightning.InvoiceSettled && f.Status != funding.Settled:
			add(f.ID, "lnd settled the invoice (%d msat), but the ledger has not credited it", inv.AmountPaidMsat)
		case inv.State != lightning.InvoiceSettled && f.Status == funding.Settled:
			add(f.ID, "credited in the ledger, but the invoice is %s in lnd", inv.State)
		case f.Status == funding.Settled && inv.AmountPaidMsat != f.AmountPaid:
			add(f.ID, "lnd received %d msat, the ledger credited %d msat", inv.AmountPaidMsat, f.AmountPaid)
		case f.Status == funding.Settled && f.LedgerTx == "":
			add(f.ID, "settled without a ledger transaction")
		}
	}
	for _, q := range escrows {
		funded[q.Invoice.Hash] = true
		checkEscrow(q, invByHash, add)
	}
	for _, inv := range invoices {
		if inv.State == lightning.InvoiceSettled && !funded[inv.Hash] {
			add(inv.Hash, "lnd settled an invoice of %d msat that no funding accounts for", inv.AmountPaidMsat)
		}
	}
	sort.Slice(r.Differences, func(i, j int) bool { return r.Differences[i].Ref < r.Differences[j].Ref })
	return r, nil
}

// checkEscrow compares the hold invoice of a question with the node's. Between the decision
// to settle or cancel and its doing, the two differ for a moment; a difference that stays is a
// job that is not getting through.
func checkEscrow(q experts.Question, node map[string]lightning.InvoiceUpdate, add func(ref, format string, args ...any)) {
	h := q.Invoice
	inv, ok := node[h.Hash]
	switch {
	case !ok && h.State != experts.HoldCanceled:
		add(q.ID, "lnd has no hold invoice of hash %s, which the question records as %s", h.Hash, h.State)
	case !ok:
	case inv.State == lightning.InvoiceSettled && h.State != experts.HoldSettled:
		add(q.ID, "lnd settled the hold invoice (%d msat), but the ledger has not credited it (%s)", inv.AmountPaidMsat, h.State)
	case h.State == experts.HoldSettled && inv.State != lightning.InvoiceSettled:
		add(q.ID, "credited in the ledger, but the hold invoice is %s in lnd", inv.State)
	case h.State == experts.HoldSettled && inv.AmountPaidMsat != h.AmountPaidMsat:
		add(q.ID, "lnd received %d msat, the ledger credited %d msat", inv.AmountPaidMsat, h.AmountPaidMsat)
	case h.State == experts.HoldSettled && q.LedgerTx == "":
		add(q.ID, "settled without a ledger transaction")
	case inv.State == lightning.InvoiceCanceled && (h.State == experts.HoldAccepted || h.State == experts.HoldSettle):
		add(q.ID, "lnd cancelled the payer's HTLC, but the question is %s and its invoice %s: the answer cannot be paid", q.Status, h.State)
	case inv.State == lightning.InvoiceAccepted && (h.State == experts.HoldSettle || h.State == experts.HoldCancel):
		add(q.ID, "lnd still holds the payer's HTLC, which the question's %s job has not reached yet", h.State)
	case inv.State == lightning.InvoiceAccepted && h.State == experts.HoldOpen:
		add(q.ID, "lnd holds the payer's HTLC, but the question has not opened")
	case inv.State == lightning.InvoiceAccepted && h.State != experts.HoldAccepted:
		add(q.ID, "lnd holds the payer's HTLC, but the question is %s and its invoice %s", q.Status, h.State)
	case h.State == experts.HoldFailed:
		add(q.ID, "the node refused to settle the hold invoice of an answered question (lnd: %s)", inv.State)
	}
}
