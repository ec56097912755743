package experts

import (
	"time"

	"github.com/stipend/stipend/payments/lightning"
)

// HoldInvoice is the Lightning escrow of a question: a hold invoice of the question's price on
// Stipend's node, whose preimage only Stipend knows. The question opens when the payer's HTLC
// is accepted; the answer settles the invoice; a decline or the deadline cancels it, and the
// HTLC fails back to the payer, who is charged nothing.
type HoldInvoice struct {
	PaymentRequest string // BOLT11, for the asker to pay
	Hash           string // hex
	AmountMsat     int64
	CltvExpiry     uint64    // the final CLTV delta the payer's HTLC must carry
	ExpiresAt      time.Time // when an unpaid invoice stops taking payment
	State          string    // one of the Hold states
	// The payer's HTLC, once accepted: the height at which it was accepted, the height at which
	// it expires, and what it pays.
	AcceptHeight   int32
	HTLCExpiry     int32
	AmountPaidMsat int64
}

// Hold invoice states, as Stipend records them: what it has decided and what it has done. The
// decision to settle or cancel is made in the transaction that ends the question, and carried
// out at the node afterwards by a job, so a crash in between is finished on restart, never
// forgotten and never done twice.
const (
	HoldOpen     = "open"     // waiting for the payer
	HoldAccepted = "accepted" // the HTLC is held and the question open
	HoldSettle   = "settle"   // the question was answered: settle
	HoldSettled  = "settled"  // settled at the node and credited in the ledger
	HoldCancel   = "cancel"   // the question ended otherwise: cancel
	HoldCanceled = "canceled" // cancelled at the node; the payer's HTLC failed back
	HoldFailed   = "failed"   // the node would not settle an invoice it was told to; see the log
)

// HeldHTLC is the payer's HTLC that pays a hold invoice, as the node accepted it.
type HeldHTLC struct {
	AcceptHeight int32
	Expiry       int32
	AmountMsat   int64
}

// Jobs of the Lightning escrow. Each takes an EscrowJob.
const (
	// JobSettleHold settles the hold invoice of an answered question and credits the ledger.
	JobSettleHold = "question.settle_hold"
	// JobCancelHold cancels the hold invoice of a question that ended unanswered.
	JobCancelHold = "question.cancel_hold"
	// JobPaymentDue ends a question whose hold invoice expired unpaid, or opens it if the
	// watcher missed its payment.
	JobPaymentDue = "question.payment_due"
)

// EscrowJob is the payload of the Lightning escrow's jobs.
type EscrowJob struct {
	QuestionID string `json:"question_id"`
}

// Lightning configures the Lightning escrow of questions.
type Lightning struct {
	Node lightning.Node
	// CltvExpiry is the final CLTV delta of the hold invoices: how many blocks the payer's HTLC
	// can be held. It bounds the answer window that a Lightning escrow can promise (see
	// lightning.HoldWindow). Default 576 blocks, which allows answer windows up to 45½ hours
	// and stays well inside the 2016-block limit payers put on a route.
	CltvExpiry uint64
	// InvoiceExpiry is how long the asker has to pay. Default one hour.
	InvoiceExpiry time.Duration
	// Rescan is how often the watcher looks for questions awaiting payment that it does not
	// follow yet: asked through another server, or before a restart. Default 10 seconds.
	Rescan time.Duration
	// HeightCheck is how often an open question's HTLC is checked against the chain's height,
	// so that Stipend cancels it before lnd would, however fast blocks come. Default one minute.
	HeightCheck time.Duration
}

func (l *Lightning) withDefaults() *Lightning {
	if l == nil {
		return nil
	}
	out := *l
	if out.CltvExpiry == 0 {
		out.CltvExpiry = 576
	}
	if out.InvoiceExpiry == 0 {
		out.InvoiceExpiry = time.Hour
	}
	if out.Rescan == 0 {
		out.Rescan = 10 * time.Second
	}
	if out.HeightCheck == 0 {
		out.HeightCheck = time.Minute
	}
	return &out
}

// MaxWindow is the longest answer window a Lightning escrow can promise.
func (l *Lightning) MaxWindow() time.Duration { return lightning.HoldWindow(l.CltvExpiry) }
