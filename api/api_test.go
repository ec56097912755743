package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/stipend/stipend/accounts"
	"github.com/stipend/stipend/api"
	"github.com/stipend/stipend/api/wire"
	"github.com/stipend/stipend/internal/db"
	"github.com/stipend/stipend/internal/dbtest"
	"github.com/stipend/stipend/internal/store"
	"github.com/stipend/stipend/payments"
)

// TestOpenAPIDocumentAgreesWithRoutes holds the routes echo really serves against the paths
// and operations of /openapi.json, both ways.
func TestOpenAPIDocumentAgreesWithRoutes(t *testing.T) {
	t.Parallel()
	d := dbtest.Open(t, db.SQLite)
	st := store.New(d, nil)
	acc := accounts.NewService(st, nil)
	srv, err := api.New(api.Deps{Accounts: acc, Payments: payments.NewService(st, acc), Idempotency: st}, api.Options{Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	ts := newTestServer(t, d)
	var raw map[string]any
	ts.do(http.MethodGet, "/openapi.json", "", nil, nil, &raw)
	b, _ := json.Marshal(raw)
	doc, err := openapi3.NewLoader().LoadFromData(b)
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented[method+" "+path] = true
		}
	}
	served := map[string]bool{}
	for _, r := range srv.Routes() {
		served[r.Method+" "+r.Path] = true
	}
	var missing, extra []string
	for k := range served {
		if !documented[k] {
			missing = append(missing, k)
		}
	}
	for k := range documented {
		if !served[k] {
			extra = append(extra, k)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing) > 0 || len(extra) > 0 {
		t.Fatalf("served but not documented: %v\ndocumented but not served: %v", missing, extra)
	}
	if len(served) < 10 {
		t.Fatalf("only %d routes served", len(served))
	}
	// Beyond the route set: what the document promises a client about each operation.
	for k := range served {
		parts := strings.SplitN(k, " ", 2)
		op := doc.Paths.Find(parts[1]).GetOperation(parts[0])
		if op.Responses.Default() == nil {
			t.Errorf("%s documents no error response", k)
		}
		movesMoney := parts[0] == http.MethodPost && map[string]bool{
			"/v1/transfers": true, "/v1/admin/credits": true, "/v1/fundings": true, "/v1/payouts": true, "/v1/payouts/{id}/cancel": true,
			"/v1/bounties": true, "/v1/bounties/{id}/topup": true, "/v1/bounties/{id}/cancel": true, "/v1/bounties/{id}/results": true,
			"/v1/bounties/{id}/submissions/{submission}/approve": true, "/v1/admin/github-links": true,
			"/v1/github/link/confirm": true, "/v1/experts/{handle}/questions": true, "/v1/questions/{id}/answer": true,
			"/v1/questions/{id}/decline": true, "/v1/lists/{list}/questions": true, "/v1/list-questions/{id}/replies": true,
			"/v1/card-fundings": true, "/v1/card-fundings/{id}/refunds": true,
		}[parts[1]]
		hdr := op.Parameters.GetByInAndName("header", "Idempotency-Key")
		if movesMoney != (hdr != nil && hdr.Required) {
			t.Errorf("%s: Idempotency-Key documented as required = %v, want %v", k, hdr != nil && hdr.Required, movesMoney)
		}
		public := parts[1] == "/healthz" || parts[1] == "/readyz" || parts[1] == "/metrics" || parts[1] == "/openapi.json" || parts[1] == "/v1/github/callback" ||
			parts[1] == "/v1/stripe/webhook" || parts[1] == "/v1/stripe/connect/done" ||
			(parts[0] == http.MethodGet && map[string]bool{
				"/v1/bounties": true, "/v1/bounties/{id}": true, "/v1/bounties/{id}/statement": true,
				"/v1/charities": true, "/v1/charities/{charity}": true, "/v1/charities/{charity}/donations": true,
				"/v1/experts": true, "/v1/experts/{handle}": true, "/v1/lists": true, "/v1/lists/{list}": true,
				"/v1/endpoints/{id}": true,
			}[parts[1]])
		if secured := op.Security != nil && len(*op.Security) > 0; secured == public {
			t.Errorf("%s: documented as needing an API key = %v", k, secured)
		}
	}
}

func TestHealthReadinessAndMetrics(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, dbtest.Open(t, db.SQLite))
	var h wire.Health
	if r := ts.do(http.MethodGet, "/healthz", "", nil, nil, &h); r.StatusCode != http.StatusOK || h.Status != "ok" {
		t.Fatalf("/healthz = %d %+v", r.StatusCode, h)
	}
	if r := ts.do(http.MethodGet, "/readyz", "", nil, nil, &h); r.StatusCode != http.StatusOK || h.Status != "ready" {
		t.Fatalf("/readyz = %d %+v", r.StatusCode, h)
	}
	ts.do(http.MethodGet, "/v1/me", "", nil, nil, nil)
	r, body := ts.raw(http.MethodGet, "/metrics", "", nil, nil)
	if r.StatusCode != http.StatusOK {
		t.Fatalf("/metrics = %d", r.StatusCode)
	}
	for _, want := range []string{
		`stipend_http_requests_total{method="GET",route="/healthz",status="200"} 1`,
		`stipend_http_requests_total{method="GET",route="/v1/me",status="401"} 1`,
		"stipend_http_request_duration_seconds_bucket",
		"go_goroutines",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if r.Header.Get("X-Request-Id") == "" {
		t.Error("no X-Request-Id on the response")
	}
}

func TestReadinessFailsWhenTheDatabaseIsGone(t *testing.T) {
	t.Parallel()
	d := dbtest.Open(t, db.SQLite)
	ts := newTestServer(t, d)
	d.Close()
	var p wire.Problem
	r := ts.do(http.MethodGet, "/readyz", "", nil, nil, &p)
	wantProblem(t, r, p, http.StatusServiceUnavailable, "unavailable")
	// An internal failure reaches the client as a generic message, without its cause.
	r = ts.do(http.MethodGet, "/v1/me", ts.admin, nil, nil, &p)
	wantProblem(t, r, p, http.StatusInternalServerError, "internal")
	if strings.Contains(strings.ToLower(p.Detail), "sql") || strings.Contains(p.Detail, "closed") {
		t.Fatalf("internal detail leaked: %q", p.Detail)
	}
}

func TestAccountsAndKeysThroughHTTP(t *testing.T) {
	t.Parallel()
	forEachServer(t, func(t *testing.T, ts *testServer) {
		alice, aliceKey := ts.createUser("alice")
		bob, bobKey := ts.createUser("bob")

		var me wire.Me
		ts.do(http.MethodGet, "/v1/me", aliceKey, nil, nil, &me)
		if me.Account.ID != alice.ID || len(me.Key.Scopes) != len(accounts.DefaultScopes()) {
			t.Fatalf("me = %+v", me)
		}

		// A user's key may make narrower keys, never wider ones.
		var ci wire.CreatedKey
		r := ts.do(http.MethodPost, "/v1/keys", aliceKey, wire.CreateKeyRequest{Name: "read only", Scopes: []string{accounts.ScopeRead}}, nil, &ci)
		if r.StatusCode != http.StatusCreated || ci.Secret == "" || ci.AccountID != alice.ID || r.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("create key = %d %+v", r.StatusCode, ci)
		}
		var p wire.Problem
		r = ts.do(http.MethodPost, "/v1/keys", aliceKey, wire.CreateKeyRequest{Name: "escalate", Scopes: []string{accounts.ScopeAdmin}}, nil, &p)
		wantProblem(t, r, p, http.StatusForbidden, "forbidden")
		r = ts.do(http.MethodPost, "/v1/keys", ci.Secret, wire.CreateKeyRequest{Name: "from read only"}, nil, &p)
		wantProblem(t, r, p, http.StatusForbidden, "forbidden")
		r = ts.do(http.MethodPost, "/v1/keys", aliceKey, wire.CreateKeyRequest{AccountID: bob.ID, Name: "for bob"}, nil, &p)
		wantProblem(t, r, p, http.StatusForbidden, "forbidden")

		var list wire.KeyList
		ts.do(http.MethodGet, "/v1/keys", aliceKey, nil, nil, &list)
		if len(list.Data) != 2 {
			t.Fatalf("alice has %d keys, want 2", len(list.Data))
		}
		for _, k := range list.Data {
			if strings.Contains(fmt.Sprint(k), ci.Secret) {
				t.Fatal("a key listing shows a secret")
			}
		}

		// Another user's key is not found; one's own is revoked, and then refused.
		r = ts.do(http.MethodDelete, "/v1/keys/"+ci.ID, bobKey, nil, nil, &p)
		wantProblem(t, r, p, http.StatusNotFound, "not_found")
		var revoked wire.Key
		if r := ts.do(http.MethodDelete, "/v1/keys/"+ci.ID, aliceKey, nil, nil, &revoked); r.StatusCode != http.StatusOK || revoked.RevokedAt == nil {
			t.Fatalf("revoke = %d %+v", r.StatusCode, revoked)
		}
		r = ts.do(http.MethodGet, "/v1/me", ci.Secret, nil, nil, &p)
		wantProblem(t, r, p, http.StatusUnauthorized, "unauthorized")
		if r.Header.Get("WWW-Authenticate") == "" {
			t.Fatal("401 without WWW-Authenticate")
		}

		// An organisation is read by its owners and not by others.
		var org wire.Account
		r = ts.do(http.MethodPost, "/v1/accounts", ts.admin, wire.CreateAccountRequest{Kind: "org", Handle: "acme-" + alice.Handle, Name: "Acme", Owners: []string{alice.ID}}, nil, &org)
		if r.StatusCode != http.StatusCreated || len(org.Owners) != 1 {
			t.Fatalf("create org = %d %+v", r.StatusCode, org)
		}
		if r := ts.do(http.MethodGet, "/v1/accounts/"+org.ID, aliceKey, nil, nil, nil); r.StatusCode != http.StatusOK {
			t.Fatalf("owner reading the org = %d", r.StatusCode)
		}
		r = ts.do(http.MethodGet, "/v1/accounts/"+org.ID, bobKey, nil, nil, &p)
		wantProblem(t, r, p, http.StatusForbidden, "forbidden")
		var orgKey wire.CreatedKey
		if r := ts.do(http.MethodPost, "/v1/keys", aliceKey, wire.CreateKeyRequest{AccountID: org.ID, Name: "org ci"}, nil, &orgKey); r.StatusCode != http.StatusCreated || orgKey.AccountID != org.ID {
			t.Fatalf("owner making an org key = %d %+v", r.StatusCode, orgKey)
		}
		// A member reads the organisation but cannot spend from it; an owner can.
		var withBob wire.Account
		if r := ts.do(http.MethodPost, "/v1/accounts/"+org.ID+"/members", aliceKey, wire.SetMemberRequest{Account: bob.Handle, Role: "member"}, nil, &withBob); r.StatusCode != http.StatusOK {
			t.Fatalf("adding a member = %d", r.StatusCode)
		}
		if r := ts.do(http.MethodGet, "/v1/balances?account_id="+org.ID, bobKey, nil, nil, nil); r.StatusCode != http.StatusOK {
			t.Fatalf("a member reading the org's balances = %d", r.StatusCode)
		}
		ts.credit(org.ID, 500, "USD")
		r = ts.do(http.MethodPost, "/v1/transfers", bobKey, wire.TransferRequest{From: org.ID, To: bob.ID, Amount: 1, Asset: "USD"}, idem(newKey()), &p)
		wantProblem(t, r, p, http.StatusForbidden, "forbidden")
		if r := ts.do(http.MethodPost, "/v1/transfers", aliceKey, wire.TransferRequest{From: org.ID, To: bob.ID, Amount: 1, Asset: "USD"}, idem(newKey()), nil); r.StatusCode != http.StatusCreated {
			t.Fatalf("an owner spending from the org = %d", r.StatusCode)
		}
		if r := ts.do(http.MethodDelete, "/v1/accounts/"+org.ID+"/members/"+bob.ID, aliceKey, nil, nil, nil); r.StatusCode != http.StatusOK {
			t.Fatalf("removing a member = %d", r.StatusCode)
		}
		r = ts.do(http.MethodGet, "/v1/balances?account_id="+org.ID, bobKey, nil, nil, &p)
		wantProblem(t, r, p, http.StatusForbidden, "forbidden")

		r = ts.do(http.MethodPost, "/v1/accounts", aliceKey, wire.CreateAccountRequest{Kind: "user", Handle: "mallory", Name: "M"}, nil, &p)
		wantProblem(t, r, p, http.StatusForbidden, "forbidden")
		r = ts.do(http.MethodPost, "/v1/accounts", ts.admin, wire.CreateAccountRequest{Kind: "user", Handle: alice.Handle, Name: "Again"}, nil, &p)
		wantProblem(t, r, p, http.StatusConflict, "conflict")
	})
}

func TestAdminCreditTransfersAndLedgerPages(t *testing.T) {
	t.Parallel()
	forEachServer(t, func(t *testing.T, ts *testServer) {
		alice, aliceKey := ts.createUser("alice")
		bob, bobKey := ts.createUser("bob")
		tx := ts.credit(alice.ID, 2_100_000, "BTC")
		if tx.Kind != "admin_credit" || tx.Metadata["admin_key_id"] == "" || tx.CreatedBy == "" {
			t.Fatalf("admin credit is not recorded as such: %+v", tx)
		}
		ts.credit(alice.Handle, 50, "USD") // an account may be named by its handle

		var tr wire.Transaction
		r := ts.do(http.MethodPost, "/v1/transfers", aliceKey, wire.TransferRequest{To: bob.Handle, Amount: 100_000, Asset: "BTC", Memo: "thanks"}, idem(newKey()), &tr)
		if r.StatusCode != http.StatusCreated || tr.Kind != "transfer" {
			t.Fatalf("transfer = %d %+v", r.StatusCode, tr)
		}
		if got := ts.balance(aliceKey, alice.ID, "BTC"); got != 2_000_000 {
			t.Fatalf("alice = %d msat, want 2000000", got)
		}
		if got := ts.balance(bobKey, bob.ID, "BTC"); got != 100_000 {
			t.Fatalf("bob = %d msat, want 100000", got)
		}
		var bs wire.Balances
		ts.do(http.MethodGet, "/v1/balances", aliceKey, nil, nil, &bs)
		if len(bs.Data) != 2 || bs.Data[0].Asset != "BTC" || bs.Data[0].Unit != "msat" || bs.Data[1].Unit != "cent" || bs.Data[1].Total != 50 {
			t.Fatalf("balances = %+v", bs)
		}

		var ids []string
		cursor := ""
		for i := 0; i < 10; i++ {
			var page wire.TransactionPage
			ts.do(http.MethodGet, "/v1/transactions?limit=2&cursor="+cursor, aliceKey, nil, nil, &page)
			for _, t := range page.Data {
				ids = append(ids, t.Kind)
			}
			if page.NextCursor == "" {
				break
			}
			cursor = page.NextCursor
		}
		if fmt.Sprint(ids) != "[transfer admin_credit admin_credit]" {
			t.Fatalf("alice's transactions, newest first = %v", ids)
		}
	})
}

func TestIdempotencyKeyReplaysAndRefusesReuse(t *testing.T) {
	t.Parallel()
	forEachServer(t, func(t *testing.T, ts *testServer) {
		alice, aliceKey := ts.createUser("alice")
		req := wire.AdminCreditRequest{AccountID: alice.ID, Amount: 1000, Asset: "EUR"}
		key := newKey()
		var first, second wire.Transaction
		r1 := ts.do(http.MethodPost, "/v1/admin/credits", ts.admin, req, idem(key), &first)
		r2 := ts.do(http.MethodPost, "/v1/admin/credits", ts.admin, req, idem(key), &second)
		if r1.StatusCode != http.StatusCreated || r2.StatusCode != http.StatusCreated || first.ID != second.ID {
			t.Fatalf("replay = %d %s, first %d %s", r2.StatusCode, second.ID, r1.StatusCode, first.ID)
		}
		if r1.Header.Get("Idempotency-Replayed") != "" || r2.Header.Get("Idempotency-Replayed") != "true" {
			t.Fatalf("Idempotency-Replayed: first %q, replay %q", r1.Header.Get("Idempotency-Replayed"), r2.Header.Get("Idempotency-Replayed"))
		}
		var p wire.Problem
		req.Amount = 2000
		r := ts.do(http.MethodPost, "/v1/admin/credits", ts.admin, req, idem(key), &p)
		wantProblem(t, r, p, http.StatusConflict, "idempotency_mismatch")
		if got := ts.balance(aliceKey, alice.ID, "EUR"); got != 1000 {
			t.Fatalf("balance = %d cents, want 1000 (one credit)", got)
		}
		// A failed request is remembered too: retrying it gives the same answer.
		bad := wire.TransferRequest{To: "nobody-at-all", Amount: 1, Asset: "EUR"}
		badKey := newKey()
		r = ts.do(http.MethodPost, "/v1/transfers", aliceKey, bad, idem(badKey), &p)
		wantProblem(t, r, p, http.StatusNotFound, "not_found")
		r = ts.do(http.MethodPost, "/v1/transfers", aliceKey, bad, idem(badKey), &p)
		if r.Header.Get("Idempotency-Replayed") != "true" {
			t.Fatal("a failed request was not replayed")
		}
		wantProblem(t, r, p, http.StatusNotFound, "not_found")
	})
}

// TestConcurrentRequestsWithOneIdempotencyKey sends 200 identical credits with one key at
// once: one credit is made and every caller gets the same response.
func TestConcurrentRequestsWithOneIdempotencyKey(t *testing.T) {
	t.Parallel()
	forEachServer(t, func(t *testing.T, ts *testServer) {
		ts.validate = false // the response shape is checked elsewhere; here, 200 bodies are compared
		alice, aliceKey := ts.createUser("alice")
		body, _ := json.Marshal(wire.AdminCreditRequest{AccountID: alice.ID, Amount: 4200, Asset: "USD"})
		key := newKey()
		const n = 200
		bodies := make([]string, n)
		statuses := make([]int, n)
		var wg sync.WaitGroup
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, b := ts.raw(http.MethodPost, "/v1/admin/credits", ts.admin, body, idem(key))
				statuses[i], bodies[i] = r.StatusCode, string(b)
			}()
		}
		wg.Wait()
		for i := range bodies {
			if statuses[i] != http.StatusCreated || bodies[i] != bodies[0] {
				t.Fatalf("response %d = %d %s, response 0 = %d %s", i, statuses[i], bodies[i], statuses[0], bodies[0])
			}
		}
		if got := ts.balance(aliceKey, alice.ID, "USD"); got != 4200 {
			t.Fatalf("balance = %d cents, want 4200: exactly one effect", got)
		}
		var page wire.TransactionPage
		ts.do(http.MethodGet, "/v1/transactions", aliceKey, nil, nil, &page)
		if len(page.Data) != 1 {
			t.Fatalf("%d transactions, want 1", len(page.Data))
		}
	})
}

// TestConcurrentTransfersOfAWholeBalance has 200 requests, each with its own key, try to send
// one account's whole balance: exactly one succeeds.
func TestConcurrentTransfersOfAWholeBalance(t *testing.T) {
	t.Parallel()
	forEachServer(t, func(t *testing.T, ts *testServer) {
		ts.validate = false
		alice, aliceKey := ts.createUser("alice")
		bob, bobKey := ts.createUser("bob")
		ts.credit(alice.ID, 999, "USD")
		body, _ := json.Marshal(wire.TransferRequest{To: bob.ID, Amount: 999, Asset: "USD"})
		const n = 200
		var mu sync.Mutex
		statuses := map[int]int{}
		var wg sync.WaitGroup
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, _ := ts.raw(http.MethodPost, "/v1/transfers", aliceKey, body, idem(newKey()))
				mu.Lock()
				statuses[r.StatusCode]++
				mu.Unlock()
			}()
		}
		wg.Wait()
		if statuses[http.StatusCreated] != 1 || statuses[http.StatusUnprocessableEntity] != n-1 {
			t.Fatalf("statuses = %v, want one 201 and %d 422", statuses, n-1)
		}
		if a, b := ts.balance(aliceKey, alice.ID, "USD"), ts.balance(bobKey, bob.ID, "USD"); a != 0 || b != 999 {
			t.Fatalf("alice %d, bob %d; want 0 and 999", a, b)
		}
	})
}

// TestRequestIDs keeps a caller's plain request id, so that logs on both sides line up, and
// replaces one that could smuggle text into the log.
func TestRequestIDs(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, dbtest.Open(t, db.SQLite))
	for _, tt := range []struct{ sent, want string }{
		{"ci-run-42.step_7", "ci-run-42.step_7"},
		{"evil\" level=ERROR msg=forged", ""},
		{strings.Repeat("a", 65), ""},
		{"", ""},
	} {
		r, _ := ts.raw(http.MethodGet, "/healthz", "", nil, http.Header{"X-Request-Id": {tt.sent}})
		got := r.Header.Get("X-Request-Id")
		if tt.want != "" && got != tt.want {
			t.Errorf("sent %q, got %q", tt.sent, got)
		}
		if tt.want == "" && (!strings.HasPrefix(got, "req_") || got == tt.sent) {
			t.Errorf("sent %q, got %q: want a fresh id", tt.sent, got)
		}
	}
}
