// Package stripe is Stipend's narrow interface to Stripe, Gateway, with its types: card
// funding by PaymentIntent, Connect accounts for payees and Transfers to them, escrow by
// PaymentIntents with manual capture, refunds, balance transactions for reconciliation, and
// the verification of webhook events. The implementation over stripe-go v76 is the
// sub-package stripego; its conformance suite, gatewaytest, runs against Stripe's own API
// test server, stripe-mock.
//
// Amounts are int64 minor units (cents) with an asset, as everywhere in Stipend; Stripe's
// lower-case currency codes are converted at the adapter.
package stripe

import (
	"context"
	"encoding/json"
	"time"

	"github.com/stipend/stipend/payments/ledger"
)

// PaymentIntent states, as Stripe writes them.
const (
	IntentRequiresPaymentMethod = "requires_payment_method"
	IntentRequiresConfirmation  = "requires_confirmation"
	IntentRequiresAction        = "requires_action"
	IntentProcessing            = "processing"
	IntentRequiresCapture       = "requires_capture"
	IntentCanceled              = "canceled"
	IntentSucceeded             = "succeeded"
)

// The metadata Stipend puts on its PaymentIntents, by which their webhook events find what
// they pay for.
const (
	MetaFunding  = "stipend_funding"  // a card funding's id
	MetaQuestion = "stipend_question" // the id of a question escrowed by card
	MetaAccount  = "stipend_account"  // the Stipend account that pays
)

// AuthorizationWindow is how long Stripe keeps an online card payment authorised but not
// captured: after seven days it cancels the PaymentIntent and the payer's bank releases the
// money.
const AuthorizationWindow = 7 * 24 * time.Hour

// CaptureMargin is kept between the latest capture Stipend plans and the end of the
// authorisation, so that a capture that failed can be retried in time.
const CaptureMargin = 24 * time.Hour

// CaptureBy is the latest time Stipend plans to capture a manual-capture PaymentIntent created
// at created. The authorisation comes after the creation, so this is on the safe side.
func CaptureBy(created time.Time) time.Time { return created.Add(AuthorizationWindow - CaptureMargin) }

// IntentRequest asks for a PaymentIntent.
type IntentRequest struct {
	Amount ledger.Amount // USD or EUR
	// ManualCapture authorises the card now and captures later (escrow); otherwise the
	// payment is captured when the payer confirms it.
	ManualCapture bool
	Description   string
	// Metadata is stored with the intent and comes back in its webhook events; Stipend puts
	// its own ids there.
	Metadata map[string]string
	// IdempotencyKey makes a retried creation return the first intent.
	IdempotencyKey string
}

// PaymentIntent is a Stripe PaymentIntent.
type PaymentIntent struct {
	ID               string
	Amount           ledger.Amount
	AmountReceived   int64
	AmountCapturable int64
	Status           string
	ClientSecret     string // for the payer's browser; never logged
	ManualCapture    bool
	Metadata         map[string]string
	Created          time.Time
}

// CheckoutRequest asks for a hosted Checkout session that collects one payment.
type CheckoutRequest struct {
	Amount         ledger.Amount
	Description    string
	SuccessURL     string
	CancelURL      string
	Metadata       map[string]string
	IdempotencyKey string
}

// CheckoutSession is a hosted payment page.
type CheckoutSession struct {
	ID            string
	URL           string
	PaymentIntent string // may be empty until the payer pays
}

// Account is a Connect account of a payee.
type Account struct {
	ID               string
	Country          string
	Email            string
	PayoutsEnabled   bool
	ChargesEnabled   bool
	DetailsSubmitted bool
}

// AccountRequest asks for a Connect account (Express) for a payee.
type AccountRequest struct {
	Country        string // ISO 3166-1 alpha-2
	Email          string
	Metadata       map[string]string
	IdempotencyKey string
}

// AccountLinkRequest asks for the onboarding link of a Connect account.
type AccountLinkRequest struct {
	Account    string
	RefreshURL string
	ReturnURL  string
}

// TransferRequest moves money from the platform's balance to a Connect account.
type TransferRequest struct {
	Amount      ledger.Amount
	Destination string // the Connect account id
	Description string
	Metadata    map[string]string
	// IdempotencyKey is the payout id: sending again with it returns the first transfer,
	// never a second one.
	IdempotencyKey string
	// Group is the transfer group, by which Stripe lists the transfers of one payout.
	Group string
}

// Transfer is a Stripe Transfer.
type Transfer struct {
	ID          string
	Amount      ledger.Amount
	Destination string
	Reversed    bool
	Metadata    map[string]string
	Created     time.Time
	Group       string
}

// RefundRequest refunds a captured PaymentIntent, in part or whole.
type RefundRequest struct {
	PaymentIntent  string
	Amount         int64 // 0: what is left
	Metadata       map[string]string
	IdempotencyKey string
}

// Refund is a Stripe Refund.
type Refund struct {
	ID            string
	PaymentIntent string
	Amount        ledger.Amount
	Status        string
}

// BalanceTransaction is one movement of the platform's Stripe balance.
type BalanceTransaction struct {
	ID      string
	Type    string // "charge", "payment", "transfer", "refund", ...
	Amount  ledger.Amount
	Fee     int64
	Net     int64
	Source  string // the object that caused it: a charge, transfer or refund id
	Created time.Time
}

// Event is a verified webhook event. Object is the event's data.object, as Stripe sent it.
type Event struct {
	ID      string
	Type    string
	Created time.Time
	Account string // the Connect account for events of connected accounts
	Object  json.RawMessage
}

// Gateway is what Stipend needs from Stripe.
type Gateway interface {
	// CreatePaymentIntent creates a PaymentIntent. Returns EINVALID and EUNAVAILABLE.
	CreatePaymentIntent(ctx context.Context, req IntentRequest) (*PaymentIntent, error)
	// PaymentIntent retrieves one. Returns ENOTFOUND and EUNAVAILABLE.
	PaymentIntent(ctx context.Context, id string) (*PaymentIntent, error)
	// CapturePaymentIntent captures an authorised intent, in whole or up to amount (0: all).
	// Returns ENOTFOUND, ECONFLICT (not capturable) and EUNAVAILABLE.
	CapturePaymentIntent(ctx context.Context, id string, amount int64, idempotencyKey string) (*PaymentIntent, error)
	// CancelPaymentIntent cancels an intent that is not captured; an authorisation is
	// released. Returns ENOTFOUND, ECONFLICT and EUNAVAILABLE.
	CancelPaymentIntent(ctx context.Context, id, idempotencyKey string) (*PaymentIntent, error)
	// CreateCheckoutSession creates a hosted payment page. Returns EINVALID and EUNAVAILABLE.
	CreateCheckoutSession(ctx context.Context, req CheckoutRequest) (*CheckoutSession, error)

	// CreateAccount creates an Express Connect account. Returns EINVALID and EUNAVAILABLE.
	CreateAccount(ctx context.Context, req AccountRequest) (*Account, error)
	// Account retrieves a Connect account. Returns ENOTFOUND and EUNAVAILABLE.
	Account(ctx context.Context, id string) (*Account, error)
	// AccountLink returns the URL where a payee onboards. Returns EINVALID and EUNAVAILABLE.
	AccountLink(ctx context.Context, req AccountLinkRequest) (string, error)

	// CreateTransfer pays a Connect account from the platform balance, once per idempotency
	// key. Returns EINVALID, EINSUFFICIENTFUNDS and EUNAVAILABLE.
	CreateTransfer(ctx context.Context, req TransferRequest) (*Transfer, error)
	// Transfer retrieves a transfer. Returns ENOTFOUND and EUNAVAILABLE.
	Transfer(ctx context.Context, id string) (*Transfer, error)
	// TransfersInGroup lists the transfers of a transfer group. Returns EINVALID and
	// EUNAVAILABLE.
	TransfersInGroup(ctx context.Context, group string) ([]Transfer, error)

	// CreateRefund refunds a captured payment. Returns EINVALID, ECONFLICT and EUNAVAILABLE.
	CreateRefund(ctx context.Context, req RefundRequest) (*Refund, error)

	// BalanceTransactions lists the platform balance's movements created in [from, to).
	// Returns EUNAVAILABLE.
	BalanceTransactions(ctx context.Context, from, to time.Time) ([]BalanceTransaction, error)
}

// Verifier checks webhook deliveries.
type Verifier interface {
	// Verify checks the Stripe-Signature header over the raw body with the endpoint's signing
	// secret and returns the event. A missing or malformed header, a bad signature, or a
	// timestamp further than the tolerance in the past or the future is EINVALID, and nothing
	// in the message quotes the header or the secret.
	Verify(payload []byte, signatureHeader string, now time.Time) (*Event, error)
}
