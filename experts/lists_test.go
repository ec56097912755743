package experts_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/accounts"
	"github.com/stipend/stipend/experts"
	"github.com/stipend/stipend/internal/db"
	"github.com/stipend/stipend/internal/dbtest"
	"github.com/stipend/stipend/internal/jobs"
	"github.com/stipend/stipend/payments/ledger"
)

// newList makes n more experts, without charities, and a "kubernetes" list of them and the
// world's expert at 1,000 sat per response; it returns the list and its members.
func (w *world) newList(t *testing.T, n int) (*experts.List, []*accounts.Principal) {
	t.Helper()
	members := []*accounts.Principal{w.expert}
	handles := []string{w.expert.Account.Handle}
	for i := range n {
		p := w.principal(t, fmt.Sprintf("member%d", i), accounts.DefaultScopes()...)
		w.setProfile(t, p, experts.ProfileInput{Name: p.Account.Name, Price: ledger.Sat(3000), AnswerWindow: time.Hour, Accepting: true})
		members = append(members, p)
		handles = append(handles, p.Account.Handle)
	}
	l, err := w.svc.CreateList(context.Background(), w.ops, experts.NewList{Handle: "kubernetes", Name: "Kubernetes",
		Price: ledger.Sat(1000), AnswerWindow: time.Hour, Members: handles})
	if err != nil {
		t.Fatal(err)
	}
	return l, members
}

// TestListPaysEachReplyUpToTheResponsesBought: one question to a list of three buys two
// replies; the first two members are paid (one of them sharing with a charity), the third
// is refused, and the question completes.
func TestListPaysEachReplyUpToTheResponsesBought(t *testing.T) {
	t.Parallel()
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		w := newWorld(t, d)
		ctx := context.Background()
		l, members := w.newList(t, 2)
		if len(l.Members) != 3 {
			t.Fatalf("list members = %v", l.Members)
		}
		q, err := w.svc.AskList(ctx, w.asker, "Kubernetes", "Which ingress controller in 2026?", 2, "k1")
		if err != nil {
			t.Fatal(err)
		}
		if avail, held := w.balance(t, ledger.AccountAddress(w.asker.Account.ID)); avail != 98_000_000 || held != 2_000_000 {
			t.Fatalf("asker: available %d, held %d; want two responses held", avail, held)
		}
		outsider := w.principal(t, "outsider", accounts.DefaultScopes()...)
		_, err = w.svc.Reply(ctx, outsider, q.ID, "me too")
		wantCode(t, err, stipend.EFORBIDDEN)
		_, err = w.svc.ListQuestion(ctx, outsider, q.ID)
		wantCode(t, err, stipend.EFORBIDDEN)

		if _, err := w.svc.Reply(ctx, members[0], q.ID, "Gateway API with Envoy"); err != nil {
			t.Fatal(err)
		}
		_, err = w.svc.Reply(ctx, members[0], q.ID, "and again")
		wantCode(t, err, stipend.ECONFLICT)
		got, err := w.svc.Reply(ctx, members[1], q.ID, "ingress-nginx still")
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != experts.Completed || got.Paid != 2 || len(got.Replies) != 2 {
			t.Fatalf("list question after two replies = %+v", got)
		}
		_, err = w.svc.Reply(ctx, members[2], q.ID, "Traefik")
		wantCode(t, err, stipend.ECONFLICT)

		// members[0] is the expert who gives a quarter to the charity; members[1] keeps all.
		shared, _ := experts.Split(1_000_000, feeBPS, 2500)
		whole, _ := experts.Split(1_000_000, feeBPS, 0)
		if got.Replies[0].Parts != shared || got.Replies[1].Parts != whole {
			t.Fatalf("reply parts = %+v and %+v", got.Replies[0].Parts, got.Replies[1].Parts)
		}
		for i, want := range []int64{shared.Earnings, whole.Earnings, 0} {
			if avail, _ := w.balance(t, ledger.AccountAddress(members[i].Account.ID)); avail != want {
				t.Fatalf("member %d earned %d, want %d", i, avail, want)
			}
		}
		if avail, held := w.balance(t, ledger.AccountAddress(w.asker.Account.ID)); avail != 98_000_000 || held != 0 {
			t.Fatalf("asker at the end: available %d, held %d", avail, held)
		}
		_, ds, _, err := w.svc.Donations(ctx, "eff", "", 0)
		if err != nil || len(ds) != 1 || ds[0].Amount != shared.Charity || ds[0].QuestionID != q.ID {
			t.Fatalf("donations = %+v, %v", ds, err)
		}
		// The expiry job finds nothing left to do.
		if err := w.expireList(q.ID, t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		w.checkLedger(t)
	})
}

// TestListDeadlineReturnsTheResponsesNotGiven: three responses bought, one given; the
// deadline returns the other two, once.
func TestListDeadlineReturnsTheResponsesNotGiven(t *testing.T) {
	t.Parallel()
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		w := newWorld(t, d)
		ctx := context.Background()
		_, members := w.newList(t, 2)
		q, err := w.svc.AskList(ctx, w.asker, "kubernetes", "How big should etcd's disk be?", 3, "k1")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.svc.Reply(ctx, members[1], q.ID, "8 GiB, on SSD"); err != nil {
			t.Fatal(err)
		}
		if _, snoozed := jobs.IsSnooze(w.expireList(q.ID, t0.Add(10*time.Minute))); !snoozed {
			t.Fatal("an early expiry did not wait for the deadline")
		}
		// After the deadline no reply is paid, even before the job runs.
		_, err = serviceAt(w.st, t0.Add(time.Hour)).Reply(ctx, members[2], q.ID, "too late")
		wantCode(t, err, stipend.ECONFLICT)
		for range 2 {
			if err := w.expireList(q.ID, t0.Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
		}
		got, err := w.svc.ListQuestion(ctx, w.asker, q.ID)
		if err != nil || got.Status != experts.Expired || got.Paid != 1 {
			t.Fatalf("list question after the deadline = %+v, %v", got, err)
		}
		if avail, held := w.balance(t, ledger.AccountAddress(w.asker.Account.ID)); avail != 99_000_000 || held != 0 {
			t.Fatalf("asker after the deadline: available %d, held %d; want one response paid", avail, held)
		}
		w.checkLedger(t)
	})
}

// TestListRepliesRaceForTheLastResponses: twenty members reply at once to a question that
// bought five responses; exactly five are paid.
func TestListRepliesRaceForTheLastResponses(t *testing.T) {
	t.Parallel()
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		w := newWorld(t, d)
		ctx := context.Background()
		_, members := w.newList(t, 19)
		q, err := w.svc.AskList(ctx, w.asker, "kubernetes", "Helm or Kustomize?", 5, "k1")
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make([]error, len(members))
		for i, m := range members {
			wg.Go(func() { _, errs[i] = w.svc.Reply(ctx, m, q.ID, "It depends") })
		}
		wg.Wait()
		paid := 0
		for _, err := range errs {
			switch stipend.ErrorCode(err) {
			case "":
				paid++
			case stipend.ECONFLICT:
			default:
				t.Fatalf("reply: %v", err)
			}
		}
		got, err := w.svc.ListQuestion(ctx, w.asker, q.ID)
		if err != nil || paid != 5 || got.Paid != 5 || len(got.Replies) != 5 || got.Status != experts.Completed {
			t.Fatalf("%d replies paid; question = %+v, %v", paid, got, err)
		}
		if avail, held := w.balance(t, ledger.AccountAddress(w.asker.Account.ID)); avail != 95_000_000 || held != 0 {
			t.Fatalf("asker: available %d, held %d", avail, held)
		}
		w.checkLedger(t)
	})
}

// TestListBadInput checks the refusals of lists and their questions, and that they moved
// nothing.
func TestListBadInput(t *testing.T) {
	t.Parallel()
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		w := newWorld(t, d)
		ctx := context.Background()
		good := experts.NewList{Handle: "helm", Name: "Helm", Price: ledger.Sat(500), AnswerWindow: time.Hour, Members: []string{w.expert.Account.Handle}}
		lists := []struct {
			name   string
			actor  *accounts.Principal
			change func(*experts.NewList)
			code   string
		}{
			{"not an operator", w.asker, func(*experts.NewList) {}, stipend.EFORBIDDEN},
			{"a price of zero", w.ops, func(n *experts.NewList) { n.Price = ledger.Sat(0) }, stipend.EINVALID},
			{"no members", w.ops, func(n *experts.NewList) { n.Members = nil }, stipend.EINVALID},
			{"a member who is no expert", w.ops, func(n *experts.NewList) { n.Members = []string{w.asker.Account.Handle} }, stipend.ENOTFOUND},
			{"a bad handle", w.ops, func(n *experts.NewList) { n.Handle = "Helm Charts" }, stipend.EINVALID},
		}
		for _, tt := range lists {
			n := good
			tt.change(&n)
			if _, err := w.svc.CreateList(ctx, tt.actor, n); stipend.ErrorCode(err) != tt.code {
				t.Errorf("%s: error %v, want %s", tt.name, err, tt.code)
			}
		}
		if ls, err := w.svc.Lists(ctx); err != nil || len(ls) != 0 {
			t.Fatalf("refused lists were stored: %v, %v", ls, err)
		}
		if _, err := w.svc.CreateList(ctx, w.ops, good); err != nil {
			t.Fatal(err)
		}
		_, err := w.svc.CreateList(ctx, w.ops, good)
		wantCode(t, err, stipend.ECONFLICT)

		for _, tt := range []struct {
			name, list string
			responses  int
			code       string
		}{
			{"no responses", "helm", 0, stipend.EINVALID},
			{"more responses than members", "helm", 2, stipend.EINVALID},
			{"an unknown list", "nope-nope", 1, stipend.ENOTFOUND},
		} {
			if _, err := w.svc.AskList(ctx, w.asker, tt.list, "A question", tt.responses, "k-"+tt.name); stipend.ErrorCode(err) != tt.code {
				t.Errorf("%s: error %v, want %s", tt.name, err, tt.code)
			}
		}
		if avail, held := w.balance(t, ledger.AccountAddress(w.asker.Account.ID)); avail != 100_000_000 || held != 0 {
			t.Fatalf("refused list questions moved money: available %d, held %d", avail, held)
		}
	})
}
