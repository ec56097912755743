package wire

import "time"

// CreateCharityRequest registers a charity (admin). Destinations name where the charity takes
// money on each rail: "lightning" (a Lightning Address), "onchain" or "stripe".
type CreateCharityRequest struct {
	Handle       string            `json:"handle"`
	Name         string            `json:"name"`
	Website      string            `json:"website,omitempty"`
	Receipt      string            `json:"receipt"`
	Destinations map[string]string `json:"destinations"`
}

// Charity is a registered charity, with what it has received per asset. Receipt is what a
// donation receipt names: its legal name, registration number and address.
type Charity struct {
	ID           string            `json:"id"`
	Handle       string            `json:"handle"`
	Name         string            `json:"name"`
	Website      string            `json:"website,omitempty"`
	Receipt      string            `json:"receipt"`
	Destinations map[string]string `json:"destinations"`
	// AccountID is the charity's own account, which collects its donations and from which
	// they are paid out; Balance is what waits there to be paid out, Received all it was given.
	AccountID string    `json:"account_id"`
	Received  []Money   `json:"received"`
	Balance   []Money   `json:"balance"`
	CreatedAt time.Time `json:"created_at"`
}

// CharityList lists the charity registry, by handle.
type CharityList struct {
	Data []Charity `json:"data"`
}

// Donation is the receipt of a charity's share of an answered question: who gave it (the
// expert whose earnings it was), for which question, and the ledger transaction that moved it.
type Donation struct {
	ID          string    `json:"id"`
	CharityID   string    `json:"charity_id"`
	DonorID     string    `json:"donor_id"`
	QuestionID  string    `json:"question_id"`
	Amount      Money     `json:"amount"`
	Transaction string    `json:"transaction_id"`
	CreatedAt   time.Time `json:"created_at"`
}

// DonationPage is one page of a charity's donation receipts, newest first, with the charity
// they were given to, whose receipt details they carry.
type DonationPage struct {
	Charity    Charity    `json:"charity"`
	Data       []Donation `json:"data"`
	NextCursor string     `json:"next_cursor,omitempty"`
}

// SetExpertRequest sets the caller's expert profile, replacing the one before. AnswerWindow
// is in seconds (1 hour to 30 days). Charity is a charity's id or handle ("" for none) and
// CharityShareBPS the share of the earnings, after the platform fee, that goes to it, in basis
// points (0 to 10000). Accepting, when left out, is true: the expert takes questions.
type SetExpertRequest struct {
	Name            string       `json:"name"`
	Bio             string       `json:"bio,omitempty"`
	Topics          []string     `json:"topics,omitempty"`
	Price           MoneyRequest `json:"price"`
	AnswerWindow    int64        `json:"answer_window"`
	Accepting       *bool        `json:"accepting,omitempty"`
	Charity         string       `json:"charity,omitempty"`
	CharityShareBPS int64        `json:"charity_share_bps,omitempty"`
}

// CharityRef names a charity in another object.
type CharityRef struct {
	ID     string `json:"id"`
	Handle string `json:"handle"`
	Name   string `json:"name"`
}

// Rating is an expert's record of ratings: the average in tenths (47 is 4.7 of 5; 0 when
// there are none) and how many there are.
type Rating struct {
	AverageTenths int `json:"average_tenths"`
	Count         int `json:"count"`
}

// Expert is an expert's public profile: the price of an answer, how long they take, whether
// they take questions now, the charity that gets a share of their earnings, and their record.
type Expert struct {
	AccountID       string      `json:"account_id"`
	Handle          string      `json:"handle"`
	Name            string      `json:"name"`
	Bio             string      `json:"bio,omitempty"`
	Topics          []string    `json:"topics"`
	Price           Money       `json:"price"`
	AnswerWindow    int64       `json:"answer_window"`
	Accepting       bool        `json:"accepting"`
	Charity         *CharityRef `json:"charity,omitempty"`
	CharityShareBPS int64       `json:"charity_share_bps"`
	Answered        int         `json:"answered"`
	Rating          Rating      `json:"rating"`
	UpdatedAt       time.Time   `json:"updated_at"`
}

// ExpertPage is one page of the expert directory, by handle.
type ExpertPage struct {
	Data       []Expert `json:"data"`
	NextCursor string   `json:"next_cursor,omitempty"`
}

// AskRequest asks an expert a question at the expert's price. Escrow is how the price is held
// until the question ends: "balance" (the default) holds it on the caller's balance and the
// question opens at once; "lightning" returns a hold invoice of the price, and the question
// opens when it is paid; "card" (USD and EUR prices, with Stripe configured) returns a
// PaymentIntent's client secret for the caller to authorise with their card, and the question
// opens when the payment is authorised. A hold invoice is settled, and a card payment
// captured, only if the question is answered; otherwise they are cancelled, so the payer is
// charged nothing for an unanswered question.
type AskRequest struct {
	Question string `json:"question"`
	Escrow   string `json:"escrow,omitempty"`
}

// AnswerRequest answers a question.
type AnswerRequest struct {
	Answer string `json:"answer"`
}

// DeclineRequest turns a question down, with an optional reason the asker sees.
type DeclineRequest struct {
	Reason string `json:"reason,omitempty"`
}

// RateRequest rates an answer from 1 to 5, with an optional comment.
type RateRequest struct {
	Rating  int    `json:"rating"`
	Comment string `json:"comment,omitempty"`
}

// QuestionParts is how the price of an answered question was shared out: the platform fee,
// the charity's share and the expert's earnings, which sum to the price exactly.
type QuestionParts struct {
	Fee      Money `json:"fee"`
	Charity  Money `json:"charity"`
	Earnings Money `json:"earnings"`
}

// HoldInvoice is the Lightning escrow of a question. PaymentRequest, the BOLT11 invoice to
// pay, is shown while the question awaits payment. State is open (not paid yet), accepted (the
// payment is held), settle or settled (the question was answered; the payment is, or is being,
// taken), cancel or canceled (the question ended unanswered; the payment is, or is being,
// returned), or failed (the node refused to settle; the operator is looking into it).
type HoldInvoice struct {
	PaymentRequest string    `json:"payment_request,omitempty"`
	PaymentHash    string    `json:"payment_hash"`
	Amount         Money     `json:"amount"`
	ExpiresAt      time.Time `json:"expires_at"`
	State          string    `json:"state"`
}

// CardEscrow is the card escrow of a question: a Stripe PaymentIntent with manual capture.
// ClientSecret, shown to the asker in the answer to the ask, is what Stripe.js confirms the
// payment with (stripe.confirmCardPayment); the question opens when Stripe reports the
// payment authorised, which must happen before PayBy. State is pending (not authorised yet),
// authorized (the payment is held), capture or captured (the question was answered; the
// payment is, or is being, taken), cancel or canceled (the question ended unanswered; the
// authorisation is, or is being, released, and nothing is charged), or failed (Stripe would
// not capture; the operator is looking into it). CaptureBy is the latest the payment can be
// taken; an open question's deadline is never later.
type CardEscrow struct {
	PaymentIntent string     `json:"payment_intent,omitempty"`
	ClientSecret  string     `json:"client_secret,omitempty"`
	State         string     `json:"state"`
	PayBy         time.Time  `json:"pay_by"`
	CaptureBy     *time.Time `json:"capture_by,omitempty"`
}

// Question is a paid question to one expert, with the terms it was asked on. Status is open,
// answered, declined or expired; a question paid by hold invoice is awaiting_payment until it
// is paid, and ends unpaid if it never is. Escrow says how the price is held while the question
// is open ("balance": a hold on the asker's balance; "lightning": a hold invoice, in Invoice;
// "card": a card payment authorised and captured only on the answer, in Card).
// Deadline is when an open question expires; while a question awaits payment it is the latest
// it could be. Parts is there once the question is answered; Transaction is the ledger
// transaction that paid the answer or returned the escrow.
type Question struct {
	ID              string         `json:"id"`
	ExpertID        string         `json:"expert_id"`
	ExpertHandle    string         `json:"expert_handle,omitempty"`
	AskerID         string         `json:"asker_id"`
	Question        string         `json:"question"`
	Price           Money          `json:"price"`
	FeeBPS          int64          `json:"fee_bps"`
	CharityID       string         `json:"charity_id,omitempty"`
	CharityShareBPS int64          `json:"charity_share_bps"`
	Escrow          string         `json:"escrow"`
	Invoice         *HoldInvoice   `json:"invoice,omitempty"`
	Card            *CardEscrow    `json:"card,omitempty"`
	Status          string         `json:"status"`
	Deadline        time.Time      `json:"deadline"`
	Answer          string         `json:"answer,omitempty"`
	DeclineReason   string         `json:"decline_reason,omitempty"`
	Parts           *QuestionParts `json:"parts,omitempty"`
	Rating          int            `json:"rating,omitempty"`
	RatingComment   string         `json:"rating_comment,omitempty"`
	Transaction     string         `json:"transaction_id,omitempty"`
	CreatedAt       time.Time      `json:"created_at"`
	ClosedAt        *time.Time     `json:"closed_at,omitempty"`
}

// QuestionPage is one page of questions, newest first.
type QuestionPage struct {
	Data       []Question `json:"data"`
	NextCursor string     `json:"next_cursor,omitempty"`
}
