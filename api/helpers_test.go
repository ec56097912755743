package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	legacyrouter "github.com/getkin/kin-openapi/routers/legacy"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/api/wire"
	"github.com/stipend/stipend/internal/app"
	"github.com/stipend/stipend/internal/apptest"
	"github.com/stipend/stipend/internal/db"
	"github.com/stipend/stipend/internal/dbtest"
	"github.com/stipend/stipend/internal/store"
)

func init() {
	openapi3filter.RegisterBodyDecoder("application/problem+json", openapi3filter.JSONBodyDecoder)
	openapi3filter.RegisterBodyDecoder("text/html", openapi3filter.PlainBodyDecoder)
}

// testServer is the whole API on a real database, served over HTTP.
type testServer struct {
	t        testing.TB
	url      string
	store    *store.Store
	app      *app.App
	admin    string // the bootstrap admin key
	router   routers.Router
	validate bool
}

// forEachServer runs fn against a server on SQLite and one on PostgreSQL.
func forEachServer(t *testing.T, fn func(t *testing.T, ts *testServer)) {
	t.Helper()
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) { fn(t, newTestServer(t, d)) })
}

func newTestServer(t testing.TB, d *db.DB, opts ...apptest.Option) *testServer {
	t.Helper()
	srv := apptest.StartOn(t, d, opts...)
	ts := &testServer{t: t, url: srv.URL, store: srv.App.Store, app: srv.App, admin: srv.Admin, validate: true}
	ts.router = ts.loadDocument()
	return ts
}

// loadDocument fetches /openapi.json and loads it as a client would.
func (ts *testServer) loadDocument() routers.Router {
	ts.t.Helper()
	resp, body := ts.raw(http.MethodGet, "/openapi.json", "", nil, nil)
	if resp.StatusCode != http.StatusOK {
		ts.t.Fatalf("/openapi.json: %s", resp.Status)
	}
	doc, err := openapi3.NewLoader().LoadFromData(body)
	if err != nil {
		ts.t.Fatalf("loading /openapi.json: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		ts.t.Fatalf("/openapi.json is not valid OpenAPI 3: %v", err)
	}
	doc.Servers = openapi3.Servers{{URL: ts.url}}
	r, err := legacyrouter.NewRouter(doc)
	if err != nil {
		ts.t.Fatal(err)
	}
	return r
}

// raw sends a request without checking it against the document.
func (ts *testServer) raw(method, path, key string, body []byte, header http.Header) (*http.Response, []byte) {
	ts.t.Helper()
	req, err := http.NewRequest(method, ts.url+path, bytes.NewReader(body))
	if err != nil {
		ts.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		ts.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		ts.t.Fatal(err)
	}
	return resp, out
}

// do sends a request with a JSON body (if body is not nil), checks the response against the
// OpenAPI document, and decodes it into out (if not nil).
func (ts *testServer) do(method, path, key string, body any, header http.Header, out any) *http.Response {
	ts.t.Helper()
	var b []byte
	if body != nil {
		var err error
		if raw, ok := body.([]byte); ok {
			b = raw
		} else if b, err = json.Marshal(body); err != nil {
			ts.t.Fatal(err)
		}
	}
	resp, respBody := ts.raw(method, path, key, b, header)
	if ts.validate {
		ts.checkResponse(method, path, resp, respBody)
	}
	if out != nil {
		if err := json.Unmarshal(respBody, out); err != nil {
			ts.t.Fatalf("%s %s: decoding %s: %v", method, path, respBody, err)
		}
	}
	return resp
}

// checkResponse validates a response against the document: its status is declared and its
// body matches the declared schema.
func (ts *testServer) checkResponse(method, path string, resp *http.Response, body []byte) {
	ts.t.Helper()
	req, _ := http.NewRequest(method, ts.url+path, nil)
	route, params, err := ts.router.FindRoute(req)
	if err != nil {
		if resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusMethodNotAllowed {
			return // a route that does not exist is not in the document either
		}
		ts.t.Fatalf("%s %s is served but not in the OpenAPI document: %v", method, path, err)
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
		Status:                 resp.StatusCode,
		Header:                 resp.Header,
		Body:                   io.NopCloser(bytes.NewReader(body)),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		ts.t.Fatalf("%s %s: response %d does not match the OpenAPI document: %v\n%s", method, path, resp.StatusCode, err, body)
	}
}

// idem returns headers carrying an Idempotency-Key.
func idem(key string) http.Header {
	return http.Header{"Idempotency-Key": {key}}
}

// newKey returns a fresh Idempotency-Key.
func newKey() string { return stipend.NewID("idem") }

// createUser creates a user through the API and returns it with an API key of default scopes.
func (ts *testServer) createUser(handle string) (wire.Account, string) {
	ts.t.Helper()
	var a wire.Account
	handle = fmt.Sprintf("%s-%s", handle, strings.TrimPrefix(stipend.NewID("x"), "x_")[24:])
	if r := ts.do(http.MethodPost, "/v1/accounts", ts.admin, wire.CreateAccountRequest{Kind: "user", Handle: handle, Name: handle}, nil, &a); r.StatusCode != http.StatusCreated {
		ts.t.Fatalf("creating user: %s", r.Status)
	}
	var k wire.CreatedKey
	if r := ts.do(http.MethodPost, "/v1/keys", ts.admin, wire.CreateKeyRequest{AccountID: a.ID, Name: "test"}, nil, &k); r.StatusCode != http.StatusCreated {
		ts.t.Fatalf("creating key: %s", r.Status)
	}
	return a, k.Secret
}

// credit gives an account money through the admin credit endpoint.
func (ts *testServer) credit(accountID string, amount int64, asset string) wire.Transaction {
	ts.t.Helper()
	var tx wire.Transaction
	r := ts.do(http.MethodPost, "/v1/admin/credits", ts.admin, wire.AdminCreditRequest{AccountID: accountID, Amount: amount, Asset: asset}, idem(newKey()), &tx)
	if r.StatusCode != http.StatusCreated {
		ts.t.Fatalf("admin credit: %s", r.Status)
	}
	return tx
}

// balance returns an account's available balance in one asset, as its owner sees it.
func (ts *testServer) balance(key, accountID, asset string) int64 {
	ts.t.Helper()
	var b wire.Balances
	if r := ts.do(http.MethodGet, "/v1/balances?account_id="+accountID, key, nil, nil, &b); r.StatusCode != http.StatusOK {
		ts.t.Fatalf("balances: %s", r.Status)
	}
	for _, x := range b.Data {
		if x.Asset == asset {
			return x.Available
		}
	}
	return 0
}

// wantProblem fails unless resp is a problem JSON with the given status and code.
func wantProblem(t testing.TB, resp *http.Response, p wire.Problem, status int, code string) {
	t.Helper()
	if resp.StatusCode != status || p.Code != code || p.Status != status {
		t.Fatalf("got %d %q (%+v), want %d %q", resp.StatusCode, p.Code, p, status, code)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type = %q, want application/problem+json", ct)
	}
	if p.Detail == "" || p.Title == "" || !strings.HasSuffix(p.Type, "/"+code) {
		t.Fatalf("problem lacks a detail, title or type: %+v", p)
	}
}

// newTestServerSQLite starts a server on a fresh SQLite database.
func newTestServerSQLite(t *testing.T) *testServer {
	t.Helper()
	return newTestServer(t, dbtest.Open(t, db.SQLite))
}
