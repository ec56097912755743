package experts

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"time"

	"github.com/stipend/stipend/payments/ledger"
)

// Question states. A question is open until it ends in exactly one of answered, declined and
// expired. A question paid by a hold invoice or by card is awaiting payment first, and opens
// when the payer's HTLC is accepted or their card payment authorised, or ends unpaid when the
// time to pay runs out first.
const (
	AwaitingPayment = "awaiting_payment"
	Open            = "open"
	Answered        = "answered"
	Declined        = "declined"
	Expired         = "expired"
	Unpaid          = "unpaid"
)

// Escrows: how a question's price is held while it is open.
const (
	// EscrowBalance is a hold on the asker's balance.
	EscrowBalance = "balance"
	// EscrowLightning is a Lightning hold invoice: the payer's HTLC is held by Stipend's node,
	// settled when the answer comes and cancelled otherwise, so nothing is charged unless the
	// question is answered.
	EscrowLightning = "lightning"
	// EscrowCard is a card payment through Stripe, authorised when the question is asked and
	// captured only if it is answered (see CardEscrow).
	EscrowCard = "card"
)

// Question is a paid question to one expert, with the terms it was asked on.
type Question struct {
	ID       string
	ExpertID string
	AskerID  string
	Body     string
	// The terms, fixed when the question was asked.
	Price        ledger.Amount
	FeeBPS       int64
	CharityID    string
	CharityShare int64
	Escrow       string
	HoldID       string       // the balance hold of EscrowBalance
	Invoice      *HoldInvoice // the hold invoice of EscrowLightning
	Card         *CardEscrow  // the card payment of EscrowCard
	AnswerWindow time.Duration

	Status string
	// Deadline is when an open question expires. A question awaiting payment gets its
	// deadline when it opens, one answer window after.
	Deadline      time.Time
	Answer        string
	DeclineReason string
	Parts         Parts  // how the price was shared out, once answered
	LedgerTx      string // the transaction that paid the answer, or returned the escrow
	Rating        int    // 1 to 5, 0 for none
	RatingComment string
	CreatedAt     time.Time
	ClosedAt      *time.Time
}

// Limits of a question.
const (
	MaxQuestion = 5000
	MaxAnswer   = 20_000
	maxReason   = 500
	maxComment  = 1000
)

// HoldKey is the key of the hold that escrows a question's price.
func HoldKey(questionID string) string { return "question:" + questionID }

// InputHash is the hash stored with an ask's idempotency key: a retry with the same key must
// ask the same expert the same question, paid the same way.
func InputHash(expertID, body string, price ledger.Amount, escrow string) string {
	h := sha256.New()
	fields := []string{expertID, body, string(price.Asset), strconv.FormatInt(price.Value, 10)}
	if escrow != EscrowBalance {
		// Balance escrow hashed no escrow before there were others; its hashes stay as they were.
		fields = append(fields, escrow)
	}
	for _, s := range fields {
		h.Write([]byte(strconv.Itoa(len(s))))
		h.Write([]byte{':'})
		h.Write([]byte(s))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// QuestionFilter selects questions for an asker's list or an expert's inbox, newest first.
type QuestionFilter struct {
	AskerID  string
	ExpertID string
	Status   string // "" for any
	Paid     bool   // only questions whose escrow was paid: none awaiting payment or unpaid
	Cursor   string
	Limit    int
}
