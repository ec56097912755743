package client_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stipend/stipend/api/wire"
	"github.com/stipend/stipend/client"
	"github.com/stipend/stipend/payments/l402"
	"github.com/stipend/stipend/payments/lightning"
)

// fakeNode is a lightning.Node's paying half that answers as told.
type fakeNode struct {
	mu   sync.Mutex
	sent []lightning.PaymentRequest
	pay  *lightning.Payment
}

func (n *fakeNode) SendPayment(_ context.Context, req lightning.PaymentRequest) (*lightning.Payment, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.sent = append(n.sent, req)
	return n.pay, nil
}

func (n *fakeNode) TrackPayment(_ context.Context, hash string) (*lightning.Payment, error) {
	return n.pay, nil
}

func TestLNDWalletMapsPaymentStates(t *testing.T) {
	t.Parallel()
	var pre l402.Preimage
	pre[1] = 9
	tests := []struct {
		name    string
		pay     *lightning.Payment
		want    client.PaymentState
		wantErr bool
	}{
		{"succeeded", &lightning.Payment{Status: lightning.PaymentSucceeded, Preimage: pre.Hex(), FeeMsat: 12}, client.PaymentSucceeded, false},
		{"failed", &lightning.Payment{Status: lightning.PaymentFailed, FailureReason: "FAILURE_REASON_NO_ROUTE"}, client.PaymentFailed, false},
		{"in flight", &lightning.Payment{Status: lightning.PaymentInFlight}, client.PaymentInFlight, false},
		{"unknown", &lightning.Payment{Status: lightning.PaymentUnknown}, client.PaymentUnknown, false},
		{"succeeded without a preimage", &lightning.Payment{Status: lightning.PaymentSucceeded, Preimage: "zz"}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			node := &fakeNode{pay: tt.pay}
			w := client.NewLNDWallet(node)
			for _, call := range []func() (*client.WalletPayment, error){
				func() (*client.WalletPayment, error) { return w.Pay(context.Background(), "lnbcrt1", 777) },
				func() (*client.WalletPayment, error) { return w.Track(context.Background(), "ab") },
			} {
				got, err := call()
				if tt.wantErr {
					if err == nil {
						t.Fatal("no error")
					}
					continue
				}
				if err != nil || got.State != tt.want {
					t.Fatalf("%+v, %v; want %s", got, err, tt.want)
				}
				if tt.want == client.PaymentSucceeded && (got.Preimage != pre || got.FeeMsat != 12) {
					t.Errorf("preimage or fee wrong: %+v", got)
				}
			}
			if len(node.sent) != 1 || node.sent[0].FeeLimitMsat != 777 || node.sent[0].Invoice != "lnbcrt1" {
				t.Errorf("sent %+v", node.sent)
			}
		})
	}
}

// fakePayouts is the payouts API of a Stipend server: a payout is requested, then in
// flight, then succeeds with the preimage the test network knows; a repeated key gets the
// first payout back.
type fakePayouts struct {
	net *lightningNet
	URL string

	mu      sync.Mutex
	byKey   map[string]*wire.Payout
	polls   map[string]int
	creates int
	refuse  bool // answer creations with 422 insufficient_funds
}

func newFakePayouts(t *testing.T, net *lightningNet) *fakePayouts {
	t.Helper()
	f := &fakePayouts{net: net, byKey: map[string]*wire.Payout{}, polls: map[string]int{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/payouts", f.create)
	mux.HandleFunc("GET /v1/payouts", f.list)
	mux.HandleFunc("GET /v1/payouts/{id}", f.get)
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)
	f.URL = hs.URL
	return f
}

func (f *fakePayouts) create(w http.ResponseWriter, r *http.Request) {
	var req wire.CreatePayoutRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.MaxFee == nil {
		http.Error(w, "bad request", 400)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.creates++
	if f.refuse {
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(422)
		w.Write([]byte(`{"title":"Unprocessable","status":422,"detail":"not enough money","code":"insufficient_funds"}`))
		return
	}
	key := r.Header.Get("Idempotency-Key")
	po, ok := f.byKey[key]
	if !ok {
		d, err := lightning.DecodeInvoice(req.Destination, "regtest")
		if err != nil {
			http.Error(w, "bad invoice", 400)
			return
		}
		po = &wire.Payout{ID: "po_" + d.Hash[:8], Status: "requested", Asset: "BTC", Amount: d.AmountMsat,
			Destination: req.Destination, Invoice: req.Destination, PaymentHash: d.Hash}
		f.byKey[key] = po
	}
	json.NewEncoder(w).Encode(po)
}

func (f *fakePayouts) find(id string) *wire.Payout {
	for _, po := range f.byKey {
		if po.ID == id {
			return po
		}
	}
	return nil
}

func (f *fakePayouts) get(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	po := f.find(r.PathValue("id"))
	if po == nil {
		http.NotFound(w, r)
		return
	}
	f.polls[po.ID]++
	switch {
	case f.polls[po.ID] == 1:
		po.Status = "in_flight"
	default:
		pre, _ := f.net.preimage(po.PaymentHash)
		po.Status, po.Proof, po.FeePaid = "succeeded", pre.Hex(), 3000
	}
	json.NewEncoder(w).Encode(po)
}

func (f *fakePayouts) list(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	page := wire.PayoutPage{AccountID: "acct_1"}
	for _, po := range f.byKey {
		page.Data = append(page.Data, *po)
	}
	json.NewEncoder(w).Encode(page)
}

func TestBalanceWalletPaysOncePerInvoice(t *testing.T) {
	t.Parallel()
	net := &lightningNet{}
	api := newFakePayouts(t, net)
	w := client.NewBalanceWallet(client.New(api.URL, "stp_key", client.WithRetries(3, time.Millisecond)))
	w.PollInterval = time.Millisecond
	inv, pre := net.newInvoice(t, 42_000)
	ctx := context.Background()

	for range 2 {
		got, err := w.Pay(ctx, inv, 10_000)
		if err != nil || got.State != client.PaymentSucceeded || got.Preimage != pre || got.FeeMsat != 3000 {
			t.Fatalf("Pay: %+v, %v", got, err)
		}
	}
	api.mu.Lock()
	if len(api.byKey) != 1 {
		t.Errorf("%d payouts, want one", len(api.byKey))
	}
	for k := range api.byKey {
		if k != client.BalancePayoutKey(pre.Hash().String()) {
			t.Errorf("Idempotency-Key %q", k)
		}
	}
	api.mu.Unlock()

	got, err := w.Track(ctx, pre.Hash().String())
	if err != nil || got.State != client.PaymentSucceeded || got.Preimage != pre {
		t.Fatalf("Track: %+v, %v", got, err)
	}
	got, err = w.Track(ctx, strings.Repeat("00", 32))
	if err != nil || got.State != client.PaymentUnknown {
		t.Fatalf("Track of an unknown hash: %+v, %v", got, err)
	}

	api.mu.Lock()
	api.refuse = true
	api.mu.Unlock()
	inv2, _ := net.newInvoice(t, 1000)
	got, err = w.Pay(ctx, inv2, 10_000)
	if err != nil || got.State != client.PaymentFailed || !strings.Contains(got.Failure, "not enough money") {
		t.Fatalf("Pay refused: %+v, %v", got, err)
	}
}

func TestBalanceWalletPaysThroughTheTransport(t *testing.T) {
	t.Parallel()
	pw := newPaywall(t, 8000)
	api := newFakePayouts(t, pw.net)
	bw := client.NewBalanceWallet(client.New(api.URL, "stp_key", client.WithRetries(3, time.Millisecond)))
	bw.PollInterval = time.Millisecond
	tr := &client.PayingTransport{Wallet: bw, MaxPriceMsat: 8000}
	body, status, out, err := do(t, tr, "GET", pw.URL+"/priced/balance", nil, nil)
	mustOK(t, body, status, err)
	if out.Method != wire.MethodL402 || out.FeeMsat != 3000 {
		t.Errorf("outcome %+v", out)
	}
}
