package ledger_test

import (
	"strings"
	"testing"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/payments/ledger"
)

func TestValidateAddress(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		address  string
		wantCode string
	}{
		{"account wallet", "accounts:acct_0193b5e1c7a87c4f9a1d2e3f4a5b6c7d", ""},
		{"fees", ledger.FeesAddress, ""},
		{"operator", ledger.OperatorAddress, ""},
		{"hold", "holds:hold_1", ""},
		{"three segments", "bounties:b_1:escrow", ""},
		{"every allowed character", "Az09_-.:x", ""},
		{"200 characters", "a:" + strings.Repeat("b", 198), ""},
		{"empty", "", stipend.EINVALID},
		{"201 characters", "a:" + strings.Repeat("b", 199), stipend.EINVALID},
		{"one segment", "accounts", stipend.EINVALID},
		{"empty name", "accounts:", stipend.EINVALID},
		{"empty kind", ":acct_1", stipend.EINVALID},
		{"empty middle segment", "accounts::x", stipend.EINVALID},
		{"only a colon", ":", stipend.EINVALID},
		{"space", "accounts:a b", stipend.EINVALID},
		{"trailing newline", "accounts:a\n", stipend.EINVALID},
		{"slash", "accounts:a/b", stipend.EINVALID},
		{"NUL", "accounts:a\x00", stipend.EINVALID},
		{"non-ASCII letter", "accounts:caf\u00e9", stipend.EINVALID},
		{"Cyrillic homoglyph", "\u0430ccounts:x", stipend.EINVALID},
		{"zero-width space", "accounts:a\u200bb", stipend.EINVALID},
		{"invalid UTF-8", "accounts:\xff", stipend.EINVALID},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			wantCode(t, ledger.ValidateAddress(tc.address), tc.wantCode)
		})
	}
}

func TestAddressConstructorsMakeValidAddresses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		got, want string
	}{
		{ledger.AccountAddress("acct_1"), "accounts:acct_1"},
		{ledger.HoldAddress("hold_1"), "holds:hold_1"},
		{ledger.ExternalAddress("lightning"), "external:lightning"},
		{ledger.OperatorAddress, "external:operator"},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("got address %q, want %q", tc.got, tc.want)
		}
		wantCode(t, ledger.ValidateAddress(tc.got), "")
	}
}

func TestAllowsNegativeOnlyForExternalAccounts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		address string
		want    bool
	}{
		{ledger.ExternalAddress("lightning"), true},
		{ledger.ExternalAddress("stripe"), true},
		{ledger.OperatorAddress, true},
		{ledger.AccountAddress("acct_1"), false},
		{ledger.HoldAddress("hold_1"), false},
		{ledger.FeesAddress, false},
		// The kind is matched exactly, as a whole first segment.
		{"externals:x", false},
		{"EXTERNAL:x", false},
		{"external", false},
		{"accounts:external:x", false},
		{"", false},
	}
	for _, tc := range tests {
		t.Run(tc.address, func(t *testing.T) {
			t.Parallel()
			if got := ledger.AllowsNegative(tc.address); got != tc.want {
				t.Fatalf("AllowsNegative(%q) = %v, want %v", tc.address, got, tc.want)
			}
		})
	}
}

func TestIsHold(t *testing.T) {
	t.Parallel()
	if !ledger.IsHold(ledger.HoldAddress(ledger.HoldID("k"))) {
		t.Error("a hold address is not recognised as one")
	}
	for _, a := range []string{ledger.AccountAddress("hold_1"), ledger.ExternalAddress("holds"), "holdsx:1", "HOLDS:1", ""} {
		if ledger.IsHold(a) {
			t.Errorf("IsHold(%q) = true", a)
		}
	}
}

func TestOwnerOfNamesTheAccountOfAWallet(t *testing.T) {
	t.Parallel()
	tests := []struct {
		address string
		want    string
	}{
		{ledger.AccountAddress("acct_1"), "acct_1"},
		{ledger.HoldAddress("acct_1"), ""},
		{ledger.ExternalAddress("acct_1"), ""},
		{ledger.FeesAddress, ""},
		{"accountsx:acct_1", ""},
		{"ACCOUNTS:acct_1", ""},
		{"x:accounts:acct_1", ""},
		{"", ""},
	}
	for _, tc := range tests {
		t.Run(tc.address, func(t *testing.T) {
			t.Parallel()
			if got := ledger.OwnerOf(tc.address); got != tc.want {
				t.Fatalf("OwnerOf(%q) = %q, want %q", tc.address, got, tc.want)
			}
		})
	}
}
