package lightning_test

import (
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/payments/lightning"
	"github.com/stipend/stipend/payments/lightning/lightningtest"
)

func wantCode(t testing.TB, err error, code string) {
	t.Helper()
	if got := stipend.ErrorCode(err); got != code {
		t.Fatalf("error code = %q, want %q (%v)", got, code, err)
	}
}

func TestDecodeInvoiceRefusesWhatMustNotBePaid(t *testing.T) {
	t.Parallel()
	now := time.Now()
	regtestInv := lightningtest.ForgeInvoice(t, &chaincfg.RegressionNetParams, 1_000_000, now, time.Hour)
	d, err := lightning.DecodeInvoice(regtestInv, "regtest")
	if err != nil {
		t.Fatal(err)
	}
	if d.AmountMsat != 1_000_000 || d.Network != "regtest" || len(d.Hash) != 64 || !d.ExpiresAt.After(now) {
		t.Fatalf("decoded = %+v", d)
	}
	wantCode(t, d.CheckPayable(1_000_000, now, time.Minute), "")
	wantCode(t, d.CheckPayable(999_000, now, time.Minute), stipend.EINVALID)

	tests := []struct {
		name    string
		invoice string
		amount  int64
	}{
		{"a testnet invoice", lightningtest.ForgeInvoice(t, &chaincfg.TestNet3Params, 1_000_000, now, time.Hour), 1_000_000},
		{"a mainnet invoice", lightningtest.ForgeInvoice(t, &chaincfg.MainNetParams, 1_000_000, now, time.Hour), 1_000_000},
		{"an expired invoice", lightningtest.ForgeInvoice(t, &chaincfg.RegressionNetParams, 1_000_000, now.Add(-2*time.Hour), time.Hour), 1_000_000},
		{"an invoice about to expire", lightningtest.ForgeInvoice(t, &chaincfg.RegressionNetParams, 1_000_000, now.Add(-59*time.Minute), time.Hour), 1_000_000},
		{"the wrong amount", lightningtest.ForgeInvoice(t, &chaincfg.RegressionNetParams, 2_000_000, now, time.Hour), 1_000_000},
		{"garbage", "lnbcrt1garbage", 1_000_000},
		{"empty", "", 1_000_000},
	}
	for _, tt := range tests {
		d, err := lightning.DecodeInvoice(tt.invoice, "regtest")
		if err == nil {
			err = d.CheckPayable(tt.amount, now, 5*time.Minute)
		}
		if stipend.ErrorCode(err) != stipend.EINVALID {
			t.Errorf("%s: %v, want invalid", tt.name, err)
		}
	}
	_, err = lightning.DecodeInvoice(lightningtest.ForgeInvoice(t, &chaincfg.TestNet3Params, 1000, now, time.Hour), "regtest")
	if err == nil || !strings.Contains(stipend.ErrorMessage(err), "testnet") {
		t.Fatalf("a testnet invoice on regtest: %v, want a message naming testnet", err)
	}
	// An invoice without an amount takes the payout's.
	d, err = lightning.DecodeInvoice(lightningtest.ForgeInvoice(t, &chaincfg.RegressionNetParams, 0, now, time.Hour), "regtest")
	if err != nil || d.CheckPayable(5000, now, time.Minute) != nil {
		t.Fatalf("an invoice without an amount: %+v, %v", d, err)
	}
}

// FuzzDecodeInvoice feeds arbitrary text to the BOLT11 decoder: it never panics, refuses
// with EINVALID, and whatever it accepts is a regtest invoice with a 32-byte hash.
func FuzzDecodeInvoice(f *testing.F) {
	now := time.Unix(1_800_000_000, 0)
	for _, seed := range []string{
		lightningtest.ForgeInvoice(f, &chaincfg.RegressionNetParams, 1_000_000, now, time.Hour),
		lightningtest.ForgeInvoice(f, &chaincfg.RegressionNetParams, 0, now, time.Hour),
		lightningtest.ForgeInvoice(f, &chaincfg.TestNet3Params, 5, now, time.Minute),
		lightningtest.ForgeInvoice(f, &chaincfg.MainNetParams, 1, now, time.Minute),
		"lightning:lnbcrt1", "lnbcrt", "", "LNBC1", "lnurl1dp68gurn8ghj7",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := lightning.DecodeInvoice(s, "regtest")
		if err != nil {
			if stipend.ErrorCode(err) != stipend.EINVALID {
				t.Fatalf("%q: error code %q", s, stipend.ErrorCode(err))
			}
			return
		}
		if d.Network != "regtest" || len(d.Hash) != 64 || d.AmountMsat < 0 || d.ExpiresAt.Before(d.CreatedAt) {
			t.Fatalf("%q decoded to %+v", s, d)
		}
	})
}

func TestHoldWindowLeavesRoomForLndsMargin(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		cltv uint64
		want time.Duration
	}{
		{30, 0}, {18, 0}, {31, 5 * time.Minute}, {80, 50 * 5 * time.Minute}, {144, 114 * 5 * time.Minute},
	} {
		if got := lightning.HoldWindow(tt.cltv); got != tt.want {
			t.Errorf("HoldWindow(%d) = %s, want %s", tt.cltv, got, tt.want)
		}
	}
	u := lightning.InvoiceUpdate{HTLCExpiry: 1000}
	if got := u.CancelByHeight(); got != 1000-lightning.LNDHoldSafetyBlocks-lightning.HoldCancelMarginBlocks {
		t.Fatalf("CancelByHeight = %d", got)
	}
}
