package ledger_test

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"math/big"
	"slices"
	"strings"
	"testing"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/payments/ledger"
)

const (
	alice = "accounts:acct_alice"
	bob   = "accounts:acct_bob"
	carol = "accounts:acct_carol"
)

// validTransaction returns a transaction that passes Validate, for tests to change one thing
// at a time.
func validTransaction() ledger.NewTransaction {
	return ledger.NewTransaction{
		Key:       "transfer:acct_alice:idem-1",
		Kind:      ledger.KindTransfer,
		Memo:      "thanks for the review",
		Metadata:  map[string]string{"bounty": "b_1", "run": "42"},
		CreatedBy: "acct_alice",
		Entries: []ledger.Entry{
			{Address: alice, Asset: ledger.BTC, Amount: -2_100_000},
			{Address: bob, Asset: ledger.BTC, Amount: 2_100_000},
		},
	}
}

// entries builds a list of entries from address, asset, amount triples.
func entries(legs ...any) []ledger.Entry {
	var out []ledger.Entry
	for i := 0; i+2 < len(legs); i += 3 {
		out = append(out, ledger.Entry{Address: legs[i].(string), Asset: legs[i+1].(ledger.Asset), Amount: int64(legs[i+2].(int))})
	}
	return out
}

// metadata returns n distinct metadata entries.
func metadata(n int) map[string]string {
	m := make(map[string]string, n)
	for i := range n {
		m[fmt.Sprintf("k%d", i)] = "v"
	}
	return m
}

func TestNewTransactionValidate(t *testing.T) {
	t.Parallel()
	const (
		maxInt = math.MaxInt64
		minInt = math.MinInt64
	)
	btc, usd, eur := ledger.BTC, ledger.USD, ledger.EUR
	tests := []struct {
		name     string
		change   func(tx *ledger.NewTransaction)
		wantCode string
	}{
		{"valid", func(tx *ledger.NewTransaction) {}, ""},

		{"key of 255 characters", func(tx *ledger.NewTransaction) { tx.Key = strings.Repeat("k", 255) }, ""},
		{"key of every printable ASCII character", func(tx *ledger.NewTransaction) {
			var b strings.Builder
			for c := byte(0x21); c <= 0x7e; c++ {
				b.WriteByte(c)
			}
			tx.Key = b.String()
		}, ""},
		{"no key", func(tx *ledger.NewTransaction) { tx.Key = "" }, stipend.EINVALID},
		{"key of 256 characters", func(tx *ledger.NewTransaction) { tx.Key = strings.Repeat("k", 256) }, stipend.EINVALID},
		{"key with a space", func(tx *ledger.NewTransaction) { tx.Key = "a b" }, stipend.EINVALID},
		{"key with a tab", func(tx *ledger.NewTransaction) { tx.Key = "a\tb" }, stipend.EINVALID},
		{"key with DEL", func(tx *ledger.NewTransaction) { tx.Key = "a\x7f" }, stipend.EINVALID},
		{"key with a non-ASCII letter", func(tx *ledger.NewTransaction) { tx.Key = "cl\u00e9" }, stipend.EINVALID},

		{"every kind Stipend writes", func(tx *ledger.NewTransaction) { tx.Kind = ledger.KindAdminCredit }, ""},
		{"kind of 32 characters", func(tx *ledger.NewTransaction) { tx.Kind = strings.Repeat("k", 32) }, ""},
		{"no kind", func(tx *ledger.NewTransaction) { tx.Kind = "" }, stipend.EINVALID},
		{"kind of 33 characters", func(tx *ledger.NewTransaction) { tx.Kind = strings.Repeat("k", 33) }, stipend.EINVALID},
		{"upper-case kind", func(tx *ledger.NewTransaction) { tx.Kind = "Transfer" }, stipend.EINVALID},
		{"kind with a digit", func(tx *ledger.NewTransaction) { tx.Kind = "transfer2" }, stipend.EINVALID},
		{"kind with a hyphen", func(tx *ledger.NewTransaction) { tx.Kind = "admin-credit" }, stipend.EINVALID},
		{"kind with a space", func(tx *ledger.NewTransaction) { tx.Kind = "admin credit" }, stipend.EINVALID},

		{"no memo", func(tx *ledger.NewTransaction) { tx.Memo = "" }, ""},
		{"memo with lines and tabs", func(tx *ledger.NewTransaction) { tx.Memo = "line 1\n\tline 2" }, ""},
		// Memo length is counted in characters, not bytes: 500 two-byte characters fit.
		{"memo of 500 characters", func(tx *ledger.NewTransaction) { tx.Memo = strings.Repeat("\u00e9", 500) }, ""},
		{"memo of 501 characters", func(tx *ledger.NewTransaction) { tx.Memo = strings.Repeat("a", 501) }, stipend.EINVALID},
		{"memo with a bidi override", func(tx *ledger.NewTransaction) { tx.Memo = "refund \u202eevil" }, stipend.EINVALID},
		{"memo with a zero-width space", func(tx *ledger.NewTransaction) { tx.Memo = "a\u200bb" }, stipend.EINVALID},
		{"memo with a control character", func(tx *ledger.NewTransaction) { tx.Memo = "a\x1b[31m" }, stipend.EINVALID},
		{"memo of invalid UTF-8", func(tx *ledger.NewTransaction) { tx.Memo = "a\xff" }, stipend.EINVALID},

		{"no metadata", func(tx *ledger.NewTransaction) { tx.Metadata = nil }, ""},
		{"32 metadata entries", func(tx *ledger.NewTransaction) { tx.Metadata = metadata(32) }, ""},
		{"33 metadata entries", func(tx *ledger.NewTransaction) { tx.Metadata = metadata(33) }, stipend.EINVALID},
		{"metadata key of 64 characters", func(tx *ledger.NewTransaction) { tx.Metadata = map[string]string{strings.Repeat("\u00e9", 64): "v"} }, ""},
		{"metadata key of 65 characters", func(tx *ledger.NewTransaction) { tx.Metadata = map[string]string{strings.Repeat("k", 65): "v"} }, stipend.EINVALID},
		{"empty metadata key", func(tx *ledger.NewTransaction) { tx.Metadata = map[string]string{"": "v"} }, stipend.EINVALID},
		{"metadata key with a control character", func(tx *ledger.NewTransaction) { tx.Metadata = map[string]string{"a\x00": "v"} }, stipend.EINVALID},
		{"empty metadata value", func(tx *ledger.NewTransaction) { tx.Metadata = map[string]string{"k": ""} }, ""},
		{"metadata value of 500 characters", func(tx *ledger.NewTransaction) { tx.Metadata = map[string]string{"k": strings.Repeat("\u00e9", 500)} }, ""},
		{"metadata value of 501 characters", func(tx *ledger.NewTransaction) { tx.Metadata = map[string]string{"k": strings.Repeat("v", 501)} }, stipend.EINVALID},
		{"metadata value with a BOM", func(tx *ledger.NewTransaction) { tx.Metadata = map[string]string{"k": "\ufeffv"} }, stipend.EINVALID},

		{"no entries", func(tx *ledger.NewTransaction) { tx.Entries = nil }, stipend.EINVALID},
		{"one entry", func(tx *ledger.NewTransaction) { tx.Entries = entries(alice, btc, 0) }, stipend.EINVALID},
		{"three entries", func(tx *ledger.NewTransaction) { tx.Entries = entries(alice, btc, -10, bob, btc, 7, carol, btc, 3) }, ""},
		{"two assets, each balanced", func(tx *ledger.NewTransaction) {
			tx.Entries = entries(alice, btc, -10, bob, btc, 10, alice, usd, -5, bob, usd, 5)
		}, ""},
		{"every asset", func(tx *ledger.NewTransaction) {
			tx.Entries = entries(alice, btc, -1, bob, btc, 1, alice, usd, -1, bob, usd, 1, alice, eur, -1, bob, eur, 1)
		}, ""},
		{"external account goes negative", func(tx *ledger.NewTransaction) {
			tx.Entries = entries(ledger.OperatorAddress, usd, -500, alice, usd, 500)
		}, ""},

		{"invalid address", func(tx *ledger.NewTransaction) { tx.Entries = entries("accounts:a b", btc, -1, bob, btc, 1) }, stipend.EINVALID},
		{"address with one segment", func(tx *ledger.NewTransaction) { tx.Entries = entries(alice, btc, -1, "bob", btc, 1) }, stipend.EINVALID},
		{"empty address", func(tx *ledger.NewTransaction) { tx.Entries = entries(alice, btc, -1, "", btc, 1) }, stipend.EINVALID},
		{"no asset", func(tx *ledger.NewTransaction) {
			tx.Entries = entries(alice, ledger.Asset(""), -1, bob, ledger.Asset(""), 1)
		}, stipend.EINVALID},
		{"lower-case asset", func(tx *ledger.NewTransaction) {
			tx.Entries = entries(alice, ledger.Asset("btc"), -1, bob, ledger.Asset("btc"), 1)
		}, stipend.EINVALID},
		{"unknown asset", func(tx *ledger.NewTransaction) {
			tx.Entries = entries(alice, ledger.Asset("XBT"), -1, bob, ledger.Asset("XBT"), 1)
		}, stipend.EINVALID},
		{"zero amounts", func(tx *ledger.NewTransaction) { tx.Entries = entries(alice, btc, 0, bob, btc, 0) }, stipend.EINVALID},
		{"one zero amount among balanced ones", func(tx *ledger.NewTransaction) { tx.Entries = entries(alice, btc, -1, bob, btc, 1, carol, btc, 0) }, stipend.EINVALID},
		{"most negative int64", func(tx *ledger.NewTransaction) {
			tx.Entries = entries(alice, btc, minInt, bob, btc, maxInt, carol, btc, 1)
		}, stipend.EINVALID},
		{"largest amounts", func(tx *ledger.NewTransaction) { tx.Entries = entries(alice, btc, -maxInt, bob, btc, maxInt) }, ""},

		{"same account and asset twice", func(tx *ledger.NewTransaction) { tx.Entries = entries(alice, btc, -10, bob, btc, 5, bob, btc, 5) }, stipend.EINVALID},
		{"same account twice with opposite signs", func(tx *ledger.NewTransaction) { tx.Entries = entries(alice, btc, -10, alice, btc, 10) }, stipend.EINVALID},
		{"same account in two assets", func(tx *ledger.NewTransaction) {
			tx.Entries = entries(alice, btc, -1, bob, btc, 1, alice, eur, 1, bob, eur, -1)
		}, ""},

		{"credit larger than debit", func(tx *ledger.NewTransaction) { tx.Entries = entries(alice, btc, -1000, bob, btc, 1001) }, stipend.EINVALID},
		{"only credits", func(tx *ledger.NewTransaction) { tx.Entries = entries(alice, btc, 1, bob, btc, 1) }, stipend.EINVALID},
		{"one asset balanced, one not", func(tx *ledger.NewTransaction) {
			tx.Entries = entries(alice, btc, -1, bob, btc, 1, alice, usd, -5, bob, usd, 4)
		}, stipend.EINVALID},
		// The total is zero only when assets are mixed, which is no balance at all.
		{"balanced only across assets", func(tx *ledger.NewTransaction) { tx.Entries = entries(alice, usd, -100, bob, eur, 100) }, stipend.EINVALID},
		// A sum that wraps around int64 to zero must not pass for a balanced one.
		{"sum that wraps to zero", func(tx *ledger.NewTransaction) {
			tx.Entries = entries(alice, btc, maxInt, bob, btc, maxInt, carol, btc, 2)
		}, stipend.EINVALID},
		{"credits that overflow", func(tx *ledger.NewTransaction) {
			tx.Entries = entries(alice, btc, maxInt, bob, btc, 1, carol, btc, -maxInt, "accounts:acct_dave", btc, -1)
		}, stipend.EINVALID},
		{"credits that overflow, written in another order", func(tx *ledger.NewTransaction) {
			tx.Entries = entries(alice, btc, maxInt, carol, btc, -maxInt, bob, btc, 1, "accounts:acct_dave", btc, -1)
		}, stipend.EINVALID},
		{"debits that overflow", func(tx *ledger.NewTransaction) {
			tx.Entries = entries(alice, btc, -maxInt, carol, btc, maxInt, bob, btc, -2, "accounts:acct_dave", btc, 2)
		}, stipend.EINVALID},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tx := validTransaction()
			tc.change(&tx)
			wantCode(t, tx.Validate(), tc.wantCode)
		})
	}
}

// TestValidateDoesNotDependOnEntryOrder checks that whether a transaction is valid does not
// depend on the order of its entries, as its hash does not: two requests with one hash must
// not get different answers.
func TestValidateDoesNotDependOnEntryOrder(t *testing.T) {
	t.Parallel()
	const maxInt = math.MaxInt64
	btc := ledger.BTC
	sets := map[string][]ledger.Entry{
		"balanced": entries(alice, btc, -10, bob, btc, 7, carol, btc, 3, "accounts:acct_dave", btc, 0),
		"credits beyond int64, largest legs first": entries(alice, btc, maxInt, bob, btc, -maxInt, carol, btc, 1, "accounts:acct_dave", btc, -1),
		"credits beyond int64":                     entries(alice, btc, maxInt, bob, btc, 1, carol, btc, -maxInt, "accounts:acct_dave", btc, -1),
		"debits beyond int64":                      entries(alice, btc, -maxInt, bob, btc, -2, carol, btc, maxInt, "accounts:acct_dave", btc, 2),
		"unbalanced":                               entries(alice, btc, -10, bob, btc, 7, carol, btc, 4, "accounts:acct_dave", btc, -1),
		"largest amounts, two assets":              entries(alice, btc, maxInt, bob, btc, -maxInt, alice, ledger.EUR, -maxInt, bob, ledger.EUR, maxInt),
	}
	for name, legs := range sets {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tx := validTransaction()
			tx.Entries = legs
			want := stipend.ErrorCode(tx.Validate())
			forEachPermutation(legs, func(p []ledger.Entry) {
				tx.Entries = p
				if got := stipend.ErrorCode(tx.Validate()); got != want {
					t.Fatalf("entries %v: Validate code %q, but %q in the order %v", p, got, want, legs)
				}
			})
		})
	}
}

// forEachPermutation calls fn with every ordering of es (Heap's algorithm).
func forEachPermutation(es []ledger.Entry, fn func([]ledger.Entry)) {
	p := slices.Clone(es)
	var gen func(k int)
	gen = func(k int) {
		if k <= 1 {
			fn(slices.Clone(p))
			return
		}
		for i := range k {
			gen(k - 1)
			if k%2 == 0 {
				p[i], p[k-1] = p[k-1], p[i]
			} else {
				p[0], p[k-1] = p[k-1], p[0]
			}
		}
	}
	gen(len(p))
}

func TestTransferMovesAnAmountBetweenTwoAccounts(t *testing.T) {
	t.Parallel()
	tx := ledger.Transfer("k1", ledger.KindTransfer, alice, bob, ledger.Cents(250, ledger.EUR))
	want := entries(alice, ledger.EUR, -250, bob, ledger.EUR, 250)
	if tx.Key != "k1" || tx.Kind != ledger.KindTransfer || !slices.Equal(tx.Entries, want) {
		t.Fatalf("Transfer = %#v, want key k1, kind transfer and entries %v", tx, want)
	}
	wantCode(t, tx.Validate(), "")
}

func TestHashIsAHexSHA256(t *testing.T) {
	t.Parallel()
	h := validTransaction().Hash()
	if b, err := hex.DecodeString(h); err != nil || len(b) != 32 || strings.ToLower(h) != h {
		t.Fatalf("Hash() = %q, want 64 lower-case hex characters", h)
	}
}

func TestHashIgnoresTheKeyAndEntryOrder(t *testing.T) {
	t.Parallel()
	base := validTransaction()
	base.Entries = entries(alice, ledger.BTC, -10, bob, ledger.BTC, 7, carol, ledger.BTC, 3, alice, ledger.USD, -1, bob, ledger.USD, 1)
	want := base.Hash()

	other := base
	other.Key = "a different key"
	if got := other.Hash(); got != want {
		t.Errorf("changing only the key changed the hash")
	}
	forEachPermutation(base.Entries, func(p []ledger.Entry) {
		tx := base
		tx.Entries = p
		if got := tx.Hash(); got != want {
			t.Fatalf("entries in the order %v hash differently", p)
		}
	})
}

func TestHashDoesNotReorderTheEntriesItIsGiven(t *testing.T) {
	t.Parallel()
	tx := validTransaction()
	tx.Entries = entries(carol, ledger.BTC, 3, bob, ledger.BTC, 7, alice, ledger.BTC, -10)
	before := slices.Clone(tx.Entries)
	tx.Hash()
	if !slices.Equal(tx.Entries, before) {
		t.Fatalf("Hash reordered the caller's entries: %v, was %v", tx.Entries, before)
	}
}

// TestHashTreatsNoMetadataAndEmptyMetadataAlike checks that a retry that sends "metadata": {}
// where the first request left it out is the same transaction: the store keeps both as "{}".
func TestHashTreatsNoMetadataAndEmptyMetadataAlike(t *testing.T) {
	t.Parallel()
	a, b := validTransaction(), validTransaction()
	a.Metadata, b.Metadata = nil, map[string]string{}
	if a.Hash() != b.Hash() {
		t.Fatal("nil and empty metadata hash differently")
	}
}

func TestHashChangesWithEveryFieldButTheKey(t *testing.T) {
	t.Parallel()
	want := validTransaction().Hash()
	changes := map[string]func(tx *ledger.NewTransaction){
		"kind":           func(tx *ledger.NewTransaction) { tx.Kind = ledger.KindReversal },
		"memo":           func(tx *ledger.NewTransaction) { tx.Memo += "!" },
		"memo emptied":   func(tx *ledger.NewTransaction) { tx.Memo = "" },
		"metadata value": func(tx *ledger.NewTransaction) { tx.Metadata = map[string]string{"bounty": "b_2", "run": "42"} },
		"metadata key":   func(tx *ledger.NewTransaction) { tx.Metadata = map[string]string{"bounty": "b_1", "runs": "42"} },
		"metadata added": func(tx *ledger.NewTransaction) {
			tx.Metadata = map[string]string{"bounty": "b_1", "run": "42", "x": ""}
		},
		"metadata removed":   func(tx *ledger.NewTransaction) { tx.Metadata = map[string]string{"bounty": "b_1"} },
		"metadata dropped":   func(tx *ledger.NewTransaction) { tx.Metadata = nil },
		"created by":         func(tx *ledger.NewTransaction) { tx.CreatedBy = "acct_bob" },
		"created by emptied": func(tx *ledger.NewTransaction) { tx.CreatedBy = "" },
		"amounts": func(tx *ledger.NewTransaction) {
			tx.Entries = entries(alice, ledger.BTC, -2_100_001, bob, ledger.BTC, 2_100_001)
		},
		"direction": func(tx *ledger.NewTransaction) {
			tx.Entries = entries(alice, ledger.BTC, 2_100_000, bob, ledger.BTC, -2_100_000)
		},
		"asset": func(tx *ledger.NewTransaction) {
			tx.Entries = entries(alice, ledger.EUR, -2_100_000, bob, ledger.EUR, 2_100_000)
		},
		"address": func(tx *ledger.NewTransaction) {
			tx.Entries = entries(alice, ledger.BTC, -2_100_000, carol, ledger.BTC, 2_100_000)
		},
		"an extra entry": func(tx *ledger.NewTransaction) {
			tx.Entries = entries(alice, ledger.BTC, -2_100_000, bob, ledger.BTC, 2_099_999, carol, ledger.BTC, 1)
		},
		// Moving text from one field to the next must not give the same digest.
		"text moved between memo and creator": func(tx *ledger.NewTransaction) {
			tx.Memo, tx.CreatedBy = tx.Memo+"a", strings.TrimPrefix(tx.CreatedBy, "a")
		},
	}
	for name, change := range changes {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tx := validTransaction()
			change(&tx)
			if tx.Hash() == want {
				t.Fatalf("changing the %s did not change the hash", name)
			}
		})
	}
}

// FuzzValidateTransaction feeds Validate arbitrary entries. It must never panic, must refuse
// only with EINVALID, and whatever it accepts must be a real double-entry transaction: at
// least two legs on valid addresses in known assets, no zero or unnegatable amount, no
// account twice per asset, and every asset summing to exactly zero (computed without
// overflow). Its verdict and hash must not depend on the order of the entries.
func FuzzValidateTransaction(f *testing.F) {
	seed := func(kind, memo string, balance bool, legs ...ledger.Entry) {
		var b []byte
		for _, e := range legs {
			b = append(b, addressIndex(e.Address), assetIndex(e.Asset))
			b = binary.BigEndian.AppendUint64(b, uint64(e.Amount))
		}
		f.Add("key", kind, memo, balance, b)
	}
	seed("transfer", "", false, entries(alice, ledger.BTC, -1, bob, ledger.BTC, 1)...)
	seed("transfer", "memo", true, entries(alice, ledger.BTC, 5, bob, ledger.USD, 7)...)
	seed("transfer", "", false, entries(alice, ledger.BTC, math.MaxInt64, bob, ledger.BTC, 1, carol, ledger.BTC, -math.MaxInt64)...)
	seed("transfer", "", true, entries(alice, ledger.BTC, math.MaxInt64, bob, ledger.BTC, math.MaxInt64)...)
	seed("transfer", "", false, entries(alice, ledger.BTC, 0, bob, ledger.BTC, 0)...)
	seed("Bad Kind", "\u202e", false, entries(alice, ledger.BTC, -1, alice, ledger.BTC, 1)...)
	seed("hold", "", true, entries(alice, ledger.EUR, -1, "bad address", ledger.USD, 1, carol, ledger.Asset("XBT"), 3)...)

	f.Fuzz(func(t *testing.T, key, kind, memo string, balance bool, raw []byte) {
		tx := ledger.NewTransaction{Key: key, Kind: kind, Memo: memo, Entries: decodeEntries(raw, balance)}
		err := tx.Validate()
		hash := tx.Hash() // must not panic, valid or not
		if err != nil {
			if code := stipend.ErrorCode(err); code != stipend.EINVALID {
				t.Fatalf("Validate: code %q, want %q (%v)", code, stipend.EINVALID, err)
			}
			return
		}
		if len(tx.Entries) < 2 {
			t.Fatalf("accepted %d entries", len(tx.Entries))
		}
		sums := map[ledger.Asset]*big.Int{}
		seen := map[ledger.Entry]bool{}
		for _, e := range tx.Entries {
			if e.Amount == 0 || e.Amount == math.MinInt64 {
				t.Fatalf("accepted an entry of %d", e.Amount)
			}
			if !e.Asset.Valid() || ledger.ValidateAddress(e.Address) != nil {
				t.Fatalf("accepted an entry %#v", e)
			}
			leg := ledger.Entry{Address: e.Address, Asset: e.Asset}
			if seen[leg] {
				t.Fatalf("accepted %s twice in %s", e.Address, e.Asset)
			}
			seen[leg] = true
			if sums[e.Asset] == nil {
				sums[e.Asset] = new(big.Int)
			}
			sums[e.Asset].Add(sums[e.Asset], big.NewInt(e.Amount))
		}
		for asset, s := range sums {
			if s.Sign() != 0 {
				t.Fatalf("accepted entries in %s summing to %s", asset, s)
			}
		}
		rev := tx
		rev.Entries = slices.Clone(tx.Entries)
		slices.Reverse(rev.Entries)
		if err := rev.Validate(); err != nil {
			t.Fatalf("valid entries are refused in reverse order: %v", err)
		}
		if rev.Hash() != hash {
			t.Fatal("reversing the entries changed the hash")
		}
	})
}

// fuzzAddresses and fuzzAssets are what the fuzzer picks from: a few valid ones, so that
// valid transactions are common, and a few invalid ones.
var (
	fuzzAddresses = []string{alice, bob, carol, ledger.OperatorAddress, ledger.FeesAddress, "holds:h", "bad address", "", "x"}
	fuzzAssets    = []ledger.Asset{ledger.BTC, ledger.USD, ledger.EUR, "", "XBT", "btc"}
)

func addressIndex(a string) byte     { return byte(slices.Index(fuzzAddresses, a)) }
func assetIndex(a ledger.Asset) byte { return byte(slices.Index(fuzzAssets, a)) }
func pick[T any](s []T, b byte) T    { return s[int(b)%len(s)] }

// decodeEntries reads ten bytes per entry: an address, an asset and a big-endian amount.
// With balance, it appends for each asset an entry on a fresh account that brings the sum to
// zero, when that fits in an int64, so that the fuzzer reaches valid transactions often.
func decodeEntries(raw []byte, balance bool) []ledger.Entry {
	var out []ledger.Entry
	for len(raw) >= 10 {
		out = append(out, ledger.Entry{
			Address: pick(fuzzAddresses, raw[0]),
			Asset:   pick(fuzzAssets, raw[1]),
			Amount:  int64(binary.BigEndian.Uint64(raw[2:10])),
		})
		raw = raw[10:]
	}
	if !balance {
		return out
	}
	sums := map[ledger.Asset]*big.Int{}
	var order []ledger.Asset
	for _, e := range out {
		if sums[e.Asset] == nil {
			sums[e.Asset] = new(big.Int)
			order = append(order, e.Asset)
		}
		sums[e.Asset].Add(sums[e.Asset], big.NewInt(e.Amount))
	}
	for _, a := range order {
		neg := new(big.Int).Neg(sums[a])
		if neg.IsInt64() {
			out = append(out, ledger.Entry{Address: "external:balance", Asset: a, Amount: neg.Int64()})
		}
	}
	return out
}
