package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/stipend/stipend/api/wire"
)

// TestBadInputIsRefusedAndChangesNothing sends every kind of bad input the API must refuse,
// checks each answer (status, code, problem JSON), and then that the ledger, the accounts and
// the keys are exactly as before.
func TestBadInputIsRefusedAndChangesNothing(t *testing.T) {
	t.Parallel()
	forEachServer(t, func(t *testing.T, ts *testServer) {
		alice, aliceKey := ts.createUser("alice")
		bob, bobKey := ts.createUser("bob")
		ts.credit(alice.ID, 10_000, "USD")
		var revoked wire.CreatedKey
		ts.do(http.MethodPost, "/v1/keys", aliceKey, wire.CreateKeyRequest{Name: "old"}, nil, &revoked)
		ts.do(http.MethodDelete, "/v1/keys/"+revoked.ID, aliceKey, nil, nil, nil)
		before := snapshot(t, ts)

		credit := func(body string) []byte {
			return []byte(`{"account_id":"` + alice.ID + `",` + body + `}`)
		}
		transfer := func(body string) []byte {
			return []byte(`{"to":"` + bob.ID + `",` + body + `}`)
		}
		huge := []byte(`{"account_id":"` + alice.ID + `","amount":1,"asset":"USD","memo":"` + strings.Repeat("x", 70<<10) + `"}`)
		type hdr = http.Header
		tests := []struct {
			name   string
			method string
			path   string
			key    string
			header hdr
			body   []byte
			status int
			code   string
		}{
			{"zero amount", "POST", "/v1/admin/credits", ts.admin, nil, credit(`"amount":0,"asset":"USD"`), 400, "invalid"},
			{"negative amount", "POST", "/v1/admin/credits", ts.admin, nil, credit(`"amount":-5,"asset":"USD"`), 400, "invalid"},
			{"amount beyond int64", "POST", "/v1/admin/credits", ts.admin, nil, credit(`"amount":9223372036854775808,"asset":"USD"`), 400, "invalid"},
			{"fraction of a cent", "POST", "/v1/admin/credits", ts.admin, nil, credit(`"amount":1.5,"asset":"USD"`), 400, "invalid"},
			{"exponent", "POST", "/v1/admin/credits", ts.admin, nil, credit(`"amount":1e3,"asset":"USD"`), 400, "invalid"},
			{"amount as a string", "POST", "/v1/admin/credits", ts.admin, nil, credit(`"amount":"100","asset":"USD"`), 400, "invalid"},
			{"unknown asset", "POST", "/v1/admin/credits", ts.admin, nil, credit(`"amount":100,"asset":"DOGE"`), 400, "invalid"},
			{"asset in the wrong case", "POST", "/v1/admin/credits", ts.admin, nil, credit(`"amount":100,"asset":"usd"`), 400, "invalid"},
			{"missing asset", "POST", "/v1/admin/credits", ts.admin, nil, credit(`"amount":100`), 400, "invalid"},
			{"unknown field", "POST", "/v1/admin/credits", ts.admin, nil, credit(`"amount":100,"asset":"USD","currency":"USD"`), 400, "invalid"},
			{"a field in the wrong case", "POST", "/v1/transfers", aliceKey, nil, transfer(`"amount":1,"AMOUNT":900,"asset":"USD"`), 400, "invalid"},
			{"a field given twice", "POST", "/v1/transfers", aliceKey, nil, transfer(`"amount":1,"amount":900,"asset":"USD"`), 400, "invalid"},
			{"a look-alike handle", "POST", "/v1/transfers", aliceKey, nil, []byte(`{"to":"` + strings.Replace(strings.ToUpper(bob.Handle), "B", "Β", 1) + `","amount":1,"asset":"USD"}`), 404, "not_found"},
			{"spending by an admin from a user's account", "POST", "/v1/transfers", ts.admin, nil, []byte(`{"from":"` + alice.ID + `","to":"` + bob.ID + `","amount":1,"asset":"USD"}`), 403, "forbidden"},
			{"oversized body", "POST", "/v1/admin/credits", ts.admin, nil, huge, 413, "too_large"},
			{"malformed JSON", "POST", "/v1/admin/credits", ts.admin, nil, []byte(`{"account_id":`), 400, "invalid"},
			{"two JSON values", "POST", "/v1/admin/credits", ts.admin, nil, append(credit(`"amount":1,"asset":"USD"`), []byte(`{}`)...), 400, "invalid"},
			{"not JSON", "POST", "/v1/admin/credits", ts.admin, hdr{"Content-Type": {"text/plain"}}, credit(`"amount":1,"asset":"USD"`), 400, "invalid"},
			{"empty body", "POST", "/v1/admin/credits", ts.admin, nil, []byte{}, 400, "invalid"},
			{"control character in memo", "POST", "/v1/admin/credits", ts.admin, nil, credit(`"amount":1,"asset":"USD","memo":"a\u0007b"`), 400, "invalid"},
			{"bidi override in memo", "POST", "/v1/admin/credits", ts.admin, nil, credit(`"amount":1,"asset":"USD","memo":"pay \u202egnp.exe"`), 400, "invalid"},
			{"missing Idempotency-Key", "POST", "/v1/admin/credits", ts.admin, hdr{"Idempotency-Key": nil}, credit(`"amount":1,"asset":"USD"`), 400, "invalid"},
			{"credit to an unknown account", "POST", "/v1/admin/credits", ts.admin, nil, []byte(`{"account_id":"acct_nobody","amount":1,"asset":"USD"}`), 404, "not_found"},
			{"missing API key", "POST", "/v1/admin/credits", "", nil, credit(`"amount":1,"asset":"USD"`), 401, "unauthorized"},
			{"malformed API key", "POST", "/v1/admin/credits", "stp_not-a-key", nil, credit(`"amount":1,"asset":"USD"`), 401, "unauthorized"},
			{"unknown API key", "POST", "/v1/admin/credits", "stp_" + strings.Repeat("a", 52), nil, credit(`"amount":1,"asset":"USD"`), 401, "unauthorized"},
			{"revoked API key", "POST", "/v1/transfers", revoked.Secret, nil, transfer(`"amount":1,"asset":"USD"`), 401, "unauthorized"},
			{"credit by a non-admin", "POST", "/v1/admin/credits", aliceKey, nil, credit(`"amount":1,"asset":"USD"`), 403, "forbidden"},
			{"spending another user's account", "POST", "/v1/transfers", bobKey, nil, []byte(`{"from":"` + alice.ID + `","to":"` + bob.ID + `","amount":1,"asset":"USD"}`), 403, "forbidden"},
			{"more than the balance", "POST", "/v1/transfers", aliceKey, nil, transfer(`"amount":10001,"asset":"USD"`), 422, "insufficient_funds"},
			{"an asset never held", "POST", "/v1/transfers", aliceKey, nil, transfer(`"amount":1,"asset":"EUR"`), 422, "insufficient_funds"},
			{"transfer to oneself", "POST", "/v1/transfers", aliceKey, nil, []byte(`{"to":"` + alice.ID + `","amount":1,"asset":"USD"}`), 400, "invalid"},
			{"another user's balances", "GET", "/v1/balances?account_id=" + alice.ID, bobKey, nil, nil, 403, "forbidden"},
			{"another user's transactions", "GET", "/v1/transactions?account_id=" + alice.ID, bobKey, nil, nil, 403, "forbidden"},
			{"another user's account", "GET", "/v1/accounts/" + alice.ID, bobKey, nil, nil, 403, "forbidden"},
			{"another user's keys", "GET", "/v1/keys?account_id=" + alice.ID, bobKey, nil, nil, 403, "forbidden"},
			{"a limit that is not a number", "GET", "/v1/transactions?limit=ten", aliceKey, nil, nil, 400, "invalid"},
			{"a forged cursor", "GET", "/v1/transactions?cursor=tx_'or'1'='1", aliceKey, nil, nil, 400, "invalid"},
			{"handle with a homoglyph", "POST", "/v1/accounts", ts.admin, nil, []byte(`{"kind":"user","handle":"аlice","name":"A"}`), 400, "invalid"},
			{"name with a zero-width space", "POST", "/v1/accounts", ts.admin, nil, []byte(`{"kind":"user","handle":"carol","name":"Car\u200bol"}`), 400, "invalid"},
			{"unknown scope", "POST", "/v1/keys", aliceKey, nil, []byte(`{"name":"x","scopes":["root"]}`), 400, "invalid"},
			{"no such route", "GET", "/v1/nothing-here", aliceKey, nil, nil, 404, "not_found"},
			{"a method the route does not have", "PUT", "/v1/transfers", aliceKey, nil, transfer(`"amount":1,"asset":"USD"`), 405, "method_not_allowed"},
			{"a member added by a non-owner", "POST", "/v1/accounts/" + alice.ID + "/members", bobKey, nil, []byte(`{"account":"` + bob.ID + `","role":"owner"}`), 403, "forbidden"},
		}
		for _, tt := range tests {
			h := http.Header{"Idempotency-Key": {newKey()}}
			for k, v := range tt.header {
				if v == nil {
					h.Del(k)
				} else {
					h[k] = v
				}
			}
			var p wire.Problem
			var body any
			if tt.body != nil {
				body = tt.body
			}
			r := ts.do(tt.method, tt.path, tt.key, body, h, &p)
			if r.StatusCode != tt.status || p.Code != tt.code {
				t.Errorf("%s: got %d %q (%s), want %d %q", tt.name, r.StatusCode, p.Code, p.Detail, tt.status, tt.code)
				continue
			}
			wantProblem(t, r, p, tt.status, tt.code)
		}
		if after := snapshot(t, ts); after != before {
			t.Fatalf("bad input changed the database:\nbefore %s\nafter  %s", before, after)
		}
	})
}

// snapshot summarises everything a bad request could change.
func snapshot(t *testing.T, ts *testServer) string {
	t.Helper()
	ctx := context.Background()
	var out []any
	for _, q := range []string{
		`SELECT COUNT(*) FROM ledger_transactions`,
		`SELECT COUNT(*) FROM ledger_entries`,
		`SELECT COALESCE(SUM(CASE WHEN balance > 0 THEN balance ELSE 0 END), 0) FROM ledger_balances`,
		`SELECT COUNT(*) FROM accounts`,
		`SELECT COUNT(*) FROM api_keys`,
		`SELECT COUNT(*) FROM api_keys WHERE revoked_at IS NULL`,
	} {
		var n int64
		if err := ts.store.DB().QueryRow(ctx, q).Scan(&n); err != nil {
			t.Fatal(err)
		}
		out = append(out, n)
	}
	rows, err := ts.store.DB().Query(ctx, `SELECT address, asset, balance FROM ledger_balances ORDER BY address, asset`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var a, s string
		var b int64
		if err := rows.Scan(&a, &s, &b); err != nil {
			t.Fatal(err)
		}
		out = append(out, a, s, b)
	}
	b, _ := json.Marshal(out)
	return string(b)
}
