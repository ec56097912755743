package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stipend/stipend/api/wire"
	"github.com/stipend/stipend/bounties"
	"github.com/stipend/stipend/internal/jobs"
)

// ciToken makes a CI token for one bounty with the sponsor's key.
func (ts *testServer) ciToken(sponsorKey, bountyID string) string {
	ts.t.Helper()
	var k wire.CreatedKey
	if r := ts.do(http.MethodPost, "/v1/keys", sponsorKey, wire.CreateKeyRequest{Name: "ci", Scopes: []string{"ci:report:" + bountyID}}, nil, &k); r.StatusCode != http.StatusCreated {
		ts.t.Fatalf("creating a CI token: %d", r.StatusCode)
	}
	return k.Secret
}

// newBounty creates a bounty with the sponsor's key.
func (ts *testServer) newBounty(key string, req wire.CreateBountyRequest) wire.Bounty {
	ts.t.Helper()
	var b wire.Bounty
	if r := ts.do(http.MethodPost, "/v1/bounties", key, req, idem(newKey()), &b); r.StatusCode != http.StatusCreated {
		ts.t.Fatalf("creating a bounty: %d", r.StatusCode)
	}
	return b
}

// upload sends CI results and returns the report, or fails unless the status is want.
func (ts *testServer) upload(token, bountyID, contentType, query string, body []byte, want int) wire.ResultsReport {
	ts.t.Helper()
	var rep wire.ResultsReport
	h := idem(newKey())
	h.Set("Content-Type", contentType)
	r := ts.do(http.MethodPost, "/v1/bounties/"+bountyID+"/results"+query, token, body, h, &rep)
	if r.StatusCode != want {
		ts.t.Fatalf("upload: %d, want %d", r.StatusCode, want)
	}
	return rep
}

// junitFile writes a JUnit report of n tests, the first passing of which pass, each naming
// one of the contributors in turn.
func junitFile(run string, n, passing int, contributors []string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, `<?xml version="1.0"?><testsuites><testsuite name="e2e" tests="%d"><properties><property name="run_id" value="%s"/></properties>`, n, run)
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, `<testcase classname="e2e" name="Test%03d" time="0.01" contributor="%s">`, i, contributors[i%len(contributors)])
		if i >= passing {
			b.WriteString(`<failure message="expected 1, got 2">trace</failure>`)
		}
		b.WriteString(`</testcase>`)
	}
	b.WriteString(`</testsuite></testsuites>`)
	return []byte(b.String())
}

// checkLedger verifies the whole ledger: every transaction sums to zero per asset, every
// cached balance equals its entries, no bounded account is negative.
func (ts *testServer) checkLedger() {
	ts.t.Helper()
	ctx := context.Background()
	for _, q := range []string{
		`SELECT COUNT(*) FROM (SELECT transaction_id FROM ledger_entries GROUP BY transaction_id, asset HAVING SUM(amount) <> 0) x`,
		`SELECT COUNT(*) FROM ledger_balances b WHERE b.balance <> (SELECT COALESCE(SUM(e.amount), 0) FROM ledger_entries e
			WHERE e.address = b.address AND e.asset = b.asset)`,
		`SELECT COUNT(*) FROM ledger_balances WHERE balance < 0 AND address NOT LIKE 'external:%'`,
	} {
		var n int
		if err := ts.store.DB().QueryRow(ctx, q).Scan(&n); err != nil {
			ts.t.Fatal(err)
		}
		if n != 0 {
			ts.t.Fatalf("ledger invariant broken (%d rows): %s", n, q)
		}
	}
}

func inAWeek() time.Time { return time.Now().Add(7 * 24 * time.Hour).UTC().Truncate(time.Second) }

// TestCIBountyPaysOneRewardPerUnit is the first scenario: a 100-unit test_run bounty
// of 50 sat, a JUnit upload of 150 tests (120 passing) for three contributors.
func TestCIBountyPaysOneRewardPerUnit(t *testing.T) {
	t.Parallel()
	forEachServer(t, func(t *testing.T, ts *testServer) {
		sponsor, sponsorKey := ts.createUser("sponsor")
		alice, aliceKey := ts.createUser("alice")
		bob, bobKey := ts.createUser("bob")
		ts.credit(sponsor.ID, 10_000_000, "BTC")
		// Alice has linked her GitHub login already; bob and carol have not.
		ts.do(http.MethodPost, "/v1/admin/github-links", ts.admin, wire.GitHubLinkRequest{AccountID: alice.ID, Login: "alice-gh"}, idem(newKey()), nil)

		b := ts.newBounty(sponsorKey, wire.CreateBountyRequest{Kind: "test_run", Title: "Run the e2e suite", Link: "https://github.com/org/repo/issues/1",
			Reward: wire.MoneyRequest{Amount: 50_000, Asset: "BTC"}, Units: 100, Approval: "ci", Deadline: inAWeek()})
		if b.FeePerUnit.Amount != 1250 || b.Cost.Amount != 100*(50_000+1250) || b.FeeBPS != 250 {
			t.Fatalf("bounty = %+v; want a fee of 1250 msat per unit on top", b)
		}
		if got := ts.balance(sponsorKey, sponsor.ID, "BTC"); got != 10_000_000-5_125_000 {
			t.Fatalf("sponsor after funding = %d msat", got)
		}
		token := ts.ciToken(sponsorKey, b.ID)
		file := junitFile("run-1", 150, 120, []string{"alice-gh", "bob-gh", "carol-gh"})
		rep := ts.upload(token, b.ID, "application/xml", "", file, http.StatusOK)
		if rep.Paid != 100 || rep.OverBudget != 20 || rep.Failing != 30 || rep.AmountPaid.Amount != 5_000_000 || rep.UnitsLeft != 0 || len(rep.Results) != 150 {
			t.Fatalf("report = paid %d, over %d, failing %d, amount %d, left %d", rep.Paid, rep.OverBudget, rep.Failing, rep.AmountPaid.Amount, rep.UnitsLeft)
		}
		if rep.Results[0].PaidTo != alice.ID || rep.Results[1].PaidTo != "github:bob-gh" || rep.Results[120].Status != "failing" {
			t.Fatalf("verdicts = %+v, %+v, %+v", rep.Results[0], rep.Results[1], rep.Results[120])
		}
		again := ts.upload(token, b.ID, "application/xml", "", file, http.StatusOK)
		if again.Paid != 0 || again.Duplicate != 150 {
			t.Fatalf("the same upload again: paid %d, duplicate %d", again.Paid, again.Duplicate)
		}

		var st wire.BountyStatement
		ts.do(http.MethodGet, "/v1/bounties/"+b.ID+"/statement", "", nil, nil, &st)
		if st.Escrow.Amount != 0 || st.PaidRewards.Amount != 5_000_000 || st.FeesEarned.Amount != 125_000 ||
			st.FundedRewards.Amount+st.FundedFees.Amount != 5_125_000 || st.Pending.Amount != 66*50_000 {
			t.Fatalf("statement = %+v", st)
		}
		if got := ts.balance(aliceKey, alice.ID, "BTC"); got != 34*50_000 {
			t.Fatalf("alice = %d msat, want 34 rewards", got)
		}
		// Bob links his login: his pending rewards become his.
		var link wire.GitHubLink
		ts.do(http.MethodPost, "/v1/admin/github-links", ts.admin, wire.GitHubLinkRequest{AccountID: bob.ID, Login: "bob-gh"}, idem(newKey()), &link)
		if len(link.Moved) != 1 || link.Moved[0].Amount != 33*50_000 {
			t.Fatalf("link = %+v", link)
		}
		if got := ts.balance(bobKey, bob.ID, "BTC"); got != 33*50_000 {
			t.Fatalf("bob = %d msat after linking", got)
		}
		// Everything the sponsor paid is either a reward or a fee.
		alicePaid, bobPaid := ts.balance(aliceKey, alice.ID, "BTC"), ts.balance(bobKey, bob.ID, "BTC")
		ts.do(http.MethodGet, "/v1/bounties/"+b.ID+"/statement", "", nil, nil, &st)
		if alicePaid+bobPaid+st.Pending.Amount+st.FeesEarned.Amount != 5_125_000 {
			t.Fatalf("alice %d + bob %d + pending %d + fees %d != 5125000", alicePaid, bobPaid, st.Pending.Amount, st.FeesEarned.Amount)
		}
		ts.checkLedger()
	})
}

// TestReviewBountyPaysOnApprovalOnly covers a docs bounty approved by review.
func TestReviewBountyPaysOnApprovalOnly(t *testing.T) {
	t.Parallel()
	forEachServer(t, func(t *testing.T, ts *testServer) {
		sponsor, sponsorKey := ts.createUser("sponsor")
		reviewer, reviewerKey := ts.createUser("reviewer")
		writer, writerKey := ts.createUser("writer")
		_, strangerKey := ts.createUser("stranger")
		ts.credit(sponsor.ID, 1000, "USD")
		b := ts.newBounty(sponsorKey, wire.CreateBountyRequest{Kind: "docs", Title: "Document the CLI", Reward: wire.MoneyRequest{Amount: 100, Asset: "USD"},
			Units: 2, Approval: "review", Reviewers: []string{reviewer.Handle}, ClaimWindow: 3600, Deadline: inAWeek()})

		var claim wire.Claim
		if r := ts.do(http.MethodPost, "/v1/bounties/"+b.ID+"/claims", writerKey, nil, nil, &claim); r.StatusCode != http.StatusCreated {
			t.Fatalf("claim = %d", r.StatusCode)
		}
		var p wire.Problem
		r := ts.do(http.MethodPost, "/v1/bounties/"+b.ID+"/claims", writerKey, nil, nil, &p)
		wantProblem(t, r, p, http.StatusConflict, "conflict")

		var sub wire.Submission
		ts.do(http.MethodPost, "/v1/bounties/"+b.ID+"/submissions", writerKey, wire.CreateSubmissionRequest{Evidence: "https://github.com/org/repo/pull/7", ClaimID: claim.ID}, nil, &sub)
		r = ts.do(http.MethodPost, "/v1/bounties/"+b.ID+"/submissions/"+sub.ID+"/approve", strangerKey, nil, idem(newKey()), &p)
		wantProblem(t, r, p, http.StatusForbidden, "forbidden")
		r = ts.do(http.MethodPost, "/v1/bounties/"+b.ID+"/submissions/"+sub.ID+"/approve", writerKey, nil, idem(newKey()), &p)
		wantProblem(t, r, p, http.StatusForbidden, "forbidden")
		if got := ts.balance(writerKey, writer.ID, "USD"); got != 0 {
			t.Fatalf("writer paid %d cents before approval", got)
		}
		var approved wire.Submission
		if r := ts.do(http.MethodPost, "/v1/bounties/"+b.ID+"/submissions/"+sub.ID+"/approve", reviewerKey, nil, idem(newKey()), &approved); r.StatusCode != http.StatusOK || approved.Status != "approved" {
			t.Fatalf("approve = %d %+v", r.StatusCode, approved)
		}
		if got := ts.balance(writerKey, writer.ID, "USD"); got != 100 {
			t.Fatalf("writer = %d cents, want 100", got)
		}
		r = ts.do(http.MethodPost, "/v1/bounties/"+b.ID+"/submissions/"+sub.ID+"/approve", reviewerKey, nil, idem(newKey()), &p)
		wantProblem(t, r, p, http.StatusConflict, "conflict")

		var sub2, rejected wire.Submission
		ts.do(http.MethodPost, "/v1/bounties/"+b.ID+"/submissions", writerKey, wire.CreateSubmissionRequest{Evidence: "https://github.com/org/repo/pull/8"}, nil, &sub2)
		ts.do(http.MethodPost, "/v1/bounties/"+b.ID+"/submissions/"+sub2.ID+"/reject", sponsorKey, wire.RejectRequest{Reason: "duplicates #7"}, nil, &rejected)
		if rejected.Status != "rejected" || rejected.Reason != "duplicates #7" {
			t.Fatalf("reject = %+v", rejected)
		}
		if got := ts.balance(writerKey, writer.ID, "USD"); got != 100 {
			t.Fatalf("a rejection paid: writer = %d cents", got)
		}
		var mine wire.SubmissionList
		ts.do(http.MethodGet, "/v1/bounties/"+b.ID+"/submissions", strangerKey, nil, nil, &mine)
		if len(mine.Data) != 0 {
			t.Fatalf("a stranger sees %d submissions", len(mine.Data))
		}
		// CI results cannot pay a review bounty.
		token := ts.ciToken(sponsorKey, b.ID)
		ts.upload(token, b.ID, "application/json", "", []byte(`[{"run_id":"r","test":"t","outcome":"pass","contributor":"x"}]`), http.StatusBadRequest)
		ts.checkLedger()
	})
}

// TestDeadlineReturnsTheRestOnce lets a bounty's deadline pass and runs two expiry jobs at
// once: the escrow and the rewards no GitHub login came for return to the sponsor once.
func TestDeadlineReturnsTheRestOnce(t *testing.T) {
	t.Parallel()
	forEachServer(t, func(t *testing.T, ts *testServer) {
		sponsor, sponsorKey := ts.createUser("sponsor")
		ts.credit(sponsor.ID, 1_000_000, "BTC")
		deadline := time.Now().Add(1500 * time.Millisecond)
		b := ts.newBounty(sponsorKey, wire.CreateBountyRequest{Kind: "triage", Title: "Triage the backlog",
			Reward: wire.MoneyRequest{Amount: 10_000, Asset: "BTC"}, Units: 10, Approval: "ci", Deadline: deadline})
		token := ts.ciToken(sponsorKey, b.ID)
		ts.upload(token, b.ID, "application/json", "", []byte(`[{"run_id":"r","test":"t1","outcome":"pass","contributor":"dave-gh"}]`), http.StatusOK)
		time.Sleep(time.Until(deadline) + 100*time.Millisecond)

		payload, _ := json.Marshal(bounties.ExpireJob{BountyID: b.ID})
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i := range errs {
			wg.Go(func() { errs[i] = ts.app.Bounties.HandleExpire(context.Background(), jobs.Job{Payload: payload}) })
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatalf("expiry: %v", err)
			}
		}
		// Funding took 10 × (10000 + 250); one unit was paid to a login nobody linked: all but
		// that unit's fee comes back.
		if got := ts.balance(sponsorKey, sponsor.ID, "BTC"); got != 1_000_000-250 {
			t.Fatalf("sponsor = %d msat after the deadline, want %d", got, 1_000_000-250)
		}
		var st wire.BountyStatement
		ts.do(http.MethodGet, "/v1/bounties/"+b.ID+"/statement", "", nil, nil, &st)
		if st.Bounty.Status != "expired" || st.Refunded.Amount != 9*10_250 || st.UnclaimedReturn.Amount != 10_000 || st.Escrow.Amount != 0 || st.Pending.Amount != 0 {
			t.Fatalf("statement after the deadline = %+v", st)
		}
		var p wire.Problem
		r := ts.do(http.MethodPost, "/v1/bounties/"+b.ID+"/cancel", sponsorKey, nil, idem(newKey()), &p)
		wantProblem(t, r, p, http.StatusConflict, "conflict")
		ts.upload(token, b.ID, "application/json", "", []byte(`[{"run_id":"r","test":"t2","outcome":"pass","contributor":"dave-gh"}]`), http.StatusConflict)
		ts.checkLedger()
	})
}

// TestThousandUploadsRaceForTheLastUnits sends 1,000 uploads at once, each with one new
// passing result, at a bounty with ten units left: exactly ten are paid.
func TestThousandUploadsRaceForTheLastUnits(t *testing.T) {
	t.Parallel()
	forEachServer(t, func(t *testing.T, ts *testServer) {
		ts.validate = false
		sponsor, sponsorKey := ts.createUser("sponsor")
		ts.credit(sponsor.ID, 1_000_000, "BTC")
		b := ts.newBounty(sponsorKey, wire.CreateBountyRequest{Kind: "test_run", Title: "Race", Reward: wire.MoneyRequest{Amount: 1000, Asset: "BTC"},
			Units: 10, Approval: "ci", Deadline: inAWeek()})
		token := ts.ciToken(sponsorKey, b.ID)
		const n = 1000
		var mu sync.Mutex
		paid, statuses := 0, map[int]int{}
		var wg sync.WaitGroup
		sem := make(chan struct{}, 64)
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sem <- struct{}{}
				defer func() { <-sem }()
				body := []byte(fmt.Sprintf(`[{"run_id":"run-%d","test":"TestRace","outcome":"pass","contributor":"racer"}]`, i))
				h := http.Header{"Idempotency-Key": {newKey()}, "Content-Type": {"application/json"}}
				r, out := ts.raw(http.MethodPost, "/v1/bounties/"+b.ID+"/results", token, body, h)
				var rep wire.ResultsReport
				json.Unmarshal(out, &rep)
				mu.Lock()
				statuses[r.StatusCode]++
				paid += rep.Paid
				mu.Unlock()
			}()
		}
		wg.Wait()
		if paid != 10 || statuses[http.StatusOK] != n {
			t.Fatalf("paid %d, statuses %v; want 10 paid of %d successful uploads", paid, statuses, n)
		}
		var got wire.Bounty
		ts.do(http.MethodGet, "/v1/bounties/"+b.ID, "", nil, nil, &got)
		if got.UnitsPaid != 10 {
			t.Fatalf("units paid = %d", got.UnitsPaid)
		}
		ts.checkLedger()
	})
}

// TestBadBountyInputChangesNothing sends every bad input of the bounty API and checks each
// answer and that nothing changed.
func TestBadBountyInputChangesNothing(t *testing.T) {
	t.Parallel()
	forEachServer(t, func(t *testing.T, ts *testServer) {
		sponsor, sponsorKey := ts.createUser("sponsor")
		other, otherKey := ts.createUser("other")
		ts.credit(sponsor.ID, 1_000_000, "BTC")
		ts.credit(other.ID, 1_000_000, "BTC")
		b := ts.newBounty(sponsorKey, wire.CreateBountyRequest{Kind: "test_run", Title: "Mine", Reward: wire.MoneyRequest{Amount: 1000, Asset: "BTC"},
			Units: 5, Approval: "ci", Deadline: inAWeek()})
		ob := ts.newBounty(otherKey, wire.CreateBountyRequest{Kind: "test_run", Title: "Theirs", Reward: wire.MoneyRequest{Amount: 1000, Asset: "BTC"},
			Units: 5, Approval: "ci", Deadline: inAWeek()})
		token := ts.ciToken(sponsorKey, b.ID)
		var allToken wire.CreatedKey
		ts.do(http.MethodPost, "/v1/keys", sponsorKey, wire.CreateKeyRequest{Name: "ci all", Scopes: []string{"ci:report"}}, nil, &allToken)
		before := snapshot(t, ts)

		create := func(mut func(r *wire.CreateBountyRequest)) []byte {
			r := wire.CreateBountyRequest{Kind: "test_run", Title: "T", Reward: wire.MoneyRequest{Amount: 1000, Asset: "BTC"}, Units: 5, Approval: "ci", Deadline: inAWeek()}
			mut(&r)
			out, _ := json.Marshal(r)
			return out
		}
		huge := []byte("[" + strings.Repeat(`{"run_id":"r","test":"a-long-test-name-that-fills-the-upload","outcome":"pass","contributor":"x"},`, 60_000) + "{}]")
		goodJSON := []byte(`[{"run_id":"r","test":"t","outcome":"pass","contributor":"x"}]`)
		tests := []struct {
			name, path, key, ctype string
			body                   []byte
			status                 int
			code                   string
		}{
			{"malformed JUnit", "/v1/bounties/" + b.ID + "/results", token, "application/xml", []byte(`<testsuite><testcase name="a"></testsuite`), 400, "invalid"},
			{"JUnit with no tests", "/v1/bounties/" + b.ID + "/results", token, "application/xml", []byte(`<report/>`), 400, "invalid"},
			{"malformed JSON", "/v1/bounties/" + b.ID + "/results", token, "application/json", []byte(`[{"run_id":`), 400, "invalid"},
			{"malformed go test output", "/v1/bounties/" + b.ID + "/results?run_id=r&contributor=x", token, "application/x-ndjson", []byte("PASS\nok  \tp\t0.1s\n"), 400, "invalid"},
			{"an unknown format", "/v1/bounties/" + b.ID + "/results", token, "text/csv", []byte("a,b"), 400, "invalid"},
			{"a file over the size limit", "/v1/bounties/" + b.ID + "/results", token, "application/json", huge, 413, "too_large"},
			{"results for another sponsor's bounty", "/v1/bounties/" + ob.ID + "/results", allToken.Secret, "application/json", goodJSON, 403, "forbidden"},
			{"a token bound to another bounty", "/v1/bounties/" + ob.ID + "/results", token, "application/json", goodJSON, 403, "forbidden"},
			// Whoever may not report is refused before the upload is read, whatever it holds.
			{"malformed results for another sponsor's bounty", "/v1/bounties/" + ob.ID + "/results", allToken.Secret, "application/json", []byte(`[{"run_id":`), 403, "forbidden"},
			{"a key without ci:report", "/v1/bounties/" + b.ID + "/results", sponsorKey, "application/json", goodJSON, 403, "forbidden"},
			{"results for no bounty", "/v1/bounties/bnt_00000000000000000000000000000000/results", token, "application/json", goodJSON, 404, "not_found"},
			{"a reward of zero", "/v1/bounties", sponsorKey, "application/json", create(func(r *wire.CreateBountyRequest) { r.Reward.Amount = 0 }), 400, "invalid"},
			{"a negative reward", "/v1/bounties", sponsorKey, "application/json", create(func(r *wire.CreateBountyRequest) { r.Reward.Amount = -1000 }), 400, "invalid"},
			{"a deadline in the past", "/v1/bounties", sponsorKey, "application/json", create(func(r *wire.CreateBountyRequest) { r.Deadline = time.Now().Add(-time.Hour) }), 400, "invalid"},
			{"no units", "/v1/bounties", sponsorKey, "application/json", create(func(r *wire.CreateBountyRequest) { r.Units = 0 }), 400, "invalid"},
			{"an unknown kind", "/v1/bounties", sponsorKey, "application/json", create(func(r *wire.CreateBountyRequest) { r.Kind = "bribe" }), 400, "invalid"},
			{"reviewers on a CI bounty", "/v1/bounties", sponsorKey, "application/json", create(func(r *wire.CreateBountyRequest) { r.Reviewers = []string{other.Handle} }), 400, "invalid"},
			{"a link that is not a URL", "/v1/bounties", sponsorKey, "application/json", create(func(r *wire.CreateBountyRequest) { r.Link = "javascript:alert(1)" }), 400, "invalid"},
			{"more than the balance", "/v1/bounties", sponsorKey, "application/json", create(func(r *wire.CreateBountyRequest) { r.Units = 100_000 }), 422, "insufficient_funds"},
			{"a bounty overflowing int64", "/v1/bounties", sponsorKey, "application/json", create(func(r *wire.CreateBountyRequest) { r.Reward.Amount = 1 << 62; r.Units = 10 }), 400, "invalid"},
			{"cancelling another sponsor's bounty", "/v1/bounties/" + ob.ID + "/cancel", sponsorKey, "", nil, 403, "forbidden"},
			{"topping up another sponsor's bounty", "/v1/bounties/" + ob.ID + "/topup", sponsorKey, "application/json", []byte(`{"units":1}`), 403, "forbidden"},
			{"a CI token with a bounty's scope for a key without bounties:write", "/v1/keys", token, "application/json", []byte(`{"name":"x","scopes":["ci:report"]}`), 403, "forbidden"},
		}
		for _, tt := range tests {
			h := http.Header{"Idempotency-Key": {newKey()}}
			if tt.ctype != "" {
				h.Set("Content-Type", tt.ctype)
			}
			var p wire.Problem
			var body any
			if tt.body != nil {
				body = tt.body
			}
			r := ts.do(http.MethodPost, tt.path, tt.key, body, h, &p)
			if r.StatusCode != tt.status || p.Code != tt.code {
				t.Errorf("%s: got %d %q (%s), want %d %q", tt.name, r.StatusCode, p.Code, p.Detail, tt.status, tt.code)
			}
		}
		if after := snapshot(t, ts); after != before {
			t.Fatalf("bad input changed the database:\nbefore %s\nafter  %s", before, after)
		}
	})
}

// TestBountiesArePublic lists, searches and reads bounties without a key.
func TestBountiesArePublic(t *testing.T) {
	t.Parallel()
	ts := newTestServerSQLite(t)
	sponsor, sponsorKey := ts.createUser("sponsor")
	ts.credit(sponsor.ID, 1_000_000, "BTC")
	for _, title := range []string{"Fix flaky TestDial", "Translate the docs", "Triage 100% of issues_"} {
		ts.newBounty(sponsorKey, wire.CreateBountyRequest{Kind: "custom", Title: title, Reward: wire.MoneyRequest{Amount: 1000, Asset: "BTC"}, Units: 1, Approval: "ci", Deadline: inAWeek()})
	}
	var page wire.BountyPage
	ts.do(http.MethodGet, "/v1/bounties?q=docs", "", nil, nil, &page)
	if len(page.Data) != 1 || page.Data[0].Title != "Translate the docs" {
		t.Fatalf("search for docs = %+v", page.Data)
	}
	ts.do(http.MethodGet, "/v1/bounties?q=100%25", "", nil, nil, &page)
	if len(page.Data) != 1 {
		t.Fatalf("a search for a literal %% matched %d", len(page.Data))
	}
	ts.do(http.MethodGet, "/v1/bounties?limit=2&status=open", "", nil, nil, &page)
	if len(page.Data) != 2 || page.NextCursor == "" {
		t.Fatalf("first page = %d, next %q", len(page.Data), page.NextCursor)
	}
}
