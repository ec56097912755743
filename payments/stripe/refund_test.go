package stripe_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stipend/stipend/api/wire"
	"github.com/stipend/stipend/client"
	"github.com/stipend/stipend/internal/apptest"
	"github.com/stipend/stipend/internal/db"
	"github.com/stipend/stipend/internal/dbtest"
	"github.com/stipend/stipend/internal/jobs"
	"github.com/stipend/stipend/internal/stripemock"
	"github.com/stipend/stipend/payments/stripe"
)

// fundByCard funds accountID with amount cents of USD by card and Stripe's signed event.
func (w *world) fundByCard(t *testing.T, key, accountID, idem string, amount int64) wire.CardFunding {
	t.Helper()
	var f wire.CardFunding
	if code := w.call(t, http.MethodPost, "/v1/card-fundings", key, idem, wire.CreateCardFundingRequest{Amount: amount, Asset: "USD"}, &f); code != http.StatusCreated {
		t.Fatalf("card funding: %d", code)
	}
	ev := event("evt_paid_"+f.ID, "payment_intent.succeeded", intentObject(f.PaymentIntent, f.ID, amount, "usd"))
	if code := w.deliver(t, ev, apptest.StripeWebhookSecret, time.Now()); code != http.StatusOK {
		t.Fatalf("payment_intent.succeeded: %d", code)
	}
	return f
}

// TestCardFundingRefunds refunds card fundings against stripe-mock, on both databases: a
// refund debits the balance and asks Stripe with the refund's id as idempotency key; nothing
// beyond what was paid, nor beyond the balance, goes back; twenty concurrent refunds of a
// fifth each refund exactly five; a refund whose reply is lost is asked again with the same
// key by its job; a refund Stripe reports failed gives the balance back once.
func TestCardFundingRefunds(t *testing.T) {
	t.Parallel()
	mock := stripemock.Shared(t)
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		rec := stripemock.NewRecorder(t, mock)
		srv := apptest.StartOn(t, d, apptest.WithStripe(t, rec.URL))
		w := &world{srv: srv, admin: client.New(srv.URL, srv.Admin)}
		id, key := w.newUser(t, "payer")
		otherID, _ := w.newUser(t, "friend")
		refunds := func(refundID string) []stripemock.Request {
			return rec.Requests(func(r stripemock.Request) bool {
				return r.Method == http.MethodPost && r.Path == "/v1/refunds" && (refundID == "" || r.IdempotencyKey == refundID)
			})
		}

		f := w.fundByCard(t, key, id, "fund-1", 5000)
		var r wire.CardRefund
		if code := w.call(t, http.MethodPost, "/v1/card-fundings/"+f.ID+"/refunds", key, "refund-1", wire.CreateCardRefundRequest{Amount: 3000}, &r); code != http.StatusCreated {
			t.Fatalf("refund: %d", code)
		}
		if r.State != stripe.RefundSucceeded || r.StripeRefund == "" || r.Amount.Amount != 3000 || r.Transaction == "" {
			t.Fatalf("refund = %+v", r)
		}
		sent := refunds(r.ID)
		if len(sent) != 1 || sent[0].Form.Get("payment_intent") != f.PaymentIntent || sent[0].Form.Get("amount") != "3000" ||
			sent[0].Form.Get("metadata[stipend_refund]") != r.ID {
			t.Fatalf("refund requests %+v, want one of 3000 for %s keyed %s", sent, f.PaymentIntent, r.ID)
		}
		if got := w.balance(t, key, id, "USD"); got != 2000 {
			t.Fatalf("balance after refunding 3000 of 5000 = %d", got)
		}
		var again wire.CardRefund
		w.call(t, http.MethodPost, "/v1/card-fundings/"+f.ID+"/refunds", key, "refund-1", wire.CreateCardRefundRequest{Amount: 3000}, &again)
		if again.ID != r.ID || len(refunds("")) != 1 {
			t.Fatalf("a retried refund made another: %s, %s", r.ID, again.ID)
		}

		// Refused: more than is left to refund, and more than the balance holds.
		if code := w.call(t, http.MethodPost, "/v1/card-fundings/"+f.ID+"/refunds", key, "refund-too-much", wire.CreateCardRefundRequest{Amount: 2001}, nil); code != http.StatusConflict {
			t.Fatalf("refunding more than is left: %d, want 409", code)
		}
		if code := w.call(t, http.MethodPost, "/v1/transfers", key, "spend-1", wire.TransferRequest{To: otherID, Amount: 1500, Asset: "USD"}, nil); code != http.StatusCreated {
			t.Fatalf("transfer: %d", code)
		}
		if code := w.call(t, http.MethodPost, "/v1/card-fundings/"+f.ID+"/refunds", key, "refund-rest", wire.CreateCardRefundRequest{}, nil); code != http.StatusUnprocessableEntity {
			t.Fatalf("refunding money already spent: %d, want 422", code)
		}
		if n := len(refunds("")); n != 1 {
			t.Fatalf("refused refunds reached Stripe: %d requests", n)
		}

		// Stripe reports the first refund failed, twice: the balance is given back once, and
		// the amount may be refunded again.
		failed := event("evt_refund_failed_"+r.ID, "charge.refund.updated", map[string]any{"id": r.StripeRefund, "object": "refund",
			"amount": 3000, "currency": "usd", "status": "failed", "metadata": map[string]string{"stipend_refund": r.ID}})
		for range 2 {
			if code := w.deliver(t, failed, apptest.StripeWebhookSecret, time.Now()); code != http.StatusOK {
				t.Fatalf("charge.refund.updated: %d", code)
			}
		}
		var got wire.CardRefund
		if code := w.call(t, http.MethodGet, "/v1/card-refunds/"+r.ID, key, "", nil, &got); code != http.StatusOK || got.State != stripe.RefundFailed || got.Reversal == "" {
			t.Fatalf("failed refund = %d %+v", code, got)
		}
		if got := w.balance(t, key, id, "USD"); got != 500+3000 {
			t.Fatalf("balance after the refund failed = %d, want 3500", got)
		}

		// The reply to a refund is lost: the request stores it pending, and the job asks again
		// with the same key, which Stripe answers with the first refund.
		rec.LoseReplies(func(r stripemock.Request) bool { return r.Path == "/v1/refunds" })
		var lost wire.CardRefund
		if code := w.call(t, http.MethodPost, "/v1/card-fundings/"+f.ID+"/refunds", key, "refund-lost", wire.CreateCardRefundRequest{Amount: 1000}, &lost); code != http.StatusCreated {
			t.Fatalf("refund whose reply is lost: %d", code)
		}
		rec.LoseReplies(nil)
		if lost.State != stripe.RefundPending {
			t.Fatalf("refund whose reply was lost = %+v, want pending", lost)
		}
		job := jobs.Job{Kind: stripe.JobRefund, Payload: mustJSON(t, stripe.RefundJob{RefundID: lost.ID}), Attempt: 1, MaxAttempts: 10}
		if err := srv.App.Stripe.HandleRefund(context.Background(), job); err != nil {
			t.Fatalf("refund job: %v", err)
		}
		if done, err := srv.App.Store.CardRefund(context.Background(), lost.ID); err != nil || done.State != stripe.RefundSucceeded {
			t.Fatalf("refund after the job = %+v, %v", done, err)
		}
		for _, req := range refunds(lost.ID) {
			if req.IdempotencyKey != lost.ID {
				t.Fatalf("a refund request carried key %q", req.IdempotencyKey)
			}
		}
		if got := w.balance(t, key, id, "USD"); got != 2500 {
			t.Fatalf("balance after refunding 1000 more = %d, want 2500", got)
		}

		// Twenty concurrent refunds of 1000 against a funding of 5000: five go through.
		g := w.fundByCard(t, key, id, "fund-2", 5000)
		before := w.balance(t, key, id, "USD")
		var wg sync.WaitGroup
		codes := make(chan int, 20)
		for i := range 20 {
			wg.Go(func() {
				codes <- w.call(t, http.MethodPost, "/v1/card-fundings/"+g.ID+"/refunds", key, fmt.Sprintf("race-%d", i),
					wire.CreateCardRefundRequest{Amount: 1000}, nil)
			})
		}
		wg.Wait()
		close(codes)
		created := 0
		for c := range codes {
			switch c {
			case http.StatusCreated:
				created++
			case http.StatusConflict:
			default:
				t.Fatalf("a concurrent refund answered %d", c)
			}
		}
		if created != 5 {
			t.Fatalf("%d of 20 concurrent refunds of 1000 went through on a funding of 5000, want 5", created)
		}
		if got := w.balance(t, key, id, "USD"); got != before-5000 {
			t.Fatalf("balance after the concurrent refunds = %d, want %d", got, before-5000)
		}
		var funding wire.CardFunding
		if code := w.call(t, http.MethodGet, "/v1/card-fundings/"+g.ID, key, "", nil, &funding); code != http.StatusOK || funding.Refunded != 5000 {
			t.Fatalf("funding after the concurrent refunds = %d %+v", code, funding)
		}

		// Nobody else refunds a funding: it is not theirs to see.
		_, strangerKey := w.newUser(t, "stranger")
		if code := w.call(t, http.MethodPost, "/v1/card-fundings/"+f.ID+"/refunds", strangerKey, "steal", wire.CreateCardRefundRequest{Amount: 100}, nil); code != http.StatusNotFound {
			t.Fatalf("a stranger's refund: %d, want 404", code)
		}
		if code := w.call(t, http.MethodGet, "/v1/card-refunds/"+r.ID, strangerKey, "", nil, nil); code != http.StatusNotFound {
			t.Fatalf("a stranger reading a refund: %d, want 404", code)
		}
	})
}
