package client_test

import (
	"context"
	"testing"

	"github.com/stipend/stipend/api/wire"
	"github.com/stipend/stipend/client"
)

// TestExpertLists goes through every call of expert lists: the operator makes a list of two
// experts, an asker finds it without a key and buys one response, the first member's reply is
// paid and the second's refused, and each party reads the question.
func TestExpertLists(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ctx := context.Background()
	admin := ts.adminClient()
	public := client.New(ts.url, "", fast())
	kay, kayClient := ts.createUser(t, "kay")
	lee, leeClient := ts.createUser(t, "lee")
	asker, askerClient := ts.createUser(t, "asker")
	ts.credit(t, asker.ID, 10_000, "USD")
	for _, c := range []*client.Client{kayClient, leeClient} {
		if _, err := c.SetExpertProfile(ctx, wire.SetExpertRequest{Name: "An Expert", Price: wire.MoneyRequest{Amount: 3000, Asset: "USD"},
			AnswerWindow: 86400}); err != nil {
			t.Fatal(err)
		}
	}
	req := wire.CreateListRequest{Handle: "kubernetes", Name: "Kubernetes", Price: wire.MoneyRequest{Amount: 1000, Asset: "USD"},
		AnswerWindow: 86400, Members: []string{kay.Handle, lee.ID}}
	if _, err := askerClient.CreateList(ctx, req); client.ErrorCode(err) != "forbidden" {
		t.Fatalf("CreateList by a user = %v, want forbidden", err)
	}
	l, err := admin.CreateList(ctx, req)
	if err != nil || l.Handle != "kubernetes" || len(l.Members) != 2 || l.Members[1].Handle != lee.Handle {
		t.Fatalf("CreateList = %+v, %v", l, err)
	}
	if index, err := public.Lists(ctx); err != nil || len(index.Data) != 1 || index.Data[0].ID != l.ID {
		t.Fatalf("Lists = %+v, %v", index, err)
	}
	if got, err := public.List(ctx, "kubernetes"); err != nil || got.Price.Amount != 1000 || got.Members[0].Name != "An Expert" {
		t.Fatalf("List = %+v, %v", got, err)
	}

	q, err := askerClient.AskList(ctx, "kubernetes", "Helm or Kustomize?", 1, "")
	if err != nil || q.Status != "open" || q.Responses != 1 || q.EscrowTotal.Amount != 1000 {
		t.Fatalf("AskList = %+v, %v", q, err)
	}
	if got := held(t, askerClient, "USD"); got != 1000 {
		t.Fatalf("the asker holds %d cents, want one response", got)
	}
	inbox, err := leeClient.ListInbox(ctx, "open", "", 0)
	if err != nil || len(inbox.Data) != 1 || inbox.Data[0].ID != q.ID {
		t.Fatalf("ListInbox = %+v, %v", inbox, err)
	}
	done, err := kayClient.Reply(ctx, q.ID, "Kustomize for small things.", "")
	if err != nil || done.Status != "completed" || len(done.Replies) != 1 {
		t.Fatalf("Reply = %+v, %v", done, err)
	}
	p := done.Replies[0].Parts
	if p.Fee.Amount+p.Charity.Amount+p.Earnings.Amount != 1000 || available(t, kayClient, "", "USD") != p.Earnings.Amount {
		t.Fatalf("the reply's parts %+v do not sum to the price, or were not paid", p)
	}
	if _, err := leeClient.Reply(ctx, q.ID, "Helm.", ""); client.ErrorCode(err) != "conflict" {
		t.Fatalf("a reply after every response was paid = %v, want conflict", err)
	}
	mine, err := askerClient.ListQuestions(ctx, "completed", "", 0)
	if err != nil || len(mine.Data) != 1 || mine.Data[0].ID != q.ID {
		t.Fatalf("ListQuestions = %+v, %v", mine, err)
	}
	for _, c := range []*client.Client{askerClient, leeClient} {
		if got, err := c.ListQuestion(ctx, q.ID); err != nil || len(got.Replies) != 1 || got.Replies[0].ExpertID != kay.ID {
			t.Fatalf("ListQuestion = %+v, %v", got, err)
		}
	}
	if _, err := public.ListQuestion(ctx, q.ID); client.ErrorCode(err) != "unauthorized" {
		t.Fatalf("a list question without a key = %v, want unauthorized", err)
	}
	for name, err := range map[string]error{
		"List":         func() error { _, err := public.List(ctx, ""); return err }(),
		"AskList":      func() error { _, err := askerClient.AskList(ctx, "", "q", 1, ""); return err }(),
		"ListQuestion": func() error { _, err := askerClient.ListQuestion(ctx, ""); return err }(),
		"Reply":        func() error { _, err := kayClient.Reply(ctx, "", "a", ""); return err }(),
	} {
		if err == nil || client.ErrorCode(err) != "" {
			t.Errorf("%s with an empty id = %v, want a local error", name, err)
		}
	}
}
