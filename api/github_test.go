package api_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/stipend/stipend/api/wire"
	"github.com/stipend/stipend/internal/apptest"
	"github.com/stipend/stipend/internal/db"
	"github.com/stipend/stipend/internal/dbtest"
	"github.com/stipend/stipend/internal/githubauth/githubtest"
)

var confirmCommand = regexp.MustCompile(`stipend github confirm (\S+)</pre>`)

// startLink starts a link with the key and returns the state GitHub will send back.
func (ts *testServer) startLink(key string, gh *githubtest.Server) string {
	ts.t.Helper()
	var start wire.GitHubLinkStart
	if r := ts.do(http.MethodPost, "/v1/github/link", key, nil, nil, &start); r.StatusCode != http.StatusOK {
		ts.t.Fatalf("starting a link: %d", r.StatusCode)
	}
	u, err := url.Parse(start.AuthorizeURL)
	if err != nil || !strings.HasPrefix(start.AuthorizeURL, gh.URL+"/login/oauth/authorize?") || u.Query().Get("client_id") != gh.ClientID {
		ts.t.Fatalf("authorize URL %q", start.AuthorizeURL)
	}
	return u.Query().Get("state")
}

// callback is the browser coming back from GitHub; it returns the status and the page.
func (ts *testServer) callback(query url.Values) (int, string) {
	ts.t.Helper()
	resp, body := ts.raw(http.MethodGet, "/v1/github/callback?"+query.Encode(), "", nil, nil)
	ts.checkResponse(http.MethodGet, "/v1/github/callback", resp, body)
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		ts.t.Fatalf("callback Content-Type %q", ct)
	}
	return resp.StatusCode, string(body)
}

// proveLogin runs the browser half of the flow: the account's key starts it, GitHub's user
// login approves, and the page shows the confirmation code.
func (ts *testServer) proveLogin(key string, gh *githubtest.Server, login string) string {
	ts.t.Helper()
	state := ts.startLink(key, gh)
	status, page := ts.callback(url.Values{"state": {state}, "code": {gh.Authorize(login)}})
	m := confirmCommand.FindStringSubmatch(page)
	if status != http.StatusOK || m == nil || !strings.Contains(page, login) {
		ts.t.Fatalf("callback %d:\n%s", status, page)
	}
	return m[1]
}

// TestGitHubLinkMovesPendingRewardsToWhoeverProvesTheLogin is the self-service half of
// contributors without an account: a CI result pays a login nobody has linked, and its owner
// proves it through GitHub and receives the reward.
func TestGitHubLinkMovesPendingRewardsToWhoeverProvesTheLogin(t *testing.T) {
	t.Parallel()
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		gh := githubtest.Start(t)
		ts := newTestServer(t, d, apptest.WithGitHub(gh))
		sponsor, sponsorKey := ts.createUser("sponsor")
		octo, octoKey := ts.createUser("octo")
		mallory, malloryKey := ts.createUser("mallory")
		ts.credit(sponsor.ID, 10_000_000, "BTC")
		b := ts.newBounty(sponsorKey, wire.CreateBountyRequest{Kind: "test_run", Title: "Run the suite", Link: "https://github.com/org/repo/issues/2",
			Reward: wire.MoneyRequest{Amount: 40_000, Asset: "BTC"}, Units: 5, Approval: "ci", Deadline: inAWeek()})
		rep := ts.upload(ts.ciToken(sponsorKey, b.ID), b.ID, "application/json", "",
			[]byte(`[{"run_id":"r1","test":"TestA","outcome":"pass","contributor":"Octo-Dev"},{"run_id":"r1","test":"TestB","outcome":"pass","contributor":"octo-dev"}]`), http.StatusOK)
		if rep.Paid != 2 || rep.Results[0].PaidTo != "github:octo-dev" {
			t.Fatalf("report %+v", rep)
		}

		code := ts.proveLogin(octoKey, gh, "Octo-Dev")

		// The code is bound to the account that started the link: someone who sent octo
		// their own authorisation link, or who saw the code, cannot collect with it.
		var p wire.Problem
		r := ts.do(http.MethodPost, "/v1/github/link/confirm", malloryKey, wire.GitHubLinkConfirmRequest{Code: code}, idem(newKey()), &p)
		wantProblem(t, r, p, http.StatusForbidden, "forbidden")
		if got := ts.balance(malloryKey, mallory.ID, "BTC"); got != 0 {
			t.Fatalf("mallory holds %d msat", got)
		}

		var link wire.GitHubLink
		if r = ts.do(http.MethodPost, "/v1/github/link/confirm", octoKey, wire.GitHubLinkConfirmRequest{Code: code}, idem(newKey()), &link); r.StatusCode != http.StatusOK {
			t.Fatalf("confirm: %d", r.StatusCode)
		}
		if link.AccountID != octo.ID || !strings.EqualFold(link.Login, "octo-dev") || len(link.Moved) != 1 || link.Moved[0].Amount != 80_000 {
			t.Fatalf("link = %+v", link)
		}
		if got := ts.balance(octoKey, octo.ID, "BTC"); got != 80_000 {
			t.Fatalf("octo = %d msat after linking", got)
		}
		// Confirming again moves nothing more.
		ts.do(http.MethodPost, "/v1/github/link/confirm", octoKey, wire.GitHubLinkConfirmRequest{Code: code}, idem(newKey()), &link)
		if len(link.Moved) != 0 {
			t.Fatalf("second confirmation moved %+v", link.Moved)
		}
		// Later rewards for the login go straight to octo.
		rep = ts.upload(ts.ciToken(sponsorKey, b.ID), b.ID, "application/json", "",
			[]byte(`[{"run_id":"r2","test":"TestA","outcome":"pass","contributor":"octo-dev"}]`), http.StatusOK)
		if rep.Results[0].PaidTo != octo.ID {
			t.Fatalf("after linking, paid to %q", rep.Results[0].PaidTo)
		}

		// Another account proving the same login is refused: a login has one owner.
		other := ts.proveLogin(malloryKey, gh, "octo-dev")
		r = ts.do(http.MethodPost, "/v1/github/link/confirm", malloryKey, wire.GitHubLinkConfirmRequest{Code: other}, idem(newKey()), &p)
		wantProblem(t, r, p, http.StatusConflict, "conflict")
		ts.checkLedger()
	})
}

func TestGitHubCallbackRefusesWhatItCannotTrust(t *testing.T) {
	t.Parallel()
	d := dbtest.Open(t, db.SQLite)
	gh := githubtest.Start(t)
	ts := newTestServer(t, d, apptest.WithGitHub(gh))
	_, key := ts.createUser("octo")
	state := ts.startLink(key, gh)
	used := gh.Authorize("octo-dev")
	if status, _ := ts.callback(url.Values{"state": {state}, "code": {used}}); status != http.StatusOK {
		t.Fatalf("first callback: %d", status)
	}
	for _, tc := range []struct {
		name  string
		query url.Values
		want  int
	}{
		{"a replayed code", url.Values{"state": {state}, "code": {used}}, http.StatusBadRequest},
		{"a forged state", url.Values{"state": {state + "x"}, "code": {gh.Authorize("octo-dev")}}, http.StatusBadRequest},
		{"no state", url.Values{"code": {gh.Authorize("octo-dev")}}, http.StatusBadRequest},
		{"no code", url.Values{"state": {state}}, http.StatusBadRequest},
		{"the person declined", url.Values{"error": {"access_denied"}, "state": {state}}, http.StatusBadRequest},
		{"markup in the error", url.Values{"error": {"<script>alert(1)</script>"}}, http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, page := ts.callback(tc.query)
			if status != tc.want || confirmCommand.MatchString(page) || strings.Contains(page, "<script>") {
				t.Fatalf("callback %d, want %d:\n%s", status, tc.want, page)
			}
		})
	}
	// A confirmation with a code that is not one changes nothing.
	var p wire.Problem
	r := ts.do(http.MethodPost, "/v1/github/link/confirm", key, wire.GitHubLinkConfirmRequest{Code: state}, idem(newKey()), &p)
	wantProblem(t, r, p, http.StatusBadRequest, "invalid")
}

func TestGitHubLinkWithoutAnOAuthApp(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, dbtest.Open(t, db.SQLite))
	_, key := ts.createUser("octo")
	var p wire.Problem
	r := ts.do(http.MethodPost, "/v1/github/link", key, nil, nil, &p)
	wantProblem(t, r, p, http.StatusServiceUnavailable, "unavailable")
	if !strings.Contains(p.Detail, "stipend admin github link") {
		t.Fatalf("detail %q does not say what to do instead", p.Detail)
	}
}
