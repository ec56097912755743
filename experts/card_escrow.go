package experts

import (
	"context"
	"time"

	"github.com/stipend/stipend/payments/stripe"
)

// CardEscrow is the card escrow of a question: a Stripe PaymentIntent of the price with
// manual capture. The asker authorises it with their card; the question opens when Stripe
// reports the authorisation; the answer captures it; a decline, the deadline or a payment
// never made cancels it, and the authorisation is released, so nothing is charged unless the
// question is answered.
type CardEscrow struct {
	PaymentIntent string // empty until Stripe has made the intent
	State         string // one of the Card states
	// PayBy is when a payment not yet authorised is given up; CaptureBy, once authorised, the
	// latest the capture is planned, inside Stripe's authorisation window.
	PayBy          time.Time
	CaptureBy      time.Time
	AmountCaptured int64
	// ClientSecret is the intent's, for the asker's browser to authorise the payment with
	// Stripe.js. It is read from Stripe when the question is asked, never stored.
	ClientSecret string
}

// Card escrow states, as Stipend records them: what it has decided and what it has done. As
// with hold invoices, the decision to capture or cancel is made in the transaction that ends
// the question, and carried out at Stripe afterwards by a job.
const (
	CardPending    = "pending"    // waiting for the asker to authorise the payment
	CardAuthorized = "authorized" // the payment is authorised and the question open
	CardCapture    = "capture"    // the question was answered: capture
	CardCaptured   = "captured"   // captured at Stripe and credited in the ledger
	CardCancel     = "cancel"     // the question ended otherwise: release the payment
	CardCanceled   = "canceled"   // released at Stripe; the asker was charged nothing
	CardFailed     = "failed"     // Stripe would not capture an answered question's payment; see the log
)

// Jobs of the card escrow. Each takes an EscrowJob.
const (
	// JobCaptureCard captures the payment of an answered question.
	JobCaptureCard = "question.capture_card"
	// JobCancelCard releases the payment of a question that ended unanswered.
	JobCancelCard = "question.cancel_card"
	// JobCardPaymentDue ends a question whose payment was not authorised in time, or opens it
	// if Stripe's event of the authorisation was missed.
	JobCardPaymentDue = "question.card_payment_due"
)

// CardGateway is what the card escrow needs from Stripe; stripe.Gateway has it.
type CardGateway interface {
	CreatePaymentIntent(ctx context.Context, req stripe.IntentRequest) (*stripe.PaymentIntent, error)
	PaymentIntent(ctx context.Context, id string) (*stripe.PaymentIntent, error)
	CapturePaymentIntent(ctx context.Context, id string, amount int64, idempotencyKey string) (*stripe.PaymentIntent, error)
	CancelPaymentIntent(ctx context.Context, id, idempotencyKey string) (*stripe.PaymentIntent, error)
}

// Card configures the card escrow of questions.
type Card struct {
	Gateway CardGateway
	// PaymentWindow is how long the asker has to authorise the payment. Default one hour.
	PaymentWindow time.Duration
	// Recheck is how often a capture or a release that Stripe took but has not confirmed yet
	// is looked at again, until its webhook event records it. Default one minute.
	Recheck time.Duration
}

func (c *Card) withDefaults() *Card {
	if c == nil {
		return nil
	}
	out := *c
	if out.PaymentWindow == 0 {
		out.PaymentWindow = time.Hour
	}
	if out.Recheck == 0 {
		out.Recheck = time.Minute
	}
	return &out
}

// MaxWindow is the longest answer window a card escrow can promise: the authorisation must
// still be capturable at the deadline of a question paid at the last moment.
func (c *Card) MaxWindow() time.Duration {
	return stripe.AuthorizationWindow - stripe.CaptureMargin - c.PaymentWindow
}

// CardDeadline is the deadline of a question whose card payment was authorised at now: one
// answer window away, and no later than captureBy. ok is false when less than
// MinAnswerWindow would be left (an authorisation reported days late): the payment is then
// released rather than held for an answer that could not be captured.
func CardDeadline(window time.Duration, captureBy, now time.Time) (deadline time.Time, ok bool) {
	deadline = now.Add(window)
	if captureBy.Before(deadline) {
		deadline = captureBy
	}
	return deadline, deadline.Sub(now) >= MinAnswerWindow
}
