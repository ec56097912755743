package reconcile_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stipend/stipend/payments/ledger"
	"github.com/stipend/stipend/payments/payout"
	"github.com/stipend/stipend/payments/reconcile"
	"github.com/stipend/stipend/payments/stripe"
)

// stripeLedger and stripeSide are the two sides as plain data: this test is of the
// comparison; the store's queries are exercised by the Stripe tests on both databases.
type stripeLedger struct {
	fundings []stripe.Funding
	escrows  []stripe.EscrowPayment
	refunds  []stripe.CardRefund
	payouts  []payout.Payout
}

func (l *stripeLedger) CardEscrowsCaptured(context.Context, time.Time, time.Time) ([]stripe.EscrowPayment, error) {
	return l.escrows, nil
}

func (l *stripeLedger) CardRefunds(context.Context, time.Time, time.Time) ([]stripe.CardRefund, error) {
	return l.refunds, nil
}

func (l *stripeLedger) CardFundingsSettled(context.Context, time.Time, time.Time) ([]stripe.Funding, error) {
	return l.fundings, nil
}

func (l *stripeLedger) StripePayouts(context.Context, time.Time, time.Time) ([]payout.Payout, error) {
	return l.payouts, nil
}

type stripeSide []stripe.BalanceTransaction

func (s stripeSide) BalanceTransactions(context.Context, time.Time, time.Time) ([]stripe.BalanceTransaction, error) {
	return s, nil
}

func TestStripeReconcileFindsEveryDisagreement(t *testing.T) {
	t.Parallel()
	usd := func(v int64) ledger.Amount { return ledger.Cents(v, ledger.USD) }
	agree := &stripeLedger{
		fundings: []stripe.Funding{{ID: "cf_1", Amount: usd(5000), AmountPaid: 5000}, {ID: "cf_2", Amount: ledger.Cents(700, ledger.EUR), AmountPaid: 700}},
		escrows:  []stripe.EscrowPayment{{QuestionID: "qst_1", Amount: usd(2500)}},
		refunds: []stripe.CardRefund{{ID: "cre_1", StripeRefund: "re_1", Amount: usd(500), State: stripe.RefundSucceeded},
			{ID: "cre_2", StripeRefund: "re_2", Amount: usd(100), State: stripe.RefundFailed},
			{ID: "cre_3", Amount: usd(100), State: stripe.RefundPending}},
		payouts: []payout.Payout{{ID: "po_1", Amount: usd(2000), Proof: "tr_1", Rail: payout.RailStripe}},
	}
	stripeAgrees := stripeSide{
		{ID: "txn_1", Type: "charge", Amount: usd(5000), Source: "ch_1"},
		{ID: "txn_7", Type: "charge", Amount: usd(2500), Source: "ch_2"},
		{ID: "txn_8", Type: "refund", Amount: usd(-500), Source: "re_1"},
		{ID: "txn_9", Type: "refund", Amount: usd(-100), Source: "re_2"},
		{ID: "txn_10", Type: "refund_failure", Amount: usd(100), Source: "re_2"},
		{ID: "txn_2", Type: "payment", Amount: ledger.Cents(700, ledger.EUR), Source: "py_1"},
		{ID: "txn_3", Type: "transfer", Amount: usd(-2000), Source: "tr_1"},
		{ID: "txn_4", Type: "stripe_fee", Amount: usd(-30)},
	}
	r, err := reconcile.Stripe(context.Background(), agree, stripeAgrees, time.Time{}, time.Now())
	if err != nil || len(r.Differences) != 0 || r.Fundings != 2 || r.Escrows != 1 || r.Refunds != 3 || r.Payouts != 1 || r.Transactions != 8 {
		t.Fatalf("agreeing sides: %+v, %v", r, err)
	}

	disagree := stripeSide{
		{ID: "txn_1", Type: "charge", Amount: usd(4000), Source: "ch_1"},        // less than credited
		{ID: "txn_3", Type: "transfer", Amount: usd(-2500), Source: "tr_1"},     // another amount
		{ID: "txn_5", Type: "transfer", Amount: usd(-100), Source: "tr_rogue"},  // no payout made it
		{ID: "txn_6", Type: "refund", Amount: usd(-500), Source: "re_rogue"},    // no refund of the ledger's
		{ID: "txn_8", Type: "refund", Amount: usd(-400), Source: "re_1"},        // another amount
		{ID: "txn_11", Type: "refund_failure", Amount: usd(50), Source: "re_1"}, // failed, but not given back
		{ID: "txn_7", Type: "charge", Amount: usd(2500), Source: "ch_2"},
		{ID: "txn_2", Type: "payment", Amount: ledger.Cents(700, ledger.EUR)},
	}
	missing := &stripeLedger{fundings: agree.fundings, escrows: agree.escrows,
		refunds: append(agree.refunds, stripe.CardRefund{ID: "cre_4", StripeRefund: "re_lost", Amount: usd(10), State: stripe.RefundSent}),
		payouts: append(agree.payouts,
			payout.Payout{ID: "po_2", Amount: usd(300), Proof: "tr_lost", Rail: payout.RailStripe})}
	r, err = reconcile.Stripe(context.Background(), missing, disagree, time.Time{}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var all []string
	for _, d := range r.Differences {
		all = append(all, d.Ref+": "+d.Problem)
	}
	text := strings.Join(all, "\n")
	for _, want := range []string{"USD: Stripe charged 65.00 USD, the ledger credited card fundings and answers 75.00 USD", "po_1: payout of 20.00 USD",
		"tr_rogue: a transfer of 1.00 USD", "txn_6: a refund of 5.00 USD", "po_2: payout succeeded with transfer tr_lost",
		"cre_1: refund of 5.00 USD, but Stripe's refund re_1 moved 4.00 USD", "txn_11: a refund that failed at Stripe (re_1)",
		"cre_4: refund re_lost of 0.10 USD"} {
		if !strings.Contains(text, want) {
			t.Errorf("no difference %q in:\n%s", want, text)
		}
	}
	if len(r.Differences) != 8 {
		t.Fatalf("%d differences, want 8:\n%s", len(r.Differences), text)
	}
}
