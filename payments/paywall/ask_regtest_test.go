package paywall_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stipend/stipend/api/wire"
	"github.com/stipend/stipend/internal/db"
	"github.com/stipend/stipend/internal/regtest"
	"github.com/stipend/stipend/payments/l402"
)

// TestAskExpertThrough402OnRegtest asks an expert with an empty balance: the 402's L402 token
// is bound to the asker's account; once the payer node pays it, the retry with the same
// Idempotency-Key deposits the payment and asks, exactly once; the token cannot be spent
// again, and a caller without an API key is never offered a token for someone's account.
func TestAskExpertThrough402OnRegtest(t *testing.T) {
	net := regtest.Shared(t)
	w := newWorld(t, net, db.SQLite)
	const price = 30_000_000 // 30,000 sat
	_, expertKey := w.newUser(t, "expert")
	body, _ := json.Marshal(wire.SetExpertRequest{Name: "Kube Expert", Price: wire.MoneyRequest{Amount: price, Asset: "BTC"}, AnswerWindow: 3600})
	if resp, raw := w.do(t, http.MethodPut, w.srv.URL+"/v1/me/expert", "Bearer "+expertKey, body); resp.StatusCode != http.StatusOK {
		t.Fatalf("expert profile: %d %s", resp.StatusCode, raw)
	}
	var me wire.Me
	_, raw := w.do(t, http.MethodGet, w.srv.URL+"/v1/me", "Bearer "+expertKey, nil)
	if err := json.Unmarshal(raw, &me); err != nil {
		t.Fatal(err)
	}
	askerID, askerKey := w.newUser(t, "asker")
	url := w.srv.URL + "/v1/experts/" + me.Account.Handle + "/questions"
	ask, _ := json.Marshal(wire.AskRequest{Question: "Why does my pod restart?"})
	post := func(authz, key string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, url, bytesReader(ask))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", key)
		if authz != "" {
			req.Header.Set("Authorization", authz)
		}
		resp, err := w.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		return resp, readAll(t, resp)
	}

	if resp, _ := post("", "k1"); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("asking without a key: %d, want 401 (no token for nobody's account)", resp.StatusCode)
	}
	resp, raw := post("Bearer "+askerKey, "k1")
	if resp.StatusCode != http.StatusPaymentRequired {
		t.Fatalf("asking with an empty balance: %d %s, want 402", resp.StatusCode, raw)
	}
	c := parseChallenge(t, resp, raw)
	if c.macaroon == "" || c.payment != nil || c.body.Price.Amount != price {
		t.Fatalf("the ask's 402: %+v (want an L402 token for the price and no Payment challenge)", c)
	}
	if l402.CaveatValue(decodeMacaroon(t, c.macaroon), l402.CondAccount) != askerID {
		t.Fatal("the token is not bound to the asker's account")
	}
	pre := w.pay(t, c.invoice)
	resp, raw = post(l402Authorization(t, c, pre), "k1")
	var q wire.Question
	if resp.StatusCode != http.StatusCreated || json.Unmarshal(raw, &q) != nil || q.Status != "open" {
		t.Fatalf("asking with the paid token: %d %s", resp.StatusCode, raw)
	}
	if r, err := l402.DecodeReceipt(resp.Header.Get(l402.HeaderReceipt)); err != nil || r.Reference != c.hash {
		t.Fatalf("receipt %+v, %v", r, err)
	}
	// A retry of the same request is answered from the first, not deposited again.
	resp, raw2 := post(l402Authorization(t, c, pre), "k1")
	if resp.StatusCode != http.StatusCreated || resp.Header.Get("Idempotency-Replayed") != "true" || string(raw2) != string(raw) {
		t.Fatalf("retried ask: %d replayed=%q", resp.StatusCode, resp.Header.Get("Idempotency-Replayed"))
	}
	// The token with another request: used.
	if resp, _ := post(l402Authorization(t, c, pre), "k2"); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a used token for a new question: %d, want 401", resp.StatusCode)
	}
	// The price is held for the question, and nothing else was deposited.
	if got := w.balance(t, askerID); got != 0 {
		t.Fatalf("asker's available balance = %d, want 0 (the deposit is held for the question)", got)
	}
}
