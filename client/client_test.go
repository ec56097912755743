package client_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stipend/stipend/api/wire"
	"github.com/stipend/stipend/client"
)

// TestMe checks that the bootstrap admin key is recognised as the operator's, which is the
// first call any tool makes to learn who it is.
func TestMe(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	var resp client.Response
	me, err := ts.adminClient().Me(client.WithResponse(context.Background(), &resp))
	if err != nil {
		t.Fatal(err)
	}
	if me.Account.Handle != "operator" || !slices.Contains(me.Key.Scopes, "admin") || me.Key.ID == "" {
		t.Fatalf("me = %+v", me)
	}
	// The raw body is kept for callers that print what the server said, such as the CLI.
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(resp.Body), `"account"`) || resp.RequestID == "" || resp.Attempts != 1 {
		t.Fatalf("response = %d %q id %q attempts %d", resp.StatusCode, resp.Body, resp.RequestID, resp.Attempts)
	}
}

// TestAccountsAndKeys walks through the life of a user's key: an admin creates the account
// and a key, the user lists and uses it, and once revoked it no longer works.
func TestAccountsAndKeys(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ctx := context.Background()
	admin := ts.adminClient()

	org, err := admin.CreateAccount(ctx, wire.CreateAccountRequest{Kind: "org", Handle: "acme", Name: "Acme", Email: "ops@acme.test"})
	if err != nil {
		t.Fatal(err)
	}
	if org.ID == "" || org.Kind != "org" || org.Handle != "acme" || org.Email != "ops@acme.test" {
		t.Fatalf("created account = %+v", org)
	}
	got, err := admin.Account(ctx, org.ID)
	if err != nil || got.ID != org.ID || got.Name != "Acme" {
		t.Fatalf("Account(%s) = %+v, %v", org.ID, got, err)
	}
	// An empty id would address the collection rather than an account, so it is refused
	// without a request.
	if _, err := admin.Account(ctx, ""); err == nil || client.ErrorCode(err) != "" {
		t.Fatalf("Account(\"\") = %v, want a local error", err)
	}

	alice, aliceClient := ts.createUser(t, "alice")
	created, err := aliceClient.CreateKey(ctx, wire.CreateKeyRequest{Name: "ci", Scopes: []string{"account:read"}})
	if err != nil {
		t.Fatal(err)
	}
	if created.Secret == "" || created.AccountID != alice.ID || !slices.Equal(created.Scopes, []string{"account:read"}) {
		t.Fatalf("created key = %+v", created)
	}
	ciClient := client.New(ts.url, created.Secret, fast())
	me, err := ciClient.Me(ctx)
	if err != nil || me.Key.ID != created.ID {
		t.Fatalf("the new key is not usable: %+v, %v", me, err)
	}

	for _, accountID := range []string{"", alice.ID} {
		keys, err := aliceClient.Keys(ctx, accountID)
		if err != nil {
			t.Fatal(err)
		}
		if len(keys.Data) != 2 || !slices.ContainsFunc(keys.Data, func(k wire.Key) bool { return k.ID == created.ID }) {
			t.Fatalf("Keys(%q) = %+v, want the test key and the ci key", accountID, keys.Data)
		}
	}

	revoked, err := aliceClient.RevokeKey(ctx, created.ID)
	if err != nil || revoked.RevokedAt == nil {
		t.Fatalf("RevokeKey = %+v, %v", revoked, err)
	}
	if _, err := ciClient.Me(ctx); client.ErrorCode(err) != "unauthorized" {
		t.Fatalf("a revoked key still works: %v", err)
	}
}

// TestMoneyMovesAndTheLedgerPages credits, transfers and then reads the ledger a page at a
// time, so that every money-related method meets the real server.
func TestMoneyMovesAndTheLedgerPages(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ctx := context.Background()
	alice, aliceClient := ts.createUser(t, "alice")
	bob, bobClient := ts.createUser(t, "bob")

	credit := ts.credit(t, alice.ID, 2_100_000, "BTC")
	if credit.Kind != "admin_credit" {
		t.Fatalf("credit = %+v", credit)
	}
	ts.credit(t, alice.ID, 50, "USD")
	tx, err := aliceClient.Transfer(ctx, wire.TransferRequest{To: bob.Handle, Amount: 100_000, Asset: "BTC", Memo: "thanks"}, "")
	if err != nil {
		t.Fatal(err)
	}
	if tx.Kind != "transfer" || tx.Memo != "thanks" || len(tx.Entries) != 2 {
		t.Fatalf("transfer = %+v", tx)
	}

	bal, err := aliceClient.Balances(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if bal.AccountID != alice.ID || len(bal.Data) != 2 {
		t.Fatalf("balances = %+v", bal)
	}
	if got := available(t, aliceClient, alice.ID, "BTC"); got != 2_000_000 {
		t.Fatalf("alice has %d msat, want 2000000", got)
	}
	if got := available(t, bobClient, "", "BTC"); got != 100_000 {
		t.Fatalf("bob has %d msat, want 100000", got)
	}

	var kinds []string
	cursor := ""
	for range 10 {
		page, err := aliceClient.Transactions(ctx, "", cursor, 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Data) > 1 {
			t.Fatalf("page of limit 1 has %d transactions", len(page.Data))
		}
		for _, x := range page.Data {
			kinds = append(kinds, x.Kind)
		}
		if cursor = page.NextCursor; cursor == "" {
			break
		}
	}
	if !slices.Equal(kinds, []string{"transfer", "admin_credit", "admin_credit"}) {
		t.Fatalf("alice's ledger, newest first = %v", kinds)
	}
	page, err := ts.adminClient().Transactions(ctx, bob.ID, "", 0)
	if err != nil || len(page.Data) != 1 || page.Data[0].ID != tx.ID {
		t.Fatalf("bob's ledger as the admin sees it = %+v, %v", page, err)
	}
}

// TestRepeatedMoneyMovesAreReplayed shows what an idempotency key is for: the same call
// repeated with the same key returns the first result and moves the money once, while a
// call without a key gets a fresh one each time.
func TestRepeatedMoneyMovesAreReplayed(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ctx := context.Background()
	alice, aliceClient := ts.createUser(t, "alice")
	bob, _ := ts.createUser(t, "bob")
	ts.credit(t, alice.ID, 1000, "EUR")

	req := wire.TransferRequest{To: bob.ID, Amount: 300, Asset: "EUR"}
	var first, second client.Response
	tx1, err := aliceClient.Transfer(client.WithResponse(ctx, &first), req, "order-42")
	if err != nil {
		t.Fatal(err)
	}
	tx2, err := aliceClient.Transfer(client.WithResponse(ctx, &second), req, "order-42")
	if err != nil {
		t.Fatal(err)
	}
	if tx1.ID != tx2.ID || first.Replayed || !second.Replayed || second.IdempotencyKey != "order-42" {
		t.Fatalf("first %s (replayed %v), second %s (replayed %v, key %q)", tx1.ID, first.Replayed, tx2.ID, second.Replayed, second.IdempotencyKey)
	}
	if got := available(t, aliceClient, "", "EUR"); got != 700 {
		t.Fatalf("alice has %d cents, want 700: the transfer must happen once", got)
	}

	// Without a key the client makes one up, reports it, and never reuses it for a new call.
	var r1, r2 client.Response
	admin := ts.adminClient()
	credit := wire.AdminCreditRequest{AccountID: alice.ID, Amount: 1, Asset: "EUR"}
	if _, err := admin.AdminCredit(client.WithResponse(ctx, &r1), credit, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.AdminCredit(client.WithResponse(ctx, &r2), credit, ""); err != nil {
		t.Fatal(err)
	}
	if r1.IdempotencyKey == "" || r1.IdempotencyKey == r2.IdempotencyKey || r2.Replayed {
		t.Fatalf("generated keys %q and %q (second replayed %v)", r1.IdempotencyKey, r2.IdempotencyKey, r2.Replayed)
	}
	if got := available(t, aliceClient, "", "EUR"); got != 702 {
		t.Fatalf("alice has %d cents, want 702: two calls without a key are two credits", got)
	}
}

// TestErrorsDecodeToProblems checks that each kind of failure reaches the caller as an
// *Error with the server's stable code, its detail and its request id, which is what a
// program matches on and what a person quotes to the operator.
func TestErrorsDecodeToProblems(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	alice, aliceClient := ts.createUser(t, "alice")
	bob, _ := ts.createUser(t, "bob")
	_, poorClient := ts.createUser(t, "poor")
	ts.credit(t, alice.ID, 100, "USD")
	admin := ts.adminClient()

	tests := []struct {
		name   string
		call   func(ctx context.Context) error
		status int
		code   string
	}{
		{"insufficient funds", func(ctx context.Context) error {
			_, err := poorClient.Transfer(ctx, wire.TransferRequest{To: bob.ID, Amount: 1, Asset: "USD"}, "")
			return err
		}, http.StatusUnprocessableEntity, "insufficient_funds"},
		{"no key", func(ctx context.Context) error {
			_, err := client.New(ts.url, "", fast()).Me(ctx)
			return err
		}, http.StatusUnauthorized, "unauthorized"},
		{"unknown key", func(ctx context.Context) error {
			_, err := client.New(ts.url, "sk_not_a_real_key", fast()).Balances(ctx, "")
			return err
		}, http.StatusUnauthorized, "unauthorized"},
		{"not an admin", func(ctx context.Context) error {
			_, err := aliceClient.CreateAccount(ctx, wire.CreateAccountRequest{Kind: "user", Handle: "mallory", Name: "Mallory"})
			return err
		}, http.StatusForbidden, "forbidden"},
		{"someone else's balance", func(ctx context.Context) error {
			_, err := aliceClient.Balances(ctx, bob.ID)
			return err
		}, http.StatusForbidden, "forbidden"},
		{"no such account", func(ctx context.Context) error {
			_, err := admin.Account(ctx, "acct_doesnotexist")
			return err
		}, http.StatusNotFound, "not_found"},
		{"zero amount", func(ctx context.Context) error {
			_, err := admin.AdminCredit(ctx, wire.AdminCreditRequest{AccountID: alice.ID, Amount: 0, Asset: "USD"}, "")
			return err
		}, http.StatusBadRequest, "invalid"},
		{"key reused for another request", func(ctx context.Context) error {
			req := wire.AdminCreditRequest{AccountID: alice.ID, Amount: 5, Asset: "USD"}
			if _, err := admin.AdminCredit(ctx, req, "reused-key"); err != nil {
				return err
			}
			req.Amount = 6
			_, err := admin.AdminCredit(ctx, req, "reused-key")
			return err
		}, http.StatusConflict, "idempotency_mismatch"},
	}
	// The cases run in parallel inside a group, so that the check after the group sees
	// every case finished.
	t.Run("group", func(t *testing.T) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				err := tt.call(context.Background())
				var e *client.Error
				if !errors.As(err, &e) {
					t.Fatalf("error = %v (%T), want *client.Error", err, err)
				}
				if e.StatusCode != tt.status || e.Problem.Code != tt.code || client.ErrorCode(err) != tt.code {
					t.Fatalf("got %d %q, want %d %q: %v", e.StatusCode, e.Problem.Code, tt.status, tt.code, err)
				}
				if e.Problem.Detail == "" || !strings.HasPrefix(e.Problem.RequestID, "req_") {
					t.Fatalf("the problem lacks a detail or request id: %+v", e.Problem)
				}
				msg := err.Error()
				if !strings.Contains(msg, e.Problem.Detail) || !strings.Contains(msg, tt.code) || !strings.Contains(msg, e.Problem.RequestID) {
					t.Fatalf("Error() = %q does not say what, which code and which request", msg)
				}
			})
		}
	})
	// Of all those calls only the first credit with the reused key moved money.
	if got := available(t, aliceClient, "", "USD"); got != 100+5 {
		t.Fatalf("alice has %d cents, want 105", got)
	}
}

// TestRetriesAGetAfterA503 puts a proxy that fails once in front of the server: the client
// must ride over the failure and report that it took two attempts.
func TestRetriesAGetAfterA503(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	p := newProxy(t, ts.url, func(n int, w http.ResponseWriter, r *http.Request, forward http.Handler) {
		if n == 1 {
			w.Header().Set("Retry-After", "0")
			answer(w, http.StatusServiceUnavailable, "upstream is restarting")
			return
		}
		forward.ServeHTTP(w, r)
	})
	var resp client.Response
	me, err := client.New(p.URL, ts.admin, fast()).Me(client.WithResponse(context.Background(), &resp))
	if err != nil {
		t.Fatal(err)
	}
	if me.Account.Handle != "operator" || resp.Attempts != 2 || len(p.requests()) != 2 {
		t.Fatalf("me %+v after %d attempts, proxy saw %d", me.Account, resp.Attempts, len(p.requests()))
	}
}

// TestRetriesAfterANetworkError drops the first connection without a response, as a crashed
// proxy would; a GET is safe to send again.
func TestRetriesAfterANetworkError(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	p := newProxy(t, ts.url, func(n int, w http.ResponseWriter, r *http.Request, forward http.Handler) {
		if n == 1 {
			dropConnection(t, w)
			return
		}
		forward.ServeHTTP(w, r)
	})
	if _, err := client.New(p.URL, ts.admin, fast()).Balances(context.Background(), ""); err != nil {
		t.Fatal(err)
	}
	if n := len(p.requests()); n != 2 {
		t.Fatalf("proxy saw %d requests, want 2", n)
	}
}

// TestRetriesATransferWithItsOwnKey loses the response of a transfer that the server did
// make. The client must retry with the same Idempotency-Key, so that the server replays the
// first result instead of moving the money a second time.
func TestRetriesATransferWithItsOwnKey(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	alice, aliceKey := ts.createUserKey(t, "alice")
	aliceClient := client.New(ts.url, aliceKey, fast())
	bob, _ := ts.createUser(t, "bob")
	ts.credit(t, alice.ID, 1_000_000, "BTC")

	p := newProxy(t, ts.url, func(n int, w http.ResponseWriter, r *http.Request, forward http.Handler) {
		if n == 1 {
			forward.ServeHTTP(httptest.NewRecorder(), r) // the server runs it; the answer is lost
			answer(w, http.StatusBadGateway, "bad gateway")
			return
		}
		forward.ServeHTTP(w, r)
	})
	flaky := client.New(p.URL, aliceKey, fast())

	var resp client.Response
	tx, err := flaky.Transfer(client.WithResponse(context.Background(), &resp), wire.TransferRequest{To: bob.ID, Amount: 250_000, Asset: "BTC"}, "")
	if err != nil {
		t.Fatal(err)
	}
	reqs := p.requests()
	if len(reqs) != 2 || reqs[0].IdempotencyKey == "" || reqs[0].IdempotencyKey != reqs[1].IdempotencyKey || reqs[0].IdempotencyKey != resp.IdempotencyKey {
		t.Fatalf("attempts %+v, reported key %q: want two attempts with one key", reqs, resp.IdempotencyKey)
	}
	if !resp.Replayed || tx.Kind != "transfer" {
		t.Fatalf("the retry was not answered by a replay: replayed %v, %+v", resp.Replayed, tx)
	}
	if got := available(t, aliceClient, "", "BTC"); got != 750_000 {
		t.Fatalf("alice has %d msat, want 750000: the transfer must happen once", got)
	}
}

// TestDoesNotRetryWhatItMustNot sends requests through a proxy that always fails, and
// counts the attempts: client errors (4xx) and server errors other than 502/503/504 are
// final, and a POST without an idempotency key is never repeated, whatever the failure.
func TestDoesNotRetryWhatItMustNot(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	tests := []struct {
		name   string
		status int
		call   func(ctx context.Context, c *client.Client) error
	}{
		{"GET 400", http.StatusBadRequest, func(ctx context.Context, c *client.Client) error { _, err := c.Me(ctx); return err }},
		{"GET 404", http.StatusNotFound, func(ctx context.Context, c *client.Client) error { _, err := c.Account(ctx, "acct_x"); return err }},
		{"GET 429", http.StatusTooManyRequests, func(ctx context.Context, c *client.Client) error { _, err := c.Balances(ctx, ""); return err }},
		{"GET 500", http.StatusInternalServerError, func(ctx context.Context, c *client.Client) error { _, err := c.Keys(ctx, ""); return err }},
		{"transfer 409", http.StatusConflict, func(ctx context.Context, c *client.Client) error {
			_, err := c.Transfer(ctx, wire.TransferRequest{To: "bob", Amount: 1, Asset: "USD"}, "")
			return err
		}},
		{"create account 503", http.StatusServiceUnavailable, func(ctx context.Context, c *client.Client) error {
			_, err := c.CreateAccount(ctx, wire.CreateAccountRequest{Kind: "user", Handle: "carol", Name: "Carol"})
			return err
		}},
		{"create key 502", http.StatusBadGateway, func(ctx context.Context, c *client.Client) error {
			_, err := c.CreateKey(ctx, wire.CreateKeyRequest{Name: "k"})
			return err
		}},
		{"set payout preference 504", http.StatusGatewayTimeout, func(ctx context.Context, c *client.Client) error {
			_, err := c.SetPayoutPreference(ctx, "USD", wire.SetPayoutPreferenceRequest{Rail: "keep"})
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := newProxy(t, ts.url, func(n int, w http.ResponseWriter, r *http.Request, forward http.Handler) {
				answer(w, tt.status, "no")
			})
			err := tt.call(context.Background(), client.New(p.URL, ts.admin, fast()))
			var e *client.Error
			if !errors.As(err, &e) || e.StatusCode != tt.status {
				t.Fatalf("error = %v, want an *Error with status %d", err, tt.status)
			}
			if n := len(p.requests()); n != 1 {
				t.Fatalf("the request was sent %d times, want once", n)
			}
		})
	}
}

// TestRealNotFoundIsNotRetried uses the real server's 404, so that the rule holds for the
// problems the API itself sends, not only for a proxy's.
func TestRealNotFoundIsNotRetried(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	p := newProxy(t, ts.url, func(n int, w http.ResponseWriter, r *http.Request, forward http.Handler) {
		forward.ServeHTTP(w, r)
	})
	_, err := client.New(p.URL, ts.admin, fast()).Account(context.Background(), "acct_missing")
	if client.ErrorCode(err) != "not_found" {
		t.Fatalf("error = %v, want not_found", err)
	}
	if n := len(p.requests()); n != 1 {
		t.Fatalf("a 404 was sent %d times, want once", n)
	}
}

// TestGivesUpAfterAFewAttempts checks that retries end, and that the last failure, which is
// not problem JSON, still reads as a useful error.
func TestGivesUpAfterAFewAttempts(t *testing.T) {
	t.Parallel()
	p := newProxy(t, "http://127.0.0.1:1", func(n int, w http.ResponseWriter, r *http.Request, forward http.Handler) {
		w.Header().Set("X-Request-Id", "req_from_the_balancer")
		answer(w, http.StatusServiceUnavailable, "  upstream\nconnect error  ")
	})
	_, err := client.New(p.URL, "sk_whatever", client.WithRetries(3, time.Millisecond)).Balances(context.Background(), "")
	var e *client.Error
	if !errors.As(err, &e) {
		t.Fatalf("error = %v, want *client.Error", err)
	}
	if n := len(p.requests()); n != 3 {
		t.Fatalf("%d attempts, want 3", n)
	}
	if e.StatusCode != 503 || e.Problem.Code != "" || e.Problem.RequestID != "req_from_the_balancer" ||
		!strings.Contains(e.Problem.Detail, "503 Service Unavailable: upstream connect error") {
		t.Fatalf("error = %+v", e)
	}
	if strings.Contains(err.Error(), "sk_whatever") {
		t.Fatalf("the error shows the API key: %v", err)
	}
}

// TestStopsRetryingWhenTheContextEnds checks that a caller's deadline cuts a long backoff
// short instead of being ignored.
func TestStopsRetryingWhenTheContextEnds(t *testing.T) {
	t.Parallel()
	p := newProxy(t, "http://127.0.0.1:1", func(n int, w http.ResponseWriter, r *http.Request, forward http.Handler) {
		answer(w, http.StatusServiceUnavailable, "down")
	})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := client.New(p.URL, "k", client.WithRetries(5, time.Hour)).Me(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error = %v, want the context's deadline", err)
	}
	if time.Since(start) > 10*time.Second {
		t.Fatal("the backoff ignored the context")
	}
}

// TestSendsUserAgentAndUsesTheGivenHTTPClient checks the two options a caller configures most.
func TestSendsUserAgentAndUsesTheGivenHTTPClient(t *testing.T) {
	t.Parallel()
	var ua, accept string
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ua, accept = r.Header.Get("User-Agent"), r.Header.Get("Accept")
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"status":"ok"}`))
	}))
	defer hs.Close()
	used := false
	hc := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		used = true
		return http.DefaultTransport.RoundTrip(r)
	})}
	if _, err := client.New(hs.URL+"/", "k", client.WithUserAgent("stipend-test/1"), client.WithHTTPClient(hc)).Me(context.Background()); err != nil {
		t.Fatal(err)
	}
	if ua != "stipend-test/1" || !used || !strings.Contains(accept, "application/json") {
		t.Fatalf("User-Agent %q, Accept %q, custom client used %v", ua, accept, used)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestRetriesAnInProgressConflictWithTheSameKey answers the first attempt of a transfer with
// the server's 409 "a request with this Idempotency-Key is still in progress" and its
// Retry-After. The client must wait as asked and send the request again with the same key,
// never a new one, so that whether or not the first attempt ran, the money moves once.
func TestRetriesAnInProgressConflictWithTheSameKey(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	tests := []struct {
		name string
		// ranFirst says whether the server ran the first attempt before the proxy answered
		// 409 in its place, as when the response of a slow first request is lost.
		ranFirst bool
	}{
		{"the first attempt never reached the server", false},
		{"the server ran the first attempt", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			alice, aliceKey := ts.createUserKey(t, "alice")
			bob, bobClient := ts.createUser(t, "bob")
			ts.credit(t, alice.ID, 1_000_000, "BTC")

			p := newProxy(t, ts.url, func(n int, w http.ResponseWriter, r *http.Request, forward http.Handler) {
				if n == 1 {
					if tt.ranFirst {
						forward.ServeHTTP(httptest.NewRecorder(), r)
					}
					answerProblem(w, http.StatusConflict, "conflict", "1")
					return
				}
				forward.ServeHTTP(w, r)
			})
			var resp client.Response
			start := time.Now()
			tx, err := client.New(p.URL, aliceKey, fast()).Transfer(client.WithResponse(context.Background(), &resp),
				wire.TransferRequest{To: bob.ID, Amount: 250_000, Asset: "BTC"}, "")
			if err != nil {
				t.Fatal(err)
			}
			// The backoff of the test client is a millisecond, so only Retry-After explains
			// a wait of a second.
			if waited := time.Since(start); waited < time.Second {
				t.Fatalf("the retry came after %v, before the 1 s that Retry-After asked for", waited)
			}
			reqs := p.requests()
			if len(reqs) != 2 || resp.Attempts != 2 || reqs[0].IdempotencyKey == "" ||
				reqs[0].IdempotencyKey != reqs[1].IdempotencyKey || reqs[0].IdempotencyKey != resp.IdempotencyKey {
				t.Fatalf("attempts %+v (%d), reported key %q: want two attempts with one key", reqs, resp.Attempts, resp.IdempotencyKey)
			}
			if tx.Kind != "transfer" || resp.Replayed != tt.ranFirst {
				t.Fatalf("transfer %+v, replayed %v: want a replay exactly when the first attempt ran", tx, resp.Replayed)
			}
			aliceClient := client.New(ts.url, aliceKey, fast())
			if got := available(t, aliceClient, "", "BTC"); got != 750_000 {
				t.Fatalf("alice has %d msat, want 750000: the transfer must happen once", got)
			}
			if got := available(t, bobClient, "", "BTC"); got != 250_000 {
				t.Fatalf("bob has %d msat, want 250000: the transfer must happen once", got)
			}
			page, err := aliceClient.Transactions(context.Background(), "", "", 0)
			if err != nil || len(page.Data) != 2 || page.Data[0].ID != tx.ID {
				t.Fatalf("alice's ledger = %+v, %v: want the credit and the one transfer %s", page, err, tx.ID)
			}
		})
	}
}

// TestInProgressConflictRetriesEnd checks that a key that stays busy does not keep the
// client retrying: it gives up within its usual budget, still with one key, and the error
// is the server's conflict, which tells the caller to retry later with that key.
func TestInProgressConflictRetriesEnd(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	alice, aliceClient := ts.createUser(t, "alice")
	ts.credit(t, alice.ID, 100, "USD")
	p := newProxy(t, ts.url, func(n int, w http.ResponseWriter, r *http.Request, forward http.Handler) {
		answerProblem(w, http.StatusConflict, "conflict", "0")
	})
	var resp client.Response
	_, err := client.New(p.URL, ts.admin, fast()).AdminCredit(client.WithResponse(context.Background(), &resp),
		wire.AdminCreditRequest{AccountID: alice.ID, Amount: 5, Asset: "USD"}, "credit-77")
	var e *client.Error
	if !errors.As(err, &e) || e.StatusCode != http.StatusConflict || e.Problem.Code != "conflict" {
		t.Fatalf("error = %v, want the 409 conflict", err)
	}
	reqs := p.requests()
	if len(reqs) != 3 || resp.Attempts != 3 || resp.IdempotencyKey != "credit-77" {
		t.Fatalf("%d attempts (%d reported), key %q: want 3 with credit-77", len(reqs), resp.Attempts, resp.IdempotencyKey)
	}
	for _, r := range reqs {
		if r.IdempotencyKey != "credit-77" {
			t.Fatalf("an attempt was sent with key %q, want the caller's credit-77: %+v", r.IdempotencyKey, reqs)
		}
	}
	if got := available(t, aliceClient, "", "USD"); got != 100 {
		t.Fatalf("alice has %d cents, want 100: nothing reached the server", got)
	}
}

// TestFinalConflictsAreNotRetried checks that only the server's "still in progress" is
// retried: a key used for another request is final whatever headers come with it, and a
// conflict without Retry-After is not the server asking for a retry.
func TestFinalConflictsAreNotRetried(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	tests := []struct {
		name, code, retryAfter string
	}{
		{"idempotency_mismatch with Retry-After", "idempotency_mismatch", "0"},
		{"conflict without Retry-After", "conflict", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := newProxy(t, ts.url, func(n int, w http.ResponseWriter, r *http.Request, forward http.Handler) {
				answerProblem(w, http.StatusConflict, tt.code, tt.retryAfter)
			})
			_, err := client.New(p.URL, ts.admin, fast()).Transfer(context.Background(), wire.TransferRequest{To: "bob", Amount: 1, Asset: "USD"}, "")
			if client.ErrorCode(err) != tt.code {
				t.Fatalf("error = %v, want %s", err, tt.code)
			}
			if n := len(p.requests()); n != 1 {
				t.Fatalf("the request was sent %d times, want once", n)
			}
		})
	}
}

// TestInProgressConflictWaitHonoursTheContext checks that a caller's deadline cuts the wait
// that Retry-After asks for short instead of being ignored.
func TestInProgressConflictWaitHonoursTheContext(t *testing.T) {
	t.Parallel()
	p := newProxy(t, "http://127.0.0.1:1", func(n int, w http.ResponseWriter, r *http.Request, forward http.Handler) {
		answerProblem(w, http.StatusConflict, "conflict", "5")
	})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	var resp client.Response
	_, err := client.New(p.URL, "k", fast()).Transfer(client.WithResponse(ctx, &resp), wire.TransferRequest{To: "bob", Amount: 1, Asset: "USD"}, "")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error = %v, want the context's deadline", err)
	}
	if waited := time.Since(start); waited > 4*time.Second {
		t.Fatalf("the call took %v: the Retry-After wait ignored the context", waited)
	}
	if resp.IdempotencyKey == "" || len(p.requests()) != 1 {
		t.Fatalf("key %q after %d attempts, want the key of the one attempt made", resp.IdempotencyKey, len(p.requests()))
	}
}
