package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/accounts"
	"github.com/stipend/stipend/api"
	"github.com/stipend/stipend/api/wire"
	"github.com/stipend/stipend/internal/apptest"
	"github.com/stipend/stipend/internal/config"
	"github.com/stipend/stipend/internal/db"
	"github.com/stipend/stipend/internal/dbtest"
	"github.com/stipend/stipend/payments/l402"
	"github.com/stipend/stipend/payments/ledger"
	"github.com/stipend/stipend/payments/paywall"
)

// The price of the endpoints of these tests, and what the provider earns of it.
const (
	callPrice = 2_100_000 // msat
	callFee   = callPrice * apptest.FeeBPS / 10_000
)

// forEachPaywallServer runs fn against a server on each database whose proxy may call the
// loopback upstreams of httptest.
func forEachPaywallServer(t *testing.T, p config.Paywall, fn func(t *testing.T, ts *testServer)) {
	t.Helper()
	p.PrivateUpstreams = true
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) { fn(t, newTestServer(t, d, apptest.WithPaywall(p))) })
}

// seenRequest is what an upstream received.
type seenRequest struct {
	Method, Path, RawQuery string
	Header                 http.Header
	Body                   string
}

// upstream is a provider's API: it records what it is sent and answers with status.
type upstream struct {
	*httptest.Server
	calls  atomic.Int64
	status atomic.Int64
	mu     sync.Mutex
	seen   []seenRequest
}

func startUpstream(t *testing.T) *upstream {
	t.Helper()
	u := &upstream{}
	u.status.Store(http.StatusOK)
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.calls.Add(1)
		body, _ := io.ReadAll(r.Body)
		u.mu.Lock()
		u.seen = append(u.seen, seenRequest{Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Header: r.Header.Clone(), Body: string(body)})
		u.mu.Unlock()
		h := w.Header()
		h.Set("Content-Type", "text/plain")
		h.Set("X-Upstream", "yes")
		h.Set("Set-Cookie", "session=upstream")
		h.Set("Connection", "X-Upstream-Hop")
		h.Set("X-Upstream-Hop", "1")
		w.WriteHeader(int(u.status.Load()))
		io.WriteString(w, "forecast "+r.Method+" "+r.URL.Path+" "+string(body))
	}))
	t.Cleanup(u.Close)
	return u
}

// last returns the last request the upstream received.
func (u *upstream) last(t *testing.T) seenRequest {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.seen) == 0 {
		t.Fatal("the upstream received nothing")
	}
	return u.seen[len(u.seen)-1]
}

// register registers an endpoint of the key's account.
func (ts *testServer) register(key, upstreamURL, pattern string, price int64) wire.Endpoint {
	ts.t.Helper()
	var e wire.Endpoint
	r := ts.do(http.MethodPost, "/v1/endpoints", key, wire.CreateEndpointRequest{Name: "Forecasts", Upstream: upstreamURL,
		PathPattern: pattern, Price: wire.MoneyRequest{Amount: price, Asset: "BTC"}}, nil, &e)
	if r.StatusCode != http.StatusCreated {
		ts.t.Fatalf("registering an endpoint: %s", r.Status)
	}
	return e
}

// wantChallenge fails unless resp is the 402 of an endpoint priced at price, offering credits
// only (the test server has no Lightning node).
func wantChallenge(t *testing.T, resp *http.Response, body []byte, price int64) wire.PaymentRequired {
	t.Helper()
	var p wire.PaymentRequired
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("decoding the 402 %s: %v", body, err)
	}
	wantProblem(t, resp, p.Problem, http.StatusPaymentRequired, stipend.EPAYMENTREQUIRED)
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Fatalf("Cache-Control = %q, want no-store", cc)
	}
	if p.Price != (wire.Money{Amount: price, Asset: "BTC", Unit: ledger.BTC.MinorUnit()}) {
		t.Fatalf("price = %+v, want %d BTC", p.Price, price)
	}
	if len(p.Methods) != 1 || p.Methods[0] != wire.MethodCredits || p.Access != wire.AccessSingleUse {
		t.Fatalf("methods %v, access %q: want [credits], single_use", p.Methods, p.Access)
	}
	if p.Invoice != "" || p.PaymentHash != "" {
		t.Fatalf("an invoice without a Lightning node: %+v", p)
	}
	ch := resp.Header.Values("WWW-Authenticate")
	if len(ch) != 1 || ch[0] != `Bearer realm="stipend", scope="credits"` {
		t.Fatalf("WWW-Authenticate = %q, want the Bearer credits challenge only", ch)
	}
	return p
}

func TestEndpointRegistry(t *testing.T) {
	t.Parallel()
	forEachPaywallServer(t, config.Paywall{}, func(t *testing.T, ts *testServer) {
		up := startUpstream(t)
		provider, providerKey := ts.createUser("provider")
		_, otherKey := ts.createUser("other")

		// A key without endpoints:write may not register.
		var readOnly wire.CreatedKey
		if r := ts.do(http.MethodPost, "/v1/keys", providerKey, wire.CreateKeyRequest{Name: "read", Scopes: []string{accounts.ScopeRead}}, nil, &readOnly); r.StatusCode != http.StatusCreated {
			t.Fatalf("creating a read-only key: %s", r.Status)
		}
		req := wire.CreateEndpointRequest{Name: "Forecasts", Upstream: up.URL + "/base", PathPattern: "/v1/*",
			Price: wire.MoneyRequest{Amount: callPrice, Asset: "BTC"}}
		var p wire.Problem
		wantProblem(t, ts.do(http.MethodPost, "/v1/endpoints", readOnly.Secret, req, nil, &p), p, http.StatusForbidden, stipend.EFORBIDDEN)
		wantProblem(t, ts.do(http.MethodPost, "/v1/endpoints", "", req, nil, &p), p, http.StatusUnauthorized, stipend.EUNAUTHORIZED)

		for _, tc := range []struct {
			name   string
			change func(*wire.CreateEndpointRequest)
		}{
			{"a file upstream", func(r *wire.CreateEndpointRequest) { r.Upstream = "file:///etc/passwd" }},
			{"credentials in the upstream", func(r *wire.CreateEndpointRequest) { r.Upstream = "https://u:p@api.example.com" }},
			{"a .. pattern", func(r *wire.CreateEndpointRequest) { r.PathPattern = "/v1/../*" }},
			{"a USD price", func(r *wire.CreateEndpointRequest) { r.Price.Asset = "USD" }},
			{"a price of 0", func(r *wire.CreateEndpointRequest) { r.Price.Amount = 0 }},
			{"a negative ttl", func(r *wire.CreateEndpointRequest) { r.TTLSeconds = -1 }},
			{"a ttl over 30 days", func(r *wire.CreateEndpointRequest) { r.TTLSeconds = 30*24*3600 + 1 }},
		} {
			bad := req
			tc.change(&bad)
			var p wire.Problem
			r := ts.do(http.MethodPost, "/v1/endpoints", providerKey, bad, nil, &p)
			if r.StatusCode != http.StatusBadRequest || p.Code != stipend.EINVALID {
				t.Fatalf("%s: %d %q, want 400 EINVALID", tc.name, r.StatusCode, p.Code)
			}
		}

		first := ts.register(providerKey, up.URL+"/base", "/v1/*", callPrice)
		if first.OwnerID != provider.ID || first.Upstream != up.URL+"/base" || first.Status != "active" || first.Access != wire.AccessSingleUse ||
			first.Fee.Amount != callFee || first.Price.Amount != callPrice || !strings.HasSuffix(first.URL, "/x/"+first.ID+"/") {
			t.Fatalf("registered endpoint = %+v", first)
		}
		second := ts.register(providerKey, up.URL, "/forecast", 1_000)

		// The public view hides the upstream, to everyone.
		for _, key := range []string{"", otherKey, providerKey} {
			var pub wire.Endpoint
			resp, raw := ts.raw(http.MethodGet, "/v1/endpoints/"+first.ID, key, nil, nil)
			ts.checkResponse(http.MethodGet, "/v1/endpoints/"+first.ID, resp, raw)
			if err := json.Unmarshal(raw, &pub); err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("public view: %d %s", resp.StatusCode, raw)
			}
			if pub.Upstream != "" || bytes.Contains(raw, []byte(up.URL)) || bytes.Contains(raw, []byte("upstream")) {
				t.Fatalf("the public view shows the upstream: %s", raw)
			}
			if pub.ID != first.ID || pub.PathPattern != "/v1/*" || pub.Price.Amount != callPrice {
				t.Fatalf("public view = %+v", pub)
			}
		}

		var mine wire.EndpointList
		if r := ts.do(http.MethodGet, "/v1/endpoints", providerKey, nil, nil, &mine); r.StatusCode != http.StatusOK {
			t.Fatalf("listing: %s", r.Status)
		}
		if len(mine.Endpoints) != 2 || mine.Endpoints[0].ID != second.ID || mine.Endpoints[1].ID != first.ID || mine.Endpoints[1].Upstream == "" {
			t.Fatalf("my endpoints = %+v, want the second then the first, with upstreams", mine)
		}
		var theirs wire.EndpointList
		if ts.do(http.MethodGet, "/v1/endpoints", otherKey, nil, nil, &theirs); len(theirs.Endpoints) != 0 {
			t.Fatalf("another user lists %+v", theirs)
		}

		// Only its owner disables it.
		wantProblem(t, ts.do(http.MethodPost, "/v1/endpoints/"+first.ID+"/disable", otherKey, nil, nil, &p), p, http.StatusForbidden, stipend.EFORBIDDEN)
		wantProblem(t, ts.do(http.MethodPost, "/v1/endpoints/ep_unknown/disable", providerKey, nil, nil, &p), p, http.StatusNotFound, stipend.ENOTFOUND)
		var disabled wire.Endpoint
		if r := ts.do(http.MethodPost, "/v1/endpoints/"+first.ID+"/disable", providerKey, nil, nil, &disabled); r.StatusCode != http.StatusOK || disabled.Status != "disabled" {
			t.Fatalf("disabling: %s %+v", r.Status, disabled)
		}
		wantProblem(t, ts.do(http.MethodGet, "/v1/endpoints/"+first.ID, "", nil, nil, &p), p, http.StatusNotFound, stipend.ENOTFOUND)
		resp, raw := ts.raw(http.MethodGet, "/x/"+first.ID+"/v1/forecast", "", nil, nil)
		if resp.StatusCode != http.StatusNotFound || resp.Header.Get("WWW-Authenticate") != "" {
			t.Fatalf("a disabled endpoint answers %d %q %s", resp.StatusCode, resp.Header.Values("WWW-Authenticate"), raw)
		}
		if up.calls.Load() != 0 {
			t.Fatalf("the upstream was called %d times", up.calls.Load())
		}
	})
}

func TestEndpointChallenge(t *testing.T) {
	t.Parallel()
	forEachPaywallServer(t, config.Paywall{}, func(t *testing.T, ts *testServer) {
		up := startUpstream(t)
		_, providerKey := ts.createUser("provider")
		e := ts.register(providerKey, up.URL+"/base", "/v1/*", callPrice)

		resp, body := ts.raw(http.MethodGet, "/x/"+e.ID+"/v1/forecast?city=paris", "", nil, nil)
		// The document's {path} is one segment; the route is the same for any.
		ts.checkResponse(http.MethodGet, "/x/"+e.ID+"/v1", resp, body)
		p := wantChallenge(t, resp, body, callPrice)
		if p.Instance != "/x/"+e.ID+"/v1/forecast" {
			t.Fatalf("instance = %q", p.Instance)
		}

		// An unfunded account is challenged too; a key that cannot spend is forbidden, and a
		// bad key or scheme is refused as on any route.
		payer, payerKey := ts.createUser("payer")
		resp, body = ts.raw(http.MethodGet, "/x/"+e.ID+"/v1/forecast", payerKey, nil, nil)
		wantChallenge(t, resp, body, callPrice)
		var readOnly wire.CreatedKey
		ts.do(http.MethodPost, "/v1/keys", payerKey, wire.CreateKeyRequest{Name: "read", Scopes: []string{accounts.ScopeRead}}, nil, &readOnly)
		ts.credit(payer.ID, callPrice, "BTC")
		for _, tc := range []struct {
			name, auth string
			status     int
			code       string
		}{
			{"a key without transfers:write", "Bearer " + readOnly.Secret, http.StatusForbidden, stipend.EFORBIDDEN},
			{"an unknown key", "Bearer sk_unknown", http.StatusUnauthorized, stipend.EUNAUTHORIZED},
			{"an unknown scheme", "Basic dXNlcjpwYXNz", http.StatusPaymentRequired, stipend.EPAYMENTREQUIRED},
			{"a malformed L402", "L402 notamacaroon", http.StatusPaymentRequired, stipend.EPAYMENTREQUIRED},
		} {
			resp, body := ts.raw(http.MethodGet, "/x/"+e.ID+"/v1/forecast", "", nil, http.Header{"Authorization": {tc.auth}})
			var p wire.Problem
			json.Unmarshal(body, &p)
			if resp.StatusCode != tc.status || p.Code != tc.code {
				t.Fatalf("%s: %d %q, want %d %q: %s", tc.name, resp.StatusCode, p.Code, tc.status, tc.code, body)
			}
		}
		if got := ts.balance(payerKey, payer.ID, "BTC"); got != callPrice {
			t.Fatalf("refused credentials charged the payer: %d", got)
		}

		// Paths the endpoint does not serve are refused before any payment is asked for,
		// however they are spelled.
		for _, path := range []string{
			"/x/" + e.ID + "/admin",
			"/x/" + e.ID + "/",
			"/x/" + e.ID + "/v2/forecast",
			"/x/" + e.ID + "/v1/../admin",
			"/x/" + e.ID + "/v1/../../admin",
			"/x/" + e.ID + "/v1/./../admin",
			"/x/ep_unknown/v1/forecast",
		} {
			for _, key := range []string{"", payerKey} {
				resp, body := ts.raw(http.MethodGet, path, key, nil, nil)
				if resp.StatusCode != http.StatusNotFound || len(resp.Header.Values("WWW-Authenticate")) != 0 {
					t.Fatalf("%s: %d %q %s, want 404 and no challenge", path, resp.StatusCode, resp.Header.Values("WWW-Authenticate"), body)
				}
			}
		}
		if got := ts.balance(payerKey, payer.ID, "BTC"); got != callPrice {
			t.Fatalf("refused paths charged the payer: %d", got)
		}
		if up.calls.Load() != 0 {
			t.Fatalf("the upstream was called %d times", up.calls.Load())
		}
	})
}

func TestEndpointChallengeRateLimit(t *testing.T) {
	t.Parallel()
	forEachPaywallServer(t, config.Paywall{ChallengeRate: 1, ChallengeBurst: 2}, func(t *testing.T, ts *testServer) {
		up := startUpstream(t)
		_, providerKey := ts.createUser("provider")
		e := ts.register(providerKey, up.URL, "/*", callPrice)
		for range 2 {
			resp, body := ts.raw(http.MethodGet, "/x/"+e.ID+"/q", "", nil, nil)
			wantChallenge(t, resp, body, callPrice)
		}
		resp, body := ts.raw(http.MethodGet, "/x/"+e.ID+"/q", "", nil, nil)
		var p wire.Problem
		json.Unmarshal(body, &p)
		wantProblem(t, resp, p, http.StatusTooManyRequests, stipend.ERATELIMITED)
		if wait, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || wait < 1 || wait > 61 {
			t.Fatalf("Retry-After = %q, want 1 to 61 seconds", resp.Header.Get("Retry-After"))
		}
		if len(resp.Header.Values("WWW-Authenticate")) != 0 {
			t.Fatal("a rate-limited request got a challenge")
		}
		// An account's challenges are counted apart from its address's.
		_, payerKey := ts.createUser("payer")
		resp, body = ts.raw(http.MethodGet, "/x/"+e.ID+"/q", payerKey, nil, nil)
		wantChallenge(t, resp, body, callPrice)
	})
}

func TestEndpointCallWithCredits(t *testing.T) {
	t.Parallel()
	forEachPaywallServer(t, config.Paywall{}, func(t *testing.T, ts *testServer) {
		up := startUpstream(t)
		provider, providerKey := ts.createUser("provider")
		e := ts.register(providerKey, up.URL+"/base", "/v1/*", callPrice)
		payer, payerKey := ts.createUser("payer")
		ts.credit(payer.ID, 20*callPrice, "BTC")
		charged := 0
		check := func(what string) {
			t.Helper()
			if got := ts.balance(payerKey, payer.ID, "BTC"); got != int64(20-charged)*callPrice {
				t.Fatalf("%s: payer = %d, want %d", what, got, int64(20-charged)*callPrice)
			}
			if got := ts.balance(providerKey, provider.ID, "BTC"); got != int64(charged)*(callPrice-callFee) {
				t.Fatalf("%s: provider = %d, want %d", what, got, int64(charged)*(callPrice-callFee))
			}
			if got := ts.ledgerBalance(ledger.FeesAddress, "BTC"); got != int64(charged)*callFee {
				t.Fatalf("%s: fees = %d, want %d", what, got, int64(charged)*callFee)
			}
			ts.checkLedger()
		}

		// A paid call: proxied with the caller's own headers and query, without its
		// credential, cookies or the headers of its connection.
		hdr := http.Header{
			"Authorization":       {"Bearer " + payerKey},
			"X-Custom":            {"kept"},
			"Cookie":              {"stipend=secret"},
			"Connection":          {"X-Hop"},
			"X-Hop":               {"dropped"},
			"Keep-Alive":          {"timeout=5"},
			"Proxy-Authorization": {"Basic c2VjcmV0"},
			"Te":                  {"trailers"},
			"X-Forwarded-For":     {"6.6.6.6"},
		}
		resp, body := ts.raw(http.MethodGet, "/x/"+e.ID+"/v1/forecast?city=paris&days=3", "", nil, hdr)
		if resp.StatusCode != http.StatusOK || string(body) != "forecast GET /base/v1/forecast " {
			t.Fatalf("paid call: %d %s", resp.StatusCode, body)
		}
		charged++
		receipt, err := l402.DecodeReceipt(resp.Header.Get(l402.HeaderReceipt))
		if err != nil || receipt.Method != "credits" || receipt.Status != "success" || !strings.HasPrefix(receipt.Reference, "call_") {
			t.Fatalf("receipt = %+v, %v", receipt, err)
		}
		if resp.Header.Get("X-Upstream") != "yes" || resp.Header.Get("Set-Cookie") != "" || resp.Header.Get("X-Upstream-Hop") != "" ||
			resp.Header.Get("Cache-Control") != "private" || resp.Header.Get("Content-Type") != "text/plain" {
			t.Fatalf("relayed headers: %v", resp.Header)
		}
		seen := up.last(t)
		if seen.Method != http.MethodGet || seen.Path != "/base/v1/forecast" || seen.RawQuery != "city=paris&days=3" {
			t.Fatalf("upstream saw %s %s?%s", seen.Method, seen.Path, seen.RawQuery)
		}
		if seen.Header.Get("X-Custom") != "kept" || seen.Header.Get("X-Stipend-Endpoint") != e.ID || seen.Header.Get("X-Forwarded-For") != "127.0.0.1" {
			t.Fatalf("upstream headers: %v", seen.Header)
		}
		for _, h := range []string{"Authorization", "Cookie", "Connection", "X-Hop", "Keep-Alive", "Proxy-Authorization", "Te", "Idempotency-Key"} {
			if v := seen.Header.Values(h); len(v) != 0 {
				t.Fatalf("%s was forwarded upstream: %q", h, v)
			}
		}
		check("after a paid call")

		// The pattern is checked on the path the upstream gets, however it was escaped.
		for _, tc := range []struct{ called, upstream string }{
			{"/v1/caf%C3%A9", "/base/v1/café"},
			{"/v1/caf%c3%a9", "/base/v1/café"},
			{"/v1/a%20b", "/base/v1/a b"},
			{"/v1/100%25", "/base/v1/100%"},
			{"/v1/a%2Fb", "/base/v1/a/b"},
			{"/v1/x/../y/", "/base/v1/y/"},
			{"/v1/%2e%2e/admin", ""},
			{"/v1/%2E%2E/%2E%2E/admin", ""},
			{"/v1/..%2Fadmin", ""},
			{"/v1%2F..%2Fadmin", ""},
		} {
			before := up.calls.Load()
			resp, body := ts.raw(http.MethodGet, "/x/"+e.ID+tc.called, payerKey, nil, nil)
			if tc.upstream == "" {
				if resp.StatusCode != http.StatusNotFound || up.calls.Load() != before {
					t.Fatalf("%s: %d %s, want 404 without calling the upstream", tc.called, resp.StatusCode, body)
				}
				continue
			}
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("%s: %d %s", tc.called, resp.StatusCode, body)
			}
			charged++
			if seen := up.last(t); seen.Path != tc.upstream {
				t.Fatalf("%s reached the upstream as %q, want %q", tc.called, seen.Path, tc.upstream)
			}
		}
		check("after calls of escaped paths")

		// The upstream's answer decides whether the call is charged: below 400 it is.
		for _, tc := range []struct {
			status  int
			charged bool
		}{
			{http.StatusCreated, true},
			{http.StatusFound, true}, // relayed, not followed
			{http.StatusNotFound, false},
			{http.StatusBadRequest, false},
			{http.StatusInternalServerError, false},
			{http.StatusBadGateway, false},
		} {
			up.status.Store(int64(tc.status))
			before := up.calls.Load()
			resp, body := ts.raw(http.MethodGet, "/x/"+e.ID+"/v1/forecast", payerKey, nil, nil)
			if resp.StatusCode != tc.status || !strings.HasPrefix(string(body), "forecast GET") || up.calls.Load() != before+1 {
				t.Fatalf("upstream %d: caller got %d %s", tc.status, resp.StatusCode, body)
			}
			if hasReceipt := resp.Header.Get(l402.HeaderReceipt) != ""; hasReceipt != tc.charged {
				t.Fatalf("upstream %d: receipt %q", tc.status, resp.Header.Get(l402.HeaderReceipt))
			}
			if tc.charged {
				charged++
			}
			check("after an upstream " + strconv.Itoa(tc.status))
		}
		up.status.Store(http.StatusOK)

		// An upstream that does not answer costs nothing.
		down := startUpstream(t)
		gone := ts.register(providerKey, down.URL, "/*", callPrice)
		down.Close()
		resp, body = ts.raw(http.MethodGet, "/x/"+gone.ID+"/q", payerKey, nil, nil)
		var p wire.Problem
		json.Unmarshal(body, &p)
		wantProblem(t, resp, p, http.StatusServiceUnavailable, stipend.EUNAVAILABLE)
		if resp.Header.Get(l402.HeaderReceipt) != "" {
			t.Fatal("an unanswered call has a receipt")
		}
		check("after an upstream that is down")

		// A POST retried with its Idempotency-Key is answered again and charged once.
		key := newKey()
		post := func() (*http.Response, []byte) {
			t.Helper()
			return ts.raw(http.MethodPost, "/x/"+e.ID+"/v1/orders", payerKey, []byte(`{"city":"paris"}`), idem(key))
		}
		before := up.calls.Load()
		first, firstBody := post()
		if first.StatusCode != http.StatusOK || string(firstBody) != `forecast POST /base/v1/orders {"city":"paris"}` ||
			first.Header.Get(api.HeaderIdempotencyReplayed) != "" {
			t.Fatalf("first POST: %d %s %v", first.StatusCode, firstBody, first.Header)
		}
		charged++
		if seen := up.last(t); seen.Header.Get("Idempotency-Key") != "" || seen.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("upstream POST headers: %v", seen.Header)
		}
		again, againBody := post()
		if again.StatusCode != first.StatusCode || !bytes.Equal(againBody, firstBody) || again.Header.Get(api.HeaderIdempotencyReplayed) != "true" {
			t.Fatalf("retried POST: %d %s %v", again.StatusCode, againBody, again.Header)
		}
		if got := up.calls.Load() - before; got != 1 {
			t.Fatalf("the upstream saw the POST %d times, want 1", got)
		}
		check("after a retried POST")

		// A POST refused for want of funds is not the answer to its Idempotency-Key: once
		// the balance is funded, the same request with the same key is served.
		poor, poorKey := ts.createUser("poor")
		key = newKey()
		postPoor := func() (*http.Response, []byte) {
			t.Helper()
			return ts.raw(http.MethodPost, "/x/"+e.ID+"/v1/orders", poorKey, []byte(`{"city":"oslo"}`), idem(key))
		}
		resp, body = postPoor()
		wantChallenge(t, resp, body, callPrice)
		ts.credit(poor.ID, callPrice, "BTC")
		before = up.calls.Load()
		resp, body = postPoor()
		if resp.StatusCode != http.StatusOK || resp.Header.Get(api.HeaderIdempotencyReplayed) != "" || up.calls.Load() != before+1 {
			t.Fatalf("the funded retry: %d %s %v", resp.StatusCode, body, resp.Header)
		}
		if got := ts.balance(poorKey, poor.ID, "BTC"); got != 0 {
			t.Fatalf("the funded retry left %d on the balance", got)
		}
		resp, _ = postPoor()
		if resp.StatusCode != http.StatusOK || resp.Header.Get(api.HeaderIdempotencyReplayed) != "true" || up.calls.Load() != before+1 {
			t.Fatalf("the retry after the served call: %d %v", resp.StatusCode, resp.Header)
		}
	})
}

// TestEndpointConcurrentCredits proves that concurrent calls cannot spend one balance twice,
// and that the upstream is called only for the calls paid for.
func TestEndpointConcurrentCredits(t *testing.T) {
	t.Parallel()
	forEachPaywallServer(t, config.Paywall{}, func(t *testing.T, ts *testServer) {
		up := startUpstream(t)
		provider, providerKey := ts.createUser("provider")
		e := ts.register(providerKey, up.URL, "/*", callPrice)
		payer, payerKey := ts.createUser("payer")
		const covered, n = 10, 100
		ts.credit(payer.ID, covered*callPrice, "BTC")

		statuses := make([]int, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				req, err := http.NewRequest(http.MethodGet, ts.url+"/x/"+e.ID+"/q", nil)
				if err != nil {
					errs[i] = err
					return
				}
				req.Header.Set("Authorization", "Bearer "+payerKey)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					errs[i] = err
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				statuses[i] = resp.StatusCode
			})
		}
		close(start)
		wg.Wait()
		count := map[int]int{}
		for i, err := range errs {
			if err != nil {
				t.Fatalf("call %d: %v", i, err)
			}
			count[statuses[i]]++
		}
		if count[http.StatusOK] != covered || count[http.StatusPaymentRequired] != n-covered || len(count) != 2 {
			t.Fatalf("statuses = %v, want %d × 200 and %d × 402", count, covered, n-covered)
		}
		if got := up.calls.Load(); got != covered {
			t.Fatalf("the upstream saw %d calls, want %d", got, covered)
		}
		if got := ts.balance(payerKey, payer.ID, "BTC"); got != 0 {
			t.Fatalf("payer = %d, want exactly 0", got)
		}
		if got := ts.balance(providerKey, provider.ID, "BTC"); got != covered*(callPrice-callFee) {
			t.Fatalf("provider = %d, want %d", got, covered*(callPrice-callFee))
		}
		ts.checkLedger()
	})
}

// TestPaidCallSweeper proves that a running server refunds the calls whose lease ended: a
// call whose server died keeps its payer's money held only until then.
func TestPaidCallSweeper(t *testing.T) {
	t.Parallel()
	forEachPaywallServer(t, config.Paywall{CallLease: 200 * time.Millisecond}, func(t *testing.T, ts *testServer) {
		payer, payerKey := ts.createUser("payer")
		ts.credit(payer.ID, callPrice, "BTC")
		ctx := context.Background()
		now := time.Now().UTC()
		c := &paywall.Call{ID: stipend.NewID("call"), Route: "/x/ep_gone", Method: paywall.MethodCredits, PayerID: payer.ID,
			Price: ledger.Msat(callPrice), Fee: callPrice, State: paywall.CallReserved, LeaseToken: stipend.NewID("lease"),
			LeaseUntil: now.Add(-time.Second), CreatedAt: now}
		if err := ts.store.ReserveCall(ctx, c); err != nil {
			t.Fatal(err)
		}
		if got := ts.balance(payerKey, payer.ID, "BTC"); got != 0 {
			t.Fatalf("payer with the call reserved = %d", got)
		}
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { ts.app.Run(runCtx); close(done) }()
		defer func() { cancel(); <-done }()
		deadline := time.Now().Add(10 * time.Second)
		for {
			got, err := ts.store.PaidCall(ctx, c.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.State == paywall.CallRefunded {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the call is still %s after 10 s", got.State)
			}
			time.Sleep(50 * time.Millisecond)
		}
		if got := ts.balance(payerKey, payer.ID, "BTC"); got != callPrice {
			t.Fatalf("payer after the sweep = %d, want %d", got, callPrice)
		}
		ts.checkLedger()
	})
}
