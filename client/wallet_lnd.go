package client

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/stipend/stipend/payments/l402"
	"github.com/stipend/stipend/payments/lightning"
)

// LightningPayer is the part of a lightning.Node that LNDWallet uses. Every lightning.Node
// (such as the lnd client of payments/lightning/lnd) is one.
type LightningPayer interface {
	SendPayment(ctx context.Context, req lightning.PaymentRequest) (*lightning.Payment, error)
	TrackPayment(ctx context.Context, hash string) (*lightning.Payment, error)
}

// LNDWallet pays from the user's own Lightning node. SendPayment is at most once per payment
// hash, so paying an invoice twice follows the first payment.
type LNDWallet struct {
	node LightningPayer
	// Timeout is how long the node may look for a route; 0 leaves it to the node (a minute).
	Timeout time.Duration
}

var _ Wallet = (*LNDWallet)(nil)

// NewLNDWallet returns a wallet that pays through node, for example an lnd.Client made with
// lnd.Dial(lnd.Config{Host, TLSCertPath, MacaroonPath, Network}).
func NewLNDWallet(node LightningPayer) *LNDWallet { return &LNDWallet{node: node} }

// Pay implements Wallet.
func (w *LNDWallet) Pay(ctx context.Context, invoice string, maxFeeMsat int64) (*WalletPayment, error) {
	p, err := w.node.SendPayment(ctx, lightning.PaymentRequest{Invoice: invoice, FeeLimitMsat: maxFeeMsat, Timeout: w.Timeout})
	if err != nil {
		return nil, fmt.Errorf("lnd: %w", err)
	}
	return walletPayment(p)
}

// Track implements Wallet.
func (w *LNDWallet) Track(ctx context.Context, paymentHash string) (*WalletPayment, error) {
	p, err := w.node.TrackPayment(ctx, paymentHash)
	if err != nil {
		return nil, fmt.Errorf("lnd: %w", err)
	}
	return walletPayment(p)
}

func walletPayment(p *lightning.Payment) (*WalletPayment, error) {
	if p == nil {
		return nil, errors.New("lnd: no payment state")
	}
	switch p.Status {
	case lightning.PaymentSucceeded:
		pre, err := l402.ParsePreimage(p.Preimage)
		if err != nil {
			return nil, errors.New("lnd: the payment succeeded without a valid preimage")
		}
		return &WalletPayment{State: PaymentSucceeded, Preimage: pre, FeeMsat: p.FeeMsat}, nil
	case lightning.PaymentFailed:
		return &WalletPayment{State: PaymentFailed, Failure: p.FailureReason}, nil
	case lightning.PaymentUnknown:
		return &WalletPayment{State: PaymentUnknown}, nil
	default:
		return &WalletPayment{State: PaymentInFlight}, nil
	}
}
