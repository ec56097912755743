package stripego_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/internal/stripemock"
	"github.com/stipend/stipend/payments/ledger"
	"github.com/stipend/stipend/payments/stripe"
	"github.com/stipend/stipend/payments/stripe/gatewaytest"
	"github.com/stipend/stipend/payments/stripe/stripego"
)

func newClient(t testing.TB, cfg stripego.Config) *stripego.Client {
	t.Helper()
	c, err := stripego.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func ctxFor(t testing.TB, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func wantCode(t testing.TB, what string, err error, code string) {
	t.Helper()
	if got := stipend.ErrorCode(err); got != code {
		t.Errorf("%s: error code %q, want %q (%v)", what, got, code, err)
	}
}

// TestGateway runs the conformance suite against stripe-mock.
func TestGateway(t *testing.T) {
	srv := stripemock.Shared(t)
	gatewaytest.Run(t, newClient(t, stripego.Config{APIKey: stripemock.APIKey, URL: srv.URL}))
}

func TestNew(t *testing.T) {
	for _, cfg := range []stripego.Config{
		{},
		{APIKey: "sk_test_1", URL: "ftp://127.0.0.1"},
		{APIKey: "sk_test_1", URL: "127.0.0.1:12111"},
		{APIKey: "sk_test_1", Tolerance: -time.Second},
	} {
		_, err := stripego.New(cfg)
		wantCode(t, fmt.Sprintf("New(%+v)", cfg), err, stipend.EINVALID)
		if err != nil && strings.Contains(err.Error(), "sk_test_1") {
			t.Errorf("the error quotes the key: %v", err)
		}
	}
}

// TestRefusedKeyIsNotQuoted: stripe-mock refuses a publishable key with 401 and quotes the
// Authorization header back; neither the key nor its encoding may reach the error.
func TestRefusedKeyIsNotQuoted(t *testing.T) {
	srv := stripemock.Shared(t)
	const key = "pk_test_ThisKeyMustNotLeak"
	c := newClient(t, stripego.Config{APIKey: key, URL: srv.URL, WebhookSecret: "whsec_alsosecret"})
	_, err := c.CreatePaymentIntent(ctxFor(t, time.Minute), stripe.IntentRequest{Amount: ledger.Cents(100, ledger.USD)})
	wantCode(t, "a refused key", err, stipend.EINTERNAL)
	if err == nil {
		return
	}
	text := err.Error() + stipend.ErrorMessage(err)
	for _, secret := range []string{key, base64.StdEncoding.EncodeToString([]byte(key + ":")), "whsec_alsosecret"} {
		if strings.Contains(text, secret) {
			t.Errorf("the error quotes a secret: %s", text)
		}
	}
}

// recorder is a stand-in for Stripe's API that records each request and answers with a
// canned response. It checks what the adapter sends and how it maps Stripe's errors, which
// stripe-mock cannot show: it keeps no requests and never declines.
type recorder struct {
	mu       sync.Mutex
	requests []recorded
	status   int
	body     string
	header   http.Header
}

type recorded struct {
	method, path string
	form         url.Values
	header       http.Header
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	form, _ := url.ParseQuery(string(body))
	if req.Method == http.MethodGet {
		form = req.URL.Query()
	}
	r.mu.Lock()
	r.requests = append(r.requests, recorded{req.Method, req.URL.Path, form, req.Header.Clone()})
	status, respBody, hdr := r.status, r.body, r.header
	r.mu.Unlock()
	for k, v := range hdr {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Stripe-Should-Retry", "false") // one request per call, for counting
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	io.WriteString(w, respBody)
}

func (r *recorder) reply(status int, body string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.status, r.body = status, body
}

func (r *recorder) take() []recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.requests
	r.requests = nil
	return out
}

func startRecorder(t *testing.T) (*recorder, *stripego.Client) {
	rec := &recorder{}
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	return rec, newClient(t, stripego.Config{APIKey: "sk_test_recorder", URL: srv.URL})
}

// TestRefusedBeforeSending: what the adapter refuses never reaches Stripe.
func TestRefusedBeforeSending(t *testing.T) {
	rec, c := startRecorder(t)
	ctx := ctxFor(t, time.Minute)
	for _, a := range []ledger.Amount{ledger.Sat(1), ledger.Msat(1000), ledger.Cents(0, ledger.EUR), ledger.Cents(-1, ledger.USD), {Value: 5, Asset: "GBP"}} {
		_, err := c.CreatePaymentIntent(ctx, stripe.IntentRequest{Amount: a, IdempotencyKey: "k"})
		wantCode(t, "CreatePaymentIntent", err, stipend.EINVALID)
		_, err = c.CreateTransfer(ctx, stripe.TransferRequest{Amount: a, Destination: "acct_1", IdempotencyKey: "po_1"})
		wantCode(t, "CreateTransfer", err, stipend.EINVALID)
		_, err = c.CreateCheckoutSession(ctx, stripe.CheckoutRequest{Amount: a, Description: "d", SuccessURL: "https://x/s", CancelURL: "https://x/c"})
		wantCode(t, "CreateCheckoutSession", err, stipend.EINVALID)
	}
	_, err := c.PaymentIntent(ctx, "pi_1/../../v1/balance")
	wantCode(t, "a path as id", err, stipend.ENOTFOUND)
	if got := rec.take(); len(got) != 0 {
		t.Fatalf("%d requests reached Stripe, the first %s %s", len(got), got[0].method, got[0].path)
	}
}

// TestRequestsSent checks what goes over the wire: lower-case currencies, the capture
// method, idempotency keys as headers, metadata, and an Express account asking for transfers.
func TestRequestsSent(t *testing.T) {
	rec, c := startRecorder(t)
	ctx := ctxFor(t, time.Minute)

	rec.reply(200, `{"id":"pi_1","object":"payment_intent","amount":4200,"currency":"eur","capture_method":"manual","status":"requires_payment_method","client_secret":"pi_1_secret_x","created":1700000000,"metadata":{"stipend":"q_1"}}`)
	pi, err := c.CreatePaymentIntent(ctx, stripe.IntentRequest{Amount: ledger.Cents(4200, ledger.EUR), ManualCapture: true,
		Description: "escrow", Metadata: map[string]string{"stipend": "q_1"}, IdempotencyKey: "q_1:escrow"})
	if err != nil {
		t.Fatal(err)
	}
	want := &stripe.PaymentIntent{ID: "pi_1", Amount: ledger.Cents(4200, ledger.EUR), Status: "requires_payment_method",
		ClientSecret: "pi_1_secret_x", ManualCapture: true, Metadata: map[string]string{"stipend": "q_1"}, Created: time.Unix(1700000000, 0).UTC()}
	if fmt.Sprint(pi) != fmt.Sprint(want) {
		t.Errorf("intent\n got %+v\nwant %+v", pi, want)
	}
	r := one(t, rec, "POST", "/v1/payment_intents")
	wantForm(t, r, map[string]string{"amount": "4200", "currency": "eur", "capture_method": "manual",
		"description": "escrow", "metadata[stipend]": "q_1"})
	wantHeader(t, r, "Idempotency-Key", "q_1:escrow")

	_, err = c.CapturePaymentIntent(ctx, "pi_1", 1200, "q_1:capture")
	if err != nil {
		t.Fatal(err)
	}
	r = one(t, rec, "POST", "/v1/payment_intents/pi_1/capture")
	wantForm(t, r, map[string]string{"amount_to_capture": "1200"})
	wantHeader(t, r, "Idempotency-Key", "q_1:capture")

	_, err = c.CancelPaymentIntent(ctx, "pi_1", "q_1:cancel")
	if err != nil {
		t.Fatal(err)
	}
	wantHeader(t, one(t, rec, "POST", "/v1/payment_intents/pi_1/cancel"), "Idempotency-Key", "q_1:cancel")

	rec.reply(200, `{"id":"acct_1","object":"account","country":"DE"}`)
	if _, err := c.CreateAccount(ctx, stripe.AccountRequest{Country: "DE", Email: "a@b.example", IdempotencyKey: "usr_1:account"}); err != nil {
		t.Fatal(err)
	}
	r = one(t, rec, "POST", "/v1/accounts")
	wantForm(t, r, map[string]string{"type": "express", "country": "DE", "email": "a@b.example", "capabilities[transfers][requested]": "true"})
	wantHeader(t, r, "Idempotency-Key", "usr_1:account")

	rec.reply(200, `{"id":"tr_1","object":"transfer","amount":777,"currency":"usd","destination":"acct_1","created":1700000000}`)
	tr, err := c.CreateTransfer(ctx, stripe.TransferRequest{Amount: ledger.Cents(777, ledger.USD), Destination: "acct_1",
		Metadata: map[string]string{"payout": "po_9"}, IdempotencyKey: "po_9"})
	if err != nil {
		t.Fatal(err)
	}
	if tr.ID != "tr_1" || tr.Destination != "acct_1" || tr.Amount != ledger.Cents(777, ledger.USD) {
		t.Errorf("transfer %+v", tr)
	}
	r = one(t, rec, "POST", "/v1/transfers")
	wantForm(t, r, map[string]string{"amount": "777", "currency": "usd", "destination": "acct_1", "metadata[payout]": "po_9"})
	wantHeader(t, r, "Idempotency-Key", "po_9")

	rec.reply(200, `{"id":"cs_1","object":"checkout.session","url":"https://checkout.example/cs_1","payment_intent":"pi_2"}`)
	cs, err := c.CreateCheckoutSession(ctx, stripe.CheckoutRequest{Amount: ledger.Cents(1500, ledger.USD), Description: "Fund",
		SuccessURL: "https://s.example/ok", CancelURL: "https://s.example/no", Metadata: map[string]string{"funding": "fnd_1"}, IdempotencyKey: "fnd_1"})
	if err != nil {
		t.Fatal(err)
	}
	if cs.PaymentIntent != "pi_2" {
		t.Errorf("session %+v", cs)
	}
	r = one(t, rec, "POST", "/v1/checkout/sessions")
	wantForm(t, r, map[string]string{"mode": "payment", "line_items[0][price_data][currency]": "usd",
		"line_items[0][price_data][unit_amount]": "1500", "metadata[funding]": "fnd_1",
		"payment_intent_data[metadata][funding]": "fnd_1"})

	rec.reply(200, `{"object":"list","has_more":false,"data":[{"id":"txn_1","object":"balance_transaction","amount":500,"currency":"eur","fee":30,"net":470,"type":"charge","source":"ch_1","created":1700000000}]}`)
	from, to := time.Unix(1700000000, 500), time.Unix(1700003600, 0)
	txs, err := c.BalanceTransactions(ctx, from, to)
	if err != nil {
		t.Fatal(err)
	}
	if len(txs) != 1 || txs[0].Source != "ch_1" || txs[0].Amount != ledger.Cents(500, ledger.EUR) || txs[0].Net != 470 {
		t.Errorf("balance transactions %+v", txs)
	}
	r = one(t, rec, "GET", "/v1/balance_transactions")
	// [from, to) in whole seconds: a from with a fraction of a second starts at the next one.
	wantForm(t, r, map[string]string{"created[gte]": "1700000001", "created[lt]": "1700003600", "limit": "100"})

	// An amount in a currency Stipend does not hold is refused, not misread.
	rec.reply(200, `{"id":"tr_2","object":"transfer","amount":1,"currency":"gbp"}`)
	_, err = c.Transfer(ctx, "tr_2")
	wantCode(t, "a GBP transfer", err, stipend.EINTERNAL)
	rec.take()
}

func one(t *testing.T, rec *recorder, method, path string) recorded {
	t.Helper()
	got := rec.take()
	if len(got) != 1 || got[0].method != method || got[0].path != path {
		t.Fatalf("requests %+v, want one %s %s", got, method, path)
	}
	return got[0]
}

func wantForm(t *testing.T, r recorded, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if got := r.form.Get(k); got != v {
			t.Errorf("%s %s: %s = %q, want %q", r.method, r.path, k, got, v)
		}
	}
}

func wantHeader(t *testing.T, r recorded, k, v string) {
	t.Helper()
	if got := r.header.Get(k); got != v {
		t.Errorf("%s %s: header %s = %q, want %q", r.method, r.path, k, got, v)
	}
}

// TestErrorMapping maps Stripe's error answers, which stripe-mock never gives, to Stipend's
// codes, and checks that neither the key nor Stripe's words reach the client-safe message.
func TestErrorMapping(t *testing.T) {
	rec, c := startRecorder(t)
	ctx := ctxFor(t, time.Minute)
	cases := []struct {
		name   string
		status int
		typ    string
		code   string
		decl   string
		want   string
	}{
		{"no such intent", 404, "invalid_request_error", "resource_missing", "", stipend.ENOTFOUND},
		{"resource_missing on 400", 400, "invalid_request_error", "resource_missing", "", stipend.ENOTFOUND},
		{"bad parameter", 400, "invalid_request_error", "parameter_invalid_integer", "", stipend.EINVALID},
		{"not capturable", 400, "invalid_request_error", "payment_intent_unexpected_state", "", stipend.ECONFLICT},
		{"already refunded", 400, "invalid_request_error", "charge_already_refunded", "", stipend.ECONFLICT},
		{"card declined", 402, "card_error", "card_declined", "generic_decline", stipend.EINVALID},
		{"card without funds", 402, "card_error", "card_declined", "insufficient_funds", stipend.EINSUFFICIENTFUNDS},
		{"platform balance short", 400, "invalid_request_error", "balance_insufficient", "", stipend.EINSUFFICIENTFUNDS},
		{"idempotency key reused", 400, "idempotency_error", "", "", stipend.ECONFLICT},
		{"conflict", 409, "invalid_request_error", "", "", stipend.ECONFLICT},
		{"rate limited", 429, "invalid_request_error", "rate_limit", "", stipend.EUNAVAILABLE},
		{"server error", 500, "api_error", "", "", stipend.EUNAVAILABLE},
		{"unavailable", 503, "api_error", "", "", stipend.EUNAVAILABLE},
		{"bad key", 401, "invalid_request_error", "", "", stipend.EINTERNAL},
		{"restricted key", 403, "invalid_request_error", "", "", stipend.EINTERNAL},
	}
	for _, tc := range cases {
		msg := "Something about sk_test_recorder and pi_1_secret_abc and whsec_xyz"
		body := fmt.Sprintf(`{"error":{"type":%q,"code":%q,"decline_code":%q,"message":%q}}`, tc.typ, tc.code, tc.decl, msg)
		rec.reply(tc.status, body)
		_, err := c.CreateTransfer(ctx, stripe.TransferRequest{Amount: ledger.Cents(100, ledger.USD), Destination: "acct_1", IdempotencyKey: "po_1"})
		wantCode(t, tc.name, err, tc.want)
		if n := len(rec.take()); n != 1 {
			t.Errorf("%s: %d requests, want 1", tc.name, n)
		}
		if err == nil {
			continue
		}
		if m := stipend.ErrorMessage(err); strings.Contains(m, "Something") {
			t.Errorf("%s: Stripe's words reach the client: %q", tc.name, m)
		}
		for _, secret := range []string{"sk_test_recorder", "pi_1_secret_abc", "whsec_xyz"} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("%s: the error quotes %s: %v", tc.name, secret, err)
			}
		}
	}
}

// TestUnreachable: no answer is EUNAVAILABLE, also when the caller gives up.
func TestUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c := newClient(t, stripego.Config{APIKey: "sk_test_1", URL: "http://" + addr})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err = c.Transfer(ctx, "tr_1")
	wantCode(t, "a closed port", err, stipend.EUNAVAILABLE)

	stop := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-stop:
		}
	}))
	defer hang.Close()
	defer close(stop)
	c = newClient(t, stripego.Config{APIKey: "sk_test_1", URL: hang.URL})
	ctx, cancel = context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err = c.CreateTransfer(ctx, stripe.TransferRequest{Amount: ledger.Cents(1, ledger.EUR), Destination: "acct_1", IdempotencyKey: "po_1"})
	wantCode(t, "a timeout", err, stipend.EUNAVAILABLE)
	if !errors.Is(err, context.DeadlineExceeded) && !strings.Contains(err.Error(), "deadline") {
		t.Logf("timeout error: %v", err)
	}
}
