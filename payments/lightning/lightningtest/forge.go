// Package lightningtest helps tests of Lightning code: it signs BOLT11 invoices for any
// network, amount and age, the shapes of invoice that Stipend must refuse to pay.
package lightningtest

import (
	"crypto/rand"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/lightningnetwork/lnd/lnwire"
	"github.com/lightningnetwork/lnd/zpay32"
)

// ForgeInvoice signs a BOLT11 invoice with a throwaway key and a random payment hash. An
// amount of zero makes an invoice without an amount.
func ForgeInvoice(t testing.TB, params *chaincfg.Params, amountMsat int64, created time.Time, expiry time.Duration) string {
	t.Helper()
	key, err := btcec.NewPrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	var hash, addr [32]byte
	if _, err := rand.Read(hash[:]); err != nil {
		t.Fatal(err)
	}
	if _, err := rand.Read(addr[:]); err != nil {
		t.Fatal(err)
	}
	opts := []func(*zpay32.Invoice){zpay32.Description("forged"), zpay32.Expiry(expiry), zpay32.PaymentAddr(addr)}
	if amountMsat > 0 {
		opts = append(opts, zpay32.Amount(lnwire.MilliSatoshi(amountMsat)))
	}
	inv, err := zpay32.NewInvoice(params, hash, created, opts...)
	if err != nil {
		t.Fatal(err)
	}
	s, err := inv.Encode(zpay32.MessageSigner{SignCompact: func(msg []byte) ([]byte, error) {
		h := sha256.Sum256(msg)
		return ecdsa.SignCompact(key, h[:], true), nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}
