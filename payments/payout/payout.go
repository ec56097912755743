// Package payout takes money out of Stipend: payouts requested by their owners and automatic
// sweeps above a minimum, paid over a Rail (Lightning now; Stripe and on-chain later), each
// followed to exactly one final state.
//
// A payout's life is requested → in_flight → succeeded | failed, or cancelled before it is
// in flight. Requesting it reserves the amount and the fee cap from the owner's balance in the
// ledger; its row, with the amount, the destination, the external idempotency handle (for
// Lightning, the payment hash) and the fee cap, is committed as in_flight before the rail is
// called; an outcome the rail cannot report yet is followed, never sent again. Success posts
// the amount and the fee actually paid and returns the unused fee reserve; failure and
// cancellation reverse the reservation.
package payout

import (
	"context"
	"time"

	"github.com/stipend/stipend/payments/ledger"
)

// Payout states.
const (
	Requested = "requested"
	InFlight  = "in_flight"
	Succeeded = "succeeded"
	Failed    = "failed"
	Cancelled = "cancelled"
)

// Sources of payouts.
const (
	SourceRequest = "request"
	SourceSweep   = "sweep"
)

// Rail names.
const (
	RailLightning = "lightning"
	// RailStripe pays USD and EUR to a Stripe Connect account.
	RailStripe = "stripe"
	// RailKeep is the preference to keep earnings as a balance.
	RailKeep = "keep"
)

// Payout is money leaving Stipend.
type Payout struct {
	ID          string
	RequestKey  string // unique per request: a retried request finds its payout by it
	AccountID   string
	Rail        string
	Amount      ledger.Amount
	FeeCap      int64 // the most the rail may charge, in the asset's minor unit
	FeePaid     int64
	Destination string // as the owner gave it: a BOLT11 invoice or a Lightning Address
	Invoice     string // what is paid: the BOLT11 invoice
	PaymentHash string // the rail's idempotency handle
	Proof       string // the proof of payment: for Lightning, the preimage
	Status      string
	Failure     string
	Source      string
	Revision    int
	ReserveTx   string
	SettleTx    string
	CreatedAt   time.Time
	UpdatedAt   time.Time
	SentAt      *time.Time
	FinishedAt  *time.Time
}

// Final reports whether the payout has ended.
func (p *Payout) Final() bool {
	return p.Status == Succeeded || p.Status == Failed || p.Status == Cancelled
}

// Prepared is what a rail will pay for a destination.
type Prepared struct {
	Invoice     string
	PaymentHash string
	AmountMsat  int64
}

// OutcomeStatus is what a rail knows of a payout.
type OutcomeStatus string

// Outcomes. Unknown means the rail never saw the payout.
const (
	OutcomeInFlight  OutcomeStatus = "in_flight"
	OutcomeSucceeded OutcomeStatus = "succeeded"
	OutcomeFailed    OutcomeStatus = "failed"
	OutcomeUnknown   OutcomeStatus = "unknown"
)

// Outcome is a rail's report on a payout.
type Outcome struct {
	Status  OutcomeStatus
	Proof   string
	FeePaid int64
	Failure string
}

// Rail pays payouts out of Stipend. Every rail passes the conformance suite in railtest.
type Rail interface {
	// Name is the rail's name, as stored with payouts.
	Name() string

	// Prepare checks a destination for an amount and returns what will be paid, resolving a
	// Lightning Address to an invoice. Nothing is paid.
	// Returns EINVALID (a destination that must not be paid: wrong network, amount or
	// expiry, malformed) and EUNAVAILABLE (a resolver could not be reached).
	Prepare(ctx context.Context, destination string, amount ledger.Amount) (*Prepared, error)

	// Send pays a prepared payout at most once, however often it is called: a payout the
	// rail already knows is followed, never sent again. It returns the final outcome, or
	// OutcomeInFlight when ctx ends first. Returns EINVALID and EUNAVAILABLE.
	Send(ctx context.Context, p *Payout) (*Outcome, error)

	// Status reports what the rail knows of a payout without sending anything, waiting for
	// a final state while ctx allows. Returns EUNAVAILABLE.
	Status(ctx context.Context, p *Payout) (*Outcome, error)
}

// Preference says how an account wants one asset paid out.
type Preference struct {
	AccountID   string
	Asset       ledger.Asset
	Rail        string // RailLightning or RailKeep
	Destination string // for Lightning, a Lightning Address
	Minimum     int64  // sweep when the available balance reaches this
	UpdatedAt   time.Time
}

// SweepCandidate is an account whose available balance has reached its sweep minimum.
type SweepCandidate struct {
	Preference Preference
	Available  int64
}

// Store keeps payouts. Each method that changes a payout's state does so with a compare-
// and-set on its current state and, in the same database transaction, the ledger postings
// and job that go with it.
type Store interface {
	// CreatePayout stores p as requested, reserves p.Amount plus p.FeeCap from its account
	// into the payout clearing account, and enqueues its sending, in one transaction. A
	// payout with p.RequestKey that exists already is returned as it is.
	// Returns EINSUFFICIENTFUNDS and ECONFLICT (the invoice is already being paid out, or a
	// sweep of the account is already under way).
	CreatePayout(ctx context.Context, p *Payout) (*Payout, error)

	// Payout returns a payout. Returns ENOTFOUND.
	Payout(ctx context.Context, id string) (*Payout, error)

	// PayoutByKey returns the payout made for a request key. Returns ENOTFOUND.
	PayoutByKey(ctx context.Context, key string) (*Payout, error)

	// Payouts lists an account's payouts, newest first, and the next cursor.
	// Returns EINVALID for a bad cursor or limit.
	Payouts(ctx context.Context, accountID, cursor string, limit int) ([]Payout, string, error)

	// OpenPayouts lists payouts not yet final, oldest first.
	OpenPayouts(ctx context.Context, limit int) ([]Payout, error)

	// EnqueueSend queues the sending of a payout unless a send job for it is live, and
	// reports whether it queued one.
	EnqueueSend(ctx context.Context, id string) (bool, error)

	// SetPrepared records what a requested payout will pay. Returns ECONFLICT when it is no
	// longer requested, or when another payout pays the same invoice.
	SetPrepared(ctx context.Context, id string, prep Prepared) (*Payout, error)

	// MarkInFlight moves a requested payout to in_flight. Returns ECONFLICT.
	MarkInFlight(ctx context.Context, id string) (*Payout, error)

	// Succeed moves an in-flight payout to succeeded with its proof and the fee paid, and
	// posts its settlement: the amount and the fee out, the unused fee reserve back to the
	// owner. Returns ECONFLICT, and EINVALID for a fee above the cap.
	Succeed(ctx context.Context, id, proof string, feePaid int64) (*Payout, error)

	// Fail moves a requested or in-flight payout to failed and reverses its reservation.
	// Returns ECONFLICT.
	Fail(ctx context.Context, id, reason string) (*Payout, error)

	// Cancel moves a requested payout to cancelled and reverses its reservation.
	// Returns ECONFLICT once it is in flight or final.
	Cancel(ctx context.Context, id string) (*Payout, error)

	// SetPreference stores an account's preference for an asset.
	SetPreference(ctx context.Context, p Preference) error

	// Preferences returns an account's preferences.
	Preferences(ctx context.Context, accountID string) ([]Preference, error)

	// SweepCandidates lists accounts to sweep: a Lightning preference, an available balance
	// of at least its minimum (and above zero), and no sweep under way.
	SweepCandidates(ctx context.Context, limit int) ([]SweepCandidate, error)
}
