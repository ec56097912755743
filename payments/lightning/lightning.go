// Package lightning is Stipend's narrow interface to a Lightning node, Node, with its types;
// the implementation over lnd's gRPC is the sub-package lnd. This package also checks BOLT11
// invoices before anything is paid (bolt11.go) and resolves Lightning Addresses and
// LNURL-pay links to invoices (lnurl.go).
package lightning

import (
	"context"
	"time"
)

// InvoiceState is where an invoice is in its life.
type InvoiceState string

// Invoice states, as lnd reports them. A hold invoice is "accepted" while the payer's HTLC is
// locked in and waits for Stipend to settle or cancel it.
const (
	InvoiceOpen     InvoiceState = "open"
	InvoiceAccepted InvoiceState = "accepted"
	InvoiceSettled  InvoiceState = "settled"
	InvoiceCanceled InvoiceState = "canceled"
)

// PaymentStatus is where an outgoing payment is.
type PaymentStatus string

// Payment states. Unknown means the node has no payment with the hash: it was never sent.
const (
	PaymentInFlight  PaymentStatus = "in_flight"
	PaymentSucceeded PaymentStatus = "succeeded"
	PaymentFailed    PaymentStatus = "failed"
	PaymentUnknown   PaymentStatus = "unknown"
)

// InvoiceRequest asks for a new invoice.
type InvoiceRequest struct {
	AmountMsat int64
	Memo       string
	Expiry     time.Duration
}

// HoldInvoiceRequest asks for a hold invoice: Stipend keeps the preimage and settles or
// cancels the invoice once the payer's HTLC is accepted.
type HoldInvoiceRequest struct {
	Hash       string // hex SHA-256 of the preimage
	AmountMsat int64
	Memo       string
	Expiry     time.Duration
	// CltvExpiry is the final CLTV delta the payer's HTLC must carry: how many blocks the
	// HTLC can be held. lnd cancels an accepted hold invoice 18 blocks before it expires.
	CltvExpiry uint64
}

// Invoice is a created invoice.
type Invoice struct {
	PaymentRequest string // BOLT11
	Hash           string // hex
	AddIndex       uint64
	ExpiresAt      time.Time
}

// InvoiceUpdate is the state of an invoice.
type InvoiceUpdate struct {
	Hash           string
	State          InvoiceState
	AmountMsat     int64 // asked
	AmountPaidMsat int64 // received, when settled
	AddIndex       uint64
	SettleIndex    uint64
	SettledAt      time.Time
	// AcceptHeight is the block height at which the payer's HTLC was accepted, and
	// HTLCExpiry the height at which it expires (the earliest, for several HTLCs).
	AcceptHeight int32
	HTLCExpiry   int32
}

// PaymentRequest asks to pay a BOLT11 invoice.
type PaymentRequest struct {
	Invoice      string
	AmountMsat   int64 // only for invoices without an amount
	FeeLimitMsat int64
	Timeout      time.Duration // how long lnd may look for a route
}

// RefusedPrefix starts the FailureReason of a payment that the node refused to start (an
// expired invoice, a payment to itself): it failed without anything being sent.
const RefusedPrefix = "REFUSED: "

// Payment is an outgoing payment.
type Payment struct {
	Hash          string
	Status        PaymentStatus
	Preimage      string // hex, once succeeded: the proof of payment
	AmountMsat    int64
	FeeMsat       int64
	FailureReason string
	CreatedAt     time.Time
}

// Info describes the node.
type Info struct {
	PubKey      string
	Network     string // "mainnet", "testnet", "signet", "regtest", "simnet"
	BlockHeight int32
	Synced      bool
}

// Node is what Stipend needs from a Lightning node.
type Node interface {
	// Info describes the node.
	Info(ctx context.Context) (*Info, error)

	// AddInvoice creates an invoice. Returns EINVALID for a bad amount or expiry.
	AddInvoice(ctx context.Context, req InvoiceRequest) (*Invoice, error)

	// SubscribeSettled streams the invoices settled after settleIndex, the ones settled
	// while nobody listened first, so that a subscriber that resumes from the last index it
	// recorded misses none. The stream ends when ctx does or with an error on errs.
	SubscribeSettled(ctx context.Context, settleIndex uint64) (updates <-chan InvoiceUpdate, errs <-chan error, err error)

	// LookupInvoice returns an invoice's state. Returns ENOTFOUND.
	LookupInvoice(ctx context.Context, hash string) (*InvoiceUpdate, error)

	// AddHoldInvoice creates a hold invoice. Returns EINVALID and ECONFLICT (the hash is used).
	AddHoldInvoice(ctx context.Context, req HoldInvoiceRequest) (*Invoice, error)

	// SubscribeInvoice streams the states of one invoice, starting with its current one.
	SubscribeInvoice(ctx context.Context, hash string) (updates <-chan InvoiceUpdate, errs <-chan error, err error)

	// SettleInvoice settles an accepted hold invoice with its preimage (hex).
	// Returns ENOTFOUND and ECONFLICT (not accepted, or already canceled).
	SettleInvoice(ctx context.Context, preimage string) error

	// CancelInvoice cancels an open or accepted invoice; the payer's HTLC fails back.
	// Returns ENOTFOUND and ECONFLICT (already settled).
	CancelInvoice(ctx context.Context, hash string) error

	// SendPayment pays an invoice at most once. A payment whose hash the node already knows
	// is not sent again but followed to its end. It returns the final state, or the
	// in-flight state when ctx ends first; an unknown outcome must then be followed with
	// TrackPayment, never sent again with another invoice.
	SendPayment(ctx context.Context, req PaymentRequest) (*Payment, error)

	// TrackPayment returns the state of a payment by hash, waiting for a final state while
	// ctx allows. A hash the node never sent has status PaymentUnknown.
	TrackPayment(ctx context.Context, hash string) (*Payment, error)

	// ListPayments returns every outgoing payment the node knows, for reconciliation.
	ListPayments(ctx context.Context) ([]Payment, error)

	// ListInvoices returns every invoice the node knows, for reconciliation.
	ListInvoices(ctx context.Context) ([]InvoiceUpdate, error)
}
