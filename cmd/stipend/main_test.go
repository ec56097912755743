package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stipend/stipend/api/wire"
)

// TestWhoami checks the first command a new user runs, in both output forms, with the global
// flags before and after the command's name.
func TestWhoami(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	env := ts.as(ts.admin)

	out := ok(t, env, "whoami")
	for _, want := range []string{"server", ts.url, "handle", "operator", "scopes", "admin", "bootstrap admin key"} {
		if !strings.Contains(out, want) {
			t.Fatalf("whoami does not show %q:\n%s", want, out)
		}
	}
	for _, args := range [][]string{{"--json", "whoami"}, {"whoami", "--json"}, {"--json=true", "whoami"}} {
		var me wire.Me
		stdout := ok(t, env, args...)
		if err := json.Unmarshal([]byte(stdout), &me); err != nil {
			t.Fatalf("stipend %v printed invalid JSON: %v\n%s", args, err, stdout)
		}
		if me.Account.Handle != "operator" || me.Key.ID == "" || !slices.Contains(me.Key.Scopes, "admin") {
			t.Fatalf("stipend %v = %+v", args, me)
		}
	}
}

// TestAdminCreatesAndCreditsAnAccount is the operator's path: create an account, credit it
// with an amount typed as text, and read the balance in both forms.
func TestAdminCreatesAndCreditsAnAccount(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	admin := ts.as(ts.admin)

	out := ok(t, admin, "admin", "account", "create", "--kind", "user", "--handle", "alice", "--name", "Alice Liddell", "--email", "alice@example.test")
	for _, want := range []string{"account", "acct_", "handle", "alice", "Alice Liddell", "alice@example.test"} {
		if !strings.Contains(out, want) {
			t.Fatalf("account create does not show %q:\n%s", want, out)
		}
	}
	var org wire.Account
	okJSON(t, admin, &org, "admin", "account", "create", "--kind", "org", "--handle", "acme", "--name", "Acme")
	if org.Kind != "org" || org.Handle != "acme" || !strings.HasPrefix(org.ID, "acct_") {
		t.Fatalf("created org = %+v", org)
	}

	out = ok(t, admin, "admin", "credit", org.ID, "0.50 USD", "--memo", "seed money")
	for _, want := range []string{"admin_credit", "0.50 USD", org.ID, "seed money", "idempotency key"} {
		if !strings.Contains(out, want) {
			t.Fatalf("admin credit does not show %q:\n%s", want, out)
		}
	}
	var tx wire.Transaction
	okJSON(t, admin, &tx, "admin", "credit", org.ID, "2100 sat")
	if tx.Kind != "admin_credit" || len(tx.Entries) != 2 {
		t.Fatalf("credit = %+v", tx)
	}

	out = ok(t, admin, "balance", "--account", org.ID)
	if !regexp.MustCompile(`(?m)^USD\s+0\.50 USD\s+0\.00 USD\s+0\.50 USD$`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^BTC\s+2100 sat\s+0 sat\s+2100 sat$`).MatchString(out) {
		t.Fatalf("balance table:\n%s", out)
	}
	var b wire.Balances
	okJSON(t, admin, &b, "balance", "--account", org.ID)
	if b.AccountID != org.ID || len(b.Data) != 2 || b.Data[0].Asset != "BTC" || b.Data[0].Available != 2_100_000 || b.Data[1].Total != 50 {
		t.Fatalf("balance JSON = %+v", b)
	}

	// A new account has nothing yet, which the table says in words.
	if out := ok(t, admin, "balance"); !strings.Contains(out, "no balances yet") {
		t.Fatalf("the operator's empty balance:\n%s", out)
	}
}

// TestTransfer pays another user by handle and checks that a repeat with the same
// idempotency key is reported as a replay and moves nothing.
func TestTransfer(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	alice, aliceKey := ts.createUser(t, "alice")
	bob, bobKey := ts.createUser(t, "bob")
	ok(t, ts.as(ts.admin), "admin", "credit", alice.ID, "5000 sat")

	out := ok(t, ts.as(aliceKey), "transfer", bob.Handle, "2100 sat", "--memo", "for the fix")
	for _, want := range []string{"transfer", "2100 sat", alice.ID, bob.ID, "for the fix"} {
		if !strings.Contains(out, want) {
			t.Fatalf("transfer does not show %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "replayed") {
		t.Fatalf("a first transfer is reported as replayed:\n%s", out)
	}

	var first, second wire.Transaction
	okJSON(t, ts.as(aliceKey), &first, "transfer", bob.ID, "100 sat", "--idempotency-key", "invoice-7")
	out = ok(t, ts.as(aliceKey), "transfer", "--idempotency-key", "invoice-7", bob.ID, "100 sat")
	if !strings.Contains(out, "replayed") || !strings.Contains(out, first.ID) || !strings.Contains(out, "invoice-7") {
		t.Fatalf("a repeated transfer is not shown as a replay of %s:\n%s", first.ID, out)
	}
	okJSON(t, ts.as(aliceKey), &second, "transfer", bob.ID, "100 sat", "--idempotency-key", "invoice-7")
	if second.ID != first.ID {
		t.Fatalf("replayed transaction %s, want %s", second.ID, first.ID)
	}
	if got := ts.availableOf(t, aliceKey, alice.ID, "BTC"); got != 2_800_000 {
		t.Fatalf("alice has %d msat, want 2800000: 5000 - 2100 - 100 sat", got)
	}
	if got := ts.availableOf(t, bobKey, bob.ID, "BTC"); got != 2_200_000 {
		t.Fatalf("bob has %d msat, want 2200000", got)
	}
}

// TestLedger reads the ledger as a table and as JSON, one page and all pages, so that the
// cursor is followed and the amounts are signed from the reader's side.
func TestLedger(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	alice, aliceKey := ts.createUser(t, "alice")
	bob, _ := ts.createUser(t, "bob")
	admin := ts.as(ts.admin)
	ok(t, admin, "admin", "credit", alice.ID, "1.50 EUR")
	ok(t, admin, "admin", "credit", alice.ID, "2100 sat")
	ok(t, ts.as(aliceKey), "transfer", bob.Handle, "0.25 EUR", "--memo", "coffee")
	alice1 := ts.as(aliceKey)

	out := ok(t, alice1, "ledger")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "TIME (UTC)") {
		t.Fatalf("ledger table has %d lines, want a header and 3 rows:\n%s", len(lines), out)
	}
	for i, want := range []*regexp.Regexp{
		regexp.MustCompile(`tx_\S+\s+transfer\s+-0\.25 EUR\s+` + bob.ID + `\s+coffee$`),
		regexp.MustCompile(`tx_\S+\s+admin_credit\s+\+2100 sat\s+external:operator`),
		regexp.MustCompile(`tx_\S+\s+admin_credit\s+\+1\.50 EUR\s+external:operator`),
	} {
		if !want.MatchString(lines[i+1]) {
			t.Fatalf("ledger row %d = %q, want %s", i+1, lines[i+1], want)
		}
	}

	// One page of one: the table shows one row and stderr tells how to go on.
	r := runCLI(t, alice1, "ledger", "--limit", "1")
	if r.code != 0 || strings.Count(strings.TrimSpace(r.stdout), "\n") != 1 || !strings.Contains(r.stderr, "--cursor") {
		t.Fatalf("ledger --limit 1: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	var page wire.TransactionPage
	okJSON(t, alice1, &page, "ledger", "--limit", "1")
	if len(page.Data) != 1 || page.NextCursor == "" || page.Data[0].Kind != "transfer" {
		t.Fatalf("ledger --limit 1 --json = %+v", page)
	}
	var next wire.TransactionPage
	okJSON(t, alice1, &next, "ledger", "--limit", "1", "--cursor", page.NextCursor)
	if len(next.Data) != 1 || next.Data[0].Kind != "admin_credit" || next.Data[0].ID == page.Data[0].ID {
		t.Fatalf("the second page = %+v", next)
	}

	// --all follows the cursor through pages of one to the end.
	var all wire.TransactionPage
	okJSON(t, alice1, &all, "ledger", "--all", "--limit", "1")
	if len(all.Data) != 3 || all.NextCursor != "" {
		t.Fatalf("ledger --all --json has %d transactions (next %q), want 3", len(all.Data), all.NextCursor)
	}
	out = ok(t, alice1, "ledger", "--limit", "1", "--all")
	if n := strings.Count(strings.TrimSpace(out), "\n"); n != 3 {
		t.Fatalf("ledger --all shows %d rows, want 3:\n%s", n, out)
	}

	// The admin reads alice's ledger by naming her account; the amounts are still hers.
	if out := ok(t, admin, "ledger", "--account", alice.ID); !strings.Contains(out, "-0.25 EUR") {
		t.Fatalf("alice's ledger as the admin sees it:\n%s", out)
	}
}

// TestKeys creates a narrow key, uses it, lists it and revokes it, after which it is refused
// with the API's error in the CLI's format.
func TestKeys(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	_, aliceKey := ts.createUser(t, "alice")
	alice := ts.as(aliceKey)

	out := ok(t, alice, "keys", "create", "--name", "laptop", "--scope", "account:read", "--scope", "transfers:write")
	if !strings.Contains(out, "secret") || !strings.Contains(out, "stp_") || !strings.Contains(out, "account:read transfers:write") {
		t.Fatalf("keys create does not show the new key's secret and scopes:\n%s", out)
	}
	var k wire.CreatedKey
	okJSON(t, alice, &k, "keys", "create", "--name", "ci", "--scope", "account:read")
	if k.Secret == "" || !slices.Equal(k.Scopes, []string{"account:read"}) {
		t.Fatalf("created key = %+v", k)
	}
	if out := ok(t, ts.as(ts.admin), "whoami", "--api-key", k.Secret); !strings.Contains(out, k.ID) {
		t.Fatalf("the new key is not the one in use:\n%s", out)
	}

	out = ok(t, alice, "keys", "list")
	if !regexp.MustCompile(`(?m)^`+k.ID+`\s+ci\s+stp_\S+\s+account:read\s.*\sactive$`).MatchString(out) || !strings.Contains(out, "laptop") {
		t.Fatalf("keys list:\n%s", out)
	}
	var list wire.KeyList
	okJSON(t, alice, &list, "keys", "list")
	if len(list.Data) != 3 {
		t.Fatalf("keys list --json has %d keys, want 3", len(list.Data))
	}

	if out := ok(t, alice, "keys", "revoke", k.ID); !strings.Contains(out, "revoked key "+k.ID) {
		t.Fatalf("keys revoke:\n%s", out)
	}
	if out := ok(t, alice, "keys", "list"); !regexp.MustCompile(`(?m)^` + k.ID + `\s.*\srevoked$`).MatchString(out) {
		t.Fatalf("the revoked key is not shown as revoked:\n%s", out)
	}
	r := runCLI(t, ts.as(k.Secret), "whoami")
	if r.code != 1 || !regexp.MustCompile(`^stipend: .+ \(unauthorized, request req_[0-9a-f]+\)\n$`).MatchString(r.stderr) {
		t.Fatalf("a revoked key: exit %d, stderr %q", r.code, r.stderr)
	}
}

// TestAPIErrorsAreReported checks the error line a person sees when the server refuses: its
// detail, its code and its request id, with exit status 1.
func TestAPIErrorsAreReported(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	_, aliceKey := ts.createUser(t, "alice")
	bob, _ := ts.createUser(t, "bob")
	tests := []struct {
		name string
		args []string
		code string
	}{
		{"not an admin", []string{"admin", "account", "create", "--kind", "user", "--handle", "eve", "--name", "Eve"}, "forbidden"},
		{"no money", []string{"transfer", bob.Handle, "1 sat"}, "insufficient_funds"},
		{"no such account", []string{"transfer", "nobody-here", "1 sat"}, "not_found"},
		{"someone else's balance", []string{"balance", "--account", bob.ID}, "forbidden"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := runCLI(t, ts.as(aliceKey), tt.args...)
			want := regexp.MustCompile(`^stipend: [^\n]+ \(` + tt.code + `, request req_[0-9a-f]+\)\n$`)
			if r.code != 1 || !want.MatchString(r.stderr) || r.stdout != "" {
				t.Fatalf("exit %d, stdout %q, stderr %q; want 1 and %s", r.code, r.stdout, r.stderr, want)
			}
		})
	}
}

// TestBadAmountsAreRefusedBeforeAnyRequest checks that an amount the CLI cannot represent
// exactly is refused with a clear message, and that nothing reaches the server.
func TestBadAmountsAreRefusedBeforeAnyRequest(t *testing.T) {
	t.Parallel()
	url, requests := countingServer(t)
	env := map[string]string{"STIPEND_SERVER": url, "STIPEND_API_KEY": "stp_not-used-because-nothing-is-sent"}
	tests := []refusal{
		{[]string{"transfer", "bob", "0.001 USD"}, "too many decimal places"},
		{[]string{"transfer", "bob", "0.0000001 sat"}, "too many decimal places"},
		{[]string{"admin", "credit", "acct_x", "5 XYZ"}, "unknown unit"},
		{[]string{"admin", "credit", "acct_x", "12"}, "needs a number and a unit"},
		{[]string{"transfer", "bob", "0 sat"}, "greater than zero"},
		{[]string{"transfer", "bob", "1,5 EUR"}, "amount"},
		{[]string{"transfer", "bob", "99999999999999999999 USD"}, "out of range"},
		{[]string{"transfer", "bob", "--", "-1 sat"}, "greater than zero"},
		{[]string{"transfer", "bob", "5", "USD"}, "quote an amount"},
	}
	wantRefused(t, env, tests)
	wantNoRequests(t, requests)
}

// TestMissingAPIKey checks that a command without a key says how to give one, and sends
// nothing.
func TestMissingAPIKey(t *testing.T) {
	t.Parallel()
	url, requests := countingServer(t)
	for _, args := range [][]string{{"whoami"}, {"balance"}, {"transfer", "bob", "1 sat"}, {"--api-key", "", "whoami"}} {
		r := runCLI(t, map[string]string{"STIPEND_SERVER": url}, args...)
		if r.code != 2 || !strings.Contains(r.stderr, "no API key: pass --api-key or set STIPEND_API_KEY") {
			t.Errorf("stipend %q without a key: exit %d, stderr %q", args, r.code, r.stderr)
		}
	}
	wantNoRequests(t, requests)
}

// TestEnvironmentAndFlags checks where the server and key come from: the environment, unless
// a flag (before or after the command) says otherwise.
func TestEnvironmentAndFlags(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	dead := httptest.NewServer(nil)
	deadURL := dead.URL
	dead.Close() // nothing listens here any more

	wrongKey := "stp_" + strings.Repeat("a", 52) // well formed, but no such key
	tests := []struct {
		name string
		env  map[string]string
		args []string
		code int
	}{
		{"environment only", map[string]string{"STIPEND_SERVER": ts.url, "STIPEND_API_KEY": ts.admin}, []string{"whoami"}, 0},
		{"flags only", nil, []string{"--server", ts.url, "--api-key", ts.admin, "whoami"}, 0},
		{"flags after the command", nil, []string{"whoami", "--server=" + ts.url, "--api-key=" + ts.admin}, 0},
		{"server flag wins", map[string]string{"STIPEND_SERVER": deadURL, "STIPEND_API_KEY": ts.admin}, []string{"whoami", "--server", ts.url}, 0},
		{"key flag wins", map[string]string{"STIPEND_SERVER": ts.url, "STIPEND_API_KEY": wrongKey}, []string{"--api-key", ts.admin, "whoami"}, 0},
		{"wrong key flag wins over a good one", map[string]string{"STIPEND_SERVER": ts.url, "STIPEND_API_KEY": ts.admin}, []string{"whoami", "--api-key", wrongKey}, 1},
		{"server from the environment is used", map[string]string{"STIPEND_SERVER": deadURL, "STIPEND_API_KEY": ts.admin}, []string{"whoami"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := runCLI(t, tt.env, tt.args...)
			if r.code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, tt.code, r.stdout, r.stderr)
			}
			if tt.code == 0 && !strings.Contains(r.stdout, "operator") {
				t.Fatalf("whoami did not reach the test server:\n%s", r.stdout)
			}
			if tt.code == 1 && !strings.Contains(r.stderr, "unauthorized") && !strings.Contains(r.stderr, deadURL) {
				t.Fatalf("stderr %q names neither the refusal nor the server", r.stderr)
			}
		})
	}
}

// TestUnreachableServerGivesTheKeyToRetryWith checks the advice after a transfer whose
// outcome is unknown: the same command with the key that was generated for it.
func TestUnreachableServerGivesTheKeyToRetryWith(t *testing.T) {
	t.Parallel()
	dead := httptest.NewServer(nil)
	dead.Close()
	r := runCLI(t, map[string]string{"STIPEND_SERVER": dead.URL, "STIPEND_API_KEY": "stp_whatever-key"}, "transfer", "bob", "1 sat")
	if r.code != 1 || !regexp.MustCompile(`run the same command with --idempotency-key \S+\n$`).MatchString(r.stderr) {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
}

// TestUsage checks that mistakes on the command line exit with 2 and a hint, and that help
// exits with 0.
func TestUsage(t *testing.T) {
	t.Parallel()
	env := map[string]string{"STIPEND_SERVER": "http://127.0.0.1:1", "STIPEND_API_KEY": "stp_unused"}
	tests := []struct {
		args []string
		code int
		want string
	}{
		{nil, 2, "usage: stipend"},
		{[]string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{[]string{"keys"}, 2, "name a subcommand: list, create, revoke"},
		{[]string{"keys", "rotate"}, 2, `unknown subcommand "rotate"`},
		{[]string{"admin", "account"}, 2, "name a subcommand: create"},
		{[]string{"whoami", "extra"}, 2, "takes no arguments"},
		{[]string{"balance", "--nope"}, 2, "flag provided but not defined: -nope"},
		{[]string{"transfer", "bob"}, 2, "needs 2 argument(s), got 1"},
		{[]string{"keys", "create"}, 2, "--name is required"},
		{[]string{"keys", "revoke"}, 2, "needs 1 argument(s)"},
		{[]string{"admin", "account", "create", "--kind", "user"}, 2, "--handle, --name required"},
		{[]string{"ledger", "--limit", "501"}, 2, "must be 1 to 500"},
		{[]string{"--server", "ftp://example.test", "whoami"}, 2, "must be an http:// or https:// URL"},
		{[]string{"help"}, 0, "usage: stipend"},
		{[]string{"-h"}, 0, "usage: stipend"},
		{[]string{"transfer", "-h"}, 0, "--idempotency-key"},
		{[]string{"admin", "help"}, 0, "usage: stipend admin <account|credit|github|charity|list>"},
	}
	for _, tt := range tests {
		r := runCLI(t, env, tt.args...)
		if r.code != tt.code || !strings.Contains(r.stdout+r.stderr, strings.TrimPrefix(tt.want, "--")) {
			t.Errorf("stipend %q: exit %d (want %d)\nstdout:\n%s\nstderr:\n%s\nwant %q", tt.args, r.code, tt.code, r.stdout, r.stderr, tt.want)
		}
	}
}

// TestServerErrorOnATransferGivesTheKeyAndARerunPaysOnce lets the server make a transfer and
// a proxy answer 500 in its place, so that the person cannot tell whether they paid. The CLI
// must print the key it sent with the advice to re-run with it, and that re-run must show the
// first transaction without paying again.
func TestServerErrorOnATransferGivesTheKeyAndARerunPaysOnce(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	alice, aliceKey := ts.createUser(t, "alice")
	bob, bobKey := ts.createUser(t, "bob")
	ok(t, ts.as(ts.admin), "admin", "credit", alice.ID, "5000 sat")

	// The server's answer to the first attempt, which the CLI never sees, goes to the test
	// through a channel, since the proxy runs on another goroutine.
	lost := make(chan []byte, 1)
	p := newProxy(t, ts.url, func(n int, w http.ResponseWriter, r *http.Request, forward http.Handler) {
		if n == 1 {
			rec := httptest.NewRecorder()
			forward.ServeHTTP(rec, r)
			lost <- rec.Body.Bytes()
			answerText(w, http.StatusInternalServerError, "upstream failed")
			return
		}
		forward.ServeHTTP(w, r)
	})
	viaProxy := map[string]string{"STIPEND_SERVER": p.URL, "STIPEND_API_KEY": aliceKey}

	r := runCLI(t, viaProxy, "transfer", bob.Handle, "2100 sat")
	want := regexp.MustCompile(`^stipend: the server answered 500 Internal Server Error: upstream failed \(HTTP 500\)\n` +
		`the outcome is unknown: to retry safely, run the same command with --idempotency-key (\S+)\n$`)
	m := want.FindStringSubmatch(r.stderr)
	if r.code != 1 || r.stdout != "" || m == nil {
		t.Fatalf("exit %d, stdout %q, stderr %q; want 1 and %s", r.code, r.stdout, r.stderr, want)
	}
	key := m[1]
	if keys := p.idempotencyKeys(); len(keys) != 1 || keys[0] != key {
		t.Fatalf("the proxy saw keys %q, the CLI advises %q: a 500 is not retried, and the advice must name the key sent", keys, key)
	}
	var first wire.Transaction
	if err := json.Unmarshal(<-lost, &first); err != nil || first.ID == "" {
		t.Fatalf("the server did not make the first transfer: %+v, %v", first, err)
	}

	// Re-running as advised reaches the server, which replays the first transfer.
	out := ok(t, viaProxy, "transfer", bob.Handle, "2100 sat", "--idempotency-key", key)
	if !strings.Contains(out, first.ID) || !strings.Contains(out, "replayed") || !strings.Contains(out, key) {
		t.Fatalf("the re-run is not shown as a replay of %s:\n%s", first.ID, out)
	}
	if got := ts.availableOf(t, aliceKey, alice.ID, "BTC"); got != 2_900_000 {
		t.Fatalf("alice has %d msat, want 2900000: she must pay 2100 sat once", got)
	}
	if got := ts.availableOf(t, bobKey, bob.ID, "BTC"); got != 2_100_000 {
		t.Fatalf("bob has %d msat, want 2100000: he must be paid once", got)
	}
}

// TestUnknownOutcomesGiveTheKeyAndFinalAnswersDoNot puts a proxy that always gives the same
// answer in front of the server, for each answer a money-moving command can get. Whenever
// the answer leaves open whether money moved, the error line is followed by the key to
// re-run with, which must be the key the requests carried; a final refusal gets no such
// advice, which would only suggest that trying again could help.
func TestUnknownOutcomesGiveTheKeyAndFinalAnswersDoNot(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	transfer := []string{"transfer", "bob", "1 sat"}
	credit := []string{"admin", "credit", "acct_x", "1 sat"}
	tests := []struct {
		name   string
		args   []string
		answer func(w http.ResponseWriter)
		// attempts is how many times the client sends the request; unknown says whether the
		// outcome is unknown; line is the error line wanted.
		attempts int
		unknown  bool
		line     string
		// advised is the key the advice must show, when the test chose one; otherwise it
		// must show the key the client generated.
		advised string
	}{
		{"transfer 500", transfer, func(w http.ResponseWriter) { answerText(w, 500, "oops") },
			1, true, `stipend: the server answered 500 Internal Server Error: oops (HTTP 500)`, ""},
		{"transfer 500 problem", transfer, func(w http.ResponseWriter) { answerProblem(w, 500, "internal", "") },
			1, true, `stipend: refused by the test proxy (internal, request req_0123abcd)`, ""},
		{"transfer 503 after retries", transfer, func(w http.ResponseWriter) { answerText(w, 503, "down") },
			3, true, `stipend: the server answered 503 Service Unavailable: down (HTTP 503)`, ""},
		{"admin credit 502 after retries", credit, func(w http.ResponseWriter) { answerText(w, 502, "bad gateway") },
			3, true, `stipend: the server answered 502 Bad Gateway: bad gateway (HTTP 502)`, ""},
		{"admin credit 504 after retries", credit, func(w http.ResponseWriter) { answerText(w, 504, "timeout") },
			3, true, `stipend: the server answered 504 Gateway Timeout: timeout (HTTP 504)`, ""},
		{"transfer still in progress after retries", transfer, func(w http.ResponseWriter) { answerProblem(w, 409, "conflict", "1") },
			3, true, `stipend: refused by the test proxy (conflict, request req_0123abcd)`, ""},
		{"a key of the caller's is quoted", append(credit, "--idempotency-key", "order 7"), func(w http.ResponseWriter) { answerText(w, 500, "oops") },
			1, true, `stipend: the server answered 500 Internal Server Error: oops (HTTP 500)`, "'order 7'"},
		{"transfer key reused", transfer, func(w http.ResponseWriter) { answerProblem(w, 409, "idempotency_mismatch", "") },
			1, false, `stipend: refused by the test proxy (idempotency_mismatch, request req_0123abcd)`, ""},
		{"transfer insufficient funds", transfer, func(w http.ResponseWriter) { answerProblem(w, 422, "insufficient_funds", "") },
			1, false, `stipend: refused by the test proxy (insufficient_funds, request req_0123abcd)`, ""},
		{"admin credit forbidden", credit, func(w http.ResponseWriter) { answerProblem(w, 403, "forbidden", "") },
			1, false, `stipend: refused by the test proxy (forbidden, request req_0123abcd)`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := newProxy(t, ts.url, func(n int, w http.ResponseWriter, r *http.Request, forward http.Handler) {
				tt.answer(w)
			})
			r := runCLI(t, map[string]string{"STIPEND_SERVER": p.URL, "STIPEND_API_KEY": ts.admin}, tt.args...)
			if r.code != 1 || r.stdout != "" {
				t.Fatalf("exit %d, stdout %q; want 1 and nothing", r.code, r.stdout)
			}
			keys := p.idempotencyKeys()
			if len(keys) != tt.attempts || keys[0] == "" {
				t.Fatalf("the proxy saw keys %q, want %d attempts with a key", keys, tt.attempts)
			}
			for _, k := range keys {
				if k != keys[0] {
					t.Fatalf("the retries changed the key: %q", keys)
				}
			}
			lines := strings.SplitAfter(r.stderr, "\n")
			if lines[0] != tt.line+"\n" {
				t.Fatalf("error line %q, want %q", lines[0], tt.line)
			}
			if !tt.unknown {
				if r.stderr != tt.line+"\n" {
					t.Fatalf("a final answer got more than its error line:\n%s", r.stderr)
				}
				return
			}
			advised := tt.advised
			if advised == "" {
				advised = keys[0]
			}
			want := tt.line + "\nthe outcome is unknown: to retry safely, run the same command with --idempotency-key " + advised + "\n"
			if r.stderr != want {
				t.Fatalf("stderr %q, want %q", r.stderr, want)
			}
		})
	}
}
