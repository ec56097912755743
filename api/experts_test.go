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

	"github.com/stipend/stipend/accounts"
	"github.com/stipend/stipend/api/wire"
	"github.com/stipend/stipend/experts"
	"github.com/stipend/stipend/internal/apptest"
	"github.com/stipend/stipend/internal/config"
	"github.com/stipend/stipend/internal/db"
	"github.com/stipend/stipend/internal/dbtest"
	"github.com/stipend/stipend/internal/jobs"
	"github.com/stipend/stipend/payments/ledger"
)

// clock is a test clock that moves only when the test turns it, so that a deadline hours away
// can pass at once.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Now().UTC()} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// forEachClockedServer is forEachServer with the expert questions on a clock of the test's.
func forEachClockedServer(t *testing.T, fn func(t *testing.T, ts *testServer, clk *clock)) {
	t.Helper()
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		clk := newClock()
		fn(t, newTestServer(t, d, apptest.WithClock(clk.Now)), clk)
	})
}

const threeDays = 72 * 3600

// newCharity registers a charity with the admin key.
func (ts *testServer) newCharity(handle string) wire.Charity {
	ts.t.Helper()
	var ch wire.Charity
	r := ts.do(http.MethodPost, "/v1/admin/charities", ts.admin, wire.CreateCharityRequest{Handle: handle, Name: "The " + handle + " Foundation",
		Website: "https://" + handle + ".example.org", Receipt: "The " + handle + " Foundation, 501(c)(3) no. 04-3091431, 815 Eddy St, San Francisco",
		Destinations: map[string]string{"lightning": "donate@" + handle + ".example.org"}}, nil, &ch)
	if r.StatusCode != http.StatusCreated {
		ts.t.Fatalf("creating charity %s: %d", handle, r.StatusCode)
	}
	return ch
}

// setExpert sets the profile of the key's holder.
func (ts *testServer) setExpert(key string, req wire.SetExpertRequest) wire.Expert {
	ts.t.Helper()
	var e wire.Expert
	if r := ts.do(http.MethodPut, "/v1/me/expert", key, req, nil, &e); r.StatusCode != http.StatusOK {
		ts.t.Fatalf("setting an expert profile: %d", r.StatusCode)
	}
	return e
}

// ask asks an expert a question with a fresh Idempotency-Key.
func (ts *testServer) ask(key, expert, question string) wire.Question {
	ts.t.Helper()
	var q wire.Question
	if r := ts.do(http.MethodPost, "/v1/experts/"+expert+"/questions", key, wire.AskRequest{Question: question}, idem(newKey()), &q); r.StatusCode != http.StatusCreated {
		ts.t.Fatalf("asking %s: %d", expert, r.StatusCode)
	}
	return q
}

// held returns the part of an account's balance in one asset that is held, as its owner sees it.
func (ts *testServer) held(key, accountID, asset string) int64 {
	ts.t.Helper()
	var b wire.Balances
	if r := ts.do(http.MethodGet, "/v1/balances?account_id="+accountID, key, nil, nil, &b); r.StatusCode != http.StatusOK {
		ts.t.Fatalf("balances: %s", r.Status)
	}
	for _, x := range b.Data {
		if x.Asset == asset {
			return x.Held
		}
	}
	return 0
}

// ledgerBalance reads the balance of a ledger address that no API shows, such as the
// platform's fee account.
func (ts *testServer) ledgerBalance(address, asset string) int64 {
	ts.t.Helper()
	var n int64
	if err := ts.store.DB().QueryRow(context.Background(), `SELECT COALESCE(SUM(balance), 0) FROM ledger_balances WHERE address = ? AND asset = ?`,
		address, asset).Scan(&n); err != nil {
		ts.t.Fatal(err)
	}
	return n
}

// expertsSnapshot is snapshot with the expert tables: what a refused request about experts,
// charities or questions could change.
func expertsSnapshot(t *testing.T, ts *testServer) string {
	t.Helper()
	out := []any{snapshot(t, ts)}
	for _, q := range []string{
		`SELECT COUNT(*) FROM charities`,
		`SELECT COUNT(*) FROM expert_profiles`,
		`SELECT COALESCE(SUM(updated_at), 0) FROM expert_profiles`,
		`SELECT COUNT(*) FROM questions`,
		`SELECT COUNT(*) FROM questions WHERE status <> 'open' OR rating <> 0`,
		`SELECT COUNT(*) FROM donations`,
		`SELECT COUNT(*) FROM ledger_holds`,
	} {
		var n int64
		if err := ts.store.DB().QueryRow(context.Background(), q).Scan(&n); err != nil {
			t.Fatal(err)
		}
		out = append(out, n)
	}
	b, _ := json.Marshal(out)
	return string(b)
}

func expertRequest(price int64, asset string) wire.SetExpertRequest {
	return wire.SetExpertRequest{Name: "Kay Bernetes", Bio: "I run clusters for a living.", Topics: []string{"kubernetes", "go"},
		Price: wire.MoneyRequest{Amount: price, Asset: asset}, AnswerWindow: threeDays}
}

// TestExpertAnswerSplitsThePriceExactly is the whole paid path: an expert who gives a quarter
// of their earnings to a charity answers a question, and the price, held on the asker's
// balance, is shared out into the platform fee, the charity's share and the expert's earnings,
// each rounded as the README says, to the cent.
func TestExpertAnswerSplitsThePriceExactly(t *testing.T) {
	t.Parallel()
	forEachServer(t, func(t *testing.T, ts *testServer) {
		eff := ts.newCharity("eff")
		if eff.Handle != "eff" || len(eff.Received) != 0 || eff.Destinations["lightning"] == "" {
			t.Fatalf("charity = %+v", eff)
		}
		expert, expertKey := ts.createUser("kay")
		asker, askerKey := ts.createUser("asker")
		ts.credit(asker.ID, 5000, "USD")

		req := expertRequest(1001, "USD")
		req.Charity, req.CharityShareBPS = "eff", 2500
		profile := ts.setExpert(expertKey, req)
		if profile.Handle != expert.Handle || profile.Price.Amount != 1001 || profile.Price.Unit != "cent" || !profile.Accepting ||
			profile.Charity == nil || profile.Charity.ID != eff.ID || profile.Charity.Handle != "eff" || profile.CharityShareBPS != 2500 ||
			profile.AnswerWindow != threeDays || strings.Join(profile.Topics, ",") != "kubernetes,go" {
			t.Fatalf("profile = %+v", profile)
		}
		feesBefore := ts.ledgerBalance(ledger.FeesAddress, "USD")

		q := ts.ask(askerKey, expert.Handle, "How do I drain a node without evicting DaemonSet pods?")
		if q.Status != "open" || q.Price.Amount != 1001 || q.FeeBPS != apptest.FeeBPS || q.CharityID != eff.ID || q.CharityShareBPS != 2500 ||
			q.Escrow != "balance" || q.ExpertID != expert.ID || q.ExpertHandle != expert.Handle || q.AskerID != asker.ID || q.Parts != nil ||
			!q.Deadline.Equal(q.CreatedAt.Add(threeDays*time.Second)) {
			t.Fatalf("question = %+v", q)
		}
		if a, h := ts.balance(askerKey, asker.ID, "USD"), ts.held(askerKey, asker.ID, "USD"); a != 5000-1001 || h != 1001 {
			t.Fatalf("asker: available %d, held %d; want the price held", a, h)
		}
		var inbox wire.QuestionPage
		ts.do(http.MethodGet, "/v1/inbox?status=open", expertKey, nil, nil, &inbox)
		if len(inbox.Data) != 1 || inbox.Data[0].ID != q.ID || inbox.Data[0].Question != q.Question {
			t.Fatalf("inbox = %+v", inbox)
		}

		var answered wire.Question
		r := ts.do(http.MethodPost, "/v1/questions/"+q.ID+"/answer", expertKey, wire.AnswerRequest{Answer: "kubectl drain --ignore-daemonsets."}, idem(newKey()), &answered)
		if r.StatusCode != http.StatusOK || answered.Status != "answered" || answered.Answer == "" || answered.Transaction == "" || answered.ClosedAt == nil {
			t.Fatalf("answer = %d %+v", r.StatusCode, answered)
		}
		// fee = 1001 × 2.5 % = 25.025 → 25; charity = (1001 − 25) × 25 % = 244; the expert keeps
		// the remainder, 732.
		p := answered.Parts
		if p == nil || p.Fee.Amount != 25 || p.Charity.Amount != 244 || p.Earnings.Amount != 732 || p.Fee.Asset != "USD" {
			t.Fatalf("parts = %+v", p)
		}
		fees := ts.ledgerBalance(ledger.FeesAddress, "USD") - feesBefore
		var ch wire.Charity
		ts.do(http.MethodGet, "/v1/charities/eff", "", nil, nil, &ch)
		if len(ch.Received) != 1 || ch.Received[0].Asset != "USD" {
			t.Fatalf("charity after the answer = %+v", ch)
		}
		earned := ts.balance(expertKey, expert.ID, "USD")
		if fees != 25 || ch.Received[0].Amount != 244 || earned != 732 || fees+ch.Received[0].Amount+earned != 1001 {
			t.Fatalf("fee %d + charity %d + expert %d, want 25 + 244 + 732 = 1001", fees, ch.Received[0].Amount, earned)
		}
		if a, h := ts.balance(askerKey, asker.ID, "USD"), ts.held(askerKey, asker.ID, "USD"); a != 5000-1001 || h != 0 {
			t.Fatalf("asker after the answer: available %d, held %d", a, h)
		}

		var dons wire.DonationPage
		ts.do(http.MethodGet, "/v1/charities/"+eff.ID+"/donations", "", nil, nil, &dons)
		if len(dons.Data) != 1 || dons.Charity.Receipt != eff.Receipt {
			t.Fatalf("donations = %+v", dons)
		}
		d := dons.Data[0]
		if d.QuestionID != q.ID || d.DonorID != expert.ID || d.CharityID != eff.ID || d.Amount.Amount != 244 || d.Amount.Asset != "USD" ||
			d.Transaction != answered.Transaction {
			t.Fatalf("donation receipt = %+v", d)
		}

		var after wire.Expert
		ts.do(http.MethodGet, "/v1/experts/"+expert.Handle, "", nil, nil, &after)
		if after.Answered != 1 {
			t.Fatalf("the expert's record = %+v", after)
		}
		var pr wire.Problem
		r = ts.do(http.MethodPost, "/v1/questions/"+q.ID+"/answer", expertKey, wire.AnswerRequest{Answer: "again"}, idem(newKey()), &pr)
		wantProblem(t, r, pr, http.StatusConflict, "conflict")
		r = ts.do(http.MethodPost, "/v1/questions/"+q.ID+"/decline", expertKey, wire.DeclineRequest{}, idem(newKey()), &pr)
		wantProblem(t, r, pr, http.StatusConflict, "conflict")
		if got := ts.balance(expertKey, expert.ID, "USD"); got != 732 {
			t.Fatalf("the expert has %d cents after answering twice, want 732", got)
		}

		// A second answer makes a second receipt; the receipts page newest first.
		q2 := ts.ask(askerKey, expert.Handle, "And how do I cordon it first?")
		if r := ts.do(http.MethodPost, "/v1/questions/"+q2.ID+"/answer", expertKey, wire.AnswerRequest{Answer: "kubectl cordon."}, idem(newKey()), nil); r.StatusCode != http.StatusOK {
			t.Fatalf("the second answer = %d", r.StatusCode)
		}
		var first, second wire.DonationPage
		ts.do(http.MethodGet, "/v1/charities/eff/donations?limit=1", "", nil, nil, &first)
		ts.do(http.MethodGet, "/v1/charities/eff/donations?limit=1&cursor="+first.NextCursor, "", nil, nil, &second)
		if len(first.Data) != 1 || first.Data[0].QuestionID != q2.ID || first.NextCursor == "" ||
			len(second.Data) != 1 || second.Data[0].QuestionID != q.ID || second.NextCursor != "" {
			t.Fatalf("receipts page by page: %+v, then %+v", first, second)
		}
		ts.do(http.MethodGet, "/v1/charities/eff", "", nil, nil, &ch)
		if len(ch.Received) != 1 || ch.Received[0].Amount != 2*244 {
			t.Fatalf("the charity received %+v, want two shares of 244 cents", ch.Received)
		}
		ts.checkLedger()
	})
}

// TestExpertDeclineRefundsTheAsker has the expert turn a question down: the hold returns to
// the asker whole, and the question can be neither answered nor declined again.
func TestExpertDeclineRefundsTheAsker(t *testing.T) {
	t.Parallel()
	forEachServer(t, func(t *testing.T, ts *testServer) {
		expert, expertKey := ts.createUser("kay")
		asker, askerKey := ts.createUser("asker")
		ts.credit(asker.ID, 10_000_000, "BTC")
		ts.setExpert(expertKey, expertRequest(2_000_000, "BTC"))
		q := ts.ask(askerKey, expert.Handle, "Is etcd happy with 7 members?")
		if got := ts.balance(askerKey, asker.ID, "BTC"); got != 8_000_000 {
			t.Fatalf("asker = %d msat with the question open, want 8000000", got)
		}
		var declined wire.Question
		r := ts.do(http.MethodPost, "/v1/questions/"+q.ID+"/decline", expertKey, wire.DeclineRequest{Reason: "Out of my depth."}, idem(newKey()), &declined)
		if r.StatusCode != http.StatusOK || declined.Status != "declined" || declined.DeclineReason != "Out of my depth." ||
			declined.Transaction == "" || declined.ClosedAt == nil || declined.Parts != nil {
			t.Fatalf("decline = %d %+v", r.StatusCode, declined)
		}
		if a, h := ts.balance(askerKey, asker.ID, "BTC"), ts.held(askerKey, asker.ID, "BTC"); a != 10_000_000 || h != 0 {
			t.Fatalf("asker after the decline: available %d, held %d; want everything back", a, h)
		}
		if got := ts.balance(expertKey, expert.ID, "BTC"); got != 0 {
			t.Fatalf("the expert was paid %d msat for declining", got)
		}
		var p wire.Problem
		r = ts.do(http.MethodPost, "/v1/questions/"+q.ID+"/answer", expertKey, wire.AnswerRequest{Answer: "On second thought..."}, idem(newKey()), &p)
		wantProblem(t, r, p, http.StatusConflict, "conflict")
		r = ts.do(http.MethodPost, "/v1/questions/"+q.ID+"/decline", expertKey, wire.DeclineRequest{}, idem(newKey()), &p)
		wantProblem(t, r, p, http.StatusConflict, "conflict")
		var mine wire.QuestionPage
		ts.do(http.MethodGet, "/v1/questions?status=declined", askerKey, nil, nil, &mine)
		if len(mine.Data) != 1 || mine.Data[0].ID != q.ID {
			t.Fatalf("the asker's declined questions = %+v", mine)
		}
		if a := ts.balance(askerKey, asker.ID, "BTC"); a != 10_000_000 {
			t.Fatalf("asker = %d msat after the refused retries", a)
		}
		ts.checkLedger()
	})
}

// TestExpertDeadlineRefundsTheAskerOnce lets a question's deadline pass on the test's clock:
// an answer that comes too late is refused and changes nothing, and two expiry jobs run at
// once return the price to the asker once.
func TestExpertDeadlineRefundsTheAskerOnce(t *testing.T) {
	t.Parallel()
	forEachClockedServer(t, func(t *testing.T, ts *testServer, clk *clock) {
		expert, expertKey := ts.createUser("kay")
		asker, askerKey := ts.createUser("asker")
		ts.credit(asker.ID, 5000, "EUR")
		req := expertRequest(1500, "EUR")
		req.AnswerWindow = 3600
		ts.setExpert(expertKey, req)
		q := ts.ask(askerKey, expert.Handle, "Why does my pod restart every hour?")
		payload, _ := json.Marshal(experts.ExpireJob{QuestionID: q.ID})
		expire := func() error {
			return ts.app.Experts.HandleExpire(context.Background(), jobs.Job{Kind: experts.JobExpire, Payload: payload})
		}

		// Before the deadline the job waits for it and ends nothing.
		if wait, ok := jobs.IsSnooze(expire()); !ok || wait <= 0 || wait > time.Hour {
			t.Fatalf("an expiry before the deadline: snooze %v %v, want to wait for the deadline", wait, ok)
		}
		clk.advance(time.Hour)
		before := expertsSnapshot(t, ts)
		var p wire.Problem
		r := ts.do(http.MethodPost, "/v1/questions/"+q.ID+"/answer", expertKey, wire.AnswerRequest{Answer: "Your liveness probe."}, idem(newKey()), &p)
		wantProblem(t, r, p, http.StatusConflict, "conflict")
		if after := expertsSnapshot(t, ts); after != before {
			t.Fatalf("a late answer changed the database:\nbefore %s\nafter  %s", before, after)
		}
		if got := ts.held(askerKey, asker.ID, "EUR"); got != 1500 {
			t.Fatalf("asker holds %d cents after the late answer, want 1500", got)
		}

		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i := range errs {
			wg.Go(func() { errs[i] = expire() })
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatalf("expiry: %v", err)
			}
		}
		if a, h := ts.balance(askerKey, asker.ID, "EUR"), ts.held(askerKey, asker.ID, "EUR"); a != 5000 || h != 0 {
			t.Fatalf("asker after the deadline: available %d, held %d; want 5000 and 0", a, h)
		}
		var got wire.Question
		ts.do(http.MethodGet, "/v1/questions/"+q.ID, askerKey, nil, nil, &got)
		if got.Status != "expired" || got.Transaction == "" || got.ClosedAt == nil {
			t.Fatalf("question after the deadline = %+v", got)
		}
		if err := expire(); err != nil {
			t.Fatalf("an expiry of an expired question: %v", err)
		}
		r = ts.do(http.MethodPost, "/v1/questions/"+q.ID+"/decline", expertKey, wire.DeclineRequest{}, idem(newKey()), &p)
		wantProblem(t, r, p, http.StatusConflict, "conflict")
		if a := ts.balance(askerKey, asker.ID, "EUR"); a != 5000 {
			t.Fatalf("asker = %d cents, want 5000: refunded once", a)
		}
		ts.checkLedger()
	})
}

// TestOnlyTheExpertAnswersAndOnlyThePartiesRead keeps each question between its asker, its
// expert and the operator.
func TestOnlyTheExpertAnswersAndOnlyThePartiesRead(t *testing.T) {
	t.Parallel()
	forEachServer(t, func(t *testing.T, ts *testServer) {
		expert, expertKey := ts.createUser("kay")
		asker, askerKey := ts.createUser("asker")
		other, otherKey := ts.createUser("other")
		_, strangerKey := ts.createUser("stranger")
		ts.credit(asker.ID, 5000, "USD")
		ts.credit(other.ID, 5000, "USD")
		ts.setExpert(expertKey, expertRequest(700, "USD"))
		_, strangerExpertKey := ts.createUser("expert2")
		ts.setExpert(strangerExpertKey, expertRequest(100, "USD"))
		q := ts.ask(askerKey, expert.Handle, "What does a PodDisruptionBudget protect?")
		theirs := ts.ask(otherKey, expert.Handle, "And a PriorityClass?")
		var readOnly wire.CreatedKey
		ts.do(http.MethodPost, "/v1/keys", expertKey, wire.CreateKeyRequest{Name: "read only", Scopes: []string{accounts.ScopeRead}}, nil, &readOnly)
		before := expertsSnapshot(t, ts)

		for _, tt := range []struct {
			name, method, path, key string
			body                    any
			status                  int
			code                    string
		}{
			{"another user answering", "POST", "/v1/questions/" + q.ID + "/answer", strangerKey, wire.AnswerRequest{Answer: "x"}, 403, "forbidden"},
			{"another expert answering", "POST", "/v1/questions/" + q.ID + "/answer", strangerExpertKey, wire.AnswerRequest{Answer: "x"}, 403, "forbidden"},
			{"the asker answering", "POST", "/v1/questions/" + q.ID + "/answer", askerKey, wire.AnswerRequest{Answer: "x"}, 403, "forbidden"},
			{"the asker declining", "POST", "/v1/questions/" + q.ID + "/decline", askerKey, wire.DeclineRequest{}, 403, "forbidden"},
			{"another user declining", "POST", "/v1/questions/" + q.ID + "/decline", strangerKey, wire.DeclineRequest{}, 403, "forbidden"},
			{"the expert's key without experts:answer", "POST", "/v1/questions/" + q.ID + "/answer", readOnly.Secret, wire.AnswerRequest{Answer: "x"}, 403, "forbidden"},
			{"another asker reading", "GET", "/v1/questions/" + q.ID, otherKey, nil, 403, "forbidden"},
			{"a stranger reading", "GET", "/v1/questions/" + q.ID, strangerKey, nil, 403, "forbidden"},
			{"a stranger reading without a key", "GET", "/v1/questions/" + q.ID, "", nil, 401, "unauthorized"},
		} {
			var p wire.Problem
			var h http.Header
			if tt.method == http.MethodPost {
				h = idem(newKey())
			}
			r := ts.do(tt.method, tt.path, tt.key, tt.body, h, &p)
			if r.StatusCode != tt.status || p.Code != tt.code {
				t.Errorf("%s: got %d %q (%s), want %d %q", tt.name, r.StatusCode, p.Code, p.Detail, tt.status, tt.code)
			}
		}
		if after := expertsSnapshot(t, ts); after != before {
			t.Fatalf("refused requests changed the database:\nbefore %s\nafter  %s", before, after)
		}
		for _, key := range []string{askerKey, expertKey, ts.admin} {
			var got wire.Question
			if r := ts.do(http.MethodGet, "/v1/questions/"+q.ID, key, nil, nil, &got); r.StatusCode != http.StatusOK || got.ID != q.ID {
				t.Fatalf("a party reading its question = %d %+v", r.StatusCode, got)
			}
		}
		// Each asker's list holds their own questions; the expert's inbox holds both.
		var mine, inbox, strangers wire.QuestionPage
		ts.do(http.MethodGet, "/v1/questions", askerKey, nil, nil, &mine)
		ts.do(http.MethodGet, "/v1/inbox", expertKey, nil, nil, &inbox)
		ts.do(http.MethodGet, "/v1/inbox", strangerExpertKey, nil, nil, &strangers)
		if len(mine.Data) != 1 || mine.Data[0].ID != q.ID || len(inbox.Data) != 2 || inbox.Data[0].ID != theirs.ID || len(strangers.Data) != 0 {
			t.Fatalf("asker's list %+v, inbox %+v, another expert's inbox %+v", mine.Data, inbox.Data, strangers.Data)
		}
		var p wire.Problem
		r := ts.do(http.MethodGet, "/v1/inbox", readOnly.Secret, nil, nil, &p)
		wantProblem(t, r, p, http.StatusForbidden, "forbidden")
	})
}

// TestBadExpertInputChangesNothing sends every bad input of the expert API and checks each
// answer, and that neither the ledger nor the expert tables changed.
func TestBadExpertInputChangesNothing(t *testing.T) {
	t.Parallel()
	forEachServer(t, func(t *testing.T, ts *testServer) {
		ts.newCharity("eff")
		expert, expertKey := ts.createUser("kay")
		closed, closedKey := ts.createUser("closed")
		asker, askerKey := ts.createUser("asker")
		_, poorKey := ts.createUser("poor")
		ts.credit(asker.ID, 5000, "USD")
		ts.setExpert(expertKey, expertRequest(700, "USD"))
		shut := expertRequest(100, "USD")
		no := false
		shut.Accepting = &no
		ts.setExpert(closedKey, shut)
		q := ts.ask(askerKey, expert.Handle, "A question to act on.")
		var readOnly wire.CreatedKey
		ts.do(http.MethodPost, "/v1/keys", askerKey, wire.CreateKeyRequest{Name: "read only", Scopes: []string{accounts.ScopeRead}}, nil, &readOnly)
		before := expertsSnapshot(t, ts)
		var profileBefore wire.Expert
		ts.do(http.MethodGet, "/v1/experts/"+expert.Handle, "", nil, nil, &profileBefore)

		profile := func(mut func(r *wire.SetExpertRequest)) []byte {
			r := expertRequest(900, "USD")
			mut(&r)
			b, _ := json.Marshal(r)
			return b
		}
		body := func(v any) []byte { b, _ := json.Marshal(v); return b }
		askPath := "/v1/experts/" + expert.Handle + "/questions"
		tests := []struct {
			name, method, path, key string
			body                    []byte
			status                  int
			code                    string
		}{
			{"a price of zero", "PUT", "/v1/me/expert", expertKey, profile(func(r *wire.SetExpertRequest) { r.Price.Amount = 0 }), 400, "invalid"},
			{"a negative price", "PUT", "/v1/me/expert", expertKey, profile(func(r *wire.SetExpertRequest) { r.Price.Amount = -100 }), 400, "invalid"},
			{"a price without an asset", "PUT", "/v1/me/expert", expertKey, profile(func(r *wire.SetExpertRequest) { r.Price.Asset = "" }), 400, "invalid"},
			{"a price in an unknown asset", "PUT", "/v1/me/expert", expertKey, profile(func(r *wire.SetExpertRequest) { r.Price.Asset = "DOGE" }), 400, "invalid"},
			{"a price that is a fraction", "PUT", "/v1/me/expert", expertKey, []byte(`{"name":"K","price":{"amount":1.5,"asset":"USD"},"answer_window":3600}`), 400, "invalid"},
			{"a share over 100 %", "PUT", "/v1/me/expert", expertKey, profile(func(r *wire.SetExpertRequest) { r.Charity, r.CharityShareBPS = "eff", 10001 }), 400, "invalid"},
			{"a negative share", "PUT", "/v1/me/expert", expertKey, profile(func(r *wire.SetExpertRequest) { r.Charity, r.CharityShareBPS = "eff", -1 }), 400, "invalid"},
			{"a share for no charity", "PUT", "/v1/me/expert", expertKey, profile(func(r *wire.SetExpertRequest) { r.CharityShareBPS = 5000 }), 400, "invalid"},
			{"an unknown charity", "PUT", "/v1/me/expert", expertKey, profile(func(r *wire.SetExpertRequest) { r.Charity, r.CharityShareBPS = "no-such-charity", 5000 }), 400, "invalid"},
			{"an answer window of a minute", "PUT", "/v1/me/expert", expertKey, profile(func(r *wire.SetExpertRequest) { r.AnswerWindow = 60 }), 400, "invalid"},
			{"an answer window of 31 days", "PUT", "/v1/me/expert", expertKey, profile(func(r *wire.SetExpertRequest) { r.AnswerWindow = 31 * 86400 }), 400, "invalid"},
			{"an answer window that overflows", "PUT", "/v1/me/expert", expertKey, profile(func(r *wire.SetExpertRequest) { r.AnswerWindow = 1 << 62 }), 400, "invalid"},
			{"a topic that is not one", "PUT", "/v1/me/expert", expertKey, profile(func(r *wire.SetExpertRequest) { r.Topics = []string{"rm -rf /"} }), 400, "invalid"},
			{"a name with a bidi override", "PUT", "/v1/me/expert", expertKey, profile(func(r *wire.SetExpertRequest) { r.Name = "Kay \u202eevil" }), 400, "invalid"},
			{"no name", "PUT", "/v1/me/expert", expertKey, profile(func(r *wire.SetExpertRequest) { r.Name = "" }), 400, "invalid"},
			{"an unknown field in a profile", "PUT", "/v1/me/expert", expertKey, []byte(`{"name":"K","price":{"amount":100,"asset":"USD"},"answer_window":3600,"fee_bps":0}`), 400, "invalid"},
			{"a profile with a key without experts:answer", "PUT", "/v1/me/expert", readOnly.Secret, profile(func(r *wire.SetExpertRequest) {}), 403, "forbidden"},
			{"an empty question", "POST", askPath, askerKey, body(wire.AskRequest{Question: ""}), 400, "invalid"},
			{"a question of spaces", "POST", askPath, askerKey, body(wire.AskRequest{Question: " \n\t "}), 400, "invalid"},
			{"a question over 5000 characters", "POST", askPath, askerKey, body(wire.AskRequest{Question: strings.Repeat("é", 5001)}), 400, "invalid"},
			{"a question with a control character", "POST", askPath, askerKey, body(wire.AskRequest{Question: "why\u0007"}), 400, "invalid"},
			{"an unknown field in a question", "POST", askPath, askerKey, []byte(`{"question":"why?","price":1}`), 400, "invalid"},
			{"a question to nobody", "POST", "/v1/experts/nobody-at-all/questions", askerKey, body(wire.AskRequest{Question: "why?"}), 404, "not_found"},
			{"a question to an expert who is not taking any", "POST", "/v1/experts/" + closed.Handle + "/questions", askerKey, body(wire.AskRequest{Question: "why?"}), 409, "conflict"},
			{"a question to oneself", "POST", askPath, expertKey, body(wire.AskRequest{Question: "why?"}), 400, "invalid"},
			{"a question beyond the balance", "POST", askPath, poorKey, body(wire.AskRequest{Question: "why?"}), 422, "insufficient_funds"},
			{"a question with a key without transfers:write", "POST", askPath, readOnly.Secret, body(wire.AskRequest{Question: "why?"}), 403, "forbidden"},
			{"an escrow nobody offers", "POST", askPath, askerKey, body(wire.AskRequest{Question: "why?", Escrow: "iou"}), 400, "invalid"},
			{"a Lightning escrow on a server without Lightning", "POST", askPath, askerKey, body(wire.AskRequest{Question: "why?", Escrow: "lightning"}), 503, "unavailable"},
			{"an answer to no question", "POST", "/v1/questions/qst_00000000000000000000000000000000/answer", expertKey, body(wire.AnswerRequest{Answer: "x"}), 404, "not_found"},
			{"an empty answer", "POST", "/v1/questions/" + q.ID + "/answer", expertKey, body(wire.AnswerRequest{Answer: "  "}), 400, "invalid"},
			{"an answer over 20000 characters", "POST", "/v1/questions/" + q.ID + "/answer", expertKey, body(wire.AnswerRequest{Answer: strings.Repeat("a", 20_001)}), 400, "invalid"},
			{"a reason over 500 characters", "POST", "/v1/questions/" + q.ID + "/decline", expertKey, body(wire.DeclineRequest{Reason: strings.Repeat("a", 501)}), 400, "invalid"},
			{"a rating of an open question", "POST", "/v1/questions/" + q.ID + "/rating", askerKey, body(wire.RateRequest{Rating: 5}), 409, "conflict"},
			{"a rating of no question", "POST", "/v1/questions/qst_00000000000000000000000000000000/rating", askerKey, body(wire.RateRequest{Rating: 5}), 404, "not_found"},
			{"a charity by a non-admin", "POST", "/v1/admin/charities", askerKey, body(wire.CreateCharityRequest{Handle: "mine", Name: "Mine", Receipt: "Me",
				Destinations: map[string]string{"lightning": "me@example.com"}}), 403, "forbidden"},
			{"a charity whose handle is taken", "POST", "/v1/admin/charities", ts.admin, body(wire.CreateCharityRequest{Handle: "eff", Name: "EFF again", Receipt: "R",
				Destinations: map[string]string{"lightning": "a@example.com"}}), 409, "conflict"},
			{"a charity with a bad handle", "POST", "/v1/admin/charities", ts.admin, body(wire.CreateCharityRequest{Handle: "E F F", Name: "EFF", Receipt: "R",
				Destinations: map[string]string{"lightning": "a@example.com"}}), 400, "invalid"},
			{"a charity with a website that is not https", "POST", "/v1/admin/charities", ts.admin, body(wire.CreateCharityRequest{Handle: "plain", Name: "P", Receipt: "R",
				Website: "javascript:alert(1)", Destinations: map[string]string{"lightning": "a@example.com"}}), 400, "invalid"},
			{"a charity with nowhere to send money", "POST", "/v1/admin/charities", ts.admin, body(wire.CreateCharityRequest{Handle: "nowhere", Name: "N", Receipt: "R"}), 400, "invalid"},
			{"a charity on an unknown rail", "POST", "/v1/admin/charities", ts.admin, body(wire.CreateCharityRequest{Handle: "paypal", Name: "P", Receipt: "R",
				Destinations: map[string]string{"paypal": "a@example.com"}}), 400, "invalid"},
			{"a charity without a receipt", "POST", "/v1/admin/charities", ts.admin, body(wire.CreateCharityRequest{Handle: "anon", Name: "A",
				Destinations: map[string]string{"lightning": "a@example.com"}}), 400, "invalid"},
			{"questions of an unknown status", "GET", "/v1/questions?status=paid", askerKey, nil, 400, "invalid"},
			{"questions from a forged cursor", "GET", "/v1/questions?cursor=qst_'or'1'='1", askerKey, nil, 400, "invalid"},
			{"an inbox page too large", "GET", "/v1/inbox?limit=501", expertKey, nil, 400, "invalid"},
			{"a directory page too large", "GET", "/v1/experts?limit=501", "", nil, 400, "invalid"},
			{"a directory with accepting=maybe", "GET", "/v1/experts?accepting=maybe", "", nil, 400, "invalid"},
			{"donations from a forged cursor", "GET", "/v1/charities/eff/donations?cursor=nope", "", nil, 400, "invalid"},
			{"an unknown charity", "GET", "/v1/charities/no-such-charity", "", nil, 404, "not_found"},
			{"an unknown expert", "GET", "/v1/experts/nobody-at-all", "", nil, 404, "not_found"},
		}
		for _, tt := range tests {
			h := http.Header{"Idempotency-Key": {newKey()}}
			var p wire.Problem
			var b any
			if tt.body != nil {
				b = tt.body
			}
			r := ts.do(tt.method, tt.path, tt.key, b, h, &p)
			if r.StatusCode != tt.status || p.Code != tt.code {
				t.Errorf("%s: got %d %q (%s), want %d %q", tt.name, r.StatusCode, p.Code, p.Detail, tt.status, tt.code)
				continue
			}
			wantProblem(t, r, p, tt.status, tt.code)
		}
		// An ask without an Idempotency-Key is refused before anything else.
		var p wire.Problem
		r := ts.do(http.MethodPost, askPath, askerKey, wire.AskRequest{Question: "why?"}, nil, &p)
		wantProblem(t, r, p, http.StatusBadRequest, "invalid")

		if after := expertsSnapshot(t, ts); after != before {
			t.Fatalf("bad input changed the database:\nbefore %s\nafter  %s", before, after)
		}
		var profileAfter wire.Expert
		ts.do(http.MethodGet, "/v1/experts/"+expert.Handle, "", nil, nil, &profileAfter)
		if fmt.Sprint(profileAfter) != fmt.Sprint(profileBefore) {
			t.Fatalf("the profile changed:\nbefore %+v\nafter  %+v", profileBefore, profileAfter)
		}
		if a, h := ts.balance(askerKey, asker.ID, "USD"), ts.held(askerKey, asker.ID, "USD"); a != 5000-700 || h != 700 {
			t.Fatalf("asker: available %d, held %d; want one question's price held", a, h)
		}
	})
}

// TestRatingRules lets the asker, and only the asker, rate an answer once, from 1 to 5, and
// shows the average on the expert's public profile.
func TestRatingRules(t *testing.T) {
	t.Parallel()
	forEachServer(t, func(t *testing.T, ts *testServer) {
		expert, expertKey := ts.createUser("kay")
		asker, askerKey := ts.createUser("asker")
		_, strangerKey := ts.createUser("stranger")
		ts.credit(asker.ID, 5000, "USD")
		ts.setExpert(expertKey, expertRequest(100, "USD"))
		answer := func(q wire.Question) {
			t.Helper()
			if r := ts.do(http.MethodPost, "/v1/questions/"+q.ID+"/answer", expertKey, wire.AnswerRequest{Answer: "Because."}, idem(newKey()), nil); r.StatusCode != http.StatusOK {
				t.Fatalf("answer = %d", r.StatusCode)
			}
		}
		q1 := ts.ask(askerKey, expert.Handle, "First?")
		q2 := ts.ask(askerKey, expert.Handle, "Second?")
		rate := func(key, id string, body any) (*http.Response, wire.Problem, wire.Question) {
			t.Helper()
			var raw json.RawMessage
			r := ts.do(http.MethodPost, "/v1/questions/"+id+"/rating", key, body, nil, &raw)
			var p wire.Problem
			var q wire.Question
			json.Unmarshal(raw, &p)
			json.Unmarshal(raw, &q)
			return r, p, q
		}
		r, p, _ := rate(askerKey, q1.ID, wire.RateRequest{Rating: 5})
		wantProblem(t, r, p, http.StatusConflict, "conflict")
		answer(q1)
		answer(q2)
		for _, tt := range []struct {
			name   string
			key    string
			body   any
			status int
			code   string
		}{
			{"a rating of 0", askerKey, wire.RateRequest{Rating: 0}, 400, "invalid"},
			{"a rating of 6", askerKey, wire.RateRequest{Rating: 6}, 400, "invalid"},
			{"a rating as a string", askerKey, []byte(`{"rating":"5"}`), 400, "invalid"},
			{"a comment over 1000 characters", askerKey, wire.RateRequest{Rating: 5, Comment: strings.Repeat("a", 1001)}, 400, "invalid"},
			{"the expert rating their own answer", expertKey, wire.RateRequest{Rating: 5}, 403, "forbidden"},
			{"a stranger rating", strangerKey, wire.RateRequest{Rating: 1}, 403, "forbidden"},
		} {
			r, p, _ := rate(tt.key, q1.ID, tt.body)
			if r.StatusCode != tt.status || p.Code != tt.code {
				t.Errorf("%s: got %d %q (%s), want %d %q", tt.name, r.StatusCode, p.Code, p.Detail, tt.status, tt.code)
			}
		}
		r, _, rated := rate(askerKey, q1.ID, wire.RateRequest{Rating: 5, Comment: "Clear and quick."})
		if r.StatusCode != http.StatusOK || rated.Rating != 5 || rated.RatingComment != "Clear and quick." {
			t.Fatalf("rating = %d %+v", r.StatusCode, rated)
		}
		r, p, _ = rate(askerKey, q1.ID, wire.RateRequest{Rating: 1})
		wantProblem(t, r, p, http.StatusConflict, "conflict")
		if r, _, _ := rate(askerKey, q2.ID, wire.RateRequest{Rating: 4}); r.StatusCode != http.StatusOK {
			t.Fatalf("rating the second answer = %d", r.StatusCode)
		}
		var e wire.Expert
		ts.do(http.MethodGet, "/v1/experts/"+expert.Handle, "", nil, nil, &e)
		if e.Rating.AverageTenths != 45 || e.Rating.Count != 2 || e.Answered != 2 {
			t.Fatalf("record = answered %d, rating %+v; want 2 answers rated 4.5 on average", e.Answered, e.Rating)
		}
		var got wire.Question
		ts.do(http.MethodGet, "/v1/questions/"+q1.ID, askerKey, nil, nil, &got)
		if got.Rating != 5 {
			t.Fatalf("the rating did not stay: %+v", got)
		}
	})
}

// TestExpertDirectoryAndProfilesArePublic finds experts by topic, words and availability
// without an API key, page by page, and reads a profile and the charity registry the same way.
func TestExpertDirectoryAndProfilesArePublic(t *testing.T) {
	t.Parallel()
	forEachServer(t, func(t *testing.T, ts *testServer) {
		ts.newCharity("eff")
		ts.newCharity("wikimedia")
		a, aKey := ts.createUser("aa")
		b, bKey := ts.createUser("bb")
		c, cKey := ts.createUser("cc")
		req := expertRequest(1000, "USD")
		req.Charity, req.CharityShareBPS = "eff", 10000
		ts.setExpert(aKey, req)
		req = expertRequest(2000, "USD")
		req.Bio, req.Topics, req.Charity, req.CharityShareBPS = "Storage and etcd.", []string{"kubernetes", "etcd"}, "wikimedia", 5000
		ts.setExpert(bKey, req)
		req = expertRequest(3000, "EUR")
		req.Name, req.Bio, req.Topics = "Rust Person", "Borrow checker whisperer.", []string{"rust"}
		no := false
		req.Accepting = &no
		ts.setExpert(cKey, req)

		handles := func(query string) []string {
			t.Helper()
			var page wire.ExpertPage
			if r := ts.do(http.MethodGet, "/v1/experts"+query, "", nil, nil, &page); r.StatusCode != http.StatusOK {
				t.Fatalf("/v1/experts%s = %d", query, r.StatusCode)
			}
			var out []string
			for _, e := range page.Data {
				out = append(out, e.Handle)
			}
			return out
		}
		if got := fmt.Sprint(handles("")); got != fmt.Sprint([]string{a.Handle, b.Handle, c.Handle}) {
			t.Fatalf("directory = %s", got)
		}
		if got := fmt.Sprint(handles("?topic=kubernetes")); got != fmt.Sprint([]string{a.Handle, b.Handle}) {
			t.Fatalf("kubernetes experts = %s", got)
		}
		if got := fmt.Sprint(handles("?q=etcd")); got != fmt.Sprint([]string{b.Handle}) {
			t.Fatalf("experts on etcd = %s", got)
		}
		if got := fmt.Sprint(handles("?accepting=true")); got != fmt.Sprint([]string{a.Handle, b.Handle}) {
			t.Fatalf("experts taking questions = %s", got)
		}
		var page wire.ExpertPage
		ts.do(http.MethodGet, "/v1/experts?limit=2", "", nil, nil, &page)
		if len(page.Data) != 2 || page.NextCursor == "" {
			t.Fatalf("first page = %+v", page)
		}
		var second wire.ExpertPage
		ts.do(http.MethodGet, "/v1/experts?limit=2&cursor="+page.NextCursor, "", nil, nil, &second)
		if len(second.Data) != 1 || second.Data[0].Handle != c.Handle || second.NextCursor != "" {
			t.Fatalf("second page = %+v", second)
		}
		// The directory names each expert's charity.
		var all wire.ExpertPage
		ts.do(http.MethodGet, "/v1/experts", "", nil, nil, &all)
		if ch := all.Data[1].Charity; ch == nil || ch.Handle != "wikimedia" || ch.Name == "" || all.Data[1].CharityShareBPS != 5000 || all.Data[2].Charity != nil {
			t.Fatalf("directory charities = %+v", all.Data)
		}

		var e wire.Expert
		if r := ts.do(http.MethodGet, "/v1/experts/"+b.Handle, "", nil, nil, &e); r.StatusCode != http.StatusOK || e.AccountID != b.ID ||
			e.Price.Amount != 2000 || e.Charity == nil || e.Charity.Handle != "wikimedia" || e.Rating.Count != 0 {
			t.Fatalf("profile = %d %+v", r.StatusCode, e)
		}
		// A profile set again replaces the one before.
		req = expertRequest(2500, "USD")
		updated := ts.setExpert(bKey, req)
		if updated.Price.Amount != 2500 || updated.Charity != nil || updated.CharityShareBPS != 0 {
			t.Fatalf("replaced profile = %+v", updated)
		}
		var list wire.CharityList
		ts.do(http.MethodGet, "/v1/charities", "", nil, nil, &list)
		if len(list.Data) != 2 || list.Data[0].Handle != "eff" || list.Data[1].Handle != "wikimedia" {
			t.Fatalf("charities = %+v", list)
		}
		var dons wire.DonationPage
		if r := ts.do(http.MethodGet, "/v1/charities/wikimedia/donations", "", nil, nil, &dons); r.StatusCode != http.StatusOK || len(dons.Data) != 0 || dons.Charity.Handle != "wikimedia" {
			t.Fatalf("donations of a charity given nothing = %d %+v", r.StatusCode, dons)
		}
		// What is private stays so.
		var p wire.Problem
		r := ts.do(http.MethodGet, "/v1/questions", "", nil, nil, &p)
		wantProblem(t, r, p, http.StatusUnauthorized, "unauthorized")
		r = ts.do(http.MethodPut, "/v1/me/expert", "", expertRequest(1, "USD"), nil, &p)
		wantProblem(t, r, p, http.StatusUnauthorized, "unauthorized")
	})
}

// TestAskReplaysWithTheSameIdempotencyKey retries an ask, in turn and at once: the same key
// gives the same question back and holds its price once; the same key with another question
// is refused.
func TestAskReplaysWithTheSameIdempotencyKey(t *testing.T) {
	t.Parallel()
	forEachServer(t, func(t *testing.T, ts *testServer) {
		expert, expertKey := ts.createUser("kay")
		asker, askerKey := ts.createUser("asker")
		ts.credit(asker.ID, 10_000, "USD")
		ts.setExpert(expertKey, expertRequest(1000, "USD"))
		path := "/v1/experts/" + expert.Handle + "/questions"
		key := newKey()
		var first, second wire.Question
		r1 := ts.do(http.MethodPost, path, askerKey, wire.AskRequest{Question: "Once?"}, idem(key), &first)
		r2 := ts.do(http.MethodPost, path, askerKey, wire.AskRequest{Question: "Once?"}, idem(key), &second)
		if r1.StatusCode != http.StatusCreated || r2.StatusCode != http.StatusCreated || first.ID != second.ID || r2.Header.Get("Idempotency-Replayed") != "true" {
			t.Fatalf("replay = %d %s (replayed %q), first %d %s", r2.StatusCode, second.ID, r2.Header.Get("Idempotency-Replayed"), r1.StatusCode, first.ID)
		}
		var p wire.Problem
		r := ts.do(http.MethodPost, path, askerKey, wire.AskRequest{Question: "Twice?"}, idem(key), &p)
		wantProblem(t, r, p, http.StatusConflict, "idempotency_mismatch")

		// Under the HTTP layer the service keys the ask too, so that a request run again after
		// its stored response was lost still holds once.
		principal, err := ts.app.Accounts.Authenticate(context.Background(), askerKey)
		if err != nil {
			t.Fatal(err)
		}
		again, err := ts.app.Experts.Ask(context.Background(), principal, expert.Handle, "Once?", "", key)
		if err != nil || again.ID != first.ID {
			t.Fatalf("the service's ask with the same key = %+v, %v; want question %s", again, err, first.ID)
		}

		// Twenty identical asks at once with one new key make one question.
		ts.validate = false
		body, _ := json.Marshal(wire.AskRequest{Question: "At once?"})
		key = newKey()
		ids := make([]string, 20)
		var wg sync.WaitGroup
		for i := range ids {
			wg.Go(func() {
				resp, out := ts.raw(http.MethodPost, path, askerKey, body, idem(key))
				var q wire.Question
				json.Unmarshal(out, &q)
				if resp.StatusCode == http.StatusCreated {
					ids[i] = q.ID
				}
			})
		}
		wg.Wait()
		for i := range ids {
			if ids[i] == "" || ids[i] != ids[0] {
				t.Fatalf("concurrent asks with one key made questions %v", ids)
			}
		}
		if a, h := ts.balance(askerKey, asker.ID, "USD"), ts.held(askerKey, asker.ID, "USD"); a != 8000 || h != 2000 {
			t.Fatalf("asker: available %d, held %d; want two prices held", a, h)
		}
		var mine wire.QuestionPage
		ts.do(http.MethodGet, "/v1/questions", askerKey, nil, nil, &mine)
		if len(mine.Data) != 2 {
			t.Fatalf("the asker has %d questions, want 2", len(mine.Data))
		}
		ts.checkLedger()
	})
}

// TestLightningAsksDrawOnTheChallengeAllowance limits unpaid Lightning questions per asker as
// 402 challenges are limited: each costs a hold invoice. Without a node the allowed asks are
// refused as unavailable; past the burst they are refused before reaching the node.
func TestLightningAsksDrawOnTheChallengeAllowance(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, dbtest.Open(t, db.SQLite), apptest.WithPaywall(config.Paywall{ChallengeRate: 1, ChallengeBurst: 2}))
	expert, expertKey := ts.createUser("lim-expert")
	asker, askerKey := ts.createUser("lim-asker")
	ts.setExpert(expertKey, expertRequest(2_000_000, "BTC"))
	for i, want := range []int{http.StatusServiceUnavailable, http.StatusServiceUnavailable, http.StatusTooManyRequests} {
		resp := ts.do(http.MethodPost, "/v1/experts/"+expert.Handle+"/questions", askerKey,
			wire.AskRequest{Question: "How do I drain a node?", Escrow: "lightning"}, idem(fmt.Sprintf("lim-%d", i)), nil)
		if resp.StatusCode != want {
			t.Fatalf("Lightning ask %d: %d, want %d", i+1, resp.StatusCode, want)
		}
		if want == http.StatusTooManyRequests && resp.Header.Get("Retry-After") == "" {
			t.Fatal("429 without Retry-After")
		}
	}
	// Asking from the balance takes no invoice and is not limited.
	ts.credit(asker.ID, 2_000_000, "BTC")
	resp := ts.do(http.MethodPost, "/v1/experts/"+expert.Handle+"/questions", askerKey,
		wire.AskRequest{Question: "How do I drain a node?"}, idem("lim-balance"), nil)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("a balance ask after the allowance ran out: %d, want 201", resp.StatusCode)
	}
}
