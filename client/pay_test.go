package client_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stipend/stipend/api/wire"
	"github.com/stipend/stipend/client"
	"github.com/stipend/stipend/payments/l402"
)

// newTransport returns a transport paying pw's invoices with a fake wallet, with a store in
// a temporary directory.
func newTransport(t *testing.T, pw *paywall, maxPriceMsat int64) (*client.PayingTransport, *fakeWallet) {
	t.Helper()
	store, err := client.OpenPaymentStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	w := &fakeWallet{net: pw.net}
	return &client.PayingTransport{Wallet: w, MaxPriceMsat: maxPriceMsat, Store: store, Network: "regtest"}, w
}

// get sends a request through tr and returns the response body, the status and what the
// transport did.
func do(t *testing.T, tr *client.PayingTransport, method, url string, body io.Reader, header http.Header) (string, int, client.PaymentOutcome, error) {
	t.Helper()
	var out client.PaymentOutcome
	ctx := client.WithPaymentOutcome(context.Background(), &out)
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := tr.Client().Do(req)
	if err != nil {
		return "", 0, out, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b), resp.StatusCode, out, nil
}

func mustOK(t *testing.T, body string, status int, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("request failed: %v", err)
	}
	if status != http.StatusOK {
		t.Fatalf("status %d, want 200; body %q", status, body)
	}
}

// wantPays fails the test unless the wallet paid and tracked as many times as said.
func wantPays(t *testing.T, w *fakeWallet, pays, tracks int) {
	t.Helper()
	if p, tr := w.counts(); p != pays || tr != tracks {
		t.Fatalf("wallet paid %d and tracked %d times, want %d and %d", p, tr, pays, tracks)
	}
}

func TestPayChoosesL402AndRetriesWithOneAuthorization(t *testing.T) {
	t.Parallel()
	pw := newPaywall(t, 21_000)
	tr, w := newTransport(t, pw, 21_000)

	body, status, out, err := do(t, tr, "GET", pw.URL+"/priced/weather?city=paris", nil, http.Header{"Authorization": {"Basic dXNlcjpwdw=="}})
	mustOK(t, body, status, err)
	if body != "hello GET /priced/weather " {
		t.Errorf("body %q", body)
	}
	wantPays(t, w, 1, 0)
	seen := pw.requests()
	if len(seen) != 2 {
		t.Fatalf("the server got %d requests, want 2 (the 402 and the paid retry)", len(seen))
	}
	if a := seen[1].authorizations; len(a) != 1 || !strings.HasPrefix(a[0], "L402 ") {
		t.Fatalf("the retry carried Authorization %d times (%v...), want one L402 credential", len(a), len(a) > 0)
	}
	if out.Method != wire.MethodL402 || !out.Paid || out.AmountMsat != 21_000 || out.FeeMsat != 1000 || out.PaymentHash == "" {
		t.Errorf("outcome %+v", out)
	}
	if out.Receipt == nil || out.Receipt.Reference != out.PaymentHash || out.Receipt.Method != wire.MethodL402 {
		t.Errorf("receipt %+v, want reference %s", out.Receipt, out.PaymentHash)
	}
	rec, err := tr.Store.Payment(out.PaymentHash)
	if err != nil || rec == nil || rec.Status != client.RecordUsed || rec.Preimage == nil || rec.URL != pw.URL+"/priced/weather?city=paris" {
		t.Fatalf("stored payment %+v, %v", rec, err)
	}

	// A single-use token is not sent again: the next call pays again.
	_, _, out2, err := do(t, tr, "GET", pw.URL+"/priced/weather?city=paris", nil, nil)
	if err != nil || out2.PaymentHash == out.PaymentHash {
		t.Fatalf("second call: %v, hash reused: %v", err, out2.PaymentHash == out.PaymentHash)
	}
	wantPays(t, w, 2, 0)
}

func TestPayRefusesWithoutPaying(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		price  int64
		max    int64
		method string
		setup  func(p *paywall)
		want   error
	}{
		{name: "price over the maximum", price: 2_000_000, max: 1_999_999, want: client.ErrPriceTooHigh},
		{name: "no maximum", price: 1000, max: 0, want: client.ErrPriceTooHigh},
		{name: "price over the maximum by Payment", price: 5000, max: 4000, method: wire.MethodPayment, want: client.ErrPriceTooHigh},
		{name: "method not offered", price: 1000, max: 1000, method: wire.MethodPayment,
			setup: func(p *paywall) { p.offerPayment = false }, want: client.ErrNoPaymentMethod},
		{name: "Payment not offered for a price in msat", price: 1500, max: 2000, method: wire.MethodPayment, want: client.ErrNoPaymentMethod},
		{name: "credits without an API key", price: 1000, max: 1000, method: wire.MethodCredits, want: client.ErrNoPaymentMethod},
		{name: "nothing offered", price: 1000, max: 1000,
			setup: func(p *paywall) { p.offerL402, p.offerPayment, p.offerCredits = false, false, false }, want: client.ErrNoPaymentMethod},
		{name: "unknown method", price: 1000, max: 1000, method: "cash", want: client.ErrNoPaymentMethod},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pw := newPaywall(t, tt.price)
			if tt.setup != nil {
				pw.set(tt.setup)
			}
			tr, w := newTransport(t, pw, tt.max)
			tr.Method = tt.method
			_, _, _, err := do(t, tr, "GET", pw.URL+"/priced/x", nil, nil)
			if !errors.Is(err, tt.want) {
				t.Fatalf("error %v, want %v", err, tt.want)
			}
			wantPays(t, w, 0, 0)
			if n := len(pw.requests()); n != 1 {
				t.Errorf("the server got %d requests, want only the first", n)
			}
			if ps, _ := tr.Store.Payments(); len(ps) != 0 {
				t.Errorf("the store holds %d payments, want none", len(ps))
			}
		})
	}
}

func TestPayWithThePaymentScheme(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		method string
		setup  func(p *paywall)
	}{
		{name: "asked for", method: wire.MethodPayment},
		{name: "the only Lightning method offered", setup: func(p *paywall) { p.offerL402 = false }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pw := newPaywall(t, 100_000)
			if tt.setup != nil {
				pw.set(tt.setup)
			}
			tr, w := newTransport(t, pw, 100_000)
			tr.Method = tt.method
			body, status, out, err := do(t, tr, "GET", pw.URL+"/priced/payment", nil, nil)
			mustOK(t, body, status, err)
			wantPays(t, w, 1, 0)
			seen := pw.requests()
			if a := seen[len(seen)-1].authorizations; len(a) != 1 || !strings.HasPrefix(a[0], "Payment ") {
				t.Fatalf("the retry carried %d Authorization headers, want one Payment credential", len(a))
			}
			if out.Method != wire.MethodPayment || out.Receipt == nil || out.Receipt.Reference != out.PaymentHash {
				t.Errorf("outcome %+v, receipt %+v", out, out.Receipt)
			}
		})
	}
}

func TestPayWithCreditsSendsTheAPIKeyToItsServerOnly(t *testing.T) {
	t.Parallel()
	pw := newPaywall(t, 50_000)
	tr := &client.PayingTransport{APIKey: pw.apiKey, APIKeyServer: pw.URL + "/", MaxPriceMsat: 50_000}
	body, status, out, err := do(t, tr, "GET", pw.URL+"/priced/credits", nil, nil)
	mustOK(t, body, status, err)
	seen := pw.requests()
	if a := seen[1].authorizations; len(a) != 1 || a[0] != "Bearer "+pw.apiKey {
		t.Fatalf("the retry carried %d Authorization headers, want the Bearer API key", len(a))
	}
	if out.Method != wire.MethodCredits || out.AmountMsat != 50_000 || out.Price == nil || out.Price.Amount != 50_000 {
		t.Errorf("outcome %+v", out)
	}

	// Credits priced above the maximum are refused.
	tr.MaxPriceMsat = 49_999
	if _, _, _, err := do(t, tr, "GET", pw.URL+"/priced/credits", nil, nil); !errors.Is(err, client.ErrPriceTooHigh) {
		t.Fatalf("error %v, want ErrPriceTooHigh", err)
	}

	// Another server asking for a Bearer token does not get the key.
	other := newPaywall(t, 50_000)
	tr.MaxPriceMsat = 50_000
	if _, _, _, err := do(t, tr, "GET", other.URL+"/priced/credits", nil, nil); !errors.Is(err, client.ErrNoPaymentMethod) {
		t.Fatalf("error %v, want ErrNoPaymentMethod", err)
	}
	for _, r := range other.requests() {
		if len(r.authorizations) > 0 {
			t.Fatal("the API key was sent to another server")
		}
	}
}

// firstChallenge fetches a 402 without paying and returns its L402 macaroon and invoice.
func firstChallenge(t *testing.T, pw *paywall, path string) (macB64, invoice string) {
	t.Helper()
	resp, err := http.Get(pw.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, c := range client.ParseAuthChallenges(resp.Header.Values("WWW-Authenticate")) {
		if c.Is("L402") {
			return c.Params["macaroon"], c.Params["invoice"]
		}
	}
	t.Fatal("no L402 challenge")
	return "", ""
}

func TestPayRecoversAPaymentACrashHid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		tracked   client.PaymentState
		wantErr   error
		wantPays  int
		wantCalls int // requests the transport sends
	}{
		// Paid before the crash: tracked, and its preimage presented without a new 402.
		{name: "succeeded", tracked: client.PaymentSucceeded, wantCalls: 1},
		// Still in flight: nothing is paid or sent.
		{name: "in flight", tracked: client.PaymentInFlight, wantErr: client.ErrPaymentUnknown},
		// Never sent, or failed: nothing was paid, so the request pays afresh.
		{name: "never sent", tracked: client.PaymentUnknown, wantPays: 1, wantCalls: 2},
		{name: "failed", tracked: client.PaymentFailed, wantPays: 1, wantCalls: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pw := newPaywall(t, 10_000)
			tr, w := newTransport(t, pw, 10_000)
			mac, inv := firstChallenge(t, pw, "/priced/recover")
			hash := invoiceHash(t, inv)
			pre, _ := pw.net.preimage(hash)
			if err := tr.Store.PutPayment(client.PaymentRecord{
				PaymentHash: hash, Status: client.RecordPending, URL: pw.URL + "/priced/recover", HTTPMethod: "GET",
				Method: wire.MethodL402, Invoice: inv, AmountMsat: 10_000, Scheme: "L402", Macaroon: mac,
			}); err != nil {
				t.Fatal(err)
			}
			w.tracked = map[string]*client.WalletPayment{hash: {State: tt.tracked, Preimage: pre}}

			body, status, out, err := do(t, tr, "GET", pw.URL+"/priced/recover", nil, nil)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("error %v, want %v", err, tt.wantErr)
				}
			} else {
				mustOK(t, body, status, err)
			}
			wantPays(t, w, tt.wantPays, 1)
			if n := len(pw.requests()) - 1; n != tt.wantCalls {
				t.Errorf("the transport sent %d requests, want %d", n, tt.wantCalls)
			}
			if tt.tracked == client.PaymentSucceeded {
				if !out.Reused || out.PaymentHash != hash {
					t.Errorf("outcome %+v, want the recovered payment", out)
				}
				if rec, _ := tr.Store.Payment(hash); rec == nil || rec.Status != client.RecordUsed {
					t.Errorf("stored payment %+v, want used", rec)
				}
			}
		})
	}
}

func TestPayTracksAPendingPaymentOfTheSameInvoice(t *testing.T) {
	t.Parallel()
	// The server offers the same invoice again (as it may for one Idempotency-Key); a
	// pending payment of it, from another request, is tracked and not paid again.
	pw := newPaywall(t, 10_000)
	pw.set(func(p *paywall) { p.sameChallenge = true })
	tr, w := newTransport(t, pw, 10_000)
	mac, inv := firstChallenge(t, pw, "/priced/same")
	hash := invoiceHash(t, inv)
	pre, _ := pw.net.preimage(hash)
	if err := tr.Store.PutPayment(client.PaymentRecord{
		PaymentHash: hash, Status: client.RecordPending, URL: pw.URL + "/priced/other", HTTPMethod: "POST",
		Method: wire.MethodL402, Invoice: inv, AmountMsat: 10_000, Scheme: "L402", Macaroon: mac,
	}); err != nil {
		t.Fatal(err)
	}
	w.tracked = map[string]*client.WalletPayment{hash: {State: client.PaymentSucceeded, Preimage: pre}}
	body, status, out, err := do(t, tr, "GET", pw.URL+"/priced/same", nil, nil)
	mustOK(t, body, status, err)
	wantPays(t, w, 0, 1)
	if out.PaymentHash != hash || !out.Reused {
		t.Errorf("outcome %+v", out)
	}
	// Offered once more, the invoice is known to be paid and presented: it is not paid twice.
	if _, _, _, err := do(t, tr, "GET", pw.URL+"/priced/same", nil, nil); !errors.Is(err, client.ErrAlreadyPaid) {
		t.Fatalf("error %v, want ErrAlreadyPaid", err)
	}
	wantPays(t, w, 0, 1)
}

func TestPayCachesAReusableToken(t *testing.T) {
	t.Parallel()
	pw := newPaywall(t, 5000)
	pw.set(func(p *paywall) { p.ttl = time.Hour })
	tr, w := newTransport(t, pw, 5000)
	var hashes []string
	for i := range 3 {
		body, status, out, err := do(t, tr, "GET", pw.URL+"/priced/feed", nil, nil)
		mustOK(t, body, status, err)
		hashes = append(hashes, out.PaymentHash)
		if i > 0 && (!out.Reused || out.Paid) {
			t.Errorf("call %d: outcome %+v, want the cached token reused", i, out)
		}
	}
	wantPays(t, w, 1, 0)
	if hashes[0] != hashes[1] || hashes[1] != hashes[2] {
		t.Errorf("payment hashes %v, want one", hashes)
	}
	if n := len(pw.requests()); n != 4 {
		t.Errorf("the server got %d requests, want 4 (a 402, the paid retry, two with the cached token)", n)
	}
	// Another path is not sent the token.
	if _, _, out, err := do(t, tr, "GET", pw.URL+"/priced/other", nil, nil); err != nil || out.Reused {
		t.Fatalf("another path: %v, reused %v", err, out.Reused)
	}
	wantPays(t, w, 2, 0)

	// A new store on the same directory still has the token.
	store2, err := client.OpenPaymentStore(filepath.Dir(tr.Store.Path()))
	if err != nil {
		t.Fatal(err)
	}
	tr2 := &client.PayingTransport{Wallet: w, MaxPriceMsat: 5000, Store: store2}
	if _, _, out, err := do(t, tr2, "GET", pw.URL+"/priced/feed", nil, nil); err != nil || !out.Reused {
		t.Fatalf("after reopening: %v, reused %v", err, out.Reused)
	}

	// A 402 in answer to the token drops it, and the call pays again, once.
	pw.keys.forget()
	before := len(pw.requests())
	body, status, out, err := do(t, tr, "GET", pw.URL+"/priced/feed", nil, nil)
	mustOK(t, body, status, err)
	if !out.Paid || out.PaymentHash == hashes[0] {
		t.Errorf("outcome %+v, want a new payment", out)
	}
	wantPays(t, w, 3, 0)
	if n := len(pw.requests()) - before; n != 2 {
		t.Errorf("the server got %d requests, want 2 (the refused token, the paid retry)", n)
	}
}

// oneShotReader is a body without GetBody: the transport must buffer it.
type oneShotReader struct{ r io.Reader }

func (o *oneShotReader) Read(b []byte) (int, error) { return o.r.Read(b) }

func TestPayKeepsBodyAndIdempotencyKeyOnTheRetry(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		body func(s string) io.Reader
	}{
		{"with GetBody", func(s string) io.Reader { return bytes.NewReader([]byte(s)) }},
		{"without GetBody", func(s string) io.Reader { return &oneShotReader{strings.NewReader(s)} }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pw := newPaywall(t, 3000)
			tr, w := newTransport(t, pw, 3000)
			const payload = `{"question":"how do I drain a node?"}`
			body, status, _, err := do(t, tr, "POST", pw.URL+"/priced/ask", tt.body(payload),
				http.Header{"Idempotency-Key": {"key-123"}, "Content-Type": {"application/json"}})
			mustOK(t, body, status, err)
			if !strings.HasSuffix(body, payload) {
				t.Errorf("the paid call answered %q, want the payload echoed", body)
			}
			wantPays(t, w, 1, 0)
			seen := pw.requests()
			if len(seen) != 2 {
				t.Fatalf("%d requests, want 2", len(seen))
			}
			for i, r := range seen {
				if r.body != payload || r.idempotencyKey != "key-123" || r.method != "POST" {
					t.Errorf("request %d: %s body %q key %q", i, r.method, r.body, r.idempotencyKey)
				}
			}
		})
	}
}

// secretsOf returns every preimage the test network knows, in hex, and every macaroon the
// store holds: none may appear in an error.
func secretsOf(t *testing.T, pw *paywall, store *client.PaymentStore) []string {
	t.Helper()
	var out []string
	pw.net.mu.Lock()
	for _, p := range pw.net.preimages {
		out = append(out, p.Hex())
	}
	pw.net.mu.Unlock()
	ps, err := store.Payments()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if p.Macaroon != "" {
			out = append(out, p.Macaroon)
		}
	}
	return out
}

func TestPayNeverShowsAPreimageOrMacaroon(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		setup func(p *paywall, tr *client.PayingTransport)
		want  error
	}{
		{name: "the retry gets no response", setup: func(_ *paywall, tr *client.PayingTransport) { tr.Base = &losePaidRequests{lose: true} }, want: client.ErrRetryFailed},
		{name: "the payment fails", setup: func(_ *paywall, tr *client.PayingTransport) { tr.Wallet.(*fakeWallet).fail = "no route to the payee" }, want: client.ErrPaymentFailed},
		{name: "the credential is refused", setup: func(p *paywall, _ *client.PayingTransport) { p.refuseAll = true }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pw := newPaywall(t, 2000)
			tr, _ := newTransport(t, pw, 2000)
			tt.setup(pw, tr)
			_, status, out, err := do(t, tr, "GET", pw.URL+"/priced/secret", nil, nil)
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("error %v, want %v", err, tt.want)
			}
			if tt.want == nil && (err != nil || status != http.StatusPaymentRequired || !out.Refused) {
				t.Fatalf("err %v, status %d, outcome %+v; want the 402 returned, refused", err, status, out)
			}
			ps, _ := tr.Store.Payments()
			texts := []string{fmt.Sprint(err), fmt.Sprintf("%v %+v", out, out)}
			for _, p := range ps {
				texts = append(texts, fmt.Sprintf("%v %+v", p, p))
			}
			for _, s := range secretsOf(t, pw, tr.Store) {
				for _, txt := range texts {
					if strings.Contains(txt, s) {
						t.Fatalf("a secret appears in %q", txt)
					}
				}
			}
		})
	}
}

func TestPayRetryFailureKeepsThePaymentForTheNextRun(t *testing.T) {
	t.Parallel()
	pw := newPaywall(t, 2000)
	tr, w := newTransport(t, pw, 2000)
	lossy := &losePaidRequests{lose: true}
	tr.Base = lossy
	_, _, first, err := do(t, tr, "GET", pw.URL+"/priced/flaky", nil, nil)
	if !errors.Is(err, client.ErrRetryFailed) {
		t.Fatalf("error %v, want ErrRetryFailed", err)
	}
	// The next run presents the kept payment before any 402, and pays nothing more.
	lossy.set(false)
	before := len(pw.requests())
	body, status, out, err := do(t, tr, "GET", pw.URL+"/priced/flaky", nil, nil)
	mustOK(t, body, status, err)
	if !out.Reused || out.Paid || out.PaymentHash != first.PaymentHash {
		t.Errorf("outcome %+v, want the kept payment %s used", out, first.PaymentHash)
	}
	if n := len(pw.requests()) - before; n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
	wantPays(t, w, 1, 0)
}

func TestPaymentStoreFile(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "state")
	s, err := client.OpenPaymentStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	var pre l402.Preimage
	pre[0] = 7
	if err := s.PutPayment(client.PaymentRecord{PaymentHash: pre.Hash().String(), Status: client.RecordPaid, Preimage: &pre, Method: wire.MethodL402}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("%d files in the directory, want only the store (no temporary file left)", len(entries))
	}
	s2, err := client.OpenPaymentStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	r, err := s2.Payment(pre.Hash().String())
	if err != nil || r == nil || r.Preimage == nil || *r.Preimage != pre {
		t.Fatalf("reopened: %+v, %v", r, err)
	}
	if strings.Contains(fmt.Sprintf("%+v", *r), pre.Hex()) {
		t.Error("formatting a record shows its preimage")
	}
	if err := os.WriteFile(s.Path(), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := client.OpenPaymentStore(dir); err == nil {
		t.Error("a corrupt store opened without an error")
	}
}

func TestParseAuthChallenges(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		values []string
		want   []client.AuthChallenge
	}{
		{name: "one per line", values: []string{`L402 macaroon="AgE=", invoice="lnbcrt1"`, `Bearer realm="stipend", scope="credits"`},
			want: []client.AuthChallenge{
				{Scheme: "L402", Params: map[string]string{"macaroon": "AgE=", "invoice": "lnbcrt1"}},
				{Scheme: "Bearer", Params: map[string]string{"realm": "stipend", "scope": "credits"}},
			}},
		{name: "folded", values: []string{`LSAT macaroon="AgE=", invoice="lnbcrt1", L402 macaroon="AgE=",invoice="lnbcrt1" ,Payment id="x", realm="r", method="lightning", intent="charge", request="eyJ9", expires="2030-01-01T00:00:00Z"`},
			want: []client.AuthChallenge{
				{Scheme: "LSAT", Params: map[string]string{"macaroon": "AgE=", "invoice": "lnbcrt1"}},
				{Scheme: "L402", Params: map[string]string{"macaroon": "AgE=", "invoice": "lnbcrt1"}},
				{Scheme: "Payment", Params: map[string]string{"id": "x", "realm": "r", "method": "lightning", "intent": "charge", "request": "eyJ9", "expires": "2030-01-01T00:00:00Z"}},
			}},
		{name: "escapes, tokens and case", values: []string{`Basic Realm="a \"q\" \\ b", charset=UTF-8`},
			want: []client.AuthChallenge{{Scheme: "Basic", Params: map[string]string{"realm": `a "q" \ b`, "charset": "UTF-8"}}}},
		{name: "token68", values: []string{`Negotiate abc+/==, Bearer`},
			want: []client.AuthChallenge{{Scheme: "Negotiate", Params: map[string]string{}, Token68: "abc+/=="}, {Scheme: "Bearer", Params: map[string]string{}}}},
		{name: "unterminated quote keeps what came before", values: []string{`Bearer realm="x", Payment id="abc`},
			want: []client.AuthChallenge{{Scheme: "Bearer", Params: map[string]string{"realm": "x"}}, {Scheme: "Payment", Params: map[string]string{}}}},
		{name: "garbage", values: []string{`"`, `=x`, ``}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := client.ParseAuthChallenges(tt.values)
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParsePaymentChallengeKeepsTheExactStrings(t *testing.T) {
	t.Parallel()
	key := []byte("k")
	ch, err := l402.NewPaymentChallenge(key, "stipend", l402.PaymentRequest{Amount: "10", Currency: "sat",
		MethodDetails: l402.PaymentDetails{Invoice: "lnbcrt100n1x", PaymentHash: strings.Repeat("ab", 32)}}, time.Now().Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	h, err := ch.Header()
	if err != nil {
		t.Fatal(err)
	}
	cs := client.ParseAuthChallenges([]string{h})
	if len(cs) != 1 {
		t.Fatalf("%d challenges", len(cs))
	}
	echo, req, err := client.ParsePaymentChallenge(cs[0])
	if err != nil {
		t.Fatal(err)
	}
	want, _ := ch.Echo()
	if echo != want || req.Amount != "10" || req.MethodDetails.Invoice != "lnbcrt100n1x" {
		t.Fatalf("echo %+v, want %+v; request %+v", echo, want, req)
	}
	if l402.PaymentChallengeID(key, echo.Realm, echo.Method, echo.Intent, echo.Request, echo.Expires) != echo.ID {
		t.Error("the echoed challenge does not recompute its id")
	}
	for _, bad := range []string{
		`Payment id="x", realm="r", method="bitcoin", intent="charge", request="` + echo.Request + `"`,
		`Payment id="x", realm="r", method="lightning", intent="charge", request="!!"`,
		`Payment realm="r", method="lightning", intent="charge", request="` + echo.Request + `"`,
	} {
		if _, _, err := client.ParsePaymentChallenge(client.ParseAuthChallenges([]string{bad})[0]); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

func FuzzParseAuthChallenges(f *testing.F) {
	f.Add(`L402 macaroon="AgE=", invoice="lnbcrt1", Bearer realm="s"`)
	f.Add(`Payment id="a\"b", request=x`)
	f.Add(`Negotiate abc==, ,`)
	f.Fuzz(func(t *testing.T, s string) {
		for _, c := range client.ParseAuthChallenges([]string{s}) {
			if c.Scheme == "" {
				t.Fatalf("a challenge without a scheme from %q", s)
			}
			_, _, _ = client.ParsePaymentChallenge(c)
		}
	})
}

func TestPayConcurrentRequestsEachPayOnce(t *testing.T) {
	t.Parallel()
	pw := newPaywall(t, 1000)
	tr, w := newTransport(t, pw, 1000)
	w.delay = 50 * time.Millisecond
	const n = 8
	errs := make(chan error, n)
	hashes := make(chan string, n)
	for i := range n {
		go func() {
			// Staggered, so that later requests start while earlier ones are paying.
			time.Sleep(time.Duration(i) * 10 * time.Millisecond)
			var out client.PaymentOutcome
			req, _ := http.NewRequestWithContext(client.WithPaymentOutcome(context.Background(), &out), "GET", pw.URL+"/priced/busy", nil)
			resp, err := tr.Client().Do(req)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK || out.Refused || out.Reused {
					err = fmt.Errorf("status %d, outcome %+v", resp.StatusCode, out)
				}
			}
			errs <- err
			hashes <- out.PaymentHash
		}()
	}
	seen := map[string]bool{}
	for range n {
		if err := <-errs; err != nil {
			t.Error(err)
		}
		seen[<-hashes] = true
	}
	if len(seen) != n {
		t.Errorf("%d distinct payments, want %d", len(seen), n)
	}
	// No request tracked (or took over) a payment another one was making.
	wantPays(t, w, n, 0)
}
