package ledger

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math"
	"sort"
	"time"

	"github.com/stipend/stipend"
)

// Entry is one leg of a transaction: a signed amount on one account. A positive amount
// credits the account, a negative one debits it.
type Entry struct {
	Address string
	Asset   Asset
	Amount  int64
}

// Transaction kinds written by Stipend itself.
const (
	KindAdminCredit = "admin_credit"
	KindTransfer    = "transfer"
	KindReversal    = "reversal"
	KindHold        = "hold"
	KindRelease     = "release"
	KindCapture     = "capture"
)

// NewTransaction is a transaction to be posted.
type NewTransaction struct {
	// Key is unique per business event (e.g. "admin_credit:<account>:<idempotency key>"), so a
	// retried event posts at most once.
	Key       string
	Kind      string
	Memo      string
	Metadata  map[string]string
	CreatedBy string // the account that caused it, if any
	Entries   []Entry
}

// Transaction is a posted transaction. It is immutable: a correction is a new transaction
// that reverses it.
type Transaction struct {
	ID        string
	Key       string
	Kind      string
	Memo      string
	Metadata  map[string]string
	CreatedBy string
	Reverses  string // the id of the transaction this one reverses, if any
	CreatedAt time.Time
	Entries   []Entry
}

// Transfer builds a transaction that moves amount from one address to another.
func Transfer(key, kind, from, to string, amount Amount) NewTransaction {
	return NewTransaction{Key: key, Kind: kind, Entries: []Entry{
		{Address: from, Asset: amount.Asset, Amount: -amount.Value},
		{Address: to, Asset: amount.Asset, Amount: amount.Value},
	}}
}

const (
	maxKeyLen  = 255
	maxMemoLen = 500
	maxMeta    = 32
)

// Validate checks everything about t that does not need the database: a key, a kind, at
// least two entries on valid addresses with known assets and non-zero amounts, no account
// twice for one asset, and entries that sum to zero per asset without overflow.
//
// Returns EINVALID.
func (t NewTransaction) Validate() error {
	if t.Key == "" || len(t.Key) > maxKeyLen || !printableASCII(t.Key) {
		return stipend.Errorf(stipend.EINVALID, "transaction key must be 1 to %d printable ASCII characters", maxKeyLen)
	}
	if !validKind(t.Kind) {
		return stipend.Errorf(stipend.EINVALID, "transaction kind %q: must be 1 to 32 lowercase letters and '_'", clip(t.Kind))
	}
	if err := stipend.CheckText("memo", t.Memo, maxMemoLen, true); err != nil {
		return err
	}
	if len(t.Metadata) > maxMeta {
		return stipend.Errorf(stipend.EINVALID, "metadata: at most %d entries", maxMeta)
	}
	for k, v := range t.Metadata {
		if err := stipend.CheckText("metadata key", k, 64, false); err != nil {
			return err
		}
		if err := stipend.CheckText("metadata value", v, 500, true); err != nil {
			return err
		}
	}
	if len(t.Entries) < 2 {
		return stipend.Errorf(stipend.EINVALID, "a transaction needs at least two entries")
	}
	type legKey struct {
		address string
		asset   Asset
	}
	seen := make(map[legKey]bool, len(t.Entries))
	// Credits and debits are summed apart, so that whether the sums overflow does not depend
	// on the order of the entries (which Hash ignores): a running total could wrap around and
	// back, accepting in one order what it refuses in another.
	credits := make(map[Asset]int64)
	debits := make(map[Asset]int64)
	for _, e := range t.Entries {
		if err := ValidateAddress(e.Address); err != nil {
			return err
		}
		if !e.Asset.Valid() {
			return stipend.Errorf(stipend.EINVALID, "unknown asset %q: use one of BTC, USD, EUR", clip(string(e.Asset)))
		}
		if e.Amount == 0 || e.Amount == math.MinInt64 {
			return stipend.Errorf(stipend.EINVALID, "entry on %s: amount must not be zero or out of range", e.Address)
		}
		k := legKey{e.Address, e.Asset}
		if seen[k] {
			return stipend.Errorf(stipend.EINVALID, "account %s appears twice for %s", e.Address, e.Asset)
		}
		seen[k] = true
		sums := credits
		if e.Amount < 0 {
			sums = debits
		}
		s, ok := addInt64(sums[e.Asset], e.Amount)
		if !ok {
			return stipend.Errorf(stipend.EINVALID, "entries for %s overflow", e.Asset)
		}
		sums[e.Asset] = s
	}
	for _, asset := range assets {
		// Credits are positive and debits negative, so their sum cannot overflow.
		if s := credits[asset] + debits[asset]; s != 0 {
			return stipend.Errorf(stipend.EINVALID, "entries for %s sum to %d, not zero", asset, s)
		}
	}
	return nil
}

// Hash is a digest of everything t says except its key. It is stored with the key so that a
// different transaction under a used key is detected and refused.
func (t NewTransaction) Hash() string {
	entries := append([]Entry(nil), t.Entries...)
	sort.Slice(entries, func(i, j int) bool {
		if entries[i].Address != entries[j].Address {
			return entries[i].Address < entries[j].Address
		}
		return entries[i].Asset < entries[j].Asset
	})
	// No metadata and empty metadata are the same transaction (the store keeps both as {}),
	// so they must hash alike: a retry that sends {} where the first left it out is a replay.
	meta := t.Metadata
	if len(meta) == 0 {
		meta = nil
	}
	// encoding/json writes map keys in sorted order, so the encoding is canonical.
	b, err := json.Marshal(struct {
		Kind      string
		Memo      string
		Metadata  map[string]string
		CreatedBy string
		Entries   []Entry
	}{t.Kind, t.Memo, meta, t.CreatedBy, entries})
	if err != nil {
		panic("ledger: hashing a transaction: " + err.Error()) // plain values cannot fail to encode
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func validKind(k string) bool {
	if k == "" || len(k) > 32 {
		return false
	}
	for i := 0; i < len(k); i++ {
		if (k[i] < 'a' || k[i] > 'z') && k[i] != '_' {
			return false
		}
	}
	return true
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
