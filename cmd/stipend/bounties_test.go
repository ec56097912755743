package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stipend/stipend/api/wire"
	"github.com/stipend/stipend/internal/apptest"
	"github.com/stipend/stipend/internal/db"
	"github.com/stipend/stipend/internal/dbtest"
	"github.com/stipend/stipend/internal/githubauth/githubtest"
)

// junitFile writes a JUnit report of n tests, the first passing of which pass, into a
// temporary file and returns its path. pad lengthens every test's output, to make a large
// upload.
func junitFile(t *testing.T, n, passing, pad int) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n<testsuite name=\"e2e\" tests=\"%d\" failures=\"%d\">\n", n, n-passing)
	out := strings.Repeat("x", pad)
	for i := range n {
		fmt.Fprintf(&b, "<testcase classname=\"e2e\" name=\"Test%04d\" time=\"0.01\">", i)
		if i >= passing {
			b.WriteString("<failure message=\"boom\">assertion failed</failure>")
		}
		if pad > 0 {
			fmt.Fprintf(&b, "<system-out>%s</system-out>", out)
		}
		b.WriteString("</testcase>\n")
	}
	b.WriteString("</testsuite>\n</testsuites>\n")
	return writeFile(t, "report.xml", b.String())
}

// writeFile writes data to a file of the given name in a new temporary directory.
func writeFile(t *testing.T, name, data string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// sponsorWithBounty makes a sponsor holding 10,000 sat who funds a CI bounty of units × 50
// sat, and a CI token for it; it returns the sponsor's key, the bounty and the token.
func (ts *testServer) sponsorWithBounty(t *testing.T, units int) (string, wire.Bounty, string) {
	t.Helper()
	sponsor, key := ts.createUser(t, "sponsor")
	ok(t, ts.as(ts.admin), "admin", "credit", sponsor.ID, "10000 sat")
	var b wire.Bounty
	okJSON(t, ts.as(key), &b, "bounty", "create", "--kind", "test_run", "--title", "Run the e2e suite on ARM",
		"--reward", "50 sat", "--units", fmt.Sprint(units), "--deadline", "7d", "--link", "https://github.com/org/repo/issues/1")
	var token wire.CreatedKey
	okJSON(t, ts.as(key), &token, "keys", "create", "--name", "ci", "--scope", "ci:report:"+b.ID)
	return key, b, token.Secret
}

// TestBountyCreateListShowCancel is a sponsor's whole path through the CLI: fund a bounty,
// find it in the public list, read its account without a key, and cancel it for the rest.
func TestBountyCreateListShowCancel(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	sponsor, key := ts.createUser(t, "sponsor")
	ok(t, ts.as(ts.admin), "admin", "credit", sponsor.ID, "10000 sat")

	out := ok(t, ts.as(key), "bounty", "create", "--kind", "docs", "--title", "Fix the install guide",
		"--reward", "100 sat", "--units", "4", "--deadline", "72h", "--description", "The guide names a flag that is gone.")
	m := regexp.MustCompile(`(?m)^bounty\s+(bnt_[0-9a-f]+)$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("bounty create does not show the bounty's id:\n%s", out)
	}
	id := m[1]
	for _, want := range []string{"Fix the install guide", "docs", "review", "100 sat", "idempotency key"} {
		if !strings.Contains(out, want) {
			t.Fatalf("bounty create does not show %q:\n%s", want, out)
		}
	}
	// 4 × 100 sat and the fee of 2.5 % on top: 410 sat leave the sponsor.
	if got := ts.availableOf(t, key, sponsor.ID, "BTC"); got != 9_590_000 {
		t.Fatalf("the sponsor has %d msat after funding, want 9590000", got)
	}

	// Listing and reading are public: they work with no API key at all.
	public := map[string]string{"STIPEND_SERVER": ts.url}
	var page wire.BountyPage
	okJSON(t, public, &page, "bounty", "list", "--kind", "docs", "--q", "install", "--sponsor", sponsor.ID)
	if len(page.Data) != 1 || page.Data[0].ID != id || page.Data[0].Cost.Amount != 410_000 || page.Data[0].FeePerUnit.Amount != 2_500 {
		t.Fatalf("bounty list = %+v", page)
	}
	if out := ok(t, public, "bounty", "list", "--sponsor", sponsor.ID); !strings.Contains(out, id) || !strings.Contains(out, "Fix the install guide") {
		t.Fatalf("bounty list table:\n%s", out)
	}
	out = ok(t, public, "bounty", "show", id)
	for _, want := range []string{id, "funded", "in escrow", "400 sat", "pending"} {
		if !strings.Contains(out, want) {
			t.Fatalf("bounty show does not show %q:\n%s", want, out)
		}
	}

	// Someone else cannot cancel it; its sponsor can, once, and gets the escrow back.
	_, otherKey := ts.createUser(t, "mallory")
	if r := runCLI(t, ts.as(otherKey), "bounty", "cancel", id); r.code != 1 || !strings.Contains(r.stderr, "forbidden") {
		t.Fatalf("cancel by another user: exit %d\n%s", r.code, r.stderr)
	}
	var cancelled wire.Bounty
	okJSON(t, ts.as(key), &cancelled, "bounty", "cancel", id)
	if cancelled.Status != "cancelled" {
		t.Fatalf("cancelled bounty = %+v", cancelled)
	}
	// The unspent rewards return; the fee on them returns too, since no unit was paid.
	var st wire.BountyStatement
	okJSON(t, public, &st, "bounty", "show", id)
	if st.Escrow.Amount != 0 || st.Refunded.Amount+st.FeesEarned.Amount != 410_000 || st.PaidRewards.Amount != 0 {
		t.Fatalf("statement after cancel = %+v", st)
	}
	if got := ts.availableOf(t, key, sponsor.ID, "BTC"); got != 10_000_000-st.FeesEarned.Amount {
		t.Fatalf("the sponsor has %d msat after cancelling, want 10000000 less the fees earned (%d)", got, st.FeesEarned.Amount)
	}
}

// TestCIReportPaysFromJUnitAndSummarises is the CI step of the README: a JUnit file of 150
// tests, 120 passing, against 100 units pays exactly 100 and says why 50 were not paid; the
// same upload again pays nothing.
func TestCIReportPaysFromJUnitAndSummarises(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	_, b, token := ts.sponsorWithBounty(t, 100)
	report := junitFile(t, 150, 120, 0)
	ci := ts.as(token)
	ci["GITHUB_RUN_ID"], ci["GITHUB_RUN_ATTEMPT"] = "4242", "1"

	r := runCLI(t, ci, "ci", "report", "--bounty", b.ID, "--junit", report, "--contributor", "octocat")
	if r.code != 0 {
		t.Fatalf("ci report: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, re := range []string{`(?m)^paid\s+100$`, `(?m)^failing\s+30$`, `(?m)^over budget\s+20$`, `(?m)^amount paid\s+5000 sat$`, `(?m)^units left\s+0$`} {
		if !regexp.MustCompile(re).MatchString(r.stdout) {
			t.Fatalf("summary does not match %s:\n%s", re, r.stdout)
		}
	}
	if !strings.Contains(r.stderr, "50 result(s) were not paid") {
		t.Fatalf("stderr does not say how many were not paid:\n%s", r.stderr)
	}

	// The run id came from GitHub Actions' variables; the same run again is all duplicates.
	var again wire.ResultsReport
	okJSON(t, ci, &again, "ci", "report", "--bounty", b.ID, "--junit", report, "--contributor", "octocat")
	if again.Paid != 0 || again.Duplicate != 150 || again.Results[0].RunID != "4242-1" {
		t.Fatalf("the repeated upload = paid %d, duplicate %d, run %q", again.Paid, again.Duplicate, again.Results[0].RunID)
	}

	out := ok(t, ci, "ci", "report", "--bounty", b.ID, "--junit", report, "--contributor", "octocat", "--run-id", "other", "--verbose")
	if !regexp.MustCompile(`(?m)^over_budget\s+e2e\.Test0000\s+other\s+octocat\s+`).MatchString(out) {
		t.Fatalf("--verbose does not list the results over budget:\n%s", out)
	}

	var st wire.BountyStatement
	okJSON(t, map[string]string{"STIPEND_SERVER": ts.url}, &st, "bounty", "show", b.ID)
	if st.PaidRewards.Amount != 5_000_000 || st.Escrow.Amount != 0 || st.Pending.Amount != 5_000_000 || st.Bounty.UnitsPaid != 100 {
		t.Fatalf("statement = paid %d, escrow %d, pending %d, units %d", st.PaidRewards.Amount, st.Escrow.Amount, st.Pending.Amount, st.Bounty.UnitsPaid)
	}
}

// TestCIReportReadsEveryFormat sends the same kind of results as Stipend's JSON, as go test
// -json output from stdin, and tells the global --json flag apart from --json FILE.
func TestCIReportReadsEveryFormat(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	_, b, token := ts.sponsorWithBounty(t, 10)
	ci := ts.as(token)

	jsonFile := writeFile(t, "results.json", `[{"run_id":"r1","test":"TestA","outcome":"pass","contributor":"alice"},
		{"run_id":"r1","test":"TestB","outcome":"fail","contributor":"alice"}]`)
	var rep wire.ResultsReport
	okJSON(t, ci, &rep, "ci", "report", "--bounty", b.ID, "--json", jsonFile)
	if rep.Paid != 1 || rep.Failing != 1 || rep.Results[0].PaidTo != "github:alice" {
		t.Fatalf("JSON upload = %+v", rep)
	}

	goTest := `{"Action":"run","Package":"example.com/m","Test":"TestC"}
{"Action":"pass","Package":"example.com/m","Test":"TestC","Elapsed":0.1}
{"Action":"run","Package":"example.com/m","Test":"TestD"}
{"Action":"pass","Package":"example.com/m","Test":"TestD","Elapsed":0.2}
{"Action":"pass","Package":"example.com/m","Elapsed":0.3}
`
	// Here --json comes before the command and is followed by one: it is the global flag.
	r := runCLIWithStdin(t, goTest, ci, "--json", "ci", "report", "--bounty", b.ID, "--go-test-json", "-", "--run-id", "r2", "--contributor", "bob")
	rep = wire.ResultsReport{}
	if err := json.Unmarshal([]byte(r.stdout), &rep); r.code != 0 || err != nil {
		t.Fatalf("go test -json from stdin: exit %d, %v\n%s%s", r.code, err, r.stdout, r.stderr)
	}
	if rep.Paid != 2 || rep.Results[0].RunID != "r2" || rep.Results[0].Test != "example.com/m.TestC" || rep.Results[1].PaidTo != "github:bob" {
		t.Fatalf("go test -json upload = %+v", rep)
	}
}

// TestCIReportShowsProgressOfALargeUpload checks that a file of over a megabyte reports its
// upload on stderr, one line per quarter when stderr is not a terminal, as in a CI log.
func TestCIReportShowsProgressOfALargeUpload(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	_, b, token := ts.sponsorWithBounty(t, 10)
	report := junitFile(t, 200, 200, 8<<10)

	r := runCLI(t, ts.as(token), "ci", "report", "--bounty", b.ID, "--junit", report, "--run-id", "big", "--contributor", "octocat")
	if r.code != 0 {
		t.Fatalf("ci report: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, q := range []string{"25 %", "50 %", "75 %", "100 %"} {
		if !strings.Contains(r.stderr, "report.xml: "+q+" of 1.6 MiB") {
			t.Fatalf("stderr does not show %s of the upload:\n%s", q, r.stderr)
		}
	}
	if !regexp.MustCompile(`(?m)^paid\s+10$`).MatchString(r.stdout) {
		t.Fatalf("summary:\n%s", r.stdout)
	}
}

// TestCIReportErrors covers what goes wrong in CI: mistakes on the command line are refused
// before any request (exit 2), and the server's refusals fail the step (exit 1) with the
// reason and pay nothing.
func TestCIReportErrors(t *testing.T) {
	t.Parallel()
	server, requests := countingServer(t)
	env := map[string]string{"STIPEND_SERVER": server, "STIPEND_API_KEY": "stp_testkeythatisnotreal"}
	report := junitFile(t, 2, 2, 0)
	empty := writeFile(t, "empty.xml", " \n")
	wantRefused(t, env, []refusal{
		{[]string{"ci", "report", "--junit", report}, "--bounty is required"},
		{[]string{"ci", "report", "--bounty", "bty_1"}, "give exactly one file"},
		{[]string{"ci", "report", "--bounty", "bty_1", "--junit", report, "--json", report}, "give exactly one file"},
		{[]string{"ci", "report", "--bounty", "bty_1", "--junit", filepath.Join(t.TempDir(), "missing.xml")}, "no such file"},
		{[]string{"ci", "report", "--bounty", "bty_1", "--junit", empty}, "is empty"},
	})
	wantNoRequests(t, requests)

	ts := newTestServer(t)
	sponsorKey, b, token := ts.sponsorWithBounty(t, 10)
	_, other, _ := ts.sponsorWithBounty(t, 10)
	malformed := writeFile(t, "bad.xml", "<testsuite><testcase name=\"A\"")
	tests := []struct {
		name string
		key  string
		args []string
		want string
	}{
		{"malformed JUnit", token, []string{"--bounty", b.ID, "--junit", malformed}, "invalid"},
		{"malformed JSON", token, []string{"--bounty", b.ID, "--json", writeFile(t, "bad.json", `[{"test":`)}, "invalid"},
		{"another sponsor's bounty", token, []string{"--bounty", other.ID, "--junit", report}, "forbidden"},
		{"a key without ci:report", sponsorKey + "x", []string{"--bounty", b.ID, "--junit", report}, "unauthorized"},
		{"a file over the server's limit", token, []string{"--bounty", b.ID, "--junit", junitFile(t, 600, 600, 8<<10)}, "larger than this server accepts"},
	}
	for _, tt := range tests {
		r := runCLI(t, ts.as(tt.key), append([]string{"ci", "report", "--contributor", "octocat"}, tt.args...)...)
		if r.code != 1 || !strings.Contains(strings.ToLower(r.stderr), tt.want) {
			t.Errorf("%s: exit %d, stderr %q; want exit 1 and %q", tt.name, r.code, r.stderr, tt.want)
		}
	}
	var st wire.BountyStatement
	okJSON(t, map[string]string{"STIPEND_SERVER": ts.url}, &st, "bounty", "show", b.ID)
	if st.PaidRewards.Amount != 0 || st.Bounty.UnitsPaid != 0 {
		t.Fatalf("refused uploads paid something: %+v", st)
	}
}

// TestGitHubLinkThroughTheCLI is a contributor who earned rewards under their GitHub login
// before they had an account: they prove the login through GitHub and the rewards move in.
// The operator's manual link is shown too.
func TestGitHubLinkThroughTheCLI(t *testing.T) {
	t.Parallel()
	gh := githubtest.Start(t)
	srv := apptest.StartOn(t, dbtest.Open(t, db.SQLite), apptest.WithGitHub(gh))
	ts := &testServer{url: srv.URL, admin: srv.Admin}
	_, b, token := ts.sponsorWithBounty(t, 10)
	results := writeFile(t, "results.json", `[{"run_id":"r1","test":"TestA","outcome":"pass","contributor":"Octo-Dev"},
		{"run_id":"r1","test":"TestB","outcome":"pass","contributor":"hubot"}]`)
	ok(t, ts.as(token), "ci", "report", "--bounty", b.ID, "--json", results)

	octo, octoKey := ts.createUser(t, "octo")
	out := ok(t, ts.as(octoKey), "github", "link")
	m := regexp.MustCompile(`(?m)^open\s+(\S+)$`).FindStringSubmatch(out)
	if m == nil || !strings.HasPrefix(m[1], gh.URL+"/login/oauth/authorize?") {
		t.Fatalf("github link does not show GitHub's page:\n%s", out)
	}
	authorize, err := url.Parse(m[1])
	if err != nil {
		t.Fatal(err)
	}
	// The browser signs in at GitHub and comes back to Stipend's callback page.
	callback := srv.URL + "/v1/github/callback?" + url.Values{"state": {authorize.Query().Get("state")}, "code": {gh.Authorize("octo-dev")}}.Encode()
	resp, err := http.Get(callback)
	if err != nil {
		t.Fatal(err)
	}
	page := readAll(t, resp)
	cm := regexp.MustCompile(`stipend github confirm (\S+)</pre>`).FindStringSubmatch(page)
	if resp.StatusCode != http.StatusOK || cm == nil {
		t.Fatalf("callback %d:\n%s", resp.StatusCode, page)
	}

	// Only the account that started the link can use the code.
	_, otherKey := ts.createUser(t, "mallory")
	if r := runCLI(t, ts.as(otherKey), "github", "confirm", cm[1]); r.code != 1 {
		t.Fatalf("another account confirmed octo's code: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	out = ok(t, ts.as(octoKey), "github", "confirm", cm[1])
	for _, re := range []string{`(?m)^github login\s+octo-dev$`, `(?m)^moved in\s+50 sat$`} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Fatalf("github confirm does not match %s:\n%s", re, out)
		}
	}
	if got := ts.availableOf(t, octoKey, octo.ID, "BTC"); got != 50_000 {
		t.Fatalf("octo has %d msat, want the 50 sat reward", got)
	}

	// The operator links a login they checked by other means; the link moves hubot's reward.
	hubot, _ := ts.createUser(t, "hubot")
	var link wire.GitHubLink
	okJSON(t, ts.as(ts.admin), &link, "admin", "github", "link", hubot.ID, "hubot")
	if link.Login != "hubot" || len(link.Moved) != 1 || link.Moved[0].Amount != 50_000 {
		t.Fatalf("admin github link = %+v", link)
	}
}

// TestGitHubLinkWithoutAnOAuthApp says what is missing when the server has no GitHub app.
func TestGitHubLinkWithoutAnOAuthApp(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	_, key := ts.createUser(t, "octo")
	r := runCLI(t, ts.as(key), "github", "link")
	if r.code != 1 || !strings.Contains(r.stderr, "unavailable") {
		t.Fatalf("github link on a server without GitHub: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	wantRefused(t, ts.as(key), []refusal{{[]string{"github", "confirm"}, "CODE"}})
}

// readAll reads and closes a response's body.
func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
