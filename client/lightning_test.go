package client_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/stipend/stipend/api/wire"
	"github.com/stipend/stipend/client"
)

// TestFundingsAndPayoutsWithoutLightning uses the test server, which has no Lightning node:
// it refuses to make an invoice, a payout or a question paid by hold invoice with 503
// "unavailable". For the client that is a 503 like any other on a money-moving call, retried
// with the key of the first attempt and then reported with that key, so that the caller can
// retry safely; and nothing moved.
func TestFundingsAndPayoutsWithoutLightning(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	alice, aliceKey := ts.createUserKey(t, "alice")
	ts.credit(t, alice.ID, 10_000_000, "BTC")
	expert, expertClient := ts.createUser(t, "kay")
	if _, err := expertClient.SetExpertProfile(context.Background(), wire.SetExpertRequest{Name: "Kay",
		Price: wire.MoneyRequest{Amount: 2_000_000, Asset: "BTC"}, AnswerWindow: 3600}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path string
		call       func(ctx context.Context, c *client.Client) error
	}{
		{"funding", "/v1/fundings", func(ctx context.Context, c *client.Client) error {
			_, err := c.CreateFunding(ctx, wire.CreateFundingRequest{Amount: 2_100_000, Asset: "BTC", Memo: "top up"}, "")
			return err
		}},
		{"payout to an address", "/v1/payouts", func(ctx context.Context, c *client.Client) error {
			_, err := c.CreatePayout(ctx, wire.CreatePayoutRequest{Destination: "bob@example.com", Amount: 1_000_000, Asset: "BTC"}, "")
			return err
		}},
		{"question by hold invoice", "/v1/experts/" + expert.Handle + "/questions", func(ctx context.Context, c *client.Client) error {
			_, err := c.AskExpert(ctx, expert.Handle, wire.AskRequest{Question: "How do I drain a node?", Escrow: client.EscrowLightning}, "")
			return err
		}},
	}
	// The cases run in parallel inside a group, so that the check after the group sees
	// every case finished.
	t.Run("group", func(t *testing.T) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				p := newProxy(t, ts.url, func(n int, w http.ResponseWriter, r *http.Request, forward http.Handler) {
					forward.ServeHTTP(w, r)
				})
				var resp client.Response
				err := tt.call(client.WithResponse(context.Background(), &resp), client.New(p.URL, aliceKey, fast()))
				var e *client.Error
				if !errors.As(err, &e) || e.StatusCode != http.StatusServiceUnavailable || e.Problem.Code != "unavailable" {
					t.Fatalf("error = %v, want the server's 503 unavailable", err)
				}
				if !strings.Contains(e.Problem.Detail, "Lightning") || !strings.Contains(e.Problem.Detail, "not configured") {
					t.Fatalf("detail %q does not say that Lightning is not configured", e.Problem.Detail)
				}
				reqs := p.requests()
				if len(reqs) != 3 || resp.Attempts != 3 || resp.IdempotencyKey == "" {
					t.Fatalf("%d attempts (%d reported), key %q: want 3 with a key", len(reqs), resp.Attempts, resp.IdempotencyKey)
				}
				for _, r := range reqs {
					if r.Method != http.MethodPost || r.Path != tt.path || r.IdempotencyKey != resp.IdempotencyKey {
						t.Fatalf("attempt %+v, want POST %s with the reported key %q", r, tt.path, resp.IdempotencyKey)
					}
				}
			})
		}
	})
	if got := available(t, client.New(ts.url, aliceKey, fast()), "", "BTC"); got != 10_000_000 {
		t.Fatalf("alice has %d msat, want 10000000: nothing may move", got)
	}
}

// TestLightningMoneyCallsRetryWithOneKey puts a proxy that always answers 502 in front of
// the server: each money-moving Lightning call is tried three times, always with the
// caller's key, which is what makes a later retry by the caller safe.
func TestLightningMoneyCallsRetryWithOneKey(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	tests := []struct {
		name, method, path string
		call               func(ctx context.Context, c *client.Client) error
	}{
		{"create funding", http.MethodPost, "/v1/fundings", func(ctx context.Context, c *client.Client) error {
			_, err := c.CreateFunding(ctx, wire.CreateFundingRequest{Amount: 1_000, Asset: "BTC"}, "key-1")
			return err
		}},
		{"create payout", http.MethodPost, "/v1/payouts", func(ctx context.Context, c *client.Client) error {
			_, err := c.CreatePayout(ctx, wire.CreatePayoutRequest{Destination: "lnbc1x"}, "key-1")
			return err
		}},
		{"cancel payout", http.MethodPost, "/v1/payouts/po_1/cancel", func(ctx context.Context, c *client.Client) error {
			_, err := c.CancelPayout(ctx, "po_1", "key-1")
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := newProxy(t, ts.url, func(n int, w http.ResponseWriter, r *http.Request, forward http.Handler) {
				answer(w, http.StatusBadGateway, "bad gateway")
			})
			var resp client.Response
			err := tt.call(client.WithResponse(context.Background(), &resp), client.New(p.URL, ts.admin, fast()))
			var e *client.Error
			if !errors.As(err, &e) || e.StatusCode != http.StatusBadGateway {
				t.Fatalf("error = %v, want the proxy's 502", err)
			}
			reqs := p.requests()
			if len(reqs) != 3 || resp.IdempotencyKey != "key-1" {
				t.Fatalf("%d attempts, reported key %q: want 3 with key-1", len(reqs), resp.IdempotencyKey)
			}
			for _, r := range reqs {
				if r != (seen{tt.method, tt.path, "key-1"}) {
					t.Fatalf("attempt %+v, want %s %s with key-1", r, tt.method, tt.path)
				}
			}
		})
	}
}

// TestPayoutsAndPreferences reads an account's payouts and preferences, which work without
// Lightning, and sets the preference that needs none: keeping a balance. Asking for
// Lightning sweeps on a server without Lightning is refused, once: setting a preference is
// not money-moving and is never retried.
func TestPayoutsAndPreferences(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ctx := context.Background()
	alice, aliceKey := ts.createUserKey(t, "alice")
	aliceClient := client.New(ts.url, aliceKey, fast())
	_, bobClient := ts.createUser(t, "bob")

	for _, accountID := range []string{"", alice.ID} {
		page, err := aliceClient.Payouts(ctx, accountID, "", 10)
		if err != nil || page.AccountID != alice.ID || page.Data == nil || len(page.Data) != 0 || page.NextCursor != "" {
			t.Fatalf("Payouts(%q) = %+v, %v: want an empty page of alice's", accountID, page, err)
		}
	}
	if _, err := aliceClient.Payout(ctx, "po_missing"); client.ErrorCode(err) != "not_found" {
		t.Fatalf("Payout(po_missing) = %v, want not_found", err)
	}
	if _, err := aliceClient.Funding(ctx, "fund_missing"); client.ErrorCode(err) != "not_found" {
		t.Fatalf("Funding(fund_missing) = %v, want not_found", err)
	}
	if _, err := aliceClient.CancelPayout(ctx, "po_missing", ""); client.ErrorCode(err) != "not_found" {
		t.Fatalf("CancelPayout(po_missing) = %v, want not_found", err)
	}
	// An empty id or asset would address another route, so each is refused without a
	// request.
	for name, err := range map[string]error{
		"Funding":      func() error { _, err := aliceClient.Funding(ctx, ""); return err }(),
		"Payout":       func() error { _, err := aliceClient.Payout(ctx, ""); return err }(),
		"CancelPayout": func() error { _, err := aliceClient.CancelPayout(ctx, "", ""); return err }(),
		"SetPayoutPreference": func() error {
			_, err := aliceClient.SetPayoutPreference(ctx, "", wire.SetPayoutPreferenceRequest{Rail: "keep"})
			return err
		}(),
	} {
		if err == nil || client.ErrorCode(err) != "" {
			t.Fatalf("%s(\"\") = %v, want a local error", name, err)
		}
	}

	prefs, err := aliceClient.PayoutPreferences(ctx, "")
	if err != nil || prefs.AccountID != alice.ID || len(prefs.Data) != 0 {
		t.Fatalf("PayoutPreferences = %+v, %v: want none yet", prefs, err)
	}
	kept, err := aliceClient.SetPayoutPreference(ctx, "USD", wire.SetPayoutPreferenceRequest{Rail: "keep"})
	if err != nil || kept.Asset != "USD" || kept.Unit != "cent" || kept.Rail != "keep" || kept.Destination != "" || kept.UpdatedAt.IsZero() {
		t.Fatalf("SetPayoutPreference(USD, keep) = %+v, %v", kept, err)
	}
	prefs, err = aliceClient.PayoutPreferences(ctx, alice.ID)
	if err != nil || len(prefs.Data) != 1 || prefs.Data[0].Asset != "USD" || prefs.Data[0].Rail != "keep" {
		t.Fatalf("PayoutPreferences after keep = %+v, %v", prefs, err)
	}

	p := newProxy(t, ts.url, func(n int, w http.ResponseWriter, r *http.Request, forward http.Handler) {
		forward.ServeHTTP(w, r)
	})
	var resp client.Response
	_, err = client.New(p.URL, aliceKey, fast()).SetPayoutPreference(client.WithResponse(ctx, &resp), "BTC",
		wire.SetPayoutPreferenceRequest{Rail: "lightning", Destination: "alice@example.com", Minimum: 10_000_000})
	var e *client.Error
	if !errors.As(err, &e) || e.StatusCode != http.StatusServiceUnavailable || e.Problem.Code != "unavailable" || !strings.Contains(e.Problem.Detail, "not configured") {
		t.Fatalf("a Lightning preference without Lightning = %v, want 503 unavailable", err)
	}
	if reqs := p.requests(); len(reqs) != 1 || reqs[0] != (seen{http.MethodPut, "/v1/payout-preferences/BTC", ""}) {
		t.Fatalf("the proxy saw %+v, want one PUT without an Idempotency-Key", reqs)
	}

	// Another user may neither read nor set alice's preferences.
	if _, err := bobClient.PayoutPreferences(ctx, alice.ID); client.ErrorCode(err) != "forbidden" {
		t.Fatalf("bob reading alice's preferences = %v, want forbidden", err)
	}
	if _, err := bobClient.SetPayoutPreference(ctx, "USD", wire.SetPayoutPreferenceRequest{AccountID: alice.ID, Rail: "keep"}); client.ErrorCode(err) != "forbidden" {
		t.Fatalf("bob setting alice's preference = %v, want forbidden", err)
	}
	if _, err := bobClient.Payouts(ctx, alice.ID, "", 0); client.ErrorCode(err) != "forbidden" {
		t.Fatalf("bob listing alice's payouts = %v, want forbidden", err)
	}
}
