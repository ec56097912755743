package stripe_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stipend/stipend/api/wire"
	"github.com/stipend/stipend/client"
	"github.com/stipend/stipend/internal/app"
	"github.com/stipend/stipend/internal/apptest"
	"github.com/stipend/stipend/internal/db"
	"github.com/stipend/stipend/internal/dbtest"
	"github.com/stipend/stipend/internal/jobs"
	"github.com/stipend/stipend/internal/stripemock"
	"github.com/stipend/stipend/payments/payout"
)

// TestUSDBountyPaidOutByStripeTransfer pays a contributor a USD bounty and then out to their
// Stripe Connect account: the payout's transfer carries the payout id as its idempotency key.
// The first send reaches Stripe but its reply is lost, as when the engine dies between
// sending and recording; a new engine on the same database sends again with the same key,
// never another, and Stripe's answer to a key it has seen (the first transfer) completes the
// payout.
func TestUSDBountyPaidOutByStripeTransfer(t *testing.T) {
	t.Parallel()
	mock := stripemock.Shared(t)
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		rec := stripemock.NewRecorder(t, mock)
		srv := apptest.StartOn(t, d, apptest.WithStripe(t, rec.URL))
		w := &world{srv: srv, admin: client.New(srv.URL, srv.Admin)}
		sponsorID, sponsorKey := w.newUser(t, "sponsor")
		contributorID, contributorKey := w.newUser(t, "contributor")
		if code := w.call(t, http.MethodPost, "/v1/admin/credits", srv.Admin, "credit-1",
			wire.AdminCreditRequest{AccountID: sponsorID, Amount: 10_000, Asset: "USD"}, nil); code != http.StatusCreated {
			t.Fatalf("admin credit: %d", code)
		}
		var b wire.Bounty
		if code := w.call(t, http.MethodPost, "/v1/bounties", sponsorKey, "bounty-1", wire.CreateBountyRequest{Kind: "docs",
			Title: "Document the Helm chart", Reward: wire.MoneyRequest{Amount: 2000, Asset: "USD"}, Units: 1, Approval: "review",
			Deadline: time.Now().Add(48 * time.Hour)}, &b); code != http.StatusCreated {
			t.Fatalf("bounty: %d", code)
		}
		var sub wire.Submission
		if code := w.call(t, http.MethodPost, "/v1/bounties/"+b.ID+"/submissions", contributorKey, "",
			wire.CreateSubmissionRequest{Evidence: "https://github.com/example/chart/pull/7"}, &sub); code != http.StatusCreated {
			t.Fatalf("submission: %d", code)
		}
		if code := w.call(t, http.MethodPost, "/v1/bounties/"+b.ID+"/submissions/"+sub.ID+"/approve", sponsorKey, "approve-1", nil, nil); code != http.StatusOK {
			t.Fatalf("approval: %d", code)
		}
		if got := w.balance(t, contributorKey, contributorID, "USD"); got != 2000 {
			t.Fatalf("contributor's USD balance = %d, want 2000", got)
		}

		// Onboarding: a Connect account, enabled by Stripe's account.updated event.
		var conn wire.Connect
		if code := w.call(t, http.MethodPost, "/v1/stripe/connect", contributorKey, "", wire.ConnectRequest{Country: "US"}, &conn); code != http.StatusOK {
			t.Fatalf("connect: %d", code)
		}
		if conn.StripeAccount == "" || conn.OnboardingURL == "" {
			t.Fatalf("connect = %+v", conn)
		}
		var p wire.Payout
		if code := w.call(t, http.MethodPost, "/v1/payouts", contributorKey, "payout-early", wire.CreatePayoutRequest{Amount: 2000, Asset: "USD"}, nil); code != http.StatusBadRequest {
			t.Fatalf("a payout before Stripe enabled the account: %d, want 400", code)
		}
		if code := w.deliver(t, event("evt_acct_"+conn.StripeAccount, "account.updated", map[string]any{"id": conn.StripeAccount,
			"object": "account", "payouts_enabled": true, "details_submitted": true}), apptest.StripeWebhookSecret, time.Now()); code != http.StatusOK {
			t.Fatalf("account.updated: %d", code)
		}
		if code := w.call(t, http.MethodPost, "/v1/payouts", contributorKey, "payout-1", wire.CreatePayoutRequest{Amount: 2000, Asset: "USD"}, &p); code != http.StatusCreated {
			t.Fatalf("payout: %d", code)
		}
		if p.Status != "requested" || p.Destination != conn.StripeAccount || p.FeeCap != 0 {
			t.Fatalf("payout = %+v", p)
		}
		job := jobs.Job{Kind: payout.JobSend, Payload: mustJSON(t, payout.SendJob{PayoutID: p.ID}), Attempt: 1, MaxAttempts: 10}

		// The first engine sends; Stripe makes the transfer, and the reply is lost.
		rec.LoseReplies(func(r stripemock.Request) bool { return r.Method == http.MethodPost && r.Path == "/v1/transfers" })
		if err := srv.App.Payouts.HandleSend(context.Background(), job); err == nil {
			t.Fatal("a send whose reply was lost reported done")
		}
		rec.LoseReplies(nil)
		stored, err := srv.App.Store.Payout(context.Background(), p.ID)
		if err != nil || stored.Status != payout.InFlight {
			t.Fatalf("payout after the lost reply = %+v, %v; want in flight", stored, err)
		}

		isTransfer := func(r stripemock.Request) bool { return r.Method == http.MethodPost && r.Path == "/v1/transfers" }
		beforeRestart := len(rec.Requests(isTransfer))

		// A new engine on the same database follows the payout up.
		o := app.Options{Version: "test", FeeBPS: apptest.FeeBPS}
		apptest.WithStripe(t, rec.URL)(&o)
		restarted, err := app.New(d, o)
		if err != nil {
			t.Fatal(err)
		}
		if err := restarted.Payouts.HandleSend(context.Background(), job); err != nil {
			t.Fatalf("send after the restart: %v", err)
		}
		done, err := restarted.Store.Payout(context.Background(), p.ID)
		if err != nil || done.Status != payout.Succeeded || done.Proof == "" {
			t.Fatalf("payout after the restart = %+v, %v", done, err)
		}
		// stripe-go itself retries a 502 with the same key, so the first engine may have asked
		// more than once; what matters is that every request, before and after the restart,
		// is the same request: one key, so one transfer at Stripe.
		transfers := rec.Requests(isTransfer)
		if beforeRestart < 1 || len(transfers) <= beforeRestart {
			t.Fatalf("%d transfer requests before the restart and %d in all: want some on each side", beforeRestart, len(transfers))
		}
		for _, tr := range transfers {
			if tr.IdempotencyKey != p.ID || tr.Form.Get("transfer_group") != p.ID || tr.Form.Get("destination") != conn.StripeAccount ||
				tr.Form.Get("amount") != "2000" || tr.Form.Get("currency") != "usd" {
				t.Fatalf("transfer request %+v, want key and group %s", tr, p.ID)
			}
		}
		if got := w.balance(t, contributorKey, contributorID, "USD"); got != 0 {
			t.Fatalf("contributor's USD balance after the payout = %d", got)
		}

		// Stripe is a payout preference per asset: USD and EUR to the Connect account, BTC not.
		var pref wire.PayoutPreference
		if code := w.call(t, http.MethodPut, "/v1/payout-preferences/USD", contributorKey, "",
			wire.SetPayoutPreferenceRequest{Rail: "stripe", Minimum: 1000}, &pref); code != http.StatusOK {
			t.Fatalf("a Stripe preference for USD: %d", code)
		}
		if pref.Rail != "stripe" || pref.Destination != conn.StripeAccount {
			t.Fatalf("preference = %+v", pref)
		}
		if code := w.call(t, http.MethodPut, "/v1/payout-preferences/BTC", contributorKey, "",
			wire.SetPayoutPreferenceRequest{Rail: "stripe", Minimum: 1000}, nil); code != http.StatusBadRequest {
			t.Fatalf("a Stripe preference for BTC: %d, want 400", code)
		}
	})
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
