package experts

import (
	"context"
	"errors"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/internal/jobs"
	"github.com/stipend/stipend/payments/ledger"
	"github.com/stipend/stipend/payments/stripe"
)

// askCard asks q with a card payment of its price, authorised now and captured on the
// answer. The question is stored before the PaymentIntent is made (persist before send); the
// intent's idempotency key derives from the question, so a retry after a lost reply gets the
// same intent, and the payment-due job ends the question unpaid if none was ever authorised.
func (s *Service) askCard(ctx context.Context, p *Profile, q *Question, key, hash string) (*Question, error) {
	c := s.opts.Card
	if c == nil {
		return nil, stipend.Errorf(stipend.EUNAVAILABLE, "card payments are not configured on this server; ask with escrow balance")
	}
	if q.Price.Asset != ledger.USD && q.Price.Asset != ledger.EUR {
		return nil, stipend.Errorf(stipend.EINVALID, "escrow: cards pay USD or EUR, and %s's price is in %s; ask with escrow balance or lightning", p.Handle, q.Price.Asset)
	}
	if q.Price.Value < minCardCharge {
		return nil, stipend.Errorf(stipend.EINVALID, "escrow: %s's price is below the smallest card payment (0.50); ask with escrow balance", p.Handle)
	}
	if q.AnswerWindow > c.MaxWindow() {
		return nil, stipend.Errorf(stipend.EINVALID, "escrow: %s answers within %s, longer than a card payment stays authorised (%s); ask with escrow balance",
			p.Handle, q.AnswerWindow, c.MaxWindow())
	}
	q.Status = AwaitingPayment
	q.Card = &CardEscrow{State: CardPending, PayBy: q.CreatedAt.Add(c.PaymentWindow)}
	// Until the question opens, its deadline is the latest it could be: paid at the last moment.
	q.Deadline = q.Card.PayBy.Add(q.AnswerWindow)
	out, err := s.store.AskCard(ctx, q, key, hash)
	if err != nil {
		return nil, err
	}
	if out.Status != AwaitingPayment || out.Card == nil || out.Card.State != CardPending {
		return out, nil // a retry of a question since paid or ended: nothing to authorise
	}
	pi, err := s.cardIntent(ctx, out)
	if err != nil {
		// The question waits: a retry with the same key makes the intent, and without one the
		// payment-due job ends it unpaid.
		return nil, err
	}
	out.Card.ClientSecret = pi.ClientSecret
	return out, nil
}

// minCardCharge is Stripe's smallest card payment in USD and EUR, in cents.
const minCardCharge = 50

// cardIntent makes the PaymentIntent of q's card escrow, or gets the one made before under
// the same idempotency key, and records its id.
func (s *Service) cardIntent(ctx context.Context, q *Question) (*stripe.PaymentIntent, error) {
	gw, err := s.cardGateway()
	if err != nil {
		return nil, err
	}
	pi, err := gw.CreatePaymentIntent(ctx, stripe.IntentRequest{Amount: q.Price, ManualCapture: true,
		Description: "Question " + q.ID + " on Stipend", IdempotencyKey: "escrow:" + q.ID,
		Metadata: map[string]string{stripe.MetaQuestion: q.ID, stripe.MetaAccount: q.AskerID}})
	if err != nil {
		return nil, err
	}
	if q.Card.PaymentIntent != "" && q.Card.PaymentIntent != pi.ID {
		return nil, stipend.Errorf(stipend.EINTERNAL, "Stripe returned PaymentIntent %s for question %s, which has %s", pi.ID, q.ID, q.Card.PaymentIntent)
	}
	if q.Card.PaymentIntent == "" {
		if err := s.store.SetCardIntent(ctx, q.ID, pi.ID); err != nil {
			return nil, err
		}
		q.Card.PaymentIntent = pi.ID
	}
	return pi, nil
}

func (s *Service) cardGateway() (CardGateway, error) {
	if s.opts.Card == nil {
		return nil, stipend.Errorf(stipend.EUNAVAILABLE, "card payments are not configured on this server")
	}
	return s.opts.Card.Gateway, nil
}

// errAwaitingStripe says that Stripe took a capture or a release and has not confirmed it
// yet; its webhook event records it, and the job looks again meanwhile.
var errAwaitingStripe = errors.New("experts: Stripe has not confirmed the capture or release yet")

// captureCard captures the payment of an answered question and credits the ledger. Each step
// may be repeated: the capture carries an idempotency key derived from the question, an
// intent captured already is recognised by its status, and the store credits it once.
func (s *Service) captureCard(ctx context.Context, id string) (*Question, error) {
	q, err := s.store.Question(ctx, id)
	if err != nil {
		return nil, err
	}
	if q.Card == nil || q.Card.State != CardCapture {
		return q, nil
	}
	gw, err := s.cardGateway()
	if err != nil {
		return nil, err
	}
	pi, err := gw.CapturePaymentIntent(ctx, q.Card.PaymentIntent, q.Price.Value, "capture:"+q.ID)
	if stipend.ErrorCode(err) == stipend.ECONFLICT {
		// Captured before (after Stripe forgot the key), or no longer capturable: the intent
		// says which.
		pi, err = gw.PaymentIntent(ctx, q.Card.PaymentIntent)
	}
	if err != nil {
		return nil, err
	}
	switch pi.Status {
	case stripe.IntentSucceeded:
		return s.store.CapturedCard(ctx, id, stripe.EscrowPayment{QuestionID: id, PaymentIntent: pi.ID,
			Amount: ledger.Amount{Value: pi.AmountReceived, Asset: pi.Amount.Asset}, At: s.now()})
	case stripe.IntentCanceled:
		s.opts.Logger.Error("Stripe cancelled the card payment of an answered question before it was captured; an operator must look",
			"question_id", id, "payment_intent", pi.ID)
		return s.store.FailedCard(ctx, id, s.now())
	}
	return q, errAwaitingStripe
}

// cancelCard releases the payment of a question that ended unanswered. A question whose
// intent's id was never recorded (its creation's reply was lost) gets it by creating it again
// under the same key, so that an intent Stripe made is released too.
func (s *Service) cancelCard(ctx context.Context, id string) (*Question, error) {
	q, err := s.store.Question(ctx, id)
	if err != nil {
		return nil, err
	}
	if q.Card == nil || q.Card.State != CardCancel {
		return q, nil
	}
	gw, err := s.cardGateway()
	if err != nil {
		return nil, err
	}
	if q.Card.PaymentIntent == "" {
		if _, err := s.cardIntent(ctx, q); err != nil {
			return nil, err
		}
	}
	pi, err := gw.CancelPaymentIntent(ctx, q.Card.PaymentIntent, "cancel:"+q.ID)
	switch stipend.ErrorCode(err) {
	case "":
	case stipend.ENOTFOUND:
		return s.store.CanceledCard(ctx, id, s.now()) // nothing at Stripe holds the asker's money
	case stipend.ECONFLICT:
		if pi, err = gw.PaymentIntent(ctx, q.Card.PaymentIntent); err != nil {
			return nil, err
		}
	default:
		return nil, err
	}
	switch pi.Status {
	case stripe.IntentCanceled:
		return s.store.CanceledCard(ctx, id, s.now())
	case stripe.IntentSucceeded:
		// Stipend captures only answered questions: this one was charged without an answer.
		s.opts.Logger.Error("the card payment of an unanswered question was captured; an operator must refund it",
			"question_id", id, "payment_intent", pi.ID)
		return q, nil
	}
	return q, errAwaitingStripe
}

// cardJobResult turns a step that waits for Stripe into a snooze of the job.
func (s *Service) cardJobResult(err error) error {
	if errors.Is(err, errAwaitingStripe) {
		return jobs.Snooze(s.opts.Card.Recheck)
	}
	return err
}

// HandleCaptureCard is the JobCaptureCard handler.
func (s *Service) HandleCaptureCard(ctx context.Context, j jobs.Job) error {
	id, err := escrowJob(j)
	if err != nil {
		return err
	}
	_, err = s.captureCard(ctx, id)
	return s.cardJobResult(err)
}

// HandleCancelCard is the JobCancelCard handler.
func (s *Service) HandleCancelCard(ctx context.Context, j jobs.Job) error {
	id, err := escrowJob(j)
	if err != nil {
		return err
	}
	_, err = s.cancelCard(ctx, id)
	return s.cardJobResult(err)
}

// HandleCardPaymentDue is the JobCardPaymentDue handler, due when a question's time to pay by
// card runs out. A question still awaiting payment opens if Stripe holds its authorisation
// (its event was missed), and ends unpaid otherwise, its intent cancelled so that it can no
// longer be paid.
func (s *Service) HandleCardPaymentDue(ctx context.Context, j jobs.Job) error {
	id, err := escrowJob(j)
	if err != nil {
		return err
	}
	q, err := s.store.Question(ctx, id)
	if err != nil {
		return err
	}
	if q.Status != AwaitingPayment || q.Card == nil {
		return nil
	}
	now := s.now()
	if wait := q.Card.PayBy.Sub(now); wait > 0 {
		return jobs.Snooze(wait)
	}
	if q.Card.PaymentIntent != "" {
		gw, err := s.cardGateway()
		if err != nil {
			return err
		}
		pi, err := gw.PaymentIntent(ctx, q.Card.PaymentIntent)
		if err != nil && stipend.ErrorCode(err) != stipend.ENOTFOUND {
			return err
		}
		if err == nil && pi.Status == stripe.IntentRequiresCapture {
			_, err := s.store.OpenCardQuestion(ctx, id, stripe.EscrowPayment{QuestionID: id, PaymentIntent: pi.ID,
				Amount: ledger.Amount{Value: pi.AmountCapturable, Asset: pi.Amount.Asset}, CaptureBy: stripe.CaptureBy(pi.Created), At: now})
			switch stipend.ErrorCode(err) {
			case "":
				s.opts.Logger.Info("question paid by card and open; its authorisation's event was missed", "question_id", id)
				return nil
			case stipend.ECONFLICT:
				// Not this question's payment (another amount), or opened or closed meanwhile:
				// in either case it ends unpaid if it is still waiting.
			default:
				return err
			}
		}
	}
	s.closeUnpaid(ctx, id)
	return nil
}
