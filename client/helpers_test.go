package client_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/api/wire"
	"github.com/stipend/stipend/client"
	"github.com/stipend/stipend/internal/apptest"
	"github.com/stipend/stipend/internal/db"
)

// testServer is the whole API on a real SQLite database, served over real HTTP, built the
// same way as the API's own tests build it, so that the client is tested against the server
// it will meet.
type testServer struct {
	url   string
	admin string // the bootstrap admin key
}

func newTestServer(t *testing.T) *testServer {
	t.Helper()
	srv := apptest.Start(t, db.SQLite)
	return &testServer{url: srv.URL, admin: srv.Admin}
}

// fast are the options of every test client: retries with a tiny backoff, so that tests of
// the retry policy do not wait for the production delays.
func fast() client.Option { return client.WithRetries(3, time.Millisecond) }

// adminClient returns a client holding the bootstrap admin key.
func (ts *testServer) adminClient() *client.Client {
	return client.New(ts.url, ts.admin, fast())
}

// createUser makes a user with a unique handle and a key of the default scopes, through the
// client itself, and returns the account and a client that acts as that user.
func (ts *testServer) createUser(t *testing.T, handle string) (*wire.Account, *client.Client) {
	t.Helper()
	a, secret := ts.createUserKey(t, handle)
	return a, client.New(ts.url, secret, fast())
}

// createUserKey is createUser for tests that need the key itself, to reach the server by
// another way.
func (ts *testServer) createUserKey(t *testing.T, handle string) (*wire.Account, string) {
	t.Helper()
	ctx := context.Background()
	admin := ts.adminClient()
	handle = fmt.Sprintf("%s-%s", handle, strings.TrimPrefix(stipend.NewID("x"), "x_")[24:])
	a, err := admin.CreateAccount(ctx, wire.CreateAccountRequest{Kind: "user", Handle: handle, Name: handle})
	if err != nil {
		t.Fatalf("creating user %s: %v", handle, err)
	}
	k, err := admin.CreateKey(ctx, wire.CreateKeyRequest{AccountID: a.ID, Name: "test"})
	if err != nil {
		t.Fatalf("creating a key for %s: %v", handle, err)
	}
	return a, k.Secret
}

// credit gives an account money with a fresh idempotency key.
func (ts *testServer) credit(t *testing.T, accountID string, amount int64, asset string) *wire.Transaction {
	t.Helper()
	tx, err := ts.adminClient().AdminCredit(context.Background(), wire.AdminCreditRequest{AccountID: accountID, Amount: amount, Asset: asset}, "")
	if err != nil {
		t.Fatalf("admin credit: %v", err)
	}
	return tx
}

// available returns an account's available balance in one asset, as c sees it.
func available(t *testing.T, c *client.Client, accountID, asset string) int64 {
	t.Helper()
	b, err := c.Balances(context.Background(), accountID)
	if err != nil {
		t.Fatalf("balances: %v", err)
	}
	for _, x := range b.Data {
		if x.Asset == asset {
			return x.Available
		}
	}
	return 0
}

// seen is what a proxy saw of one request.
type seen struct {
	Method, Path, IdempotencyKey string
}

// proxy stands between the client and the real server and misbehaves as its script says, so
// that tests can show what the client does when the network or a load balancer fails.
type proxy struct {
	URL string

	mu   sync.Mutex
	reqs []seen
}

// script decides the fate of the n-th request (from 1): it may answer itself, or call
// forward to pass the request to the real server.
type script func(n int, w http.ResponseWriter, r *http.Request, forward http.Handler)

func newProxy(t *testing.T, target string, s script) *proxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	p := &proxy{}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.reqs = append(p.reqs, seen{r.Method, r.URL.Path, r.Header.Get(client.HeaderIdempotencyKey)})
		n := len(p.reqs)
		p.mu.Unlock()
		s(n, w, r, rp)
	}))
	t.Cleanup(hs.Close)
	p.URL = hs.URL
	return p
}

// requests returns what the proxy has seen so far.
func (p *proxy) requests() []seen {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]seen(nil), p.reqs...)
}

// answer responds with status and a plain-text body, as a load balancer in trouble would,
// so that the client meets an error that is not problem JSON.
func answer(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprint(w, body)
}

// dropConnection closes the client's connection without any response, which the client sees
// as a network error.
func dropConnection(t *testing.T, w http.ResponseWriter) {
	t.Helper()
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		t.Errorf("hijacking the connection: %v", err)
		return
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	conn.Close()
}

// answerProblem responds as the API does when it refuses a request: problem JSON with a
// stable code. retryAfter, unless empty, is sent as the Retry-After header, as the server
// does with its 409 "still in progress".
func answerProblem(w http.ResponseWriter, status int, code, retryAfter string) {
	if retryAfter != "" {
		w.Header().Set("Retry-After", retryAfter)
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"type":"about:blank","title":%q,"status":%d,"detail":"refused by the test proxy","code":%q,"request_id":"req_0123abcd"}`,
		http.StatusText(status), status, code)
}
