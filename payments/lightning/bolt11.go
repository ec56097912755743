package lightning

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"

	"github.com/btcsuite/btcd/chaincfg"
	"github.com/lightningnetwork/lnd/zpay32"

	"github.com/stipend/stipend"
)

// networks maps the network names Stipend is configured with to their chain parameters.
var networks = map[string]*chaincfg.Params{
	"mainnet": &chaincfg.MainNetParams,
	"testnet": &chaincfg.TestNet3Params,
	"signet":  &chaincfg.SigNetParams,
	"regtest": &chaincfg.RegressionNetParams,
	"simnet":  &chaincfg.SimNetParams,
}

func networkParams(name string) (*chaincfg.Params, error) {
	p, ok := networks[name]
	if !ok {
		return nil, stipend.Errorf(stipend.EINVALID, "unknown Bitcoin network %q (mainnet, testnet, signet, regtest or simnet)", name)
	}
	return p, nil
}

// DecodedInvoice is what Stipend reads from a BOLT11 invoice before paying it.
type DecodedInvoice struct {
	Hash            string // hex
	AmountMsat      int64  // 0 for an invoice without an amount
	Network         string
	Destination     string // the payee's node key, hex
	Description     string
	DescriptionHash string // hex, for LNURL-pay invoices
	CreatedAt       time.Time
	ExpiresAt       time.Time
}

// DecodeInvoice parses a BOLT11 invoice with lnd's zpay32 and requires it to be for network.
//
// Returns EINVALID, naming the invoice's own network when it is another one.
func DecodeInvoice(bolt11, network string) (*DecodedInvoice, error) {
	want, err := networkParams(network)
	if err != nil {
		return nil, err
	}
	bolt11 = strings.TrimPrefix(strings.TrimSpace(strings.ToLower(bolt11)), "lightning:")
	if bolt11 == "" || len(bolt11) > 7089 {
		return nil, stipend.Errorf(stipend.EINVALID, "invoice: not a BOLT11 invoice")
	}
	inv, err := zpay32.Decode(bolt11, want)
	if err != nil {
		for name, params := range networks {
			if name != network {
				if _, e := zpay32.Decode(bolt11, params); e == nil {
					return nil, stipend.Errorf(stipend.EINVALID, "invoice: it is for %s, and this server pays on %s", name, network)
				}
			}
		}
		return nil, stipend.Errorf(stipend.EINVALID, "invoice: not a valid BOLT11 invoice")
	}
	if inv.PaymentHash == nil {
		return nil, stipend.Errorf(stipend.EINVALID, "invoice: it has no payment hash")
	}
	d := &DecodedInvoice{
		Hash:      hex.EncodeToString(inv.PaymentHash[:]),
		Network:   network,
		CreatedAt: inv.Timestamp.UTC(),
		ExpiresAt: inv.Timestamp.Add(inv.Expiry()).UTC(),
	}
	if inv.MilliSat != nil {
		d.AmountMsat = int64(*inv.MilliSat)
	}
	if inv.Destination != nil {
		d.Destination = hex.EncodeToString(inv.Destination.SerializeCompressed())
	}
	if inv.Description != nil {
		d.Description = *inv.Description
	}
	if inv.DescriptionHash != nil {
		d.DescriptionHash = hex.EncodeToString(inv.DescriptionHash[:])
	}
	return d, nil
}

// CheckPayable refuses an invoice Stipend must not pay: one whose amount differs from the
// amount being paid out (an invoice without an amount takes the payout's), or one that has
// expired or expires within margin, before a payment could arrive.
//
// Returns EINVALID.
func (d *DecodedInvoice) CheckPayable(amountMsat int64, now time.Time, margin time.Duration) error {
	if amountMsat <= 0 {
		return stipend.Errorf(stipend.EINVALID, "amount: must be greater than zero")
	}
	if d.AmountMsat != 0 && d.AmountMsat != amountMsat {
		return stipend.Errorf(stipend.EINVALID, "invoice: it asks for %d msat, not the %d msat of this payout", d.AmountMsat, amountMsat)
	}
	if !now.Add(margin).Before(d.ExpiresAt) {
		return stipend.Errorf(stipend.EINVALID, "invoice: it expired at %s, or expires too soon to be paid", d.ExpiresAt.Format(time.RFC3339))
	}
	return nil
}

// PaymentHash returns the payment hash of a BOLT11 invoice for network. Returns EINVALID.
func PaymentHash(bolt11, network string) (string, error) {
	d, err := DecodeInvoice(bolt11, network)
	if err != nil {
		return "", err
	}
	return d.Hash, nil
}

// CheckNetwork returns EINVALID unless name is a network Stipend knows.
func CheckNetwork(name string) error {
	_, err := networkParams(name)
	return err
}

// NewPreimage returns a random preimage and its payment hash, both hex, for a hold invoice.
func NewPreimage() (preimage, hash string, err error) {
	var p [32]byte
	if _, err := rand.Read(p[:]); err != nil {
		return "", "", err
	}
	h := sha256.Sum256(p[:])
	return hex.EncodeToString(p[:]), hex.EncodeToString(h[:]), nil
}
