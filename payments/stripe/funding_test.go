package stripe_test

import (
	"math/rand/v2"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stipend/stipend/api/wire"
	"github.com/stipend/stipend/client"
	"github.com/stipend/stipend/internal/apptest"
	"github.com/stipend/stipend/internal/db"
	"github.com/stipend/stipend/internal/dbtest"
	"github.com/stipend/stipend/internal/stripemock"
)

// TestCardFundingIsCreditedOnceByItsWebhook funds a balance by card against stripe-mock: the
// funding answers with the PaymentIntent's client secret and credits nothing until Stripe's
// signed payment_intent.succeeded arrives; that event delivered three times, shuffled among
// others (a failure of an earlier attempt, an unrelated intent, an account update), and some
// of them at once, credits the balance exactly once. Deliveries with a bad signature, a stale
// or a future timestamp are refused with 400 and change nothing.
func TestCardFundingIsCreditedOnceByItsWebhook(t *testing.T) {
	t.Parallel()
	mock := stripemock.Shared(t)
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		srv := apptest.StartOn(t, d, apptest.WithStripe(t, mock.URL))
		w := &world{srv: srv, admin: client.New(srv.URL, srv.Admin)}
		id, key := w.newUser(t, "payer")

		var f wire.CardFunding
		if code := w.call(t, http.MethodPost, "/v1/card-fundings", key, "fund-1", wire.CreateCardFundingRequest{Amount: 5000, Asset: "USD"}, &f); code != http.StatusCreated {
			t.Fatalf("card funding: %d", code)
		}
		if f.Status != "pending" || f.ClientSecret == "" || f.PaymentIntent == "" || f.Amount.Amount != 5000 {
			t.Fatalf("card funding = %+v", f)
		}
		var again wire.CardFunding
		w.call(t, http.MethodPost, "/v1/card-fundings", key, "fund-1", wire.CreateCardFundingRequest{Amount: 5000, Asset: "USD"}, &again)
		if again.ID != f.ID {
			t.Fatalf("a retried funding made another: %s, %s", f.ID, again.ID)
		}
		if got := w.balance(t, key, id, "USD"); got != 0 {
			t.Fatalf("balance before the webhook = %d", got)
		}

		// Refused deliveries change nothing, and their event stays unseen.
		succeeded := event("evt_succeeded_"+f.ID, "payment_intent.succeeded", intentObject(f.PaymentIntent, f.ID, 5000, "usd"))
		for name, code := range map[string]int{
			"wrong secret":     w.deliver(t, succeeded, "whsec_someone_else", time.Now()),
			"stale timestamp":  w.deliver(t, succeeded, apptest.StripeWebhookSecret, time.Now().Add(-10*time.Minute)),
			"future timestamp": w.deliver(t, succeeded, apptest.StripeWebhookSecret, time.Now().Add(10*time.Minute)),
		} {
			if code != http.StatusBadRequest {
				t.Errorf("%s: %d, want 400", name, code)
			}
		}
		tampered := append([]byte(nil), succeeded...)
		tampered[len(tampered)-2] = ' '
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/stripe/webhook", bytesReader(tampered))
		req.Header.Set("Stripe-Signature", signedFor(succeeded))
		if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusBadRequest {
			t.Errorf("a body changed after signing: %v %v, want 400", resp, err)
		}
		if got := w.balance(t, key, id, "USD"); got != 0 {
			t.Fatalf("refused deliveries credited %d", got)
		}

		deliveries := [][]byte{succeeded, succeeded, succeeded,
			event("evt_failed_"+f.ID, "payment_intent.payment_failed", intentObject(f.PaymentIntent, f.ID, 5000, "usd")),
			event("evt_other_"+f.ID, "payment_intent.succeeded", map[string]any{"id": "pi_other", "object": "payment_intent", "amount": 700,
				"amount_received": 700, "currency": "usd", "metadata": map[string]string{}}),
			event("evt_account_"+f.ID, "account.updated", map[string]any{"id": "acct_nobody", "object": "account", "payouts_enabled": true}),
		}
		rand.Shuffle(len(deliveries), func(i, j int) { deliveries[i], deliveries[j] = deliveries[j], deliveries[i] })
		var wg sync.WaitGroup
		for i, d := range deliveries {
			if i%2 == 0 {
				wg.Go(func() {
					if code := w.deliver(t, d, apptest.StripeWebhookSecret, time.Now()); code != http.StatusOK {
						t.Errorf("delivery: %d", code)
					}
				})
				continue
			}
			if code := w.deliver(t, d, apptest.StripeWebhookSecret, time.Now()); code != http.StatusOK {
				t.Errorf("delivery: %d", code)
			}
		}
		wg.Wait()
		if got := w.balance(t, key, id, "USD"); got != 5000 {
			t.Fatalf("balance after the deliveries = %d cents, want 5000 exactly once", got)
		}
		var done wire.CardFunding
		w.call(t, http.MethodGet, "/v1/card-fundings/"+f.ID, key, "", nil, &done)
		if done.Status != "succeeded" || done.AmountPaid != 5000 || done.Transaction == "" {
			t.Fatalf("funding after its webhook = %+v", done)
		}
	})
}

// TestCardFundingByCheckout funds a balance through Stripe's hosted Checkout page: the funding
// answers with the page's address, and the intent's success, found by the funding id in its
// metadata, credits it once. A Checkout without return addresses is refused before Stripe is
// asked anything.
func TestCardFundingByCheckout(t *testing.T) {
	t.Parallel()
	mock := stripemock.Shared(t)
	srv := apptest.StartOn(t, dbtest.Open(t, db.SQLite), apptest.WithStripe(t, mock.URL))
	w := &world{srv: srv, admin: client.New(srv.URL, srv.Admin)}
	id, key := w.newUser(t, "checkout")
	if code := w.call(t, http.MethodPost, "/v1/card-fundings", key, "co-bad", wire.CreateCardFundingRequest{Amount: 2500, Asset: "EUR",
		Checkout: true, SuccessURL: "javascript:alert(1)", CancelURL: "https://example.com/c"}, nil); code != http.StatusBadRequest {
		t.Fatalf("a Checkout with a bad return address: %d, want 400", code)
	}
	var f wire.CardFunding
	if code := w.call(t, http.MethodPost, "/v1/card-fundings", key, "co-1", wire.CreateCardFundingRequest{Amount: 2500, Asset: "EUR",
		Checkout: true, SuccessURL: "https://example.com/thanks", CancelURL: "https://example.com/cancel"}, &f); code != http.StatusCreated {
		t.Fatalf("a Checkout funding: %d", code)
	}
	if f.CheckoutURL == "" || f.ClientSecret != "" {
		t.Fatalf("a Checkout funding = %+v", f)
	}
	pi := f.PaymentIntent
	if pi == "" {
		pi = "pi_checkout_" + f.ID
	}
	if code := w.deliver(t, event("evt_co_"+f.ID, "payment_intent.succeeded", intentObject(pi, f.ID, 2500, "eur")),
		apptest.StripeWebhookSecret, time.Now()); code != http.StatusOK {
		t.Fatalf("delivery: %d", code)
	}
	if got := w.balance(t, key, id, "EUR"); got != 2500 {
		t.Fatalf("EUR balance = %d, want 2500", got)
	}
}
