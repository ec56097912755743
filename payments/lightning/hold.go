package lightning

import (
	"context"
	"time"

	"github.com/stipend/stipend"
)

// Hold invoices lock the payer's HTLC until Stipend settles or cancels them, and an HTLC
// cannot be held past its expiry. lnd itself cancels an accepted hold invoice
// LNDHoldSafetyBlocks blocks before the HTLC expires; Stipend cancels it earlier still, at
// CancelByHeight, so that the decision is always Stipend's and never a race with lnd.
const (
	// LNDHoldSafetyBlocks is lnd's own margin: it cancels an accepted hold invoice this many
	// blocks before the earliest of its HTLCs expires.
	LNDHoldSafetyBlocks = 18
	// HoldCancelMarginBlocks is how many blocks before lnd's margin Stipend cancels.
	HoldCancelMarginBlocks = 12
	// fastBlockInterval turns blocks into deadlines. Blocks come every ten minutes on average
	// but often faster, and the deadline promised to an asker must hold when they do: half the
	// average keeps the promise under all but very unusual runs of luck; the cancellation
	// itself is always decided by height.
	fastBlockInterval = 5 * time.Minute
)

// CancelByHeight is the block height by which Stipend must have settled or cancelled an
// accepted hold invoice, or 0 when the invoice holds no HTLC.
func (u *InvoiceUpdate) CancelByHeight() int32 {
	if u.HTLCExpiry == 0 {
		return 0
	}
	return u.HTLCExpiry - LNDHoldSafetyBlocks - HoldCancelMarginBlocks
}

// HoldWindow is how long an HTLC that reaches Stipend with cltvExpiry blocks to go can be held
// before Stipend must decide, counting blocks at twice their average rate: the longest answer
// deadline a Lightning escrow with that expiry can promise. It is zero when the expiry leaves
// no room.
func HoldWindow(cltvExpiry uint64) time.Duration {
	blocks := int64(cltvExpiry) - LNDHoldSafetyBlocks - HoldCancelMarginBlocks
	if blocks <= 0 {
		return 0
	}
	return time.Duration(blocks) * fastBlockInterval
}

// ExpireHold cancels a hold invoice whose HTLC has come within Stipend's margin of its
// expiry, and reports whether it did. An invoice that is not accepted, or still has time, is
// left alone.
//
// Returns ENOTFOUND and EUNAVAILABLE.
func ExpireHold(ctx context.Context, node Node, hash string) (bool, error) {
	u, err := node.LookupInvoice(ctx, hash)
	if err != nil {
		return false, err
	}
	if u.State != InvoiceAccepted {
		return false, nil
	}
	info, err := node.Info(ctx)
	if err != nil {
		return false, err
	}
	if info.BlockHeight < u.CancelByHeight() {
		return false, nil
	}
	if err := node.CancelInvoice(ctx, hash); err != nil {
		if stipend.ErrorCode(err) == stipend.ECONFLICT {
			return false, nil // settled or cancelled meanwhile
		}
		return false, err
	}
	return true, nil
}

// HoldLeft is how long an accepted HTLC can still be held at height before Stipend must decide,
// counting blocks at twice their average rate as HoldWindow does; zero when it must decide now.
func (u *InvoiceUpdate) HoldLeft(height int32) time.Duration {
	blocks := u.CancelByHeight() - height
	if u.HTLCExpiry == 0 || blocks <= 0 {
		return 0
	}
	return time.Duration(blocks) * fastBlockInterval
}
