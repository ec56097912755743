package client_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stipend/stipend/api/wire"
	"github.com/stipend/stipend/client"
)

// held returns the held part of an account's balance in one asset, as c sees it.
func held(t *testing.T, c *client.Client, asset string) int64 {
	t.Helper()
	b, err := c.Balances(context.Background(), "")
	if err != nil {
		t.Fatalf("balances: %v", err)
	}
	for _, x := range b.Data {
		if x.Asset == asset {
			return x.Held
		}
	}
	return 0
}

// TestExpertQuestions goes through every call of expert questions: a charity is registered,
// an expert sets a profile that gives part of the earnings to it, is found in the public
// directory, is asked, answers one question and declines another, and the answer is rated.
func TestExpertQuestions(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ctx := context.Background()
	admin := ts.adminClient()
	public := client.New(ts.url, "", fast())
	expert, expertClient := ts.createUser(t, "kay")
	asker, askerClient := ts.createUser(t, "asker")
	ts.credit(t, asker.ID, 10_000, "USD")

	ch, err := admin.CreateCharity(ctx, wire.CreateCharityRequest{Handle: "eff", Name: "Electronic Frontier Foundation",
		Website: "https://www.eff.org", Receipt: "EFF, 815 Eddy St, San Francisco, CA", Destinations: map[string]string{"lightning": "donate@eff.org"}})
	if err != nil || ch.Handle != "eff" {
		t.Fatalf("CreateCharity = %+v, %v", ch, err)
	}
	if _, err := askerClient.CreateCharity(ctx, wire.CreateCharityRequest{Handle: "mine", Name: "Mine", Receipt: "Me",
		Destinations: map[string]string{"lightning": "me@example.com"}}); client.ErrorCode(err) != "forbidden" {
		t.Fatalf("CreateCharity by a user = %v, want forbidden", err)
	}

	p, err := expertClient.SetExpertProfile(ctx, wire.SetExpertRequest{Name: "Kay", Topics: []string{"kubernetes"},
		Price: wire.MoneyRequest{Amount: 1001, Asset: "USD"}, AnswerWindow: 86400, Charity: "eff", CharityShareBPS: 2500})
	if err != nil || p.Handle != expert.Handle || p.Charity == nil || p.Charity.ID != ch.ID || !p.Accepting {
		t.Fatalf("SetExpertProfile = %+v, %v", p, err)
	}
	page, err := public.Experts(ctx, client.ExpertFilter{Topic: "kubernetes", Accepting: true})
	if err != nil || len(page.Data) != 1 || page.Data[0].Handle != expert.Handle {
		t.Fatalf("Experts = %+v, %v", page, err)
	}
	if page, err := public.Experts(ctx, client.ExpertFilter{Query: "nobody-like-this"}); err != nil || len(page.Data) != 0 {
		t.Fatalf("Experts with no match = %+v, %v", page, err)
	}
	if e, err := public.Expert(ctx, expert.Handle); err != nil || e.Price.Amount != 1001 || e.CharityShareBPS != 2500 {
		t.Fatalf("Expert = %+v, %v", e, err)
	}

	q, err := askerClient.AskExpert(ctx, expert.Handle, wire.AskRequest{Question: "How do I drain a node?"}, "")
	if err != nil || q.Status != "open" || q.Price.Amount != 1001 || q.Escrow != "balance" {
		t.Fatalf("AskExpert = %+v, %v", q, err)
	}
	if got := held(t, askerClient, "USD"); got != 1001 {
		t.Fatalf("the asker holds %d cents, want the price", got)
	}
	inbox, err := expertClient.Inbox(ctx, "open", "", 0)
	if err != nil || len(inbox.Data) != 1 || inbox.Data[0].ID != q.ID {
		t.Fatalf("Inbox = %+v, %v", inbox, err)
	}
	a, err := expertClient.AnswerQuestion(ctx, q.ID, "kubectl drain --ignore-daemonsets", "")
	if err != nil || a.Status != "answered" || a.Parts == nil || a.Parts.Fee.Amount+a.Parts.Charity.Amount+a.Parts.Earnings.Amount != 1001 {
		t.Fatalf("AnswerQuestion = %+v, %v", a, err)
	}
	if got := available(t, expertClient, "", "USD"); got != a.Parts.Earnings.Amount {
		t.Fatalf("the expert has %d cents, want the earnings %d", got, a.Parts.Earnings.Amount)
	}
	rated, err := askerClient.RateAnswer(ctx, q.ID, 5, "Quick and right.")
	if err != nil || rated.Rating != 5 {
		t.Fatalf("RateAnswer = %+v, %v", rated, err)
	}
	if _, err := askerClient.RateAnswer(ctx, q.ID, 4, ""); client.ErrorCode(err) != "conflict" {
		t.Fatalf("a second rating = %v, want conflict", err)
	}

	q2, err := askerClient.AskExpert(ctx, expert.Handle, wire.AskRequest{Question: "And an etcd member?", Escrow: client.EscrowBalance}, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := askerClient.AnswerQuestion(ctx, q2.ID, "I answer myself", ""); client.ErrorCode(err) != "forbidden" {
		t.Fatalf("the asker answering = %v, want forbidden", err)
	}
	d, err := expertClient.DeclineQuestion(ctx, q2.ID, "Not my field.", "")
	if err != nil || d.Status != "declined" || d.DeclineReason != "Not my field." {
		t.Fatalf("DeclineQuestion = %+v, %v", d, err)
	}
	if got := available(t, askerClient, "", "USD"); got != 10_000-1001 {
		t.Fatalf("the asker has %d cents, want all but the answered question's price", got)
	}
	mine, err := askerClient.Questions(ctx, "", "", 1)
	if err != nil || len(mine.Data) != 1 || mine.Data[0].ID != q2.ID || mine.NextCursor == "" {
		t.Fatalf("Questions, first page = %+v, %v", mine, err)
	}
	more, err := askerClient.Questions(ctx, "", mine.NextCursor, 1)
	if err != nil || len(more.Data) != 1 || more.Data[0].ID != q.ID {
		t.Fatalf("Questions, second page = %+v, %v", more, err)
	}
	if got, err := expertClient.Question(ctx, q.ID); err != nil || got.Rating != 5 {
		t.Fatalf("Question = %+v, %v", got, err)
	}

	c, err := public.Charity(ctx, "eff")
	if err != nil || len(c.Received) != 1 || c.Received[0].Amount != a.Parts.Charity.Amount {
		t.Fatalf("Charity = %+v, %v", c, err)
	}
	if list, err := public.Charities(ctx); err != nil || len(list.Data) != 1 {
		t.Fatalf("Charities = %+v, %v", list, err)
	}
	dons, err := public.Donations(ctx, "eff", "", 0)
	if err != nil || len(dons.Data) != 1 || dons.Data[0].QuestionID != q.ID || dons.Charity.Receipt == "" {
		t.Fatalf("Donations = %+v, %v", dons, err)
	}
	if _, err := public.Question(ctx, q.ID); client.ErrorCode(err) != "unauthorized" {
		t.Fatalf("a question without a key = %v, want unauthorized", err)
	}
	for name, err := range map[string]error{
		"Expert":          func() error { _, err := public.Expert(ctx, ""); return err }(),
		"AskExpert":       func() error { _, err := askerClient.AskExpert(ctx, "", wire.AskRequest{Question: "q"}, ""); return err }(),
		"Question":        func() error { _, err := askerClient.Question(ctx, ""); return err }(),
		"RateAnswer":      func() error { _, err := askerClient.RateAnswer(ctx, "", 5, ""); return err }(),
		"Donations":       func() error { _, err := public.Donations(ctx, "", "", 0); return err }(),
		"Charity":         func() error { _, err := public.Charity(ctx, ""); return err }(),
		"AnswerQuestion":  func() error { _, err := expertClient.AnswerQuestion(ctx, "", "a", ""); return err }(),
		"DeclineQuestion": func() error { _, err := expertClient.DeclineQuestion(ctx, "", "", ""); return err }(),
	} {
		if err == nil || client.ErrorCode(err) != "" {
			t.Errorf("%s with an empty id = %v, want a local error", name, err)
		}
	}
}

// TestAskExpertRetriesWithTheSameKey loses the answer to an ask that the server ran: the
// client asks again with the same key, gets the first question back, and the price is held
// once.
func TestAskExpertRetriesWithTheSameKey(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	expert, expertClient := ts.createUser(t, "kay")
	asker, askerKey := ts.createUserKey(t, "asker")
	ts.credit(t, asker.ID, 5000, "USD")
	if _, err := expertClient.SetExpertProfile(context.Background(), wire.SetExpertRequest{Name: "Kay",
		Price: wire.MoneyRequest{Amount: 700, Asset: "USD"}, AnswerWindow: 3600}); err != nil {
		t.Fatal(err)
	}
	p := newProxy(t, ts.url, func(n int, w http.ResponseWriter, r *http.Request, forward http.Handler) {
		if n == 1 {
			forward.ServeHTTP(httptest.NewRecorder(), r) // the server holds the price; the answer is lost
			answer(w, http.StatusBadGateway, "bad gateway")
			return
		}
		forward.ServeHTTP(w, r)
	})
	var resp client.Response
	asker2 := client.New(p.URL, askerKey, fast())
	q, err := asker2.AskExpert(client.WithResponse(context.Background(), &resp), expert.Handle, wire.AskRequest{Question: "Lost and found?"}, "")
	if err != nil || !resp.Replayed || resp.Attempts != 2 {
		t.Fatalf("AskExpert = %+v, %v (replayed %v, %d attempts); want the first attempt's question, replayed", q, err, resp.Replayed, resp.Attempts)
	}
	reqs := p.requests()
	if len(reqs) != 2 || reqs[0].IdempotencyKey == "" || reqs[0].IdempotencyKey != reqs[1].IdempotencyKey {
		t.Fatalf("the proxy saw %+v; want two attempts with one key", reqs)
	}
	if got := held(t, client.New(ts.url, askerKey, fast()), "USD"); got != 700 {
		t.Fatalf("the asker holds %d cents, want one price", got)
	}
}
