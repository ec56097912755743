package ledger_test

import (
	"encoding/hex"
	"math"
	"strings"
	"testing"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/payments/ledger"
)

// validHold returns a hold that passes Validate, for tests to change one thing at a time.
func validHold() ledger.NewHold {
	return ledger.NewHold{
		Key:       "question:q_1",
		Address:   alice,
		Amount:    ledger.Sat(2100),
		Memo:      "question for an expert",
		CreatedBy: "acct_alice",
	}
}

func TestNewHoldValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		change   func(h *ledger.NewHold)
		wantCode string
	}{
		{"valid", func(h *ledger.NewHold) {}, ""},
		{"on the fee account", func(h *ledger.NewHold) { h.Address = ledger.FeesAddress }, ""},
		{"in cents", func(h *ledger.NewHold) { h.Amount = ledger.Cents(1, ledger.USD) }, ""},
		{"no memo", func(h *ledger.NewHold) { h.Memo = "" }, ""},
		{"key of 255 characters", func(h *ledger.NewHold) { h.Key = strings.Repeat("k", 255) }, ""},

		{"no key", func(h *ledger.NewHold) { h.Key = "" }, stipend.EINVALID},
		{"key of 256 characters", func(h *ledger.NewHold) { h.Key = strings.Repeat("k", 256) }, stipend.EINVALID},
		{"key with a space", func(h *ledger.NewHold) { h.Key = "a b" }, stipend.EINVALID},
		{"key with a non-ASCII letter", func(h *ledger.NewHold) { h.Key = "\u00e9" }, stipend.EINVALID},
		{"invalid address", func(h *ledger.NewHold) { h.Address = "accounts" }, stipend.EINVALID},
		{"empty address", func(h *ledger.NewHold) { h.Address = "" }, stipend.EINVALID},
		// An account that may go negative could reserve money it does not have.
		{"on an external account", func(h *ledger.NewHold) { h.Address = ledger.ExternalAddress("lightning") }, stipend.EINVALID},
		{"on the operator account", func(h *ledger.NewHold) { h.Address = ledger.OperatorAddress }, stipend.EINVALID},
		// Money in a hold moves only by capture or release, never into another hold.
		{"on a hold account", func(h *ledger.NewHold) { h.Address = ledger.HoldAddress(ledger.HoldID("other")) }, stipend.EINVALID},
		{"memo of 501 characters", func(h *ledger.NewHold) { h.Memo = strings.Repeat("m", 501) }, stipend.EINVALID},
		{"memo with a bidi override", func(h *ledger.NewHold) { h.Memo = "\u202e" }, stipend.EINVALID},
		{"zero amount", func(h *ledger.NewHold) { h.Amount = ledger.Msat(0) }, stipend.EINVALID},
		{"negative amount", func(h *ledger.NewHold) { h.Amount = ledger.Msat(-1) }, stipend.EINVALID},
		{"most negative amount", func(h *ledger.NewHold) { h.Amount = ledger.Msat(math.MinInt64) }, stipend.EINVALID},
		{"no asset", func(h *ledger.NewHold) { h.Amount = ledger.Amount{Value: 1} }, stipend.EINVALID},
		{"unknown asset", func(h *ledger.NewHold) { h.Amount = ledger.Amount{Value: 1, Asset: "XBT"} }, stipend.EINVALID},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := validHold()
			tc.change(&h)
			wantCode(t, h.Validate(), tc.wantCode)
		})
	}
}

func TestHoldIDIsDerivedFromTheKeyAlone(t *testing.T) {
	t.Parallel()
	id := ledger.HoldID("question:q_1")
	if again := ledger.HoldID("question:q_1"); again != id {
		t.Fatalf("HoldID is not deterministic: %q, then %q", id, again)
	}
	hexPart, ok := strings.CutPrefix(id, "hold_")
	if b, err := hex.DecodeString(hexPart); !ok || err != nil || len(b) != 16 || strings.ToLower(hexPart) != hexPart {
		t.Fatalf("HoldID = %q, want \"hold_\" and 32 lower-case hex characters", id)
	}
	// The id names a ledger account, so it must make a valid address.
	wantCode(t, ledger.ValidateAddress(ledger.HoldAddress(id)), "")

	seen := map[string]string{}
	for _, k := range []string{"", "a", "b", "question:q_1", "question:q_2", "Question:q_1", "question:q_1 "} {
		id := ledger.HoldID(k)
		if prev, dup := seen[id]; dup {
			t.Errorf("keys %q and %q have the same hold id %s", prev, k, id)
		}
		seen[id] = k
	}
}

func TestNewHoldHashIgnoresTheKeyOnly(t *testing.T) {
	t.Parallel()
	want := validHold().Hash()
	h := validHold()
	h.Key = "another key"
	if h.Hash() != want {
		t.Error("changing only the key changed the hash")
	}
	changes := map[string]func(h *ledger.NewHold){
		"address":    func(h *ledger.NewHold) { h.Address = bob },
		"value":      func(h *ledger.NewHold) { h.Amount.Value++ },
		"asset":      func(h *ledger.NewHold) { h.Amount.Asset = ledger.EUR },
		"memo":       func(h *ledger.NewHold) { h.Memo = "" },
		"created by": func(h *ledger.NewHold) { h.CreatedBy = "acct_bob" },
	}
	for name, change := range changes {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := validHold()
			change(&h)
			if h.Hash() == want {
				t.Fatalf("changing the %s did not change the hash", name)
			}
		})
	}
}

func TestValidateCapture(t *testing.T) {
	t.Parallel()
	hold := &ledger.Hold{
		ID:        ledger.HoldID("question:q_1"),
		Key:       "question:q_1",
		Address:   alice,
		Amount:    ledger.Sat(2100),
		Remaining: 2_100_000,
		Status:    ledger.HoldActive,
	}
	btc := ledger.BTC
	tests := []struct {
		name     string
		to       []ledger.Entry
		wantCode string
	}{
		{"one destination", entries(bob, btc, 2_100_000), ""},
		{"split with a charity and the fee account", entries(bob, btc, 1_000_000, carol, btc, 1_000_000, ledger.FeesAddress, btc, 100_000), ""},
		// Whether the hold has enough left is the store's question, not this one's.
		{"more than the hold", entries(bob, btc, 5_000_000), ""},
		{"back to the account it came from", entries(alice, btc, 1), ""},
		{"no destination", nil, stipend.EINVALID},
		{"empty destinations", []ledger.Entry{}, stipend.EINVALID},
		{"invalid address", entries("bob", btc, 1), stipend.EINVALID},
		{"into a hold account", entries(ledger.HoldAddress(ledger.HoldID("other")), btc, 1), stipend.EINVALID},
		{"into its own hold account", entries(ledger.HoldAddress(hold.ID), btc, 1), stipend.EINVALID},
		{"another asset", entries(bob, ledger.USD, 1), stipend.EINVALID},
		{"unknown asset", entries(bob, ledger.Asset("XBT"), 1), stipend.EINVALID},
		{"zero", entries(bob, btc, 0), stipend.EINVALID},
		{"negative", entries(bob, btc, 1, carol, btc, -1), stipend.EINVALID},
		{"most negative", entries(bob, btc, math.MinInt64), stipend.EINVALID},
		{"one address twice", entries(bob, btc, 1, bob, btc, 1), stipend.EINVALID},
		{"amounts that overflow", entries(bob, btc, math.MaxInt64, carol, btc, 1), stipend.EINVALID},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			wantCode(t, ledger.ValidateCapture(hold, tc.to), tc.wantCode)
		})
	}
}
