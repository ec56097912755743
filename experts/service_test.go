package experts_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/accounts"
	"github.com/stipend/stipend/experts"
	"github.com/stipend/stipend/internal/db"
	"github.com/stipend/stipend/internal/dbtest"
	"github.com/stipend/stipend/internal/jobs"
	"github.com/stipend/stipend/internal/store"
	"github.com/stipend/stipend/payments/ledger"
)

// feeBPS is the platform fee of these tests: 5 %.
const feeBPS = 500

// t0 is when every question of these tests is asked.
var t0 = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

// world is the expert service on a real database, with an operator, an expert who gives a
// quarter of their earnings to a charity, and an asker holding 100,000 sat.
type world struct {
	d       *db.DB
	st      *store.Store
	svc     *experts.Service // its clock stands at t0
	ops     *accounts.Principal
	expert  *accounts.Principal
	asker   *accounts.Principal
	charity *experts.Charity
}

func newWorld(t *testing.T, d *db.DB) *world {
	t.Helper()
	st := store.New(d, nil)
	w := &world{d: d, st: st, svc: serviceAt(st, t0)}
	w.ops = w.principal(t, "ops", accounts.ScopeAdmin)
	w.expert = w.principal(t, "kelsey", accounts.DefaultScopes()...)
	w.asker = w.principal(t, "asker", accounts.DefaultScopes()...)
	w.credit(t, w.asker.Account.ID, ledger.Sat(100_000))
	var err error
	w.charity, err = w.svc.CreateCharity(context.Background(), w.ops, experts.NewCharity{Handle: "eff", Name: "Electronic Frontier Foundation",
		Website: "https://www.eff.org", Receipt: "EFF, 815 Eddy Street, San Francisco; EIN 04-3091431",
		Destinations: map[string]string{"lightning": "donate@eff.example"}})
	if err != nil {
		t.Fatal(err)
	}
	w.setProfile(t, w.expert, experts.ProfileInput{Name: "Kelsey", Bio: "Kubernetes since 0.4", Topics: []string{"Kubernetes", "helm"},
		Price: ledger.Sat(1000), AnswerWindow: time.Hour, Accepting: true, Charity: "eff", CharityShare: 2500})
	return w
}

// serviceAt returns a service over st whose clock stands still at now.
func serviceAt(st *store.Store, now time.Time) *experts.Service {
	return experts.NewService(st, accounts.NewService(st, func() time.Time { return now }),
		experts.Options{FeeBPS: feeBPS, Now: func() time.Time { return now }})
}

// principal creates an account with a handle based on name and returns it acting with a key
// of the given scopes.
func (w *world) principal(t *testing.T, name string, scopes ...string) *accounts.Principal {
	t.Helper()
	id := stipend.NewID("acct")
	a := accounts.Account{ID: id, Kind: accounts.KindUser, Handle: name + "-" + id[len(id)-8:], Name: name, CreatedAt: t0}
	if err := w.st.CreateAccount(context.Background(), &a); err != nil {
		t.Fatal(err)
	}
	return &accounts.Principal{Account: a, Key: accounts.Key{ID: stipend.NewID("key"), AccountID: id, Scopes: scopes}}
}

func (w *world) credit(t *testing.T, accountID string, amount ledger.Amount) {
	t.Helper()
	if _, err := w.st.Post(context.Background(), ledger.Transfer("credit:"+stipend.NewID("k"), ledger.KindAdminCredit,
		ledger.OperatorAddress, ledger.AccountAddress(accountID), amount)); err != nil {
		t.Fatal(err)
	}
}

func (w *world) setProfile(t *testing.T, p *accounts.Principal, in experts.ProfileInput) *experts.Profile {
	t.Helper()
	out, err := w.svc.SetProfile(context.Background(), p, in)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// balance returns what an address holds in BTC: available and held.
func (w *world) balance(t *testing.T, address string) (available, held int64) {
	t.Helper()
	bs, err := w.st.Balances(context.Background(), address)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bs {
		if b.Asset == ledger.BTC {
			return b.Available, b.Held
		}
	}
	return 0, 0
}

func (w *world) ask(t *testing.T, body string) *experts.Question {
	t.Helper()
	q, err := w.svc.Ask(context.Background(), w.asker, w.expert.Account.Handle, body, "", stipend.NewID("idem"))
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// expire runs the expiry job of question id with the service's clock at now.
func (w *world) expire(id string, now time.Time) error {
	payload, _ := json.Marshal(experts.ExpireJob{QuestionID: id})
	return serviceAt(w.st, now).HandleExpire(context.Background(), jobs.Job{Kind: experts.JobExpire, Payload: payload, Attempt: 1, MaxAttempts: 1000})
}

// expireList runs the expiry job of list question id with the service's clock at now.
func (w *world) expireList(id string, now time.Time) error {
	payload, _ := json.Marshal(experts.ExpireJob{QuestionID: id})
	return serviceAt(w.st, now).HandleListExpire(context.Background(), jobs.Job{Kind: experts.JobListExpire, Payload: payload, Attempt: 1, MaxAttempts: 1000})
}

// checkLedger fails the test unless every asset's balances sum to zero and no account but an
// external one is below zero.
func (w *world) checkLedger(t *testing.T) {
	t.Helper()
	rows, err := w.d.Query(context.Background(), `SELECT asset, SUM(balance), MIN(CASE WHEN address LIKE 'external:%' THEN 0 ELSE balance END)
		FROM ledger_balances GROUP BY asset`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var asset string
		var sum, lowest int64
		if err := rows.Scan(&asset, &sum, &lowest); err != nil {
			t.Fatal(err)
		}
		if sum != 0 || lowest < 0 {
			t.Fatalf("ledger in %s: balances sum to %d, lowest bounded balance %d", asset, sum, lowest)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := stipend.ErrorCode(err); got != code {
		t.Fatalf("error code = %q, want %q (err: %v)", got, code, err)
	}
}

// TestAnswerSplitsThePriceExactly is the paid path: the price is held when the question is
// asked and, on the answer, split into the fee, the charity's quarter and the expert's
// earnings, which add up to the price, with a donation receipt for the charity.
func TestAnswerSplitsThePriceExactly(t *testing.T) {
	t.Parallel()
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		w := newWorld(t, d)
		ctx := context.Background()
		q := w.ask(t, "How do I drain a node without evicting my DaemonSets?")
		if q.Status != experts.Open || q.Price != ledger.Sat(1000) || q.FeeBPS != feeBPS || q.CharityID != w.charity.ID ||
			q.CharityShare != 2500 || !q.Deadline.Equal(t0.Add(time.Hour)) {
			t.Fatalf("asked question = %+v", q)
		}
		if avail, held := w.balance(t, ledger.AccountAddress(w.asker.Account.ID)); avail != 99_000_000 || held != 1_000_000 {
			t.Fatalf("asker: available %d, held %d; want the price held", avail, held)
		}

		// The expert's later change of price does not touch a question already asked.
		w.setProfile(t, w.expert, experts.ProfileInput{Name: "Kelsey", Price: ledger.Sat(5000), AnswerWindow: time.Hour, Accepting: true})

		a, err := serviceAt(w.st, t0.Add(59*time.Minute)).Answer(ctx, w.expert, q.ID, "kubectl drain --ignore-daemonsets")
		if err != nil {
			t.Fatal(err)
		}
		// 5 % of 1,000,000 msat is 50,000; a quarter of the 950,000 left is 237,500.
		want := experts.Parts{Fee: 50_000, Charity: 237_500, Earnings: 712_500}
		if a.Status != experts.Answered || a.Parts != want || a.LedgerTx == "" || a.ClosedAt == nil {
			t.Fatalf("answered question = %+v", a)
		}
		if avail, held := w.balance(t, ledger.AccountAddress(w.asker.Account.ID)); avail != 99_000_000 || held != 0 {
			t.Fatalf("asker after the answer: available %d, held %d", avail, held)
		}
		if avail, _ := w.balance(t, ledger.AccountAddress(w.expert.Account.ID)); avail != want.Earnings {
			t.Fatalf("expert earned %d, want %d", avail, want.Earnings)
		}
		if avail, _ := w.balance(t, ledger.FeesAddress); avail != want.Fee {
			t.Fatalf("platform fees %d, want %d", avail, want.Fee)
		}
		c, err := w.svc.Charity(ctx, "EFF")
		if err != nil {
			t.Fatal(err)
		}
		if len(c.Received) != 1 || c.Received[0] != ledger.Msat(want.Charity) {
			t.Fatalf("charity received %v, want %d msat", c.Received, want.Charity)
		}
		_, ds, _, err := w.svc.Donations(ctx, c.ID, "", 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) != 1 || ds[0].Amount != want.Charity || ds[0].DonorID != w.expert.Account.ID || ds[0].QuestionID != q.ID || ds[0].LedgerTx != a.LedgerTx {
			t.Fatalf("donations = %+v", ds)
		}

		// The answer ends the question: a second answer, a decline and the expiry change nothing.
		_, err = serviceAt(w.st, t0.Add(59*time.Minute)).Answer(ctx, w.expert, q.ID, "again")
		wantCode(t, err, stipend.ECONFLICT)
		_, err = w.svc.Decline(ctx, w.expert, q.ID, "")
		wantCode(t, err, stipend.ECONFLICT)
		if err := w.expire(q.ID, t0.Add(2*time.Hour)); err != nil {
			t.Fatal(err)
		}
		if avail, _ := w.balance(t, ledger.AccountAddress(w.expert.Account.ID)); avail != want.Earnings {
			t.Fatalf("expert has %d after the late expiry, want %d", avail, want.Earnings)
		}

		// The asker rates the answer once, and the expert's record shows it.
		_, err = w.svc.Rate(ctx, w.expert, q.ID, 5, "")
		wantCode(t, err, stipend.EFORBIDDEN)
		if _, err := w.svc.Rate(ctx, w.asker, q.ID, 4, "clear and quick"); err != nil {
			t.Fatal(err)
		}
		_, err = w.svc.Rate(ctx, w.asker, q.ID, 5, "")
		wantCode(t, err, stipend.ECONFLICT)
		p, err := w.svc.Profile(ctx, w.expert.Account.Handle)
		if err != nil {
			t.Fatal(err)
		}
		if p.Answered != 1 || p.RatingCount != 1 || p.Rating() != 40 {
			t.Fatalf("expert record: answered %d, ratings %d, rating %d", p.Answered, p.RatingCount, p.Rating())
		}
		w.checkLedger(t)
	})
}

// TestDeclineAndDeadlineRefundTheAsker covers the two ways a question ends unpaid.
func TestDeclineAndDeadlineRefundTheAsker(t *testing.T) {
	t.Parallel()
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		w := newWorld(t, d)
		ctx := context.Background()
		askerAddr := ledger.AccountAddress(w.asker.Account.ID)

		declined := w.ask(t, "Is etcd v2 still supported?")
		q, err := w.svc.Decline(ctx, w.expert, declined.ID, "outside what I know")
		if err != nil {
			t.Fatal(err)
		}
		if q.Status != experts.Declined || q.DeclineReason != "outside what I know" || q.LedgerTx == "" {
			t.Fatalf("declined question = %+v", q)
		}
		if avail, held := w.balance(t, askerAddr); avail != 100_000_000 || held != 0 {
			t.Fatalf("asker after the decline: available %d, held %d", avail, held)
		}

		late := w.ask(t, "Why is my pod pending?")
		// A job that runs early waits for the deadline rather than ending the question.
		if _, snoozed := jobs.IsSnooze(w.expire(late.ID, t0.Add(30*time.Minute))); !snoozed {
			t.Fatal("an early expiry did not wait for the deadline")
		}
		if err := w.expire(late.ID, t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		q, err = w.svc.Question(ctx, w.asker, late.ID)
		if err != nil {
			t.Fatal(err)
		}
		if q.Status != experts.Expired {
			t.Fatalf("question after its deadline = %+v", q)
		}
		if avail, held := w.balance(t, askerAddr); avail != 100_000_000 || held != 0 {
			t.Fatalf("asker after the deadline: available %d, held %d", avail, held)
		}
		// The expert comes back too late.
		_, err = serviceAt(w.st, t0.Add(61*time.Minute)).Answer(ctx, w.expert, late.ID, "too late")
		wantCode(t, err, stipend.ECONFLICT)
		// A second expiry job, or a repeat of the first, changes nothing.
		if err := w.expire(late.ID, t0.Add(2*time.Hour)); err != nil {
			t.Fatal(err)
		}
		if avail, _ := w.balance(t, askerAddr); avail != 100_000_000 {
			t.Fatalf("asker has %d after a repeated expiry", avail)
		}
		w.checkLedger(t)
	})
}

// TestAnswerAfterTheDeadlineIsRefusedEvenBeforeTheJobRuns: the deadline, not the job, ends
// the expert's chance to be paid.
func TestAnswerAfterTheDeadlineIsRefusedEvenBeforeTheJobRuns(t *testing.T) {
	t.Parallel()
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		w := newWorld(t, d)
		q := w.ask(t, "What does a PodDisruptionBudget protect?")
		_, err := serviceAt(w.st, t0.Add(time.Hour)).Answer(context.Background(), w.expert, q.ID, "voluntary evictions")
		wantCode(t, err, stipend.ECONFLICT)
		// The store refuses it as well, whatever clock the service had.
		_, err = w.st.AnswerQuestion(context.Background(), q.ID, "voluntary evictions", t0.Add(time.Hour))
		wantCode(t, err, stipend.ECONFLICT)
		if avail, _ := w.balance(t, ledger.AccountAddress(w.expert.Account.ID)); avail != 0 {
			t.Fatalf("the expert was paid %d for a late answer", avail)
		}
	})
}

// TestOnlyTheExpertAnswersAndAskersSeeOnlyTheirOwn checks every object access of a question.
func TestOnlyTheExpertAnswersAndAskersSeeOnlyTheirOwn(t *testing.T) {
	t.Parallel()
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		w := newWorld(t, d)
		ctx := context.Background()
		other := w.principal(t, "other", accounts.DefaultScopes()...)
		w.credit(t, other.Account.ID, ledger.Sat(10_000))
		q := w.ask(t, "How do I rotate the cluster CA?")

		for _, p := range []*accounts.Principal{w.asker, other, w.ops} {
			_, err := w.svc.Answer(ctx, p, q.ID, "an answer")
			wantCode(t, err, stipend.EFORBIDDEN)
			_, err = w.svc.Decline(ctx, p, q.ID, "")
			wantCode(t, err, stipend.EFORBIDDEN)
		}
		_, err := w.svc.Question(ctx, other, q.ID)
		wantCode(t, err, stipend.EFORBIDDEN)
		for _, p := range []*accounts.Principal{w.asker, w.expert, w.ops} {
			if _, err := w.svc.Question(ctx, p, q.ID); err != nil {
				t.Fatalf("%s cannot read the question: %v", p.Account.Handle, err)
			}
		}
		// Lists hold only one's own questions.
		if _, err := w.svc.Ask(ctx, other, w.expert.Account.Handle, "Another question", "", "k1"); err != nil {
			t.Fatal(err)
		}
		mine, _, err := w.svc.Asked(ctx, w.asker, "", "", 0)
		if err != nil || len(mine) != 1 || mine[0].ID != q.ID {
			t.Fatalf("asker's questions = %v, %v", mine, err)
		}
		inbox, _, err := w.svc.Inbox(ctx, w.expert, experts.Open, "", 0)
		if err != nil || len(inbox) != 2 {
			t.Fatalf("expert's inbox = %d questions, %v", len(inbox), err)
		}
		_, _, err = w.svc.Inbox(ctx, &accounts.Principal{Account: w.expert.Account, Key: accounts.Key{Scopes: []string{accounts.ScopeRead}}}, "", "", 0)
		wantCode(t, err, stipend.EFORBIDDEN)
		// A key without experts:answer cannot answer, even the expert's own.
		readOnly := &accounts.Principal{Account: w.expert.Account, Key: accounts.Key{Scopes: []string{accounts.ScopeRead}}}
		_, err = w.svc.Answer(ctx, readOnly, q.ID, "an answer")
		wantCode(t, err, stipend.EFORBIDDEN)
	})
}

// TestBadInputChangesNothing feeds every kind of bad input and checks the exact code and that
// no money moved.
func TestBadInputChangesNothing(t *testing.T) {
	t.Parallel()
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		w := newWorld(t, d)
		ctx := context.Background()
		good := experts.ProfileInput{Name: "Kelsey", Price: ledger.Sat(1000), AnswerWindow: time.Hour, Accepting: true}
		profile := func(change func(*experts.ProfileInput)) error {
			in := good
			change(&in)
			_, err := w.svc.SetProfile(ctx, w.expert, in)
			return err
		}
		profiles := []struct {
			name   string
			change func(*experts.ProfileInput)
			code   string
		}{
			{"a price of zero", func(in *experts.ProfileInput) { in.Price = ledger.Sat(0) }, stipend.EINVALID},
			{"a negative price", func(in *experts.ProfileInput) { in.Price = ledger.Sat(-1) }, stipend.EINVALID},
			{"a share over 100 %", func(in *experts.ProfileInput) { in.Charity, in.CharityShare = "eff", 10_001 }, stipend.EINVALID},
			{"a negative share", func(in *experts.ProfileInput) { in.Charity, in.CharityShare = "eff", -1 }, stipend.EINVALID},
			{"a share without a charity", func(in *experts.ProfileInput) { in.CharityShare = 100 }, stipend.EINVALID},
			{"an unknown charity", func(in *experts.ProfileInput) { in.Charity, in.CharityShare = "no-such-charity", 100 }, stipend.EINVALID},
			{"a window too short", func(in *experts.ProfileInput) { in.AnswerWindow = time.Minute }, stipend.EINVALID},
			{"a name with a bidi override", func(in *experts.ProfileInput) { in.Name = "Kel\u202esey" }, stipend.EINVALID},
			{"a bad topic", func(in *experts.ProfileInput) { in.Topics = []string{"kube rnetes"} }, stipend.EINVALID},
		}
		for _, tt := range profiles {
			if err := profile(tt.change); stipend.ErrorCode(err) != tt.code {
				t.Errorf("%s: error %v, want %s", tt.name, err, tt.code)
			}
		}
		p, err := w.svc.Profile(ctx, w.expert.Account.ID)
		if err != nil || p.Price != ledger.Sat(1000) || p.CharityShare != 2500 {
			t.Fatalf("a refused profile changed the stored one: %+v, %v", p, err)
		}
		org := &accounts.Principal{Account: accounts.Account{ID: w.expert.Account.ID, Kind: accounts.KindOrg}, Key: w.expert.Key}
		_, err = w.svc.SetProfile(ctx, org, good)
		wantCode(t, err, stipend.EFORBIDDEN)

		asks := []struct {
			name, expert, body, key string
			code                    string
		}{
			{"an empty question", w.expert.Account.Handle, "  ", "k1", stipend.EINVALID},
			{"an oversized question", w.expert.Account.Handle, strings.Repeat("k", experts.MaxQuestion+1), "k2", stipend.EINVALID},
			{"an unknown expert", "nobody-at-all", "Hello?", "k3", stipend.ENOTFOUND},
			{"no idempotency key", w.expert.Account.Handle, "Hello?", "", stipend.EINVALID},
		}
		for _, tt := range asks {
			if _, err := w.svc.Ask(ctx, w.asker, tt.expert, tt.body, "", tt.key); stipend.ErrorCode(err) != tt.code {
				t.Errorf("%s: error %v, want %s", tt.name, err, tt.code)
			}
		}
		_, err = w.svc.Ask(ctx, w.expert, w.expert.Account.Handle, "Can I ask myself?", "", "k4")
		wantCode(t, err, stipend.EINVALID)
		poor := w.principal(t, "poor", accounts.DefaultScopes()...)
		_, err = w.svc.Ask(ctx, poor, w.expert.Account.Handle, "Can I pay later?", "", "k5")
		wantCode(t, err, stipend.EINSUFFICIENTFUNDS)
		w.setProfile(t, w.expert, experts.ProfileInput{Name: "Kelsey", Price: ledger.Sat(1000), AnswerWindow: time.Hour, Accepting: false})
		_, err = w.svc.Ask(ctx, w.asker, w.expert.Account.Handle, "Are you there?", "", "k6")
		wantCode(t, err, stipend.ECONFLICT)

		if avail, held := w.balance(t, ledger.AccountAddress(w.asker.Account.ID)); avail != 100_000_000 || held != 0 {
			t.Fatalf("refused questions moved money: available %d, held %d", avail, held)
		}
		qs, _, err := w.svc.Asked(ctx, w.asker, "", "", 0)
		if err != nil || len(qs) != 0 {
			t.Fatalf("refused questions were stored: %v, %v", qs, err)
		}
		_, _, err = w.svc.Asked(ctx, w.asker, "lost", "", 0)
		wantCode(t, err, stipend.EINVALID)
	})
}

// TestAskReplaysItsIdempotencyKey: a retried ask returns the question it made and holds the
// price once; the same key for a different question is refused.
func TestAskReplaysItsIdempotencyKey(t *testing.T) {
	t.Parallel()
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		w := newWorld(t, d)
		ctx := context.Background()
		var wg sync.WaitGroup
		ids := make([]string, 20)
		errs := make([]error, 20)
		for i := range ids {
			wg.Go(func() {
				q, err := w.svc.Ask(ctx, w.asker, w.expert.Account.Handle, "Which CNI for a small cluster?", "", "retry-1")
				if err == nil {
					ids[i] = q.ID
				}
				errs[i] = err
			})
		}
		wg.Wait()
		for i := range ids {
			if errs[i] != nil || ids[i] != ids[0] {
				t.Fatalf("ask %d: %s, %v; want %s", i, ids[i], errs[i], ids[0])
			}
		}
		if _, held := w.balance(t, ledger.AccountAddress(w.asker.Account.ID)); held != 1_000_000 {
			t.Fatalf("held %d msat after 20 retries of one ask, want one price", held)
		}
		_, err := w.svc.Ask(ctx, w.asker, w.expert.Account.Handle, "A different question", "", "retry-1")
		wantCode(t, err, stipend.EIDEMPOTENCYMISMATCH)
		w.checkLedger(t)
	})
}

// TestAnswerRacesTheDeadline runs 1,000 races of an answer, given the instant before the
// deadline, against the expiry job at the deadline, as two servers would. Each question must
// end in exactly one state, and the ledger must agree with the states.
func TestAnswerRacesTheDeadline(t *testing.T) {
	t.Parallel()
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		w := newWorld(t, d)
		ctx := context.Background()
		const n = 1000
		w.credit(t, w.asker.Account.ID, ledger.Sat(n*1000))
		qs := make([]*experts.Question, n)
		start := time.Now()
		for i := range qs {
			qs[i] = w.ask(t, fmt.Sprintf("Question %d", i))
		}
		t.Logf("asked %d questions in %s", n, time.Since(start))
		start = time.Now()
		answering := serviceAt(w.st, t0.Add(time.Hour-time.Microsecond))
		// Two goroutines per question, a few questions at a time, so that the two really
		// meet in the database.
		sem := make(chan struct{}, 8)
		var wg sync.WaitGroup
		var mu sync.Mutex
		var failures []string
		for _, q := range qs {
			sem <- struct{}{}
			var pair sync.WaitGroup
			pair.Go(func() {
				if _, err := answering.Answer(ctx, w.expert, q.ID, "an answer"); err != nil && stipend.ErrorCode(err) != stipend.ECONFLICT {
					mu.Lock()
					failures = append(failures, "answer: "+err.Error())
					mu.Unlock()
				}
			})
			pair.Go(func() {
				if err := w.expire(q.ID, t0.Add(time.Hour)); err != nil {
					mu.Lock()
					failures = append(failures, "expire: "+err.Error())
					mu.Unlock()
				}
			})
			wg.Go(func() { pair.Wait(); <-sem })
		}
		wg.Wait()
		t.Logf("raced in %s", time.Since(start))
		if len(failures) > 0 {
			t.Fatalf("%d races failed, first: %s", len(failures), failures[0])
		}

		var answered, expired int64
		for _, q := range qs {
			got, err := w.st.Question(ctx, q.ID)
			if err != nil {
				t.Fatal(err)
			}
			switch got.Status {
			case experts.Answered:
				answered++
			case experts.Expired:
				expired++
			default:
				t.Fatalf("question %s ended %s", q.ID, got.Status)
			}
		}
		parts, _ := experts.Split(1_000_000, feeBPS, 2500)
		askerAvail, askerHeld := w.balance(t, ledger.AccountAddress(w.asker.Account.ID))
		expertAvail, _ := w.balance(t, ledger.AccountAddress(w.expert.Account.ID))
		fees, _ := w.balance(t, ledger.FeesAddress)
		charity, _ := w.balance(t, ledger.AccountAddress(w.charity.AccountID))
		if askerHeld != 0 || askerAvail != 100_000_000+n*1_000_000-answered*1_000_000 ||
			expertAvail != answered*parts.Earnings || fees != answered*parts.Fee || charity != answered*parts.Charity {
			t.Fatalf("%d answered, %d expired: asker %d (+%d held), expert %d, fees %d, charity %d", answered, expired,
				askerAvail, askerHeld, expertAvail, fees, charity)
		}
		t.Logf("%d answered, %d expired", answered, expired)
		w.checkLedger(t)
	})
}
