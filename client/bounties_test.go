package client_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/stipend/stipend/api/wire"
	"github.com/stipend/stipend/client"
)

// inAWeek is a deadline every test bounty meets.
func inAWeek() time.Time { return time.Now().Add(7 * 24 * time.Hour).UTC().Truncate(time.Second) }

// newBounty creates a bounty with c, failing the test if the server refuses.
func newBounty(t *testing.T, c *client.Client, req wire.CreateBountyRequest) *wire.Bounty {
	t.Helper()
	b, err := c.CreateBounty(context.Background(), req, "")
	if err != nil {
		t.Fatalf("creating a bounty: %v", err)
	}
	return b
}

// ciClient makes a CI token for one bounty with the sponsor's client, and returns a client
// holding it, as a CI job would.
func (ts *testServer) ciClient(t *testing.T, sponsor *client.Client, bountyID string) *client.Client {
	t.Helper()
	k, err := sponsor.CreateKey(context.Background(), wire.CreateKeyRequest{Name: "ci", Scopes: []string{"ci:report:" + bountyID}})
	if err != nil {
		t.Fatalf("creating a CI token: %v", err)
	}
	return client.New(ts.url, k.Secret, fast())
}

// junitFile is a JUnit report of n tests of one suite, the first passing of which pass,
// naming neither run nor contributor, as test runners write them.
func junitFile(n, passing int) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, `<?xml version="1.0"?><testsuites><testsuite name="e2e" tests="%d">`, n)
	for i := range n {
		fmt.Fprintf(&b, `<testcase classname="e2e" name="Test%03d" time="0.01">`, i)
		if i >= passing {
			b.WriteString(`<failure message="expected 1, got 2">trace</failure>`)
		}
		b.WriteString(`</testcase>`)
	}
	b.WriteString(`</testsuite></testsuites>`)
	return []byte(b.String())
}

// TestBountyLifecycle creates, reads, lists, tops up and cancels a bounty, and reads its
// statement without an API key, since bounties are public: anyone may check what a sponsor
// put in and what was paid.
func TestBountyLifecycle(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ctx := context.Background()
	sponsor, sponsorClient := ts.createUser(t, "sponsor")
	ts.credit(t, sponsor.ID, 10_000_000, "BTC")
	public := client.New(ts.url, "", fast())

	req := wire.CreateBountyRequest{Kind: "test_run", Title: "Run the e2e suite on ARM", Link: "https://github.com/org/repo/issues/1",
		Reward: wire.MoneyRequest{Amount: 50_000, Asset: "BTC"}, Units: 10, Approval: "ci", Deadline: inAWeek()}
	var first, second client.Response
	b, err := sponsorClient.CreateBounty(client.WithResponse(ctx, &first), req, "bounty-1")
	if err != nil {
		t.Fatal(err)
	}
	// The test server's fee is 2.5 %: 1250 msat on a 50 sat reward, charged on top.
	if b.Status != "open" || b.SponsorID != sponsor.ID || b.FeePerUnit.Amount != 1250 || b.FeeBPS != 250 ||
		b.Cost.Amount != 10*(50_000+1250) || b.Reward.Unit != "msat" || !b.Deadline.Equal(req.Deadline) {
		t.Fatalf("created bounty = %+v", b)
	}
	// Creating moves money, so the same key gives the same bounty and funds it once.
	again, err := sponsorClient.CreateBounty(client.WithResponse(ctx, &second), req, "bounty-1")
	if err != nil || again.ID != b.ID || first.Replayed || !second.Replayed {
		t.Fatalf("repeat = %+v, %v (replayed %v)", again, err, second.Replayed)
	}
	if got := available(t, sponsorClient, "", "BTC"); got != 10_000_000-512_500 {
		t.Fatalf("sponsor has %d msat, want 9487500: the bounty must be funded once", got)
	}

	got, err := public.Bounty(ctx, b.ID)
	if err != nil || got.ID != b.ID || got.Title != req.Title {
		t.Fatalf("Bounty without a key = %+v, %v", got, err)
	}
	if _, err := public.Bounty(ctx, "bnt_missing"); client.ErrorCode(err) != "not_found" {
		t.Fatalf("Bounty(bnt_missing) = %v, want not_found", err)
	}
	newBounty(t, sponsorClient, wire.CreateBountyRequest{Kind: "docs", Title: "Document the CLI", Reward: wire.MoneyRequest{Amount: 100, Asset: "BTC"},
		Units: 1, Approval: "review", Deadline: inAWeek()})
	for _, tt := range []struct {
		name string
		f    client.BountyFilter
		want int
	}{
		{"all", client.BountyFilter{}, 2},
		{"by kind", client.BountyFilter{Kind: "test_run"}, 1},
		{"by words", client.BountyFilter{Query: "ARM"}, 1},
		{"by sponsor", client.BountyFilter{SponsorID: sponsor.ID, Status: "open"}, 2},
		{"cancelled", client.BountyFilter{Status: "cancelled"}, 0},
		{"one a page", client.BountyFilter{Limit: 1}, 1},
	} {
		page, err := public.Bounties(ctx, tt.f)
		if err != nil || len(page.Data) != tt.want {
			t.Fatalf("Bounties %s = %+v, %v: want %d", tt.name, page, err, tt.want)
		}
	}
	if _, err := public.Bounties(ctx, client.BountyFilter{Status: "sleeping"}); client.ErrorCode(err) != "invalid" {
		t.Fatalf("Bounties with a bad status = %v, want invalid", err)
	}

	topped, err := sponsorClient.TopUpBounty(ctx, b.ID, 5, "")
	if err != nil || topped.Units != 15 || topped.Cost.Amount != 15*51_250 {
		t.Fatalf("TopUpBounty = %+v, %v", topped, err)
	}
	cancelled, err := sponsorClient.CancelBounty(ctx, b.ID, "")
	if err != nil || cancelled.Status != "cancelled" || cancelled.ClosedAt == nil {
		t.Fatalf("CancelBounty = %+v, %v", cancelled, err)
	}
	st, err := public.BountyStatement(ctx, b.ID, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if st.Bounty.ID != b.ID || st.FundedRewards.Amount != 750_000 || st.FundedFees.Amount != 18_750 ||
		st.Refunded.Amount != 768_750 || st.Escrow.Amount != 0 || st.PaidRewards.Amount != 0 || len(st.Transactions) != 3 {
		t.Fatalf("statement = %+v", st)
	}
	page, err := public.BountyStatement(ctx, b.ID, "", 1)
	if err != nil || len(page.Transactions) != 1 || page.NextCursor == "" {
		t.Fatalf("a statement page of one = %+v, %v", page, err)
	}
	if got := available(t, sponsorClient, "", "BTC"); got != 10_000_000-100-3 {
		t.Fatalf("sponsor has %d msat, want all back but the docs bounty (100 msat and a 3 msat fee)", got)
	}

	// An empty id would address another route, so each is refused without a request.
	for name, err := range map[string]error{
		"Bounty":          func() error { _, err := public.Bounty(ctx, ""); return err }(),
		"BountyStatement": func() error { _, err := public.BountyStatement(ctx, "", "", 0); return err }(),
		"TopUpBounty":     func() error { _, err := sponsorClient.TopUpBounty(ctx, "", 1, ""); return err }(),
		"CancelBounty":    func() error { _, err := sponsorClient.CancelBounty(ctx, "", ""); return err }(),
		"ClaimBounty":     func() error { _, err := sponsorClient.ClaimBounty(ctx, ""); return err }(),
		"ReleaseClaim":    func() error { _, err := sponsorClient.ReleaseClaim(ctx, b.ID, ""); return err }(),
		"Submit": func() error {
			_, err := sponsorClient.Submit(ctx, "", wire.CreateSubmissionRequest{Evidence: "x"})
			return err
		}(),
		"Submissions": func() error { _, err := sponsorClient.Submissions(ctx, ""); return err }(),
		"ApproveSubmission": func() error {
			_, err := sponsorClient.ApproveSubmission(ctx, b.ID, "", "")
			return err
		}(),
		"RejectSubmission": func() error { _, err := sponsorClient.RejectSubmission(ctx, "", "sub_1", "no"); return err }(),
		"ReportResults": func() error {
			_, err := sponsorClient.ReportResults(ctx, "", client.FormatJUnit, "", "", strings.NewReader("<x/>"), "")
			return err
		}(),
	} {
		if err == nil || client.ErrorCode(err) != "" {
			t.Fatalf("%s with an empty id = %v, want a local error", name, err)
		}
	}
}

// TestReportResults uploads CI results in each format with a CI token bound to the bounty:
// passing results are paid while units last, a repeat of the same run is all duplicates, and
// a malformed file is refused with the server's reason.
func TestReportResults(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ctx := context.Background()
	sponsor, sponsorClient := ts.createUser(t, "sponsor")
	alice, _ := ts.createUser(t, "alice")
	ts.credit(t, sponsor.ID, 10_000_000, "BTC")
	b := newBounty(t, sponsorClient, wire.CreateBountyRequest{Kind: "test_run", Title: "Run the suite",
		Reward: wire.MoneyRequest{Amount: 10_000, Asset: "BTC"}, Units: 10, Approval: "ci", Deadline: inAWeek()})
	ci := ts.ciClient(t, sponsorClient, b.ID)

	rep, err := ci.ReportResults(ctx, b.ID, client.FormatJUnit, "run-1", "octocat", bytes.NewReader(junitFile(6, 4)), "")
	if err != nil {
		t.Fatal(err)
	}
	if rep.BountyID != b.ID || rep.Paid != 4 || rep.Failing != 2 || rep.AmountPaid.Amount != 40_000 || rep.UnitsLeft != 6 || len(rep.Results) != 6 {
		t.Fatalf("report = %+v", rep)
	}
	if v := rep.Results[0]; v.RunID != "run-1" || v.Contributor != "octocat" || v.PaidTo != "github:octocat" || v.Test != "e2e.Test000" {
		t.Fatalf("first verdict = %+v: the defaults must name the run and the contributor", v)
	}
	again, err := ci.ReportResults(ctx, b.ID, client.FormatJUnit, "run-1", "octocat", bytes.NewReader(junitFile(6, 4)), "")
	if err != nil || again.Duplicate != 6 || again.Paid != 0 || again.UnitsLeft != 6 {
		t.Fatalf("the same run again = %+v, %v: want all duplicates", again, err)
	}

	gotest := `{"Action":"run","Package":"example.com/p","Test":"TestA"}
{"Action":"pass","Package":"example.com/p","Test":"TestA","Elapsed":0.01}
{"Action":"skip","Package":"example.com/p","Test":"TestB","Elapsed":0}
{"Action":"pass","Package":"example.com/p","Elapsed":0.02}
`
	rep, err = ci.ReportResults(ctx, b.ID, client.FormatGoTestJSON, "run-2", "octocat", strings.NewReader(gotest), "")
	if err != nil || rep.Paid != 1 || rep.Rejected != 1 || len(rep.Results) != 2 || rep.Results[0].Test != "example.com/p.TestA" {
		t.Fatalf("go test -json report = %+v, %v", rep, err)
	}
	// The JSON format names its own runs and contributors; the defaults fill what it leaves
	// out. Seven passing results meet five units left.
	var js strings.Builder
	js.WriteString(`[`)
	for i := range 7 {
		fmt.Fprintf(&js, `{"test":"T%d","outcome":"passed","contributor":"alice-gh"},`, i)
	}
	js.WriteString(`{"run_id":"run-9","test":"T0","outcome":"failed"}]`)
	rep, err = ci.ReportResults(ctx, b.ID, client.FormatJSON, "run-3", "octocat", strings.NewReader(js.String()), "")
	if err != nil || rep.Paid != 5 || rep.OverBudget != 2 || rep.Failing != 1 || rep.UnitsLeft != 0 || rep.Results[7].Contributor != "octocat" {
		t.Fatalf("JSON report = %+v, %v", rep, err)
	}

	// Rewards for an unlinked login wait; linking it moves them into the account.
	link, err := ts.adminClient().LinkGitHub(ctx, wire.GitHubLinkRequest{AccountID: alice.ID, Login: "alice-gh"}, "")
	if err != nil || link.AccountID != alice.ID || len(link.Moved) != 1 || link.Moved[0].Amount != 50_000 {
		t.Fatalf("LinkGitHub = %+v, %v: want alice's five rewards moved", link, err)
	}

	var e *client.Error
	_, err = ci.ReportResults(ctx, b.ID, client.FormatJUnit, "run-4", "octocat", strings.NewReader("<testsuite><testcase name="), "")
	if !errors.As(err, &e) || e.StatusCode != http.StatusBadRequest || e.Problem.Code != "invalid" || !strings.Contains(e.Problem.Detail, "XML") {
		t.Fatalf("a truncated JUnit file = %v, want 400 invalid saying what is wrong", err)
	}
	if _, err := sponsorClient.ReportResults(ctx, b.ID, client.FormatJUnit, "run-5", "octocat", bytes.NewReader(junitFile(1, 1)), ""); client.ErrorCode(err) != "forbidden" {
		t.Fatalf("results with the sponsor's ordinary key = %v, want forbidden: only a CI token reports", err)
	}
	if _, err := ci.ReportResults(ctx, b.ID, "tap", "", "", strings.NewReader("ok 1"), ""); err == nil || client.ErrorCode(err) != "" {
		t.Fatalf("an unknown format = %v, want a local error", err)
	}
	if _, err := ci.ReportResults(ctx, b.ID, client.FormatJSON, "", "", iotest.ErrReader(io.ErrUnexpectedEOF), ""); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("a body that cannot be read = %v, want its error", err)
	}
}

// attempt is what a proxy saw of one upload.
type attempt struct {
	key, contentType, query string
	body                    []byte
}

// TestReportResultsRetriesWithTheSameBodyAndKey loses the answer to an upload that the
// server ran. The client must send the same bytes again, with the same key, query and
// Content-Type, so that the server recognises the request and replays its report instead of
// paying the results twice or refusing a key used for "another" request.
func TestReportResultsRetriesWithTheSameBodyAndKey(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	sponsor, sponsorClient := ts.createUser(t, "sponsor")
	ts.credit(t, sponsor.ID, 10_000_000, "BTC")
	b := newBounty(t, sponsorClient, wire.CreateBountyRequest{Kind: "test_run", Title: "Run the suite",
		Reward: wire.MoneyRequest{Amount: 10_000, Asset: "BTC"}, Units: 100, Approval: "ci", Deadline: inAWeek()})
	k, err := sponsorClient.CreateKey(context.Background(), wire.CreateKeyRequest{Name: "ci", Scopes: []string{"ci:report:" + b.ID}})
	if err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	var seen []attempt
	p := newProxy(t, ts.url, func(n int, w http.ResponseWriter, r *http.Request, forward http.Handler) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("reading an upload: %v", err)
		}
		mu.Lock()
		seen = append(seen, attempt{r.Header.Get(client.HeaderIdempotencyKey), r.Header.Get("Content-Type"), r.URL.RawQuery, body})
		mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
		if n == 1 {
			forward.ServeHTTP(httptest.NewRecorder(), r) // the server pays; the answer is lost
			answer(w, http.StatusBadGateway, "bad gateway")
			return
		}
		forward.ServeHTTP(w, r)
	})
	// The body is a reader that can be read once only, as a file or a pipe is.
	file := junitFile(30, 20)
	var resp client.Response
	var progress [][2]int64
	ctx := client.WithUploadProgress(client.WithResponse(context.Background(), &resp), func(sent, total int64) {
		progress = append(progress, [2]int64{sent, total})
	})
	rep, err := client.New(p.URL, k.Secret, fast()).ReportResults(ctx, b.ID, client.FormatJUnit, "run-1", "octocat",
		iotest.OneByteReader(bytes.NewReader(file)), "")
	if err != nil {
		t.Fatal(err)
	}
	if !resp.Replayed || rep.Paid != 20 || rep.Failing != 10 {
		t.Fatalf("report %+v (replayed %v): want the first attempt's report, replayed", rep, resp.Replayed)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 2 || seen[0].key == "" || seen[0].key != resp.IdempotencyKey {
		t.Fatalf("the proxy saw %d attempts, first key %q, reported key %q", len(seen), seen[0].key, resp.IdempotencyKey)
	}
	for _, a := range seen {
		if a.key != seen[0].key || a.contentType != "application/xml" || a.query != "contributor=octocat&run_id=run-1" || !bytes.Equal(a.body, file) {
			t.Fatalf("attempt with key %q, type %q, query %q, %d bytes; want every attempt the same as the first, the whole file",
				a.key, a.contentType, a.query, len(a.body))
		}
	}
	// Each attempt's sending is followed from 0 to the whole body, and the count starts over
	// for the retry.
	total := int64(len(file))
	restarts := 0
	for i, pr := range progress {
		if pr[1] != total || pr[0] < 1 || pr[0] > total {
			t.Fatalf("progress %v, want a count of at most %d bytes", pr, total)
		}
		if i > 0 && pr[0] <= progress[i-1][0] {
			restarts++
		}
	}
	if restarts != 1 || progress[len(progress)-1][0] != total {
		t.Fatalf("progress restarted %d times and ended at %v; want one restart and the whole body at the end", restarts, progress[len(progress)-1])
	}
	st, err := sponsorClient.BountyStatement(context.Background(), b.ID, "", 0)
	if err != nil || st.PaidRewards.Amount != 20*10_000 {
		t.Fatalf("statement %+v, %v: the results must be paid once", st, err)
	}
}

// TestReviewFlow claims a unit of a review bounty, hands in work and has it reviewed: the
// sponsor approves one submission, which pays, and rejects another with a reason; a stranger
// may not review, and a submitter sees only their own submissions.
func TestReviewFlow(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ctx := context.Background()
	sponsor, sponsorClient := ts.createUser(t, "sponsor")
	alice, aliceClient := ts.createUser(t, "alice")
	bob, bobClient := ts.createUser(t, "bob")
	_, strangerClient := ts.createUser(t, "stranger")
	ts.credit(t, sponsor.ID, 1_000, "USD")
	b := newBounty(t, sponsorClient, wire.CreateBountyRequest{Kind: "docs", Title: "Fix the README", Reward: wire.MoneyRequest{Amount: 200, Asset: "USD"},
		Units: 2, Approval: "review", ClaimWindow: 3600, Deadline: inAWeek()})

	claim, err := aliceClient.ClaimBounty(ctx, b.ID)
	if err != nil || claim.Status != "active" || claim.AccountID != alice.ID || !claim.ExpiresAt.After(time.Now()) {
		t.Fatalf("ClaimBounty = %+v, %v", claim, err)
	}
	spare, err := bobClient.ClaimBounty(ctx, b.ID)
	if err != nil {
		t.Fatal(err)
	}
	released, err := bobClient.ReleaseClaim(ctx, b.ID, spare.ID)
	if err != nil || released.Status != "released" {
		t.Fatalf("ReleaseClaim = %+v, %v", released, err)
	}

	good, err := aliceClient.Submit(ctx, b.ID, wire.CreateSubmissionRequest{Evidence: "https://github.com/org/repo/pull/7", ClaimID: claim.ID})
	if err != nil || good.Status != "pending" || good.ClaimID != claim.ID {
		t.Fatalf("Submit = %+v, %v", good, err)
	}
	poor, err := bobClient.Submit(ctx, b.ID, wire.CreateSubmissionRequest{Evidence: "https://github.com/org/repo/pull/8"})
	if err != nil {
		t.Fatal(err)
	}
	if list, err := sponsorClient.Submissions(ctx, b.ID); err != nil || len(list.Data) != 2 {
		t.Fatalf("the sponsor's Submissions = %+v, %v: want both", list, err)
	}
	if list, err := bobClient.Submissions(ctx, b.ID); err != nil || len(list.Data) != 1 || list.Data[0].ID != poor.ID {
		t.Fatalf("bob's Submissions = %+v, %v: want his own only", list, err)
	}

	if _, err := strangerClient.ApproveSubmission(ctx, b.ID, good.ID, ""); client.ErrorCode(err) != "forbidden" {
		t.Fatalf("a stranger's approval = %v, want forbidden", err)
	}
	approved, err := sponsorClient.ApproveSubmission(ctx, b.ID, good.ID, "approve-7")
	if err != nil || approved.Status != "approved" || approved.Transaction == "" || approved.DecidedBy != sponsor.ID {
		t.Fatalf("ApproveSubmission = %+v, %v", approved, err)
	}
	// Approving pays, so a repeat with the same key is a replay that pays once.
	var resp client.Response
	if again, err := sponsorClient.ApproveSubmission(client.WithResponse(ctx, &resp), b.ID, good.ID, "approve-7"); err != nil || again.Transaction != approved.Transaction || !resp.Replayed {
		t.Fatalf("a repeated approval = %+v, %v (replayed %v)", again, err, resp.Replayed)
	}
	rejected, err := sponsorClient.RejectSubmission(ctx, b.ID, poor.ID, "the link is broken")
	if err != nil || rejected.Status != "rejected" || rejected.Reason != "the link is broken" {
		t.Fatalf("RejectSubmission = %+v, %v", rejected, err)
	}
	if got := available(t, aliceClient, "", "USD"); got != 200 {
		t.Fatalf("alice has %d cents, want one reward of 200", got)
	}
	if got := available(t, bobClient, bob.ID, "USD"); got != 0 {
		t.Fatalf("bob has %d cents, want nothing for rejected work", got)
	}
}
