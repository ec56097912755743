package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/api/wire"
	"github.com/stipend/stipend/internal/apptest"
	"github.com/stipend/stipend/internal/db"
)

// testServer is the whole API on a real SQLite database over real HTTP, built as the API's
// own tests build it, so that the CLI is tested end to end.
type testServer struct {
	url   string
	admin string // the bootstrap admin key
}

func newTestServer(t *testing.T) *testServer {
	t.Helper()
	srv := apptest.Start(t, db.SQLite)
	return &testServer{url: srv.URL, admin: srv.Admin}
}

// result is what one run of the CLI printed and returned.
type result struct {
	stdout, stderr string
	code           int
}

// runCLI runs the command line args with env as the environment, as main would, and checks
// the one rule every command keeps: the API key in use never appears in its output.
func runCLI(t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	return runCLIWithStdin(t, "", env, args...)
}

// runCLIWithStdin is runCLI for a command that reads stdin, such as "ci report --junit -".
func runCLIWithStdin(t *testing.T, stdin string, env map[string]string, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(stdin), &stdout, &stderr, func(k string) string { return env[k] })
	r := result{stdout: stdout.String(), stderr: stderr.String(), code: code}
	keys := []string{env["STIPEND_API_KEY"]}
	for i, a := range args {
		if a == "--api-key" && i+1 < len(args) {
			keys = append(keys, args[i+1])
		}
		if v, ok := strings.CutPrefix(a, "--api-key="); ok {
			keys = append(keys, v)
		}
	}
	for _, k := range keys {
		if len(k) >= 8 && strings.Contains(r.stdout+r.stderr, k) {
			t.Fatalf("stipend %s printed the API key:\n%s%s", strings.Join(args, " "), r.stdout, r.stderr)
		}
	}
	return r
}

// ok runs the CLI and fails the test unless the command succeeded.
func ok(t *testing.T, env map[string]string, args ...string) string {
	t.Helper()
	r := runCLI(t, env, args...)
	if r.code != 0 {
		t.Fatalf("stipend %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// okJSON runs the CLI with --json and decodes what it printed into out, failing the test if
// that is not valid JSON of the expected shape.
func okJSON(t *testing.T, env map[string]string, out any, args ...string) {
	t.Helper()
	stdout := ok(t, env, append(args, "--json")...)
	dec := json.NewDecoder(strings.NewReader(stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(out); err != nil {
		t.Fatalf("stipend %s --json printed invalid JSON (%v):\n%s", strings.Join(args, " "), err, stdout)
	}
}

// as returns the environment of a user of server ts holding key.
func (ts *testServer) as(key string) map[string]string {
	return map[string]string{"STIPEND_SERVER": ts.url, "STIPEND_API_KEY": key}
}

// createUser makes a user with a unique handle through the CLI and returns it and a key
// with the default scopes.
func (ts *testServer) createUser(t *testing.T, handle string) (wire.Account, string) {
	t.Helper()
	handle = fmt.Sprintf("%s-%s", handle, strings.TrimPrefix(stipend.NewID("x"), "x_")[24:])
	var a wire.Account
	okJSON(t, ts.as(ts.admin), &a, "admin", "account", "create", "--kind", "user", "--handle", handle, "--name", handle)
	var k wire.CreatedKey
	okJSON(t, ts.as(ts.admin), &k, "keys", "create", "--name", "test", "--account", a.ID)
	return a, k.Secret
}

// availableOf returns an account's available balance in one asset, read through the CLI.
func (ts *testServer) availableOf(t *testing.T, key, accountID, asset string) int64 {
	t.Helper()
	var b wire.Balances
	okJSON(t, ts.as(key), &b, "balance", "--account", accountID)
	for _, x := range b.Data {
		if x.Asset == asset {
			return x.Available
		}
	}
	return 0
}

// countingServer answers every request with 500 and counts them, to prove that a command
// refused on the command line sends nothing.
func countingServer(t *testing.T) (string, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		http.Error(w, "this test expected no request", http.StatusInternalServerError)
	}))
	t.Cleanup(hs.Close)
	return hs.URL, &n
}

// refusal is a command line that must be refused before any request: exit 2, want in the
// message on stderr, and nothing on stdout.
type refusal struct {
	args []string
	want string
}

// wantRefused runs each command line with env and checks that it is refused as it must be.
func wantRefused(t *testing.T, env map[string]string, tests []refusal) {
	t.Helper()
	for _, tt := range tests {
		r := runCLI(t, env, tt.args...)
		if r.code != 2 || !strings.Contains(r.stderr, tt.want) || r.stdout != "" {
			t.Errorf("stipend %q: exit %d, stderr %q; want exit 2 and %q", tt.args, r.code, r.stderr, tt.want)
		}
	}
}

// wantNoRequests fails the test unless a countingServer got no request at all.
func wantNoRequests(t *testing.T, requests *atomic.Int64) {
	t.Helper()
	if n := requests.Load(); n != 0 {
		t.Fatalf("the server got %d requests, want none", n)
	}
}

// proxy stands between the CLI and the real server and answers as its script says, so that
// tests can show what a person is told when the network or a load balancer fails.
type proxy struct {
	URL string

	mu   sync.Mutex
	keys []string // the Idempotency-Key of each request, "" for none
}

// script decides the fate of the n-th request (from 1) through a proxy: it may answer
// itself, or call forward to pass the request to the real server.
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
		p.keys = append(p.keys, r.Header.Get("Idempotency-Key"))
		n := len(p.keys)
		p.mu.Unlock()
		s(n, w, r, rp)
	}))
	t.Cleanup(hs.Close)
	p.URL = hs.URL
	return p
}

// idempotencyKeys returns the Idempotency-Key of every request the proxy has seen so far.
func (p *proxy) idempotencyKeys() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.keys...)
}

// answerProblem responds as the API does when it refuses a request: problem JSON with a
// stable code and a request id. retryAfter, unless empty, is sent as the Retry-After header,
// as the server does with its 409 "still in progress".
func answerProblem(w http.ResponseWriter, status int, code, retryAfter string) {
	if retryAfter != "" {
		w.Header().Set("Retry-After", retryAfter)
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"type":"about:blank","title":%q,"status":%d,"detail":"refused by the test proxy","code":%q,"request_id":"req_0123abcd"}`,
		http.StatusText(status), status, code)
}

// answerText responds with status and a plain-text body, as a load balancer in trouble
// would, so that the CLI meets an error that is not problem JSON.
func answerText(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprint(w, body)
}
