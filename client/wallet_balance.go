package client

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/stipend/stipend/api/wire"
	"github.com/stipend/stipend/payments/l402"
	"github.com/stipend/stipend/payments/lightning"
)

// BalanceWallet pays invoices from the user's Stipend balance: each invoice becomes a payout
// (POST /v1/payouts) under an Idempotency-Key derived from its payment hash, so that paying
// the same invoice again returns the first payout instead of paying twice, and the payout is
// followed (GET /v1/payouts/{id}) until it succeeds, with its preimage as the proof, or
// fails.
//
// A Stipend server cannot pay its own invoices (a Lightning node cannot pay itself): to call
// the priced routes of the server that holds the balance, use the credits method
// (PayingTransport.APIKey), which takes the price from the balance directly.
type BalanceWallet struct {
	c *Client
	// PollInterval is how often a payout is asked for its state; 0 means one second.
	PollInterval time.Duration
	// ScanPages bounds how many pages of payouts Track reads looking for a hash; 0 means 5.
	ScanPages int
}

var _ Wallet = (*BalanceWallet)(nil)

// NewBalanceWallet returns a wallet that pays with the balance of c's API key.
func NewBalanceWallet(c *Client) *BalanceWallet { return &BalanceWallet{c: c} }

// BalancePayoutKey is the Idempotency-Key of the payout that pays the invoice of paymentHash.
func BalancePayoutKey(paymentHash string) string { return "stipend-pay-" + paymentHash }

// Pay implements Wallet.
func (w *BalanceWallet) Pay(ctx context.Context, invoice string, maxFeeMsat int64) (*WalletPayment, error) {
	d, err := decodeAnyNetwork(invoice, "")
	if err != nil {
		return nil, err
	}
	req := wire.CreatePayoutRequest{Destination: invoice}
	if maxFeeMsat > 0 {
		req.MaxFee = &maxFeeMsat
	}
	po, err := w.c.CreatePayout(ctx, req, BalancePayoutKey(d.Hash))
	if err != nil {
		var ae *Error
		if errors.As(err, &ae) && ae.StatusCode >= 400 && ae.StatusCode < 500 && ae.Problem.Code != "conflict" && ae.Problem.Code != "idempotency_mismatch" {
			// A final refusal (insufficient funds, an invalid invoice): no payout exists.
			return &WalletPayment{State: PaymentFailed, Failure: ae.Error()}, nil
		}
		return nil, err
	}
	return w.follow(ctx, po)
}

// Track implements Wallet: it finds the payout of the hash among the account's recent
// payouts and follows it.
func (w *BalanceWallet) Track(ctx context.Context, paymentHash string) (*WalletPayment, error) {
	pages := w.ScanPages
	if pages <= 0 {
		pages = 5
	}
	cursor := ""
	for range pages {
		page, err := w.c.Payouts(ctx, "", cursor, 100)
		if err != nil {
			return nil, err
		}
		for i := range page.Data {
			if page.Data[i].PaymentHash == paymentHash {
				return w.follow(ctx, &page.Data[i])
			}
		}
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}
	return &WalletPayment{State: PaymentUnknown}, nil
}

// follow polls a payout until it ends or ctx does (PaymentInFlight, no error).
func (w *BalanceWallet) follow(ctx context.Context, po *wire.Payout) (*WalletPayment, error) {
	interval := w.PollInterval
	if interval <= 0 {
		interval = time.Second
	}
	for {
		switch po.Status {
		case "succeeded":
			pre, err := l402.ParsePreimage(po.Proof)
			if err != nil {
				return nil, fmt.Errorf("payout %s succeeded without a valid proof of payment", po.ID)
			}
			return &WalletPayment{State: PaymentSucceeded, Preimage: pre, FeeMsat: po.FeePaid}, nil
		case "failed", "cancelled":
			reason := po.Failure
			if reason == "" {
				reason = "payout " + po.ID + " " + po.Status
			}
			return &WalletPayment{State: PaymentFailed, Failure: reason}, nil
		}
		t := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return &WalletPayment{State: PaymentInFlight}, nil
		case <-t.C:
		}
		next, err := w.c.Payout(ctx, po.ID)
		if err != nil {
			if ctx.Err() != nil {
				return &WalletPayment{State: PaymentInFlight}, nil
			}
			return nil, err
		}
		po = next
	}
}

// decodeAnyNetwork decodes a BOLT11 invoice for network, or when network is "" for whichever
// network it is for.
func decodeAnyNetwork(invoice, network string) (*lightning.DecodedInvoice, error) {
	if network != "" {
		return lightning.DecodeInvoice(invoice, network)
	}
	for _, n := range []string{"mainnet", "testnet", "signet", "regtest", "simnet"} {
		if d, err := lightning.DecodeInvoice(invoice, n); err == nil {
			return d, nil
		}
	}
	return nil, errors.New("invoice: not a valid BOLT11 invoice")
}
