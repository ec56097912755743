package client_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
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
	"github.com/stipend/stipend/payments/l402"
	"github.com/stipend/stipend/payments/lightning"
)

// memKeys is an in-memory l402.RootKeys.
type memKeys struct {
	mu   sync.Mutex
	keys map[l402.TokenID][]byte
}

func (m *memKeys) NewRootKey(_ context.Context, id l402.TokenID) ([]byte, error) {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.keys == nil {
		m.keys = map[l402.TokenID][]byte{}
	}
	m.keys[id] = k
	return k, nil
}

func (m *memKeys) RootKey(_ context.Context, id l402.TokenID) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k, ok := m.keys[id]
	if !ok {
		return nil, stipend.Errorf(stipend.ENOTFOUND, "no root key")
	}
	return k, nil
}

// forget drops every root key, so that every token minted so far is refused.
func (m *memKeys) forget() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.keys = nil
}

// lightningNet stands for the Lightning network in these tests: the invoices the paywall
// issued and their preimages, which a fake wallet learns by "paying".
type lightningNet struct {
	mu        sync.Mutex
	preimages map[string]l402.Preimage // payment hash → preimage
}

func (n *lightningNet) preimage(hash string) (l402.Preimage, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	p, ok := n.preimages[hash]
	return p, ok
}

// newInvoice signs a regtest BOLT11 invoice of amountMsat whose preimage the network knows.
func (n *lightningNet) newInvoice(t testing.TB, amountMsat int64) (string, l402.Preimage) {
	t.Helper()
	var pre l402.Preimage
	if _, err := rand.Read(pre[:]); err != nil {
		t.Fatal(err)
	}
	n.mu.Lock()
	if n.preimages == nil {
		n.preimages = map[string]l402.Preimage{}
	}
	n.preimages[pre.Hash().String()] = pre
	n.mu.Unlock()
	return signInvoice(t, pre.Hash(), amountMsat), pre
}

func signInvoice(t testing.TB, hash l402.Hash, amountMsat int64) string {
	t.Helper()
	key, err := btcec.NewPrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	var addr [32]byte
	if _, err := rand.Read(addr[:]); err != nil {
		t.Fatal(err)
	}
	opts := []func(*zpay32.Invoice){zpay32.Description("priced call"), zpay32.Expiry(time.Hour), zpay32.PaymentAddr(addr)}
	if amountMsat > 0 {
		opts = append(opts, zpay32.Amount(lnwire.MilliSatoshi(amountMsat)))
	}
	inv, err := zpay32.NewInvoice(&chaincfg.RegressionNetParams, hash, time.Now(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	s, err := inv.Encode(zpay32.MessageSigner{SignCompact: func(msg []byte) ([]byte, error) {
		h := sha256.Sum256(msg)
		return ecdsa.SignCompact(key, h[:], true), nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// seenRequest is one request the paywall received.
type seenRequest struct {
	method, path   string
	authorizations []string
	idempotencyKey string
	body           string
}

// paywall is a priced route served with the real payments/l402 package, as the server's
// middleware is meant to: every path under /priced/ costs priceMsat, paid by L402, Payment
// or credits (the Bearer apiKey); single-use unless ttl is set.
type paywall struct {
	t          testing.TB
	URL        string
	net        *lightningNet
	keys       *memKeys
	minter     *l402.Minter
	paymentKey []byte
	apiKey     string

	mu            sync.Mutex
	priceMsat     int64
	ttl           time.Duration
	offerL402     bool
	offerPayment  bool
	offerCredits  bool
	sameChallenge bool // offer one invoice again and again
	refuseAll     bool // answer every credential with a fresh 402
	lastChallenge []string
	consumed      map[string]bool
	seen          []seenRequest
}

const pricedRoute = "/priced"

func newPaywall(t testing.TB, priceMsat int64) *paywall {
	t.Helper()
	p := &paywall{
		t: t, net: &lightningNet{}, keys: &memKeys{}, paymentKey: []byte("test payment key"),
		apiKey: "stp_test_credits_key_0123456789", priceMsat: priceMsat,
		offerL402: true, offerPayment: true, offerCredits: true, consumed: map[string]bool{},
	}
	p.minter = l402.NewMinter(p.keys)
	hs := httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(hs.Close)
	p.URL = hs.URL
	return p
}

func (p *paywall) set(fn func(p *paywall)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fn(p)
}

func (p *paywall) requests() []seenRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]seenRequest(nil), p.seen...)
}

func (p *paywall) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	auths := r.Header.Values("Authorization")
	p.mu.Lock()
	p.seen = append(p.seen, seenRequest{method: r.Method, path: r.URL.Path, authorizations: auths,
		idempotencyKey: r.Header.Get("Idempotency-Key"), body: string(body)})
	refuse := p.refuseAll
	p.mu.Unlock()
	if !strings.HasPrefix(r.URL.Path, pricedRoute+"/") {
		http.NotFound(w, r)
		return
	}
	if len(auths) == 1 && !refuse {
		if method, ref, ok := p.verify(r.Context(), auths[0], r.Method); ok {
			w.Header().Set(l402.HeaderReceipt, l402.EncodeReceipt(l402.Receipt{Method: method, Reference: ref, Timestamp: time.Now().UTC().Format(time.RFC3339)}))
			w.Header().Set("Content-Type", "text/plain")
			io.WriteString(w, "hello "+r.Method+" "+r.URL.Path+" "+string(body))
			return
		}
	}
	p.challenge(w, r)
}

// verify checks one credential; single-use ones are consumed.
func (p *paywall) verify(ctx context.Context, auth, httpMethod string) (method, reference string, ok bool) {
	now := time.Now()
	var hash string
	reusable := false
	switch {
	case l402.HasL402Scheme(auth):
		cred, err := l402.ParseAuthorization(auth)
		if err != nil {
			return "", "", false
		}
		tok, err := p.minter.Verify(ctx, l402.VerifyRequest{Macaroon: cred.Macaroon, Preimage: cred.Preimage, Route: pricedRoute, Method: httpMethod, Now: now})
		if err != nil {
			return "", "", false
		}
		method, hash, reusable = wire.MethodL402, tok.PaymentHash.String(), !tok.Expires.IsZero()
	case l402.HasPaymentScheme(auth):
		cred, pre, err := l402.ParsePaymentAuthorization(auth)
		if err != nil {
			return "", "", false
		}
		_, h, err := l402.VerifyPayment(p.paymentKey, cred, pre, now)
		if err != nil {
			return "", "", false
		}
		method, hash = wire.MethodPayment, h.String()
	case auth == "Bearer "+p.apiKey:
		return wire.MethodCredits, "call_1", true
	default:
		return "", "", false
	}
	if reusable {
		return method, hash, true
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.consumed[hash] {
		return "", "", false
	}
	p.consumed[hash] = true
	return method, hash, true
}

// challenge answers 402 with every method offered.
func (p *paywall) challenge(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	price, ttl, same, last := p.priceMsat, p.ttl, p.sameChallenge, p.lastChallenge
	offerL402, offerPayment, offerCredits := p.offerL402, p.offerPayment, p.offerCredits
	p.mu.Unlock()

	var values []string
	var invoice string
	var hash l402.Hash
	if same && last != nil {
		values = last
	} else {
		var pre l402.Preimage
		invoice, pre = p.net.newInvoice(p.t, price)
		hash = pre.Hash()
		var expires time.Time
		if ttl > 0 {
			expires = time.Now().Add(ttl)
		}
		if offerL402 {
			mac, err := p.minter.Mint(r.Context(), l402.MintRequest{PaymentHash: hash, Caveats: l402.RouteCaveats(pricedRoute, "", expires)})
			if err != nil {
				p.t.Error(err)
				return
			}
			vs, err := l402.Challenges(mac, invoice)
			if err != nil {
				p.t.Error(err)
				return
			}
			values = append(values, vs...)
		}
		if offerPayment && price%1000 == 0 {
			ch, err := l402.NewPaymentChallenge(p.paymentKey, "stipend", l402.PaymentRequest{
				Amount: itoa(price / 1000), Currency: l402.PaymentSats,
				MethodDetails: l402.PaymentDetails{Invoice: invoice, Network: "regtest", PaymentHash: hash.String()},
			}, time.Now().Add(10*time.Minute))
			if err != nil {
				p.t.Error(err)
				return
			}
			v, err := ch.Header()
			if err != nil {
				p.t.Error(err)
				return
			}
			values = append(values, v)
		}
		if offerCredits {
			values = append(values, `Bearer realm="stipend", scope="credits"`)
		}
		if same {
			p.mu.Lock()
			p.lastChallenge = values
			p.mu.Unlock()
		}
	}
	for _, v := range values {
		w.Header().Add("WWW-Authenticate", v)
	}
	access := wire.AccessSingleUse
	if ttl > 0 {
		access = wire.AccessReusable
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(http.StatusPaymentRequired)
	json.NewEncoder(w).Encode(wire.PaymentRequired{
		Problem: wire.Problem{Type: "https://stipend.dev/problems/payment-required", Title: "Payment Required", Status: 402, Code: "payment_required"},
		Price:   wire.Money{Amount: price, Asset: "BTC", Unit: "msat"}, Methods: []string{"l402", "payment", "credits"},
		Access: access, TTLSeconds: int64(ttl / time.Second), Invoice: invoice, PaymentHash: hash.String(),
	})
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// fakeWallet pays by looking the preimage up in the test's Lightning network. Track answers
// what tracked says, or unknown.
type fakeWallet struct {
	net *lightningNet

	mu      sync.Mutex
	pays    int
	tracks  int
	fail    string        // when set, Pay fails with this reason
	delay   time.Duration // how long a payment takes
	tracked map[string]*client.WalletPayment
}

func (w *fakeWallet) Pay(_ context.Context, invoice string, maxFeeMsat int64) (*client.WalletPayment, error) {
	w.mu.Lock()
	w.pays++
	delay := w.delay
	w.mu.Unlock()
	time.Sleep(delay) // payments of several requests are under way at once
	w.mu.Lock()
	defer w.mu.Unlock()
	if maxFeeMsat <= 0 {
		return nil, stipend.Errorf(stipend.EINVALID, "no fee cap")
	}
	if w.fail != "" {
		return &client.WalletPayment{State: client.PaymentFailed, Failure: w.fail}, nil
	}
	d, err := lightning.DecodeInvoice(invoice, "regtest")
	if err != nil {
		return nil, err
	}
	pre, ok := w.net.preimage(d.Hash)
	if !ok {
		return &client.WalletPayment{State: client.PaymentFailed, Failure: "no route"}, nil
	}
	return &client.WalletPayment{State: client.PaymentSucceeded, Preimage: pre, FeeMsat: 1000}, nil
}

func (w *fakeWallet) Track(_ context.Context, hash string) (*client.WalletPayment, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.tracks++
	if p, ok := w.tracked[hash]; ok {
		return p, nil
	}
	return &client.WalletPayment{State: client.PaymentUnknown}, nil
}

func (w *fakeWallet) counts() (pays, tracks int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pays, w.tracks
}

// invoiceHash returns the payment hash of a test invoice.
func invoiceHash(t testing.TB, invoice string) string {
	t.Helper()
	d, err := lightning.DecodeInvoice(invoice, "regtest")
	if err != nil {
		t.Fatal(err)
	}
	return d.Hash
}

// losePaidRequests is a RoundTripper whose requests carrying a credential are lost on the
// way: the network fails and no response comes back, while lose is set.
type losePaidRequests struct {
	mu   sync.Mutex
	lose bool
}

func (l *losePaidRequests) set(lose bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lose = lose
}

func (l *losePaidRequests) RoundTrip(r *http.Request) (*http.Response, error) {
	l.mu.Lock()
	lose := l.lose
	l.mu.Unlock()
	if lose && r.Header.Get("Authorization") != "" {
		if r.Body != nil {
			r.Body.Close()
		}
		return nil, errors.New("connection reset by peer")
	}
	return http.DefaultTransport.RoundTrip(r)
}
