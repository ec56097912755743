package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/experts"
	"github.com/stipend/stipend/payments/ledger"
	"github.com/stipend/stipend/payments/stripe"
)

// The terms every card question of these tests is asked on. A price of 10.00 USD with a 5 %
// fee and a 10 % charity share splits into round parts: 0.50 to the platform, 0.95 to the
// charity and 8.55 to the expert, so the ledger's credits can be checked to the cent.
var cardPrice = ledger.Cents(1000, ledger.USD)

const (
	cardFeeBPS       = 500
	cardCharityShare = 1000
	cardFee          = 50
	cardCharity      = 95
	cardEarnings     = 855
	cardWindow       = 24 * time.Hour
	cardPayWindow    = time.Hour
)

// cardWorld is an asker, an expert who gives a share to a charity, and the times at which the
// questions of one test are asked, opened and answered.
type cardWorld struct {
	s       *Store
	asker   string
	expert  string
	charity *experts.Charity
	// askedAt is when questions are asked and openedAt when their payment is authorised, both
	// to the microsecond, as the database keeps times.
	askedAt  time.Time
	openedAt time.Time
}

// newCardWorld creates the accounts, the charity and the expert's profile on s.
func newCardWorld(t *testing.T, s *Store) *cardWorld {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Microsecond)
	asker := newUser(t, s, "asker")
	expert := newUser(t, s, "expert")
	id := stipend.NewID("chr")
	charity, err := s.CreateCharity(ctx, &experts.Charity{ID: id, AccountID: stipend.NewID("acct"), Handle: "charity-" + id[len(id)-10:],
		Name: "A Charity", Receipt: "A Charity, 1 Main Street", Destinations: map[string]string{}, CreatedAt: now})
	if err != nil {
		t.Fatalf("creating the charity: %v", err)
	}
	if _, err := s.SaveProfile(ctx, &experts.Profile{AccountID: expert.ID, Name: "Expert", Price: cardPrice, AnswerWindow: cardWindow,
		Accepting: true, CharityID: charity.ID, CharityShare: cardCharityShare, UpdatedAt: now}); err != nil {
		t.Fatalf("saving the expert's profile: %v", err)
	}
	return &cardWorld{s: s, asker: asker.ID, expert: expert.ID, charity: charity, askedAt: now, openedAt: now.Add(5 * time.Minute)}
}

// question is a card question as the experts service builds it before AskCard: awaiting
// payment, its escrow pending, its deadline the latest it could be.
func (w *cardWorld) question() *experts.Question {
	payBy := w.askedAt.Add(cardPayWindow)
	return &experts.Question{ID: stipend.NewID("qst"), ExpertID: w.expert, AskerID: w.asker, Body: "How does a card escrow work?",
		Price: cardPrice, FeeBPS: cardFeeBPS, CharityID: w.charity.ID, CharityShare: cardCharityShare, Escrow: experts.EscrowCard,
		AnswerWindow: cardWindow, Status: experts.AwaitingPayment, Deadline: payBy.Add(cardWindow), CreatedAt: w.askedAt,
		Card: &experts.CardEscrow{State: experts.CardPending, PayBy: payBy}}
}

// hash is the input hash of q, as the experts service computes it.
func (w *cardWorld) hash(q *experts.Question) string {
	return experts.InputHash(q.ExpertID, q.Body, q.Price, q.Escrow)
}

// ask stores a fresh card question under a fresh idempotency key.
func (w *cardWorld) ask(t *testing.T) *experts.Question {
	t.Helper()
	q := w.question()
	out, err := w.s.AskCard(context.Background(), q, w.asker+":"+stipend.NewID("key"), w.hash(q))
	if err != nil {
		t.Fatalf("asking a card question: %v", err)
	}
	return out
}

// askBalance stores an open question paid from the asker's balance, which has no card escrow.
func (w *cardWorld) askBalance(t *testing.T) *experts.Question {
	t.Helper()
	credit(t, w.s, w.asker, cardPrice)
	q := w.question()
	q.Escrow, q.Card, q.Status, q.Deadline = experts.EscrowBalance, nil, experts.Open, w.askedAt.Add(cardWindow)
	out, err := w.s.Ask(context.Background(), q, w.asker+":"+stipend.NewID("key"), w.hash(q))
	if err != nil {
		t.Fatalf("asking a balance question: %v", err)
	}
	return out
}

// cardIntentID is the PaymentIntent id Stripe would have made for question id.
func cardIntentID(id string) string { return "pi_" + id }

// payment is what Stripe reports of question q's intent: authorised or captured for its price,
// capturable for the usual six days from when it was asked.
func (w *cardWorld) payment(q *experts.Question, at time.Time) stripe.EscrowPayment {
	return stripe.EscrowPayment{QuestionID: q.ID, PaymentIntent: cardIntentID(q.ID), Amount: q.Price, CaptureBy: stripe.CaptureBy(q.CreatedAt), At: at}
}

// open records the intent of a fresh card question and opens it, as the asker's
// authorisation does.
func (w *cardWorld) open(t *testing.T) *experts.Question {
	t.Helper()
	q := w.ask(t)
	ctx := context.Background()
	if err := w.s.SetCardIntent(ctx, q.ID, cardIntentID(q.ID)); err != nil {
		t.Fatalf("recording the intent: %v", err)
	}
	out, err := w.s.OpenCardQuestion(ctx, q.ID, w.payment(q, w.openedAt))
	if err != nil {
		t.Fatalf("opening the question: %v", err)
	}
	wantCard(t, out, experts.Open, experts.CardAuthorized)
	return out
}

// answered opens a fresh card question and answers it, which marks its payment to be captured.
func (w *cardWorld) answered(t *testing.T) *experts.Question {
	t.Helper()
	q := w.open(t)
	out, err := w.s.AnswerQuestion(context.Background(), q.ID, "It is held, then captured.", w.openedAt.Add(time.Minute))
	if err != nil {
		t.Fatalf("answering: %v", err)
	}
	wantCard(t, out, experts.Answered, experts.CardCapture)
	return out
}

// closed opens a fresh card question and closes it with status, which marks its payment to be
// released.
func (w *cardWorld) closed(t *testing.T, status string) *experts.Question {
	t.Helper()
	q := w.open(t)
	out, err := w.s.CloseQuestion(context.Background(), q.ID, status, "", w.openedAt.Add(time.Minute))
	if err != nil {
		t.Fatalf("closing as %s: %v", status, err)
	}
	wantCard(t, out, status, experts.CardCancel)
	return out
}

// read returns a question as stored.
func (w *cardWorld) read(t *testing.T, id string) *experts.Question {
	t.Helper()
	q, err := w.s.Question(context.Background(), id)
	if err != nil {
		t.Fatalf("reading question %s: %v", id, err)
	}
	return q
}

// wantCard fails unless q has status and a card escrow in state.
func wantCard(t testing.TB, q *experts.Question, status, state string) {
	t.Helper()
	if q == nil {
		t.Fatalf("no question, want one %s with its card %s", status, state)
	}
	if q.Card == nil {
		t.Fatalf("question %s has no card escrow", q.ID)
	}
	if q.Status != status || q.Card.State != state {
		t.Fatalf("question %s is %s with its card %s, want %s with its card %s", q.ID, q.Status, q.Card.State, status, state)
	}
}

// cardJobQueued reports whether the job of kind for question id is queued, and when it runs.
func cardJobQueued(t testing.TB, s *Store, kind, id string) (time.Time, bool) {
	t.Helper()
	var runAt int64
	err := s.db.QueryRow(context.Background(), `SELECT run_at FROM jobs WHERE kind = ? AND unique_key = ? AND state = 'queued'`,
		kind, kind+":"+id).Scan(&runAt)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, false
	}
	if err != nil {
		t.Fatalf("reading job %s of %s: %v", kind, id, err)
	}
	return fromMicros(runAt), true
}

// wantCardJob fails unless the job of kind for question id is queued exactly when want says.
func wantCardJob(t testing.TB, s *Store, kind, id string, want bool) {
	t.Helper()
	if _, got := cardJobQueued(t, s, kind, id); got != want {
		t.Fatalf("job %s of question %s queued = %v, want %v", kind, id, got, want)
	}
}

// cardRows returns the number of rows of a table, to show that a refused call wrote nothing.
func cardRows(t testing.TB, s *Store, table string) int {
	t.Helper()
	var n int
	if err := s.db.QueryRow(context.Background(), `SELECT COUNT(*) FROM `+table).Scan(&n); err != nil {
		t.Fatalf("counting %s: %v", table, err)
	}
	return n
}

// cardSnapshot is everything a card escrow call could change: the questions, the balances it
// could move, and the ledger transactions, jobs, donations and card escrows there are.
type cardSnapshot struct {
	Questions []experts.Question
	Balances  map[string]int64
	Rows      map[string]int
}

// snapshot reads the state of w's store, with the questions named by ids as they are stored.
func (w *cardWorld) snapshot(t *testing.T, ids ...string) cardSnapshot {
	t.Helper()
	snap := cardSnapshot{Balances: map[string]int64{}, Rows: map[string]int{}}
	for _, id := range ids {
		snap.Questions = append(snap.Questions, *w.read(t, id))
	}
	for _, a := range w.addresses() {
		snap.Balances[a] = available(t, w.s, a, ledger.USD)
	}
	for _, table := range []string{"ledger_transactions", "jobs", "donations", "question_card_escrows", "questions"} {
		snap.Rows[table] = cardRows(t, w.s, table)
	}
	return snap
}

// addresses are the ledger addresses a card question's money can reach.
func (w *cardWorld) addresses() []string {
	return []string{ledger.AccountAddress(w.asker), ledger.AccountAddress(w.expert), ledger.AccountAddress(w.charity.AccountID),
		ledger.FeesAddress, ledger.ExternalAddress("stripe")}
}

// wantUnchanged fails unless the store is as before. Snapshots count rows of the whole
// store, so the cases of a table that share a store run one after another, not in parallel.
func wantUnchanged(t *testing.T, before, after cardSnapshot) {
	t.Helper()
	for i := range max(len(before.Questions), len(after.Questions)) {
		var b, a *experts.Question
		if i < len(before.Questions) {
			b = &before.Questions[i]
		}
		if i < len(after.Questions) {
			a = &after.Questions[i]
		}
		if !reflect.DeepEqual(b, a) {
			t.Errorf("a question changed:\nbefore %s\nafter  %s", describeCard(b), describeCard(a))
		}
	}
	if !reflect.DeepEqual(before.Balances, after.Balances) {
		t.Errorf("balances changed from %v to %v", before.Balances, after.Balances)
	}
	if !reflect.DeepEqual(before.Rows, after.Rows) {
		t.Errorf("rows changed from %v to %v", before.Rows, after.Rows)
	}
	if t.Failed() {
		t.FailNow()
	}
}

// describeCard prints a question with its card escrow, for a failure message.
func describeCard(q *experts.Question) string {
	if q == nil || q.Card == nil {
		return fmt.Sprintf("%+v", q)
	}
	return fmt.Sprintf("%+v card %+v", *q, *q.Card)
}

// wantPaid fails unless the ledger shows exactly paid payments (0 or 1) of a card question's
// price: the expert's earnings, the fee and the charity's share credited, Stripe's external
// account debited, and the asker's balance untouched (the card paid, not the balance).
func (w *cardWorld) wantPaid(t *testing.T, paid int64) {
	t.Helper()
	want := map[string]int64{
		ledger.AccountAddress(w.asker):             0,
		ledger.AccountAddress(w.expert):            paid * cardEarnings,
		ledger.AccountAddress(w.charity.AccountID): paid * cardCharity,
		ledger.FeesAddress:                         paid * cardFee,
		ledger.ExternalAddress("stripe"):           -paid * cardPrice.Value,
	}
	for address, v := range want {
		if got := available(t, w.s, address, ledger.USD); got != v {
			t.Errorf("%s has %d cents, want %d", address, got, v)
		}
	}
	txs, _, err := w.s.Transactions(context.Background(), ledger.TransactionFilter{Address: ledger.AccountAddress(w.expert), Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(txs)) != paid {
		t.Errorf("the expert has %d ledger transactions, want %d: %+v", len(txs), paid, txs)
	}
	if t.Failed() {
		t.FailNow()
	}
}

// cardEvent is a webhook event of Stripe with a new id.
func cardEvent(typ string) *stripe.Event {
	return &stripe.Event{ID: stipend.NewID("evt"), Type: typ, Created: time.Now().UTC()}
}

func TestCardAskStoresPendingEscrow(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		w := newCardWorld(t, s)
		q := w.question()
		key := w.asker + ":" + stipend.NewID("key")
		got, err := s.AskCard(ctx, q, key, w.hash(q))
		if err != nil {
			t.Fatal(err)
		}
		wantCard(t, got, experts.AwaitingPayment, experts.CardPending)
		c := got.Card
		if got.ID != q.ID || got.Escrow != experts.EscrowCard || got.HoldID != "" || got.Invoice != nil || !got.Deadline.Equal(q.Deadline) {
			t.Fatalf("stored question = %+v", got)
		}
		if c.PaymentIntent != "" || !c.PayBy.Equal(q.Card.PayBy) || !c.CaptureBy.IsZero() || c.AmountCaptured != 0 || c.ClientSecret != "" {
			t.Fatalf("stored card escrow = %+v", c)
		}
		// The payment-due job is what ends a question nobody paid for; it must come due when
		// the time to pay runs out, not before.
		runAt, ok := cardJobQueued(t, s, experts.JobCardPaymentDue, q.ID)
		if !ok || !runAt.Equal(q.Card.PayBy) {
			t.Fatalf("payment-due job queued = %v at %s, want at %s", ok, runAt, q.Card.PayBy)
		}
		// Nothing is open yet, so nothing expires and nothing is held on the asker's balance.
		wantCardJob(t, s, experts.JobExpire, q.ID, false)
		if n := cardRows(t, s, "ledger_transactions"); n != 0 {
			t.Fatalf("asking by card posted %d ledger transactions", n)
		}

		// A retry with the same key and input returns the question it made, even though the
		// retry built another question id.
		retry := w.question()
		again, err := s.AskCard(ctx, retry, key, w.hash(retry))
		if err != nil || again.ID != q.ID {
			t.Fatalf("retried ask = %+v, %v; want question %s", again, err, q.ID)
		}
		// The same key for another question is refused.
		other := w.question()
		other.Body = "Something else entirely?"
		_, err = s.AskCard(ctx, other, key, w.hash(other))
		wantCode(t, err, stipend.EIDEMPOTENCYMISMATCH)
		// A card question without its escrow is a caller's mistake.
		bare := w.question()
		bare.Card = nil
		_, err = s.AskCard(ctx, bare, w.asker+":"+stipend.NewID("key"), w.hash(bare))
		wantCode(t, err, stipend.EINVALID)
		if n := cardRows(t, s, "questions"); n != 1 {
			t.Fatalf("%d questions stored, want 1", n)
		}
	})
}

func TestCardSetIntent(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, s *Store) {
		w := newCardWorld(t, s)
		q := w.ask(t)
		other := w.ask(t)
		balance := w.askBalance(t)
		// The steps run in order: each builds on the intent the ones before recorded.
		steps := []struct {
			name, id, intent, code string
		}{
			{"first intent", q.ID, "pi_first", ""},
			{"same intent again", q.ID, "pi_first", ""},
			{"another intent", q.ID, "pi_second", stipend.ECONFLICT},
			{"intent of another question", other.ID, "pi_first", stipend.ECONFLICT},
			{"unknown question", "qst_unknown", "pi_third", stipend.ENOTFOUND},
			{"question paid from a balance", balance.ID, "pi_third", stipend.ENOTFOUND},
		}
		for _, step := range steps {
			err := s.SetCardIntent(context.Background(), step.id, step.intent)
			if got := stipend.ErrorCode(err); got != step.code {
				t.Fatalf("%s: error code = %q, want %q (err: %v)", step.name, got, step.code, err)
			}
		}
		if got := w.read(t, q.ID).Card.PaymentIntent; got != "pi_first" {
			t.Fatalf("the question's intent is %q, want pi_first", got)
		}
		if got := w.read(t, other.ID).Card.PaymentIntent; got != "" {
			t.Fatalf("a refused intent was recorded on the other question: %q", got)
		}
		wantCard(t, w.read(t, q.ID), experts.AwaitingPayment, experts.CardPending)
	})
}

func TestCardOpenQuestionDeadline(t *testing.T) {
	t.Parallel()
	// The deadline is one answer window after the authorisation, but never after the capture
	// is due, and an authorisation with less than MinAnswerWindow left is not held at all.
	tests := []struct {
		name string
		// captureBy is the latest capture, after the authorisation at.
		captureBy time.Duration
		// setIntent records the intent before the authorisation, as asking normally does;
		// without it the authorisation must record it.
		setIntent bool
		opens     bool
		deadline  time.Duration // after the authorisation, when it opens
	}{
		{"one answer window", 6 * 24 * time.Hour, true, true, cardWindow},
		{"capped by the capture", 3 * time.Hour, true, true, 3 * time.Hour},
		{"exactly the least window", experts.MinAnswerWindow, false, true, experts.MinAnswerWindow},
		{"a microsecond too little", experts.MinAnswerWindow - time.Microsecond, true, false, 0},
		{"capture already due", -time.Hour, false, false, 0},
	}
	forEachStore(t, func(t *testing.T, s *Store) {
		w := newCardWorld(t, s)
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				ctx := context.Background()
				q := w.ask(t)
				if tt.setIntent {
					if err := s.SetCardIntent(ctx, q.ID, cardIntentID(q.ID)); err != nil {
						t.Fatal(err)
					}
				}
				p := w.payment(q, w.openedAt)
				p.CaptureBy = w.openedAt.Add(tt.captureBy)
				got, err := s.OpenCardQuestion(ctx, q.ID, p)
				if err != nil {
					t.Fatal(err)
				}
				if got.Card.PaymentIntent != cardIntentID(q.ID) {
					t.Fatalf("the intent recorded is %q, want %q", got.Card.PaymentIntent, cardIntentID(q.ID))
				}
				if tt.opens {
					wantCard(t, got, experts.Open, experts.CardAuthorized)
					if want := w.openedAt.Add(tt.deadline); !got.Deadline.Equal(want) {
						t.Fatalf("deadline = %s, want %s", got.Deadline, want)
					}
					if !got.Card.CaptureBy.Equal(p.CaptureBy) || got.ClosedAt != nil {
						t.Fatalf("opened question = %+v, card %+v", got, got.Card)
					}
					wantCardJob(t, s, experts.JobExpire, q.ID, true)
					wantCardJob(t, s, experts.JobCancelCard, q.ID, false)
				} else {
					// Too late to be held for an answer: the question ends unpaid and its
					// authorisation is to be released, by the job scheduled with it.
					wantCard(t, got, experts.Unpaid, experts.CardCancel)
					if got.ClosedAt == nil || !got.ClosedAt.Equal(w.openedAt) {
						t.Fatalf("closed at %v, want %s", got.ClosedAt, w.openedAt)
					}
					wantCardJob(t, s, experts.JobExpire, q.ID, false)
					wantCardJob(t, s, experts.JobCancelCard, q.ID, true)
				}
				if stored := w.read(t, q.ID); !reflect.DeepEqual(stored, got) {
					t.Fatalf("returned %+v, stored %+v", got, stored)
				}
				// Opening happens once, whichever way the first authorisation went.
				before := w.snapshot(t, q.ID)
				_, err = s.OpenCardQuestion(ctx, q.ID, w.payment(q, w.openedAt.Add(time.Minute)))
				wantCode(t, err, stipend.ECONFLICT)
				wantUnchanged(t, before, w.snapshot(t, q.ID))
			})
		}
	})
}

func TestCardOpenQuestionRefusals(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// change makes the payment of pending question q wrong; balance is a question paid
		// from the asker's balance.
		change func(p *stripe.EscrowPayment, balance *experts.Question)
		code   string
	}{
		{"unknown question", func(p *stripe.EscrowPayment, _ *experts.Question) { p.QuestionID = "qst_unknown" }, stipend.ENOTFOUND},
		{"question paid from a balance", func(p *stripe.EscrowPayment, b *experts.Question) { p.QuestionID = b.ID }, stipend.ENOTFOUND},
		{"another intent", func(p *stripe.EscrowPayment, _ *experts.Question) { p.PaymentIntent = "pi_other" }, stipend.ECONFLICT},
		{"less than the price", func(p *stripe.EscrowPayment, _ *experts.Question) { p.Amount.Value-- }, stipend.ECONFLICT},
		{"more than the price", func(p *stripe.EscrowPayment, _ *experts.Question) { p.Amount.Value++ }, stipend.ECONFLICT},
		{"another currency", func(p *stripe.EscrowPayment, _ *experts.Question) { p.Amount.Asset = ledger.EUR }, stipend.ECONFLICT},
	}
	forEachStore(t, func(t *testing.T, s *Store) {
		w := newCardWorld(t, s)
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				ctx := context.Background()
				q := w.ask(t)
				if err := s.SetCardIntent(ctx, q.ID, cardIntentID(q.ID)); err != nil {
					t.Fatal(err)
				}
				balance := w.askBalance(t)
				p := w.payment(q, w.openedAt)
				tt.change(&p, balance)
				before := w.snapshot(t, q.ID, balance.ID)
				_, err := s.OpenCardQuestion(ctx, p.QuestionID, p)
				wantCode(t, err, tt.code)
				wantUnchanged(t, before, w.snapshot(t, q.ID, balance.ID))
			})
		}
	})
}

func TestCardAnswerCapturesOnce(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		w := newCardWorld(t, s)
		q := w.open(t)
		at := w.openedAt.Add(time.Minute)
		got, err := s.AnswerQuestion(ctx, q.ID, "It is held, then captured.", at)
		if err != nil {
			t.Fatal(err)
		}
		// The answer decides the capture; the ledger is credited only once Stripe has taken
		// the money, so nothing is paid yet.
		wantCard(t, got, experts.Answered, experts.CardCapture)
		if want := (experts.Parts{Fee: cardFee, Charity: cardCharity, Earnings: cardEarnings}); got.Parts != want || got.LedgerTx != "" ||
			got.Answer != "It is held, then captured." || got.ClosedAt == nil || !got.ClosedAt.Equal(at) {
			t.Fatalf("answered question = %+v", got)
		}
		wantCardJob(t, s, experts.JobCaptureCard, q.ID, true)
		w.wantPaid(t, 0)

		// An answered question is past every other ending.
		_, err = s.AnswerQuestion(ctx, q.ID, "again", at)
		wantCode(t, err, stipend.ECONFLICT)
		_, err = s.CloseQuestion(ctx, q.ID, experts.Declined, "no", at)
		wantCode(t, err, stipend.ECONFLICT)
		_, err = s.CanceledCard(ctx, q.ID, at)
		wantCode(t, err, stipend.ECONFLICT)

		// A capture that does not match the question is refused and credits nothing.
		refusals := []struct {
			name   string
			change func(p *stripe.EscrowPayment)
			code   string
		}{
			{"less than the price", func(p *stripe.EscrowPayment) { p.Amount.Value-- }, stipend.ECONFLICT},
			{"more than the price", func(p *stripe.EscrowPayment) { p.Amount.Value++ }, stipend.ECONFLICT},
			{"another currency", func(p *stripe.EscrowPayment) { p.Amount.Asset = ledger.EUR }, stipend.ECONFLICT},
			{"another intent", func(p *stripe.EscrowPayment) { p.PaymentIntent = "pi_other" }, stipend.ECONFLICT},
			{"unknown question", func(p *stripe.EscrowPayment) { p.QuestionID = "qst_unknown" }, stipend.ENOTFOUND},
		}
		for _, r := range refusals {
			before := w.snapshot(t, q.ID)
			p := w.payment(q, at)
			r.change(&p)
			_, err := s.CapturedCard(ctx, p.QuestionID, p)
			if stipend.ErrorCode(err) != r.code {
				t.Fatalf("%s: error code = %q, want %q (err: %v)", r.name, stipend.ErrorCode(err), r.code, err)
			}
			wantUnchanged(t, before, w.snapshot(t, q.ID))
		}

		captured, err := s.CapturedCard(ctx, q.ID, w.payment(q, at.Add(time.Minute)))
		if err != nil {
			t.Fatal(err)
		}
		wantCard(t, captured, experts.Answered, experts.CardCaptured)
		if captured.Card.AmountCaptured != cardPrice.Value || captured.LedgerTx == "" {
			t.Fatalf("captured question = %+v, card %+v", captured, captured.Card)
		}
		w.wantPaid(t, 1)
		tx, err := s.Transaction(ctx, captured.LedgerTx)
		if err != nil {
			t.Fatal(err)
		}
		if tx.Kind != kindQuestionAnswer || tx.Metadata["question_id"] != q.ID || tx.Metadata["payment_intent"] != cardIntentID(q.ID) {
			t.Fatalf("the paying transaction = %+v", tx)
		}
		donations, _, err := s.Donations(ctx, w.charity.ID, "", 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(donations) != 1 || donations[0].Amount != cardCharity || donations[0].QuestionID != q.ID || donations[0].LedgerTx != captured.LedgerTx {
			t.Fatalf("donations = %+v", donations)
		}

		// Stripe's event and the capture job both report the capture: the second report
		// returns the question as it is and credits nothing more.
		before := w.snapshot(t, q.ID)
		again, err := s.CapturedCard(ctx, q.ID, w.payment(q, at.Add(2*time.Minute)))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(again, captured) {
			t.Fatalf("the second capture returned %+v, want %+v", again, captured)
		}
		wantUnchanged(t, before, w.snapshot(t, q.ID))
		w.wantPaid(t, 1)

		// A captured payment can neither fail nor be released any more.
		_, err = s.FailedCard(ctx, q.ID, at)
		wantCode(t, err, stipend.ECONFLICT)
		_, err = s.CanceledCard(ctx, q.ID, at)
		wantCode(t, err, stipend.ECONFLICT)
		wantUnchanged(t, before, w.snapshot(t, q.ID))
		checkInvariants(t, s)
	})
}

func TestCardAnswerRefusals(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		w := newCardWorld(t, s)

		// A question not paid yet cannot be answered: there is nothing to capture.
		pending := w.ask(t)
		before := w.snapshot(t, pending.ID)
		_, err := s.AnswerQuestion(ctx, pending.ID, "too soon", w.openedAt)
		wantCode(t, err, stipend.ECONFLICT)
		wantUnchanged(t, before, w.snapshot(t, pending.ID))

		// An answer at the deadline is too late: its payment is released instead.
		late := w.open(t)
		before = w.snapshot(t, late.ID)
		_, err = s.AnswerQuestion(ctx, late.ID, "too late", late.Deadline)
		wantCode(t, err, stipend.ECONFLICT)
		wantUnchanged(t, before, w.snapshot(t, late.ID))
		expired, err := s.CloseQuestion(ctx, late.ID, experts.Expired, "", late.Deadline)
		if err != nil {
			t.Fatal(err)
		}
		wantCard(t, expired, experts.Expired, experts.CardCancel)

		_, err = s.AnswerQuestion(ctx, "qst_unknown", "nobody asked", w.openedAt)
		wantCode(t, err, stipend.ENOTFOUND)
	})
}

func TestCardCloseReleases(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		status string
		reason string
		// paid opens the question first; otherwise it is closed while awaiting payment.
		paid bool
	}{
		{"declined", experts.Declined, "not my field", true},
		{"expired", experts.Expired, "", true},
		{"unpaid", experts.Unpaid, "", false},
	}
	forEachStore(t, func(t *testing.T, s *Store) {
		w := newCardWorld(t, s)
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				ctx := context.Background()
				q := w.ask(t)
				if tt.paid {
					q = w.open(t)
				}
				at := w.openedAt.Add(time.Minute)
				got, err := s.CloseQuestion(ctx, q.ID, tt.status, tt.reason, at)
				if err != nil {
					t.Fatal(err)
				}
				// Closing decides the release; the job carries it out at Stripe.
				wantCard(t, got, tt.status, experts.CardCancel)
				if got.DeclineReason != tt.reason || got.ClosedAt == nil || !got.ClosedAt.Equal(at) || got.LedgerTx != "" {
					t.Fatalf("closed question = %+v", got)
				}
				wantCardJob(t, s, experts.JobCancelCard, q.ID, true)
				wantCardJob(t, s, experts.JobCaptureCard, q.ID, false)

				canceled, err := s.CanceledCard(ctx, q.ID, at.Add(time.Minute))
				if err != nil {
					t.Fatal(err)
				}
				wantCard(t, canceled, tt.status, experts.CardCanceled)
				if canceled.ClosedAt == nil || !canceled.ClosedAt.Equal(at) {
					t.Fatalf("recording the release moved the end of the question to %v", canceled.ClosedAt)
				}
				// Recorded once: the event and the job may both report it.
				before := w.snapshot(t, q.ID)
				again, err := s.CanceledCard(ctx, q.ID, at.Add(2*time.Minute))
				if err != nil || !reflect.DeepEqual(again, canceled) {
					t.Fatalf("the second release = %+v, %v; want %+v", again, err, canceled)
				}
				// A released payment is neither captured nor failed.
				_, err = s.CapturedCard(ctx, q.ID, w.payment(q, at))
				wantCode(t, err, stipend.ECONFLICT)
				_, err = s.FailedCard(ctx, q.ID, at)
				wantCode(t, err, stipend.ECONFLICT)
				wantUnchanged(t, before, w.snapshot(t, q.ID))
			})
		}
	})
}

func TestCardCloseRefusals(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		w := newCardWorld(t, s)
		pending := w.ask(t)
		open := w.open(t)
		tests := []struct {
			name, id, status, code string
		}{
			{"decline a question not paid", pending.ID, experts.Declined, stipend.ECONFLICT},
			{"expire a question not paid", pending.ID, experts.Expired, stipend.ECONFLICT},
			{"unpaid a question paid", open.ID, experts.Unpaid, stipend.ECONFLICT},
			{"close as answered", open.ID, experts.Answered, stipend.EINVALID},
			{"close as open", open.ID, experts.Open, stipend.EINVALID},
			{"unknown question", "qst_unknown", experts.Declined, stipend.ENOTFOUND},
		}
		for _, tt := range tests {
			before := w.snapshot(t, pending.ID, open.ID)
			_, err := s.CloseQuestion(ctx, tt.id, tt.status, "", w.openedAt.Add(time.Minute))
			if got := stipend.ErrorCode(err); got != tt.code {
				t.Fatalf("%s: error code = %q, want %q (err: %v)", tt.name, got, tt.code, err)
			}
			wantUnchanged(t, before, w.snapshot(t, pending.ID, open.ID))
		}
	})
}

func TestCardReleasedByStripe(t *testing.T) {
	t.Parallel()
	// Stripe releases an authorisation on its own when it lapses or someone cancels the
	// intent in the dashboard; the question cannot be paid any more, so it ends too.
	tests := []struct {
		name   string
		ask    func(w *cardWorld, t *testing.T) *experts.Question
		status string
	}{
		{"an open question expires", (*cardWorld).open, experts.Expired},
		{"a question awaiting payment ends unpaid", (*cardWorld).ask, experts.Unpaid},
	}
	forEachStore(t, func(t *testing.T, s *Store) {
		w := newCardWorld(t, s)
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				ctx := context.Background()
				q := tt.ask(w, t)
				at := w.openedAt.Add(time.Hour)
				got, err := s.CanceledCard(ctx, q.ID, at)
				if err != nil {
					t.Fatal(err)
				}
				wantCard(t, got, tt.status, experts.CardCanceled)
				if got.ClosedAt == nil || !got.ClosedAt.Equal(at) {
					t.Fatalf("closed at %v, want %s", got.ClosedAt, at)
				}
				// Stripe has released it already: there is nothing left to release.
				wantCardJob(t, s, experts.JobCancelCard, q.ID, false)
				if n := cardRows(t, s, "ledger_transactions"); n != 0 {
					t.Fatalf("a release posted %d ledger transactions", n)
				}
				before := w.snapshot(t, q.ID)
				_, err = s.AnswerQuestion(ctx, q.ID, "too late", at)
				wantCode(t, err, stipend.ECONFLICT)
				_, err = s.OpenCardQuestion(ctx, q.ID, w.payment(q, at))
				wantCode(t, err, stipend.ECONFLICT)
				wantUnchanged(t, before, w.snapshot(t, q.ID))
			})
		}
		_, err := s.CanceledCard(context.Background(), "qst_unknown", w.openedAt)
		wantCode(t, err, stipend.ENOTFOUND)
	})
}

func TestCardFailedOnlyFromCapture(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		make  func(w *cardWorld, t *testing.T) *experts.Question
		state string // the card's state before FailedCard
		code  string
	}{
		{"pending", (*cardWorld).ask, experts.CardPending, stipend.ECONFLICT},
		{"authorized", (*cardWorld).open, experts.CardAuthorized, stipend.ECONFLICT},
		{"capture", (*cardWorld).answered, experts.CardCapture, ""},
		{"captured", func(w *cardWorld, t *testing.T) *experts.Question {
			t.Helper()
			q := w.answered(t)
			out, err := w.s.CapturedCard(context.Background(), q.ID, w.payment(q, w.openedAt.Add(time.Hour)))
			if err != nil {
				t.Fatal(err)
			}
			return out
		}, experts.CardCaptured, stipend.ECONFLICT},
		{"cancel", func(w *cardWorld, t *testing.T) *experts.Question {
			t.Helper()
			return w.closed(t, experts.Declined)
		}, experts.CardCancel, stipend.ECONFLICT},
		{"canceled", func(w *cardWorld, t *testing.T) *experts.Question {
			t.Helper()
			q := w.closed(t, experts.Expired)
			out, err := w.s.CanceledCard(context.Background(), q.ID, w.openedAt.Add(time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			return out
		}, experts.CardCanceled, stipend.ECONFLICT},
		{"failed", func(w *cardWorld, t *testing.T) *experts.Question {
			t.Helper()
			q := w.answered(t)
			out, err := w.s.FailedCard(context.Background(), q.ID, w.openedAt.Add(time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			return out
		}, experts.CardFailed, stipend.ECONFLICT},
	}
	forEachStore(t, func(t *testing.T, s *Store) {
		w := newCardWorld(t, s)
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				ctx := context.Background()
				q := tt.make(w, t)
				if q.Card.State != tt.state {
					t.Fatalf("set up a card %s, want %s", q.Card.State, tt.state)
				}
				before := w.snapshot(t, q.ID)
				got, err := s.FailedCard(ctx, q.ID, w.openedAt.Add(2*time.Hour))
				wantCode(t, err, tt.code)
				if tt.code != "" {
					wantUnchanged(t, before, w.snapshot(t, q.ID))
					return
				}
				// The answer stands, unpaid, for an operator to look at; nothing is credited
				// and the payment is neither captured nor released any more.
				wantCard(t, got, experts.Answered, experts.CardFailed)
				if got.LedgerTx != "" {
					t.Fatalf("a failed capture names ledger transaction %s", got.LedgerTx)
				}
				failed := w.snapshot(t, q.ID)
				_, err = s.CapturedCard(ctx, q.ID, w.payment(q, w.openedAt.Add(3*time.Hour)))
				wantCode(t, err, stipend.ECONFLICT)
				_, err = s.CanceledCard(ctx, q.ID, w.openedAt.Add(3*time.Hour))
				wantCode(t, err, stipend.ECONFLICT)
				wantUnchanged(t, failed, w.snapshot(t, q.ID))
				w.wantPaid(t, 0)
			})
		}
		_, err := s.FailedCard(context.Background(), "qst_unknown", w.openedAt)
		wantCode(t, err, stipend.ENOTFOUND)
		balance := w.askBalance(t)
		_, err = s.FailedCard(context.Background(), balance.ID, w.openedAt)
		wantCode(t, err, stipend.ENOTFOUND)
	})
}

func TestCardStripeEventsDriveEscrow(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		w := newCardWorld(t, s)
		q := w.ask(t)
		if err := s.SetCardIntent(ctx, q.ID, cardIntentID(q.ID)); err != nil {
			t.Fatal(err)
		}

		// The authorisation's event opens the question.
		authorized := cardEvent("payment_intent.amount_capturable_updated")
		p := w.payment(q, w.openedAt)
		applied, err := s.ApplyStripeEvent(ctx, authorized, stripe.Effect{EscrowAuthorized: &p})
		if err != nil || !applied {
			t.Fatalf("authorisation event: applied=%v, %v", applied, err)
		}
		opened := w.read(t, q.ID)
		wantCard(t, opened, experts.Open, experts.CardAuthorized)
		if want := w.openedAt.Add(cardWindow); !opened.Deadline.Equal(want) {
			t.Fatalf("deadline = %s, want %s", opened.Deadline, want)
		}
		// Stripe delivers an event again when it is not sure it was received: it is seen once.
		before := w.snapshot(t, q.ID)
		applied, err = s.ApplyStripeEvent(ctx, authorized, stripe.Effect{EscrowAuthorized: &p})
		if err != nil || applied {
			t.Fatalf("the same event again: applied=%v, %v", applied, err)
		}
		wantUnchanged(t, before, w.snapshot(t, q.ID))

		if _, err := s.AnswerQuestion(ctx, q.ID, "answer", w.openedAt.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		captured := w.payment(q, w.openedAt.Add(2*time.Minute))
		applied, err = s.ApplyStripeEvent(ctx, cardEvent("payment_intent.succeeded"), stripe.Effect{EscrowCaptured: &captured})
		if err != nil || !applied {
			t.Fatalf("capture event: applied=%v, %v", applied, err)
		}
		wantCard(t, w.read(t, q.ID), experts.Answered, experts.CardCaptured)
		w.wantPaid(t, 1)

		// Stripe's release of an open question's payment expires it.
		open := w.open(t)
		released := w.payment(open, w.openedAt.Add(time.Hour))
		applied, err = s.ApplyStripeEvent(ctx, cardEvent("payment_intent.canceled"), stripe.Effect{EscrowCanceled: &released})
		if err != nil || !applied {
			t.Fatalf("release event: applied=%v, %v", applied, err)
		}
		wantCard(t, w.read(t, open.ID), experts.Expired, experts.CardCanceled)
		w.wantPaid(t, 1)
		checkInvariants(t, s)
	})
}

func TestCardStripeEventMismatchChangesNothing(t *testing.T) {
	t.Parallel()
	// An event that does not fit its question is recorded as seen (Stripe must not send it
	// again) and applied to nothing; the question's own jobs decide what happens to it.
	tests := []struct {
		name string
		// make returns the question the event is about, in the state the event must not move.
		make func(w *cardWorld, t *testing.T) *experts.Question
		// effect builds the event's effect from the payment Stripe reports for q.
		effect func(p *stripe.EscrowPayment) stripe.Effect
		change func(p *stripe.EscrowPayment)
	}{
		{"authorisation of an unknown question", (*cardWorld).ask, cardAuthorizedEffect, cardUnknownQuestion},
		{"capture of an unknown question", (*cardWorld).answered, cardCapturedEffect, cardUnknownQuestion},
		{"release of an unknown question", (*cardWorld).open, cardCanceledEffect, cardUnknownQuestion},
		{"authorisation of another intent", cardWithIntent, cardAuthorizedEffect, cardOtherIntent},
		{"capture of another intent", (*cardWorld).answered, cardCapturedEffect, cardOtherIntent},
		{"release of another intent, open", (*cardWorld).open, cardCanceledEffect, cardOtherIntent},
		{"release of another intent, answered", (*cardWorld).answered, cardCanceledEffect, cardOtherIntent},
		{"authorisation of another amount", cardWithIntent, cardAuthorizedEffect, cardOtherAmount},
		{"capture of another amount", (*cardWorld).answered, cardCapturedEffect, cardOtherAmount},
		{"authorisation of an open question", (*cardWorld).open, cardAuthorizedEffect, func(*stripe.EscrowPayment) {}},
		{"capture of an open question", (*cardWorld).open, cardCapturedEffect, func(*stripe.EscrowPayment) {}},
		{"release of an answered question", (*cardWorld).answered, cardCanceledEffect, func(*stripe.EscrowPayment) {}},
	}
	forEachStore(t, func(t *testing.T, s *Store) {
		w := newCardWorld(t, s)
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				ctx := context.Background()
				q := tt.make(w, t)
				p := w.payment(q, w.openedAt.Add(time.Hour))
				tt.change(&p)
				before := w.snapshot(t, q.ID)
				e := cardEvent("payment_intent.any")
				applied, err := s.ApplyStripeEvent(ctx, e, tt.effect(&p))
				if err != nil || !applied {
					t.Fatalf("applied=%v, %v; want the event applied, to nothing", applied, err)
				}
				wantUnchanged(t, before, w.snapshot(t, q.ID))
				// It was recorded as seen all the same.
				applied, err = s.ApplyStripeEvent(ctx, e, tt.effect(&p))
				if err != nil || applied {
					t.Fatalf("the same event again: applied=%v, %v", applied, err)
				}
			})
		}
	})
}

func TestCardIntentOfAnotherQuestion(t *testing.T) {
	t.Parallel()
	// A question whose intent was never recorded (the reply of its creation was lost) may be
	// named with an intent that already escrows another question: that is another intent, a
	// conflict, and an event saying so is recorded as seen and applied to nothing, rather than
	// failing until Stripe gives up delivering it.
	tests := []struct {
		name  string
		apply func(s *Store, p stripe.EscrowPayment) error
	}{
		{"open", func(s *Store, p stripe.EscrowPayment) error {
			_, err := s.OpenCardQuestion(context.Background(), p.QuestionID, p)
			if stipend.ErrorCode(err) != stipend.ECONFLICT {
				return fmt.Errorf("error code = %q, want %q (err: %v)", stipend.ErrorCode(err), stipend.ECONFLICT, err)
			}
			return nil
		}},
		{"authorisation event", func(s *Store, p stripe.EscrowPayment) error {
			return cardEventAppliedToNothing(s, stripe.Effect{EscrowAuthorized: &p})
		}},
		{"late authorisation event", func(s *Store, p stripe.EscrowPayment) error {
			p.CaptureBy = p.At
			return cardEventAppliedToNothing(s, stripe.Effect{EscrowAuthorized: &p})
		}},
		{"release event", func(s *Store, p stripe.EscrowPayment) error {
			return cardEventAppliedToNothing(s, stripe.Effect{EscrowCanceled: &p})
		}},
	}
	forEachStore(t, func(t *testing.T, s *Store) {
		w := newCardWorld(t, s)
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				q := w.ask(t)
				other := w.ask(t)
				if err := s.SetCardIntent(context.Background(), other.ID, cardIntentID(other.ID)); err != nil {
					t.Fatal(err)
				}
				p := w.payment(q, w.openedAt)
				p.PaymentIntent = cardIntentID(other.ID)
				before := w.snapshot(t, q.ID, other.ID)
				if err := tt.apply(s, p); err != nil {
					t.Fatal(err)
				}
				wantUnchanged(t, before, w.snapshot(t, q.ID, other.ID))
			})
		}
	})
}

// cardEventAppliedToNothing applies a new event with effect eff and returns an error unless it
// was applied without one.
func cardEventAppliedToNothing(s *Store, eff stripe.Effect) error {
	applied, err := s.ApplyStripeEvent(context.Background(), cardEvent("payment_intent.any"), eff)
	if err != nil || !applied {
		return fmt.Errorf("applied=%v, %v; want the event applied, to nothing", applied, err)
	}
	return nil
}

// The effects and changes of TestCardStripeEventMismatchChangesNothing.
func cardAuthorizedEffect(p *stripe.EscrowPayment) stripe.Effect {
	return stripe.Effect{EscrowAuthorized: p}
}
func cardCapturedEffect(p *stripe.EscrowPayment) stripe.Effect {
	return stripe.Effect{EscrowCaptured: p}
}
func cardCanceledEffect(p *stripe.EscrowPayment) stripe.Effect {
	return stripe.Effect{EscrowCanceled: p}
}
func cardUnknownQuestion(p *stripe.EscrowPayment) { p.QuestionID = "qst_unknown" }
func cardOtherIntent(p *stripe.EscrowPayment)     { p.PaymentIntent = "pi_other" }
func cardOtherAmount(p *stripe.EscrowPayment)     { p.Amount.Value-- }

// cardWithIntent is a question awaiting payment with its intent recorded, so that an event naming
// another intent is told apart.
func cardWithIntent(w *cardWorld, t *testing.T) *experts.Question {
	t.Helper()
	q := w.ask(t)
	if err := w.s.SetCardIntent(context.Background(), q.ID, cardIntentID(q.ID)); err != nil {
		t.Fatal(err)
	}
	return w.read(t, q.ID)
}

func TestCardCaptureRaceCreditsOnce(t *testing.T) {
	t.Parallel()
	// The capture job and Stripe's events (which Stripe may send more than once, with
	// different ids when several event types report the same capture) race to record one
	// capture: the expert must be credited exactly once.
	const racers = 50
	forEachStore(t, func(t *testing.T, s *Store) {
		w := newCardWorld(t, s)
		q := w.answered(t)
		start := make(chan struct{})
		errs := make(chan error, racers)
		var wg sync.WaitGroup
		for i := range racers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				ctx := context.Background()
				p := w.payment(q, w.openedAt.Add(time.Duration(i+2)*time.Minute))
				if i%2 == 0 {
					_, err := s.CapturedCard(ctx, q.ID, p)
					errs <- err
					return
				}
				applied, err := s.ApplyStripeEvent(ctx, cardEvent("payment_intent.succeeded"), stripe.Effect{EscrowCaptured: &p})
				if err == nil && !applied {
					err = errors.New("an event with a new id was not applied")
				}
				errs <- err
			}()
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Errorf("racer: %v", err)
			}
		}
		if t.Failed() {
			t.FailNow()
		}
		got := w.read(t, q.ID)
		wantCard(t, got, experts.Answered, experts.CardCaptured)
		if got.LedgerTx == "" || got.Card.AmountCaptured != cardPrice.Value {
			t.Fatalf("captured question = %+v, card %+v", got, got.Card)
		}
		w.wantPaid(t, 1)
		if n := cardRows(t, s, "ledger_transactions"); n != 1 {
			t.Fatalf("%d ledger transactions, want the one capture", n)
		}
		if n := cardRows(t, s, "donations"); n != 1 {
			t.Fatalf("%d donation receipts, want 1", n)
		}
		if n := cardRows(t, s, "stripe_events"); n != racers/2 {
			t.Fatalf("%d Stripe events recorded, want %d", n, racers/2)
		}
		checkInvariants(t, s)
	})
}

func TestCardReleaseRaceRecordsOnce(t *testing.T) {
	t.Parallel()
	// The release job and Stripe's event both report the release of a closed question's
	// payment, at the same moment: both must succeed, as the one that comes second finds
	// the release recorded, and it is recorded once.
	const racers = 20
	forEachStore(t, func(t *testing.T, s *Store) {
		w := newCardWorld(t, s)
		q := w.closed(t, experts.Declined)
		start := make(chan struct{})
		errs := make(chan error, racers)
		var wg sync.WaitGroup
		for i := range racers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				ctx := context.Background()
				at := w.openedAt.Add(time.Duration(i+2) * time.Minute)
				if i%2 == 0 {
					_, err := s.CanceledCard(ctx, q.ID, at)
					errs <- err
					return
				}
				p := w.payment(q, at)
				_, err := s.ApplyStripeEvent(ctx, cardEvent("payment_intent.canceled"), stripe.Effect{EscrowCanceled: &p})
				errs <- err
			}()
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Errorf("racer: %v (code %q)", err, stipend.ErrorCode(err))
			}
		}
		if t.Failed() {
			t.FailNow()
		}
		wantCard(t, w.read(t, q.ID), experts.Declined, experts.CardCanceled)
		if n := cardRows(t, s, "ledger_transactions"); n != 0 {
			t.Fatalf("a release posted %d ledger transactions", n)
		}
	})
}

func TestCardAnswerRacesEndEachQuestionOnce(t *testing.T) {
	t.Parallel()
	// The expert answers, the expert declines and the expiry job fires for the same question
	// at once, optionally while Stripe reports that it released the authorisation on its
	// own: each question must end exactly one way, with its card escrow decided to match.
	const questions = 25
	tests := []struct {
		name          string
		stripeRelease bool
	}{
		{"answer, decline and expiry", false},
		{"with Stripe releasing the payment", true},
	}
	// A racer ends a question one way; status is how the question ends when that racer wins.
	type racer struct {
		status string
		run    func(ctx context.Context, s *Store, w *cardWorld, q *experts.Question) error
	}
	at := func(w *cardWorld) time.Time { return w.openedAt.Add(time.Minute) }
	racers := []racer{
		{experts.Answered, func(ctx context.Context, s *Store, w *cardWorld, q *experts.Question) error {
			_, err := s.AnswerQuestion(ctx, q.ID, "answer", at(w))
			return err
		}},
		{experts.Declined, func(ctx context.Context, s *Store, w *cardWorld, q *experts.Question) error {
			_, err := s.CloseQuestion(ctx, q.ID, experts.Declined, "no", at(w))
			return err
		}},
		{experts.Expired, func(ctx context.Context, s *Store, w *cardWorld, q *experts.Question) error {
			_, err := s.CloseQuestion(ctx, q.ID, experts.Expired, "", at(w))
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			forEachStore(t, func(t *testing.T, s *Store) {
				w := newCardWorld(t, s)
				qs := make([]*experts.Question, questions)
				for i := range qs {
					qs[i] = w.open(t)
				}
				// A result is how one racer did on question i.
				type result struct {
					question int
					status   string
					err      error
				}
				results := make(chan result, questions*(len(racers)+1))
				start := make(chan struct{})
				var wg sync.WaitGroup
				for i, q := range qs {
					for _, r := range racers {
						wg.Add(1)
						go func() {
							defer wg.Done()
							<-start
							results <- result{i, r.status, r.run(context.Background(), s, w, q)}
						}()
					}
					if tt.stripeRelease {
						wg.Add(1)
						go func() {
							defer wg.Done()
							<-start
							p := w.payment(q, at(w))
							applied, err := s.ApplyStripeEvent(context.Background(), cardEvent("payment_intent.canceled"), stripe.Effect{EscrowCanceled: &p})
							if err == nil && !applied {
								err = errors.New("an event with a new id was not applied")
							}
							results <- result{i, "stripe", err}
						}()
					}
				}
				close(start)
				wg.Wait()
				close(results)
				winners := make([][]string, questions)
				for r := range results {
					switch {
					case r.status == "stripe" && r.err != nil:
						t.Errorf("question %d: the release event failed: %v", r.question, r.err)
					case r.status == "stripe":
					case r.err == nil:
						winners[r.question] = append(winners[r.question], r.status)
					case stipend.ErrorCode(r.err) != stipend.ECONFLICT:
						t.Errorf("question %d: %s lost with %v, want ECONFLICT", r.question, r.status, r.err)
					}
				}
				if t.Failed() {
					t.FailNow()
				}
				for i, q := range qs {
					got := w.read(t, q.ID)
					switch len(winners[i]) {
					case 0:
						// Only Stripe's release can have ended it: that expires it.
						if !tt.stripeRelease {
							t.Fatalf("question %d: nobody ended it; it is %s", i, got.Status)
						}
						wantCard(t, got, experts.Expired, experts.CardCanceled)
						wantCardJob(t, s, experts.JobCancelCard, q.ID, false)
					case 1:
						status := winners[i][0]
						if status == experts.Answered {
							wantCard(t, got, experts.Answered, experts.CardCapture)
							wantCardJob(t, s, experts.JobCaptureCard, q.ID, true)
							wantCardJob(t, s, experts.JobCancelCard, q.ID, false)
							break
						}
						if got.Status != status || got.Card == nil {
							t.Fatalf("question %d: %s won, and it is %s", i, status, got.Status)
						}
						// Stripe's event may have recorded the release the close decided.
						if state := got.Card.State; state != experts.CardCancel && !(tt.stripeRelease && state == experts.CardCanceled) {
							t.Fatalf("question %d is %s with its card %s", i, got.Status, state)
						}
						wantCardJob(t, s, experts.JobCancelCard, q.ID, true)
						wantCardJob(t, s, experts.JobCaptureCard, q.ID, false)
					default:
						t.Fatalf("question %d ended %d ways: %v", i, len(winners[i]), winners[i])
					}
				}
				if n := cardRows(t, s, "ledger_transactions"); n != 0 {
					t.Fatalf("%d ledger transactions before any capture", n)
				}
				checkInvariants(t, s)
			})
		})
	}
}
