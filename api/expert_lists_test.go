package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stipend/stipend/accounts"
	"github.com/stipend/stipend/api/wire"
	"github.com/stipend/stipend/experts"
	"github.com/stipend/stipend/internal/jobs"
	"github.com/stipend/stipend/payments/ledger"
)

// listSetup is a list of three experts, the first of whom gives a quarter of the earnings to
// the EFF, and an asker with 50.00 USD.
type listSetup struct {
	list                wire.List
	members             []wire.Account
	memberKeys          []string
	asker               wire.Account
	askerKey, charityID string
}

// newListSetup makes the experts and the "kubernetes" list of them at price per response in
// USD, with an answer window of window seconds.
func (ts *testServer) newListSetup(price, window int64) listSetup {
	ts.t.Helper()
	var s listSetup
	s.charityID = ts.newCharity("eff").ID
	for i, h := range []string{"kay", "lee", "max"} {
		a, key := ts.createUser(h)
		req := expertRequest(3000, "USD")
		req.Name = strings.ToUpper(h[:1]) + h[1:] + " Expert"
		if i == 0 {
			req.Charity, req.CharityShareBPS = "eff", 2500
		}
		ts.setExpert(key, req)
		s.members, s.memberKeys = append(s.members, a), append(s.memberKeys, key)
	}
	s.asker, s.askerKey = ts.createUser("asker")
	ts.credit(s.asker.ID, 5000, "USD")
	// Members are named by handle or by id, in any mix.
	r := ts.do(http.MethodPost, "/v1/admin/lists", ts.admin, wire.CreateListRequest{Handle: "kubernetes", Name: "Kubernetes",
		Description: "Clusters, etcd and Helm.", Price: wire.MoneyRequest{Amount: price, Asset: "USD"}, AnswerWindow: window,
		Members: []string{s.members[0].Handle, s.members[1].ID, strings.ToUpper(s.members[2].Handle)}}, nil, &s.list)
	if r.StatusCode != http.StatusCreated {
		ts.t.Fatalf("creating the list: %d", r.StatusCode)
	}
	return s
}

// askList asks the list a question buying responses replies, with a fresh Idempotency-Key.
func (ts *testServer) askList(key, list, question string, responses int) wire.ListQuestion {
	ts.t.Helper()
	var q wire.ListQuestion
	if r := ts.do(http.MethodPost, "/v1/lists/"+list+"/questions", key, wire.AskListRequest{Question: question, Responses: responses},
		idem(newKey()), &q); r.StatusCode != http.StatusCreated {
		ts.t.Fatalf("asking list %s: %d", list, r.StatusCode)
	}
	return q
}

// listsSnapshot is expertsSnapshot with the tables of lists and their questions.
func listsSnapshot(t *testing.T, ts *testServer) string {
	t.Helper()
	out := []any{expertsSnapshot(t, ts)}
	for _, q := range []string{
		`SELECT COUNT(*) FROM expert_lists`,
		`SELECT COUNT(*) FROM expert_list_members`,
		`SELECT COUNT(*) FROM list_questions`,
		`SELECT COALESCE(SUM(paid), 0) FROM list_questions`,
		`SELECT COUNT(*) FROM list_questions WHERE status <> 'open'`,
		`SELECT COUNT(*) FROM list_replies`,
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

// TestListPaysRepliesUpToTheResponsesBought is the paid path of a list: a question to a list
// of three buys two responses; the first two replies are paid, each split exactly into the
// fee, the member's charity share and earnings; the third is refused and the question is
// completed.
func TestListPaysRepliesUpToTheResponsesBought(t *testing.T) {
	t.Parallel()
	forEachServer(t, func(t *testing.T, ts *testServer) {
		s := ts.newListSetup(1001, threeDays)
		l := s.list
		if l.Handle != "kubernetes" || l.Price.Amount != 1001 || l.Price.Asset != "USD" || l.AnswerWindow != threeDays || len(l.Members) != 3 ||
			l.Members[0].ID != s.members[0].ID || l.Members[0].Handle != s.members[0].Handle || l.Members[0].Name != "Kay Expert" ||
			l.Members[2].Handle != s.members[2].Handle {
			t.Fatalf("list = %+v", l)
		}
		// Lists are public: the index names members by id, a list read alone by handle too.
		var index wire.ListIndex
		if r := ts.do(http.MethodGet, "/v1/lists", "", nil, nil, &index); r.StatusCode != http.StatusOK || len(index.Data) != 1 ||
			len(index.Data[0].Members) != 3 || index.Data[0].Members[1].ID != s.members[1].ID {
			t.Fatalf("lists = %d %+v", r.StatusCode, index)
		}
		for _, ref := range []string{"kubernetes", l.ID} {
			var got wire.List
			if r := ts.do(http.MethodGet, "/v1/lists/"+ref, "", nil, nil, &got); r.StatusCode != http.StatusOK || got.ID != l.ID ||
				got.Members[1].Handle != s.members[1].Handle || got.Description != "Clusters, etcd and Helm." {
				t.Fatalf("list %s = %d %+v", ref, r.StatusCode, got)
			}
		}
		feesBefore := ts.ledgerBalance(ledger.FeesAddress, "USD")

		q := ts.askList(s.askerKey, "kubernetes", "Which ingress controller in 2026?", 2)
		if q.Status != "open" || q.ListID != l.ID || q.AskerID != s.asker.ID || q.Price.Amount != 1001 || q.Responses != 2 || q.Paid != 0 ||
			q.EscrowTotal.Amount != 2002 || q.EscrowTotal.Asset != "USD" || q.FeeBPS != 250 || len(q.Replies) != 0 || q.ClosedAt != nil ||
			!q.Deadline.Equal(q.CreatedAt.Add(threeDays*time.Second)) {
			t.Fatalf("list question = %+v", q)
		}
		if a, h := ts.balance(s.askerKey, s.asker.ID, "USD"), ts.held(s.askerKey, s.asker.ID, "USD"); a != 5000-2002 || h != 2002 {
			t.Fatalf("asker: available %d, held %d; want two responses held", a, h)
		}

		// An outsider, expert or not, neither replies nor reads.
		_, outsiderKey := ts.createUser("outsider")
		ts.setExpert(outsiderKey, expertRequest(100, "USD"))
		before := listsSnapshot(t, ts)
		var p wire.Problem
		r := ts.do(http.MethodPost, "/v1/list-questions/"+q.ID+"/replies", outsiderKey, wire.ReplyRequest{Answer: "me too"}, idem(newKey()), &p)
		wantProblem(t, r, p, http.StatusForbidden, "forbidden")
		r = ts.do(http.MethodGet, "/v1/list-questions/"+q.ID, outsiderKey, nil, nil, &p)
		wantProblem(t, r, p, http.StatusForbidden, "forbidden")
		if after := listsSnapshot(t, ts); after != before {
			t.Fatalf("an outsider changed the database:\nbefore %s\nafter  %s", before, after)
		}
		var inbox wire.ListQuestionPage
		ts.do(http.MethodGet, "/v1/list-inbox?status=open", s.memberKeys[2], nil, nil, &inbox)
		if len(inbox.Data) != 1 || inbox.Data[0].ID != q.ID {
			t.Fatalf("a member's list inbox = %+v", inbox)
		}
		ts.do(http.MethodGet, "/v1/list-inbox", outsiderKey, nil, nil, &inbox)
		if len(inbox.Data) != 0 {
			t.Fatalf("an outsider's list inbox = %+v", inbox)
		}

		reply := func(i int, answer string) wire.ListQuestion {
			t.Helper()
			var got wire.ListQuestion
			if r := ts.do(http.MethodPost, "/v1/list-questions/"+q.ID+"/replies", s.memberKeys[i], wire.ReplyRequest{Answer: answer},
				idem(newKey()), &got); r.StatusCode != http.StatusOK {
				t.Fatalf("member %d replying: %d", i, r.StatusCode)
			}
			return got
		}
		first := reply(0, "Gateway API with Envoy.")
		if first.Status != "open" || first.Paid != 1 || len(first.Replies) != 1 || first.Replies[0].ExpertID != s.members[0].ID {
			t.Fatalf("after one reply = %+v", first)
		}
		done := reply(1, "ingress-nginx still.")
		if done.Status != "completed" || done.Paid != 2 || len(done.Replies) != 2 || done.ClosedAt == nil {
			t.Fatalf("after two replies = %+v", done)
		}
		// fee = 1001 × 2.5 % = 25; kay gives (1001 − 25) × 25 % = 244 and keeps 732; lee keeps 976.
		want := []struct{ fee, charity, earnings int64 }{{25, 244, 732}, {25, 0, 976}}
		for i, rp := range done.Replies {
			pt := rp.Parts
			if pt.Fee.Amount != want[i].fee || pt.Charity.Amount != want[i].charity || pt.Earnings.Amount != want[i].earnings ||
				pt.Fee.Amount+pt.Charity.Amount+pt.Earnings.Amount != 1001 || pt.Fee.Asset != "USD" || rp.Transaction == "" {
				t.Fatalf("reply %d = %+v, want parts %+v", i, rp, want[i])
			}
		}
		if rp := done.Replies[0]; rp.CharityID != s.charityID || rp.CharityShareBPS != 2500 || rp.Answer != "Gateway API with Envoy." {
			t.Fatalf("the sharing member's reply = %+v", rp)
		}
		if rp := done.Replies[1]; rp.CharityID != "" || rp.CharityShareBPS != 0 {
			t.Fatalf("the keeping member's reply = %+v", rp)
		}

		// Every response bought is paid: a third reply, or a second from a member, is refused.
		before = listsSnapshot(t, ts)
		for _, i := range []int{2, 0} {
			r := ts.do(http.MethodPost, "/v1/list-questions/"+q.ID+"/replies", s.memberKeys[i], wire.ReplyRequest{Answer: "Traefik."}, idem(newKey()), &p)
			wantProblem(t, r, p, http.StatusConflict, "conflict")
		}
		if after := listsSnapshot(t, ts); after != before {
			t.Fatalf("refused replies changed the database:\nbefore %s\nafter  %s", before, after)
		}

		for i, earned := range []int64{732, 976, 0} {
			if got := ts.balance(s.memberKeys[i], s.members[i].ID, "USD"); got != earned {
				t.Fatalf("member %d has %d cents, want %d", i, got, earned)
			}
		}
		if fees := ts.ledgerBalance(ledger.FeesAddress, "USD") - feesBefore; fees != 50 {
			t.Fatalf("the platform earned %d cents, want 2 × 25", fees)
		}
		var ch wire.Charity
		ts.do(http.MethodGet, "/v1/charities/eff", "", nil, nil, &ch)
		if len(ch.Received) != 1 || ch.Received[0].Amount != 244 {
			t.Fatalf("the charity received %+v, want 244 cents", ch.Received)
		}
		if a, h := ts.balance(s.askerKey, s.asker.ID, "USD"), ts.held(s.askerKey, s.asker.ID, "USD"); a != 5000-2002 || h != 0 {
			t.Fatalf("asker at the end: available %d, held %d", a, h)
		}

		// The asker, every member and the operator read the question with its replies.
		for _, key := range []string{s.askerKey, s.memberKeys[0], s.memberKeys[2], ts.admin} {
			var got wire.ListQuestion
			if r := ts.do(http.MethodGet, "/v1/list-questions/"+q.ID, key, nil, nil, &got); r.StatusCode != http.StatusOK || len(got.Replies) != 2 {
				t.Fatalf("a party reading the list question = %d %+v", r.StatusCode, got)
			}
		}
		var mine wire.ListQuestionPage
		ts.do(http.MethodGet, "/v1/list-questions?status=completed", s.askerKey, nil, nil, &mine)
		if len(mine.Data) != 1 || mine.Data[0].ID != q.ID || mine.Data[0].Paid != 2 {
			t.Fatalf("the asker's completed list questions = %+v", mine)
		}
		ts.do(http.MethodGet, "/v1/list-questions?status=open", s.askerKey, nil, nil, &mine)
		if len(mine.Data) != 0 {
			t.Fatalf("the asker's open list questions = %+v", mine)
		}
		ts.checkLedger()
	})
}

// TestListDeadlineReturnsTheResponsesNotGiven buys three responses and gets one: a reply
// after the deadline is refused and changes nothing, and two expiry jobs run at once return
// the other two responses to the asker once.
func TestListDeadlineReturnsTheResponsesNotGiven(t *testing.T) {
	t.Parallel()
	forEachClockedServer(t, func(t *testing.T, ts *testServer, clk *clock) {
		s := ts.newListSetup(1500, 3600)
		q := ts.askList(s.askerKey, "kubernetes", "How big should etcd's disk be?", 3)
		if r := ts.do(http.MethodPost, "/v1/list-questions/"+q.ID+"/replies", s.memberKeys[1], wire.ReplyRequest{Answer: "8 GiB, on SSD."},
			idem(newKey()), nil); r.StatusCode != http.StatusOK {
			t.Fatalf("reply = %d", r.StatusCode)
		}
		payload, _ := json.Marshal(experts.ExpireJob{QuestionID: q.ID})
		expire := func() error {
			return ts.app.Experts.HandleListExpire(context.Background(), jobs.Job{Kind: experts.JobListExpire, Payload: payload})
		}
		if wait, ok := jobs.IsSnooze(expire()); !ok || wait <= 0 || wait > time.Hour {
			t.Fatalf("an expiry before the deadline: snooze %v %v, want to wait for the deadline", wait, ok)
		}
		clk.advance(time.Hour)
		before := listsSnapshot(t, ts)
		var p wire.Problem
		r := ts.do(http.MethodPost, "/v1/list-questions/"+q.ID+"/replies", s.memberKeys[2], wire.ReplyRequest{Answer: "Too late."}, idem(newKey()), &p)
		wantProblem(t, r, p, http.StatusConflict, "conflict")
		if after := listsSnapshot(t, ts); after != before {
			t.Fatalf("a late reply changed the database:\nbefore %s\nafter  %s", before, after)
		}
		if got := ts.held(s.askerKey, s.asker.ID, "USD"); got != 3000 {
			t.Fatalf("asker holds %d cents after the late reply, want two responses, 3000", got)
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
		if err := expire(); err != nil {
			t.Fatalf("an expiry of an expired list question: %v", err)
		}
		if a, h := ts.balance(s.askerKey, s.asker.ID, "USD"), ts.held(s.askerKey, s.asker.ID, "USD"); a != 5000-1500 || h != 0 {
			t.Fatalf("asker after the deadline: available %d, held %d; want one response paid", a, h)
		}
		var got wire.ListQuestion
		ts.do(http.MethodGet, "/v1/list-questions/"+q.ID, s.askerKey, nil, nil, &got)
		if got.Status != "expired" || got.Paid != 1 || len(got.Replies) != 1 || got.ClosedAt == nil {
			t.Fatalf("list question after the deadline = %+v", got)
		}
		if earned := ts.balance(s.memberKeys[1], s.members[1].ID, "USD"); earned != 1500-37 {
			t.Fatalf("the member who replied has %d cents, want 1500 less the fee of 37", earned)
		}
		ts.checkLedger()
	})
}

// TestBadListInputChangesNothing sends every bad input of lists and their questions and
// checks each answer, and that neither the ledger nor the expert tables changed.
func TestBadListInputChangesNothing(t *testing.T) {
	t.Parallel()
	forEachServer(t, func(t *testing.T, ts *testServer) {
		s := ts.newListSetup(1000, 3600)
		_, poorKey := ts.createUser("poor")
		nobody, _ := ts.createUser("nobody")
		q := ts.askList(s.askerKey, "kubernetes", "A question to act on.", 1)
		var readOnly wire.CreatedKey
		ts.do(http.MethodPost, "/v1/keys", s.askerKey, wire.CreateKeyRequest{Name: "read only", Scopes: []string{accounts.ScopeRead}}, nil, &readOnly)
		var memberReadOnly wire.CreatedKey
		ts.do(http.MethodPost, "/v1/keys", s.memberKeys[0], wire.CreateKeyRequest{Name: "read only", Scopes: []string{accounts.ScopeRead}}, nil, &memberReadOnly)
		before := listsSnapshot(t, ts)
		assetsBefore := ts.balance(s.askerKey, s.asker.ID, "USD")

		list := func(mut func(r *wire.CreateListRequest)) []byte {
			r := wire.CreateListRequest{Handle: "helm", Name: "Helm", Price: wire.MoneyRequest{Amount: 500, Asset: "USD"}, AnswerWindow: 3600,
				Members: []string{s.members[0].Handle}}
			mut(&r)
			b, _ := json.Marshal(r)
			return b
		}
		body := func(v any) []byte { b, _ := json.Marshal(v); return b }
		ask := func(responses int) []byte { return body(wire.AskListRequest{Question: "Why?", Responses: responses}) }
		askPath := "/v1/lists/kubernetes/questions"
		replyPath := "/v1/list-questions/" + q.ID + "/replies"
		for _, tt := range []struct {
			name, method, path, key string
			body                    []byte
			status                  int
			code                    string
		}{
			{"a list by a non-admin", "POST", "/v1/admin/lists", s.askerKey, list(func(*wire.CreateListRequest) {}), 403, "forbidden"},
			{"a list by an expert", "POST", "/v1/admin/lists", s.memberKeys[0], list(func(*wire.CreateListRequest) {}), 403, "forbidden"},
			{"a member without a profile", "POST", "/v1/admin/lists", ts.admin, list(func(r *wire.CreateListRequest) { r.Members = []string{nobody.Handle} }), 404, "not_found"},
			{"a member who does not exist", "POST", "/v1/admin/lists", ts.admin, list(func(r *wire.CreateListRequest) { r.Members = []string{"no-such-expert"} }), 404, "not_found"},
			{"a handle that is taken", "POST", "/v1/admin/lists", ts.admin, list(func(r *wire.CreateListRequest) { r.Handle = "kubernetes" }), 409, "conflict"},
			{"a price of zero", "POST", "/v1/admin/lists", ts.admin, list(func(r *wire.CreateListRequest) { r.Price.Amount = 0 }), 400, "invalid"},
			{"a negative price", "POST", "/v1/admin/lists", ts.admin, list(func(r *wire.CreateListRequest) { r.Price.Amount = -5 }), 400, "invalid"},
			{"a price without an asset", "POST", "/v1/admin/lists", ts.admin, list(func(r *wire.CreateListRequest) { r.Price.Asset = "" }), 400, "invalid"},
			{"a price in an unknown asset", "POST", "/v1/admin/lists", ts.admin, list(func(r *wire.CreateListRequest) { r.Price.Asset = "DOGE" }), 400, "invalid"},
			{"no members", "POST", "/v1/admin/lists", ts.admin, list(func(r *wire.CreateListRequest) { r.Members = nil }), 400, "invalid"},
			{"a bad handle", "POST", "/v1/admin/lists", ts.admin, list(func(r *wire.CreateListRequest) { r.Handle = "Helm Charts" }), 400, "invalid"},
			{"no name", "POST", "/v1/admin/lists", ts.admin, list(func(r *wire.CreateListRequest) { r.Name = "" }), 400, "invalid"},
			{"an answer window of a minute", "POST", "/v1/admin/lists", ts.admin, list(func(r *wire.CreateListRequest) { r.AnswerWindow = 60 }), 400, "invalid"},
			{"an answer window that overflows", "POST", "/v1/admin/lists", ts.admin, list(func(r *wire.CreateListRequest) { r.AnswerWindow = 1 << 62 }), 400, "invalid"},
			{"an unknown field in a list", "POST", "/v1/admin/lists", ts.admin, []byte(`{"handle":"helm","name":"Helm","price":{"amount":5,"asset":"USD"},"answer_window":3600,"members":["x"],"fee_bps":0}`), 400, "invalid"},
			{"no responses", "POST", askPath, s.askerKey, ask(0), 400, "invalid"},
			{"negative responses", "POST", askPath, s.askerKey, ask(-1), 400, "invalid"},
			{"more responses than members", "POST", askPath, s.askerKey, ask(4), 400, "invalid"},
			{"an unknown list", "POST", "/v1/lists/no-such-list/questions", s.askerKey, ask(1), 404, "not_found"},
			{"an empty question", "POST", askPath, s.askerKey, body(wire.AskListRequest{Question: " ", Responses: 1}), 400, "invalid"},
			{"responses as a string", "POST", askPath, s.askerKey, []byte(`{"question":"why?","responses":"2"}`), 400, "invalid"},
			{"an unknown field in a list question", "POST", askPath, s.askerKey, []byte(`{"question":"why?","responses":1,"price":1}`), 400, "invalid"},
			{"a list question beyond the balance", "POST", askPath, poorKey, ask(1), 422, "insufficient_funds"},
			{"a list question with a key without transfers:write", "POST", askPath, readOnly.Secret, ask(1), 403, "forbidden"},
			{"a reply to no question", "POST", "/v1/list-questions/lqs_00000000000000000000000000000000/replies", s.memberKeys[0], body(wire.ReplyRequest{Answer: "x"}), 404, "not_found"},
			{"an empty reply", "POST", replyPath, s.memberKeys[0], body(wire.ReplyRequest{Answer: "  "}), 400, "invalid"},
			{"a reply over 20000 characters", "POST", replyPath, s.memberKeys[0], body(wire.ReplyRequest{Answer: strings.Repeat("a", 20_001)}), 400, "invalid"},
			{"a reply by the asker", "POST", replyPath, s.askerKey, body(wire.ReplyRequest{Answer: "x"}), 403, "forbidden"},
			{"a reply with a key without experts:answer", "POST", replyPath, memberReadOnly.Secret, body(wire.ReplyRequest{Answer: "x"}), 403, "forbidden"},
			{"an unknown list read", "GET", "/v1/lists/no-such-list", "", nil, 404, "not_found"},
			{"no list question", "GET", "/v1/list-questions/lqs_00000000000000000000000000000000", s.askerKey, nil, 404, "not_found"},
			{"list questions of an unknown status", "GET", "/v1/list-questions?status=answered", s.askerKey, nil, 400, "invalid"},
			{"list questions from a forged cursor", "GET", "/v1/list-questions?cursor=lqs_'or'1'='1", s.askerKey, nil, 400, "invalid"},
			{"a list inbox page too large", "GET", "/v1/list-inbox?limit=501", s.memberKeys[0], nil, 400, "invalid"},
			{"a list inbox with a key without experts:answer", "GET", "/v1/list-inbox", memberReadOnly.Secret, nil, 403, "forbidden"},
			{"list questions without a key", "GET", "/v1/list-questions", "", nil, 401, "unauthorized"},
		} {
			var p wire.Problem
			var b any
			if tt.body != nil {
				b = tt.body
			}
			r := ts.do(tt.method, tt.path, tt.key, b, idem(newKey()), &p)
			if r.StatusCode != tt.status || p.Code != tt.code {
				t.Errorf("%s: got %d %q (%s), want %d %q", tt.name, r.StatusCode, p.Code, p.Detail, tt.status, tt.code)
				continue
			}
			wantProblem(t, r, p, tt.status, tt.code)
		}
		// Money-moving requests without an Idempotency-Key are refused before anything else.
		var p wire.Problem
		r := ts.do(http.MethodPost, askPath, s.askerKey, wire.AskListRequest{Question: "why?", Responses: 1}, nil, &p)
		wantProblem(t, r, p, http.StatusBadRequest, "invalid")
		r = ts.do(http.MethodPost, replyPath, s.memberKeys[0], wire.ReplyRequest{Answer: "x"}, nil, &p)
		wantProblem(t, r, p, http.StatusBadRequest, "invalid")

		if after := listsSnapshot(t, ts); after != before {
			t.Fatalf("bad input changed the database:\nbefore %s\nafter  %s", before, after)
		}
		if a, h := ts.balance(s.askerKey, s.asker.ID, "USD"), ts.held(s.askerKey, s.asker.ID, "USD"); a != assetsBefore || h != 1000 {
			t.Fatalf("asker: available %d, held %d; want one response held", a, h)
		}
		var index wire.ListIndex
		ts.do(http.MethodGet, "/v1/lists", "", nil, nil, &index)
		if len(index.Data) != 1 {
			t.Fatalf("refused lists were stored: %+v", index)
		}
	})
}

// TestAskListReplaysWithTheSameIdempotencyKey retries an ask of a list: the same key gives
// the same question back and holds price × responses once; the same key with other
// responses is refused; under the HTTP layer the service keys the ask too.
func TestAskListReplaysWithTheSameIdempotencyKey(t *testing.T) {
	t.Parallel()
	forEachServer(t, func(t *testing.T, ts *testServer) {
		s := ts.newListSetup(1000, 3600)
		path := "/v1/lists/kubernetes/questions"
		key := newKey()
		var first, second wire.ListQuestion
		r1 := ts.do(http.MethodPost, path, s.askerKey, wire.AskListRequest{Question: "Once?", Responses: 2}, idem(key), &first)
		r2 := ts.do(http.MethodPost, path, s.askerKey, wire.AskListRequest{Question: "Once?", Responses: 2}, idem(key), &second)
		if r1.StatusCode != http.StatusCreated || r2.StatusCode != http.StatusCreated || first.ID != second.ID || r2.Header.Get("Idempotency-Replayed") != "true" {
			t.Fatalf("replay = %d %s (replayed %q), first %d %s", r2.StatusCode, second.ID, r2.Header.Get("Idempotency-Replayed"), r1.StatusCode, first.ID)
		}
		var p wire.Problem
		r := ts.do(http.MethodPost, path, s.askerKey, wire.AskListRequest{Question: "Once?", Responses: 3}, idem(key), &p)
		wantProblem(t, r, p, http.StatusConflict, "idempotency_mismatch")

		principal, err := ts.app.Accounts.Authenticate(context.Background(), s.askerKey)
		if err != nil {
			t.Fatal(err)
		}
		again, err := ts.app.Experts.AskList(context.Background(), principal, "kubernetes", "Once?", 2, key)
		if err != nil || again.ID != first.ID {
			t.Fatalf("the service's ask with the same key = %+v, %v; want list question %s", again, err, first.ID)
		}
		if a, h := ts.balance(s.askerKey, s.asker.ID, "USD"), ts.held(s.askerKey, s.asker.ID, "USD"); a != 3000 || h != 2000 {
			t.Fatalf("asker: available %d, held %d; want two responses held once", a, h)
		}
		var mine wire.ListQuestionPage
		ts.do(http.MethodGet, "/v1/list-questions", s.askerKey, nil, nil, &mine)
		if len(mine.Data) != 1 {
			t.Fatalf("the asker has %d list questions, want 1", len(mine.Data))
		}
		ts.checkLedger()
	})
}
