package paywall_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/api/wire"
	"github.com/stipend/stipend/client"
	"github.com/stipend/stipend/internal/app"
	"github.com/stipend/stipend/internal/apptest"
	"github.com/stipend/stipend/internal/config"
	"github.com/stipend/stipend/internal/db"
	"github.com/stipend/stipend/internal/regtest"
	"github.com/stipend/stipend/payments/l402"
	"github.com/stipend/stipend/payments/ledger"
	"github.com/stipend/stipend/payments/lightning"
)

// clock is a test clock that can be moved forward, for tokens whose expiry a test must pass.
type clock struct{ offset atomic.Int64 }

func (c *clock) now() time.Time            { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *clock) advance(d time.Duration)   { c.offset.Add(int64(d)) }
func withClock(c *clock) apptest.Option    { return apptest.WithClock(c.now) }
func allowPrivateUpstreams(o *app.Options) { o.Paywall = config.Paywall{PrivateUpstreams: true} }

// world is a Stipend on the regtest network's platform node, a provider with an upstream API,
// and the payer node that pays for calls.
type world struct {
	srv      *apptest.Server
	admin    *client.Client
	payer    lightning.Node
	clock    *clock
	upstream *httptest.Server
	// served counts the calls that reached the upstream, by path.
	mu     sync.Mutex
	served map[string]int
	// provider is the account that sells the endpoint.
	providerID, providerKey string
	http                    *http.Client
}

func newWorld(t testing.TB, net *regtest.Network, dialect db.Dialect) *world {
	t.Helper()
	w := &world{clock: &clock{}, served: map[string]int{}, payer: net.Payer.Client(t),
		http: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}, Timeout: 2 * time.Minute}}
	w.srv = apptest.StartLightning(t, dialect, net, withClock(w.clock), allowPrivateUpstreams)
	w.admin = client.New(w.srv.URL, w.srv.Admin)
	w.upstream = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w.mu.Lock()
		w.served[r.URL.Path]++
		w.mu.Unlock()
		if r.Header.Get("Authorization") != "" {
			http.Error(rw, "the caller's credential reached the upstream", http.StatusTeapot)
			return
		}
		if strings.HasSuffix(r.URL.Path, "/fail") {
			http.Error(rw, "upstream broke", http.StatusInternalServerError)
			return
		}
		rw.Header().Set("Content-Type", "application/json")
		io.WriteString(rw, `{"forecast":"sunny","path":"`+r.URL.Path+`"}`)
	}))
	t.Cleanup(w.upstream.Close)
	w.providerID, w.providerKey = w.newUser(t, "provider")
	return w
}

// newUser creates a user with a key of the default scopes and returns its id and secret.
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

// register registers an endpoint of the provider on the world's upstream.
func (w *world) register(t testing.TB, priceMsat int64, ttl time.Duration) wire.Endpoint {
	t.Helper()
	body, _ := json.Marshal(wire.CreateEndpointRequest{Name: "Weather", Upstream: w.upstream.URL + "/api", PathPattern: "/v1/*",
		Price: wire.MoneyRequest{Amount: priceMsat, Asset: "BTC"}, TTLSeconds: int64(ttl / time.Second)})
	var e wire.Endpoint
	resp, raw := w.do(t, http.MethodPost, w.srv.URL+"/v1/endpoints", "Bearer "+w.providerKey, body)
	if resp.StatusCode != http.StatusCreated || json.Unmarshal(raw, &e) != nil {
		t.Fatalf("registering an endpoint: %d %s", resp.StatusCode, raw)
	}
	return e
}

// do sends one request and returns the response with its body read.
func (w *world) do(t testing.TB, method, url, authz string, body []byte) (*http.Response, []byte) {
	t.Helper()
	resp, raw, err := w.try(method, url, authz, body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, raw
}

// try is do for goroutines, which must not call t.Fatal.
func (w *world) try(method, url, authz string, body []byte) (*http.Response, []byte, error) {
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := w.http.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	return resp, raw, err
}

func (w *world) upstreamCalls(path string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.served[path]
}

// challenge is a 402's offer, parsed as a client parses it.
type challenge struct {
	body     wire.PaymentRequired
	scheme   string
	macaroon string // base64, as offered
	invoice  string
	payment  *l402.EchoedChallenge
	bearer   bool
	hash     string
}

// unpaid calls url without a credential and returns its 402.
func (w *world) unpaid(t testing.TB, method, url string) *challenge {
	t.Helper()
	resp, raw := w.do(t, method, url, "", nil)
	if resp.StatusCode != http.StatusPaymentRequired {
		t.Fatalf("%s %s without a credential: %d %s, want 402", method, url, resp.StatusCode, raw)
	}
	return parseChallenge(t, resp, raw)
}

func parseChallenge(t testing.TB, resp *http.Response, raw []byte) *challenge {
	t.Helper()
	c := &challenge{}
	if err := json.Unmarshal(raw, &c.body); err != nil {
		t.Fatalf("402 body: %v: %s", err, raw)
	}
	for _, ac := range client.ParseAuthChallenges(resp.Header.Values("WWW-Authenticate")) {
		switch {
		case ac.Is("L402"):
			c.scheme, c.macaroon, c.invoice = "L402", ac.Params["macaroon"], ac.Params["invoice"]
		case ac.Is("Payment"):
			echo, req, err := client.ParsePaymentChallenge(ac)
			if err != nil {
				t.Fatalf("Payment challenge: %v", err)
			}
			c.payment = &echo
			if req.MethodDetails.Invoice != c.body.Invoice {
				t.Fatalf("the Payment challenge offers another invoice than the body")
			}
		case ac.Is("Bearer"):
			c.bearer = ac.Params["scope"] == "credits"
		}
	}
	c.hash = c.body.PaymentHash
	return c
}

// pay pays the challenge's invoice from the payer node and returns the preimage.
func (w *world) pay(t testing.TB, invoice string) l402.Preimage {
	t.Helper()
	pre, err := w.tryPay(invoice)
	if err != nil {
		t.Fatal(err)
	}
	return pre
}

func (w *world) tryPay(invoice string) (l402.Preimage, error) {
	p, err := w.payer.SendPayment(context.Background(), lightning.PaymentRequest{Invoice: invoice, FeeLimitMsat: 10_000, Timeout: time.Minute})
	if err != nil {
		return l402.Preimage{}, err
	}
	if p.Status != lightning.PaymentSucceeded {
		return l402.Preimage{}, stipend.Errorf(stipend.EINTERNAL, "payment %s: %s", p.Status, p.FailureReason)
	}
	return l402.ParsePreimage(p.Preimage)
}

// l402Authorization is the credential of a paid L402 challenge.
func l402Authorization(t testing.TB, c *challenge, pre l402.Preimage) string {
	t.Helper()
	return "L402 " + c.macaroon + ":" + pre.Hex()
}

// balance returns an account's available balance of BTC, in msat.
func (w *world) balance(t testing.TB, accountID string) int64 {
	t.Helper()
	bs, err := w.srv.App.Store.Balances(context.Background(), ledger.AccountAddress(accountID))
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bs {
		if b.Asset == ledger.BTC {
			return b.Available
		}
	}
	return 0
}

// earnings is what the provider is credited for one call of price.
func earnings(price int64) int64 { return price - ledger.ShareBPS(price, apptest.FeeBPS) }

// nilT lets parseChallenge run in goroutines: a malformed challenge panics instead of failing
// the test from the wrong goroutine, and the panic fails the test run.
type nilT struct{ testing.TB }

func (nilT) Helper()                        {}
func (nilT) Fatalf(format string, a ...any) { panic(errorf(format, a...)) }

func errorf(format string, a ...any) error { return fmt.Errorf(format, a...) }

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }

func readAll(t testing.TB, resp *http.Response) []byte {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
