package paywall_test

import (
	"encoding/base64"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gopkg.in/macaroon.v2"

	"github.com/stipend/stipend/internal/db"
	"github.com/stipend/stipend/internal/dbtest"
	"github.com/stipend/stipend/internal/regtest"
	"github.com/stipend/stipend/payments/l402"
)

// TestPaidEndpointOnRegtest walks a single-use priced endpoint through every way of paying
// and failing to pay, on each database, with real Lightning payments: the 402 offers all
// three methods; the payer node pays and an L402 retry is served with a receipt; a Payment
// credential works the same; 1,000 concurrent replays of one paid credential are served
// exactly once; forged and altered credentials are refused and change nothing; an upstream
// failure is not charged and leaves the credential usable.
func TestPaidEndpointOnRegtest(t *testing.T) {
	net := regtest.Shared(t)
	for _, dialect := range dbtest.Dialects {
		t.Run(string(dialect), func(t *testing.T) {
			w := newWorld(t, net, dialect)
			const price = 21_000 // msat
			ep := w.register(t, price, 0)
			url := ep.URL + "v1/forecast"

			c := w.unpaid(t, http.MethodGet, url)
			if c.macaroon == "" || c.payment == nil || !c.bearer {
				t.Fatalf("the 402 does not offer L402, Payment and credits: %+v", c)
			}
			if c.body.Price.Amount != price || c.body.Access != "single_use" || strings.Join(c.body.Methods, ",") != "l402,payment,credits" {
				t.Fatalf("402 body = %+v", c.body)
			}
			pre := w.pay(t, c.invoice)
			resp, raw := w.do(t, http.MethodGet, url, l402Authorization(t, c, pre), nil)
			if resp.StatusCode != http.StatusOK || !strings.Contains(string(raw), "sunny") {
				t.Fatalf("paid L402 call: %d %s", resp.StatusCode, raw)
			}
			receipt, err := l402.DecodeReceipt(resp.Header.Get(l402.HeaderReceipt))
			if err != nil || receipt.Reference != c.hash || receipt.Status != "success" || receipt.Method != "lightning" {
				t.Fatalf("receipt = %+v, %v; want the payment hash %s", receipt, err, c.hash)
			}
			if strings.Contains(resp.Header.Get(l402.HeaderReceipt), pre.Hex()) {
				t.Fatal("the receipt carries the preimage")
			}
			// The same credential again: used.
			if resp, _ := w.do(t, http.MethodGet, url, l402Authorization(t, c, pre), nil); resp.StatusCode != http.StatusPaymentRequired {
				t.Fatalf("a used single-use credential: %d, want 402", resp.StatusCode)
			}
			served := 1

			// The Payment scheme, over the same kind of invoice.
			c = w.unpaid(t, http.MethodGet, url)
			pre = w.pay(t, c.invoice)
			authz, err := l402.FormatPaymentAuthorization(*c.payment, pre)
			if err != nil {
				t.Fatal(err)
			}
			resp, raw = w.do(t, http.MethodGet, url, authz, nil)
			receipt, _ = l402.DecodeReceipt(resp.Header.Get(l402.HeaderReceipt))
			if resp.StatusCode != http.StatusOK || receipt.ChallengeID != c.payment.ID || receipt.Reference != c.hash {
				t.Fatalf("paid Payment call: %d %s, receipt %+v", resp.StatusCode, raw, receipt)
			}
			served++

			// 1,000 concurrent replays of one paid credential: exactly one is served.
			c = w.unpaid(t, http.MethodGet, url)
			pre = w.pay(t, c.invoice)
			before := w.upstreamCalls("/api/v1/forecast")
			ok, refused := replay(t, w, url, l402Authorization(t, c, pre), 1000)
			if ok != 1 || refused != 999 {
				t.Fatalf("1,000 replays of one credential: %d served, %d refused; want 1 and 999", ok, refused)
			}
			if got := w.upstreamCalls("/api/v1/forecast") - before; got != 1 {
				t.Fatalf("the upstream saw %d of the replays, want 1", got)
			}
			served++

			// Forged and altered credentials: refused, nothing served or charged.
			c = w.unpaid(t, http.MethodGet, url)
			pre = w.pay(t, c.invoice)
			other := w.unpaid(t, http.MethodGet, url) // never paid
			balance, upstream := w.balance(t, w.providerID), w.upstreamCalls("/api/v1/forecast")
			mac := decodeMacaroon(t, c.macaroon)
			var forgedPre l402.Preimage
			forgedPre[0] = 1
			for name, authz := range map[string]string{
				"forged preimage":                "L402 " + c.macaroon + ":" + forgedPre.Hex(),
				"another challenge's preimage":   "L402 " + other.macaroon + ":" + pre.Hex(),
				"caveat removed":                 "L402 " + encode(t, withCaveats(t, mac, nil)) + ":" + pre.Hex(),
				"caveat changed":                 "L402 " + encode(t, withCaveats(t, mac, []string{"route=/x/other"})) + ":" + pre.Hex(),
				"caveat added to another route":  "L402 " + encode(t, attenuate(t, mac, "route=/x/other")) + ":" + pre.Hex(),
				"Payment with a forged preimage": paymentAuthz(t, c.payment, forgedPre),
			} {
				if resp, raw := w.do(t, http.MethodGet, url, authz, nil); resp.StatusCode != http.StatusPaymentRequired {
					t.Errorf("%s: %d %s, want 402", name, resp.StatusCode, raw)
				}
			}
			// A credential for another endpoint of the same provider.
			ep2 := w.register(t, price, 0)
			if resp, _ := w.do(t, http.MethodGet, ep2.URL+"v1/forecast", l402Authorization(t, c, pre), nil); resp.StatusCode != http.StatusPaymentRequired {
				t.Errorf("a credential for another endpoint: %d, want 402", resp.StatusCode)
			}
			if got := w.balance(t, w.providerID); got != balance {
				t.Fatalf("refused credentials changed the provider's balance: %d → %d", balance, got)
			}
			if got := w.upstreamCalls("/api/v1/forecast"); got != upstream {
				t.Fatalf("refused credentials reached the upstream %d times", got-upstream)
			}

			// An upstream failure is not charged, and the credential still pays for a call.
			resp, _ = w.do(t, http.MethodGet, ep.URL+"v1/fail", l402Authorization(t, c, pre), nil)
			if resp.StatusCode != http.StatusInternalServerError || resp.Header.Get(l402.HeaderReceipt) != "" {
				t.Fatalf("a failing upstream: %d with receipt %q, want 500 and none", resp.StatusCode, resp.Header.Get(l402.HeaderReceipt))
			}
			if got := w.balance(t, w.providerID); got != balance {
				t.Fatalf("a failed call credited the provider: %d → %d", balance, got)
			}
			if resp, raw := w.do(t, http.MethodGet, url, l402Authorization(t, c, pre), nil); resp.StatusCode != http.StatusOK {
				t.Fatalf("the credential of a call that failed upstream: %d %s, want 200", resp.StatusCode, raw)
			}
			served++
			if got, want := w.balance(t, w.providerID), int64(served)*earnings(price); got != want {
				t.Fatalf("provider balance = %d msat after %d calls, want %d", got, served, want)
			}
		})
	}
}

// TestReusableEndpointOnRegtest sells access until an expiry: one payment serves 1,000
// concurrent calls and every later one until the expiry caveat, then 402; the provider is
// credited once. No Payment challenge is offered beside the reusable token, which would sell
// the same invoice twice, and an expiry a holder adds does not make a single-use token
// reusable.
func TestReusableEndpointOnRegtest(t *testing.T) {
	net := regtest.Shared(t)
	w := newWorld(t, net, db.SQLite)
	const price = 50_000
	ep := w.register(t, price, time.Hour)
	url := ep.URL + "v1/forecast"
	c := w.unpaid(t, http.MethodGet, url)
	if c.body.Access != "reusable" || c.body.TTLSeconds != 3600 || c.payment != nil {
		t.Fatalf("402 of a reusable endpoint: %+v (Payment challenge offered: %v)", c.body, c.payment != nil)
	}
	// A single-use token with an expiry its holder appended: still one call.
	single := w.register(t, price, 0)
	sc := w.unpaid(t, http.MethodGet, single.URL+"v1/forecast")
	extended := "L402 " + encode(t, attenuate(t, decodeMacaroon(t, sc.macaroon), "expires=4102444800")) + ":" + w.pay(t, sc.invoice).Hex()
	if ok, refused := replay(t, w, single.URL+"v1/forecast", extended, 20); ok != 1 || refused != 19 {
		t.Fatalf("a single-use token with a holder's expiry: %d served, %d refused; want 1 and 19", ok, refused)
	}
	pre := w.pay(t, c.invoice)
	authz := l402Authorization(t, c, pre)
	if ok, refused := replay(t, w, url, authz, 1000); ok != 1000 || refused != 0 {
		t.Fatalf("1,000 calls with a reusable token: %d served, %d refused", ok, refused)
	}
	w.clock.advance(59 * time.Minute)
	if resp, _ := w.do(t, http.MethodGet, url, authz, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("a reusable token before its expiry: %d", resp.StatusCode)
	}
	// The token's hour runs from the end of its invoice's ten minutes, so that a late payer
	// gets the whole hour.
	w.clock.advance(12 * time.Minute)
	if resp, _ := w.do(t, http.MethodGet, url, authz, nil); resp.StatusCode != http.StatusPaymentRequired {
		t.Fatalf("a reusable token after its expiry: %d, want 402", resp.StatusCode)
	}
	if got := w.balance(t, w.providerID); got != 2*earnings(price) {
		t.Fatalf("provider balance = %d, want two payments' earnings %d", got, 2*earnings(price))
	}
}

// TestThousandPaidCallsOnRegtest makes 1,000 calls through the proxy, each paid by its own
// Lightning payment, while some calls fail upstream: the provider is credited exactly
// 1,000 × (price − fee), and the failed calls nothing.
func TestThousandPaidCallsOnRegtest(t *testing.T) {
	net := regtest.Shared(t)
	w := newWorld(t, net, db.Postgres)
	// Every 21st call goes to a path the upstream fails: 1,050 calls, 50 of them failing.
	const price, calls, failEvery, workers = 10_000, 1050, 21, 16
	ep := w.register(t, price, 0)
	var next, ok, failed atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	began := time.Now()
	for range workers {
		wg.Go(func() {
			for i := next.Add(1); i <= calls; i = next.Add(1) {
				path := "v1/forecast"
				if i%failEvery == 0 {
					path = "v1/fail"
				}
				if err := paidCall(w, ep.URL+path, &ok, &failed); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	t.Logf("%d paid calls (%d failing upstream) in %s", calls, failed.Load(), time.Since(began).Round(time.Millisecond))
	if ok.Load() != 1000 || failed.Load() != 50 {
		t.Fatalf("%d served and %d failed upstream, want 1,000 and 50", ok.Load(), failed.Load())
	}
	if got, want := w.balance(t, w.providerID), 1000*earnings(price); got != want {
		t.Fatalf("provider credited %d msat for 1,000 served calls, want exactly %d", got, want)
	}
}

// paidCall makes one call: 402, payment, retry with L402. It counts a served call in ok and
// a call the upstream failed (500, not charged) in failed.
func paidCall(w *world, url string, ok, failed *atomic.Int64) error {
	resp, raw, err := w.try(http.MethodGet, url, "", nil)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusPaymentRequired {
		return errorf("unpaid call: %d %s", resp.StatusCode, raw)
	}
	c := parseChallenge(nilT{}, resp, raw)
	pre, err := w.tryPay(c.invoice)
	if err != nil {
		return err
	}
	resp, raw, err = w.try(http.MethodGet, url, "L402 "+c.macaroon+":"+pre.Hex(), nil)
	switch {
	case err != nil:
		return err
	case resp.StatusCode == http.StatusOK:
		ok.Add(1)
	case resp.StatusCode == http.StatusInternalServerError && strings.HasSuffix(url, "/fail"):
		failed.Add(1)
	default:
		return errorf("paid call of %s: %d %s", url, resp.StatusCode, raw)
	}
	return nil
}

// replay sends n concurrent calls with one credential and counts 200s and 402s.
func replay(t *testing.T, w *world, url, authz string, n int) (ok, refused int) {
	t.Helper()
	var okN, refusedN atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			<-start
			resp, raw, err := w.try(http.MethodGet, url, authz, nil)
			switch {
			case err != nil:
				errs <- err
			case resp.StatusCode == http.StatusOK:
				okN.Add(1)
			case resp.StatusCode == http.StatusPaymentRequired:
				refusedN.Add(1)
			default:
				errs <- errorf("replay: %d %s", resp.StatusCode, raw)
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return int(okN.Load()), int(refusedN.Load())
}

func decodeMacaroon(t testing.TB, b64 string) *macaroon.Macaroon {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	var m macaroon.Macaroon
	if err := m.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	return &m
}

func encode(t testing.TB, m *macaroon.Macaroon) string {
	t.Helper()
	b, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b)
}

// withCaveats rebuilds m with the same identifier and other caveats. Without the root key the
// signature cannot be right: this is what an attacker removing or changing a caveat can do.
func withCaveats(t testing.TB, m *macaroon.Macaroon, caveats []string) *macaroon.Macaroon {
	t.Helper()
	forged, err := macaroon.New(make([]byte, 32), m.Id(), m.Location(), macaroon.LatestVersion)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range caveats {
		if err := forged.AddFirstPartyCaveat([]byte(c)); err != nil {
			t.Fatal(err)
		}
	}
	return forged
}

// attenuate adds a caveat the holder may add (the signature stays valid): it can only narrow
// what the token opens.
func attenuate(t testing.TB, m *macaroon.Macaroon, caveat string) *macaroon.Macaroon {
	t.Helper()
	m = m.Clone()
	if err := m.AddFirstPartyCaveat([]byte(caveat)); err != nil {
		t.Fatal(err)
	}
	return m
}

func paymentAuthz(t testing.TB, ch *l402.EchoedChallenge, pre l402.Preimage) string {
	t.Helper()
	v, err := l402.FormatPaymentAuthorization(*ch, pre)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
