package client

import (
	"context"

	"github.com/stipend/stipend/payments/l402"
)

// PaymentState is where a wallet's payment of one invoice is.
type PaymentState string

// The states of a wallet payment. PaymentUnknown means the wallet never sent a payment with
// the hash; PaymentInFlight that its outcome is not known yet (it must be tracked, never
// paid again).
const (
	PaymentUnknown   PaymentState = "unknown"
	PaymentInFlight  PaymentState = "in_flight"
	PaymentSucceeded PaymentState = "succeeded"
	PaymentFailed    PaymentState = "failed"
)

// WalletPayment is the state of one payment made by a Wallet.
type WalletPayment struct {
	State PaymentState
	// Preimage is the proof of payment, once State is PaymentSucceeded. Its String method
	// hides it; PayingTransport checks that it hashes to the invoice's payment hash.
	Preimage l402.Preimage
	// FeeMsat is the routing fee paid, when the wallet knows it.
	FeeMsat int64
	// Failure says why a failed payment failed, when the wallet says. It never holds the
	// preimage.
	Failure string
}

// Wallet pays BOLT11 invoices for a PayingTransport.
//
// Pay must pay an invoice at most once per payment hash: paying an invoice whose hash the
// wallet already paid (or is paying) must follow that payment instead of sending another. It
// returns the final state, or PaymentInFlight when ctx ended first; an error means the
// outcome is unknown unless the wallet is sure nothing was sent.
//
// Track returns the state of the payment of a hash, waiting for a final state while ctx
// allows; PaymentUnknown when the wallet never sent it.
type Wallet interface {
	Pay(ctx context.Context, invoice string, maxFeeMsat int64) (*WalletPayment, error)
	Track(ctx context.Context, paymentHash string) (*WalletPayment, error)
}
