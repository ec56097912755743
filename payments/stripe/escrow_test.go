package stripe_test

import (
	"context"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stipend/stipend/api/wire"
	"github.com/stipend/stipend/client"
	"github.com/stipend/stipend/experts"
	"github.com/stipend/stipend/internal/apptest"
	"github.com/stipend/stipend/internal/db"
	"github.com/stipend/stipend/internal/dbtest"
	"github.com/stipend/stipend/internal/jobs"
	"github.com/stipend/stipend/internal/stripemock"
)

// movableClock is the real time plus an offset the test turns forward, to pass a question's
// deadline, hours away, without waiting for it.
type movableClock struct{ offset atomic.Int64 }

func (c *movableClock) now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *movableClock) forward(d time.Duration) { c.offset.Add(int64(d)) }

// escrowWorld is a Stipend wired to stripe-mock through a recorder, with an expert who takes
// USD and an asker.
type escrowWorld struct {
	*world
	rec                   *stripemock.Recorder
	clock                 *movableClock
	expertID, expertKey   string
	askerID, askerKey     string
	expertHandle          string
	askerBefore, feeStart int64
}

func newEscrowWorld(t *testing.T, mock *stripemock.Server, d *db.DB) *escrowWorld {
	t.Helper()
	rec := stripemock.NewRecorder(t, mock)
	clock := &movableClock{}
	srv := apptest.StartOn(t, d, apptest.WithStripe(t, rec.URL), apptest.WithClock(clock.now))
	w := &escrowWorld{world: &world{srv: srv, admin: client.New(srv.URL, srv.Admin)}, rec: rec, clock: clock}
	w.expertID, w.expertKey = w.newUser(t, "kay")
	w.askerID, w.askerKey = w.newUser(t, "asker")
	var e wire.Expert
	if code := w.call(t, http.MethodPut, "/v1/me/expert", w.expertKey, "", wire.SetExpertRequest{Name: "Kay Bernetes",
		Topics: []string{"kubernetes"}, Price: wire.MoneyRequest{Amount: 2500, Asset: "USD"}, AnswerWindow: 24 * 3600}, &e); code != http.StatusOK {
		t.Fatalf("expert profile: %d", code)
	}
	w.expertHandle = e.Handle
	return w
}

// ask asks the expert by card and checks the PaymentIntent that Stripe was asked for.
func (w *escrowWorld) ask(t *testing.T, idem string) wire.Question {
	t.Helper()
	var q wire.Question
	if code := w.call(t, http.MethodPost, "/v1/experts/"+w.expertHandle+"/questions", w.askerKey, idem,
		wire.AskRequest{Question: "How do I drain a node without downtime?", Escrow: "card"}, &q); code != http.StatusCreated {
		t.Fatalf("ask by card: %d", code)
	}
	if q.Status != experts.AwaitingPayment || q.Escrow != "card" || q.Card == nil || q.Card.State != experts.CardPending ||
		q.Card.PaymentIntent == "" || q.Card.ClientSecret == "" {
		t.Fatalf("question asked by card = %+v (card %+v)", q, q.Card)
	}
	creates := w.rec.Requests(func(r stripemock.Request) bool {
		return r.Method == http.MethodPost && r.Path == "/v1/payment_intents" && r.IdempotencyKey == "escrow:"+q.ID
	})
	if len(creates) != 1 {
		t.Fatalf("%d PaymentIntent creations for question %s, want 1", len(creates), q.ID)
	}
	f := creates[0].Form
	if f.Get("capture_method") != "manual" || f.Get("amount") != "2500" || f.Get("currency") != "usd" ||
		f.Get("metadata[stipend_question]") != q.ID {
		t.Fatalf("PaymentIntent request %v: want manual capture of 2500 usd for %s", f, q.ID)
	}
	return q
}

// intentEvent is a signed-ready event of the question's PaymentIntent.
func (w *escrowWorld) intentEvent(id, typ string, q wire.Question, fields map[string]any) []byte {
	obj := map[string]any{"id": q.Card.PaymentIntent, "object": "payment_intent", "amount": 2500, "currency": "usd",
		"capture_method": "manual", "created": w.clock.now().Unix(), "metadata": map[string]string{"stipend_question": q.ID}}
	for k, v := range fields {
		obj[k] = v
	}
	return event(id, typ, obj)
}

func (w *escrowWorld) authorise(t *testing.T, q wire.Question) wire.Question {
	t.Helper()
	ev := w.intentEvent("evt_auth_"+q.ID, "payment_intent.amount_capturable_updated", q,
		map[string]any{"status": "requires_capture", "amount_capturable": 2500})
	if code := w.deliver(t, ev, apptest.StripeWebhookSecret, w.clock.now()); code != http.StatusOK {
		t.Fatalf("amount_capturable_updated: %d", code)
	}
	return w.question(t, q.ID, w.askerKey)
}

func (w *escrowWorld) question(t *testing.T, id, key string) wire.Question {
	t.Helper()
	var q wire.Question
	if code := w.call(t, http.MethodGet, "/v1/questions/"+id, key, "", nil, &q); code != http.StatusOK {
		t.Fatalf("question %s: %d", id, code)
	}
	return q
}

// requests are the recorded requests to path with an idempotency key.
func (w *escrowWorld) requests(path, key string) []stripemock.Request {
	return w.rec.Requests(func(r stripemock.Request) bool {
		return r.Method == http.MethodPost && r.Path == path && r.IdempotencyKey == key
	})
}

// TestCardEscrowedQuestion is the manual-capture escrow of a question against stripe-mock,
// on both databases: the question opens when Stripe reports the authorisation; its answer
// captures the payment (with a key derived from the question) and credits the expert once,
// whatever the number of deliveries of the capture's event; its deadline cancels the payment
// and nobody is charged; a question never authorised ends unpaid and its intent is cancelled.
func TestCardEscrowedQuestion(t *testing.T) {
	t.Parallel()
	mock := stripemock.Shared(t)
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		w := newEscrowWorld(t, mock, d)
		ctx := context.Background()

		t.Run("answer captures", func(t *testing.T) {
			q := w.ask(t, "ask-answered")
			if code := w.call(t, http.MethodPost, "/v1/questions/"+q.ID+"/answer", w.expertKey, "early-"+q.ID,
				wire.AnswerRequest{Answer: "Cordon it first."}, nil); code != http.StatusConflict {
				t.Fatalf("an answer before the payment was authorised: %d, want 409", code)
			}
			opened := w.authorise(t, q)
			if opened.Status != experts.Open || opened.Card.State != experts.CardAuthorized || opened.Card.CaptureBy == nil {
				t.Fatalf("question after the authorisation = %+v (card %+v)", opened, opened.Card)
			}
			if left := opened.Deadline.Sub(w.clock.now()); left > 24*time.Hour || left < 23*time.Hour {
				t.Fatalf("an authorised question's deadline is %s away, want one answer window (24h)", left)
			}
			if opened.Deadline.After(*opened.Card.CaptureBy) {
				t.Fatalf("deadline %s is after the latest capture %s", opened.Deadline, opened.Card.CaptureBy)
			}
			if opened.Card.ClientSecret != "" {
				t.Fatal("the client secret is shown after the payment was authorised")
			}

			var answered wire.Question
			if code := w.call(t, http.MethodPost, "/v1/questions/"+q.ID+"/answer", w.expertKey, "answer-"+q.ID,
				wire.AnswerRequest{Answer: "Cordon it, then drain with a PodDisruptionBudget in place."}, &answered); code != http.StatusOK {
				t.Fatalf("answer: %d", code)
			}
			captures := w.requests("/v1/payment_intents/"+q.Card.PaymentIntent+"/capture", "capture:"+q.ID)
			if len(captures) != 1 || captures[0].Form.Get("amount_to_capture") != "2500" {
				t.Fatalf("capture requests %+v, want one of 2500 keyed capture:%s", captures, q.ID)
			}
			// stripe-mock answers with a fixture, not a captured intent: Stipend waits for the
			// event, and credits nothing before it.
			if answered.Status != experts.Answered || answered.Card.State != experts.CardCapture || answered.Parts == nil {
				t.Fatalf("answered question = %+v (card %+v)", answered, answered.Card)
			}
			if got := w.balance(t, w.expertKey, w.expertID, "USD"); got != 0 {
				t.Fatalf("the expert was credited %d before Stripe confirmed the capture", got)
			}
			// The job that follows the capture up asks again with the same key, and waits.
			job := jobs.Job{Kind: experts.JobCaptureCard, Payload: mustJSON(t, experts.EscrowJob{QuestionID: q.ID}), Attempt: 1, MaxAttempts: 10}
			if err := w.srv.App.Experts.HandleCaptureCard(ctx, job); err == nil {
				t.Fatal("the capture job finished before Stripe confirmed the capture")
			} else if _, snoozed := jobs.IsSnooze(err); !snoozed {
				t.Fatalf("capture job: %v, want a snooze", err)
			}
			for _, r := range w.rec.Requests(func(r stripemock.Request) bool {
				return r.Path == "/v1/payment_intents/"+q.Card.PaymentIntent+"/capture"
			}) {
				if r.IdempotencyKey != "capture:"+q.ID {
					t.Fatalf("a capture request carried key %q", r.IdempotencyKey)
				}
			}

			succeeded := w.intentEvent("evt_captured_"+q.ID, "payment_intent.succeeded", q,
				map[string]any{"status": "succeeded", "amount_received": 2500, "amount_capturable": 0})
			other := w.intentEvent("evt_other_"+q.ID, "payment_intent.payment_failed", q, map[string]any{"status": "requires_payment_method"})
			for i, ev := range [][]byte{succeeded, other, succeeded, succeeded} {
				if code := w.deliver(t, ev, apptest.StripeWebhookSecret, w.clock.now()); code != http.StatusOK {
					t.Fatalf("delivery %d: %d", i, code)
				}
			}
			earnings := answered.Parts.Earnings.Amount
			if got := w.balance(t, w.expertKey, w.expertID, "USD"); got != earnings || earnings <= 0 {
				t.Fatalf("expert's USD balance = %d, want the earnings %d, once", got, earnings)
			}
			done := w.question(t, q.ID, w.askerKey)
			if done.Card.State != experts.CardCaptured || done.Transaction == "" {
				t.Fatalf("captured question = %+v (card %+v)", done, done.Card)
			}
			if err := w.srv.App.Experts.HandleCaptureCard(ctx, job); err != nil {
				t.Fatalf("the capture job after the event: %v", err)
			}
			if got := w.balance(t, w.expertKey, w.expertID, "USD"); got != earnings {
				t.Fatalf("expert's USD balance after the job = %d, want %d", got, earnings)
			}
		})

		t.Run("deadline cancels", func(t *testing.T) {
			q := w.ask(t, "ask-expires")
			opened := w.authorise(t, q)
			if opened.Status != experts.Open {
				t.Fatalf("question = %+v", opened)
			}
			expire := jobs.Job{Kind: experts.JobExpire, Payload: mustJSON(t, experts.ExpireJob{QuestionID: q.ID}), Attempt: 1, MaxAttempts: 10}
			if err := w.srv.App.Experts.HandleExpire(ctx, expire); err == nil {
				t.Fatal("the expiry ran before the deadline")
			}
			w.clock.forward(time.Until(opened.Deadline) + time.Minute)
			if err := w.srv.App.Experts.HandleExpire(ctx, expire); err != nil {
				t.Fatalf("expiry: %v", err)
			}
			cancels := w.requests("/v1/payment_intents/"+q.Card.PaymentIntent+"/cancel", "cancel:"+q.ID)
			if len(cancels) != 1 {
				t.Fatalf("%d cancel requests, want 1", len(cancels))
			}
			if captures := w.requests("/v1/payment_intents/"+q.Card.PaymentIntent+"/capture", "capture:"+q.ID); len(captures) != 0 {
				t.Fatalf("an expired question's payment was captured: %+v", captures)
			}
			expired := w.question(t, q.ID, w.askerKey)
			if expired.Status != experts.Expired || expired.Card.State != experts.CardCancel {
				t.Fatalf("expired question = %+v (card %+v)", expired, expired.Card)
			}
			if code := w.call(t, http.MethodPost, "/v1/questions/"+q.ID+"/answer", w.expertKey, "late-"+q.ID,
				wire.AnswerRequest{Answer: "Too late."}, nil); code != http.StatusConflict {
				t.Fatalf("an answer after the deadline: %d, want 409", code)
			}
			canceled := w.intentEvent("evt_canceled_"+q.ID, "payment_intent.canceled", q, map[string]any{"status": "canceled"})
			if code := w.deliver(t, canceled, apptest.StripeWebhookSecret, w.clock.now()); code != http.StatusOK {
				t.Fatalf("payment_intent.canceled: %d", code)
			}
			if got := w.question(t, q.ID, w.askerKey); got.Card.State != experts.CardCanceled || got.Transaction != "" {
				t.Fatalf("released question = %+v (card %+v)", got, got.Card)
			}
		})

		t.Run("decline cancels", func(t *testing.T) {
			q := w.ask(t, "ask-declined")
			w.authorise(t, q)
			var declined wire.Question
			if code := w.call(t, http.MethodPost, "/v1/questions/"+q.ID+"/decline", w.expertKey, "decline-"+q.ID,
				wire.DeclineRequest{Reason: "Not my field."}, &declined); code != http.StatusOK {
				t.Fatalf("decline: %d", code)
			}
			if declined.Status != experts.Declined || declined.Card.State != experts.CardCancel {
				t.Fatalf("declined question = %+v (card %+v)", declined, declined.Card)
			}
			if n := len(w.requests("/v1/payment_intents/"+q.Card.PaymentIntent+"/cancel", "cancel:"+q.ID)); n != 1 {
				t.Fatalf("%d cancel requests, want 1", n)
			}
		})

		t.Run("never authorised ends unpaid", func(t *testing.T) {
			q := w.ask(t, "ask-unpaid")
			due := jobs.Job{Kind: experts.JobCardPaymentDue, Payload: mustJSON(t, experts.EscrowJob{QuestionID: q.ID}), Attempt: 1, MaxAttempts: 10}
			if err := w.srv.App.Experts.HandleCardPaymentDue(ctx, due); err == nil {
				t.Fatal("the payment-due job ran before the time to pay was over")
			}
			w.clock.forward(time.Until(q.Card.PayBy) + time.Minute)
			if err := w.srv.App.Experts.HandleCardPaymentDue(ctx, due); err != nil {
				t.Fatalf("payment due: %v", err)
			}
			unpaid := w.question(t, q.ID, w.askerKey)
			if unpaid.Status != experts.Unpaid || unpaid.Card.State != experts.CardCancel {
				t.Fatalf("unpaid question = %+v (card %+v)", unpaid, unpaid.Card)
			}
			if n := len(w.requests("/v1/payment_intents/"+q.Card.PaymentIntent+"/cancel", "cancel:"+q.ID)); n != 1 {
				t.Fatalf("%d cancel requests, want 1", n)
			}
			// An authorisation reported after the question ended opens nothing.
			if late := w.authorise(t, q); late.Status != experts.Unpaid {
				t.Fatalf("a late authorisation reopened the question: %+v", late)
			}
		})

		// Nobody was charged for the questions that were not answered: the asker's balance never
		// moved, and Stripe's side of the ledger holds the one captured answer.
		if got := w.balance(t, w.askerKey, w.askerID, "USD"); got != 0 {
			t.Fatalf("asker's USD balance = %d, want 0", got)
		}
	})
}

// TestCardEscrowRefusals shows what a card escrow cannot do: an answer window longer than a
// card authorisation lasts, a price in BTC, and a server without Stripe.
func TestCardEscrowRefusals(t *testing.T) {
	t.Parallel()
	mock := stripemock.Shared(t)
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		w := newEscrowWorld(t, mock, d)
		for _, tc := range []struct {
			name   string
			price  wire.MoneyRequest
			window int64
		}{
			{"a week to answer", wire.MoneyRequest{Amount: 2500, Asset: "USD"}, 7 * 24 * 3600},
			{"a price in BTC", wire.MoneyRequest{Amount: 2_500_000, Asset: "BTC"}, 3600},
			{"a price under 50 cents", wire.MoneyRequest{Amount: 49, Asset: "EUR"}, 3600},
		} {
			t.Run(tc.name, func(t *testing.T) {
				id, key := w.newUser(t, "expert"+strconv.FormatInt(tc.window, 36)+tc.price.Asset)
				var e wire.Expert
				if code := w.call(t, http.MethodPut, "/v1/me/expert", key, "", wire.SetExpertRequest{Name: "Expert " + id,
					Price: tc.price, AnswerWindow: tc.window}, &e); code != http.StatusOK {
					t.Fatalf("profile: %d", code)
				}
				before := len(w.rec.Requests(nil))
				if code := w.call(t, http.MethodPost, "/v1/experts/"+e.Handle+"/questions", w.askerKey, "refused "+tc.name,
					wire.AskRequest{Question: "Can I pay by card?", Escrow: "card"}, nil); code != http.StatusBadRequest {
					t.Fatalf("ask by card: %d, want 400", code)
				}
				if after := len(w.rec.Requests(nil)); after != before {
					t.Fatalf("a refused ask reached Stripe %d times", after-before)
				}
			})
		}
		t.Run("no Stripe", func(t *testing.T) {
			srv := apptest.StartOn(t, dbtest.Open(t, d.Dialect()))
			plain := &world{srv: srv, admin: client.New(srv.URL, srv.Admin)}
			_, expertKey := plain.newUser(t, "expert")
			var e wire.Expert
			if code := plain.call(t, http.MethodPut, "/v1/me/expert", expertKey, "", wire.SetExpertRequest{Name: "Kay",
				Price: wire.MoneyRequest{Amount: 2500, Asset: "USD"}, AnswerWindow: 3600}, &e); code != http.StatusOK {
				t.Fatalf("profile: %d", code)
			}
			_, askerKey := plain.newUser(t, "asker")
			if code := plain.call(t, http.MethodPost, "/v1/experts/"+e.Handle+"/questions", askerKey, "no-stripe",
				wire.AskRequest{Question: "Can I pay by card?", Escrow: "card"}, nil); code != http.StatusServiceUnavailable {
				t.Fatalf("ask by card without Stripe: %d, want 503", code)
			}
		})
	})
}
