package experts

import (
	"context"
	"time"

	"github.com/stipend/stipend/payments/stripe"
)

// Store keeps experts, charities and questions. Every method that moves money does so in the
// same database transaction as the state change it belongs to, and schedules what follows
// (a question's expiry) in that transaction too.
type Store interface {
	// CreateCharity registers a charity with its organisation account and, when it names a
	// Lightning destination, that account's payout preference for BTC, in one transaction.
	// Returns ECONFLICT (the handle is taken, by a charity or an account).
	CreateCharity(ctx context.Context, c *Charity) (*Charity, error)

	// Charity returns a charity by id or handle. Returns ENOTFOUND.
	Charity(ctx context.Context, idOrHandle string) (*Charity, error)

	// Charities lists the registry, by handle.
	Charities(ctx context.Context) ([]Charity, error)

	// Donations lists a charity's receipts, newest first. Returns EINVALID (a bad cursor).
	Donations(ctx context.Context, charityID, cursor string, limit int) ([]Donation, string, error)

	// SaveProfile creates or replaces an expert's profile. Returns ENOTFOUND (the charity).
	SaveProfile(ctx context.Context, p *Profile) (*Profile, error)

	// Profile returns the profile of an expert by account id or handle. Returns ENOTFOUND.
	Profile(ctx context.Context, idOrHandle string) (*Profile, error)

	// Profiles lists profiles for the directory. Returns EINVALID (a bad cursor or limit).
	Profiles(ctx context.Context, f Filter) ([]Profile, string, error)

	// Ask stores an open question, holds its price on the asker's balance and schedules its
	// expiry at the deadline, in one transaction. A key used before with the same input hash
	// returns the question it made.
	// Returns EINSUFFICIENTFUNDS and EIDEMPOTENCYMISMATCH.
	Ask(ctx context.Context, q *Question, key, inputHash string) (*Question, error)

	// AskLightning stores a question awaiting payment of its hold invoice, with the invoice's
	// preimage, and schedules JobPaymentDue at the invoice's expiry, in one transaction. A key
	// used before with the same input hash returns the question it made, which may be another
	// than q. Returns EIDEMPOTENCYMISMATCH.
	AskLightning(ctx context.Context, q *Question, preimage, key, inputHash string) (*Question, error)

	// AskCard stores a question awaiting the authorisation of its card payment, with its card
	// escrow pending (no PaymentIntent yet), and schedules JobCardPaymentDue at the escrow's
	// PayBy, in one transaction. A key used before with the same input hash returns the
	// question it made, which may be another than q. Returns EIDEMPOTENCYMISMATCH.
	AskCard(ctx context.Context, q *Question, key, inputHash string) (*Question, error)

	// SetCardIntent records the PaymentIntent of a question's card escrow; recording the same
	// one again is no change. Returns ENOTFOUND and ECONFLICT (it has another).
	SetCardIntent(ctx context.Context, id, paymentIntent string) error

	// OpenCardQuestion opens a question awaiting payment whose card payment Stripe authorised:
	// its deadline is one answer window after p.At and no later than p.CaptureBy (see
	// CardDeadline); an authorisation with too little time left ends the question unpaid and
	// schedules JobCancelCard instead. Once, in one transaction with the expiry's job.
	// Returns ENOTFOUND and ECONFLICT (not awaiting payment, another intent, or another
	// amount than the price).
	OpenCardQuestion(ctx context.Context, id string, p stripe.EscrowPayment) (*Question, error)

	// CapturedCard records that the card payment of an answered question was captured for
	// p.Amount, and credits the ledger from Stripe: the fee, the charity's share and the
	// expert's earnings, with the donation receipt. Once: a payment captured already is
	// returned as it is. Returns ENOTFOUND and ECONFLICT (not to be captured, another intent,
	// or another amount than the price).
	CapturedCard(ctx context.Context, id string, p stripe.EscrowPayment) (*Question, error)

	// CanceledCard records that a question's card payment was released at Stripe, once. A
	// payment Stripe released on its own ends its question too: an open one expires, one
	// awaiting payment ends unpaid. Returns ENOTFOUND and ECONFLICT (captured, or to be).
	CanceledCard(ctx context.Context, id string, now time.Time) (*Question, error)

	// FailedCard records that Stripe would not capture the payment of an answered question.
	// Returns ENOTFOUND and ECONFLICT (not to be captured).
	FailedCard(ctx context.Context, id string, now time.Time) (*Question, error)

	// QuestionByKey returns the question asked with an idempotency key, and the hash of the
	// input it was asked with. Returns ENOTFOUND.
	QuestionByKey(ctx context.Context, key string) (*Question, string, error)

	// Question returns a question. Returns ENOTFOUND.
	Question(ctx context.Context, id string) (*Question, error)

	// OpenQuestion opens a question awaiting payment whose HTLC the node has accepted: it
	// records the HTLC, sets the deadline and schedules the question's expiry, once.
	// Returns ENOTFOUND and ECONFLICT (not awaiting payment).
	OpenQuestion(ctx context.Context, id string, htlc HeldHTLC, deadline, now time.Time) (*Question, error)

	// AwaitingPayment lists the questions whose hold invoices wait for the payer, oldest first.
	AwaitingPayment(ctx context.Context) ([]Question, error)

	// HoldPreimage returns the preimage of a question's hold invoice. Returns ENOTFOUND.
	HoldPreimage(ctx context.Context, id string) (string, error)

	// SettledHold records that the hold invoice of an answered question was settled for
	// amountPaid msat, and credits the ledger from the node: the fee, the charity's share and
	// the expert's earnings, and anything paid over the price back to the asker's balance;
	// with the donation receipt. Once: a hold settled already is returned as it is.
	// Returns ENOTFOUND and ECONFLICT (not to be settled).
	SettledHold(ctx context.Context, id string, amountPaid int64, now time.Time) (*Question, error)

	// CanceledHold records that a question's hold invoice was cancelled at the node, once.
	// Returns ENOTFOUND and ECONFLICT (not to be cancelled).
	CanceledHold(ctx context.Context, id string, now time.Time) (*Question, error)

	// FailedHold records that the node refused to settle a question's hold invoice.
	// Returns ENOTFOUND and ECONFLICT (not to be settled).
	FailedHold(ctx context.Context, id string, now time.Time) (*Question, error)

	// Questions lists questions. Returns EINVALID (a bad cursor or limit).
	Questions(ctx context.Context, f QuestionFilter) ([]Question, string, error)

	// AnswerQuestion records the answer of an open question whose deadline is after now, and
	// pays it from its escrow, in one transaction. A balance hold is captured into the fee, the
	// charity's share and the expert's earnings, with the donation receipt; a hold invoice is
	// marked to be settled and JobSettleHold scheduled, and SettledHold credits the ledger
	// once the node has settled it; a card payment is marked to be captured and
	// JobCaptureCard scheduled, and CapturedCard credits the ledger. Returns ENOTFOUND and ECONFLICT (not open, or the deadline
	// has passed).
	AnswerQuestion(ctx context.Context, id, answer string, now time.Time) (*Question, error)

	// CloseQuestion ends an open question as Declined (with a reason) or Expired, or one
	// awaiting payment as Unpaid, and returns its escrow to the asker, once: a balance hold is
	// released; a hold invoice is marked to be cancelled and JobCancelHold scheduled; a card
	// payment is marked to be released and JobCancelCard scheduled.
	// Returns ENOTFOUND and ECONFLICT (not open, or not awaiting payment for Unpaid).
	CloseQuestion(ctx context.Context, id, status, reason string, now time.Time) (*Question, error)

	// RateAnswer records the asker's rating of an answered question, once.
	// Returns ENOTFOUND and ECONFLICT (not answered, or rated already).
	RateAnswer(ctx context.Context, id string, rating int, comment string) (*Question, error)

	// CreateList stores a list with its members, who must have expert profiles.
	// Returns ECONFLICT (the handle is taken) and ENOTFOUND (a member is no expert).
	CreateList(ctx context.Context, l *List) (*List, error)

	// List returns a list by id or handle with its members. Returns ENOTFOUND.
	List(ctx context.Context, idOrHandle string) (*List, error)

	// Lists returns every list, by handle.
	Lists(ctx context.Context) ([]List, error)

	// AskList stores an open list question, holds price × responses on the asker's balance
	// and schedules its expiry, in one transaction; a key used before with the same input
	// hash returns the question it made. Returns EINSUFFICIENTFUNDS and EIDEMPOTENCYMISMATCH.
	AskList(ctx context.Context, q *ListQuestion, key, inputHash string) (*ListQuestion, error)

	// ListQuestion returns a list question with its replies. Returns ENOTFOUND.
	ListQuestion(ctx context.Context, id string) (*ListQuestion, error)

	// ListQuestions lists list questions, newest first, without their replies: those asked by
	// AskerID, or asked of a list MemberID is in. Returns EINVALID.
	ListQuestions(ctx context.Context, f ListQuestionFilter) ([]ListQuestion, string, error)

	// Reply records a member's reply to an open list question whose deadline is after now
	// and pays it from the escrow, split by the member's charity share, while responses bought
	// are left; the payment of the last one completes the question. All in one transaction.
	// Returns ENOTFOUND and ECONFLICT (replied already, every response paid, closed, or past
	// the deadline).
	Reply(ctx context.Context, r *Reply, now time.Time) (*ListQuestion, error)

	// ExpireListQuestion ends an open list question and returns what is left of its escrow to
	// the asker, once. Returns ENOTFOUND and ECONFLICT (not open).
	ExpireListQuestion(ctx context.Context, id string, now time.Time) (*ListQuestion, error)
}
