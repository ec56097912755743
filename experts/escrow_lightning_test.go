package experts_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/accounts"
	"github.com/stipend/stipend/experts"
	"github.com/stipend/stipend/internal/dbtest"
	"github.com/stipend/stipend/internal/jobs"
	"github.com/stipend/stipend/internal/regtest"
	"github.com/stipend/stipend/payments/ledger"
	"github.com/stipend/stipend/payments/lightning"
	"github.com/stipend/stipend/payments/lightning/lnd"
)

// lnWorld is the expert service with Lightning escrow on the platform node of the regtest
// network, on a real database, with a clock the test turns forward, and the payer node's
// client for the asker's wallet.
type lnWorld struct {
	*world
	net      *regtest.Network
	platform *lnd.Client
	payer    *lnd.Client
	clock    *movableClock
	svc      *experts.Service
}

// movableClock is the real time plus an offset the test turns forward.
type movableClock struct{ offset atomic.Int64 }

func (c *movableClock) now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *movableClock) forward(d time.Duration) { c.offset.Add(int64(d)) }
func (c *movableClock) until(t time.Time) time.Duration {
	return time.Until(t) - time.Duration(c.offset.Load())
}

// eachDatabaseInTurn runs fn on each database, one after the other: the tests compare the
// payer node's balance before and after, which a payment of another test would change. With
// watch, the world's service watches hold invoices as a running server does.
func eachDatabaseInTurn(t *testing.T, watch bool, fn func(t *testing.T, w *lnWorld)) {
	t.Helper()
	net := regtest.Shared(t)
	for _, dialect := range dbtest.Dialects {
		t.Run(string(dialect), func(t *testing.T) {
			w := &lnWorld{world: newWorld(t, dbtest.Open(t, dialect)), net: net, clock: &movableClock{}}
			w.platform, w.payer = net.Platform.Client(t), net.Payer.Client(t)
			w.svc = w.service(nil)
			if watch {
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan struct{})
				go func() { w.svc.WatchHolds(ctx); close(done) }()
				t.Cleanup(func() { cancel(); <-done })
			}
			fn(t, w)
		})
	}
}

// service returns an expert service on the world's store and clock with the platform node as
// its Lightning escrow; node replaces the node when not nil.
func (w *lnWorld) service(node lightning.Node) *experts.Service {
	if node == nil {
		node = w.platform
	}
	return experts.NewService(w.st, accounts.NewService(w.st, w.clock.now), experts.Options{FeeBPS: feeBPS, Now: w.clock.now,
		Lightning: &experts.Lightning{Node: node, Rescan: 100 * time.Millisecond}})
}

func (w *lnWorld) askLightning(t *testing.T, body string) *experts.Question {
	t.Helper()
	q, err := w.svc.Ask(context.Background(), w.asker, w.expert.Account.Handle, body, experts.EscrowLightning, stipend.NewID("idem"))
	if err != nil {
		t.Fatal(err)
	}
	if q.Status != experts.AwaitingPayment || q.Invoice == nil || q.Invoice.State != experts.HoldOpen || q.HoldID != "" {
		t.Fatalf("asked with Lightning escrow: %+v", q)
	}
	return q
}

// pay pays a question's hold invoice from the payer node. The payment completes only when the
// invoice is settled or cancelled, so its result comes on the channel.
func (w *lnWorld) pay(t *testing.T, q *experts.Question) <-chan *lightning.Payment {
	t.Helper()
	out := make(chan *lightning.Payment, 1)
	go func() {
		p, err := w.payer.SendPayment(context.Background(), lightning.PaymentRequest{Invoice: q.Invoice.PaymentRequest, FeeLimitMsat: 10_000,
			Timeout: time.Minute})
		if err != nil {
			t.Errorf("paying the hold invoice: %v", err)
		}
		out <- p
	}()
	return out
}

// waitStatus waits until question id has status want.
func (w *lnWorld) waitStatus(t *testing.T, id, want string) *experts.Question {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		q, err := w.st.Question(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if q.Status == want {
			return q
		}
		if time.Now().After(deadline) {
			t.Fatalf("question %s is %s after a minute, want %s", id, q.Status, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func job(kind, questionID string) jobs.Job {
	payload, _ := json.Marshal(experts.EscrowJob{QuestionID: questionID})
	return jobs.Job{Kind: kind, Payload: payload, Attempt: 1, MaxAttempts: 1000}
}

// TestLightningEscrowOpensOnPaymentAndSettlesOnAnswer asks with a hold invoice: nothing opens
// or is charged until the payer node's HTLC is accepted; the answer settles the invoice, the
// platform node receives the price, and the ledger credits the expert, the fee and the
// charity from the node exactly once.
func TestLightningEscrowOpensOnPaymentAndSettlesOnAnswer(t *testing.T) {
	eachDatabaseInTurn(t, true, func(t *testing.T, w *lnWorld) {
		ctx := context.Background()
		payerBefore, platformBefore := w.net.Payer.SettledBalance(t), w.net.Platform.SettledBalance(t)
		q := w.askLightning(t, "How do I drain a node without downtime?")
		price := ledger.Sat(1000)
		if q.Invoice.AmountMsat != price.Value {
			t.Fatalf("hold invoice of %d msat, want %d", q.Invoice.AmountMsat, price.Value)
		}
		inbox, _, err := w.svc.Inbox(ctx, w.expert, "", "", 0)
		if err != nil || len(inbox) != 0 {
			t.Fatalf("the expert's inbox shows an unpaid question: %+v, %v", inbox, err)
		}
		_, err = w.svc.Answer(ctx, w.expert, q.ID, "Too early")
		wantCode(t, err, stipend.ECONFLICT)

		paid := w.pay(t, q)
		opened := w.waitStatus(t, q.ID, experts.Open)
		if opened.Invoice.State != experts.HoldAccepted || opened.Invoice.HTLCExpiry == 0 || opened.Invoice.AmountPaidMsat != price.Value {
			t.Fatalf("opened question's invoice: %+v", opened.Invoice)
		}
		if got := opened.Deadline.Sub(w.clock.now()); got > time.Hour || got < 59*time.Minute {
			t.Fatalf("the deadline is %s away, want the expert's window of an hour", got)
		}
		if avail, held := w.balance(t, ledger.AccountAddress(w.asker.Account.ID)); avail != 100_000_000 || held != 0 {
			t.Fatalf("a Lightning escrow touched the asker's balance: %d available, %d held", avail, held)
		}
		if lnBal, _ := w.balance(t, ledger.ExternalAddress("lightning")); lnBal != 0 {
			t.Fatalf("the ledger moved %d msat before the answer", lnBal)
		}

		answered, err := w.svc.Answer(ctx, w.expert, q.ID, "Cordon, then drain with a PodDisruptionBudget in place.")
		if err != nil {
			t.Fatal(err)
		}
		if answered.Status != experts.Answered || answered.Invoice.State != experts.HoldSettled || answered.LedgerTx == "" {
			t.Fatalf("answered question: status %s, invoice %+v, ledger tx %q", answered.Status, answered.Invoice, answered.LedgerTx)
		}
		p := <-paid
		if p == nil || p.Status != lightning.PaymentSucceeded {
			t.Fatalf("the payer's payment after the answer: %+v", p)
		}
		if got := w.net.Platform.SettledBalance(t) - platformBefore; got != price.Value {
			t.Fatalf("the platform node received %d msat, want %d", got, price.Value)
		}
		if got := payerBefore - w.net.Payer.SettledBalance(t); got != price.Value+p.FeeMsat {
			t.Fatalf("the payer node paid %d msat, want %d and a fee of %d", got, price.Value, p.FeeMsat)
		}
		parts := answered.Parts
		if parts.Fee+parts.Charity+parts.Earnings != price.Value || parts.Charity == 0 || parts.Fee == 0 {
			t.Fatalf("parts %+v do not split the price %d", parts, price.Value)
		}
		for _, c := range []struct {
			address string
			want    int64
		}{
			{ledger.AccountAddress(w.expert.Account.ID), parts.Earnings},
			{ledger.FeesAddress, parts.Fee},
			{ledger.AccountAddress(w.charity.AccountID), parts.Charity},
			{ledger.ExternalAddress("lightning"), -price.Value},
			{ledger.AccountAddress(w.asker.Account.ID), 100_000_000},
		} {
			if got, _ := w.balance(t, c.address); got != c.want {
				t.Errorf("%s holds %d msat, want %d", c.address, got, c.want)
			}
		}
		// The job scheduled with the answer, and a replay of the settlement, change nothing.
		if err := w.svc.HandleSettleHold(ctx, job(experts.JobSettleHold, q.ID)); err != nil {
			t.Fatal(err)
		}
		if _, err := w.st.SettledHold(ctx, q.ID, price.Value, w.clock.now()); err != nil {
			t.Fatal(err)
		}
		if got, _ := w.balance(t, ledger.ExternalAddress("lightning")); got != -price.Value {
			t.Fatalf("a replayed settlement moved the node's account to %d msat", got)
		}
		charity, err := w.svc.Charity(ctx, "eff")
		if err != nil || len(charity.Received) != 1 || charity.Received[0].Value != parts.Charity {
			t.Fatalf("charity after a Lightning answer: %+v, %v", charity, err)
		}
		w.checkLedger(t)
	})
}

// TestLightningEscrowCancelsAtDeadlineAndOnDecline holds two paid questions: one passes its
// deadline, the other is declined. Both invoices are cancelled, the payer's payments fail
// back, and the payer node's balance is what it was; the ledger never moved.
func TestLightningEscrowCancelsAtDeadlineAndOnDecline(t *testing.T) {
	eachDatabaseInTurn(t, true, func(t *testing.T, w *lnWorld) {
		ctx := context.Background()
		payerBefore := w.net.Payer.SettledBalance(t)
		late, declined := w.askLightning(t, "Will anyone answer this?"), w.askLightning(t, "Is this off topic?")
		latePaid, declinedPaid := w.pay(t, late), w.pay(t, declined)
		late = w.waitStatus(t, late.ID, experts.Open)
		w.waitStatus(t, declined.ID, experts.Open)

		// Before the deadline the expiry job only waits, and looks at the height again soon.
		err := w.svc.HandleExpire(ctx, expireJob(late.ID))
		if d, ok := jobs.IsSnooze(err); !ok || d > time.Minute {
			t.Fatalf("expiry before the deadline = %v, want a snooze of at most a minute", err)
		}
		w.clock.forward(w.clock.until(late.Deadline))
		if err := w.svc.HandleExpire(ctx, expireJob(late.ID)); err != nil {
			t.Fatal(err)
		}
		if _, err := w.svc.Decline(ctx, w.expert, declined.ID, "Off topic"); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			id, status string
			paid       <-chan *lightning.Payment
		}{{late.ID, experts.Expired, latePaid}, {declined.ID, experts.Declined, declinedPaid}} {
			q, err := w.st.Question(ctx, c.id)
			if err != nil || q.Status != c.status || q.Invoice.State != experts.HoldCanceled || q.LedgerTx != "" {
				t.Fatalf("question %s: %+v, %v; want %s with its invoice cancelled", c.id, q, err, c.status)
			}
			if p := <-c.paid; p == nil || p.Status != lightning.PaymentFailed {
				t.Fatalf("the payer's payment for a %s question: %+v", c.status, p)
			}
			u, err := w.platform.LookupInvoice(ctx, q.Invoice.Hash)
			if err != nil || u.State != lightning.InvoiceCanceled {
				t.Fatalf("the node's invoice of a %s question: %+v, %v", c.status, u, err)
			}
		}
		if after := w.net.Payer.SettledBalance(t); after != payerBefore {
			t.Fatalf("the payer node holds %d msat after the refunds, %d before", after, payerBefore)
		}
		_, err = w.svc.Answer(ctx, w.expert, late.ID, "Sorry, too late")
		wantCode(t, err, stipend.ECONFLICT)
		if got, _ := w.balance(t, ledger.ExternalAddress("lightning")); got != 0 {
			t.Fatalf("unanswered questions moved %d msat in the ledger", got)
		}
		w.checkLedger(t)
	})
}

// TestLightningEscrowUnpaidAndMissedPayments covers the invoices nobody watched, as after a
// server went down: one never paid ends unpaid at its expiry and is cancelled; one paid while
// no watcher ran is opened by the job due at its expiry; an answer that committed before a
// crash is settled by its job.
func TestLightningEscrowUnpaidAndMissedPayments(t *testing.T) {
	eachDatabaseInTurn(t, false, func(t *testing.T, w *lnWorld) {
		ctx := context.Background()
		down := w.svc
		ask := func(body string) *experts.Question {
			q, err := down.Ask(ctx, w.asker, w.expert.Account.Handle, body, experts.EscrowLightning, stipend.NewID("idem"))
			if err != nil {
				t.Fatal(err)
			}
			return q
		}
		unpaid := ask("Nobody pays for this one")
		missed := ask("Paid while the server was down")
		err := down.HandlePaymentDue(ctx, job(experts.JobPaymentDue, unpaid.ID))
		if _, ok := jobs.IsSnooze(err); !ok {
			t.Fatalf("the payment check before the invoice expires = %v, want a snooze", err)
		}
		paid := w.pay(t, missed)
		w.waitForAccepted(t, missed.Invoice.Hash)
		if q, err := w.st.Question(ctx, missed.ID); err != nil || q.Status != experts.AwaitingPayment {
			t.Fatalf("with no watcher, a paid question changed: %+v, %v", q, err)
		}
		w.clock.forward(w.clock.until(missed.Invoice.ExpiresAt) + time.Second)
		for _, id := range []string{unpaid.ID, missed.ID} {
			if err := down.HandlePaymentDue(ctx, job(experts.JobPaymentDue, id)); err != nil {
				t.Fatal(err)
			}
		}
		q, err := w.st.Question(ctx, unpaid.ID)
		if err != nil || q.Status != experts.Unpaid || q.Invoice.State != experts.HoldCanceled {
			t.Fatalf("an invoice never paid: %+v, %v", q, err)
		}
		if u, err := w.platform.LookupInvoice(ctx, unpaid.Invoice.Hash); err != nil || u.State != lightning.InvoiceCanceled {
			t.Fatalf("the node's invoice of an unpaid question: %+v, %v", u, err)
		}
		opened := w.waitStatus(t, missed.ID, experts.Open)

		// The answer commits, and the server dies before it settles: the job settles.
		if _, err := w.st.AnswerQuestion(ctx, opened.ID, "Here it is", w.clock.now()); err != nil {
			t.Fatal(err)
		}
		if err := down.HandleSettleHold(ctx, job(experts.JobSettleHold, opened.ID)); err != nil {
			t.Fatal(err)
		}
		q, err = w.st.Question(ctx, opened.ID)
		if err != nil || q.Invoice.State != experts.HoldSettled || q.LedgerTx == "" {
			t.Fatalf("an answer settled by its job: %+v, %v", q, err)
		}
		if p := <-paid; p == nil || p.Status != lightning.PaymentSucceeded {
			t.Fatalf("the payer's payment: %+v", p)
		}
		w.checkLedger(t)
	})
}

// waitForAccepted waits until the platform node holds an HTLC for the invoice.
func (w *lnWorld) waitForAccepted(t *testing.T, hash string) {
	t.Helper()
	for range 1200 {
		u, err := w.platform.LookupInvoice(context.Background(), hash)
		if err != nil {
			t.Fatal(err)
		}
		if u.State == lightning.InvoiceAccepted {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("invoice %s was never accepted", hash)
}

// TestLightningAskReplaysAndRefusals asks concurrently with one idempotency key: one question
// and one invoice come of it, and the invoices made by the losers are cancelled. It also
// checks what the Lightning escrow refuses.
func TestLightningAskReplaysAndRefusals(t *testing.T) {
	eachDatabaseInTurn(t, true, func(t *testing.T, w *lnWorld) {
		ctx := context.Background()
		known := map[string]bool{}
		invoices, err := w.platform.ListInvoices(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range invoices {
			known[u.Hash] = true
		}
		var wg sync.WaitGroup
		got := make([]*experts.Question, 8)
		for i := range got {
			wg.Go(func() {
				q, err := w.svc.Ask(ctx, w.asker, w.expert.Account.Handle, "Only once, please", experts.EscrowLightning, "same-key")
				if err != nil {
					t.Errorf("ask %d: %v", i, err)
				}
				got[i] = q
			})
		}
		wg.Wait()
		for _, q := range got {
			if q == nil || q.ID != got[0].ID || q.Invoice.Hash != got[0].Invoice.Hash {
				t.Fatalf("concurrent asks with one key made different questions: %+v and %+v", q, got[0])
			}
		}
		// Every invoice made by an ask that lost the race is cancelled: nobody was given it.
		if invoices, err = w.platform.ListInvoices(ctx); err != nil {
			t.Fatal(err)
		}
		for _, u := range invoices {
			if !known[u.Hash] && u.Hash != got[0].Invoice.Hash && u.State != lightning.InvoiceCanceled {
				t.Errorf("an unused hold invoice is %s", u.State)
			}
		}
		_, err = w.svc.Ask(ctx, w.asker, w.expert.Account.Handle, "Only once, please", experts.EscrowBalance, "same-key")
		wantCode(t, err, stipend.EIDEMPOTENCYMISMATCH)

		tests := []struct {
			name    string
			profile experts.ProfileInput
			svc     *experts.Service
			code    string
		}{
			{"an answer window longer than the invoice can be held", experts.ProfileInput{Name: "Slow", Price: ledger.Sat(10),
				AnswerWindow: 72 * time.Hour, Accepting: true}, w.svc, stipend.EINVALID},
			{"a price in dollars", experts.ProfileInput{Name: "Fiat", Price: ledger.Amount{Value: 500, Asset: ledger.USD},
				AnswerWindow: time.Hour, Accepting: true}, w.svc, stipend.EINVALID},
			{"no Lightning node", experts.ProfileInput{Name: "Plain", Price: ledger.Sat(10), AnswerWindow: time.Hour, Accepting: true},
				experts.NewService(w.st, accounts.NewService(w.st, nil), experts.Options{FeeBPS: feeBPS}), stipend.EUNAVAILABLE},
		}
		for i, tt := range tests {
			expert := w.principal(t, fmt.Sprintf("refuser%d", i), accounts.DefaultScopes()...)
			w.setProfile(t, expert, tt.profile)
			before, _ := w.platform.ListInvoices(ctx)
			_, err := tt.svc.Ask(ctx, w.asker, expert.Account.Handle, "Can I pay by Lightning?", experts.EscrowLightning, stipend.NewID("k"))
			if stipend.ErrorCode(err) != tt.code {
				t.Errorf("%s: %v, want %s", tt.name, err, tt.code)
			}
			if after, _ := w.platform.ListInvoices(ctx); len(after) != len(before) {
				t.Errorf("%s: an invoice was made", tt.name)
			}
		}
		if qs, _, err := w.st.Questions(ctx, experts.QuestionFilter{AskerID: w.asker.Account.ID}); err != nil || len(qs) != 1 {
			t.Fatalf("the asker has %d questions, want the one: %v", len(qs), err)
		}
	})
}

func expireJob(id string) jobs.Job {
	payload, _ := json.Marshal(experts.ExpireJob{QuestionID: id})
	return jobs.Job{Kind: experts.JobExpire, Payload: payload, Attempt: 1, MaxAttempts: 1000}
}

// TestLightningEscrowEndsEarlyWhenBlocksComeFast holds a payment whose HTLC expires 50 blocks
// after it is accepted, and mines up to Stipend's margin before the deadline: the answer is
// refused, the expiry job ends the question at once, and the payer gets the payment back.
func TestLightningEscrowEndsEarlyWhenBlocksComeFast(t *testing.T) {
	eachDatabaseInTurn(t, false, func(t *testing.T, w *lnWorld) {
		ctx := context.Background()
		svc := experts.NewService(w.st, accounts.NewService(w.st, w.clock.now), experts.Options{FeeBPS: feeBPS, Now: w.clock.now,
			Lightning: &experts.Lightning{Node: w.platform, CltvExpiry: 50}})
		payerBefore := w.net.Payer.SettledBalance(t)
		q, err := svc.Ask(ctx, w.asker, w.expert.Account.Handle, "Quick, before the blocks run out?", experts.EscrowLightning, stipend.NewID("idem"))
		if err != nil {
			t.Fatal(err)
		}
		paid := w.pay(t, q)
		w.waitForAccepted(t, q.Invoice.Hash)
		u, err := w.platform.LookupInvoice(ctx, q.Invoice.Hash)
		if err != nil {
			t.Fatal(err)
		}
		if err := svc.HandlePaymentDue(ctx, job(experts.JobPaymentDue, q.ID)); err == nil {
			t.Fatal("the payment check ran before the invoice expired")
		}
		w.clock.forward(w.clock.until(q.Invoice.ExpiresAt) + time.Second)
		if err := svc.HandlePaymentDue(ctx, job(experts.JobPaymentDue, q.ID)); err != nil {
			t.Fatal(err)
		}
		opened := w.waitStatus(t, q.ID, experts.Open)
		info, err := w.platform.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.net.MineAndSync(ctx, int(u.CancelByHeight()-info.BlockHeight)); err != nil {
			t.Fatal(err)
		}
		_, err = svc.Answer(ctx, w.expert, q.ID, "Too late, the blocks ran out")
		wantCode(t, err, stipend.ECONFLICT)
		if w.clock.until(opened.Deadline) <= 0 {
			t.Fatal("the deadline passed; this test is about the height")
		}
		if err := svc.HandleExpire(ctx, expireJob(q.ID)); err != nil {
			t.Fatal(err)
		}
		ended, err := w.st.Question(ctx, q.ID)
		if err != nil || ended.Status != experts.Expired || ended.Invoice.State != experts.HoldCanceled {
			t.Fatalf("after the blocks: %+v, %v", ended, err)
		}
		if p := <-paid; p == nil || p.Status != lightning.PaymentFailed {
			t.Fatalf("the payer's payment: %+v", p)
		}
		if after := w.net.Payer.SettledBalance(t); after != payerBefore {
			t.Fatalf("the payer node holds %d msat, %d before", after, payerBefore)
		}
	})
}
