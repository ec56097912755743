package experts

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"time"

	"github.com/stipend/stipend/payments/ledger"
)

// Question states. A question is open until it ends in exactly one of the others.
const (
	Open     = "open"
	Answered = "answered"
	Declined = "declined"
	Expired  = "expired"
)

// EscrowBalance is escrow by a hold on the asker's balance.
const EscrowBalance = "balance"

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
	HoldID       string

	Status        string
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
// ask the same expert the same question.
func InputHash(expertID, body string, price ledger.Amount) string {
	h := sha256.New()
	for _, s := range []string{expertID, body, string(price.Asset), strconv.FormatInt(price.Value, 10)} {
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
	Cursor   string
	Limit    int
}
