package reconcile_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stipend/stipend/experts"
	"github.com/stipend/stipend/payments/funding"
	"github.com/stipend/stipend/payments/ledger"
	"github.com/stipend/stipend/payments/lightning"
	"github.com/stipend/stipend/payments/payout"
	"github.com/stipend/stipend/payments/reconcile"
)

// ledgerSide is the ledger's view, as reconciliation reads it. The real store is exercised by
// the end-to-end test of stipendd reconcile on regtest; this test checks the comparisons.
type ledgerSide struct {
	payouts  []payout.Payout
	fundings []funding.Funding
	escrows  []experts.Question
	clearing int64
}

func (l *ledgerSide) LightningPayouts(context.Context) ([]payout.Payout, error) {
	return l.payouts, nil
}
func (l *ledgerSide) LightningFundings(context.Context) ([]funding.Funding, error) {
	return l.fundings, nil
}
func (l *ledgerSide) PayoutClearing(context.Context) (int64, error) { return l.clearing, nil }
func (l *ledgerSide) LightningEscrows(context.Context) ([]experts.Question, error) {
	return l.escrows, nil
}

// nodeSide is lnd's view: only the two listings reconciliation reads.
type nodeSide struct {
	lightning.Node
	payments []lightning.Payment
	invoices []lightning.InvoiceUpdate
}

func (n *nodeSide) ListPayments(context.Context) ([]lightning.Payment, error) { return n.payments, nil }
func (n *nodeSide) ListInvoices(context.Context) ([]lightning.InvoiceUpdate, error) {
	return n.invoices, nil
}

func TestReconcileFindsEveryDisagreement(t *testing.T) {
	t.Parallel()
	now := time.Now()
	ok := payout.Payout{ID: "po_ok", Status: payout.Succeeded, Amount: ledger.Sat(1), FeePaid: 5, PaymentHash: "h_ok", Proof: "p", SettleTx: "tx"}
	agreeing := &ledgerSide{
		payouts:  []payout.Payout{ok},
		fundings: []funding.Funding{{ID: "fund_ok", Status: funding.Settled, PaymentHash: "i_ok", AmountPaid: 700, LedgerTx: "tx"}},
		escrows: []experts.Question{
			{ID: "qst_paid", Status: experts.Answered, LedgerTx: "tx", Invoice: &experts.HoldInvoice{Hash: "q_paid", State: experts.HoldSettled, AmountPaidMsat: 900}},
			{ID: "qst_held", Status: experts.Open, Invoice: &experts.HoldInvoice{Hash: "q_held", State: experts.HoldAccepted}},
			{ID: "qst_back", Status: experts.Expired, Invoice: &experts.HoldInvoice{Hash: "q_back", State: experts.HoldCanceled}},
		},
	}
	node := &nodeSide{
		payments: []lightning.Payment{{Hash: "h_ok", Status: lightning.PaymentSucceeded, AmountMsat: 1000, FeeMsat: 5, Preimage: "p"}},
		invoices: []lightning.InvoiceUpdate{{Hash: "i_ok", State: lightning.InvoiceSettled, AmountPaidMsat: 700},
			{Hash: "q_paid", State: lightning.InvoiceSettled, AmountPaidMsat: 900}, {Hash: "q_held", State: lightning.InvoiceAccepted},
			{Hash: "q_back", State: lightning.InvoiceCanceled}},
	}
	r, err := reconcile.Lightning(context.Background(), agreeing, node, now)
	if err != nil || len(r.Differences) != 0 {
		t.Fatalf("an agreeing ledger: %+v, %v", r, err)
	}

	tests := []struct {
		name   string
		ledger func(l *ledgerSide)
		node   func(n *nodeSide)
		want   string
	}{
		{"a fee that differs", func(l *ledgerSide) { l.payouts[0].FeePaid = 6 }, nil, "routing fee"},
		{"a payment nobody asked for", nil, func(n *nodeSide) {
			n.payments = append(n.payments, lightning.Payment{Hash: "rogue", Status: lightning.PaymentSucceeded, AmountMsat: 9})
		}, "no payout accounts for"},
		{"a payment made twice", nil, func(n *nodeSide) {
			n.payments = append(n.payments, lightning.Payment{Hash: "h_ok", Status: lightning.PaymentSucceeded, AmountMsat: 1000})
		}, "paid more than once"},
		{"a failed payout that lnd paid", func(l *ledgerSide) { l.payouts[0].Status = payout.Failed }, nil, "but lnd paid"},
		{"an in-flight payout lnd never saw", func(l *ledgerSide) {
			l.payouts = append(l.payouts, payout.Payout{ID: "po_lost", Status: payout.InFlight, PaymentHash: "h_lost", Amount: ledger.Sat(2)})
			l.clearing = 2000
		}, nil, "lnd has no payment"},
		{"a requested payout that is stuck", func(l *ledgerSide) {
			l.payouts = append(l.payouts, payout.Payout{ID: "po_stuck", Status: payout.Requested, PaymentHash: "h_stuck",
				Amount: ledger.Sat(2), CreatedAt: now.Add(-time.Hour)})
			l.clearing = 2000
		}, nil, "still not sent"},
		{"a reservation left in clearing", func(l *ledgerSide) { l.clearing = 1 }, nil, "open payouts reserve"},
		{"a settled invoice not credited", func(l *ledgerSide) { l.fundings[0].Status = funding.Open }, nil, "not credited it"},
		{"an invoice paid behind the ledger's back", nil, func(n *nodeSide) {
			n.invoices = append(n.invoices, lightning.InvoiceUpdate{Hash: "gift", State: lightning.InvoiceSettled, AmountPaidMsat: 5})
		}, "no funding accounts for"},
		{"a hold invoice settled but not credited", func(l *ledgerSide) { l.escrows[0].Invoice.State = experts.HoldSettle }, nil,
			"has not credited it (settle)"},
		{"a hold invoice credited for another amount", func(l *ledgerSide) { l.escrows[0].Invoice.AmountPaidMsat = 901 }, nil,
			"lnd received 900 msat, the ledger credited 901"},
		{"an HTLC still held for a question that ended", func(l *ledgerSide) {
			l.escrows[2].Invoice.State = experts.HoldCanceled
		}, func(n *nodeSide) { n.invoices[3].State = lightning.InvoiceAccepted }, "lnd holds the payer's HTLC, but the question is expired"},
		{"an HTLC lnd cancelled under an open question", nil, func(n *nodeSide) { n.invoices[2].State = lightning.InvoiceCanceled },
			"lnd cancelled the payer's HTLC, but the question is open"},
		{"a settle that has not reached the node", func(l *ledgerSide) { l.escrows[1].Invoice.State = experts.HoldSettle }, nil,
			"settle job has not reached"},
		{"a paid question that did not open", func(l *ledgerSide) { l.escrows[1].Invoice.State = experts.HoldOpen }, nil,
			"has not opened"},
		{"a hold invoice lnd does not know", nil, func(n *nodeSide) { n.invoices = n.invoices[:2] }, "lnd has no hold invoice of hash q_held"},
		{"a settle the node refused", func(l *ledgerSide) { l.escrows[0].Invoice.State = experts.HoldFailed }, func(n *nodeSide) {
			n.invoices[1].State = lightning.InvoiceCanceled
		}, "refused to settle"},
	}
	for _, tt := range tests {
		l := &ledgerSide{payouts: append([]payout.Payout(nil), agreeing.payouts...), fundings: append([]funding.Funding(nil), agreeing.fundings...)}
		for _, q := range agreeing.escrows {
			inv := *q.Invoice
			q.Invoice = &inv
			l.escrows = append(l.escrows, q)
		}
		n := &nodeSide{payments: append([]lightning.Payment(nil), node.payments...), invoices: append([]lightning.InvoiceUpdate(nil), node.invoices...)}
		if tt.ledger != nil {
			tt.ledger(l)
		}
		if tt.node != nil {
			tt.node(n)
		}
		r, err := reconcile.Lightning(context.Background(), l, n, now)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, d := range r.Differences {
			found = found || strings.Contains(d.Problem, tt.want)
		}
		if !found {
			t.Errorf("%s: differences %+v lack %q", tt.name, r.Differences, tt.want)
		}
	}

	// An open funding whose invoice expired and that lnd forgot is not a difference.
	expired := &ledgerSide{fundings: []funding.Funding{{ID: "fund_old", Status: funding.Open, PaymentHash: "gone", ExpiresAt: now.Add(-time.Hour)}}}
	if r, _ := reconcile.Lightning(context.Background(), expired, &nodeSide{}, now); len(r.Differences) != 0 {
		t.Fatalf("an expired, forgotten invoice was reported: %+v", r.Differences)
	}
}
