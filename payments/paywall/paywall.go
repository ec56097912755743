// Package paywall sells calls of HTTP routes (DESIGN.md section 6): it issues the challenges
// of a 402 (a Lightning invoice offered as an L402 macaroon and as a Payment-scheme charge,
// and credits from a prepaid balance), verifies the credential a client comes back with,
// reserves the call so that a single-use payment serves exactly one request, and then either
// serves it, crediting whoever sells the route, or refunds it. It knows nothing of HTTP: the
// API's middleware turns requests into Offers and Credentials and calls it.
//
// # Money
//
// A Lightning payment reaches the platform's node when the payer pays the invoice, before any
// call is made, but the ledger is credited only when a call is served: external:lightning is
// debited by the price, the seller's account credited with the price less the platform fee,
// and platform:fees with the fee, in the transaction that marks the call served. A reusable
// token credits the seller once, at its first successful call, under a ledger key derived
// from its payment hash. Credits move through a ledger hold: reserved on the payer's balance
// before the handler runs (the atomic conditional debit that keeps N concurrent calls from
// spending one balance twice), captured to the seller and the fee when the call is served,
// released when it is not.
//
// # Refunds
//
// A call whose handler fails after its payment was reserved is refunded. A credits call's
// hold is released to the payer's balance. A Lightning payer may have no account at all, so
// its refund is the credential itself: the claim on the payment hash is deleted and the same
// credential can be presented again.
package paywall

import (
	"context"
	"time"

	"github.com/stipend/stipend/payments/ledger"
)

// Method is a way of paying for a call.
type Method string

// The payment methods.
const (
	MethodL402    Method = "l402"
	MethodPayment Method = "payment"
	MethodCredits Method = "credits"
)

// Call states.
const (
	CallReserved = "reserved"
	CallServed   = "served"
	CallRefunded = "refunded"
)

// Offer is what one call of a priced route costs and who is paid for it.
type Offer struct {
	// Route names what a credential opens: a route pattern ("/v1/experts/:handle/questions")
	// or a provider endpoint ("/x/ep_…"). It is written into the L402 route caveat and binds
	// the Payment challenge, so that a credential bought for one route opens no other.
	Route string
	// Price is the price of a call. Lightning methods are offered only for BTC prices.
	Price ledger.Amount
	// TTL, when positive, sells reusable access: an L402 token opens the route until TTL
	// after it was issued. Zero sells one call per payment.
	TTL time.Duration
	// SellerID is the account credited with the price less the platform fee; empty when the
	// platform keeps the whole price.
	SellerID string
	// Description is shown in the invoice.
	Description string
	// AccountID, when set, makes the offer a deposit for a route that acts for an account
	// (asking an expert): the L402 token is bound to the account, the payment is credited to
	// its balance without a fee before the handler runs, and the handler then spends the
	// balance as it would a funded one. A handler that fails leaves the money on the balance.
	// Payment-scheme challenges cannot name the account and are not offered.
	AccountID string
}

// Reusable reports whether the offer sells access until an expiry rather than one call.
func (o Offer) Reusable() bool { return o.TTL > 0 }

// Call is one call served under a single-use payment or paid with credits.
type Call struct {
	ID          string
	Route       string
	Method      Method
	PaymentHash string // hex, for Lightning methods
	PayerID     string // for credits
	HoldID      string // for credits: the hold on the payer's balance
	SellerID    string
	Price       ledger.Amount
	Fee         int64
	State       string
	LeaseToken  string
	LeaseUntil  time.Time
	LedgerTx    string
	CreatedAt   time.Time
	FinishedAt  *time.Time
}

// Store keeps calls, their claims on payment hashes and the ledger postings of serving them.
type Store interface {
	// ReserveCall stores c as reserved. For a call with a PaymentHash it claims the hash under a
	// unique constraint: a hash claimed by a served call, or by a reserved call whose lease has
	// not ended, is ECONFLICT; a reserved call whose lease has ended is refunded and its claim
	// taken over. For a call with a PayerID it holds the price on the payer's balance and sets
	// c.HoldID. Returns ECONFLICT, EINSUFFICIENTFUNDS and ENOTFOUND (no such payer).
	ReserveCall(ctx context.Context, c *Call) error

	// ServeCall marks a reserved call served and, in the same transaction, pays to: the hold
	// is captured to it for credits, and for a Lightning payment a transaction debits
	// external:lightning by the price and credits to. Returns ENOTFOUND and ECONFLICT (the
	// call is not reserved under leaseToken: it was taken over or already finished).
	ServeCall(ctx context.Context, id, leaseToken string, to []ledger.Entry) (*Call, error)

	// RefundCall marks a reserved call refunded: a credits hold is released and a payment
	// hash's claim deleted, in one transaction. Returns ENOTFOUND and ECONFLICT.
	RefundCall(ctx context.Context, id, leaseToken string) (*Call, error)

	// RefundExpiredCalls refunds, as RefundCall does, up to limit reserved calls whose lease
	// ended before now, and returns how many it refunded.
	RefundExpiredCalls(ctx context.Context, now time.Time, limit int) (int, error)

	// Post writes a ledger transaction, once per key (see ledger.Store).
	Post(ctx context.Context, t ledger.NewTransaction) (*ledger.Transaction, error)

	// ServerSecret returns the secret called name, creating a random one of size bytes the
	// first time, so that every server of a deployment shares it.
	ServerSecret(ctx context.Context, name string, size int) ([]byte, error)
}
