package stripe_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/api/wire"
	"github.com/stipend/stipend/client"
	"github.com/stipend/stipend/internal/apptest"
	"github.com/stipend/stipend/payments/stripe/stripego"
)

// world is a Stipend wired to stripe-mock, through a recorder that shows what reached it.
type world struct {
	srv   *apptest.Server
	admin *client.Client
}

func (w *world) newUser(t testing.TB, name string) (string, string) {
	t.Helper()
	ctx := context.Background()
	a, err := w.admin.CreateAccount(ctx, wire.CreateAccountRequest{Kind: "user", Handle: name + "-" + strings.ToLower(stipend.NewID("")[1:9]), Name: name})
	if err != nil {
		t.Fatal(err)
	}
	k, err := w.admin.CreateKey(ctx, wire.CreateKeyRequest{AccountID: a.ID, Name: name})
	if err != nil {
		t.Fatal(err)
	}
	return a.ID, k.Secret
}

// call sends a JSON request and decodes a 2xx answer into out; it returns the status.
func (w *world) call(t testing.TB, method, path, key, idem string, in, out any) int {
	t.Helper()
	var body io.Reader = http.NoBody
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, w.srv.URL+path, body)
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if idem != "" {
		req.Header.Set("Idempotency-Key", idem)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode < 300 && out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, raw)
		}
	}
	return resp.StatusCode
}

// event is a Stripe event as its webhook delivers it.
func event(id, typ string, object map[string]any) []byte {
	b, _ := json.Marshal(map[string]any{"id": id, "object": "event", "api_version": "2023-10-16", "created": time.Now().Unix(),
		"type": typ, "livemode": false, "pending_webhooks": 1, "data": map[string]any{"object": object}})
	return b
}

// deliver posts a delivery of payload signed at ts with secret and returns the status.
func (w *world) deliver(t testing.TB, payload []byte, secret string, ts time.Time) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, w.srv.URL+"/v1/stripe/webhook", bytes.NewReader(payload))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Stripe-Signature", stripego.SignPayload(payload, secret, ts))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// balance is an account's available balance of an asset.
func (w *world) balance(t testing.TB, key, accountID, asset string) int64 {
	t.Helper()
	var b wire.Balances
	if code := w.call(t, http.MethodGet, "/v1/balances?account_id="+accountID, key, "", nil, &b); code != http.StatusOK {
		t.Fatalf("balances: %d", code)
	}
	for _, x := range b.Data {
		if x.Asset == asset {
			return x.Available
		}
	}
	return 0
}

func intentObject(id, fundingID string, amount int64, currency string) map[string]any {
	return map[string]any{"id": id, "object": "payment_intent", "amount": amount, "amount_received": amount, "currency": currency,
		"status": "succeeded", "metadata": map[string]string{"stipend_funding": fundingID}}
}

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }

// signedFor signs payload now with the test server's secret.
func signedFor(payload []byte) string {
	return stripego.SignPayload(payload, apptest.StripeWebhookSecret, time.Now())
}
