// Package lnrail is the Lightning payout rail: it pays payouts as BOLT11 invoices through a
// lightning.Node, resolving Lightning Addresses and LNURL-pay links to invoices first.
package lnrail

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/payments/ledger"
	"github.com/stipend/stipend/payments/lightning"
	"github.com/stipend/stipend/payments/payout"
)

// Options tune the rail.
type Options struct {
	// Resolver turns Lightning Addresses into invoices; nil refuses them.
	Resolver *lightning.Resolver
	// ExpiryMargin is how long an invoice must still be valid to be accepted; default 2 min.
	ExpiryMargin time.Duration
	// RouteTimeout is how long lnd may look for a route; default 60 s.
	RouteTimeout time.Duration
	Now          func() time.Time
}

// Rail pays BTC payouts over Lightning.
type Rail struct {
	node    lightning.Node
	network string
	opts    Options

	mu     sync.Mutex
	pubKey string // the platform node's own key, learnt on first use
}

var _ payout.Rail = (*Rail)(nil)

// New returns a rail paying through node on network.
func New(node lightning.Node, network string, opts Options) *Rail {
	if opts.ExpiryMargin == 0 {
		opts.ExpiryMargin = 2 * time.Minute
	}
	if opts.RouteTimeout == 0 {
		opts.RouteTimeout = time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Rail{node: node, network: network, opts: opts}
}

// Name implements payout.Rail.
func (r *Rail) Name() string { return payout.RailLightning }

// Prepare implements payout.Rail: a BOLT11 invoice is checked for the network, the amount (an
// invoice without one takes the payout's) and its expiry; a Lightning Address or LNURL is
// resolved to an invoice for the amount, which is checked the same way.
func (r *Rail) Prepare(ctx context.Context, destination string, amount ledger.Amount) (*payout.Prepared, error) {
	if amount.Asset != ledger.BTC {
		return nil, stipend.Errorf(stipend.EINVALID, "asset: Lightning pays BTC only")
	}
	destination = strings.TrimSpace(destination)
	var inv *lightning.DecodedInvoice
	bolt11 := destination
	if lightning.IsLightningAddress(destination) || lightning.IsLNURL(destination) {
		if amount.Value <= 0 {
			return nil, stipend.Errorf(stipend.EINVALID, "amount: required to pay a Lightning Address")
		}
		if r.opts.Resolver == nil {
			return nil, stipend.Errorf(stipend.EINVALID, "destination: Lightning Addresses are not enabled on this server")
		}
		var err error
		if bolt11, inv, err = r.opts.Resolver.Resolve(ctx, destination, amount.Value); err != nil {
			return nil, err
		}
	} else {
		var err error
		if inv, err = lightning.DecodeInvoice(destination, r.network); err != nil {
			return nil, err
		}
	}
	if own, err := r.ownKey(ctx); err != nil {
		return nil, err
	} else if inv.Destination == own {
		return nil, stipend.Errorf(stipend.EINVALID, "destination: the invoice is the platform's own; pay it from your balance instead")
	}
	want := amount.Value
	if want == 0 {
		if inv.AmountMsat == 0 {
			return nil, stipend.Errorf(stipend.EINVALID, "amount: required for an invoice without an amount")
		}
		want = inv.AmountMsat
	}
	if err := inv.CheckPayable(want, r.opts.Now(), r.opts.ExpiryMargin); err != nil {
		return nil, err
	}
	return &payout.Prepared{Invoice: bolt11, PaymentHash: inv.Hash, AmountMsat: want}, nil
}

// ownKey returns the platform node's public key, asking the node once.
func (r *Rail) ownKey(ctx context.Context) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pubKey == "" {
		info, err := r.node.Info(ctx)
		if err != nil {
			return "", err
		}
		r.pubKey = info.PubKey
	}
	return r.pubKey, nil
}

// followFor bounds how long one call waits for a payment to end: a payment held by its
// receiver may stay in flight for days, and the engine's workers must not wait with it. The
// payment goes on in lnd; the engine asks again later.
func (r *Rail) followFor() time.Duration { return r.opts.RouteTimeout + 15*time.Second }

// Send implements payout.Rail. The node sends a payment hash at most once and follows one it
// already knows, which makes sending again after a lost reply safe. An invoice that expired
// before it was ever sent fails without being sent: lnd would refuse it, and nothing is out.
func (r *Rail) Send(ctx context.Context, p *payout.Payout) (*payout.Outcome, error) {
	inv, err := lightning.DecodeInvoice(p.Invoice, r.network)
	if err != nil {
		return nil, err
	}
	if inv.Hash != p.PaymentHash {
		return nil, stipend.Errorf(stipend.EINVALID, "payout %s: its invoice does not carry its payment hash", p.ID)
	}
	if !r.opts.Now().Before(inv.ExpiresAt) {
		out, err := r.Status(ctx, p)
		if err != nil || out.Status != payout.OutcomeUnknown {
			return out, err
		}
		return &payout.Outcome{Status: payout.OutcomeFailed, Failure: "the invoice expired before it could be paid"}, nil
	}
	req := lightning.PaymentRequest{Invoice: p.Invoice, FeeLimitMsat: p.FeeCap, Timeout: r.opts.RouteTimeout}
	if inv.AmountMsat == 0 {
		req.AmountMsat = p.Amount.Value
	}
	ctx, cancel := context.WithTimeout(ctx, r.followFor())
	defer cancel()
	pay, err := r.node.SendPayment(ctx, req)
	if err != nil {
		return nil, err
	}
	return outcome(pay), nil
}

// Status implements payout.Rail.
func (r *Rail) Status(ctx context.Context, p *payout.Payout) (*payout.Outcome, error) {
	if p.PaymentHash == "" {
		return &payout.Outcome{Status: payout.OutcomeUnknown}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, r.followFor())
	defer cancel()
	pay, err := r.node.TrackPayment(ctx, p.PaymentHash)
	if err != nil {
		return nil, err
	}
	return outcome(pay), nil
}

func outcome(p *lightning.Payment) *payout.Outcome {
	switch p.Status {
	case lightning.PaymentSucceeded:
		return &payout.Outcome{Status: payout.OutcomeSucceeded, Proof: p.Preimage, FeePaid: p.FeeMsat}
	case lightning.PaymentFailed:
		return &payout.Outcome{Status: payout.OutcomeFailed, Failure: failureText(p.FailureReason)}
	case lightning.PaymentUnknown:
		return &payout.Outcome{Status: payout.OutcomeUnknown}
	}
	return &payout.Outcome{Status: payout.OutcomeInFlight}
}

// failureText turns lnd's failure reasons into words for the payout's owner.
func failureText(reason string) string {
	switch reason {
	case "FAILURE_REASON_NO_ROUTE":
		return "no route to the destination within the fee cap"
	case "FAILURE_REASON_TIMEOUT":
		return "no route found in time"
	case "FAILURE_REASON_INCORRECT_PAYMENT_DETAILS":
		return "the destination refused the payment (unknown or already paid invoice)"
	case "FAILURE_REASON_INSUFFICIENT_BALANCE":
		return "the platform's channels could not carry the amount"
	case "FAILURE_REASON_ERROR":
		return "the payment failed"
	}
	if refused, ok := strings.CutPrefix(reason, lightning.RefusedPrefix); ok {
		return "lnd refused the payment: " + refused
	}
	return "the payment failed: " + strings.ToLower(strings.TrimPrefix(reason, "FAILURE_REASON_"))
}
