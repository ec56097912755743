// Package gatewaytest is the conformance suite of stripe.Gateway: Run checks an
// implementation against the contract that the rest of Stipend relies on. The stripego
// adapter runs it against stripe-mock, Stripe's own API test server.
//
// stripe-mock validates the shape of each request against Stripe's OpenAPI specification and
// answers with fixtures; it keeps no state. What it returns therefore falls in two kinds, and
// the suite asserts only the first:
//
//   - echoed from the request: on creation, the amount and currency, capture_method and
//     description of a PaymentIntent; the country and email of an account; the amount,
//     currency, destination and description of a transfer; the amount and payment_intent of
//     a refund (not its currency); and on every request by id, the id in the path. New
//     objects get fresh random ids with the right prefix (pi_, acct_, tr_, re_, cs_).
//   - fixtures, whatever was sent: metadata (always empty), statuses (an intent is always
//     requires_payment_method, even after capture or cancel; a refund succeeded), amounts and
//     currencies of retrieved objects (an intent is 1099 usd, a transfer 1100 usd, a full
//     refund 100 usd), created timestamps (1234567890), client secrets, Checkout and
//     onboarding URLs, and the one balance transaction of every list (charge, 100 usd),
//     whatever the date range.
//
// stripe-mock also has no idempotency, no declines, no 404s and no insufficient balances:
// those errors are the adapter's own tests' business (stripego maps canned Stripe errors).
// Against stripe-mock the codes asserted here come from the checks that an implementation
// must make before it sends anything: amounts in USD or EUR only and positive, well-formed ids
// and URLs, an idempotency key on every transfer.
package gatewaytest

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/payments/ledger"
	"github.com/stipend/stipend/payments/stripe"
)

// Run runs the suite against g. It creates objects with fresh idempotency keys and asserts
// only what a stateless server such as stripe-mock guarantees, so it also holds for a fake
// that keeps state.
func Run(t *testing.T, g stripe.Gateway) {
	t.Run("PaymentIntent", func(t *testing.T) { testPaymentIntent(t, g) })
	t.Run("CaptureAndCancel", func(t *testing.T) { testCaptureAndCancel(t, g) })
	t.Run("Checkout", func(t *testing.T) { testCheckout(t, g) })
	t.Run("Account", func(t *testing.T) { testAccount(t, g) })
	t.Run("Transfer", func(t *testing.T) { testTransfer(t, g) })
	t.Run("Refund", func(t *testing.T) { testRefund(t, g) })
	t.Run("BalanceTransactions", func(t *testing.T) { testBalanceTransactions(t, g) })
	t.Run("Refused", func(t *testing.T) { testRefused(t, g) })
}

var intentStatuses = map[string]bool{
	stripe.IntentRequiresPaymentMethod: true,
	stripe.IntentRequiresConfirmation:  true,
	stripe.IntentRequiresAction:        true,
	stripe.IntentProcessing:            true,
	stripe.IntentRequiresCapture:       true,
	stripe.IntentCanceled:              true,
	stripe.IntentSucceeded:             true,
}

func testPaymentIntent(t *testing.T, g stripe.Gateway) {
	cases := []struct {
		name   string
		amount ledger.Amount
		manual bool
	}{
		{"USD automatic", ledger.Cents(2500, ledger.USD), false},
		{"USD manual", ledger.Cents(1, ledger.USD), true},
		{"EUR automatic", ledger.Cents(99_999_999, ledger.EUR), false},
		{"EUR manual", ledger.Cents(4200, ledger.EUR), true},
	}
	seen := map[string]bool{}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := ctxFor(t)
			req := stripe.IntentRequest{
				Amount:         tc.amount,
				ManualCapture:  tc.manual,
				Description:    "conformance " + tc.name,
				Metadata:       map[string]string{"stipend_funding": "fnd_" + key(t)},
				IdempotencyKey: key(t),
			}
			pi, err := g.CreatePaymentIntent(ctx, req)
			if err != nil {
				t.Fatalf("CreatePaymentIntent: %v", err)
			}
			wantPrefix(t, "intent id", pi.ID, "pi_")
			if seen[pi.ID] {
				t.Errorf("id %s was returned for two intents", pi.ID)
			}
			seen[pi.ID] = true
			if pi.Amount != tc.amount {
				t.Errorf("Amount = %+v, want %+v", pi.Amount, tc.amount)
			}
			if pi.ManualCapture != tc.manual {
				t.Errorf("ManualCapture = %v, want %v", pi.ManualCapture, tc.manual)
			}
			if pi.ClientSecret == "" {
				t.Error("no client secret: the payer's browser needs it")
			}
			if !intentStatuses[pi.Status] {
				t.Errorf("Status = %q, not a PaymentIntent status", pi.Status)
			}
			if pi.AmountReceived != 0 {
				t.Errorf("a new intent has received %d", pi.AmountReceived)
			}
			if pi.Created.IsZero() {
				t.Error("Created is zero")
			}

			got, err := g.PaymentIntent(ctx, pi.ID)
			if err != nil {
				t.Fatalf("PaymentIntent(%s): %v", pi.ID, err)
			}
			if got.ID != pi.ID {
				t.Errorf("PaymentIntent(%s).ID = %s", pi.ID, got.ID)
			}
			// stripe-mock answers a retrieval with its fixture's amount: check only its kind.
			wantFiat(t, got.Amount)
			if !intentStatuses[got.Status] {
				t.Errorf("Status = %q, not a PaymentIntent status", got.Status)
			}
		})
	}
}

func testCaptureAndCancel(t *testing.T, g stripe.Gateway) {
	ctx := ctxFor(t)
	newIntent := func(t *testing.T) *stripe.PaymentIntent {
		t.Helper()
		pi, err := g.CreatePaymentIntent(ctx, stripe.IntentRequest{Amount: ledger.Cents(5000, ledger.EUR),
			ManualCapture: true, Description: "escrow", IdempotencyKey: key(t)})
		if err != nil {
			t.Fatalf("CreatePaymentIntent: %v", err)
		}
		if !pi.ManualCapture {
			t.Fatal("the escrow intent is not manual-capture")
		}
		return pi
	}
	// The statuses after capture and cancel are stripe-mock's fixture, not succeeded and
	// canceled; the real transitions arrive as webhook events. What holds is that the same
	// intent comes back.
	for _, tc := range []struct {
		name   string
		amount int64
	}{{"whole", 0}, {"part", 1200}} {
		t.Run("capture "+tc.name, func(t *testing.T) {
			pi := newIntent(t)
			got, err := g.CapturePaymentIntent(ctx, pi.ID, tc.amount, key(t))
			if err != nil {
				t.Fatalf("CapturePaymentIntent: %v", err)
			}
			if got.ID != pi.ID || !intentStatuses[got.Status] {
				t.Errorf("captured %s (status %q), want %s", got.ID, got.Status, pi.ID)
			}
			wantFiat(t, got.Amount)
		})
	}
	t.Run("cancel", func(t *testing.T) {
		pi := newIntent(t)
		got, err := g.CancelPaymentIntent(ctx, pi.ID, key(t))
		if err != nil {
			t.Fatalf("CancelPaymentIntent: %v", err)
		}
		if got.ID != pi.ID || !intentStatuses[got.Status] {
			t.Errorf("cancelled %s (status %q), want %s", got.ID, got.Status, pi.ID)
		}
	})
}

func testCheckout(t *testing.T, g stripe.Gateway) {
	ctx := ctxFor(t)
	for _, a := range []ledger.Amount{ledger.Cents(1500, ledger.USD), ledger.Cents(1500, ledger.EUR)} {
		s, err := g.CreateCheckoutSession(ctx, stripe.CheckoutRequest{
			Amount:         a,
			Description:    "Fund bounty",
			SuccessURL:     "https://stipend.example/funded",
			CancelURL:      "https://stipend.example/cancelled",
			Metadata:       map[string]string{"stipend_funding": "fnd_1"},
			IdempotencyKey: key(t),
		})
		if err != nil {
			t.Fatalf("CreateCheckoutSession(%s): %v", a.Asset, err)
		}
		wantPrefix(t, "session id", s.ID, "cs_")
		wantHTTPS(t, "Checkout URL", s.URL)
		if s.PaymentIntent != "" {
			wantPrefix(t, "session's intent", s.PaymentIntent, "pi_")
		}
	}
}

func testAccount(t *testing.T, g stripe.Gateway) {
	ctx := ctxFor(t)
	a, err := g.CreateAccount(ctx, stripe.AccountRequest{Country: "DE", Email: "payee@stipend.example",
		Metadata: map[string]string{"stipend_user": "usr_1"}, IdempotencyKey: key(t)})
	if err != nil {
		t.Fatalf("CreateAccount: %v", err)
	}
	wantPrefix(t, "account id", a.ID, "acct_")
	if a.Country != "DE" || a.Email != "payee@stipend.example" {
		t.Errorf("account country %q email %q, want DE payee@stipend.example", a.Country, a.Email)
	}
	got, err := g.Account(ctx, a.ID)
	if err != nil {
		t.Fatalf("Account(%s): %v", a.ID, err)
	}
	if got.ID != a.ID {
		t.Errorf("Account(%s).ID = %s", a.ID, got.ID)
	}
	link, err := g.AccountLink(ctx, stripe.AccountLinkRequest{Account: a.ID,
		RefreshURL: "https://stipend.example/onboard/refresh", ReturnURL: "https://stipend.example/onboard/done"})
	if err != nil {
		t.Fatalf("AccountLink: %v", err)
	}
	wantHTTPS(t, "onboarding link", link)
}

func testTransfer(t *testing.T, g stripe.Gateway) {
	ctx := ctxFor(t)
	for _, a := range []ledger.Amount{ledger.Cents(777, ledger.USD), ledger.Cents(31_415, ledger.EUR)} {
		t.Run(string(a.Asset), func(t *testing.T) {
			req := stripe.TransferRequest{
				Amount:         a,
				Destination:    "acct_1Conformance",
				Description:    "bounty payout",
				Metadata:       map[string]string{"stipend_payout": "po_1"},
				IdempotencyKey: "po_" + key(t),
			}
			tr, err := g.CreateTransfer(ctx, req)
			if err != nil {
				t.Fatalf("CreateTransfer: %v", err)
			}
			wantPrefix(t, "transfer id", tr.ID, "tr_")
			if tr.Amount != a || tr.Destination != req.Destination {
				t.Errorf("transfer of %+v to %s, want %+v to %s", tr.Amount, tr.Destination, a, req.Destination)
			}
			if tr.Reversed {
				t.Error("a new transfer is reversed")
			}
			// Sending again with the same key must not fail. (Real Stripe then returns the
			// first transfer; stripe-mock has no idempotency and makes a new id, so the ids
			// are not compared.)
			if _, err := g.CreateTransfer(ctx, req); err != nil {
				t.Fatalf("CreateTransfer again with the same key: %v", err)
			}
			got, err := g.Transfer(ctx, tr.ID)
			if err != nil {
				t.Fatalf("Transfer(%s): %v", tr.ID, err)
			}
			if got.ID != tr.ID {
				t.Errorf("Transfer(%s).ID = %s", tr.ID, got.ID)
			}
			wantFiat(t, got.Amount)
		})
	}
}

func testRefund(t *testing.T, g stripe.Gateway) {
	ctx := ctxFor(t)
	pi, err := g.CreatePaymentIntent(ctx, stripe.IntentRequest{Amount: ledger.Cents(900, ledger.USD), IdempotencyKey: key(t)})
	if err != nil {
		t.Fatalf("CreatePaymentIntent: %v", err)
	}
	r, err := g.CreateRefund(ctx, stripe.RefundRequest{PaymentIntent: pi.ID, Amount: 300,
		Metadata: map[string]string{"stipend_refund": "rf_1"}, IdempotencyKey: key(t)})
	if err != nil {
		t.Fatalf("CreateRefund: %v", err)
	}
	wantPrefix(t, "refund id", r.ID, "re_")
	// The amount is echoed; stripe-mock's currency is its fixture's.
	if r.PaymentIntent != pi.ID || r.Amount.Value != 300 {
		t.Errorf("refund of %d for %s, want 300 for %s", r.Amount.Value, r.PaymentIntent, pi.ID)
	}
	wantFiat(t, r.Amount)
	if r.Status == "" {
		t.Error("a refund without a status")
	}
	whole, err := g.CreateRefund(ctx, stripe.RefundRequest{PaymentIntent: pi.ID, IdempotencyKey: key(t)})
	if err != nil {
		t.Fatalf("CreateRefund of what is left: %v", err)
	}
	wantFiat(t, whole.Amount)
}

func testBalanceTransactions(t *testing.T, g stripe.Gateway) {
	ctx := ctxFor(t)
	// From the epoch: stripe-mock's one fixture was created in 2009 and is returned for any
	// range, so a range that includes it holds for a server that filters too.
	txs, err := g.BalanceTransactions(ctx, time.Unix(0, 0), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatalf("BalanceTransactions: %v", err)
	}
	if len(txs) == 0 {
		t.Fatal("no balance transactions")
	}
	for _, tx := range txs {
		wantPrefix(t, "balance transaction id", tx.ID, "txn_")
		wantFiat(t, tx.Amount)
		if tx.Type == "" || tx.Created.IsZero() {
			t.Errorf("balance transaction %s: type %q created %v", tx.ID, tx.Type, tx.Created)
		}
		if tx.Net != tx.Amount.Value-tx.Fee {
			t.Errorf("balance transaction %s: net %d != amount %d - fee %d", tx.ID, tx.Net, tx.Amount.Value, tx.Fee)
		}
	}
	now := time.Now()
	_, err = g.BalanceTransactions(ctx, now, now.Add(-time.Hour))
	wantCode(t, "a range that ends before it starts", err, stipend.EINVALID)
}

// testRefused checks the requests that must fail, before anything is sent, with the code the
// contract documents.
func testRefused(t *testing.T, g stripe.Gateway) {
	ctx := ctxFor(t)
	amounts := []struct {
		name string
		a    ledger.Amount
	}{
		{"BTC", ledger.Sat(1000)},
		{"BTC msat", ledger.Msat(1)},
		{"unknown asset", ledger.Amount{Value: 100, Asset: "GBP"}},
		{"no asset", ledger.Amount{Value: 100}},
		{"zero USD", ledger.Cents(0, ledger.USD)},
		{"negative EUR", ledger.Cents(-5, ledger.EUR)},
	}
	for _, tc := range amounts {
		t.Run(tc.name, func(t *testing.T) {
			_, err := g.CreatePaymentIntent(ctx, stripe.IntentRequest{Amount: tc.a, IdempotencyKey: key(t)})
			wantCode(t, "CreatePaymentIntent", err, stipend.EINVALID)
			_, err = g.CreatePaymentIntent(ctx, stripe.IntentRequest{Amount: tc.a, ManualCapture: true, IdempotencyKey: key(t)})
			wantCode(t, "CreatePaymentIntent manual", err, stipend.EINVALID)
			_, err = g.CreateCheckoutSession(ctx, stripe.CheckoutRequest{Amount: tc.a, Description: "x",
				SuccessURL: "https://stipend.example/s", CancelURL: "https://stipend.example/c", IdempotencyKey: key(t)})
			wantCode(t, "CreateCheckoutSession", err, stipend.EINVALID)
			_, err = g.CreateTransfer(ctx, stripe.TransferRequest{Amount: tc.a, Destination: "acct_1", IdempotencyKey: key(t)})
			wantCode(t, "CreateTransfer", err, stipend.EINVALID)
		})
	}

	usd := ledger.Cents(100, ledger.USD)
	calls := []refusal{
		{"transfer without idempotency key", stipend.EINVALID, func() error {
			_, err := g.CreateTransfer(ctx, stripe.TransferRequest{Amount: usd, Destination: "acct_1"})
			return err
		}},
		{"transfer without destination", stipend.EINVALID, func() error {
			_, err := g.CreateTransfer(ctx, stripe.TransferRequest{Amount: usd, IdempotencyKey: key(t)})
			return err
		}},
		{"negative capture", stipend.EINVALID, func() error {
			_, err := g.CapturePaymentIntent(ctx, "pi_1", -1, key(t))
			return err
		}},
		{"negative refund", stipend.EINVALID, func() error {
			_, err := g.CreateRefund(ctx, stripe.RefundRequest{PaymentIntent: "pi_1", Amount: -1, IdempotencyKey: key(t)})
			return err
		}},
		{"refund without intent", stipend.EINVALID, func() error {
			_, err := g.CreateRefund(ctx, stripe.RefundRequest{IdempotencyKey: key(t)})
			return err
		}},
		{"checkout without URLs", stipend.EINVALID, func() error {
			_, err := g.CreateCheckoutSession(ctx, stripe.CheckoutRequest{Amount: usd, Description: "x", IdempotencyKey: key(t)})
			return err
		}},
		{"account link to a relative URL", stipend.EINVALID, func() error {
			_, err := g.AccountLink(ctx, stripe.AccountLinkRequest{Account: "acct_1", RefreshURL: "/r", ReturnURL: "/d"})
			return err
		}},
		{"account in a malformed country", stipend.EINVALID, func() error {
			_, err := g.CreateAccount(ctx, stripe.AccountRequest{Country: "Germany", IdempotencyKey: key(t)})
			return err
		}},
		{"idempotency key too long", stipend.EINVALID, func() error {
			_, err := g.CreatePaymentIntent(ctx, stripe.IntentRequest{Amount: usd, IdempotencyKey: strings.Repeat("k", 256)})
			return err
		}},
	}
	// Ids that are not Stripe ids: a path (stripe-go puts ids into the URL unescaped), empty,
	// or with a query.
	for _, id := range []string{"", "pi_1/capture", "../v1/balance", "pi_1?expand[]=x", "pi 1"} {
		id := id
		calls = append(calls,
			refusal{fmt.Sprintf("PaymentIntent(%q)", id), stipend.ENOTFOUND, func() error {
				_, err := g.PaymentIntent(ctx, id)
				return err
			}},
			refusal{fmt.Sprintf("CapturePaymentIntent(%q)", id), stipend.ENOTFOUND, func() error {
				_, err := g.CapturePaymentIntent(ctx, id, 0, key(t))
				return err
			}},
			refusal{fmt.Sprintf("CancelPaymentIntent(%q)", id), stipend.ENOTFOUND, func() error {
				_, err := g.CancelPaymentIntent(ctx, id, key(t))
				return err
			}},
			refusal{fmt.Sprintf("Account(%q)", id), stipend.ENOTFOUND, func() error {
				_, err := g.Account(ctx, id)
				return err
			}},
			refusal{fmt.Sprintf("Transfer(%q)", id), stipend.ENOTFOUND, func() error {
				_, err := g.Transfer(ctx, id)
				return err
			}},
			refusal{fmt.Sprintf("AccountLink(%q)", id), stipend.EINVALID, func() error {
				_, err := g.AccountLink(ctx, stripe.AccountLinkRequest{Account: id,
					RefreshURL: "https://stipend.example/r", ReturnURL: "https://stipend.example/d"})
				return err
			}},
		)
	}
	for _, c := range calls {
		wantCode(t, c.name, c.call(), c.code)
	}
}

// refusal is a call that must fail with code.
type refusal struct {
	name string
	code string
	call func() error
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// key returns a fresh idempotency key.
func key(t *testing.T) string {
	return fmt.Sprintf("conformance-%d-%d", time.Now().UnixNano(), keySeq.Add(1))
}

var keySeq atomic.Int64

func wantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	if got := stipend.ErrorCode(err); got != code {
		t.Errorf("%s: error code %q, want %q (%v)", what, got, code, err)
	}
}

func wantPrefix(t *testing.T, what, s, prefix string) {
	t.Helper()
	if !strings.HasPrefix(s, prefix) || len(s) == len(prefix) {
		t.Errorf("%s = %q, want %s…", what, s, prefix)
	}
}

func wantFiat(t *testing.T, a ledger.Amount) {
	t.Helper()
	if (a.Asset != ledger.USD && a.Asset != ledger.EUR) || a.Value <= 0 {
		t.Errorf("amount %+v, want a positive USD or EUR amount", a)
	}
}

func wantHTTPS(t *testing.T, what, raw string) {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		t.Errorf("%s = %q, want an https URL", what, raw)
	}
}
