package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/lightningnetwork/lnd/lnwire"
	"github.com/lightningnetwork/lnd/zpay32"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/api/wire"
	"github.com/stipend/stipend/client"
	"github.com/stipend/stipend/internal/apptest"
	"github.com/stipend/stipend/internal/config"
	"github.com/stipend/stipend/internal/db"
	"github.com/stipend/stipend/internal/dbtest"
	"github.com/stipend/stipend/payments/l402"
	"github.com/stipend/stipend/payments/lightning"
)

// payKeys is an in-memory l402.RootKeys.
type payKeys struct {
	mu   sync.Mutex
	keys map[l402.TokenID][]byte
}

func (m *payKeys) NewRootKey(_ context.Context, id l402.TokenID) ([]byte, error) {
	k := make([]byte, 32)
	rand.Read(k)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.keys == nil {
		m.keys = map[l402.TokenID][]byte{}
	}
	m.keys[id] = k
	return k, nil
}

func (m *payKeys) RootKey(_ context.Context, id l402.TokenID) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if k, ok := m.keys[id]; ok {
		return k, nil
	}
	return nil, stipend.Errorf(stipend.ENOTFOUND, "no root key")
}

// payWorld is a priced route (every path under /priced/, single use, by L402, Payment or
// credits, built on the real payments/l402) and a Stipend API whose payouts pay its invoices
// (for --from-balance), sharing the preimages of the invoices issued.
type payWorld struct {
	t          *testing.T
	paywallURL string
	apiURL     string
	apiKey     string
	minter     *l402.Minter
	paymentKey []byte
	priceMsat  int64

	mu        sync.Mutex
	preimages map[string]l402.Preimage
	consumed  map[string]bool
	seen      []*http.Request
	bodies    []string
	payouts   map[string]*wire.Payout // by Idempotency-Key
}

func newPayWorld(t *testing.T, priceMsat int64) *payWorld {
	t.Helper()
	w := &payWorld{t: t, apiKey: "stp_pay_world_key_0123456789", minter: l402.NewMinter(&payKeys{}), paymentKey: []byte("k"),
		priceMsat: priceMsat, preimages: map[string]l402.Preimage{}, consumed: map[string]bool{}, payouts: map[string]*wire.Payout{}}
	pw := httptest.NewServer(http.HandlerFunc(w.paywall))
	t.Cleanup(pw.Close)
	api := http.NewServeMux()
	api.HandleFunc("POST /v1/payouts", w.createPayout)
	api.HandleFunc("GET /v1/payouts/{id}", w.getPayout)
	as := httptest.NewServer(api)
	t.Cleanup(as.Close)
	w.paywallURL, w.apiURL = pw.URL, as.URL
	return w
}

func (w *payWorld) requests() ([]*http.Request, []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]*http.Request(nil), w.seen...), append([]string(nil), w.bodies...)
}

func (w *payWorld) payoutCount() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.payouts)
}

func (w *payWorld) invoice(amountMsat int64) (string, l402.Hash) {
	var pre l402.Preimage
	rand.Read(pre[:])
	hash := pre.Hash()
	w.mu.Lock()
	w.preimages[hash.String()] = pre
	w.mu.Unlock()
	key, _ := btcec.NewPrivateKey()
	var addr [32]byte
	rand.Read(addr[:])
	inv, err := zpay32.NewInvoice(&chaincfg.RegressionNetParams, hash, time.Now(), zpay32.Amount(lnwire.MilliSatoshi(amountMsat)),
		zpay32.Description("call"), zpay32.Expiry(time.Hour), zpay32.PaymentAddr(addr))
	if err != nil {
		w.t.Fatal(err)
	}
	s, err := inv.Encode(zpay32.MessageSigner{SignCompact: func(msg []byte) ([]byte, error) {
		h := sha256.Sum256(msg)
		return ecdsa.SignCompact(key, h[:], true), nil
	}})
	if err != nil {
		w.t.Fatal(err)
	}
	return s, hash
}

func (w *payWorld) paywall(rw http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	w.mu.Lock()
	w.seen, w.bodies = append(w.seen, r.Clone(context.Background())), append(w.bodies, string(body))
	w.mu.Unlock()
	if !strings.HasPrefix(r.URL.Path, "/priced/") {
		http.Error(rw, "no such route", http.StatusNotFound)
		return
	}
	if auths := r.Header.Values("Authorization"); len(auths) == 1 {
		if method, ref := w.verify(r, auths[0]); method != "" {
			rw.Header().Set(l402.HeaderReceipt, l402.EncodeReceipt(l402.Receipt{Method: method, Reference: ref, Timestamp: "2026-01-01T00:00:00Z"}))
			io.WriteString(rw, `{"answer":"42","echo":`+strconv.Quote(string(body))+`}`)
			return
		}
	}
	inv, hash := w.invoice(w.priceMsat)
	mac, err := w.minter.Mint(r.Context(), l402.MintRequest{PaymentHash: hash, Caveats: l402.RouteCaveats("/priced", "", time.Time{})})
	if err != nil {
		w.t.Error(err)
		return
	}
	vs, _ := l402.Challenges(mac, inv)
	ch, _ := l402.NewPaymentChallenge(w.paymentKey, "stipend", l402.PaymentRequest{Amount: strconv.FormatInt(w.priceMsat/1000, 10), Currency: "sat",
		MethodDetails: l402.PaymentDetails{Invoice: inv, PaymentHash: hash.String()}}, time.Now().Add(time.Minute))
	pv, _ := ch.Header()
	// One folded header line, as a proxy may send them.
	rw.Header().Set("WWW-Authenticate", strings.Join(append(vs, pv, `Bearer realm="stipend", scope="credits"`), ", "))
	rw.Header().Set("Content-Type", "application/problem+json")
	rw.WriteHeader(http.StatusPaymentRequired)
	json.NewEncoder(rw).Encode(wire.PaymentRequired{Problem: wire.Problem{Title: "Payment Required", Status: 402, Code: "payment_required"},
		Price: wire.Money{Amount: w.priceMsat, Asset: "BTC", Unit: "msat"}, Methods: []string{"l402", "payment", "credits"}, Access: wire.AccessSingleUse})
}

func (w *payWorld) verify(r *http.Request, auth string) (method, ref string) {
	var hash string
	switch {
	case l402.HasL402Scheme(auth):
		c, err := l402.ParseAuthorization(auth)
		if err != nil {
			return "", ""
		}
		tok, err := w.minter.Verify(r.Context(), l402.VerifyRequest{Macaroon: c.Macaroon, Preimage: c.Preimage, Route: "/priced", Method: r.Method, Now: time.Now()})
		if err != nil {
			return "", ""
		}
		method, hash = "l402", tok.PaymentHash.String()
	case l402.HasPaymentScheme(auth):
		c, pre, err := l402.ParsePaymentAuthorization(auth)
		if err != nil {
			return "", ""
		}
		_, h, err := l402.VerifyPayment(w.paymentKey, c, pre, time.Now())
		if err != nil {
			return "", ""
		}
		method, hash = "payment", h.String()
	case auth == "Bearer "+w.apiKey:
		return "credits", "call_7"
	default:
		return "", ""
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.consumed[hash] {
		return "", ""
	}
	w.consumed[hash] = true
	return method, hash
}

func (w *payWorld) createPayout(rw http.ResponseWriter, r *http.Request) {
	var req wire.CreatePayoutRequest
	if r.Header.Get("Authorization") != "Bearer "+w.apiKey || json.NewDecoder(r.Body).Decode(&req) != nil {
		http.Error(rw, "refused", http.StatusBadRequest)
		return
	}
	d, err := lightning.DecodeInvoice(req.Destination, "regtest")
	if err != nil {
		http.Error(rw, "bad invoice", http.StatusBadRequest)
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	key := r.Header.Get("Idempotency-Key")
	po, ok := w.payouts[key]
	if !ok {
		pre := w.preimages[d.Hash]
		po = &wire.Payout{ID: "po_" + d.Hash[:10], Status: "succeeded", Asset: "BTC", Amount: d.AmountMsat, FeePaid: 2000,
			Destination: req.Destination, PaymentHash: d.Hash, Proof: pre.Hex()}
		w.payouts[key] = po
	}
	json.NewEncoder(rw).Encode(po)
}

func (w *payWorld) getPayout(rw http.ResponseWriter, r *http.Request) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, po := range w.payouts {
		if po.ID == r.PathValue("id") {
			json.NewEncoder(rw).Encode(po)
			return
		}
	}
	http.NotFound(rw, r)
}

// env is the environment of a user with an API key on the API server and a state directory.
func (w *payWorld) env(t *testing.T) map[string]string {
	return map[string]string{"STIPEND_SERVER": w.apiURL, "STIPEND_API_KEY": w.apiKey, "STIPEND_STATE_DIR": t.TempDir()}
}

func TestPayFromBalanceByL402(t *testing.T) {
	t.Parallel()
	w := newPayWorld(t, 21_000)
	env := w.env(t)
	r := runCLI(t, env, "pay", "--max-price", "21 sat", "--from-balance", w.paywallURL+"/priced/answer")
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	}
	if !strings.HasPrefix(r.stdout, `{"answer":"42"`) {
		t.Errorf("stdout %q, want the response body", r.stdout)
	}
	seen, _ := w.requests()
	if len(seen) != 2 || len(seen[1].Header.Values("Authorization")) != 1 || !strings.HasPrefix(seen[1].Header.Get("Authorization"), "L402 ") {
		t.Fatalf("%d requests; the retry must carry one L402 credential", len(seen))
	}
	if w.payoutCount() != 1 {
		t.Errorf("%d payouts, want 1", w.payoutCount())
	}
	for _, want := range []string{"paid 21 sat by l402", "routing fee 2 sat", "receipt: method l402, reference "} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr %q lacks %q", r.stderr, want)
		}
	}
	// The payment is recorded, as used, in the state directory.
	b, err := os.ReadFile(filepath.Join(env["STIPEND_STATE_DIR"], client.StoreFileName))
	if err != nil || !strings.Contains(string(b), `"status": "used"`) {
		t.Errorf("state file: %v\n%s", err, b)
	}
}

func TestPayByPaymentSchemeWithBodyAndIdempotencyKey(t *testing.T) {
	t.Parallel()
	w := newPayWorld(t, 5000)
	r := runCLI(t, w.env(t), "pay", w.paywallURL+"/priced/ask", "--max-price", "5 sat", "--from-balance", "--method", "payment",
		"-d", `{"q":"why?"}`, "-H", "Idempotency-Key: k-1", "-H", "X-Trace: abc")
	if r.code != 0 {
		t.Fatalf("exit %d\nstderr %s", r.code, r.stderr)
	}
	seen, bodies := w.requests()
	if len(seen) != 2 {
		t.Fatalf("%d requests, want 2", len(seen))
	}
	for i, req := range seen {
		if req.Method != "POST" || req.Header.Get("Idempotency-Key") != "k-1" || req.Header.Get("X-Trace") != "abc" ||
			bodies[i] != `{"q":"why?"}` || req.Header.Get("Content-Type") != "application/json" {
			t.Errorf("request %d: %s key %q body %q", i, req.Method, req.Header.Get("Idempotency-Key"), bodies[i])
		}
	}
	if !strings.HasPrefix(seen[1].Header.Get("Authorization"), "Payment ") || !strings.Contains(r.stderr, "paid 5 sat by payment") {
		t.Errorf("stderr %q", r.stderr)
	}
}

func TestPayWithCredits(t *testing.T) {
	t.Parallel()
	w := newPayWorld(t, 5000)
	// The priced route is on the Stipend server itself: --from-balance takes credits.
	env := map[string]string{"STIPEND_SERVER": w.paywallURL, "STIPEND_API_KEY": w.apiKey, "STIPEND_STATE_DIR": t.TempDir()}
	for _, args := range [][]string{
		{"pay", "--method", "credits", w.paywallURL + "/priced/c"},
		{"pay", "--from-balance", "--max-price", "5 sat", w.paywallURL + "/priced/c"},
	} {
		r := runCLI(t, env, args...)
		if r.code != 0 || !strings.Contains(r.stderr, "paid 5 sat from your credits") || !strings.Contains(r.stderr, "reference call_7") {
			t.Fatalf("%q: exit %d\nstderr %s", args, r.code, r.stderr)
		}
	}
	if w.payoutCount() != 0 {
		t.Error("credits made a payout")
	}
}

func TestPayRefusesWhatCostsTooMuch(t *testing.T) {
	t.Parallel()
	w := newPayWorld(t, 100_000)
	env := w.env(t)
	r := runCLI(t, env, "pay", "--max-price", "99 sat", "--from-balance", w.paywallURL+"/priced/dear")
	if r.code != 1 || !strings.Contains(r.stderr, "above the maximum") || r.stdout != "" {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	}
	if w.payoutCount() != 0 {
		t.Error("paid over the maximum")
	}
}

func TestPayExitsNonZeroUnless2xx(t *testing.T) {
	t.Parallel()
	w := newPayWorld(t, 1000)
	r := runCLI(t, w.env(t), "pay", "--max-price", "1 sat", "--from-balance", w.paywallURL+"/free/missing")
	if r.code != 1 || !strings.Contains(r.stdout, "no such route") || !strings.Contains(r.stderr, "HTTP 404") {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	}
}

func TestPayRefusesBadCommandLines(t *testing.T) {
	t.Parallel()
	srv, requests := countingServer(t)
	env := map[string]string{"STIPEND_SERVER": srv, "STIPEND_API_KEY": "stp_secret_key_123456", "STIPEND_STATE_DIR": t.TempDir()}
	u := srv + "/priced/x"
	wantRefused(t, env, []refusal{
		{[]string{"pay", "--from-balance", u}, "--max-price is required"},
		{[]string{"pay", "--max-price", "1 USD", "--from-balance", u}, "Lightning prices are in BTC"},
		{[]string{"pay", "--max-price", "0 sat", "--from-balance", u}, "greater than zero"},
		{[]string{"pay", "--max-price", "1 sat", "--method", "cash", u}, "must be l402, payment or credits"},
		{[]string{"pay", "--max-price", "1 sat", "ftp://x/y"}, "must be an http:// or https:// URL"},
		{[]string{"pay", "--max-price", "1 sat", "http://elsewhere.example/x"}, "no wallet to pay with"},
		{[]string{"pay", "--max-price", "1 sat", "--from-balance", "--lnd-host", "h:1", u}, "not both"},
		{[]string{"pay", "--max-price", "1 sat", "--lnd-host", "h:1", u}, "needs --lnd-cert and --lnd-macaroon"},
		{[]string{"pay", "--max-price", "1 sat", "--from-balance", "-H", "no colon", u}, "'Name: value'"},
		{[]string{"pay", "--max-price", "1 sat", "--from-balance", "--method", "l402", srv + "/x"}, "use --method credits"},
		{[]string{"pay", "--max-price", "1 sat"}, "needs 1 argument"},
	})
	wantNoRequests(t, requests)
	envNoKey := map[string]string{"STIPEND_SERVER": srv, "STIPEND_STATE_DIR": t.TempDir()}
	wantRefused(t, envNoKey, []refusal{
		{[]string{"pay", "--method", "credits", u}, "credits are paid with your API key"},
	})
	wantNoRequests(t, requests)
}

// TestPayWithCreditsOnTheRealServer calls a provider's endpoint priced by the real server
// (without a Lightning node it offers credits only), as a user whose balance pays.
func TestPayWithCreditsOnTheRealServer(t *testing.T) {
	t.Parallel()
	srv := apptest.StartOn(t, dbtest.Open(t, db.SQLite), apptest.WithPaywall(config.Paywall{PrivateUpstreams: true}))
	ts := &testServer{url: srv.URL, admin: srv.Admin}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		io.WriteString(w, "forecast "+r.Method+" "+r.URL.Path+" "+string(b))
	}))
	t.Cleanup(up.Close)
	_, providerKey := ts.createUser(t, "provider")
	payer, payerKey := ts.createUser(t, "payer")
	ok(t, ts.as(ts.admin), "admin", "credit", payer.ID, "1000 sat")

	reqBody, _ := json.Marshal(wire.CreateEndpointRequest{Name: "Forecasts", Upstream: up.URL, PathPattern: "/v1/*",
		Price: wire.MoneyRequest{Amount: 21_000, Asset: "BTC"}})
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/endpoints", strings.NewReader(string(reqBody)))
	req.Header.Set("Authorization", "Bearer "+providerKey)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", "register-1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var ep wire.Endpoint
	err = json.NewDecoder(resp.Body).Decode(&ep)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusCreated || ep.URL == "" {
		t.Fatalf("registering the endpoint: %s, %v, %+v", resp.Status, err, ep)
	}

	env := map[string]string{"STIPEND_SERVER": srv.URL, "STIPEND_API_KEY": payerKey, "STIPEND_STATE_DIR": t.TempDir()}
	for i, args := range [][]string{
		{"pay", "--method", "credits", "--max-price", "21 sat", ep.URL + "/v1/forecast"},
		{"pay", "--from-balance", "--max-price", "21 sat", "-d", "hi", ep.URL + "/v1/forecast"},
	} {
		r := runCLI(t, env, args...)
		if r.code != 0 {
			t.Fatalf("%q: exit %d\nstdout %s\nstderr %s", args, r.code, r.stdout, r.stderr)
		}
		if want := []string{"forecast GET /v1/forecast ", "forecast POST /v1/forecast hi"}[i]; r.stdout != want {
			t.Errorf("stdout %q, want %q", r.stdout, want)
		}
		if !strings.Contains(r.stderr, "paid 21 sat from your credits") || !strings.Contains(r.stderr, "reference call_") {
			t.Errorf("stderr %q", r.stderr)
		}
	}
	if got := ts.availableOf(t, payerKey, payer.ID, "BTC"); got != 1_000_000-2*21_000 {
		t.Errorf("the payer has %d msat left, want %d", got, 1_000_000-2*21_000)
	}
	// Over the maximum, nothing is taken.
	r := runCLI(t, env, "pay", "--method", "credits", "--max-price", "20 sat", ep.URL+"/v1/forecast")
	if r.code != 1 || !strings.Contains(r.stderr, "above the maximum") {
		t.Fatalf("exit %d\nstderr %s", r.code, r.stderr)
	}
	if got := ts.availableOf(t, payerKey, payer.ID, "BTC"); got != 1_000_000-2*21_000 {
		t.Errorf("the payer has %d msat left after a refusal", got)
	}
}
