package ledger

import (
	"crypto/sha256"
	"encoding/hex"
	"time"

	"github.com/stipend/stipend"
)

// Hold states. A hold is active until it is released (what is left goes back to its owner)
// or fully captured.
const (
	HoldActive   = "active"
	HoldReleased = "released"
	HoldCaptured = "captured"
)

// NewHold reserves an amount on an account, such as an asker's balance while a question
// waits for its answer.
type NewHold struct {
	Key       string // unique per business event
	Address   string // the account the money is reserved from
	Amount    Amount
	Memo      string
	CreatedBy string
}

// Hold is money reserved from an account. While active, its remaining amount sits in the
// hold's own ledger account (HoldAddress(ID)), so the ledger alone shows where it is.
type Hold struct {
	ID         string
	Key        string
	Address    string
	Amount     Amount // the amount first reserved
	Remaining  int64  // not yet captured or released
	Status     string
	CreatedAt  time.Time
	ResolvedAt *time.Time
}

// HoldID derives a hold's id from its key, so that concurrent retries of one hold agree on
// the id and therefore on the transaction that funds it.
func HoldID(key string) string {
	sum := sha256.Sum256([]byte("hold\x00" + key))
	return "hold_" + hex.EncodeToString(sum[:16])
}

// Validate returns EINVALID unless h has a key, reserves a positive amount and draws on an
// ordinary bounded account.
func (h NewHold) Validate() error {
	if h.Key == "" || len(h.Key) > maxKeyLen || !printableASCII(h.Key) {
		return stipend.Errorf(stipend.EINVALID, "hold key must be 1 to %d printable ASCII characters", maxKeyLen)
	}
	if err := ValidateAddress(h.Address); err != nil {
		return err
	}
	if AllowsNegative(h.Address) || IsHold(h.Address) {
		return stipend.Errorf(stipend.EINVALID, "cannot hold money on %s", h.Address)
	}
	if err := stipend.CheckText("memo", h.Memo, maxMemoLen, true); err != nil {
		return err
	}
	return h.Amount.CheckPositive("amount")
}

// Hash is a digest of everything h says except its key.
func (h NewHold) Hash() string {
	t := NewTransaction{Kind: KindHold, Memo: h.Memo, CreatedBy: h.CreatedBy, Entries: []Entry{
		{Address: h.Address, Asset: h.Amount.Asset, Amount: h.Amount.Value},
	}}
	return t.Hash()
}

// ValidateCapture returns EINVALID unless to credits positive amounts of the hold's asset to
// valid, distinct addresses other than hold accounts. Whether the hold has enough left is for
// the store to decide atomically.
func ValidateCapture(h *Hold, to []Entry) error {
	if len(to) == 0 {
		return stipend.Errorf(stipend.EINVALID, "a capture needs at least one destination")
	}
	seen := make(map[string]bool, len(to))
	var total int64
	for _, e := range to {
		if err := ValidateAddress(e.Address); err != nil {
			return err
		}
		if IsHold(e.Address) {
			return stipend.Errorf(stipend.EINVALID, "cannot capture into a hold account")
		}
		if e.Asset != h.Amount.Asset {
			return stipend.Errorf(stipend.EINVALID, "capture in %s from a hold of %s", e.Asset, h.Amount.Asset)
		}
		if e.Amount <= 0 {
			return stipend.Errorf(stipend.EINVALID, "capture to %s: amount must be greater than zero", e.Address)
		}
		if seen[e.Address] {
			return stipend.Errorf(stipend.EINVALID, "capture names %s twice", e.Address)
		}
		seen[e.Address] = true
		var ok bool
		if total, ok = addInt64(total, e.Amount); !ok {
			return stipend.Errorf(stipend.EINVALID, "capture amounts overflow")
		}
	}
	return nil
}
